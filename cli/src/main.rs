//! The `coldstart` command.

use clap::{Args, Parser, Subcommand, ValueEnum};
use coldstart::driver::{DriverOptions, RunReport};
use coldstart::html::Collector;
use coldstart::log::{self, LogFormat, LogReader, Until};
use coldstart::report::{self, Latencies};
use coldstart::scenario::policy_names::{
    self, parse_host_selection, parse_image_eviction, parse_keep_alive, HostSelectionName,
    KeepAliveName, PolicyChoice,
};
use coldstart::scenario::{self, Scenario, ScenarioError, WorkloadSource};
use coldstart::simulate::{
    simulate_scenario_with, SimulateError, SimulateOptions, REPAIR_S_DEFAULT,
};
use coldstart::study::compare;
use coldstart::study::grid::{Grid, GridArgument, GridError, GridHeader};
use coldstart::workload::faults::FaultOptions;
use coldstart::{Config, Event, ImageEviction, KeepAlivePolicy, Metrics};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

mod gen;
mod html_out;
mod jobs;
mod outputs;
mod progress;
mod summary;
mod svg;
use progress::Progress;

/// The most invocations one `simulate` run may generate.
const INVOCATIONS_MAX: u64 = 1_000_000_000;

/// A deterministic model of a Function-as-a-Service provider.
#[derive(Debug, Parser)]
#[command(name = "coldstart", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs a scenario (a TOML file, or the built-in default) and prints a
    /// summary.
    Simulate(SimulateArgs),
    /// Runs a scenario (a TOML file, or the built-in default) for every
    /// combination of policies and key values and every seed, in parallel,
    /// and prints each report metric's mean and 95% confidence interval
    /// across seeds; or writes one job file per run (--emit-jobs).
    Compare(CompareArgs),
    /// Runs one job file written by `compare --emit-jobs` and writes its
    /// result (JSON).
    RunJob(RunJobArgs),
    /// Combines result files of `run-job` into the table, CSV, JSON or SVG
    /// that `compare` prints for the same grid.
    Merge(MergeArgs),
    /// Replays a command log (binary or JSON Lines) and prints its summary.
    Replay(ReplayArgs),
    /// Works on command logs.
    #[command(subcommand)]
    Log(LogCommand),
    /// Writes a synthetic day in an Azure Functions trace layout (seeded:
    /// functions, apps, popularity, diurnal rate, durations, memory), and a
    /// scenario file beside it that runs it.
    Gen(gen::GenArgs),
}

#[derive(Debug, Subcommand)]
enum LogCommand {
    /// Converts a log between binary (.cslog) and JSON Lines (.jsonl), the
    /// output's format chosen by its extension.
    Convert {
        /// The log to read (either format).
        input: PathBuf,
        /// The log to write: .cslog or .jsonl.
        output: PathBuf,
    },
}

/// How a run's results are printed.
#[derive(Debug, Args)]
struct OutputArgs {
    /// Print the report as one JSON object (keys in docs/guide.md) instead of the summary.
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print the report as CSV: a header row and one row of values.
    #[arg(long)]
    csv: bool,
    /// No progress and no summary; a report asked for with --json or --csv
    /// is still printed (errors still go to stderr).
    #[arg(long, short)]
    quiet: bool,
    /// Also write the run's report as one self-contained HTML file: time
    /// series, latency CDFs, per-function and per-host tables.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ReplayArgs {
    /// The log to replay (binary or JSON Lines, told apart by content).
    log: PathBuf,
    /// Write every event to this file as JSON Lines.
    #[arg(long, value_name = "FILE")]
    events: Option<PathBuf>,
    /// Check the events against the log's trailer (count and digest).
    #[arg(long, conflicts_with_all = ["until", "until_time"])]
    verify: bool,
    /// Stop after this many inputs and print the provider's state as JSON.
    #[arg(long, value_name = "STEP", conflicts_with_all = ["until_time", "html"])]
    until: Option<u64>,
    /// Stop at this virtual time (µs): apply the inputs at or before it, let
    /// the timers due by then fire, and print the provider's state as JSON.
    #[arg(long, value_name = "T_US", conflicts_with = "html")]
    until_time: Option<u64>,
    /// Check every invariant after every step (always on in debug builds).
    #[arg(long)]
    check: bool,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PressureArg {
    /// An invocation that finds no room ends at once, rejected.
    Reject,
    /// It waits in a first-in, first-out queue.
    Queue,
}

#[derive(Debug, Args)]
struct SimulateArgs {
    /// A scenario file (TOML; keys in docs/guide.md). Without one, the default
    /// scenario (the same as examples/default.toml).
    scenario: Option<PathBuf>,
    /// Override a scenario key (after the file is parsed, before its values
    /// are read), e.g. `--set
    /// provider.policy.keep_alive=5min` or `--set provider.hosts[0].count=8`
    /// (repeatable; applied in order).
    #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
    set: Vec<String>,
    /// Seed of the synthetic workload (and of --faults); overrides the
    /// scenario's `seed` (the default scenario's: 825126002983).
    #[arg(long)]
    seed: Option<u64>,
    /// Invocations to generate (with a trace: the most to import); the same
    /// as --set workload.invocations=N (the default scenario's: 200000).
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=INVOCATIONS_MAX))]
    invocations: Option<u64>,
    /// What happens to an invocation when no host has room; the same as
    /// --set provider.pressure=… (default: reject).
    #[arg(long, value_enum)]
    pressure: Option<PressureArg>,
    /// Queue capacity, with `--pressure queue`; the same as --set
    /// provider.queue_capacity=N (default: 1000).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    queue_capacity: Option<u32>,
    /// Crash hosts at random, from the seed: on average this many host
    /// crashes per hour of virtual time; each host comes back after
    /// --repair-s, its disk kept or lost with even odds.
    #[arg(long, value_name = "CRASHES_PER_HOUR",
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    faults: Option<u64>,
    /// How long a crashed host stays down, in seconds (with --faults).
    #[arg(long, value_name = "SECONDS", default_value_t = REPAIR_S_DEFAULT,
          value_parser = clap::value_parser!(u64).range(0..=86_400))]
    repair_s: u64,
    #[command(flatten)]
    policies: PolicyArgs,
    /// Check every invariant after every step (always on in debug builds).
    #[arg(long)]
    check: bool,
    /// Record the run as a command log: binary if FILE ends in .cslog, JSON
    /// Lines if .jsonl.
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    #[command(flatten)]
    output: OutputArgs,
}

/// The built-in policies of a run, by name (docs/policies.md).
#[derive(Debug, Args)]
struct PolicyArgs {
    /// Host selection: room-first, first-fit, best-fit, image-locality, round-robin,
    /// least-loaded, random[:SEED] (default: the workload seed),
    /// package-aware[:THRESHOLD_PERCENT], home-invoker,
    /// consistent-hashing[:EPSILON_PERCENT]. Default: the scenario's.
    #[arg(long, value_name = "NAME", value_parser = parse_host_selection)]
    host_selection: Option<HostSelectionName>,
    /// Keep-alive: fixed[:SECONDS] (600), hybrid, greedy-dual. Default: the
    /// scenario's.
    #[arg(long, value_name = "NAME", value_parser = parse_keep_alive)]
    keep_alive_policy: Option<KeepAliveName>,
    /// Image eviction on both disks: lru, lfu, gdsf,
    /// kubelet-watermark[:HIGH:LOW] (85:80: collect past HIGH% of a disk
    /// down to LOW%). Default: the scenario's.
    #[arg(long, value_name = "NAME", value_parser = parse_image_eviction)]
    image_eviction: Option<ImageEviction>,
}

impl PolicyArgs {
    /// Replaces the scenario's policies named on the command line, and only
    /// those (a scenario's other policy settings stay).
    fn apply_to(&self, scenario: &mut Scenario) {
        let defaults = PolicyChoice::default();
        let choice = defaults
            .with_host_selection(self.host_selection.unwrap_or(defaults.host_selection))
            .with_keep_alive(self.keep_alive_policy.unwrap_or(defaults.keep_alive))
            .with_image_eviction(self.image_eviction.unwrap_or(defaults.image_eviction));
        let named = choice.builtin(&scenario.config, scenario.seed);
        let policies = &mut scenario.policies;
        if self.host_selection.is_some() {
            policies.host_selection = named.host_selection;
        }
        if self.keep_alive_policy.is_some() {
            // `hybrid` on a scenario that already runs the hybrid histogram
            // keeps the scenario's parameters (its `prewarm_percentile`).
            let both_hybrid = matches!(
                (policies.keep_alive_policy, named.keep_alive_policy),
                (
                    KeepAlivePolicy::HybridHistogram(_),
                    KeepAlivePolicy::HybridHistogram(_)
                )
            );
            if !both_hybrid {
                policies.keep_alive_policy = named.keep_alive_policy;
            }
            policies.keep_alive_us = named.keep_alive_us;
        }
        if self.image_eviction.is_some() {
            policies.image_eviction = named.image_eviction;
        }
    }
}

/// A comparison's grid and its seeds (docs/guide.md, "Choosing and comparing
/// policies").
#[derive(Debug, Args)]
struct CompareArgs {
    /// A scenario file (TOML; keys in docs/guide.md). Without one, the default
    /// scenario (the same as examples/default.toml).
    scenario: Option<PathBuf>,
    /// A policy axis: NAME=P1,P2,… sets the scenario key
    /// provider.policy.NAME (`-` read as `_`) to each value in turn:
    /// host-selection, keep-alive-policy, image-eviction, warm-choice,
    /// keep-alive, prewarm-percentile (names as for simulate). Repeatable;
    /// one value applies to every run instead.
    #[arg(long = "policy", value_name = "NAME=P1,P2,…")]
    policy: Vec<String>,
    /// A key axis: KEY.PATH=V1,V2,… sets any scenario key to each value in
    /// turn (commas inside [ ], { } or quotes do not split). Repeatable;
    /// one value applies to every run, as simulate's --set.
    #[arg(long = "set", value_name = "KEY.PATH=V1,V2,…")]
    set: Vec<String>,
    /// Host selections to compare, comma-separated: the same as --policy
    /// host-selection=….
    #[arg(long, value_name = "NAMES")]
    host_selection: Option<String>,
    /// Keep-alive policies to compare: the same as --policy
    /// keep-alive-policy=….
    #[arg(long, value_name = "NAMES")]
    keep_alive_policy: Option<String>,
    /// Image evictions to compare: the same as --policy image-eviction=….
    #[arg(long, value_name = "NAMES")]
    image_eviction: Option<String>,
    /// Seeds per combination: SEED, SEED + 1, …
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    seeds: u64,
    /// The first seed (default: the scenario's).
    #[arg(long)]
    seed: Option<u64>,
    /// Invocations per run; the same as --set workload.invocations=N
    /// (default: the scenario's).
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=INVOCATIONS_MAX))]
    invocations: Option<u64>,
    /// What happens to an invocation when no host has room; the same as
    /// --set provider.pressure=… (default: the scenario's).
    #[arg(long, value_enum)]
    pressure: Option<PressureArg>,
    /// Queue capacity, with `--pressure queue`; the same as --set
    /// provider.queue_capacity=N.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    queue_capacity: Option<u32>,
    /// Worker threads (default: every core). The results do not depend on it.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_024),
          conflicts_with = "emit_jobs")]
    threads: Option<u64>,
    /// Check every invariant after every step (always on in debug builds).
    #[arg(long)]
    check: bool,
    /// Write one job file per run (combination × seed) into DIR (new or
    /// empty) instead of running them; run each with `coldstart run-job`
    /// and combine the results with `coldstart merge`.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["json", "csv", "svg", "html"])]
    emit_jobs: Option<PathBuf>,
    #[command(flatten)]
    output: ComparisonOutputArgs,
}

/// How a comparison is printed (compare and merge).
#[derive(Debug, Args)]
struct ComparisonOutputArgs {
    /// Print one JSON object per combination (JSON Lines) instead of the table.
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print CSV: a header row, then one row per combination.
    #[arg(long)]
    csv: bool,
    /// Also write a plot (SVG): a panel of bars with 95% CI whiskers, one
    /// bar per combination, for each metric of --svg-metrics.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// The report keys the plot shows, comma-separated.
    #[arg(
        long,
        value_name = "KEYS",
        value_delimiter = ',',
        default_value = "cold_start_ratio,cost,end_to_end_us_p99"
    )]
    svg_metrics: Vec<String>,
    /// Also write the comparison as one self-contained HTML file: the
    /// table, and per metric a bar per combination with its 95% CI.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct RunJobArgs {
    /// A job file written by `compare --emit-jobs`.
    job: PathBuf,
    /// Write the result here (default: stdout).
    #[arg(long, short, value_name = "RESULT")]
    output: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct MergeArgs {
    /// Result files of `run-job`, or directories of them (every .json file
    /// inside).
    #[arg(required = true, value_name = "RESULT")]
    results: Vec<PathBuf>,
    #[command(flatten)]
    output: ComparisonOutputArgs,
}

impl CompareArgs {
    /// The fixed overrides: every --set and --policy with one value comes
    /// through `Grid::new`; these are the dedicated options, as --sets.
    fn fixed_sets(&self) -> Vec<String> {
        let mut sets = Vec::new();
        if let Some(invocations) = self.invocations {
            sets.push(format!("workload.invocations={invocations}"));
        }
        if let Some(pressure) = self.pressure {
            sets.push(format!("provider.pressure={}", pressure_word(pressure)));
        }
        if let Some(capacity) = self.queue_capacity {
            sets.push(format!("provider.queue_capacity={capacity}"));
        }
        sets
    }

    /// The axes in their documented order: the shorthand policy flags,
    /// then each --policy, then each --set.
    fn grid_arguments(&self) -> Vec<GridArgument> {
        let shorthands = [
            ("host-selection", &self.host_selection),
            ("keep-alive-policy", &self.keep_alive_policy),
            ("image-eviction", &self.image_eviction),
        ];
        let mut arguments: Vec<GridArgument> = shorthands
            .into_iter()
            .filter_map(|(name, values)| {
                values
                    .as_ref()
                    .map(|values| GridArgument::Policy(format!("{name}={values}")))
            })
            .collect();
        arguments.extend(self.policy.iter().cloned().map(GridArgument::Policy));
        arguments.extend(self.set.iter().cloned().map(GridArgument::Set));
        arguments
    }

    fn grid(&self) -> Result<Grid, GridError> {
        Grid::new(
            self.scenario.as_deref(),
            &self.fixed_sets(),
            &self.grid_arguments(),
            self.seed,
            self.seeds,
        )
    }
}

/// `coldstart: FILE: problem` for a scenario's own error, `coldstart:
/// FLAG: problem` for a flag's.
fn grid_error(scenario: Option<&Path>, error: GridError) -> ExitCode {
    match (&error, scenario) {
        (GridError::Scenario(_), Some(path)) => file_error(path, error),
        _ => {
            complain(&error);
            ExitCode::FAILURE
        }
    }
}

/// Checks --svg-metrics against the report's keys.
fn check_svg_metrics(output: &ComparisonOutputArgs) -> Result<(), String> {
    let keys = report::keys();
    for metric in &output.svg_metrics {
        if metric == "events_digest" {
            return Err(format!("--svg-metrics: `{metric}` is not a number"));
        }
        if !keys.contains(&metric.as_str()) {
            return Err(format!(
                "--svg-metrics: `{metric}` is not a report key (docs/guide.md, \"The report\")"
            ));
        }
    }
    Ok(())
}

/// Prints a comparison's rows as the table, CSV or JSON, and writes the
/// plot if asked.
fn print_comparison(
    output: &ComparisonOutputArgs,
    header: &GridHeader,
    runs: &[compare::Fields],
) -> ExitCode {
    let rows = compare::summarize_runs(header, runs);
    if let Some(path) = &output.html {
        let keys = html_plot_keys(output);
        let page = coldstart::html::compare::render_comparison(header, &rows, &keys);
        if let Err(error) = std::fs::write(path, page) {
            return file_error(path, error);
        }
    }
    if let Some(path) = &output.svg {
        let keys: Vec<&str> = output.svg_metrics.iter().map(String::as_str).collect();
        if let Err(error) = std::fs::write(path, svg::render_svg(header, &rows, &keys)) {
            return file_error(path, error);
        }
    }
    if output.json {
        out(&compare::render_json(header, &rows));
    } else if output.csv {
        out(&compare::render_csv(header, &rows));
    } else {
        out(&compare::render_table(header, &rows));
    }
    ExitCode::SUCCESS
}

/// The HTML report's plots: the --svg-metrics keys, then the defaults.
fn html_plot_keys(output: &ComparisonOutputArgs) -> Vec<&str> {
    let mut keys: Vec<&str> = output.svg_metrics.iter().map(String::as_str).collect();
    for key in coldstart::html::compare::PLOT_KEYS_DEFAULT {
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

fn run_compare(args: &CompareArgs) -> ExitCode {
    if let Err(error) = check_svg_metrics(&args.output) {
        complain(&error);
        return ExitCode::FAILURE;
    }
    let grid = match args.grid() {
        Ok(grid) => grid,
        Err(error) => return grid_error(args.scenario.as_deref(), error),
    };
    let mut inputs: Vec<PathBuf> = args.scenario.iter().cloned().collect();
    for combination in 0..grid.header.combinations().min(COMBINATIONS_CHECKED_MAX) {
        if let Ok(scenario) = grid.scenario(combination, grid.header.seeds[0]) {
            inputs.extend(scenario.workload.input_paths());
        }
    }
    if let Err(clash) = refuse_clash(
        &inputs,
        &[
            ("--svg", args.output.svg.as_deref()),
            ("--html", args.output.html.as_deref()),
        ],
    ) {
        return clash;
    }
    if let Some(directory) = &args.emit_jobs {
        // The job records what was asked; the build running it adds its own
        // checks (a debug build always checks).
        return match jobs::emit_jobs(&grid, args.check, directory) {
            Ok(names) => {
                out(&format!(
                    "{} ({} × {}) in {}: {} to {}\n",
                    compare::count(names.len(), "job"),
                    compare::count(grid.header.combinations(), "combination"),
                    compare::count(grid.header.seeds.len(), "seed"),
                    directory.display(),
                    names.first().map_or("", String::as_str),
                    names.last().map_or("", String::as_str),
                ));
                ExitCode::SUCCESS
            }
            Err(error) => {
                complain(&error);
                ExitCode::FAILURE
            }
        };
    }
    let threads = args.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n as usize,
    );
    let check_invariants = args.check || cfg!(debug_assertions);
    match compare::run_grid(&grid, check_invariants, threads) {
        Ok(runs) => print_comparison(&args.output, &grid.header, &runs),
        Err(failure) => match &args.scenario {
            Some(path) => file_error(path, failure),
            None => {
                complain(&format_args!("error: {failure}"));
                ExitCode::FAILURE
            }
        },
    }
}

fn run_run_job(args: &RunJobArgs) -> ExitCode {
    let job = match jobs::read_job(&args.job) {
        Ok(job) => job,
        Err(error) => {
            complain(&error);
            return ExitCode::FAILURE;
        }
    };
    let mut inputs = vec![args.job.clone()];
    inputs.extend(jobs::job_input_paths(&job));
    if let Err(clash) = refuse_clash(&inputs, &[("--output", args.output.as_deref())]) {
        return clash;
    }
    let result = jobs::run_job(&args.job, job);
    let result = match result {
        Ok(result) => result,
        Err(error) => {
            complain(&error);
            return ExitCode::FAILURE;
        }
    };
    match &args.output {
        None => {
            out(&jobs::result_text(&result));
            ExitCode::SUCCESS
        }
        Some(path) => match jobs::write_result(path, &result) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                complain(&error);
                ExitCode::FAILURE
            }
        },
    }
}

fn run_merge(args: &MergeArgs) -> ExitCode {
    if let Err(error) = check_svg_metrics(&args.output) {
        complain(&error);
        return ExitCode::FAILURE;
    }
    let files = match jobs::result_paths(&args.results) {
        Ok(files) => files,
        Err(error) => {
            complain(&error);
            return ExitCode::FAILURE;
        }
    };
    if let Err(clash) = refuse_clash(
        &files,
        &[
            ("--svg", args.output.svg.as_deref()),
            ("--html", args.output.html.as_deref()),
        ],
    ) {
        return clash;
    }
    let merged = jobs::merge(&files);
    match merged {
        Ok((header, runs)) => print_comparison(&args.output, &header, &runs),
        Err(error) => {
            match error.path {
                Some(_) => complain(&error),
                None => complain(&format_args!("merge: {error}")),
            }
            ExitCode::FAILURE
        }
    }
}

impl SimulateArgs {
    /// The scenario: the file (or the default), the `--set`s, then the
    /// dedicated options, then `--seed`.
    fn scenario(&self) -> Result<Scenario, ScenarioError> {
        let mut sets = self.set.clone();
        if let Some(invocations) = self.invocations {
            sets.push(format!("workload.invocations={invocations}"));
        }
        if let Some(pressure) = self.pressure {
            sets.push(format!("provider.pressure={}", pressure_word(pressure)));
        }
        if let Some(capacity) = self.queue_capacity {
            sets.push(format!("provider.queue_capacity={capacity}"));
        }
        // The seed replaces the scenario's before its values are read, so
        // `random` host selection follows it as the workload does.
        let mut scenario = match &self.scenario {
            Some(path) => scenario::load_seeded(path, &sets, self.seed)?,
            None => scenario::default_seeded(&sets, self.seed)?,
        };
        self.policies.apply_to(&mut scenario);
        Ok(scenario)
    }

    fn options(&self) -> SimulateOptions {
        SimulateOptions::default()
            .with_check_invariants(self.check || cfg!(debug_assertions))
            .with_faults(self.faults.map(|crashes_per_hour| {
                FaultOptions::new(crashes_per_hour, self.repair_s * 1_000_000)
            }))
    }

    /// The command that reruns this simulation, for error messages.
    fn rerun_command(&self, seed: u64) -> String {
        let mut command = "coldstart simulate".to_string();
        if let Some(path) = &self.scenario {
            command += &format!(" {}", path.display());
        }
        for set in &self.set {
            command += &format!(" --set '{set}'");
        }
        command += &format!(" --seed {seed}");
        if let Some(invocations) = self.invocations {
            command += &format!(" --invocations {invocations}");
        }
        if let Some(pressure) = self.pressure {
            command += &format!(" --pressure {}", pressure_word(pressure));
        }
        if let Some(capacity) = self.queue_capacity {
            command += &format!(" --queue-capacity {capacity}");
        }
        if let Some(rate) = self.faults {
            command += &format!(" --faults {rate} --repair-s {}", self.repair_s);
        }
        if let Some(name) = self.policies.host_selection {
            command += &format!(
                " --host-selection {}",
                policy_names::host_selection_name(name)
            );
        }
        if let Some(name) = self.policies.keep_alive_policy {
            command += &format!(
                " --keep-alive-policy {}",
                policy_names::keep_alive_name(name)
            );
        }
        if let Some(name) = self.policies.image_eviction {
            command += &format!(
                " --image-eviction {}",
                policy_names::image_eviction_name(name)
            );
        }
        command + " --check"
    }
}

fn pressure_word(pressure: PressureArg) -> &'static str {
    match pressure {
        PressureArg::Reject => "reject",
        PressureArg::Queue => "queue",
    }
}

/// The most combinations of a comparison whose traces are checked against
/// its outputs (the traces of a grid rarely vary past its first few).
const COMBINATIONS_CHECKED_MAX: usize = 64;

/// Refuses, in one line, an output that is one of the run's inputs
/// (`outputs.rs`), before any file is created.
fn refuse_clash(inputs: &[PathBuf], outputs: &[(&str, Option<&Path>)]) -> Result<(), ExitCode> {
    let named: Vec<(&str, &Path)> = outputs
        .iter()
        .filter_map(|(flag, path)| path.map(|path| (*flag, path)))
        .collect();
    outputs::check_outputs(inputs, &named).map_err(|clash| {
        complain(&clash);
        ExitCode::FAILURE
    })
}

/// Writes results to stdout; a closed pipe (`| head`) is not an error.
fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

/// The longest error line printed (characters): a backstop behind the
/// cut of each echoed value, so no message outgrows a line.
const ERROR_LINE_CHARS_MAX: usize = 1_000;

/// Prints `coldstart: problem` on stderr, on one line, cut to
/// [`ERROR_LINE_CHARS_MAX`].
fn complain(problem: &dyn std::fmt::Display) {
    let text = problem.to_string();
    eprintln!(
        "coldstart: {}",
        coldstart::files::echo_up_to(&text, ERROR_LINE_CHARS_MAX)
    );
}

/// Prints `coldstart: FILE: problem` on stderr; returns the failure code.
fn file_error(path: &Path, problem: impl std::fmt::Display) -> ExitCode {
    complain(&format_args!("{}: {problem}", path.display()));
    ExitCode::FAILURE
}

fn slots_total(config: &Config) -> u64 {
    config.hosts.iter().map(|host| u64::from(host.slots)).sum()
}

/// Prints the report (`--json`, `--csv`), or else the summary unless
/// `--quiet`: quiet silences what was not asked for, never a report that was.
fn print_results(
    output: &OutputArgs,
    metrics: &Metrics,
    run: &RunReport,
    slots_total: u64,
    latencies: &mut Latencies,
    summary: impl FnOnce(&mut Latencies) -> String,
) {
    if output.json || output.csv {
        let fields = report::fields(metrics, run, slots_total, latencies);
        if output.json {
            out(&report::to_json(&fields));
        } else {
            out(&report::to_csv(&fields));
        }
    } else if !output.quiet {
        out(&summary(latencies));
    }
}

/// `coldstart: FILE: problem` for a scenario file, `coldstart: error:
/// problem` without one.
fn scenario_error(args: &SimulateArgs, problem: impl std::fmt::Display) -> ExitCode {
    match &args.scenario {
        Some(path) => file_error(path, problem),
        None => {
            complain(&format_args!("error: {problem}"));
            ExitCode::FAILURE
        }
    }
}

fn run_simulate(args: &SimulateArgs) -> ExitCode {
    let started = Instant::now();
    let scenario = match args.scenario() {
        Ok(scenario) => scenario,
        Err(error) => return scenario_error(args, error),
    };
    let mut latencies = Latencies::new();
    let total = match &scenario.workload {
        WorkloadSource::Synthetic(spec) => Some(spec.invocations),
        WorkloadSource::Trace(_) | WorkloadSource::Azure2019(_) => None,
    };
    let mut inputs: Vec<PathBuf> = args.scenario.iter().cloned().collect();
    inputs.extend(scenario.workload.input_paths());
    if let Err(clash) = refuse_clash(
        &inputs,
        &[
            ("--record", args.record.as_deref()),
            ("--html", args.output.html.as_deref()),
        ],
    ) {
        return clash;
    }
    let mut collector = match &args.output.html {
        None => None,
        Some(_) => match html_out::simulate_collector(&scenario) {
            Ok(collector) => Some(collector),
            Err(error) => return scenario_error(args, error),
        },
    };
    let mut progress = Progress::new(total, "invocations", args.output.quiet);
    let on_event = |event: &Event| {
        // With `--html` the collector keeps the latencies too.
        match &mut collector {
            Some(collector) => collector.observe(event),
            None => latencies.observe(event),
        }
        if let coldstart::EventKind::Accepted { .. } = event.kind {
            progress.add(1);
        }
    };
    let result = match &args.record {
        None => simulate_scenario_with(
            &scenario,
            args.options(),
            None::<(std::io::Sink, LogFormat)>,
            on_event,
        ),
        Some(path) => {
            let format = match LogFormat::from_path(path) {
                Ok(format) => format,
                Err(error) => return file_error(path, error),
            };
            let file = match std::fs::File::create(path) {
                Ok(file) => file,
                Err(error) => return file_error(path, error),
            };
            simulate_scenario_with(
                &scenario,
                args.options(),
                Some((BufWriter::new(file), format)),
                on_event,
            )
        }
    };
    progress.finish();
    if let Some(kept) = collector.as_mut().and_then(Collector::take_latencies) {
        latencies = kept;
    }
    match result {
        Ok(simulation) => {
            if let (Some(path), Some(collector)) = (&args.output.html, &mut collector) {
                collector.finish(simulation.report.end_us);
                let info = coldstart::html::RunInfo::new(
                    simulation.scenario.clone(),
                    args.rerun_command(scenario.seed).replace(" --check", ""),
                    simulation.report.digest,
                    simulation.report.events,
                    simulation.report.steps,
                )
                .with_seed(Some(scenario.seed))
                .with_version(env!("CARGO_PKG_VERSION").to_string());
                let page = coldstart::html::render_run(collector, &info, &simulation.metrics);
                if let Err(error) = std::fs::write(path, page) {
                    return file_error(path, error);
                }
            }
            let wall_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            print_results(
                &args.output,
                &simulation.metrics,
                &simulation.report,
                slots_total(&scenario.config),
                &mut latencies,
                |latencies| {
                    summary::render(&simulation)
                        + &summary::render_latencies(latencies)
                        + &summary::render_wall(simulation.metrics.accepted, wall_us)
                },
            );
            ExitCode::SUCCESS
        }
        Err(SimulateError::Record(error)) => {
            let path = args.record.as_deref().unwrap_or(Path::new("-"));
            file_error(path, error)
        }
        Err(SimulateError::Scenario(error)) => scenario_error(args, error),
        Err(error) => {
            eprintln!(
                "coldstart: error: {error} (rerun: {})",
                args.rerun_command(scenario.seed)
            );
            ExitCode::FAILURE
        }
    }
}

/// Writes events as JSON Lines, keeping the first error.
struct EventsOut {
    out: BufWriter<std::fs::File>,
    error: Option<String>,
}

impl EventsOut {
    fn write(&mut self, event: &Event) {
        if self.error.is_some() {
            return;
        }
        let written = serde_json::to_writer(&mut self.out, event)
            .map_err(|error| error.to_string())
            .and_then(|()| self.out.write_all(b"\n").map_err(|error| error.to_string()));
        if let Err(error) = written {
            self.error = Some(error);
        }
    }
}

fn run_replay(args: &ReplayArgs) -> ExitCode {
    let started = Instant::now();
    if let Err(clash) = refuse_clash(
        std::slice::from_ref(&args.log),
        &[
            ("--events", args.events.as_deref()),
            ("--html", args.output.html.as_deref()),
        ],
    ) {
        return clash;
    }
    let reader = match LogReader::open(&args.log) {
        Ok(reader) => reader,
        Err(error) => return file_error(&args.log, error),
    };
    // A log of the user's own policy is refused before any output is made.
    if let Err(error) = reader.header().provider() {
        return file_error(&args.log, error);
    }
    let format = reader.format();
    let mut collector = match &args.output.html {
        None => None,
        Some(_) => match html_out::replay_collector(&args.log) {
            Ok(collector) => Some(collector),
            Err(error) => return file_error(&args.log, error),
        },
    };
    let mut events_out = match &args.events {
        None => None,
        Some(path) => match std::fs::File::create(path) {
            Ok(file) => Some(EventsOut {
                out: BufWriter::new(file),
                error: None,
            }),
            Err(error) => return file_error(path, error),
        },
    };
    let until = match (args.until, args.until_time) {
        (Some(steps), _) => Some(Until::Step(steps)),
        (None, Some(t_us)) => Some(Until::TimeUs(t_us)),
        (None, None) => None,
    };
    let options =
        DriverOptions::default().with_check_invariants(args.check || cfg!(debug_assertions));
    let mut latencies = Latencies::new();
    let mut progress = Progress::new(None, "events", args.output.quiet);
    let result = log::replay(reader, options, until, args.verify, |event| {
        progress.add(1);
        // With `--html` the collector keeps the latencies too.
        match &mut collector {
            Some(collector) => collector.observe(event),
            None => latencies.observe(event),
        }
        if let Some(out) = &mut events_out {
            out.write(event);
        }
    });
    progress.finish();
    if let Some(kept) = collector.as_mut().and_then(Collector::take_latencies) {
        latencies = kept;
    }
    if let (Some(path), Some(out)) = (&args.events, events_out) {
        let flushed = match out.error {
            Some(error) => Err(error),
            None => out
                .out
                .into_inner()
                .map_err(|error| error.to_string())
                .map(|_| ()),
        };
        if let Err(error) = flushed {
            return file_error(path, error);
        }
    }
    let replayed = match result {
        Ok(replayed) => replayed,
        Err(error) => return file_error(&args.log, error),
    };
    let wall_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let driver = &replayed.driver;
    if until.is_some() {
        let state = serde_json::json!({
            "steps": driver.steps(),
            "now_us": driver.provider().now_us(),
            "events": driver.events_count(),
            "events_digest": format!("{:016x}", driver.digest()),
            "provider": driver.provider(),
        });
        return match serde_json::to_string_pretty(&state) {
            Ok(text) => {
                out(&(text + "\n"));
                ExitCode::SUCCESS
            }
            Err(error) => file_error(&args.log, format!("cannot print the state: {error}")),
        };
    }
    let run = driver.report_so_far();
    let metrics = driver.provider().metrics();
    if let (Some(path), Some(collector)) = (&args.output.html, &mut collector) {
        collector.finish(run.end_us);
        let info = coldstart::html::RunInfo::new(
            args.log.display().to_string(),
            format!("coldstart replay {}", args.log.display()),
            run.digest,
            run.events,
            run.steps,
        )
        .with_version(replayed.header.coldstart_version.clone());
        let page = coldstart::html::render_run(collector, &info, metrics);
        if let Err(error) = std::fs::write(path, page) {
            return file_error(path, error);
        }
    }
    print_results(
        &args.output,
        metrics,
        &run,
        slots_total(&replayed.header.config),
        &mut latencies,
        |_| {
            let format = match format {
                LogFormat::Binary => "binary",
                LogFormat::JsonLines => "JSON Lines",
            };
            let mut text = format!(
                "log:                  {} ({format}, written by coldstart {})\n",
                args.log.display(),
                replayed.header.coldstart_version
            );
            text += &summary::render_body(metrics, &run);
            if args.verify {
                text += "verified:             events and digest match the trailer\n";
            }
            let rate = if wall_us == 0 {
                "n/a".to_string()
            } else {
                format!("{:.0}", run.steps as f64 * 1e6 / wall_us as f64)
            };
            text += &format!(
                "wall time:            {} ({rate} inputs/s, {} inputs)\n",
                summary::seconds(wall_us),
                run.steps
            );
            text
        },
    );
    ExitCode::SUCCESS
}

fn run_convert(input: &Path, output: &Path) -> ExitCode {
    if let Err(clash) = refuse_clash(&[input.to_path_buf()], &[("OUTPUT", Some(output))]) {
        return clash;
    }
    let format = match LogFormat::from_path(output) {
        Ok(format) => format,
        Err(error) => return file_error(output, error),
    };
    let reader = match LogReader::open(input) {
        Ok(reader) => reader,
        Err(error) => return file_error(input, error),
    };
    // Write to a temporary name, then rename, so a failed conversion leaves
    // no half-written log under the output's name.
    let temporary = output.with_extension(format!(
        "{}.partial",
        output.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    let file = match std::fs::File::create(&temporary) {
        Ok(file) => file,
        Err(error) => return file_error(output, error),
    };
    let converted = log::convert(reader, BufWriter::new(file), format);
    match converted {
        Ok(_) => match std::fs::rename(&temporary, output) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => file_error(output, error),
        },
        Err(error) => {
            let _ = std::fs::remove_file(&temporary);
            match error {
                log::LogError::Io(_) | log::LogError::Encode(_) => file_error(output, error),
                _ => file_error(input, error),
            }
        }
    }
}

/// The longest line of a usage error (characters): clap echoes a flag's
/// value whole, however long.
const USAGE_LINE_CHARS_MAX: usize = 300;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) if error.use_stderr() => {
            let text = error.render().to_string();
            for line in text.lines() {
                eprintln!(
                    "{}",
                    coldstart::files::echo_up_to(line, USAGE_LINE_CHARS_MAX)
                );
            }
            return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2));
        }
        Err(error) => error.exit(),
    };
    match &cli.command {
        Command::Simulate(args) => run_simulate(args),
        Command::Compare(args) => run_compare(args),
        Command::RunJob(args) => run_run_job(args),
        Command::Merge(args) => run_merge(args),
        Command::Replay(args) => run_replay(args),
        Command::Log(LogCommand::Convert { input, output }) => run_convert(input, output),
        Command::Gen(args) => gen::run_gen(args),
    }
}
