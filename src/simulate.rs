//! The embedded default scenario of `coldstart simulate`: four hosts, eight
//! images, twelve functions and a seeded synthetic workload sized so that a
//! run sees cold and warm starts, evictions on both disk tiers, and RAM and
//! slot pressure.
//!
//! - Main storage (4 GiB) is smaller than the images together (about
//!   5.7 GiB), so images are evicted from it and downloaded again.
//! - Host disks (40 GiB) fill with container scratch space (up to 10 GiB a
//!   container) plus image copies, so image copies are evicted there too.
//! - 32 slots serve about 10 arrivals a second whose code runs about a
//!   second on average (up to 5 s for the rarer functions), while idle warm
//!   containers hold slots too: at busy moments no host has room, and
//!   invocations are rejected or queued, per `--pressure`.

use crate::driver::{DriveError, Driver, DriverOptions, RunReport};
use crate::log::{LogFormat, Recorder, RunError};
use crate::scenario::policy_names::PolicyChoice;
use crate::scenario::Scenario;
use crate::workload::faults::{FaultOptions, WithCrashes, WithScheduled};
use crate::workload::{
    zipf_weights, FunctionSpec, ImageSpec, RunDistribution, WorkloadError, WorkloadSpec,
};
use crate::MIB;
use crate::{Builtin, Config, ConfigError, Event, Metrics, Pressure, Provider};

/// The default scenario's workload seed.
pub const SEED_DEFAULT: u64 = 0x00c0_1d57_a127;
/// How many invocations the default scenario generates.
pub const INVOCATIONS_DEFAULT: u64 = 200_000;
/// The queue's capacity under `Pressure::Queue` when none is given.
pub const QUEUE_CAPACITY_DEFAULT: u32 = 1_000;
/// How long a crashed host stays down with `--faults`, by default (s).
pub const REPAIR_S_DEFAULT: u64 = 300;

/// How to run the default scenario ([`simulate`]). `#[non_exhaustive]`:
/// start from [`SimulateOptions::default`] and change it with the `with_*`
/// methods, one for every field.
///
/// ```
/// use coldstart::simulate::SimulateOptions;
/// use coldstart::Pressure;
///
/// let options = SimulateOptions::default()
///     .with_invocations(1_000)
///     .with_pressure(Pressure::Queue { capacity: 100 });
/// assert_eq!(options.invocations, 1_000);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SimulateOptions {
    /// The workload's seed.
    pub seed: u64,
    /// How many invocations to generate.
    pub invocations: u64,
    /// What the provider does under RAM pressure.
    pub pressure: Pressure,
    /// Check the invariants after every step (slower; a violation stops the
    /// run with [`DriveError::Invariant`]).
    pub check_invariants: bool,
    /// Seeded host crashes (`--faults`), drawn from the same seed.
    pub faults: Option<FaultOptions>,
    /// The built-in policies to run with (default: `Builtin::default()`).
    pub policies: PolicyChoice,
}

impl Default for SimulateOptions {
    fn default() -> Self {
        SimulateOptions {
            seed: SEED_DEFAULT,
            invocations: INVOCATIONS_DEFAULT,
            pressure: Pressure::Reject,
            check_invariants: cfg!(debug_assertions),
            faults: None,
            policies: PolicyChoice::default(),
        }
    }
}

impl SimulateOptions {
    /// This workload seed, in place of what there was.
    pub fn with_seed(mut self, seed: u64) -> SimulateOptions {
        self.seed = seed;
        self
    }

    /// This many invocations, in place of what there was.
    pub fn with_invocations(mut self, invocations: u64) -> SimulateOptions {
        self.invocations = invocations;
        self
    }

    /// This pressure mode, in place of what there was.
    pub fn with_pressure(mut self, pressure: Pressure) -> SimulateOptions {
        self.pressure = pressure;
        self
    }

    /// Whether to check the invariants after every step, in place of what there was.
    pub fn with_check_invariants(mut self, check_invariants: bool) -> SimulateOptions {
        self.check_invariants = check_invariants;
        self
    }

    /// These seeded host crashes (`None`: none), in place of what there was.
    pub fn with_faults(mut self, faults: Option<FaultOptions>) -> SimulateOptions {
        self.faults = faults;
        self
    }

    /// These built-in policies, in place of what there was.
    pub fn with_policies(mut self, policies: PolicyChoice) -> SimulateOptions {
        self.policies = policies;
        self
    }
}

/// The hardware of the default scenario ([`Config::default`]) under
/// `pressure`.
pub fn default_config(pressure: Pressure) -> Config {
    Config::default().with_pressure(pressure)
}

/// Eight images from 100 MiB to 2 GiB.
fn default_images() -> Vec<ImageSpec> {
    [100, 150, 250, 400, 600, 900, 1_400, 2_048]
        .into_iter()
        .map(|mib| ImageSpec {
            size_bytes: mib * MIB,
        })
        .collect()
}

/// One row of the function table: image, memory (MiB), scratch (MiB),
/// time limit (s), mean run (ms).
type FunctionRow = (u32, u64, u64, u64, u64);

/// Twelve functions, most popular first (Zipf-like weights by row).
const FUNCTION_ROWS: [FunctionRow; 12] = [
    (0, 128, 512, 3, 200),
    (1, 256, 512, 3, 400),
    (2, 512, 1_024, 10, 800),
    (3, 1_024, 2_048, 10, 1_000),
    (0, 256, 512, 3, 300),
    (4, 2_048, 4_096, 30, 1_500),
    (5, 1_024, 8_192, 30, 2_000),
    (6, 3_072, 10_240, 60, 3_000),
    (7, 4_096, 10_240, 60, 4_000),
    (2, 512, 2_048, 10, 600),
    (5, 2_048, 6_144, 30, 2_500),
    (7, 1_536, 10_240, 60, 5_000),
];

fn default_functions() -> Vec<FunctionSpec> {
    let weights = zipf_weights(FUNCTION_ROWS.len());
    FUNCTION_ROWS
        .iter()
        .zip(weights)
        .map(
            |(&(image_index, memory_mib, scratch_mib, limit_s, run_ms), weight)| FunctionSpec {
                image_index,
                memory_bytes: memory_mib * MIB,
                scratch_bytes: scratch_mib * MIB,
                time_limit_us: limit_s * 1_000_000,
                concurrency: 1,
                cpu_millis: 1_000,
                min_scale: 0,
                weight,
                clone_mean_us: 50_000,
                build_mean_us: 150_000,
                run_mean_us: run_ms * 1_000,
                ingress_mean_bytes: 4 * 1_024,
                egress_mean_bytes: 16 * 1_024,
                run_distribution: RunDistribution::Exponential,
                cold_start_us: None,
                warm_start_us: None,
            },
        )
        .collect()
}

/// The default workload: about 10 arrivals a second, 0.2% failures per
/// phase, 0.5% runs past the time limit.
pub fn default_workload(seed: u64, invocations: u64) -> WorkloadSpec {
    WorkloadSpec::new(seed, default_images(), default_functions()).with_invocations(invocations)
}

/// Why a simulation did not finish.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SimulateError {
    /// The configuration is invalid: what to fix is in the error.
    Config(ConfigError),
    /// The workload's parameters are invalid.
    Workload(WorkloadError),
    /// The run stopped (a refused input, a broken invariant, timers that
    /// never ran out).
    Drive(DriveError),
    /// Recording failed (writing the log, or the run it recorded).
    Record(String),
    /// The scenario's workload could not be read (a trace's file and line).
    Scenario(String),
}

impl std::fmt::Display for SimulateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SimulateError::Config(error) => write!(f, "invalid configuration: {error}"),
            SimulateError::Workload(error) => write!(f, "invalid workload: {error}"),
            SimulateError::Drive(error) => write!(f, "{error}"),
            SimulateError::Record(error) => write!(f, "{error}"),
            SimulateError::Scenario(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for SimulateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SimulateError::Config(error) => Some(error),
            SimulateError::Workload(error) => Some(error),
            SimulateError::Drive(error) => Some(error),
            SimulateError::Record(_) | SimulateError::Scenario(_) => None,
        }
    }
}

/// A finished simulation.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Simulation {
    /// The scenario's name: `default`, or the scenario file's path.
    pub scenario: String,
    /// The options it ran with.
    pub options: SimulateOptions,
    /// Steps, events, digest and end time.
    pub report: RunReport,
    /// The core's metrics at the end.
    pub metrics: Metrics,
}

/// Runs the default scenario to the end (every timer fired).
pub fn simulate(options: SimulateOptions) -> Result<Simulation, SimulateError> {
    simulate_with(options, None::<(std::io::Sink, LogFormat)>, |_| {})
}

/// [`simulate`], passing each event to `on_event` and, given a writer and a
/// format, recording the run as a command log (trailer included).
pub fn simulate_with<W: std::io::Write>(
    options: SimulateOptions,
    record: Option<(W, LogFormat)>,
    on_event: impl FnMut(&Event),
) -> Result<Simulation, SimulateError> {
    let config = default_config(options.pressure);
    let policies = options.policies.builtin(&config, options.seed);
    let workload = default_workload(options.seed, options.invocations)
        .inputs()
        .map_err(SimulateError::Workload)?;
    let (report, metrics) = run(config, policies, workload, &options, record, on_event)?;
    Ok(Simulation {
        scenario: "default".to_string(),
        options,
        report,
        metrics,
    })
}

/// Runs a scenario (`src/scenario/mod.rs`) to the end. `options` gives the
/// invariant check and the faults; its seed, invocations and pressure are
/// replaced by the scenario's in the result.
pub fn simulate_scenario_with<W: std::io::Write>(
    scenario: &Scenario,
    options: SimulateOptions,
    record: Option<(W, LogFormat)>,
    on_event: impl FnMut(&Event),
) -> Result<Simulation, SimulateError> {
    let mut inputs = scenario.inputs().map_err(SimulateError::Scenario)?;
    let options = SimulateOptions {
        seed: scenario.seed,
        invocations: inputs.invocations(),
        pressure: scenario.config.pressure,
        // `--faults` on the command line replaces the scenario's rate.
        faults: options.faults.or(scenario.faults.random),
        ..options
    };
    let with_scheduled = WithScheduled::new(&mut inputs, scenario.faults.scheduled.clone());
    let (report, metrics) = run(
        scenario.config.clone(),
        scenario.policies.clone(),
        with_scheduled,
        &options,
        record,
        on_event,
    )?;
    if let Some(error) = inputs.take_error() {
        return Err(SimulateError::Scenario(error));
    }
    Ok(Simulation {
        scenario: scenario.name.clone(),
        options,
        report,
        metrics,
    })
}

/// Feeds `workload` (with seeded crashes merged in, if asked) to a fresh
/// provider, recording it if asked.
fn run<W: std::io::Write>(
    config: Config,
    policies: Builtin,
    workload: impl Iterator<Item = crate::Input>,
    options: &SimulateOptions,
    record: Option<(W, LogFormat)>,
    on_event: impl FnMut(&Event),
) -> Result<(RunReport, Metrics), SimulateError> {
    let inputs: Box<dyn Iterator<Item = crate::Input>> = match options.faults {
        None => Box::new(workload),
        Some(faults) => Box::new(WithCrashes::new(
            workload,
            config.hosts.len() as u32,
            options.seed,
            faults,
        )),
    };
    let driver_options = DriverOptions {
        check_invariants: options.check_invariants,
        ..DriverOptions::default()
    };
    match record {
        None => {
            let provider = Provider::new(config, policies).map_err(SimulateError::Config)?;
            let mut driver = Driver::new(provider, driver_options);
            let report = driver
                .run_with(inputs, on_event)
                .map_err(SimulateError::Drive)?;
            Ok((report, driver.provider().metrics().clone()))
        }
        Some((out, format)) => {
            config.validate().map_err(SimulateError::Config)?;
            let mut recorder = Recorder::new(out, format, config, policies, driver_options)
                .map_err(|error: RunError| SimulateError::Record(error.to_string()))?;
            let drain_steps = recorder
                .run_with(inputs, on_event)
                .map_err(|error: RunError| SimulateError::Record(error.to_string()))?;
            let (driver, _, _) = recorder
                .finish()
                .map_err(|error: RunError| SimulateError::Record(error.to_string()))?;
            let report = RunReport {
                steps: driver.steps(),
                drain_steps,
                events: driver.events_count(),
                digest: driver.digest(),
                end_us: driver.provider().now_us(),
                provisioned_cost_picodollars: driver.provider().provisioned_cost_picodollars(),
            };
            Ok((report, driver.provider().metrics().clone()))
        }
    }
}
