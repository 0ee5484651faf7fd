//! What the differential harness needs of a provider implementation: the
//! core and the reference model both implement it.

use coldstart_core::{
    ClientError, Event, Input, InvocationId, InvocationState, Metrics, Policies, Provider, Refusal,
};

/// A provider implementation the differential runner can drive and compare:
/// the core's [`Provider`] and the reference [`Model`](crate::Model) both
/// answer to it, so [`run_differential`](crate::run_differential) can put one
/// case through both and compare them after every step.
pub trait Machine {
    /// Applies one input: every event of the step (on a refusal, those of
    /// the timers that fired before the command was judged, R29), and the
    /// refusal, if any.
    fn apply(&mut self, input: &Input) -> (Vec<Event>, Option<Refusal>);
    /// The virtual time of the last input applied, in µs.
    fn now_us(&self) -> u64;
    /// When the next pending timer is due, in µs of virtual time (`None`: no
    /// timer pending).
    fn next_timer_us(&self) -> Option<u64>;
    /// The client's view of one invocation (spec §23), or why there is none.
    fn get_state(&self, invocation: InvocationId) -> Result<InvocationState, ClientError>;
    /// The output of an invocation that completed, or why there is none.
    fn get_output(&self, invocation: InvocationId) -> Result<u64, ClientError>;
    /// The metrics so far (spec §22), as a value both sides can compare.
    fn metrics(&self) -> Metrics;
    /// The implementation's own invariant check.
    fn check(&self) -> Result<(), String>;
}

impl<P: Policies> Machine for Provider<P> {
    fn apply(&mut self, input: &Input) -> (Vec<Event>, Option<Refusal>) {
        match Provider::apply(self, input) {
            Ok(applied) => (applied.into_events().into_vec(), None),
            Err(refused) => {
                let (refusal, events) = refused.into_parts();
                (events, Some(refusal))
            }
        }
    }

    fn now_us(&self) -> u64 {
        Provider::now_us(self)
    }

    fn next_timer_us(&self) -> Option<u64> {
        Provider::next_timer_us(self)
    }

    fn get_state(&self, invocation: InvocationId) -> Result<InvocationState, ClientError> {
        Provider::get_state(self, invocation)
    }

    fn get_output(&self, invocation: InvocationId) -> Result<u64, ClientError> {
        Provider::get_output(self, invocation)
    }

    fn metrics(&self) -> Metrics {
        Provider::metrics(self).clone()
    }

    fn check(&self) -> Result<(), String> {
        self.check_invariants().map_err(|v| v.to_string())
    }
}
