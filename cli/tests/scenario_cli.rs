//! Scenario files and trace import through the real `coldstart` binary:
//! determinism, equivalence of `examples/default.toml` with the built-in
//! default, `--set` and `--seed`, and one-line errors for bad files.

use std::path::{Path, PathBuf};
use std::process::Output;

fn coldstart(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_coldstart"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("the coldstart binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs `coldstart simulate ARGS --json` and returns the report.
fn report(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["simulate"];
    all.extend_from_slice(args);
    all.push("--json");
    let output = coldstart(&all);
    assert!(
        output.status.success(),
        "coldstart {all:?} failed: {}",
        stderr(&output)
    );
    serde_json::from_str(&stdout(&output)).expect("--json prints one JSON object")
}

fn digest(args: &[&str]) -> String {
    report(args)["events_digest"]
        .as_str()
        .expect("a digest")
        .to_string()
}

/// A scenario file with `text`: `scratch_file` named `name`.toml.
fn scenario_file(name: &str, text: &str) -> PathBuf {
    scratch_file(&format!("{name}.toml"), text)
}

/// A file with `text` under Cargo's test scratch directory (`target/tmp`),
/// unique to this process and name.
fn scratch_file(name: &str, text: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("coldstart-scenario-{}-{name}", std::process::id()));
    std::fs::write(&path, text).expect("the scratch directory is writable");
    path
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

#[test]
fn the_default_example_gives_the_default_digest() {
    let small = ["--invocations", "2000"];
    let builtin = digest(&small);
    let example = digest(&["examples/default.toml", "--invocations", "2000"]);
    assert_eq!(builtin, example);
}

#[test]
fn a_scenario_and_seed_determine_the_run() {
    let args = [
        "examples/default.toml",
        "--invocations",
        "1000",
        "--seed",
        "5",
    ];
    let first = digest(&args);
    assert_eq!(first, digest(&args));
    let other_seed = [
        "examples/default.toml",
        "--invocations",
        "1000",
        "--seed",
        "6",
    ];
    assert_ne!(first, digest(&other_seed));
    // The file's own seed key is the same as --seed.
    let set_seed = [
        "examples/default.toml",
        "--invocations",
        "1000",
        "--set",
        "seed=5",
    ];
    assert_eq!(first, digest(&set_seed));
    // `random` host selection without its own seed takes the run's: with
    // --seed as with the seed key (the seed replaces the file's before
    // its values are read).
    let random = |seed: [&str; 2]| {
        let mut args = vec![
            "examples/default.toml",
            "--invocations",
            "1000",
            "--set",
            "provider.policy.host_selection=random",
        ];
        args.extend(seed);
        digest(&args)
    };
    assert_eq!(random(["--seed", "5"]), random(["--set", "seed=5"]));
    assert_ne!(random(["--seed", "5"]), random(["--seed", "6"]));
}

#[test]
fn set_changes_the_run_as_the_key_says() {
    let base = ["examples/default.toml", "--invocations", "1000"];
    let plain = report(&base);
    let keep_alive = report(&[&base[..], &["--set", "provider.policy.keep_alive=1s"]].concat());
    assert_ne!(plain["events_digest"], keep_alive["events_digest"]);
    // Eight hosts instead of four: nothing is rejected for lack of room.
    let more = report(&[&base[..], &["--set", "provider.hosts[0].count=8"]].concat());
    assert!(more["rejected"].as_u64() < plain["rejected"].as_u64());
    let ten = report(&["examples/default.toml", "--set", "workload.invocations=10"]);
    assert_eq!(ten["invocations"], 10);
    // --invocations comes after every --set.
    let flag = report(&[&base[..], &["--set", "workload.invocations=10"]].concat());
    assert_eq!(flag["invocations"], 1000);
}

#[test]
fn the_azure_slice_example_runs_every_row() {
    let run = report(&["examples/azure-slice.toml"]);
    assert_eq!(run["invocations"], 998);
    assert_eq!(run["completed"], 998);
    assert!(run["cold_start_ratio"].as_f64().is_some());
    assert!(run["end_to_end_us_p99"].as_u64().is_some());
    assert!(run["cost"].as_f64().unwrap() > 0.0);
    assert_eq!(
        run["events_digest"],
        report(&["examples/azure-slice.toml"])["events_digest"]
    );
    // The human summary shows the latency percentiles.
    let output = coldstart(&["simulate", "examples/azure-slice.toml"]);
    let summary = stdout(&output);
    for line in ["starts:", "start delay:", "end to end:", "cost:"] {
        assert!(summary.contains(line), "no `{line}` in:\n{summary}");
    }
    let limited = report(&["examples/azure-slice.toml", "--invocations", "100"]);
    assert_eq!(limited["invocations"], 100);
}

/// The hybrid histogram pre-warms on the Azure slice by default; with
/// `provider.policy.prewarm_percentile = 0` it does not, and a percentile
/// above 100 is refused in one line naming the key.
#[test]
fn prewarm_percentile_turns_the_hybrid_pre_warm_on_and_off() {
    let hybrid = [
        "examples/azure-slice.toml",
        "--set",
        "provider.policy.keep_alive_policy=hybrid",
    ];
    let with = |percentile: &str| {
        let set = format!("provider.policy.prewarm_percentile={percentile}");
        report(&[&hybrid[..], &["--set", &set]].concat())
    };
    let default = report(&hybrid);
    assert!(default["prewarms"].as_u64().unwrap() > 0, "{default}");
    assert_eq!(default["prewarms_planned"], default["containers_unloaded"]);
    assert!(
        default["prewarm_warm_starts"].as_u64().unwrap() > 0,
        "{default}"
    );
    assert_eq!(default["events_digest"], with("5")["events_digest"]);
    let off = with("0");
    for key in [
        "containers_unloaded",
        "prewarms_planned",
        "prewarms",
        "prewarms_skipped",
        "prewarm_warm_starts",
    ] {
        assert_eq!(off[key], 0, "{key}: {off}");
    }
    assert_ne!(default["events_digest"], off["events_digest"]);
    // `--keep-alive-policy hybrid` keeps a hybrid scenario's percentile.
    let named = report(
        &[
            &hybrid[..],
            &[
                "--set",
                "provider.policy.prewarm_percentile=0",
                "--keep-alive-policy",
                "hybrid",
            ],
        ]
        .concat(),
    );
    assert_eq!(named["events_digest"], off["events_digest"]);

    let file = scenario_file(
        "prewarm-150",
        "[provider.policy]\nkeep_alive_policy = \"hybrid\"\nprewarm_percentile = 150\n",
    );
    let output = coldstart(&["simulate", path_str(&file)]);
    assert_eq!(output.status.code(), Some(1));
    let error = stderr(&output);
    assert_eq!(error.lines().count(), 1, "{error}");
    assert!(
        error.contains("provider.policy.prewarm_percentile: 150 is above 100"),
        "{error}"
    );
    let output = coldstart(&[
        "simulate",
        "--set",
        "provider.policy.prewarm_percentile=150",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let error = stderr(&output);
    assert_eq!(error.lines().count(), 1, "{error}");
    assert!(
        error.contains("provider.policy.prewarm_percentile: 150 is above 100"),
        "{error}"
    );
}

/// Issue 9's acceptance run: the Azure slice with a host crash every hour
/// loses nothing and leaks nothing.
#[test]
fn the_azure_slice_with_hourly_crashes_loses_nothing() {
    let run = report(&["examples/azure-slice-faults.toml"]);
    assert_eq!(run["invocations"], 998);
    assert_eq!(run["host_crashes"], 2);
    assert_eq!(run["host_recoveries"], 2);
    assert!(run["retries"].as_u64().unwrap() >= 1, "{run}");
    assert_eq!(run["unaccounted_invocations"], 0);
    assert_eq!(run["containers_at_end"], 0);
    let ended = [
        "completed",
        "failed",
        "timed_out",
        "rejected",
        "platform_failed",
    ]
    .iter()
    .map(|key| run[key].as_u64().unwrap())
    .sum::<u64>();
    assert_eq!(ended, 998, "{run}");
    // The same crashes at a seeded rate instead: still nothing lost.
    let random = report(&[
        "examples/azure-slice.toml",
        "--set",
        "faults.crashes_per_hour=3",
        "--set",
        "faults.repair=\"5min\"",
    ]);
    assert!(random["host_crashes"].as_u64().unwrap() >= 1, "{random}");
    assert_eq!(random["unaccounted_invocations"], 0);
    assert_eq!(random["containers_at_end"], 0);
}

#[test]
fn a_scheduled_fault_names_one_kind() {
    let path = scenario_file(
        "two-kinds",
        "[[faults.at]]\ntime = \"1s\"\nhost_down = 0\nhost_up = 0\n",
    );
    let output = coldstart(&["simulate", path_str(&path)]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("faults.at[0]: needs exactly one of host_down"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn the_simfaas_example_never_reaches_capacity() {
    let run = report(&["examples/simfaas-canonical.toml", "--invocations", "2000"]);
    assert_eq!(run["invocations"], 2000);
    assert_eq!(run["completed"], 2000);
    assert_eq!(run["rejected"], 0);
    assert!(run["cold_starts"].as_u64().unwrap() >= 1);
}

#[test]
fn bad_scenarios_fail_with_one_line_naming_the_file() {
    let trace_dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join("tests/data");
    let bad_trace = scratch_file(
        "bad-trace.csv",
        "app,func,end_timestamp,duration\na,f,1,0.5\na,f,2\n",
    );
    let cases: Vec<(&str, String, &str)> = vec![
        ("syntax", "seed = ".into(), "not valid TOML: line 1, column"),
        (
            "unknown",
            "[provider.policy]\nkeep_alive = \"1min\"\ncolour = \"red\"".into(),
            "provider.policy.colour: unknown field `colour`",
        ),
        (
            "unit",
            "[provider.main_storage]\ncapacity = 4096".into(),
            "provider.main_storage.capacity: 4096 has no unit",
        ),
        (
            "variant",
            "[provider]\npressure = \"panic\"".into(),
            "provider.pressure: unknown variant `panic`",
        ),
        (
            "trace-missing",
            "[workload.trace]\npath = \"no-such.csv\"".into(),
            "no-such.csv: ",
        ),
        (
            "trace-line",
            format!("[workload.trace]\npath = {:?}", bad_trace.to_str().unwrap()),
            "bad-trace.csv:3: expected 4 comma-separated fields",
        ),
        (
            "trace-and-functions",
            format!(
                "[workload]\nfunctions = []\n[workload.trace]\npath = {:?}",
                trace_dir.join("azure2021-fixture-30.csv").to_str().unwrap()
            ),
            "workload.functions: does not apply to a trace workload",
        ),
    ];
    for (name, text, expected) in cases {
        let path = scenario_file(name, &text);
        let output = coldstart(&["simulate", path_str(&path)]);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{name}: {message}");
        assert!(stdout(&output).is_empty(), "{name}");
        assert_eq!(message.lines().count(), 1, "{name}: {message}");
        let prefix = format!("coldstart: {}: ", path.display());
        assert!(message.starts_with(&prefix), "{name}: {message}");
        assert!(
            message.contains(expected),
            "{name}: no `{expected}` in {message}"
        );
        std::fs::remove_file(path).unwrap();
    }
    std::fs::remove_file(bad_trace).unwrap();
    // A missing file, and a bad --set with and without a file.
    for (args, expected) in [
        (
            &["simulate", "no-such-scenario.toml"][..],
            "coldstart: no-such-scenario.toml: cannot read the scenario",
        ),
        (
            &["simulate", "examples/default.toml", "--set", "provider.hosts[9].ram=1GiB"],
            "coldstart: examples/default.toml: --set provider.hosts[9].ram=1GiB: provider.hosts has 1 elements, no [9]",
        ),
        (
            &["simulate", "--set", "provider.warm_start=fast"],
            "coldstart: error: provider.warm_start: `fast` does not start with a number",
        ),
    ] {
        let output = coldstart(args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let message = stderr(&output);
        assert_eq!(message.lines().count(), 1, "{args:?}: {message}");
        assert!(message.starts_with(expected), "{args:?}: {message}");
    }
}

/// One function, arrivals at exactly 10, 20, 30 and 40 s, runs of exactly
/// 1 s, no start overhead, a 1-byte image (1 µs to download, 1 µs to copy),
/// keep-alive 60 s: the SimFaaS-definition keys, by hand.
const SIMFAAS_KEYS_SCENARIO: &str = "seed = 3
[provider]
cold_start = \"0us\"
warm_start = \"0us\"
[[provider.hosts]]
ram = \"1GiB\"
slots = 4
disk = \"1GiB\"
copy_bandwidth = \"1GB/s\"
[provider.main_storage]
capacity = \"1GiB\"
download_bandwidth = \"1GB/s\"
[provider.policy]
keep_alive = \"60s\"
[workload]
invocations = 4
interarrival_mean = \"10s\"
arrivals = \"constant\"
failure_per_phase_ppm = 0
long_run_ppm = 0
images = [{ size = \"1B\" }]
[[workload.functions]]
memory = \"128MiB\"
scratch = \"1B\"
time_limit = \"1h\"
clone_mean = \"0us\"
build_mean = \"0us\"
run_mean = \"1s\"
run_distribution = \"constant\"
ingress_mean = \"0B\"
egress_mean = \"0B\"
";

#[test]
fn the_report_carries_simfaas_definitions() {
    let path = scenario_file("simfaas-keys", SIMFAAS_KEYS_SCENARIO);
    // Keep-alive 60 s: one container, created at 10 s, serves all four (one
    // cold start, three warm); idle from 41 s, it expires at 101 s.
    let run = report(&[path_str(&path)]);
    assert_eq!(run["cold_starts"], 1);
    assert_eq!(run["simfaas_cold_start_prob"], 0.25);
    assert_eq!(run["containers_expired"], 1);
    assert_eq!(run["virtual_time_us"], 101_000_000);
    assert_eq!(run["avg_containers"], 91.0 / 101.0);
    // SimFaaS's window ends at the last arrival, 40 s: 30 s alive, 3 s and
    // 2 µs busy (the first start's transfers), and nothing expired yet.
    assert_eq!(run["simfaas_avg_containers"], 0.75);
    assert_eq!(run["simfaas_avg_running"], 3_000_002.0 / 40_000_000.0);
    assert_eq!(run["simfaas_utilization"], 3_000_002.0 / 30_000_000.0);
    assert_eq!(run["simfaas_containers_expired"], 0);
    assert_eq!(
        run["simfaas_expired_lifespan_us_mean"],
        serde_json::Value::Null
    );
    // Keep-alive 5 s: every arrival starts cold; the containers of 10, 20
    // and 30 s expire 6 s after creation (2 µs more for the first), before
    // the last arrival; the one of 40 s, at 46 s, after it.
    let short = report(&[path_str(&path), "--set", "provider.policy.keep_alive=5s"]);
    assert_eq!(short["simfaas_cold_start_prob"], 1.0);
    assert_eq!(short["containers_expired"], 4);
    assert_eq!(short["simfaas_containers_expired"], 3);
    assert_eq!(
        short["simfaas_expired_lifespan_us_mean"],
        18_000_002.0 / 3.0
    );
    assert_eq!(short["simfaas_avg_containers"], 18_000_002.0 / 40_000_000.0);
    assert_eq!(short["simfaas_avg_idle"], 15.0 / 40.0);
    assert_eq!(short["avg_containers"], 24_000_002.0 / 46_000_000.0);
    // One slot and runs of 15 s: the arrivals at 20 and 40 s are rejected.
    // Cold starts over all arrivals (SimFaaS) is 1/4, over starts 1/2.
    let busy = report(&[
        path_str(&path),
        "--set",
        "provider.hosts[0].slots=1",
        "--set",
        "workload.functions[0].run_mean=15s",
    ]);
    assert_eq!(busy["rejected"], 2);
    assert_eq!(busy["simfaas_cold_start_prob"], 0.25);
    assert_eq!(busy["cold_start_ratio"], 0.5);
    std::fs::remove_file(path).unwrap();
}

/// The Azure 2019 example (a synthetic 5-minute fixture in the dataset's
/// format): the invocations the counts give, three cold starts — o1/appA/f2
/// at 15 s and f1 at 30 s (the same image, on another container), and
/// o2/appB/f1 at 90 s — and the last run (f1's 100 ms, at 290 s after a
/// 1 ms warm start) ends at 290.101 s, its container expiring 600 s later.
#[test]
fn the_azure2019_example_imports_the_fixture() {
    let run = report(&["examples/azure2019-fixture.toml"]);
    assert_eq!(run["invocations"], 10);
    assert_eq!(run["completed"], 10);
    assert_eq!(run["cold_starts"], 3);
    assert_eq!(run["warm_starts"], 7);
    assert_eq!(run["containers_expired"], 3);
    assert_eq!(run["simfaas_containers_expired"], 0);
    assert_eq!(run["virtual_time_us"], 890_101_000);
    // Determinism: same scenario and seed, same digest; another seed draws
    // other durations for o1/appA/f2, so other events.
    let digest = run["events_digest"].clone();
    assert_eq!(
        report(&["examples/azure2019-fixture.toml"])["events_digest"],
        digest
    );
    let reseeded = report(&["examples/azure2019-fixture.toml", "--seed", "2"]);
    assert_eq!(reseeded["invocations"], 10);
    assert_ne!(reseeded["events_digest"], digest);
    let limited = report(&["examples/azure2019-fixture.toml", "--invocations", "4"]);
    assert_eq!(limited["invocations"], 4);
}

#[test]
fn bad_azure2019_files_fail_with_one_line_naming_file_and_line() {
    let data = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join("tests/data");
    let durations = data.join("azure2019-fixture-durations.csv");
    let bad_counts = scratch_file(
        "bad-counts.csv",
        "HashOwner,HashApp,HashFunction,Trigger,1,2\no,a,f,http,1,0\no,a,g,http,1,1.5\n",
    );
    let day = |counts: &Path, extra: &str| {
        format!(
            "[workload.trace]\nformat = \"azure2019\"\ninvocations_path = {:?}\ndurations_path = {:?}\n{extra}",
            counts.to_str().unwrap(),
            durations.to_str().unwrap()
        )
    };
    for (name, text, expected) in [
        (
            "day-line",
            day(&bad_counts, ""),
            "bad-counts.csv:3: minute 2: `1.5` is not a whole number of invocations".to_string(),
        ),
        (
            "day-missing",
            day(&data.join("no-such-counts.csv"), ""),
            "no-such-counts.csv: ".to_string(),
        ),
        (
            "day-path",
            day(&bad_counts, "path = \"t.csv\"\n"),
            "workload.trace.path: does not apply to format \"azure2019\"".to_string(),
        ),
        (
            "day-durations",
            "[workload.trace]\nformat = \"azure2019\"\ninvocations_path = \"c.csv\"\n".to_string(),
            "workload.trace.durations_path: missing".to_string(),
        ),
    ] {
        let path = scenario_file(name, &text);
        let output = coldstart(&["simulate", path_str(&path)]);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{name}: {message}");
        assert!(stdout(&output).is_empty(), "{name}");
        assert_eq!(message.lines().count(), 1, "{name}: {message}");
        let prefix = format!("coldstart: {}: ", path.display());
        assert!(message.starts_with(&prefix), "{name}: {message}");
        assert!(
            message.contains(&expected),
            "{name}: no `{expected}` in {message}"
        );
        std::fs::remove_file(path).unwrap();
    }
    std::fs::remove_file(bad_counts).unwrap();
}
