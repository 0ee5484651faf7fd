//! The HTML report's overhead on the default scenario (`coldstart simulate
//! --html`): the same run without a report, and with the collector fed
//! every event plus the page rendered at the end. docs/performance.md has
//! the measured ratio (the bound: under 10% of the run's time).
//!
//! `cargo bench --bench html`; `RUN_INVOCATIONS=N` changes the size
//! (default 200,000, the default scenario's).

use coldstart::html::{render_run, Collector, RunInfo};
use coldstart::log::LogFormat;
use coldstart::simulate::{default_config, default_workload, simulate_with, SimulateOptions};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;

fn options() -> SimulateOptions {
    let invocations = std::env::var("RUN_INVOCATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    SimulateOptions::default()
        .with_invocations(invocations)
        .with_check_invariants(false)
}

/// One run with its report: what `simulate --html` adds to a run.
fn run_with_report(options: SimulateOptions) -> usize {
    let config = default_config(options.pressure);
    let mut collector = Collector::new(&config);
    let workload = default_workload(options.seed, options.invocations);
    collector.learn_functions(workload.inputs().expect("the default workload"));
    let simulation = simulate_with(options, None::<(std::io::Sink, LogFormat)>, |event| {
        collector.observe(event)
    })
    .expect("the default scenario runs");
    collector.finish(simulation.report.end_us);
    let info = RunInfo::new(
        simulation.scenario.clone(),
        "bench".to_string(),
        simulation.report.digest,
        simulation.report.events,
        simulation.report.steps,
    )
    .with_seed(Some(options.seed))
    .with_version(env!("CARGO_PKG_VERSION").to_string());
    render_run(&collector, &info, &simulation.metrics).len()
}

fn report_overhead(c: &mut Criterion) {
    let options = options();
    let mut group = c.benchmark_group("html");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Elements(options.invocations));
    group.bench_function("default scenario, no report", |b| {
        b.iter(|| {
            let simulation = simulate_with(
                black_box(options),
                None::<(std::io::Sink, LogFormat)>,
                |event| {
                    black_box(event);
                },
            )
            .expect("the default scenario runs");
            black_box(simulation.report.digest)
        })
    });
    group.bench_function("default scenario, with the HTML report", |b| {
        b.iter(|| black_box(run_with_report(black_box(options))))
    });
    group.finish();
}

criterion_group!(benches, report_overhead);
criterion_main!(benches);
