//! The human summary of a simulation: a short block of `name: value` lines.

use coldstart::driver::RunReport;
use coldstart::simulate::Simulation;
use coldstart::{Metrics, Pressure};
use std::fmt::Write;

const PICODOLLARS_PER_DOLLAR: u128 = 1_000_000_000_000;
const US_PER_S: u64 = 1_000_000;

/// `part` as a percentage of `whole`, one decimal; "n/a" when `whole` is 0.
pub fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "n/a".to_string();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

/// `part` as a percentage of `whole`, three decimals (cold-start
/// probabilities are often well under 1%); "n/a" when `whole` is 0.
pub fn percent_fine(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "n/a".to_string();
    }
    format!("{:.3}%", part as f64 * 100.0 / whole as f64)
}

/// Picodollars as dollars with six decimals, in integer arithmetic (rounded
/// down to the micro-dollar).
pub fn dollars(picodollars: u128) -> String {
    let whole = picodollars / PICODOLLARS_PER_DOLLAR;
    let micro = picodollars % PICODOLLARS_PER_DOLLAR / 1_000_000;
    format!("${whole}.{micro:06}")
}

/// Bytes in GiB, two decimals.
pub fn gibibytes(bytes: u128) -> String {
    format!("{:.2} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// Microseconds as seconds, three decimals.
pub fn seconds(duration_us: u64) -> String {
    format!(
        "{}.{:03} s",
        duration_us / US_PER_S,
        duration_us % US_PER_S / 1_000
    )
}

/// A time integral divided by the elapsed time, two decimals.
pub fn average(integral_us: u128, elapsed_us: u64) -> String {
    if elapsed_us == 0 {
        return "n/a".to_string();
    }
    format!("{:.2}", integral_us as f64 / elapsed_us as f64)
}

fn outcomes(out: &mut String, m: &Metrics) {
    let [clone, build, run] = m.failed_by_phase;
    let _ = writeln!(out, "invocations:          {}", m.accepted);
    let _ = writeln!(out, "  completed:          {}", m.completed);
    let _ = writeln!(
        out,
        "  failed:             {} (clone {clone}, build {build}, run {run})",
        m.failed()
    );
    let _ = writeln!(out, "  timed out:          {}", m.timed_out);
    let _ = writeln!(
        out,
        "  rejected:           {} (resource unavailable {}, queue full {})",
        m.rejected(),
        m.rejected_resource_unavailable,
        m.rejected_queue_full
    );
    let _ = writeln!(out, "  queued:             {}", m.queued_total);
}

fn starts_and_caches(out: &mut String, m: &Metrics) {
    let started = m.cold_starts + m.warm_starts;
    let _ = writeln!(
        out,
        "starts:               {} cold, {} warm; cold-start ratio {} of started",
        m.cold_starts,
        m.warm_starts,
        percent(m.cold_starts, started)
    );
    let host_lookups = m.host_cache_hits + m.host_cache_joins + m.host_cache_misses;
    let main_lookups = m.main_cache_hits + m.main_cache_joins + m.main_cache_misses;
    let _ = writeln!(
        out,
        "host cache:           hit {}, joined a copy {}, miss {} (of {host_lookups} cold starts)",
        percent(m.host_cache_hits, host_lookups),
        percent(m.host_cache_joins, host_lookups),
        percent(m.host_cache_misses, host_lookups),
    );
    let _ = writeln!(
        out,
        "main storage cache:   hit {}, joined a download {}, miss {} (of {main_lookups} host misses)",
        percent(m.main_cache_hits, main_lookups),
        percent(m.main_cache_joins, main_lookups),
        percent(m.main_cache_misses, main_lookups),
    );
    let _ = writeln!(
        out,
        "evictions:            images {} from main storage, {} from hosts; containers {} evicted, {} expired, {} discarded",
        m.images_evicted_main,
        m.images_evicted_host,
        m.containers_evicted,
        m.containers_expired,
        m.containers_discarded
    );
    if m.prewarms_planned > 0 {
        let _ = writeln!(
            out,
            "pre-warming:          {} containers unloaded; {} pre-warms planned, {} placed ({} then served a warm start), {} skipped",
            m.containers_unloaded,
            m.prewarms_planned,
            m.prewarms,
            m.prewarm_warm_starts,
            m.prewarms_skipped
        );
    }
    let _ = writeln!(
        out,
        "transfers:            {} downloaded, {} copied to hosts",
        gibibytes(m.bytes_downloaded),
        gibibytes(m.bytes_copied)
    );
}

fn utilization(out: &mut String, m: &Metrics, elapsed_us: u64) {
    let _ = writeln!(
        out,
        "containers (average): {} live, {} busy, {} idle",
        average(m.container_us, elapsed_us),
        average(m.busy_container_us, elapsed_us),
        average(m.idle_container_us, elapsed_us)
    );
    // SimFaaS's definition (src/report.rs): over all arrivals, rejected
    // ones included.
    let _ = writeln!(
        out,
        "SimFaaS definitions:  cold-start probability {} of arrivals",
        percent_fine(m.cold_starts, m.accepted),
    );
    let _ = writeln!(out, "cost:                 {}", dollars(m.cost_picodollars));
}

/// `reject`, or `queue (capacity N)`.
pub fn pressure_name(pressure: Pressure) -> String {
    match pressure {
        Pressure::Reject => "reject".to_string(),
        Pressure::Queue { capacity } => format!("queue (capacity {capacity})"),
    }
}

/// The fault lines, if the run had any fault, and the line saying what is
/// left at the end.
fn faults_and_end(out: &mut String, m: &Metrics) {
    let faults = m.hosts_down + m.downloads_failed + m.copies_failed + m.main_storage_losses;
    if faults > 0 {
        let _ = writeln!(
            out,
            "faults:               {} host crashes ({} back up), {} download and {} copy failures, main storage lost {} times",
            m.hosts_down, m.hosts_up, m.downloads_failed, m.copies_failed, m.main_storage_losses
        );
        let _ = writeln!(
            out,
            "  retried:            {} ({} cold starts on a retry)",
            m.retries, m.retry_cold_starts
        );
        let _ = writeln!(
            out,
            "  platform errors:    {} (host lost {}, transfer failed {})",
            m.platform_failed(),
            m.platform_failed_host_lost,
            m.platform_failed_transfer
        );
        let _ = writeln!(
            out,
            "  lost:               {} containers, {} image copies",
            m.containers_lost, m.images_lost
        );
    }
    let _ = writeln!(
        out,
        "at the end:           {} invocations never ended ({} queued, {} running, {} waiting to retry), {} unaccounted for; {} containers holding RAM or a slot",
        m.queued_now + m.in_flight_now + m.retrying_now,
        m.queued_now,
        m.in_flight_now,
        m.retrying_now,
        coldstart::report::unaccounted(m),
        m.containers_now
    );
}

/// The summary, without the wall-clock lines (which differ run to run).
pub fn render(simulation: &Simulation) -> String {
    let mut out = String::new();
    let m = &simulation.metrics;
    let report = &simulation.report;
    let options = &simulation.options;
    let faults = match options.faults {
        Some(f) => format!(
            ", faults {} host crashes an hour (repair {})",
            f.crashes_per_hour,
            seconds(f.repair_us)
        ),
        None => String::new(),
    };
    let _ = writeln!(
        out,
        "scenario:             {}, seed {}, pressure {}{faults}",
        simulation.scenario,
        options.seed,
        pressure_name(options.pressure)
    );
    out.push_str(&render_body(m, report));
    out
}

/// The summary's lines after the first (`scenario:` or `log:`): outcomes,
/// starts and caches, utilization, events and virtual time.
pub fn render_body(m: &Metrics, report: &RunReport) -> String {
    let mut out = String::new();
    outcomes(&mut out, m);
    starts_and_caches(&mut out, m);
    utilization(&mut out, m, report.end_us);
    faults_and_end(&mut out, m);
    let _ = writeln!(out, "events:               {}", report.events);
    let _ = writeln!(out, "events digest:        {:016x}", report.digest);
    let _ = writeln!(out, "virtual time:         {}", seconds(report.end_us));
    out
}

/// Milliseconds with three decimals, or "n/a".
fn milliseconds(duration_us: Option<u64>) -> String {
    match duration_us {
        Some(us) => format!("{}.{:03}", us / 1_000, us % 1_000),
        None => "n/a".to_string(),
    }
}

/// The latency lines: start delay and end to end, p50/p90/p99/max in ms;
/// then SimFaaS's window, from 0 to the last arrival: the time-averaged
/// containers and the expired ones' mean lifespan (src/report.rs).
pub fn render_latencies(latencies: &mut coldstart::report::Latencies) -> String {
    let [start, end] = latencies.percentiles();
    let line = |values: [Option<u64>; 4]| values.map(milliseconds).join(" / ") + " ms";
    let window = latencies.simfaas().at_last_arrival();
    let lifespan = match window.expired_lifespan_us_mean() {
        Some(mean_us) => format!(", lifespan {:.3} s on average", mean_us / US_PER_S as f64),
        None => String::new(),
    };
    let averages = match (window.averages(), window.utilization()) {
        (Some([live, busy, idle]), Some(utilization)) => format!(
            "{live:.2} live, {busy:.2} busy, {idle:.2} idle on average (busy / live {utilization:.3})"
        ),
        _ => "n/a".to_string(),
    };
    format!(
        "start delay:          {} (p50 / p90 / p99 / max)\nend to end:           {}\n\
         to the last arrival:  {averages}; {} containers expired{lifespan}\n",
        line(start),
        line(end),
        window.expired
    )
}

/// The wall-clock lines: time taken and invocations per second.
pub fn render_wall(invocations: u64, wall_us: u64) -> String {
    let rate = if wall_us == 0 {
        "n/a".to_string()
    } else {
        format!(
            "{:.0}",
            invocations as f64 * US_PER_S as f64 / wall_us as f64
        )
    };
    format!(
        "wall time:            {} ({rate} invocations/s)\n",
        seconds(wall_us)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(percent(1, 3), "33.3%");
        assert_eq!(percent(1, 0), "n/a");
        assert_eq!(percent_fine(1_182, 900_000), "0.131%");
        assert_eq!(percent_fine(1, 0), "n/a");
        assert_eq!(dollars(1_234_567_890_123_456), "$1234.567890");
        assert_eq!(dollars(999_999), "$0.000000");
        assert_eq!(seconds(1_234_567), "1.234 s");
        assert_eq!(gibibytes(3 << 29), "1.50 GiB");
        assert_eq!(average(10, 4), "2.50");
        assert_eq!(average(10, 0), "n/a");
        assert_eq!(
            render_wall(0, 0),
            "wall time:            0.000 s (n/a invocations/s)\n"
        );
    }
}
