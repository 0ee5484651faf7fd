//! Import of one day of the Azure Functions 2019 dataset (Shahrad et al.,
//! "Serverless in the Wild", USENIX ATC 2020; CC-BY): three CSV files that
//! together describe a workload without listing single invocations.
//!
//! - **Invocation counts** (`invocations_per_function_md.anon.dNN.csv`):
//!   `HashOwner,HashApp,HashFunction,Trigger,1,…,1440`, one row per
//!   function, the number of its invocations in each minute of the day. A
//!   shorter header `…,Trigger,1,…,M` (M ≤ 1440: the first M minutes) is
//!   also taken, for slices of a day.
//! - **Durations** (`function_durations_percentiles.anon.dNN.csv`):
//!   `HashOwner,HashApp,HashFunction,Average,Count,Minimum,Maximum,`
//!   `percentile_Average_{0,1,25,50,75,99,100}`, in milliseconds.
//! - **App memory** (`app_memory_percentiles.anon.dNN.csv`, optional: the
//!   dataset has none for its last two days):
//!   `HashOwner,HashApp,SampleCount,AverageAllocatedMb,`
//!   `AverageAllocatedMb_pct{1,5,25,50,75,95,99,100}`.
//!
//! How they become inputs:
//!
//! - **Names.** A function is the triple (owner, app, function) and an app
//!   the pair (owner, app): the dataset hashes each column with its own
//!   salt, so equal hashes under different owners are different things.
//!   Each app is one image of `image_size_bytes` shared by its functions.
//!   Images and functions are registered at time 0 in name order, so ids do
//!   not depend on row order. The trigger is checked to be present and
//!   otherwise ignored.
//! - **Arrivals.** Minute `m` (column `m`, from 1) covers
//!   `[(m − 1)·60 s, m·60 s)`. A function's `n` invocations of that minute are
//!   spread evenly across it, each in the middle of its own `60 s / n`
//!   share: the `k`-th (from 0) at `(m − 1)·60 s + ⌊(2k + 1)·60 s / 2n⌋`.
//!   No randomness is involved, so the arrivals are the file's, whatever the
//!   seed. (The dataset counts an invocation in the minute it *ended*; we
//!   take it as an arrival in that minute.) Invocations of one minute are
//!   issued in time order; ties go to the function first in name order.
//! - **Durations.** Each invocation's run is drawn from its function's
//!   percentile table — points 0, 1, 25, 50, 75, 99 and 100, the dataset's
//!   `percentile_Average_*` in ms converted to µs (rounded to the nearest),
//!   interpolated linearly (as [`RunDistribution::Empirical`](crate::workload::RunDistribution::Empirical)) — with one
//!   ChaCha8 draw per invocation, in issue order, from the scenario's seed.
//!   So the seed changes durations and nothing else. The table is of
//!   30-second *averages* (the dataset's note 7), a little narrower than the
//!   true distribution. The run has no clone or build phase and succeeds
//!   unless it exceeds the time limit.
//! - **Functions without durations.** A function in the counts file with no
//!   row in the durations file (the two come from different logs and do not
//!   always match) is registered, but its invocations are skipped: there is
//!   no duration to give them. [`Azure2019Index`] counts them.
//! - **Memory.** The dataset measures memory per app, not per function
//!   (Azure allocates per app). Every function of an app gets the app's
//!   `AverageAllocatedMb_pct100` — the largest one-minute average of the
//!   day, so the container holds the app at its busiest minute — taken as
//!   MiB and rounded up to a whole MiB. An app without a memory row, or every
//!   app when no memory file is given, gets the scenario's default memory.
//!   Scratch and time limit are the scenario's too.
//!
//! **Bounded memory.** The counts file is read once, line by line; only its
//! non-zero cells are kept, bucketed by minute (8 bytes each; a non-zero
//! cell takes at least 2 bytes of the file's text, so this is at most 4×
//! the file, and far less when most cells are 0), at most [`CELLS_MAX`]. The durations and memory files are read once, line
//! by line, keeping a table only for the functions and apps the counts
//! file names. Issuing a minute holds one heap entry per function invoked
//! in that minute, never the minute's invocations.
//!
//! A malformed line — wrong field count, an empty name, a count that is not
//! a whole number, a time or size that is not a finite, non-negative number,
//! percentiles that fall, a function or app listed twice — stops the import
//! with the file, the line number (1-based, the header is line 1) and the
//! reason. Empty lines are skipped.

use crate::input::{Code, Command, Input, Outcome};
use crate::workload::trace::{exact_header, Lines, Registrations, TraceError};
use crate::workload::{empirical_from, Draws, Percentile, PPM, SAMPLE_MAX};
use crate::{FunctionId, MIB};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::path::PathBuf;

/// Minutes in a day: the most minute columns the counts file has.
pub const MINUTES_MAX: usize = 1_440;

/// Microseconds in a minute: the counts file's time unit.
pub const US_PER_MINUTE: u64 = 60_000_000;

/// The most functions the counts file may list (bounds the names kept:
/// three 64-character hashes each, about 80 MB at the most).
pub const FUNCTIONS_MAX: usize = 1 << 18;

/// The most non-zero (function, minute) cells kept: 2^26 cells of 8 bytes,
/// 512 MiB. A day of the full dataset is far below it.
pub const CELLS_MAX: u64 = 1 << 26;

/// The largest count one cell may hold. Spread over a minute, even this
/// gives every invocation its own microsecond.
pub const COUNT_MAX: u64 = US_PER_MINUTE;

/// The largest duration or memory value accepted (ms, MB): far beyond real
/// data, and small enough that every value fits the core's limits.
pub const VALUE_MAX: f64 = 1e9;

/// How the header of the counts file begins (the minute columns follow).
pub const COUNTS_HEADER_PREFIX: &str = "HashOwner,HashApp,HashFunction,Trigger";
/// The header line of the durations file.
pub const DURATIONS_HEADER: &str = "HashOwner,HashApp,HashFunction,Average,Count,Minimum,Maximum,\
percentile_Average_0,percentile_Average_1,percentile_Average_25,percentile_Average_50,\
percentile_Average_75,percentile_Average_99,percentile_Average_100";
/// The header line of the memory file.
pub const MEMORY_HEADER: &str = "HashOwner,HashApp,SampleCount,AverageAllocatedMb,\
AverageAllocatedMb_pct1,AverageAllocatedMb_pct5,AverageAllocatedMb_pct25,\
AverageAllocatedMb_pct50,AverageAllocatedMb_pct75,AverageAllocatedMb_pct95,\
AverageAllocatedMb_pct99,AverageAllocatedMb_pct100";

/// The percentiles of the durations table, in ppm, in column order.
const DURATION_PERCENTILES_PPM: [u32; 7] = [0, 10_000, 250_000, 500_000, 750_000, 990_000, PPM];

/// What the importer needs besides the files' contents.
/// `#[non_exhaustive]`: build it with [`Azure2019Spec::new`] and the
/// `with_*` methods, one for every field.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Azure2019Spec {
    /// The counts file: invocations per function per minute.
    pub invocations_path: PathBuf,
    /// The durations file: percentiles of each function's duration.
    pub durations_path: PathBuf,
    /// The memory file: each app's allocated memory, if given (else every
    /// app takes `memory_bytes_default`).
    pub memory_path: Option<PathBuf>,
    /// Seeds the duration draws.
    pub seed: u64,
    /// The size of each app's image.
    pub image_size_bytes: u64,
    /// For apps without a memory row.
    pub memory_bytes_default: u64,
    /// Each function's scratch disk.
    pub scratch_bytes: u64,
    /// Each function's time limit (µs); a drawn duration beyond it times out.
    pub time_limit_us: u64,
    /// Issue at most this many invocations (the earliest), if given.
    pub invocations_max: Option<u64>,
}

impl Azure2019Spec {
    /// The counts and durations files, duration draws seeded by `seed`,
    /// with a scenario's defaults for the rest: no memory file,
    /// [`crate::workload::trace::TRACE_IMAGE_BYTES_DEFAULT`] images,
    /// functions of [`crate::workload::FUNCTION_MEMORY_DEFAULT`],
    /// [`crate::workload::FUNCTION_SCRATCH_DEFAULT`] and
    /// [`crate::workload::FUNCTION_TIME_LIMIT_US_DEFAULT`], every
    /// invocation issued.
    pub fn new(
        invocations_path: impl Into<PathBuf>,
        durations_path: impl Into<PathBuf>,
        seed: u64,
    ) -> Azure2019Spec {
        Azure2019Spec {
            invocations_path: invocations_path.into(),
            durations_path: durations_path.into(),
            memory_path: None,
            seed,
            image_size_bytes: crate::workload::trace::TRACE_IMAGE_BYTES_DEFAULT,
            memory_bytes_default: crate::workload::FUNCTION_MEMORY_DEFAULT,
            scratch_bytes: crate::workload::FUNCTION_SCRATCH_DEFAULT,
            time_limit_us: crate::workload::FUNCTION_TIME_LIMIT_US_DEFAULT,
            invocations_max: None,
        }
    }

    /// This counts file, in place of what there was.
    pub fn with_invocations_path(mut self, invocations_path: PathBuf) -> Azure2019Spec {
        self.invocations_path = invocations_path;
        self
    }

    /// This durations file, in place of what there was.
    pub fn with_durations_path(mut self, durations_path: PathBuf) -> Azure2019Spec {
        self.durations_path = durations_path;
        self
    }

    /// This memory file (`None`: every app takes `memory_bytes_default`), in place of what there was.
    pub fn with_memory_path(mut self, memory_path: Option<PathBuf>) -> Azure2019Spec {
        self.memory_path = memory_path;
        self
    }

    /// This seed for the duration draws, in place of what there was.
    pub fn with_seed(mut self, seed: u64) -> Azure2019Spec {
        self.seed = seed;
        self
    }

    /// This image size for every app (bytes), in place of what there was.
    pub fn with_image_size_bytes(mut self, image_size_bytes: u64) -> Azure2019Spec {
        self.image_size_bytes = image_size_bytes;
        self
    }

    /// This memory for apps without a memory row (bytes), in place of what there was.
    pub fn with_memory_bytes_default(mut self, memory_bytes_default: u64) -> Azure2019Spec {
        self.memory_bytes_default = memory_bytes_default;
        self
    }

    /// This scratch disk for every function (bytes), in place of what there was.
    pub fn with_scratch_bytes(mut self, scratch_bytes: u64) -> Azure2019Spec {
        self.scratch_bytes = scratch_bytes;
        self
    }

    /// This time limit for every function (µs), in place of what there was.
    pub fn with_time_limit_us(mut self, time_limit_us: u64) -> Azure2019Spec {
        self.time_limit_us = time_limit_us;
        self
    }

    /// This cap on invocations (`None`: all), in place of what there was.
    pub fn with_invocations_max(mut self, invocations_max: Option<u64>) -> Azure2019Spec {
        self.invocations_max = invocations_max;
        self
    }
}

/// `HashOwner,HashApp,HashFunction,Trigger,1,…,M`: returns M.
fn counts_header(header: &str) -> Result<usize, String> {
    let expected = format!("{COUNTS_HEADER_PREFIX},1,…,1440 (or the first minutes of the day)");
    let Some(minutes) = header.strip_prefix(COUNTS_HEADER_PREFIX) else {
        return Err(format!(
            "the header is `{}`, expected `{expected}`",
            crate::files::echo(header)
        ));
    };
    let columns: Vec<&str> = minutes.split(',').skip(1).collect();
    let numbered = minutes.starts_with(',')
        && columns
            .iter()
            .enumerate()
            .all(|(index, column)| column.trim() == (index + 1).to_string());
    if !numbered || columns.is_empty() || columns.len() > MINUTES_MAX {
        let shown: String = header.chars().take(80).collect();
        return Err(format!("the header `{shown}…` is not `{expected}`"));
    }
    Ok(columns.len())
}

fn names<'a>(fields: &[&'a str], count: usize) -> Result<Vec<&'a str>, String> {
    let names = &fields[..count];
    if names.iter().any(|name| name.trim().is_empty()) {
        return Err("an empty name".to_string());
    }
    Ok(names.to_vec())
}

fn count_of(field: &str, minute: usize) -> Result<u64, String> {
    let count: u64 = field.trim().parse().map_err(|_| {
        format!(
            "minute {minute}: `{}` is not a whole number of invocations",
            crate::files::echo(field)
        )
    })?;
    if count > COUNT_MAX {
        return Err(format!(
            "minute {minute}: {count} invocations, above {COUNT_MAX}"
        ));
    }
    Ok(count)
}

fn value_of(field: &str, name: &str) -> Result<f64, String> {
    let value: f64 = field
        .trim()
        .parse()
        .map_err(|_| format!("{name} `{}` is not a number", crate::files::echo(field)))?;
    if !value.is_finite() {
        return Err(format!(
            "{name} `{}` is not finite",
            crate::files::echo(field)
        ));
    }
    if value < 0.0 {
        return Err(format!(
            "{name} `{}` is negative",
            crate::files::echo(field)
        ));
    }
    if value > VALUE_MAX {
        return Err(format!(
            "{name} `{}` is above {VALUE_MAX:e}",
            crate::files::echo(field)
        ));
    }
    Ok(value)
}

fn fields_exactly<'a>(line: &'a str, count: usize, what: &str) -> Result<Vec<&'a str>, String> {
    let fields: Vec<&str> = line.split(',').collect();
    if fields.len() != count {
        return Err(format!(
            "expected {count} comma-separated fields ({what}), found {}",
            fields.len()
        ));
    }
    Ok(fields)
}

/// A durations row: the function's names and its percentile table (µs).
pub fn parse_durations_row(line: &str) -> Result<([&str; 3], Vec<Percentile>), String> {
    let fields = fields_exactly(line, 14, "the durations header")?;
    let names = names(&fields, 3)?;
    // Average, Count, Minimum and Maximum are checked, not used: the table
    // carries the distribution. The dataset lacks Minimum and Maximum in a
    // few rows (its note 6), so those may be empty.
    for (field, name) in fields[3..7]
        .iter()
        .zip(["Average", "Count", "Minimum", "Maximum"])
    {
        let optional = matches!(name, "Minimum" | "Maximum");
        if !(optional && field.trim().is_empty()) {
            value_of(field, name)?;
        }
    }
    let mut table = Vec::with_capacity(DURATION_PERCENTILES_PPM.len());
    for (field, percentile_ppm) in fields[7..].iter().zip(DURATION_PERCENTILES_PPM) {
        let name = format!("percentile_Average_{}", percentile_ppm / 10_000);
        let value_ms = value_of(field, &name)?;
        let value_us = (value_ms * 1e3).round() as u64;
        if let Some(previous) = table.last() {
            let previous: &Percentile = previous;
            if value_us < previous.value_us {
                return Err(format!(
                    "{name} `{}` is below the percentile before it: percentiles must not fall",
                    crate::files::echo(field)
                ));
            }
        }
        table.push(Percentile {
            percentile_ppm,
            value_us: value_us.min(SAMPLE_MAX),
        });
    }
    Ok(([names[0], names[1], names[2]], table))
}

/// A memory row: the app's names and its memory (the p100 column, in MiB,
/// rounded up to whole MiB, at least 1), in bytes.
pub fn parse_memory_row(line: &str) -> Result<([&str; 2], u64), String> {
    let fields = fields_exactly(line, 12, "the memory header")?;
    let names = names(&fields, 2)?;
    value_of(fields[2], "SampleCount")?;
    value_of(fields[3], "AverageAllocatedMb")?;
    let mut previous = 0.0;
    for (index, field) in fields[4..].iter().enumerate() {
        let name = format!(
            "AverageAllocatedMb_pct{}",
            [1, 5, 25, 50, 75, 95, 99, 100][index]
        );
        let value = value_of(field, &name)?;
        if value < previous {
            return Err(format!(
                "{name} `{}` is below the percentile before it: percentiles must not fall",
                crate::files::echo(field)
            ));
        }
        previous = value;
    }
    let mebibytes = (previous.ceil() as u64).max(1);
    Ok(([names[0], names[1]], mebibytes * MIB))
}

/// What the scans learn: the names, the non-zero cells by minute, each
/// function's duration table and memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Azure2019Index {
    /// Minute columns in the counts file.
    pub minutes: usize,
    /// (owner, app) → image index, in name order.
    apps: BTreeMap<(String, String), u32>,
    /// Per function, in name order: its image, its memory, and its
    /// duration table (`None`: no durations row; its invocations skipped).
    functions: Vec<FunctionEntry>,
    /// Per minute: (function index, count) of the non-zero cells, in
    /// function order.
    cells: Vec<Vec<(u32, u32)>>,
    /// Invocations in the counts file, all functions.
    pub invocations_total: u64,
    /// Functions without a durations row, and their invocations (skipped).
    pub functions_without_durations: u64,
    /// Invocations of those functions.
    pub invocations_skipped: u64,
    /// Apps that took the default memory (no memory row, or no file).
    pub apps_without_memory: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct FunctionEntry {
    image: u32,
    memory_bytes: u64,
    durations: Option<Vec<Percentile>>,
}

impl Azure2019Index {
    /// Reads the three files once each, checking every line.
    pub fn scan(spec: &Azure2019Spec) -> Result<Azure2019Index, TraceError> {
        // 1. Counts: names and non-zero cells, by row.
        let path = &spec.invocations_path;
        let mut minutes = 0;
        let mut lines = Lines::open(path, "a header", |header| {
            minutes = counts_header(header)?;
            Ok(())
        })?;
        let at = |line: u64, reason: String| TraceError {
            path: path.clone(),
            line: Some(line),
            reason,
        };
        let mut rows: BTreeMap<(String, String, String), u32> = BTreeMap::new();
        let mut cells_by_minute: Vec<Vec<(u32, u32)>> = vec![Vec::new(); minutes];
        let (mut cells, mut invocations_total) = (0u64, 0u64);
        while let Some((line, text)) = lines.next_data()? {
            let fields: Vec<&str> = text.split(',').collect();
            if fields.len() != 4 + minutes {
                return Err(at(
                    line,
                    format!(
                        "expected {} comma-separated fields (the header's), found {}",
                        4 + minutes,
                        fields.len()
                    ),
                ));
            }
            let names = names(&fields, 4).map_err(|reason| at(line, reason))?;
            let row = rows.len() as u32;
            let key = (
                names[0].to_string(),
                names[1].to_string(),
                names[2].to_string(),
            );
            if rows.contains_key(&key) {
                return Err(at(
                    line,
                    "this (HashOwner, HashApp, HashFunction) has a row already".to_string(),
                ));
            }
            if rows.len() >= FUNCTIONS_MAX {
                return Err(at(line, format!("more than {FUNCTIONS_MAX} functions")));
            }
            rows.insert(key, row);
            for (minute, field) in fields[4..].iter().enumerate() {
                let count = count_of(field, minute + 1).map_err(|reason| at(line, reason))?;
                if count > 0 {
                    cells += 1;
                    if cells > CELLS_MAX {
                        return Err(at(
                            line,
                            format!("more than {CELLS_MAX} non-zero (function, minute) counts"),
                        ));
                    }
                    invocations_total += count;
                    cells_by_minute[minute].push((row, count as u32));
                }
            }
        }
        // Name order: function index of each row, and the apps.
        let mut function_of_row = vec![0u32; rows.len()];
        let mut apps: BTreeMap<(String, String), u32> = BTreeMap::new();
        let mut function_images = Vec::with_capacity(rows.len());
        for (index, ((owner, app, _), row)) in rows.iter().enumerate() {
            function_of_row[*row as usize] = index as u32;
            let app_key = (owner.clone(), app.clone());
            let next = apps.len() as u32;
            function_images.push(*apps.entry(app_key).or_insert(next));
        }
        // `apps` was filled in name order, so its indices already rise with
        // the key; the functions are in (owner, app, function) order.
        let cells: Vec<Vec<(u32, u32)>> = cells_by_minute
            .into_iter()
            .map(|mut minute| {
                for cell in &mut minute {
                    cell.0 = function_of_row[cell.0 as usize];
                }
                minute.sort_unstable();
                minute
            })
            .collect();

        // 2. Durations, for the functions named above.
        let mut durations: Vec<Option<Vec<Percentile>>> = vec![None; rows.len()];
        let path = &spec.durations_path;
        let mut lines = Lines::open(
            path,
            &format!("`{DURATIONS_HEADER}`"),
            exact_header(DURATIONS_HEADER),
        )?;
        while let Some((line, text)) = lines.next_data()? {
            let (names, table) = parse_durations_row(text).map_err(|reason| TraceError {
                path: path.clone(),
                line: Some(line),
                reason,
            })?;
            let key = (
                names[0].to_string(),
                names[1].to_string(),
                names[2].to_string(),
            );
            if let Some(&row) = rows.get(&key) {
                let slot = &mut durations[function_of_row[row as usize] as usize];
                if slot.is_some() {
                    return Err(TraceError {
                        path: path.clone(),
                        line: Some(line),
                        reason: "this (HashOwner, HashApp, HashFunction) has a row already"
                            .to_string(),
                    });
                }
                *slot = Some(table);
            }
        }

        // 3. Memory, for the apps named above.
        let mut app_memory: Vec<Option<u64>> = vec![None; apps.len()];
        if let Some(path) = &spec.memory_path {
            let mut lines = Lines::open(
                path,
                &format!("`{MEMORY_HEADER}`"),
                exact_header(MEMORY_HEADER),
            )?;
            while let Some((line, text)) = lines.next_data()? {
                let (names, memory_bytes) =
                    parse_memory_row(text).map_err(|reason| TraceError {
                        path: path.clone(),
                        line: Some(line),
                        reason,
                    })?;
                let key = (names[0].to_string(), names[1].to_string());
                if let Some(&image) = apps.get(&key) {
                    let slot = &mut app_memory[image as usize];
                    if slot.is_some() {
                        return Err(TraceError {
                            path: path.clone(),
                            line: Some(line),
                            reason: "this (HashOwner, HashApp) has a row already".to_string(),
                        });
                    }
                    *slot = Some(memory_bytes);
                }
            }
        }

        let mut invocations_per_function = vec![0u64; rows.len()];
        for minute in &cells {
            for &(function, count) in minute {
                invocations_per_function[function as usize] += u64::from(count);
            }
        }
        let functions: Vec<FunctionEntry> = function_images
            .iter()
            .zip(durations)
            .map(|(&image, durations)| FunctionEntry {
                image,
                memory_bytes: app_memory[image as usize].unwrap_or(spec.memory_bytes_default),
                durations,
            })
            .collect();
        let without: Vec<usize> = (0..functions.len())
            .filter(|&f| functions[f].durations.is_none())
            .collect();
        Ok(Azure2019Index {
            minutes,
            apps_without_memory: app_memory.iter().filter(|m| m.is_none()).count() as u64,
            apps,
            functions_without_durations: without.len() as u64,
            invocations_skipped: without.iter().map(|&f| invocations_per_function[f]).sum(),
            functions,
            cells,
            invocations_total,
        })
    }

    /// How many distinct apps (so images) the day has.
    pub fn apps(&self) -> usize {
        self.apps.len()
    }

    /// How many functions with durations (so registered) the day has.
    pub fn functions(&self) -> usize {
        self.functions.len()
    }

    /// Invocations the stream issues in all (before any limit).
    pub fn invocations(&self) -> u64 {
        self.invocations_total - self.invocations_skipped
    }

    /// The memory each function is registered with, in function order.
    pub fn memory_bytes(&self) -> Vec<u64> {
        self.functions.iter().map(|f| f.memory_bytes).collect()
    }
}

/// The next invocation of a function within the current minute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Next {
    at_us: u64,
    function: u32,
    /// Its index `k` among the function's `count` invocations this minute.
    k: u32,
    count: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Registrations,
    Invocations,
    Done,
}

/// The dataset's input stream: registrations, then invocations minute by
/// minute in time order.
pub struct Azure2019Inputs {
    spec: Azure2019Spec,
    index: Azure2019Index,
    draws: Draws,
    stage: Stage,
    registrations: Registrations,
    /// The minute being issued (0-based) and its pending invocations.
    minute: usize,
    heap: BinaryHeap<Reverse<Next>>,
    issued: u64,
}

impl Azure2019Inputs {
    /// Scans the files and prepares the stream.
    pub fn open(spec: Azure2019Spec) -> Result<Azure2019Inputs, TraceError> {
        let index = Azure2019Index::scan(&spec)?;
        let registrations = Registrations::new(
            index.apps.len() as u64,
            spec.image_size_bytes,
            spec.scratch_bytes,
            spec.time_limit_us,
        );
        Ok(Azure2019Inputs {
            draws: Draws::new(spec.seed),
            spec,
            index,
            stage: Stage::Registrations,
            registrations,
            minute: 0,
            heap: BinaryHeap::new(),
            issued: 0,
        })
    }

    /// The index the first read built.
    pub fn index(&self) -> &Azure2019Index {
        &self.index
    }

    /// The invocations the stream will issue.
    pub fn invocations(&self) -> u64 {
        let all = self.index.invocations();
        self.spec.invocations_max.map_or(all, |max| max.min(all))
    }

    /// Fills the heap with the next minute that has an invocation to issue.
    fn load_minute(&mut self) -> bool {
        while self.heap.is_empty() && self.minute < self.index.cells.len() {
            let start_us = self.minute as u64 * US_PER_MINUTE;
            for &(function, count) in &self.index.cells[self.minute] {
                if self.index.functions[function as usize].durations.is_some() {
                    self.heap.push(Reverse(Next {
                        at_us: start_us + spread_us(0, count),
                        function,
                        k: 0,
                        count,
                    }));
                }
            }
            self.minute += 1;
        }
        !self.heap.is_empty()
    }

    fn next_invocation(&mut self) -> Option<Input> {
        if self
            .spec
            .invocations_max
            .is_some_and(|max| self.issued >= max)
            || !self.load_minute()
        {
            self.stage = Stage::Done;
            return None;
        }
        let Reverse(next) = self.heap.pop()?;
        if next.k + 1 < next.count {
            let start_us = (self.minute as u64 - 1) * US_PER_MINUTE;
            self.heap.push(Reverse(Next {
                at_us: start_us + spread_us(next.k + 1, next.count),
                k: next.k + 1,
                ..next
            }));
        }
        // Only functions with a table are queued (`load_minute`).
        let table = self.index.functions[next.function as usize]
            .durations
            .as_deref()
            .expect("a queued function has a duration table");
        let run_us = empirical_from(self.draws.next_u64(), table);
        let output = self.issued;
        self.issued += 1;
        Some(Input {
            at_us: next.at_us,
            command: Command::Invoke {
                function: FunctionId::from_bits(u64::from(next.function)),
                code: Code {
                    clone_us: 0,
                    build_us: 0,
                    run_us,
                    outcome: Outcome::Success { output },
                },
                ingress_bytes: 0,
                egress_bytes: 0,
            },
        })
    }
}

/// The offset in its minute of the `k`-th of `count` invocations: the
/// middle of its `1/count` share of the minute, rounded down.
pub fn spread_us(k: u32, count: u32) -> u64 {
    (2 * u64::from(k) + 1) * US_PER_MINUTE / (2 * u64::from(count))
}

impl Iterator for Azure2019Inputs {
    type Item = Input;

    fn next(&mut self) -> Option<Input> {
        loop {
            match self.stage {
                Stage::Registrations => {
                    let functions = &self.index.functions;
                    let function = |i: usize| functions.get(i).map(|f| (f.image, f.memory_bytes));
                    if let Some(input) = self.registrations.next(function) {
                        return Some(input);
                    }
                    self.stage = Stage::Invocations;
                }
                Stage::Invocations => return self.next_invocation(),
                Stage::Done => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FunctionDef;
    use std::path::Path;

    fn data(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name)
    }

    fn fixture_spec(seed: u64) -> Azure2019Spec {
        Azure2019Spec {
            invocations_path: data("azure2019-fixture-invocations.csv"),
            durations_path: data("azure2019-fixture-durations.csv"),
            memory_path: Some(data("azure2019-fixture-memory.csv")),
            seed,
            image_size_bytes: 100 * MIB,
            memory_bytes_default: 256 * MIB,
            scratch_bytes: 512 * MIB,
            time_limit_us: 60_000_000,
            invocations_max: None,
        }
    }

    /// `(at_us, function, run_us)` of each invocation.
    fn invocations(inputs: impl Iterator<Item = Input>) -> Vec<(u64, u64, u64)> {
        inputs
            .filter_map(|input| match input.command {
                Command::Invoke { function, code, .. } => {
                    Some((input.at_us, function.to_bits(), code.run_us))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_fixture_imports_to_exact_inputs() {
        let mut inputs = Azure2019Inputs::open(fixture_spec(7)).unwrap();
        let index = inputs.index().clone();
        // Functions in name order: o1/appA/f1, o1/appA/f2, o1/appC/f3,
        // o2/appB/f1; apps o1/appA, o1/appC, o2/appB.
        assert_eq!((index.minutes, index.apps(), index.functions()), (5, 3, 4));
        assert_eq!(index.invocations_total, 11);
        // o1/appC/f3 has no durations row: its one invocation is skipped.
        assert_eq!(
            (index.functions_without_durations, index.invocations_skipped),
            (1, 1)
        );
        assert_eq!(index.invocations(), 10);
        // appA: pct100 190.2 MB → 191 MiB; appC 66; appB has no row.
        assert_eq!(index.apps_without_memory, 1);
        assert_eq!(
            index.memory_bytes(),
            [191 * MIB, 191 * MIB, 66 * MIB, 256 * MIB]
        );
        let registrations: Vec<Input> = inputs.by_ref().take(3 + 4).collect();
        assert!(registrations[..3].iter().all(|input| input.command
            == Command::RegisterImage {
                size_bytes: 100 * MIB
            }));
        let images: Vec<u64> = registrations[3..]
            .iter()
            .map(|input| match input.command {
                Command::RegisterFunction(FunctionDef { image, .. }) => image.to_bits(),
                _ => panic!("{input:?}"),
            })
            .collect();
        assert_eq!(images, [0, 0, 1, 2]);
        // o1/appA/f2's runs are the first and third draws of the seed's
        // stream (one draw per invocation, in issue order).
        let mut draws = Draws::new(7);
        let draw: Vec<u64> = (0..10).map(|_| draws.next_u64()).collect();
        let table = parse_durations_row("o,a,f,0,0,0,0,10,10,20,40,80,160,320")
            .unwrap()
            .1;
        let f2_first = empirical_from(draw[0], &table);
        let f2_second = empirical_from(draw[2], &table);
        assert!((10_000..=320_000).contains(&f2_first) && f2_first != f2_second);
        assert_eq!(
            invocations(&mut inputs),
            [
                // Minute 1: f2's two at 15 s and 45 s, f1's one at 30 s.
                (15_000_000, 1, f2_first),
                (30_000_000, 0, 100_000),
                (45_000_000, 1, f2_second),
                // Minute 2: o2/appB/f1, 1500.5 ms.
                (90_000_000, 3, 1_500_500),
                // Minute 3: f1 twice (o1/appC/f3 skipped).
                (135_000_000, 0, 100_000),
                (165_000_000, 0, 100_000),
                // Minute 5: f1 three times, o2/appB/f1 once; the tie at
                // 270 s goes to the function first in name order.
                (250_000_000, 0, 100_000),
                (270_000_000, 0, 100_000),
                (270_000_000, 3, 1_500_500),
                (290_000_000, 0, 100_000),
            ]
        );
    }

    #[test]
    fn the_seed_changes_durations_only_and_a_limit_takes_the_earliest() {
        let times = |seed| -> Vec<(u64, u64)> {
            invocations(Azure2019Inputs::open(fixture_spec(seed)).unwrap())
                .iter()
                .map(|&(at_us, function, _)| (at_us, function))
                .collect()
        };
        assert_eq!(times(7), times(8));
        let runs = |seed| invocations(Azure2019Inputs::open(fixture_spec(seed)).unwrap());
        assert_eq!(runs(7), runs(7));
        assert_ne!(runs(7), runs(8));
        let mut limited = fixture_spec(7);
        limited.invocations_max = Some(4);
        let inputs = Azure2019Inputs::open(limited).unwrap();
        assert_eq!(inputs.invocations(), 4);
        assert_eq!(invocations(inputs), runs(7)[..4]);
    }

    #[test]
    fn without_a_memory_file_every_app_takes_the_default() {
        let mut spec = fixture_spec(7);
        spec.memory_path = None;
        let index = Azure2019Index::scan(&spec).unwrap();
        assert_eq!(index.memory_bytes(), [256 * MIB; 4]);
        assert_eq!(index.apps_without_memory, 3);
    }

    #[test]
    fn durations_rows_may_lack_minimum_and_maximum() {
        let (names, table) = parse_durations_row("o,a,f,4.5,10,,,1,2,3,4,5,6,7.0004").unwrap();
        assert_eq!(names, ["o", "a", "f"]);
        let values: Vec<u64> = table.iter().map(|point| point.value_us).collect();
        assert_eq!(values, [1_000, 2_000, 3_000, 4_000, 5_000, 6_000, 7_000]);
        let percentiles: Vec<u32> = table.iter().map(|point| point.percentile_ppm).collect();
        assert_eq!(percentiles, DURATION_PERCENTILES_PPM);
    }

    #[test]
    fn spread_puts_each_in_the_middle_of_its_share() {
        assert_eq!(spread_us(0, 1), 30_000_000);
        assert_eq!(
            (0..3).map(|k| spread_us(k, 3)).collect::<Vec<_>>(),
            [10_000_000, 30_000_000, 50_000_000]
        );
        // The most a minute may hold: one per microsecond.
        let count = COUNT_MAX as u32;
        assert_eq!(spread_us(0, count), 0);
        assert_eq!(spread_us(count - 1, count), US_PER_MINUTE - 1);
    }

    /// A temporary file with `text`, unique to this process and name.
    fn temp_file(name: &str, text: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!(
            "coldstart-azure2019-{}-{name}.csv",
            std::process::id()
        ));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn bad_lines_name_the_file_the_line_and_the_reason() {
        let counts = "HashOwner,HashApp,HashFunction,Trigger,1,2\n";
        let durations = format!("{DURATIONS_HEADER}\n");
        let memory = format!("{MEMORY_HEADER}\n");
        for (name, which, text, expected) in [
            (
                "c-header",
                0,
                "HashOwner,HashApp\n".to_string(),
                ":1: the header is `HashOwner,HashApp`",
            ),
            (
                "c-minutes",
                0,
                "HashOwner,HashApp,HashFunction,Trigger,1,3\n".to_string(),
                ":1: the header `",
            ),
            (
                "c-fields",
                0,
                format!("{counts}o,a,f,http,1\n"),
                ":2: expected 6 comma-separated fields",
            ),
            (
                "c-count",
                0,
                format!("{counts}o,a,f,http,1,x\n"),
                ":2: minute 2: `x` is not a whole number",
            ),
            (
                "c-negative",
                0,
                format!("{counts}o,a,f,http,-1,0\n"),
                ":2: minute 1: `-1` is not a whole number",
            ),
            (
                "c-name",
                0,
                format!("{counts}o,,f,http,1,0\n"),
                ":2: an empty name",
            ),
            (
                "c-twice",
                0,
                format!("{counts}o,a,f,http,1,0\n\no,a,f,timer,0,1\n"),
                ":4: this (HashOwner, HashApp, HashFunction) has a row already",
            ),
            ("c-empty", 0, String::new(), ":1: the file is empty"),
            (
                "d-header",
                1,
                "a,b\n".to_string(),
                ":1: the header is `a,b`",
            ),
            (
                "d-falls",
                1,
                format!("{durations}o,a,f,1,1,1,1,1,2,3,2,5,6,7\n"),
                ":2: percentile_Average_50 `2` is below the percentile before it",
            ),
            (
                "d-nan",
                1,
                format!("{durations}o,a,f,NaN,1,1,1,1,2,3,4,5,6,7\n"),
                ":2: Average `NaN` is not finite",
            ),
            (
                "d-fields",
                1,
                format!("{durations}o,a,f,1\n"),
                ":2: expected 14 comma-separated fields",
            ),
            (
                "d-average",
                1,
                format!("{durations}o,a,f,,1,,,1,2,3,4,5,6,7\n"),
                ":2: Average `` is not a number",
            ),
            (
                "m-header",
                2,
                "HashOwner\n".to_string(),
                ":1: the header is `HashOwner`",
            ),
            (
                "m-negative",
                2,
                format!("{memory}o,a,1,1,1,1,1,1,1,1,1,-5\n"),
                ":2: AverageAllocatedMb_pct100 `-5` is negative",
            ),
        ] {
            let path = temp_file(name, &text);
            let mut spec = fixture_spec(1);
            match which {
                0 => spec.invocations_path = path.clone(),
                1 => spec.durations_path = path.clone(),
                _ => spec.memory_path = Some(path.clone()),
            }
            let error = Azure2019Inputs::open(spec).err().unwrap().to_string();
            assert!(
                error.contains(&format!("{name}.csv{expected}")),
                "{name}: {error}"
            );
            std::fs::remove_file(path).unwrap();
        }
        let mut spec = fixture_spec(1);
        spec.durations_path = data("no-such-file.csv");
        let missing = Azure2019Inputs::open(spec).err().unwrap();
        assert_eq!(missing.line, None);
    }
}
