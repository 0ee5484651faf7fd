//! Fuzzing your own policies. [`fuzz_policy`] turns fuzz bytes (from
//! cargo-fuzz, or any source) into a configuration and a sequence of inputs,
//! drives them through a provider running your [`Policies`], and reports the
//! first problem as a [`Finding`] with the shortest input sequence it could
//! shrink the case to. [`proptest_policy`] is its twin for the stable
//! toolchain: the same check on cases drawn by a proptest runner.
//!
//! A problem is one of:
//!
//! - **an invariant break**: `check_invariants` fails after a step (core
//!   validates every decision, so this would be core's bug, not yours);
//! - **a refused decision**: your `select_host` named a host that does not
//!   exist or cannot make room, and core answered `DecisionRefused`;
//! - **starvation**: the oldest queued invocation waited while some host
//!   could take it (`HostView::fits`) for longer than
//!   [`HarnessOptions::starvation_bound_us`] of virtual time, or was still
//!   waiting so when no timer was left to wake it;
//! - **nondeterminism**: the same case run twice, each from a fresh clone
//!   of your policy, gave different events (a policy that reads a clock, a
//!   global counter or a hash map's iteration order);
//! - **timers that never run out** within the drain bound.
//!
//! Cases come from the reference model's op language
//! (`coldstart_model::ops`): small hosts and images so that disks, RAM,
//! slots and the queue fill up fast, a few registrations first, then
//! invocations, time passing and a few bad inputs. Inputs the provider
//! refuses (a time in the past, an unknown id) are part of the game, not
//! findings.

pub mod fuzzing;
mod regression;

use crate::driver::{first_divergence, Divergence, EventDigest};
use crate::{
    Config, ConfigError, DecisionError, Event, EventKind, HostId, Input, InvocationId, Policies,
    Provider,
};
use coldstart_model::ops::{arbitrary_case, Case};
use coldstart_model::Resolver;
use proptest::test_runner::{TestCaseError, TestError, TestRunner};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::mem::discriminant;

pub use coldstart_model::ops::Scale;

/// Bounds of one check, and the world it runs in.
///
/// By default each case brings its own small configuration (a few hosts of
/// tens of bytes, so that disks, RAM, slots and the queue fill up fast);
/// [`HarnessOptions::config`] runs every case on yours instead, with the
/// cases' sizes and durations scaled by [`HarnessOptions::scale`] to fit it:
///
/// ```
/// use coldstart::harness::{HarnessOptions, Scale};
/// use coldstart::simulate::default_config;
/// use coldstart::Pressure;
///
/// // Four 16 GiB hosts; images and functions of 100 MiB units, code of
/// // millisecond units.
/// let options = HarnessOptions::default()
///     .with_config(default_config(Pressure::Queue { capacity: 100 }))
///     .with_scale(Scale { unit_bytes: 100 << 20, unit_us: 1_000 })
///     .with_starvation_bound_us(10_000_000);
/// assert_eq!(options.scale.unit_us, 1_000);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HarnessOptions {
    /// Ops per generated case after its registrations.
    pub ops_max: usize,
    /// How long (virtual µs) the oldest queued invocation may wait while
    /// some host could take it. Generated cases advance time by less than
    /// 1,000 time units per op.
    pub starvation_bound_us: u64,
    /// `Advance` steps allowed to drain the timers after the ops.
    pub drain_steps_max: usize,
    /// Case runs the shrinker may spend on a finding (each runs twice, for
    /// the determinism check).
    pub shrink_runs_max: usize,
    /// Your configuration, to run every case on instead of the case's own.
    pub config: Option<Config>,
    /// What the cases' size and time units stand for.
    pub scale: Scale,
}

impl Default for HarnessOptions {
    fn default() -> Self {
        HarnessOptions {
            ops_max: 100,
            starvation_bound_us: 10_000,
            drain_steps_max: 10_000,
            shrink_runs_max: 2_000,
            config: None,
            scale: Scale::default(),
        }
    }
}

/// What went wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Problem {
    /// `check_invariants` failed after a step: core's bug, not the policy's.
    InvariantBroken {
        /// What the invariant checker said.
        violation: String,
    },
    /// The policy named a host that does not exist or cannot take the
    /// container, and core answered `DecisionRefused`.
    DecisionRefused {
        /// The invocation being placed.
        invocation: InvocationId,
        /// The host the policy named.
        host: HostId,
        /// Why core refused it.
        reason: DecisionError,
    },
    /// The oldest queued invocation waited while some host had room;
    /// `waited_us` is `None` when no timer was left: it would wait forever.
    Starvation {
        /// The invocation at the head of the queue.
        invocation: InvocationId,
        /// How long it had waited, in µs of virtual time.
        waited_us: Option<u64>,
    },
    /// Two runs of the same inputs, each from a fresh clone of the policy,
    /// went differently: their events differ (`divergence` says where), or
    /// the same events met another verdict. A failure that does not show
    /// again when its case is run again is reported so, never dropped.
    Nondeterminism {
        /// The digest of the first run's events.
        first_digest: u64,
        /// The digest of the second run's events.
        second_digest: u64,
        /// The first event that differs, if the events differ.
        divergence: Option<Divergence>,
        /// What the first run found, if it found something the second did
        /// not (or not the same).
        first_problem: Option<Box<Problem>>,
        /// What the second run found.
        second_problem: Option<Box<Problem>>,
    },
    /// Timers were still pending after the drain bound.
    TimersNeverRunOut {
        /// When the next timer was still due, in µs of virtual time.
        next_timer_us: u64,
    },
}

impl Problem {
    /// A short name for the kind of problem.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Problem::InvariantBroken { .. } => "invariant broken",
            Problem::DecisionRefused { .. } => "refused decision",
            Problem::Starvation { .. } => "starvation",
            Problem::Nondeterminism { .. } => "nondeterminism",
            Problem::TimersNeverRunOut { .. } => "timers never run out",
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::InvariantBroken { violation } => write!(f, "invariant broken: {violation}"),
            Problem::DecisionRefused {
                invocation,
                host,
                reason,
            } => write!(f, "refused decision: {host} for {invocation}: {reason}"),
            Problem::Starvation {
                invocation,
                waited_us: Some(waited_us),
            } => write!(
                f,
                "starvation: {invocation} waited {waited_us} µs in the queue while a host had room"
            ),
            Problem::Starvation {
                invocation,
                waited_us: None,
            } => write!(
                f,
                "starvation: {invocation} waits in the queue while a host has room, and no timer is left to wake it"
            ),
            Problem::Nondeterminism {
                first_digest,
                second_digest,
                divergence,
                first_problem,
                second_problem,
            } => {
                write!(f, "nondeterminism: two runs of the same inputs ")?;
                match divergence {
                    Some(divergence) => write!(
                        f,
                        "gave events digests {first_digest:016x} and {second_digest:016x}; {divergence} (left: the first run)"
                    )?,
                    None => write!(f, "gave the same events")?,
                }
                let verdict = |problem: &Option<Box<Problem>>| match problem {
                    Some(problem) => problem.to_string(),
                    None => "nothing".to_string(),
                };
                if first_problem != second_problem {
                    write!(
                        f,
                        "; the first run found {}, the second {}",
                        verdict(first_problem),
                        verdict(second_problem)
                    )?;
                }
                Ok(())
            }
            Problem::TimersNeverRunOut { next_timer_us } => write!(
                f,
                "timers never run out (next at {next_timer_us} µs after the drain bound)"
            ),
        }
    }
}

/// A problem, and how to reproduce it (boxed where returned: it carries a
/// configuration and an input list): build a provider from `config` and
/// your policy, apply `inputs` in order ([`check_inputs`] does, with the
/// harness's checks). It serializes (JSON, say, to keep or send), prints
/// as a report, and as a regression test ([`Finding::regression_test`]);
/// [`Finding::record`] writes it as a command log to replay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Finding {
    /// What went wrong.
    pub problem: Problem,
    /// The configuration the case ran on.
    pub config: Config,
    /// The shrunk case's inputs, up to and including the one at which the
    /// problem showed (for a problem seen while draining, the drain's
    /// `Advance` inputs too; for nondeterminism, every input of the case).
    pub inputs: Vec<Input>,
    /// The shrunk case in the op language (empty for a finding of
    /// [`check_inputs`]).
    pub case: Case,
    /// The starvation bound the finding was made with.
    pub starvation_bound_us: u64,
    /// The drain bound the finding was made with.
    pub drain_steps_max: usize,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}", self.problem)?;
        writeln!(f, "config: {:?}", self.config)?;
        writeln!(f, "inputs ({}):", self.inputs.len())?;
        for input in &self.inputs {
            writeln!(f, "  {input:?}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Finding {}

/// Why a check did not pass.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HarnessError {
    /// The policy has a problem; the finding says what and how to
    /// reproduce it.
    Found(Box<Finding>),
    /// [`HarnessOptions::config`] is not a valid configuration.
    Config(ConfigError),
    /// The proptest runner gave up before finding a failing case (too many
    /// rejected cases, say): nothing was checked to the end.
    Aborted {
        /// The runner's reason.
        reason: String,
    },
}

impl HarnessError {
    /// The finding, if the check found one.
    pub fn finding(&self) -> Option<&Finding> {
        match self {
            HarnessError::Found(finding) => Some(finding),
            HarnessError::Config(_) | HarnessError::Aborted { .. } => None,
        }
    }

    /// The problem found, if the check found one.
    pub fn problem(&self) -> Option<&Problem> {
        self.finding().map(|finding| &finding.problem)
    }
}

impl std::fmt::Display for HarnessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HarnessError::Found(finding) => write!(f, "{finding}"),
            HarnessError::Config(error) => write!(
                f,
                "the harness options' configuration is invalid: {error}; fix it or leave `config` unset"
            ),
            HarnessError::Aborted { reason } => write!(
                f,
                "the proptest runner gave up before checking a case to the end: {reason}"
            ),
        }
    }
}

impl std::error::Error for HarnessError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HarnessError::Found(finding) => Some(finding.as_ref()),
            HarnessError::Config(error) => Some(error),
            HarnessError::Aborted { .. } => None,
        }
    }
}

/// Checks `policy` on the case that `fuzz_bytes` describe; returns the
/// first problem, shrunk. Call it from a cargo-fuzz target (panicking on
/// `Err`) or with bytes from anywhere: any bytes make a case.
pub fn fuzz_policy<P: Policies>(
    policy: &P,
    fuzz_bytes: &[u8],
    options: &HarnessOptions,
) -> Result<(), HarnessError> {
    validate_options(options)?;
    let mut u = arbitrary::Unstructured::new(fuzz_bytes);
    // Running out of bytes gives defaults, not errors; an error here would
    // mean an unusable input, which checks nothing.
    let Ok(case) = arbitrary_case(&mut u, options.ops_max) else {
        return Ok(());
    };
    check_case(policy, &case, options)
}

/// The stable-toolchain twin of [`fuzz_policy`]: checks `policy` on the
/// cases `runner` draws (as many as its configuration says) from the same
/// op language. Proptest shrinks a failing case first, then the harness's
/// own shrinker. A case that failed under the runner and passes when run
/// again is a nondeterminism finding.
pub fn proptest_policy<P: Policies>(
    policy: &P,
    runner: &mut TestRunner,
    options: &HarnessOptions,
) -> Result<(), HarnessError> {
    validate_options(options)?;
    let strategy = coldstart_model::ops::case(options.ops_max.max(2));
    let last_failure: RefCell<Option<(Case, Failed)>> = RefCell::new(None);
    let result = runner.run(&strategy, |case| match run_twice(policy, &case, options) {
        None => Ok(()),
        Some(failed) => {
            let message = failed.problem.to_string();
            *last_failure.borrow_mut() = Some((case, failed));
            Err(TestCaseError::fail(message))
        }
    });
    match result {
        Ok(()) => Ok(()),
        Err(TestError::Fail(_, case)) => {
            let checked = check_case(policy, &case, options);
            match (checked, last_failure.into_inner()) {
                (Ok(()), Some((failed_case, failed))) if failed_case == case => {
                    // It failed under the runner, and passed now.
                    let again = run_once(policy, &case, options);
                    Err(not_reproduced(&case, failed, again, options))
                }
                (checked, _) => checked,
            }
        }
        Err(TestError::Abort(reason)) => Err(HarnessError::Aborted {
            reason: reason.to_string(),
        }),
    }
}

/// Checks `policy` on one case; a problem is shrunk before it is returned.
pub fn check_case<P: Policies>(
    policy: &P,
    case: &Case,
    options: &HarnessOptions,
) -> Result<(), HarnessError> {
    validate_options(options)?;
    let Some(failed) = run_twice(policy, case, options) else {
        return Ok(());
    };
    let shrunk = shrink(policy, case.clone(), &failed.problem, options);
    // The shrunk case shows the same kind of problem, unless the policy is
    // nondeterministic enough not to show it again: then report the case
    // as it was.
    let (failed, case) = match run_twice(policy, &shrunk, options) {
        Some(again) if discriminant(&again.problem) == discriminant(&failed.problem) => {
            (again, shrunk)
        }
        _ => (failed, case.clone()),
    };
    Err(found(failed, case, options))
}

/// Checks `policy` on fixed inputs, with the harness's checks, twice (for
/// determinism): what a regression test of a [`Finding`] calls with the
/// finding's configuration and inputs. After the inputs, the timers are
/// drained. The finding, if any, is not shrunk; its `case` is empty.
pub fn check_inputs<P: Policies>(
    policy: &P,
    config: &Config,
    inputs: &[Input],
    options: &HarnessOptions,
) -> Result<(), HarnessError> {
    Provider::new(config.clone(), policy.clone()).map_err(HarnessError::Config)?;
    let script = Script::Inputs(inputs);
    let Some(failed) = run_twice_on(policy, config, &script, options) else {
        return Ok(());
    };
    let no_case = Case {
        shape: coldstart_model::ops::Shape::default(),
        ops: Vec::new(),
    };
    Err(found(failed, no_case, options))
}

/// The finding of a failed run of `case`.
fn found(failed: Failed, case: Case, options: &HarnessOptions) -> HarnessError {
    HarnessError::Found(Box::new(Finding {
        problem: failed.problem,
        config: failed.config,
        inputs: failed.inputs,
        case,
        starvation_bound_us: options.starvation_bound_us,
        drain_steps_max: options.drain_steps_max,
    }))
}

fn validate_options(options: &HarnessOptions) -> Result<(), HarnessError> {
    if let Some(config) = &options.config {
        config.validate().map_err(HarnessError::Config)?;
    }
    Ok(())
}

/// The configuration a case runs on: the options' or the case's own.
fn config_of(case: &Case, options: &HarnessOptions) -> Config {
    match &options.config {
        Some(config) => config.clone(),
        None => case.shape.build().0,
    }
}

/// One run's failure: the problem and the inputs that led to it (and the
/// events, to tell a later run that does not fail where it parts).
#[derive(Clone, Debug)]
struct Failed {
    problem: Problem,
    config: Config,
    inputs: Vec<Input>,
    events: Vec<Event>,
    digest: u64,
}

/// One run to its end or its first problem.
struct Run {
    failed: Option<Failed>,
    events: Vec<Event>,
    digest: u64,
    inputs: Vec<Input>,
    config: Config,
}

/// What a run applies: a case's ops, resolved against the events as they
/// come, or inputs fixed in advance.
enum Script<'a> {
    Case(&'a Case),
    Inputs(&'a [Input]),
}

/// Runs the case twice from fresh clones of the policy: a problem, or a
/// difference between the runs.
fn run_twice<P: Policies>(policy: &P, case: &Case, options: &HarnessOptions) -> Option<Failed> {
    run_twice_on(
        policy,
        &config_of(case, options),
        &Script::Case(case),
        options,
    )
}

fn run_twice_on<P: Policies>(
    policy: &P,
    config: &Config,
    script: &Script<'_>,
    options: &HarnessOptions,
) -> Option<Failed> {
    let first = run_script(policy, config, script, options);
    let second = run_script(policy, config, script, options);
    let same_problem = match (&first.failed, &second.failed) {
        (None, None) => true,
        (Some(a), Some(b)) => a.problem == b.problem && a.inputs == b.inputs,
        _ => false,
    };
    if first.events != second.events || !same_problem {
        return Some(nondeterminism(first, second));
    }
    first.failed
}

/// Two runs of the same script that went differently.
fn nondeterminism(first: Run, second: Run) -> Failed {
    let problem = Problem::Nondeterminism {
        first_digest: first.digest,
        second_digest: second.digest,
        divergence: first_divergence(&first.events, &second.events),
        first_problem: first.failed.map(|failed| Box::new(failed.problem)),
        second_problem: second.failed.map(|failed| Box::new(failed.problem)),
    };
    // Every input either run applied: enough to see them part.
    let inputs = if first.inputs.len() >= second.inputs.len() {
        first.inputs
    } else {
        second.inputs
    };
    Failed {
        problem,
        config: first.config,
        inputs,
        events: first.events,
        digest: first.digest,
    }
}

/// A failure the runner saw that did not show when its case was run again.
fn not_reproduced(
    case: &Case,
    failed: Failed,
    again: Run,
    options: &HarnessOptions,
) -> HarnessError {
    let first = Run {
        digest: failed.digest,
        events: failed.events.clone(),
        inputs: failed.inputs.clone(),
        config: failed.config.clone(),
        failed: Some(failed),
    };
    found(nondeterminism(first, again), case.clone(), options)
}

/// Watches the oldest queued invocation and since when some host could
/// take it.
#[derive(Default)]
struct StarvationWatch {
    free_since: Option<(InvocationId, u64)>,
}

impl StarvationWatch {
    /// The oldest queued invocation, if some host could take it now.
    fn placeable_head<P: Policies>(provider: &Provider<P>) -> Option<InvocationId> {
        let head = provider.queue().next()?;
        let request = provider.placement_request(head)?;
        let view = provider.host_view();
        (0..view.host_count())
            .map(HostId)
            .any(|host| view.fits(host, &request))
            .then_some(head)
    }

    fn observe<P: Policies>(&mut self, provider: &Provider<P>, bound_us: u64) -> Option<Problem> {
        let now_us = provider.now_us();
        let Some(head) = Self::placeable_head(provider) else {
            self.free_since = None;
            return None;
        };
        match self.free_since {
            Some((watched, since_us)) if watched == head => {
                let waited_us = now_us - since_us;
                (waited_us > bound_us).then_some(Problem::Starvation {
                    invocation: head,
                    waited_us: Some(waited_us),
                })
            }
            _ => {
                self.free_since = Some((head, now_us));
                None
            }
        }
    }
}

/// Applies one input and checks what the harness watches for.
struct Stepper<P: Policies> {
    provider: Provider<P>,
    resolver: Resolver,
    digest: EventDigest,
    events: Vec<Event>,
    watch: StarvationWatch,
    inputs: Vec<Input>,
}

impl<P: Policies> Stepper<P> {
    fn step(&mut self, input: Input, options: &HarnessOptions) -> Option<Problem> {
        self.inputs.push(input.clone());
        // Refusals are the op language's bad inputs, not the policy's doing;
        // a refused command still lets the timers due by its time fire
        // (R29), and what they do is checked like any step.
        let events = match self.provider.apply(&input) {
            Ok(applied) => applied.into_vec(),
            Err(refused) => refused.into_parts().1,
        };
        self.resolver.learn(&events);
        for event in &events {
            // An event that cannot be hashed is counted by its position
            // alone; the comparison of the events themselves still holds.
            if self.digest.add(event).is_err() {
                self.digest.add_hash(0);
            }
        }
        self.events.extend_from_slice(&events);
        if let Err(violation) = self.provider.check_invariants() {
            return Some(Problem::InvariantBroken {
                violation: violation.to_string(),
            });
        }
        let refused = events.iter().find_map(|event| match event.kind {
            EventKind::DecisionRefused {
                invocation,
                host,
                reason,
            } => Some(Problem::DecisionRefused {
                invocation,
                host,
                reason,
            }),
            _ => None,
        });
        refused.or_else(|| {
            self.watch
                .observe(&self.provider, options.starvation_bound_us)
        })
    }
}

/// One run of a case, on the configuration the options give it.
fn run_once<P: Policies>(policy: &P, case: &Case, options: &HarnessOptions) -> Run {
    run_script(
        policy,
        &config_of(case, options),
        &Script::Case(case),
        options,
    )
}

fn run_script<P: Policies>(
    policy: &P,
    config: &Config,
    script: &Script<'_>,
    options: &HarnessOptions,
) -> Run {
    // Every entry point validates the options' configuration first, and
    // the op language's shapes are valid by construction.
    let provider = Provider::new(config.clone(), policy.clone()).unwrap_or_else(|error| {
        panic!("bug: a validated harness configuration was refused: {error}")
    });
    let mut stepper = Stepper {
        provider,
        resolver: Resolver::with_scale(options.scale),
        digest: EventDigest::new(),
        events: Vec::new(),
        watch: StarvationWatch::default(),
        inputs: Vec::new(),
    };
    let problem = run_then_drain(&mut stepper, script, options);
    let digest = stepper.digest.digest();
    Run {
        failed: problem.map(|problem| Failed {
            problem,
            config: config.clone(),
            inputs: stepper.inputs.clone(),
            events: stepper.events.clone(),
            digest,
        }),
        digest,
        events: stepper.events,
        inputs: stepper.inputs,
        config: config.clone(),
    }
}

fn run_then_drain<P: Policies>(
    stepper: &mut Stepper<P>,
    script: &Script<'_>,
    options: &HarnessOptions,
) -> Option<Problem> {
    match script {
        Script::Case(case) => {
            for op in &case.ops {
                let provider = &stepper.provider;
                let input = stepper
                    .resolver
                    .input(op, provider.now_us(), provider.next_timer_us());
                if let Some(problem) = stepper.step(input, options) {
                    return Some(problem);
                }
            }
        }
        Script::Inputs(inputs) => {
            for input in inputs.iter() {
                if let Some(problem) = stepper.step(input.clone(), options) {
                    return Some(problem);
                }
            }
        }
    }
    for _ in 0..options.drain_steps_max {
        let Some(due_us) = stepper.provider.next_timer_us() else {
            // Nothing will ever happen again: a placeable queue head now
            // waits forever.
            return StarvationWatch::placeable_head(&stepper.provider).map(|invocation| {
                Problem::Starvation {
                    invocation,
                    waited_us: None,
                }
            });
        };
        let advance = Input {
            at_us: due_us,
            command: crate::Command::Advance,
        };
        if let Some(problem) = stepper.step(advance, options) {
            return Some(problem);
        }
    }
    stepper
        .provider
        .next_timer_us()
        .map(|next_timer_us| Problem::TimersNeverRunOut { next_timer_us })
}

/// Removes ops while the case still shows the same kind of problem: chunks
/// of half the ops, then quarters, down to single ops, until a pass removes
/// nothing or the run budget is spent.
fn shrink<P: Policies>(
    policy: &P,
    mut case: Case,
    problem: &Problem,
    options: &HarnessOptions,
) -> Case {
    let kind = discriminant(problem);
    let mut runs_left = options.shrink_runs_max;
    let still_fails = |candidate: &Case| {
        run_twice(policy, candidate, options)
            .is_some_and(|failed| discriminant(&failed.problem) == kind)
    };
    let mut chunk = (case.ops.len() / 2).max(1);
    loop {
        let mut removed_any = false;
        let mut start = 0;
        while start < case.ops.len() && runs_left > 0 {
            let end = (start + chunk).min(case.ops.len());
            let mut candidate = case.clone();
            candidate.ops.drain(start..end);
            runs_left -= 1;
            if still_fails(&candidate) {
                case = candidate;
                removed_any = true;
            } else {
                start = end;
            }
        }
        if runs_left == 0 || (chunk == 1 && !removed_any) {
            return case;
        }
        if !removed_any {
            chunk = (chunk / 2).max(1);
        }
    }
}
