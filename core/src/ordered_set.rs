//! An ordered set that is a sorted `Vec` while small and a `BTreeSet` once
//! large.
//!
//! The idle-container sets (per function and per host) and the evictable-
//! image sets change on almost every step, and almost all of them hold a
//! handful of entries. A `BTreeSet` walks and shifts a node for each change;
//! a sorted vector finds the place by binary search and moves a few words,
//! several times fewer instructions at these sizes. Past [`SMALL_MAX`]
//! entries the vector would move too much, so the set becomes a `BTreeSet`
//! (and back below [`SMALL_MAX`] / 2, so a set at the boundary does not
//! switch on every change): both are O(log n) to search, and the switch is
//! amortized O(1).
//!
//! Both forms hold the same entries in the same order: equality, `Debug`
//! and serialization see a sorted sequence, whichever form holds it.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeSet;

/// The most entries the vector form holds.
const SMALL_MAX: usize = 64;

#[derive(Clone)]
pub(crate) enum OrderedSet<T> {
    Small(Vec<T>),
    Large(BTreeSet<T>),
}

impl<T> Default for OrderedSet<T> {
    fn default() -> Self {
        OrderedSet::Small(Vec::new())
    }
}

impl<T: Ord + Copy> OrderedSet<T> {
    /// Adds `value`; false if it was there already.
    pub fn insert(&mut self, value: T) -> bool {
        match self {
            OrderedSet::Small(entries) => match entries.binary_search(&value) {
                Ok(_) => false,
                Err(at) => {
                    entries.insert(at, value);
                    if entries.len() > SMALL_MAX {
                        *self = OrderedSet::Large(entries.drain(..).collect());
                    }
                    true
                }
            },
            OrderedSet::Large(entries) => entries.insert(value),
        }
    }

    /// Removes `value`; false if it was not there.
    pub fn remove(&mut self, value: &T) -> bool {
        match self {
            OrderedSet::Small(entries) => match entries.binary_search(value) {
                Ok(at) => {
                    entries.remove(at);
                    true
                }
                Err(_) => false,
            },
            OrderedSet::Large(entries) => {
                let removed = entries.remove(value);
                if entries.len() < SMALL_MAX / 2 {
                    *self = OrderedSet::Small(entries.iter().copied().collect());
                }
                removed
            }
        }
    }

    /// The smallest entry.
    pub fn first(&self) -> Option<&T> {
        match self {
            OrderedSet::Small(entries) => entries.first(),
            OrderedSet::Large(entries) => entries.first(),
        }
    }

    /// The largest entry.
    pub fn last(&self) -> Option<&T> {
        match self {
            OrderedSet::Small(entries) => entries.last(),
            OrderedSet::Large(entries) => entries.last(),
        }
    }

    /// Removes and returns the smallest entry.
    pub fn pop_first(&mut self) -> Option<T> {
        let first = *self.first()?;
        self.remove(&first);
        Some(first)
    }

    pub fn contains(&self, value: &T) -> bool {
        match self {
            OrderedSet::Small(entries) => entries.binary_search(value).is_ok(),
            OrderedSet::Large(entries) => entries.contains(value),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            OrderedSet::Small(entries) => entries.len(),
            OrderedSet::Large(entries) => entries.len(),
        }
    }

    /// The entries in ascending order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = &T> + '_> {
        match self {
            OrderedSet::Small(entries) => Box::new(entries.iter()),
            OrderedSet::Large(entries) => Box::new(entries.iter()),
        }
    }
}

impl<'a, T: Ord + Copy> IntoIterator for &'a OrderedSet<T> {
    type Item = &'a T;
    type IntoIter = Box<dyn Iterator<Item = &'a T> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<T: Ord + Copy> PartialEq for OrderedSet<T> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<T: Ord + Copy> Eq for OrderedSet<T> {}

impl<T: Ord + Copy + std::fmt::Debug> std::fmt::Debug for OrderedSet<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// A sequence in ascending order, as a `BTreeSet` serializes.
impl<T: Ord + Copy + Serialize> Serialize for OrderedSet<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de, T: Ord + Copy + Deserialize<'de>> Deserialize<'de> for OrderedSet<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let entries = BTreeSet::<T>::deserialize(d)?;
        let mut set = OrderedSet::default();
        for value in entries {
            set.insert(value);
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any sequence of changes leaves the same entries, in the same
        /// order, as a `BTreeSet` given the same changes, across both forms.
        #[test]
        fn behaves_as_a_btree_set(changes in proptest::collection::vec((any::<bool>(), 0u16..200), 0..600)) {
            let mut set = OrderedSet::default();
            let mut reference = BTreeSet::new();
            for (add, value) in changes {
                if add {
                    prop_assert_eq!(set.insert(value), reference.insert(value));
                } else {
                    prop_assert_eq!(set.remove(&value), reference.remove(&value));
                }
                prop_assert_eq!(set.len(), reference.len());
                prop_assert_eq!(set.first(), reference.first());
                prop_assert_eq!(set.contains(&value), reference.contains(&value));
            }
            prop_assert!(set.iter().eq(reference.iter()));
            prop_assert_eq!(set.pop_first(), reference.pop_first());
            prop_assert!(set.iter().eq(reference.iter()));
        }
    }

    #[test]
    fn equality_debug_and_serde_see_the_entries_in_order() {
        let set = |values: &[u32]| {
            let mut set = OrderedSet::default();
            for &value in values {
                set.insert(value);
            }
            set
        };
        assert_eq!(set(&[3, 1, 2]), set(&[1, 2, 3]));
        assert_ne!(
            set(&[1, 2, 3]),
            set(&[1, 2, 4]),
            "same length, other entries"
        );
        assert_ne!(set(&[1, 2]), set(&[1, 2, 3]), "a prefix");
        assert_eq!(format!("{:?}", set(&[3, 1, 2])), "{1, 2, 3}");
        let large = set(&(0..200).rev().collect::<Vec<u32>>());
        for original in [set(&[5, 4]), large] {
            let json = serde_json::to_string(&original).unwrap();
            let back: OrderedSet<u32> = serde_json::from_str(&json).unwrap();
            assert_eq!(back, original);
            assert_eq!(back.len(), original.len());
        }
    }

    #[test]
    fn switches_form_with_hysteresis_and_compares_by_content() {
        let mut set = OrderedSet::default();
        for value in 0..SMALL_MAX as u32 {
            set.insert(value);
        }
        assert!(
            matches!(set, OrderedSet::Small(_)),
            "a vector up to its size"
        );
        set.insert(SMALL_MAX as u32);
        assert!(
            matches!(set, OrderedSet::Large(_)),
            "past the vector's size"
        );
        let mut small = OrderedSet::default();
        for value in (0..=SMALL_MAX as u32).rev() {
            small.insert(value);
        }
        assert_eq!(set, small);
        // Still a tree until below half the vector's size.
        for value in 0..=(SMALL_MAX / 2) as u32 {
            set.remove(&value);
        }
        assert!(matches!(set, OrderedSet::Large(_)));
        set.remove(&(SMALL_MAX as u32 / 2 + 1));
        assert!(matches!(set, OrderedSet::Small(_)));
        assert_eq!(set.first(), Some(&(SMALL_MAX as u32 / 2 + 2)));
        assert_eq!(
            serde_json::to_string(&set).unwrap(),
            serde_json::to_string(&set.iter().copied().collect::<BTreeSet<u32>>()).unwrap()
        );
    }
}
