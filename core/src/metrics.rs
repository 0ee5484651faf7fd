//! Counters and time integrals kept in the state. Totals count since the
//! start; `_now` fields are gauges; `_us` integrals are sums of a gauge times
//! the time it held (divide by elapsed time for an average).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Metrics {
    pub accepted: u64,
    pub completed: u64,
    /// Failures by phase: clone, build, run.
    pub failed_by_phase: [u64; 3],
    pub timed_out: u64,
    pub rejected_resource_unavailable: u64,
    pub rejected_queue_full: u64,
    pub reaped: u64,
    /// Invocations that ever waited in the queue.
    pub queued_total: u64,

    pub cold_starts: u64,
    pub warm_starts: u64,
    /// Host tier, per cold start: image present, already arriving, absent.
    pub host_cache_hits: u64,
    pub host_cache_joins: u64,
    pub host_cache_misses: u64,
    /// Main tier, per host miss: present, already downloading, absent.
    pub main_cache_hits: u64,
    pub main_cache_joins: u64,
    pub main_cache_misses: u64,
    /// Downloads that had to wait for room in main storage.
    pub downloads_waited: u64,
    pub bytes_downloaded: u128,
    pub bytes_copied: u128,
    pub images_evicted_main: u64,
    pub images_evicted_host: u64,
    pub containers_created: u64,
    pub containers_evicted: u64,
    pub containers_expired: u64,
    pub containers_discarded: u64,
    pub decisions_refused: u64,
    pub cost_picodollars: u128,

    /// Faults (spec §27).
    pub hosts_down: u64,
    pub hosts_up: u64,
    pub main_storage_losses: u64,
    /// Failed transfer attempts (each `DownloadFailed` / `CopyFailed`).
    pub downloads_failed: u64,
    pub copies_failed: u64,
    /// Image copies on a lost disk (`ImageLost`), both tiers.
    pub images_lost: u64,
    /// Containers that died with their host.
    pub containers_lost: u64,
    /// Invocations sent back for another attempt (`Retrying`).
    pub retries: u64,
    /// Cold starts of invocations on their second or later attempt.
    pub retry_cold_starts: u64,
    /// Invocations ended on a platform error, by reason.
    pub platform_failed_host_lost: u64,
    pub platform_failed_transfer: u64,

    /// Pre-warming (spec §29): containers unloaded after their invocation
    /// (`ContainerRemoved { cause: Unloaded }`), pre-warms planned, placed
    /// (`Prewarmed`) and skipped (`PrewarmSkipped`), and warm starts taken
    /// on a pre-warmed container before its first invocation.
    pub containers_unloaded: u64,
    pub prewarms_planned: u64,
    pub prewarms: u64,
    pub prewarms_skipped: u64,
    pub prewarm_warm_starts: u64,

    pub queued_now: u64,
    /// Invocations placed and not yet ended (preparing, starting, running).
    pub in_flight_now: u64,
    pub containers_now: u64,
    pub busy_containers_now: u64,
    pub idle_containers_now: u64,
    /// Invocations waiting for their retry to be due.
    pub retrying_now: u64,

    pub container_us: u128,
    pub busy_container_us: u128,
    pub idle_container_us: u128,
    pub queued_us: u128,
}

impl Metrics {
    pub fn failed(&self) -> u64 {
        self.failed_by_phase.iter().sum()
    }

    pub fn platform_failed(&self) -> u64 {
        self.platform_failed_host_lost + self.platform_failed_transfer
    }

    pub fn rejected(&self) -> u64 {
        self.rejected_resource_unavailable + self.rejected_queue_full
    }

    /// Invocations that have ended, reaped or not.
    pub fn ended(&self) -> u64 {
        self.completed + self.failed() + self.timed_out + self.platform_failed() + self.rejected()
    }
}
