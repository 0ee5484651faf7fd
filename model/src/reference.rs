//! The reference model: an executable reading of `docs/spec.md`, written for
//! clarity, not speed. Rule numbers (R…) cite the spec.
//!
//! Only the *entities* are stored: images, functions, invocations,
//! containers, the host image copies, the timers, the two FIFOs (the
//! invocation queue and main storage's pending downloads) and the retention
//! order. Everything derived — RAM, slots and disk used, idle sums, copy
//! classes and pins, main-storage use, `copy_pins`, the evictable and idle
//! orders, the gauges of the metrics — is recomputed by a linear scan over
//! the entities every time it is needed. Timers are a plain `Vec` scanned for
//! the lowest `(due, seq)`.
//!
//! It shares with core only the public types (inputs, events, configuration,
//! ids, metrics, refusals, the policy trait and its fact structs), and calls
//! the same policy objects at the same moments with the same facts.

use crate::machine::Machine;
use coldstart_core::limits::{BYTES_MAX, DURATION_MAX_US, TIME_MAX_US};
use coldstart_core::ContainerUsage;
use coldstart_core::{Bandwidth, Cpu, FunctionDef};
use coldstart_core::{
    ClientError, Code, Command, Config, ConfigError, ContainerFacts, ContainerId, DecisionError,
    DiskFacts, EndOutcome, Ending, Event, EventKind, Eviction, FunctionId, HostFacts, HostId,
    HostView, ImageFacts, ImageId, ImageSource, Input, InvocationId, InvocationState, JoinFacts,
    Metrics, Outcome, Phase, PlacementRequest, PlatformError, Policies, Pressure, PrewarmSkip,
    Refusal, RejectReason, RemovalCause, ScaleDecision, ScaleFacts, Tier, Usage,
};

// ---------------------------------------------------------------------------
// R13: the arena id allocation rule.

#[derive(Clone, Debug)]
struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

/// Slots plus a LIFO free list; keys are `generation << 32 | index` (R12).
#[derive(Clone, Debug)]
struct Arena<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
}

impl<T> Arena<T> {
    fn new() -> Self {
        Arena {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }

    fn is_full(&self) -> bool {
        self.free.is_empty() && self.slots.len() >= u32::MAX as usize
    }

    /// Reuses the most recently freed slot, else appends one (generation 0).
    fn insert(&mut self, value: T) -> u64 {
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            slot.value = Some(value);
            (u64::from(slot.generation) << 32) | u64::from(index)
        } else {
            assert!(!self.is_full(), "arena full");
            let index = self.slots.len() as u32;
            self.slots.push(Slot {
                generation: 0,
                value: Some(value),
            });
            u64::from(index)
        }
    }

    fn split(key: u64) -> (usize, u32) {
        ((key as u32) as usize, (key >> 32) as u32)
    }

    fn get(&self, key: u64) -> Option<&T> {
        let (index, generation) = Self::split(key);
        let slot = self.slots.get(index)?;
        if slot.generation != generation {
            return None;
        }
        slot.value.as_ref()
    }

    fn get_mut(&mut self, key: u64) -> Option<&mut T> {
        let (index, generation) = Self::split(key);
        let slot = self.slots.get_mut(index)?;
        if slot.generation != generation {
            return None;
        }
        slot.value.as_mut()
    }

    /// Frees the slot: generation + 1, index pushed on the free list; a slot
    /// whose generation would overflow is retired.
    fn remove(&mut self, key: u64) -> T {
        let (index, generation) = Self::split(key);
        let slot = &mut self.slots[index];
        assert_eq!(slot.generation, generation, "stale key removed");
        let value = slot.value.take().expect("removing an empty slot");
        if let Some(next) = slot.generation.checked_add(1) {
            slot.generation = next;
            self.free.push(index as u32);
        }
        value
    }

    fn iter(&self) -> impl Iterator<Item = (u64, &T)> {
        self.slots.iter().enumerate().filter_map(|(index, slot)| {
            slot.value
                .as_ref()
                .map(|v| ((u64::from(slot.generation) << 32) | index as u64, v))
        })
    }
}

// ---------------------------------------------------------------------------
// Entities (§5).

/// `(priority, seq)`: every ordered set's key (R3); `seq` is unique.
type Key = (u64, u64);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Main {
    Absent,
    AwaitingRoom,
    Downloading,
    /// R143: a failed download waiting for its next attempt.
    DownloadBackoff,
    Present,
}

#[derive(Clone, Debug)]
struct Image {
    size_bytes: u64,
    main: Main,
    waiting_hosts: Vec<HostId>,
    first_stored_us: u64,
    last_used_us: u64,
    uses: u64,
    main_key: Option<Key>,
    download_attempt: u32,
}

#[derive(Clone, Debug)]
struct Function {
    image: ImageId,
    memory_bytes: u64,
    scratch_bytes: u64,
    time_limit_us: u64,
    /// R41a: its own cold-start overhead, if it has one.
    cold_start_us: Option<u64>,
    /// R41a: its own warm-start overhead, if it has one.
    warm_start_us: Option<u64>,
    /// R57a: the most invocations one container holds at once.
    concurrency: u32,
    /// R85f: the CPU each running invocation demands (millicores).
    cpu_millis: u32,
    /// R159: its minimum scale. The model does not hold a floor yet; the
    /// autoscaler's desired count is bounded below by it (R169).
    min_scale: u32,
    /// R154: the function's pending pre-warm, if it has one.
    prewarm: Option<PendingPrewarm>,
}

/// R154: a planned pre-warm: its `Prewarm` timer's key, and how long the
/// pre-warmed container is to stay idle once ready.
#[derive(Clone, Copy, Debug)]
struct PendingPrewarm {
    timer: Key,
    keep_alive_us: u64,
}

#[derive(Clone, Copy, Debug)]
enum InvState {
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
    Retrying {
        retry_at_us: u64,
    },
    Ended(Ending),
}

#[derive(Clone, Debug)]
struct Invocation {
    function: FunctionId,
    code: Code,
    ingress_bytes: u64,
    egress_bytes: u64,
    attempt: u32,
    state: InvState,
}

#[derive(Clone, Copy, Debug)]
enum CState {
    Preparing(InvocationId),
    Starting(InvocationId),
    Busy(InvocationId),
    Idle {
        expiry: Key,
        warm_key: Key,
        evict_key: Key,
    },
    /// R154: a pre-warm waiting for its image (no invocation); it is to
    /// stay idle `keep_alive_us` once ready.
    PrewarmPreparing {
        keep_alive_us: u64,
    },
    /// R154: a pre-warm paying `cold_start_us` (no invocation).
    PrewarmStarting {
        keep_alive_us: u64,
    },
}

#[derive(Clone, Debug)]
struct Container {
    function: FunctionId,
    host: HostId,
    image: ImageId,
    memory_bytes: u64,
    scratch_bytes: u64,
    created_at_us: u64,
    created_seq: u64,
    last_used_us: u64,
    uses: u64,
    state: CState,
    /// R57b: the invocations it holds besides the one its state names, in
    /// join order.
    joined: Vec<InvocationId>,
    /// R89a: a held invocation failed; no more join, discarded when the
    /// last leaves.
    retiring: bool,
    /// R57b: its `(join_priority, created_seq)` while it is in its
    /// function's join set (the set is these keys).
    join_key: Option<Key>,
    /// R168.2: its first `ContainerReady` has fired.
    started: bool,
    /// R104b: when its cold-start overhead began (None: not yet).
    started_at_us: Option<u64>,
    /// R104b: its time not idle, up to `active_since_us`.
    active_us: u64,
    /// R104b: since when it has been active without a break (None while
    /// idle or before it started).
    active_since_us: Option<u64>,
}

impl Container {
    fn is_idle(&self) -> bool {
        matches!(self.state, CState::Idle { .. })
    }
}

/// A host image copy (R25). Pins are not stored: they are counted from the
/// containers (R66).
#[derive(Clone, Debug)]
struct Copy {
    image: ImageId,
    size_bytes: u64,
    arriving: bool,
    waiting: Vec<ContainerId>,
    first_stored_us: u64,
    last_used_us: u64,
    uses: u64,
    /// Set iff the copy is in the Evictable class (R69, R70).
    key: Option<Key>,
    copy_attempt: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Pinned,
    IdlePinned,
    Evictable,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
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
    RetryDue {
        invocation: InvocationId,
    },
    DownloadRetry {
        image: ImageId,
    },
    CopyRetry {
        host: HostId,
        image: ImageId,
    },
    Prewarm {
        function: FunctionId,
    },
    /// R167.
    Reconcile,
}

/// R166, naively: one record per accepted invocation, kept until it has
/// ended before the last tick: its function, when it was accepted and
/// when it ended.
#[derive(Clone, Copy, Debug)]
struct DemandRecord {
    invocation: InvocationId,
    function: FunctionId,
    accepted_us: u64,
    ended_us: Option<u64>,
}

/// The whole state but the policies, so that policies (`&mut`) can be
/// handed the state as a `HostView` (`&`).
#[derive(Clone, Debug)]
struct World {
    config: Config,
    now: u64,
    seq: u64,
    images: Arena<Image>,
    functions: Arena<Function>,
    invocations: Arena<Invocation>,
    containers: Arena<Container>,
    /// Per host, its image copies (order irrelevant: choices use keys).
    copies: Vec<Vec<Copy>>,
    /// Per host, whether it is up (R141, R142).
    up: Vec<bool>,
    timers: Vec<(u64, u64, Timer)>,
    queue: Vec<InvocationId>,
    pending: Vec<ImageId>,
    ended_order: Vec<InvocationId>,
    /// Counters and time integrals; the gauges are recomputed (`gauges`).
    metrics: Metrics,
    /// R60.1: the copy a cold start pinned before its container exists.
    start_pin: Option<(HostId, ImageId)>,
    /// R85a, with shared bandwidth: every transfer in flight on any link,
    /// in the order they started, with the work it has left (millionths of
    /// a byte). A link's transfers are found by scanning this list.
    transfers: Vec<(Timer, u128)>,
    /// R85a: each link's last re-timing (µs): `[0]` the download feed,
    /// `[1 + i]` host i's copy link.
    link_since_us: Vec<u64>,
    /// R166: the invocations' spans, for the observed concurrency.
    demand: Vec<DemandRecord>,
    /// R167: when the last reconcile tick fired (0 before the first).
    last_tick_us: u64,
    /// R85g, with processor sharing: every run on any host, in the order
    /// its code began: `(invocation, host, left in nominal nanoseconds,
    /// deadline)`. A host's runs are found by scanning this list.
    runs: Vec<(InvocationId, HostId, u128, u64)>,
    /// R85g: each host's last re-timing (µs).
    cpu_since_us: Vec<u64>,
}

/// The reference model of a provider.
#[derive(Clone, Debug)]
pub struct Model<P: Policies> {
    policies: P,
    w: World,
}

fn transfer_us(size: u64, bandwidth: u64) -> u64 {
    // R84
    let t = (u128::from(size) * 1_000_000).div_ceil(u128::from(bandwidth));
    t.min(u128::from(DURATION_MAX_US)) as u64
}

/// R85a: the link a transfer runs on (0: the download feed, 1 + i: host
/// i's copy link).
fn link_of(timer: Timer) -> usize {
    match timer {
        Timer::DownloadDone { .. } => 0,
        Timer::CopyDone { host, .. } => 1 + host.index(),
        _ => unreachable!("not a transfer"),
    }
}

/// R87, written out.
fn code_duration(code: &Code) -> u64 {
    match code.outcome {
        Outcome::Success { .. } => code.clone_us + code.build_us + code.run_us,
        Outcome::Failure { phase } => match phase {
            Phase::Clone => code.clone_us,
            Phase::Build => code.clone_us + code.build_us,
            Phase::Run => code.clone_us + code.build_us + code.run_us,
        },
    }
}

impl World {
    fn draw(&mut self) -> u64 {
        let s = self.seq;
        self.seq += 1;
        s
    }

    fn emit(&self, events: &mut Vec<Event>, kind: EventKind) {
        events.push(Event {
            at_us: self.now,
            kind,
        });
    }

    fn schedule(&mut self, due: u64, timer: Timer) -> Key {
        let seq = self.draw();
        self.timers.push((due, seq, timer));
        (due, seq)
    }

    fn cancel(&mut self, timer: Timer) {
        self.timers.retain(|t| t.2 != timer);
    }

    /// R166: the invocation has ended now.
    fn demand_ended(&mut self, invocation: InvocationId) {
        let now = self.now;
        let record = self
            .demand
            .iter_mut()
            .find(|r| r.invocation == invocation && r.ended_us.is_none())
            .expect("an ending invocation without its demand record");
        record.ended_us = Some(now);
    }

    /// R167: `ARM_RECONCILE`, with the timer list as the `armed` flag.
    fn arm_reconcile(&mut self) {
        let Some(tick) = self.config.autoscale_tick_us else {
            return;
        };
        if self.has_timer(Timer::Reconcile) {
            return;
        }
        let due = (self.now / tick + 1) * tick;
        self.schedule(due, Timer::Reconcile);
    }

    fn shared_bandwidth(&self) -> bool {
        self.config.bandwidth == Bandwidth::FairShare
    }

    fn link_bytes_per_s(&self, link: usize) -> u64 {
        if link == 0 {
            self.config.main_storage.download_bytes_per_s
        } else {
            self.config.hosts[link - 1].copy_bytes_per_s
        }
    }

    /// R84, R85, R85c: a transfer of `size` bytes starts.
    fn start_transfer(&mut self, timer: Timer, size: u64) {
        let link = link_of(timer);
        if !self.shared_bandwidth() {
            let due = self.now + transfer_us(size, self.link_bytes_per_s(link));
            self.schedule(due, timer);
            return;
        }
        self.charge(link);
        self.transfers.push((timer, u128::from(size) * 1_000_000));
        self.retime(link, Some(timer));
    }

    /// R85c: a transfer's timer fired.
    fn transfer_done(&mut self, timer: Timer) {
        if !self.shared_bandwidth() {
            return;
        }
        let link = link_of(timer);
        self.charge(link);
        self.transfers.retain(|t| t.0 != timer);
        self.retime(link, None);
    }

    /// R85, R85d: a fault ends a transfer before its timer.
    fn end_transfer(&mut self, timer: Timer) {
        if !self.shared_bandwidth() {
            self.cancel(timer);
            return;
        }
        let link = link_of(timer);
        self.charge(link);
        self.transfers.retain(|t| t.0 != timer);
        self.cancel(timer);
        self.retime(link, None);
    }

    fn shared_cpu(&self) -> bool {
        self.config.cpu == Cpu::ProcessorSharing
    }

    /// R85f: a host's demand, from scratch: the sum of `cpu_millis` over
    /// the invocations running on it.
    fn cpu_demand(&self, host: HostId) -> u64 {
        self.invocations
            .iter()
            .filter(|(_, i)| matches!(i.state, InvState::Running { host: h, .. } if h == host))
            .map(|(_, i)| u64::from(self.function(i.function).cpu_millis))
            .sum()
    }

    /// R85g: the demand of the runs listed on a host.
    fn runs_demand(&self, host: HostId) -> u64 {
        self.runs
            .iter()
            .filter(|r| r.1 == host)
            .map(|r| u64::from(self.function(self.inv(r.0).function).cpu_millis))
            .sum()
    }

    /// R85g: what a charge of `elapsed` µs gives each run on `host` at
    /// demand `demand`.
    fn cpu_progress(&self, host: HostId, elapsed: u64, demand: u64) -> u128 {
        let spec = self.config.hosts[host.index()];
        let pool = u128::from(elapsed)
            * u128::from(spec.cores_millis.min(demand))
            * u128::from(spec.speed_permille);
        pool.checked_div(u128::from(demand)).unwrap_or(0)
    }

    /// R85g: `CHARGE(host)`.
    fn charge_cpu(&mut self, host: HostId) {
        let demand = self.runs_demand(host);
        let each = self.cpu_progress(host, self.now - self.cpu_since_us[host.index()], demand);
        for r in self.runs.iter_mut().filter(|r| r.1 == host) {
            r.2 = r.2.saturating_sub(each);
        }
        self.cpu_since_us[host.index()] = self.now;
    }

    /// R85g: `RETIME(host)`, from scratch: every run on the host with work
    /// left and a deadline after now (and `new`) gets a new timer, in start
    /// order.
    fn retime_cpu(&mut self, host: HostId, new: Option<InvocationId>) {
        let demand = u128::from(self.runs_demand(host));
        let spec = self.config.hosts[host.index()];
        let rate = u128::from(spec.cores_millis).min(demand) * u128::from(spec.speed_permille);
        let on_host: Vec<(InvocationId, u128, u64)> = self
            .runs
            .iter()
            .filter(|r| r.1 == host)
            .map(|r| (r.0, r.2, r.3))
            .collect();
        for (inv, left, deadline) in on_host {
            if (left == 0 || deadline == self.now) && new != Some(inv) {
                continue;
            }
            let timer = Timer::InvocationEnd { invocation: inv };
            self.cancel(timer);
            let due = (u128::from(self.now) + (left * demand).div_ceil(rate))
                .min(u128::from(deadline)) as u64;
            self.schedule(due, timer);
        }
    }

    /// R86, R85h: a run begins on `host`.
    fn start_run(&mut self, inv: InvocationId, host: HostId, duration: u64, limit: u64) {
        if !self.shared_cpu() {
            let due = self.now + duration.min(limit);
            self.schedule(due, Timer::InvocationEnd { invocation: inv });
            return;
        }
        self.charge_cpu(host);
        self.runs
            .push((inv, host, u128::from(duration) * 1_000, self.now + limit));
        self.retime_cpu(host, Some(inv));
    }

    /// R85i: a run's end timer fired; whether it timed out.
    fn run_ended(&mut self, inv: InvocationId, host: HostId, duration: u64, limit: u64) -> bool {
        if !self.shared_cpu() {
            return duration > limit;
        }
        self.charge_cpu(host);
        let at = self.runs.iter().position(|r| r.0 == inv).expect("a run");
        let (_, _, left, _) = self.runs.remove(at);
        self.retime_cpu(host, None);
        left > 0
    }

    /// R85j: a run lost with its host: no charge, no re-timing.
    fn run_lost(&mut self, inv: InvocationId) {
        self.runs.retain(|r| r.0 != inv);
        self.cancel(Timer::InvocationEnd { invocation: inv });
    }

    /// R85b: `CHARGE(link)`.
    fn charge(&mut self, link: usize) {
        let k = self
            .transfers
            .iter()
            .filter(|t| link_of(t.0) == link)
            .count() as u128;
        let elapsed = u128::from(self.now - self.link_since_us[link]);
        let pool = elapsed * u128::from(self.link_bytes_per_s(link));
        if let Some(each) = pool.checked_div(k) {
            for t in self.transfers.iter_mut().filter(|t| link_of(t.0) == link) {
                t.1 = t.1.saturating_sub(each);
            }
        }
        self.link_since_us[link] = self.now;
    }

    /// R85b: `RETIME(link)`, from scratch: every transfer on the link with
    /// work left (and `new`) gets a new timer, in start order.
    fn retime(&mut self, link: usize, new: Option<Timer>) {
        let on_link: Vec<(Timer, u128)> = self
            .transfers
            .iter()
            .copied()
            .filter(|t| link_of(t.0) == link)
            .collect();
        let k = on_link.len() as u128;
        let bandwidth = u128::from(self.link_bytes_per_s(link));
        for (timer, left) in on_link {
            if left == 0 && new != Some(timer) {
                continue;
            }
            self.cancel(timer);
            let us = (left * k)
                .div_ceil(bandwidth)
                .min(u128::from(DURATION_MAX_US)) as u64;
            self.schedule(self.now + us, timer);
        }
    }

    fn image(&self, id: ImageId) -> &Image {
        self.images.get(id.to_bits()).expect("image")
    }
    fn image_mut(&mut self, id: ImageId) -> &mut Image {
        self.images.get_mut(id.to_bits()).expect("image")
    }
    fn function(&self, id: FunctionId) -> &Function {
        self.functions.get(id.to_bits()).expect("function")
    }
    /// R41a: what a cold start of `id`'s containers pays.
    fn cold_cost(&self, id: FunctionId) -> u64 {
        let own = self.function(id).cold_start_us;
        own.unwrap_or(self.config.cold_start_us)
    }
    /// R41a: what a warm start of `id` pays.
    fn warm_cost(&self, id: FunctionId) -> u64 {
        let own = self.function(id).warm_start_us;
        own.unwrap_or(self.config.warm_start_us)
    }
    fn function_mut(&mut self, id: FunctionId) -> &mut Function {
        self.functions.get_mut(id.to_bits()).expect("function")
    }
    fn inv(&self, id: InvocationId) -> &Invocation {
        self.invocations.get(id.to_bits()).expect("invocation")
    }
    fn inv_mut(&mut self, id: InvocationId) -> &mut Invocation {
        self.invocations.get_mut(id.to_bits()).expect("invocation")
    }
    fn ctr(&self, id: ContainerId) -> &Container {
        self.containers.get(id.to_bits()).expect("container")
    }
    fn ctr_mut(&mut self, id: ContainerId) -> &mut Container {
        self.containers.get_mut(id.to_bits()).expect("container")
    }

    fn containers(&self) -> impl Iterator<Item = (ContainerId, &Container)> {
        self.containers
            .iter()
            .map(|(k, c)| (ContainerId::from_bits(k), c))
    }

    fn on_host(&self, host: HostId) -> impl Iterator<Item = (ContainerId, &Container)> {
        self.containers().filter(move |(_, c)| c.host == host)
    }

    fn copy(&self, host: HostId, image: ImageId) -> Option<&Copy> {
        self.copies[host.index()].iter().find(|c| c.image == image)
    }
    fn copy_mut(&mut self, host: HostId, image: ImageId) -> Option<&mut Copy> {
        self.copies[host.index()]
            .iter_mut()
            .find(|c| c.image == image)
    }

    // --- derived host quantities (R24), by scan ---

    fn ram_used(&self, host: HostId) -> u64 {
        self.on_host(host).map(|(_, c)| c.memory_bytes).sum()
    }
    fn slots_used(&self, host: HostId) -> u64 {
        self.on_host(host).count() as u64
    }
    fn idle_ram(&self, host: HostId) -> u64 {
        self.on_host(host)
            .filter(|(_, c)| c.is_idle())
            .map(|(_, c)| c.memory_bytes)
            .sum()
    }
    fn idle_count(&self, host: HostId) -> u64 {
        self.on_host(host).filter(|(_, c)| c.is_idle()).count() as u64
    }
    fn idle_scratch(&self, host: HostId) -> u64 {
        self.on_host(host)
            .filter(|(_, c)| c.is_idle())
            .map(|(_, c)| c.scratch_bytes)
            .sum()
    }
    fn disk_used(&self, host: HostId) -> u64 {
        let copies: u64 = self.copies[host.index()].iter().map(|c| c.size_bytes).sum();
        let scratch: u64 = self.on_host(host).map(|(_, c)| c.scratch_bytes).sum();
        copies + scratch
    }
    fn spec(&self, host: HostId) -> coldstart_core::HostSpec {
        self.config.hosts[host.index()]
    }
    fn ram_free(&self, host: HostId) -> u64 {
        self.spec(host).ram_bytes - self.ram_used(host)
    }
    fn slots_free(&self, host: HostId) -> u64 {
        u64::from(self.spec(host).slots) - self.slots_used(host)
    }
    fn disk_free(&self, host: HostId) -> u64 {
        self.spec(host).disk_bytes - self.disk_used(host)
    }

    /// R66: the class of a copy, its pins counted from the containers (plus
    /// the pin a cold start takes before its container exists, R60.1).
    fn class(&self, host: HostId, image: ImageId) -> Class {
        let copy = self.copy(host, image).expect("copy");
        let users = self
            .on_host(host)
            .filter(|(_, c)| c.image == image)
            .map(|(_, c)| c);
        let (mut busy, mut idle) = (0, 0);
        for c in users {
            if c.is_idle() {
                idle += 1;
            } else {
                busy += 1;
            }
        }
        if self.start_pin == Some((host, image)) {
            busy += 1;
        }
        if copy.arriving || busy > 0 {
            Class::Pinned
        } else if idle > 0 {
            Class::IdlePinned
        } else {
            Class::Evictable
        }
    }

    fn copies_bytes_in(&self, host: HostId, class: Class) -> u64 {
        self.copies[host.index()]
            .iter()
            .filter(|c| self.class(host, c.image) == class)
            .map(|c| c.size_bytes)
            .sum()
    }

    /// R59.
    fn fits_request(&self, host: HostId, request: &PlacementRequest) -> bool {
        if host.index() >= self.config.hosts.len() || !self.up[host.index()] {
            return false;
        }
        let ram_reclaimable = self.ram_free(host) + self.idle_ram(host);
        let slots_reclaimable = self.slots_free(host) + self.idle_count(host);
        if ram_reclaimable < request.memory_bytes || slots_reclaimable < 1 {
            return false;
        }
        let mut images_reclaimable = self.copies_bytes_in(host, Class::Evictable)
            + self.copies_bytes_in(host, Class::IdlePinned);
        let mut disk_needed = request.scratch_bytes;
        match self.copy(host, request.image) {
            Some(copy) => {
                if self.class(host, request.image) != Class::Pinned {
                    images_reclaimable -= copy.size_bytes;
                }
            }
            None => disk_needed += request.image_bytes,
        }
        self.disk_free(host) + self.idle_scratch(host) + images_reclaimable >= disk_needed
    }

    /// R59a: room without evicting a container — free RAM, a free slot,
    /// and disk free or held by Evictable copies (the target's own copy,
    /// if Evictable, is kept, so it counts as room for itself only).
    fn fits_in_room_request(&self, host: HostId, request: &PlacementRequest) -> bool {
        if host.index() >= self.config.hosts.len() || !self.up[host.index()] {
            return false;
        }
        if self.ram_free(host) < request.memory_bytes || self.slots_free(host) < 1 {
            return false;
        }
        let mut images_evictable = self.copies_bytes_in(host, Class::Evictable);
        let mut disk_needed = request.scratch_bytes;
        match self.copy(host, request.image) {
            Some(copy) => {
                if self.class(host, request.image) == Class::Evictable {
                    images_evictable -= copy.size_bytes;
                }
            }
            None => disk_needed += request.image_bytes,
        }
        self.disk_free(host) + images_evictable >= disk_needed
    }

    /// R54.3: what a host-selection policy is asked to place for the
    /// function (R156.2: with no invocation, for a pre-warm).
    fn request(&self, function: FunctionId, invocation: Option<InvocationId>) -> PlacementRequest {
        let f = self.function(function);
        PlacementRequest {
            invocation,
            function,
            image: f.image,
            image_bytes: self.image(f.image).size_bytes,
            memory_bytes: f.memory_bytes,
            scratch_bytes: f.scratch_bytes,
        }
    }

    /// R54.5: why a host chosen by `select_host` cannot take the request.
    fn refusal(&self, host: HostId, request: &PlacementRequest) -> Option<DecisionError> {
        if host.index() >= self.config.hosts.len() {
            Some(DecisionError::UnknownHost)
        } else if !self.up[host.index()] {
            Some(DecisionError::HostDown)
        } else if !self.fits_request(host, request) {
            Some(DecisionError::NoRoom)
        } else {
            None
        }
    }

    // --- main storage (R26), by scan ---

    fn main_used(&self) -> u64 {
        self.images
            .iter()
            .filter(|(_, i)| {
                matches!(
                    i.main,
                    Main::Downloading | Main::DownloadBackoff | Main::Present
                )
            })
            .map(|(_, i)| i.size_bytes)
            .sum()
    }
    fn main_evictable_bytes(&self) -> u64 {
        self.images
            .iter()
            .filter(|(_, i)| i.main_key.is_some())
            .map(|(_, i)| i.size_bytes)
            .sum()
    }
    /// R132: copies out of main storage in flight = pending `CopyDone`s
    /// and `CopyRetry`s.
    fn copy_pins(&self, image: ImageId) -> usize {
        self.timers
            .iter()
            .filter(|t| {
                matches!(t.2, Timer::CopyDone { image: i, .. } | Timer::CopyRetry { image: i, .. } if i == image)
            })
            .count()
    }

    fn has_timer(&self, timer: Timer) -> bool {
        self.timers.iter().any(|t| t.2 == timer)
    }

    fn retrying(&self) -> u64 {
        self.invocations
            .iter()
            .filter(|(_, i)| matches!(i.state, InvState::Retrying { .. }))
            .count() as u64
    }

    // --- gauges (R118), by scan ---

    fn gauges(&self) -> (u64, u64, u64, u64, u64) {
        let queued = self
            .invocations
            .iter()
            .filter(|(_, i)| matches!(i.state, InvState::Queued { .. }))
            .count() as u64;
        let in_flight = self
            .invocations
            .iter()
            .filter(|(_, i)| {
                matches!(
                    i.state,
                    InvState::Preparing { .. }
                        | InvState::Starting { .. }
                        | InvState::Running { .. }
                )
            })
            .count() as u64;
        let containers = self.containers().count() as u64;
        let idle = self.containers().filter(|(_, c)| c.is_idle()).count() as u64;
        (queued, in_flight, containers, containers - idle, idle)
    }

    /// R33.
    fn move_time(&mut self, t: u64) {
        let dt = u128::from(t - self.now);
        let (queued, _, containers, busy, idle) = self.gauges();
        self.metrics.container_us += dt * u128::from(containers);
        self.metrics.busy_container_us += dt * u128::from(busy);
        self.metrics.idle_container_us += dt * u128::from(idle);
        self.metrics.queued_us += dt * u128::from(queued);
        self.now = t;
    }

    fn ended_records(&self) -> u64 {
        self.invocations
            .iter()
            .filter(|(_, i)| matches!(i.state, InvState::Ended(_)))
            .count() as u64
    }

    fn state_of(&self, id: InvocationId) -> Result<InvocationState, ClientError> {
        let inv = self
            .invocations
            .get(id.to_bits())
            .ok_or(ClientError::UnknownInvocation { invocation: id })?;
        Ok(match inv.state {
            InvState::Queued { since_us } => InvocationState::Queued { since_us },
            InvState::Preparing { container, host } => {
                InvocationState::Preparing { host, container }
            }
            InvState::Starting {
                container,
                host,
                cold,
            } => InvocationState::Starting {
                host,
                container,
                cold,
            },
            InvState::Running {
                container,
                host,
                cold,
                code_start_us,
            } => {
                // R122, R85k(4)
                let e = match self.runs.iter().find(|r| r.0 == id) {
                    Some(&(_, h, left, _)) => {
                        let elapsed = self.now - self.cpu_since_us[h.index()];
                        let each = self.cpu_progress(h, elapsed, self.runs_demand(h));
                        let whole = u128::from(code_duration(&inv.code)) * 1_000;
                        ((whole - left.saturating_sub(each)) / 1_000) as u64
                    }
                    None => self.now - code_start_us,
                };
                let c = &inv.code;
                let phase = if e < c.clone_us {
                    Phase::Clone
                } else if e < c.clone_us + c.build_us {
                    Phase::Build
                } else {
                    Phase::Run
                };
                InvocationState::Running {
                    host,
                    container,
                    cold,
                    started_us: code_start_us,
                    phase,
                }
            }
            InvState::Retrying { retry_at_us } => InvocationState::Retrying {
                attempt: inv.attempt,
                retry_at_us,
            },
            InvState::Ended(ending) => InvocationState::Ended(ending),
        })
    }
}

/// R107: what `select_host` sees.
impl HostView for World {
    fn now_us(&self) -> u64 {
        self.now
    }

    fn host_count(&self) -> u32 {
        self.config.hosts.len() as u32
    }

    fn host(&self, host: HostId) -> Option<HostFacts> {
        if host.index() >= self.config.hosts.len() {
            return None;
        }
        let idle = self.idle_count(host);
        Some(HostFacts {
            spec: self.spec(host),
            ram_used_bytes: self.ram_used(host),
            slots_used: self.slots_used(host) as u32,
            disk_used_bytes: self.disk_used(host),
            idle_containers: idle as u32,
            busy_containers: (self.slots_used(host) - idle) as u32,
            cpu_demand_millis: self.cpu_demand(host),
        })
    }

    fn has_image(&self, host: HostId, image: ImageId) -> bool {
        host.index() < self.config.hosts.len() && self.copy(host, image).is_some()
    }

    fn fits(&self, host: HostId, request: &PlacementRequest) -> bool {
        self.fits_request(host, request)
    }

    fn fits_in_room(&self, host: HostId, request: &PlacementRequest) -> bool {
        self.fits_in_room_request(host, request)
    }

    fn is_up(&self, host: HostId) -> bool {
        host.index() < self.config.hosts.len() && self.up[host.index()]
    }
}

impl<P: Policies> Model<P> {
    /// A new model (R19). The configuration is validated by `Config::validate`
    /// (R17), a property of the shared configuration type.
    pub fn new(config: Config, policies: P) -> Result<Self, ConfigError> {
        config.validate()?;
        let hosts = config.hosts.len();
        Ok(Model {
            policies,
            w: World {
                config,
                now: 0,
                seq: 0,
                images: Arena::new(),
                functions: Arena::new(),
                invocations: Arena::new(),
                containers: Arena::new(),
                copies: vec![Vec::new(); hosts],
                up: vec![true; hosts],
                timers: Vec::new(),
                queue: Vec::new(),
                pending: Vec::new(),
                ended_order: Vec::new(),
                metrics: Metrics::default(),
                start_pin: None,
                transfers: Vec::new(),
                link_since_us: vec![0; hosts + 1],
                demand: Vec::new(),
                last_tick_us: 0,
                runs: Vec::new(),
                cpu_since_us: vec![0; hosts],
            },
        })
    }

    /// The policies the model decides with.
    pub fn policies(&self) -> &P {
        &self.policies
    }

    // --- §8: validation ---

    fn validate(&self, input: &Input) -> Result<(), Refusal> {
        let w = &self.w;
        let at_us = input.at_us;
        if at_us > TIME_MAX_US {
            return Err(Refusal::TimeTooLate {
                at_us,
                max_us: TIME_MAX_US,
            });
        }
        if at_us < w.now {
            return Err(Refusal::TimeWentBackwards {
                at_us,
                now_us: w.now,
            });
        }
        let too_large = |field: &'static str, value: u64, max: u64| {
            if value > max {
                Err(Refusal::TooLarge {
                    field: field.into(),
                    value,
                    max,
                })
            } else {
                Ok(())
            }
        };
        match input.command {
            Command::RegisterImage { size_bytes } => {
                // R38
                if size_bytes == 0 {
                    return Err(Refusal::Zero {
                        field: "size_bytes".into(),
                    });
                }
                too_large("size_bytes", size_bytes, BYTES_MAX)?;
                if size_bytes > w.config.main_storage.capacity_bytes {
                    return Err(Refusal::ImageNeverFits {
                        size_bytes,
                        why: "larger than main storage".into(),
                    });
                }
                if w.config.hosts.iter().all(|h| h.disk_bytes < size_bytes) {
                    return Err(Refusal::ImageNeverFits {
                        size_bytes,
                        why: "larger than every host's disk".into(),
                    });
                }
                if w.images.is_full() {
                    return Err(Refusal::TooManyEntities {
                        kind: "images".into(),
                    });
                }
            }
            Command::RegisterFunction(FunctionDef {
                image,
                memory_bytes,
                scratch_bytes,
                time_limit_us,
                cold_start_us,
                warm_start_us,
                concurrency,
                cpu_millis,
                ..
            }) => {
                // R40
                let Some(img) = w.images.get(image.to_bits()) else {
                    return Err(Refusal::UnknownImage { image });
                };
                if memory_bytes == 0 {
                    return Err(Refusal::Zero {
                        field: "memory_bytes".into(),
                    });
                }
                if time_limit_us == 0 {
                    return Err(Refusal::Zero {
                        field: "time_limit_us".into(),
                    });
                }
                if concurrency == 0 {
                    return Err(Refusal::Zero {
                        field: "concurrency".into(),
                    });
                }
                if cpu_millis == 0 {
                    return Err(Refusal::Zero {
                        field: "cpu_millis".into(),
                    });
                }
                too_large("memory_bytes", memory_bytes, BYTES_MAX)?;
                too_large("scratch_bytes", scratch_bytes, BYTES_MAX)?;
                too_large("time_limit_us", time_limit_us, DURATION_MAX_US)?;
                too_large("cold_start_us", cold_start_us.unwrap_or(0), DURATION_MAX_US)?;
                too_large("warm_start_us", warm_start_us.unwrap_or(0), DURATION_MAX_US)?;
                too_large(
                    "concurrency",
                    u64::from(concurrency),
                    u64::from(coldstart_core::limits::CONCURRENCY_MAX),
                )?;
                too_large(
                    "cpu_millis",
                    u64::from(cpu_millis),
                    u64::from(coldstart_core::limits::CPU_MILLIS_MAX),
                )?;
                if w.config.hosts.iter().all(|h| h.ram_bytes < memory_bytes) {
                    return Err(Refusal::FunctionNeverFits {
                        why: "needs more RAM than any host has".into(),
                    });
                }
                if !w.config.hosts.iter().any(|h| {
                    h.ram_bytes >= memory_bytes && h.disk_bytes >= img.size_bytes + scratch_bytes
                }) {
                    return Err(Refusal::FunctionNeverFits {
                        why: "no host has both the RAM and the disk for its image plus scratch"
                            .into(),
                    });
                }
                if w.functions.is_full() {
                    return Err(Refusal::TooManyEntities {
                        kind: "functions".into(),
                    });
                }
            }
            Command::Invoke {
                function,
                code,
                ingress_bytes,
                egress_bytes,
            } => {
                // R42
                if w.functions.get(function.to_bits()).is_none() {
                    return Err(Refusal::UnknownFunction { function });
                }
                too_large("code.clone_us", code.clone_us, DURATION_MAX_US)?;
                too_large("code.build_us", code.build_us, DURATION_MAX_US)?;
                too_large("code.run_us", code.run_us, DURATION_MAX_US)?;
                too_large("ingress_bytes", ingress_bytes, BYTES_MAX)?;
                too_large("egress_bytes", egress_bytes, BYTES_MAX)?;
                if w.invocations.is_full() {
                    return Err(Refusal::TooManyEntities {
                        kind: "invocations".into(),
                    });
                }
            }
            Command::Advance => {}
            // R140
            Command::HostDown { host } => {
                if host.index() >= w.config.hosts.len() {
                    return Err(Refusal::UnknownHost { host });
                }
                if !w.up[host.index()] {
                    return Err(Refusal::HostAlreadyDown { host });
                }
            }
            Command::HostUp { host, .. } => {
                if host.index() >= w.config.hosts.len() {
                    return Err(Refusal::UnknownHost { host });
                }
                if w.up[host.index()] {
                    return Err(Refusal::HostAlreadyUp { host });
                }
            }
            Command::DownloadFails { image } => {
                let Some(img) = w.images.get(image.to_bits()) else {
                    return Err(Refusal::UnknownImage { image });
                };
                if img.main != Main::Downloading {
                    return Err(Refusal::NoDownloadInProgress { image });
                }
            }
            Command::CopyFails { host, image } => {
                if host.index() >= w.config.hosts.len() {
                    return Err(Refusal::UnknownHost { host });
                }
                if w.images.get(image.to_bits()).is_none() {
                    return Err(Refusal::UnknownImage { image });
                }
                if !w.has_timer(Timer::CopyDone { host, image }) {
                    return Err(Refusal::NoCopyInProgress { image, host });
                }
            }
            Command::MainStorageLost => {}
            Command::Reap { invocation } => {
                // R45
                let Some(inv) = w.invocations.get(invocation.to_bits()) else {
                    return Err(Refusal::UnknownInvocation { invocation });
                };
                if !matches!(inv.state, InvState::Ended(_)) {
                    return Err(Refusal::NotTerminal { invocation });
                }
            }
        }
        Ok(())
    }

    // --- R29: the step ---

    fn step(&mut self, input: &Input) -> (Vec<Event>, Option<Refusal>) {
        // R29: the time checks refuse with nothing changed; then the
        // timers due by the input's time fire, and the command is judged
        // against the state they leave (a refusal keeps their events).
        let mut ev = Vec::new();
        let time_only = Input {
            at_us: input.at_us,
            command: Command::Advance,
        };
        if let Err(refusal) = self.validate(&time_only) {
            return (ev, Some(refusal));
        }
        self.fire_timers(input.at_us, &mut ev);
        self.w.move_time(input.at_us);
        if let Err(refusal) = self.validate(input) {
            return (ev, Some(refusal));
        }
        self.execute(&input.command, &mut ev);
        self.fire_timers(input.at_us, &mut ev);
        (ev, None)
    }

    fn execute(&mut self, command: &Command, ev: &mut Vec<Event>) {
        match *command {
            Command::RegisterImage { size_bytes } => {
                // R39
                let key = self.w.images.insert(Image {
                    size_bytes,
                    main: Main::Absent,
                    waiting_hosts: Vec::new(),
                    first_stored_us: 0,
                    last_used_us: 0,
                    uses: 0,
                    main_key: None,
                    download_attempt: 0,
                });
                let image = ImageId::from_bits(key);
                self.w
                    .emit(ev, EventKind::ImageRegistered { image, size_bytes });
            }
            Command::RegisterFunction(FunctionDef {
                image,
                memory_bytes,
                scratch_bytes,
                time_limit_us,
                cold_start_us,
                warm_start_us,
                concurrency,
                cpu_millis,
                min_scale,
                ..
            }) => {
                // R41
                let key = self.w.functions.insert(Function {
                    image,
                    memory_bytes,
                    scratch_bytes,
                    time_limit_us,
                    cold_start_us,
                    warm_start_us,
                    concurrency,
                    cpu_millis,
                    min_scale,
                    prewarm: None,
                });
                let function = FunctionId::from_bits(key);
                self.w
                    .emit(ev, EventKind::FunctionRegistered { function, image });
            }
            Command::Invoke {
                function,
                code,
                ingress_bytes,
                egress_bytes,
            } => {
                // R43
                let now = self.w.now;
                let key = self.w.invocations.insert(Invocation {
                    function,
                    code,
                    ingress_bytes,
                    egress_bytes,
                    attempt: 1,
                    state: InvState::Queued { since_us: now },
                });
                let invocation = InvocationId::from_bits(key);
                self.w.metrics.accepted += 1;
                self.w.demand.push(DemandRecord {
                    invocation,
                    function,
                    accepted_us: now,
                    ended_us: None,
                });
                self.w.arm_reconcile();
                self.w.emit(
                    ev,
                    EventKind::Accepted {
                        invocation,
                        function,
                    },
                );
                self.admit(invocation, ev);
            }
            Command::Advance => {}
            // R46: judged after this step's timers, so the record is there.
            Command::Reap { invocation } => self.reap(invocation, ev),
            Command::HostDown { host } => self.host_down(host, ev),
            Command::HostUp { host, disk_kept } => self.host_up(host, disk_kept, ev),
            Command::DownloadFails { image } => self.download_fails(image, ev),
            Command::CopyFails { host, image } => self.copy_fails(host, image, ev),
            Command::MainStorageLost => self.main_storage_lost(ev),
        }
    }

    /// R31.
    fn fire_timers(&mut self, t: u64, ev: &mut Vec<Event>) {
        loop {
            let Some(pos) = (0..self.w.timers.len()).min_by_key(|&i| {
                let (due, seq, _) = self.w.timers[i];
                (due, seq)
            }) else {
                return;
            };
            if self.w.timers[pos].0 > t {
                return;
            }
            let (due, _, timer) = self.w.timers.remove(pos);
            self.w.move_time(due);
            match timer {
                Timer::DownloadDone { image } => self.on_download_done(image, ev),
                Timer::CopyDone { host, image } => self.on_copy_done(host, image, ev),
                Timer::ContainerReady { container } => self.on_ready(container, ev),
                Timer::InvocationEnd { invocation } => self.on_end(invocation, ev),
                Timer::KeepAliveExpired { container } => {
                    self.remove_idle(container, RemovalCause::Expired, ev);
                    self.drain(ev);
                }
                Timer::RetryDue { invocation } => self.on_retry_due(invocation, ev),
                Timer::DownloadRetry { image } => self.on_download_retry(image, ev),
                Timer::CopyRetry { host, image } => self.on_copy_retry(host, image, ev),
                Timer::Prewarm { function } => self.on_prewarm(function, ev),
                Timer::Reconcile => self.on_reconcile(ev),
            }
        }
    }

    // --- §9: admission ---

    /// R48.
    fn admit(&mut self, inv: InvocationId, ev: &mut Vec<Event>) {
        match self.w.config.pressure {
            Pressure::Reject => {
                if !self.try_start(inv, ev) {
                    self.reject(inv, RejectReason::ResourceUnavailable, ev);
                }
            }
            Pressure::Queue { capacity } => {
                if self.w.queue.is_empty() && self.try_start(inv, ev) {
                    return;
                }
                if self.w.queue.len() as u64 >= u64::from(capacity) {
                    self.reject(inv, RejectReason::QueueFull, ev);
                } else {
                    self.w.queue.push(inv);
                    self.w.metrics.queued_total += 1;
                    let queue_len = self.w.queue.len() as u32;
                    self.w.emit(
                        ev,
                        EventKind::Queued {
                            invocation: inv,
                            queue_len,
                        },
                    );
                }
            }
        }
    }

    /// R49.
    fn reject(&mut self, inv: InvocationId, reason: RejectReason, ev: &mut Vec<Event>) {
        match reason {
            RejectReason::ResourceUnavailable => self.w.metrics.rejected_resource_unavailable += 1,
            RejectReason::QueueFull => self.w.metrics.rejected_queue_full += 1,
            // The enum is non-exhaustive; the model rejects for these two alone.
            other => unreachable!("the model rejected for {other:?}"),
        }
        let now = self.w.now;
        self.w.inv_mut(inv).state = InvState::Ended(Ending {
            at_us: now,
            outcome: EndOutcome::Rejected { reason },
        });
        self.w.demand_ended(inv);
        self.w.emit(
            ev,
            EventKind::Rejected {
                invocation: inv,
                reason,
            },
        );
        self.record_ended(inv, ev);
    }

    /// R50.
    fn drain(&mut self, ev: &mut Vec<Event>) {
        while let Some(&head) = self.w.queue.first() {
            if !self.try_start(head, ev) {
                return;
            }
            self.w.queue.remove(0);
        }
    }

    // --- §10: starting ---

    /// R54.
    fn try_start(&mut self, inv: InvocationId, ev: &mut Vec<Event>) -> bool {
        let function = self.w.inv(inv).function;
        // 1. warm path: the function's idle container with the lowest warm key.
        let warm = self
            .w
            .containers()
            .filter_map(|(id, c)| match c.state {
                CState::Idle { warm_key, .. } if c.function == function => Some((warm_key, id)),
                _ => None,
            })
            .min_by_key(|&(key, _)| key);
        // ... and the function's container with room with the lowest join
        // key (R57b; none at concurrency 1).
        let join = self
            .w
            .containers()
            .filter_map(|(id, c)| match c.join_key {
                Some(key) if c.function == function => Some((key, id)),
                _ => None,
            })
            .min_by_key(|&(key, _)| key);
        match (warm, join) {
            (Some((_, i)), Some((_, j))) => {
                let (join_facts, idle_facts) = (self.join_facts(j), self.facts(i));
                if self.policies.join_before_waking(&join_facts, &idle_facts) {
                    self.join(inv, j, ev);
                } else {
                    self.warm_start(inv, i, ev);
                }
                return true;
            }
            (Some((_, i)), None) => {
                self.warm_start(inv, i, ev);
                return true;
            }
            (None, Some((_, j))) => {
                self.join(inv, j, ev);
                return true;
            }
            (None, None) => {}
        }
        // 2. arena room
        if self.w.containers.is_full() {
            return false;
        }
        // 3. request
        let request = self.w.request(function, Some(inv));
        // 4. ask the policy
        let Some(host) = self.policies.select_host(&self.w, &request) else {
            return false;
        };
        // 5. validate the decision
        if let Some(reason) = self.w.refusal(host, &request) {
            self.w.metrics.decisions_refused += 1;
            self.w.emit(
                ev,
                EventKind::DecisionRefused {
                    invocation: inv,
                    host,
                    reason,
                },
            );
            return false;
        }
        self.cold_start(inv, host, &request, ev);
        true
    }

    /// R57.
    fn warm_start(&mut self, inv: InvocationId, c: ContainerId, ev: &mut Vec<Event>) {
        // 1. take it out of the idle state (sets are derived; cancel the timer)
        self.w.cancel(Timer::KeepAliveExpired { container: c });
        // 2.
        let due = self.w.now + self.w.warm_cost(self.w.ctr(c).function);
        self.w.schedule(due, Timer::ContainerReady { container: c });
        // 3.
        self.w.ctr_mut(c).state = CState::Starting(inv);
        // R104b: an idle spell ends.
        let now = self.w.now;
        self.w.ctr_mut(c).active_since_us = Some(now);
        // 4. the copy: pins change (derived), LRU facts refreshed
        let (host, image) = (self.w.ctr(c).host, self.w.ctr(c).image);
        let now = self.w.now;
        let copy = self
            .w
            .copy_mut(host, image)
            .expect("copy of a warm container");
        copy.last_used_us = now;
        copy.uses += 1;
        self.set_pins(host, image);
        // 5. MARK_STARTED (R58)
        self.w.inv_mut(inv).state = InvState::Starting {
            container: c,
            host,
            cold: false,
        };
        self.cancel_prewarm(self.w.inv(inv).function);
        // 6. a container idle before its first use was pre-warmed (R157)
        self.w.metrics.warm_starts += 1;
        if self.w.ctr(c).uses == 0 {
            self.w.metrics.prewarm_warm_starts += 1;
        }
        self.w.emit(
            ev,
            EventKind::WarmStart {
                invocation: inv,
                container: c,
                host,
            },
        );
        // 7.
        self.refresh_join(c);
    }

    /// R57b: the facts a join policy is given.
    fn join_facts(&self, c: ContainerId) -> JoinFacts {
        let ctr = self.w.ctr(c);
        JoinFacts {
            container: c,
            function: ctr.function,
            host: ctr.host,
            created_at_us: ctr.created_at_us,
            created_seq: ctr.created_seq,
            ready: matches!(ctr.state, CState::Busy(_)),
            invocations: 1 + ctr.joined.len() as u32,
            concurrency: self.w.function(ctr.function).concurrency,
        }
    }

    /// R57b `REFRESH_JOIN(c)`.
    fn refresh_join(&mut self, c: ContainerId) {
        let ctr = self.w.ctr(c);
        let concurrency = self.w.function(ctr.function).concurrency;
        if concurrency == 1 {
            return;
        }
        let held = matches!(
            ctr.state,
            CState::Preparing(_) | CState::Starting(_) | CState::Busy(_)
        );
        let room = held && !ctr.retiring && 1 + ctr.joined.len() < concurrency as usize;
        let created_seq = ctr.created_seq;
        self.w.ctr_mut(c).join_key = None;
        if room {
            let facts = self.join_facts(c);
            let priority = self.policies.join_priority(&facts);
            self.w.ctr_mut(c).join_key = Some((priority, created_seq));
        }
    }

    /// R57b `JOIN(inv, c)`.
    fn join(&mut self, inv: InvocationId, c: ContainerId, ev: &mut Vec<Event>) {
        // 1.
        self.w.ctr_mut(c).joined.push(inv);
        self.w.metrics.warm_starts += 1;
        let host = self.w.ctr(c).host;
        let now = self.w.now;
        let running = matches!(self.w.ctr(c).state, CState::Busy(_));
        // 2. and 3.: MARK_STARTED (R58)
        self.w.inv_mut(inv).state = if running {
            self.w.metrics.joins_running += 1;
            InvState::Running {
                container: c,
                host,
                cold: false,
                code_start_us: now,
            }
        } else {
            self.w.metrics.joins_starting += 1;
            InvState::Starting {
                container: c,
                host,
                cold: false,
            }
        };
        self.cancel_prewarm(self.w.inv(inv).function);
        self.w.emit(
            ev,
            EventKind::WarmStart {
                invocation: inv,
                container: c,
                host,
            },
        );
        if running {
            self.begin_code(inv, c, ev);
        }
        // 4.
        self.refresh_join(c);
    }

    /// R86 `BEGIN_CODE(inv)`: the end timer, and `ExecutionStarted`.
    fn begin_code(&mut self, inv: InvocationId, c: ContainerId, ev: &mut Vec<Event>) {
        let invocation = self.w.inv(inv);
        let limit = self.w.function(invocation.function).time_limit_us;
        let duration = code_duration(&invocation.code);
        let InvState::Running { host, .. } = invocation.state else {
            panic!("code begins for an invocation not running");
        };
        self.w.start_run(inv, host, duration, limit);
        self.w.emit(
            ev,
            EventKind::ExecutionStarted {
                invocation: inv,
                container: c,
            },
        );
    }

    // --- §11: cold start and making room ---

    /// R60.
    fn cold_start(
        &mut self,
        inv: InvocationId,
        host: HostId,
        request: &PlacementRequest,
        ev: &mut Vec<Event>,
    ) {
        // 1.–7. (PLACE, R156.3)
        let (c, source) = self.place(host, request, CState::Preparing(inv), ev);
        // 6. and 7.: the counters only a cold start has
        self.w.metrics.cold_starts += 1;
        if self.w.inv(inv).attempt > 1 {
            self.w.metrics.retry_cold_starts += 1;
        }
        match source {
            ImageSource::HostDisk => self.w.metrics.host_cache_hits += 1,
            ImageSource::HostCopyInFlight => self.w.metrics.host_cache_joins += 1,
            _ => self.w.metrics.host_cache_misses += 1,
        }
        // 8. MARK_STARTED (R58)
        self.w.inv_mut(inv).state = if source == ImageSource::HostDisk {
            InvState::Starting {
                container: c,
                host,
                cold: true,
            }
        } else {
            InvState::Preparing { container: c, host }
        };
        self.cancel_prewarm(request.function);
        // 9.
        self.w.emit(
            ev,
            EventKind::ColdStart {
                invocation: inv,
                container: c,
                host,
                image: source,
            },
        );
        // 10.
        match source {
            ImageSource::MainStorage => self.w.metrics.main_cache_hits += 1,
            ImageSource::DownloadInFlight => self.w.metrics.main_cache_joins += 1,
            ImageSource::Registry => self.w.metrics.main_cache_misses += 1,
            ImageSource::HostDisk | ImageSource::HostCopyInFlight => {}
        }
        self.fetch_image(c, host, request.image, source, ev);
        // 11.
        self.refresh_join(c);
    }

    /// R60 steps 1–7 (R156.3's `PLACE`): a new container for the request on
    /// the host in state `initial` (`Preparing` or `PrewarmPreparing`),
    /// after making room; of the counters, only `containers_created` is
    /// counted here, a cold start's others by `cold_start`. Returns the
    /// container and its image source.
    fn place(
        &mut self,
        host: HostId,
        request: &PlacementRequest,
        initial: CState,
        ev: &mut Vec<Event>,
    ) -> (ContainerId, ImageSource) {
        let image = request.image;
        let now = self.w.now;
        // 1. pin the target first
        let held = self.w.copy(host, image).map(|c| c.arriving);
        if held.is_some() {
            self.w.start_pin = Some((host, image));
            let copy = self.w.copy_mut(host, image).expect("held copy");
            copy.last_used_us = now;
            copy.uses += 1;
            self.set_pins(host, image);
        }
        // 2.
        let disk_needed = match held {
            Some(_) => request.scratch_bytes,
            None => request.scratch_bytes + request.image_bytes,
        };
        // 3.
        self.make_room(host, request.memory_bytes, disk_needed, ev);
        // 4.
        let created_seq = self.w.draw();
        // 5.
        let key = self.w.containers.insert(Container {
            function: request.function,
            host,
            image,
            memory_bytes: request.memory_bytes,
            scratch_bytes: request.scratch_bytes,
            created_at_us: now,
            created_seq,
            last_used_us: now,
            uses: 0,
            state: initial,
            joined: Vec::new(),
            retiring: false,
            join_key: None,
            started: false,
            started_at_us: None,
            active_us: 0,
            active_since_us: None,
        });
        let c = ContainerId::from_bits(key);
        self.w.start_pin = None;
        // 6.
        self.w.metrics.containers_created += 1;
        // R167: a placement arms the reconcile timer.
        self.w.arm_reconcile();
        // 7. image source
        let source = match held {
            Some(false) => ImageSource::HostDisk,
            Some(true) => {
                self.w
                    .copy_mut(host, image)
                    .expect("arriving copy")
                    .waiting
                    .push(c);
                ImageSource::HostCopyInFlight
            }
            None => {
                self.w.copies[host.index()].push(Copy {
                    image,
                    size_bytes: request.image_bytes,
                    arriving: true,
                    waiting: vec![c],
                    first_stored_us: now,
                    last_used_us: now,
                    uses: 1,
                    key: None,
                    copy_attempt: 1,
                });
                match self.w.image(image).main {
                    Main::Present => ImageSource::MainStorage,
                    Main::Absent => ImageSource::Registry,
                    Main::Downloading | Main::DownloadBackoff | Main::AwaitingRoom => {
                        ImageSource::DownloadInFlight
                    }
                }
            }
        };
        (c, source)
    }

    /// R60 step 10 (without its counters, which only a cold start counts):
    /// the image comes to the host from where it is.
    fn fetch_image(
        &mut self,
        c: ContainerId,
        host: HostId,
        image: ImageId,
        source: ImageSource,
        ev: &mut Vec<Event>,
    ) {
        match source {
            ImageSource::HostDisk => self.begin_overhead(c),
            ImageSource::HostCopyInFlight => {}
            ImageSource::MainStorage => self.start_copy(host, image, ev),
            ImageSource::DownloadInFlight => self.w.image_mut(image).waiting_hosts.push(host),
            ImageSource::Registry => {
                self.w.image_mut(image).waiting_hosts.push(host);
                self.request_download(image, ev);
            }
        }
    }

    /// The host's idle container with the lowest eviction key.
    fn first_idle(&self, host: HostId) -> Option<ContainerId> {
        self.w
            .on_host(host)
            .filter_map(|(id, c)| match c.state {
                CState::Idle { evict_key, .. } => Some((evict_key, id)),
                _ => None,
            })
            .min_by_key(|&(key, _)| key)
            .map(|(_, id)| id)
    }

    /// R62.
    fn make_room(&mut self, host: HostId, memory: u64, disk: u64, ev: &mut Vec<Event>) {
        while !(self.w.ram_free(host) >= memory && self.w.slots_free(host) >= 1) {
            let c = self.first_idle(host).expect("FITS promised RAM and a slot");
            self.evict_idle(c, ev);
        }
        while self.w.disk_free(host) < disk {
            if !self.evict_host_copy(host, ev) {
                let c = self.first_idle(host).expect("FITS promised the disk");
                self.evict_idle(c, ev);
            }
        }
    }

    /// R62: an idle container evicted for room; the policy is told first.
    fn evict_idle(&mut self, c: ContainerId, ev: &mut Vec<Event>) {
        let ctr = self.w.ctr(c);
        let CState::Idle { evict_key, .. } = ctr.state else {
            panic!("evicting a container that is not idle");
        };
        self.policies.evicted(&Eviction::Container {
            container: c,
            function: ctr.function,
            host: ctr.host,
            priority: evict_key.0,
        });
        self.remove_idle(c, RemovalCause::Evicted, ev);
    }

    /// R71: evicts the host's first evictable copy, telling the policy
    /// first; false if there is none.
    fn evict_host_copy(&mut self, host: HostId, ev: &mut Vec<Event>) -> bool {
        let victim = self.w.copies[host.index()]
            .iter()
            .filter_map(|c| c.key.map(|k| (k, c.image)))
            .min_by_key(|&(k, _)| k);
        let Some(((priority, _), image)) = victim else {
            return false;
        };
        self.policies.evicted(&Eviction::Image {
            image,
            tier: Tier::Host(host),
            priority,
        });
        self.w.copies[host.index()].retain(|c| c.image != image);
        self.w.metrics.images_evicted_host += 1;
        self.w.emit(
            ev,
            EventKind::ImageEvicted {
                image,
                tier: Tier::Host(host),
            },
        );
        true
    }

    /// R76: evicts main storage's first evictable image, telling the policy
    /// first; false if there is none.
    fn evict_main_image(&mut self, ev: &mut Vec<Event>) -> bool {
        let victim = self
            .w
            .images
            .iter()
            .filter_map(|(k, i)| i.main_key.map(|key| (key, ImageId::from_bits(k))))
            .min_by_key(|&(key, _)| key);
        let Some(((priority, _), victim)) = victim else {
            return false;
        };
        self.policies.evicted(&Eviction::Image {
            image: victim,
            tier: Tier::MainStorage,
            priority,
        });
        let v = self.w.image_mut(victim);
        v.main = Main::Absent;
        v.main_key = None;
        self.w.metrics.images_evicted_main += 1;
        self.w.emit(
            ev,
            EventKind::ImageEvicted {
                image: victim,
                tier: Tier::MainStorage,
            },
        );
        true
    }

    /// R152: a collection on the disk an image just landed on.
    fn collect(&mut self, tier: Tier, ev: &mut Vec<Event>) {
        let used = |m: &Self| match tier {
            Tier::MainStorage => m.w.main_used(),
            Tier::Host(host) => m.w.disk_used(host),
        };
        let evictable = |m: &Self| match tier {
            Tier::MainStorage => m.w.images.iter().any(|(_, i)| i.main_key.is_some()),
            Tier::Host(host) => m.w.copies[host.index()].iter().any(|c| c.key.is_some()),
        };
        let capacity_bytes = match tier {
            Tier::MainStorage => self.w.config.main_storage.capacity_bytes,
            Tier::Host(host) => self.w.spec(host).disk_bytes,
        };
        let used_bytes = used(self);
        let disk = DiskFacts {
            tier,
            capacity_bytes,
            used_bytes,
        };
        let Some(target_bytes) = self.policies.collection_target_bytes(&disk) else {
            return;
        };
        if used_bytes <= target_bytes || !evictable(self) {
            return;
        }
        self.w.emit(
            ev,
            EventKind::ImageCollection {
                tier,
                used_bytes,
                target_bytes,
            },
        );
        while used(self) > target_bytes {
            let evicted = match tier {
                Tier::MainStorage => self.evict_main_image(ev),
                Tier::Host(host) => self.evict_host_copy(host, ev),
            };
            if !evicted {
                return;
            }
        }
    }

    /// R64.
    fn begin_overhead(&mut self, c: ContainerId) {
        // R104b: its life as an instance starts with its overhead.
        let now = self.w.now;
        let started = self.w.ctr_mut(c);
        started.started_at_us = Some(now);
        started.active_since_us = Some(now);
        let ctr = self.w.ctr(c);
        let host = ctr.host;
        let due = self.w.now + self.w.cold_cost(ctr.function);
        let inv = match ctr.state {
            CState::Preparing(i) | CState::Starting(i) => i,
            CState::PrewarmPreparing { keep_alive_us } => {
                self.w.ctr_mut(c).state = CState::PrewarmStarting { keep_alive_us };
                self.w.schedule(due, Timer::ContainerReady { container: c });
                return;
            }
            other => panic!("begin_overhead on {other:?}"),
        };
        self.w.ctr_mut(c).state = CState::Starting(inv);
        self.w.inv_mut(inv).state = InvState::Starting {
            container: c,
            host,
            cold: true,
        };
        self.w.schedule(due, Timer::ContainerReady { container: c });
    }

    // --- §12: host copies ---

    /// R69: after a change of a copy's pins, move its Evictable membership.
    fn set_pins(&mut self, host: HostId, image: ImageId) {
        let class = self.w.class(host, image);
        let copy = self.w.copy(host, image).expect("copy");
        match (class == Class::Evictable, copy.key.is_some()) {
            (true, false) => {
                let facts = ImageFacts {
                    image,
                    tier: Tier::Host(host),
                    size_bytes: copy.size_bytes,
                    first_stored_us: copy.first_stored_us,
                    last_used_us: copy.last_used_us,
                    uses: copy.uses,
                };
                let priority = self.policies.image_priority(&facts);
                let seq = self.w.draw();
                self.w.copy_mut(host, image).expect("copy").key = Some((priority, seq));
            }
            (false, true) => self.w.copy_mut(host, image).expect("copy").key = None,
            _ => {}
        }
    }

    // --- §13: main storage ---

    /// R75.
    fn request_download(&mut self, image: ImageId, ev: &mut Vec<Event>) {
        let cap = self.w.config.main_storage.capacity_bytes;
        let room = cap - self.w.main_used() + self.w.main_evictable_bytes();
        if self.w.pending.is_empty() && room >= self.w.image(image).size_bytes {
            self.start_download(image, ev);
        } else {
            self.w.image_mut(image).main = Main::AwaitingRoom;
            self.w.pending.push(image);
            self.w.metrics.downloads_waited += 1;
            self.w.emit(ev, EventKind::DownloadWaiting { image });
        }
    }

    /// R76.
    fn start_download(&mut self, image: ImageId, ev: &mut Vec<Event>) {
        let cap = self.w.config.main_storage.capacity_bytes;
        let size = self.w.image(image).size_bytes;
        while cap - self.w.main_used() < size {
            assert!(self.evict_main_image(ev), "room was promised");
        }
        self.w.image_mut(image).main = Main::Downloading;
        self.w.image_mut(image).download_attempt = 1;
        self.w.metrics.bytes_downloaded += u128::from(size);
        self.w.start_transfer(Timer::DownloadDone { image }, size);
        self.w.emit(ev, EventKind::DownloadStarted { image });
    }

    /// R77.
    fn start_pending(&mut self, ev: &mut Vec<Event>) {
        let cap = self.w.config.main_storage.capacity_bytes;
        while let Some(&head) = self.w.pending.first() {
            let room = cap - self.w.main_used() + self.w.main_evictable_bytes();
            if room < self.w.image(head).size_bytes {
                return;
            }
            self.w.pending.remove(0);
            self.start_download(head, ev);
        }
    }

    /// R78.
    fn start_copy(&mut self, host: HostId, image: ImageId, ev: &mut Vec<Event>) {
        let now = self.w.now;
        let img = self.w.image_mut(image);
        img.last_used_us = now;
        img.uses += 1;
        img.main_key = None;
        let size = img.size_bytes;
        self.w.metrics.bytes_copied += u128::from(size);
        self.w.start_transfer(Timer::CopyDone { host, image }, size);
        self.w.emit(ev, EventKind::CopyStarted { image, host });
    }

    /// R79.
    fn refresh_main(&mut self, image: ImageId) {
        let img = self.w.image(image);
        let should = img.main == Main::Present && self.w.copy_pins(image) == 0;
        let is = img.main_key.is_some();
        if should && !is {
            let facts = ImageFacts {
                image,
                tier: Tier::MainStorage,
                size_bytes: img.size_bytes,
                first_stored_us: img.first_stored_us,
                last_used_us: img.last_used_us,
                uses: img.uses,
            };
            let priority = self.policies.image_priority(&facts);
            let seq = self.w.draw();
            self.w.image_mut(image).main_key = Some((priority, seq));
        } else if is && !should {
            self.w.image_mut(image).main_key = None;
        }
    }

    /// R81.
    fn on_download_done(&mut self, image: ImageId, ev: &mut Vec<Event>) {
        self.w.transfer_done(Timer::DownloadDone { image });
        let now = self.w.now;
        let img = self.w.image_mut(image);
        img.main = Main::Present;
        img.first_stored_us = now;
        img.last_used_us = now;
        let hosts = std::mem::take(&mut img.waiting_hosts);
        self.w.emit(ev, EventKind::DownloadFinished { image });
        for host in hosts {
            self.start_copy(host, image, ev);
        }
        self.refresh_main(image);
        self.collect(Tier::MainStorage, ev);
        self.start_pending(ev);
    }

    /// R82.
    fn on_copy_done(&mut self, host: HostId, image: ImageId, ev: &mut Vec<Event>) {
        self.w.transfer_done(Timer::CopyDone { host, image });
        let now = self.w.now;
        self.w.image_mut(image).last_used_us = now;
        self.w.emit(ev, EventKind::CopyFinished { image, host });
        let copy = self.w.copy_mut(host, image).expect("arriving copy");
        copy.arriving = false;
        copy.first_stored_us = now;
        copy.last_used_us = now;
        let waiting = std::mem::take(&mut copy.waiting);
        self.set_pins(host, image);
        for c in waiting {
            self.begin_overhead(c);
        }
        self.collect(Tier::Host(host), ev);
        self.refresh_main(image);
        self.collect(Tier::MainStorage, ev);
        self.start_pending(ev);
    }

    // --- §15: execution ---

    /// R86.
    fn on_ready(&mut self, c: ContainerId, ev: &mut Vec<Event>) {
        self.w.ctr_mut(c).started = true;
        let inv = match self.w.ctr(c).state {
            CState::Starting(inv) => inv,
            CState::PrewarmStarting { keep_alive_us } => {
                self.prewarm_ready(c, keep_alive_us, ev);
                return;
            }
            other => panic!("ready container not starting: {other:?}"),
        };
        self.w.ctr_mut(c).state = CState::Busy(inv);
        let now = self.w.now;
        let mut held = vec![inv];
        held.extend(self.w.ctr(c).joined.iter().copied());
        for inv in held {
            let InvState::Starting {
                container,
                host,
                cold,
            } = self.w.inv(inv).state
            else {
                panic!("ready invocation not starting");
            };
            self.w.inv_mut(inv).state = InvState::Running {
                container,
                host,
                cold,
                code_start_us: now,
            };
            self.begin_code(inv, c, ev);
        }
        self.refresh_join(c);
    }

    /// R89.
    fn on_end(&mut self, inv: InvocationId, ev: &mut Vec<Event>) {
        let now = self.w.now;
        let invocation = self.w.inv(inv).clone();
        let f = self.w.function(invocation.function).clone();
        let InvState::Running {
            container,
            host,
            cold,
            code_start_us,
        } = invocation.state
        else {
            panic!("ending invocation not running");
        };
        // R85i, then 1.
        let timed_out =
            self.w
                .run_ended(inv, host, code_duration(&invocation.code), f.time_limit_us);
        let success = !timed_out && matches!(invocation.code.outcome, Outcome::Success { .. });
        // 2.
        let duration_us = if cold {
            self.w.cold_cost(invocation.function)
        } else {
            0
        } + (now - code_start_us);
        let usage = Usage::new(
            invocation.function,
            f.time_limit_us,
            f.memory_bytes,
            duration_us,
        )
        .with_scratch_bytes(f.scratch_bytes)
        .with_ingress_bytes(invocation.ingress_bytes)
        .with_egress_bytes(if success { invocation.egress_bytes } else { 0 })
        .with_cold(cold);
        let cost = self.policies.bill(&usage);
        // 3.
        let (outcome, kind) = if timed_out {
            self.w.metrics.timed_out += 1;
            (
                EndOutcome::TimedOut {
                    cost_picodollars: cost,
                },
                EventKind::TimedOut {
                    invocation: inv,
                    cost_picodollars: cost,
                },
            )
        } else {
            match invocation.code.outcome {
                Outcome::Success { output } => {
                    self.w.metrics.completed += 1;
                    (
                        EndOutcome::Completed {
                            output,
                            cost_picodollars: cost,
                        },
                        EventKind::Completed {
                            invocation: inv,
                            output,
                            cost_picodollars: cost,
                        },
                    )
                }
                Outcome::Failure { phase } => {
                    self.w.metrics.failed_by_phase[match phase {
                        Phase::Clone => 0,
                        Phase::Build => 1,
                        Phase::Run => 2,
                    }] += 1;
                    (
                        EndOutcome::Failed {
                            phase,
                            cost_picodollars: cost,
                        },
                        EventKind::Failed {
                            invocation: inv,
                            phase,
                            cost_picodollars: cost,
                        },
                    )
                }
            }
        };
        // 4.
        self.w.metrics.cost_picodollars += u128::from(cost);
        // 5.
        self.w.inv_mut(inv).state = InvState::Ended(Ending {
            at_us: now,
            outcome,
        });
        self.w.demand_ended(inv);
        // 6.
        self.w.emit(ev, kind);
        // 7. LEAVE (R89a)
        let ctr = self.w.ctr_mut(container);
        if ctr.joined.is_empty() {
            ctr.join_key = None;
            if success && !ctr.retiring {
                self.make_idle(container, ev);
            } else {
                self.discard(container, ev);
            }
        } else {
            match ctr.state {
                CState::Busy(named) if named == inv => {
                    let next = ctr.joined.remove(0);
                    ctr.state = CState::Busy(next);
                }
                CState::Busy(_) => ctr.joined.retain(|&i| i != inv),
                other => panic!("an invocation ended in a {other:?} container"),
            }
            if success {
                ctr.last_used_us = now;
                ctr.uses += 1;
            } else {
                ctr.retiring = true;
            }
            self.refresh_join(container);
        }
        // 8.
        self.record_ended(inv, ev);
        // 9.
        self.drain(ev);
    }

    // --- §16: idle, discard, removal ---

    /// The facts a policy is told about a container going idle (R91.2).
    fn facts(&self, c: ContainerId) -> ContainerFacts {
        let ctr = self.w.ctr(c);
        ContainerFacts {
            container: c,
            function: ctr.function,
            host: ctr.host,
            memory_bytes: ctr.memory_bytes,
            created_at_us: ctr.created_at_us,
            created_seq: ctr.created_seq,
            last_used_us: ctr.last_used_us,
            uses: ctr.uses,
        }
    }

    /// R91.
    fn make_idle(&mut self, c: ContainerId, ev: &mut Vec<Event>) {
        // 1.
        let now = self.w.now;
        let ctr = self.w.ctr_mut(c);
        ctr.last_used_us = now;
        ctr.uses += 1;
        // 2.
        let facts = self.facts(c);
        // 3.
        let plan = self.policies.idle_plan(&facts);
        let keep_alive = plan.keep_alive_us.min(DURATION_MAX_US);
        if let Some(d) = plan.prewarm_after_us {
            self.unload(c, d, keep_alive, ev);
            return;
        }
        // 4.–8.
        self.enter_idle(&facts, keep_alive, ev);
        // 9.
        self.cancel_prewarm(facts.function);
    }

    /// R91 steps 3 (the priorities) to 8: the container becomes idle for
    /// `keep_alive`.
    fn enter_idle(&mut self, facts: &ContainerFacts, keep_alive: u64, ev: &mut Vec<Event>) {
        let c = facts.container;
        let now = self.w.now;
        let warm_priority = self.policies.warm_priority(facts);
        let evict_priority = self.policies.idle_eviction_priority(facts);
        let expires_at_us = now + keep_alive;
        let expiry = self
            .w
            .schedule(expires_at_us, Timer::KeepAliveExpired { container: c });
        let warm_key = (warm_priority, self.w.draw());
        let evict_key = (evict_priority, self.w.draw());
        let ctr = self.w.ctr_mut(c);
        ctr.state = CState::Idle {
            expiry,
            warm_key,
            evict_key,
        };
        // R104b: an active spell ends.
        let since = ctr.active_since_us.take().expect("idle before it started");
        ctr.active_us += now - since;
        let (host, image) = (self.w.ctr(c).host, self.w.ctr(c).image);
        self.set_pins(host, image);
        self.w.emit(
            ev,
            EventKind::ContainerIdle {
                container: c,
                expires_at_us,
            },
        );
    }

    /// R94.
    fn discard(&mut self, c: ContainerId, ev: &mut Vec<Event>) {
        let ctr = self.w.containers.remove(c.to_bits());
        self.set_pins(ctr.host, ctr.image);
        self.w.metrics.containers_discarded += 1;
        self.w.emit(
            ev,
            EventKind::ContainerRemoved {
                container: c,
                host: ctr.host,
                cause: RemovalCause::Discarded,
            },
        );
        self.bill_container(c, &ctr, ev);
    }

    /// R95.
    fn remove_idle(&mut self, c: ContainerId, cause: RemovalCause, ev: &mut Vec<Event>) {
        let ctr = self.w.containers.remove(c.to_bits());
        assert!(ctr.is_idle());
        self.w.cancel(Timer::KeepAliveExpired { container: c });
        self.set_pins(ctr.host, ctr.image);
        match cause {
            RemovalCause::Expired => self.w.metrics.containers_expired += 1,
            RemovalCause::Evicted => self.w.metrics.containers_evicted += 1,
            RemovalCause::HostLost => self.w.metrics.containers_lost += 1,
            // Counted by SCALE_TO (R169.3).
            RemovalCause::ScaledDown => {}
            other => unreachable!("an idle container removed as {other:?}"),
        }
        self.w.emit(
            ev,
            EventKind::ContainerRemoved {
                container: c,
                host: ctr.host,
                cause,
            },
        );
        self.bill_container(c, &ctr, ev);
    }

    /// R104b: a container just removed is billed for its time, if the
    /// policy bills containers: `ContainerBilled` right after its
    /// `ContainerRemoved`.
    fn bill_container(&mut self, c: ContainerId, ctr: &Container, ev: &mut Vec<Event>) {
        let now = self.w.now;
        let instance_us = ctr.started_at_us.map_or(0, |at| now - at);
        let active_us = ctr.active_us + ctr.active_since_us.map_or(0, |since| now - since);
        let usage = ContainerUsage::new(c, ctr.function, ctr.memory_bytes, instance_us, active_us);
        if let Some(cost) = self.policies.bill_container(&usage) {
            self.w.metrics.cost_picodollars += u128::from(cost);
            self.w.emit(
                ev,
                EventKind::ContainerBilled {
                    container: c,
                    function: ctr.function,
                    cost_picodollars: cost,
                },
            );
        }
    }

    // --- §17: retention ---

    /// R99.
    fn record_ended(&mut self, inv: InvocationId, ev: &mut Vec<Event>) {
        let Some(max) = self.w.config.terminal_records_max else {
            return;
        };
        self.w.ended_order.push(inv);
        let mut excess = self.w.ended_records().saturating_sub(max);
        while excess > 0 {
            let front = self.w.ended_order.remove(0);
            if self.w.invocations.get(front.to_bits()).is_some() {
                self.reap(front, ev);
                excess -= 1;
            }
        }
    }

    /// R100.
    fn reap(&mut self, inv: InvocationId, ev: &mut Vec<Event>) {
        self.w.invocations.remove(inv.to_bits());
        self.w.metrics.reaped += 1;
        self.w.emit(ev, EventKind::Reaped { invocation: inv });
    }

    /// Recomputes a few of §24's invariants from the entities.
    fn check_model(&self) -> Result<(), String> {
        let w = &self.w;
        if let Some(due) = w.timers.iter().map(|t| t.0).min() {
            if due <= w.now {
                return Err(format!("timer due at {due} not after now {}", w.now));
            }
        }
        // R85f–R85g: with processor sharing the runs are exactly the
        // running invocations, each on its host with a pending end timer
        // no later than its deadline; with dedicated CPU there are none.
        let running: Vec<(InvocationId, HostId)> = w
            .invocations
            .iter()
            .filter_map(|(key, i)| match i.state {
                InvState::Running { host, .. } => Some((InvocationId::from_bits(key), host)),
                _ => None,
            })
            .collect();
        if w.shared_cpu() {
            if running.len() != w.runs.len() {
                return Err(format!(
                    "{} runs for {} running",
                    w.runs.len(),
                    running.len()
                ));
            }
            for &(inv, host, _, deadline) in &w.runs {
                if !running.contains(&(inv, host)) {
                    return Err(format!("{inv}: a run on {host} but not running there"));
                }
                let timer = Timer::InvocationEnd { invocation: inv };
                if !w.timers.iter().any(|t| t.2 == timer && t.0 <= deadline) {
                    return Err(format!("{inv}: no end timer by its deadline"));
                }
            }
        } else if !w.runs.is_empty() {
            return Err("runs kept with dedicated CPU".into());
        }
        for (h, spec) in w.config.hosts.iter().enumerate() {
            let host = HostId(h as u32);
            if w.ram_used(host) > spec.ram_bytes {
                return Err(format!("{host}: RAM over"));
            }
            if w.slots_used(host) > u64::from(spec.slots) {
                return Err(format!("{host}: slots over"));
            }
            if w.disk_used(host) > spec.disk_bytes {
                return Err(format!("{host}: disk over"));
            }
            for copy in &w.copies[h] {
                let evictable = w.class(host, copy.image) == Class::Evictable;
                if evictable != copy.key.is_some() {
                    return Err(format!("{host}: key of {} disagrees", copy.image));
                }
            }
        }
        for (id, c) in w.containers() {
            if w.copy(c.host, c.image).is_none() {
                return Err("container without its image copy".into());
            }
            // R130: a container never holds more than its function's
            // concurrency, and every invocation it holds names it.
            let concurrency = w.function(c.function).concurrency as usize;
            if 1 + c.joined.len() > concurrency {
                return Err(format!("{id}: holds more than concurrency {concurrency}"));
            }
            for &j in &c.joined {
                let named = match w.inv(j).state {
                    InvState::Starting { container, .. } | InvState::Running { container, .. } => {
                        container == id
                    }
                    _ => false,
                };
                if !named {
                    return Err(format!("{id}: joined {j} does not name it"));
                }
            }
            match c.state {
                CState::Idle { expiry, .. } => {
                    let timer = Timer::KeepAliveExpired { container: id };
                    if !w.timers.contains(&(expiry.0, expiry.1, timer)) {
                        return Err(format!("{id}: no keep-alive timer at its key"));
                    }
                }
                CState::Busy(inv) => {
                    if !matches!(w.inv(inv).state, InvState::Running { container, .. } if container == id)
                    {
                        return Err(format!("{id}: busy but {inv} is not running on it"));
                    }
                }
                CState::Preparing(_) | CState::Starting(_) => {}
                // R129, R130: a pre-warm has no invocation and no use yet;
                // preparing, it waits for its arriving copy with no ready
                // timer; starting, its copy is present and it has one.
                CState::PrewarmPreparing { .. } | CState::PrewarmStarting { .. } => {
                    let preparing = matches!(c.state, CState::PrewarmPreparing { .. });
                    if c.uses != 0 {
                        return Err(format!("{id}: pre-warming but used {} times", c.uses));
                    }
                    let copy = w.copy(c.host, c.image).expect("checked above");
                    if preparing != (copy.arriving && copy.waiting.contains(&id)) {
                        return Err(format!("{id}: pre-warming, its copy disagrees"));
                    }
                    let ready = Timer::ContainerReady { container: id };
                    let timers = w.timers.iter().filter(|t| t.2 == ready).count();
                    if timers != usize::from(!preparing) {
                        return Err(format!("{id}: pre-warming with {timers} ready timers"));
                    }
                }
            }
        }
        // R129: one Prewarm timer per pending pre-warm, at its key, and no
        // other.
        for (k, f) in w.functions.iter() {
            let function = FunctionId::from_bits(k);
            let prewarm = Timer::Prewarm { function };
            let timers: Vec<Key> = w
                .timers
                .iter()
                .filter(|t| t.2 == prewarm)
                .map(|t| (t.0, t.1))
                .collect();
            let expected: Vec<Key> = f.prewarm.iter().map(|p| p.timer).collect();
            if timers != expected {
                return Err(format!(
                    "{function}: Prewarm timers {timers:?}, pending pre-warm {expected:?}"
                ));
            }
        }
        for t in &w.timers {
            if let Timer::Prewarm { function } = t.2 {
                if w.functions.get(function.to_bits()).is_none() {
                    return Err(format!("a Prewarm timer names unknown {function}"));
                }
            }
        }
        if w.main_used() > w.config.main_storage.capacity_bytes {
            return Err("main storage over".into());
        }
        let m = self.metrics_now();
        if m.accepted != m.queued_now + m.in_flight_now + m.retrying_now + m.ended() {
            return Err("an invocation was lost".into());
        }
        for (h, up) in w.up.iter().enumerate() {
            let host = HostId(h as u32);
            if !up && (w.slots_used(host) > 0 || w.copies[h].iter().any(|c| c.arriving)) {
                return Err(format!(
                    "{host} is down but holds containers or arriving copies"
                ));
            }
        }
        Ok(())
    }

    fn metrics_now(&self) -> Metrics {
        let mut m = self.w.metrics.clone();
        let (queued, in_flight, containers, busy, idle) = self.w.gauges();
        m.queued_now = queued;
        m.in_flight_now = in_flight;
        m.containers_now = containers;
        m.busy_containers_now = busy;
        m.idle_containers_now = idle;
        m.retrying_now = self.w.retrying();
        m
    }
}

/// §27: faults, written naively from the spec.
impl<P: Policies> Model<P> {
    /// Removes a non-idle container (R94 with a cause): its pins change.
    fn remove_busy(&mut self, c: ContainerId, cause: RemovalCause, ev: &mut Vec<Event>) {
        let ctr = self.w.containers.remove(c.to_bits());
        assert!(!ctr.is_idle());
        self.set_pins(ctr.host, ctr.image);
        match cause {
            RemovalCause::Discarded => self.w.metrics.containers_discarded += 1,
            RemovalCause::HostLost => self.w.metrics.containers_lost += 1,
            RemovalCause::Unloaded => self.w.metrics.containers_unloaded += 1,
            other => unreachable!("a busy container removed as {other:?}"),
        }
        self.w.emit(
            ev,
            EventKind::ContainerRemoved {
                container: c,
                host: ctr.host,
                cause,
            },
        );
        self.bill_container(c, &ctr, ev);
    }

    /// R141.
    fn host_down(&mut self, host: HostId, ev: &mut Vec<Event>) {
        // 1.
        self.w.up[host.index()] = false;
        self.w.metrics.hosts_down += 1;
        self.w.emit(ev, EventKind::HostDown { host });
        // 2. its containers, by arena index
        let victims: Vec<ContainerId> = self.w.on_host(host).map(|(id, _)| id).collect();
        for c in victims {
            match self.w.ctr(c).state {
                CState::Idle { .. } => self.remove_idle(c, RemovalCause::HostLost, ev),
                CState::Preparing(inv) | CState::Starting(inv) | CState::Busy(inv) => {
                    let mut held = vec![inv];
                    held.extend(self.w.ctr(c).joined.iter().copied());
                    match self.w.ctr(c).state {
                        CState::Starting(_) => {
                            self.w.cancel(Timer::ContainerReady { container: c })
                        }
                        CState::Busy(_) => {
                            // R85j
                            for &i in &held {
                                self.w.run_lost(i);
                            }
                        }
                        _ => {}
                    }
                    self.remove_busy(c, RemovalCause::HostLost, ev);
                    for i in held {
                        self.interrupt(i, ev);
                    }
                }
                // no invocation to interrupt; the function's pending
                // pre-warm, if any, stays
                CState::PrewarmPreparing { .. } => {
                    self.remove_busy(c, RemovalCause::HostLost, ev);
                }
                CState::PrewarmStarting { .. } => {
                    self.w.cancel(Timer::ContainerReady { container: c });
                    self.remove_busy(c, RemovalCause::HostLost, ev);
                }
            }
        }
        // 3. its arriving copies, by image
        let mut arriving: Vec<ImageId> = self.w.copies[host.index()]
            .iter()
            .filter(|c| c.arriving)
            .map(|c| c.image)
            .collect();
        arriving.sort_by_key(|i| i.to_bits());
        for image in arriving {
            let done = Timer::CopyDone { host, image };
            let retry = Timer::CopyRetry { host, image };
            if self.w.has_timer(done) || self.w.has_timer(retry) {
                if self.w.has_timer(done) {
                    self.w.end_transfer(done);
                }
                self.w.cancel(retry);
                self.refresh_main(image);
            } else {
                let img = self.w.image_mut(image);
                img.waiting_hosts.retain(|&h| h != host);
                if img.main == Main::AwaitingRoom && img.waiting_hosts.is_empty() {
                    img.main = Main::Absent;
                    self.w.pending.retain(|&i| i != image);
                }
            }
            self.w.copies[host.index()].retain(|c| c.image != image);
        }
        // 4.
        self.start_pending(ev);
    }

    /// R142.
    fn host_up(&mut self, host: HostId, disk_kept: bool, ev: &mut Vec<Event>) {
        self.w.up[host.index()] = true;
        self.w.metrics.hosts_up += 1;
        self.w.emit(ev, EventKind::HostUp { host, disk_kept });
        if !disk_kept {
            let mut images: Vec<ImageId> = self.w.copies[host.index()]
                .iter()
                .map(|c| c.image)
                .collect();
            images.sort_by_key(|i| i.to_bits());
            self.w.copies[host.index()].clear();
            for image in images {
                self.w.metrics.images_lost += 1;
                self.w.emit(
                    ev,
                    EventKind::ImageLost {
                        image,
                        tier: Tier::Host(host),
                    },
                );
            }
        }
        self.drain(ev);
    }

    /// The wait before the next attempt after attempt `attempt` failed.
    fn backoff(&self, attempt: u32) -> u64 {
        let mut wait = self.w.config.retry.backoff_us;
        for _ in 1..attempt {
            wait = wait.saturating_mul(2);
        }
        wait.min(DURATION_MAX_US)
    }

    /// R143.
    fn download_fails(&mut self, image: ImageId, ev: &mut Vec<Event>) {
        self.w.end_transfer(Timer::DownloadDone { image });
        self.w.metrics.downloads_failed += 1;
        let attempt = self.w.image(image).download_attempt;
        if attempt < self.w.config.retry.attempts_max {
            let due = self.w.now + self.backoff(attempt);
            let img = self.w.image_mut(image);
            img.download_attempt += 1;
            img.main = Main::DownloadBackoff;
            self.w.schedule(due, Timer::DownloadRetry { image });
            self.w.emit(
                ev,
                EventKind::DownloadFailed {
                    image,
                    attempt,
                    retrying: true,
                },
            );
        } else {
            self.w.emit(
                ev,
                EventKind::DownloadFailed {
                    image,
                    attempt,
                    retrying: false,
                },
            );
            self.abandon_download(image, ev);
            self.start_pending(ev);
            self.drain(ev);
        }
    }

    /// R143: the next attempt of a download.
    fn on_download_retry(&mut self, image: ImageId, ev: &mut Vec<Event>) {
        let size = self.w.image(image).size_bytes;
        self.w.image_mut(image).main = Main::Downloading;
        self.w.metrics.bytes_downloaded += u128::from(size);
        self.w.start_transfer(Timer::DownloadDone { image }, size);
        self.w.emit(ev, EventKind::DownloadStarted { image });
    }

    /// R144.
    fn copy_fails(&mut self, host: HostId, image: ImageId, ev: &mut Vec<Event>) {
        self.w.end_transfer(Timer::CopyDone { host, image });
        self.w.metrics.copies_failed += 1;
        let attempt = self.w.copy(host, image).expect("copy").copy_attempt;
        if attempt < self.w.config.retry.attempts_max {
            let due = self.w.now + self.backoff(attempt);
            self.w.copy_mut(host, image).expect("copy").copy_attempt += 1;
            self.w.schedule(due, Timer::CopyRetry { host, image });
            self.w.emit(
                ev,
                EventKind::CopyFailed {
                    image,
                    host,
                    attempt,
                    retrying: true,
                },
            );
        } else {
            self.w.emit(
                ev,
                EventKind::CopyFailed {
                    image,
                    host,
                    attempt,
                    retrying: false,
                },
            );
            self.abandon_copy(host, image, ev);
            self.refresh_main(image);
            self.start_pending(ev);
            self.drain(ev);
        }
    }

    /// R144: the next attempt of a copy.
    fn on_copy_retry(&mut self, host: HostId, image: ImageId, ev: &mut Vec<Event>) {
        let size = self.w.image(image).size_bytes;
        self.w.metrics.bytes_copied += u128::from(size);
        self.w.start_transfer(Timer::CopyDone { host, image }, size);
        self.w.emit(ev, EventKind::CopyStarted { image, host });
    }

    /// R145.
    fn main_storage_lost(&mut self, ev: &mut Vec<Event>) {
        self.w.metrics.main_storage_losses += 1;
        self.w.emit(ev, EventKind::MainStorageLost);
        // 1. copies, in timer order
        let mut copies: Vec<(u64, u64, Timer)> = self
            .w
            .timers
            .iter()
            .copied()
            .filter(|t| matches!(t.2, Timer::CopyDone { .. } | Timer::CopyRetry { .. }))
            .collect();
        copies.sort_by_key(|t| (t.0, t.1));
        for (_, _, timer) in copies {
            let (Timer::CopyDone { host, image } | Timer::CopyRetry { host, image }) = timer else {
                unreachable!()
            };
            if let Timer::CopyDone { .. } = timer {
                self.w.end_transfer(timer);
            } else {
                self.w.cancel(timer);
            }
            self.w.metrics.copies_failed += 1;
            let attempt = self.w.copy(host, image).expect("copy").copy_attempt;
            self.w.emit(
                ev,
                EventKind::CopyFailed {
                    image,
                    host,
                    attempt,
                    retrying: false,
                },
            );
            self.abandon_copy(host, image, ev);
        }
        // 2. downloads, by image
        let downloads: Vec<ImageId> = self
            .w
            .images
            .iter()
            .filter(|(_, i)| matches!(i.main, Main::Downloading | Main::DownloadBackoff))
            .map(|(k, _)| ImageId::from_bits(k))
            .collect();
        for image in downloads {
            if self.w.has_timer(Timer::DownloadDone { image }) {
                self.w.end_transfer(Timer::DownloadDone { image });
            }
            self.w.cancel(Timer::DownloadRetry { image });
            self.w.metrics.downloads_failed += 1;
            let attempt = self.w.image(image).download_attempt;
            self.w.emit(
                ev,
                EventKind::DownloadFailed {
                    image,
                    attempt,
                    retrying: false,
                },
            );
            self.abandon_download(image, ev);
        }
        // 3. the images it held, by image
        let present: Vec<ImageId> = self
            .w
            .images
            .iter()
            .filter(|(_, i)| i.main == Main::Present)
            .map(|(k, _)| ImageId::from_bits(k))
            .collect();
        for image in present {
            let img = self.w.image_mut(image);
            img.main = Main::Absent;
            img.main_key = None;
            self.w.metrics.images_lost += 1;
            self.w.emit(
                ev,
                EventKind::ImageLost {
                    image,
                    tier: Tier::MainStorage,
                },
            );
        }
        self.start_pending(ev);
        self.drain(ev);
    }

    /// R146.
    fn on_retry_due(&mut self, inv: InvocationId, ev: &mut Vec<Event>) {
        let now = self.w.now;
        assert!(matches!(self.w.inv(inv).state, InvState::Retrying { .. }));
        self.w.inv_mut(inv).state = InvState::Queued { since_us: now };
        self.admit(inv, ev);
    }

    /// R147.
    fn interrupt(&mut self, inv: InvocationId, ev: &mut Vec<Event>) {
        let attempt = self.w.inv(inv).attempt;
        if attempt >= self.w.config.retry.attempts_max {
            self.platform_fail(inv, PlatformError::HostLost, ev);
            return;
        }
        let retry_at_us = self.w.now + self.backoff(attempt);
        let invocation = self.w.inv_mut(inv);
        invocation.attempt += 1;
        invocation.state = InvState::Retrying { retry_at_us };
        self.w.metrics.retries += 1;
        self.w
            .schedule(retry_at_us, Timer::RetryDue { invocation: inv });
        self.w.emit(
            ev,
            EventKind::Retrying {
                invocation: inv,
                attempt: attempt + 1,
                at_us: retry_at_us,
            },
        );
    }

    /// R148.
    fn platform_fail(&mut self, inv: InvocationId, reason: PlatformError, ev: &mut Vec<Event>) {
        match reason {
            PlatformError::HostLost => self.w.metrics.platform_failed_host_lost += 1,
            PlatformError::TransferFailed => self.w.metrics.platform_failed_transfer += 1,
            // The enum is non-exhaustive; the model fails for these two alone.
            other => unreachable!("a platform failure for {other:?}"),
        }
        let now = self.w.now;
        self.w.inv_mut(inv).state = InvState::Ended(Ending {
            at_us: now,
            outcome: EndOutcome::PlatformFailed { reason },
        });
        self.w.demand_ended(inv);
        self.w.emit(
            ev,
            EventKind::PlatformFailed {
                invocation: inv,
                reason,
            },
        );
        self.record_ended(inv, ev);
    }

    /// R149: a download given up.
    fn abandon_download(&mut self, image: ImageId, ev: &mut Vec<Event>) {
        let img = self.w.image_mut(image);
        img.main = Main::Absent;
        let hosts = std::mem::take(&mut img.waiting_hosts);
        for host in hosts {
            self.abandon_copy(host, image, ev);
        }
    }

    /// R149: an arriving copy given up.
    fn abandon_copy(&mut self, host: HostId, image: ImageId, ev: &mut Vec<Event>) {
        let waiting = std::mem::take(&mut self.w.copy_mut(host, image).expect("copy").waiting);
        for c in waiting {
            match self.w.ctr(c).state {
                CState::Preparing(inv) => {
                    let mut held = vec![inv];
                    held.extend(self.w.ctr(c).joined.iter().copied());
                    self.remove_busy(c, RemovalCause::Discarded, ev);
                    for i in held {
                        self.platform_fail(i, PlatformError::TransferFailed, ev);
                    }
                }
                // a pre-warm has no invocation to fail
                CState::PrewarmPreparing { .. } => {
                    self.remove_busy(c, RemovalCause::Discarded, ev);
                }
                other => panic!("a waiting container is not preparing: {other:?}"),
            }
        }
        self.w.copies[host.index()].retain(|c| c.image != image);
    }
}

/// §29: pre-warming.
impl<P: Policies> Model<P> {
    /// R155: the container of a completed invocation is unloaded and a
    /// pre-warm of its function is planned `d` from now.
    fn unload(&mut self, c: ContainerId, d: u64, keep_alive: u64, ev: &mut Vec<Event>) {
        let function = self.w.ctr(c).function;
        // 1.
        self.remove_busy(c, RemovalCause::Unloaded, ev);
        // 2.
        self.plan_prewarm(function, d.min(DURATION_MAX_US), keep_alive, ev);
    }

    /// R155: `PLAN_PREWARM`; the newest plan replaces a pending one.
    fn plan_prewarm(&mut self, function: FunctionId, d: u64, keep_alive: u64, ev: &mut Vec<Event>) {
        self.cancel_prewarm(function);
        let at_us = self.w.now + d;
        let timer = self.w.schedule(at_us, Timer::Prewarm { function });
        self.w.function_mut(function).prewarm = Some(PendingPrewarm {
            timer,
            keep_alive_us: keep_alive,
        });
        self.w.metrics.prewarms_planned += 1;
        self.w
            .emit(ev, EventKind::PrewarmPlanned { function, at_us });
    }

    /// R155: `CANCEL_PREWARM`: no event, no seq.
    fn cancel_prewarm(&mut self, function: FunctionId) {
        if self.w.function_mut(function).prewarm.take().is_some() {
            self.w.cancel(Timer::Prewarm { function });
        }
    }

    /// R156: a planned pre-warm is due.
    fn on_prewarm(&mut self, function: FunctionId, ev: &mut Vec<Event>) {
        let pending = self
            .w
            .function_mut(function)
            .prewarm
            .take()
            .expect("a Prewarm timer without its pending pre-warm");
        // 1.
        let warm = self
            .w
            .containers()
            .any(|(_, c)| c.function == function && c.is_idle());
        if warm {
            return self.skip_prewarm(function, PrewarmSkip::AlreadyWarm, ev);
        }
        if !self.w.queue.is_empty() {
            return self.skip_prewarm(function, PrewarmSkip::QueueWaiting, ev);
        }
        if self.w.containers.is_full() {
            return self.skip_prewarm(function, PrewarmSkip::NoHost, ev);
        }
        self.place_prewarm(function, pending.keep_alive_us, ev);
    }

    /// R156 steps 2–5; whether a container was placed.
    fn place_prewarm(
        &mut self,
        function: FunctionId,
        keep_alive_us: u64,
        ev: &mut Vec<Event>,
    ) -> bool {
        // 2.
        let request = self.w.request(function, None);
        let Some(host) = self.policies.select_host(&self.w, &request) else {
            self.skip_prewarm(function, PrewarmSkip::NoHost, ev);
            return false;
        };
        if let Some(reason) = self.w.refusal(host, &request) {
            self.w.metrics.decisions_refused += 1;
            self.skip_prewarm(function, PrewarmSkip::Refused { host, reason }, ev);
            return false;
        }
        // 3.
        let initial = CState::PrewarmPreparing { keep_alive_us };
        let (c, source) = self.place(host, &request, initial, ev);
        // 4.
        self.w.metrics.prewarms += 1;
        self.w.emit(
            ev,
            EventKind::Prewarmed {
                function,
                container: c,
                host,
                image: source,
            },
        );
        // 5.
        self.fetch_image(c, host, request.image, source, ev);
        true
    }

    /// R168: a reconcile tick.
    fn on_reconcile(&mut self, ev: &mut Vec<Event>) {
        let now = self.w.now;
        let tick = self
            .w
            .config
            .autoscale_tick_us
            .expect("a reconcile tick without a period");
        let since = self.w.last_tick_us;
        self.w.last_tick_us = now;
        let functions: Vec<FunctionId> = self
            .w
            .functions
            .iter()
            .map(|(key, _)| FunctionId::from_bits(key))
            .collect();
        let mut opinions = false;
        for function in functions {
            // R166, from the spans: each one's overlap with the interval.
            let mut demand_us = 0u128;
            let mut unended = 0u64;
            for record in self.w.demand.iter().filter(|r| r.function == function) {
                let end = record.ended_us.unwrap_or(now);
                let start = record.accepted_us.max(since);
                demand_us += u128::from(end.saturating_sub(start));
                unended += u64::from(record.ended_us.is_none());
            }
            let mine: Vec<&Container> = self
                .w
                .containers()
                .filter(|(_, c)| c.function == function)
                .map(|(_, c)| c)
                .collect();
            let facts = ScaleFacts {
                function,
                now_us: now,
                tick_us: tick,
                interval_us: now - since,
                demand_us,
                demand: unended,
                concurrency: self.w.function(function).concurrency,
                containers: mine.len() as u32,
                ready_containers: mine.iter().filter(|c| c.started).count() as u32,
                idle_containers: mine.iter().filter(|c| c.is_idle()).count() as u32,
            };
            if let Some(decision) = self.policies.desired_containers(&facts) {
                opinions = true;
                self.scale_to(function, decision, ev);
            }
        }
        // Spans that ended by now overlap no later interval.
        self.w
            .demand
            .retain(|r| r.ended_us.is_none_or(|ended| ended > now));
        // 3.
        if opinions && !self.w.timers.is_empty() {
            self.w.arm_reconcile();
        }
    }

    /// R169: acts on a desired count.
    fn scale_to(&mut self, function: FunctionId, decision: ScaleDecision, ev: &mut Vec<Event>) {
        let count = |w: &World| {
            w.containers()
                .filter(|(_, c)| c.function == function)
                .count() as u32
        };
        let containers = count(&self.w);
        // Never below the function's minimum scale (R169.1).
        let desired = decision.containers.max(self.w.function(function).min_scale);
        if desired == containers {
            return;
        }
        self.w.metrics.autoscale_decisions += 1;
        self.w.emit(
            ev,
            EventKind::Scaled {
                function,
                containers,
                desired,
            },
        );
        if desired > containers {
            let keep_alive_us = decision.keep_alive_us.min(DURATION_MAX_US);
            for _ in containers..desired {
                if !self.w.queue.is_empty() {
                    self.skip_prewarm(function, PrewarmSkip::QueueWaiting, ev);
                    break;
                }
                if self.w.containers.is_full() {
                    self.skip_prewarm(function, PrewarmSkip::NoHost, ev);
                    break;
                }
                if !self.place_prewarm(function, keep_alive_us, ev) {
                    break;
                }
                self.w.metrics.autoscale_prewarms += 1;
            }
        } else {
            let mut removed = false;
            for _ in desired..containers {
                // The idle container with the highest warm key.
                let last = self
                    .w
                    .containers()
                    .filter(|(_, c)| c.function == function)
                    .filter_map(|(id, c)| match c.state {
                        CState::Idle { warm_key, .. } => Some((warm_key, id)),
                        _ => None,
                    })
                    .max();
                let Some((_, c)) = last else {
                    break;
                };
                self.w.metrics.containers_scaled_down += 1;
                self.remove_idle(c, RemovalCause::ScaledDown, ev);
                removed = true;
            }
            if removed {
                self.drain(ev);
            }
        }
    }

    fn skip_prewarm(&mut self, function: FunctionId, reason: PrewarmSkip, ev: &mut Vec<Event>) {
        self.w.metrics.prewarms_skipped += 1;
        self.w
            .emit(ev, EventKind::PrewarmSkipped { function, reason });
    }

    /// R157: a pre-warmed container is ready: idle for its keep-alive.
    fn prewarm_ready(&mut self, c: ContainerId, keep_alive: u64, ev: &mut Vec<Event>) {
        self.w.ctr_mut(c).last_used_us = self.w.now;
        let facts = self.facts(c);
        self.enter_idle(&facts, keep_alive, ev);
        self.drain(ev);
    }
}

impl<P: Policies> Machine for Model<P> {
    fn apply(&mut self, input: &Input) -> (Vec<Event>, Option<Refusal>) {
        self.step(input)
    }

    fn now_us(&self) -> u64 {
        self.w.now
    }

    fn next_timer_us(&self) -> Option<u64> {
        self.w.timers.iter().map(|t| t.0).min()
    }

    fn get_state(&self, invocation: InvocationId) -> Result<InvocationState, ClientError> {
        self.w.state_of(invocation)
    }

    fn get_output(&self, invocation: InvocationId) -> Result<u64, ClientError> {
        // R124
        match self.w.state_of(invocation)? {
            InvocationState::Ended(Ending {
                outcome: EndOutcome::Completed { output, .. },
                ..
            }) => Ok(output),
            state => Err(ClientError::NotCompleted { invocation, state }),
        }
    }

    fn metrics(&self) -> Metrics {
        self.metrics_now()
    }

    fn check(&self) -> Result<(), String> {
        self.check_model()
    }
}
