//! `coldstart gen`: synthetic days in the Azure layouts, imported back by
//! `simulate` through the scenario file written beside them.

use std::path::{Path, PathBuf};
use std::process::Output;

fn coldstart(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_coldstart"))
        .args(args)
        .output()
        .expect("the coldstart binary runs")
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("coldstart-gen-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn gen_ok(layout: &str, dir: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["gen", layout, "--out", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let output = coldstart(&args);
    assert!(
        output.status.success(),
        "gen failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn simulate_json(scenario: &Path) -> serde_json::Value {
    let output = coldstart(&["simulate", scenario.to_str().unwrap(), "--json"]);
    assert!(
        output.status.success(),
        "simulate failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("a JSON report")
}

const SMALL: &[&str] = &[
    "--functions",
    "40",
    "--apps",
    "10",
    "--invocations",
    "3000",
    "--minutes",
    "6",
];

#[test]
fn a_2019_day_runs_with_every_invocation_and_repeats_byte_for_byte() {
    let dir = fresh_dir("2019");
    let written = gen_ok("azure2019", &dir, SMALL);
    assert_eq!(written.len(), 4, "{written:?}");
    assert!(written[3].ends_with("scenario.toml"));
    let report = simulate_json(&dir.join("scenario.toml"));
    assert_eq!(report["invocations"], 3000);
    assert_eq!(
        report["completed"], 3000,
        "1 s runs on ample hosts all complete"
    );

    let again = fresh_dir("2019-again");
    gen_ok("azure2019", &again, SMALL);
    for name in ["invocations.csv", "durations.csv", "memory.csv"] {
        assert_eq!(
            std::fs::read(dir.join(name)).unwrap(),
            std::fs::read(again.join(name)).unwrap(),
            "{name}"
        );
    }
    assert_eq!(
        simulate_json(&again.join("scenario.toml"))["events_digest"],
        report["events_digest"]
    );
    for d in [dir, again] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

#[test]
fn a_2021_day_with_log_normal_durations_and_a_diurnal_rate_runs() {
    let dir = fresh_dir("2021");
    let mut args = SMALL.to_vec();
    args.extend_from_slice(&[
        "--median-ms",
        "20..800",
        "--spread",
        "0.8",
        "--diurnal",
        "0.7",
        "--seed",
        "9",
    ]);
    let written = gen_ok("azure2021", &dir, &args);
    assert_eq!(written.len(), 2, "{written:?}");
    let report = simulate_json(&dir.join("scenario.toml"));
    assert_eq!(report["invocations"], 3000);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn gen_never_overwrites_and_names_what_is_wrong() {
    let dir = fresh_dir("refusals");
    gen_ok("azure2021", &dir, SMALL);
    let before = std::fs::read(dir.join("trace.csv")).unwrap();
    let output = coldstart(&[
        "gen",
        "azure2021",
        "--out",
        dir.to_str().unwrap(),
        "--seed",
        "5",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("trace.csv: already exists"), "{message}");
    assert_eq!(std::fs::read(dir.join("trace.csv")).unwrap(), before);

    for (extra, word) in [
        (&["--minutes", "2000"][..], "minutes"),
        (&["--apps", "5000"][..], "apps"),
        (&["--diurnal", "2"][..], "amplitude"),
        (&["--median-ms", "9"][..], "MIN..MAX"),
        (&["--median-ms", "50..10"][..], "median"),
    ] {
        let out = fresh_dir("bad");
        let mut args = vec!["gen", "azure2019", "--out", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        let output = coldstart(&args);
        assert_eq!(output.status.code(), Some(1), "{extra:?}");
        let message = String::from_utf8_lossy(&output.stderr);
        assert!(message.contains(word), "{extra:?}: {message}");
        assert_eq!(message.lines().count(), 1, "{message}");
        assert!(
            !out.join("scenario.toml").exists(),
            "nothing written on a refusal"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}
