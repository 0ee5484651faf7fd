//! Host selection at scale: each built-in host-selection rule deciding cold
//! starts on 10^2, 10^3, 10^4 and 10^5 hosts, in a provider filled to a
//! loaded steady state by a stream of invocations.
//!
//! The state (`scale`): hosts of 8 slots (slots bind; RAM and disk do
//! not), 4 functions per host on 10 images, offered load 50% of the slots,
//! 10 s mean runs and a 50 s keep-alive (long enough runs that the mean
//! gap between arrivals is a whole number of µs at every size: 25 µs at
//! 10^5 hosts). Busy containers take about half the
//! slots and idle ones fill the rest, so most hosts have no free slot, a
//! cold start usually evicts an idle container, and every image is held
//! (mostly idle-pinned) on nearly every host: room first often finds no
//! room and falls back to first fit. About half the arrivals find no idle
//! container of their function and ask for a host.
//!
//! What is timed is the decision itself: the rule's `select_host`, called
//! by the core for each cold start of the stream, wrapped by a policy that
//! adds up the time spent inside it (two `Instant::now` calls per decision,
//! some 40 ns, are included). The re-keying of the hosts a step changed
//! (`Hosts::refresh`, just before the call) is the step's upkeep and is not
//! counted. Criterion's figure is time per decision (`iter_custom`), so a
//! bench takes several times its measurement time in wall clock: the rest of
//! each invocation runs untimed.
//!
//! `cargo bench --bench host_selection [-- FILTER]`, FILTER as
//! `host_selection/room-first/10000`.
//!
//! `HOST_SELECTION_PROBE=1` runs each rule at each size once, without
//! criterion, and prints a table of µs per decision, median and mean (and
//! the share of decisions where no host had room); `HOST_SELECTION_PROBE=RULE[:HOSTS]`
//! runs one rule (names as `--host-selection`: `room-first`, `best-fit`,
//! `random:0`, …) and optionally one size. `HOST_SELECTION_DECISIONS` sets
//! how many decisions are measured (default 20,000). Measured decisions go
//! through `measured_decision`, so
//!
//! ```sh
//! HOST_SELECTION_PROBE=room-first:10000 valgrind --tool=callgrind \
//!     --collect-atstart=no --toggle-collect='*measured_decision*' \
//!     target/release/deps/host_selection-HASH
//! ```
//!
//! counts exactly their instructions.
//!
//! Under `cargo test --benches` (criterion's test mode: no `--bench`
//! argument) only 10^2 hosts are built, with a short warm-up, so the test
//! build stays quick.

#[path = "common/mod.rs"]
mod common;

use coldstart::scenario::policy_names::{host_selection_name, HostSelectionName};
use coldstart::{
    Builtin, ContainerFacts, DiskFacts, Events, Eviction, HostId, HostSelection, HostView,
    IdlePlan, ImageFacts, PlacementRequest, Policies, Pressure, Provider, Usage,
};
use common::{Arrivals, Scale};
use criterion::{criterion_group, BenchmarkId, Criterion};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The host counts of the benches.
const SIZES: [u32; 4] = [100, 1_000, 10_000, 100_000];

/// The loaded state every rule is measured in (see the module's comment).
fn scale(hosts: u32) -> Scale {
    Scale {
        hosts,
        slots_per_host: 8,
        functions: 4 * hosts,
        images: 10,
        main_storage_images: 10,
        pressure: Pressure::Reject,
        load_percent: 50,
        keep_alive_us: 50_000_000,
        run_mean_us: 10_000_000,
        ..Scale::baseline()
    }
}

/// Arrivals before measuring: 30 per host, 75 s of simulated time at
/// 0.4 arrivals per host per second, so that idle containers have filled
/// the slots (the keep-alive is 50 s). `HOST_SELECTION_WARM_UP` overrides it.
fn warm_up_inputs(hosts: u32) -> u64 {
    std::env::var("HOST_SELECTION_WARM_UP")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(30 * u64::from(hosts))
}

/// What the bench reads of the decisions, shared between the policy (which
/// the provider owns) and the bench.
#[derive(Debug, Default)]
struct Counters {
    /// Whether decisions now count as measured (`measured_decision`).
    measuring: Cell<bool>,
    decisions: Cell<u64>,
    spent: Cell<Duration>,
    /// Whether to count decisions where no host had room
    /// (`first_host_with_room` is none): the probe's, outside the timed part.
    count_no_room: Cell<bool>,
    no_room: Cell<u64>,
    /// In the probe: each measured decision's time, for the median (which a
    /// preemption inside one decision does not move, unlike the mean).
    each: RefCell<Vec<Duration>>,
}

/// Builtin, with the time spent in its host selection added up.
#[derive(Clone, Debug)]
struct Timed {
    inner: Builtin,
    counters: Rc<Counters>,
}

impl Timed {
    fn new(host_selection: HostSelection, keep_alive_us: u64, counters: Rc<Counters>) -> Timed {
        Timed {
            inner: Builtin::default()
                .with_host_selection(host_selection)
                .with_keep_alive_us(keep_alive_us),
            counters,
        }
    }
}

/// A decision during the warm-up.
#[inline(never)]
fn warm_up_decision(
    policy: &mut Builtin,
    view: &dyn HostView,
    request: &PlacementRequest,
) -> Option<HostId> {
    policy.select_host(view, request)
}

/// A measured decision: the function callgrind's toggle names.
#[inline(never)]
fn measured_decision(
    policy: &mut Builtin,
    view: &dyn HostView,
    request: &PlacementRequest,
) -> Option<HostId> {
    policy.select_host(view, request)
}

impl Policies for Timed {
    fn select_host(&mut self, view: &dyn HostView, request: &PlacementRequest) -> Option<HostId> {
        let counters = &*self.counters;
        if !counters.measuring.get() {
            return warm_up_decision(&mut self.inner, view, request);
        }
        if counters.count_no_room.get() && view.first_host_with_room(request).is_none() {
            counters.no_room.set(counters.no_room.get() + 1);
        }
        let start = Instant::now();
        let host = measured_decision(&mut self.inner, view, request);
        let took = start.elapsed();
        counters.spent.set(counters.spent.get() + took);
        if counters.count_no_room.get() {
            counters.each.borrow_mut().push(took);
        }
        counters.decisions.set(counters.decisions.get() + 1);
        host
    }

    fn warm_priority(&mut self, container: &ContainerFacts) -> u64 {
        self.inner.warm_priority(container)
    }

    fn join_priority(&mut self, container: &coldstart::JoinFacts) -> u64 {
        self.inner.join_priority(container)
    }

    fn join_before_waking(&mut self, join: &coldstart::JoinFacts, idle: &ContainerFacts) -> bool {
        self.inner.join_before_waking(join, idle)
    }

    fn idle_eviction_priority(&mut self, container: &ContainerFacts) -> u64 {
        self.inner.idle_eviction_priority(container)
    }

    fn keep_alive_us(&mut self, container: &ContainerFacts) -> u64 {
        self.inner.keep_alive_us(container)
    }

    fn idle_plan(&mut self, container: &ContainerFacts) -> IdlePlan {
        self.inner.idle_plan(container)
    }

    fn image_priority(&mut self, image: &ImageFacts) -> u64 {
        self.inner.image_priority(image)
    }

    fn evicted(&mut self, eviction: &Eviction) {
        self.inner.evicted(eviction);
    }

    fn collection_target_bytes(&mut self, disk: &DiskFacts) -> Option<u64> {
        self.inner.collection_target_bytes(disk)
    }

    fn desired_containers(
        &mut self,
        facts: &coldstart::ScaleFacts,
    ) -> Option<coldstart::ScaleDecision> {
        self.inner.desired_containers(facts)
    }

    fn bill(&self, usage: &Usage) -> u64 {
        self.inner.bill(usage)
    }

    fn bill_container(&self, usage: &coldstart::ContainerUsage) -> Option<u64> {
        self.inner.bill_container(usage)
    }
}

/// A provider run by `rule` at `hosts` hosts, fed `warm_up` arrivals, the
/// stream that continues from there, and its policy's counters, measuring
/// from here on.
struct Filled {
    provider: Provider<Timed>,
    arrivals: Arrivals,
    counters: Rc<Counters>,
}

fn filled(rule: HostSelection, hosts: u32, warm_up: u64) -> Filled {
    let scale = scale(hosts);
    let counters = Rc::new(Counters::default());
    let policy = Timed::new(rule, scale.keep_alive_us, Rc::clone(&counters));
    let mut provider = scale.provider_with(policy);
    let mut arrivals = scale.arrivals(7);
    let mut out = Events::new();
    for _ in 0..warm_up {
        let input = arrivals.next_input();
        provider.apply_into(&input, &mut out).expect("valid input");
    }
    counters.measuring.set(true);
    Filled {
        provider,
        arrivals,
        counters,
    }
}

/// Feeds arrivals until `decisions` more decisions have been made; returns
/// the time spent inside them and the inputs it took.
fn decide(run: &mut Filled, decisions: u64) -> (Duration, u64) {
    let mut out = Events::new();
    let counters = Rc::clone(&run.counters);
    let (before_decisions, before_spent) = (counters.decisions.get(), counters.spent.get());
    let mut inputs = 0;
    while counters.decisions.get() - before_decisions < decisions {
        let input = run.arrivals.next_input();
        run.provider
            .apply_into(&input, &mut out)
            .expect("valid input");
        inputs += 1;
    }
    (counters.spent.get() - before_spent, inputs)
}

fn name(rule: HostSelection) -> String {
    host_selection_name(HostSelectionName::Rule(rule))
}

/// Whether criterion runs in test mode (`cargo test --benches`: no
/// `--bench` argument).
fn test_mode() -> bool {
    !std::env::args().any(|argument| argument == "--bench")
}

fn host_selection(c: &mut Criterion) {
    let quick = test_mode();
    let sizes: &[u32] = if quick { &SIZES[..1] } else { &SIZES };
    for rule in HostSelection::ALL {
        let mut group = c.benchmark_group(format!("host_selection/{}", name(rule)));
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(200));
        group.measurement_time(Duration::from_millis(500));
        for &hosts in sizes {
            let warm_up = if quick { 1_000 } else { warm_up_inputs(hosts) };
            let mut run = filled(rule, hosts, warm_up);
            group.bench_function(BenchmarkId::from_parameter(hosts), |b| {
                b.iter_custom(|iters| decide(&mut run, iters).0)
            });
        }
        group.finish();
    }
}

/// `HOST_SELECTION_PROBE`: each rule (or one) at each size (or one) once,
/// outside criterion, as a table.
fn probe(spec: &str) {
    let (only_rule, only_size): (Option<String>, Option<u32>) = match spec {
        "1" | "all" => (None, None),
        _ => match spec.rsplit_once(':') {
            Some((rule, size)) if size.parse::<u32>().is_ok() => {
                (Some(rule.to_string()), size.parse().ok())
            }
            _ => (Some(spec.to_string()), None),
        },
    };
    let decisions: u64 = std::env::var("HOST_SELECTION_DECISIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let sizes: Vec<u32> = SIZES
        .into_iter()
        .filter(|&size| only_size.is_none_or(|only| only == size))
        .collect();
    print!("| rule |");
    for size in &sizes {
        print!(" {size} hosts |");
    }
    println!();
    print!("|---|");
    for _ in &sizes {
        print!("---:|");
    }
    println!();
    for rule in HostSelection::ALL {
        let rule_name = name(rule);
        if only_rule.as_ref().is_some_and(|only| *only != rule_name) {
            continue;
        }
        print!("| {rule_name} |");
        for &hosts in &sizes {
            let mut run = filled(rule, hosts, warm_up_inputs(hosts));
            run.counters.count_no_room.set(true);
            let (spent, inputs) = decide(&mut run, decisions);
            let us = spent.as_secs_f64() * 1e6 / decisions as f64;
            let mut each = run.counters.each.take();
            each.sort_unstable();
            let median = each[each.len() / 2].as_secs_f64() * 1e6;
            let no_room = 100.0 * run.counters.no_room.get() as f64 / decisions as f64;
            let per_input = 100.0 * decisions as f64 / inputs as f64;
            print!(" {median:.3} / {us:.3} ({no_room:.0}% no room, {per_input:.0}% of inputs) |");
            use std::io::Write;
            std::io::stdout().flush().ok();
        }
        println!();
    }
    println!(
        "\nµs per decision, median / mean of {decisions}; in brackets: the decisions where no \
         host had room, and decisions per invocation"
    );
}

criterion_group!(benches, host_selection);

fn main() {
    if let Ok(spec) = std::env::var("HOST_SELECTION_PROBE") {
        probe(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
