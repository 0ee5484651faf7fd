//! A generational arena whose serialized form restores exactly.
//!
//! Why not `slotmap`: its `Deserialize` rebuilds the free list in slot-index
//! order, while the live map hands out the most recently freed slot first. A
//! snapshot restored mid-run would then give the next entity a different key
//! than the original run did, and every later event would differ. This arena
//! serializes its free list as it is, so a restored provider continues with
//! identical ids (pinned by `snapshot_after_a_reap_continues_with_identical_ids_and_events`
//! in `core/tests/scenarios.rs`, and by the differential suite's
//! `snapshots_continue_identically`).

use serde::{Deserialize, Serialize};
use std::marker::PhantomData;

/// A generational key: the slot index and the generation the slot had when
/// the value was inserted. A key whose generation no longer matches is stale.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RawKey {
    /// The slot's index in the arena, from 0.
    pub index: u32,
    /// The slot's generation when the value was inserted: 0 for a new slot,
    /// one more each time the slot is freed (spec R13).
    pub generation: u32,
}

impl RawKey {
    /// Packs the key into one integer (generation high, index low): the form
    /// used in serialized ids.
    pub fn to_bits(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }

    /// Unpacks [`to_bits`](RawKey::to_bits)'s form.
    pub fn from_bits(bits: u64) -> RawKey {
        RawKey {
            index: bits as u32,
            generation: (bits >> 32) as u32,
        }
    }
}

/// Key types of the arena implement this (see `define_id!`).
pub trait ArenaKey: Copy {
    /// The key for a raw slot index and generation.
    fn from_raw(raw: RawKey) -> Self;
    /// The key's raw slot index and generation.
    fn raw(self) -> RawKey;
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

/// Why an insertion failed: the arena holds `u32::MAX` values already, or a
/// slot's generation is exhausted (after 2^32 reuses the slot is retired).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArenaFull;

impl std::fmt::Display for ArenaFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the arena is full: no slot is free, and 2^32 - 1 are in use or retired")
    }
}

impl std::error::Error for ArenaFull {}

/// Values of type `T` under generational keys `K` (spec R13): an insert
/// reuses the most recently freed slot, with the slot's next generation, or
/// appends a new one; a removed value's key goes stale and names nothing,
/// ever again. It holds at most 2^32 − 1 values. Its serialized form keeps
/// the free list as it is, so that a restored arena hands out the same keys.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(bound(serialize = "T: Serialize", deserialize = "T: Deserialize<'de>"))]
pub struct Arena<K, T> {
    slots: Vec<Slot<T>>,
    /// Free slot indices; the last one is reused first.
    free: Vec<u32>,
    len: u32,
    #[serde(skip)]
    _key: PhantomData<fn() -> K>,
}

impl<K: ArenaKey, T> Default for Arena<K, T> {
    fn default() -> Self {
        Arena {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
            _key: PhantomData,
        }
    }
}

impl<K: ArenaKey, T> Arena<K, T> {
    /// How many values it holds.
    #[cfg(test)]
    pub(crate) fn len(&self) -> u32 {
        self.len
    }

    /// Whether it holds no value.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether an insertion would succeed.
    pub fn has_room(&self) -> bool {
        !self.free.is_empty() || self.slots.len() < u32::MAX as usize
    }

    /// Stores `value` and returns its key: the last freed slot if any, with
    /// its current generation, else a new slot with generation 0.
    ///
    /// # Errors
    ///
    /// [`ArenaFull`] if no slot is free and there are `u32::MAX` slots.
    pub fn insert(&mut self, value: T) -> Result<K, ArenaFull> {
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            debug_assert!(slot.value.is_none());
            slot.value = Some(value);
            self.len += 1;
            return Ok(K::from_raw(RawKey {
                index,
                generation: slot.generation,
            }));
        }
        let index = u32::try_from(self.slots.len()).map_err(|_| ArenaFull)?;
        if index == u32::MAX {
            return Err(ArenaFull);
        }
        self.slots.push(Slot {
            generation: 0,
            value: Some(value),
        });
        self.len += 1;
        Ok(K::from_raw(RawKey {
            index,
            generation: 0,
        }))
    }

    /// The value under `key`, or `None` if the key is stale or was never
    /// handed out.
    pub fn get(&self, key: K) -> Option<&T> {
        let raw = key.raw();
        let slot = self.slots.get(raw.index as usize)?;
        if slot.generation != raw.generation {
            return None;
        }
        slot.value.as_ref()
    }

    /// The value under `key`, mutably, or `None` as for [`get`](Arena::get).
    pub fn get_mut(&mut self, key: K) -> Option<&mut T> {
        let raw = key.raw();
        let slot = self.slots.get_mut(raw.index as usize)?;
        if slot.generation != raw.generation {
            return None;
        }
        slot.value.as_mut()
    }

    /// Whether `key` names a value.
    pub fn contains(&self, key: K) -> bool {
        self.get(key).is_some()
    }

    /// Takes the value under `key` out, or returns `None` if the key names
    /// nothing. The key, and every copy of it, goes stale.
    pub fn remove(&mut self, key: K) -> Option<T> {
        let raw = key.raw();
        let slot = self.slots.get_mut(raw.index as usize)?;
        if slot.generation != raw.generation {
            return None;
        }
        let value = slot.value.take()?;
        self.len -= 1;
        // A slot whose generation would wrap is retired, never reused, so an
        // old key can never alias a new value.
        if let Some(next) = slot.generation.checked_add(1) {
            slot.generation = next;
            self.free.push(raw.index);
        }
        Some(value)
    }

    /// Live entries in slot order (deterministic).
    pub fn iter(&self) -> impl Iterator<Item = (K, &T)> {
        self.slots.iter().enumerate().filter_map(|(index, slot)| {
            slot.value.as_ref().map(|value| {
                (
                    K::from_raw(RawKey {
                        index: index as u32,
                        generation: slot.generation,
                    }),
                    value,
                )
            })
        })
    }

    /// The keys of the live entries, in slot order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = K> + '_ {
        self.iter().map(|(key, _)| key)
    }
}

/// Defines an id type backed by a `RawKey`, serialized as one `u64`, shown as
/// `prefix#index.generation` (`inv#3.0`).
macro_rules! define_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub(crate) $crate::arena::RawKey);

        impl $name {
            /// The packed form: generation in the high 32 bits, index low.
            pub fn to_bits(self) -> u64 {
                self.0.to_bits()
            }
            /// The id packed in `bits` ([`to_bits`](Self::to_bits)'s
            /// form). Any value is an id, though most name nothing: the
            /// provider refuses an input that names an unknown one.
            pub fn from_bits(bits: u64) -> Self {
                $name($crate::arena::RawKey::from_bits(bits))
            }
        }

        impl $crate::arena::ArenaKey for $name {
            fn from_raw(raw: $crate::arena::RawKey) -> Self {
                $name(raw)
            }
            fn raw(self) -> $crate::arena::RawKey {
                self.0
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, "{}#{}.{}", $prefix, self.0.index, self.0.generation)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Debug::fmt(self, f)
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_u64(self.to_bits())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let bits = <u64 as ::serde::Deserialize>::deserialize(d)?;
                Ok($name::from_bits(bits))
            }
        }

        // Any packed value is an id (most name nothing, which the provider
        // refuses), so a fuzzer may try every one.
        #[cfg(feature = "arbitrary")]
        impl<'a> ::arbitrary::Arbitrary<'a> for $name {
            fn arbitrary(u: &mut ::arbitrary::Unstructured<'a>) -> ::arbitrary::Result<Self> {
                Ok($name::from_bits(<u64 as ::arbitrary::Arbitrary>::arbitrary(u)?))
            }
        }
    };
}
// Crate-local: the ids are public, the arena and this macro are not.
pub(crate) use define_id;

#[cfg(test)]
mod tests {
    use super::*;

    crate::arena::define_id!(TestId, "t");

    #[test]
    fn stale_keys_miss_and_slots_are_reused_last_freed_first() {
        let mut arena: Arena<TestId, &str> = Arena::default();
        let a = arena.insert("a").unwrap();
        let b = arena.insert("b").unwrap();
        let c = arena.insert("c").unwrap();
        assert_eq!(arena.remove(a), Some("a"));
        assert_eq!(arena.remove(c), Some("c"));
        assert_eq!(arena.get(a), None);
        assert_eq!(arena.remove(a), None);
        let d = arena.insert("d").unwrap();
        assert_eq!(d.0.index, c.0.index, "last freed slot is reused first");
        assert_eq!(d.0.generation, 1);
        assert_ne!(d, c);
        assert_eq!(arena.get(b), Some(&"b"));
        assert_eq!(arena.len(), 2);
        assert!(!arena.is_empty());
        assert!(arena.has_room());
        assert!(arena.contains(b) && !arena.contains(c));
        let keys: Vec<_> = arena.keys().collect();
        assert_eq!(keys, vec![b, d]);
    }

    #[test]
    fn an_empty_arena_is_empty_and_has_room() {
        let mut arena: Arena<TestId, u8> = Arena::default();
        assert!(arena.is_empty() && arena.has_room());
        let a = arena.insert(1).unwrap();
        assert!(!arena.is_empty());
        arena.remove(a);
        assert!(arena.is_empty());
    }

    #[test]
    fn ids_round_trip_through_bits() {
        let id = TestId(RawKey {
            index: 7,
            generation: 3,
        });
        assert_eq!(TestId::from_bits(id.to_bits()), id);
        assert_eq!(format!("{id}"), "t#7.3");
    }
}
