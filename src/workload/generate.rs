//! Synthetic days in the layouts of the Azure Functions traces, so anyone
//! can build workloads of any size for the importers in [`super::azure2019`]
//! and [`super::trace`] — the 1,000-function, 1.8-million-invocation day
//! that coldstart and DSLab FaaS were measured on side by side, or one a
//! hundred times larger.
//!
//! A [`DaySpec`] says how many functions, apps and invocations, over how
//! many minutes; how popularity falls off (Zipf), how the rate swings over
//! the day (a cosine around a peak minute), how long functions run and how
//! much memory apps hold. Everything random comes from one ChaCha8 stream
//! seeded by `seed`, through arithmetic that gives the same bits on every
//! machine (the workload's own `exp_portable`, `ln_portable`,
//! [`cos_portable`]), so a spec always writes the same files.
//!
//! **Popularity.** Function `i` (in name order) gets a rank `r` from a
//! seeded shuffle and a weight `1 / r^s`; the invocations are shared out
//! in proportion, by largest remainder (ties to the lower rank), so they
//! add up to exactly `invocations`.
//!
//! **Arrivals.** Minute `m` weighs `1 + a · cos(2π (m + ½ − peak) / 1440)`
//! (`a`, the diurnal amplitude, in [0, 1]). In the 2019 layout each of a
//! function's invocations falls in a minute drawn by weight (a count per
//! minute is all that layout holds); in the 2021 layout each minute's
//! invocations (shared out by weight, by largest remainder) are each given
//! a function drawn by popularity and a start time uniform within the
//! minute, in µs.
//!
//! **Durations.** A function runs for a log-normal time: its median is
//! drawn log-uniformly from `[median_min_ms, median_max_ms]` and its σ is
//! `spread`. `DurationSpec::Constant` gives every invocation the same time
//! (as the side-by-side measurements use, so both simulators see identical
//! runs). The 2019 layout holds each function's percentiles 0, 1, 25, 50,
//! 75, 99 and 100 (0 and 100 taken at z = ∓3.09, the 0.1% and 99.9%
//! points); the 2021 layout holds each invocation's duration, in whole ms.
//!
//! **Memory** (2019 layout only; the 2021 trace has none): per app, either
//! a constant or drawn from 128, 256, 512 and 1,024 MiB with weights 50,
//! 25, 15 and 10% — "Serverless in the Wild" reports half of the apps at
//! most 170 MB and 90% at most 400 MB.
//!
//! Each function belongs to app `i mod apps` (so with as many apps as
//! functions, one function per app, as in the side-by-side day), and each
//! app to an owner of its own.

use super::{exp_portable, inverse_normal, ln_portable, open_unit_from, Draws};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Minutes in a day: the longest day a spec may describe.
pub const MINUTES_MAX: u32 = 1_440;
/// The most functions a spec may have (the 2021 importer's bound).
pub const FUNCTIONS_MAX: u32 = 1 << 16;
/// The most invocations a spec may have.
pub const INVOCATIONS_MAX: u64 = 1 << 40;
/// The longest median duration a spec may ask for (one day, in ms).
pub const DURATION_MAX_MS: u64 = 86_400_000;

/// What a synthetic day holds. `DaySpec::default()` is the day coldstart
/// and DSLab FaaS were measured on: 1.8 M invocations in two hours over
/// 1,000 functions, one per app, with constant 1 s durations.
///
/// ```
/// use coldstart::workload::generate::{write_azure2019, DaySpec};
///
/// let dir = std::env::temp_dir().join(format!("coldstart-doc-gen-{}", std::process::id()));
/// // Fields are set one by one (the struct will grow).
/// let mut spec = DaySpec::default();
/// spec.functions = 20;
/// spec.apps = 20;
/// spec.invocations = 5_000;
/// spec.minutes = 10;
/// let files = write_azure2019(&spec, &dir)?;
/// assert_eq!(files.len(), 3);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct DaySpec {
    /// Seeds every draw.
    pub seed: u64,
    /// Functions, numbered in name order.
    pub functions: u32,
    /// Apps the functions belong to (each app is one image when imported).
    pub apps: u32,
    /// Invocations in all, exactly.
    pub invocations: u64,
    /// Minutes the day covers, from minute 0 (at most [`MINUTES_MAX`]).
    pub minutes: u32,
    /// Zipf exponent `s` of popularity (0: every function alike).
    pub zipf_exponent: f64,
    /// Amplitude `a` of the diurnal swing, in [0, 1] (0: a flat rate).
    pub diurnal_amplitude: f64,
    /// The minute of the day at which the rate peaks.
    pub peak_minute: u32,
    /// How long invocations run.
    pub duration: DurationSpec,
    /// How much memory apps hold (2019 layout).
    pub memory: MemorySpec,
}

impl Default for DaySpec {
    fn default() -> DaySpec {
        DaySpec {
            seed: 1,
            functions: 1_000,
            apps: 1_000,
            invocations: 1_800_000,
            minutes: 120,
            zipf_exponent: 1.0,
            diurnal_amplitude: 0.0,
            peak_minute: 0,
            duration: DurationSpec::Constant { ms: 1_000 },
            memory: MemorySpec::Constant { mib: 256 },
        }
    }
}

/// How long invocations run.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum DurationSpec {
    /// Every invocation runs `ms` milliseconds.
    Constant {
        /// The duration (ms).
        ms: u64,
    },
    /// Each function's median drawn log-uniformly from the range, each
    /// invocation log-normal around it with σ = `spread`.
    LogNormal {
        /// The shortest median (ms, at least 1).
        median_min_ms: u64,
        /// The longest median (ms).
        median_max_ms: u64,
        /// σ of the log-normal (0: every invocation at the median).
        spread: f64,
    },
}

/// How much memory an app holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemorySpec {
    /// Every app holds `mib` MiB.
    Constant {
        /// The memory (MiB).
        mib: u64,
    },
    /// Drawn per app: 128, 256, 512 or 1,024 MiB, with weights 50, 25, 15
    /// and 10%.
    Azure,
}

/// Why a day was not written.
#[derive(Debug)]
#[non_exhaustive]
pub enum GenerateError {
    /// The spec is out of range; the message names the field.
    Spec(String),
    /// A file could not be created or written.
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        error: std::io::Error,
    },
}

impl fmt::Display for GenerateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GenerateError::Spec(message) => write!(f, "{message}"),
            GenerateError::Io { path, error }
                if error.kind() == std::io::ErrorKind::AlreadyExists =>
            {
                write!(
                    f,
                    "{}: already exists; a generated day never overwrites a file (remove it or pick another folder)",
                    path.display()
                )
            }
            GenerateError::Io { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl std::error::Error for GenerateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GenerateError::Io { error, .. } => Some(error),
            GenerateError::Spec(_) => None,
        }
    }
}

impl DaySpec {
    /// Checks every field's range, naming the first that is out of it.
    pub fn validate(&self) -> Result<(), GenerateError> {
        let bad = |message: String| Err(GenerateError::Spec(message));
        if self.functions == 0 || self.functions > FUNCTIONS_MAX {
            return bad(format!(
                "functions must be 1 to {FUNCTIONS_MAX}, not {}",
                self.functions
            ));
        }
        if self.apps == 0 || self.apps > self.functions {
            return bad(format!(
                "apps must be 1 to the number of functions ({}), not {}",
                self.functions, self.apps
            ));
        }
        if self.invocations > INVOCATIONS_MAX {
            return bad(format!(
                "invocations must be at most {INVOCATIONS_MAX}, not {}",
                self.invocations
            ));
        }
        if self.minutes == 0 || self.minutes > MINUTES_MAX {
            return bad(format!(
                "minutes must be 1 to {MINUTES_MAX}, not {}",
                self.minutes
            ));
        }
        if !(0.0..=10.0).contains(&self.zipf_exponent) {
            return bad(format!(
                "the Zipf exponent must be 0 to 10, not {}",
                self.zipf_exponent
            ));
        }
        if !(0.0..=1.0).contains(&self.diurnal_amplitude) {
            return bad(format!(
                "the diurnal amplitude must be 0 to 1, not {}",
                self.diurnal_amplitude
            ));
        }
        if self.peak_minute >= MINUTES_MAX {
            return bad(format!(
                "the peak minute must be 0 to {}, not {}",
                MINUTES_MAX - 1,
                self.peak_minute
            ));
        }
        match self.duration {
            DurationSpec::Constant { ms } if ms > DURATION_MAX_MS => {
                return bad(format!(
                    "the duration must be at most {DURATION_MAX_MS} ms, not {ms}"
                ));
            }
            DurationSpec::LogNormal {
                median_min_ms,
                median_max_ms,
                spread,
            } => {
                if median_min_ms == 0
                    || median_min_ms > median_max_ms
                    || median_max_ms > DURATION_MAX_MS
                {
                    return bad(format!(
                        "the median durations must satisfy 1 ≤ min ≤ max ≤ {DURATION_MAX_MS} ms, not {median_min_ms} to {median_max_ms}"
                    ));
                }
                if !(0.0..=3.0).contains(&spread) {
                    return bad(format!("the duration spread must be 0 to 3, not {spread}"));
                }
            }
            _ => {}
        }
        if let MemorySpec::Constant { mib } = self.memory {
            if mib == 0 || mib > 1 << 20 {
                return bad(format!("memory must be 1 to {} MiB, not {mib}", 1u64 << 20));
            }
        }
        Ok(())
    }
}

/// The names of function `index`'s owner, app and function.
fn names(spec: &DaySpec, index: u32) -> (String, String, String) {
    let app = index % spec.apps;
    (
        format!("owner{app:05}"),
        format!("app{app:05}"),
        format!("func{index:05}"),
    )
}

/// `cos x` with basic IEEE-754 operations only (the same bits on every
/// machine): reduced to [−π, π], then a Taylor series of 24 terms.
pub fn cos_portable(x: f64) -> f64 {
    let tau = 2.0 * std::f64::consts::PI;
    let reduced = x - (x / tau).round() * tau;
    let square = reduced * reduced;
    let mut series = 1.0;
    for n in (1..=24).rev() {
        series = 1.0 - series * square / f64::from((2 * n - 1) * (2 * n));
    }
    series
}

/// Each minute's weight, as integers (parts per million of the mean).
fn minute_weights(spec: &DaySpec) -> Vec<u64> {
    (0..spec.minutes)
        .map(|minute| {
            let phase = 2.0
                * std::f64::consts::PI
                * (f64::from(minute) + 0.5 - f64::from(spec.peak_minute))
                / f64::from(MINUTES_MAX);
            let weight = 1.0 + spec.diurnal_amplitude * cos_portable(phase);
            // At least 1, so a minute at a full trough is rare, not empty.
            ((weight * 1e6).round() as u64).max(1)
        })
        .collect()
}

/// `total` shared out in proportion to `weights` by largest remainder
/// (ties to the lower index): the shares add up to `total` exactly.
fn share_out(total: u64, weights: &[u64]) -> Vec<u64> {
    let sum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    let mut shares: Vec<u64> = Vec::with_capacity(weights.len());
    let mut remainders: Vec<(u128, usize)> = Vec::with_capacity(weights.len());
    for (index, &weight) in weights.iter().enumerate() {
        let exact = u128::from(total) * u128::from(weight);
        shares.push((exact / sum) as u64);
        remainders.push((exact % sum, index));
    }
    let left = total - shares.iter().sum::<u64>();
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, index) in remainders.iter().take(left as usize) {
        shares[index] += 1;
    }
    shares
}

/// Each function's popularity weight (name order), from a seeded shuffle
/// of the ranks.
fn popularity_weights(spec: &DaySpec, draws: &mut Draws) -> Vec<u64> {
    let count = spec.functions as usize;
    let mut ranks: Vec<u32> = (1..=spec.functions).collect();
    for i in (1..count).rev() {
        let j = draws.below(i as u64 + 1) as usize;
        ranks.swap(i, j);
    }
    ranks
        .iter()
        .map(|&rank| {
            let weight = exp_portable(-spec.zipf_exponent * ln_portable(f64::from(rank)));
            ((weight * 1e12).round() as u64).max(1)
        })
        .collect()
}

/// Picks an index by cumulative weight.
fn pick(cumulative: &[u64], draws: &mut Draws) -> usize {
    let total = *cumulative.last().expect("at least one weight");
    let point = draws.below(total);
    cumulative.partition_point(|&upto| upto <= point)
}

fn cumulative(weights: &[u64]) -> Vec<u64> {
    weights
        .iter()
        .scan(0u64, |sum, &w| {
            *sum = sum.saturating_add(w);
            Some(*sum)
        })
        .collect()
}

/// A function's median duration (ms) and σ.
fn function_duration(spec: &DaySpec, draws: &mut Draws) -> (f64, f64) {
    match spec.duration {
        DurationSpec::Constant { ms } => (ms as f64, 0.0),
        DurationSpec::LogNormal {
            median_min_ms,
            median_max_ms,
            spread,
        } => {
            let (low, high) = (
                ln_portable(median_min_ms as f64),
                ln_portable(median_max_ms as f64),
            );
            let u = open_unit_from(draws.next_u64());
            (exp_portable(low + (high - low) * u), spread)
        }
    }
}

fn app_memory_mib(spec: &DaySpec, draws: &mut Draws) -> u64 {
    match spec.memory {
        MemorySpec::Constant { mib } => mib,
        MemorySpec::Azure => match draws.below(100) {
            0..=49 => 128,
            50..=74 => 256,
            75..=89 => 512,
            _ => 1_024,
        },
    }
}

/// The z-values of the 2019 layout's duration percentiles 0, 1, 25, 50,
/// 75, 99 and 100.
const PERCENTILE_Z: [f64; 7] = [-3.0902, -2.3263, -0.6745, 0.0, 0.6745, 2.3263, 3.0902];

fn create(dir: &Path, name: &str) -> Result<(PathBuf, BufWriter<File>), GenerateError> {
    let path = dir.join(name);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|error| GenerateError::Io {
            path: path.clone(),
            error,
        })?;
    Ok((path, BufWriter::new(file)))
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> GenerateError + '_ {
    move |error| GenerateError::Io {
        path: path.to_path_buf(),
        error,
    }
}

fn create_dir(dir: &Path) -> Result<(), GenerateError> {
    std::fs::create_dir_all(dir).map_err(io(dir))
}

/// Writes a day in the 2019 layout into `dir` (created if missing):
/// `invocations.csv`, `durations.csv` and `memory.csv`, in the dataset's
/// headers, returned in that order. Refuses to overwrite a file.
pub fn write_azure2019(spec: &DaySpec, dir: &Path) -> Result<Vec<PathBuf>, GenerateError> {
    spec.validate()?;
    create_dir(dir)?;
    let mut draws = Draws::new(spec.seed);
    let totals = share_out(spec.invocations, &popularity_weights(spec, &mut draws));
    let minutes = cumulative(&minute_weights(spec));

    let (counts_path, mut counts) = create(dir, "invocations.csv")?;
    let (durations_path, mut durations) = create(dir, "durations.csv")?;
    let (memory_path, mut memory) = create(dir, "memory.csv")?;
    let mut header = String::from("HashOwner,HashApp,HashFunction,Trigger");
    for minute in 1..=spec.minutes {
        header.push_str(&format!(",{minute}"));
    }
    writeln!(counts, "{header}").map_err(io(&counts_path))?;
    writeln!(
        durations,
        "HashOwner,HashApp,HashFunction,Average,Count,Minimum,Maximum,percentile_Average_0,percentile_Average_1,percentile_Average_25,percentile_Average_50,percentile_Average_75,percentile_Average_99,percentile_Average_100"
    )
    .map_err(io(&durations_path))?;
    writeln!(
        memory,
        "HashOwner,HashApp,SampleCount,AverageAllocatedMb,AverageAllocatedMb_pct1,AverageAllocatedMb_pct5,AverageAllocatedMb_pct25,AverageAllocatedMb_pct50,AverageAllocatedMb_pct75,AverageAllocatedMb_pct95,AverageAllocatedMb_pct99,AverageAllocatedMb_pct100"
    )
    .map_err(io(&memory_path))?;

    let mut row = vec![0u64; spec.minutes as usize];
    let mut line = String::new();
    for index in 0..spec.functions {
        let (owner, app, function) = names(spec, index);
        row.iter_mut().for_each(|count| *count = 0);
        for _ in 0..totals[index as usize] {
            row[pick(&minutes, &mut draws)] += 1;
        }
        line.clear();
        line.push_str(&format!("{owner},{app},{function},http"));
        for count in &row {
            line.push_str(&format!(",{count}"));
        }
        writeln!(counts, "{line}").map_err(io(&counts_path))?;

        let (median_ms, sigma) = function_duration(spec, &mut draws);
        let points: Vec<f64> = PERCENTILE_Z
            .iter()
            .map(|&z| median_ms * exp_portable(sigma * z))
            .collect();
        let average = median_ms * exp_portable(sigma * sigma / 2.0);
        write!(
            durations,
            "{owner},{app},{function},{average:.3},{},{:.3},{:.3}",
            totals[index as usize].max(1),
            points[0],
            points[6]
        )
        .map_err(io(&durations_path))?;
        for point in &points {
            write!(durations, ",{point:.3}").map_err(io(&durations_path))?;
        }
        writeln!(durations).map_err(io(&durations_path))?;

        if index < spec.apps {
            let mib = app_memory_mib(spec, &mut draws);
            write!(memory, "{owner},{app},{}", spec.minutes).map_err(io(&memory_path))?;
            for _ in 0..9 {
                write!(memory, ",{mib}").map_err(io(&memory_path))?;
            }
            writeln!(memory).map_err(io(&memory_path))?;
        }
    }
    for (path, writer) in [
        (&counts_path, &mut counts),
        (&durations_path, &mut durations),
        (&memory_path, &mut memory),
    ] {
        writer.flush().map_err(io(path))?;
    }
    Ok(vec![counts_path, durations_path, memory_path])
}

/// Writes a day in the 2021 layout into `dir` (created if missing):
/// `trace.csv`, one row per invocation (`app,func,end_timestamp,duration`,
/// seconds), in start order. Refuses to overwrite a file.
pub fn write_azure2021(spec: &DaySpec, dir: &Path) -> Result<PathBuf, GenerateError> {
    spec.validate()?;
    create_dir(dir)?;
    let mut draws = Draws::new(spec.seed);
    let popularity = cumulative(&popularity_weights(spec, &mut draws));
    let medians: Vec<(f64, f64)> = (0..spec.functions)
        .map(|_| function_duration(spec, &mut draws))
        .collect();
    let per_minute = share_out(spec.invocations, &minute_weights(spec));

    let (path, mut out) = create(dir, "trace.csv")?;
    writeln!(out, "{}", super::trace::HEADER).map_err(io(&path))?;
    let mut rows: Vec<(u64, u32, u64)> = Vec::new();
    for (minute, &count) in per_minute.iter().enumerate() {
        rows.clear();
        for _ in 0..count {
            let function = pick(&popularity, &mut draws) as u32;
            let start_us = minute as u64 * 60_000_000 + draws.below(60_000_000);
            let (median_ms, sigma) = medians[function as usize];
            let z = inverse_normal(open_unit_from(draws.next_u64()));
            let duration_ms = (median_ms * exp_portable(sigma * z))
                .round()
                .min(DURATION_MAX_MS as f64) as u64;
            rows.push((start_us, function, duration_ms));
        }
        rows.sort_unstable();
        for &(start_us, function, duration_ms) in &rows {
            let (_, app, func) = names(spec, function);
            let end_us = start_us + duration_ms * 1_000;
            writeln!(
                out,
                "{app},{func},{}.{:06},{}.{:03}",
                end_us / 1_000_000,
                end_us % 1_000_000,
                duration_ms / 1_000,
                duration_ms % 1_000
            )
            .map_err(io(&path))?;
        }
    }
    out.flush().map_err(io(&path))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("coldstart-generate-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn shares_add_up_exactly_and_follow_the_weights() {
        assert_eq!(share_out(10, &[1, 1, 1]), vec![4, 3, 3]);
        assert_eq!(share_out(7, &[3, 0, 1]), vec![5, 0, 2]);
        assert_eq!(share_out(0, &[5, 5]), vec![0, 0]);
        let shares = share_out(1_800_000, &[1_000_000, 500_000, 333_333]);
        assert_eq!(shares.iter().sum::<u64>(), 1_800_000);
        assert!(shares[0] > shares[1] && shares[1] > shares[2]);
    }

    #[test]
    fn cos_portable_matches_the_library_closely() {
        for step in -40..=40 {
            let x = f64::from(step) * 0.37;
            assert!((cos_portable(x) - x.cos()).abs() < 1e-12, "cos({x})");
        }
    }

    #[test]
    fn a_flat_day_has_equal_minutes_and_a_diurnal_one_peaks() {
        let flat = minute_weights(&DaySpec::default());
        assert!(flat.iter().all(|&w| w == 1_000_000));
        let spec = DaySpec {
            minutes: 1_440,
            diurnal_amplitude: 0.5,
            peak_minute: 720,
            ..DaySpec::default()
        };
        let weights = minute_weights(&spec);
        let peak = weights
            .iter()
            .enumerate()
            .max_by_key(|(_, &w)| w)
            .unwrap()
            .0;
        assert!((719..=720).contains(&peak), "peak at {peak}");
        // The trough, half a day from the peak: 1 − a (minute 0's middle is
        // half a minute from it).
        assert!(weights[0].abs_diff(500_000) <= 1, "{}", weights[0]);
    }

    #[test]
    fn the_2019_layout_imports_with_every_invocation() {
        let dir = temp_dir("2019");
        let spec = DaySpec {
            functions: 30,
            apps: 10,
            invocations: 4_321,
            minutes: 7,
            duration: DurationSpec::LogNormal {
                median_min_ms: 20,
                median_max_ms: 2_000,
                spread: 0.8,
            },
            memory: MemorySpec::Azure,
            ..DaySpec::default()
        };
        let files = write_azure2019(&spec, &dir).unwrap();
        let counts = std::fs::read_to_string(&files[0]).unwrap();
        let total: u64 = counts
            .lines()
            .skip(1)
            .flat_map(|line| line.split(',').skip(4).map(|c| c.parse::<u64>().unwrap()))
            .sum();
        assert_eq!(total, 4_321);
        assert_eq!(counts.lines().count(), 31);
        let memory = std::fs::read_to_string(&files[2]).unwrap();
        assert_eq!(memory.lines().count(), 11, "one row per app");

        // The same spec writes the same bytes; another seed, others.
        let again = temp_dir("2019-again");
        let files_again = write_azure2019(&spec, &again).unwrap();
        for (a, b) in files.iter().zip(&files_again) {
            assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
        }
        let other = temp_dir("2019-other");
        let files_other = write_azure2019(
            &DaySpec {
                seed: 2,
                ..spec.clone()
            },
            &other,
        )
        .unwrap();
        assert_ne!(
            std::fs::read(&files[0]).unwrap(),
            std::fs::read(&files_other[0]).unwrap()
        );

        // Never overwrites.
        let error = write_azure2019(&spec, &dir).unwrap_err();
        assert!(error.to_string().contains("already exists"), "{error}");
        for d in [dir, again, other] {
            std::fs::remove_dir_all(d).unwrap();
        }
    }

    #[test]
    fn the_2021_layout_is_in_start_order_with_every_invocation() {
        let dir = temp_dir("2021");
        let spec = DaySpec {
            functions: 12,
            apps: 4,
            invocations: 3_000,
            minutes: 5,
            diurnal_amplitude: 0.9,
            peak_minute: 2,
            duration: DurationSpec::LogNormal {
                median_min_ms: 5,
                median_max_ms: 500,
                spread: 1.0,
            },
            ..DaySpec::default()
        };
        let path = write_azure2021(&spec, &dir).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(super::super::trace::HEADER));
        let mut last_start = 0.0f64;
        let mut rows = 0;
        for line in lines {
            let fields: Vec<&str> = line.split(',').collect();
            assert_eq!(fields.len(), 4);
            let end: f64 = fields[2].parse().unwrap();
            let duration: f64 = fields[3].parse().unwrap();
            let start = end - duration;
            assert!(
                start >= last_start - 1e-6,
                "{line} starts before {last_start}"
            );
            assert!(start < 300.0 + 1e-6);
            last_start = start;
            rows += 1;
        }
        assert_eq!(rows, 3_000);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn out_of_range_specs_name_the_field() {
        let cases = [
            (
                DaySpec {
                    functions: 0,
                    ..DaySpec::default()
                },
                "functions",
            ),
            (
                DaySpec {
                    apps: 2_000,
                    ..DaySpec::default()
                },
                "apps",
            ),
            (
                DaySpec {
                    minutes: 1_441,
                    ..DaySpec::default()
                },
                "minutes",
            ),
            (
                DaySpec {
                    zipf_exponent: f64::NAN,
                    ..DaySpec::default()
                },
                "Zipf",
            ),
            (
                DaySpec {
                    diurnal_amplitude: 1.5,
                    ..DaySpec::default()
                },
                "amplitude",
            ),
            (
                DaySpec {
                    peak_minute: 1_440,
                    ..DaySpec::default()
                },
                "peak",
            ),
            (
                DaySpec {
                    duration: DurationSpec::LogNormal {
                        median_min_ms: 10,
                        median_max_ms: 5,
                        spread: 1.0,
                    },
                    ..DaySpec::default()
                },
                "median",
            ),
            (
                DaySpec {
                    memory: MemorySpec::Constant { mib: 0 },
                    ..DaySpec::default()
                },
                "memory",
            ),
        ];
        for (spec, word) in cases {
            let message = spec.validate().unwrap_err().to_string();
            assert!(message.contains(word), "{message} should name {word}");
        }
    }
}
