//! Hostile and merely unusual inputs through the real binary (issue 15),
//! one test per class: readers that must stay bounded, outputs that must
//! not destroy inputs, refusals that must come before the run, the
//! end-of-run accounting, what `merge` and `run-job` must verify, and the
//! wording of messages.
//!
//! Every refusal is checked the same way ([`refused`]): exit code 1 (not
//! a panic's 101 nor an abort's 134), exactly one line on stderr, naming
//! the file (or flag) concerned and the problem, within a time bound and —
//! on Linux, through `ulimit -v` — a memory bound.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The longest a refusal may take, a debug build on a loaded machine
/// included (each takes well under a second alone).
const TIME_MAX: Duration = Duration::from_secs(60);

/// The address space a refusal may use (KiB, for `ulimit -v`): a hostile
/// file must not make the binary grow past this. A debug build refusing
/// a file needs about 10 MB; a binary record claiming 256 MiB made it
/// allocate that much before reading it.
const MEMORY_KIB_MAX: u64 = 200 << 10;

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let directory = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("hostile-{}-{n}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).expect("a scratch directory");
    directory
}

fn text(path: &Path) -> &str {
    path.to_str().expect("scratch paths are UTF-8")
}

/// Runs the binary with its address space bounded (through `sh -c
/// 'ulimit -v …; exec …'` where there is a shell), killing it past
/// [`TIME_MAX`]; `stdout` redirects standard output to a file.
fn run_in(directory: &Path, args: &[&str], stdout: Option<&Path>) -> (Output, Duration) {
    let binary = env!("CARGO_BIN_EXE_coldstart");
    let mut command = if Path::new("/bin/sh").exists() {
        let mut command = Command::new("/bin/sh");
        command
            .arg("-c")
            .arg(format!("ulimit -v {MEMORY_KIB_MAX}; exec \"$0\" \"$@\""))
            .arg(binary)
            .args(args);
        command
    } else {
        let mut command = Command::new(binary);
        command.args(args);
        command
    };
    command.current_dir(directory).stdin(Stdio::null());
    match stdout {
        Some(path) => command.stdout(
            std::fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(path)
                .expect("the stdout file opens"),
        ),
        None => command.stdout(Stdio::piped()),
    };
    command.stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command.spawn().expect("the binary starts");
    // Drained on their own threads: a child blocked on a full pipe would
    // look like a hang.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as Box<_>));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as Box<_>));
    let status = loop {
        if let Some(status) = child.try_wait().expect("the child can be waited on") {
            break status;
        }
        if started.elapsed() > TIME_MAX {
            let _ = child.kill();
            let _ = child.wait();
            panic!("coldstart {} ran past {TIME_MAX:?}", shown(args));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = Output {
        status,
        stdout: out.join().expect("stdout is read"),
        stderr: err.join().expect("stderr is read"),
    };
    (output, started.elapsed())
}

/// Arguments for a failure message, each cut to a readable length.
fn shown(args: &[&str]) -> String {
    let cut: Vec<String> = args
        .iter()
        .map(|arg| match arg.char_indices().nth(60) {
            Some((at, _)) => format!("{}…", &arg[..at]),
            None => arg.to_string(),
        })
        .collect();
    format!("{cut:?}")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts a refusal: exit code 1, one line on stderr that contains every
/// one of `words` (the file, the problem); returns the line.
fn refused(directory: &Path, args: &[&str], words: &[&str]) -> String {
    let (output, took) = run_in(directory, args, None);
    let message = stderr(&output);
    let code = output.status.code();
    let args = shown(args);
    assert_ne!(code, Some(101), "a panic: {args}: {message}");
    assert_ne!(code, Some(134), "an abort: {args}: {message}");
    assert_eq!(code, Some(1), "{args}: {message}");
    assert!(took < TIME_MAX);
    assert_eq!(
        message.lines().count(),
        1,
        "{args}: not one line: {message}"
    );
    assert!(message.starts_with("coldstart: "), "{message}");
    for word in words {
        assert!(message.contains(word), "{args}: no `{word}` in: {message}");
    }
    // Echoed values are cut: a line stays readable.
    assert!(message.chars().count() < 700, "{message}");
    message.trim_end().to_string()
}

fn succeeds(directory: &Path, args: &[&str]) -> String {
    let (output, _) = run_in(directory, args, None);
    assert!(
        output.status.success(),
        "{}: {}",
        shown(args),
        stderr(&output)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A FIFO at `path`, if this system has `mkfifo`.
fn fifo(path: &Path) -> bool {
    Command::new("mkfifo")
        .arg(path)
        .status()
        .is_ok_and(|status| status.success())
}

/// A file of `prefix` and then `bytes` bytes of `fill`, no line ending.
fn write_long(path: &Path, prefix: &str, fill: u8, bytes: usize) {
    let mut content = prefix.as_bytes().to_vec();
    content.resize(prefix.len() + bytes, fill);
    std::fs::write(path, content).expect("a scratch file");
}

/// Records a small JSON Lines log in `directory`.
fn small_log(directory: &Path, name: &str) -> PathBuf {
    let path = directory.join(name);
    succeeds(
        directory,
        &["simulate", "--invocations", "30", "-q", "--record", name],
    );
    path
}

// ---------------------------------------------------------------------------
// Readers are bounded

/// Lines that never end (both trace formats, a JSON Lines log), a 50 MB
/// scenario, devices, FIFOs and directories: each refused in one line
/// naming the file and the limit, in bounded time and memory.
#[test]
fn every_reader_is_bounded_and_reads_regular_files_only() {
    let d = scratch("readers");
    // A 2021 trace whose second line never ends (5 MB, no newline).
    write_long(
        &d.join("endless.csv"),
        "app,func,end_timestamp,duration\n",
        b'a',
        5 << 20,
    );
    std::fs::write(
        d.join("trace.toml"),
        "[workload.trace]\npath = \"endless.csv\"\n",
    )
    .unwrap();
    refused(
        &d,
        &["simulate", "trace.toml"],
        &["endless.csv:2", "longer than the limit of 1048576 bytes"],
    );
    // A 2019 counts file whose header never ends.
    write_long(&d.join("counts.csv"), "HashOwner,", b'x', 5 << 20);
    std::fs::write(d.join("durations.csv"), "x\n").unwrap();
    std::fs::write(
        d.join("azure2019.toml"),
        "[workload.trace]\nformat = \"azure2019\"\ninvocations_path = \"counts.csv\"\n\
         durations_path = \"durations.csv\"\n",
    )
    .unwrap();
    refused(
        &d,
        &["simulate", "azure2019.toml"],
        &["counts.csv:1", "longer than the limit"],
    );
    // A JSON Lines log whose first input line never ends.
    let log = small_log(&d, "run.jsonl");
    let header = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    write_long(
        &d.join("endless.jsonl"),
        &format!("{header}\n{{\"at_us\":"),
        b'7',
        1 << 20,
    );
    refused(
        &d,
        &["replay", "endless.jsonl"],
        &[
            "endless.jsonl",
            "line 2",
            "longer than the limit of 65536 bytes",
        ],
    );
    // A binary log whose first input claims the largest record (256 MiB)
    // and holds 100 bytes: refused as truncated, costing what it holds.
    succeeds(
        &d,
        &[
            "simulate",
            "--invocations",
            "3",
            "-q",
            "--record",
            "run.cslog",
        ],
    );
    let bytes = std::fs::read(d.join("run.cslog")).unwrap();
    // Magic (8), version (4), the header record: tag, length, payload, check.
    let header_bytes = u32::from_le_bytes(bytes[13..17].try_into().unwrap()) as usize;
    let mut claim = bytes[..12 + 5 + header_bytes + 4].to_vec();
    claim.push(b'I');
    claim.extend_from_slice(&(1u32 << 28).to_le_bytes());
    claim.extend_from_slice(&[0; 100]);
    std::fs::write(d.join("claim.cslog"), claim).unwrap();
    refused(
        &d,
        &["replay", "claim.cslog"],
        &["claim.cslog", "truncated", "payload"],
    );
    // A 50 MB scenario: refused by its size, before parsing.
    write_long(&d.join("huge.toml"), "seed = 1\n# ", b'x', 50 << 20);
    refused(
        &d,
        &["simulate", "huge.toml"],
        &["huge.toml", "larger than the limit of 4194304 bytes"],
    );
    // Devices and directories, as every kind of file read.
    for args in [
        &["simulate", "/dev/zero"][..],
        &["replay", "/dev/zero"],
        &["merge", "/dev/zero"],
        &["run-job", "/dev/zero"],
        &["log", "convert", "/dev/zero", "out.jsonl"],
    ] {
        if Path::new("/dev/zero").exists() {
            refused(&d, args, &["/dev/zero", "a device, not a regular file"]);
        }
    }
    std::fs::create_dir(d.join("folder.toml")).unwrap();
    refused(
        &d,
        &["simulate", "folder.toml"],
        &["folder.toml", "a directory, not a regular file"],
    );
    refused(
        &d,
        &["replay", "folder.toml"],
        &["folder.toml", "a directory, not a regular file"],
    );
    // A FIFO would block the open until a writer came: refused unopened.
    if fifo(&d.join("pipe")) {
        for args in [
            &["simulate", "pipe"][..],
            &["replay", "pipe"],
            &["merge", "pipe"],
            &["run-job", "pipe"],
        ] {
            refused(
                &d,
                args,
                &["pipe", "a FIFO (named pipe), not a regular file"],
            );
        }
        std::fs::write(
            d.join("fifo-trace.toml"),
            "[workload.trace]\npath = \"pipe\"\n",
        )
        .unwrap();
        refused(&d, &["simulate", "fifo-trace.toml"], &["pipe", "a FIFO"]);
    }
}

// ---------------------------------------------------------------------------
// Outputs never destroy inputs

/// `replay LOG --events LOG` and every other output named as an input
/// (by the same path, another spelling or a hard link) is refused before
/// any file is created, and the input is left byte for byte.
#[test]
fn no_output_overwrites_an_input() {
    let d = scratch("outputs");
    let log = small_log(&d, "run.jsonl");
    let before = std::fs::read(&log).unwrap();
    refused(
        &d,
        &["replay", "run.jsonl", "--events", "run.jsonl"],
        &["--events", "run.jsonl", "an input of this run"],
    );
    std::fs::create_dir(d.join("sub")).unwrap();
    refused(
        &d,
        &["replay", "run.jsonl", "--events", "./sub/../run.jsonl"],
        &["--events", "the same file as run.jsonl"],
    );
    std::fs::hard_link(&log, d.join("sub/linked.jsonl")).unwrap();
    refused(
        &d,
        &["replay", "sub/linked.jsonl", "--events", "run.jsonl"],
        &["--events", "the same file as sub/linked.jsonl"],
    );
    refused(
        &d,
        &["log", "convert", "run.jsonl", "run.jsonl"],
        &["run.jsonl", "an input of this run"],
    );
    assert_eq!(std::fs::read(&log).unwrap(), before, "the log is untouched");
    // A scenario recorded over, or a trace.
    std::fs::write(d.join("s.toml"), "[workload]\ninvocations = 5\n").unwrap();
    refused(
        &d,
        &["simulate", "s.toml", "--record", "s.toml"],
        &["--record", "s.toml", "an input"],
    );
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/azure2021-slice-998.csv"),
        d.join("slice.csv"),
    )
    .unwrap();
    std::fs::write(d.join("t.toml"), "[workload.trace]\npath = \"slice.csv\"\n").unwrap();
    let trace_before = std::fs::read(d.join("slice.csv")).unwrap();
    refused(
        &d,
        &["simulate", "t.toml", "--record", "slice.csv"],
        &["--record", "slice.csv", "an input"],
    );
    assert_eq!(std::fs::read(d.join("slice.csv")).unwrap(), trace_before);
    // A job's result over the job, a plot over a result.
    succeeds(
        &d,
        &[
            "compare",
            "s.toml",
            "--host-selection",
            "first-fit,best-fit",
            "--seeds",
            "1",
            "--emit-jobs",
            "jobs",
        ],
    );
    refused(
        &d,
        &["run-job", "jobs/job-0000.json", "-o", "jobs/job-0000.json"],
        &["--output", "jobs/job-0000.json", "an input"],
    );
    succeeds(
        &d,
        &["run-job", "jobs/job-0000.json", "-o", "results/r0.json"],
    );
    succeeds(
        &d,
        &["run-job", "jobs/job-0001.json", "-o", "results/r1.json"],
    );
    refused(
        &d,
        &["merge", "results", "--svg", "results/r1.json"],
        &["--svg", "results/r1.json", "an input"],
    );
    // Standard output redirected onto the input: refused, nothing written.
    let (output, _) = run_in(&d, &["replay", "run.jsonl", "--json"], Some(&log));
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("standard output is run.jsonl"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        std::fs::read(&log).unwrap().len(),
        0,
        "only the shell wrote"
    );
}

// ---------------------------------------------------------------------------
// Refusals come before the run

/// What would fail thousands of steps into a run (arrival times past the
/// core's limit, a fault time past it, a host that does not exist, an
/// endless repair) is refused at load, naming the key.
#[test]
fn what_the_run_would_refuse_is_refused_at_load() {
    let d = scratch("up-front");
    let cases: [(&str, &[&str]); 5] = [
        (
            // A profile that is silent but for 1 µs in 1,080 s at 10^-6:
            // the 25th arrival passed 2^62 µs in the run.
            "[workload]\ninvocations = 1000\ninterarrival_mean = \"1s\"\n\
             [[workload.rate_profile]]\nduration = \"1s\"\nmultiplier = 0.000001\n\
             [[workload.rate_profile]]\nduration = \"300h\"\nmultiplier = 0\n",
            &["workload: invocations = 1000", "past the latest input time"],
        ),
        (
            "[workload]\ninvocations = 200000000\ninterarrival_mean = \"300h\"\n",
            &[
                "workload: invocations = 200000000",
                "past the latest input time",
            ],
        ),
        (
            "[[faults.at]]\ntime = \"1300000000h\"\nhost_down = 0\n",
            &[
                "faults.at[0].time",
                "past the latest input time the core accepts",
            ],
        ),
        (
            "[[faults.at]]\ntime = \"1s\"\nhost_up = 4\n",
            &["faults.at[0].host_up", "host 4 does not exist", "4 hosts"],
        ),
        (
            "[faults]\ncrashes_per_hour = 1\nrepair = \"2000000000h\"\n",
            &["faults.repair", "above the longest duration"],
        ),
    ];
    for (index, (scenario, words)) in cases.iter().enumerate() {
        let name = format!("s{index}.toml");
        std::fs::write(d.join(&name), scenario).unwrap();
        let mut words = words.to_vec();
        words.push(&name);
        refused(&d, &["simulate", &name], &words);
    }
}

// ---------------------------------------------------------------------------
// Honest accounting

/// Every host down from the start, under queueing: the invocations wait
/// forever. The summary and the report say how many are still queued when
/// the run stops, apart from those that ended (and none is unaccounted).
#[test]
fn invocations_left_queued_are_counted_apart_from_those_that_ended() {
    let d = scratch("accounting");
    let mut scenario = String::from(
        "[provider]\npressure = \"queue\"\nqueue_capacity = 1000\n\
         [workload]\ninvocations = 40\n",
    );
    for host in 0..4 {
        scenario += &format!("[[faults.at]]\ntime = \"0s\"\nhost_down = {host}\n");
    }
    std::fs::write(d.join("down.toml"), scenario).unwrap();
    let json = succeeds(&d, &["simulate", "down.toml", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let key = |name: &str| report[name].as_u64().unwrap_or_else(|| panic!("{name}"));
    let ended = key("completed") + key("failed") + key("timed_out") + key("rejected");
    assert_eq!(key("invocations"), 40);
    assert_eq!(ended, 0, "{json}");
    assert_eq!(key("queued_at_end"), 40);
    assert_eq!(key("in_flight_at_end"), 0);
    assert_eq!(key("retrying_at_end"), 0);
    assert_eq!(key("unaccounted_invocations"), 0);
    let summary = succeeds(&d, &["simulate", "down.toml"]);
    let line = summary
        .lines()
        .find(|line| line.starts_with("at the end:"))
        .unwrap();
    assert_eq!(
        line,
        "at the end:           40 invocations never ended (40 queued, 0 running, 0 waiting to retry), 0 unaccounted for; 0 containers holding RAM or a slot"
    );
}

// ---------------------------------------------------------------------------
// merge and run-job verify what they read

/// Emits a two-job comparison and runs both; returns the two results'
/// paths.
fn two_results(d: &Path) -> [PathBuf; 2] {
    std::fs::write(d.join("s.toml"), "[workload]\ninvocations = 20\n").unwrap();
    succeeds(
        d,
        &[
            "compare",
            "s.toml",
            "--set",
            "provider.pressure=reject,queue",
            "--seeds",
            "1",
            "--emit-jobs",
            "jobs",
        ],
    );
    let results = [d.join("results/r0.json"), d.join("results/r1.json")];
    for (job, result) in ["jobs/job-0000.json", "jobs/job-0001.json"]
        .iter()
        .zip(&results)
    {
        succeeds(d, &["run-job", job, "-o", text(result)]);
    }
    results
}

/// Edits a JSON file in place, in a way that keeps its key order
/// (serde_json's map would sort the keys): the line of `key` (the first
/// one) replaced by `line`, or removed when `line` is empty.
fn edit_line(path: &Path, key: &str, line: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    let needle = format!("\"{key}\":");
    let mut found = false;
    let mut edited = String::new();
    for original in text.lines() {
        if !found && original.trim_start().starts_with(&needle) {
            found = true;
            if !line.is_empty() {
                let comma = if original.trim_end().ends_with(',') {
                    ","
                } else {
                    ""
                };
                edited += &format!("{line}{comma}\n");
            }
            continue;
        }
        edited += original;
        edited += "\n";
    }
    assert!(found, "no {key} in {}", path.display());
    std::fs::write(path, edited).unwrap();
}

/// Result files with a string, a NaN, a missing or an extra metric, and
/// jobs whose labels contradict their table or whose fingerprint is
/// malformed, are each refused naming the file and the field.
#[test]
fn merge_and_run_job_refuse_what_does_not_check() {
    let d = scratch("verify");
    let [r0, r1] = two_results(&d);
    succeeds(&d, &["merge", "results"]);
    let original = std::fs::read(&r1).unwrap();
    // (key, its new line or "" to remove it, what the refusal names)
    let damage: [(&str, &str, &[&str]); 6] = [
        (
            "completed",
            "\"completed\": \"12\"",
            &["report.completed", "\"12\", expected a whole number"],
        ),
        (
            "cost",
            "\"cost\": \"NaN\"",
            &["report.cost", "\"NaN\", expected a number ≥ 0"],
        ),
        (
            "cold_start_ratio",
            "\"cold_start_ratio\": 2.5",
            &[
                "report.cold_start_ratio",
                "2.5, expected a share from 0 to 1",
            ],
        ),
        ("cost", "", &["report.cost: missing"]),
        (
            "invocations",
            "\"bonus\": 1, \"invocations\": 20",
            &["report.bonus", "not a report key"],
        ),
        (
            "fingerprint",
            "\"fingerprint\": \"not-hex\"",
            &["grid.fingerprint `not-hex`", "16 lowercase hex digits"],
        ),
    ];
    for (key, line, words) in &damage {
        std::fs::write(&r1, &original).unwrap();
        edit_line(&r1, key, line);
        let mut words = words.to_vec();
        words.push("r1.json");
        let message = refused(&d, &["merge", text(&r0), text(&r1)], &words);
        assert!(!message.contains("r0.json"), "{key}: {message}");
    }
    // Jobs: a label that its table contradicts, a malformed fingerprint.
    let job = d.join("jobs/job-0001.json");
    let job_original = std::fs::read(&job).unwrap();
    edit_line(&job, "pressure", "\"pressure\": \"reject\"");
    refused(
        &d,
        &["run-job", "jobs/job-0001.json"],
        &[
            "job-0001.json",
            "scenario: provider.pressure is not queue, its label in combination 1",
        ],
    );
    std::fs::write(&job, &job_original).unwrap();
    edit_line(&job, "fingerprint", "\"fingerprint\": \"ABC\"");
    refused(
        &d,
        &["run-job", "jobs/job-0001.json"],
        &["job-0001.json", "grid.fingerprint `ABC`"],
    );
    std::fs::write(&job, &job_original).unwrap();
    let text = std::fs::read_to_string(&job).unwrap();
    let start = text.find("\"seeds\": [").unwrap();
    let end = start + text[start..].find(']').unwrap();
    std::fs::write(
        &job,
        format!("{}\"seeds\": [5, 5{}", &text[..start], &text[end..]),
    )
    .unwrap();
    refused(
        &d,
        &["run-job", "jobs/job-0001.json"],
        &["job-0001.json", "grid.seeds lists 5 twice"],
    );
}

// ---------------------------------------------------------------------------
// Messages a person can act on

/// No dependency's Debug text, a BOM named, long values cut, TOML's
/// integer limit and the product of `failure_per_phase_ppm` named, no
/// index printed as 2^64 − 1.
#[test]
fn messages_name_the_problem_in_the_files_words() {
    let d = scratch("messages");
    // A binary log with a damaged input record: bincode's error in words.
    let binary = d.join("run.cslog");
    succeeds(
        &d,
        &[
            "simulate",
            "--invocations",
            "5",
            "-q",
            "--record",
            "run.cslog",
        ],
    );
    let bytes = std::fs::read(&binary).unwrap();
    // Cut inside the last record: the file ends in it.
    std::fs::write(d.join("cut.cslog"), &bytes[..bytes.len() - 3]).unwrap();
    let message = refused(&d, &["replay", "cut.cslog"], &["cut.cslog"]);
    for debug in ["UnexpectedEnd", "{ ", "additional", "DecodeError"] {
        assert!(!message.contains(debug), "{message}");
    }
    // A BOM before a log: named.
    let log = small_log(&d, "run.jsonl");
    let mut with_bom = "\u{feff}".as_bytes().to_vec();
    with_bom.extend(std::fs::read(&log).unwrap());
    std::fs::write(d.join("bom.jsonl"), with_bom).unwrap();
    refused(
        &d,
        &["replay", "bom.jsonl"],
        &["bom.jsonl", "byte order mark (BOM)"],
    );
    // A BOM before a result file: named; before a trace's header: skipped.
    let [r0, _] = two_results(&d);
    let mut with_bom = "\u{feff}".as_bytes().to_vec();
    with_bom.extend(std::fs::read(&r0).unwrap());
    std::fs::write(d.join("bom-result.json"), with_bom).unwrap();
    refused(
        &d,
        &["merge", "bom-result.json"],
        &["bom-result.json", "byte order mark (BOM)"],
    );
    let slice = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/azure2021-slice-998.csv");
    let mut with_bom = "\u{feff}".as_bytes().to_vec();
    with_bom.extend(std::fs::read(slice).unwrap());
    std::fs::write(d.join("bom.csv"), with_bom).unwrap();
    std::fs::write(
        d.join("bom-trace.toml"),
        "[workload.trace]\npath = \"bom.csv\"\n",
    )
    .unwrap();
    let summary = succeeds(&d, &["simulate", "bom-trace.toml", "-q", "--json"]);
    assert!(summary.contains("\"invocations\":998"), "{summary}");
    // A check before any input: no index of 2^64 − 1.
    let header = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    std::fs::write(
        d.join("check-first.jsonl"),
        format!("{header}\n{{\"check\":[1]}}\n"),
    )
    .unwrap();
    let message = refused(
        &d,
        &["replay", "check-first.jsonl"],
        &["check-first.jsonl", "before the first input"],
    );
    assert!(!message.contains("18446744073709551615"), "{message}");
    // A 100 KB value echoed: cut, with its length.
    let long = "x".repeat(100_000);
    let set = format!("provider.policy.host_selection={long}");
    refused(&d, &["simulate", "--set", &set], &["… (100000 bytes)"]);
    // A flag's value, refused by the argument parser (a usage error, exit
    // 2, with its usage lines): cut too.
    let (output, _) = run_in(&d, &["simulate", "--host-selection", &long], None);
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stderr.len() < 2_000, "{} bytes", output.stderr.len());
    std::fs::write(
        d.join("long.toml"),
        format!("[provider.policy]\nhost_selection = \"{long}\"\n"),
    )
    .unwrap();
    refused(
        &d,
        &["simulate", "long.toml"],
        &[
            "long.toml",
            "provider.policy.host_selection",
            "(100000 bytes)",
        ],
    );
    // TOML's integer limit, in a file and in --set.
    std::fs::write(d.join("big.toml"), "seed = 99999999999999999999\n").unwrap();
    refused(
        &d,
        &["simulate", "big.toml"],
        &[
            "big.toml",
            "line 1",
            "TOML's limit of 9223372036854775807 (2^63 − 1)",
        ],
    );
    refused(
        &d,
        &[
            "simulate",
            "--set",
            "workload.invocations=99999999999999999999",
        ],
        &["--set workload.invocations", "TOML's limit"],
    );
    // The product of failure_per_phase_ppm over the three phases.
    std::fs::write(
        d.join("fail.toml"),
        "[workload]\nfailure_per_phase_ppm = 400000\n",
    )
    .unwrap();
    refused(
        &d,
        &["simulate", "fail.toml"],
        &[
            "fail.toml",
            "failure_per_phase_ppm = 400000 ppm",
            "fails with 1200000 ppm, above 1000000 ppm",
            "at most 333333 ppm per phase",
        ],
    );
}

/// Issue 15's four-input log, and its copy twin: a fault at a time after
/// the transfer ended, nothing in between. Replay refuses the fault (exit
/// 1, one line) where core used to panic (exit 101).
#[test]
fn the_four_input_race_logs_are_refused_not_a_crash() {
    let d = scratch("race");
    let regressions = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/log_decode");
    for (file, problem) in [
        (
            "issue15-download-fails-after-download.jsonl",
            "no download of img#0.0 is in progress",
        ),
        (
            "issue15-copy-fails-after-copy.jsonl",
            "no copy of img#0.0 to host#0 is in progress",
        ),
    ] {
        let path = regressions.join(file);
        refused(&d, &["replay", text(&path)], &[file, "step 3", problem]);
    }
}
