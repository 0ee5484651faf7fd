//! Whole runs of the default scenario (`coldstart simulate`: 4 hosts, 8
//! images, 12 functions, reject under pressure), through the driver as the
//! command runs it, without the invariant check: throughput in invocations
//! per second. The workload is generated on the fly, as in the command.
//!
//! `cargo bench --bench run`; `RUN_INVOCATIONS=N` changes the size
//! (default 100,000).

use coldstart::simulate::{simulate, SimulateOptions};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;

fn default_scenario(c: &mut Criterion) {
    let invocations = std::env::var("RUN_INVOCATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let options = SimulateOptions::default()
        .with_invocations(invocations)
        .with_check_invariants(false);
    let mut group = c.benchmark_group("run");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(invocations));
    group.bench_function("default scenario", |b| {
        b.iter(|| {
            let simulation = simulate(black_box(options)).expect("the default scenario runs");
            black_box(simulation.report.digest)
        })
    });
    group.finish();
}

criterion_group!(benches, default_scenario);
criterion_main!(benches);
