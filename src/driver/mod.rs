//! The driver: feeds a stream of inputs to a [`Provider`], counts and
//! digests the events, checks the invariants after every step if asked, and
//! at the end lets time run until no timer is left — within a bound, so a
//! liveness bug becomes an error instead of a hang.
//!
//! The digest is defined in [`crate::driver::digest`]: each event's binary encoding
//! hashed, the hashes mixed in order. Two runs with equal digests produced
//! the same events, byte for byte (up to a hash collision).

mod diff;
pub mod digest;

use crate::input::{Command, Input};
use crate::policy::{Builtin, Policies};
use crate::{Event, Events, Finished, InvocationId, Provider, Refusal, Violation, WaitError};

pub use crate::driver::diff::{first_divergence, Divergence};
pub use crate::driver::digest::EventDigest;

/// How a [`Driver`] runs: whether it checks the invariants after every step,
/// and how long the final drain may take. `#[non_exhaustive]`: start from
/// [`DriverOptions::default`] and change it with the `with_*` methods.
///
/// ```
/// use coldstart::driver::DriverOptions;
///
/// let options = DriverOptions::default().with_check_invariants(true).with_drain_steps_max(10);
/// assert!(options.check_invariants);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DriverOptions {
    /// Call `check_invariants` after every step.
    pub check_invariants: bool,
    /// The most `Advance` steps the final drain may take.
    pub drain_steps_max: u64,
}

impl Default for DriverOptions {
    /// Invariants checked in debug builds (tests included), not in release.
    fn default() -> Self {
        DriverOptions {
            check_invariants: cfg!(debug_assertions),
            drain_steps_max: 1_000_000,
        }
    }
}

impl DriverOptions {
    /// Whether to check the invariants after every step, in place of what there was.
    pub fn with_check_invariants(mut self, check_invariants: bool) -> DriverOptions {
        self.check_invariants = check_invariants;
        self
    }

    /// This bound on the final drain's `Advance` steps, in place of what there was.
    pub fn with_drain_steps_max(mut self, drain_steps_max: u64) -> DriverOptions {
        self.drain_steps_max = drain_steps_max;
        self
    }
}

/// Why a run stopped. `step` is the 0-based index of the input among all
/// the inputs the driver applied (the stream first, then the drain's
/// `Advance`s), so for a stream input it is its index in the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DriveError {
    /// An input of the stream was refused. A scenario's own inputs should
    /// never be: this is a bug in whatever produced the stream (or a log
    /// edited by hand), and `refusal` says what was wrong with the input.
    Refused {
        /// The refused input's step.
        step: u64,
        /// The refused input (boxed: an input is large next to the other
        /// errors, and every result of a step carries this type).
        input: Box<Input>,
        /// Why the provider refused it.
        refusal: Refusal,
    },
    /// The invariant check after a step failed: a bug in the core (or in a
    /// policy's decisions that the core failed to refuse). Please report it
    /// with the log that reproduces it.
    Invariant {
        /// The step after which the check failed.
        step: u64,
        /// The first broken invariant.
        violation: Violation,
    },
    /// An event could not be encoded for the digest (should not happen: every
    /// event has a binary encoding).
    Encoding {
        /// The step whose event could not be encoded.
        step: u64,
        /// The encoder's message.
        message: String,
    },
    /// A wait of the client's could not finish (its time, and the timers
    /// it fired, are counted as a step all the same).
    Wait {
        /// The wait's step.
        step: u64,
        /// Why the wait could not finish.
        error: WaitError,
    },
    /// Timers were still pending after `drain_steps_max` advances.
    Undrained {
        /// How many advances the drain took.
        drain_steps: u64,
        /// When the next timer was still due, in µs of virtual time.
        next_timer_us: u64,
    },
}

impl std::fmt::Display for DriveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DriveError::Refused {
                step,
                input,
                refusal,
            } => write!(
                f,
                "step {step} (at {} µs) was refused: {refusal}",
                input.at_us
            ),
            DriveError::Invariant { step, violation } => write!(
                f,
                "after step {step}: {violation} (a bug in the core: please report it with the log that reproduces it)"
            ),
            DriveError::Encoding { step, message } => write!(
                f,
                "step {step}: an event could not be encoded: {message} (a bug: please report it)"
            ),
            DriveError::Wait { step, error } => write!(f, "step {step} (a wait): {error}"),
            DriveError::Undrained {
                drain_steps,
                next_timer_us,
            } => write!(
                f,
                "timers still pending after {drain_steps} advance steps (next due at {next_timer_us} µs): \
                 a policy that keeps setting timers, or a bound too low for the run (DriverOptions::drain_steps_max)"
            ),
        }
    }
}

impl std::error::Error for DriveError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DriveError::Refused { refusal, .. } => Some(refusal),
            DriveError::Invariant { violation, .. } => Some(violation),
            DriveError::Wait { error, .. } => Some(error),
            DriveError::Encoding { .. } | DriveError::Undrained { .. } => None,
        }
    }
}

/// What a log must hold to reproduce one step of a driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ToLog {
    /// The input applied.
    Input,
    /// An `Advance` to this time: a wait, or a refused input whose time
    /// fired timers.
    Advance(u64),
    /// Nothing changed.
    Nothing,
}

/// What a finished run did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunReport {
    /// Inputs applied: the stream's plus the drain's `Advance`s.
    pub steps: u64,
    /// Of those, the drain's `Advance`s.
    pub drain_steps: u64,
    /// Events produced, timers' included.
    pub events: u64,
    /// The digest of every event, in order ([`EventDigest`]).
    pub digest: u64,
    /// Virtual time at the end (µs).
    pub end_us: u64,
    /// What the warm floors held cost up to the end (picodollars, spec
    /// R164): `Provider::provisioned_cost_picodollars`.
    pub provisioned_cost_picodollars: u128,
}

/// A provider with a step counter, an event digest and, optionally, an
/// invariant check after every step.
#[derive(Clone, Debug)]
pub struct Driver<P: Policies = Builtin> {
    provider: Provider<P>,
    options: DriverOptions,
    steps: u64,
    digest: EventDigest,
    /// The last step's events: one buffer reused by every step.
    events: Events,
    /// The hashes of the last step's events, in order.
    step_hashes: Vec<u64>,
}

impl<P: Policies> Driver<P> {
    /// A driver of `provider` at step 0 with an empty digest.
    pub fn new(provider: Provider<P>, options: DriverOptions) -> Driver<P> {
        Driver {
            provider,
            options,
            steps: 0,
            digest: EventDigest::new(),
            events: Events::new(),
            step_hashes: Vec::new(),
        }
    }

    /// The provider as it is after the steps so far.
    pub fn provider(&self) -> &Provider<P> {
        &self.provider
    }

    /// The options the driver was made with.
    pub fn options(&self) -> DriverOptions {
        self.options
    }

    /// The provider, giving up the driver.
    pub fn into_provider(self) -> Provider<P> {
        self.provider
    }

    /// Inputs applied so far (waits and refused inputs that fired timers
    /// count as one each).
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Events produced so far.
    pub fn events_count(&self) -> u64 {
        self.digest.count()
    }

    /// The digest of every event so far ([`EventDigest::digest`]).
    pub fn digest(&self) -> u64 {
        self.digest.digest()
    }

    /// The hashes ([`crate::driver::digest::event_hash`]) of the events of the last
    /// step applied, in order.
    pub fn step_hashes(&self) -> &[u64] {
        &self.step_hashes
    }

    /// The events of the last step applied.
    pub fn last_events(&self) -> &[Event] {
        &self.events
    }

    /// Applies one input; digests and returns its events (valid until the
    /// next step).
    pub fn apply(&mut self, input: &Input) -> Result<&[Event], DriveError> {
        self.apply_logged(input).0?;
        Ok(&self.events)
    }

    /// [`Driver::apply`], saying what a log must hold to reproduce the
    /// step: the input itself; or, for a refused input whose time fired
    /// timers, an `Advance` to its time (the same events, spec R29: a
    /// refused command changes nothing beyond that advance, which the
    /// driver counts as a step); or nothing.
    pub(crate) fn apply_logged(&mut self, input: &Input) -> (Result<(), DriveError>, ToLog) {
        let step = self.steps;
        let before_us = self.provider.now_us();
        match self.provider.apply_into(input, &mut self.events) {
            Ok(_) => (self.account(step), ToLog::Input),
            Err(refusal) => {
                let refused = DriveError::Refused {
                    step,
                    input: Box::new(input.clone()),
                    refusal,
                };
                if self.events.is_empty() && self.provider.now_us() == before_us {
                    return (Err(refused), ToLog::Nothing);
                }
                let advance = ToLog::Advance(self.provider.now_us());
                (self.account(step).and(Err(refused)), advance)
            }
        }
    }

    /// Counts the events in `self.events` as step `step`'s: the digest,
    /// the step's hashes, and the invariants if asked.
    fn account(&mut self, step: u64) -> Result<(), DriveError> {
        self.steps += 1;
        self.step_hashes.clear();
        for event in &self.events {
            let hash = self
                .digest
                .add(event)
                .map_err(|error| DriveError::Encoding {
                    step,
                    message: error.to_string(),
                })?;
            self.step_hashes.push(hash);
        }
        if self.options.check_invariants {
            self.provider
                .check_invariants()
                .map_err(|violation| DriveError::Invariant { step, violation })?;
        }
        Ok(())
    }

    /// Waits until `invocation` has ended, as [`Provider::wait_for`] does,
    /// and counts what the wait did as one step: an `Advance` to the time
    /// the wait stopped at, whose events are exactly the wait's (the wait
    /// fires the same timers in the same order). A wait that ends at once
    /// is no step.
    pub fn wait_for(
        &mut self,
        invocation: InvocationId,
        deadline_us: Option<u64>,
    ) -> Result<Finished, DriveError> {
        self.wait_logged(|provider, events| provider.wait_for(invocation, deadline_us, events))
            .0
    }

    /// Waits until every invocation has ended ([`Provider::wait_for_all`]),
    /// as one step like [`Driver::wait_for`].
    pub fn wait_for_all(
        &mut self,
        invocations: &[InvocationId],
        deadline_us: Option<u64>,
    ) -> Result<Vec<Finished>, DriveError> {
        self.wait_logged(|provider, events| provider.wait_for_all(invocations, deadline_us, events))
            .0
    }

    /// Waits until one of the invocations has ended
    /// ([`Provider::wait_for_any`]), as one step like [`Driver::wait_for`].
    pub fn wait_for_any(
        &mut self,
        invocations: &[InvocationId],
        deadline_us: Option<u64>,
    ) -> Result<Finished, DriveError> {
        self.wait_logged(|provider, events| provider.wait_for_any(invocations, deadline_us, events))
            .0
    }

    /// Runs a wait on the provider and accounts for it; says what a log
    /// must hold to reproduce it (an `Advance`, or nothing).
    pub(crate) fn wait_logged<T>(
        &mut self,
        wait: impl FnOnce(&mut Provider<P>, &mut Vec<Event>) -> Result<T, WaitError>,
    ) -> (Result<T, DriveError>, ToLog) {
        let step = self.steps;
        let before_us = self.provider.now_us();
        let mut events = Vec::new();
        let waited = wait(&mut self.provider, &mut events);
        if events.is_empty() && self.provider.now_us() == before_us {
            let result = waited.map_err(|error| DriveError::Wait { step, error });
            return (result, ToLog::Nothing);
        }
        self.events.clear();
        self.events.extend(events);
        let accounted = self.account(step);
        let result = accounted.and(waited.map_err(|error| DriveError::Wait { step, error }));
        (result, ToLog::Advance(self.provider.now_us()))
    }

    /// Advances to each next timer until none is left; returns the number
    /// of `Advance` steps taken.
    pub fn drain(&mut self) -> Result<u64, DriveError> {
        self.drain_with(|_| {})
    }

    /// [`Driver::drain`], passing each event to `on_event`.
    pub fn drain_with(&mut self, mut on_event: impl FnMut(&Event)) -> Result<u64, DriveError> {
        let drain_steps_max = self.options.drain_steps_max;
        drain_loop(
            self,
            drain_steps_max,
            |driver| driver.provider.next_timer_us(),
            |driver, advance| {
                driver.apply(advance)?.iter().for_each(&mut on_event);
                Ok(())
            },
        )
    }

    /// Applies every input, in order, then drains the timers.
    pub fn run(
        &mut self,
        inputs: impl IntoIterator<Item = Input>,
    ) -> Result<RunReport, DriveError> {
        self.run_with(inputs, |_| {})
    }

    /// [`Driver::run`], passing each event to `on_event` as it comes.
    pub fn run_with(
        &mut self,
        inputs: impl IntoIterator<Item = Input>,
        mut on_event: impl FnMut(&Event),
    ) -> Result<RunReport, DriveError> {
        for input in inputs {
            self.apply(&input)?.iter().for_each(&mut on_event);
        }
        let drain_steps = self.drain_with(on_event)?;
        Ok(self.report(drain_steps))
    }

    /// The run so far, as a report with no drain counted (`drain_steps`
    /// 0): the steps applied, the events and their digest, the current
    /// time. What a run stopped early (a replay `--until` a time) reports.
    pub fn report_so_far(&self) -> RunReport {
        self.report(0)
    }

    fn report(&self, drain_steps: u64) -> RunReport {
        RunReport {
            steps: self.steps,
            drain_steps,
            events: self.digest.count(),
            digest: self.digest.digest(),
            end_us: self.provider.now_us(),
            provisioned_cost_picodollars: self.provider.provisioned_cost_picodollars(),
        }
    }
}

/// The drain loop of [`Driver::drain_with`] and of the log's `Recorder`:
/// applies an `Advance` to each next timer's time until no timer is left,
/// at most `drain_steps_max` times; returns the number of advances.
pub(crate) fn drain_loop<S, E: From<DriveError>>(
    state: &mut S,
    drain_steps_max: u64,
    next_timer_us: impl Fn(&S) -> Option<u64>,
    mut advance: impl FnMut(&mut S, &Input) -> Result<(), E>,
) -> Result<u64, E> {
    let mut drain_steps = 0;
    while let Some(next_timer_us) = next_timer_us(state) {
        if drain_steps >= drain_steps_max {
            return Err(DriveError::Undrained {
                drain_steps,
                next_timer_us,
            }
            .into());
        }
        let input = Input {
            at_us: next_timer_us,
            command: Command::Advance,
        };
        advance(state, &input)?;
        drain_steps += 1;
    }
    Ok(drain_steps)
}
