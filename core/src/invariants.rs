//! The invariant checker: recomputes every derived quantity from the
//! entities and compares it with the incremental bookkeeping, and checks the
//! promises of the model (capacities, pins, nothing lost). Public, for
//! embedders and tests; O(size of the state) per call.

use crate::ids::{HostId, ImageId};
use crate::state::{ContainerState, Core, ImageClass, InvState, MainState, Timer, TimerKey};
use crate::step::Provider;
use std::collections::{BTreeMap, BTreeSet};

/// A broken invariant: a bug in coldstart (or in a policy that got past
/// validation), described.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation(pub String);

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invariant violated: {}", self.0)
    }
}

impl std::error::Error for Violation {}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(Violation(format!($($fmt)+)));
        }
    };
}

#[derive(Default)]
struct HostTally {
    ram: u64,
    slots: u32,
    scratch: u64,
    idle: u32,
    busy: u32,
    idle_ram: u64,
    idle_scratch: u64,
    pins_busy: BTreeMap<ImageId, u32>,
    pins_idle: BTreeMap<ImageId, u32>,
}

impl<P> Provider<P> {
    /// Checks every invariant; `Ok` or the first violation found.
    pub fn check_invariants(&self) -> Result<(), Violation> {
        let core = &self.core;
        check_time(core)?;
        let tallies = check_containers(core)?;
        check_hosts(core, &tallies)?;
        core.hosts.check_index().map_err(Violation)?;
        check_main_storage(core)?;
        check_links(core)?;
        check_cpus(core)?;
        check_invocations(core)?;
        Ok(())
    }
}

impl<P: crate::policy::Policies> Provider<P> {
    /// Checks that every function's warm floor is held as far as the spec
    /// says it must be (R161): a short function either waits behind a
    /// non-empty queue, or fits on no host. It holds after every step for a
    /// policy that places whenever a host fits (every built-in one); a
    /// policy that declines although a host fits may leave a floor short,
    /// which is not a bug in coldstart. O(short functions × hosts).
    pub fn check_floor_held(&self) -> Result<(), Violation> {
        let core = &self.core;
        if !core.queue.is_empty() {
            return Ok(());
        }
        for &function in &core.short {
            let request = core.request_for(function, None);
            let fitting = core.hosts.iter().position(|h| h.fits(&request));
            ensure!(
                fitting.is_none(),
                "{function}'s floor is short with an empty queue, yet host#{} fits it",
                fitting.unwrap_or(0)
            );
        }
        Ok(())
    }

    /// What the warm floors held so far cost (picodollars, spec R164): the
    /// policy's price of `Metrics::floor_byte_us`. Not part of
    /// `Metrics::cost_picodollars`, which sums the invocations' bills.
    pub fn provisioned_cost_picodollars(&self) -> u128 {
        self.policies
            .provisioned_cost_picodollars(self.core.metrics.floor_byte_us)
    }
}

fn check_time(core: &Core) -> Result<(), Violation> {
    if let Some(((due, _), _)) = core.timers.next() {
        ensure!(
            due > core.now_us,
            "timer due at {due} µs is still pending at {} µs",
            core.now_us
        );
    }
    ensure!(
        core.seq >= core.timers.len() as u64,
        "sequence counter behind the timers"
    );
    Ok(())
}

fn check_containers(core: &Core) -> Result<Vec<HostTally>, Violation> {
    let mut tallies: Vec<HostTally> = core.hosts.iter().map(|_| HostTally::default()).collect();
    let timers: BTreeMap<TimerKey, Timer> = core.timers.sorted().into_iter().collect();
    let (mut busy_now, mut idle_now) = (0u64, 0u64);
    let (mut reserved_now, mut floor_now, mut floor_bytes_now) = (0u64, 0u64, 0u64);
    let mut floors: BTreeMap<crate::ids::FunctionId, u32> = BTreeMap::new();
    for (id, c) in core.containers.iter() {
        let Some(t) = tallies.get_mut(c.host.index()) else {
            return Err(Violation(format!("{id} is on unknown {}", c.host)));
        };
        t.ram += c.memory_bytes;
        t.slots += 1;
        t.scratch += c.scratch_bytes;
        let copy = core.host_image(c.host, c.image);
        ensure!(
            copy.is_some(),
            "{id} runs from {} which is not on {}",
            c.image,
            c.host
        );
        match c.state {
            ContainerState::Idle {
                expiry,
                warm_key,
                evict_key,
                ..
            } => {
                idle_now += 1;
                t.idle += 1;
                t.idle_ram += c.memory_bytes;
                t.idle_scratch += c.scratch_bytes;
                *t.pins_idle.entry(c.image).or_default() += 1;
                ensure!(
                    timers.get(&expiry) == Some(&Timer::KeepAliveExpired { container: id }),
                    "idle {id} has no keep-alive timer"
                );
                let f = core.functions.get(c.function);
                ensure!(
                    f.is_some_and(|f| f.idle.contains(&(warm_key.0, warm_key.1, id))),
                    "idle {id} missing from its function's idle set"
                );
                ensure!(
                    core.hosts[c.host.index()]
                        .idle
                        .contains(&(evict_key.0, evict_key.1, id)),
                    "idle {id} missing from its host's idle set"
                );
            }
            ContainerState::Preparing { invocation }
            | ContainerState::Starting { invocation }
            | ContainerState::Busy { invocation } => {
                busy_now += 1;
                t.busy += 1;
                *t.pins_busy.entry(c.image).or_default() += 1;
                let inv = core.invocations.get(invocation);
                let linked = inv.is_some_and(|inv| match (c.state, inv.state) {
                    (ContainerState::Preparing { .. }, InvState::Preparing { container, host }) => {
                        container == id && host == c.host
                    }
                    (
                        ContainerState::Starting { .. },
                        InvState::Starting {
                            container, host, ..
                        },
                    ) => container == id && host == c.host,
                    (
                        ContainerState::Busy { .. },
                        InvState::Running {
                            container, host, ..
                        },
                    ) => container == id && host == c.host,
                    _ => false,
                });
                ensure!(linked, "{id} and {invocation} disagree on their state");
                check_joined(core, id, c)?;
                check_image_wait(id, c.state, copy)?;
            }
            ContainerState::PrewarmPreparing { .. } | ContainerState::PrewarmStarting { .. } => {
                busy_now += 1;
                t.busy += 1;
                *t.pins_busy.entry(c.image).or_default() += 1;
                ensure!(
                    c.uses == 0,
                    "pre-warming {id} has run {} invocations",
                    c.uses
                );
                ensure!(
                    c.joined.is_empty() && c.join_key.is_none() && !c.retiring,
                    "pre-warming {id} holds invocations or is joinable"
                );
                check_image_wait(id, c.state, copy)?;
            }
            // An idle floor container: idle for the gauges, busy for its
            // host (R160).
            ContainerState::Reserved { warm_key } => {
                idle_now += 1;
                reserved_now += 1;
                t.busy += 1;
                *t.pins_busy.entry(c.image).or_default() += 1;
                ensure!(c.floor, "reserved {id} is not a floor container");
                ensure!(
                    copy.is_some_and(|copy| !copy.arriving),
                    "reserved {id}'s image is not on its host"
                );
                let f = core.functions.get(c.function);
                ensure!(
                    f.is_some_and(|f| f.reserved.contains(&(warm_key.0, warm_key.1, id))),
                    "reserved {id} missing from its function's reserved set"
                );
                ensure!(
                    c.joined.is_empty() && c.join_key.is_none() && !c.retiring,
                    "reserved {id} holds invocations, is joinable or retiring"
                );
            }
        }
        if c.floor {
            floor_now += 1;
            floor_bytes_now += c.memory_bytes;
            *floors.entry(c.function).or_default() += 1;
        }
        if let ContainerState::Idle { .. } = c.state {
            ensure!(
                c.joined.is_empty() && c.join_key.is_none() && !c.retiring,
                "idle {id} holds invocations, is joinable or retiring"
            );
        }
    }
    check_lifecycle_timers(core)?;
    let m = &core.metrics;
    ensure!(
        m.busy_containers_now == busy_now,
        "busy container gauge {} != {busy_now}",
        m.busy_containers_now
    );
    ensure!(
        m.idle_containers_now == idle_now,
        "idle container gauge {} != {idle_now}",
        m.idle_containers_now
    );
    ensure!(
        m.reserved_containers_now == reserved_now
            && m.floor_containers_now == floor_now
            && m.floor_memory_bytes_now == floor_bytes_now,
        "floor gauges ({}, {}, {} bytes) != ({reserved_now}, {floor_now}, {floor_bytes_now} bytes)",
        m.reserved_containers_now,
        m.floor_containers_now,
        m.floor_memory_bytes_now
    );
    ensure!(
        m.containers_now == busy_now + idle_now,
        "container gauge {} != {}",
        m.containers_now,
        busy_now + idle_now
    );
    let mut per_function: BTreeMap<crate::ids::FunctionId, (u32, u32)> = BTreeMap::new();
    for (_, c) in core.containers.iter() {
        let entry = per_function.entry(c.function).or_default();
        entry.0 += 1;
        entry.1 += u32::from(!c.started);
        ensure!(
            c.started
                || matches!(
                    c.state,
                    ContainerState::Preparing { .. }
                        | ContainerState::Starting { .. }
                        | ContainerState::PrewarmPreparing { .. }
                        | ContainerState::PrewarmStarting { .. }
                ),
            "a container never ready is {:?}",
            c.state
        );
    }
    let mut unended: BTreeMap<crate::ids::FunctionId, u64> = BTreeMap::new();
    for (_, inv) in core.invocations.iter() {
        if !matches!(inv.state, InvState::Ended(_)) {
            *unended.entry(inv.function).or_default() += 1;
        }
    }
    for (fid, f) in core.functions.iter() {
        let (live, unready) = per_function.get(&fid).copied().unwrap_or((0, 0));
        ensure!(
            (f.containers, f.unready) == (live, unready),
            "{fid} counts {} containers, {} never ready; has {live}, {unready}",
            f.containers,
            f.unready
        );
        let waiting = unended.get(&fid).copied().unwrap_or(0);
        ensure!(
            f.demand.unended == waiting,
            "{fid} counts {} unended invocations, has {waiting}",
            f.demand.unended
        );
        ensure!(
            f.demand.since_us <= core.now_us && f.demand.since_us >= core.reconcile.last_tick_us,
            "{fid}'s demand was last caught up at {}, outside the last tick ({}) to now",
            f.demand.since_us,
            core.reconcile.last_tick_us
        );
        ensure!(
            f.concurrency > 1 || f.joinable.first().is_none(),
            "{fid} has concurrency 1 and joinable containers"
        );
        for &(priority, seq, c) in &f.joinable {
            ensure!(
                core.containers
                    .get(c)
                    .is_some_and(|c| c.function == fid && c.join_key == Some((priority, seq))),
                "{fid}'s joinable set holds {c} at a key it does not have"
            );
        }
        let floor = floors.get(&fid).copied().unwrap_or(0);
        ensure!(
            f.floor == floor && floor <= f.min_scale,
            "{fid} counts {} floor containers, has {floor}, min_scale {}",
            f.floor,
            f.min_scale
        );
        ensure!(
            core.short.contains(&fid) == (floor < f.min_scale),
            "{fid} is short: {}, with {floor} of {} floor containers",
            core.short.contains(&fid),
            f.min_scale
        );
        for &(_, _, c) in &f.reserved {
            ensure!(
                core.containers.get(c).is_some_and(
                    |c| c.function == fid && matches!(c.state, ContainerState::Reserved { .. })
                ),
                "{fid}'s reserved set holds {c}, not a reserved container of it"
            );
        }
        for &(_, _, c) in &f.idle {
            ensure!(
                core.containers
                    .get(c)
                    .is_some_and(|c| matches!(c.state, ContainerState::Idle { .. })),
                "function idle set holds non-idle {c}"
            );
        }
    }
    for &fid in &core.short {
        ensure!(
            core.functions.contains(fid),
            "unknown {fid} is in the short set"
        );
    }
    Ok(tallies)
}

/// A non-idle container's invocations after its oldest (R57b): never more
/// than its function's concurrency in all; each names the container and
/// is in a state that agrees with it (waiting for a starting container,
/// running in a running one); the container is in its function's
/// joinable set exactly when it has room and is not retiring.
fn check_joined(
    core: &Core,
    id: crate::ids::ContainerId,
    c: &crate::state::Container,
) -> Result<(), Violation> {
    let Some(f) = core.functions.get(c.function) else {
        return Err(Violation(format!("{id} runs unknown {}", c.function)));
    };
    let load = 1 + c.joined.len() as u64;
    ensure!(
        load <= u64::from(f.concurrency),
        "{id} runs {load} invocations, over its function's concurrency {}",
        f.concurrency
    );
    for &joined in &c.joined {
        let state = core.invocations.get(joined).map(|inv| inv.state);
        let linked = match (c.state, state) {
            (
                ContainerState::Preparing { .. } | ContainerState::Starting { .. },
                Some(InvState::Starting {
                    container,
                    host,
                    cold: false,
                }),
            )
            | (
                ContainerState::Busy { .. },
                Some(InvState::Running {
                    container,
                    host,
                    cold: false,
                    ..
                }),
            ) => container == id && host == c.host,
            _ => false,
        };
        ensure!(
            linked,
            "{id} and its joined {joined} disagree on their state"
        );
    }
    let room = !c.retiring && load < u64::from(f.concurrency);
    ensure!(
        c.join_key.is_some() == room,
        "{id} is {}joinable with {load} of {} invocations{}",
        if c.join_key.is_some() { "" } else { "not " },
        f.concurrency,
        if c.retiring { ", retiring" } else { "" }
    );
    if let Some(key) = c.join_key {
        ensure!(
            f.joinable.contains(&(key.0, key.1, id)),
            "joinable {id} missing from its function's joinable set"
        );
    }
    Ok(())
}

/// A preparing container waits for its arriving image; any other has it.
fn check_image_wait(
    id: crate::ids::ContainerId,
    state: ContainerState,
    copy: Option<&crate::state::HostImage>,
) -> Result<(), Violation> {
    if let ContainerState::Preparing { .. } | ContainerState::PrewarmPreparing { .. } = state {
        ensure!(
            copy.is_some_and(|copy| copy.arriving && copy.waiting.contains(&id)),
            "preparing {id} is not waiting for its image"
        );
    } else {
        ensure!(
            copy.is_some_and(|copy| !copy.arriving),
            "{id} started before its image arrived"
        );
    }
    Ok(())
}

/// Every starting container has its ready timer and every running
/// invocation its end timer, exactly one each: nothing waits forever.
fn check_lifecycle_timers(core: &Core) -> Result<(), Violation> {
    let mut ready: BTreeMap<crate::ids::ContainerId, u32> = BTreeMap::new();
    let mut ends: BTreeMap<crate::ids::InvocationId, u32> = BTreeMap::new();
    let mut prewarms: BTreeMap<crate::ids::FunctionId, TimerKey> = BTreeMap::new();
    let mut reconciles = 0u32;
    for (key, timer) in core.timers.sorted() {
        match timer {
            Timer::Reconcile => {
                reconciles += 1;
                ensure!(
                    core.config
                        .autoscale_tick_us
                        .is_some_and(|tick_us| key.0 % tick_us == 0 && key.0 > core.reconcile.last_tick_us),
                    "a reconcile timer at {} is off the period's multiples or not after the last tick",
                    key.0
                );
            }
            Timer::ContainerReady { container } => *ready.entry(container).or_default() += 1,
            Timer::InvocationEnd { invocation } => *ends.entry(invocation).or_default() += 1,
            Timer::Prewarm { function } => {
                ensure!(
                    prewarms.insert(function, key).is_none(),
                    "{function} has two pre-warm timers"
                );
            }
            _ => {}
        }
    }
    ensure!(
        reconciles == u32::from(core.reconcile.armed),
        "{reconciles} reconcile timers, armed: {}",
        core.reconcile.armed
    );
    for (id, f) in core.functions.iter() {
        let planned = f.prewarm.map(|p| p.timer);
        ensure!(
            prewarms.remove(&id) == planned,
            "{id}'s planned pre-warm {planned:?} does not match its timer"
        );
    }
    ensure!(
        prewarms.is_empty(),
        "a pre-warm timer names an unknown function"
    );
    for (id, c) in core.containers.iter() {
        let expected = u32::from(matches!(
            c.state,
            ContainerState::Starting { .. } | ContainerState::PrewarmStarting { .. }
        ));
        let found = ready.get(&id).copied().unwrap_or(0);
        ensure!(
            found == expected,
            "{id} has {found} ready timers, expected {expected}"
        );
    }
    ensure!(
        ready.keys().all(|&id| core.containers.contains(id)),
        "a ready timer names a removed container"
    );
    for (id, inv) in core.invocations.iter() {
        let expected = u32::from(matches!(inv.state, InvState::Running { .. }));
        let found = ends.get(&id).copied().unwrap_or(0);
        ensure!(
            found == expected,
            "{id} has {found} end timers, expected {expected}"
        );
    }
    ensure!(
        ends.keys().all(|&id| core.invocations.contains(id)),
        "an end timer names a removed invocation"
    );
    Ok(())
}

fn check_hosts(core: &Core, tallies: &[HostTally]) -> Result<(), Violation> {
    let mut copy_timers: BTreeMap<(HostId, ImageId), u32> = BTreeMap::new();
    for (_, timer) in core.timers.sorted() {
        if let Timer::CopyDone { host, image } | Timer::CopyRetry { host, image } = timer {
            *copy_timers.entry((host, image)).or_default() += 1;
        }
    }
    for (&(host, image), _) in copy_timers.iter() {
        ensure!(
            core.host_image(host, image).is_some_and(|c| c.arriving),
            "a copy timer of {image} to {host} has no arriving copy"
        );
    }
    for (i, (h, t)) in core.hosts.iter().zip(tallies).enumerate() {
        let host = HostId(i as u32);
        ensure!(
            h.ram_used_bytes == t.ram,
            "{host}: RAM used {} != containers' {}",
            h.ram_used_bytes,
            t.ram
        );
        ensure!(
            h.ram_used_bytes <= h.spec.ram_bytes,
            "{host}: RAM over capacity"
        );
        ensure!(
            h.slots_used == t.slots,
            "{host}: slots used {} != containers {}",
            h.slots_used,
            t.slots
        );
        ensure!(h.slots_used <= h.spec.slots, "{host}: slots over capacity");
        ensure!(
            h.idle_count == t.idle && h.busy_count == t.busy,
            "{host}: idle/busy counts wrong"
        );
        ensure!(
            h.idle_ram_bytes == t.idle_ram && h.idle_scratch_bytes == t.idle_scratch,
            "{host}: idle totals wrong"
        );
        ensure!(
            h.idle.len() == t.idle as usize,
            "{host}: idle set has {} entries for {} idle containers",
            h.idle.len(),
            t.idle
        );
        if !h.up {
            ensure!(
                t.slots == 0,
                "{host} is down but holds {} containers",
                t.slots
            );
            ensure!(
                h.images.values().all(|copy| !copy.arriving),
                "{host} is down but a copy is on its way to it"
            );
        }
        let mut image_bytes = 0u64;
        let (mut evictable, mut idle_pinned) = (0u64, 0u64);
        let mut evictable_count = 0usize;
        for (&image, copy) in &h.images {
            image_bytes += copy.size_bytes;
            let busy = t.pins_busy.get(&image).copied().unwrap_or(0);
            let idle = t.pins_idle.get(&image).copied().unwrap_or(0);
            ensure!(
                copy.pins_busy == busy,
                "{host}: {image} busy pins {} != {busy}",
                copy.pins_busy
            );
            ensure!(
                copy.pins_idle == idle,
                "{host}: {image} idle pins {} != {idle}",
                copy.pins_idle
            );
            ensure!(
                copy.arriving || copy.waiting.is_empty(),
                "{host}: {image} present with waiting containers"
            );
            if copy.arriving {
                // Nothing waits forever: an arriving copy is being copied (or
                // waits to retry), or its host waits for the download.
                let copying = copy_timers.get(&(host, image)).copied().unwrap_or(0);
                let awaiting = core.images.get(image).map_or(0, |img| {
                    img.waiting_hosts.iter().filter(|&&w| w == host).count() as u32
                });
                ensure!(
                    copying + awaiting == 1,
                    "{host}: arriving {image} has {copying} copy timers and waits {awaiting} times for its download"
                );
            }
            ensure!(
                (1..=core.config.retry.attempts_max).contains(&copy.copy_attempt),
                "{host}: {image} copy attempt {} out of range",
                copy.copy_attempt
            );
            ensure!(
                core.images
                    .get(image)
                    .is_some_and(|i| i.size_bytes == copy.size_bytes),
                "{host}: {image} size mismatch"
            );
            match copy.class() {
                ImageClass::Pinned => ensure!(
                    copy.evict_key.is_none(),
                    "{host}: pinned {image} is evictable"
                ),
                ImageClass::IdlePinned => {
                    idle_pinned += copy.size_bytes;
                    ensure!(
                        copy.evict_key.is_none(),
                        "{host}: idle-pinned {image} is evictable"
                    );
                }
                ImageClass::Evictable => {
                    evictable += copy.size_bytes;
                    evictable_count += 1;
                    let key = copy.evict_key;
                    ensure!(
                        key.is_some_and(|(p, s)| h.evictable_images.contains(&(p, s, image))),
                        "{host}: unpinned {image} missing from the eviction order"
                    );
                }
            }
        }
        ensure!(
            h.evictable_images.len() == evictable_count,
            "{host}: eviction order holds pinned or absent images"
        );
        ensure!(
            h.evictable_image_bytes == evictable,
            "{host}: evictable bytes {} != {evictable}",
            h.evictable_image_bytes
        );
        ensure!(
            h.idle_pinned_image_bytes == idle_pinned,
            "{host}: idle-pinned bytes wrong"
        );
        let disk = image_bytes + t.scratch;
        ensure!(
            h.disk_used_bytes == disk,
            "{host}: disk used {} != images + scratch {disk}",
            h.disk_used_bytes
        );
        ensure!(
            h.disk_used_bytes <= h.spec.disk_bytes,
            "{host}: disk over capacity ({} > {})",
            h.disk_used_bytes,
            h.spec.disk_bytes
        );
    }
    Ok(())
}

/// With shared bandwidth, every transfer on a link has a pending
/// completion timer under the key it records, naming it, and every pending
/// `DownloadDone` or `CopyDone` timer is a transfer on its link (R85a).
/// With dedicated bandwidth the links hold nothing.
fn check_links(core: &Core) -> Result<(), Violation> {
    let links = &core.links;
    if core.config.bandwidth == crate::config::Bandwidth::Dedicated {
        ensure!(
            links.download.transfers.is_empty() && links.copies.is_empty(),
            "links hold transfers with dedicated bandwidth"
        );
        return Ok(());
    }
    ensure!(
        links.copies.len() == core.hosts.len(),
        "{} copy links for {} hosts",
        links.copies.len(),
        core.hosts.len()
    );
    let pending: BTreeMap<(u64, u64), Timer> = core.timers.sorted().into_iter().collect();
    let mut on_links = 0usize;
    let all = std::iter::once((None, &links.download))
        .chain(links.copies.iter().enumerate().map(|(i, l)| (Some(i), l)));
    for (host, link) in all {
        ensure!(
            link.since_us <= core.now_us,
            "a link was re-timed in the future"
        );
        for t in &link.transfers {
            on_links += 1;
            let named = match t.timer {
                Timer::DownloadDone { .. } => host.is_none(),
                Timer::CopyDone { host: h, .. } => host == Some(h.index()),
                _ => false,
            };
            ensure!(named, "{:?} is on the wrong link", t.timer);
            ensure!(
                pending.get(&t.key) == Some(&t.timer),
                "{:?} has no pending timer at {:?}",
                t.timer,
                t.key
            );
        }
    }
    let timers = pending
        .values()
        .filter(|t| matches!(t, Timer::DownloadDone { .. } | Timer::CopyDone { .. }))
        .count();
    ensure!(
        timers == on_links,
        "{timers} transfer timers for {on_links} transfers on links"
    );
    Ok(())
}

/// Every host's CPU demand is the sum of its running invocations'
/// `cpu_millis` (R85f). With processor sharing every run on a host is an
/// invocation running there, with a pending end timer under the key it
/// records, due no later than its time limit's end, with no more work left
/// than its code's whole duration; and every running invocation is a run on
/// its host. With dedicated CPU the hosts hold no runs.
fn check_cpus(core: &Core) -> Result<(), Violation> {
    let mut demand = vec![0u64; core.hosts.len()];
    let mut running = 0usize;
    for (id, inv) in core.invocations.iter() {
        if let InvState::Running { host, .. } = inv.state {
            running += 1;
            let cpu = core.functions.get(inv.function).map_or(0, |f| f.cpu_millis);
            demand[host.index()] += u64::from(cpu);
            if core.config.cpu == crate::config::Cpu::ProcessorSharing {
                let on_host = core
                    .cpus
                    .hosts
                    .get(host.index())
                    .is_some_and(|c| c.runs.iter().any(|r| r.invocation == id));
                ensure!(on_host, "running {id} is not a run on its host");
            }
        }
    }
    for (i, &d) in demand.iter().enumerate() {
        ensure!(
            core.hosts[i].cpu_demand_millis == d,
            "host {i} counts a CPU demand of {} for running invocations of {d}",
            core.hosts[i].cpu_demand_millis
        );
    }
    if core.config.cpu == crate::config::Cpu::Dedicated {
        ensure!(core.cpus.hosts.is_empty(), "runs kept with dedicated CPU");
        return Ok(());
    }
    ensure!(
        core.cpus.hosts.len() == core.hosts.len(),
        "{} host CPUs for {} hosts",
        core.cpus.hosts.len(),
        core.hosts.len()
    );
    let pending: BTreeMap<(u64, u64), Timer> = core.timers.sorted().into_iter().collect();
    let mut runs = 0usize;
    for (i, cpu) in core.cpus.hosts.iter().enumerate() {
        ensure!(
            cpu.since_us <= core.now_us,
            "a host was re-timed in the future"
        );
        for r in &cpu.runs {
            runs += 1;
            let inv = core.invocations.get(r.invocation);
            let on_this = inv.is_some_and(
                |inv| matches!(inv.state, InvState::Running { host, .. } if host.index() == i),
            );
            ensure!(
                on_this,
                "{} is a run on host {i} but not running there",
                r.invocation
            );
            let whole = inv.map_or(0, |inv| u128::from(inv.code.duration_us()) * 1_000);
            ensure!(
                r.left_units <= whole,
                "{} has more work left than its code holds",
                r.invocation
            );
            ensure!(
                pending.get(&r.key)
                    == Some(&Timer::InvocationEnd {
                        invocation: r.invocation
                    }),
                "{} has no pending end timer at {:?}",
                r.invocation,
                r.key
            );
            ensure!(
                r.key.0 <= r.deadline_us,
                "{} ends after its time limit",
                r.invocation
            );
        }
    }
    ensure!(
        runs == running,
        "{runs} runs on hosts for {running} running invocations"
    );
    Ok(())
}

fn check_main_storage(core: &Core) -> Result<(), Violation> {
    let mut copies: BTreeMap<ImageId, u32> = BTreeMap::new();
    let mut downloads: BTreeMap<ImageId, u32> = BTreeMap::new();
    let mut retries: BTreeMap<ImageId, u32> = BTreeMap::new();
    for (_, timer) in core.timers.sorted() {
        match timer {
            Timer::CopyDone { image, .. } | Timer::CopyRetry { image, .. } => {
                *copies.entry(image).or_default() += 1
            }
            Timer::DownloadDone { image } => *downloads.entry(image).or_default() += 1,
            Timer::DownloadRetry { image } => *retries.entry(image).or_default() += 1,
            _ => {}
        }
    }
    let (mut used, mut evictable) = (0u64, 0u64);
    let mut pending = 0usize;
    for (id, img) in core.images.iter() {
        let copying = copies.get(&id).copied().unwrap_or(0);
        ensure!(
            img.copy_pins == copying,
            "{id}: copy pins {} != copies in flight {copying}",
            img.copy_pins
        );
        let downloading = downloads.get(&id).copied().unwrap_or(0);
        ensure!(
            downloading == u32::from(img.main == MainState::Downloading),
            "{id}: download timers disagree with its state"
        );
        let backing_off = retries.get(&id).copied().unwrap_or(0);
        ensure!(
            backing_off == u32::from(img.main == MainState::DownloadBackoff),
            "{id}: download retry timers disagree with its state"
        );
        ensure!(
            img.download_attempt <= core.config.retry.attempts_max,
            "{id}: download attempt {} beyond the maximum",
            img.download_attempt
        );
        match img.main {
            MainState::Present | MainState::Downloading | MainState::DownloadBackoff => {
                used += img.size_bytes
            }
            MainState::AwaitingRoom => pending += 1,
            MainState::Absent => {}
        }
        ensure!(
            img.copy_pins == 0 || img.main == MainState::Present,
            "{id}: copied from main storage while not present"
        );
        ensure!(
            img.waiting_hosts.is_empty()
                || matches!(
                    img.main,
                    MainState::Downloading | MainState::DownloadBackoff | MainState::AwaitingRoom
                ),
            "{id}: hosts wait for a download that is not coming"
        );
        let should_evict = img.main == MainState::Present && img.copy_pins == 0;
        ensure!(
            should_evict == img.evict_key.is_some(),
            "{id}: main-storage eviction class wrong"
        );
        if let Some((p, s)) = img.evict_key {
            evictable += img.size_bytes;
            ensure!(
                core.main.evictable.contains(&(p, s, id)),
                "{id}: missing from main storage's eviction order"
            );
        }
    }
    ensure!(
        core.main.pending.len() == pending,
        "pending downloads list disagrees with image states"
    );
    ensure!(
        core.main.used_bytes == used,
        "main storage used {} != {used}",
        core.main.used_bytes
    );
    ensure!(
        core.main.evictable_bytes == evictable,
        "main storage evictable bytes wrong"
    );
    ensure!(
        used <= core.config.main_storage.capacity_bytes,
        "main storage over capacity"
    );
    Ok(())
}

fn check_invocations(core: &Core) -> Result<(), Violation> {
    let (mut queued, mut in_flight, mut ended) = (0u64, 0u64, 0u64);
    let mut retrying = 0u64;
    let mut retry_timers: BTreeMap<crate::ids::InvocationId, (u64, u32)> = BTreeMap::new();
    for ((due, _), timer) in core.timers.sorted() {
        if let Timer::RetryDue { invocation } = timer {
            let entry = retry_timers.entry(invocation).or_insert((due, 0));
            entry.1 += 1;
        }
    }
    ensure!(
        retry_timers.keys().all(|&id| core.invocations.contains(id)),
        "a retry timer names a removed invocation"
    );
    // A set, so that checking each queued invocation is O(log queue), not a
    // search of the queue (which made this check quadratic in its length).
    let queue: BTreeSet<crate::ids::InvocationId> = core.queue.iter().copied().collect();
    ensure!(
        queue.len() == core.queue.len(),
        "an invocation is in the queue twice"
    );
    for (id, inv) in core.invocations.iter() {
        ensure!(
            (1..=core.config.retry.attempts_max).contains(&inv.attempt),
            "{id} is at attempt {}, outside 1..={}",
            inv.attempt,
            core.config.retry.attempts_max
        );
        if !matches!(inv.state, InvState::Retrying { .. }) {
            ensure!(
                !retry_timers.contains_key(&id),
                "{id} has a retry timer but is not retrying"
            );
        }
        match inv.state {
            InvState::Retrying { retry_at_us } => {
                retrying += 1;
                ensure!(
                    retry_timers.get(&id) == Some(&(retry_at_us, 1)),
                    "retrying {id} has no single retry timer due at {retry_at_us} µs"
                );
            }
            InvState::Queued { .. } => {
                queued += 1;
                ensure!(queue.contains(&id), "queued {id} is not in the queue");
            }
            InvState::Preparing { container, .. } | InvState::Starting { container, .. } => {
                in_flight += 1;
                ensure!(
                    core.containers.get(container).is_some_and(|c| holds(c, id)),
                    "{id} names a container that does not hold it"
                );
            }
            InvState::Running {
                container,
                code_start_us,
                ..
            } => {
                in_flight += 1;
                ensure!(
                    core.containers.get(container).is_some_and(|c| holds(c, id)),
                    "{id} names a container that does not hold it"
                );
                let limit = core
                    .functions
                    .get(inv.function)
                    .map_or(0, |f| f.time_limit_us);
                ensure!(
                    core.now_us - code_start_us <= limit,
                    "{id} has run past its time limit"
                );
            }
            InvState::Ended(_) => ended += 1,
        }
    }
    let m = &core.metrics;
    ensure!(
        queued == m.queued_now && queued == core.queue.len() as u64,
        "queued count {queued} != gauge {} / queue {}",
        m.queued_now,
        core.queue.len()
    );
    ensure!(
        in_flight == m.in_flight_now,
        "in-flight count {in_flight} != gauge {}",
        m.in_flight_now
    );
    ensure!(
        ended == m.ended() - m.reaped,
        "ended records {ended} != ended {} - reaped {}",
        m.ended(),
        m.reaped
    );
    ensure!(
        retrying == m.retrying_now,
        "retrying count {retrying} != gauge {}",
        m.retrying_now
    );
    ensure!(
        m.accepted == m.queued_now + m.in_flight_now + m.retrying_now + m.ended(),
        "nothing lost: accepted {} != queued {} + in flight {} + retrying {} + ended {}",
        m.accepted,
        m.queued_now,
        m.in_flight_now,
        m.retrying_now,
        m.ended()
    );
    if let Some(max) = core.config.terminal_records_max {
        ensure!(
            ended <= max,
            "{ended} ended records kept, over the limit of {max}"
        );
    }
    if let crate::config::Pressure::Queue { capacity } = core.config.pressure {
        ensure!(
            core.queue.len() <= capacity as usize,
            "queue over its capacity"
        );
    }
    ensure!(
        m.cold_starts + m.warm_starts
            == m.in_flight_now
                + m.completed
                + m.failed()
                + m.timed_out
                + m.retries
                + m.platform_failed(),
        "starts do not match started invocations (every start ends, is retried or fails on the platform)"
    );
    Ok(())
}

/// Whether the container holds the invocation: its state names it, or it
/// joined.
fn holds(c: &crate::state::Container, invocation: crate::ids::InvocationId) -> bool {
    let named = match c.state {
        ContainerState::Preparing { invocation: i }
        | ContainerState::Starting { invocation: i }
        | ContainerState::Busy { invocation: i } => i == invocation,
        _ => false,
    };
    named || c.joined.contains(&invocation)
}
