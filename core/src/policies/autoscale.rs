//! The built-in autoscaler: a rule modelled on Knative's KPA (the Knative
//! Pod Autoscaler), in integers. See `docs/policies.md` for its source, its
//! defaults and where it differs from Knative's; spec R170 gives the rule.
//!
//! The core hands the rule, at every reconcile tick, the integral of the
//! function's unended invocations over the ticks since the previous one
//! (`ScaleFacts::demand_us`, invocation·µs). The rule keeps the last
//! stable window of those integrals, one per tick, in a ring, with running
//! sums over the stable and the panic windows: O(1) per tick, whatever the
//! window (plus one step per tick skipped while the timer was off).

use crate::ids::FunctionId;
use crate::policy::{ScaleDecision, ScaleFacts};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// The most ticks a window may span: bounds the ring kept per function
/// whatever the parameters say (an hour of Knative's 1-second ticks).
pub const KPA_TICKS_MAX: u64 = 3_600;

/// Parameters of the KPA-like rule. The defaults are Knative's (its
/// `config-autoscaler` settings, quoted in `docs/policies.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Kpa {
    /// The share of a container's concurrency the rule aims to use, in
    /// percent: the target per container is `concurrency ×
    /// target_utilization_percent / 100` invocations (Knative's
    /// `container-concurrency-target-percentage`, 70). Clamped to 1..=100.
    pub target_utilization_percent: u32,
    /// The stable window (µs): the desired count follows the mean over it
    /// (Knative's `stable-window`, 60 s). Rounded up to whole ticks, at
    /// most `KPA_TICKS_MAX`.
    pub stable_window_us: u64,
    /// The panic window (µs): the mean over it decides panic mode
    /// (Knative's `panic-window-percentage`, 10% of the stable window:
    /// 6 s). Whole ticks, at least one, at most the stable window's.
    pub panic_window_us: u64,
    /// Panic mode begins when the panic window's desired count is at
    /// least this share of the current containers, in percent (Knative's
    /// `panic-threshold-percentage`, 200).
    pub panic_threshold_percent: u32,
    /// How long the desired count must stay 0 before it is answered as 0
    /// (until then the rule keeps one container, if there is one;
    /// Knative's `scale-to-zero-grace-period`, 30 s).
    pub scale_to_zero_grace_us: u64,
    /// The most the count may grow in one tick, as a share of the ready
    /// containers in percent (Knative's `max-scale-up-rate`, 1000.0:
    /// 100,000%).
    pub max_scale_up_rate_percent: u64,
    /// The most the count may shrink in one tick: to no less than the
    /// ready containers × 100 / this (Knative's `max-scale-down-rate`,
    /// 2.0: 200%, at most halving). Clamped to at least 100.
    pub max_scale_down_rate_percent: u64,
}

impl Kpa {
    /// Knative's defaults: 70% utilization, a 60 s stable window, a 6 s
    /// panic window, panic at 200%, 30 s of grace before zero.
    pub const KNATIVE: Kpa = Kpa {
        target_utilization_percent: 70,
        stable_window_us: 60_000_000,
        panic_window_us: 6_000_000,
        panic_threshold_percent: 200,
        scale_to_zero_grace_us: 30_000_000,
        max_scale_up_rate_percent: 100_000,
        max_scale_down_rate_percent: 200,
    };
}

impl Default for Kpa {
    fn default() -> Self {
        Kpa::KNATIVE
    }
}

/// The KPA-like rule's state: each function's window, by `to_bits()`.
/// Starts empty (an arbitrary `Builtin` for fuzzing too).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KpaState {
    windows: BTreeMap<u64, KpaWindow>,
}

impl KpaState {
    /// Whether the function is in panic mode.
    pub fn in_panic(&self, function: FunctionId) -> bool {
        self.windows
            .get(&function.to_bits())
            .is_some_and(KpaWindow::in_panic)
    }

    /// Whether nothing has been observed yet.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    pub(crate) fn window_mut(&mut self, function: FunctionId) -> &mut KpaWindow {
        self.windows.entry(function.to_bits()).or_default()
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for KpaState {
    fn arbitrary(_: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(KpaState::default())
    }
}

/// One function's windows and modes under the KPA-like rule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KpaWindow {
    /// The last ticks' integrals (invocation·µs), oldest first; at most the
    /// stable window's ticks.
    buckets: VecDeque<u128>,
    /// The sum of `buckets`.
    stable_sum: u128,
    /// The sum of the newest panic-window ticks of `buckets`.
    panic_sum: u128,
    /// When panic conditions last held, while in panic mode.
    panic_since_us: Option<u64>,
    /// The highest count answered in this panic (never less in panic).
    panic_max: u32,
    /// When the desired count last became 0, while it stays 0.
    zero_since_us: Option<u64>,
}

impl KpaWindow {
    /// Whether the function is in panic mode.
    pub fn in_panic(&self) -> bool {
        self.panic_since_us.is_some()
    }

    /// Adds one tick's integral, dropping what leaves each window.
    fn push(&mut self, value: u128, stable_ticks: usize, panic_ticks: usize) {
        // The sums saturate only past any integral the core can give
        // (2^32 invocations for 2^48 µs, 3,600 times, is below 2^93).
        self.buckets.push_back(value);
        self.stable_sum = self.stable_sum.saturating_add(value);
        self.panic_sum = self.panic_sum.saturating_add(value);
        let n = self.buckets.len();
        if n > panic_ticks {
            self.panic_sum = self
                .panic_sum
                .saturating_sub(self.buckets[n - 1 - panic_ticks]);
        }
        while self.buckets.len() > stable_ticks {
            if let Some(old) = self.buckets.pop_front() {
                self.stable_sum = self.stable_sum.saturating_sub(old);
            }
        }
    }
}

/// `⌈a / b⌉` for `b > 0`.
fn div_ceil(a: u128, b: u128) -> u128 {
    a.div_ceil(b)
}

/// The KPA-like rule's answer (spec R170) for one tick, updating the
/// function's window.
pub fn kpa_decide(
    params: &Kpa,
    window: &mut KpaWindow,
    facts: &ScaleFacts,
    keep_alive_us: u64,
) -> ScaleDecision {
    let tick_us = facts.tick_us.max(1);
    let ticks_of = |us: u64| us.div_ceil(tick_us).clamp(1, KPA_TICKS_MAX);
    let stable_ticks = ticks_of(params.stable_window_us);
    let panic_ticks = ticks_of(params.panic_window_us).min(stable_ticks);
    let (stable_n, panic_n) = (stable_ticks as usize, panic_ticks as usize);
    // Ticks the timer was off (R168.3): counted as zeros, the whole
    // integral in the newest.
    let elapsed_ticks = (facts.interval_us / tick_us).max(1);
    let skipped = (elapsed_ticks - 1).min(stable_ticks);
    for _ in 0..skipped {
        window.push(0, stable_n, panic_n);
    }
    window.push(facts.demand_us, stable_n, panic_n);

    let utilization = u128::from(params.target_utilization_percent.clamp(1, 100));
    // The target per container in hundredths of an invocation.
    let target_hundredths = u128::from(facts.concurrency.max(1)) * utilization;
    let count = |sum: u128, ticks: u64| {
        let window_us = u128::from(ticks) * u128::from(tick_us);
        div_ceil(sum.saturating_mul(100), window_us * target_hundredths)
    };
    let stable_count = count(window.stable_sum, stable_ticks);
    let panic_count = count(window.panic_sum, panic_ticks);
    // Knative's rates bound both counts to [ready / down, up × ready],
    // with at least one ready container assumed.
    let ready = u128::from(facts.ready_containers.max(1));
    let scale_up_max = div_ceil(
        u128::from(params.max_scale_up_rate_percent).saturating_mul(ready),
        100,
    );
    let scale_down_min = ready * 100 / u128::from(params.max_scale_down_rate_percent.max(100));
    let bound = |count: u128| count.max(scale_down_min).min(scale_up_max);
    let over_threshold = panic_count.saturating_mul(100)
        >= u128::from(params.panic_threshold_percent).saturating_mul(ready);
    let now_us = facts.now_us;
    if over_threshold {
        window.panic_since_us = Some(now_us);
    } else if let Some(since_us) = window.panic_since_us {
        if now_us.saturating_sub(since_us) > params.stable_window_us {
            window.panic_since_us = None;
            window.panic_max = 0;
        }
    }
    let clamp = |value: u128| u32::try_from(value).unwrap_or(u32::MAX);
    let mut desired = clamp(bound(stable_count));
    if window.in_panic() {
        // Never down in panic: the most answered since it began.
        desired = desired.max(clamp(bound(panic_count))).max(window.panic_max);
        window.panic_max = desired;
    }
    if desired == 0 {
        let since_us = *window.zero_since_us.get_or_insert(now_us);
        if now_us - since_us < params.scale_to_zero_grace_us {
            desired = facts.containers.min(1);
        }
    } else {
        window.zero_since_us = None;
    }
    ScaleDecision {
        containers: desired,
        keep_alive_us,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(now_us: u64, demand_us: u128, containers: u32) -> ScaleFacts {
        ScaleFacts {
            function: FunctionId::from_bits(0),
            now_us,
            tick_us: 2_000_000,
            interval_us: 2_000_000,
            demand_us,
            demand: 0,
            concurrency: 1,
            containers,
            ready_containers: containers,
            idle_containers: 0,
        }
    }

    #[test]
    fn the_stable_window_averages_and_the_target_is_seventy_percent() {
        let params = Kpa::KNATIVE;
        let mut window = KpaWindow::default();
        // 7 invocations for one tick: the panic window (3 ticks of 2 s)
        // holds 7 × 2 s over 6 s = 2.33 → ⌈2.33 / 0.7⌉ = 4 containers; 4
        // ≥ 2 × 1: panic.
        let d = kpa_decide(&params, &mut window, &facts(2_000_000, 7 * 2_000_000, 1), 9);
        assert_eq!(
            d,
            ScaleDecision {
                containers: 4,
                keep_alive_us: 9
            }
        );
        assert!(window.in_panic());
        // In panic the count never falls, however quiet the next ticks.
        let d = kpa_decide(&params, &mut window, &facts(4_000_000, 0, 4), 9);
        assert_eq!(d.containers, 4);
        // Panic conditions held last at 2 s; panic ends at the first tick
        // more than a stable window (60 s) later: 64 s, tick 32.
        for tick in 3..=31 {
            let d = kpa_decide(&params, &mut window, &facts(tick * 2_000_000, 0, 4), 9);
            assert_eq!(d.containers, 4, "tick {tick}");
        }
        let d = kpa_decide(&params, &mut window, &facts(32 * 2_000_000, 0, 4), 9);
        assert!(!window.in_panic());
        // The 7-invocation tick has left the 30-tick stable window: the
        // stable count is 0, but one tick may at most halve the ready 4.
        assert_eq!(d.containers, 2);
        let d = kpa_decide(&params, &mut window, &facts(33 * 2_000_000, 0, 2), 9);
        assert_eq!(d.containers, 1);
        // Zero within the grace (30 s from 64 s) keeps one.
        let d = kpa_decide(&params, &mut window, &facts(34 * 2_000_000, 0, 1), 9);
        assert_eq!(d.containers, 1);
    }

    #[test]
    fn zero_only_after_the_grace() {
        let params = Kpa::KNATIVE;
        let mut window = KpaWindow::default();
        for tick in 1..=15 {
            let d = kpa_decide(&params, &mut window, &facts(tick * 2_000_000, 0, 1), 0);
            assert_eq!(d.containers, 1, "tick {tick}");
        }
        // 30 s after the first zero.
        let d = kpa_decide(&params, &mut window, &facts(16 * 2_000_000, 0, 1), 0);
        assert_eq!(d.containers, 0);
        // With no container, the grace keeps none.
        let mut window = KpaWindow::default();
        let d = kpa_decide(&params, &mut window, &facts(2_000_000, 0, 0), 0);
        assert_eq!(d.containers, 0);
    }

    #[test]
    fn skipped_ticks_shift_in_zeros_and_extremes_do_not_overflow() {
        let params = Kpa::KNATIVE;
        let mut window = KpaWindow::default();
        kpa_decide(
            &params,
            &mut window,
            &facts(2_000_000, 60 * 2_000_000, 1),
            0,
        );
        let later = ScaleFacts {
            interval_us: 1_000 * 2_000_000,
            ..facts(1_001 * 2_000_000, 0, 0)
        };
        kpa_decide(&params, &mut window, &later, 0);
        assert_eq!(window.stable_sum, 0);
        let huge = ScaleFacts {
            demand_us: u128::MAX,
            concurrency: u32::MAX,
            tick_us: 1,
            interval_us: 1,
            ..facts(u64::MAX, 0, u32::MAX)
        };
        let params = Kpa {
            stable_window_us: u64::MAX,
            panic_window_us: u64::MAX,
            panic_threshold_percent: u32::MAX,
            target_utilization_percent: 0,
            scale_to_zero_grace_us: u64::MAX,
            max_scale_up_rate_percent: u64::MAX,
            max_scale_down_rate_percent: 0,
        };
        let mut window = KpaWindow::default();
        let d = kpa_decide(&params, &mut window, &huge, 0);
        assert!(d.containers > 0);
    }
}
