//! Time series in a fixed number of intervals, whatever the run's length.
//!
//! The time axis is cut into [`BUCKETS`] intervals of one width, starting
//! at 1 µs. When virtual time reaches the end of the last interval, every
//! series merges its intervals two by two and the width doubles, so a run
//! of any length ends with between `BUCKETS / 2` and `BUCKETS` intervals in
//! use and memory never grows. Merging is exact: counts and time integrals
//! add, maxima take the larger.

/// Intervals per series: even, so that merging pairs leaves none alone.
pub const BUCKETS: usize = 200;

/// The shared time axis: the interval width, doubled as time grows. The
/// width is a power of two, so an interval is found by a shift: this runs
/// for every event of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeline {
    width_shift: u32,
    /// The end of the last interval (saturated at `u64::MAX`).
    end_us: u64,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline::new()
    }
}

impl Timeline {
    /// An axis of [`BUCKETS`] intervals of 1 µs, from time 0.
    pub fn new() -> Timeline {
        Timeline {
            width_shift: 0,
            end_us: BUCKETS as u64,
        }
    }

    /// The width of one interval (µs): a power of two.
    pub fn width_us(&self) -> u64 {
        1 << self.width_shift
    }

    /// Whether `t_us` is inside the axis (no doubling needed).
    pub fn covers(&self, t_us: u64) -> bool {
        t_us < self.end_us
    }

    /// How many doublings bring `t_us` inside the last interval (0 when it
    /// already is). The caller merges every series that many times.
    pub fn doublings_for(&self, t_us: u64) -> u32 {
        let mut width_us = u128::from(self.width_us());
        let mut doublings = 0;
        while u128::from(t_us) >= width_us * BUCKETS as u128 {
            width_us *= 2;
            doublings += 1;
        }
        doublings
    }

    /// Doubles the width once (after every series merged once).
    /// (Widths past 2^56 µs cannot be needed: times end at 2^63.)
    pub fn double(&mut self) {
        self.width_shift = (self.width_shift + 1).min(56);
        self.end_us = self.width_us().saturating_mul(BUCKETS as u64);
    }

    /// The interval `t_us` falls in; `t_us` must be inside the axis.
    #[inline]
    pub fn bucket_of(&self, t_us: u64) -> usize {
        let bucket = (t_us >> self.width_shift) as usize;
        debug_assert!(bucket < BUCKETS, "time {t_us} µs past the axis");
        bucket.min(BUCKETS - 1)
    }

    /// The start of interval `bucket`.
    pub fn start_us(&self, bucket: usize) -> u64 {
        self.width_us().saturating_mul(bucket as u64)
    }

    /// How many intervals a run that ended at `end_us` uses (at least 1).
    pub fn used(&self, end_us: u64) -> usize {
        (self.bucket_of(end_us) + 1).min(BUCKETS)
    }
}

/// Merges pairs of intervals in place: interval `i` becomes `2i` and
/// `2i + 1` combined, the upper half zero.
fn merge_pairs<T: Copy + Default>(values: &mut [T], combine: impl Fn(T, T) -> T) {
    let half = values.len() / 2;
    for i in 0..half {
        values[i] = combine(values[2 * i], values[2 * i + 1]);
    }
    for value in &mut values[half..] {
        *value = T::default();
    }
}

/// Events counted per interval (cold starts, rejections, …).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counter {
    counts: Vec<u64>,
}

impl Default for Counter {
    fn default() -> Self {
        Counter {
            counts: vec![0; BUCKETS],
        }
    }
}

impl Counter {
    /// Adds `count` in the interval of `t_us` (inside the axis).
    #[inline]
    pub fn add(&mut self, timeline: &Timeline, t_us: u64, count: u64) {
        self.counts[timeline.bucket_of(t_us)] += count;
    }

    /// Merges pairs of intervals, after the axis doubled.
    pub fn merge(&mut self) {
        merge_pairs(&mut self.counts, |a, b| a + b);
    }

    /// The count of each interval.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// The sum over every interval.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// A piecewise-constant quantity (containers live, bytes of RAM in use),
/// kept per interval as its time integral and its maximum, so the
/// interval's time average is exact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gauge {
    value: u64,
    /// Integrated up to here.
    since_us: u64,
    /// The interval of `since_us`, and its end: most changes fall in the
    /// same interval as the one before, and take only an addition.
    bucket: usize,
    bucket_end_us: u64,
    /// Value × µs within each interval.
    integral: Vec<u128>,
    max: Vec<u64>,
}

impl Default for Gauge {
    fn default() -> Self {
        Gauge {
            value: 0,
            since_us: 0,
            bucket: 0,
            bucket_end_us: 1,
            integral: vec![0; BUCKETS],
            max: vec![0; BUCKETS],
        }
    }
}

impl Gauge {
    /// The value now.
    pub fn value(&self) -> u64 {
        self.value
    }

    /// Integrates the current value up to `t_us` (inside the axis, not
    /// before the last change).
    #[inline]
    pub fn advance(&mut self, timeline: &Timeline, t_us: u64) {
        debug_assert!(t_us >= self.since_us, "a gauge went back in time");
        let t_us = t_us.max(self.since_us);
        if t_us < self.bucket_end_us {
            self.integral[self.bucket] += u128::from(self.value) * u128::from(t_us - self.since_us);
            self.since_us = t_us;
            return;
        }
        self.advance_across(timeline, t_us);
    }

    /// `advance` into a later interval than the current one's.
    #[cold]
    #[inline(never)]
    fn advance_across(&mut self, timeline: &Timeline, t_us: u64) {
        let mut from_us = self.since_us;
        loop {
            let bucket = timeline.bucket_of(from_us);
            self.max[bucket] = self.max[bucket].max(self.value);
            let bucket_end_us = timeline.start_us(bucket + 1);
            let to_us = t_us.min(bucket_end_us);
            self.integral[bucket] += u128::from(self.value) * u128::from(to_us - from_us);
            if to_us >= t_us || bucket + 1 >= BUCKETS {
                break;
            }
            from_us = to_us;
        }
        self.since_us = t_us;
        self.locate(timeline);
    }

    /// Finds the interval of `since_us` again (after it moved, or after
    /// the axis doubled), and counts the value in its maximum.
    fn locate(&mut self, timeline: &Timeline) {
        self.bucket = timeline.bucket_of(self.since_us);
        self.bucket_end_us = timeline.start_us(self.bucket + 1);
        self.max[self.bucket] = self.max[self.bucket].max(self.value);
    }

    /// Sets a new value from `t_us` on.
    #[inline]
    pub fn set(&mut self, timeline: &Timeline, t_us: u64, value: u64) {
        self.advance(timeline, t_us);
        self.value = value;
        if value > self.max[self.bucket] {
            self.max[self.bucket] = value;
        }
    }

    /// Adds `delta` from `t_us` on (saturating).
    #[inline]
    pub fn add(&mut self, timeline: &Timeline, t_us: u64, delta: u64) {
        let value = self.value.saturating_add(delta);
        self.set(timeline, t_us, value);
    }

    /// Subtracts, saturating at zero: a gauge rebuilt from events never
    /// goes negative on a consistent stream (the tests check it does not
    /// saturate), and a damaged stream must not panic.
    #[inline]
    pub fn sub(&mut self, timeline: &Timeline, t_us: u64, delta: u64) {
        let value = self.value.saturating_sub(delta);
        self.set(timeline, t_us, value);
    }

    /// Merges pairs of intervals; `timeline` is the axis after doubling.
    pub fn merge(&mut self, timeline: &Timeline) {
        merge_pairs(&mut self.integral, |a, b| a + b);
        merge_pairs(&mut self.max, u64::max);
        self.locate(timeline);
    }

    /// The time integral of each interval (value × µs).
    pub fn integrals(&self) -> &[u128] {
        &self.integral
    }

    /// The maximum within each interval.
    pub fn maxima(&self) -> &[u64] {
        &self.max
    }

    /// The time average over each of the first `used` intervals of a run
    /// that ended at `end_us` (the last interval is partial).
    pub fn averages(&self, timeline: &Timeline, end_us: u64, used: usize) -> Vec<f64> {
        (0..used)
            .map(|bucket| {
                let start_us = timeline.start_us(bucket);
                let span_us = timeline.start_us(bucket + 1).min(end_us) - start_us.min(end_us);
                if span_us == 0 {
                    self.value as f64
                } else {
                    self.integral[bucket] as f64 / span_us as f64
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Moves the axis to `t_us`, merging the series as the collector does.
    fn reach(
        timeline: &mut Timeline,
        t_us: u64,
        counters: &mut [&mut Counter],
        gauges: &mut [&mut Gauge],
    ) {
        for _ in 0..timeline.doublings_for(t_us) {
            timeline.double();
            counters.iter_mut().for_each(|c| c.merge());
            gauges.iter_mut().for_each(|g| g.merge(timeline));
        }
    }

    #[test]
    fn doubling_keeps_every_count_and_places_it_by_its_time() {
        let mut timeline = Timeline::new();
        let mut counter = Counter::default();
        // One event at each µs of 0..1000: the axis must double until
        // 1000 < 200 × width, i.e. width 8 (1600 µs).
        for t_us in 0..1_000 {
            reach(&mut timeline, t_us, &mut [&mut counter], &mut []);
            counter.add(&timeline, t_us, 1);
        }
        assert_eq!(timeline.width_us(), 8);
        assert_eq!(counter.total(), 1_000);
        // Interval i holds the events of [8i, 8i + 8): 8 each, up to 992.
        for (bucket, &count) in counter.counts().iter().enumerate() {
            let expected = if bucket < 125 { 8 } else { 0 };
            assert_eq!(count, expected, "interval {bucket}");
        }
    }

    #[test]
    fn merging_equals_counting_at_the_final_width_from_the_start() {
        // Times spread far apart (a long run): the counts after all the
        // doublings equal a direct count at the final width.
        let times: Vec<u64> = (0..5_000_u64).map(|i| i * i * 37 + i % 7).collect();
        let mut timeline = Timeline::new();
        let mut counter = Counter::default();
        for &t_us in &times {
            reach(&mut timeline, t_us, &mut [&mut counter], &mut []);
            counter.add(&timeline, t_us, 2);
        }
        let mut direct = vec![0_u64; BUCKETS];
        for &t_us in &times {
            direct[(t_us / timeline.width_us()) as usize] += 2;
        }
        assert_eq!(counter.counts(), &direct[..]);
        assert_eq!(counter.total(), 10_000);
        let last = *times.last().unwrap();
        assert!(last < timeline.width_us() * BUCKETS as u64);
        assert!(last >= timeline.width_us() * BUCKETS as u64 / 2);
    }

    #[test]
    fn gauge_integral_is_exact_across_intervals_and_doublings() {
        let mut timeline = Timeline::new();
        let mut gauge = Gauge::default();
        // 3 from 0 to 150, 7 from 150 to 1_000, then 0 up to 2_000.
        let changes = [(0, 3), (150, 7), (1_000, 0)];
        for (t_us, value) in changes {
            reach(&mut timeline, t_us, &mut [], &mut [&mut gauge]);
            gauge.set(&timeline, t_us, value);
        }
        reach(&mut timeline, 2_000, &mut [], &mut [&mut gauge]);
        gauge.advance(&timeline, 2_000);
        assert_eq!(timeline.width_us(), 16);
        let total: u128 = gauge.integrals().iter().sum();
        assert_eq!(total, 3 * 150 + 7 * 850);
        // Interval 9 ([144, 160)) holds 6 µs at 3 and 10 µs at 7.
        assert_eq!(gauge.integrals()[9], 3 * 6 + 7 * 10);
        assert_eq!(gauge.maxima()[9], 7);
        assert_eq!(gauge.maxima()[0], 3);
        assert_eq!(gauge.maxima()[70], 0);
        let averages = gauge.averages(&timeline, 2_000, timeline.used(2_000));
        assert_eq!(averages.len(), 126);
        assert_eq!(averages[0], 3.0);
        assert_eq!(averages[20], 7.0);
        assert_eq!(averages[9], (3.0 * 6.0 + 7.0 * 10.0) / 16.0);
    }

    #[test]
    fn a_long_gap_fills_every_interval_it_spans() {
        let mut timeline = Timeline::new();
        let mut gauge = Gauge::default();
        gauge.set(&timeline, 0, 5);
        reach(&mut timeline, 199, &mut [], &mut [&mut gauge]);
        gauge.advance(&timeline, 199);
        assert_eq!(timeline.width_us(), 1);
        assert!(gauge.integrals()[..199].iter().all(|&i| i == 5));
        assert_eq!(gauge.integrals()[199], 0);
    }

    #[test]
    fn gauge_saturates_instead_of_underflowing() {
        let timeline = Timeline::new();
        let mut gauge = Gauge::default();
        gauge.add(&timeline, 0, 2);
        gauge.sub(&timeline, 1, 5);
        assert_eq!(gauge.value(), 0);
    }
}
