//! Command logs through the real binary: record → replay → verify, JSON
//! Lines round trips, and every kind of bad input, each of which must fail
//! with one line on stderr naming the file and the problem, never a panic.

use std::path::PathBuf;
use std::process::Output;
use std::sync::atomic::{AtomicU64, Ordering};

fn coldstart(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_coldstart"))
        .args(args)
        .output()
        .expect("the coldstart binary runs")
}

/// A fresh path under the temp directory, unique to this process and call.
fn temp_path(name: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // Cargo's scratch directory for integration tests (under target/), not
    // the system's temp directory: these files are many and small, and
    // `cargo clean` takes them away.
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("log-cli-{}-{n}-{name}", std::process::id()))
}

fn path_str(path: &std::path::Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The value of the summary line `name: value`.
fn summary_value(summary: &str, name: &str) -> String {
    summary
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .map(|value| value.trim().to_string())
        .unwrap_or_else(|| panic!("no `{name}:` line in:\n{summary}"))
}

/// Records a small run; returns the log's path and the run's digest.
fn record(extension: &str) -> (PathBuf, String) {
    let path = temp_path(&format!("run.{extension}"));
    let output = coldstart(&[
        "simulate",
        "--invocations",
        "300",
        "--seed",
        "11",
        "--record",
        path_str(&path),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    (path, summary_value(&stdout(&output), "events digest"))
}

fn replay_ok(path: &std::path::Path, extra: &[&str]) -> String {
    let mut args = vec!["replay", path_str(path)];
    args.extend_from_slice(extra);
    let output = coldstart(&args);
    assert!(
        output.status.success(),
        "coldstart {args:?}: {}",
        stderr(&output)
    );
    stdout(&output)
}

/// Runs `coldstart ARGS` on a bad file: it must fail (not panic) with one
/// line naming `file` and containing `problem`.
fn fails(args: &[&str], file: &std::path::Path, problem: &str) {
    let output = coldstart(args);
    let message = stderr(&output);
    assert!(!output.status.success(), "coldstart {args:?} succeeded");
    assert_ne!(output.status.code(), Some(101), "panic: {message}");
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert_eq!(message.lines().count(), 1, "not one line: {message}");
    let prefix = format!("coldstart: {}: ", file.display());
    assert!(message.starts_with(&prefix), "no `{prefix}` in: {message}");
    assert!(message.contains(problem), "no `{problem}` in: {message}");
}

fn replay_fails(file: &std::path::Path, problem: &str) {
    fails(&["replay", path_str(file), "--verify"], file, problem);
}

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let path = temp_path(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn a_recorded_run_replays_to_the_same_digest_twice_and_after_a_json_round_trip() {
    let (binary, digest) = record("cslog");
    for _ in 0..2 {
        let summary = replay_ok(&binary, &["--verify"]);
        assert_eq!(summary_value(&summary, "events digest"), digest);
        assert!(summary.contains("verified:"));
    }
    let json = temp_path("run.jsonl");
    let back = temp_path("back.cslog");
    for (from, to) in [(&binary, &json), (&json, &back)] {
        let output = coldstart(&["log", "convert", path_str(from), path_str(to)]);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let summary = replay_ok(&json, &["--verify"]);
    assert_eq!(summary_value(&summary, "events digest"), digest);
    assert_eq!(
        std::fs::read(&back).unwrap(),
        std::fs::read(&binary).unwrap()
    );
    // Recording straight to JSON Lines gives the same file as converting.
    let (direct, direct_digest) = record("jsonl");
    assert_eq!(direct_digest, digest);
    assert_eq!(
        std::fs::read(&direct).unwrap(),
        std::fs::read(&json).unwrap()
    );
}

#[test]
fn replay_writes_events_and_travels_in_time() {
    let (log, digest) = record("cslog");
    let events = temp_path("events.jsonl");
    let json = replay_ok(&log, &["--events", path_str(&events), "--json"]);
    assert!(json.contains(&format!("\"events_digest\":\"{digest}\"")));
    // The events file holds every event: digesting it gives the digest.
    let mut recomputed = coldstart::driver::EventDigest::new();
    for line in std::fs::read_to_string(&events).unwrap().lines() {
        let event: coldstart::Event = serde_json::from_str(line).unwrap();
        recomputed.add(&event).unwrap();
    }
    assert_eq!(format!("{:016x}", recomputed.digest()), digest);

    let state: serde_json::Value =
        serde_json::from_str(&replay_ok(&log, &["--until", "100"])).unwrap();
    assert_eq!(state["steps"], 100);
    assert!(state["provider"].is_object());
    let state: serde_json::Value =
        serde_json::from_str(&replay_ok(&log, &["--until-time", "5000000"])).unwrap();
    assert_eq!(state["now_us"], 5_000_000);
}

#[test]
fn missing_and_empty_files() {
    let missing = temp_path("missing.cslog");
    replay_fails(&missing, "No such file");
    let empty = write("empty.cslog", b"");
    replay_fails(&empty, "empty file");
}

#[test]
fn wrong_magic_and_unknown_versions() {
    let garbage = write("garbage.cslog", b"PK\x03\x04 this is a zip file");
    replay_fails(&garbage, "not a coldstart log");
    let mut future = coldstart::log::MAGIC.to_vec();
    future.extend_from_slice(&10u32.to_le_bytes());
    future.extend_from_slice(&[0; 32]);
    let future = write("future.cslog", &future);
    replay_fails(&future, "log format version 10 is not supported");
    let json = write(
        "future.jsonl",
        b"{\"format\":\"coldstart-log\",\"format_version\":10}\n",
    );
    replay_fails(&json, "log format version 10 is not supported");
    // Version 1 (before step checks, with another digest) is refused by
    // name rather than misread.
    let json = write(
        "old.jsonl",
        b"{\"format\":\"coldstart-log\",\"format_version\":1}\n",
    );
    replay_fails(&json, "log format version 1 is not supported");
}

#[test]
fn truncated_logs_and_a_flipped_byte() {
    let (log, _) = record("cslog");
    let bytes = std::fs::read(&log).unwrap();
    let header_cut = write("header-cut.cslog", &bytes[..40]);
    replay_fails(&header_cut, "truncated");
    let magic_cut = write("magic-cut.cslog", &bytes[..5]);
    replay_fails(&magic_cut, "truncated");
    // One byte past the middle: a cut that falls on a record boundary
    // reads as a log without its trailer (below), and the middle itself
    // is one for this run.
    let middle_cut = write("middle-cut.cslog", &bytes[..bytes.len() / 2 + 1]);
    replay_fails(&middle_cut, "truncated");
    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x10;
    let flipped = write("flipped.cslog", &flipped);
    replay_fails(&flipped, "damaged");
    // A binary log without its trailer replays, but cannot be verified.
    let (json, _) = record("jsonl");
    let text = std::fs::read_to_string(&json).unwrap();
    let without_trailer: String = text
        .lines()
        .filter(|l| !l.contains("\"trailer\""))
        .map(|l| format!("{l}\n"))
        .collect();
    let untrailed = write("untrailed.jsonl", without_trailer.as_bytes());
    replay_fails(&untrailed, "no trailer");
    replay_ok(&untrailed, &[]);
}

/// Edits line `index` of a recorded JSON Lines log.
fn edited_json(name: &str, edit: impl Fn(&mut Vec<String>)) -> PathBuf {
    let (json, _) = record("jsonl");
    let mut lines: Vec<String> = std::fs::read_to_string(&json)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    edit(&mut lines);
    write(name, (lines.join("\n") + "\n").as_bytes())
}

#[test]
fn a_json_line_with_a_wrong_field() {
    let log = edited_json("wrong-field.jsonl", |lines| {
        // Line 1 is the header, then each input and its check.
        lines[5] = lines[5].replace("\"at_us\"", "\"at_ms\"");
    });
    replay_fails(&log, "line 6 (input 2)");
    let log = edited_json("wrong-header.jsonl", |lines| {
        lines[0] = lines[0].replace("\"slots\"", "\"slot\"");
    });
    replay_fails(&log, "line 1 (header)");
}

#[test]
fn an_input_the_core_refuses_names_the_step_and_the_reason() {
    let log = edited_json("refused.jsonl", |lines| {
        let trailer = lines.len() - 1;
        lines.insert(trailer, r#"{"at_us":0,"command":"Advance"}"#.to_string());
    });
    // The header, each input with its check, the added input, the trailer.
    let inputs = (std::fs::read_to_string(&log).unwrap().lines().count() - 3) / 2;
    replay_fails(&log, &format!("step {inputs} (at 0 µs) was refused"));
}

#[test]
fn a_digest_mismatch_is_named() {
    let log = edited_json("mismatch.jsonl", |lines| {
        let trailer = lines.last_mut().unwrap();
        let at = trailer.find("\"events_digest\":\"").unwrap() + 17;
        let digit = if &trailer[at..=at] == "0" { "1" } else { "0" };
        trailer.replace_range(at..=at, digit);
    });
    replay_fails(&log, "events digest mismatch");
    // An input changed after recording: more egress, a larger bill. The
    // first step whose events differ is named, with the event.
    let log = edited_json("changed-input.jsonl", |lines| {
        let at = lines
            .iter()
            .position(|line| line.contains("\"egress_bytes\":"))
            .unwrap();
        let start = lines[at].find("\"egress_bytes\":").unwrap() + 15;
        lines[at].insert_str(start, "9999999");
    });
    replay_fails(&log, "events diverge at step ");
}

#[test]
fn convert_names_the_bad_file() {
    let garbage = write("garbage2.cslog", b"nonsense");
    let out = temp_path("out.jsonl");
    fails(
        &["log", "convert", path_str(&garbage), path_str(&out)],
        &garbage,
        "not a coldstart log",
    );
    let (log, _) = record("cslog");
    let bad_out = temp_path("out.txt");
    fails(
        &["log", "convert", path_str(&log), path_str(&bad_out)],
        &bad_out,
        "unknown log file extension",
    );
}

/// A run with faults records its `HostDown`/`HostUp` inputs and replays to
/// the same events, in both forms.
#[test]
fn a_run_with_faults_records_and_replays() {
    for extension in ["cslog", "jsonl"] {
        let path = temp_path(&format!("faults.{extension}"));
        let output = coldstart(&[
            "simulate",
            "--invocations",
            "1000",
            "--seed",
            "11",
            "--faults",
            "600",
            "--repair-s",
            "10",
            "--record",
            path_str(&path),
        ]);
        assert!(output.status.success(), "{}", stderr(&output));
        let summary = stdout(&output);
        assert!(
            summary_value(&summary, "faults").contains("host crashes"),
            "{summary}"
        );
        let replayed = replay_ok(&path, &["--verify"]);
        assert_eq!(
            summary_value(&replayed, "events digest"),
            summary_value(&summary, "events digest")
        );
        assert_eq!(
            summary_value(&replayed, "faults"),
            summary_value(&summary, "faults")
        );
    }
}

/// Logs written in format version 3 (before the policy library added
/// fields to the header's policies) still replay and verify: the committed
/// fuzz seeds `reject-2.cslog` and `queue-2.cslog` were recorded by a
/// version 3 build with step checks and trailers.
#[test]
fn version_3_logs_replay_and_verify() {
    let corpus =
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join("fuzz/corpus/log_decode");
    for name in ["reject-2.cslog", "queue-2.cslog"] {
        let path = corpus.join(name);
        let bytes = std::fs::read(&path).expect("the committed seed log");
        assert_eq!(
            bytes[8..12],
            3u32.to_le_bytes(),
            "{name} is a version 3 log"
        );
        let output = coldstart(&["replay", path.to_str().unwrap(), "--verify"]);
        assert!(
            output.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// A policy of the test's own: the highest-numbered host that fits.
#[derive(Clone)]
struct LastFit;

impl coldstart::Policies for LastFit {
    fn select_host(
        &mut self,
        view: &dyn coldstart::HostView,
        request: &coldstart::PlacementRequest,
    ) -> Option<coldstart::HostId> {
        (0..view.host_count())
            .rev()
            .map(coldstart::HostId)
            .find(|&host| view.fits(host, request))
    }
}

impl coldstart::log::PolicyIdentity for LastFit {
    fn identity(&self) -> coldstart::log::PolicySpec {
        coldstart::log::PolicySpec::Custom(coldstart::log::CustomPolicy::new("tests/last-fit", ""))
    }
}

/// Records, from the library, the default workload's first inputs and a
/// client's wait for all of them, with `policies`; returns the log's path.
fn record_from_library<P: coldstart::log::PolicyIdentity>(policies: P, name: &str) -> PathBuf {
    use coldstart::driver::DriverOptions;
    use coldstart::log::{LogFormat, Recorder};
    use coldstart::simulate::{default_config, default_workload};
    let path = temp_path(name);
    let file = std::fs::File::create(&path).unwrap();
    let format = LogFormat::from_path(&path).unwrap();
    let config = default_config(coldstart::Pressure::Reject);
    let mut recorder = Recorder::new(
        std::io::BufWriter::new(file),
        format,
        config,
        policies,
        DriverOptions::default(),
    )
    .unwrap();
    let mut invocations = Vec::new();
    for input in default_workload(5, 50).inputs().unwrap() {
        let events = recorder.apply(&input).unwrap();
        invocations.extend(events.iter().filter_map(|event| match event.kind {
            coldstart::EventKind::Accepted { invocation, .. } => Some(invocation),
            _ => None,
        }));
    }
    assert_eq!(invocations.len(), 50);
    let finished = recorder.wait_for_all(&invocations, None).unwrap();
    assert_eq!(finished.len(), 50);
    recorder.drain_with(|_| {}).unwrap();
    recorder.finish().unwrap();
    path
}

#[test]
fn a_log_recorded_from_the_library_with_waits_replays_with_verify() {
    for name in ["library.cslog", "library.jsonl"] {
        let log = record_from_library(coldstart::Builtin::default(), name);
        let output = coldstart(&["replay", path_str(&log), "--verify"]);
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(stdout(&output).contains("verified"), "{}", stdout(&output));
    }
}

#[test]
fn a_log_of_a_custom_policy_is_refused_by_name_in_one_line() {
    let log = record_from_library(LastFit, "custom.jsonl");
    let events = temp_path("custom-events.jsonl");
    let output = coldstart(&[
        "replay",
        path_str(&log),
        "--verify",
        "--events",
        path_str(&events),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        format!(
            "coldstart: {}: the log was recorded with the policy \"tests/last-fit\", not a built-in one: the command line replays only built-in policies; replay it with coldstart::log::replay_with and that policy\n",
            log.display()
        )
    );
    assert!(!events.exists(), "no output is made for a refused log");
}
