//! The provider's state: entities, caches, timers and metrics. The rules
//! that change it live in `step.rs` (inputs and timers), `placement.rs`
//! (room on hosts) and `storage.rs` (the two disk tiers).

use crate::arena::Arena;
use crate::config::{Config, HostSpec};
use crate::event::{PlatformError, RejectReason};
use crate::hosts::Hosts;
use crate::ids::{ContainerId, FunctionId, HostId, ImageId, InvocationId};
use crate::input::{Code, Phase};
use crate::metrics::Metrics;
use crate::ordered_set::OrderedSet;
use crate::timers::Timers;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// A position in an ordered candidate set: `(priority, seq)`.
pub(crate) type OrderKey = (u64, u64);
/// A pending timer's key: `(due_us, seq)`; timers fire in this order.
pub(crate) type TimerKey = (u64, u64);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Core {
    pub config: Config,
    pub now_us: u64,
    /// Draws one number per timer, ordered-set entry and container: the
    /// tie-breaker everywhere.
    pub seq: u64,
    pub images: Arena<ImageId, Image>,
    pub functions: Arena<FunctionId, Function>,
    pub invocations: Arena<InvocationId, Invocation>,
    pub containers: Arena<ContainerId, Container>,
    /// The hosts, indexed for first fit (`hosts.rs`); written through
    /// `IndexMut`, which keeps the index honest.
    pub hosts: Hosts,
    pub main: MainStorage,
    pub timers: Timers,
    /// Invocations waiting for room, oldest first (queue mode).
    pub queue: VecDeque<InvocationId>,
    /// The functions whose floor is short (`floor < min_scale`, R160), in
    /// function order.
    #[serde(default)]
    pub short: std::collections::BTreeSet<FunctionId>,
    /// Terminal invocations in the order they ended, kept only when
    /// `terminal_records_max` is set; may hold ids reaped since.
    pub ended_order: VecDeque<InvocationId>,
    pub metrics: Metrics,
    /// How commands are judged against the timers due by their time (R29);
    /// only replays of old logs change it.
    #[serde(default)]
    pub timing: crate::applied::InputTiming,
    /// The shared links' transfers (R85a); empty with dedicated bandwidth.
    #[serde(default)]
    pub links: crate::links::Links,
    /// The autoscaler's reconcile timer (R167).
    #[serde(default)]
    pub reconcile: crate::autoscale::Reconcile,
    /// The hosts' shared runs (R85f); empty with dedicated CPU.
    #[serde(default)]
    pub cpus: crate::cpu::Cpus,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Image {
    pub size_bytes: u64,
    pub main: MainState,
    /// Copies out of main storage in progress.
    pub copy_pins: u32,
    /// Hosts waiting for the download to finish before their copy starts.
    pub waiting_hosts: Vec<HostId>,
    pub first_stored_us: u64,
    pub last_used_us: u64,
    pub uses: u64,
    /// Its place in main storage's eviction order, while evictable.
    pub evict_key: Option<OrderKey>,
    /// The attempt number of its current (or last) download, from 1.
    pub download_attempt: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum MainState {
    Absent,
    /// Waiting for room in main storage to start downloading.
    AwaitingRoom,
    Downloading,
    /// Its download failed and waits for its next attempt (`DownloadRetry`);
    /// its bytes stay reserved.
    DownloadBackoff,
    Present,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub(crate) struct MainStorage {
    /// Bytes of downloading and present images.
    pub used_bytes: u64,
    pub evictable_bytes: u64,
    pub evictable: OrderedSet<(u64, u64, ImageId)>,
    /// Downloads waiting for room, oldest first.
    pub pending: VecDeque<ImageId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Function {
    pub image: ImageId,
    pub memory_bytes: u64,
    pub scratch_bytes: u64,
    pub time_limit_us: u64,
    /// Its cold-start overhead: its own, or the configuration's (R41a).
    pub cold_start_us: u64,
    /// Its warm-start overhead: its own, or the configuration's (R41a).
    pub warm_start_us: u64,
    /// The most invocations one container runs at once (R57a).
    pub concurrency: u32,
    /// The CPU each of its running invocations demands, in millicores
    /// (R85f).
    pub cpu_millis: u32,
    /// Idle containers of this function by warm priority.
    pub idle: OrderedSet<(u64, u64, ContainerId)>,
    /// Its non-idle containers with room for another invocation, by
    /// `(join_priority, created_seq)` (R57b); empty at concurrency 1.
    pub joinable: OrderedSet<(u64, u64, ContainerId)>,
    /// Its planned pre-warm, if one is pending (R155).
    pub prewarm: Option<PendingPrewarm>,
    /// Its live containers, in any state (R168).
    #[serde(default)]
    pub containers: u32,
    /// Of those, the ones not yet ready once (R168).
    #[serde(default)]
    pub unready: u32,
    /// Its observed concurrency (R166): its unended invocations, when that
    /// count last changed, and its integral (invocation·µs) since the last
    /// reconcile tick up to then.
    #[serde(default)]
    pub demand: crate::autoscale::Demand,
    /// How many containers it keeps warm at all times (R159).
    #[serde(default)]
    pub min_scale: u32,
    /// Its live floor containers, in any state (R160).
    #[serde(default)]
    pub floor: u32,
    /// Its idle floor containers (`Reserved`) by warm priority (R160).
    #[serde(default)]
    pub reserved: OrderedSet<(u64, u64, ContainerId)>,
}

/// A pre-warm planned for a function: its `Prewarm` timer, and how long the
/// pre-warmed container is to stay idle once ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PendingPrewarm {
    pub timer: TimerKey,
    pub keep_alive_us: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Host {
    pub spec: HostSpec,
    /// False while the host is down: no containers, nothing arriving.
    pub up: bool,
    pub ram_used_bytes: u64,
    pub slots_used: u32,
    /// Image copies (present or arriving) plus container scratch.
    pub disk_used_bytes: u64,
    pub idle_count: u32,
    pub busy_count: u32,
    pub idle_ram_bytes: u64,
    pub idle_scratch_bytes: u64,
    /// Present images pinned by nothing.
    pub evictable_image_bytes: u64,
    /// Present images pinned only by idle containers.
    pub idle_pinned_image_bytes: u64,
    pub images: BTreeMap<ImageId, HostImage>,
    pub evictable_images: OrderedSet<(u64, u64, ImageId)>,
    /// Idle containers on this host by eviction priority.
    pub idle: OrderedSet<(u64, u64, ContainerId)>,
    /// The CPU demand of the invocations running on it, in millicores
    /// (R85f), whatever the CPU mode.
    #[serde(default)]
    pub cpu_demand_millis: u64,
}

impl Host {
    pub fn new(spec: HostSpec) -> Host {
        Host {
            spec,
            up: true,
            ram_used_bytes: 0,
            slots_used: 0,
            disk_used_bytes: 0,
            idle_count: 0,
            busy_count: 0,
            idle_ram_bytes: 0,
            idle_scratch_bytes: 0,
            evictable_image_bytes: 0,
            idle_pinned_image_bytes: 0,
            images: BTreeMap::new(),
            evictable_images: OrderedSet::default(),
            idle: OrderedSet::default(),
            cpu_demand_millis: 0,
        }
    }

    pub fn ram_free_bytes(&self) -> u64 {
        self.spec.ram_bytes - self.ram_used_bytes
    }

    pub fn slots_free(&self) -> u32 {
        self.spec.slots - self.slots_used
    }

    pub fn disk_free_bytes(&self) -> u64 {
        self.spec.disk_bytes - self.disk_used_bytes
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct HostImage {
    pub size_bytes: u64,
    /// On its way (waiting for the download, or being copied).
    pub arriving: bool,
    /// Containers waiting for it to arrive.
    pub waiting: Vec<ContainerId>,
    /// Live non-idle containers using it.
    pub pins_busy: u32,
    /// Idle containers using it.
    pub pins_idle: u32,
    pub first_stored_us: u64,
    pub last_used_us: u64,
    pub uses: u64,
    pub evict_key: Option<OrderKey>,
    /// The attempt number of its copy from main storage, from 1.
    pub copy_attempt: u32,
}

/// How a host image copy counts toward what placement may reclaim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ImageClass {
    /// Arriving, or used by a non-idle container: never evicted.
    Pinned,
    /// Present, used only by idle containers: freed once they are evicted.
    IdlePinned,
    /// Present and unused: evictable.
    Evictable,
}

impl HostImage {
    pub fn class(&self) -> ImageClass {
        if self.arriving || self.pins_busy > 0 {
            ImageClass::Pinned
        } else if self.pins_idle > 0 {
            ImageClass::IdlePinned
        } else {
            ImageClass::Evictable
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Container {
    pub function: FunctionId,
    pub host: HostId,
    pub image: ImageId,
    pub memory_bytes: u64,
    pub scratch_bytes: u64,
    pub created_at_us: u64,
    pub created_seq: u64,
    pub last_used_us: u64,
    pub uses: u64,
    pub state: ContainerState,
    /// Its invocations after the one its state names, in the order they
    /// joined (R57b); empty at concurrency 1.
    pub joined: Vec<InvocationId>,
    /// An invocation of it failed or timed out while others ran: it takes
    /// no more, and is discarded when the last leaves (R89a).
    pub retiring: bool,
    /// Its key in its function's `joinable` set, while it is there.
    pub join_key: Option<OrderKey>,
    /// Whether it has been ready once (its first `ContainerReady` fired):
    /// counted in its function's ready containers from then (R168).
    #[serde(default)]
    pub started: bool,
    /// When its cold-start overhead began (R104b): its life as a billed
    /// instance starts there; `None` while its image is on its way.
    pub started_at_us: Option<u64>,
    /// How long it has been idle, over its past idle spells (µs; R104b).
    pub idle_us: u64,
    /// Placed to hold its function's floor (R160): never expires, never
    /// evicted; idle, it is `Reserved`.
    #[serde(default)]
    pub floor: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ContainerState {
    /// Waiting for its image to reach the host's disk. `invocation` is
    /// its oldest invocation (the others are in `Container::joined`).
    Preparing { invocation: InvocationId },
    /// Paying the start overhead (cold or warm).
    Starting { invocation: InvocationId },
    /// Running its invocations' code.
    Busy { invocation: InvocationId },
    /// Pre-warmed, with no invocation: waiting for its image to reach the
    /// host's disk (R156).
    PrewarmPreparing { keep_alive_us: u64 },
    /// Pre-warmed, with no invocation: paying the cold-start overhead, then
    /// idle for `keep_alive_us` (R157).
    PrewarmStarting { keep_alive_us: u64 },
    /// A floor container, warm and unused (R160): idle for the warm path
    /// and the gauges, held like a busy container by its host (never
    /// evicted, no keep-alive).
    Reserved { warm_key: OrderKey },
    /// Warm and unused.
    Idle {
        expiry: TimerKey,
        warm_key: OrderKey,
        evict_key: OrderKey,
        /// When it went idle.
        since_us: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Invocation {
    pub function: FunctionId,
    pub accepted_at_us: u64,
    pub code: Code,
    pub ingress_bytes: u64,
    pub egress_bytes: u64,
    /// Which attempt this is, from 1 (faults may retry it, spec §27).
    pub attempt: u32,
    pub state: InvState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum InvState {
    Queued {
        since_us: u64,
    },
    Preparing {
        container: ContainerId,
        host: HostId,
    },
    Starting {
        container: ContainerId,
        host: HostId,
        cold: bool,
    },
    Running {
        container: ContainerId,
        host: HostId,
        cold: bool,
        code_start_us: u64,
    },
    /// Lost its container to a fault; admitted again at `retry_at_us`.
    Retrying {
        retry_at_us: u64,
    },
    Ended(Ending),
}

/// How and when an invocation ended: what `get_state` reports as
/// `InvocationState::Ended` and the waits return.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ending {
    /// When it ended (µs): the time of its terminal event.
    pub at_us: u64,
    /// How it ended.
    pub outcome: EndOutcome,
}

/// The terminal outcome of an invocation, one per terminal event
/// (`Completed`, `Failed`, `TimedOut`, `Rejected`, `PlatformFailed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EndOutcome {
    /// Its code ran to the end and succeeded (spec R89).
    Completed {
        /// The output its code was given (`Outcome::Success`).
        output: u64,
        /// What it was billed (picodollars, spec R102).
        cost_picodollars: u64,
    },
    /// Its code failed in `phase` (spec R89).
    Failed {
        /// The phase that failed.
        phase: Phase,
        /// What it was billed, up to the failure (picodollars).
        cost_picodollars: u64,
    },
    /// Its code ran past the function's time limit and was stopped there.
    TimedOut {
        /// What it was billed, up to the limit (picodollars).
        cost_picodollars: u64,
    },
    /// It never started: no room, or the queue was full (not billed).
    Rejected {
        /// Why.
        reason: RejectReason,
    },
    /// A platform error ended it (not billed).
    PlatformFailed {
        /// Which error (a host lost with no attempt left, a transfer that
        /// failed for good).
        reason: PlatformError,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Timer {
    DownloadDone {
        image: ImageId,
    },
    CopyDone {
        host: HostId,
        image: ImageId,
    },
    ContainerReady {
        container: ContainerId,
    },
    InvocationEnd {
        invocation: InvocationId,
    },
    KeepAliveExpired {
        container: ContainerId,
    },
    /// A retried invocation's next attempt is due.
    RetryDue {
        invocation: InvocationId,
    },
    /// A failed download's next attempt is due.
    DownloadRetry {
        image: ImageId,
    },
    /// A failed copy's next attempt is due.
    CopyRetry {
        host: HostId,
        image: ImageId,
    },
    /// The function's planned pre-warm is due (R156).
    Prewarm {
        function: FunctionId,
    },
    /// The autoscaler's reconcile tick (R167).
    Reconcile,
}

impl Core {
    pub fn new(config: Config) -> Core {
        let links = crate::links::Links::new(config.bandwidth, config.hosts.len());
        let cpus = crate::cpu::Cpus::new(config.cpu, config.hosts.len());
        let hosts = Hosts::new(config.hosts.iter().map(|&spec| Host::new(spec)).collect());
        Core {
            config,
            now_us: 0,
            seq: 0,
            images: Arena::default(),
            functions: Arena::default(),
            invocations: Arena::default(),
            containers: Arena::default(),
            hosts,
            main: MainStorage::default(),
            timers: Timers::default(),
            queue: VecDeque::new(),
            short: Default::default(),
            ended_order: VecDeque::new(),
            metrics: Metrics::default(),
            timing: Default::default(),
            links,
            reconcile: Default::default(),
            cpus,
        }
    }

    pub fn next_seq(&mut self) -> u64 {
        let seq = self.seq;
        self.seq += 1;
        seq
    }

    pub fn schedule(&mut self, due_us: u64, timer: Timer) -> TimerKey {
        let key = (due_us, self.next_seq());
        self.timers.insert(key, timer);
        key
    }

    /// Moves virtual time forward, accumulating the time integrals.
    pub fn set_now(&mut self, t_us: u64) {
        debug_assert!(t_us >= self.now_us, "time went backwards");
        let dt = u128::from(t_us - self.now_us);
        let m = &mut self.metrics;
        m.container_us += dt * u128::from(m.containers_now);
        m.busy_container_us += dt * u128::from(m.busy_containers_now);
        m.idle_container_us += dt * u128::from(m.idle_containers_now);
        m.queued_us += dt * u128::from(m.queued_now);
        m.floor_byte_us += dt * u128::from(m.floor_memory_bytes_now);
        self.now_us = t_us;
    }
}

/// Reports a broken internal invariant. Reaching this is a bug in coldstart,
/// never a consequence of input data.
#[track_caller]
pub(crate) fn bug(what: &str) -> ! {
    panic!("coldstart internal invariant broken: {what}")
}
