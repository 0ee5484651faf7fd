//! `coldstart gen`: writes a synthetic day in an Azure trace layout, and a
//! scenario file that runs it (library: `coldstart::workload::generate`).

use clap::{Args, ValueEnum};
use coldstart::workload::generate::{
    write_azure2019, write_azure2021, DaySpec, DurationSpec, MemorySpec,
};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Layout {
    /// Per-minute counts per function, duration percentiles per function,
    /// memory per app (invocations.csv, durations.csv, memory.csv).
    Azure2019,
    /// One row per invocation: app,func,end_timestamp,duration (trace.csv).
    Azure2021,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MemoryArg {
    /// 128, 256, 512 or 1024 MiB per app, weighted 50/25/15/10%.
    Azure,
}

/// The defaults are the day coldstart and DSLab FaaS were measured on side
/// by side (docs/performance.md): 1.8 M invocations in two hours, 1,000
/// functions, one per app, 1 s each.
#[derive(Debug, Args)]
pub struct GenArgs {
    /// The trace layout to write.
    #[arg(value_enum)]
    layout: Layout,
    /// The folder to write into (created if missing; no file in it is ever
    /// overwritten).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, default_value_t = 1_000)]
    functions: u32,
    /// Apps the functions belong to (default: one per function).
    #[arg(long)]
    apps: Option<u32>,
    #[arg(long, default_value_t = 1_800_000)]
    invocations: u64,
    /// Minutes the day covers (at most 1440).
    #[arg(long, default_value_t = 120)]
    minutes: u32,
    /// Zipf exponent of function popularity (0: all alike).
    #[arg(long, default_value_t = 1.0)]
    zipf: f64,
    /// Amplitude of the diurnal swing in the rate, 0 to 1 (0: flat).
    #[arg(long, default_value_t = 0.0)]
    diurnal: f64,
    /// Minute of the day at which the rate peaks.
    #[arg(long, default_value_t = 0)]
    peak_minute: u32,
    /// Every invocation runs this long (ms), unless --median-ms is given.
    #[arg(long, default_value_t = 1_000, conflicts_with = "median_ms")]
    duration_ms: u64,
    /// Log-normal durations: each function's median drawn log-uniformly
    /// from MIN..MAX (ms).
    #[arg(long, value_name = "MIN..MAX")]
    median_ms: Option<String>,
    /// σ of the log-normal durations (with --median-ms).
    #[arg(long, default_value_t = 0.6, requires = "median_ms")]
    spread: f64,
    /// Every app's memory (MiB), unless --memory is given.
    #[arg(long, default_value_t = 256, conflicts_with = "memory")]
    memory_mib: u64,
    /// Draw each app's memory from Azure's shape.
    #[arg(long, value_enum)]
    memory: Option<MemoryArg>,
    /// Hosts in the scenario file written beside the trace.
    #[arg(long, default_value_t = 100)]
    hosts: u32,
}

fn parse_range(text: &str) -> Result<(u64, u64), String> {
    let (low, high) = text
        .split_once("..")
        .ok_or_else(|| format!("--median-ms takes MIN..MAX (e.g. 50..5000), not `{text}`"))?;
    let number = |part: &str| {
        part.trim()
            .parse::<u64>()
            .map_err(|_| format!("--median-ms: `{part}` is not a whole number of ms"))
    };
    Ok((number(low)?, number(high)?))
}

impl GenArgs {
    fn spec(&self) -> Result<DaySpec, String> {
        let duration = match &self.median_ms {
            Some(range) => {
                let (median_min_ms, median_max_ms) = parse_range(range)?;
                DurationSpec::LogNormal {
                    median_min_ms,
                    median_max_ms,
                    spread: self.spread,
                }
            }
            None => DurationSpec::Constant {
                ms: self.duration_ms,
            },
        };
        let memory = match self.memory {
            Some(MemoryArg::Azure) => MemorySpec::Azure,
            None => MemorySpec::Constant {
                mib: self.memory_mib,
            },
        };
        let mut spec = DaySpec::default();
        spec.seed = self.seed;
        spec.functions = self.functions;
        spec.apps = self.apps.unwrap_or(self.functions);
        spec.invocations = self.invocations;
        spec.minutes = self.minutes;
        spec.zipf_exponent = self.zipf;
        spec.diurnal_amplitude = self.diurnal;
        spec.peak_minute = self.peak_minute;
        spec.duration = duration;
        spec.memory = memory;
        Ok(spec)
    }
}

/// The scenario that runs the day: the side-by-side measurement's platform
/// (hosts of 4 GiB, 500 ms cold start, 10-minute keep-alive), small images
/// and ample storage so transfers do not dominate.
fn scenario_text(args: &GenArgs, command: &str) -> String {
    let trace = match args.layout {
        Layout::Azure2019 => "format = \"azure2019\"\ninvocations_path = \"invocations.csv\"\n\
                              durations_path = \"durations.csv\"\nmemory_path = \"memory.csv\"\n"
            .to_string(),
        Layout::Azure2021 => "format = \"azure2021\"\npath = \"trace.csv\"\n".to_string(),
    };
    format!(
        "# A synthetic day, written by\n#   {command}\n# Run it with `coldstart simulate {}`;\n\
         # every value below is a starting point to edit.\n\n\
         seed = {seed}\n\n\
         [provider]\ncold_start = \"500ms\"\nwarm_start = \"1ms\"\n\n\
         [[provider.hosts]]\ncount = {hosts}\nram = \"4GiB\"\nslots = 64\ndisk = \"100GiB\"\ncopy_bandwidth = \"1GB/s\"\n\n\
         [provider.main_storage]\ncapacity = \"1000GiB\"\ndownload_bandwidth = \"1GB/s\"\n\n\
         [provider.policy]\nkeep_alive = \"10min\"\n\n\
         [workload.trace]\n{trace}image_size = \"50MiB\"\n\n\
         [workload.function_defaults]\nmemory = \"{memory}MiB\"\nscratch = \"0MiB\"\ntime_limit = \"10min\"\n",
        args.out.join("scenario.toml").display(),
        seed = args.seed,
        hosts = args.hosts,
        memory = args.memory_mib,
    )
}

fn write_scenario(args: &GenArgs) -> Result<PathBuf, String> {
    let path = args.out.join("scenario.toml");
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|error| match error.kind() {
            std::io::ErrorKind::AlreadyExists => format!(
                "{}: already exists; a generated day never overwrites a file",
                path.display()
            ),
            _ => format!("{}: {error}", path.display()),
        })?;
    file.write_all(scenario_text(args, &command).as_bytes())
        .map_err(|error| format!("{}: {error}", path.display()))?;
    Ok(path)
}

fn refuse(problem: impl std::fmt::Display) -> ExitCode {
    eprintln!("coldstart: gen: {problem}");
    ExitCode::FAILURE
}

fn print_written(paths: &[PathBuf]) {
    for path in paths {
        println!("{}", path.display());
    }
}

pub fn run_gen(args: &GenArgs) -> ExitCode {
    let spec = match args.spec() {
        Ok(spec) => spec,
        Err(problem) => return refuse(problem),
    };
    if let Err(problem) = spec.validate() {
        return refuse(problem);
    }
    if args.hosts == 0 {
        return refuse("--hosts must be at least 1");
    }
    // Nothing is written unless every file can be: none may exist yet.
    let names: &[&str] = match args.layout {
        Layout::Azure2019 => &[
            "invocations.csv",
            "durations.csv",
            "memory.csv",
            "scenario.toml",
        ],
        Layout::Azure2021 => &["trace.csv", "scenario.toml"],
    };
    if let Some(existing) = names
        .iter()
        .map(|name| args.out.join(name))
        .find(|path| path.exists())
    {
        return refuse(format!(
            "{}: already exists; a generated day never overwrites a file (remove it or pick another --out)",
            existing.display()
        ));
    }
    let written = match args.layout {
        Layout::Azure2019 => write_azure2019(&spec, Path::new(&args.out)),
        Layout::Azure2021 => write_azure2021(&spec, Path::new(&args.out)).map(|path| vec![path]),
    };
    let written = written.map(|paths| (paths, write_scenario(args)));
    match written {
        Ok((mut paths, Ok(scenario))) => {
            paths.push(scenario);
            print_written(&paths);
            ExitCode::SUCCESS
        }
        Ok((_, Err(problem))) => refuse(problem),
        Err(error) => refuse(error),
    }
}
