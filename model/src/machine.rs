//! What the differential harness needs of a provider implementation: the
//! core and the reference model both implement it.

use coldstart_core::{
    ClientError, Event, Input, InvocationId, InvocationState, Metrics, Policies, Provider, Refusal,
};

pub trait Machine {
    fn apply(&mut self, input: &Input) -> Result<Vec<Event>, Refusal>;
    fn now_us(&self) -> u64;
    fn next_timer_us(&self) -> Option<u64>;
    fn get_state(&self, invocation: InvocationId) -> Result<InvocationState, ClientError>;
    fn get_output(&self, invocation: InvocationId) -> Result<u64, ClientError>;
    fn metrics(&self) -> Metrics;
    /// The implementation's own invariant check.
    fn check(&self) -> Result<(), String>;
}

impl<P: Policies> Machine for Provider<P> {
    fn apply(&mut self, input: &Input) -> Result<Vec<Event>, Refusal> {
        Provider::apply(self, input).map(|events| events.into_vec())
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
