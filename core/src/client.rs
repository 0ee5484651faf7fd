//! The client's view: the state of an invocation, its output, and waits that
//! drive virtual time until invocations end.

use crate::event::{Event, EventKind};
use crate::ids::{ContainerId, HostId, InvocationId};
use crate::input::Phase;
use crate::policy::Policies;
use crate::state::{EndOutcome, Ending, InvState};
use crate::step::Provider;
use serde::{Deserialize, Serialize};

/// Where an invocation is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum InvocationState {
    /// Waiting in the queue for room (queue mode).
    Queued { since_us: u64 },
    /// Placed on a host; its container waits for the image to arrive.
    Preparing {
        host: HostId,
        container: ContainerId,
    },
    /// Its container is paying the start overhead.
    Starting {
        host: HostId,
        container: ContainerId,
        cold: bool,
    },
    /// Its code runs; `phase` is the phase at the provider's current time.
    Running {
        host: HostId,
        container: ContainerId,
        cold: bool,
        started_us: u64,
        phase: Phase,
    },
    /// Lost its container to a fault; attempt `attempt` is admitted again at
    /// `retry_at_us`.
    Retrying { attempt: u32, retry_at_us: u64 },
    /// Terminal.
    Ended(Ending),
}

impl InvocationState {
    pub fn is_terminal(&self) -> bool {
        matches!(self, InvocationState::Ended(_))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientError {
    /// Never existed, or already reaped.
    UnknownInvocation { invocation: InvocationId },
    /// `get_output` of an invocation that has not completed.
    NotCompleted {
        invocation: InvocationId,
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
                )
            }
        }
    }
}

impl std::error::Error for ClientError {}

/// An invocation that ended, as a wait reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finished {
    pub invocation: InvocationId,
    pub ending: Ending,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WaitError {
    Unknown {
        invocation: InvocationId,
    },
    /// No timer is left and the condition does not hold: it never will
    /// without new inputs.
    Stalled {
        at_us: u64,
    },
    /// Virtual time reached the deadline first; the provider is at the
    /// deadline.
    DeadlineReached {
        at_us: u64,
    },
    /// The deadline is earlier than the provider's current time.
    DeadlineInPast {
        deadline_us: u64,
        now_us: u64,
    },
    /// `wait_for_any` of no invocation.
    NothingToWaitFor,
}

impl std::fmt::Display for WaitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WaitError::Unknown { invocation } => {
                write!(f, "unknown (or reaped) invocation {invocation}")
            }
            WaitError::Stalled { at_us } => {
                write!(
                    f,
                    "no timer left at {at_us} µs: the wait can never finish without new inputs"
                )
            }
            WaitError::DeadlineReached { at_us } => write!(f, "deadline reached at {at_us} µs"),
            WaitError::DeadlineInPast {
                deadline_us,
                now_us,
            } => {
                write!(
                    f,
                    "deadline {deadline_us} µs is before the current time {now_us} µs"
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
                phase: inv.code.phase_at(self.core.now_us - code_start_us),
            },
            InvState::Retrying { retry_at_us } => InvocationState::Retrying {
                attempt: inv.attempt,
                retry_at_us,
            },
            InvState::Ended(ending) => InvocationState::Ended(ending),
        })
    }

    pub fn get_states(
        &self,
        invocations: &[InvocationId],
    ) -> Vec<Result<InvocationState, ClientError>> {
        invocations.iter().map(|&id| self.get_state(id)).collect()
    }

    /// The output of a completed invocation.
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
            Err(_) => Err(WaitError::Unknown { invocation }),
        }
    }
}

impl<P: Policies> Provider<P> {
    /// Advances virtual time, timer by timer, until `invocation` ends; the
    /// events produced on the way are appended to `events`. With a deadline,
    /// stops there (having advanced to it) if the invocation has not ended.
    /// If no timer is left first, it returns `Stalled` at once, without
    /// moving time: nothing could change before the deadline anyway.
    pub fn wait_for(
        &mut self,
        invocation: InvocationId,
        deadline_us: Option<u64>,
        events: &mut Vec<Event>,
    ) -> Result<Finished, WaitError> {
        let mut found = self.wait_any_inner(&[invocation], deadline_us, events)?;
        Ok(found.swap_remove(0))
    }

    /// Waits until every invocation has ended; returns them in the order
    /// given.
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
    /// already ended, the first of those in the order given).
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
