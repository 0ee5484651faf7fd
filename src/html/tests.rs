//! The collector against the provider: every gauge it rebuilds from the
//! events must equal the provider's own state after every step.

use super::*;
use crate::driver::{Driver, DriverOptions};
use crate::input::{Command, Input};
use crate::report::Latencies;
use crate::scenario::{self, Scenario};
use crate::workload::faults::{WithCrashes, WithScheduled};
use crate::{HostId, Provider};

/// Runs `scenario` step by step, checking the collector after each step;
/// returns the finished collector and the provider. The collector keeps
/// the summary's latencies too, and they must equal those of a
/// `Latencies` fed the same events on its own.
fn run_checked(scenario: &Scenario) -> (Collector, Provider) {
    let mut inputs = scenario.inputs().expect("the scenario's inputs");
    let scheduled = WithScheduled::new(&mut inputs, scenario.faults.scheduled.clone());
    let inputs: Box<dyn Iterator<Item = Input>> = match scenario.faults.random {
        None => Box::new(scheduled),
        Some(options) => Box::new(WithCrashes::new(
            scheduled,
            scenario.config.hosts.len() as u32,
            scenario.seed,
            options,
        )),
    };
    let provider = Provider::new(scenario.config.clone(), scenario.policies.clone()).unwrap();
    let options = DriverOptions {
        check_invariants: false,
        ..DriverOptions::default()
    };
    let mut driver = Driver::new(provider, options);
    let mut collector = Collector::new(&scenario.config).with_latencies();
    let mut alone = Latencies::new();
    let mut step = |driver: &mut Driver, collector: &mut Collector, input: &Input| {
        collector.observe_input(input);
        for event in driver.apply(input).expect("a valid input") {
            collector.observe(event);
            alone.observe(event);
        }
        check_step(collector, driver.provider());
    };
    for input in inputs {
        step(&mut driver, &mut collector, &input);
    }
    while let Some(at_us) = driver.provider().next_timer_us() {
        let advance = Input {
            at_us,
            command: Command::Advance,
        };
        step(&mut driver, &mut collector, &advance);
    }
    collector.finish(driver.provider().now_us());
    let kept = collector
        .take_latencies()
        .expect("kept since with_latencies");
    assert_eq!(kept.percentiles(), alone.percentiles());
    assert!(kept.percentiles()[1][0].is_some(), "end-to-end samples");
    assert_eq!(kept.simfaas().whole_run(), alone.simfaas().whole_run());
    assert_eq!(
        kept.simfaas().at_last_arrival(),
        alone.simfaas().at_last_arrival()
    );
    assert!(collector.take_latencies().is_none(), "taken once");
    (collector, driver.into_provider())
}

fn check_step(collector: &Collector, provider: &Provider) {
    let view = provider.host_view();
    for host in 0..view.host_count() {
        let facts = view.host(HostId(host)).unwrap();
        assert_eq!(
            collector.host_used_bytes(HostId(host)),
            Some((facts.ram_used_bytes, facts.disk_used_bytes)),
            "host {host} at {} µs",
            provider.now_us()
        );
    }
    let m = provider.metrics();
    assert_eq!(
        collector.counts_now(),
        [
            m.containers_now,
            m.busy_containers_now,
            m.idle_containers_now,
            m.queued_now
        ],
        "containers live, busy, idle and queued at {} µs",
        provider.now_us()
    );
}

/// Totals that must add up to the core's metrics at the end.
fn check_totals(collector: &Collector, provider: &Provider) {
    let m = provider.metrics();
    let s = collector.series();
    assert_eq!(s.cold_starts.total(), m.cold_starts);
    assert_eq!(s.warm_starts.total(), m.warm_starts);
    assert_eq!(s.rejected.total(), m.rejected());
    assert_eq!(s.completed.total(), m.completed);
    assert_eq!(s.failed.total(), m.failed());
    assert_eq!(s.timed_out.total(), m.timed_out);
    assert_eq!(
        u128::from(s.cost_picodollars.total()),
        m.cost_picodollars,
        "cost"
    );
    let hits: Vec<u64> = s.host_cache.iter().map(|c| c.total()).collect();
    assert_eq!(
        hits,
        [m.host_cache_hits, m.host_cache_joins, m.host_cache_misses]
    );
    let hits: Vec<u64> = s.main_cache.iter().map(|c| c.total()).collect();
    assert_eq!(
        hits,
        [m.main_cache_hits, m.main_cache_joins, m.main_cache_misses]
    );
    assert_eq!(s.host_downs.total(), m.hosts_down);
    assert_eq!(s.host_ups.total(), m.hosts_up);
    assert_eq!(s.main_storage_losses.total(), m.main_storage_losses);
    assert_eq!(collector.transfers_now(), [0, 0], "transfers at the end");
    // The time integrals of the container gauges are the core's.
    let integral = |gauge: &buckets::Gauge| gauge.integrals().iter().sum::<u128>();
    assert_eq!(integral(&s.live), m.container_us);
    assert_eq!(integral(&s.busy), m.busy_container_us);
    assert_eq!(s.idle_integrals().iter().sum::<u128>(), m.idle_container_us);
    assert_eq!(integral(&s.queue), m.queued_us);
    let functions = collector.functions();
    let sum = |f: fn(&FunctionStats) -> u64| functions.iter().map(f).sum::<u64>();
    assert_eq!(sum(|f| f.invocations), m.accepted);
    assert_eq!(sum(|f| f.cold_starts), m.cold_starts);
    assert_eq!(sum(|f| f.timed_out), m.timed_out);
    assert_eq!(sum(|f| f.failed), m.failed());
    assert_eq!(
        sum(|f| f.platform_failed),
        m.platform_failed_host_lost + m.platform_failed_transfer
    );
    assert_eq!(sum(|f| f.rejected), m.rejected());
    let rows = collector.host_rows();
    assert_eq!(
        rows.iter().map(|r| r.cold_starts).sum::<u64>(),
        m.cold_starts
    );
    assert_eq!(
        rows.iter().map(|r| r.warm_starts).sum::<u64>(),
        m.warm_starts
    );
    assert_eq!(rows.iter().map(|r| r.crashes).sum::<u64>(), m.hosts_down);
    // Every picodollar billed is some function's and some host's, the
    // containers' bills (spec R104b) included.
    assert_eq!(
        functions.iter().map(|f| f.cost_picodollars).sum::<u128>(),
        m.cost_picodollars
    );
    assert_eq!(
        rows.iter().map(|r| r.cost_picodollars).sum::<u128>(),
        m.cost_picodollars
    );
    let ended: u64 = Outcome::ALL
        .iter()
        .map(|&o| collector.end_to_end_us(o).samples())
        .sum();
    assert_eq!(ended, m.completed + m.failed() + m.timed_out);
    assert!(collector.used() > buckets::BUCKETS / 2 && collector.used() <= buckets::BUCKETS);
}

fn with_file(path: &std::path::Path, sets: &[&str]) -> Scenario {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    scenario::load(path, &sets).unwrap()
}

fn default_with(sets: &[&str]) -> Scenario {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    scenario::default_seeded(&sets, Some(11)).unwrap()
}

#[test]
fn the_default_scenario_matches_the_provider_at_every_step() {
    let scenario = default_with(&["workload.invocations=4000"]);
    let (collector, provider) = run_checked(&scenario);
    check_totals(&collector, &provider);
    assert!(provider.metrics().cold_starts > 100);
}

#[test]
fn faults_and_queues_match_the_provider_at_every_step() {
    let scenario = default_with(&[
        "workload.invocations=6000",
        "provider.pressure=\"queue\"",
        "provider.queue_capacity=50",
        "faults.crashes_per_hour=40",
        "faults.repair=\"2min\"",
        "faults.at=[{ time = \"60s\", main_storage_lost = true }, { time = \"300s\", main_storage_lost = true }]",
    ]);
    let (collector, provider) = run_checked(&scenario);
    check_totals(&collector, &provider);
    let m = provider.metrics();
    // The run reached the states this test is about.
    assert!(m.hosts_down >= 2, "{m:?}");
    assert!(m.main_storage_losses == 2);
    assert!(m.queued_total > 0);
    assert!(m.containers_lost > 0);
    assert!(m.downloads_failed + m.copies_failed > 0);
}

/// Cloud Run's billing by container instance (spec R104b), with joins and
/// hosts going down: the cost series and the per-function and per-host
/// costs add up to the provider's total, container bills included.
#[test]
fn container_bills_match_the_provider_at_every_step() {
    for model in ["cloud-run-instance", "cloud-run-request"] {
        // The example file, not the built-in default: the built-in
        // default's functions do not take `function_defaults` keys.
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/default.toml");
        let scenario = with_file(
            &path,
            &[
                "workload.invocations=6000",
                "workload.interarrival_mean=\"20ms\"",
                &format!("provider.billing.model=\"{model}\""),
                "workload.function_defaults.concurrency=4",
                "faults.crashes_per_hour=400",
                "faults.repair=\"2min\"",
            ],
        );
        let (collector, provider) = run_checked(&scenario);
        check_totals(&collector, &provider);
        let m = provider.metrics();
        assert!(m.containers_lost > 0 && m.joins_running > 0, "{m:?}");
    }
}

#[test]
fn prewarming_matches_the_provider_at_every_step() {
    let scenario = default_with(&[
        "workload.invocations=3000",
        "provider.policy.keep_alive_policy=\"hybrid\"",
    ]);
    let (collector, provider) = run_checked(&scenario);
    check_totals(&collector, &provider);
}

#[test]
fn a_longer_run_keeps_the_same_number_of_intervals() {
    let short = run_checked(&default_with(&["workload.invocations=500"])).0;
    let long = run_checked(&default_with(&["workload.invocations=8000"])).0;
    assert!(long.timeline().width_us() > short.timeline().width_us());
    for collector in [&short, &long] {
        assert!(collector.used() > buckets::BUCKETS / 2);
        assert_eq!(collector.series().live.integrals().len(), buckets::BUCKETS);
    }
}

/// The page's size, for a run of the default scenario with these
/// settings (its 4 hosts and 12 functions).
fn page_bytes(sets: &[&str]) -> usize {
    let (collector, provider) = run_checked(&default_with(sets));
    let info = RunInfo {
        scenario: "default".to_string(),
        source: "test".to_string(),
        seed: Some(11),
        digest: 0,
        events: 0,
        steps: 0,
        version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let page = render_run(&collector, &info, provider.metrics());
    assert_eq!(
        page.matches("class=\"hit\"").count(),
        8 * render::COLUMNS + 2 * (4 * render::COLUMNS / 4),
        "a hover cell per column of each time chart, per 4 columns of each heat-map row"
    );
    page.len()
}

#[test]
fn the_page_size_does_not_follow_the_run_s_length() {
    // 40 times the invocations (and the virtual time): the same columns,
    // so within 5% of one size (numbers of more digits, more heat-map cells
    // not empty, fewer gaps in the ratio lines); with faults (a marker in a column of every
    // chart per crash or repair) a little more, and all under the bound
    // docs/guide.md gives for this many hosts and functions.
    let short = page_bytes(&["workload.invocations=300"]);
    let long = page_bytes(&["workload.invocations=12000"]);
    let faults = page_bytes(&[
        "workload.invocations=12000",
        "faults.crashes_per_hour=20",
        "faults.repair=\"2min\"",
    ]);
    assert!(short.abs_diff(long) * 20 < short, "{short} B and {long} B");
    for size in [short, long, faults] {
        assert!(size < 250_000, "{short} B, {long} B, {faults} B");
    }
}
