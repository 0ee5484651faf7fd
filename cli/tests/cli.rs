//! The `coldstart` command, and the driver and default scenario it runs on.

use coldstart::driver::digest::{event_hash, mix, DIGEST_START};
use coldstart::driver::{DriveError, Driver, DriverOptions, EventDigest};
use coldstart::simulate::{default_config, default_workload, simulate, SimulateOptions};
use coldstart::{Builtin, Command, Event, Input, Pressure, Provider, Refusal};
use std::process::Output;

fn coldstart(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_coldstart"))
        .args(args)
        .output()
        .expect("the coldstart binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The value of the summary line `name: value`.
fn summary_value(summary: &str, name: &str) -> String {
    summary
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .map(|value| value.trim().to_string())
        .unwrap_or_else(|| panic!("no `{name}:` line in the summary:\n{summary}"))
}

/// Runs `simulate` with a small workload and returns its summary.
fn simulate_ok(extra: &[&str]) -> String {
    let mut args = vec!["simulate", "--invocations", "2000"];
    args.extend_from_slice(extra);
    let output = coldstart(&args);
    assert!(
        output.status.success(),
        "coldstart {args:?} failed: {}",
        stderr(&output)
    );
    stdout(&output)
}

#[test]
fn simulate_prints_the_summary() {
    let summary = simulate_ok(&[]);
    assert_eq!(summary_value(&summary, "invocations"), "2000");
    for name in [
        "scenario",
        "  completed",
        "  failed",
        "  timed out",
        "  rejected",
        "starts",
        "host cache",
        "main storage cache",
        "evictions",
        "transfers",
        "containers (average)",
        "cost",
        "events",
        "events digest",
        "virtual time",
        "wall time",
    ] {
        summary_value(&summary, name);
    }
    assert!(summary_value(&summary, "cost").starts_with('$'));
    assert_eq!(summary_value(&summary, "events digest").len(), 16);
}

#[test]
fn quiet_silences_the_summary_but_never_a_report_asked_for() {
    assert_eq!(simulate_ok(&["--quiet"]), "");
    let json = simulate_ok(&["--quiet", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&json).expect("one JSON object");
    assert_eq!(report["invocations"], 2000);
    assert_eq!(json, simulate_ok(&["--json"]));
    let csv = simulate_ok(&["-q", "--csv"]);
    assert_eq!(
        csv.lines().count(),
        2,
        "a header row and a row of values:\n{csv}"
    );
}

#[test]
fn the_same_seed_gives_the_same_digest_and_another_seed_another() {
    let digest = |seed: &str| summary_value(&simulate_ok(&["--seed", seed]), "events digest");
    let first = digest("42");
    assert_eq!(first, digest("42"));
    assert_ne!(first, digest("43"));
}

#[test]
fn queue_mode_runs_and_differs_from_reject_mode() {
    let queued = simulate_ok(&["--pressure", "queue", "--queue-capacity", "10"]);
    assert!(summary_value(&queued, "scenario").contains("queue (capacity 10)"));
    let rejecting = simulate_ok(&["--pressure", "reject"]);
    assert_ne!(
        summary_value(&queued, "events digest"),
        summary_value(&rejecting, "events digest")
    );
}

#[test]
fn bad_arguments_fail_with_a_message() {
    for (args, message) in [
        (
            &["simulate", "--no-such-flag"][..],
            "error: unexpected argument",
        ),
        (
            &["simulate", "--pressure", "sideways"],
            "error: invalid value",
        ),
        (&["simulate", "--seed", "minus-one"], "error: invalid value"),
        (
            &["simulate", "--queue-capacity", "0"],
            "error: invalid value",
        ),
        (&["no-such-command"], "error: unrecognized subcommand"),
        (&[], "Usage: coldstart"),
    ] {
        let output = coldstart(args);
        assert!(!output.status.success(), "coldstart {args:?} succeeded");
        assert!(
            stderr(&output).contains(message),
            "coldstart {args:?}: no `{message}` in: {}",
            stderr(&output)
        );
        assert!(stdout(&output).is_empty());
    }
}

#[test]
fn help_succeeds() {
    let output = coldstart(&["simulate", "--help"]);
    assert!(output.status.success());
    assert!(stdout(&output).contains("--pressure"));
}

fn small_run(seed: u64, invocations: u64) -> (u64, u64, Vec<Event>) {
    let provider = Provider::new(default_config(Pressure::Reject), Builtin::default()).unwrap();
    let mut driver = Driver::new(provider, DriverOptions::default());
    let mut events = Vec::new();
    let inputs = default_workload(seed, invocations).inputs().unwrap();
    let report = driver
        .run_with(inputs, |event| events.push(*event))
        .unwrap();
    assert_eq!(report.events, events.len() as u64);
    assert_eq!(driver.provider().next_timer_us(), None);
    (report.digest, report.events, events)
}

#[test]
fn the_driver_gives_the_same_digest_for_the_same_inputs() {
    let (digest, count, events) = small_run(5, 500);
    assert_eq!((digest, count), {
        let (d, c, _) = small_run(5, 500);
        (d, c)
    });
    // The digest mixes, in order, each event's hash.
    let recomputed = events.iter().fold(DIGEST_START, |state, event| {
        mix(state, event_hash(event).unwrap())
    });
    assert_eq!(recomputed, digest);
    assert_eq!(EventDigest::new().digest(), DIGEST_START);
}

#[test]
fn a_refused_input_names_its_step() {
    let provider = Provider::new(default_config(Pressure::Reject), Builtin::default()).unwrap();
    let mut driver = Driver::new(provider, DriverOptions::default());
    let image = |at_us| Input {
        at_us,
        command: Command::RegisterImage {
            size_bytes: 1 << 20,
        },
    };
    let error = driver.run([image(10), image(20), image(5)]).unwrap_err();
    let DriveError::Refused { step, refusal, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(*step, 2);
    assert!(matches!(refusal, Refusal::TimeWentBackwards { .. }));
    assert!(error
        .to_string()
        .starts_with("step 2 (at 5 µs) was refused"));
    assert_eq!(driver.steps(), 2);
}

#[test]
fn the_drain_is_bounded() {
    let provider = Provider::new(default_config(Pressure::Reject), Builtin::default()).unwrap();
    let options = DriverOptions::default().with_drain_steps_max(3);
    let mut driver = Driver::new(provider, options);
    let error = driver
        .run(default_workload(1, 10).inputs().unwrap())
        .unwrap_err();
    assert!(
        matches!(error, DriveError::Undrained { drain_steps: 3, .. }),
        "{error:?}"
    );
}

/// The default scenario reaches the states it exists to show: cold and warm
/// starts, evictions on both disk tiers, and pressure in both modes.
#[test]
fn the_default_scenario_exercises_every_path() {
    let run = |pressure| {
        simulate(
            SimulateOptions::default()
                .with_invocations(20_000)
                .with_pressure(pressure)
                .with_check_invariants(false),
        )
        .unwrap()
        .metrics
    };
    let m = run(Pressure::Reject);
    assert!(m.cold_starts > 0 && m.warm_starts > m.cold_starts, "{m:?}");
    assert!(
        m.images_evicted_main > 0 && m.images_evicted_host > 0,
        "{m:?}"
    );
    assert!(
        m.containers_evicted > 0 && m.containers_discarded > 0,
        "{m:?}"
    );
    assert!(m.rejected_resource_unavailable > 0, "{m:?}");
    assert!(
        m.timed_out > 0 && m.failed_by_phase.iter().all(|&n| n > 0),
        "{m:?}"
    );
    let m = run(Pressure::Queue { capacity: 1_000 });
    assert!(m.queued_total > 0, "{m:?}");
}

/// `--faults`: seeded host crashes (about one every six seconds here, each
/// host back after 10 s). Invocations are retried or fail on a platform error, and at
/// the end none is unaccounted for and no container holds RAM or a slot —
/// in both pressure modes. The faults change the run, reproducibly.
#[test]
fn simulate_with_faults_loses_nothing() {
    let faults = ["--faults", "600", "--repair-s", "10"];
    let json = simulate_ok(&[&faults[..], &["--json"]].concat());
    let report: serde_json::Value = serde_json::from_str(&json).expect("one JSON object");
    let key = |name: &str| {
        report[name]
            .as_u64()
            .unwrap_or_else(|| panic!("{name}: {json}"))
    };
    assert!(key("host_crashes") > 0, "{json}");
    assert_eq!(key("host_crashes"), key("host_recoveries"));
    assert!(key("containers_lost") > 0, "{json}");
    assert_eq!(key("unaccounted_invocations"), 0);
    assert_eq!(key("queued_at_end"), 0);
    assert_eq!(key("in_flight_at_end"), 0);
    assert_eq!(key("retrying_at_end"), 0);
    assert_eq!(key("containers_at_end"), 0);
    assert_eq!(
        key("invocations"),
        key("completed")
            + key("failed")
            + key("timed_out")
            + key("rejected")
            + key("platform_failed")
    );
    let queued = simulate_ok(
        &[
            &faults[..],
            &["--pressure", "queue", "--queue-capacity", "50"],
        ]
        .concat(),
    );
    assert!(summary_value(&queued, "scenario").contains("faults 600 host crashes an hour"));
    assert!(summary_value(&queued, "faults").contains("host crashes"));
    assert_eq!(
        summary_value(&queued, "at the end"),
        "0 invocations never ended (0 queued, 0 running, 0 waiting to retry), 0 unaccounted for; 0 containers holding RAM or a slot"
    );
    let plain = simulate_ok(&[]);
    assert_ne!(
        summary_value(&queued, "events digest"),
        summary_value(&plain, "events digest")
    );
    assert_eq!(
        summary_value(&queued, "events digest"),
        summary_value(
            &simulate_ok(
                &[
                    &faults[..],
                    &["--pressure", "queue", "--queue-capacity", "50"]
                ]
                .concat()
            ),
            "events digest"
        )
    );
}

/// Policies are chosen by name; a new one changes the run, a bad name is
/// refused with the list of names.
#[test]
fn simulate_takes_policies_by_name() {
    let digest = |extra: &[&str]| summary_value(&simulate_ok(extra), "events digest");
    let default = digest(&[]);
    assert_eq!(
        digest(&[
            "--host-selection",
            "room-first",
            "--keep-alive-policy",
            "fixed:600",
            "--image-eviction",
            "lru"
        ]),
        default
    );
    assert_ne!(digest(&["--host-selection", "least-loaded"]), default);
    // First fit, the default before room first, evicts where room first
    // finds room.
    assert_ne!(digest(&["--host-selection", "first-fit"]), default);
    assert_ne!(
        digest(&[
            "--keep-alive-policy",
            "greedy-dual",
            "--image-eviction",
            "gdsf"
        ]),
        default
    );
    // Collecting whenever a disk is past 10% full changes the run.
    assert_ne!(
        digest(&["--image-eviction", "kubelet-watermark:10:0"]),
        default
    );
    let output = coldstart(&["simulate", "--image-eviction", "kubelet-watermark:80:90"]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("low mark"), "{}", stderr(&output));
    let output = coldstart(&["simulate", "--host-selection", "worst-fit"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("round-robin"),
        "{}",
        stderr(&output)
    );
}
