//! The machine-readable report of a run (`--json`, `--csv`): a fixed list
//! of keys, in a fixed order, documented in docs/guide.md. Latencies come from the
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
/// core's metrics: latency samples, and SimFaaS's figures over its window.
/// Memory: one entry per arena slot of an invocation or a container (up to
/// the next power of two of the highest slot used), and the two
/// constant-size histograms.
#[derive(Clone, Debug, Default)]
pub struct Latencies {
    /// By the invocation id's arena index: the full id and when it was
    /// accepted. Indexed rather than hashed: this runs for every event of a
    /// replay, and the core reuses freed indexes, so the table stays as
    /// small as the number of invocations alive at once.
    accepted_at_us: Vec<Option<(InvocationId, u64)>>,
    start_delays_us: Histogram,
    end_to_end_us: Histogram,
    simfaas: SimfaasWindow,
}

/// SimFaaS's figures over SimFaaS's window. SimFaaS stops at its
/// `max_time`, when arrivals stop, with containers still alive; coldstart's
/// run goes on until the last keep-alive has run out. So these figures are
/// taken from time 0 to the last arrival (the last `Accepted` event): the
/// time integrals of the live, busy and idle container counts, rebuilt here
/// from the events, and the lifespans (`ColdStart` or `Prewarmed` to
/// expiry) of the
/// containers that expired by then — removed by their keep-alive, not
/// evicted, discarded or lost, as SimFaaS counts only expired instances.
/// Over the whole run the integrals equal the core's `container_us`,
/// `busy_container_us` and `idle_container_us` (checked by a test).
#[derive(Clone, Debug, Default)]
pub struct SimfaasWindow {
    /// By the container id's arena index, as for invocations: the full id,
    /// its `ColdStart` time, and whether it is busy now.
    containers: Vec<Option<(ContainerId, u64, bool)>>,
    live: u64,
    busy: u64,
    last_event_us: u64,
    /// Since time 0: [live, busy, idle] × µs; expired containers and the
    /// sum of their lifespans.
    now: WindowTotals,
    /// `now` as of the last arrival.
    at_last_arrival: WindowTotals,
}

/// SimFaaS's totals over a window from time 0: the time integrals of the
/// container counts (container × µs) and the containers that expired in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WindowTotals {
    /// Where the window ends, in µs of virtual time.
    pub end_us: u64,
    /// Live containers integrated over time (container × µs).
    pub live_us: u128,
    /// Running containers integrated over time (container × µs).
    pub busy_us: u128,
    /// Idle containers integrated over time (container × µs).
    pub idle_us: u128,
    /// Containers removed by their keep-alive in the window.
    pub expired: u64,
    /// The sum of their lifespans, creation to expiry (µs).
    pub expired_lifespan_us_total: u128,
}

impl WindowTotals {
    /// The time averages of the live, busy and idle counts.
    pub fn averages(&self) -> Option<[f64; 3]> {
        (self.end_us > 0).then(|| {
            [self.live_us, self.busy_us, self.idle_us].map(|us| us as f64 / self.end_us as f64)
        })
    }

    /// Busy over live container time: SimFaaS's utilization.
    pub fn utilization(&self) -> Option<f64> {
        (self.live_us > 0).then(|| self.busy_us as f64 / self.live_us as f64)
    }

    /// The mean lifespan of the expired containers, µs.
    pub fn expired_lifespan_us_mean(&self) -> Option<f64> {
        (self.expired > 0).then(|| self.expired_lifespan_us_total as f64 / self.expired as f64)
    }
}

impl SimfaasWindow {
    /// Counts one event; feed it every event of a run, in order.
    pub fn observe(&mut self, event: &Event) {
        let at_us = event.at_us;
        self.note_time(at_us);
        match event.kind {
            EventKind::Accepted { .. } => self.note_arrival(at_us),
            EventKind::ColdStart { container, .. }
            | EventKind::Prewarmed { container, .. }
            | EventKind::FloorPlaced { container, .. } => self.container_created(container, at_us),
            EventKind::WarmStart { container, .. } => self.container_busy(container, at_us, true),
            // A Reserved floor container is idle, as the core counts it.
            EventKind::ContainerIdle { container, .. }
            | EventKind::ContainerReserved { container } => {
                self.container_busy(container, at_us, false)
            }
            EventKind::ContainerRemoved {
                container, cause, ..
            } => self.container_removed(container, cause, at_us),
            _ => {}
        }
    }

    // The per-kind handlers of the window's own container table, shared
    // by `observe` and by `Latencies::observe`, which dispatches each
    // event once for both (one `match` per event, not two).

    /// `ColdStart` or `Prewarmed`: a pre-warmed container is live, and busy
    /// (not idle) until it is ready, as the core counts it (spec R118).
    #[inline]
    fn container_created(&mut self, container: ContainerId, at_us: u64) {
        let index = container_slot_of(container);
        if index >= self.containers.len() {
            grow_to(&mut self.containers, index);
        }
        self.containers[index] = Some((container, at_us, true));
        self.note_created(at_us);
    }

    /// `WarmStart` (`busy`) or `ContainerIdle`.
    #[inline]
    fn container_busy(&mut self, container: ContainerId, at_us: u64, busy: bool) {
        if let Some(entry) = self.entry(container) {
            if entry.2 != busy {
                entry.2 = busy;
                self.note_busy(at_us, busy);
            }
        }
    }

    /// `ContainerRemoved`.
    #[inline]
    fn container_removed(&mut self, container: ContainerId, cause: RemovalCause, at_us: u64) {
        let Some(entry) = self.entry(container) else {
            return;
        };
        let (_, created_at_us, busy) = *entry;
        self.containers[container_slot_of(container)] = None;
        let expired = cause == RemovalCause::Expired;
        self.note_removed(at_us, busy, expired.then(|| at_us - created_at_us));
    }

    // The counts are integrated only where they change or are read:
    // between two such events they are constant, so integrating once at
    // the second is exact, and most events are neither. These are also
    // how the HTML report's collector feeds the window from its own
    // container table (`html::Collector::with_latencies`), with no table
    // here.

    /// Every event's time, in order (the others note theirs too).
    #[inline]
    pub(crate) fn note_time(&mut self, at_us: u64) {
        self.last_event_us = self.last_event_us.max(at_us);
    }

    /// An arrival (`Accepted`): the window ends here for now.
    #[inline]
    pub(crate) fn note_arrival(&mut self, at_us: u64) {
        self.note_time(at_us);
        self.integrate();
        self.at_last_arrival = self.now;
    }

    /// A container created (`ColdStart`, `Prewarmed`): live and busy.
    #[inline]
    pub(crate) fn note_created(&mut self, at_us: u64) {
        self.note_time(at_us);
        self.integrate();
        self.live += 1;
        self.busy += 1;
    }

    /// A live container became busy (`true`) or idle.
    #[inline]
    pub(crate) fn note_busy(&mut self, at_us: u64, busy: bool) {
        self.note_time(at_us);
        self.integrate();
        if busy {
            self.busy += 1;
        } else {
            self.busy -= 1;
        }
    }

    /// A live container removed, busy or not; `expired_lifespan_us` its
    /// creation to now if its keep-alive removed it.
    #[inline]
    pub(crate) fn note_removed(
        &mut self,
        at_us: u64,
        busy: bool,
        expired_lifespan_us: Option<u64>,
    ) {
        self.note_time(at_us);
        self.integrate();
        self.live -= 1;
        if busy {
            self.busy -= 1;
        }
        if let Some(lifespan_us) = expired_lifespan_us {
            self.now.expired += 1;
            self.now.expired_lifespan_us_total += u128::from(lifespan_us);
        }
    }

    /// Integrates the counts from `now.end_us` up to the last event.
    fn integrate(&mut self) {
        self.now = self.integrated();
    }

    /// `now`, integrated up to the last event.
    fn integrated(&self) -> WindowTotals {
        let mut totals = self.now;
        let dt = u128::from(self.last_event_us - totals.end_us);
        totals.live_us += dt * u128::from(self.live);
        totals.busy_us += dt * u128::from(self.busy);
        totals.idle_us += dt * u128::from(self.live - self.busy);
        totals.end_us = self.last_event_us;
        totals
    }

    /// The live container's entry, if this is the container created there.
    fn entry(&mut self, container: ContainerId) -> Option<&mut (ContainerId, u64, bool)> {
        match self.containers.get_mut(container_slot_of(container)) {
            Some(Some(entry)) if entry.0 == container => Some(entry),
            _ => None,
        }
    }

    /// From time 0 to the last arrival: SimFaaS's window.
    pub fn at_last_arrival(&self) -> &WindowTotals {
        &self.at_last_arrival
    }

    /// From time 0 to the last event.
    pub fn whole_run(&self) -> WindowTotals {
        self.integrated()
    }
}

/// Grows a table indexed by arena slot to hold `index`, to the next power
/// of two (ended invocations' slots are reused only once reaped, so the
/// table grows by one slot per arrival for the first
/// `terminal_records_max` of them). Out of line: it runs only when a run
/// reaches a new high-water mark.
#[cold]
#[inline(never)]
fn grow_to<T: Clone>(table: &mut Vec<Option<T>>, index: usize) {
    table.resize((index + 1).next_power_of_two(), None);
}

fn container_slot_of(container: ContainerId) -> usize {
    (container.to_bits() & u64::from(u32::MAX)) as usize
}

/// An id's arena index: the low 32 bits of its bits (docs/spec.md R13).
fn slot_of(invocation: InvocationId) -> usize {
    (invocation.to_bits() & u64::from(u32::MAX)) as usize
}

impl Latencies {
    /// An empty collector: no samples yet.
    pub fn new() -> Latencies {
        Latencies::default()
    }

    /// Counts one event (latency samples and SimFaaS's window); feed it every
    /// event of a run, in order. One `match` serves both: this runs for
    /// every event of every run and replay.
    pub fn observe(&mut self, event: &Event) {
        let at_us = event.at_us;
        self.simfaas.note_time(at_us);
        match event.kind {
            EventKind::Accepted { invocation, .. } => {
                self.simfaas.note_arrival(at_us);
                let index = slot_of(invocation);
                if index >= self.accepted_at_us.len() {
                    grow_to(&mut self.accepted_at_us, index);
                }
                self.accepted_at_us[index] = Some((invocation, at_us));
            }
            EventKind::ExecutionStarted { invocation, .. } => {
                if let Some(accepted_us) = self.accepted(invocation) {
                    self.start_delays_us.record(at_us - accepted_us);
                }
            }
            EventKind::Completed { invocation, .. }
            | EventKind::Failed { invocation, .. }
            | EventKind::TimedOut { invocation, .. } => {
                if let Some(accepted_us) = self.take_accepted(invocation) {
                    self.end_to_end_us.record(at_us - accepted_us);
                }
            }
            EventKind::Rejected { invocation, .. }
            | EventKind::PlatformFailed { invocation, .. } => {
                self.take_accepted(invocation);
            }
            EventKind::ColdStart { container, .. }
            | EventKind::Prewarmed { container, .. }
            | EventKind::FloorPlaced { container, .. } => {
                self.simfaas.container_created(container, at_us)
            }
            EventKind::WarmStart { container, .. } => {
                self.simfaas.container_busy(container, at_us, true)
            }
            // A Reserved floor container is idle, as the core counts it.
            EventKind::ContainerIdle { container, .. }
            | EventKind::ContainerReserved { container } => {
                self.simfaas.container_busy(container, at_us, false)
            }
            EventKind::ContainerRemoved {
                container, cause, ..
            } => self.simfaas.container_removed(container, cause, at_us),
            _ => {}
        }
    }

    /// A start-delay sample, from a table kept elsewhere (the HTML
    /// report's collector, `html::Collector::with_latencies`).
    #[inline]
    pub(crate) fn record_start_delay(&mut self, delay_us: u64) {
        self.start_delays_us.record(delay_us);
    }

    /// An end-to-end sample, likewise.
    #[inline]
    pub(crate) fn record_end_to_end(&mut self, end_to_end_us: u64) {
        self.end_to_end_us.record(end_to_end_us);
    }

    /// SimFaaS's window, to be fed from a table kept elsewhere.
    pub(crate) fn simfaas_mut(&mut self) -> &mut SimfaasWindow {
        &mut self.simfaas
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

/// The `--json`/`--csv` report's sub-bits: values below `2^10` have a
/// bucket each; above, a bucket spans less than `2^-10` (0.1%) of its value.
pub const REPORT_SUB_BITS: u32 = 10;

/// A log-linear histogram of latencies with `2^SUB_BITS` buckets per power
/// of two: constant memory (at most `2^SUB_BITS × (65 − SUB_BITS)`
/// counters, allocated up to the largest value seen) whatever the number of
/// samples, so a run of 10^8 invocations reports percentiles without
/// keeping 10^8 samples. Exact below `2^SUB_BITS`; above, a percentile is
/// its bucket's lower bound, below the true value by less than
/// `2^-SUB_BITS` of it. The maximum is kept exactly.
///
/// The report's own (`--json`, `--csv`) has 10 sub-bits (0.1%, at most
/// 56,320 counters); the HTML report keeps one per function and per
/// outcome with fewer ([`crate::html::FUNCTION_SUB_BITS`],
/// [`crate::html::RUN_SUB_BITS`]), so that thousands of functions stay
/// small. One type, so the two reports' percentiles are the same rule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Histogram<const SUB_BITS: u32 = REPORT_SUB_BITS> {
    counts: Vec<u64>,
    samples: u64,
    max: u64,
}

impl<const SUB_BITS: u32> Histogram<SUB_BITS> {
    const SUB_BUCKETS: u64 = 1 << SUB_BITS;

    /// An empty histogram (allocates nothing until a value is recorded).
    pub fn new() -> Self {
        Histogram {
            counts: Vec::new(),
            samples: 0,
            max: 0,
        }
    }

    #[inline]
    fn bucket_of(value: u64) -> usize {
        if value < Self::SUB_BUCKETS {
            return value as usize;
        }
        let octave = 63 - value.leading_zeros() - SUB_BITS;
        let mantissa = (value >> octave) - Self::SUB_BUCKETS;
        (Self::SUB_BUCKETS + u64::from(octave) * Self::SUB_BUCKETS + mantissa) as usize
    }

    /// Allocates counters up to `bucket`: out of line, as it runs only at
    /// a new largest octave.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, bucket: usize) {
        self.counts.resize(bucket + 1, 0);
    }

    /// The smallest value that falls in `bucket`.
    pub fn lower_bound(bucket: usize) -> u64 {
        let bucket = bucket as u64;
        if bucket < Self::SUB_BUCKETS {
            return bucket;
        }
        let octave = (bucket - Self::SUB_BUCKETS) / Self::SUB_BUCKETS;
        let mantissa = (bucket - Self::SUB_BUCKETS) % Self::SUB_BUCKETS;
        (Self::SUB_BUCKETS + mantissa) << octave
    }

    /// Counts one sample (µs). Inlined: the HTML report records three per
    /// invocation.
    #[inline]
    pub fn record(&mut self, value: u64) {
        let bucket = Self::bucket_of(value);
        if bucket >= self.counts.len() {
            self.grow(bucket);
        }
        self.counts[bucket] += 1;
        self.samples += 1;
        self.max = self.max.max(value);
    }

    /// How many samples were added.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// The largest sample, exactly; `None` when empty.
    pub fn max(&self) -> Option<u64> {
        (self.samples > 0).then_some(self.max)
    }

    /// The nearest-rank percentile (`per_mille` of 1,000), as its bucket's
    /// lower bound (never above the maximum); `None` when empty.
    pub fn percentile(&self, per_mille: u64) -> Option<u64> {
        if self.samples == 0 {
            return None;
        }
        let rank = (self.samples * per_mille).div_ceil(1_000).max(1);
        let mut seen = 0;
        for (bucket, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(Self::lower_bound(bucket).min(self.max));
            }
        }
        Some(self.max)
    }

    /// p50, p90, p99 and max.
    pub fn summary(&self) -> [Option<u64>; 4] {
        [
            self.percentile(500),
            self.percentile(900),
            self.percentile(990),
            self.max(),
        ]
    }

    /// The empirical CDF at each occupied bucket: (the bucket's lower
    /// bound, never above the maximum; samples at or below the bucket), in
    /// increasing order.
    pub fn cumulative(&self) -> Vec<(u64, u64)> {
        let mut seen = 0;
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, &count)| count > 0)
            .map(|(bucket, &count)| {
                seen += count;
                (Self::lower_bound(bucket).min(self.max), seen)
            })
            .collect()
    }

    /// Counters allocated: bounded by the largest value's octave.
    pub fn counters(&self) -> usize {
        self.counts.len()
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

    /// SimFaaS's figures, from the same events.
    pub fn simfaas(&self) -> &SimfaasWindow {
        &self.simfaas
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
        ("containers_expired", Value::from(m.containers_expired)),
    ];
    // SimFaaS's figures, from 0 to the last arrival (`SimfaasWindow`).
    let window = latencies.simfaas.at_last_arrival();
    let averages = window.averages();
    let number = |value: Option<f64>| value.map_or(Value::Null, Value::from);
    fields.extend([
        ("simfaas_avg_containers", number(averages.map(|a| a[0]))),
        ("simfaas_avg_running", number(averages.map(|a| a[1]))),
        ("simfaas_avg_idle", number(averages.map(|a| a[2]))),
        ("simfaas_utilization", number(window.utilization())),
        ("simfaas_containers_expired", Value::from(window.expired)),
        (
            "simfaas_expired_lifespan_us_mean",
            number(window.expired_lifespan_us_mean()),
        ),
    ]);
    fields.extend([
        (
            "cost",
            Value::from(m.cost_picodollars as f64 / PICODOLLARS_PER_DOLLAR),
        ),
        (
            "cost_picodollars",
            Value::from(u64::try_from(m.cost_picodollars).unwrap_or(u64::MAX)),
        ),
        // The warm floors' provisioned time (spec R164), apart from the
        // invocations' bills above.
        (
            "provisioned_cost",
            Value::from(run.provisioned_cost_picodollars as f64 / PICODOLLARS_PER_DOLLAR),
        ),
        (
            "provisioned_cost_picodollars",
            Value::from(u64::try_from(run.provisioned_cost_picodollars).unwrap_or(u64::MAX)),
        ),
        ("floors_placed", Value::from(m.floors_placed)),
        ("floor_warm_starts", Value::from(m.floor_warm_starts)),
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
    ]);
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
        // Invocations the run stopped with that never ended (spec R133): a
        // queue no host will drain, say, is not "0 unaccounted" alone.
        ("queued_at_end", Value::from(m.queued_now)),
        ("in_flight_at_end", Value::from(m.in_flight_now)),
        ("retrying_at_end", Value::from(m.retrying_now)),
        ("unaccounted_invocations", Value::from(unaccounted(m))),
        ("containers_at_end", Value::from(m.containers_now)),
        // Pre-warming (spec §29): only the hybrid histogram pre-warms.
        ("containers_unloaded", Value::from(m.containers_unloaded)),
        ("prewarms_planned", Value::from(m.prewarms_planned)),
        ("prewarms", Value::from(m.prewarms)),
        ("prewarms_skipped", Value::from(m.prewarms_skipped)),
        ("prewarm_warm_starts", Value::from(m.prewarm_warm_starts)),
        // Per-container concurrency (spec R57b): warm starts that joined a
        // running container, or one still starting (0 at concurrency 1).
        ("joins_running", Value::from(m.joins_running)),
        ("joins_starting", Value::from(m.joins_starting)),
        // The autoscaler (spec §31): ticks at which it acted, containers
        // it pre-warmed (also in `prewarms`) and idle ones it removed.
        ("autoscale_decisions", Value::from(m.autoscale_decisions)),
        ("autoscale_prewarms", Value::from(m.autoscale_prewarms)),
        (
            "containers_scaled_down",
            Value::from(m.containers_scaled_down),
        ),
    ]);
    fields
}

/// What a report value may be, for readers of reports written elsewhere
/// (`merge` reads result files): the schema [`fields`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    /// A whole number (`u64`).
    Count,
    /// A whole number, or null when nothing was measured (a percentile).
    CountOrNull,
    /// A share in [0, 1], or null when its whole is 0.
    Ratio,
    /// A non-negative finite number, or null when undefined (an average
    /// over no time).
    NumberOrNull,
    /// A non-negative finite number.
    Number,
    /// 16 lowercase hex digits.
    Digest,
}

/// The kind of each report key (see [`fields`]).
pub fn kind_of(key: &str) -> ValueKind {
    match key {
        "events_digest" => ValueKind::Digest,
        "cost" | "provisioned_cost" => ValueKind::Number,
        "cold_start_ratio" | "simfaas_cold_start_prob" => ValueKind::Ratio,
        key if key.ends_with("_ratio") => ValueKind::Ratio,
        "avg_containers"
        | "avg_running"
        | "avg_idle"
        | "utilization"
        | "simfaas_avg_containers"
        | "simfaas_avg_running"
        | "simfaas_avg_idle"
        | "simfaas_utilization"
        | "simfaas_expired_lifespan_us_mean" => ValueKind::NumberOrNull,
        key if key.starts_with("start_delay_us_") || key.starts_with("end_to_end_us_") => {
            ValueKind::CountOrNull
        }
        _ => ValueKind::Count,
    }
}

/// Checks one value against its key's kind; the problem says what it is.
pub fn check_value(key: &str, value: &Value) -> Result<(), String> {
    let kind = kind_of(key);
    let shown = || crate::files::echo(&value.to_string());
    let nullable = matches!(
        kind,
        ValueKind::CountOrNull | ValueKind::Ratio | ValueKind::NumberOrNull
    );
    if value.is_null() {
        return if nullable {
            Ok(())
        } else {
            Err("null, expected a value".to_string())
        };
    }
    match kind {
        ValueKind::Digest => match value.as_str() {
            Some(text)
                if text.len() == 16
                    && text
                        .chars()
                        .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)) =>
            {
                Ok(())
            }
            _ => Err(format!("{}, expected 16 lowercase hex digits", shown())),
        },
        ValueKind::Count | ValueKind::CountOrNull => match value.as_u64() {
            Some(_) => Ok(()),
            None => Err(format!("{}, expected a whole number ≥ 0", shown())),
        },
        ValueKind::Ratio | ValueKind::Number | ValueKind::NumberOrNull => {
            let Some(number) = value.as_f64().filter(|n| n.is_finite() && *n >= 0.0) else {
                return Err(format!("{}, expected a number ≥ 0", shown()));
            };
            if kind == ValueKind::Ratio && number > 1.0 {
                return Err(format!("{}, expected a share from 0 to 1", shown()));
            }
            Ok(())
        }
    }
}

/// Checks a report read back: exactly the keys of [`keys`], in order,
/// each value of its kind. The problem names the key.
pub fn check_report(fields: &[(String, Value)]) -> Result<(), String> {
    let expected = keys();
    for (index, key) in expected.iter().enumerate() {
        match fields.get(index) {
            Some((found, _)) if found == key => {}
            Some((found, _)) if !expected.contains(&found.as_str()) => {
                return Err(format!(
                    "report.{}: not a report key",
                    crate::files::echo(found)
                ))
            }
            _ if !fields.iter().any(|(found, _)| found == key) => {
                return Err(format!("report.{key}: missing"))
            }
            _ => {
                return Err(format!(
                    "report.{key}: out of order (keys as `simulate --json` writes them)"
                ))
            }
        }
    }
    if let Some((extra, _)) = fields.get(expected.len()) {
        return Err(format!(
            "report.{}: not a report key, or a key twice",
            crate::files::echo(extra)
        ));
    }
    for (key, value) in fields {
        check_value(key, value).map_err(|problem| format!("report.{key}: {problem}"))?;
    }
    Ok(())
}

/// Every key of the report, in order.
pub fn keys() -> Vec<&'static str> {
    let run = RunReport {
        steps: 0,
        drain_steps: 0,
        events: 0,
        digest: 0,
        end_us: 0,
        provisioned_cost_picodollars: 0,
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
        let mut histogram = Histogram::new();
        values.into_iter().for_each(|v| histogram.record(v));
        histogram
    }

    /// A real run's report passes the check; each kind of damage a hand
    /// or another program could do is refused, naming the key.
    #[test]
    fn check_report_takes_a_real_report_and_refuses_damage() {
        let scenario =
            crate::scenario::default_with(&["workload.invocations=300".to_string()]).unwrap();
        let fields = crate::study::compare::run_scenario(&scenario, false).unwrap();
        assert_eq!(check_report(&fields), Ok(()));
        let damaged = |change: &dyn Fn(&mut crate::study::compare::Fields)| {
            let mut copy = fields.clone();
            change(&mut copy);
            check_report(&copy).unwrap_err()
        };
        let set = |key: &'static str, value: Value| {
            move |fields: &mut crate::study::compare::Fields| {
                fields.iter_mut().find(|(k, _)| k == key).unwrap().1 = value.clone();
            }
        };
        assert_eq!(
            damaged(&set("completed", Value::from("12"))),
            "report.completed: \"12\", expected a whole number ≥ 0"
        );
        assert_eq!(
            damaged(&set("completed", Value::from(-1))),
            "report.completed: -1, expected a whole number ≥ 0"
        );
        assert_eq!(
            damaged(&set("cold_start_ratio", Value::from(1.5))),
            "report.cold_start_ratio: 1.5, expected a share from 0 to 1"
        );
        assert_eq!(
            damaged(&set("cost", Value::Null)),
            "report.cost: null, expected a value"
        );
        assert_eq!(
            damaged(&set("events_digest", Value::from("XYZ"))),
            "report.events_digest: \"XYZ\", expected 16 lowercase hex digits"
        );
        assert_eq!(
            damaged(&|f| f.push(("bonus".into(), Value::from(1)))),
            "report.bonus: not a report key, or a key twice"
        );
        assert_eq!(
            damaged(&|f| {
                f.remove(1);
            }),
            "report.completed: missing"
        );
        assert_eq!(
            damaged(&|f| f.swap(1, 2)),
            "report.completed: out of order (keys as `simulate --json` writes them)"
        );
        assert_eq!(
            damaged(&|f| f[3].0 = "timed out".into()),
            "report.timed out: not a report key"
        );
        // Every key has a kind its real value passes, nulls included.
        for (key, value) in &fields {
            assert_eq!(check_value(key, value), Ok(()), "{key}");
        }
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

    /// SimFaaS's window: integrals and lifespans up to the last arrival;
    /// only expired containers count; a reused arena slot (a new
    /// generation) is a new container.
    #[test]
    fn the_simfaas_window_ends_at_the_last_arrival() {
        use crate::{FunctionId, HostId, ImageSource, InvocationId};
        let container =
            |index: u64, generation: u64| ContainerId::from_bits((generation << 32) | index);
        let accepted = |invocation: u64| EventKind::Accepted {
            invocation: InvocationId::from_bits(invocation),
            function: FunctionId::from_bits(0),
        };
        let cold = |invocation: u64, c: ContainerId| EventKind::ColdStart {
            invocation: InvocationId::from_bits(invocation),
            container: c,
            host: HostId(0),
            image: ImageSource::HostDisk,
        };
        let idle = |c: ContainerId| EventKind::ContainerIdle {
            container: c,
            expires_at_us: 0,
        };
        let removed = |c: ContainerId, cause| EventKind::ContainerRemoved {
            container: c,
            host: HostId(0),
            cause,
        };
        let mut latencies = Latencies::new();
        assert_eq!(latencies.simfaas().at_last_arrival().averages(), None);
        for e in [
            event(10, accepted(0)),
            event(10, cold(0, container(0, 0))),
            event(20, accepted(1)),
            event(20, cold(1, container(1, 0))),
            event(30, accepted(2)),
            event(30, cold(2, container(2, 0))),
            event(110, idle(container(0, 0))),
            // Expired after 1,000 µs: counts.
            event(1_010, removed(container(0, 0), RemovalCause::Expired)),
            // Evicted while idle, discarded while busy: do not count.
            event(1_020, idle(container(1, 0))),
            event(1_020, removed(container(1, 0), RemovalCause::Evicted)),
            event(1_030, removed(container(2, 0), RemovalCause::Discarded)),
            // Slot 0 again, a new generation, the last arrival.
            event(2_000, accepted(3)),
            event(2_000, cold(3, container(0, 1))),
            event(2_500, idle(container(0, 1))),
            // After the last arrival: not in the window.
            event(5_000, removed(container(0, 1), RemovalCause::Expired)),
            // An expiry of a container never seen created is ignored.
            event(6_000, removed(container(7, 0), RemovalCause::Expired)),
        ] {
            latencies.observe(&e);
        }
        let window = *latencies.simfaas().at_last_arrival();
        // Live: 1,000 + 1,000 + 1,000 µs; busy: 100 + 1,000 + 1,000 µs.
        assert_eq!(
            window,
            WindowTotals {
                end_us: 2_000,
                live_us: 3_000,
                busy_us: 2_100,
                idle_us: 900,
                expired: 1,
                expired_lifespan_us_total: 1_000,
            }
        );
        assert_eq!(window.averages(), Some([1.5, 1.05, 0.45]));
        assert_eq!(window.utilization(), Some(0.7));
        assert_eq!(window.expired_lifespan_us_mean(), Some(1_000.0));
        let whole = latencies.simfaas().whole_run();
        assert_eq!(
            (whole.end_us, whole.live_us, whole.busy_us),
            (6_000, 6_000, 2_600)
        );
        assert_eq!(whole.expired_lifespan_us_mean(), Some(2_000.0));
    }

    /// The window's integrals, rebuilt from events, equal the core's own
    /// over a whole run of the default scenario (cold and warm starts,
    /// evictions, discards, expiries), with a fixed keep-alive and with the
    /// hybrid histogram on 1-second bins, which unloads and pre-warms.
    #[test]
    fn the_rebuilt_integrals_equal_the_cores() {
        use crate::{Builtin, HybridHistogram, KeepAlivePolicy};
        let hybrid = Builtin::default().with_keep_alive_policy(KeepAlivePolicy::HybridHistogram(
            HybridHistogram {
                bin_us: 1_000_000,
                cv_threshold_hundredths: 0,
                ..HybridHistogram::PAPER
            },
        ));
        for policies in [Builtin::default(), hybrid] {
            rebuilt_integrals_equal_the_cores(policies);
        }
    }

    fn rebuilt_integrals_equal_the_cores(policies: crate::Builtin) {
        use crate::driver::{Driver, DriverOptions};
        use crate::simulate::{default_config, default_workload};
        use crate::{KeepAlivePolicy, Pressure, Provider};
        let prewarming = matches!(
            policies.keep_alive_policy,
            KeepAlivePolicy::HybridHistogram(_)
        );
        let provider = Provider::new(default_config(Pressure::Reject), policies).unwrap();
        let mut driver = Driver::new(provider, DriverOptions::default());
        let mut latencies = Latencies::new();
        let inputs = default_workload(7, 3_000).inputs().unwrap();
        driver
            .run_with(inputs, |event| latencies.observe(event))
            .unwrap();
        let m = driver.provider().metrics();
        assert!(
            m.containers_evicted > 0 && m.containers_discarded > 0 && m.containers_expired > 0,
            "{m:?}"
        );
        assert_eq!(
            prewarming,
            m.prewarms > 0 && m.prewarm_warm_starts > 0,
            "{m:?}"
        );
        let whole = latencies.simfaas().whole_run();
        assert_eq!(
            (whole.live_us, whole.busy_us, whole.idle_us, whole.expired),
            (
                m.container_us,
                m.busy_container_us,
                m.idle_container_us,
                m.containers_expired
            )
        );
        // The window ends earlier, at the last arrival.
        let window = *latencies.simfaas().at_last_arrival();
        assert!(window.end_us < whole.end_us && window.live_us < whole.live_us);
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
            let bucket = <Histogram>::bucket_of(value);
            let low = <Histogram>::lower_bound(bucket);
            assert!(low <= value, "{value}");
            assert!(value - low <= value >> REPORT_SUB_BITS, "{value}: {low}");
            // The next bucket starts above the value.
            assert!(<Histogram>::lower_bound(bucket + 1) > value || value == u64::MAX);
        }
        // Every bucket's lower bound falls in that bucket.
        for bucket in [0, 1_023, 1_024, 2_047, 2_048, 30_000, 56_319] {
            assert_eq!(
                <Histogram>::bucket_of(<Histogram>::lower_bound(bucket)),
                bucket
            );
        }
        let histogram = histogram_of([250_000, 250_001, 5_912_311]);
        assert_eq!(histogram.percentile(500), Some(249_984));
        assert_eq!(histogram.summary()[3], Some(5_912_311));
        assert_eq!(histogram.samples(), 3);
    }

    #[test]
    fn fewer_sub_bits_small_values_are_exact_and_large_ones_close_below() {
        let mut histogram = Histogram::<5>::new();
        for value in 0..32 {
            histogram.record(value);
        }
        assert_eq!(histogram.percentile(500), Some(15));
        assert_eq!(histogram.percentile(1_000), Some(31));
        let mut large = Histogram::<5>::new();
        large.record(1_000_000);
        let q = large.percentile(500).unwrap();
        assert!(q <= 1_000_000 && q as f64 >= 1_000_000.0 * (1.0 - 1.0 / 32.0));
        assert_eq!(large.max(), Some(1_000_000));
    }

    #[test]
    fn cumulative_counts_end_at_the_sample_count() {
        let mut histogram = Histogram::<5>::new();
        for value in [5, 5, 100, 7_000, 7_001, 1 << 40] {
            histogram.record(value);
        }
        let cdf = histogram.cumulative();
        assert_eq!(cdf.first(), Some(&(5, 2)));
        assert_eq!(cdf.last().map(|p| p.1), Some(6));
        assert!(cdf.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));
        // 64 octaves at most, 32 counters each: bounded whatever the values.
        assert!(histogram.counters() <= 32 + 64 * 32);
    }

    #[test]
    fn bucket_bounds_round_trip_at_every_width() {
        assert_eq!(Histogram::<5>::bucket_of(u64::MAX), 32 + 59 * 32 - 1);
        // Octaves 0 to 58 of 5 sub-bits: the last bucket holds u64::MAX.
        for bucket in 0..32 + 59 * 32 {
            let low = Histogram::<5>::lower_bound(bucket);
            assert_eq!(Histogram::<5>::bucket_of(low), bucket);
        }
        assert_eq!(Histogram::<7>::bucket_of(u64::MAX), 128 + 57 * 128 - 1);
        assert_eq!(<Histogram>::bucket_of(u64::MAX), 1_024 + 54 * 1_024 - 1);
    }
}
