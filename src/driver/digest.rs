//! Digests of event streams and the checks of log records.
//!
//! One small hash serves everything: [`hash_bytes`] reads its input as
//! 64-bit little-endian words (the last one zero-padded), mixes each into a
//! 64-bit state with one multiply and one rotate ([`mix`]), then mixes in the
//! length. It is not cryptographic and not meant for adversarial input; it
//! only tells runs (and damaged records) apart. Word at a time rather than
//! byte at a time (as FNV-1a is) because a replay digests every event and
//! the digest must not cost more than stepping the provider.
//!
//! - An event's hash mixes, into a state starting at [`DIGEST_START`], one
//!   word per value of the event as serde's data model sees it (the same
//!   view the binary codec encodes): each integer or bool as a word (signed
//!   ones as two's complement), each enum variant as its index, then the
//!   variant's fields in declaration order; an option as 0 or 1 then the
//!   value; a sequence, string or byte string as its length then its
//!   items (strings as [`hash_bytes`] of their bytes). No bytes are
//!   produced on the way: events are digested on every replay's hot path.
//! - A run's digest starts at [`DIGEST_START`] and mixes in each event's
//!   hash, in order: `digest = mix(digest, event_hash)`.
//! - An event's fingerprint, written in logs' step checks, is its hash
//!   folded to 16 bits.
//!
//! docs/log-format.md states the same definitions; the tests below pin
//! their values, so a change is caught rather than silently breaking every
//! recorded log.

use crate::log::codec::CodecError;
use crate::Event;

/// The digest of no events, and the starting state of [`hash_bytes`].
pub const DIGEST_START: u64 = 0xcbf2_9ce4_8422_2325;
/// The multiplier of [`mix`]: 2^64 divided by the golden ratio, made odd,
/// so multiplying is a bijection that spreads low bits upward.
pub const MIX_MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

/// Mixes one word into a state. The rotate brings the high bits, which the
/// multiply fills best, back down to where the next word lands.
#[inline]
pub fn mix(state: u64, word: u64) -> u64 {
    (state ^ word).wrapping_mul(MIX_MULTIPLIER).rotate_left(31)
}

/// Hashes bytes: their 64-bit little-endian words, then their length.
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    let mut state = DIGEST_START;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("chunks of eight"));
        state = mix(state, word);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        state = mix(state, u64::from_le_bytes(last));
    }
    mix(state, bytes.len() as u64)
}

/// An event's hash: its values, word by word (module documentation).
pub fn event_hash(event: &Event) -> Result<u64, CodecError> {
    value_hash(event)
}

/// The word-by-word hash of any serializable value.
pub fn value_hash<T: serde::Serialize + ?Sized>(value: &T) -> Result<u64, CodecError> {
    let mut words = WordHasher {
        state: DIGEST_START,
    };
    value
        .serialize(&mut words)
        .map_err(|error| CodecError { message: error.0 })?;
    Ok(words.state)
}

/// A serde serializer that mixes values into a hash instead of writing
/// bytes.
struct WordHasher {
    state: u64,
}

impl WordHasher {
    #[inline]
    fn word(&mut self, word: u64) {
        self.state = mix(self.state, word);
    }
}

/// The only failure: a serializer-level error raised by a value's own
/// `Serialize` (none of ours raises one).
#[derive(Debug)]
struct HashError(String);

impl std::fmt::Display for HashError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HashError {}

impl serde::ser::Error for HashError {
    fn custom<T: std::fmt::Display>(message: T) -> Self {
        HashError(message.to_string())
    }
}

/// The compound-value methods all hash each element in turn.
macro_rules! hash_elements {
    ($($trait:ident :: $method:ident ($($key:ident : $key_ty:ty),*)),* $(,)?) => {$(
        impl serde::ser::$trait for &mut WordHasher {
            type Ok = ();
            type Error = HashError;
            fn $method<T: serde::Serialize + ?Sized>(
                &mut self,
                $($key: $key_ty,)*
                value: &T,
            ) -> Result<(), HashError> {
                $(let _ = $key;)*
                value.serialize(&mut **self)
            }
            fn end(self) -> Result<(), HashError> {
                Ok(())
            }
        }
    )*};
}

hash_elements!(
    SerializeSeq::serialize_element(),
    SerializeTuple::serialize_element(),
    SerializeTupleStruct::serialize_field(),
    SerializeTupleVariant::serialize_field(),
    SerializeStruct::serialize_field(key: &'static str),
    SerializeStructVariant::serialize_field(key: &'static str),
);

impl serde::ser::SerializeMap for &mut WordHasher {
    type Ok = ();
    type Error = HashError;
    fn serialize_key<T: serde::Serialize + ?Sized>(&mut self, key: &T) -> Result<(), HashError> {
        key.serialize(&mut **self)
    }
    fn serialize_value<T: serde::Serialize + ?Sized>(
        &mut self,
        value: &T,
    ) -> Result<(), HashError> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), HashError> {
        Ok(())
    }
}

impl serde::Serializer for &mut WordHasher {
    type Ok = ();
    type Error = HashError;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn serialize_bool(self, v: bool) -> Result<(), HashError> {
        self.word(u64::from(v));
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), HashError> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i16(self, v: i16) -> Result<(), HashError> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i32(self, v: i32) -> Result<(), HashError> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i64(self, v: i64) -> Result<(), HashError> {
        self.word(v as u64);
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), HashError> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u16(self, v: u16) -> Result<(), HashError> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u32(self, v: u32) -> Result<(), HashError> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u64(self, v: u64) -> Result<(), HashError> {
        self.word(v);
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), HashError> {
        self.serialize_u64(u64::from(v.to_bits()))
    }
    fn serialize_f64(self, v: f64) -> Result<(), HashError> {
        self.serialize_u64(v.to_bits())
    }
    fn serialize_char(self, v: char) -> Result<(), HashError> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_str(self, v: &str) -> Result<(), HashError> {
        self.serialize_bytes(v.as_bytes())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), HashError> {
        self.word(v.len() as u64);
        self.word(hash_bytes(v));
        Ok(())
    }
    fn serialize_none(self) -> Result<(), HashError> {
        self.word(0);
        Ok(())
    }
    fn serialize_some<T: serde::Serialize + ?Sized>(self, value: &T) -> Result<(), HashError> {
        self.word(1);
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), HashError> {
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), HashError> {
        Ok(())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
    ) -> Result<(), HashError> {
        self.serialize_u32(index)
    }
    fn serialize_newtype_struct<T: serde::Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), HashError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: serde::Serialize + ?Sized>(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        value: &T,
    ) -> Result<(), HashError> {
        self.word(u64::from(index));
        value.serialize(self)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Self, HashError> {
        // Every sequence in an event knows its length; one that did not
        // would still hash deterministically, without it.
        self.word(len.map_or(u64::MAX, |n| n as u64));
        Ok(self)
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self, HashError> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Self, HashError> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self, HashError> {
        self.word(u64::from(index));
        Ok(self)
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Self, HashError> {
        self.word(len.map_or(u64::MAX, |n| n as u64));
        Ok(self)
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self, HashError> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self, HashError> {
        self.word(u64::from(index));
        Ok(self)
    }
}

/// An event hash folded to 16 bits, as a log's step check stores it.
pub fn fingerprint(event_hash: u64) -> u16 {
    let folded = event_hash ^ (event_hash >> 32);
    (folded ^ (folded >> 16)) as u16
}

/// The count and digest of a stream of events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventDigest {
    count: u64,
    state: u64,
}

impl Default for EventDigest {
    fn default() -> Self {
        EventDigest {
            count: 0,
            state: DIGEST_START,
        }
    }
}

impl EventDigest {
    /// An empty digest: no events yet.
    pub fn new() -> EventDigest {
        EventDigest::default()
    }

    /// Adds one event; returns its hash.
    pub fn add(&mut self, event: &Event) -> Result<u64, CodecError> {
        let hash = event_hash(event)?;
        self.add_hash(hash);
        Ok(hash)
    }

    /// Adds one event by its hash.
    pub fn add_hash(&mut self, event_hash: u64) {
        self.state = mix(self.state, event_hash);
        self.count += 1;
    }

    /// How many events were added.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The digest of the events added, in order: equal digests mean the same
    /// events (up to a hash collision).
    pub fn digest(&self) -> u64 {
        self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventKind, InvocationId};

    /// Values computed independently (a few lines of Python following the
    /// definition in docs/log-format.md).
    #[test]
    fn hash_values_are_pinned() {
        assert_eq!(hash_bytes(b""), mix(DIGEST_START, 0));
        assert_eq!(hash_bytes(b""), 0xf1c2_6704_fc5d_c964);
        assert_eq!(hash_bytes(b"coldstart"), 0xad40_8b56_d3ea_f7f9);
        // The zero padding of the last word is told apart by the length.
        assert_ne!(hash_bytes(b"a"), hash_bytes(b"a\0"));
        assert_ne!(hash_bytes(b"12345678"), hash_bytes(b"1234567"));
        let event = Event {
            at_us: 1_000,
            kind: EventKind::Reaped {
                invocation: InvocationId::from_bits(7),
            },
        };
        let mut digest = EventDigest::new();
        assert_eq!(digest.digest(), DIGEST_START);
        let hash = digest.add(&event).unwrap();
        // The event's words: its time, the variant index of `Reaped`, then
        // the invocation id's bits.
        let variant = 20;
        let words = [1_000, variant, 7];
        assert_eq!(hash, words.iter().fold(DIGEST_START, |h, &w| mix(h, w)));
        assert_eq!(digest.digest(), mix(DIGEST_START, hash));
        assert_eq!(digest.count(), 1);
        assert_eq!(fingerprint(0x0001_0002_0004_0008), 0x000f);
    }

    #[test]
    fn every_word_and_its_position_count() {
        let base = *b"0123456789abcdefXYZ";
        let reference = hash_bytes(&base);
        for at in 0..base.len() {
            let mut changed = base;
            changed[at] ^= 0x80;
            assert_ne!(hash_bytes(&changed), reference, "byte {at}");
        }
        let mut swapped = base;
        swapped[..8].copy_from_slice(&base[8..16]);
        swapped[8..16].copy_from_slice(&base[..8]);
        assert_ne!(hash_bytes(&swapped), reference);
    }
}
