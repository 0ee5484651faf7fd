//! Counters, gauges and time integrals kept in the state (spec §22).
//!
//! Totals count since the provider was created; `_now` fields are gauges
//! (the value at the current time); `_us` integrals are sums of a gauge
//! times the virtual time it held (divide by the elapsed time for an
//! average). Every field starts at 0 and changes only in a step, at the
//! event named in its documentation, so a driver can rebuild any of them
//! from the events alone.

use serde::{Deserialize, Serialize};

/// The provider's metrics: [`Provider::metrics`](crate::Provider::metrics).
///
/// ```
/// use coldstart_core::{Builtin, Code, Command, Config, FunctionDef, Input, Provider, MIB};
///
/// let mut provider = Provider::new(Config::default(), Builtin::default())?;
/// let at = |at_us, command| Input { at_us, command };
/// let image = provider.apply(&at(0, Command::RegisterImage { size_bytes: 10 * MIB }))?.image().unwrap();
/// let function = provider
///     .apply(&at(0, Command::RegisterFunction(FunctionDef::new(image, 128 * MIB, 1_000_000))))?
///     .function()
///     .unwrap();
/// let invoke = Command::Invoke { function, code: Code::success(1_000, 0), ingress_bytes: 0, egress_bytes: 0 };
/// provider.apply(&at(0, invoke.clone()))?;
/// provider.apply(&at(10_000_000, invoke))?; // the first container is idle by now
///
/// let metrics = provider.metrics();
/// assert_eq!((metrics.accepted, metrics.cold_starts, metrics.warm_starts), (2, 1, 1));
/// assert_eq!(metrics.completed, 1); // the second one is still starting
/// assert_eq!(metrics.bytes_downloaded, u128::from(10 * MIB));
/// assert_eq!(metrics.containers_now, 1);
/// assert_eq!(metrics.ended(), metrics.completed);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Metrics {
    /// Invocations accepted: one per `Accepted` event (spec R43).
    pub accepted: u64,
    /// Invocations that completed: one per `Completed` event.
    pub completed: u64,
    /// Invocations that failed, by phase: clone, build, run (indexed by
    /// `Phase::index`); one per `Failed` event. Their sum is
    /// [`Metrics::failed`].
    pub failed_by_phase: [u64; 3],
    /// Invocations that ran past their time limit: one per `TimedOut` event.
    pub timed_out: u64,
    /// Invocations rejected in reject mode for want of room
    /// (`Rejected { reason: ResourceUnavailable }`, spec R49).
    pub rejected_resource_unavailable: u64,
    /// Invocations rejected in queue mode because the queue was full
    /// (`Rejected { reason: QueueFull }`).
    pub rejected_queue_full: u64,
    /// Terminal records dropped, by `Reap` or retention: one per `Reaped`
    /// event (spec R100).
    pub reaped: u64,
    /// Invocations that ever waited in the queue: one per `Queued` event
    /// (a retried invocation that queues again counts again).
    pub queued_total: u64,

    /// Cold starts: one per `ColdStart` event (pre-warms are counted in
    /// `prewarms`, not here).
    pub cold_starts: u64,
    /// Warm starts: one per `WarmStart` event.
    pub warm_starts: u64,
    /// Cold starts that found the image on the host's disk
    /// (`ImageSource::HostDisk`).
    pub host_cache_hits: u64,
    /// Cold starts that joined a copy already on its way to the host
    /// (`ImageSource::HostCopyInFlight`).
    pub host_cache_joins: u64,
    /// Cold starts whose host did not hold the image (any other source).
    /// Each such miss counts once more in one of the `main_cache_*` fields.
    pub host_cache_misses: u64,
    /// Host misses that found the image in main storage
    /// (`ImageSource::MainStorage`).
    pub main_cache_hits: u64,
    /// Host misses that joined a download in flight or waiting for room
    /// (`ImageSource::DownloadInFlight`).
    pub main_cache_joins: u64,
    /// Host misses that had to download the image (`ImageSource::Registry`).
    pub main_cache_misses: u64,
    /// Downloads that had to wait for room in main storage: one per
    /// `DownloadWaiting` event (spec R75).
    pub downloads_waited: u64,
    /// Bytes downloaded into main storage, counted in full when each
    /// download starts or restarts (`DownloadStarted`).
    pub bytes_downloaded: u128,
    /// Bytes copied from main storage to hosts, counted in full when each
    /// copy starts or restarts (`CopyStarted`).
    pub bytes_copied: u128,
    /// Images evicted from main storage (`ImageEvicted` with
    /// `Tier::MainStorage`), for room or by a collection.
    pub images_evicted_main: u64,
    /// Image copies evicted from hosts' disks (`ImageEvicted` with
    /// `Tier::Host`), for room or by a collection.
    pub images_evicted_host: u64,
    /// Containers created, by cold starts and pre-warms (`ColdStart`,
    /// `Prewarmed`).
    pub containers_created: u64,
    /// Idle containers evicted to make room (`ContainerRemoved` with
    /// `RemovalCause::Evicted`).
    pub containers_evicted: u64,
    /// Idle containers whose keep-alive ran out (`RemovalCause::Expired`).
    pub containers_expired: u64,
    /// Containers destroyed after a failure or a time-out, or because their
    /// transfer was given up (`RemovalCause::Discarded`).
    pub containers_discarded: u64,
    /// Host-selection decisions the core refused (spec R54.5): one per
    /// `DecisionRefused` event, plus one per pre-warm skipped as
    /// `PrewarmSkip::Refused`.
    pub decisions_refused: u64,
    /// The total billed, in picodollars: the sum of the costs of every
    /// `Completed`, `Failed`, `TimedOut` and `ContainerBilled` event (spec
    /// R89, R104b).
    pub cost_picodollars: u128,

    /// Hosts that went down: one per `HostDown` event (spec R141).
    pub hosts_down: u64,
    /// Hosts that came back: one per `HostUp` event (spec R142).
    pub hosts_up: u64,
    /// Losses of main storage: one per `MainStorageLost` event (spec R145).
    pub main_storage_losses: u64,
    /// Failed download attempts: one per `DownloadFailed` event, retried or
    /// not.
    pub downloads_failed: u64,
    /// Failed copy attempts: one per `CopyFailed` event, retried or not.
    pub copies_failed: u64,
    /// Images on a lost disk, both tiers: one per `ImageLost` event.
    pub images_lost: u64,
    /// Containers that died with their host (`RemovalCause::HostLost`).
    pub containers_lost: u64,
    /// Invocations sent back for another attempt: one per `Retrying` event
    /// (spec R147).
    pub retries: u64,
    /// Cold starts of invocations on their second or later attempt (spec
    /// R146); also counted in `cold_starts`.
    pub retry_cold_starts: u64,
    /// Invocations ended on a platform error because their host went down
    /// with no attempt left (`PlatformError::HostLost`).
    pub platform_failed_host_lost: u64,
    /// Invocations ended on a platform error because their image could not
    /// be brought to their host (`PlatformError::TransferFailed`).
    pub platform_failed_transfer: u64,

    /// Containers unloaded right after their invocation because the policy
    /// planned a pre-warm (`RemovalCause::Unloaded`, spec R155).
    pub containers_unloaded: u64,
    /// Pre-warms planned: one per `PrewarmPlanned` event.
    pub prewarms_planned: u64,
    /// Pre-warms that placed a container: one per `Prewarmed` event (spec
    /// R156).
    pub prewarms: u64,
    /// Pre-warms that were due and placed nothing: one per `PrewarmSkipped`
    /// event.
    pub prewarms_skipped: u64,
    /// Warm starts on a pre-warmed container before its first invocation
    /// (also counted in `warm_starts`, spec R57): the pre-warms that paid
    /// off.
    pub prewarm_warm_starts: u64,
    /// Reconcile ticks at which the autoscaler's answer for a function
    /// differed from its live containers: one per `Scaled` event (spec
    /// R169).
    #[serde(default)]
    pub autoscale_decisions: u64,
    /// Pre-warms placed for the autoscaler (also counted in `prewarms`).
    #[serde(default)]
    pub autoscale_prewarms: u64,
    /// Idle containers removed because the autoscaler wanted fewer
    /// (`RemovalCause::ScaledDown`).
    #[serde(default)]
    pub containers_scaled_down: u64,
    /// Warm starts that joined a running container of a function with
    /// concurrency above 1 (also counted in `warm_starts`, spec R57b).
    #[serde(default)]
    pub joins_running: u64,
    /// Warm starts that joined a container still preparing or starting
    /// (also counted in `warm_starts`, spec R57b).
    #[serde(default)]
    pub joins_starting: u64,
    /// Floor containers placed (`FloorPlaced`, spec R162).
    #[serde(default)]
    pub floors_placed: u64,
    /// Floor top-ups that stopped short (`FloorShort`, spec R161).
    #[serde(default)]
    pub floor_shorts: u64,
    /// Warm starts (joins included) on a floor container (spec R163).
    #[serde(default)]
    pub floor_warm_starts: u64,

    /// Invocations waiting in the queue now. Every accepted invocation
    /// counts here from `Accepted` until it starts or is rejected, within
    /// its own step unless it is `Queued` (spec R118).
    pub queued_now: u64,
    /// Invocations started and not yet ended: preparing, starting or
    /// running.
    pub in_flight_now: u64,
    /// Live containers, idle or not.
    pub containers_now: u64,
    /// Live containers that are not idle (preparing, starting, running, or
    /// pre-warming).
    pub busy_containers_now: u64,
    /// Idle (warm) containers.
    pub idle_containers_now: u64,
    /// Idle floor containers now (`Reserved`, spec R163); counted in
    /// `idle_containers_now` too.
    #[serde(default)]
    pub reserved_containers_now: u64,
    /// Live floor containers now, in any state (spec R160).
    #[serde(default)]
    pub floor_containers_now: u64,
    /// The memory of the live floor containers now (bytes, spec R164).
    #[serde(default)]
    pub floor_memory_bytes_now: u64,
    /// Invocations waiting for their retry to be due (between `Retrying`
    /// and its `at_us`).
    pub retrying_now: u64,

    /// The integral of `containers_now` over virtual time (µs × containers,
    /// spec R120): divided by the elapsed µs, the mean number of live
    /// containers.
    pub container_us: u128,
    /// The integral of `busy_containers_now` over virtual time (µs ×
    /// containers).
    pub busy_container_us: u128,
    /// The integral of `idle_containers_now` over virtual time (µs ×
    /// containers): the warm capacity kept, pre-warms included.
    pub idle_container_us: u128,
    /// The integral of `queued_now` over virtual time (µs × invocations):
    /// divided by `queued_total`, the mean time each stay in the queue has
    /// lasted so far.
    pub queued_us: u128,
    /// `floor_memory_bytes_now` integrated over time (bytes × µs): what the
    /// floor's provisioned time is billed by (spec R164).
    #[serde(default)]
    pub floor_byte_us: u128,
}

/// The totals are methods, not fields, on purpose: each is a sum of fields
/// the core keeps (`failed_by_phase`, the two platform-failure and the two
/// rejection reasons), and a stored copy would be one more number that
/// could disagree with its parts. The invariant check still proves the
/// parts add up to what was accepted: `accepted = queued_now +
/// in_flight_now + retrying_now + ended()` (spec R133, in
/// [`Provider::check_invariants`](crate::Provider::check_invariants)).
impl Metrics {
    /// Invocations that failed, all phases (the sum of `failed_by_phase`).
    pub fn failed(&self) -> u64 {
        self.failed_by_phase.iter().sum()
    }

    /// Invocations that ended on a platform error, both reasons.
    pub fn platform_failed(&self) -> u64 {
        self.platform_failed_host_lost + self.platform_failed_transfer
    }

    /// Invocations rejected, both reasons.
    pub fn rejected(&self) -> u64 {
        self.rejected_resource_unavailable + self.rejected_queue_full
    }

    /// Invocations that have ended, reaped or not (spec R119): completed,
    /// failed, timed out, failed on the platform or rejected. With the
    /// gauges it accounts for every accepted invocation: `accepted =
    /// queued_now + in_flight_now + retrying_now + ended()` (spec R133).
    pub fn ended(&self) -> u64 {
        self.completed + self.failed() + self.timed_out + self.platform_failed() + self.rejected()
    }
}
