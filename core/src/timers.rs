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
//!   before the one that fired last, so every key that has fired or been
//!   dropped is smaller than every pending key: a key smaller than the top
//!   is gone, and [`Timers::cancel`] of it is a no-op, as `BTreeMap::remove`
//!   of a missing key was;
//! - the top of the heap is always live (cancelled entries are dropped as
//!   soon as they reach it), so [`Timers::next`] needs no mutation.
//!
//! The cancelled set is a hash set queried by membership only: nothing ever
//! iterates it, so its order cannot reach an event, and its hasher is a
//! fixed function (no random keys).

use crate::state::{bug, Timer, TimerKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// Cancelled entries are swept out of the heap at once when there are more
/// of them than this and than live timers, which bounds the heap at about
/// twice the live timers plus this.
const SWEEP_MIN_CANCELLED: usize = 32;

#[derive(Clone, Copy, Debug)]
struct Pending {
    key: TimerKey,
    timer: Timer,
}

// Ordered (and equal) by key alone: keys are unique.
impl PartialEq for Pending {
    fn eq(&self, other: &Pending) -> bool {
        self.key == other.key
    }
}

impl Eq for Pending {}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Pending) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pending {
    fn cmp(&self, other: &Pending) -> Ordering {
        self.key.cmp(&other.key)
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
#[derive(Clone, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<Pending>>,
    /// The `seq` of every cancelled key still in the heap.
    cancelled: SeqSet,
}

impl Timers {
    /// Adds a timer. Its key must be new and not due before the front.
    pub fn insert(&mut self, key: TimerKey, timer: Timer) {
        self.heap.push(Reverse(Pending { key, timer }));
    }

    /// The number of pending (live) timers.
    pub fn len(&self) -> usize {
        self.heap.len() - self.cancelled.len()
    }

    /// The next timer to fire.
    pub fn next(&self) -> Option<(TimerKey, Timer)> {
        self.heap.peek().map(|Reverse(p)| (p.key, p.timer))
    }

    /// Removes and returns the next timer if it is due at or before `t_us`.
    pub fn pop_due(&mut self, t_us: u64) -> Option<(TimerKey, Timer)> {
        let Reverse(front) = self.heap.peek()?;
        if front.key.0 > t_us {
            return None;
        }
        let Some(Reverse(front)) = self.heap.pop() else {
            bug("a timer heap with a front and nothing to pop");
        };
        self.drop_cancelled_front();
        Some((front.key, front.timer))
    }

    /// Cancels the timer with `key`, if it is pending; a key that has fired
    /// already (or never was) is ignored. Returns whether it was pending.
    pub fn cancel(&mut self, key: TimerKey) -> bool {
        let Some(Reverse(front)) = self.heap.peek() else {
            return false;
        };
        if key < front.key {
            return false;
        }
        if key == front.key {
            self.heap.pop();
            self.drop_cancelled_front();
            return true;
        }
        if !self.cancelled.insert(key.1) {
            return false;
        }
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
            .filter(|Reverse(p)| !self.cancelled.contains(&p.key.1))
            .map(|Reverse(p)| (p.key, p.timer))
            .collect();
        live.sort_unstable_by_key(|&(key, _)| key);
        live
    }

    /// Keeps the front live: drops cancelled entries that reached it.
    fn drop_cancelled_front(&mut self) {
        while let Some(Reverse(front)) = self.heap.peek() {
            if !self.cancelled.remove(&front.key.1) {
                break;
            }
            self.heap.pop();
        }
    }

    /// Drops every cancelled entry at once.
    fn sweep(&mut self) {
        let Timers { heap, cancelled } = self;
        heap.retain(|Reverse(p)| !cancelled.contains(&p.key.1));
        // Cleared, not replaced: its allocation serves the next round.
        cancelled.clear();
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
