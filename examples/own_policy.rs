//! A host-selection policy of your own, taken through the three uses that
//! must compose: fuzz it with the harness, record a run of it, and replay
//! that run (verified step by step) with the same policy.
//!
//! Run with `cargo run --example own_policy`.

use coldstart::driver::DriverOptions;
use coldstart::harness::{proptest_policy, HarnessOptions};
use coldstart::log::{
    replay, replay_with, CustomPolicy, LogError, LogFormat, LogReader, PolicyIdentity, PolicySpec,
    Recorder, RunError,
};
use coldstart::simulate::default_workload;
use coldstart::{Config, HostId, HostView, PlacementRequest, Policies};
use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};

/// Spreads functions over hosts: function `f` goes to host `f mod spread`
/// when that host fits it, and to the first host that fits otherwise. With
/// few hosts per function, a function's containers stay together, so its
/// image is copied to fewer disks.
#[derive(Clone)]
struct SpreadByFunction {
    spread: u32,
}

impl Policies for SpreadByFunction {
    fn select_host(&mut self, view: &dyn HostView, request: &PlacementRequest) -> Option<HostId> {
        let hosts = view.host_count().min(self.spread.max(1));
        // An id's low 32 bits are its slot: functions registered in order
        // get slots 0, 1, 2, …
        let slot = request.function.to_bits() & u64::from(u32::MAX);
        let home = HostId((slot % u64::from(hosts.max(1))) as u32);
        if view.is_up(home) && view.fits(home, request) {
            return Some(home);
        }
        view.first_fitting_host(request)
    }
}

/// The name and parameters a log records, so a replay can check it was
/// handed the same policy.
impl PolicyIdentity for SpreadByFunction {
    fn identity(&self) -> PolicySpec {
        PolicySpec::Custom(CustomPolicy::new(
            "examples::SpreadByFunction",
            format!(r#"{{"spread":{}}}"#, self.spread),
        ))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let policy = SpreadByFunction { spread: 3 };

    // 1. Fuzz it: generated input sequences, with host faults and awkward
    //    orderings, checked for refused decisions, starvation, broken
    //    invariants and nondeterminism. A finding would print its shrunk
    //    inputs and a ready-to-paste regression test.
    let cases = proptest::test_runner::Config {
        cases: 64,
        failure_persistence: None,
        ..Default::default()
    };
    let rng = TestRng::deterministic_rng(RngAlgorithm::ChaCha);
    let mut runner = TestRunner::new_with_rng(cases, rng);
    if let Err(error) = proptest_policy(&policy, &mut runner, &HarnessOptions::default()) {
        return Err(format!("the harness found a problem:\n{error}").into());
    }
    println!("harness: no finding");

    // 2. Record a run of it on the default scenario's hardware and a
    //    thousand invocations of its workload.
    let mut recorder = Recorder::new(
        Vec::new(),
        LogFormat::Binary,
        Config::default(),
        policy.clone(),
        DriverOptions::default(),
    )?;
    recorder.run_with(default_workload(7, 1_000).inputs()?, |_| {})?;
    let (driver, trailer, log) = recorder.finish()?;
    println!(
        "recorded {} steps, {} events, digest {:016x}, {} cold starts, log of {} bytes",
        trailer.steps,
        trailer.events,
        trailer.events_digest,
        driver.provider().metrics().cold_starts,
        log.len()
    );

    // 3. Replay it with the same policy, verifying every step's events and
    //    the trailer's digest.
    let replayed = replay_with(
        LogReader::new(&log[..])?,
        policy,
        DriverOptions::default(),
        None,
        true,
        |_| {},
    )?;
    assert_eq!(replayed.driver.digest(), trailer.events_digest);
    println!(
        "replayed: {} step checks verified",
        replayed.checks_verified
    );

    // A replay without the policy, or with another one, is refused by name
    // before a single step runs.
    match replay(
        LogReader::new(&log[..])?,
        DriverOptions::default(),
        None,
        true,
        |_| {},
    ) {
        Err(RunError::Log(LogError::PolicyNeeded { .. })) => println!("replay without it: refused"),
        other => return Err(format!("expected a refusal, got {:?}", other.err()).into()),
    }
    let other = SpreadByFunction { spread: 2 };
    match replay_with(
        LogReader::new(&log[..])?,
        other,
        DriverOptions::default(),
        None,
        true,
        |_| {},
    ) {
        Err(error) => println!("replay with spread 2: {error}"),
        Ok(_) => return Err("a log of spread 3 replayed with spread 2".into()),
    }
    Ok(())
}

#[test]
fn runs() {
    main().unwrap();
}
