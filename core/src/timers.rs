//! Pending timers: a binary heap ordered by `(due_us, seq)`, with lazy
//! cancellation.
//!
//! Almost every warm start cancels a keep-alive timer, and every step pops
//! one or more timers from the front. A `BTreeMap` did both with node
//! shifting and rebalancing that cost about a tenth of a replay; a heap
//! pushes and pops in a few comparisons and cancels in O(1): a cancelled
//! key goes into a set and its heap entry is dropped when it reaches the
//! top (or when cancelled entries outnumber live ones, all at once).
//!
//! Two facts make this exact rather than approximate:
//! - timers fire in `(due_us, seq)` order and a new timer is never due
//!   before the one that fired last, so every key that has fired is smaller
//!   than every pending key: a key smaller than the top is gone, and
//!   [`Timers::cancel`] of it is a no-op, as `BTreeMap::remove` of a missing
//!   key was. (A key is cancelled at most once — an idle container's
//!   keep-alive when it leaves the idle state, a fault's timers when it
//!   strikes — which is what lets a cancelled key be forgotten once its
//!   entry is dropped.)
//! - the top of the heap is always live (cancelled entries are dropped as
//!   soon as they reach it), so [`Timers::next`] needs no mutation. And
//!   since every cancelled key is in the heap, none is below its top: the
//!   top is cancelled exactly when it is the least cancelled key, which is
//!   kept, so a pop checks the new top with one comparison, not a lookup.
//!
//! The cancelled set is a hash set queried by membership only: nothing ever
//! iterates it, so its order cannot reach an event, and its hasher is a
//! fixed function (no random keys).

use crate::state::{bug, Timer, TimerKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{BinaryHeap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// Cancelled entries are swept out of the heap at once when there are more
/// of them than this and than live timers, which bounds the heap at about
/// twice the live timers plus this.
const SWEEP_MIN_CANCELLED: usize = 32;

/// A pending timer, ranked by its key packed into one integer:
/// `due_us` high, `seq` low, so one comparison orders two timers.
#[derive(Clone, Copy, Debug)]
struct Pending {
    rank: u128,
    timer: Timer,
}

impl Pending {
    fn new(key: TimerKey, timer: Timer) -> Pending {
        Pending {
            rank: Pending::rank_of(key),
            timer,
        }
    }

    /// A key as one integer, ordered as the keys.
    fn rank_of(key: TimerKey) -> u128 {
        (u128::from(key.0) << 64) | u128::from(key.1)
    }

    fn key(&self) -> TimerKey {
        ((self.rank >> 64) as u64, self.rank as u64)
    }

    fn seq(&self) -> u64 {
        self.rank as u64
    }
}

// Ordered by rank, reversed, so that std's max-heap pops the earliest.
// Ranks are unique, so equality by rank is equality of timers.
impl PartialEq for Pending {
    fn eq(&self, other: &Pending) -> bool {
        self.rank == other.rank
    }
}

impl Eq for Pending {}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Pending) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pending {
    fn cmp(&self, other: &Pending) -> std::cmp::Ordering {
        other.rank.cmp(&self.rank)
    }
}

/// Hashes a timer's `seq` (unique per key) by one multiplication: the keys
/// are distinct integers, so a Fibonacci hash spreads them well enough.
#[derive(Default)]
struct SeqHasher(u64);

impl Hasher for SeqHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type SeqSet = HashSet<u64, BuildHasherDefault<SeqHasher>>;

/// The provider's pending timers. Equality, `Debug` and serialization see
/// only live timers, in firing order, so two states that differ only in
/// cancelled entries not yet dropped are the same state.
#[derive(Clone)]
pub(crate) struct Timers {
    heap: BinaryHeap<Pending>,
    /// The `seq` of every cancelled key still in the heap.
    cancelled: SeqSet,
    /// The least rank among them; `u128::MAX` when there is none.
    cancelled_least: u128,
}

impl Default for Timers {
    fn default() -> Timers {
        Timers {
            heap: BinaryHeap::new(),
            cancelled: SeqSet::default(),
            cancelled_least: u128::MAX,
        }
    }
}

impl Timers {
    /// Adds a timer. Its key must be new and not due before the front.
    pub fn insert(&mut self, key: TimerKey, timer: Timer) {
        self.heap.push(Pending::new(key, timer));
    }

    /// The number of pending (live) timers.
    pub fn len(&self) -> usize {
        self.heap.len() - self.cancelled.len()
    }

    /// The next timer to fire.
    pub fn next(&self) -> Option<(TimerKey, Timer)> {
        self.heap.peek().map(|p| (p.key(), p.timer))
    }

    /// Removes and returns the next timer if it is due at or before `t_us`.
    pub fn pop_due(&mut self, t_us: u64) -> Option<(TimerKey, Timer)> {
        if self.heap.peek()?.key().0 > t_us {
            return None;
        }
        let Some(front) = self.heap.pop() else {
            bug("a timer heap with a front and nothing to pop");
        };
        self.drop_cancelled_front();
        Some((front.key(), front.timer))
    }

    /// Cancels the timer with `key`, if it is pending; a key that has fired
    /// already is ignored. Returns whether it was pending. A key must not
    /// be cancelled twice (unchecked: the second call could count it
    /// again).
    pub fn cancel(&mut self, key: TimerKey) -> bool {
        let Some(front) = self.heap.peek() else {
            return false;
        };
        if key < front.key() {
            return false;
        }
        if key == front.key() {
            self.heap.pop();
            self.drop_cancelled_front();
            return true;
        }
        // The contract above, checked where it costs nothing in release.
        debug_assert!(
            self.heap.iter().any(|p| p.key() == key),
            "cancelling timer {key:?}, which is not pending"
        );
        if !self.cancelled.insert(key.1) {
            return false;
        }
        self.cancelled_least = self.cancelled_least.min(Pending::rank_of(key));
        if self.cancelled.len() > SWEEP_MIN_CANCELLED && self.cancelled.len() > self.len() {
            self.sweep();
        }
        true
    }

    /// The live timers in firing order (for faults, which are rare, and for
    /// the invariant checker and serialization).
    pub fn sorted(&self) -> Vec<(TimerKey, Timer)> {
        let mut live: Vec<(TimerKey, Timer)> = self
            .heap
            .iter()
            .filter(|p| !self.cancelled.contains(&p.seq()))
            .map(|p| (p.key(), p.timer))
            .collect();
        live.sort_unstable_by_key(|&(key, _)| key);
        live
    }

    /// Keeps the front live: drops cancelled entries that reached it. The
    /// front is cancelled exactly when its rank is the least cancelled one
    /// (every cancelled rank is in the heap, and none is below its front):
    /// one comparison, no lookup in the set.
    #[inline]
    fn drop_cancelled_front(&mut self) {
        while let Some(front) = self.heap.peek() {
            if front.rank != self.cancelled_least {
                break;
            }
            self.cancelled.remove(&front.seq());
            self.heap.pop();
            self.cancelled_least = self.least_cancelled();
        }
    }

    /// The least cancelled rank, by a scan of the heap: rare, as most
    /// cancelled entries are swept before they reach the front.
    #[cold]
    fn least_cancelled(&self) -> u128 {
        if self.cancelled.is_empty() {
            return u128::MAX;
        }
        self.heap
            .iter()
            .filter(|p| self.cancelled.contains(&p.seq()))
            .map(|p| p.rank)
            .min()
            .unwrap_or(u128::MAX)
    }

    /// Drops every cancelled entry at once.
    fn sweep(&mut self) {
        let Timers {
            heap, cancelled, ..
        } = self;
        heap.retain(|p| !cancelled.contains(&p.seq()));
        // Cleared, not replaced: its allocation serves the next round.
        cancelled.clear();
        self.cancelled_least = u128::MAX;
    }
}

#[cfg(test)]
impl Timers {
    /// Whether the cancelled set holds only heap entries, its least rank
    /// is kept right, and the top is live.
    fn is_consistent(&self) -> bool {
        let cancelled: Vec<u128> = self
            .heap
            .iter()
            .filter(|p| self.cancelled.contains(&p.seq()))
            .map(|p| p.rank)
            .collect();
        let least = cancelled.iter().copied().min().unwrap_or(u128::MAX);
        let top_live = self
            .heap
            .peek()
            .is_none_or(|top| !self.cancelled.contains(&top.seq()));
        cancelled.len() == self.cancelled.len() && least == self.cancelled_least && top_live
    }
}

impl PartialEq for Timers {
    fn eq(&self, other: &Timers) -> bool {
        self.len() == other.len() && self.sorted() == other.sorted()
    }
}

impl Eq for Timers {}

impl std::fmt::Debug for Timers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.sorted()).finish()
    }
}

/// Timers serialize as a list of `(due_us, seq, timer)` in firing order,
/// since formats such as JSON cannot key a map by a tuple.
impl Serialize for Timers {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let entries: Vec<(u64, u64, Timer)> = self
            .sorted()
            .into_iter()
            .map(|((due, seq), timer)| (due, seq, timer))
            .collect();
        entries.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Timers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Timers, D::Error> {
        let entries: Vec<(u64, u64, Timer)> = Vec::deserialize(d)?;
        let mut timers = Timers::default();
        for (due, seq, timer) in entries {
            timers.insert((due, seq), timer);
        }
        Ok(timers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ContainerId;

    fn timer(n: u64) -> Timer {
        Timer::KeepAliveExpired {
            container: ContainerId::from_bits(n),
        }
    }

    proptest::proptest! {
        /// Against a `BTreeMap` doing what the timers did before the heap:
        /// inserts at or after the last fired due time, cancels of pending
        /// and fired keys, pops up to a time; the same timers fire in the
        /// same order and the live sets agree after every operation.
        #[test]
        fn behaves_as_the_btree_map_it_replaced(
            ops in proptest::collection::vec((0u8..4, 0u64..50, 0usize..64), 0..400)
        ) {
            use std::collections::BTreeMap;
            let mut timers = Timers::default();
            let mut reference: BTreeMap<TimerKey, Timer> = BTreeMap::new();
            let mut issued: Vec<TimerKey> = Vec::new();
            let (mut now, mut seq) = (0u64, 0u64);
            for (op, delta, pick) in ops {
                match op {
                    0 | 1 => {
                        let key = (now + delta, seq);
                        seq += 1;
                        timers.insert(key, timer(seq));
                        reference.insert(key, timer(seq));
                        issued.push(key);
                    }
                    2 => {
                        // The contract: a key is cancelled at most once.
                        if let Some(key) = (!issued.is_empty()).then(|| issued.swap_remove(pick % issued.len())) {
                            let pending = reference.remove(&key).is_some();
                            proptest::prop_assert_eq!(timers.cancel(key), pending);
                        }
                    }
                    _ => {
                        let until = now + delta;
                        while let Some((key, t)) = timers.pop_due(until) {
                            let expected = reference.pop_first();
                            proptest::prop_assert_eq!(Some((key, t)), expected);
                        }
                        proptest::prop_assert!(reference.first_key_value().is_none_or(|(k, _)| k.0 > until));
                        now = until;
                    }
                }
                proptest::prop_assert!(timers.is_consistent());
                proptest::prop_assert_eq!(timers.len(), reference.len());
                proptest::prop_assert_eq!(timers.next(), reference.first_key_value().map(|(&k, &t)| (k, t)));
            }
            let live: Vec<(TimerKey, Timer)> = reference.into_iter().collect();
            proptest::prop_assert_eq!(timers.sorted(), live);
        }
    }

    #[test]
    fn entries_are_equal_and_ordered_by_key_alone() {
        let a = Pending::new((5, 1), timer(1));
        assert!(a == Pending::new((5, 1), timer(2)), "one key, one timer");
        assert!(a != Pending::new((5, 2), timer(1)));
        // Reversed, for std's max-heap: the earlier key is the greater.
        assert!(a > Pending::new((5, 2), timer(1)));
        assert!(a > Pending::new((6, 0), timer(1)));
        assert_eq!(Pending::new((6, 9), timer(0)).key(), (6, 9));
    }

    #[test]
    fn fires_in_due_then_seq_order_and_skips_cancelled() {
        let mut timers = Timers::default();
        timers.insert((30, 0), timer(0));
        timers.insert((10, 1), timer(1));
        timers.insert((10, 2), timer(2));
        timers.insert((20, 3), timer(3));
        assert!(timers.cancel((10, 2)));
        assert!(!timers.cancel((10, 2)), "a second cancel finds nothing");
        assert_eq!(timers.len(), 3);
        assert_eq!(timers.pop_due(5), None);
        assert_eq!(timers.pop_due(25), Some(((10, 1), timer(1))));
        // (10, 2) was cancelled: the front is the next live timer.
        assert_eq!(timers.next(), Some(((20, 3), timer(3))));
        assert_eq!(timers.pop_due(25), Some(((20, 3), timer(3))));
        assert_eq!(timers.pop_due(25), None);
        assert!(!timers.cancel((10, 1)), "a fired key is gone");
        assert_eq!(timers.len(), 1);
        assert_eq!(timers.sorted(), vec![((30, 0), timer(0))]);
    }

    #[test]
    fn cancelled_entries_are_swept_only_once_they_outnumber_live_ones() {
        let mut timers = Timers::default();
        for seq in 0..100 {
            timers.insert((10, seq), timer(seq));
        }
        // 40 cancelled of 100: more than the minimum, fewer than the 60 live.
        for seq in 1..=40 {
            assert!(timers.cancel((10, seq)));
        }
        assert_eq!(timers.heap.len(), 100, "no sweep yet");
        for seq in 41..=70 {
            assert!(timers.cancel((10, seq)));
        }
        assert_eq!(timers.len(), 30);
        assert!(timers.heap.len() < 100, "swept");
    }

    #[test]
    fn cancelling_the_front_exposes_the_next_live_timer() {
        let mut timers = Timers::default();
        for seq in 0..4 {
            timers.insert((100 + seq, seq), timer(seq));
        }
        assert!(timers.cancel((101, 1)));
        assert!(timers.cancel((100, 0)));
        assert_eq!(timers.next(), Some(((102, 2), timer(2))));
        assert_eq!(timers.len(), 2);
    }

    #[test]
    fn equality_and_serialization_see_only_live_timers() {
        let mut a = Timers::default();
        let mut b = Timers::default();
        for seq in 0..3000 {
            a.insert((seq, seq), timer(seq));
            if seq % 3 == 0 {
                b.insert((seq, seq), timer(seq));
            }
        }
        // Cancel two in three in `a`, enough of them to trigger a sweep.
        for seq in (0..3000).filter(|seq| seq % 3 != 0) {
            assert!(a.cancel((seq, seq)));
        }
        assert_eq!(a, b);
        assert_eq!(a.len(), 1000);
        let mut c = b.clone();
        assert!(c.cancel((2997, 2997)));
        assert_ne!(c, b, "one live timer fewer");
        c.insert((2998, 3000), timer(2997));
        assert_ne!(c, b, "as many timers, one other");
        let mut d = Timers::default();
        d.insert((7, 1), timer(1));
        assert_eq!(format!("{d:?}"), format!("[((7, 1), {:?})]", timer(1)));
        assert!(a.heap.len() < 3000, "the sweep dropped cancelled entries");
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, serde_json::to_string(&b).unwrap());
        let back: Timers = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
        let mut popped = Vec::new();
        while let Some((key, _)) = a.pop_due(u64::MAX) {
            popped.push(key.1);
        }
        assert_eq!(popped, (0..3000).step_by(3).collect::<Vec<_>>());
    }
}
