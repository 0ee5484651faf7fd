//! Keep-alive and idle-eviction policies beyond a fixed keep-alive: the
//! hybrid histogram of "Serverless in the Wild" and FaasCache's greedy-dual
//! eviction order. See `docs/policies.md` for sources and deviations.

use crate::policy::{ContainerFacts, IdlePlan};
use serde::{Deserialize, Serialize};

/// The most bins a histogram may have (a week of minutes): bounds the state
/// kept per function whatever the parameters say.
pub const HISTOGRAM_BINS_MAX: u32 = 10_080;

/// Parameters of the hybrid histogram policy (Shahrad et al., ATC 2020).
/// Defaults are the paper's: 1-minute bins over a 4-hour range, a CV
/// threshold of 2, the 5th and 99th percentiles with 10% margins: a
/// container is unloaded after its invocation and pre-warmed at the 5th
/// percentile of the idle times less 10%, unless that is 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct HybridHistogram {
    /// Width of one bin.
    pub bin_us: u64,
    /// Number of bins (the range is `bins × bin_us`); clamped to
    /// `1..=HISTOGRAM_BINS_MAX`.
    pub bins: u32,
    /// The keep-alive window ends at this percentile of the idle times
    /// (clamped to 1..=100).
    pub tail_percentile: u32,
    /// The pre-warm window ends at this percentile of the idle times
    /// (clamped to at most `tail_percentile`); 0 turns pre-warming off.
    pub prewarm_percentile: u32,
    /// Margin, in percent, added to the keep-alive window's end and taken
    /// from the pre-warm window's (at most 100).
    pub margin_percent: u32,
    /// The histogram is used only if the coefficient of variation of its bin
    /// counts is at least this, in hundredths (200 = a CV of 2).
    pub cv_threshold_hundredths: u32,
    /// The histogram is not used if more than this share (percent) of the
    /// idle times fell beyond its range.
    pub out_of_range_max_percent: u32,
    /// The keep-alive when the histogram is not used.
    pub fallback_keep_alive_us: u64,
}

impl HybridHistogram {
    /// The paper's parameters (our choice where it gives none: the
    /// out-of-range share, and a fallback of the whole range).
    pub const PAPER: HybridHistogram = HybridHistogram {
        bin_us: 60_000_000,
        bins: 240,
        tail_percentile: 99,
        prewarm_percentile: 5,
        margin_percent: 10,
        cv_threshold_hundredths: 200,
        out_of_range_max_percent: 50,
        fallback_keep_alive_us: 240 * 60_000_000,
    };
}

impl Default for HybridHistogram {
    fn default() -> Self {
        HybridHistogram::PAPER
    }
}

/// One function's idle-time histogram.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdleHistogram {
    /// When the function's last invocation that left a container idle ended.
    last_end_us: Option<u64>,
    /// Idle times per bin (saturating).
    counts: Vec<u32>,
    /// Idle times beyond the range.
    out_of_range: u64,
}

impl IdleHistogram {
    /// Records the idle time that ends at `now_us` (if an earlier end is
    /// known) and remembers `now_us` as the latest end.
    fn record(&mut self, params: &HybridHistogram, now_us: u64) {
        let bins = params.bins.clamp(1, HISTOGRAM_BINS_MAX) as usize;
        if self.counts.len() != bins {
            self.counts = vec![0; bins];
        }
        if let Some(last_end_us) = self.last_end_us {
            let idle_us = now_us.saturating_sub(last_end_us);
            let bin = idle_us / params.bin_us.max(1);
            match self.counts.get_mut(bin as usize) {
                Some(count) if bin < bins as u64 => *count = count.saturating_add(1),
                _ => self.out_of_range = self.out_of_range.saturating_add(1),
            }
        }
        self.last_end_us = Some(now_us);
    }

    /// The windows this histogram gives, or `None` when it is not to be
    /// used (no idle time in range, too many out of range, or bin counts
    /// too even to predict).
    fn windows(&self, params: &HybridHistogram) -> Option<IdlePlan> {
        let in_range: u128 = self.counts.iter().map(|&c| u128::from(c)).sum();
        if in_range == 0 {
            return None;
        }
        let all = in_range + u128::from(self.out_of_range);
        if u128::from(self.out_of_range) * 100 > u128::from(params.out_of_range_max_percent) * all {
            return None;
        }
        // CV ≥ t  ⟺  sd ≥ t·mean  ⟺  N·Σc² − S² ≥ t²·S²  (N bins, S = Σc).
        let bins = self.counts.len() as u128;
        let squares: u128 = self.counts.iter().map(|&c| u128::from(c).pow(2)).sum();
        let t = u128::from(params.cv_threshold_hundredths);
        if bins * squares * 10_000 < (10_000 + t * t) * in_range * in_range {
            return None;
        }
        let bin_us = u128::from(params.bin_us.max(1));
        let margin = u128::from(params.margin_percent);
        let tail = params.tail_percentile.clamp(1, 100);
        // The keep-alive window ends at the upper edge of the tail bin,
        // plus the margin.
        let window_end_us =
            (self.percentile_bin(tail, in_range) + 1) * bin_us * (100 + margin) / 100;
        // The pre-warm window ends at the lower edge of the head bin, less
        // the margin: the earliest idle time that bin holds.
        let head = params.prewarm_percentile.min(tail);
        let prewarm_us = if head == 0 {
            0
        } else {
            self.percentile_bin(head, in_range) * bin_us * (100 - margin.min(100)) / 100
        };
        let saturate = |v: u128| u64::try_from(v).unwrap_or(u64::MAX);
        Some(if prewarm_us == 0 {
            IdlePlan {
                keep_alive_us: saturate(window_end_us),
                prewarm_after_us: None,
            }
        } else {
            // The pre-warmed container stays until the window's end, counted
            // from the end of the invocation that planned it.
            IdlePlan {
                keep_alive_us: saturate(window_end_us - prewarm_us),
                prewarm_after_us: Some(saturate(prewarm_us)),
            }
        })
    }

    /// The bin holding the `percentile`th percentile (1..=100) of the
    /// `in_range` (> 0) idle times.
    fn percentile_bin(&self, percentile: u32, in_range: u128) -> u128 {
        // The bins before it are those whose running count is short of
        // the wanted rank (at most `in_range`, so some bin reaches it).
        let wanted = (u128::from(percentile) * in_range).div_ceil(100);
        let before = self
            .counts
            .iter()
            .scan(0u128, |seen, &c| {
                *seen += u128::from(c);
                Some(*seen)
            })
            .take_while(|&seen| seen < wanted)
            .count();
        before as u128
    }
}

/// The hybrid histogram's plan for a container of `facts.function` whose
/// invocation just completed: records the idle time, then reads the
/// histogram; the fallback keep-alive, without pre-warm, when the
/// histogram is not to be used.
pub fn hybrid_plan(
    params: &HybridHistogram,
    histogram: &mut IdleHistogram,
    facts: &ContainerFacts,
) -> IdlePlan {
    histogram.record(params, facts.last_used_us);
    histogram.windows(params).unwrap_or(IdlePlan {
        keep_alive_us: params.fallback_keep_alive_us,
        prewarm_after_us: None,
    })
}

/// FaasCache's greedy-dual value, before the host's clock is added (see
/// `docs/policies.md`): `frequency × cold_cost_us × 2^20 / memory_bytes`,
/// saturating (µs of cold start saved per MiB, per use).
pub fn greedy_dual_priority(frequency: u64, cold_cost_us: u64, memory_bytes: u64) -> u64 {
    let value = (u128::from(frequency) * u128::from(cold_cost_us)).saturating_mul(1 << 20)
        / u128::from(memory_bytes.max(1));
    u64::try_from(value).unwrap_or(u64::MAX)
}
