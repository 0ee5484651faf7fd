//! Core against the reference model on a fixed set of generated cases: the
//! fast oracle for mutation testing (`cargo mutants -p coldstart-core`), and
//! a second, seed-stable sample beside the shrinking property tests in the
//! root `tests/differential.rs`.

use coldstart_core::Provider;
use coldstart_model::ops::case;
use coldstart_model::{run_differential, Model};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

#[test]
fn core_agrees_with_the_model_on_a_fixed_sample() {
    let mut runner = TestRunner::deterministic();
    let strategy = case(60);
    for run in 0..300 {
        let case = strategy.new_tree(&mut runner).expect("a case").current();
        let (config, policies) = case.shape.build();
        let mut core = Provider::new(config.clone(), policies.clone()).expect("valid shape");
        let mut model = Model::new(config, policies).expect("valid shape");
        if let Err(divergence) = run_differential(&case, &mut core, &mut model) {
            panic!("run {run}: core and model diverge at {divergence}\ncase: {case:?}");
        }
    }
}
