//! Policies: the decisions a provider delegates. A policy sees read-only
//! facts and returns a decision; the core validates every decision, so no
//! policy, however wrong, can break an invariant.
//!
//! Ordering decisions (which idle container to reuse or evict, which image
//! to evict) are expressed as priorities: the core keeps candidates in an
//! ordered set by `(priority, seq)` and takes the lowest, where `seq` is the
//! provider's sequence number drawn when the candidate entered the set. Any
//! `u64` is a valid priority, and each choice costs O(log n).

use crate::billing::{Billing, ContainerUsage, LambdaPrices, Usage};
use crate::config::HostSpec;
use crate::event::Tier;
use crate::ids::{ContainerId, FunctionId, HostId, ImageId, InvocationId};
use crate::policies::autoscale;
pub use crate::policies::autoscale::{Kpa, KpaState};
use crate::policies::hosts;
pub use crate::policies::images::ImageEviction;
pub use crate::policies::keep_alive::HybridHistogram;
use crate::policies::keep_alive::{self, IdleHistogram};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a host-selection policy is asked to place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlacementRequest {
    /// The invocation to start, or `None` for a pre-warm (spec R156).
    pub invocation: Option<InvocationId>,
    /// The function a container is needed for.
    pub function: FunctionId,
    /// Its image, which the chosen host's disk must hold (or receive).
    pub image: ImageId,
    /// The image's size: disk the host needs if it lacks the image.
    pub image_bytes: u64,
    /// RAM the container holds while it lives.
    pub memory_bytes: u64,
    /// Disk the container holds for its scratch space while it lives.
    pub scratch_bytes: u64,
}

/// A host's capacity and use, as a policy sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostFacts {
    /// The host's capacity, as configured.
    pub spec: HostSpec,
    /// RAM held by its live containers, idle ones included.
    pub ram_used_bytes: u64,
    /// Slots held by its live containers, idle ones included.
    pub slots_used: u32,
    /// Disk reserved: image copies present or arriving, and every live
    /// container's scratch.
    pub disk_used_bytes: u64,
    /// Containers idle on it (warm, evictable to make room).
    pub idle_containers: u32,
    /// Live containers that are not idle (preparing, starting or running).
    pub busy_containers: u32,
    /// The CPU demand of the invocations whose code runs on it, in
    /// millicores (spec R85f): the cores in use, against
    /// `spec.cores_millis`, whatever the CPU mode.
    pub cpu_demand_millis: u64,
}

/// Read-only view of the provider for host selection. Implemented by the core
/// and by the reference model, so one policy object serves both.
pub trait HostView {
    /// The provider's virtual time (µs).
    fn now_us(&self) -> u64;
    /// How many hosts the configuration has: hosts are `0..host_count()`.
    fn host_count(&self) -> u32;
    /// A host's capacity and use, or `None` for a host it does not have.
    fn host(&self, host: HostId) -> Option<HostFacts>;
    /// Whether the image is on the host's disk or on its way there.
    fn has_image(&self, host: HostId, image: ImageId) -> bool;
    /// Whether the host can take the request now, evicting idle containers
    /// and unpinned images if it must. A decision for a host where this is
    /// false is refused.
    fn fits(&self, host: HostId, request: &PlacementRequest) -> bool;
    /// Whether the host is up (R141, R142). A decision for a host that is
    /// down is refused with `HostDown`. Default: every host is up (a view
    /// without faults).
    fn is_up(&self, host: HostId) -> bool {
        let _ = host;
        true
    }

    /// Whether the host can take the request now without evicting any
    /// container (spec R59a): RAM that no container holds, a free slot, and
    /// disk that is free or held by unpinned images (which it may evict).
    /// Implies `fits`.
    fn fits_in_room(&self, host: HostId, request: &PlacementRequest) -> bool;

    /// The lowest-numbered host where `fits` holds, if any: first fit.
    /// Default: a scan of every host. A view may answer from an index
    /// (the core's does, in O(log hosts)), but must give the scan's answer.
    fn first_fitting_host(&self, request: &PlacementRequest) -> Option<HostId> {
        (0..self.host_count())
            .map(HostId)
            .find(|&host| self.fits(host, request))
    }

    /// The lowest-numbered host where `fits_in_room` holds, if any.
    /// Default: a scan of every host; a view may answer from an index (the
    /// core's does), but must give the scan's answer.
    fn first_host_with_room(&self, request: &PlacementRequest) -> Option<HostId> {
        (0..self.host_count())
            .map(HostId)
            .find(|&host| self.fits_in_room(host, request))
    }

    /// The lowest-numbered host numbered `start` or more where `fits`
    /// holds: round robin's first look. Default: that scan; the core
    /// answers from its index, with the same answer.
    fn first_fitting_host_from(&self, start: u32, request: &PlacementRequest) -> Option<HostId> {
        (start..self.host_count())
            .map(HostId)
            .find(|&host| self.fits(host, request))
    }

    /// Best fit's choice (spec R108): the fitting host with the least
    /// `(needs_eviction, left_bytes, host)`. Default: a scan; the core
    /// answers from its index, with the same answer.
    fn best_fitting_host(&self, request: &PlacementRequest) -> Option<HostId> {
        (0..self.host_count())
            .map(HostId)
            .filter(|&host| self.fits(host, request))
            .min_by_key(|&host| (best_fit_key(self, host, request), host))
    }

    /// Least loaded's choice (spec R108): the fitting host with the least
    /// busy containers per slot, ties to the lowest number. Default: a
    /// scan; the core answers from its index, with the same answer.
    fn least_loaded_fitting_host(&self, request: &PlacementRequest) -> Option<HostId> {
        hosts::least_loaded(self, request)
    }

    /// The lowest-numbered host that holds the request's image (`has_image`)
    /// and fits: image locality's first choice. Default: a scan; the core
    /// answers from the image's copies, with the same answer.
    fn first_fitting_host_with_image(&self, request: &PlacementRequest) -> Option<HostId> {
        (0..self.host_count())
            .map(HostId)
            .find(|&host| self.has_image(host, request.image) && self.fits(host, request))
    }

    /// Seeded random's choice (spec R108): of the hosts where `fits` holds,
    /// in host order, the one at index `reduce(hash, how many)`; `None` when
    /// none fits. Default: a scan; the core answers from its index, with
    /// the same answer.
    fn fitting_host_at(&self, request: &PlacementRequest, hash: u64) -> Option<HostId> {
        hosts::fitting_host_at(self, request, hash)
    }

    /// Home invoker's choice (spec R108): the first host where `fits` holds
    /// in the order `home, home + step, home + 2·step, …` (mod the host
    /// count; `step` coprime with it, so every host once). Default: that
    /// probe; the core probes a few and then answers from its index, with
    /// the same answer.
    fn first_fitting_host_probing(
        &self,
        request: &PlacementRequest,
        home: u32,
        step: u32,
    ) -> Option<HostId> {
        hosts::first_fitting_host_probing(self, request, home, step)
    }

    /// The busy containers of every host: consistent hashing's total load.
    /// Default: the sum of `host(…).busy_containers`; the core keeps it.
    fn busy_containers_total(&self) -> u128 {
        (0..self.host_count())
            .filter_map(|h| self.host(HostId(h)))
            .map(|facts| u128::from(facts.busy_containers))
            .sum()
    }

    /// Calls `visit` on every host in consistent hashing's ring order from
    /// `key` (by the clockwise distance from `key` to the host's nearest
    /// ring point, ties by host number; `policies::hosts::ring_order`),
    /// each once, until it returns true. Default: that order, sorted; the
    /// core walks a table of the ring's points from `key`, with the same
    /// order.
    fn walk_ring(&self, key: u64, visit: &mut dyn FnMut(HostId) -> bool) {
        for host in hosts::ring_order(self.host_count(), key) {
            if visit(host) {
                return;
            }
        }
    }
}

/// Facts about a container that has just become idle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContainerFacts {
    /// The container.
    pub container: ContainerId,
    /// The function it runs.
    pub function: FunctionId,
    /// The host it lives on.
    pub host: HostId,
    /// The RAM it holds (its function's memory).
    pub memory_bytes: u64,
    /// When it was placed (its `ColdStart`, µs).
    pub created_at_us: u64,
    /// The provider sequence number drawn when the container was created:
    /// unique, increasing with creation order.
    pub created_seq: u64,
    /// When it last finished an invocation (now, when asked).
    pub last_used_us: u64,
    /// How many invocations it has run.
    pub uses: u64,
}

/// Facts about a non-idle container with room for another invocation (its
/// function's concurrency is above 1), as a join policy sees it (spec
/// R57b).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JoinFacts {
    /// The container.
    pub container: ContainerId,
    /// The function it runs.
    pub function: FunctionId,
    /// The host it lives on.
    pub host: HostId,
    /// When it was placed (its `ColdStart`, µs).
    pub created_at_us: u64,
    /// The provider sequence number drawn when it was created.
    pub created_seq: u64,
    /// Whether it is running code (`false`: still preparing or paying a
    /// start overhead, so a joiner waits until it is ready).
    pub ready: bool,
    /// The invocations it holds now (at least 1).
    pub invocations: u32,
    /// Its function's concurrency: the most it may hold.
    pub concurrency: u32,
}

/// Facts about an image copy that has just become evictable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageFacts {
    /// The image.
    pub image: ImageId,
    /// The disk the copy is on: main storage or a host's.
    pub tier: Tier,
    /// Its size: the room its eviction frees.
    pub size_bytes: u64,
    /// When this copy landed on the disk (µs).
    pub first_stored_us: u64,
    /// When a cold start last used this copy (µs).
    pub last_used_us: u64,
    /// How many cold starts have used this copy.
    pub uses: u64,
}

/// What becomes of a container whose invocation completed (spec R91,
/// R155).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdlePlan {
    /// How long the container stays idle, or, with a pre-warm, how long
    /// the pre-warmed container stays idle once it is ready. Clamped to
    /// `limits::DURATION_MAX_US`.
    pub keep_alive_us: u64,
    /// `Some(d)`: unload the container now and pre-warm a fresh one for the
    /// function `d` µs from now (clamped to `limits::DURATION_MAX_US`).
    /// `None`: keep this one idle.
    pub prewarm_after_us: Option<u64>,
}

/// An idle container or an image copy the core evicted (for room, R62, R76,
/// or by a collection, R152), with the priority that ordered it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eviction {
    /// An idle container, removed to make room on its host.
    Container {
        /// The container.
        container: ContainerId,
        /// Its function.
        function: FunctionId,
        /// Its host.
        host: HostId,
        /// Its idle-eviction priority (`idle_eviction_priority`'s answer).
        priority: u64,
    },
    /// An unpinned image copy, dropped from a disk.
    Image {
        /// The image.
        image: ImageId,
        /// The disk it was on.
        tier: Tier,
        /// Its eviction priority (`image_priority`'s answer).
        priority: u64,
    },
}

/// A disk's capacity and use, as a collection policy sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskFacts {
    /// Which disk: main storage or a host's.
    pub tier: Tier,
    /// Its capacity, as configured.
    pub capacity_bytes: u64,
    /// Bytes reserved: images present or on their way, and (on a host's
    /// disk) every live container's scratch.
    pub used_bytes: u64,
}

/// What an autoscaler is told about one function at a reconcile tick (spec
/// R168).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScaleFacts {
    /// The function.
    pub function: FunctionId,
    /// The tick's time (µs): a multiple of `tick_us`.
    pub now_us: u64,
    /// The reconcile period (`Config::autoscale_tick_us`).
    pub tick_us: u64,
    /// The time since the previous tick (µs): `tick_us`, or a multiple of
    /// it after a spell with no other timer pending (R168.3); from 0 for
    /// the first tick.
    pub interval_us: u64,
    /// The integral over that interval of the function's unended
    /// invocations (accepted, not yet ended: queued, starting, running or
    /// waiting for a retry), in invocation·µs. Divided by `interval_us`,
    /// the mean observed concurrency.
    pub demand_us: u128,
    /// The function's unended invocations now.
    pub demand: u64,
    /// The function's concurrency: the most invocations one container runs
    /// at once (R57a).
    pub concurrency: u32,
    /// The function's live containers now, in any state (preparing,
    /// starting, running, pre-warming or idle).
    pub containers: u32,
    /// Of those, the ones that have been ready (paid their start
    /// overhead) at least once: idle ones, and those running or handed an
    /// invocation since. Knative's "ready pods".
    pub ready_containers: u32,
    /// Of those, the idle ones.
    pub idle_containers: u32,
}

/// An autoscaler's answer for one function (spec R169).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScaleDecision {
    /// The live containers the function should have. More than it has:
    /// the difference is pre-warmed; fewer: idle ones beyond it are
    /// unloaded.
    pub containers: u32,
    /// How long a container pre-warmed for this answer stays idle once
    /// ready, unless reused (clamped to `limits::DURATION_MAX_US`).
    pub keep_alive_us: u64,
}

/// The provider's policies. Every method has a default, the built-in
/// behaviour, so a custom policy overrides only what it changes.
pub trait Policies: Clone {
    /// Picks a host for a cold start, or `None` to decline (the invocation is
    /// then rejected or queued as if no host had room). Default: room
    /// first, the lowest-numbered host with room that evicts no container,
    /// else the lowest-numbered host that fits.
    fn select_host(&mut self, view: &dyn HostView, request: &PlacementRequest) -> Option<HostId> {
        room_first(view, request)
    }

    /// Priority of an idle container for warm reuse: lowest is reused first.
    /// Default: the newest created (as SimFaaS does).
    fn warm_priority(&mut self, container: &ContainerFacts) -> u64 {
        u64::MAX - container.created_seq
    }

    /// Priority of a non-idle container with room, for an invocation of
    /// its function to join (spec R57b): lowest is joined first; ties go
    /// to the older container. Asked when the container gains room or its
    /// state changes. Default: running containers before starting ones,
    /// the newest created first (a joiner of a running container starts
    /// at once; one of a starting container waits).
    fn join_priority(&mut self, container: &JoinFacts) -> u64 {
        default_join_priority(container)
    }

    /// Whether an invocation joins `join` (the best container with room,
    /// by `join_priority`) rather than waking `idle` (the best idle
    /// container, by `warm_priority`), when its function has both (spec
    /// R57b). Default: join if `join` is running code (no overhead, and
    /// the idle container stays free for a burst); otherwise wake the idle
    /// one (its warm overhead is shorter than what is left of a cold
    /// start).
    fn join_before_waking(&mut self, join: &JoinFacts, idle: &ContainerFacts) -> bool {
        let _ = idle;
        join.ready
    }

    /// Priority of an idle container for eviction: lowest goes first.
    /// Default: least recently used.
    fn idle_eviction_priority(&mut self, container: &ContainerFacts) -> u64 {
        container.last_used_us
    }

    /// How long an idle container stays warm (µs). Values above
    /// `limits::DURATION_MAX_US` are clamped to it. Default: 10 minutes.
    fn keep_alive_us(&mut self, _container: &ContainerFacts) -> u64 {
        DEFAULT_KEEP_ALIVE_US
    }

    /// What becomes of a container whose invocation just completed: kept
    /// idle for a while, or unloaded with a pre-warm planned (spec R91,
    /// R155). Default: kept idle for `keep_alive_us`, no pre-warm; a
    /// policy that only sets keep-alives overrides `keep_alive_us`.
    fn idle_plan(&mut self, container: &ContainerFacts) -> IdlePlan {
        IdlePlan {
            keep_alive_us: self.keep_alive_us(container),
            prewarm_after_us: None,
        }
    }

    /// Priority of an unpinned image copy for eviction: lowest goes first.
    /// Default: least recently used.
    fn image_priority(&mut self, image: &ImageFacts) -> u64 {
        image.last_used_us
    }

    /// Told of each eviction, right before it happens (spec R106): lets a
    /// policy age its priorities (the greedy-dual clock). Default: nothing.
    fn evicted(&mut self, eviction: &Eviction) {
        let _ = eviction;
    }

    /// Asked after an image lands on a disk (a download finishes, R81, or
    /// a copy arrives, R82): the use, in bytes, to collect evictable images
    /// on that disk down to, or `None`. Any answer is valid: the core
    /// evicts only evictable images, lowest priority first, and stops when
    /// use is at or below the target or none is left (R152). Default:
    /// `None` (images leave only to make room).
    fn collection_target_bytes(&mut self, disk: &DiskFacts) -> Option<u64> {
        let _ = disk;
        None
    }

    /// The cost of an ended invocation, in picodollars. Default: AWS Lambda's
    /// public x86 prices.
    fn bill(&self, usage: &Usage) -> u64 {
        LambdaPrices::default().cost_picodollars(usage)
    }

    /// The autoscaler (spec R168, R169): asked at every reconcile tick
    /// (only with `Config::autoscale_tick_us` set), for every function in
    /// id order, how many live containers it should have; the core
    /// pre-warms or unloads toward the answer. Default: `None`, no
    /// opinion: nothing is done.
    fn desired_containers(&mut self, facts: &ScaleFacts) -> Option<ScaleDecision> {
        let _ = facts;
        None
    }
    /// The cost of a container instance's time, in picodollars, asked when
    /// the container is removed (R104b), or `None` if containers are not
    /// billed; `Some` emits a `ContainerBilled` event. Default: `None`
    /// (Lambda bills invocations only).
    fn bill_container(&self, usage: &ContainerUsage) -> Option<u64> {
        let _ = usage;
        None
    }

    /// What holding floor containers for `floor_byte_us` (memory bytes ×
    /// µs, `Metrics::floor_byte_us`) costs, in picodollars (spec R164);
    /// asked by `Provider::provisioned_cost_picodollars`, never by a step.
    /// Default: AWS Lambda's provisioned-concurrency price.
    fn provisioned_cost_picodollars(&self, floor_byte_us: u128) -> u128 {
        LambdaPrices::default().provisioned_cost_picodollars(floor_byte_us)
    }
}

/// The default join priority (spec R57b): running containers (below
/// 2^63) before starting ones, and among each the newest created first.
pub fn default_join_priority(container: &JoinFacts) -> u64 {
    const STARTING: u64 = 1 << 63;
    let newest_first = (STARTING - 1).saturating_sub(container.created_seq);
    if container.ready {
        newest_first
    } else {
        STARTING | newest_first
    }
}

/// Ten minutes, Lambda's observed keep-alive (and OpenWhisk's idle timeout).
pub const DEFAULT_KEEP_ALIVE_US: u64 = 600_000_000;

/// The lowest-numbered host that fits (`HostView::first_fitting_host`).
pub fn first_fit(view: &dyn HostView, request: &PlacementRequest) -> Option<HostId> {
    view.first_fitting_host(request)
}

/// Room first, the default: the lowest-numbered host that can take the
/// request without evicting a container (`HostView::first_host_with_room`);
/// only when none can, the lowest-numbered host that fits, evicting idle
/// containers there (`first_fit`). See docs/policies.md for its sources.
pub fn room_first(view: &dyn HostView, request: &PlacementRequest) -> Option<HostId> {
    view.first_host_with_room(request)
        .or_else(|| view.first_fitting_host(request))
}

/// Host selection rules built in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum HostSelection {
    /// The lowest-numbered host that fits, evicting idle containers there
    /// if it must (the default before `RoomFirst`).
    FirstFit,
    /// Among hosts that fit, those with the RAM and a slot free without
    /// evicting an idle container first; within each group the one with the
    /// least free RAM left after placing (ties: lowest number), packing
    /// containers tightly without costing warm containers.
    BestFit,
    /// Among hosts that fit, prefer one that holds the image; first fit
    /// within each group.
    ImageLocality,
    /// The first fitting host at or after a cursor, cyclically; the cursor
    /// (in `PolicyState`) then moves past it.
    RoundRobin,
    /// The fitting host with the fewest busy containers per slot.
    LeastLoaded,
    /// A uniform choice among the fitting hosts, drawn from SplitMix64
    /// seeded with `seed`; the draw count is in `PolicyState`.
    SeededRandom {
        /// The seed of the host draws.
        seed: u64,
    },
    /// Package-aware (Aumala et al., CCGrid 2019): the image hashes to two
    /// candidate hosts; the less loaded one that fits with busy containers
    /// under `load_threshold_percent` of its slots, else the least loaded.
    PackageAware {
        /// The load (busy containers per slot, in percent) above which
        /// the second candidate is tried.
        load_threshold_percent: u32,
    },
    /// OpenWhisk's home invoker: the function hashes to a home host and a
    /// step coprime with the host count; the first fitting host probing
    /// home, home + step, …
    HomeInvoker,
    /// Consistent hashing of the function with bounded loads (Mirrokni et
    /// al., SODA 2018): the first fitting host clockwise on the ring whose
    /// busy containers are under `⌈(1 + ε)·(load + 1)/hosts⌉`, with
    /// `ε = epsilon_percent / 100`.
    BoundedConsistentHashing {
        /// ε in percent: how far above the mean load a host may go.
        epsilon_percent: u32,
    },
    /// The default: the lowest-numbered host with room for the request
    /// without evicting a container; if none has, first fit. Last in the
    /// list so that the serialized index of every older rule stays.
    #[default]
    RoomFirst,
    /// The fitting host with the least CPU demand per core (spec R85f),
    /// ties by the least busy containers per slot: avoids contention under
    /// `Cpu::ProcessorSharing`. After `RoomFirst` so that older indices
    /// stay.
    LeastCpuLoaded,
}

impl HostSelection {
    /// Every rule, with example parameters: for tests and listings.
    pub const ALL: [HostSelection; 11] = [
        HostSelection::RoomFirst,
        HostSelection::FirstFit,
        HostSelection::BestFit,
        HostSelection::ImageLocality,
        HostSelection::RoundRobin,
        HostSelection::LeastLoaded,
        HostSelection::SeededRandom { seed: 0 },
        HostSelection::PackageAware {
            load_threshold_percent: 80,
        },
        HostSelection::HomeInvoker,
        HostSelection::BoundedConsistentHashing {
            epsilon_percent: 25,
        },
        HostSelection::LeastCpuLoaded,
    ];
}

/// Which idle container of a function is reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum WarmChoice {
    /// The most recently created idle container (SimFaaS's rule): older
    /// ones age out.
    #[default]
    NewestCreated,
    /// The idle container that finished an invocation last.
    MostRecentlyUsed,
    /// The idle container that has been idle longest.
    LeastRecentlyUsed,
}

/// How long an idle container stays warm, and which idle container is
/// evicted first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum KeepAlivePolicy {
    /// `Builtin::keep_alive_us` for every container; evict the least
    /// recently used first.
    #[default]
    Fixed,
    /// The hybrid histogram of "Serverless in the Wild" (Shahrad et al.,
    /// ATC 2020): keep-alive and pre-warm windows from each function's
    /// idle times (spec §29); evict the least recently used first.
    HybridHistogram(HybridHistogram),
    /// FaasCache's greedy-dual (Fuerst and Sharma, ASPLOS 2021) eviction
    /// order, `clock + frequency × cold_cost_us ÷ size`, lowest first, the
    /// host's clock rising to each evicted container's priority;
    /// `Builtin::keep_alive_us` bounds how long a container idles
    /// (FaasCache has no bound: set it to `limits::DURATION_MAX_US`).
    GreedyDual {
        /// The cost a cold start adds (µs): the cold start's overhead minus
        /// the warm start's.
        cold_cost_us: u64,
    },
}

impl KeepAlivePolicy {
    /// Every policy, with default parameters: for tests and listings.
    pub const ALL: [KeepAlivePolicy; 3] = [
        KeepAlivePolicy::Fixed,
        KeepAlivePolicy::HybridHistogram(HybridHistogram::PAPER),
        KeepAlivePolicy::GreedyDual {
            cold_cost_us: 249_000,
        },
    ];
}

/// The autoscaler built in (spec R170). Its answers are asked only when
/// the configuration has a reconcile period (`Config::autoscale_tick_us`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Autoscaler {
    /// No opinion: containers come with invocations and pre-warm plans,
    /// and go with their keep-alive (the default).
    #[default]
    Off,
    /// A rule modelled on Knative's KPA: a stable and a panic window over
    /// the observed concurrency, a target utilization per container, and
    /// a grace before scaling to zero.
    Kpa(Kpa),
}

/// The built-in policies, chosen by configuration values, and the state the
/// stateful ones keep. Serializable, so a snapshot carries both.
///
/// `#[non_exhaustive]` (it grows with each new kind of policy): start from
/// [`Builtin::default`] and choose with the `with_*` methods, one for every
/// choice.
///
/// ```
/// use coldstart_core::{Builtin, HostSelection, ImageEviction};
///
/// let policies = Builtin::default()
///     .with_host_selection(HostSelection::BestFit)
///     .with_keep_alive_us(60_000_000)
///     .with_image_eviction(ImageEviction::Lfu);
/// assert_eq!(policies.keep_alive_us, 60_000_000);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct Builtin {
    /// Which host a cold start goes to.
    pub host_selection: HostSelection,
    /// Which idle container a warm start reuses.
    pub warm_choice: WarmChoice,
    /// How long an idle container stays warm (µs) under the fixed
    /// keep-alive, and the bound under greedy-dual.
    pub keep_alive_us: u64,
    /// The price sheet invocations are billed by under `Billing::Lambda`.
    pub prices: LambdaPrices,
    /// How long idle containers stay, and which is evicted first.
    #[serde(default)]
    pub keep_alive_policy: KeepAlivePolicy,
    /// Which cached image is evicted first, on both disks.
    #[serde(default)]
    pub image_eviction: ImageEviction,
    /// The autoscaler, if any (with `Config::autoscale_tick_us`).
    #[serde(default)]
    pub autoscaler: Autoscaler,
    /// What the autoscaler has observed (the KPA windows, per function);
    /// starts empty and evolves only through `desired_containers`. Kept
    /// apart from `state`, whose layout command logs of formats 6 to 11
    /// hold.
    #[serde(default)]
    pub autoscale_state: KpaState,
    /// What the stateful policies have learned; starts empty
    /// (`PolicyState::default()`) and evolves only through policy calls.
    #[serde(default)]
    pub state: PolicyState,
    /// Which price model bills (spec R104b): Lambda's per invocation (by
    /// `prices`, the default) or Cloud Run's per container instance.
    #[serde(default)]
    pub billing: Billing,
}

/// The state of the built-in policies: explicit, serialized with the
/// provider, changed only by the policy calls (spec R110). An arbitrary
/// `Builtin` (for fuzzing) starts with the empty state, as a run does.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyState {
    /// `RoundRobin`: the host to try first at the next call.
    round_robin_next: u32,
    /// `SeededRandom`: how many draws have been made.
    random_draws: u64,
    /// `HybridHistogram`: each function's idle times, by `to_bits()`.
    idle_histograms: BTreeMap<u64, IdleHistogram>,
    /// `GreedyDual`: each function's completed invocations that left a
    /// container idle, by `to_bits()`.
    frequencies: BTreeMap<u64, u64>,
    /// `GreedyDual`: each host's clock (by host number), the highest
    /// priority of an idle container evicted there; absent = 0.
    #[serde(default)]
    container_clocks: BTreeMap<u32, u64>,
    /// `Gdsf`: each disk's clock (`tier_key`), the highest priority of an
    /// image evicted there; absent = 0.
    #[serde(default)]
    image_clocks: BTreeMap<u64, u64>,
}

impl PolicyState {
    /// `GreedyDual`: the host's clock (0 until a container is evicted there).
    pub fn container_clock(&self, host: HostId) -> u64 {
        self.container_clocks.get(&host.0).copied().unwrap_or(0)
    }

    /// `Gdsf`: the disk's clock (0 until an image is evicted there).
    pub fn image_clock(&self, tier: Tier) -> u64 {
        self.image_clocks.get(&tier_key(tier)).copied().unwrap_or(0)
    }
}

/// A disk as a key of `PolicyState::image_clocks`: 0 for main storage, the
/// host's number + 1 for a host.
fn tier_key(tier: Tier) -> u64 {
    match tier {
        Tier::MainStorage => 0,
        Tier::Host(host) => u64::from(host.0) + 1,
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for PolicyState {
    fn arbitrary(_: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(PolicyState::default())
    }
}

impl Default for Builtin {
    fn default() -> Self {
        Builtin {
            host_selection: HostSelection::RoomFirst,
            warm_choice: WarmChoice::NewestCreated,
            keep_alive_us: DEFAULT_KEEP_ALIVE_US,
            prices: LambdaPrices::default(),
            keep_alive_policy: KeepAlivePolicy::Fixed,
            image_eviction: ImageEviction::Lru,
            autoscaler: Autoscaler::Off,
            autoscale_state: KpaState::default(),
            state: PolicyState::default(),
            billing: Billing::Lambda,
        }
    }
}

impl Builtin {
    /// This host-selection rule, in place of the one there was.
    pub fn with_host_selection(mut self, host_selection: HostSelection) -> Builtin {
        self.host_selection = host_selection;
        self
    }

    /// This warm choice, in place of the one there was.
    pub fn with_warm_choice(mut self, warm_choice: WarmChoice) -> Builtin {
        self.warm_choice = warm_choice;
        self
    }

    /// This keep-alive (µs), in place of the one there was.
    pub fn with_keep_alive_us(mut self, keep_alive_us: u64) -> Builtin {
        self.keep_alive_us = keep_alive_us;
        self
    }

    /// This price sheet, in place of the one there was.
    pub fn with_prices(mut self, prices: LambdaPrices) -> Builtin {
        self.prices = prices;
        self
    }

    /// This billing model, in place of the one there was.
    pub fn with_billing(mut self, billing: Billing) -> Builtin {
        self.billing = billing;
        self
    }

    /// This keep-alive policy, in place of the one there was.
    pub fn with_keep_alive_policy(mut self, keep_alive_policy: KeepAlivePolicy) -> Builtin {
        self.keep_alive_policy = keep_alive_policy;
        self
    }

    /// This image eviction rule, in place of the one there was.
    pub fn with_image_eviction(mut self, image_eviction: ImageEviction) -> Builtin {
        self.image_eviction = image_eviction;
        self
    }

    /// This autoscaler, in place of the one there was.
    pub fn with_autoscaler(mut self, autoscaler: Autoscaler) -> Builtin {
        self.autoscaler = autoscaler;
        self
    }
}

/// Best-fit's ordering key for a host that fits: hosts with the RAM and a
/// slot free without evicting come first, then the least free RAM left after
/// placing.
fn best_fit_key<V: HostView + ?Sized>(
    view: &V,
    host: HostId,
    request: &PlacementRequest,
) -> (bool, u64) {
    let Some(facts) = view.host(host) else {
        return (true, u64::MAX);
    };
    let ram_free_bytes = facts.spec.ram_bytes - facts.ram_used_bytes;
    let slot_free = facts.slots_used < facts.spec.slots;
    match ram_free_bytes.checked_sub(request.memory_bytes) {
        Some(left_bytes) if slot_free => (false, left_bytes),
        _ => (true, 0),
    }
}

impl Policies for Builtin {
    fn select_host(&mut self, view: &dyn HostView, request: &PlacementRequest) -> Option<HostId> {
        match self.host_selection {
            HostSelection::RoomFirst => room_first(view, request),
            HostSelection::FirstFit => first_fit(view, request),
            HostSelection::BestFit => view.best_fitting_host(request),
            HostSelection::ImageLocality => view
                .first_fitting_host_with_image(request)
                .or_else(|| view.first_fitting_host(request)),
            HostSelection::RoundRobin => {
                hosts::round_robin(view, request, &mut self.state.round_robin_next)
            }
            HostSelection::LeastLoaded => view.least_loaded_fitting_host(request),
            HostSelection::SeededRandom { seed } => {
                hosts::seeded_random(view, request, seed, &mut self.state.random_draws)
            }
            HostSelection::PackageAware {
                load_threshold_percent,
            } => hosts::package_aware(view, request, load_threshold_percent),
            HostSelection::HomeInvoker => hosts::home_invoker(view, request),
            HostSelection::BoundedConsistentHashing { epsilon_percent } => {
                hosts::bounded_consistent_hashing(view, request, epsilon_percent)
            }
            HostSelection::LeastCpuLoaded => hosts::least_cpu_loaded(view, request),
        }
    }

    fn warm_priority(&mut self, container: &ContainerFacts) -> u64 {
        match self.warm_choice {
            WarmChoice::NewestCreated => u64::MAX - container.created_seq,
            WarmChoice::MostRecentlyUsed => u64::MAX - container.last_used_us,
            WarmChoice::LeastRecentlyUsed => container.last_used_us,
        }
    }

    /// The plan's keep-alive (the core asks `idle_plan`; this answers the
    /// same for a caller that asks only for the keep-alive).
    fn keep_alive_us(&mut self, container: &ContainerFacts) -> u64 {
        self.idle_plan(container).keep_alive_us
    }

    fn idle_plan(&mut self, container: &ContainerFacts) -> IdlePlan {
        match self.keep_alive_policy {
            KeepAlivePolicy::Fixed | KeepAlivePolicy::GreedyDual { .. } => IdlePlan {
                keep_alive_us: self.keep_alive_us,
                prewarm_after_us: None,
            },
            KeepAlivePolicy::HybridHistogram(params) => {
                let histogram = self
                    .state
                    .idle_histograms
                    .entry(container.function.to_bits())
                    .or_default();
                keep_alive::hybrid_plan(&params, histogram, container)
            }
        }
    }

    fn idle_eviction_priority(&mut self, container: &ContainerFacts) -> u64 {
        match self.keep_alive_policy {
            KeepAlivePolicy::Fixed | KeepAlivePolicy::HybridHistogram(_) => container.last_used_us,
            KeepAlivePolicy::GreedyDual { cold_cost_us } => {
                let frequency = self
                    .state
                    .frequencies
                    .entry(container.function.to_bits())
                    .or_default();
                *frequency = frequency.saturating_add(1);
                let value = keep_alive::greedy_dual_priority(
                    *frequency,
                    cold_cost_us,
                    container.memory_bytes,
                );
                self.state
                    .container_clock(container.host)
                    .saturating_add(value)
            }
        }
    }

    fn image_priority(&mut self, image: &ImageFacts) -> u64 {
        let priority = self.image_eviction.priority(image);
        match self.image_eviction {
            ImageEviction::Gdsf => self.state.image_clock(image.tier).saturating_add(priority),
            _ => priority,
        }
    }

    fn evicted(&mut self, eviction: &Eviction) {
        // The clock rises to the victim's priority (FaasCache, GDSF). Ours
        // takes the maximum: priorities are fixed when a candidate enters
        // its set, so a victim may sit below a clock already raised.
        match *eviction {
            Eviction::Container { host, priority, .. } => {
                if let KeepAlivePolicy::GreedyDual { .. } = self.keep_alive_policy {
                    let clock = self.state.container_clocks.entry(host.0).or_default();
                    *clock = (*clock).max(priority);
                }
            }
            Eviction::Image { tier, priority, .. } => {
                if self.image_eviction == ImageEviction::Gdsf {
                    let clock = self.state.image_clocks.entry(tier_key(tier)).or_default();
                    *clock = (*clock).max(priority);
                }
            }
        }
    }

    fn collection_target_bytes(&mut self, disk: &DiskFacts) -> Option<u64> {
        self.image_eviction.collection_target_bytes(disk)
    }

    fn bill(&self, usage: &Usage) -> u64 {
        self.billing
            .invocation_cost_picodollars(&self.prices, usage)
    }

    fn bill_container(&self, usage: &ContainerUsage) -> Option<u64> {
        self.billing.container_cost_picodollars(usage)
    }

    fn provisioned_cost_picodollars(&self, floor_byte_us: u128) -> u128 {
        self.prices.provisioned_cost_picodollars(floor_byte_us)
    }

    fn desired_containers(&mut self, facts: &ScaleFacts) -> Option<ScaleDecision> {
        match self.autoscaler {
            Autoscaler::Off => None,
            Autoscaler::Kpa(params) => {
                let window = self.autoscale_state.window_mut(facts.function);
                Some(autoscale::kpa_decide(
                    &params,
                    window,
                    facts,
                    self.keep_alive_us,
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The built-in policies' decisions, on a hand-made view. The differential
    //! tests cannot check these: core and the model call the same policy
    //! object, so a wrong policy is wrong on both sides.
    use super::*;

    /// A view of hosts whose facts, fit and image holdings are set by hand.
    struct FakeView {
        hosts: Vec<(HostFacts, bool, bool)>,
    }

    impl FakeView {
        /// Hosts given as `(ram_used_bytes, slots_used, fits, has_image)`,
        /// each with 100 bytes of RAM and 2 slots.
        fn new(hosts: &[(u64, u32, bool, bool)]) -> FakeView {
            let spec = HostSpec::new(100, 2, 1_000, 1);
            let hosts = hosts
                .iter()
                .map(|&(ram_used_bytes, slots_used, fits, has_image)| {
                    let facts = HostFacts {
                        spec,
                        ram_used_bytes,
                        slots_used,
                        disk_used_bytes: 0,
                        idle_containers: 0,
                        busy_containers: slots_used,
                        cpu_demand_millis: 0,
                    };
                    (facts, fits, has_image)
                })
                .collect();
            FakeView { hosts }
        }
    }

    impl HostView for FakeView {
        fn now_us(&self) -> u64 {
            0
        }
        fn host_count(&self) -> u32 {
            self.hosts.len() as u32
        }
        fn host(&self, host: HostId) -> Option<HostFacts> {
            self.hosts.get(host.index()).map(|h| h.0)
        }
        fn has_image(&self, host: HostId, _image: ImageId) -> bool {
            self.hosts.get(host.index()).is_some_and(|h| h.2)
        }
        fn fits(&self, host: HostId, _request: &PlacementRequest) -> bool {
            self.hosts.get(host.index()).is_some_and(|h| h.1)
        }
        /// A host that fits has room if its free RAM and a free slot
        /// suffice (these hosts' disks always have room).
        fn fits_in_room(&self, host: HostId, request: &PlacementRequest) -> bool {
            self.hosts
                .get(host.index())
                .is_some_and(|(facts, fits, _)| {
                    *fits
                        && facts.spec.ram_bytes - facts.ram_used_bytes >= request.memory_bytes
                        && facts.slots_used < facts.spec.slots
                })
        }
    }

    fn request(memory_bytes: u64) -> PlacementRequest {
        PlacementRequest {
            invocation: Some(InvocationId::from_bits(0)),
            function: FunctionId::from_bits(0),
            image: ImageId::from_bits(0),
            image_bytes: 10,
            memory_bytes,
            scratch_bytes: 0,
        }
    }

    fn builtin(host_selection: HostSelection, warm_choice: WarmChoice) -> Builtin {
        Builtin {
            host_selection,
            warm_choice,
            ..Builtin::default()
        }
    }

    fn select(policy: &mut impl Policies, view: &FakeView, memory_bytes: u64) -> Option<HostId> {
        policy.select_host(view, &request(memory_bytes))
    }

    /// A policy that overrides nothing: the trait's defaults.
    #[derive(Clone)]
    struct Defaults;
    impl Policies for Defaults {}

    fn container(created_seq: u64, last_used_us: u64) -> ContainerFacts {
        ContainerFacts {
            container: ContainerId::from_bits(0),
            function: FunctionId::from_bits(0),
            host: HostId(0),
            memory_bytes: 10,
            created_at_us: 0,
            created_seq,
            last_used_us,
            uses: 1,
        }
    }

    fn image(last_used_us: u64) -> ImageFacts {
        ImageFacts {
            image: ImageId::from_bits(0),
            tier: Tier::Host(HostId(0)),
            size_bytes: 10,
            first_stored_us: 0,
            last_used_us,
            uses: 1,
        }
    }

    #[test]
    fn first_fit_skips_hosts_that_do_not_fit() {
        let view = FakeView::new(&[
            (0, 0, false, false),
            (90, 1, true, false),
            (0, 0, true, true),
        ]);
        assert_eq!(select(&mut Defaults, &view, 10), Some(HostId(1)));
        let mut policy = builtin(HostSelection::FirstFit, WarmChoice::NewestCreated);
        assert_eq!(select(&mut policy, &view, 10), Some(HostId(1)));
        let full = FakeView::new(&[(0, 0, false, false), (0, 0, false, false)]);
        assert_eq!(select(&mut Defaults, &full, 10), None);
        assert_eq!(select(&mut policy, &full, 10), None);
    }

    #[test]
    fn best_fit_takes_the_least_ram_left_among_hosts_with_room() {
        let mut policy = builtin(HostSelection::BestFit, WarmChoice::NewestCreated);
        // Free RAM 50, 20 and 70: host 1 leaves the least after placing 10.
        let view = FakeView::new(&[
            (50, 0, true, false),
            (80, 1, true, false),
            (30, 0, true, false),
        ]);
        assert_eq!(select(&mut policy, &view, 10), Some(HostId(1)));
        // A host that does not fit is never chosen, however tight.
        let view = FakeView::new(&[(50, 0, true, false), (85, 0, false, false)]);
        assert_eq!(select(&mut policy, &view, 10), Some(HostId(0)));
        // Ties go to the lowest number.
        let view = FakeView::new(&[
            (60, 0, true, false),
            (20, 0, true, false),
            (60, 1, true, false),
        ]);
        assert_eq!(select(&mut policy, &view, 10), Some(HostId(0)));
    }

    #[test]
    fn best_fit_prefers_hosts_that_need_no_eviction() {
        let mut policy = builtin(HostSelection::BestFit, WarmChoice::NewestCreated);
        // Host 0 has both slots taken (it fits only by evicting an idle
        // container); host 1 has a slot and more RAM left: host 1 wins.
        let view = FakeView::new(&[(80, 2, true, false), (10, 1, true, false)]);
        assert_eq!(select(&mut policy, &view, 10), Some(HostId(1)));
        // Host 0 lacks the RAM without evicting; host 1 has it.
        let view = FakeView::new(&[(95, 0, true, false), (10, 0, true, false)]);
        assert_eq!(select(&mut policy, &view, 10), Some(HostId(1)));
        // When every candidate needs an eviction, the lowest number goes.
        let view = FakeView::new(&[(10, 2, true, false), (95, 2, true, false)]);
        assert_eq!(select(&mut policy, &view, 10), Some(HostId(0)));
    }

    #[test]
    fn image_locality_prefers_a_host_holding_the_image() {
        let mut policy = builtin(HostSelection::ImageLocality, WarmChoice::NewestCreated);
        let view = FakeView::new(&[
            (0, 0, true, false),
            (0, 0, false, true),
            (0, 0, true, true),
            (0, 0, true, true),
        ]);
        assert_eq!(select(&mut policy, &view, 10), Some(HostId(2)));
        let view = FakeView::new(&[
            (0, 0, false, true),
            (0, 0, true, false),
            (0, 0, true, false),
        ]);
        assert_eq!(select(&mut policy, &view, 10), Some(HostId(1)));
    }

    #[test]
    fn default_priorities_reuse_the_newest_and_evict_the_least_recently_used() {
        let mut policy = Defaults;
        let older = container(3, 900);
        let newer = container(7, 100);
        assert!(policy.warm_priority(&newer) < policy.warm_priority(&older));
        assert!(policy.idle_eviction_priority(&newer) < policy.idle_eviction_priority(&older));
        assert!(policy.image_priority(&image(5)) < policy.image_priority(&image(6)));
        assert_eq!(policy.keep_alive_us(&older), DEFAULT_KEEP_ALIVE_US);
    }

    #[test]
    fn builtin_warm_choices_order_idle_containers() {
        // Created first but used last, and created last but used first (at
        // time zero, which must not trip any arithmetic).
        let first_made = container(1, 500);
        let last_made = container(2, 0);
        let priority =
            |choice, c: &ContainerFacts| builtin(HostSelection::FirstFit, choice).warm_priority(c);
        let newest = WarmChoice::NewestCreated;
        assert!(priority(newest, &last_made) < priority(newest, &first_made));
        let mru = WarmChoice::MostRecentlyUsed;
        assert!(priority(mru, &first_made) < priority(mru, &last_made));
        let lru = WarmChoice::LeastRecentlyUsed;
        assert!(priority(lru, &last_made) < priority(lru, &first_made));
    }

    /// Hosts that all fit, holding no image, with these busy containers
    /// (each host has 2 slots).
    fn loaded(busy: &[u32]) -> FakeView {
        let hosts: Vec<(u64, u32, bool, bool)> =
            busy.iter().map(|&b| (0, b, true, false)).collect();
        FakeView::new(&hosts)
    }

    fn selecting(host_selection: HostSelection) -> Builtin {
        builtin(host_selection, WarmChoice::NewestCreated)
    }

    fn request_for(function: u64, image: u64) -> PlacementRequest {
        PlacementRequest {
            function: FunctionId::from_bits(function),
            image: ImageId::from_bits(image),
            ..request(10)
        }
    }

    #[test]
    fn round_robin_cycles_past_its_last_choice() {
        let mut policy = selecting(HostSelection::RoundRobin);
        let view = loaded(&[0, 0, 0]);
        let picks: Vec<_> = (0..3).map(|_| select(&mut policy, &view, 10)).collect();
        assert_eq!(picks, [0, 1, 2].map(|h| Some(HostId(h))));
        // Past the last host the cursor wraps to 0, in the state too.
        assert_eq!(policy.state.round_robin_next, 0);
        assert_eq!(select(&mut policy, &view, 10), Some(HostId(0)));
        // Host 2 does not fit: from the cursor (1) the next fitting is 1,
        // then 0 (wrapping past 2).
        let view = FakeView::new(&[
            (0, 0, true, false),
            (0, 0, true, false),
            (0, 0, false, false),
        ]);
        assert_eq!(select(&mut policy, &view, 10), Some(HostId(1)));
        assert_eq!(select(&mut policy, &view, 10), Some(HostId(0)));
        // Nothing fits: no host, and the cursor stays.
        let full = FakeView::new(&[(0, 0, false, false); 3]);
        assert_eq!(select(&mut policy, &full, 10), None);
        assert_eq!(select(&mut policy, &view, 10), Some(HostId(1)));
    }

    #[test]
    fn least_loaded_takes_the_fewest_busy_containers_per_slot() {
        let mut policy = selecting(HostSelection::LeastLoaded);
        assert_eq!(
            select(&mut policy, &loaded(&[2, 1, 0, 1]), 10),
            Some(HostId(2))
        );
        // Ties to the lowest number; a host that does not fit is skipped.
        assert_eq!(
            select(&mut policy, &loaded(&[2, 1, 1]), 10),
            Some(HostId(1))
        );
        let view = FakeView::new(&[(0, 1, true, false), (0, 0, false, false)]);
        assert_eq!(select(&mut policy, &view, 10), Some(HostId(0)));
        // Per slot: 3 busy of 8 is less than 1 busy of 2.
        let mut view = loaded(&[1, 3]);
        view.hosts[1].0.spec.slots = 8;
        assert_eq!(select(&mut policy, &view, 10), Some(HostId(1)));
    }

    #[test]
    fn least_cpu_loaded_takes_the_least_demand_per_core_then_the_least_loaded() {
        let mut policy = selecting(HostSelection::LeastCpuLoaded);
        // (demand, cores): 3,000 of 4,000 (0.75) beats 1,000 of 1,000 (1)
        // and 2,000 of 2,000 (1), though it holds more busy containers.
        let mut view = loaded(&[2, 0, 1]);
        for (h, (demand, cores)) in [(3_000, 4_000), (1_000, 1_000), (2_000, 2_000)]
            .into_iter()
            .enumerate()
        {
            view.hosts[h].0.cpu_demand_millis = demand;
            view.hosts[h].0.spec.cores_millis = cores;
        }
        assert_eq!(select(&mut policy, &view, 10), Some(HostId(0)));
        // A host that does not fit is skipped.
        view.hosts[0].1 = false;
        assert_eq!(select(&mut policy, &view, 10), Some(HostId(1)));
        // Equal CPU load (none running yet): the least busy per slot, then
        // the lowest number.
        assert_eq!(
            select(&mut policy, &loaded(&[2, 1, 1]), 10),
            Some(HostId(1))
        );
    }

    #[test]
    fn seeded_random_is_a_pinned_stream_over_the_fitting_hosts() {
        let mut policy = selecting(HostSelection::SeededRandom { seed: 7 });
        let view = loaded(&[0, 0, 0]);
        let picks: Vec<u32> = (0..8)
            .map(|_| select(&mut policy, &view, 10).expect("all fit").0)
            .collect();
        // reduce(hash64(7, k), 3) for k = 0..8.
        assert_eq!(picks, [1, 0, 2, 1, 1, 0, 1, 0]);
        assert_eq!(policy.state.random_draws, 8);
        // Only fitting hosts are drawn from; nothing fitting draws nothing.
        let view = FakeView::new(&[
            (0, 0, false, false),
            (0, 0, true, false),
            (0, 0, false, false),
        ]);
        for _ in 0..20 {
            assert_eq!(select(&mut policy, &view, 10), Some(HostId(1)));
        }
        assert_eq!(policy.state.random_draws, 28);
        let full = FakeView::new(&[(0, 0, false, false)]);
        assert_eq!(select(&mut policy, &full, 10), None);
        assert_eq!(policy.state.random_draws, 28);
        // Another seed, another stream.
        let mut other = selecting(HostSelection::SeededRandom { seed: 8 });
        let view = loaded(&[0, 0, 0]);
        let other_picks: Vec<u32> = (0..8)
            .map(|_| select(&mut other, &view, 10).expect("all fit").0)
            .collect();
        assert_ne!(other_picks, [1, 0, 2, 1, 1, 0, 1, 0]);
    }

    #[test]
    fn package_aware_takes_the_less_loaded_of_the_images_two_hosts() {
        let mut policy = selecting(HostSelection::PackageAware {
            load_threshold_percent: 80,
        });
        // Image 0 over 4 hosts hashes to hosts 3 and 1.
        let ask =
            |policy: &mut Builtin, view: &FakeView| policy.select_host(view, &request_for(0, 0));
        assert_eq!(ask(&mut policy, &loaded(&[0, 1, 0, 0])), Some(HostId(3)));
        assert_eq!(ask(&mut policy, &loaded(&[0, 0, 0, 1])), Some(HostId(1)));
        // Equal load: the first candidate.
        assert_eq!(ask(&mut policy, &loaded(&[0, 1, 0, 1])), Some(HostId(3)));
        // Host 3 at its threshold (2 busy of 2 slots ≥ 80%): host 1.
        assert_eq!(ask(&mut policy, &loaded(&[0, 1, 0, 2])), Some(HostId(1)));
        // Exactly at the threshold (host 3: 1 busy of 2 slots, 50%) does
        // not qualify either: with host 1 over it, neither candidate does,
        // and the least loaded host overall (0) takes it.
        let mut half = selecting(HostSelection::PackageAware {
            load_threshold_percent: 50,
        });
        assert_eq!(ask(&mut half, &loaded(&[0, 2, 0, 1])), Some(HostId(0)));
        // Both candidates over the threshold: the least loaded host.
        assert_eq!(ask(&mut policy, &loaded(&[1, 2, 0, 2])), Some(HostId(2)));
        // A candidate that does not fit is passed over.
        let view = FakeView::new(&[
            (0, 1, true, false),
            (0, 0, true, false),
            (0, 0, true, false),
            (0, 0, false, false),
        ]);
        assert_eq!(ask(&mut policy, &view), Some(HostId(1)));
    }

    #[test]
    fn home_invoker_probes_from_the_home_host_by_a_coprime_step() {
        let mut policy = selecting(HostSelection::HomeInvoker);
        let ask =
            |policy: &mut Builtin, view: &FakeView| policy.select_host(view, &request_for(0, 0));
        // Function 0 over 4 hosts: home 3, step 3, so the probe is 3, 2, 1, 0.
        assert_eq!(ask(&mut policy, &loaded(&[0; 4])), Some(HostId(3)));
        let mut view = loaded(&[0; 4]);
        view.hosts[3].1 = false;
        assert_eq!(ask(&mut policy, &view), Some(HostId(2)));
        view.hosts[2].1 = false;
        view.hosts[1].1 = false;
        assert_eq!(ask(&mut policy, &view), Some(HostId(0)));
        view.hosts[0].1 = false;
        assert_eq!(ask(&mut policy, &view), None);
    }

    #[test]
    fn home_invoker_steps_visit_every_host() {
        for count in 1..=40u32 {
            for hash in [0, 1, u64::MAX, 0x9E37_79B9_7F4A_7C15, 1 << 63] {
                let step = hosts::coprime_step(hash, count);
                assert!((1..=u64::from(count)).contains(&step));
                let mut seen: Vec<u64> = (0..u64::from(count))
                    .map(|i| i * step % u64::from(count))
                    .collect();
                seen.sort_unstable();
                seen.dedup();
                assert_eq!(seen.len() as u32, count, "step {step} over {count}");
            }
        }
    }

    #[test]
    fn bounded_consistent_hashing_keeps_a_function_home_until_it_is_too_loaded() {
        let mut policy = selecting(HostSelection::BoundedConsistentHashing {
            epsilon_percent: 25,
        });
        let ask = |policy: &mut Builtin, view: &FakeView, function| {
            policy.select_host(view, &request_for(function, 0))
        };
        let home = ask(&mut policy, &loaded(&[0; 4]), 0).expect("all fit");
        // Pinned by the ring's hashes (spec R108): function 0's nearest
        // host point over 4 hosts is host 1's, then host 0's.
        assert_eq!(home, HostId(1));
        // Stable: the same function goes to the same host while it has room.
        assert_eq!(ask(&mut policy, &loaded(&[0; 4]), 0), Some(home));
        // Functions spread: over 16 functions, more than one host is used.
        let homes: std::collections::BTreeSet<_> = (0..16)
            .map(|f| ask(&mut policy, &loaded(&[0; 4]), f))
            .collect();
        assert!(homes.len() > 1, "{homes:?}");
        // Home with 1 busy of a total 1: cap ⌈1.25·2/4⌉ = 1, so home is full
        // and the next host on the ring takes it.
        let mut busy = [0; 4];
        busy[home.index()] = 1;
        let next = ask(&mut policy, &loaded(&busy), 0).expect("all fit");
        assert_eq!(next, HostId(0));
        // With load everywhere the cap grows and home is back.
        assert_eq!(ask(&mut policy, &loaded(&[1, 1, 1, 1]), 0), Some(home));
        // Total load 3: cap ⌈1.25·4/4⌉ = 2, so home with 1 busy is under it
        // (with the total, not the total plus one, the cap would be 1).
        busy[3] = 2;
        assert_eq!(ask(&mut policy, &loaded(&busy), 0), Some(home));
        // Over the cap everywhere it fits: the first fitting host on the ring.
        let mut view = loaded(&busy);
        for (host, entry) in view.hosts.iter_mut().enumerate() {
            entry.1 = host == home.index();
        }
        assert_eq!(ask(&mut policy, &view, 0), Some(home));
    }

    proptest::proptest! {
        /// Every rule returns a host that fits, or `None` exactly when none
        /// does; and the same state on the same view gives the same answer
        /// and the same next state.
        #[test]
        fn every_host_selection_is_valid_and_deterministic(
            hosts in proptest::collection::vec((0u64..=100, 0u32..=2, proptest::bool::ANY, proptest::bool::ANY), 1..7),
            rule in 0usize..HostSelection::ALL.len(),
            function in 0u64..50,
            image in 0u64..50,
            calls in 1usize..6,
        ) {
            let view = FakeView::new(&hosts);
            let mut policy = selecting(HostSelection::ALL[rule]);
            let any_fits = hosts.iter().any(|h| h.2);
            for _ in 0..calls {
                let mut twin = policy.clone();
                let request = request_for(function, image);
                let choice = policy.select_host(&view, &request);
                proptest::prop_assert_eq!(choice, twin.select_host(&view, &request));
                proptest::prop_assert_eq!(&policy, &twin);
                match choice {
                    Some(host) => proptest::prop_assert!(view.fits(host, &request)),
                    None => proptest::prop_assert!(!any_fits),
                }
            }
        }
    }

    const MINUTE_US: u64 = 60_000_000;

    fn with_keep_alive(keep_alive_policy: KeepAlivePolicy) -> Builtin {
        Builtin {
            keep_alive_policy,
            ..Builtin::default()
        }
    }

    /// A container of `function` going idle at `now_us`.
    fn idle_now(function: u64, now_us: u64, memory_bytes: u64) -> ContainerFacts {
        ContainerFacts {
            function: FunctionId::from_bits(function),
            last_used_us: now_us,
            memory_bytes,
            ..container(0, now_us)
        }
    }

    /// Small histograms: 4 bins of 10 µs, a CV threshold of 1 (with 4 bins
    /// the CV is at most √3), fallback 1,000 µs.
    fn small_histogram() -> HybridHistogram {
        HybridHistogram {
            bin_us: 10,
            bins: 4,
            cv_threshold_hundredths: 100,
            fallback_keep_alive_us: 1_000,
            ..HybridHistogram::PAPER
        }
    }

    fn plan(keep_alive_us: u64, prewarm_after_us: Option<u64>) -> IdlePlan {
        IdlePlan {
            keep_alive_us,
            prewarm_after_us,
        }
    }

    #[test]
    fn hybrid_histogram_learns_a_regular_idle_time() {
        let mut policy = with_keep_alive(KeepAlivePolicy::HybridHistogram(HybridHistogram::PAPER));
        // Nothing known: the fallback, the whole 4-hour range, kept warm.
        assert_eq!(
            policy.idle_plan(&idle_now(0, 0, 10)),
            plan(240 * MINUTE_US, None)
        );
        // Every 20 minutes: the 5th and 99th percentiles are in bin 20. The
        // container is unloaded and pre-warmed 18 minutes later (bin 20's
        // start, less 10%), and kept until bin 20's end plus 10% (23.1
        // minutes after the end): 5.1 minutes once pre-warmed — where a
        // fixed 10 minutes would let every call start cold.
        for k in 1..5 {
            let ends_at_us = k * 20 * MINUTE_US;
            assert_eq!(
                policy.idle_plan(&idle_now(0, ends_at_us, 10)),
                plan(306_000_000, Some(1_080_000_000))
            );
        }
        // Another function has its own histogram; `keep_alive_us` answers
        // the plan's keep-alive.
        assert_eq!(policy.keep_alive_us(&idle_now(1, 0, 10)), 240 * MINUTE_US);
        assert_eq!(
            policy.idle_plan(&idle_now(1, 2 * MINUTE_US + 5, 10)),
            plan(90_000_000, Some(108_000_000))
        );
        assert_eq!(
            policy.keep_alive_us(&idle_now(1, 4 * MINUTE_US + 10, 10)),
            90_000_000
        );
    }

    #[test]
    fn hybrid_histogram_keeps_idle_times_in_the_first_bin_warm() {
        // Idle times under one bin: the pre-warm window is 0, so the
        // container stays, for the window's end: bin 0's end plus 10%.
        let mut policy = with_keep_alive(KeepAlivePolicy::HybridHistogram(small_histogram()));
        let mut now_us = 0;
        policy.idle_plan(&idle_now(0, now_us, 10));
        for _ in 0..3 {
            now_us += 7;
            assert_eq!(policy.idle_plan(&idle_now(0, now_us, 10)), plan(11, None));
        }
        // With pre-warming off, a later bin is kept warm too.
        let mut policy = with_keep_alive(KeepAlivePolicy::HybridHistogram(HybridHistogram {
            prewarm_percentile: 0,
            ..small_histogram()
        }));
        policy.idle_plan(&idle_now(0, 0, 10));
        assert_eq!(policy.idle_plan(&idle_now(0, 25, 10)), plan(33, None));
        // A margin over 100% takes the whole pre-warm window, not more.
        let mut policy = with_keep_alive(KeepAlivePolicy::HybridHistogram(HybridHistogram {
            margin_percent: 150,
            ..small_histogram()
        }));
        policy.idle_plan(&idle_now(0, 0, 10));
        assert_eq!(policy.idle_plan(&idle_now(0, 25, 10)), plan(75, None));
    }

    #[test]
    fn hybrid_histogram_keeps_alive_to_the_tail_percentile() {
        for (prewarm_percentile, expected) in [(0, plan(33, None)), (5, plan(15, Some(18)))] {
            let mut policy = with_keep_alive(KeepAlivePolicy::HybridHistogram(HybridHistogram {
                bins: 40,
                prewarm_percentile,
                ..small_histogram()
            }));
            let mut now_us = 0;
            policy.idle_plan(&idle_now(0, now_us, 10));
            // 99 idle times in bin 2 and one in bin 30: the 99th percentile
            // is in bin 2, so the window ends at 30 µs, 33 with the margin;
            // so is the 5th, so a pre-warm comes at 20 µs less 10%.
            for gap_us in std::iter::repeat_n(25, 99).chain([305]) {
                now_us += gap_us;
                policy.idle_plan(&idle_now(0, now_us, 10));
            }
            assert_eq!(policy.idle_plan(&idle_now(0, now_us + 25, 10)), expected);
        }
        // Spread over bins 1 to 20: pre-warm at the 5th percentile (bin
        // 1: 10 µs less 10%), keep to the 99th (bin 20: 210 µs plus 10%).
        let mut policy = with_keep_alive(KeepAlivePolicy::HybridHistogram(HybridHistogram {
            bins: 40,
            cv_threshold_hundredths: 0,
            ..small_histogram()
        }));
        let mut now_us = 0;
        policy.idle_plan(&idle_now(0, now_us, 10));
        for bin in 1..=20 {
            now_us += bin * 10 + 5;
            policy.idle_plan(&idle_now(0, now_us, 10));
        }
        assert_eq!(
            policy.idle_plan(&idle_now(0, now_us + 15, 10)),
            plan(231 - 9, Some(9))
        );
    }

    #[test]
    fn hybrid_histogram_falls_back_when_idle_times_are_unpredictable() {
        // Even bin counts (CV 0 < 2): the fallback.
        let mut policy = with_keep_alive(KeepAlivePolicy::HybridHistogram(small_histogram()));
        let mut now_us = 0;
        let mut answers = vec![policy.keep_alive_us(&idle_now(0, now_us, 10))];
        for gap_us in [5, 15, 25, 35] {
            now_us += gap_us;
            answers.push(policy.keep_alive_us(&idle_now(0, now_us, 10)));
        }
        // One sample: concentrated (bin 0, window end 10 µs + 10%); two in
        // bins 0 and 1: a CV of exactly 1, still used; three and four
        // spread evenly: the fallback.
        assert_eq!(answers, [1_000, 11, 22, 1_000, 1_000]);
        // Mostly beyond the 40 µs range: the fallback.
        let mut policy = with_keep_alive(KeepAlivePolicy::HybridHistogram(small_histogram()));
        policy.keep_alive_us(&idle_now(0, 0, 10));
        assert_eq!(policy.keep_alive_us(&idle_now(0, 5, 10)), 11);
        assert_eq!(policy.keep_alive_us(&idle_now(0, 500, 10)), 11);
        assert_eq!(policy.keep_alive_us(&idle_now(0, 900, 10)), 1_000);
    }

    #[test]
    fn greedy_dual_keeps_frequent_small_containers_over_recent_ones() {
        let mut policy = with_keep_alive(KeepAlivePolicy::GreedyDual {
            cold_cost_us: 1_000,
        });
        // Function 0 used three times long ago; function 1 once, just now;
        // function 2 once, just now, with half the memory.
        let mut frequent = 0;
        for t in 0..3 {
            frequent = policy.idle_eviction_priority(&idle_now(0, t, 1 << 20));
        }
        let once = policy.idle_eviction_priority(&idle_now(1, 1_000, 1 << 20));
        let small = policy.idle_eviction_priority(&idle_now(2, 1_000, 1 << 19));
        assert_eq!((frequent, once, small), (3_000, 1_000, 2_000));
        // Least recently used would evict function 0's container first.
        assert!(once < small && small < frequent);
        let lru =
            with_keep_alive(KeepAlivePolicy::Fixed).idle_eviction_priority(&idle_now(0, 2, 10));
        assert!(lru < 1_000);
        // The keep-alive stays the configured bound.
        assert_eq!(
            policy.keep_alive_us(&idle_now(0, 5, 10)),
            DEFAULT_KEEP_ALIVE_US
        );
        // Zero memory and huge products do not trip the arithmetic.
        assert_eq!(
            keep_alive::greedy_dual_priority(u64::MAX, u64::MAX, 0),
            u64::MAX
        );
        assert_eq!(keep_alive::greedy_dual_priority(1, 1, 0), 1 << 20);
    }

    #[test]
    fn image_evictions_order_by_recency_frequency_or_size() {
        let facts = |size_bytes, last_used_us, uses| ImageFacts {
            size_bytes,
            last_used_us,
            uses,
            ..image(0)
        };
        // Big and often used long ago; small and used once lately.
        let old_popular_big = facts(1 << 30, 100, 9);
        let new_rare_small = facts(1 << 20, 900, 1);
        let priority = |rule: ImageEviction, image: &ImageFacts| {
            Builtin {
                image_eviction: rule,
                ..Builtin::default()
            }
            .image_priority(image)
        };
        assert!(
            priority(ImageEviction::Lru, &old_popular_big)
                < priority(ImageEviction::Lru, &new_rare_small)
        );
        assert!(
            priority(ImageEviction::Lfu, &new_rare_small)
                < priority(ImageEviction::Lfu, &old_popular_big)
        );
        // GDSF: 9 uses of 1 GiB weigh less than 1 use of 1 MiB.
        assert_eq!(priority(ImageEviction::Gdsf, &old_popular_big), 9 << 20);
        assert_eq!(priority(ImageEviction::Gdsf, &new_rare_small), 1 << 30);
        assert_eq!(
            priority(ImageEviction::Gdsf, &facts(0, 0, u64::MAX)),
            u64::MAX
        );
        assert_eq!(Builtin::default().image_priority(&old_popular_big), 100);
    }

    #[test]
    fn kubelet_watermarks_collect_from_the_high_mark_down_to_the_low() {
        let disk = |used_bytes| DiskFacts {
            tier: Tier::MainStorage,
            capacity_bytes: 1_000,
            used_bytes,
        };
        let mut policy = Builtin {
            image_eviction: ImageEviction::KUBELET,
            ..Builtin::default()
        };
        // Below 85%: nothing; at 85% (the kubelet's `usage >= high`) and
        // above: down to 80%.
        assert_eq!(policy.collection_target_bytes(&disk(849)), None);
        assert_eq!(policy.collection_target_bytes(&disk(850)), Some(800));
        assert_eq!(policy.collection_target_bytes(&disk(1_000)), Some(800));
        // Same answers on a host's disk; the rule has no state.
        let host = DiskFacts {
            tier: Tier::Host(HostId(3)),
            ..disk(900)
        };
        assert_eq!(policy.collection_target_bytes(&host), Some(800));
        assert_eq!(
            policy,
            Builtin {
                image_eviction: ImageEviction::KUBELET,
                ..Builtin::default()
            }
        );
        // Its order is LRU's.
        assert_eq!(policy.image_priority(&image(42)), 42);
        // Out-of-range marks are clamped: a high mark over 100 never fires
        // below a full disk; a low mark over the high one is the high one.
        let rule = |high_percent, low_percent| ImageEviction::KubeletWatermark {
            high_percent,
            low_percent,
        };
        assert_eq!(rule(500, 80).collection_target_bytes(&disk(999)), None);
        assert_eq!(
            rule(500, 80).collection_target_bytes(&disk(1_000)),
            Some(800)
        );
        assert_eq!(rule(50, 90).collection_target_bytes(&disk(500)), Some(500));
        assert_eq!(rule(0, 0).collection_target_bytes(&disk(0)), Some(0));
        // The other rules and the trait's default never collect.
        for other in [ImageEviction::Lru, ImageEviction::Lfu, ImageEviction::Gdsf] {
            assert_eq!(other.collection_target_bytes(&disk(1_000)), None);
        }
        assert_eq!(Defaults.collection_target_bytes(&disk(1_000)), None);
    }

    #[test]
    fn greedy_dual_and_gdsf_clocks_rise_to_each_victims_priority() {
        let mut policy = Builtin {
            keep_alive_policy: KeepAlivePolicy::GreedyDual {
                cold_cost_us: 1_000,
            },
            image_eviction: ImageEviction::Gdsf,
            ..Builtin::default()
        };
        let victim = |host, priority| Eviction::Container {
            container: ContainerId::from_bits(0),
            function: FunctionId::from_bits(0),
            host: HostId(host),
            priority,
        };
        // One use of a MiB: 1,000 on a fresh host.
        assert_eq!(
            policy.idle_eviction_priority(&idle_now(5, 0, 1 << 20)),
            1_000
        );
        policy.evicted(&victim(0, 7_000));
        // The clock is per host, and never falls.
        policy.evicted(&victim(0, 3_000));
        assert_eq!(policy.state.container_clock(HostId(0)), 7_000);
        assert_eq!(policy.state.container_clock(HostId(1)), 0);
        assert_eq!(
            policy.idle_eviction_priority(&idle_now(6, 0, 1 << 20)),
            8_000
        );
        let on_host_1 = ContainerFacts {
            host: HostId(1),
            ..idle_now(7, 0, 1 << 20)
        };
        assert_eq!(policy.idle_eviction_priority(&on_host_1), 1_000);
        // Saturates instead of wrapping.
        policy.evicted(&victim(0, u64::MAX));
        assert_eq!(
            policy.idle_eviction_priority(&idle_now(8, 0, 1 << 20)),
            u64::MAX
        );
        // GDSF: one clock per disk; an image evicted from host 0 lifts host
        // 0's disk only.
        let one_use_of_a_mib = ImageFacts {
            size_bytes: 1 << 20,
            uses: 1,
            ..image(0)
        };
        assert_eq!(policy.image_priority(&one_use_of_a_mib), 1 << 30);
        policy.evicted(&Eviction::Image {
            image: ImageId::from_bits(1),
            tier: Tier::Host(HostId(0)),
            priority: 5,
        });
        assert_eq!(policy.image_priority(&one_use_of_a_mib), (1 << 30) + 5);
        let in_main = ImageFacts {
            tier: Tier::MainStorage,
            ..one_use_of_a_mib
        };
        assert_eq!(policy.image_priority(&in_main), 1 << 30);
        // Under other rules an eviction changes nothing.
        let mut lru = Builtin::default();
        lru.evicted(&victim(0, 9));
        lru.evicted(&Eviction::Image {
            image: ImageId::from_bits(1),
            tier: Tier::MainStorage,
            priority: 9,
        });
        assert_eq!(lru, Builtin::default());
    }

    proptest::proptest! {
        /// Keep-alive and eviction answers depend only on the policy's state
        /// and the facts: a clone answers the same; the hybrid histogram
        /// answers its fallback or a whole number of bins plus the margin.
        #[test]
        fn keep_alive_policies_are_deterministic(
            rule in 0usize..KeepAlivePolicy::ALL.len(),
            image_rule in 0usize..ImageEviction::ALL.len(),
            calls in proptest::collection::vec((0u64..3, 0u64..20 * MINUTE_US, 1u64..1_000), 1..40),
        ) {
            let mut policy = with_keep_alive(KeepAlivePolicy::ALL[rule]);
            policy.image_eviction = ImageEviction::ALL[image_rule];
            let mut now_us = 0;
            for (function, gap_us, memory_bytes) in calls {
                now_us += gap_us;
                let facts = idle_now(function, now_us, memory_bytes);
                let mut twin = policy.clone();
                let idle_plan = policy.idle_plan(&facts);
                let keep_alive_us = idle_plan.keep_alive_us;
                let answers = (idle_plan, policy.warm_priority(&facts), policy.idle_eviction_priority(&facts));
                let twin_answers = (twin.idle_plan(&facts), twin.warm_priority(&facts), twin.idle_eviction_priority(&facts));
                proptest::prop_assert_eq!(answers, twin_answers);
                let image = ImageFacts { uses: gap_us % 7, size_bytes: memory_bytes, ..image(now_us) };
                proptest::prop_assert_eq!(policy.image_priority(&image), twin.image_priority(&image));
                // An eviction (of this container, then of this image) is
                // told to both; a policy with a clock never gives a later
                // candidate a priority below the clock it reached.
                let evict_priority = answers.2;
                let evictions = [
                    Eviction::Container { container: facts.container, function: facts.function, host: facts.host, priority: evict_priority },
                    Eviction::Image { image: image.image, tier: image.tier, priority: gap_us },
                ];
                for eviction in &evictions {
                    policy.evicted(eviction);
                    twin.evicted(eviction);
                }
                if let KeepAlivePolicy::GreedyDual { .. } = policy.keep_alive_policy {
                    proptest::prop_assert!(policy.state.container_clock(facts.host) >= evict_priority);
                }
                if policy.image_eviction == ImageEviction::Gdsf {
                    proptest::prop_assert!(policy.state.image_clock(image.tier) >= gap_us);
                }
                let disk = DiskFacts { tier: image.tier, capacity_bytes: memory_bytes * 10, used_bytes: gap_us % (memory_bytes * 10 + 1) };
                let target = policy.collection_target_bytes(&disk);
                proptest::prop_assert_eq!(target, twin.collection_target_bytes(&disk));
                if let Some(target_bytes) = target {
                    // Asked only past the high mark, down to at most the disk.
                    proptest::prop_assert!(target_bytes <= disk.capacity_bytes);
                    proptest::prop_assert!(disk.used_bytes * 100 >= 85 * disk.capacity_bytes);
                }
                proptest::prop_assert_eq!(&policy, &twin);
                match (policy.keep_alive_policy, idle_plan.prewarm_after_us) {
                    // Only the hybrid histogram pre-warms: at a whole number
                    // of bins less 10%, and keeps the container to a whole
                    // number of bins plus 10% after the end.
                    (KeepAlivePolicy::HybridHistogram(params), Some(prewarm_us)) => {
                        let window_end_us = (keep_alive_us + prewarm_us) * 100 / 110;
                        let head_us = prewarm_us * 100 / 90;
                        proptest::prop_assert!(prewarm_us > 0);
                        proptest::prop_assert!(head_us.is_multiple_of(params.bin_us));
                        proptest::prop_assert!(window_end_us.is_multiple_of(params.bin_us));
                        proptest::prop_assert!(head_us < window_end_us);
                        proptest::prop_assert!(window_end_us <= u64::from(params.bins) * params.bin_us);
                    }
                    (KeepAlivePolicy::HybridHistogram(params), None) => {
                        let bins_with_margin = keep_alive_us * 100 / 110;
                        proptest::prop_assert!(
                            keep_alive_us == params.fallback_keep_alive_us
                                || (bins_with_margin.is_multiple_of(params.bin_us)
                                    && bins_with_margin <= u64::from(params.bins) * params.bin_us),
                            "{}", keep_alive_us
                        );
                    }
                    (_, prewarm) => proptest::prop_assert_eq!(prewarm, None),
                }
            }
        }
    }

    /// A view that lists a host but has no facts for it (the core and the
    /// model never do this; a hand-made view might): no rule panics, and
    /// every answer is still a host that fits.
    #[test]
    fn host_selection_survives_a_view_without_facts() {
        struct Holes(FakeView);
        impl HostView for Holes {
            fn now_us(&self) -> u64 {
                0
            }
            fn host_count(&self) -> u32 {
                self.0.host_count()
            }
            fn host(&self, host: HostId) -> Option<HostFacts> {
                (host.0 != 1).then(|| self.0.host(host)).flatten()
            }
            fn has_image(&self, host: HostId, image: ImageId) -> bool {
                self.0.has_image(host, image)
            }
            fn fits(&self, host: HostId, request: &PlacementRequest) -> bool {
                self.0.fits(host, request)
            }
            fn fits_in_room(&self, host: HostId, request: &PlacementRequest) -> bool {
                self.0.fits_in_room(host, request)
            }
        }
        let view = Holes(loaded(&[2, 0, 1, 2]));
        for rule in HostSelection::ALL {
            for function in 0..8 {
                let choice = selecting(rule).select_host(&view, &request_for(function, function));
                assert!(
                    choice.is_some_and(|h| view.fits(h, &request(10))),
                    "{rule:?}"
                );
            }
        }
        // Least loaded never prefers the host without facts.
        let mut least = selecting(HostSelection::LeastLoaded);
        assert_eq!(least.select_host(&view, &request(10)), Some(HostId(2)));
        // A view that says nothing of faults has every host up.
        assert!((0..4).all(|h| view.is_up(HostId(h))));
    }
}
