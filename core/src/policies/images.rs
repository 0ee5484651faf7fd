//! Image eviction priorities, for both disks (a host's and main storage):
//! lowest goes first (spec R69, R79). See `docs/policies.md`.

use crate::policy::{DiskFacts, ImageFacts};
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
    /// Greedy-Dual-Size-Frequency with a cost of 1 (Cherkasova, 1998):
    /// priority `clock + uses × 2^50 / size_bytes`, saturating, where the
    /// disk's clock rises to each evicted image's priority (kept in
    /// `PolicyState`). Small, often used images stay; popularity long past
    /// ages out.
    Gdsf,
    /// The kubelet's image garbage collection: least recently used first,
    /// and when a disk's use reaches `high_percent` of its capacity after
    /// an image lands, evictable images are collected down to
    /// `low_percent` (the kubelet's defaults: 85 and 80).
    KubeletWatermark {
        /// Disk use, in percent of its capacity, at or above which a
        /// landing image sets off a collection (clamped to 100).
        high_percent: u32,
        /// Disk use, in percent of its capacity, a collection comes down to
        /// (clamped to `high_percent`).
        low_percent: u32,
    },
}

impl ImageEviction {
    /// Every rule, with default parameters: for tests and listings.
    pub const ALL: [ImageEviction; 4] = [
        ImageEviction::Lru,
        ImageEviction::Lfu,
        ImageEviction::Gdsf,
        ImageEviction::KUBELET,
    ];

    /// The kubelet's default thresholds (`imageGCHighThresholdPercent` 85,
    /// `imageGCLowThresholdPercent` 80).
    pub const KUBELET: ImageEviction = ImageEviction::KubeletWatermark {
        high_percent: 85,
        low_percent: 80,
    };

    /// The rule's priority for an image, before any clock (see
    /// `Builtin::image_priority`).
    pub fn priority(self, image: &ImageFacts) -> u64 {
        match self {
            ImageEviction::Lru | ImageEviction::KubeletWatermark { .. } => image.last_used_us,
            ImageEviction::Lfu => image.uses,
            ImageEviction::Gdsf => {
                let value =
                    u128::from(image.uses) * (1 << 50) / u128::from(image.size_bytes.max(1));
                u64::try_from(value).unwrap_or(u64::MAX)
            }
        }
    }
}

impl ImageEviction {
    /// The use to collect a disk down to, or `None`: for `KubeletWatermark`,
    /// `⌊low × capacity / 100⌋` once `used × 100 ≥ high × capacity`, with
    /// `high` clamped to 100 and `low` to `high`; `None` for the others.
    pub fn collection_target_bytes(self, disk: &DiskFacts) -> Option<u64> {
        let ImageEviction::KubeletWatermark {
            high_percent,
            low_percent,
        } = self
        else {
            return None;
        };
        let high = u128::from(high_percent.min(100));
        let low = u128::from(low_percent).min(high);
        let capacity = u128::from(disk.capacity_bytes);
        if u128::from(disk.used_bytes) * 100 < high * capacity {
            return None;
        }
        // low ≤ 100, so the target is at most the capacity: it fits a u64.
        u64::try_from(low * capacity / 100).ok()
    }
}
