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
//! - An event's hash is [`hash_bytes`] of its binary encoding (the codec's,
//!   as in binary logs).
//! - A run's digest starts at [`DIGEST_START`] and mixes in each event's
//!   hash, in order: `digest = mix(digest, event_hash)`.
//! - An event's fingerprint, written in logs' step checks, is its hash
//!   folded to 16 bits.
//!
//! docs/log-format.md states the same definitions; the tests below pin
//! their values, so a change is caught rather than silently breaking every
//! recorded log.

use crate::codec::{self, CodecError};
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

/// An event's hash: [`hash_bytes`] of its binary encoding.
pub fn event_hash(event: &Event) -> Result<u64, CodecError> {
    // Every event encodes in well under this many bytes; should one ever
    // not, it takes the slower path through a growable buffer.
    let mut buffer = [0u8; 128];
    match codec::encode_into_slice(event, &mut buffer) {
        Ok(used_bytes) => Ok(hash_bytes(&buffer[..used_bytes])),
        Err(_) => Ok(hash_bytes(&codec::encode(event)?)),
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

    pub fn count(&self) -> u64 {
        self.count
    }

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
        assert_eq!(hash, hash_bytes(&codec::encode(&event).unwrap()));
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
