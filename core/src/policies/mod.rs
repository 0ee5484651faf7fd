//! The library of built-in policies behind `Builtin` (see `docs/policies.md`
//! for each one's source, parameters and exact rule, and spec §19).
//!
//! Everything here is deterministic: hashes are the fixed function
//! [`hash64`], never std's `Hash`/`RandomState` (whose output may change
//! between runs and Rust versions), and the one random choice, seeded host
//! selection, draws from a counter kept in the policy's state, so a run
//! replays identically and a snapshot carries the position of its stream.

pub mod autoscale;
pub mod hosts;
pub mod images;
pub mod keep_alive;

/// The increment of SplitMix64 (2^64 divided by the golden ratio, odd).
pub const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function (Steele, Lea and Flood, "Fast splittable
/// pseudorandom number generators", OOPSLA 2014): a bijection on `u64` that
/// spreads every input bit over every output bit.
pub fn mix64(value: u64) -> u64 {
    let mut z = value;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The fixed hash of every built-in policy:
/// `mix64(key + (salt + 1) × GAMMA)` (wrapping). With `key` a seed and
/// `salt = k`, it is the `k`-th output (from 0) of SplitMix64 seeded with
/// `key`; with `key` an id's `to_bits()`, distinct salts give independent
/// hashes of the same id.
pub fn hash64(key: u64, salt: u64) -> u64 {
    mix64(key.wrapping_add(salt.wrapping_add(1).wrapping_mul(GAMMA)))
}

/// Maps a hash onto `0..n` by multiply-and-shift (`⌊hash × n / 2^64⌋`),
/// which keeps the hash's uniformity without a division. `n` must be > 0.
pub fn reduce(hash: u64, n: u32) -> u32 {
    ((u128::from(hash) * u128::from(n)) >> 64) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash is a fixed function: these values are pinned so that a
    /// change to it (which would change every hashed placement) is seen.
    #[test]
    fn the_hash_is_pinned() {
        // SplitMix64 seeded with 0: its published first output.
        assert_eq!(hash64(0, 0), 0xE220_A839_7B1D_CDAF);
        assert_eq!(hash64(0, 1), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(hash64(1234567, 0), 0x599E_D017_FB08_FC85);
        assert_eq!(mix64(0), 0);
    }

    #[test]
    fn reduce_covers_the_range_in_order() {
        assert_eq!(reduce(0, 7), 0);
        assert_eq!(reduce(u64::MAX, 7), 6);
        assert_eq!(reduce(1 << 63, 4), 2);
        assert_eq!(reduce(u64::MAX, 1), 0);
    }
}
