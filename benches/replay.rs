//! Replay of a recorded binary log, the speed issue 5 asks for (at least a
//! million inputs per second). The log is recorded once, in memory, from
//! the default scenario; each iteration replays it from its bytes, as
//! `coldstart replay` does from a file: decoding every record, checking its
//! check, stepping the provider and digesting every event. Throughput is
//! reported in inputs (log steps) per second.
//!
//! `cargo bench --bench replay`; `REPLAY_INVOCATIONS=N` changes the size.

use coldstart::driver::DriverOptions;
use coldstart::log::{replay, LogFormat, LogReader, Recorder};
use coldstart::simulate::{default_config, default_workload};
use coldstart::{Builtin, Pressure};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

/// Release-build options: no invariant check after each step.
fn fast() -> DriverOptions {
    DriverOptions::default().with_check_invariants(false)
}

fn recorded_log(invocations: u64) -> (Vec<u8>, u64) {
    let mut recorder = Recorder::new(
        Vec::new(),
        LogFormat::Binary,
        default_config(Pressure::Reject),
        Builtin::default(),
        fast(),
    )
    .expect("the default configuration is valid");
    let inputs = default_workload(7, invocations)
        .inputs()
        .expect("the default workload is valid");
    recorder.run_with(inputs, |_| {}).expect("the run succeeds");
    let (_, trailer, bytes) = recorder.finish().expect("the log is written");
    (bytes, trailer.steps)
}

fn replay_binary_log(c: &mut Criterion) {
    let invocations = std::env::var("REPLAY_INVOCATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    let (bytes, steps) = recorded_log(invocations);
    let mut group = c.benchmark_group("replay");
    group.sample_size(10);
    group.throughput(Throughput::Elements(steps));
    group.bench_function("binary log, default scenario", |b| {
        b.iter(|| {
            let reader = LogReader::new(black_box(&bytes[..])).expect("a valid log");
            let replayed = replay(reader, fast(), None, false, |_| {}).expect("replays");
            black_box(replayed.driver.digest())
        })
    });
    group.bench_function("binary log, default scenario, --verify", |b| {
        b.iter(|| {
            let reader = LogReader::new(black_box(&bytes[..])).expect("a valid log");
            let replayed = replay(reader, fast(), None, true, |_| {}).expect("verifies");
            black_box(replayed.driver.digest())
        })
    });
    group.finish();
}

criterion_group!(benches, replay_binary_log);
criterion_main!(benches);
