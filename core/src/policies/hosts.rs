//! Host-selection rules beyond first fit, best fit and image locality. Each
//! returns a host for which `view.fits` is true, or `None` when none fits
//! (the core then rejects or queues, spec R54). See `docs/policies.md`.
//!
//! *Load* is a host's busy containers (preparing, starting or running:
//! `HostFacts::busy_containers`); *load per slot* compares hosts of different
//! sizes, `busy_a × slots_b` against `busy_b × slots_a`, exactly.

use super::{hash64, reduce};
use crate::ids::HostId;
use crate::policy::{HostView, PlacementRequest};

/// Virtual points per host on the consistent-hashing ring.
pub const RING_POINTS_PER_HOST: u64 = 8;

/// Salts of [`hash64`], one per use, so that the hashes are independent.
const SALT_FIRST: u64 = 0;
const SALT_SECOND: u64 = 1;
/// Host `h`'s ring points use salts `SALT_RING + v`, `v < RING_POINTS_PER_HOST`.
const SALT_RING: u64 = 16;

/// `(busy_containers, slots)`: the load per slot as a fraction. A host the
/// view has no facts for (in the core and the model, none below
/// `host_count`) counts as full, so it is never preferred.
fn load_per_slot<V: HostView + ?Sized>(view: &V, host: HostId) -> (u64, u64) {
    match view.host(host) {
        Some(facts) => (
            u64::from(facts.busy_containers),
            u64::from(facts.spec.slots),
        ),
        None => (1, 0),
    }
}

/// A host's busy containers; a host without facts counts as full.
fn busy(view: &dyn HostView, host: HostId) -> u128 {
    view.host(host)
        .map_or(u128::MAX, |facts| u128::from(facts.busy_containers))
}

/// Whether `a` carries strictly less load per slot than `b`.
fn less_loaded(a: (u64, u64), b: (u64, u64)) -> bool {
    a.0 * b.1 < b.0 * a.1
}

/// The fitting host with the least load per slot; ties to the lowest number:
/// the scan `HostView::least_loaded_fitting_host` stands for.
pub fn least_loaded<V: HostView + ?Sized>(view: &V, request: &PlacementRequest) -> Option<HostId> {
    let mut best: Option<(HostId, (u64, u64))> = None;
    for host in (0..view.host_count()).map(HostId) {
        if !view.fits(host, request) {
            continue;
        }
        let load = load_per_slot(view, host);
        if best.is_none_or(|(_, best_load)| less_loaded(load, best_load)) {
            best = Some((host, load));
        }
    }
    best.map(|(host, _)| host)
}

/// `(cpu_demand_millis, cores_millis)`: the CPU load as a fraction (spec
/// R85f); a host without facts counts as full.
fn cpu_load<V: HostView + ?Sized>(view: &V, host: HostId) -> (u64, u64) {
    match view.host(host) {
        Some(facts) => (facts.cpu_demand_millis, facts.spec.cores_millis),
        None => (1, 0),
    }
}

/// Least CPU-loaded (spec R108): the fitting host with the least CPU
/// demand per core, compared exactly (`demand_a × cores_b < demand_b ×
/// cores_a`, in u128); ties by the least load per slot, then the lowest
/// number — so a burst of placements before any code runs (every demand
/// still 0) spreads as `LeastLoaded` would. A scan of every host: O(hosts)
/// per placement (the host index does not order hosts by CPU load).
pub fn least_cpu_loaded<V: HostView + ?Sized>(
    view: &V,
    request: &PlacementRequest,
) -> Option<HostId> {
    // (host, CPU load, load per slot), each load a fraction.
    type Best = (HostId, (u64, u64), (u64, u64));
    let mut best: Option<Best> = None;
    for host in (0..view.host_count()).map(HostId) {
        if !view.fits(host, request) {
            continue;
        }
        let (cpu, load) = (cpu_load(view, host), load_per_slot(view, host));
        let better = match best {
            None => true,
            Some((_, best_cpu, best_load)) => {
                let (a, b) = (
                    u128::from(cpu.0) * u128::from(best_cpu.1),
                    u128::from(best_cpu.0) * u128::from(cpu.1),
                );
                a < b || (a == b && less_loaded(load, best_load))
            }
        };
        if better {
            best = Some((host, cpu, load));
        }
    }
    best.map(|(host, _, _)| host)
}

/// Round robin: the first fitting host at or after the cursor, cyclically;
/// the cursor then moves just past it. Unchanged when nothing fits.
pub fn round_robin(
    view: &dyn HostView,
    request: &PlacementRequest,
    next: &mut u32,
) -> Option<HostId> {
    let count = view.host_count();
    if count == 0 {
        return None;
    }
    let start = *next % count;
    // The cyclic scan from `start`: the hosts from it up, then (only if
    // none of those fits) the lowest fitting host, which is below it.
    let host = view
        .first_fitting_host_from(start, request)
        .or_else(|| view.first_fitting_host(request))?;
    *next = (host.0 + 1) % count;
    Some(host)
}

/// Seeded random: a uniform choice among the fitting hosts (in host order),
/// index `reduce(hash64(seed, draws), fitting)`; `draws` counts the draws
/// made so far and grows by one per draw. No draw when nothing fits. The
/// choice is `HostView::fitting_host_at` (the core's answers from its index).
pub fn seeded_random(
    view: &dyn HostView,
    request: &PlacementRequest,
    seed: u64,
    draws: &mut u64,
) -> Option<HostId> {
    let host = view.fitting_host_at(request, hash64(seed, *draws))?;
    *draws = draws.wrapping_add(1);
    Some(host)
}

/// The scan `HostView::fitting_host_at` stands for: the fitting hosts in
/// host order, the one at index `reduce(hash, fitting)`.
pub fn fitting_host_at<V: HostView + ?Sized>(
    view: &V,
    request: &PlacementRequest,
    hash: u64,
) -> Option<HostId> {
    let fitting: Vec<HostId> = (0..view.host_count())
        .map(HostId)
        .filter(|&host| view.fits(host, request))
        .collect();
    if fitting.is_empty() {
        return None;
    }
    let index = reduce(hash, fitting.len() as u32);
    Some(fitting[index as usize])
}

/// Package-aware scheduling (PASch; Aumala et al., CCGrid 2019): the image
/// hashes to two candidate hosts; the less loaded of those that fit and are
/// under the load threshold wins (ties: the first candidate); if neither
/// qualifies, the least-loaded fitting host.
pub fn package_aware(
    view: &dyn HostView,
    request: &PlacementRequest,
    load_threshold_percent: u32,
) -> Option<HostId> {
    let count = view.host_count();
    if count == 0 {
        return None;
    }
    let image = request.image.to_bits();
    let first = HostId(reduce(hash64(image, SALT_FIRST), count));
    let second = HostId(reduce(hash64(image, SALT_SECOND), count));
    let qualifies = |host: HostId| {
        let (busy, slots) = load_per_slot(view, host);
        view.fits(host, request) && busy * 100 < u64::from(load_threshold_percent) * slots
    };
    let candidates = [first, second];
    let mut best: Option<(HostId, (u64, u64))> = None;
    for host in candidates.into_iter().filter(|&h| qualifies(h)) {
        let load = load_per_slot(view, host);
        if best.is_none_or(|(_, best_load)| less_loaded(load, best_load)) {
            best = Some((host, load));
        }
    }
    match best {
        Some((host, _)) => Some(host),
        None => view.least_loaded_fitting_host(request),
    }
}

/// Greatest common divisor (Euclid).
fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// OpenWhisk's home-invoker rule (its sharding container-pool balancer): the
/// function hashes to a home host and to a step; the hosts are probed at
/// `home, home + step, home + 2·step, …` (mod the host count), and the first
/// that fits wins. The step is the first value coprime with the host count
/// at or after `1 + reduce(hash, count)`, cyclically in `1..=count`, so the
/// probe visits every host once.
pub fn home_invoker(view: &dyn HostView, request: &PlacementRequest) -> Option<HostId> {
    let count = view.host_count();
    if count == 0 {
        return None;
    }
    let function = request.function.to_bits();
    let home = reduce(hash64(function, SALT_FIRST), count);
    let step = coprime_step(hash64(function, SALT_SECOND), count);
    view.first_fitting_host_probing(request, home, step as u32)
}

/// The probe `HostView::first_fitting_host_probing` stands for: the hosts
/// `home, home + step, home + 2·step, …` (mod the host count), the first
/// that fits. With `step` coprime with the count, every host once.
pub fn first_fitting_host_probing<V: HostView + ?Sized>(
    view: &V,
    request: &PlacementRequest,
    home: u32,
    step: u32,
) -> Option<HostId> {
    let count = u64::from(view.host_count());
    let (home, step) = (u64::from(home), u64::from(step));
    (0..count)
        .map(|i| HostId(((home + i * step) % count) as u32))
        .find(|&host| view.fits(host, request))
}

/// The step of [`home_invoker`]: coprime with `count`, in `1..=count`.
pub fn coprime_step(hash: u64, count: u32) -> u64 {
    let count = u64::from(count);
    let start = u64::from(reduce(hash, count as u32));
    (0..count)
        .map(|i| (start + i) % count + 1)
        .find(|&step| gcd(step, count) == 1)
        .unwrap_or(1)
}

/// Consistent hashing with bounded loads (Mirrokni, Thorup and Zadimoghaddam,
/// SODA 2018): hosts have `RING_POINTS_PER_HOST` points on a 64-bit ring,
/// the function one point; walking clockwise from the function's point,
/// the first host that fits and whose load is under the cap
/// `⌈(100 + epsilon_percent) × (total load + 1) / (100 × hosts)⌉` wins; if
/// none, the first host in ring order that fits.
pub fn bounded_consistent_hashing(
    view: &dyn HostView,
    request: &PlacementRequest,
    epsilon_percent: u32,
) -> Option<HostId> {
    let count = view.host_count();
    // Nothing fits: no walk of the ring (the answer is `None` either way).
    view.first_fitting_host(request)?;
    let key = ring_key(request);
    let total_load = view.busy_containers_total();
    let cap = ((100 + u128::from(epsilon_percent)) * (total_load + 1))
        .div_ceil(100 * u128::from(count.max(1)));
    let mut chosen = None;
    let mut fallback = None;
    view.walk_ring(key, &mut |host| {
        if !view.fits(host, request) {
            return false;
        }
        if busy(view, host) < cap {
            chosen = Some(host);
            return true;
        }
        fallback = fallback.or(Some(host));
        false
    });
    chosen.or(fallback)
}

/// A function's point on the consistent-hashing ring.
pub fn ring_key(request: &PlacementRequest) -> u64 {
    hash64(request.function.to_bits(), SALT_FIRST)
}

/// Host `host`'s `v`-th point on the ring (`v < RING_POINTS_PER_HOST`).
pub fn ring_point(host: u32, v: u64) -> u64 {
    hash64(u64::from(host), SALT_RING + v)
}

/// The clockwise distance from `key` to the host's nearest ring point.
pub fn ring_distance(host: u32, key: u64) -> u64 {
    (0..RING_POINTS_PER_HOST)
        .map(|v| ring_point(host, v).wrapping_sub(key))
        .min()
        .unwrap_or(u64::MAX)
}

/// The walk `HostView::walk_ring` stands for: every host, by the clockwise
/// distance from `key` to its nearest point (ties, vanishingly rare, by host
/// number), sorted.
pub fn ring_order(count: u32, key: u64) -> Vec<HostId> {
    let mut ring: Vec<(u64, HostId)> = (0..count)
        .map(|h| (ring_distance(h, key), HostId(h)))
        .collect();
    ring.sort_unstable();
    ring.into_iter().map(|(_, host)| host).collect()
}
