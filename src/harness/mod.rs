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

use crate::driver::EventDigest;
use crate::{Config, DecisionError, EventKind, HostId, Input, InvocationId, Policies, Provider};
use coldstart_model::ops::{arbitrary_case, Case};
use coldstart_model::Resolver;
use proptest::test_runner::{TestCaseError, TestError, TestRunner};
use std::mem::discriminant;

/// Bounds of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HarnessOptions {
    /// Ops per generated case after its registrations.
    pub ops_max: usize,
    /// How long (virtual µs) the oldest queued invocation may wait while
    /// some host could take it. Generated cases advance time by less than
    /// 1 ms per op.
    pub starvation_bound_us: u64,
    /// `Advance` steps allowed to drain the timers after the ops.
    pub drain_steps_max: usize,
    /// Case runs the shrinker may spend on a finding (each runs twice, for
    /// the determinism check).
    pub shrink_runs_max: usize,
}

impl Default for HarnessOptions {
    fn default() -> Self {
        HarnessOptions {
            ops_max: 100,
            starvation_bound_us: 10_000,
            drain_steps_max: 10_000,
            shrink_runs_max: 2_000,
        }
    }
}

/// What went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    InvariantBroken {
        violation: String,
    },
    DecisionRefused {
        invocation: InvocationId,
        host: HostId,
        reason: DecisionError,
    },
    /// `waited_us` is `None` when no timer was left: it would wait forever.
    Starvation {
        invocation: InvocationId,
        waited_us: Option<u64>,
    },
    Nondeterminism {
        first_digest: u64,
        second_digest: u64,
    },
    TimersNeverRunOut {
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
            } => write!(
                f,
                "refused decision: {host} for {invocation} ({reason:?})"
            ),
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
            } => write!(
                f,
                "nondeterminism: two runs of the same inputs gave events digests {first_digest:016x} and {second_digest:016x}"
            ),
            Problem::TimersNeverRunOut { next_timer_us } => write!(
                f,
                "timers never run out (next at {next_timer_us} µs after the drain bound)"
            ),
        }
    }
}

/// A problem, and how to reproduce it (boxed where returned: it carries a
/// configuration and an input list): build a provider from `config` and
/// your policy, apply `inputs` in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub problem: Problem,
    pub config: Config,
    /// The shrunk case's inputs, up to and including the one at which the
    /// problem showed (for a problem seen while draining, the drain's
    /// `Advance` inputs too).
    pub inputs: Vec<Input>,
    /// The shrunk case in the op language.
    pub case: Case,
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

/// Checks `policy` on the case that `fuzz_bytes` describe; returns the
/// first problem, shrunk. Call it from a cargo-fuzz target (panicking on
/// `Err`) or with bytes from anywhere: any bytes make a case.
pub fn fuzz_policy<P: Policies>(
    policy: &P,
    fuzz_bytes: &[u8],
    options: &HarnessOptions,
) -> Result<(), Box<Finding>> {
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
/// own shrinker.
pub fn proptest_policy<P: Policies>(
    policy: &P,
    runner: &mut TestRunner,
    options: &HarnessOptions,
) -> Result<(), Box<Finding>> {
    let strategy = coldstart_model::ops::case(options.ops_max.max(2));
    let result = runner.run(&strategy, |case| match run_twice(policy, &case, options) {
        None => Ok(()),
        Some(failed) => Err(TestCaseError::fail(failed.problem.to_string())),
    });
    match result {
        Ok(()) => Ok(()),
        Err(TestError::Fail(_, case)) => check_case(policy, &case, options),
        Err(TestError::Abort(reason)) => {
            panic!("proptest gave up without a failing case: {reason}")
        }
    }
}

/// Checks `policy` on one case; a problem is shrunk before it is returned.
pub fn check_case<P: Policies>(
    policy: &P,
    case: &Case,
    options: &HarnessOptions,
) -> Result<(), Box<Finding>> {
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
    Err(Box::new(Finding {
        problem: failed.problem,
        config: failed.config,
        inputs: failed.inputs,
        case,
    }))
}

/// One run's failure: the problem and the inputs that led to it.
#[derive(Clone, Debug)]
struct Failed {
    problem: Problem,
    config: Config,
    inputs: Vec<Input>,
}

/// One run to its end or its first problem.
struct Run {
    failed: Option<Failed>,
    digest: u64,
}

/// Runs the case twice from fresh clones of the policy: a problem, or a
/// difference between the runs.
fn run_twice<P: Policies>(policy: &P, case: &Case, options: &HarnessOptions) -> Option<Failed> {
    let first = run_once(policy, case, options);
    let second = run_once(policy, case, options);
    let same_problem = match (&first.failed, &second.failed) {
        (None, None) => true,
        (Some(a), Some(b)) => a.problem == b.problem && a.inputs == b.inputs,
        _ => false,
    };
    if first.digest != second.digest || !same_problem {
        let (config, _) = case.shape.build();
        return Some(Failed {
            problem: Problem::Nondeterminism {
                first_digest: first.digest,
                second_digest: second.digest,
            },
            config,
            inputs: inputs_of(policy, case),
        });
    }
    first.failed
}

/// The inputs a case resolves to under `policy`, with no checks: what to
/// replay to see a nondeterministic policy diverge.
fn inputs_of<P: Policies>(policy: &P, case: &Case) -> Vec<Input> {
    let (config, _) = case.shape.build();
    let Ok(mut provider) = Provider::new(config, policy.clone()) else {
        return Vec::new();
    };
    let mut resolver = Resolver::default();
    let mut inputs = Vec::new();
    for op in &case.ops {
        let input = resolver.input(op, provider.now_us(), provider.next_timer_us());
        match provider.apply(&input) {
            Ok(applied) => resolver.learn(&applied),
            Err(refused) => resolver.learn(refused.events()),
        }
        inputs.push(input);
    }
    inputs
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
            self.digest
                .add(event)
                .expect("events always encode as JSON");
        }
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

fn run_once<P: Policies>(policy: &P, case: &Case, options: &HarnessOptions) -> Run {
    let (config, _) = case.shape.build();
    let provider = Provider::new(config.clone(), policy.clone())
        .expect("the op language's shapes are valid configurations");
    let mut stepper = Stepper {
        provider,
        resolver: Resolver::default(),
        digest: EventDigest::new(),
        watch: StarvationWatch::default(),
        inputs: Vec::new(),
    };
    let problem = run_ops_then_drain(&mut stepper, case, options);
    Run {
        digest: stepper.digest.digest(),
        failed: problem.map(|problem| Failed {
            problem,
            config,
            inputs: stepper.inputs,
        }),
    }
}

fn run_ops_then_drain<P: Policies>(
    stepper: &mut Stepper<P>,
    case: &Case,
    options: &HarnessOptions,
) -> Option<Problem> {
    for op in &case.ops {
        let provider = &stepper.provider;
        let input = stepper
            .resolver
            .input(op, provider.now_us(), provider.next_timer_us());
        if let Some(problem) = stepper.step(input, options) {
            return Some(problem);
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
