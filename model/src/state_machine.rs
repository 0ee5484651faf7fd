//! The reference model as a [`proptest-state-machine`] reference, for a
//! system of your own: a scheduler, a simulator, a platform's control
//! plane — anything that can be fed coldstart's inputs and answer with its
//! events.
//!
//! [`ReferenceProvider`] generates a configuration and a sequence of
//! inputs that act on what exists (registrations first, then invocations,
//! time passing, reaps, host faults, failed transfers, inputs issued just
//! past a timer that changes what they name, and inputs that must be
//! refused), and runs each on the reference model. After every transition
//! the reference state holds what the model did ([`Step`]): your
//! `StateMachineTest::apply` runs the same input on your system and
//! compares. proptest then shrinks a failing sequence to a short one.
//!
//! ```
//! use coldstart_core::{Builtin, Input, Provider};
//! use coldstart_model::state_machine::{ReferenceProvider, ReferenceState, Step};
//! use coldstart_model::Machine;
//! use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
//! use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};
//!
//! /// The system under test: here coldstart's own core.
//! struct CoreAgainstModel;
//!
//! impl StateMachineTest for CoreAgainstModel {
//!     type SystemUnderTest = Provider<Builtin>;
//!     type Reference = ReferenceProvider;
//!
//!     fn init_test(reference: &ReferenceState) -> Provider<Builtin> {
//!         Provider::new(reference.config.clone(), reference.policies.clone()).unwrap()
//!     }
//!
//!     fn apply(mut sut: Provider<Builtin>, reference: &ReferenceState, input: Input) -> Provider<Builtin> {
//!         let (events, refusal) = Machine::apply(&mut sut, &input);
//!         assert_eq!(Some(&Step { events, refusal }), reference.last.as_ref(), "after {input:?}");
//!         sut
//!     }
//! }
//!
//! // In a test crate, `prop_state_machine!` declares the test:
//! //     prop_state_machine! {
//! //         #[test]
//! //         fn core_agrees_with_the_model(sequential 1..40 => CoreAgainstModel);
//! //     }
//! // which runs, with proptest's shrinking, what this does by hand:
//! let config = Config { cases: 8, failure_persistence: None, ..Config::default() };
//! let mut runner = TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
//! let sequences = ReferenceProvider::sequential_strategy(1..40);
//! runner
//!     .run(&sequences, |(initial, inputs, seen)| {
//!         CoreAgainstModel::test_sequential(Config::default(), initial, inputs, seen);
//!         Ok(())
//!     })
//!     .unwrap();
//! ```
//!
//! [`proptest-state-machine`]: https://docs.rs/proptest-state-machine

use crate::machine::Machine;
use crate::ops::{op, shape, Op, Resolver};
use crate::reference::Model;
use coldstart_core::{Builtin, Config, Event, Input, Refusal};
use proptest::prelude::*;
use proptest_state_machine::ReferenceStateMachine;

/// The reference: generates configurations and inputs, and runs them on
/// the model with the built-in policies the configuration's shape names.
#[derive(Clone, Copy, Debug)]
pub struct ReferenceProvider;

/// What one input did on the reference model: every event of the step
/// (on a refusal, those of the timers that fired first) and the refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Every event of the step, in order.
    pub events: Vec<Event>,
    /// Why the input was refused, if it was.
    pub refusal: Option<Refusal>,
}

/// The reference's state: the configuration and policies to build your
/// system with, the model, and what the last input did.
#[derive(Clone, Debug)]
pub struct ReferenceState {
    /// The configuration to build the system under test with.
    pub config: Config,
    /// The policies to build the system under test with.
    pub policies: Builtin,
    /// The reference model, after every input so far.
    pub model: Model<Builtin>,
    /// What the last transition did (`None` before the first).
    pub last: Option<Step>,
    /// The ids learned from events, which later inputs name.
    resolver: Resolver,
}

/// Images and functions registered before other inputs are generated, so
/// that most inputs act on real entities.
const IMAGES_FIRST: usize = 2;
const FUNCTIONS_FIRST: usize = 2;

impl ReferenceStateMachine for ReferenceProvider {
    type State = ReferenceState;
    type Transition = Input;

    fn init_state() -> BoxedStrategy<ReferenceState> {
        shape()
            .prop_map(|shape| {
                let (config, policies) = shape.build();
                let model = Model::new(config.clone(), policies.clone())
                    .expect("every shape builds a valid configuration");
                ReferenceState {
                    config,
                    policies,
                    model,
                    last: None,
                    resolver: Resolver::default(),
                }
            })
            .boxed()
    }

    fn transitions(state: &ReferenceState) -> BoxedStrategy<Input> {
        let resolver = state.resolver.clone();
        let now_us = Machine::now_us(&state.model);
        let next_timer_us = Machine::next_timer_us(&state.model);
        let ops = if resolver.images.len() < IMAGES_FIRST {
            (1u8..=8)
                .prop_map(|units| Op::RegisterImage { units })
                .boxed()
        } else if resolver.functions.len() < FUNCTIONS_FIRST {
            (
                any::<u8>(),
                1u8..=4,
                any::<u8>(),
                50u16..400,
                any::<u8>(),
                1u8..=4,
            )
                .prop_map(
                    |(
                        image,
                        memory_units,
                        scratch_units,
                        time_limit_us,
                        start_costs,
                        concurrency,
                    )| {
                        Op::RegisterFunction {
                            image,
                            memory_units,
                            scratch_units,
                            time_limit_us,
                            start_costs,
                            concurrency,
                        }
                    },
                )
                .boxed()
        } else {
            op().boxed()
        };
        ops.prop_map(move |op| resolver.input(&op, now_us, next_timer_us))
            .boxed()
    }

    fn apply(mut state: ReferenceState, input: &Input) -> ReferenceState {
        let (events, refusal) = Machine::apply(&mut state.model, input);
        state.resolver.learn(&events);
        state.last = Some(Step { events, refusal });
        state
    }
}
