//! The client's view (spec §23): the state of an invocation, its output,
//! and waits that drive virtual time until invocations end.
//!
//! The reads (`get_state`, `get_states`, `get_output`) never change the
//! provider. The waits change it only by moving virtual time, timer by
//! timer, as an `Advance` would (but without an input's validation, spec
//! R128); they return an error instead of hanging when no timer is left.

use crate::event::{Event, EventKind};
use crate::ids::{ContainerId, HostId, InvocationId};
use crate::input::Phase;
use crate::policy::Policies;
use crate::state::{EndOutcome, Ending, InvState};
use crate::step::Provider;
use serde::{Deserialize, Serialize};

/// Where an invocation is in its life, as
/// [`Provider::get_state`] reports it (spec R114, R122).
///
/// The states follow one another as `Queued`, then `Preparing` (only when
/// its image must travel to the host), `Starting`, `Running` and `Ended`; a
/// host going down sends a started invocation to `Retrying`, then back to
/// `Queued`. A rejected invocation goes from `Queued` to `Ended` at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum InvocationState {
    /// Waiting in the queue for room (queue mode), or, within its own step,
    /// accepted and not yet started.
    Queued {
        /// When it joined the queue (µs): accepted, or admitted again after
        /// a retry's backoff.
        since_us: u64,
    },
    /// Placed on a host; its container waits for the image to arrive (a
    /// download and/or a copy).
    Preparing {
        /// The host chosen.
        host: HostId,
        /// Its container there.
        container: ContainerId,
    },
    /// Its container is paying the start overhead (its function's cold- or
    /// warm-start cost: `FunctionDef::cold_start_us`, `warm_start_us`, or
    /// the `Config`'s).
    Starting {
        /// The host its container is on.
        host: HostId,
        /// Its container.
        container: ContainerId,
        /// Whether it started cold (a new container) or warm (an idle one).
        cold: bool,
    },
    /// Its code runs; its time limit counts from `started_us`.
    Running {
        /// The host its container is on.
        host: HostId,
        /// Its container.
        container: ContainerId,
        /// Whether it started cold.
        cold: bool,
        /// When its code began (µs): its `ExecutionStarted`.
        started_us: u64,
        /// The phase its code is in at the provider's current time.
        phase: Phase,
    },
    /// Lost its container to a host going down; it is admitted again when
    /// its backoff ends (spec R137, R147).
    Retrying {
        /// The number of the attempt to come (2 for the first retry).
        attempt: u32,
        /// When it is admitted again (µs).
        retry_at_us: u64,
    },
    /// Terminal: when it ended and how. The record stays until reaped.
    Ended(Ending),
}

impl InvocationState {
    /// Whether the invocation has ended (`Ended`): no state follows.
    pub fn is_terminal(&self) -> bool {
        matches!(self, InvocationState::Ended(_))
    }
}

/// Why a client read failed (spec R122, R124).
///
/// ```
/// use coldstart_core::{Builtin, ClientError, Config, InvocationId, Provider};
///
/// let provider = Provider::new(Config::default(), Builtin::default())?;
/// let ghost = InvocationId::from_bits(42);
/// let error = provider.get_output(ghost).unwrap_err();
/// assert_eq!(error, ClientError::UnknownInvocation { invocation: ghost });
/// assert_eq!(error.to_string(), "unknown (or reaped) invocation inv#42.0");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ClientError {
    /// The id names no invocation: it never existed, or its record was
    /// reaped (by `Reap` or by retention, `Config::terminal_records_max`).
    UnknownInvocation {
        /// The id given.
        invocation: InvocationId,
    },
    /// `get_output` of an invocation that has not completed: still on its
    /// way, or ended otherwise (failed, timed out, rejected, failed on the
    /// platform).
    NotCompleted {
        /// The invocation.
        invocation: InvocationId,
        /// Its state now.
        state: InvocationState,
    },
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::UnknownInvocation { invocation } => {
                write!(f, "unknown (or reaped) invocation {invocation}")
            }
            ClientError::NotCompleted { invocation, state } => {
                write!(
                    f,
                    "invocation {invocation} has no output: its state is {state:?}"
                )?;
                if !state.is_terminal() {
                    write!(f, "; wait for it to end first")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ClientError {}

/// An invocation that ended, as a wait reports it (spec R125): taken from
/// its ending event, so it is reported even if retention reaped the record
/// in the same step (spec R126).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finished {
    /// The invocation that ended.
    pub invocation: InvocationId,
    /// When it ended and how.
    pub ending: Ending,
}

/// Why a wait returned without its invocations' endings (spec R125, R127).
///
/// `DeadlineReached` leaves the provider at the deadline; `Stalled` leaves
/// it at the last timer the wait fired (not at the deadline). Every other
/// error is found before time moves.
///
/// ```
/// use coldstart_core::{Builtin, Config, Provider, WaitError};
///
/// let mut provider = Provider::new(Config::default(), Builtin::default())?;
/// let mut events = Vec::new();
/// let error = provider.wait_for_any(&[], None, &mut events).unwrap_err();
/// assert_eq!(error, WaitError::NothingToWaitFor);
/// assert_eq!(error.to_string(), "wait_for_any needs at least one invocation");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum WaitError {
    /// An id names no invocation: it never existed, or its record was
    /// reaped. Returned for the first such id in the order given, before
    /// time moves.
    UnknownInvocation {
        /// The id given.
        invocation: InvocationId,
    },
    /// No timer is left and the condition does not hold: it never will
    /// without new inputs (a queued invocation its policy never places,
    /// say). The provider stays at the last timer the wait fired, even with
    /// a deadline (spec R127).
    Stalled {
        /// The provider's current time (µs), where the wait stopped.
        at_us: u64,
    },
    /// Virtual time reached the deadline first; the provider is at the
    /// deadline, and the invocations may still end later.
    DeadlineReached {
        /// The deadline (µs), now the provider's current time.
        at_us: u64,
    },
    /// The deadline is earlier than the provider's current time.
    DeadlineInPast {
        /// The deadline given (µs).
        deadline_us: u64,
        /// The provider's current time (µs).
        now_us: u64,
    },
    /// `wait_for_any` of no invocation: nothing could ever end.
    NothingToWaitFor,
}

impl std::fmt::Display for WaitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WaitError::UnknownInvocation { invocation } => {
                write!(f, "unknown (or reaped) invocation {invocation}")
            }
            WaitError::Stalled { at_us } => {
                write!(
                    f,
                    "no timer left at {at_us} µs: the wait can never finish without new inputs"
                )
            }
            WaitError::DeadlineReached { at_us } => write!(
                f,
                "deadline reached at {at_us} µs before the invocation ended: \
                 wait again with a later deadline, or none"
            ),
            WaitError::DeadlineInPast {
                deadline_us,
                now_us,
            } => {
                write!(
                    f,
                    "deadline {deadline_us} µs is before the current time {now_us} µs: \
                     give one at or after it, or none"
                )
            }
            WaitError::NothingToWaitFor => write!(f, "wait_for_any needs at least one invocation"),
        }
    }
}

impl std::error::Error for WaitError {}

fn ending_of(event: &Event) -> Option<(InvocationId, Ending)> {
    let at_us = event.at_us;
    let (invocation, outcome) = match event.kind {
        EventKind::Completed {
            invocation,
            output,
            cost_picodollars,
        } => (
            invocation,
            EndOutcome::Completed {
                output,
                cost_picodollars,
            },
        ),
        EventKind::Failed {
            invocation,
            phase,
            cost_picodollars,
        } => (
            invocation,
            EndOutcome::Failed {
                phase,
                cost_picodollars,
            },
        ),
        EventKind::TimedOut {
            invocation,
            cost_picodollars,
        } => (invocation, EndOutcome::TimedOut { cost_picodollars }),
        EventKind::Rejected { invocation, reason } => (invocation, EndOutcome::Rejected { reason }),
        EventKind::PlatformFailed { invocation, reason } => {
            (invocation, EndOutcome::PlatformFailed { reason })
        }
        _ => return None,
    };
    Some((invocation, Ending { at_us, outcome }))
}

impl<P> Provider<P> {
    /// Where the invocation is in its life (spec R122); the running phase
    /// is the one at the provider's current time. Never changes the
    /// provider.
    ///
    /// # Errors
    ///
    /// [`ClientError::UnknownInvocation`] if the id names no invocation
    /// (never existed, or reaped).
    pub fn get_state(&self, invocation: InvocationId) -> Result<InvocationState, ClientError> {
        let inv = self
            .core
            .invocations
            .get(invocation)
            .ok_or(ClientError::UnknownInvocation { invocation })?;
        Ok(match inv.state {
            InvState::Queued { since_us } => InvocationState::Queued { since_us },
            InvState::Preparing { container, host } => {
                InvocationState::Preparing { host, container }
            }
            InvState::Starting {
                container,
                host,
                cold,
            } => InvocationState::Starting {
                host,
                container,
                cold,
            },
            InvState::Running {
                container,
                host,
                cold,
                code_start_us,
            } => InvocationState::Running {
                host,
                container,
                cold,
                started_us: code_start_us,
                // R85k: under processor sharing, by the work done.
                phase: inv.code.phase_at(
                    self.core
                        .run_done_us(invocation, host, inv.code.duration_us())
                        .unwrap_or(self.core.now_us - code_start_us),
                ),
            },
            InvState::Retrying { retry_at_us } => InvocationState::Retrying {
                attempt: inv.attempt,
                retry_at_us,
            },
            InvState::Ended(ending) => InvocationState::Ended(ending),
        })
    }

    /// [`get_state`](Provider::get_state) of each invocation, in the order
    /// given (spec R123).
    pub fn get_states(
        &self,
        invocations: &[InvocationId],
    ) -> Vec<Result<InvocationState, ClientError>> {
        invocations.iter().map(|&id| self.get_state(id)).collect()
    }

    /// The output of a completed invocation: the value its code's
    /// `Outcome::Success` named (spec R124).
    ///
    /// # Errors
    ///
    /// [`ClientError::UnknownInvocation`] if the id names no invocation;
    /// [`ClientError::NotCompleted`], with its state, if it has not ended or
    /// ended other than `Completed`.
    pub fn get_output(&self, invocation: InvocationId) -> Result<u64, ClientError> {
        match self.get_state(invocation)? {
            InvocationState::Ended(Ending {
                outcome: EndOutcome::Completed { output, .. },
                ..
            }) => Ok(output),
            state => Err(ClientError::NotCompleted { invocation, state }),
        }
    }

    fn ended(&self, invocation: InvocationId) -> Result<Option<Ending>, WaitError> {
        match self.get_state(invocation) {
            Ok(InvocationState::Ended(ending)) => Ok(Some(ending)),
            Ok(_) => Ok(None),
            Err(_) => Err(WaitError::UnknownInvocation { invocation }),
        }
    }
}

impl<P: Policies> Provider<P> {
    /// Advances virtual time, timer by timer, until `invocation` ends; the
    /// events produced on the way are appended to `events` (spec R125,
    /// R127). Returns at once if it has ended already. With a deadline
    /// (µs), stops there (having advanced to it) if the invocation has not
    /// ended. If no timer is left before it ends, it returns `Stalled`,
    /// without moving time on to the deadline: nothing could change before
    /// it anyway. Every timer due at the instant the invocation ends fires,
    /// even those after its ending event.
    ///
    /// # Errors
    ///
    /// [`WaitError::UnknownInvocation`], [`WaitError::DeadlineInPast`]
    /// before time moves; [`WaitError::Stalled`] and
    /// [`WaitError::DeadlineReached`] when the invocation did not end.
    pub fn wait_for(
        &mut self,
        invocation: InvocationId,
        deadline_us: Option<u64>,
        events: &mut Vec<Event>,
    ) -> Result<Finished, WaitError> {
        let mut found = self.wait_any_inner(&[invocation], deadline_us, events)?;
        Ok(found.swap_remove(0))
    }

    /// Waits until every invocation has ended; returns their endings in the
    /// order given (a duplicated id gets its ending twice). An empty list,
    /// or one whose invocations have all ended, returns at once. Otherwise
    /// as [`wait_for`](Provider::wait_for), with the same errors.
    pub fn wait_for_all(
        &mut self,
        invocations: &[InvocationId],
        deadline_us: Option<u64>,
        events: &mut Vec<Event>,
    ) -> Result<Vec<Finished>, WaitError> {
        let mut endings: Vec<Option<Ending>> = Vec::with_capacity(invocations.len());
        for &id in invocations {
            endings.push(self.ended(id)?);
        }
        self.drive(deadline_us, events, |new_events| {
            for event in new_events {
                if let Some((id, ending)) = ending_of(event) {
                    for (slot, &wanted) in endings.iter_mut().zip(invocations) {
                        if wanted == id {
                            *slot = Some(ending);
                        }
                    }
                }
            }
            endings.iter().all(Option::is_some)
        })?;
        Ok(invocations
            .iter()
            .zip(endings)
            .map(|(&invocation, ending)| Finished {
                invocation,
                ending: ending
                    .unwrap_or_else(|| crate::state::bug("wait ended with an invocation pending")),
            })
            .collect())
    }

    /// Waits until any of the invocations has ended and returns the first to
    /// end (if several end at once, the first in event order; if some had
    /// already ended, the first of those in the order given). Otherwise as
    /// [`wait_for`](Provider::wait_for), with the same errors and
    /// [`WaitError::NothingToWaitFor`] for an empty list.
    pub fn wait_for_any(
        &mut self,
        invocations: &[InvocationId],
        deadline_us: Option<u64>,
        events: &mut Vec<Event>,
    ) -> Result<Finished, WaitError> {
        if invocations.is_empty() {
            return Err(WaitError::NothingToWaitFor);
        }
        let mut found = self.wait_any_inner(invocations, deadline_us, events)?;
        Ok(found.swap_remove(0))
    }

    fn wait_any_inner(
        &mut self,
        invocations: &[InvocationId],
        deadline_us: Option<u64>,
        events: &mut Vec<Event>,
    ) -> Result<Vec<Finished>, WaitError> {
        for &id in invocations {
            if let Some(ending) = self.ended(id)? {
                return Ok(vec![Finished {
                    invocation: id,
                    ending,
                }]);
            }
        }
        let mut first: Option<Finished> = None;
        self.drive(deadline_us, events, |new_events| {
            first = new_events
                .iter()
                .filter_map(ending_of)
                .find(|(id, _)| invocations.contains(id))
                .map(|(invocation, ending)| Finished { invocation, ending });
            first.is_some()
        })?;
        Ok(first.into_iter().collect())
    }

    /// Steps to the next timer, again and again, until `done` (shown the new
    /// events of each step) says so.
    fn drive(
        &mut self,
        deadline_us: Option<u64>,
        events: &mut Vec<Event>,
        mut done: impl FnMut(&[Event]) -> bool,
    ) -> Result<(), WaitError> {
        if done(&[]) {
            return Ok(());
        }
        if let Some(deadline_us) = deadline_us {
            if deadline_us < self.core.now_us {
                return Err(WaitError::DeadlineInPast {
                    deadline_us,
                    now_us: self.core.now_us,
                });
            }
        }
        loop {
            let Some(next_us) = self.next_timer_us() else {
                return Err(WaitError::Stalled {
                    at_us: self.core.now_us,
                });
            };
            let (target_us, at_deadline) = match deadline_us {
                Some(d) if next_us > d => (d, true),
                _ => (next_us, false),
            };
            let step_events = self.advance_to(target_us);
            let finished = done(&step_events);
            events.extend(step_events);
            if finished {
                return Ok(());
            }
            if at_deadline {
                return Err(WaitError::DeadlineReached { at_us: target_us });
            }
        }
    }
}
