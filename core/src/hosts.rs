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
use crate::policy::PlacementRequest;
use crate::state::{Host, ImageClass};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

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
    /// The hosts' `(ram_bytes, disk_bytes)` capacities that no other host
    /// has both of at least (the Pareto frontier), by RAM descending (so
    /// disk ascending): what registration asks of the hosts (R39, R41),
    /// answered without a pass over every host. Capacities never change.
    frontier: Vec<(u64, u64)>,
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
}

impl FitIndex {
    fn build(hosts: &[Host]) -> FitIndex {
        let leaves = hosts.len().next_power_of_two();
        let mut nodes = vec![FitKeys::default(); 2 * leaves];
        for (i, host) in hosts.iter().enumerate() {
            nodes[leaves + i] = FitKeys::of(host);
        }
        for node in (1..leaves).rev() {
            nodes[node] = nodes[2 * node].max(nodes[2 * node + 1]);
        }
        FitIndex { leaves, nodes }
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
        while node > 1 {
            node /= 2;
            let keys = self.nodes[2 * node].max(self.nodes[2 * node + 1]);
            if self.nodes[node] == keys {
                break;
            }
            self.nodes[node] = keys;
        }
    }

    /// The lowest host whose leaf covers `needed` for `want` and that
    /// `skip` does not exclude, visiting only subtrees whose maxima cover
    /// `needed`.
    fn first(&self, want: Want, needed: Needed, skip: &dyn Fn(usize) -> bool) -> Option<usize> {
        self.first_under(1, want, needed, skip)
    }

    fn first_under(
        &self,
        node: usize,
        want: Want,
        needed: Needed,
        skip: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        if !self.nodes[node].covers(want, needed) {
            return None;
        }
        if node >= self.leaves {
            let host = node - self.leaves;
            return (!skip(host)).then_some(host);
        }
        self.first_under(2 * node, want, needed, skip)
            .or_else(|| self.first_under(2 * node + 1, want, needed, skip))
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
        let frontier = capacity_frontier(&hosts);
        Hosts {
            frontier,
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
            index.set(host, FitKeys::of(&self.hosts[host]));
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
        let holds = |host: usize| match want {
            Want::Fit => self.hosts[host].fits(request),
            Want::Room => self.hosts[host].fits_in_room(request),
        };
        let Some(index) = &self.index else {
            return (0..self.hosts.len()).find(|&host| holds(host));
        };
        let stale = |host: usize| self.stale[host];
        // 1. Hosts that need room for the image too (or have it anyway).
        let mut found = index.first(want, Needed::with_image(request), &stale);
        // 2. Discounted holders below that, which need room for the scratch.
        if let Some(holders) = self.held.get(&request.image) {
            let scratch_only = Needed::scratch_only(request);
            let below = found.map_or(u32::MAX, |found| found as u32);
            found = holders
                .range(..below)
                .map(|(&host, &class)| (host as usize, class))
                .find(|&(host, class)| {
                    want.discounts(class)
                        && !stale(host)
                        && index.leaf(host).covers(want, scratch_only)
                })
                .map(|(host, _)| host)
                .or(found);
        }
        // 3. A stale host's keys may be out of date: check those exactly.
        let stale_found = self
            .stale_list
            .iter()
            .map(|&host| host as usize)
            .filter(|&host| found.is_none_or(|found| host < found))
            .filter(|&host| holds(host))
            .min();
        stale_found.or(found)
    }

    /// Checks the index against the hosts: every fresh host's keys as
    /// computed now, every inner node the maximum of its children, the
    /// holders as the copies' classes say, the stale list and flags in
    /// agreement. For `check_invariants`.
    pub fn check_index(&self) -> Result<(), String> {
        let Some(index) = &self.index else {
            if !self.stale.is_empty() || !self.stale_list.is_empty() || !self.held.is_empty() {
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
        }
        if self.held != held_of(&self.hosts) {
            return Err("host index holders disagree with the copies' classes".to_string());
        }
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
    use crate::ids::{FunctionId, InvocationId};
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
        HostSpec {
            ram_bytes: 1_000,
            slots: 2,
            disk_bytes: 1_000,
            copy_bytes_per_s: 1,
        }
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
                for want in [Want::Fit, Want::Room] {
                    assert_eq!(
                        hosts.first_fit(&wanted, want),
                        scan(&hosts, &wanted, want),
                        "{want:?} {wanted:?}"
                    );
                }
                assert_eq!(hosts.check_index(), Ok(()));
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
                for want in [Want::Fit, Want::Room] {
                    proptest::prop_assert_eq!(
                        hosts.first_fit(&wanted, want),
                        scan(&hosts, &wanted, want)
                    );
                }
                proptest::prop_assert_eq!(hosts.check_index(), Ok(()));
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
                        Host::new(HostSpec { ram_bytes, slots: 1, disk_bytes, copy_bytes_per_s: 1 })
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
