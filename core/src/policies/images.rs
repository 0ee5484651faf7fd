//! Image eviction priorities, for both disks (a host's and main storage):
//! lowest goes first (spec R69, R79). See `docs/policies.md`.

use crate::policy::ImageFacts;
use serde::{Deserialize, Serialize};

/// Which cached image goes first when room is needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum ImageEviction {
    /// Least recently used: priority `last_used_us`.
    #[default]
    Lru,
    /// Least frequently used: priority `uses` (ties: the earlier to become
    /// evictable).
    Lfu,
    /// Greedy-Dual-Size-Frequency with a cost of 1 (Cherkasova, 1998),
    /// without its inflation clock: priority `uses × 2^50 / size_bytes`,
    /// saturating. Small, often used images stay.
    Gdsf,
}

impl ImageEviction {
    pub const ALL: [ImageEviction; 3] =
        [ImageEviction::Lru, ImageEviction::Lfu, ImageEviction::Gdsf];

    pub fn priority(self, image: &ImageFacts) -> u64 {
        match self {
            ImageEviction::Lru => image.last_used_us,
            ImageEviction::Lfu => image.uses,
            ImageEviction::Gdsf => {
                let value =
                    u128::from(image.uses) * (1 << 50) / u128::from(image.size_bytes.max(1));
                u64::try_from(value).unwrap_or(u64::MAX)
            }
        }
    }
}
