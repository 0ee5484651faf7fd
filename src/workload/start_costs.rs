//! Memory-dependent cold starts: a function's cold-start cost drawn from
//! its memory size, as measured on real platforms.
//!
//! The figures are the mean and standard deviation of measured cold starts
//! in Wang et al., "Peeking Behind the Curtains of Serverless Platforms"
//! (USENIX ATC 2018), at 128 MB and 2,048 MB, as OpenDC's FaaS simulator
//! tabulates them (`ColdStartModel`, opendc-faas): AWS Lambda 265.21 ± 354.43
//! ms at 128 MB and 246.11 ± 253.43 ms at 2,048 MB; Google Cloud Functions
//! 493.04 ± 345.8 ms and 110.77 ± 124.3 ms; Azure Functions 242.66 ±
//! 340.67 ms at any size (it ran every function on 1.5 GB instances).
//!
//! The rule (ours): between 128 MB and 2,048 MB, the mean and the standard
//! deviation are linear in the memory size (MiB, as the platforms count
//! megabytes); outside that range they are those of the nearer end. A
//! function's cost is `|mean + sd × z|` for a standard normal `z`, rounded
//! to the microsecond — the folded normal OpenDC draws from. coldstart's
//! core pays one cold-start cost per function (spec R41a), so the draw is
//! made once per function, when the workload registers it: the spread is
//! between functions, not between one function's cold starts (OpenDC draws
//! per start).

use super::synthetic::{inverse_normal, open_unit_from};
use coldstart_core::limits::DURATION_MAX_US;
use coldstart_core::MIB;

/// A measured platform whose cold starts by memory size a workload draws
/// its functions' cold-start costs from (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ColdStartModel {
    /// AWS Lambda: about 265 ms at 128 MB, 246 ms at 2,048 MB.
    Lambda,
    /// Google Cloud Functions: about 493 ms at 128 MB, 111 ms at 2,048 MB.
    Google,
    /// Azure Functions: about 243 ms at any size.
    Azure,
}

/// The start costs an imported trace gives its functions (spec R41a): the
/// same own costs for every function, and the cold-start model for those
/// without one. `Default`: none (the provider's for all).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StartCosts {
    /// Every function's own cold-start cost (µs), if given.
    pub cold_start_us: Option<u64>,
    /// Every function's own warm-start cost (µs), if given.
    pub warm_start_us: Option<u64>,
    /// When on (and `cold_start_us` is not given), each function's cold
    /// start is drawn from its memory size by this model.
    pub cold_start_model: Option<ColdStartModel>,
    /// Seeds the model's draws (one per function, in registration order).
    pub seed: u64,
}

impl StartCosts {
    /// These costs and model, the model's draws seeded by `seed`.
    pub fn new(
        cold_start_us: Option<u64>,
        warm_start_us: Option<u64>,
        cold_start_model: Option<ColdStartModel>,
        seed: u64,
    ) -> StartCosts {
        StartCosts {
            cold_start_us,
            warm_start_us,
            cold_start_model,
            seed,
        }
    }
}

/// The smallest and largest memory sizes measured (MiB).
const MEASURED_MIB: (u64, u64) = (128, 2_048);

impl ColdStartModel {
    /// Mean and standard deviation (ms) at the smallest and largest sizes
    /// measured.
    fn measured_ms(self) -> ((f64, f64), (f64, f64)) {
        match self {
            ColdStartModel::Lambda => ((265.21, 354.43), (246.11, 253.43)),
            ColdStartModel::Google => ((493.04, 345.8), (110.77, 124.3)),
            ColdStartModel::Azure => ((242.66, 340.67), (242.66, 340.67)),
        }
    }

    /// The mean and standard deviation of a cold start (ms) of a function
    /// of `memory_bytes`.
    pub fn mean_sd_ms(self, memory_bytes: u64) -> (f64, f64) {
        let (low, high) = MEASURED_MIB;
        let mib = (memory_bytes / MIB).clamp(low, high);
        let at = (mib - low) as f64 / (high - low) as f64;
        let ((mean_low, sd_low), (mean_high, sd_high)) = self.measured_ms();
        (
            mean_low + (mean_high - mean_low) * at,
            sd_low + (sd_high - sd_low) * at,
        )
    }

    /// The cold-start cost (µs) of a function of `memory_bytes`, from one
    /// uniform 64-bit `draw`; at most `limits::DURATION_MAX_US`.
    pub fn cold_start_us(self, memory_bytes: u64, draw: u64) -> u64 {
        let (mean_ms, sd_ms) = self.mean_sd_ms(memory_bytes);
        let z = inverse_normal(open_unit_from(draw));
        let us = ((mean_ms + sd_ms * z) * 1_000.0).abs().round();
        if us.is_nan() || us >= DURATION_MAX_US as f64 {
            return DURATION_MAX_US;
        }
        us as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_measured_sizes_give_the_measured_figures_and_between_is_linear() {
        let lambda = ColdStartModel::Lambda;
        assert_eq!(lambda.mean_sd_ms(128 * MIB), (265.21, 354.43));
        assert_eq!(lambda.mean_sd_ms(2_048 * MIB), (246.11, 253.43));
        // Outside the range, the nearer end.
        assert_eq!(lambda.mean_sd_ms(MIB), (265.21, 354.43));
        assert_eq!(lambda.mean_sd_ms(10_240 * MIB), (246.11, 253.43));
        // Half way (1,088 MiB): the midpoints.
        let (mean, sd) = ColdStartModel::Google.mean_sd_ms(1_088 * MIB);
        assert!((mean - (493.04 + 110.77) / 2.0).abs() < 1e-9, "{mean}");
        assert!((sd - (345.8 + 124.3) / 2.0).abs() < 1e-9, "{sd}");
        assert_eq!(
            ColdStartModel::Azure.mean_sd_ms(128 * MIB),
            ColdStartModel::Azure.mean_sd_ms(2_048 * MIB)
        );
    }

    #[test]
    fn draws_fold_the_normal_and_average_near_its_folded_mean() {
        // The median draw (z = 0) is the mean.
        let median = 1u64 << 63;
        assert_eq!(
            ColdStartModel::Lambda.cold_start_us(2_048 * MIB, median),
            246_110
        );
        // A very low draw folds to a positive cost.
        assert!(ColdStartModel::Lambda.cold_start_us(128 * MIB, 0) > 0);
        // Over many evenly spread draws, the mean is the folded normal's:
        // for Google at 2,048 MB (μ = 110.77, σ = 124.3 ms),
        // σ√(2/π)e^(−μ²/2σ²) + μ(1 − 2Φ(−μ/σ)) ≈ 136.1 ms.
        let n = 100_000u64;
        let total: u64 = (0..n)
            .map(|i| {
                let draw = (u64::MAX / n) * i + u64::MAX / (2 * n);
                ColdStartModel::Google.cold_start_us(2_048 * MIB, draw)
            })
            .sum();
        let mean_ms = total as f64 / n as f64 / 1_000.0;
        assert!((mean_ms - 136.1).abs() < 1.0, "{mean_ms}");
    }
}
