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

    pub queued_now: u64,
    /// Invocations placed and not yet ended (preparing, starting, running).
    pub in_flight_now: u64,
    pub containers_now: u64,
    pub busy_containers_now: u64,
    pub idle_containers_now: u64,

    pub container_us: u128,
    pub busy_container_us: u128,
    pub idle_container_us: u128,
    pub queued_us: u128,
}

impl Metrics {
    pub fn failed(&self) -> u64 {
        self.failed_by_phase.iter().sum()
    }

    pub fn rejected(&self) -> u64 {
        self.rejected_resource_unavailable + self.rejected_queue_full
    }

    /// Invocations that have ended, reaped or not.
    pub fn ended(&self) -> u64 {
        self.completed + self.failed() + self.timed_out + self.rejected()
    }
}
