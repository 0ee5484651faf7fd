//! Scaling: the cost of one input, in a steady state, as the provider grows
//! along one axis at a time — hosts (10 to 10^4), registered functions
//! (10^2 to 10^5), invocations waiting in the queue (10^2 to 10^5) and
//! images held in the main-storage and host caches (10^2 to 10^4). Each
//! input is one arrival (an `Invoke`), with every timer due by its time
//! fired first; throughput is in inputs per second, so a flat line across
//! the sizes of an axis is what O(log n) per event looks like.
//!
//! `cargo bench --bench scaling [-- AXIS]`, AXIS one of `hosts`,
//! `functions`, `queue`, `images`.
//!
//! For instruction counts (repeatable on a loaded machine), the same runs
//! without criterion: `SCALING_PROBE=AXIS[:SIZE]` runs each size once,
//! prints inputs, events and wall time, and spends the measured inputs in
//! `measured_inputs`, so that
//!
//! ```sh
//! SCALING_PROBE=hosts:10000 valgrind --tool=callgrind --collect-atstart=no \
//!     --toggle-collect='*measured_inputs*' target/release/deps/scaling-HASH
//! ```
//!
//! counts exactly those inputs' instructions (`SCALING_PROBE_INPUTS`, default
//! 100,000, sets how many; `SCALING_WARM_UP_INPUTS` the warm-up, default
//! 200,000 plus four times a queue's capacity).

#[path = "common/mod.rs"]
mod common;

use coldstart::{Events, Pressure, Provider};
use common::{Arrivals, Scale};
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Arrivals fed before measuring, so caches, idle pools and the queue have
/// filled: several times the largest population an axis builds (a queue
/// of capacity Q fills at a quarter of the arrival rate, so 4Q more).
fn warm_up_inputs(scale: &Scale) -> u64 {
    let queue_fill = match scale.pressure {
        Pressure::Queue { capacity } => 4 * u64::from(capacity),
        Pressure::Reject => 0,
    };
    std::env::var("SCALING_WARM_UP_INPUTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000 + queue_fill)
}

/// One axis: its name, and for each size the run to make.
fn axis(name: &str) -> Vec<(u64, Scale)> {
    let base = Scale::baseline();
    match name {
        // Offered load 90%: first-fit packs the low-numbered hosts, so a
        // scan for room passes many full hosts.
        "hosts" => [10u32, 100, 1_000, 10_000]
            .into_iter()
            .map(|hosts| (u64::from(hosts), Scale { hosts, ..base }))
            .collect(),
        // One in ten functions per image; uniform popularity, so most
        // arrivals of a large population find no warm container.
        "functions" => [100u32, 1_000, 10_000, 100_000]
            .into_iter()
            .map(|functions| {
                (
                    u64::from(functions),
                    Scale {
                        functions,
                        images: 100,
                        main_storage_images: 100,
                        keep_alive_us: 10_000_000,
                        ..base
                    },
                )
            })
            .collect(),
        // Overloaded (125%) in queue mode, so the queue stays full at its
        // capacity: each completion starts the head, each arrival past
        // capacity is rejected.
        "queue" => [100u32, 1_000, 10_000, 100_000]
            .into_iter()
            .map(|capacity| {
                (
                    u64::from(capacity),
                    Scale {
                        hosts: 10,
                        pressure: Pressure::Queue { capacity },
                        load_percent: 125,
                        keep_alive_us: 60_000_000,
                        ..base
                    },
                )
            })
            .collect(),
        // One function per image, uniform popularity, a keep-alive of 1 s:
        // cold starts find their image on the host's disk (every host
        // caches all images) and refresh its LRU position; main storage
        // holds 80% of them, so it evicts and downloads again.
        "images" => [100u32, 1_000, 10_000]
            .into_iter()
            .map(|images| {
                (
                    u64::from(images),
                    Scale {
                        hosts: 10,
                        functions: images,
                        images,
                        main_storage_images: images * 4 / 5,
                        keep_alive_us: 1_000_000,
                        ..base
                    },
                )
            })
            .collect(),
        other => panic!("unknown axis {other}: hosts, functions, queue or images"),
    }
}

const AXES: [&str; 4] = ["hosts", "functions", "queue", "images"];

/// The inputs whose cost is counted. Not inlined, so a profiler can count
/// exactly these (`--toggle-collect='*measured_inputs*'`).
#[inline(never)]
fn measured_inputs(provider: &mut Provider, arrivals: &mut Arrivals, inputs: u64) -> u64 {
    let mut out = Events::new();
    let mut events = 0u64;
    for _ in 0..inputs {
        let input = arrivals.next_input();
        provider.apply_into(&input, &mut out).expect("valid input");
        events += out.len() as u64;
    }
    events
}

/// `SCALING_PROBE=AXIS[:SIZE]`: each size once, outside criterion.
fn probe(spec: &str) {
    let (name, only) = match spec.split_once(':') {
        Some((name, size)) => (name, Some(size.parse::<u64>().expect("a size"))),
        None => (spec, None),
    };
    let inputs: u64 = std::env::var("SCALING_PROBE_INPUTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    for (size, scale) in axis(name) {
        if only.is_some_and(|only| only != size) {
            continue;
        }
        let (mut provider, mut arrivals) = scale.steady(warm_up_inputs(&scale));
        let start = Instant::now();
        let events = measured_inputs(&mut provider, &mut arrivals, inputs);
        let elapsed = start.elapsed();
        let m = provider.metrics();
        println!(
            "{name} {size}: {inputs} inputs, {events} events ({:.2} per input), {:.0} ns per input; \
             queued now {}, cold starts {}, warm starts {}, rejected {}",
            events as f64 / inputs as f64,
            elapsed.as_nanos() as f64 / inputs as f64,
            m.queued_now,
            m.cold_starts,
            m.warm_starts,
            m.rejected_resource_unavailable + m.rejected_queue_full,
        );
    }
}

fn scaling(c: &mut Criterion) {
    for name in AXES {
        let mut group = c.benchmark_group(format!("scaling/{name}"));
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(2));
        group.throughput(Throughput::Elements(1));
        for (size, scale) in axis(name) {
            let (mut provider, mut arrivals) = scale.steady(warm_up_inputs(&scale));
            let mut out = Events::new();
            group.bench_function(BenchmarkId::from_parameter(size), |b| {
                // The provider runs on across iterations: a steady stream.
                b.iter(|| {
                    let input = arrivals.next_input();
                    provider.apply_into(&input, &mut out).expect("valid input");
                    black_box(out.len())
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, scaling);

fn main() {
    if let Ok(spec) = std::env::var("SCALING_PROBE") {
        probe(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
