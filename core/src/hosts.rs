//! The hosts, and an index that answers first fit ("the lowest-numbered host
//! where `fits` holds") in O(log hosts) instead of a scan of every host.
//!
//! `Hosts` derefs to `[Host]` for reading; writing goes through
//! `IndexMut` (`core.hosts[i].ram_used_bytes += …`), which marks host `i`
//! stale. Stale hosts are re-keyed in a batch by `refresh` (called before a
//! host-selection policy runs), so a step that touches a host many times
//! pays for one update.
//!
//! The index is a segment tree over two necessary conditions of `fits`:
//! enough reclaimable RAM with a reclaimable slot, and enough reclaimable
//! disk for the container's scratch. A subtree whose maxima fail either
//! holds no host that fits, so the search skips it; a leaf that passes is
//! confirmed by the exact `fits`. The answer is the scan's answer, always:
//! stale hosts (whose keys may be out of date) are checked by `fits` apart,
//! and the lowest fitting host of either kind wins. The index is derived
//! state: it is neither serialized nor compared, and is rebuilt on restore.
//!
//! Up to `INDEXED_HOSTS_MIN - 1` hosts there is no index: a scan of a few
//! hosts costs less than keeping one (the default scenario, with 4 hosts,
//! would pay about 3% more instructions per invocation for it).

use crate::policy::PlacementRequest;
use crate::state::Host;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The fewest hosts for which first fit is answered from the index.
pub(crate) const INDEXED_HOSTS_MIN: usize = 17;

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
    /// The hosts' `(ram_bytes, disk_bytes)` capacities that no other host
    /// has both of at least (the Pareto frontier), by RAM descending (so
    /// disk ascending): what registration asks of the hosts (R39, R41),
    /// answered without a pass over every host. Capacities never change.
    frontier: Vec<(u64, u64)>,
}

/// What the index keeps of a host: each key is 0 when the condition cannot
/// hold for any request, else the reclaimable amount plus one (so that a
/// request needing nothing still needs a key of at least 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
struct FitKeys {
    /// Up, with a slot free or held by an idle container: RAM free plus
    /// RAM held by idle containers, plus one.
    ram_key: u64,
    /// Up: disk free plus what evicting idle containers and unpinned
    /// images would free, plus one. An upper bound of what `fits` counts
    /// (it leaves out the target image's own copy).
    disk_key: u64,
}

impl FitKeys {
    fn of(host: &Host) -> FitKeys {
        if !host.up {
            return FitKeys::default();
        }
        let slot_reclaimable = host.slots_free() + host.idle_count >= 1;
        let ram_key = if slot_reclaimable {
            host.ram_free_bytes() + host.idle_ram_bytes + 1
        } else {
            0
        };
        let disk_key = host.disk_free_bytes()
            + host.idle_scratch_bytes
            + host.evictable_image_bytes
            + host.idle_pinned_image_bytes
            + 1;
        FitKeys { ram_key, disk_key }
    }

    /// The keys a host needs to possibly fit `request`.
    fn needed(request: &PlacementRequest) -> FitKeys {
        FitKeys {
            ram_key: request.memory_bytes + 1,
            disk_key: request.scratch_bytes + 1,
        }
    }

    fn max(self, other: FitKeys) -> FitKeys {
        FitKeys {
            ram_key: self.ram_key.max(other.ram_key),
            disk_key: self.disk_key.max(other.disk_key),
        }
    }

    fn covers(self, needed: FitKeys) -> bool {
        self.ram_key >= needed.ram_key && self.disk_key >= needed.disk_key
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

    /// The lowest host whose leaf covers `needed` and for which `fits`
    /// holds, visiting only subtrees whose maxima cover `needed`.
    fn first(&self, needed: FitKeys, fits: &mut dyn FnMut(usize) -> bool) -> Option<usize> {
        self.first_under(1, needed, fits)
    }

    fn first_under(
        &self,
        node: usize,
        needed: FitKeys,
        fits: &mut dyn FnMut(usize) -> bool,
    ) -> Option<usize> {
        if !self.nodes[node].covers(needed) {
            return None;
        }
        if node >= self.leaves {
            let host = node - self.leaves;
            return fits(host).then_some(host);
        }
        self.first_under(2 * node, needed, fits)
            .or_else(|| self.first_under(2 * node + 1, needed, fits))
    }
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

    /// The lowest-numbered host for which `fits` holds (`fits` being
    /// `HostView::fits` for `request`): what a scan of every host finds.
    pub fn first_fit(
        &self,
        request: &PlacementRequest,
        mut fits: impl FnMut(usize) -> bool,
    ) -> Option<usize> {
        let Some(index) = &self.index else {
            return (0..self.hosts.len()).find(|&host| fits(host));
        };
        let found = index.first(FitKeys::needed(request), &mut |host| fits(host));
        // A stale host's keys may understate it: check those exactly.
        let stale_found = self
            .stale_list
            .iter()
            .map(|&host| host as usize)
            .filter(|&host| found.is_none_or(|found| host < found))
            .filter(|&host| fits(host))
            .min();
        stale_found.or(found)
    }

    /// Checks the index against the hosts: every fresh host's keys as
    /// computed now, every inner node the maximum of its children, the
    /// stale list and flags in agreement. For `check_invariants`.
    pub fn check_index(&self) -> Result<(), String> {
        let Some(index) = &self.index else {
            if !self.stale.is_empty() || !self.stale_list.is_empty() {
                return Err("hosts without an index track stale hosts".to_string());
            }
            return Ok(());
        };
        if index.leaves < self.hosts.len() || index.nodes.len() != 2 * index.leaves {
            return Err("host index has the wrong size".to_string());
        }
        for (host, h) in self.hosts.iter().enumerate() {
            if !self.stale[host] && index.nodes[index.leaves + host] != FitKeys::of(h) {
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
    use crate::ids::{FunctionId, ImageId, InvocationId};

    fn request(memory_bytes: u64, scratch_bytes: u64) -> PlacementRequest {
        PlacementRequest {
            invocation: Some(InvocationId::from_bits(0)),
            function: FunctionId::from_bits(0),
            image: ImageId::from_bits(0),
            image_bytes: 0,
            memory_bytes,
            scratch_bytes,
        }
    }

    fn hosts(count: usize) -> Hosts {
        let spec = HostSpec {
            ram_bytes: 1_000,
            slots: 2,
            disk_bytes: 1_000,
            copy_bytes_per_s: 1,
        };
        // Indexed at any count, so small cases test the index.
        Hosts::with_index(true, vec![Host::new(spec); count])
    }

    /// What first fit means: the scan the index replaces, with `fits`
    /// standing for the keys' conditions (exact for these hosts, which hold
    /// no images).
    fn scan(hosts: &Hosts, request: &PlacementRequest) -> Option<usize> {
        let needed = FitKeys::needed(request);
        (0..hosts.len()).find(|&i| FitKeys::of(&hosts[i]).covers(needed))
    }

    fn first_fit(hosts: &Hosts, request: &PlacementRequest) -> Option<usize> {
        let needed = FitKeys::needed(request);
        hosts.first_fit(request, |i| FitKeys::of(&hosts[i]).covers(needed))
    }

    #[test]
    fn finds_the_lowest_host_with_room_past_full_ones() {
        let mut hosts = hosts(5);
        for i in 0..3 {
            hosts[i].ram_used_bytes = 900;
        }
        hosts[3].slots_used = 2;
        hosts.refresh();
        assert_eq!(first_fit(&hosts, &request(100, 0)), Some(0));
        assert_eq!(first_fit(&hosts, &request(101, 0)), Some(4));
        hosts[4].up = false;
        hosts.refresh();
        assert_eq!(first_fit(&hosts, &request(101, 0)), None);
        assert_eq!(hosts.check_index(), Ok(()));
    }

    #[test]
    fn idle_containers_count_as_room() {
        let mut hosts = hosts(3);
        hosts[0].slots_used = 2;
        hosts[0].ram_used_bytes = 1_000;
        hosts.refresh();
        assert_eq!(first_fit(&hosts, &request(500, 0)), Some(1));
        hosts[0].idle_count = 1;
        hosts[0].idle_ram_bytes = 500;
        hosts.refresh();
        assert_eq!(first_fit(&hosts, &request(500, 0)), Some(0));
        assert_eq!(first_fit(&hosts, &request(501, 0)), Some(1));
    }

    #[test]
    fn stale_hosts_are_answered_before_a_refresh() {
        let mut hosts = hosts(4);
        for i in 0..4 {
            hosts[i].ram_used_bytes = 1_000;
        }
        hosts.refresh();
        assert_eq!(first_fit(&hosts, &request(1, 0)), None);
        // Written, not yet refreshed: the index still says full.
        hosts[2].ram_used_bytes = 0;
        hosts[1].ram_used_bytes = 0;
        assert_eq!(first_fit(&hosts, &request(1, 0)), Some(1));
        assert!(hosts.check_index().is_ok());
        hosts.refresh();
        assert_eq!(first_fit(&hosts, &request(1, 0)), Some(1));
        assert_eq!(hosts.check_index(), Ok(()));
    }

    #[test]
    fn agrees_with_a_scan_on_pseudo_random_hosts() {
        // 7 hosts (not a power of two), many random states and requests.
        let mut state = 1u64;
        let mut next = |bound: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % bound
        };
        let mut hosts = hosts(7);
        for round in 0..2_000 {
            let i = next(7) as usize;
            hosts[i].ram_used_bytes = next(1_001);
            hosts[i].slots_used = next(3) as u32;
            hosts[i].disk_used_bytes = next(1_001);
            hosts[i].up = next(10) != 0;
            if round % 3 == 0 {
                hosts.refresh();
            }
            let request = request(next(1_001), next(1_001));
            assert_eq!(first_fit(&hosts, &request), scan(&hosts, &request));
            assert_eq!(hosts.check_index(), Ok(()));
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
        let spec = HostSpec {
            ram_bytes: 1_000,
            slots: 2,
            disk_bytes: 1_000,
            copy_bytes_per_s: 1,
        };
        let mut few = Hosts::new(vec![Host::new(spec); INDEXED_HOSTS_MIN - 1]);
        assert!(few.index.is_none());
        few[0].ram_used_bytes = 1_000;
        assert!(few.stale_list.is_empty());
        assert_eq!(first_fit(&few, &request(1, 0)), Some(1));
        assert_eq!(few.check_index(), Ok(()));
        let many = Hosts::new(vec![Host::new(spec); INDEXED_HOSTS_MIN]);
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
    }

    #[test]
    fn serializes_as_the_hosts_and_rebuilds_the_index() {
        let mut hosts = hosts(INDEXED_HOSTS_MIN);
        hosts[2].ram_used_bytes = 7;
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
        assert_eq!(restored.stale_list, Vec::<u32>::new());
    }

    proptest::proptest! {
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
