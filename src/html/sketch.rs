//! A bounded quantile sketch: a log-linear histogram with `2^SUB_BITS`
//! counters per power of two, allocated up to the largest value seen. The
//! report keeps one per outcome and per function, so its memory is set by
//! the number of functions, never by the number of invocations.

/// Values below `2^SUB_BITS` are counted exactly; above, a value is
/// counted in a bucket whose lower bound is below it by less than
/// `2^-SUB_BITS` of it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Sketch<const SUB_BITS: u32> {
    counts: Vec<u64>,
    samples: u64,
    max: u64,
}

impl<const SUB_BITS: u32> Sketch<SUB_BITS> {
    const SUB_BUCKETS: u64 = 1 << SUB_BITS;

    /// An empty sketch.
    pub fn new() -> Self {
        Sketch {
            counts: Vec::new(),
            samples: 0,
            max: 0,
        }
    }

    #[inline]
    fn bucket_of(value: u64) -> usize {
        if value < Self::SUB_BUCKETS {
            return value as usize;
        }
        let octave = 63 - value.leading_zeros() - SUB_BITS;
        let mantissa = (value >> octave) - Self::SUB_BUCKETS;
        (Self::SUB_BUCKETS + u64::from(octave) * Self::SUB_BUCKETS + mantissa) as usize
    }

    /// The smallest value counted in `bucket`.
    pub fn lower_bound(bucket: usize) -> u64 {
        let bucket = bucket as u64;
        if bucket < Self::SUB_BUCKETS {
            return bucket;
        }
        let octave = (bucket - Self::SUB_BUCKETS) / Self::SUB_BUCKETS;
        let mantissa = (bucket - Self::SUB_BUCKETS) % Self::SUB_BUCKETS;
        (Self::SUB_BUCKETS + mantissa) << octave
    }

    /// Adds one sample.
    #[inline]
    pub fn record(&mut self, value: u64) {
        let bucket = Self::bucket_of(value);
        if bucket >= self.counts.len() {
            self.counts.resize(bucket + 1, 0);
        }
        self.counts[bucket] += 1;
        self.samples += 1;
        self.max = self.max.max(value);
    }

    /// How many samples were added.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// The largest sample, exactly (`None` when empty).
    pub fn max(&self) -> Option<u64> {
        (self.samples > 0).then_some(self.max)
    }

    /// The nearest-rank quantile (`per_mille` of 1,000), as its bucket's
    /// lower bound; `None` when empty.
    pub fn quantile(&self, per_mille: u64) -> Option<u64> {
        if self.samples == 0 {
            return None;
        }
        let rank = (self.samples * per_mille).div_ceil(1_000).max(1);
        let mut seen = 0;
        for (bucket, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(Self::lower_bound(bucket).min(self.max));
            }
        }
        Some(self.max)
    }

    /// The empirical CDF at each occupied bucket: (the bucket's lower
    /// bound, samples at or below the bucket), in increasing order.
    pub fn cumulative(&self) -> Vec<(u64, u64)> {
        let mut seen = 0;
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, &count)| count > 0)
            .map(|(bucket, &count)| {
                seen += count;
                (Self::lower_bound(bucket).min(self.max), seen)
            })
            .collect()
    }

    /// Counters allocated: bounded by the largest value's octave.
    pub fn counters(&self) -> usize {
        self.counts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_are_exact_and_large_ones_close_below() {
        let mut sketch = Sketch::<5>::new();
        for value in 0..32 {
            sketch.record(value);
        }
        assert_eq!(sketch.quantile(500), Some(15));
        assert_eq!(sketch.quantile(1_000), Some(31));
        let mut large = Sketch::<5>::new();
        large.record(1_000_000);
        let q = large.quantile(500).unwrap();
        assert!(q <= 1_000_000 && q as f64 >= 1_000_000.0 * (1.0 - 1.0 / 32.0));
        assert_eq!(large.max(), Some(1_000_000));
    }

    #[test]
    fn cumulative_counts_end_at_the_sample_count() {
        let mut sketch = Sketch::<5>::new();
        for value in [5, 5, 100, 7_000, 7_001, 1 << 40] {
            sketch.record(value);
        }
        let cdf = sketch.cumulative();
        assert_eq!(cdf.first(), Some(&(5, 2)));
        assert_eq!(cdf.last().map(|p| p.1), Some(6));
        assert!(cdf.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));
        // 64 octaves at most, 32 counters each: bounded whatever the values.
        assert!(sketch.counters() <= 32 + 64 * 32);
    }

    #[test]
    fn bucket_bounds_round_trip() {
        assert_eq!(Sketch::<5>::bucket_of(u64::MAX), 32 + 59 * 32 - 1);
        // Octaves 0 to 58 of 5 sub-bits: the last bucket holds u64::MAX.
        for bucket in 0..32 + 59 * 32 {
            let low = Sketch::<5>::lower_bound(bucket);
            assert_eq!(Sketch::<5>::bucket_of(low), bucket);
        }
    }
}
