//! The machine-readable report of a run (`--json`, `--csv`): a fixed list
//! of keys, in a fixed order, documented in README. Latencies come from the
//! events: start delay is `Accepted` → `ExecutionStarted`, end-to-end is
//! `Accepted` → `Completed`, `Failed` or `TimedOut` (rejected invocations
//! have neither; one failed by a platform error has no end-to-end sample,
//! and a retried one a start-delay sample per start). Percentiles are
//! nearest-rank. The fault keys count faults and their effects (spec §27).
//!
//! The `simfaas_*` keys and the expired-container lifespan follow SimFaaS's
//! own definitions (Mahmoudi & Khazaei; `ServerlessSimulator` in simfaas
//! 0.2.2), so its results and ours compare number for number: cold-start
//! probability = cold starts / all arrivals, rejected ones included;
//! utilization = running / containers, a ratio of time averages; lifespan =
//! creation (the `ColdStart`) to expiry, over containers removed by their
//! keep-alive only. The `avg_*` keys are time averages already (time
//! integrals of the gauges, divided by the virtual time).

use crate::driver::RunReport;
use crate::{ContainerId, Event, EventKind, InvocationId, Metrics, RemovalCause};
use serde_json::Value;

const PICODOLLARS_PER_DOLLAR: f64 = 1e12;

/// Collects the report's figures that come from events rather than the
/// core's metrics: latency samples, and the lifespans of expired containers.
/// Memory: one entry per arena slot of an invocation in flight or a live
/// container, and the two constant-size histograms.
#[derive(Clone, Debug, Default)]
pub struct Latencies {
    /// By the invocation id's arena index: the full id and when it was
    /// accepted. Indexed rather than hashed: this runs for every event of a
    /// replay, and the core reuses freed indexes, so the table stays as
    /// small as the number of invocations alive at once.
    accepted_at_us: Vec<Option<(InvocationId, u64)>>,
    start_delays_us: Histogram,
    end_to_end_us: Histogram,
    lifespans: Lifespans,
}

/// Container lifespans, creation to expiry, SimFaaS's way: only containers
/// removed because their keep-alive ran out count (evicted, discarded and
/// lost ones do not).
#[derive(Clone, Debug, Default)]
pub struct Lifespans {
    /// By the container id's arena index, as for invocations: the full id
    /// and its `ColdStart` time.
    created_at_us: Vec<Option<(ContainerId, u64)>>,
    expired: u64,
    expired_lifespan_us_total: u128,
}

impl Lifespans {
    pub fn observe(&mut self, event: &Event) {
        match event.kind {
            EventKind::ColdStart { container, .. } => {
                let index = container_slot_of(container);
                if index >= self.created_at_us.len() {
                    self.created_at_us.resize(index + 1, None);
                }
                self.created_at_us[index] = Some((container, event.at_us));
            }
            EventKind::ContainerRemoved {
                container, cause, ..
            } => {
                let index = container_slot_of(container);
                let created = match self.created_at_us.get_mut(index) {
                    Some(entry) if entry.is_some_and(|(id, _)| id == container) => entry.take(),
                    _ => None,
                };
                if let (Some((_, created_at_us)), RemovalCause::Expired) = (created, cause) {
                    self.expired += 1;
                    self.expired_lifespan_us_total += u128::from(event.at_us - created_at_us);
                }
            }
            _ => {}
        }
    }

    /// Containers seen created and then expired.
    pub fn expired(&self) -> u64 {
        self.expired
    }

    /// Their mean lifespan in µs; `None` when none expired.
    pub fn mean_us(&self) -> Option<f64> {
        (self.expired > 0).then(|| self.expired_lifespan_us_total as f64 / self.expired as f64)
    }
}

fn container_slot_of(container: ContainerId) -> usize {
    (container.to_bits() & u64::from(u32::MAX)) as usize
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
        self.lifespans.observe(event);
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
                    self.start_delays_us.record(event.at_us - at_us);
                }
            }
            EventKind::Completed { invocation, .. }
            | EventKind::Failed { invocation, .. }
            | EventKind::TimedOut { invocation, .. } => {
                if let Some(at_us) = self.take_accepted(invocation) {
                    self.end_to_end_us.record(event.at_us - at_us);
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

/// Sub-buckets per power of two: values below `2^SUB_BITS` have a bucket
/// each; above, a bucket spans less than `2^-SUB_BITS` (0.1%) of its value.
const SUB_BITS: u32 = 10;
const SUB_BUCKETS: u64 = 1 << SUB_BITS;

/// A log-linear histogram of latencies: constant memory (at most 56,320
/// counters, allocated up to the largest value seen) whatever the number of
/// samples, so a run of 10^8 invocations reports percentiles without
/// keeping 10^8 samples. Exact below 1,024 µs; above, a percentile is its
/// bucket's lower bound, below the true value by less than 0.1%. The
/// maximum is kept exactly.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Histogram {
    counts: Vec<u64>,
    samples: u64,
    max: u64,
}

impl Histogram {
    fn bucket_of(value: u64) -> usize {
        if value < SUB_BUCKETS {
            return value as usize;
        }
        let octave = 63 - value.leading_zeros() - SUB_BITS;
        let mantissa = (value >> octave) - SUB_BUCKETS;
        (SUB_BUCKETS + u64::from(octave) * SUB_BUCKETS + mantissa) as usize
    }

    /// The smallest value that falls in `bucket`.
    fn lower_bound(bucket: usize) -> u64 {
        let bucket = bucket as u64;
        if bucket < SUB_BUCKETS {
            return bucket;
        }
        let octave = (bucket - SUB_BUCKETS) / SUB_BUCKETS;
        let mantissa = (bucket - SUB_BUCKETS) % SUB_BUCKETS;
        (SUB_BUCKETS + mantissa) << octave
    }

    pub fn record(&mut self, value: u64) {
        let bucket = Histogram::bucket_of(value);
        if bucket >= self.counts.len() {
            self.counts.resize(bucket + 1, 0);
        }
        self.counts[bucket] += 1;
        self.samples += 1;
        self.max = self.max.max(value);
    }

    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// The nearest-rank percentile (`per_mille` of 1,000); `None` when
    /// empty.
    pub fn percentile(&self, per_mille: u64) -> Option<u64> {
        if self.samples == 0 {
            return None;
        }
        let rank = (self.samples * per_mille).div_ceil(1_000).max(1);
        let mut seen = 0;
        for (bucket, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(Histogram::lower_bound(bucket).min(self.max));
            }
        }
        Some(self.max)
    }

    /// p50, p90, p99 and max.
    pub fn summary(&self) -> [Option<u64>; 4] {
        let max = (self.samples > 0).then_some(self.max);
        [
            self.percentile(500),
            self.percentile(900),
            self.percentile(990),
            max,
        ]
    }
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

impl Latencies {
    /// Start delay and end-to-end percentiles (p50, p90, p99, max).
    pub fn percentiles(&self) -> [[Option<u64>; 4]; 2] {
        [self.start_delays_us.summary(), self.end_to_end_us.summary()]
    }

    pub fn lifespans(&self) -> &Lifespans {
        &self.lifespans
    }
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
        // SimFaaS's: over all arrivals, rejected ones included.
        ("simfaas_cold_start_prob", ratio(m.cold_starts, m.accepted)),
        ("avg_containers", average(m.container_us, run.end_us)),
        ("avg_running", average(m.busy_container_us, run.end_us)),
        ("avg_idle", average(m.idle_container_us, run.end_us)),
        ("utilization", utilization),
        // SimFaaS's utilization: time-averaged running / time-averaged
        // containers (the elapsed time cancels out).
        (
            "simfaas_utilization",
            if m.container_us == 0 {
                Value::Null
            } else {
                Value::from(m.busy_container_us as f64 / m.container_us as f64)
            },
        ),
        ("containers_expired", Value::from(m.containers_expired)),
        (
            "expired_lifespan_us_mean",
            latencies
                .lifespans
                .mean_us()
                .map_or(Value::Null, Value::from),
        ),
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
    let histograms = [&latencies.start_delays_us, &latencies.end_to_end_us];
    for (names, histogram) in names.into_iter().zip(histograms) {
        for (name, value) in names.into_iter().zip(histogram.summary()) {
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

/// Every key of the report, in order.
pub fn keys() -> Vec<&'static str> {
    let run = RunReport {
        steps: 0,
        drain_steps: 0,
        events: 0,
        digest: 0,
        end_us: 0,
    };
    fields(&Metrics::default(), &run, 0, &mut Latencies::new())
        .into_iter()
        .map(|(key, _)| key)
        .collect()
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

    fn histogram_of(values: impl IntoIterator<Item = u64>) -> Histogram {
        let mut histogram = Histogram::default();
        values.into_iter().for_each(|v| histogram.record(v));
        histogram
    }

    #[test]
    fn nearest_rank_percentiles_are_exact_below_1024() {
        let histogram = histogram_of((1..=100).rev());
        assert_eq!(
            histogram.summary(),
            [Some(50), Some(90), Some(99), Some(100)]
        );
        assert_eq!(histogram_of([7]).summary(), [Some(7); 4]);
        assert_eq!(histogram_of([]).summary(), [None; 4]);
        assert_eq!(histogram_of([0, 1_023]).percentile(500), Some(0));
    }

    fn event(at_us: u64, kind: EventKind) -> Event {
        Event { at_us, kind }
    }

    /// SimFaaS's lifespan: creation to expiry, expired containers only; a
    /// reused arena slot (a new generation) is a new container.
    #[test]
    fn lifespans_count_expired_containers_only() {
        use crate::{HostId, ImageSource, InvocationId};
        let container =
            |index: u64, generation: u64| ContainerId::from_bits((generation << 32) | index);
        let cold = |invocation: u64, c: ContainerId| EventKind::ColdStart {
            invocation: InvocationId::from_bits(invocation),
            container: c,
            host: HostId(0),
            image: ImageSource::HostDisk,
        };
        let removed = |c: ContainerId, cause| EventKind::ContainerRemoved {
            container: c,
            host: HostId(0),
            cause,
        };
        let mut latencies = Latencies::new();
        assert_eq!(latencies.lifespans().mean_us(), None);
        for e in [
            event(10, cold(0, container(0, 0))),
            event(20, cold(1, container(1, 0))),
            event(30, cold(2, container(2, 0))),
            // Expired after 1,000 µs: counts.
            event(1_010, removed(container(0, 0), RemovalCause::Expired)),
            // Evicted and discarded: do not count.
            event(1_020, removed(container(1, 0), RemovalCause::Evicted)),
            event(1_030, removed(container(2, 0), RemovalCause::Discarded)),
            // Slot 0 again, a new generation: lives 3,000 µs.
            event(2_000, cold(3, container(0, 1))),
            event(5_000, removed(container(0, 1), RemovalCause::Expired)),
            // An expiry of a container never seen created is ignored.
            event(6_000, removed(container(7, 0), RemovalCause::Expired)),
        ] {
            latencies.observe(&e);
        }
        assert_eq!(latencies.lifespans().expired(), 2);
        assert_eq!(latencies.lifespans().mean_us(), Some(2_000.0));
    }

    #[test]
    fn larger_values_round_down_by_less_than_a_thousandth() {
        for value in [
            1_024,
            1_025,
            250_000,
            5_912_311,
            73_633_230,
            u64::MAX / 3,
            u64::MAX,
        ] {
            let bucket = Histogram::bucket_of(value);
            let low = Histogram::lower_bound(bucket);
            assert!(low <= value, "{value}");
            assert!(value - low <= value >> SUB_BITS, "{value}: {low}");
            // The next bucket starts above the value.
            assert!(Histogram::lower_bound(bucket + 1) > value || value == u64::MAX);
        }
        // Every bucket's lower bound falls in that bucket.
        for bucket in [0, 1_023, 1_024, 2_047, 2_048, 30_000, 56_319] {
            assert_eq!(Histogram::bucket_of(Histogram::lower_bound(bucket)), bucket);
        }
        let histogram = histogram_of([250_000, 250_001, 5_912_311]);
        assert_eq!(histogram.percentile(500), Some(249_984));
        assert_eq!(histogram.summary()[3], Some(5_912_311));
        assert_eq!(histogram.samples(), 3);
    }
}
