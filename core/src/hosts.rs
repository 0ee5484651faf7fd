//! The hosts, and an index that answers "the lowest-numbered host that can
//! take this request" in O(log hosts) instead of a scan of every host, for
//! two meanings of "take":
//!
//! - `Want::Fit`: `fits` (R59), evicting idle containers and unpinned
//!   images if it must — first fit;
//! - `Want::Room`: `fits_in_room` (R59a), evicting no container (unpinned
//!   images only) — room first's first choice.
//!
//! `Hosts` derefs to `[Host]` for reading; writing goes through
//! `IndexMut` (`core.hosts[i].ram_used_bytes += …`), which marks host `i`
//! stale. Stale hosts are re-keyed in a batch by `refresh` (called before a
//! host-selection policy runs), so a step that touches a host many times
//! pays for one update.
//!
//! The index is a segment tree of per-subtree maxima of four keys per host:
//! for each want, the RAM it may use (with a slot) and the disk it may use.
//! Both predicates have the same shape: enough RAM with a slot, and disk
//! for the scratch plus the image's bytes — except on a host that holds the
//! image in a class that the placement neither evicts nor needs room for
//! (pinned for `Fit`; pinned or idle-pinned for `Room`), which needs disk
//! for the scratch alone. So the search is in two parts, each exact:
//!
//! 1. the tree, for the lowest host whose keys cover the RAM and the scratch
//!    *plus the image's bytes*: on every host that is not a discounted
//!    holder, that is the predicate itself, and on a discounted holder it
//!    implies it — every leaf the search reaches and accepts fits, none is
//!    rejected for the image's bytes;
//! 2. the image's discounted holders below that answer (`held`, kept per
//!    image in host order), for the lowest whose keys cover the RAM and the
//!    scratch alone.
//!
//! Stale hosts (whose keys may be out of date) are skipped by both parts and
//! checked by the exact predicate apart; the lowest host of the three wins.
//! The answer is the scan's answer, always. The index is derived state: it
//! is neither serialized nor compared, and is rebuilt on restore.
//!
//! Up to `INDEXED_HOSTS_MIN - 1` hosts there is no index: a scan of a few
//! hosts costs less than keeping one (the default scenario, with 4 hosts,
//! would pay about 3% more instructions per invocation for it).

use crate::ids::ImageId;
use crate::policies::hosts::{ring_distance, ring_point, RING_POINTS_PER_HOST};
use crate::policy::PlacementRequest;
use crate::state::{Host, ImageClass};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

/// The fewest hosts for which the host selections are answered from the
/// index.
pub(crate) const INDEXED_HOSTS_MIN: usize = 17;

/// What a placement may do on the host it picks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Want {
    /// `Host::fits`: evict idle containers and unpinned images as needed.
    Fit,
    /// `Host::fits_in_room`: evict unpinned images only, no container.
    Room,
}

impl Want {
    /// Whether a host holding the target image in `class` needs no disk
    /// for it: the copy stays, and is not counted as reclaimable either.
    fn discounts(self, class: ImageClass) -> bool {
        match self {
            Want::Fit => class == ImageClass::Pinned,
            Want::Room => class != ImageClass::Evictable,
        }
    }
}

impl Host {
    /// R59: whether the host can take the request now, evicting idle
    /// containers and unpinned images if it must.
    pub fn fits(&self, request: &PlacementRequest) -> bool {
        if !self.up {
            return false;
        }
        let ram_reclaimable = self.ram_free_bytes() + self.idle_ram_bytes;
        let slots_reclaimable = self.slots_free() + self.idle_count;
        if ram_reclaimable < request.memory_bytes || slots_reclaimable < 1 {
            return false;
        }
        let images_reclaimable = self.evictable_image_bytes + self.idle_pinned_image_bytes;
        let disk_reclaimable = self.disk_free_bytes() + self.idle_scratch_bytes;
        self.disk_fits(request, Want::Fit, disk_reclaimable + images_reclaimable)
    }

    /// R59a: whether the host can take the request now without evicting
    /// any container: RAM that no container holds, a free slot, and disk
    /// that is free or held by unpinned images.
    pub fn fits_in_room(&self, request: &PlacementRequest) -> bool {
        if !self.up || self.ram_free_bytes() < request.memory_bytes || self.slots_free() < 1 {
            return false;
        }
        let disk_usable = self.disk_free_bytes() + self.evictable_image_bytes;
        self.disk_fits(request, Want::Room, disk_usable)
    }

    /// Whether `usable` bytes of disk (free plus what `want` may reclaim,
    /// the target's copy included) hold the request: its scratch, plus the
    /// image's bytes unless the host holds the image — and a held copy that
    /// `usable` counts as reclaimable is not reclaimed but kept.
    fn disk_fits(&self, request: &PlacementRequest, want: Want, usable: u64) -> bool {
        let discounted = self
            .images
            .get(&request.image)
            .is_some_and(|copy| want.discounts(copy.class()));
        let needed = if discounted {
            request.scratch_bytes
        } else {
            // Not held: room for the copy. Held and counted in `usable`:
            // the same bytes, as the copy is kept, not evicted.
            request.scratch_bytes + request.image_bytes
        };
        usable >= needed
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Hosts {
    hosts: Vec<Host>,
    /// `stale[i]`: host `i` may have changed since its keys were computed.
    /// Empty without an index.
    stale: Vec<bool>,
    /// The stale hosts, each once, in the order they went stale.
    stale_list: Vec<u32>,
    /// `None` below `INDEXED_HOSTS_MIN` hosts.
    index: Option<FitIndex>,
    /// With an index: per image, the hosts holding a copy of it that is
    /// pinned or idle-pinned, and its class (the copies some want needs no
    /// disk for, `Want::discounts`). Kept up to date at every class change
    /// (`note_class`), never stale. Empty without an index.
    held: BTreeMap<ImageId, BTreeMap<u32, ImageClass>>,
    /// The derived orders of the other rules (with an index).
    orders: Orders,
    /// The hosts' `(ram_bytes, disk_bytes)` capacities that no other host
    /// has both of at least (the Pareto frontier), by RAM descending (so
    /// disk ascending): what registration asks of the hosts (R39, R41),
    /// answered without a pass over every host. Capacities never change.
    frontier: Vec<(u64, u64)>,
    /// Consistent hashing's ring: every host's points, `(point, host)`
    /// sorted, each pair once. It depends on the host count alone, so it is
    /// built on the first walk (only a run that uses the rule pays for it,
    /// 8 points of 16 bytes per host).
    ring: OnceLock<Vec<(u64, u32)>>,
}

/// The orders the host selections besides first fit and room first walk,
/// each kept as exactly as the tree: hosts are filed under the keys they
/// had at their last refresh (stale hosts are looked at apart), copies at
/// once. Empty without an index.
#[derive(Clone, Debug, Default)]
struct Orders {
    /// Best fit: the up hosts with a free slot, by `(free RAM, host)`; a
    /// host is filed under its leaf's `room_ram` (free RAM + 1; 0: not
    /// filed).
    by_free_ram: BTreeSet<(u64, u32)>,
    /// Least loaded: the up hosts with slots, by load per slot.
    by_load: BTreeSet<LoadKey>,
    /// Where each host is filed in `by_load`.
    load_keys: Vec<Option<LoadKey>>,
    /// Image locality: per image, every host holding a copy (present or
    /// arriving), kept at once like `held`.
    copies: BTreeMap<ImageId, BTreeSet<u32>>,
}

impl Orders {
    fn build(hosts: &[Host], index: &FitIndex) -> Orders {
        let mut orders = Orders::default();
        for (number, host) in hosts.iter().enumerate() {
            orders.file_free_ram(number, 0, index.leaf(number).room_ram);
            let key = LoadKey::of(host, number);
            if let Some(key) = key {
                orders.by_load.insert(key);
            }
            orders.load_keys.push(key);
            for &image in host.images.keys() {
                orders
                    .copies
                    .entry(image)
                    .or_default()
                    .insert(number as u32);
            }
        }
        orders
    }

    /// Moves a host from `old` to `new` in `by_free_ram` (room RAM keys:
    /// free RAM + 1, 0 for none).
    fn file_free_ram(&mut self, number: usize, old: u64, new: u64) {
        if old == new {
            return;
        }
        if old > 0 {
            self.by_free_ram.remove(&(old - 1, number as u32));
        }
        if new > 0 {
            self.by_free_ram.insert((new - 1, number as u32));
        }
    }

    fn file_load(&mut self, number: usize, host: &Host) {
        let new = LoadKey::of(host, number);
        let old = self.load_keys[number];
        if old == new {
            return;
        }
        if let Some(old) = old {
            self.by_load.remove(&old);
        }
        if let Some(new) = new {
            self.by_load.insert(new);
        }
        self.load_keys[number] = new;
    }
}

/// What the index keeps of a host, per want: the RAM it may use (0 without
/// a slot it may use, or when down) and the disk it may use, each plus one
/// (so that a request needing nothing still needs a key of at least 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
struct FitKeys {
    /// `Fit`: RAM free plus RAM of idle containers, if a slot is free or
    /// held by an idle container.
    fit_ram: u64,
    /// `Fit`: disk free plus what evicting idle containers and unpinned
    /// images would free.
    fit_disk: u64,
    /// `Room`: RAM free, if a slot is free.
    room_ram: u64,
    /// `Room`: disk free plus unpinned images.
    room_disk: u64,
}

impl FitKeys {
    fn of(host: &Host) -> FitKeys {
        if !host.up {
            return FitKeys::default();
        }
        let slot_reclaimable = host.slots_free() + host.idle_count >= 1;
        let fit_ram = if slot_reclaimable {
            host.ram_free_bytes() + host.idle_ram_bytes + 1
        } else {
            0
        };
        let fit_disk = host.disk_free_bytes()
            + host.idle_scratch_bytes
            + host.evictable_image_bytes
            + host.idle_pinned_image_bytes
            + 1;
        let room_ram = if host.slots_free() >= 1 {
            host.ram_free_bytes() + 1
        } else {
            0
        };
        let room_disk = host.disk_free_bytes() + host.evictable_image_bytes + 1;
        FitKeys {
            fit_ram,
            fit_disk,
            room_ram,
            room_disk,
        }
    }

    fn max(self, other: FitKeys) -> FitKeys {
        FitKeys {
            fit_ram: self.fit_ram.max(other.fit_ram),
            fit_disk: self.fit_disk.max(other.fit_disk),
            room_ram: self.room_ram.max(other.room_ram),
            room_disk: self.room_disk.max(other.room_disk),
        }
    }

    /// The `(ram, disk)` keys `want` reads.
    fn pair(self, want: Want) -> (u64, u64) {
        match want {
            Want::Fit => (self.fit_ram, self.fit_disk),
            Want::Room => (self.room_ram, self.room_disk),
        }
    }

    fn covers(self, want: Want, needed: Needed) -> bool {
        let (ram, disk) = self.pair(want);
        ram >= needed.ram_key && disk >= needed.disk_key
    }
}

/// The keys a host needs for a request.
#[derive(Clone, Copy, Debug)]
struct Needed {
    ram_key: u64,
    disk_key: u64,
}

impl Needed {
    /// On a host that holds no discounted copy of the image: room for the
    /// scratch and the image.
    fn with_image(request: &PlacementRequest) -> Needed {
        Needed {
            ram_key: request.memory_bytes + 1,
            disk_key: request.scratch_bytes + request.image_bytes + 1,
        }
    }

    /// On a discounted holder of the image: room for the scratch alone.
    fn scratch_only(request: &PlacementRequest) -> Needed {
        Needed {
            ram_key: request.memory_bytes + 1,
            disk_key: request.scratch_bytes + 1,
        }
    }
}

/// A segment tree of per-subtree maxima: node 1 is the root, node `n` has
/// children `2n` and `2n + 1`, and host `i` is leaf `leaves + i`. Leaves past
/// the last host hold zero keys, which no request is covered by.
#[derive(Clone, Debug)]
struct FitIndex {
    /// A power of two, at least the host count.
    leaves: usize,
    nodes: Vec<FitKeys>,
    /// Per node, the least `(fit_ram, fit_disk)` of its leaves (`u64::MAX`
    /// past the last host): a subtree whose least keys cover a request is
    /// a run of hosts that all fit it (seeded random counts them so).
    mins: Vec<(u64, u64)>,
}

impl FitIndex {
    fn build(hosts: &[Host]) -> FitIndex {
        let leaves = hosts.len().next_power_of_two();
        let mut nodes = vec![FitKeys::default(); 2 * leaves];
        for (i, host) in hosts.iter().enumerate() {
            nodes[leaves + i] = FitKeys::of(host);
        }
        let mut mins = vec![(u64::MAX, u64::MAX); 2 * leaves];
        for (i, keys) in nodes[leaves..leaves + hosts.len()].iter().enumerate() {
            mins[leaves + i] = (keys.fit_ram, keys.fit_disk);
        }
        for node in (1..leaves).rev() {
            nodes[node] = nodes[2 * node].max(nodes[2 * node + 1]);
            mins[node] = min_pair(mins[2 * node], mins[2 * node + 1]);
        }
        FitIndex {
            leaves,
            nodes,
            mins,
        }
    }

    fn leaf(&self, host: usize) -> FitKeys {
        self.nodes[self.leaves + host]
    }

    fn set(&mut self, host: usize, keys: FitKeys) {
        let mut node = self.leaves + host;
        if self.nodes[node] == keys {
            return;
        }
        self.nodes[node] = keys;
        self.mins[node] = (keys.fit_ram, keys.fit_disk);
        while node > 1 {
            node /= 2;
            let keys = self.nodes[2 * node].max(self.nodes[2 * node + 1]);
            let least = min_pair(self.mins[2 * node], self.mins[2 * node + 1]);
            if self.nodes[node] == keys && self.mins[node] == least {
                break;
            }
            self.nodes[node] = keys;
            self.mins[node] = least;
        }
    }

    /// Calls `emit(low, high)` on runs of hosts `low..high` that fit
    /// `needed` for `Want::Fit` by their keys, in host order, until it
    /// returns true (then returns true). A subtree whose maxima do not
    /// cover `needed` holds no such host and is skipped; one whose minima
    /// do is one run; the rest are split. Hosts `hosts..` are padding.
    fn fit_runs(
        &self,
        node: usize,
        (low, high): (usize, usize),
        hosts: usize,
        needed: Needed,
        emit: &mut dyn FnMut(usize, usize) -> bool,
    ) -> bool {
        if low >= hosts || !self.nodes[node].covers(Want::Fit, needed) {
            return false;
        }
        let (ram, disk) = self.mins[node];
        if node >= self.leaves || (ram >= needed.ram_key && disk >= needed.disk_key) {
            return emit(low, high.min(hosts));
        }
        let middle = (low + high) / 2;
        self.fit_runs(2 * node, (low, middle), hosts, needed, emit)
            || self.fit_runs(2 * node + 1, (middle, high), hosts, needed, emit)
    }

    /// The lowest host at or after `start` whose leaf covers `needed` for
    /// `want` and that `skip` does not exclude, visiting only subtrees
    /// that reach `start` and whose maxima cover `needed`.
    fn first(
        &self,
        want: Want,
        needed: Needed,
        start: usize,
        skip: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        let search = Search {
            want,
            needed,
            start,
            skip,
        };
        self.first_under(1, 0, self.leaves, &search)
    }

    /// `first` within node `node`, whose leaves are hosts `low..high`.
    fn first_under(&self, node: usize, low: usize, high: usize, search: &Search) -> Option<usize> {
        if high <= search.start || !self.nodes[node].covers(search.want, search.needed) {
            return None;
        }
        if node >= self.leaves {
            return (!(search.skip)(low)).then_some(low);
        }
        let middle = (low + high) / 2;
        self.first_under(2 * node, low, middle, search)
            .or_else(|| self.first_under(2 * node + 1, middle, high, search))
    }
}

/// The lowest host in `start..below` that holds the request's image in a
/// class `want` discounts, is not stale, and whose keys cover the RAM and
/// the scratch alone. The holders and the tree's hosts that cover the
/// scratch are walked in step (each jumps to the other's next candidate),
/// so a walk where no host has room costs one tree search, not a visit of
/// every holder: a host that holds the image on every host but has no RAM
/// or slot anywhere is answered at the root.
fn first_holder(
    index: &FitIndex,
    holders: &BTreeMap<u32, ImageClass>,
    want: Want,
    request: &PlacementRequest,
    start: usize,
    below: usize,
    stale: &dyn Fn(usize) -> bool,
) -> Option<usize> {
    let scratch_only = Needed::scratch_only(request);
    let mut from = start;
    while from < below {
        // The first fresh host at or after `from` with room for the scratch.
        let candidate = index.first(want, scratch_only, from, stale)?;
        if candidate >= below {
            return None;
        }
        // The first holder at or after it.
        let (&holder, &class) = holders.range(candidate as u32..).next()?;
        let holder = holder as usize;
        if holder == candidate && want.discounts(class) {
            return Some(holder);
        }
        from = if holder == candidate {
            holder + 1
        } else {
            holder
        };
    }
    None
}

/// The pairwise least of two `(ram, disk)` pairs.
fn min_pair(a: (u64, u64), b: (u64, u64)) -> (u64, u64) {
    (a.0.min(b.0), a.1.min(b.1))
}

/// What `FitIndex::first` looks for.
struct Search<'a> {
    want: Want,
    needed: Needed,
    start: usize,
    skip: &'a dyn Fn(usize) -> bool,
}

/// Where least loaded files a host: its busy containers per slot, compared
/// exactly (`busy_a × slots_b` against `busy_b × slots_a`), ties by host
/// number. Only up hosts with a slot are filed: no other host fits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LoadKey {
    busy: u32,
    slots: u32,
    host: u32,
}

impl LoadKey {
    fn of(host: &Host, number: usize) -> Option<LoadKey> {
        (host.up && host.spec.slots > 0).then_some(LoadKey {
            busy: host.busy_count,
            slots: host.spec.slots,
            host: number as u32,
        })
    }
}

impl Ord for LoadKey {
    fn cmp(&self, other: &LoadKey) -> std::cmp::Ordering {
        let mine = u64::from(self.busy) * u64::from(other.slots);
        let theirs = u64::from(other.busy) * u64::from(self.slots);
        mine.cmp(&theirs).then(self.host.cmp(&other.host))
    }
}

impl PartialOrd for LoadKey {
    fn partial_cmp(&self, other: &LoadKey) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Best fit's key of a host that fits (spec R108): those with the RAM and a
/// slot free come first, by the RAM left after placing; the rest after.
fn best_fit_key(host: &Host, request: &PlacementRequest) -> (bool, u64) {
    match host.ram_free_bytes().checked_sub(request.memory_bytes) {
        Some(left_bytes) if host.slots_free() >= 1 => (false, left_bytes),
        _ => (true, 0),
    }
}

/// The classes `held` records: those some want discounts.
fn tracked(class: ImageClass) -> bool {
    class != ImageClass::Evictable
}

/// Every host's pinned and idle-pinned copies, by image then host.
fn held_of(hosts: &[Host]) -> BTreeMap<ImageId, BTreeMap<u32, ImageClass>> {
    let mut held: BTreeMap<ImageId, BTreeMap<u32, ImageClass>> = BTreeMap::new();
    for (host, h) in hosts.iter().enumerate() {
        for (&image, copy) in &h.images {
            if tracked(copy.class()) {
                held.entry(image)
                    .or_default()
                    .insert(host as u32, copy.class());
            }
        }
    }
    held
}

impl Hosts {
    pub fn new(hosts: Vec<Host>) -> Hosts {
        Hosts::with_index(hosts.len() >= INDEXED_HOSTS_MIN, hosts)
    }

    fn with_index(indexed: bool, hosts: Vec<Host>) -> Hosts {
        let index = indexed.then(|| FitIndex::build(&hosts));
        let orders = index
            .as_ref()
            .map_or_else(Orders::default, |index| Orders::build(&hosts, index));
        let frontier = capacity_frontier(&hosts);
        Hosts {
            frontier,
            ring: OnceLock::new(),
            stale: if indexed {
                vec![false; hosts.len()]
            } else {
                Vec::new()
            },
            stale_list: Vec::new(),
            held: if indexed {
                held_of(&hosts)
            } else {
                BTreeMap::new()
            },
            orders,
            hosts,
            index,
        }
    }

    /// Whether some host has at least `ram_bytes` of RAM and `disk_bytes`
    /// of disk (capacities, not what is free).
    pub fn some_host_has(&self, ram_bytes: u64, disk_bytes: u64) -> bool {
        self.frontier
            .iter()
            .any(|&(ram, disk)| ram >= ram_bytes && disk >= disk_bytes)
    }

    /// Re-keys the hosts changed since the last refresh.
    pub fn refresh(&mut self) {
        let Some(index) = &mut self.index else {
            return;
        };
        for host in self.stale_list.drain(..) {
            let host = host as usize;
            self.stale[host] = false;
            let keys = FitKeys::of(&self.hosts[host]);
            let old_room_ram = index.leaf(host).room_ram;
            self.orders.file_free_ram(host, old_room_ram, keys.room_ram);
            self.orders.file_load(host, &self.hosts[host]);
            index.set(host, keys);
        }
    }

    /// Marks a host about to be written as stale (the first time since the
    /// last refresh). Out of line: most writes find it already marked.
    #[cold]
    #[inline(never)]
    fn mark_stale(&mut self, host: usize) {
        self.stale[host] = true;
        self.stale_list.push(host as u32);
    }

    /// Records that the host's copy of `image` moved from class `before` to
    /// `after` (`None`: no copy). Every change of a copy's class, its
    /// creation and its removal come through here.
    pub fn note_class(
        &mut self,
        host: usize,
        image: ImageId,
        before: Option<ImageClass>,
        after: Option<ImageClass>,
    ) {
        if self.index.is_none() || before == after {
            return;
        }
        let host = host as u32;
        match (before, after) {
            (None, Some(_)) => {
                self.orders.copies.entry(image).or_default().insert(host);
            }
            (Some(_), None) => {
                if let Some(holders) = self.orders.copies.get_mut(&image) {
                    holders.remove(&host);
                    if holders.is_empty() {
                        self.orders.copies.remove(&image);
                    }
                }
            }
            _ => {}
        }
        match after.filter(|&class| tracked(class)) {
            Some(class) => {
                self.held.entry(image).or_default().insert(host, class);
            }
            None => {
                if let Some(holders) = self.held.get_mut(&image) {
                    holders.remove(&host);
                    if holders.is_empty() {
                        self.held.remove(&image);
                    }
                }
            }
        }
    }

    /// The lowest-numbered host where `want`'s predicate holds for
    /// `request` (`Host::fits` or `Host::fits_in_room`): what a scan of
    /// every host finds.
    pub fn first_fit(&self, request: &PlacementRequest, want: Want) -> Option<usize> {
        self.first_fit_from(request, want, 0)
    }

    /// As `first_fit`, among the hosts numbered `start` or more.
    pub fn first_fit_from(
        &self,
        request: &PlacementRequest,
        want: Want,
        start: usize,
    ) -> Option<usize> {
        let holds = |host: usize| match want {
            Want::Fit => self.hosts[host].fits(request),
            Want::Room => self.hosts[host].fits_in_room(request),
        };
        let Some(index) = &self.index else {
            return (start..self.hosts.len()).find(|&host| holds(host));
        };
        let stale = |host: usize| self.stale[host];
        // 1. Hosts that need room for the image too (or have it anyway).
        let mut found = index.first(want, Needed::with_image(request), start, &stale);
        // 2. Discounted holders below that, which need room for the scratch.
        if let Some(holders) = self.held.get(&request.image) {
            let below = found.unwrap_or(self.hosts.len());
            found = first_holder(index, holders, want, request, start, below, &stale).or(found);
        }
        // 3. A stale host's keys may be out of date: check those exactly.
        let stale_found = self
            .stale_list
            .iter()
            .map(|&host| host as usize)
            .filter(|&host| host >= start && found.is_none_or(|found| host < found))
            .filter(|&host| holds(host))
            .min();
        stale_found.or(found)
    }

    /// Best fit (spec R108): among the hosts that fit, the least
    /// `best_fit_key`, then the lowest number. The hosts with the RAM and a
    /// slot free are walked in `by_free_ram` order from the request's RAM
    /// up, and the first that fits is the least of them; if none fits,
    /// every fitting host needs eviction, and first fit's answer is the
    /// lowest of those.
    pub fn best_fit(&self, request: &PlacementRequest) -> Option<usize> {
        let fitting = |host: usize| self.hosts[host].fits(request);
        if self.index.is_none() {
            return (0..self.hosts.len())
                .filter(|&host| fitting(host))
                .min_by_key(|&host| (best_fit_key(&self.hosts[host], request), host));
        }
        let memory_bytes = request.memory_bytes;
        let filed = self
            .orders
            .by_free_ram
            .range((memory_bytes, 0)..)
            .map(|&(_, host)| host as usize)
            .find(|&host| !self.stale[host] && fitting(host));
        let stale = self
            .stale_list
            .iter()
            .map(|&host| host as usize)
            .filter(|&host| fitting(host));
        let best = filed
            .into_iter()
            .chain(stale)
            .map(|host| (best_fit_key(&self.hosts[host], request), host))
            .filter(|&((needs_eviction, _), _)| !needs_eviction)
            .min();
        match best {
            Some((_, host)) => Some(host),
            None => self.first_fit(request, Want::Fit),
        }
    }

    /// Least loaded (spec R108): the fitting host with the least busy
    /// containers per slot, ties to the lowest number: the first fitting
    /// host in `by_load` order, or a stale host before it.
    pub fn least_loaded(&self, request: &PlacementRequest) -> Option<usize> {
        let fitting = |host: usize| self.hosts[host].fits(request);
        let key = |host: usize| LoadKey::of(&self.hosts[host], host);
        if self.index.is_none() {
            return (0..self.hosts.len())
                .filter(|&host| fitting(host))
                .filter_map(key)
                .min()
                .map(|key| key.host as usize);
        }
        let filed = self
            .orders
            .by_load
            .iter()
            .map(|key| key.host as usize)
            .find(|&host| !self.stale[host] && fitting(host));
        let stale = self
            .stale_list
            .iter()
            .map(|&host| host as usize)
            .filter(|&host| fitting(host));
        filed
            .into_iter()
            .chain(stale)
            .filter_map(key)
            .min()
            .map(|key| key.host as usize)
    }

    /// The lowest-numbered host holding the request's image (present or
    /// arriving) that fits: image locality's first choice. Exact whatever
    /// is stale: the copies are filed at once, each candidate is checked by
    /// `fits` itself, and stale holders are checked apart.
    pub fn first_fit_holding(&self, request: &PlacementRequest) -> Option<usize> {
        let fitting = |host: usize| self.hosts[host].fits(request);
        let Some(index) = &self.index else {
            return (0..self.hosts.len()).find(|&host| {
                self.hosts[host].images.contains_key(&request.image) && fitting(host)
            });
        };
        let copies = self.orders.copies.get(&request.image)?;
        let stale = |host: usize| self.stale[host];
        // The copies walked in step with the tree's fresh hosts whose keys
        // cover the RAM and the scratch (which `fits` implies of any
        // holder): full holders cost no visit each.
        let scratch_only = Needed::scratch_only(request);
        let mut found = None;
        let mut from = 0;
        while let Some(candidate) = index.first(Want::Fit, scratch_only, from, &stale) {
            let Some(&holder) = copies.range(candidate as u32..).next() else {
                break;
            };
            let holder = holder as usize;
            if holder == candidate && fitting(holder) {
                found = Some(holder);
                break;
            }
            from = if holder == candidate {
                holder + 1
            } else {
                holder
            };
        }
        // Stale holders, whose keys may be out of date, checked exactly.
        let stale_found = self
            .stale_list
            .iter()
            .map(|&host| host as usize)
            .filter(|&host| found.is_none_or(|found| host < found))
            .filter(|&host| copies.contains(&(host as u32)) && fitting(host))
            .min();
        stale_found.or(found)
    }

    /// Calls `emit(low, high)` on runs of hosts `low..high` that all fit
    /// the request, in host order, together covering exactly the hosts
    /// that fit, until it returns true. Only with an index and no stale
    /// host. The tree gives the hosts that fit with room for the image
    /// too; the image's pinned holders that fit only because they need no
    /// room for it (never in those runs) are merged in, each a run of one.
    fn fitting_runs(&self, request: &PlacementRequest, emit: &mut dyn FnMut(usize, usize) -> bool) {
        let Some(index) = &self.index else {
            bug_unindexed();
        };
        let with_image = Needed::with_image(request);
        let scratch_only = Needed::scratch_only(request);
        let extra: Vec<usize> = self
            .held
            .get(&request.image)
            .into_iter()
            .flatten()
            .filter(|&(_, &class)| Want::Fit.discounts(class))
            .map(|(&host, _)| host as usize)
            .filter(|&host| {
                let leaf = index.leaf(host);
                !leaf.covers(Want::Fit, with_image) && leaf.covers(Want::Fit, scratch_only)
            })
            .collect();
        let mut extra = extra.into_iter().peekable();
        let mut merged = |low: usize, high: usize| -> bool {
            while let Some(host) = extra.next_if(|&host| host < low) {
                if emit(host, host + 1) {
                    return true;
                }
            }
            emit(low, high)
        };
        let all = (0, index.leaves);
        if index.fit_runs(1, all, self.hosts.len(), with_image, &mut merged) {
            return;
        }
        for host in extra {
            if emit(host, host + 1) {
                return;
            }
        }
    }

    /// Whether the index answers the rules that count or enumerate fitting
    /// hosts (`fitting_runs`): it exists and no host is stale (the core
    /// refreshes before every host selection, so in a run it always does).
    fn runs_ready(&self) -> bool {
        self.index.is_some() && self.stale_list.is_empty()
    }

    /// Seeded random's choice: of the hosts that fit, in host order, the
    /// one at index `reduce(hash, how many)`. From the index, two walks of
    /// the runs of fitting hosts (count, then select): O(log hosts) per run,
    /// and hosts that fit lie in few runs unless fitting and full hosts
    /// alternate. Otherwise a scan.
    pub fn fitting_at(&self, request: &PlacementRequest, hash: u64) -> Option<usize> {
        if !self.runs_ready() {
            let fitting: Vec<usize> = (0..self.hosts.len())
                .filter(|&host| self.hosts[host].fits(request))
                .collect();
            if fitting.is_empty() {
                return None;
            }
            return Some(fitting[crate::policies::reduce(hash, fitting.len() as u32) as usize]);
        }
        let mut count = 0usize;
        self.fitting_runs(request, &mut |low, high| {
            count += high - low;
            false
        });
        if count == 0 {
            return None;
        }
        let mut left = crate::policies::reduce(hash, count as u32) as usize;
        let mut chosen = None;
        self.fitting_runs(request, &mut |low, high| {
            if left < high - low {
                chosen = Some(low + left);
                return true;
            }
            left -= high - low;
            false
        });
        chosen
    }

    /// Home invoker's choice: the first host that fits in the probe
    /// `home, home + step, …` (mod the host count; `step` coprime with it).
    /// The first `HOME_PROBES` are probed; past them, with an index, every
    /// fitting host (from its runs) is placed in the probe by the inverse
    /// of the step, and the earliest wins: O(HOME_PROBES + fitting hosts)
    /// where a probe of full hosts would cost O(hosts).
    pub fn first_fit_probing(
        &self,
        request: &PlacementRequest,
        home: u32,
        step: u32,
    ) -> Option<usize> {
        let count = self.hosts.len() as u64;
        if count == 0 {
            return None;
        }
        let (home, step) = (u64::from(home) % count, u64::from(step) % count);
        let probe = |i: u64| {
            ((u128::from(home) + u128::from(i) * u128::from(step)) % u128::from(count)) as usize
        };
        let probes = if self.runs_ready() {
            HOME_PROBES.min(count)
        } else {
            count
        };
        if let Some(i) = (0..probes).find(|&i| self.hosts[probe(i)].fits(request)) {
            return Some(probe(i));
        }
        if probes == count {
            return None;
        }
        // Host h is probe i where h = home + i·step, i = (h − home)·step⁻¹.
        let inverse = modular_inverse(step, count);
        let mut earliest: Option<u64> = None;
        self.fitting_runs(request, &mut |low, high| {
            for host in low as u64..high as u64 {
                let offset = (host + count - home) % count;
                let i = (u128::from(offset) * u128::from(inverse) % u128::from(count)) as u64;
                if earliest.is_none_or(|best| i < best) {
                    earliest = Some(i);
                }
            }
            // None before `probes` fits: nothing can come earlier.
            earliest == Some(probes)
        });
        earliest.map(probe)
    }

    /// Calls `visit` on every host in ring order from `key` (see
    /// `policies::hosts::ring_order`), each once, until it returns true: the
    /// ring's points are walked clockwise from `key`, and a point is a
    /// host's place in the order if it is the host's nearest one
    /// (`ring_distance`). O(log hosts) to start, then O(1) per point.
    pub fn walk_ring(&self, key: u64, visit: &mut dyn FnMut(u32) -> bool) {
        let ring = self.ring.get_or_init(|| ring_of(self.hosts.len()));
        let start = ring.partition_point(|&(point, _)| point < key);
        let mut visited = 0;
        for &(point, host) in ring[start..].iter().chain(&ring[..start]) {
            if point.wrapping_sub(key) != ring_distance(host, key) {
                continue;
            }
            if visit(host) {
                return;
            }
            visited += 1;
            if visited == self.hosts.len() {
                return;
            }
        }
    }

    /// Checks the index against the hosts: every fresh host's keys as
    /// computed now, every inner node the maximum of its children, the
    /// holders as the copies' classes say, the stale list and flags in
    /// agreement. For `check_invariants`.
    pub fn check_index(&self) -> Result<(), String> {
        let Some(index) = &self.index else {
            let orders = &self.orders;
            let ordered = !orders.by_free_ram.is_empty()
                || !orders.by_load.is_empty()
                || !orders.load_keys.is_empty()
                || !orders.copies.is_empty();
            if !self.stale.is_empty()
                || !self.stale_list.is_empty()
                || !self.held.is_empty()
                || ordered
            {
                return Err("hosts without an index track stale hosts or holders".to_string());
            }
            return Ok(());
        };
        if index.leaves < self.hosts.len() || index.nodes.len() != 2 * index.leaves {
            return Err("host index has the wrong size".to_string());
        }
        for (host, h) in self.hosts.iter().enumerate() {
            if !self.stale[host] && index.leaf(host) != FitKeys::of(h) {
                return Err(format!("host index keys of host#{host} are out of date"));
            }
        }
        if index.nodes[index.leaves + self.hosts.len()..]
            .iter()
            .any(|&keys| keys != FitKeys::default())
        {
            return Err("host index has keys past the last host".to_string());
        }
        for node in 1..index.leaves {
            if index.nodes[node] != index.nodes[2 * node].max(index.nodes[2 * node + 1]) {
                return Err(format!(
                    "host index node {node} is not its children's maximum"
                ));
            }
            if index.mins[node] != min_pair(index.mins[2 * node], index.mins[2 * node + 1]) {
                return Err(format!(
                    "host index node {node} is not its children's minimum"
                ));
            }
        }
        let leaf_mins = (0..index.leaves).all(|leaf| {
            let keys = index.nodes[index.leaves + leaf];
            let least = if leaf < self.hosts.len() {
                (keys.fit_ram, keys.fit_disk)
            } else {
                (u64::MAX, u64::MAX)
            };
            index.mins.len() == 2 * index.leaves && index.mins[index.leaves + leaf] == least
        });
        if !leaf_mins {
            return Err("host index minima disagree with its leaves".to_string());
        }
        if self.held != held_of(&self.hosts) {
            return Err("host index holders disagree with the copies' classes".to_string());
        }
        self.check_orders(index)?;
        self.check_ring()?;
        let flagged = self.stale.iter().filter(|&&stale| stale).count();
        let listed_and_flagged = self
            .stale_list
            .iter()
            .all(|&host| self.stale.get(host as usize) == Some(&true));
        if flagged != self.stale_list.len() || !listed_and_flagged {
            return Err("host index stale list disagrees with its flags".to_string());
        }
        Ok(())
    }
}

impl Hosts {
    /// Checks the consistent-hashing ring, if built, against a rebuild.
    fn check_ring(&self) -> Result<(), String> {
        match self.ring.get() {
            Some(ring) if *ring != ring_of(self.hosts.len()) => {
                Err("host index ring disagrees with the hosts' points".to_string())
            }
            _ => Ok(()),
        }
    }

    /// Checks the other rules' orders against the leaves (which
    /// `check_index` checks against the hosts) and the copies.
    fn check_orders(&self, index: &FitIndex) -> Result<(), String> {
        let rebuilt = Orders::build(&self.hosts, index);
        if self.orders.by_free_ram != rebuilt.by_free_ram {
            return Err("host index free-RAM order disagrees with its leaves".to_string());
        }
        if self.orders.copies != rebuilt.copies {
            return Err("host index copies disagree with the hosts' images".to_string());
        }
        for (host, h) in self.hosts.iter().enumerate() {
            if !self.stale[host] && self.orders.load_keys[host] != LoadKey::of(h, host) {
                return Err(format!("host index load of host#{host} is out of date"));
            }
        }
        let filed: BTreeSet<LoadKey> = self.orders.load_keys.iter().flatten().copied().collect();
        if self.orders.by_load != filed || self.orders.load_keys.len() != self.hosts.len() {
            return Err("host index load order disagrees with its keys".to_string());
        }
        Ok(())
    }
}

/// Home invoker's probes before the index is asked (`first_fit_probing`):
/// the home host and a few after it fit unless the hosts are nearly full.
const HOME_PROBES: u64 = 16;

/// `value⁻¹ mod modulus`, for `value` coprime with `modulus` (0 when the
/// modulus is 1): extended Euclid.
fn modular_inverse(value: u64, modulus: u64) -> u64 {
    let (mut old_r, mut r) = (i128::from(value), i128::from(modulus));
    let (mut old_s, mut s) = (1i128, 0i128);
    while r != 0 {
        let quotient = old_r / r;
        (old_r, r) = (r, old_r - quotient * r);
        (old_s, s) = (s, old_s - quotient * s);
    }
    old_s.rem_euclid(i128::from(modulus)) as u64
}

/// Consistent hashing's ring for `hosts` hosts: every host's points,
/// `(point, host)`, sorted, duplicates dropped.
fn ring_of(hosts: usize) -> Vec<(u64, u32)> {
    let mut ring: Vec<(u64, u32)> = (0..hosts as u32)
        .flat_map(|host| (0..RING_POINTS_PER_HOST).map(move |v| (ring_point(host, v), host)))
        .collect();
    ring.sort_unstable();
    ring.dedup();
    ring
}

/// `fitting_runs` without an index: a bug in the caller.
#[cold]
fn bug_unindexed() -> ! {
    crate::state::bug("fitting runs asked of hosts without an index")
}

/// The capacity pairs not dominated by another host's (see
/// `Hosts::frontier`).
fn capacity_frontier(hosts: &[Host]) -> Vec<(u64, u64)> {
    let mut pairs: Vec<(u64, u64)> = hosts
        .iter()
        .map(|h| (h.spec.ram_bytes, h.spec.disk_bytes))
        .collect();
    // By RAM descending, disk descending: a pair is on the frontier iff its
    // disk beats every pair before it (each of which has at least its RAM).
    pairs.sort_unstable_by(|a, b| b.cmp(a));
    let mut frontier: Vec<(u64, u64)> = Vec::new();
    for pair in pairs {
        if frontier.last().is_none_or(|&(_, disk)| pair.1 > disk) {
            frontier.push(pair);
        }
    }
    frontier
}

impl std::ops::Deref for Hosts {
    type Target = [Host];

    fn deref(&self) -> &[Host] {
        &self.hosts
    }
}

impl std::ops::Index<usize> for Hosts {
    type Output = Host;

    fn index(&self, host: usize) -> &Host {
        &self.hosts[host]
    }
}

impl std::ops::IndexMut<usize> for Hosts {
    /// Every write to a host comes through here, and marks it stale.
    #[inline]
    fn index_mut(&mut self, host: usize) -> &mut Host {
        if self.index.is_some() && !self.stale[host] {
            self.mark_stale(host);
        }
        &mut self.hosts[host]
    }
}

/// Equal when the hosts are: the index is derived from them.
impl PartialEq for Hosts {
    fn eq(&self, other: &Hosts) -> bool {
        self.hosts == other.hosts
    }
}

impl Eq for Hosts {}

/// Serialized as the list of hosts alone; the index is rebuilt on restore.
impl Serialize for Hosts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.hosts.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Hosts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Hosts, D::Error> {
        Ok(Hosts::new(Vec::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HostSpec;
    use crate::ids::{FunctionId, HostId, InvocationId};
    use crate::state::HostImage;

    /// The images of these tests: image `k` has `IMAGE_BYTES[k]` bytes.
    const IMAGE_BYTES: [u64; 3] = [50, 120, 200];

    fn request(memory_bytes: u64, scratch_bytes: u64) -> PlacementRequest {
        request_for(0, memory_bytes, scratch_bytes)
    }

    fn request_for(image: usize, memory_bytes: u64, scratch_bytes: u64) -> PlacementRequest {
        PlacementRequest {
            invocation: Some(InvocationId::from_bits(0)),
            function: FunctionId::from_bits(0),
            image: ImageId::from_bits(image as u64),
            image_bytes: IMAGE_BYTES[image],
            memory_bytes,
            scratch_bytes,
        }
    }

    fn spec() -> HostSpec {
        HostSpec::new(1_000, 2, 1_000, 1)
    }

    fn hosts(count: usize) -> Hosts {
        // Indexed at any count, so small cases test the index.
        Hosts::with_index(true, vec![Host::new(spec()); count])
    }

    /// What each want means: the scan the index replaces.
    fn scan(hosts: &Hosts, request: &PlacementRequest, want: Want) -> Option<usize> {
        (0..hosts.len()).find(|&i| match want {
            Want::Fit => hosts[i].fits(request),
            Want::Room => hosts[i].fits_in_room(request),
        })
    }

    /// Gives host `i` a copy of image `k` in `class` (`None`: no copy),
    /// keeping the host's totals and the index's holders as the core does.
    fn set_copy(hosts: &mut Hosts, i: usize, k: usize, class: Option<ImageClass>) {
        let image = ImageId::from_bits(k as u64);
        let size = IMAGE_BYTES[k];
        let before = hosts[i].images.get(&image).map(HostImage::class);
        let h = &mut hosts[i];
        if let Some(copy) = h.images.remove(&image) {
            h.disk_used_bytes -= size;
            match copy.class() {
                ImageClass::Pinned => {}
                ImageClass::IdlePinned => h.idle_pinned_image_bytes -= size,
                ImageClass::Evictable => h.evictable_image_bytes -= size,
            }
        }
        if let Some(class) = class {
            let (arriving, pins_busy, pins_idle) = match class {
                ImageClass::Pinned => (false, 1, 0),
                ImageClass::IdlePinned => (false, 0, 1),
                ImageClass::Evictable => (false, 0, 0),
            };
            h.disk_used_bytes += size;
            match class {
                ImageClass::Pinned => {}
                ImageClass::IdlePinned => h.idle_pinned_image_bytes += size,
                ImageClass::Evictable => h.evictable_image_bytes += size,
            }
            h.images.insert(
                image,
                HostImage {
                    size_bytes: size,
                    arriving,
                    waiting: Vec::new(),
                    pins_busy,
                    pins_idle,
                    first_stored_us: 0,
                    last_used_us: 0,
                    uses: 0,
                    evict_key: None,
                    copy_attempt: 1,
                },
            );
        }
        hosts.note_class(i, image, before, class);
    }

    #[test]
    fn finds_the_lowest_host_with_room_past_full_ones() {
        let mut hosts = hosts(5);
        for i in 0..3 {
            hosts[i].ram_used_bytes = 900;
        }
        hosts[3].slots_used = 2;
        hosts.refresh();
        for want in [Want::Fit, Want::Room] {
            assert_eq!(hosts.first_fit(&request(100, 0), want), Some(0));
            assert_eq!(hosts.first_fit(&request(101, 0), want), Some(4));
        }
        hosts[4].up = false;
        hosts.refresh();
        assert_eq!(hosts.first_fit(&request(101, 0), Want::Fit), None);
        assert_eq!(hosts.check_index(), Ok(()));
    }

    #[test]
    fn idle_containers_count_as_room_to_fit_but_not_as_room() {
        let mut hosts = hosts(3);
        hosts[0].slots_used = 2;
        hosts[0].ram_used_bytes = 1_000;
        hosts.refresh();
        assert_eq!(hosts.first_fit(&request(500, 0), Want::Fit), Some(1));
        hosts[0].idle_count = 1;
        hosts[0].idle_ram_bytes = 500;
        hosts.refresh();
        assert_eq!(hosts.first_fit(&request(500, 0), Want::Fit), Some(0));
        assert_eq!(hosts.first_fit(&request(501, 0), Want::Fit), Some(1));
        // Taking host 0 would evict its idle container: room is on host 1.
        assert_eq!(hosts.first_fit(&request(500, 0), Want::Room), Some(1));
        assert_eq!(hosts.check_index(), Ok(()));
    }

    /// A host short of disk for the image but holding it pinned needs
    /// room for the scratch alone; so does one holding it idle-pinned, for
    /// room (the copy stays) — for fit its bytes count as reclaimable and
    /// are kept, so it needs room for them too.
    #[test]
    fn a_held_image_needs_no_room_of_its_own() {
        let mut hosts = hosts(4);
        // Disks of 1,000 bytes; scratch in use (host 1's held by an idle
        // container), then image 2's copy (200 bytes) on hosts 1 to 3.
        for (i, scratch_bytes) in [800, 700, 600, 700].into_iter().enumerate() {
            hosts[i].disk_used_bytes = scratch_bytes;
        }
        hosts[1].idle_count = 1;
        hosts[1].slots_used = 1;
        hosts[1].idle_scratch_bytes = 100;
        set_copy(&mut hosts, 1, 2, Some(ImageClass::IdlePinned));
        set_copy(&mut hosts, 2, 2, Some(ImageClass::Pinned));
        set_copy(&mut hosts, 3, 2, Some(ImageClass::Evictable));
        hosts.refresh();
        // 150 bytes of scratch: host 0 (200 free) lacks room for the image
        // too; host 1 (100 free) has it once its idle container goes; host
        // 2 (200 free) has it now; host 3 (100 free) keeps its copy, so
        // has no more.
        let wanted = request_for(2, 10, 150);
        assert_eq!(hosts.first_fit(&wanted, Want::Fit), Some(1));
        assert_eq!(hosts.first_fit(&wanted, Want::Room), Some(2));
        for want in [Want::Fit, Want::Room] {
            assert_eq!(hosts.first_fit(&wanted, want), scan(&hosts, &wanted, want));
        }
        assert_eq!(hosts.check_index(), Ok(()));
        for i in 1..4 {
            set_copy(&mut hosts, i, 2, None);
        }
        assert!(hosts.held.is_empty());
        assert_eq!(hosts.check_index(), Ok(()));
    }

    /// Holders of the image that have no room alternate with hosts that
    /// have room for the scratch but not the image: the walk in step of
    /// the holders and the tree (`first_holder`) skips both kinds to the
    /// one host that holds the image and has room, from every start, and
    /// answers none once the start is past it.
    #[test]
    fn holders_without_room_are_skipped_to_the_one_with_room() {
        let count = 64;
        let mut hosts = hosts(count);
        for i in 0..count {
            if i % 2 == 1 {
                // Image 2 (200 bytes) held idle-pinned, every slot busy.
                hosts[i].disk_used_bytes = 700;
                set_copy(&mut hosts, i, 2, Some(ImageClass::IdlePinned));
                if i != count - 1 {
                    hosts[i].slots_used = 2;
                    hosts[i].busy_count = 2;
                }
            } else {
                // Room for 100 bytes of scratch, not for the image too.
                hosts[i].disk_used_bytes = 900;
            }
        }
        hosts.refresh();
        let wanted = request_for(2, 10, 50);
        for start in [0, 1, 2, 31, 62, 63] {
            assert_eq!(hosts.first_fit_from(&wanted, Want::Room, start), Some(63));
            assert_eq!(all_agree(&hosts, &wanted, start), Ok(()));
        }
        // For fit the idle-pinned copy's bytes are reclaimable, not
        // discounted: the tree's first part finds host 63 alike.
        assert_eq!(hosts.first_fit(&wanted, Want::Fit), Some(63));
        // Image locality walks the copies in step with the tree alike.
        assert_eq!(hosts.first_fit_holding(&wanted), Some(63));
        hosts[63].slots_used = 2;
        hosts[63].busy_count = 2;
        hosts.refresh();
        assert_eq!(hosts.first_fit(&wanted, Want::Room), None);
        assert_eq!(hosts.first_fit(&wanted, Want::Fit), None);
        assert_eq!(hosts.first_fit_holding(&wanted), None);
        assert_eq!(all_agree(&hosts, &wanted, 0), Ok(()));
    }

    #[test]
    fn stale_hosts_are_answered_before_a_refresh() {
        let mut hosts = hosts(4);
        for i in 0..4 {
            hosts[i].ram_used_bytes = 1_000;
        }
        hosts.refresh();
        assert_eq!(hosts.first_fit(&request(1, 0), Want::Room), None);
        // Written, not yet refreshed: the index still says full.
        hosts[2].ram_used_bytes = 0;
        hosts[1].ram_used_bytes = 0;
        assert_eq!(hosts.first_fit(&request(1, 0), Want::Room), Some(1));
        assert!(hosts.check_index().is_ok());
        hosts.refresh();
        assert_eq!(hosts.first_fit(&request(1, 0), Want::Room), Some(1));
        assert_eq!(hosts.check_index(), Ok(()));
    }

    /// A random host state: use within capacity, some of it idle, up or
    /// down, and a copy of each image in a random class or none.
    fn randomize(hosts: &mut Hosts, i: usize, next: &mut impl FnMut(u64) -> u64) {
        for k in 0..IMAGE_BYTES.len() {
            let class = match next(4) {
                0 => Some(ImageClass::Pinned),
                1 => Some(ImageClass::IdlePinned),
                2 => Some(ImageClass::Evictable),
                _ => None,
            };
            set_copy(hosts, i, k, class);
        }
        let copies_bytes: u64 = hosts[i].images.values().map(|c| c.size_bytes).sum();
        let h = &mut hosts[i];
        h.ram_used_bytes = next(1_001);
        h.idle_ram_bytes = next(h.ram_used_bytes + 1);
        h.slots_used = next(3) as u32;
        h.idle_count = next(u64::from(h.slots_used) + 1) as u32;
        h.busy_count = h.slots_used - h.idle_count;
        let scratch_bytes = next(1_001 - copies_bytes);
        h.idle_scratch_bytes = next(scratch_bytes + 1);
        h.disk_used_bytes = copies_bytes + scratch_bytes;
        h.up = next(10) != 0;
    }

    /// The index answers both wants as a scan does, with images held in
    /// every class, through writes, refreshes and stale hosts.
    #[test]
    fn agrees_with_a_scan_on_pseudo_random_hosts() {
        let mut state = 1u64;
        let mut next = |bound: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % bound
        };
        for count in [1usize, 7, 20] {
            let mut hosts = hosts(count);
            for round in 0..3_000 {
                let i = next(count as u64) as usize;
                randomize(&mut hosts, i, &mut next);
                if round % 3 == 0 {
                    hosts.refresh();
                }
                let wanted = request_for(next(3) as usize, next(1_001), next(1_001));
                let start = next(count as u64) as usize;
                assert_eq!(all_agree(&hosts, &wanted, start), Ok(()));
            }
        }
    }

    #[test]
    fn a_stale_fresh_host_is_caught_by_the_check() {
        let mut hosts = hosts(3);
        hosts[1].ram_used_bytes = 500;
        hosts.refresh();
        // Tamper past the marking, as a bug writing around `IndexMut` would.
        hosts.hosts[1].ram_used_bytes = 0;
        assert!(hosts.check_index().is_err());
    }

    #[test]
    fn few_hosts_are_scanned_without_an_index() {
        let mut few = Hosts::new(vec![Host::new(spec()); INDEXED_HOSTS_MIN - 1]);
        assert!(few.index.is_none());
        few[0].ram_used_bytes = 1_000;
        assert!(few.stale_list.is_empty());
        assert_eq!(few.first_fit(&request(1, 0), Want::Fit), Some(1));
        assert_eq!(few.check_index(), Ok(()));
        let many = Hosts::new(vec![Host::new(spec()); INDEXED_HOSTS_MIN]);
        assert!(many.index.is_some());
    }

    /// `check_index` (run by `check_invariants`) reports each way the
    /// index can disagree with the hosts. The index is rebuilt on restore,
    /// so a tampered snapshot cannot reach it: corrupt it here.
    #[test]
    fn check_index_catches_a_corrupted_index() {
        let caught = |hosts: &Hosts, words: &str| match hosts.check_index() {
            Ok(()) => panic!("not caught: {words}"),
            Err(problem) => assert!(problem.contains(words), "{problem}"),
        };
        let mut few = Hosts::with_index(false, hosts(2).hosts);
        few.stale_list.push(0);
        caught(&few, "without an index");
        let mut short = hosts(3);
        short.index.as_mut().expect("indexed").nodes.pop();
        caught(&short, "wrong size");
        let mut unlisted = hosts(3);
        unlisted.stale[1] = true;
        caught(&unlisted, "stale list");
        let mut unflagged = hosts(3);
        unflagged.stale_list.push(2);
        caught(&unflagged, "stale list");
        let mut wrong_keys = hosts(3);
        wrong_keys
            .index
            .as_mut()
            .expect("indexed")
            .set(1, FitKeys::default());
        caught(&wrong_keys, "out of date");
        let mut wrong_min = hosts(3);
        wrong_min.index.as_mut().expect("indexed").mins[1] = (0, 0);
        caught(&wrong_min, "minimum");
        let mut wrong_leaf_min = hosts(3);
        let index = wrong_leaf_min.index.as_mut().expect("indexed");
        let last = index.mins.len() - 1;
        index.mins[last] = (0, 0);
        caught(&wrong_leaf_min, "minim");
        let bent = hosts(3);
        bent.walk_ring(0, &mut |_| true);
        let mut bent = bent.clone();
        bent.ring = OnceLock::from(vec![(0, 0)]);
        caught(&bent, "ring");
        let mut unheld = hosts(3);
        set_copy(&mut unheld, 1, 0, Some(ImageClass::Pinned));
        unheld.held.clear();
        caught(&unheld, "holders");
        let mut misclassed = hosts(3);
        set_copy(&mut misclassed, 1, 0, Some(ImageClass::Pinned));
        misclassed.held.values_mut().for_each(|holders| {
            holders
                .values_mut()
                .for_each(|c| *c = ImageClass::IdlePinned)
        });
        caught(&misclassed, "holders");
    }

    #[test]
    fn serializes_as_the_hosts_and_rebuilds_the_index() {
        let mut hosts = hosts(INDEXED_HOSTS_MIN);
        hosts[2].ram_used_bytes = 7;
        set_copy(&mut hosts, 3, 1, Some(ImageClass::IdlePinned));
        let json = serde_json::to_string(&hosts).expect("serializes");
        let plain = serde_json::to_string(&hosts.hosts).expect("serializes");
        assert_eq!(json, plain);
        let restored: Hosts = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(restored, hosts);
        // Equality is the hosts' (the index is derived): a changed host is
        // a different value.
        let mut changed = restored.clone();
        changed[0].ram_used_bytes += 1;
        assert_ne!(changed, hosts);
        assert_eq!(restored.check_index(), Ok(()));
        assert_eq!(restored.held, hosts.held);
        assert_eq!(restored.stale_list, Vec::<u32>::new());
    }

    /// Best fit as R108 words it: the fitting host with the least
    /// `(needs_eviction, left_bytes, host)`.
    fn scan_best_fit(hosts: &Hosts, request: &PlacementRequest) -> Option<usize> {
        (0..hosts.len())
            .filter(|&i| hosts[i].fits(request))
            .min_by_key(|&i| {
                let h = &hosts[i];
                let free = h.spec.ram_bytes - h.ram_used_bytes;
                match free.checked_sub(request.memory_bytes) {
                    Some(left) if h.slots_used < h.spec.slots => (false, left, i),
                    _ => (true, 0, i),
                }
            })
    }

    /// Least loaded as R108 words it: the first fitting host with strictly
    /// less `busy / slots` than every one before it.
    fn scan_least_loaded(hosts: &Hosts, request: &PlacementRequest) -> Option<usize> {
        let mut best: Option<(usize, u64, u64)> = None;
        for i in (0..hosts.len()).filter(|&i| hosts[i].fits(request)) {
            let (busy, slots) = (
                u64::from(hosts[i].busy_count),
                u64::from(hosts[i].spec.slots),
            );
            if best.is_none_or(|(_, b, s)| busy * s < b * slots) {
                best = Some((i, busy, slots));
            }
        }
        best.map(|(i, _, _)| i)
    }

    /// Image locality's first choice: the lowest fitting holder.
    fn scan_holding(hosts: &Hosts, request: &PlacementRequest) -> Option<usize> {
        (0..hosts.len())
            .find(|&i| hosts[i].images.contains_key(&request.image) && hosts[i].fits(request))
    }

    /// Every query the index answers against its scan.
    fn all_agree(hosts: &Hosts, request: &PlacementRequest, start: usize) -> Result<(), String> {
        let check = |what: &str, index: Option<usize>, scan: Option<usize>| {
            if index == scan {
                Ok(())
            } else {
                Err(format!(
                    "{what}: index {index:?}, scan {scan:?}, {request:?}"
                ))
            }
        };
        for want in [Want::Fit, Want::Room] {
            check(
                "first",
                hosts.first_fit(request, want),
                scan(hosts, request, want),
            )?;
        }
        let from = (start..hosts.len()).find(|&i| hosts[i].fits(request));
        check(
            "from",
            hosts.first_fit_from(request, Want::Fit, start),
            from,
        )?;
        check(
            "best fit",
            hosts.best_fit(request),
            scan_best_fit(hosts, request),
        )?;
        let least = scan_least_loaded(hosts, request);
        check("least loaded", hosts.least_loaded(request), least)?;
        let holding = scan_holding(hosts, request);
        check("holding", hosts.first_fit_holding(request), holding)?;
        let fitting: Vec<usize> = (0..hosts.len())
            .filter(|&i| hosts[i].fits(request))
            .collect();
        // Hashes at both ends and between: every position among the fitting.
        let salt = request.memory_bytes ^ (request.scratch_bytes << 20) ^ start as u64;
        for hash in [0, u64::MAX, 1 << 63, crate::policies::hash64(salt, 0)] {
            let at = (!fitting.is_empty())
                .then(|| fitting[crate::policies::reduce(hash, fitting.len() as u32) as usize]);
            check("at", hosts.fitting_at(request, hash), at)?;
        }
        let count = hosts.len() as u32;
        let home = start as u32;
        let step = crate::policies::hosts::coprime_step(salt, count) as u32;
        let probed = (0..u64::from(count))
            .map(|i| ((u64::from(home) + i * u64::from(step)) % u64::from(count)) as usize)
            .find(|&i| hosts[i].fits(request));
        check(
            "probe",
            hosts.first_fit_probing(request, home, step),
            probed,
        )?;
        let key = crate::policies::hash64(salt, 1);
        let mut walked = Vec::new();
        hosts.walk_ring(key, &mut |host| {
            walked.push(HostId(host));
            false
        });
        if walked != crate::policies::hosts::ring_order(count, key) {
            return Err(format!("ring: walked {walked:?} from {key}"));
        }
        hosts.check_index()
    }

    /// The ring walk stops where its visitor says, and starts at the host
    /// whose point is nearest clockwise, wrapping past the top.
    #[test]
    fn the_ring_walk_stops_and_wraps() {
        let hosts = hosts(5);
        for key in [0, u64::MAX, 1 << 63] {
            let mut first = None;
            hosts.walk_ring(key, &mut |host| {
                first = Some(host);
                true
            });
            let nearest = (0..5).min_by_key(|&h| (ring_distance(h, key), h));
            assert_eq!(first, nearest);
        }
        assert_eq!(hosts.check_index(), Ok(()));
    }

    /// Seeded random counts and picks from runs of fitting hosts, and
    /// home invoker places fitting hosts in its probe by the step's
    /// inverse past its first probes: checked where most hosts are full,
    /// so the probes run out, at a size past `HOME_PROBES`.
    #[test]
    fn runs_answer_past_the_probes_on_nearly_full_hosts() {
        let mut hosts = hosts(100);
        for i in 0..100 {
            if i % 37 != 5 {
                hosts[i].slots_used = 2;
            }
        }
        hosts.refresh();
        let wanted = request(10, 0);
        // Hosts 5, 42 and 79 fit.
        for (hash, host) in [(0, 5), (u64::MAX, 79), (1 << 63, 42)] {
            assert_eq!(hosts.fitting_at(&wanted, hash), Some(host));
        }
        for (home, step) in [(0, 1), (43, 1), (80, 3), (6, 99), (99, 7)] {
            let probed = (0..100u64)
                .map(|i| ((home + i * step) % 100) as usize)
                .find(|&i| hosts[i].fits(&wanted));
            assert_eq!(
                hosts.first_fit_probing(&wanted, home as u32, step as u32),
                probed
            );
        }
        assert_eq!(modular_inverse(3, 100), 67);
        assert_eq!(modular_inverse(1, 1), 0);
        assert_eq!(hosts.check_index(), Ok(()));
    }

    /// A pseudo-random stream from a seed, for `randomize`.
    fn stream(mut state: u64) -> impl FnMut(u64) -> u64 {
        move |bound: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % bound
        }
    }

    proptest::proptest! {
        /// The index answers first fit and room first as the scans do:
        /// hosts rewritten one at a time (copies in every class, idle
        /// containers, hosts down), refreshed or left stale, and a request
        /// asked after each write.
        #[test]
        fn the_index_answers_as_a_scan(
            count in 1usize..40,
            writes in proptest::collection::vec(
                (0usize..40, proptest::prelude::any::<u64>(), proptest::prelude::any::<bool>(),
                 0usize..3, 0u64..1_001, 0u64..1_001),
                1..60,
            ),
        ) {
            let mut hosts = hosts(count);
            for (host, seed, refresh, image, memory_bytes, scratch_bytes) in writes {
                randomize(&mut hosts, host % count, &mut stream(seed));
                if refresh {
                    hosts.refresh();
                }
                let wanted = request_for(image, memory_bytes, scratch_bytes);
                let start = (seed % count as u64) as usize;
                proptest::prop_assert_eq!(all_agree(&hosts, &wanted, start), Ok(()));
            }
        }

        /// The capacity frontier answers what a pass over every host
        /// answers, and keeps only pairs no other host dominates.
        #[test]
        fn the_capacity_frontier_answers_as_a_scan(
            specs in proptest::collection::vec((1u64..6, 1u64..6), 1..30),
            queries in proptest::collection::vec((0u64..7, 0u64..7), 1..20),
        ) {
            let hosts = Hosts::new(
                specs
                    .iter()
                    .map(|&(ram_bytes, disk_bytes)| {
                        Host::new(HostSpec::new(ram_bytes, 1, disk_bytes, 1))
                    })
                    .collect(),
            );
            for (ram, disk) in queries {
                let scan = specs.iter().any(|&(r, d)| r >= ram && d >= disk);
                proptest::prop_assert_eq!(hosts.some_host_has(ram, disk), scan);
            }
            for &(ram, disk) in &hosts.frontier {
                let dominated = specs
                    .iter()
                    .any(|&(r, d)| r >= ram && d >= disk && (r, d) != (ram, disk));
                proptest::prop_assert!(!dominated);
            }
        }
    }
}
