//! The fuzz targets' seed corpora and crash regressions, replayed on the
//! stable toolchain: every file under `fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/` goes through the same function the cargo-fuzz
//! target calls (`coldstart::harness::fuzzing`), so CI checks them without nightly.
//! A failure names the file; `cargo +nightly fuzz run <target> <file>`
//! reruns it under libFuzzer.

use std::path::{Path, PathBuf};

fn files_of(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files = Vec::new();
    for folder in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(folder).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a readable corpus folder").path();
            if path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn replay(target: &str, body: fn(&[u8]), files_min: usize) {
    let files = files_of(target);
    assert!(
        files.len() >= files_min,
        "{target}: {} corpus files, expected at least {files_min}",
        files.len()
    );
    for path in files {
        let bytes = std::fs::read(&path).expect("a readable corpus file");
        let result = std::panic::catch_unwind(|| body(&bytes));
        assert!(result.is_ok(), "{target}: {} fails", path.display());
    }
}

#[test]
fn step_corpus_replays() {
    replay("step", coldstart::harness::fuzzing::step_target, 5);
}

#[test]
fn log_decode_corpus_replays() {
    replay(
        "log_decode",
        coldstart::harness::fuzzing::log_decode_target,
        5,
    );
}

#[test]
fn policy_chaos_corpus_replays() {
    replay(
        "policy_chaos",
        coldstart::harness::fuzzing::policy_chaos_target,
        5,
    );
}

#[test]
fn scenario_parse_corpus_replays() {
    replay(
        "scenario_parse",
        coldstart::harness::fuzzing::scenario_parse_target,
        3,
    );
}
