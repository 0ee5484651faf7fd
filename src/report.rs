//! The machine-readable report of a run (`--json`, `--csv`): a fixed list
//! of keys, in a fixed order, documented in README. Latencies come from the
//! events: start delay is `Accepted` → `ExecutionStarted`, end-to-end is
//! `Accepted` → `Completed`, `Failed` or `TimedOut` (rejected invocations
//! have neither; one failed by a platform error has no end-to-end sample,
//! and a retried one a start-delay sample per start). Percentiles are
//! nearest-rank. The fault keys count faults and their effects (spec §27).

use crate::driver::RunReport;
use crate::{Event, EventKind, InvocationId, Metrics};
use serde_json::Value;

const PICODOLLARS_PER_DOLLAR: f64 = 1e12;

/// Collects latency samples from events. Memory: one entry per arena slot
/// of an invocation in flight, and one `u64` per sample.
#[derive(Clone, Debug, Default)]
pub struct Latencies {
    /// By the invocation id's arena index: the full id and when it was
    /// accepted. Indexed rather than hashed: this runs for every event of a
    /// replay, and the core reuses freed indexes, so the table stays as
    /// small as the number of invocations alive at once.
    accepted_at_us: Vec<Option<(InvocationId, u64)>>,
    start_delays_us: Vec<u64>,
    end_to_end_us: Vec<u64>,
}

/// An id's arena index: the low 32 bits of its bits (docs/spec.md R13).
fn slot_of(invocation: InvocationId) -> usize {
    (invocation.to_bits() & u64::from(u32::MAX)) as usize
}

impl Latencies {
    pub fn new() -> Latencies {
        Latencies::default()
    }

    pub fn observe(&mut self, event: &Event) {
        match event.kind {
            EventKind::Accepted { invocation, .. } => {
                let index = slot_of(invocation);
                if index >= self.accepted_at_us.len() {
                    self.accepted_at_us.resize(index + 1, None);
                }
                self.accepted_at_us[index] = Some((invocation, event.at_us));
            }
            EventKind::ExecutionStarted { invocation, .. } => {
                if let Some(at_us) = self.accepted(invocation) {
                    self.start_delays_us.push(event.at_us - at_us);
                }
            }
            EventKind::Completed { invocation, .. }
            | EventKind::Failed { invocation, .. }
            | EventKind::TimedOut { invocation, .. } => {
                if let Some(at_us) = self.take_accepted(invocation) {
                    self.end_to_end_us.push(event.at_us - at_us);
                }
            }
            EventKind::Rejected { invocation, .. }
            | EventKind::PlatformFailed { invocation, .. } => {
                self.take_accepted(invocation);
            }
            _ => {}
        }
    }

    fn accepted(&self, invocation: InvocationId) -> Option<u64> {
        match self.accepted_at_us.get(slot_of(invocation)) {
            Some(&Some((id, at_us))) if id == invocation => Some(at_us),
            _ => None,
        }
    }

    fn take_accepted(&mut self, invocation: InvocationId) -> Option<u64> {
        let at_us = self.accepted(invocation)?;
        self.accepted_at_us[slot_of(invocation)] = None;
        Some(at_us)
    }
}

/// p50, p90, p99 and max of `samples` (sorted here), nearest-rank; `None`
/// without samples.
pub fn percentiles(samples: &mut [u64]) -> [Option<u64>; 4] {
    samples.sort_unstable();
    let rank = |per_mille: usize| -> Option<u64> {
        let n = samples.len();
        if n == 0 {
            return None;
        }
        let index = (n * per_mille).div_ceil(1_000).max(1) - 1;
        Some(samples[index])
    };
    [rank(500), rank(900), rank(990), samples.last().copied()]
}

fn ratio(part: u64, whole: u64) -> Value {
    if whole == 0 {
        Value::Null
    } else {
        Value::from(part as f64 / whole as f64)
    }
}

fn average(integral_us: u128, elapsed_us: u64) -> Value {
    if elapsed_us == 0 {
        Value::Null
    } else {
        Value::from(integral_us as f64 / elapsed_us as f64)
    }
}

/// Accepted invocations neither ended, queued, in flight nor waiting to
/// retry: 0, or an invocation was lost (spec R133).
pub fn unaccounted(m: &Metrics) -> u64 {
    m.accepted
        .saturating_sub(m.queued_now + m.in_flight_now + m.retrying_now + m.ended())
}

/// The report's keys and values, in order.
pub fn fields(
    metrics: &Metrics,
    run: &RunReport,
    slots_total: u64,
    latencies: &mut Latencies,
) -> Vec<(&'static str, Value)> {
    let m = metrics;
    let started = m.cold_starts + m.warm_starts;
    let host_lookups = m.host_cache_hits + m.host_cache_joins + m.host_cache_misses;
    let main_lookups = m.main_cache_hits + m.main_cache_joins + m.main_cache_misses;
    let slot_us = u128::from(slots_total) * u128::from(run.end_us);
    let utilization = if slot_us == 0 {
        Value::Null
    } else {
        Value::from(m.busy_container_us as f64 / slot_us as f64)
    };
    let mut fields = vec![
        ("invocations", Value::from(m.accepted)),
        ("completed", Value::from(m.completed)),
        ("failed", Value::from(m.failed())),
        ("timed_out", Value::from(m.timed_out)),
        ("rejected", Value::from(m.rejected())),
        ("cold_starts", Value::from(m.cold_starts)),
        ("warm_starts", Value::from(m.warm_starts)),
        ("cold_start_ratio", ratio(m.cold_starts, started)),
        ("avg_containers", average(m.container_us, run.end_us)),
        ("avg_running", average(m.busy_container_us, run.end_us)),
        ("avg_idle", average(m.idle_container_us, run.end_us)),
        ("utilization", utilization),
        (
            "cost",
            Value::from(m.cost_picodollars as f64 / PICODOLLARS_PER_DOLLAR),
        ),
        (
            "cost_picodollars",
            Value::from(u64::try_from(m.cost_picodollars).unwrap_or(u64::MAX)),
        ),
        ("events", Value::from(run.events)),
        ("events_digest", Value::from(format!("{:016x}", run.digest))),
        ("steps", Value::from(run.steps)),
        ("virtual_time_us", Value::from(run.end_us)),
        (
            "host_cache_hit_ratio",
            ratio(m.host_cache_hits, host_lookups),
        ),
        (
            "host_cache_join_ratio",
            ratio(m.host_cache_joins, host_lookups),
        ),
        (
            "host_cache_miss_ratio",
            ratio(m.host_cache_misses, host_lookups),
        ),
        (
            "main_cache_hit_ratio",
            ratio(m.main_cache_hits, main_lookups),
        ),
        (
            "main_cache_join_ratio",
            ratio(m.main_cache_joins, main_lookups),
        ),
        (
            "main_cache_miss_ratio",
            ratio(m.main_cache_misses, main_lookups),
        ),
    ];
    let names = [
        [
            "start_delay_us_p50",
            "start_delay_us_p90",
            "start_delay_us_p99",
            "start_delay_us_max",
        ],
        [
            "end_to_end_us_p50",
            "end_to_end_us_p90",
            "end_to_end_us_p99",
            "end_to_end_us_max",
        ],
    ];
    let samples = [&mut latencies.start_delays_us, &mut latencies.end_to_end_us];
    for (names, samples) in names.into_iter().zip(samples) {
        for (name, value) in names.into_iter().zip(percentiles(samples)) {
            fields.push((name, value.map_or(Value::Null, Value::from)));
        }
    }
    fields.extend([
        ("host_crashes", Value::from(m.hosts_down)),
        ("host_recoveries", Value::from(m.hosts_up)),
        ("download_failures", Value::from(m.downloads_failed)),
        ("copy_failures", Value::from(m.copies_failed)),
        ("main_storage_losses", Value::from(m.main_storage_losses)),
        ("retries", Value::from(m.retries)),
        ("retry_cold_starts", Value::from(m.retry_cold_starts)),
        ("platform_failed", Value::from(m.platform_failed())),
        (
            "platform_failed_host_lost",
            Value::from(m.platform_failed_host_lost),
        ),
        (
            "platform_failed_transfer",
            Value::from(m.platform_failed_transfer),
        ),
        ("containers_lost", Value::from(m.containers_lost)),
        ("images_lost", Value::from(m.images_lost)),
        ("unaccounted_invocations", Value::from(unaccounted(m))),
        ("containers_at_end", Value::from(m.containers_now)),
    ]);
    fields
}

/// One JSON object on one line, keys in order.
pub fn to_json(fields: &[(&'static str, Value)]) -> String {
    let body: Vec<String> = fields
        .iter()
        .map(|(key, value)| format!("{}:{value}", Value::from(*key)))
        .collect();
    format!("{{{}}}\n", body.join(","))
}

/// A header row of keys and one row of values; null is empty.
pub fn to_csv(fields: &[(&'static str, Value)]) -> String {
    let keys: Vec<&str> = fields.iter().map(|(key, _)| *key).collect();
    let values: Vec<String> = fields
        .iter()
        .map(|(_, value)| match value {
            Value::Null => String::new(),
            Value::String(text) => text.clone(),
            other => other.to_string(),
        })
        .collect();
    format!("{}\n{}\n", keys.join(","), values.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples: Vec<u64> = (1..=100).rev().collect();
        assert_eq!(
            percentiles(&mut samples),
            [Some(50), Some(90), Some(99), Some(100)]
        );
        assert_eq!(percentiles(&mut [7]), [Some(7); 4]);
        assert_eq!(percentiles(&mut []), [None; 4]);
    }
}
