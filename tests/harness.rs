//! The policy harness (`coldstart::harness`) catches deliberately broken
//! policies, one per kind of problem, and finds nothing wrong with the
//! built-in policies.

use coldstart::harness::{check_case, fuzz_policy, proptest_policy, HarnessOptions, Problem};
use coldstart::{Builtin, HostId, HostView, PlacementRequest, Policies};
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use std::cell::Cell;

fn runner(cases: u32) -> TestRunner {
    TestRunner::new_with_rng(
        ProptestConfig {
            cases,
            failure_persistence: None,
            ..ProptestConfig::default()
        },
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    )
}

/// Always host 0, full or not.
#[derive(Clone, Debug)]
struct AlwaysHostZero;

impl Policies for AlwaysHostZero {
    fn select_host(&mut self, _view: &dyn HostView, _request: &PlacementRequest) -> Option<HostId> {
        Some(HostId(0))
    }
}

/// Declines every cold start: with a queue, invocations wait while hosts
/// stand empty.
#[derive(Clone, Debug)]
struct NeverPlaces;

impl Policies for NeverPlaces {
    fn select_host(&mut self, _view: &dyn HostView, _request: &PlacementRequest) -> Option<HostId> {
        None
    }
}

thread_local! {
    static CALLS: Cell<u64> = const { Cell::new(0) };
}

/// Keeps containers warm for a time read from a counter shared by every
/// clone (as a clock or a global would be): the second run differs.
#[derive(Clone, Debug)]
struct SharedCounter;

impl Policies for SharedCounter {
    fn keep_alive_us(&mut self, _container: &coldstart::ContainerFacts) -> u64 {
        CALLS.with(|calls| {
            calls.set(calls.get() + 1);
            calls.get() % 500
        })
    }
}

#[test]
fn the_built_in_policies_pass() {
    let options = HarnessOptions::default();
    assert_eq!(
        proptest_policy(&Builtin::default(), &mut runner(150), &options),
        Ok(())
    );
}

/// Every built-in host selection, keep-alive policy and image eviction
/// (docs/policies.md) passes the harness: valid, never starving the queue,
/// deterministic. A few cases each, the combinations rotated.
#[test]
fn every_built_in_policy_passes() {
    use coldstart::{HostSelection, ImageEviction, KeepAlivePolicy};
    let options = HarnessOptions::default();
    for (index, host_selection) in HostSelection::ALL.into_iter().enumerate() {
        let policy = Builtin {
            host_selection,
            keep_alive_policy: KeepAlivePolicy::ALL[index % 3],
            image_eviction: ImageEviction::ALL[index % ImageEviction::ALL.len()],
            ..Builtin::default()
        };
        assert_eq!(
            proptest_policy(&policy, &mut runner(25), &options),
            Ok(()),
            "{policy:?}"
        );
    }
}

/// The hybrid histogram on bins short enough for the harness's cases to
/// learn (10 µs), pre-warming at the 5th and the 50th percentile (spec
/// §29), under each host selection: pre-warms are placed through the same
/// host choice, so a pre-warm must neither be refused nor take room from a
/// waiting invocation.
#[test]
fn the_hybrid_histogram_with_prewarming_passes() {
    use coldstart::{HostSelection, HybridHistogram, KeepAlivePolicy};
    let options = HarnessOptions::default();
    for (index, host_selection) in HostSelection::ALL.into_iter().enumerate() {
        let policy = Builtin {
            host_selection,
            keep_alive_us: 200,
            keep_alive_policy: KeepAlivePolicy::HybridHistogram(HybridHistogram {
                bin_us: 10,
                bins: 100,
                cv_threshold_hundredths: 100,
                prewarm_percentile: [5, 50][index % 2],
                fallback_keep_alive_us: 200,
                ..HybridHistogram::PAPER
            }),
            ..Builtin::default()
        };
        assert_eq!(
            proptest_policy(&policy, &mut runner(25), &options),
            Ok(()),
            "{policy:?}"
        );
    }
}

#[test]
fn a_policy_choosing_a_full_host_is_caught_with_a_short_case() {
    let finding = proptest_policy(
        &AlwaysHostZero,
        &mut runner(200),
        &HarnessOptions::default(),
    )
    .expect_err("host 0 fills up");
    assert!(
        matches!(
            finding.problem,
            Problem::DecisionRefused {
                host: HostId(0),
                ..
            }
        ),
        "{finding}"
    );
    // An image, a function and two invocations are about the least that
    // fills a host; the shrinker gets close.
    assert!(finding.case.ops.len() <= 8, "{finding}\n{:?}", finding.case);
    assert!(finding.to_string().starts_with("refused decision"));
}

#[test]
fn a_policy_that_never_places_starves_the_queue() {
    let finding = proptest_policy(&NeverPlaces, &mut runner(200), &HarnessOptions::default())
        .expect_err("queued invocations wait forever");
    assert!(
        matches!(finding.problem, Problem::Starvation { .. }),
        "{finding}"
    );
}

#[test]
fn a_policy_with_shared_state_is_nondeterministic() {
    let finding = proptest_policy(&SharedCounter, &mut runner(200), &HarnessOptions::default())
        .expect_err("two runs differ");
    assert!(
        matches!(finding.problem, Problem::Nondeterminism { .. }),
        "{finding}"
    );
}

#[test]
fn fuzz_bytes_find_the_same_bug() {
    // Any bytes make a case; search a few deterministic byte strings the
    // way a fuzzer would, only blindly.
    let options = HarnessOptions::default();
    let found = (0u64..400).find_map(|seed| {
        let bytes: Vec<u8> = (0..600)
            .map(|i| (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (i % 57)) as u8 ^ i as u8)
            .collect();
        fuzz_policy(&AlwaysHostZero, &bytes, &options).err()
    });
    let finding = found.expect("some byte string fills host 0");
    assert!(
        matches!(finding.problem, Problem::DecisionRefused { .. }),
        "{finding}"
    );
    assert_eq!(fuzz_policy(&Builtin::default(), &[], &options), Ok(()));
    // A finding replays: its shrunk case fails the same way.
    assert_eq!(
        check_case(&AlwaysHostZero, &finding.case, &options).map_err(|f| f.problem),
        Err(finding.problem)
    );
}
