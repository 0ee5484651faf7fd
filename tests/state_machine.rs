//! The reference model as a `proptest-state-machine` reference
//! (`coldstart_model::state_machine`), used the way an embedder would: a
//! system under test — here the core, and a core with a planted bug — is
//! run on the sequences the reference generates and compared step by step.

use coldstart::{Builtin, EventKind, Input, Provider};
use coldstart_model::state_machine::{ReferenceProvider, ReferenceState, Step};
use coldstart_model::Machine;
use proptest::test_runner::{Config, RngAlgorithm, TestError, TestRng, TestRunner};
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};

/// The system under test: the core, or the core with a planted bug.
struct Sut<const BROKEN: bool>;

fn run_step<const BROKEN: bool>(sut: &mut Provider<Builtin>, input: &Input) -> Step {
    let (mut events, refusal) = Machine::apply(sut, input);
    if BROKEN {
        // The bug: a cold start on a host other than host 0 is reported
        // as if on host 0.
        for event in &mut events {
            if let EventKind::ColdStart { host, .. } = &mut event.kind {
                host.0 = 0;
            }
        }
    }
    Step { events, refusal }
}

impl<const BROKEN: bool> StateMachineTest for Sut<BROKEN> {
    type SystemUnderTest = Provider<Builtin>;
    type Reference = ReferenceProvider;

    fn init_test(reference: &ReferenceState) -> Provider<Builtin> {
        Provider::new(reference.config.clone(), reference.policies.clone())
            .expect("the reference's configuration is valid")
    }

    fn apply(
        mut sut: Provider<Builtin>,
        reference: &ReferenceState,
        input: Input,
    ) -> Provider<Builtin> {
        let step = run_step::<BROKEN>(&mut sut, &input);
        assert_eq!(Some(&step), reference.last.as_ref(), "after {input:?}");
        sut
    }

    fn check_invariants(sut: &Provider<Builtin>, _: &ReferenceState) {
        sut.check_invariants()
            .unwrap_or_else(|violation| panic!("{violation:?}"));
    }
}

prop_state_machine! {
    #![proptest_config(Config { cases: 64, failure_persistence: None, ..Config::default() })]
    #[test]
    fn the_core_agrees_with_the_reference_machine(sequential 1..60 => Sut<false>);
}

fn runner(cases: u32) -> TestRunner {
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
}

#[test]
fn a_planted_bug_is_found_and_shrunk() {
    let result = runner(256).run(
        &ReferenceProvider::sequential_strategy(1..60),
        |(initial, inputs, seen)| {
            Sut::<true>::test_sequential(Config::default(), initial, inputs, seen);
            Ok(())
        },
    );
    let Err(TestError::Fail(_, (_, inputs, _))) = result else {
        panic!("the planted bug was not found: {result:?}");
    };
    // Shrunk to the registrations and the invocation that cold-starts on
    // a host other than 0 (plus at most a few inputs that led there).
    assert!(
        inputs.len() <= 8,
        "shrunk to {} inputs: {inputs:?}",
        inputs.len()
    );
}

#[test]
fn the_reference_reaches_faults_refusals_and_cold_starts() {
    let mut runner = runner(1);
    let strategy = ReferenceProvider::sequential_strategy(60..61);
    let (mut refusals, mut cold_starts, mut faults, mut ended) = (0, 0, 0, 0);
    for _ in 0..64 {
        let (mut state, inputs, _) = proptest::strategy::ValueTree::current(
            &proptest::strategy::Strategy::new_tree(&strategy, &mut runner).unwrap(),
        );
        for input in &inputs {
            state = ReferenceProvider::apply(state, input);
            let step = state.last.as_ref().unwrap();
            refusals += usize::from(step.refusal.is_some());
            for event in &step.events {
                match event.kind {
                    EventKind::ColdStart { .. } => cold_starts += 1,
                    EventKind::HostDown { .. }
                    | EventKind::DownloadFailed { .. }
                    | EventKind::CopyFailed { .. } => faults += 1,
                    EventKind::Completed { .. }
                    | EventKind::Failed { .. }
                    | EventKind::TimedOut { .. } => ended += 1,
                    _ => {}
                }
            }
        }
    }
    assert!(refusals > 0, "no refused input generated");
    assert!(cold_starts > 50, "{cold_starts} cold starts");
    assert!(faults > 0, "no fault generated");
    assert!(ended > 50, "{ended} invocations ended");
}
