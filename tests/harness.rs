//! The policy harness (`coldstart::harness`) catches deliberately broken
//! policies, one per kind of problem, and finds nothing wrong with the
//! built-in policies.

use coldstart::harness::{
    check_case, check_inputs, fuzz_policy, proptest_policy, Finding, HarnessError, HarnessOptions,
    Problem, Scale,
};
use coldstart::{Builtin, HostId, HostView, PlacementRequest, Policies};
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use std::cell::Cell;

/// The finding of a check that must have found one.
fn found(result: Result<(), HarnessError>) -> Finding {
    match result {
        Err(HarnessError::Found(finding)) => *finding,
        other => panic!("expected a finding, got {other:?}"),
    }
}

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
        let policy = Builtin::default()
            .with_host_selection(host_selection)
            .with_keep_alive_policy(KeepAlivePolicy::ALL[index % 3])
            .with_image_eviction(ImageEviction::ALL[index % ImageEviction::ALL.len()]);
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
        let policy = Builtin::default()
            .with_host_selection(host_selection)
            .with_keep_alive_us(200)
            .with_keep_alive_policy(KeepAlivePolicy::HybridHistogram(HybridHistogram {
                bin_us: 10,
                bins: 100,
                cv_threshold_hundredths: 100,
                prewarm_percentile: [5, 50][index % 2],
                fallback_keep_alive_us: 200,
                ..HybridHistogram::PAPER
            }));
        assert_eq!(
            proptest_policy(&policy, &mut runner(25), &options),
            Ok(()),
            "{policy:?}"
        );
    }
}

#[test]
fn a_policy_choosing_a_full_host_is_caught_with_a_short_case() {
    let finding = found(proptest_policy(
        &AlwaysHostZero,
        &mut runner(200),
        &HarnessOptions::default(),
    ));
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
    let finding = found(proptest_policy(
        &NeverPlaces,
        &mut runner(200),
        &HarnessOptions::default(),
    ));
    assert!(
        matches!(finding.problem, Problem::Starvation { .. }),
        "{finding}"
    );
}

#[test]
fn a_policy_with_shared_state_is_nondeterministic() {
    let finding = found(proptest_policy(
        &SharedCounter,
        &mut runner(200),
        &HarnessOptions::default(),
    ));
    let Problem::Nondeterminism {
        divergence: Some(divergence),
        ..
    } = &finding.problem
    else {
        panic!("not nondeterminism with a divergence: {finding}");
    };
    // The two runs part at a container's expiry: the keep-alive read from
    // the counter differs.
    assert_ne!(divergence.left, divergence.right);
    assert!(
        finding
            .problem
            .to_string()
            .contains(&format!("event {} differs", divergence.event_index)),
        "{finding}"
    );
}

#[test]
fn fuzz_bytes_find_the_same_bug() {
    // Any bytes make a case; search a few deterministic byte strings the
    // way a fuzzer would, only blindly.
    let options = HarnessOptions::default();
    let first = (0u64..400).find_map(|seed| {
        let bytes: Vec<u8> = (0..600)
            .map(|i| (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (i % 57)) as u8 ^ i as u8)
            .collect();
        fuzz_policy(&AlwaysHostZero, &bytes, &options).err()
    });
    let finding = found(Err(first.expect("some byte string fills host 0")));
    assert!(
        matches!(finding.problem, Problem::DecisionRefused { .. }),
        "{finding}"
    );
    assert_eq!(fuzz_policy(&Builtin::default(), &[], &options), Ok(()));
    // A finding replays: its shrunk case fails the same way.
    assert_eq!(
        check_case(&AlwaysHostZero, &finding.case, &options)
            .map_err(|error| error.problem().cloned()),
        Err(Some(finding.problem))
    );
}

thread_local! {
    static BROKEN_CALLS_LEFT: Cell<u64> = const { Cell::new(0) };
}

/// Names a host that does not exist for its first calls (counted over
/// every clone, as a global would), then places as first fit: a failure
/// that stops showing while it is being shrunk and checked.
#[derive(Clone, Debug)]
struct BrokenForAWhile;

impl Policies for BrokenForAWhile {
    fn select_host(&mut self, view: &dyn HostView, request: &PlacementRequest) -> Option<HostId> {
        let broken = BROKEN_CALLS_LEFT.with(|left| {
            let broken = left.get() > 0;
            left.set(left.get().saturating_sub(1));
            broken
        });
        if broken {
            Some(HostId(99))
        } else {
            view.first_fitting_host(request)
        }
    }
}

/// A failure that does not show again is not dropped: it is a
/// nondeterminism finding naming what the failing run found.
#[test]
fn a_failure_that_does_not_reproduce_is_a_nondeterminism_finding() {
    BROKEN_CALLS_LEFT.with(|left| left.set(40));
    let finding = found(proptest_policy(
        &BrokenForAWhile,
        &mut runner(200),
        &HarnessOptions::default(),
    ));
    let Problem::Nondeterminism {
        first_problem,
        second_problem,
        ..
    } = &finding.problem
    else {
        panic!("not nondeterminism: {finding}");
    };
    assert!(
        matches!(
            first_problem.as_deref(),
            Some(Problem::DecisionRefused {
                host: HostId(99),
                ..
            })
        ),
        "{finding}"
    );
    assert_eq!(second_problem, &None, "{finding}");
    assert!(
        finding.problem.to_string().contains("the second nothing"),
        "{finding}"
    );
}

/// The user's own configuration, with the cases scaled to it: the
/// built-in policies pass, and a policy that piles onto host 0 is caught
/// on that configuration.
#[test]
fn cases_run_on_the_users_configuration_scaled_to_it() {
    let config = coldstart::simulate::default_config(coldstart::Pressure::Queue { capacity: 50 });
    let options = HarnessOptions::default()
        .with_config(config.clone())
        .with_scale(Scale {
            unit_bytes: 1 << 30,
            unit_us: 1_000,
        })
        .with_starvation_bound_us(10_000_000);
    assert_eq!(
        proptest_policy(&Builtin::default(), &mut runner(40), &options),
        Ok(())
    );
    let finding = found(proptest_policy(&AlwaysHostZero, &mut runner(200), &options));
    assert_eq!(finding.config, config);
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
    // Sizes are in GiB: the case's images are whole GiB.
    let sizes: Vec<u64> = finding
        .inputs
        .iter()
        .filter_map(|input| match input.command {
            coldstart::Command::RegisterImage { size_bytes } => Some(size_bytes),
            _ => None,
        })
        .collect();
    assert!(!sizes.is_empty());
    assert!(sizes.iter().all(|size| size % (1 << 30) == 0), "{sizes:?}");
}

#[test]
fn an_invalid_user_configuration_is_an_error_not_a_panic() {
    let mut config = coldstart::simulate::default_config(coldstart::Pressure::Reject);
    config.hosts.clear();
    let options = HarnessOptions::default().with_config(config);
    let error = proptest_policy(&Builtin::default(), &mut runner(5), &options).unwrap_err();
    assert!(matches!(error, HarnessError::Config(_)), "{error:?}");
    assert!(
        error
            .to_string()
            .starts_with("the harness options' configuration is invalid: "),
        "{error}"
    );
    assert!(matches!(
        fuzz_policy(&Builtin::default(), &[1, 2, 3], &options),
        Err(HarnessError::Config(_))
    ));
}

impl coldstart::log::PolicyIdentity for AlwaysHostZero {
    fn identity(&self) -> coldstart::log::PolicySpec {
        coldstart::log::PolicySpec::Custom(coldstart::log::CustomPolicy::new(
            "tests/always-host-zero",
            "",
        ))
    }
}

/// A finding serializes, reproduces from its configuration and inputs
/// (what its regression test runs), and records as a log that replays and
/// verifies with the same policy: fuzz, record, replay compose.
#[test]
fn a_finding_serializes_reproduces_and_records() {
    let options = HarnessOptions::default();
    let finding = found(proptest_policy(&AlwaysHostZero, &mut runner(200), &options));
    let json = serde_json::to_string(&finding).unwrap();
    let back: Finding = serde_json::from_str(&json).unwrap();
    assert_eq!(back, finding);

    let again =
        check_inputs(&AlwaysHostZero, &finding.config, &finding.inputs, &options).unwrap_err();
    assert_eq!(again.problem(), Some(&finding.problem));
    let test = finding.regression_test("host_zero_overfills", "AlwaysHostZero");
    if std::env::var_os("COLDSTART_PRINT_REGRESSION").is_some() {
        println!("{test}");
    }
    assert!(
        test.contains("#[test]\nfn host_zero_overfills() {"),
        "{test}"
    );
    assert!(
        test.contains(
            "coldstart::harness::check_inputs(&AlwaysHostZero, &config, &inputs, &options)"
        ),
        "{test}"
    );
    assert!(
        test.contains(&serde_json::to_string(&finding.inputs).unwrap()),
        "{test}"
    );
    assert!(test.contains(".with_starvation_bound_us(10000)"), "{test}");
    // The built-in policies pass the same inputs: the test would pass once
    // the policy is fixed.
    assert_eq!(
        check_inputs(
            &Builtin::default(),
            &finding.config,
            &finding.inputs,
            &options
        ),
        Ok(())
    );

    for format in [
        coldstart::log::LogFormat::Binary,
        coldstart::log::LogFormat::JsonLines,
    ] {
        let log = finding.record(&AlwaysHostZero, Vec::new(), format).unwrap();
        let reader = coldstart::log::LogReader::new(&log[..]).unwrap();
        let mut refused = 0;
        let replayed = coldstart::log::replay_with(
            reader,
            AlwaysHostZero,
            coldstart::driver::DriverOptions::default(),
            None,
            true,
            |event| {
                if matches!(event.kind, coldstart::EventKind::DecisionRefused { .. }) {
                    refused += 1;
                }
            },
        )
        .unwrap();
        assert!(refused >= 1, "the replay shows the refused decision");
        assert_eq!(replayed.trailer.unwrap().steps, replayed.checks_verified);
    }
}

// What `Finding::regression_test` printed for the host-0 finding of
// `a_finding_serializes_reproduces_and_records` (run it with
// COLDSTART_PRINT_REGRESSION=1 to see it), pasted as is but for
// `should_panic`: it compiles, and fails while the policy is broken.
/// Found by the coldstart policy harness (refused decision):
/// refused decision: host#0 for inv#1.0: the host cannot make room, even by evicting
#[test]
#[should_panic(expected = "refused decision")]
fn host_zero_overfills() {
    let config: coldstart::Config =
        serde_json::from_str(r#"{"main_storage":{"capacity_bytes":50,"download_bytes_per_s":500000},"hosts":[{"ram_bytes":20,"slots":1,"disk_bytes":30,"copy_bytes_per_s":1000000}],"cold_start_us":0,"warm_start_us":0,"pressure":"Reject","terminal_records_max":null,"retry":{"attempts_max":1,"backoff_us":0}}"#).unwrap();
    let inputs: Vec<coldstart::Input> =
        serde_json::from_str(r#"[{"at_us":0,"command":{"RegisterImage":{"size_bytes":10}}},{"at_us":0,"command":{"RegisterFunction":{"image":0,"memory_bytes":10,"scratch_bytes":0,"time_limit_us":50}}},{"at_us":0,"command":{"Invoke":{"function":0,"code":{"clone_us":0,"build_us":0,"run_us":0,"outcome":{"Failure":{"phase":"Clone"}}},"ingress_bytes":0,"egress_bytes":0}}},{"at_us":0,"command":{"Invoke":{"function":0,"code":{"clone_us":0,"build_us":0,"run_us":0,"outcome":{"Failure":{"phase":"Clone"}}},"ingress_bytes":0,"egress_bytes":0}}}]"#).unwrap();
    let options = coldstart::harness::HarnessOptions::default()
        .with_starvation_bound_us(10000)
        .with_drain_steps_max(10000);
    let checked = coldstart::harness::check_inputs(&AlwaysHostZero, &config, &inputs, &options);
    assert!(checked.is_ok(), "{}", checked.unwrap_err());
}
