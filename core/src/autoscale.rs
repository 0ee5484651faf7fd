//! The autoscaler's side of the core (spec §31): each function's observed
//! concurrency, kept exactly as an integral of its unended invocations
//! over time (O(1) per change), the periodic reconcile timer, and acting on
//! a policy's desired container count through the pre-warm and unload
//! machinery. The rule that picks the count is a policy's
//! (`Policies::desired_containers`; the built-in KPA-like rule is in
//! `policies/autoscale.rs`).

use crate::event::{EventKind, Events, PrewarmSkip, RemovalCause};
use crate::ids::FunctionId;
use crate::limits::DURATION_MAX_US;
use crate::policy::{Policies, ScaleDecision, ScaleFacts};
use crate::state::{bug, ContainerState, Core, Timer};
use serde::{Deserialize, Serialize};

/// A function's observed concurrency (R166).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Demand {
    /// Its unended invocations now.
    pub unended: u64,
    /// When `unended` last changed, or the last tick, whichever is later.
    pub since_us: u64,
    /// The integral of `unended` from the last tick to `since_us`
    /// (invocation·µs).
    pub integral_us: u128,
}

impl Demand {
    /// Adds the integral from `since_us` to `now_us`.
    fn catch_up(&mut self, now_us: u64) {
        let elapsed_us = u128::from(now_us - self.since_us);
        self.integral_us += elapsed_us * u128::from(self.unended);
        self.since_us = now_us;
    }
}

/// The reconcile timer's state (R167).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Reconcile {
    /// Whether a `Reconcile` timer is pending.
    pub armed: bool,
    /// When the last tick fired (0 before the first).
    pub last_tick_us: u64,
}

impl Core {
    /// R166: an invocation of `function` was accepted (`+1`) or ended.
    pub(crate) fn demand_changed(&mut self, function: FunctionId, accepted: bool) {
        let now_us = self.now_us;
        let f = self
            .functions
            .get_mut(function)
            .unwrap_or_else(|| bug("demand of unknown function"));
        f.demand.catch_up(now_us);
        if accepted {
            f.demand.unended += 1;
        } else {
            f.demand.unended = f
                .demand
                .unended
                .checked_sub(1)
                .unwrap_or_else(|| bug("an invocation ended twice"));
        }
    }

    /// R167: schedules the next tick, at the next multiple of the period
    /// after now, if the configuration has a period and none is pending.
    pub(crate) fn arm_reconcile(&mut self) {
        let Some(tick_us) = self.config.autoscale_tick_us else {
            return;
        };
        if self.reconcile.armed {
            return;
        }
        let due_us = (self.now_us / tick_us + 1) * tick_us;
        self.schedule(due_us, Timer::Reconcile);
        self.reconcile.armed = true;
    }

    /// R168: the reconcile tick. Every function, in id order, is asked for
    /// its desired count, which is acted on at once (R169); then the next
    /// tick is armed if the policy answered for a function and any other
    /// timer is pending.
    pub(crate) fn on_reconcile<P: Policies>(&mut self, policies: &mut P, out: &mut Events) {
        let now_us = self.now_us;
        let tick_us = self
            .config
            .autoscale_tick_us
            .unwrap_or_else(|| bug("a reconcile tick without a period"));
        self.reconcile.armed = false;
        let interval_us = now_us - self.reconcile.last_tick_us;
        self.reconcile.last_tick_us = now_us;
        let functions: Vec<FunctionId> = self.functions.keys().collect();
        let mut opinions = false;
        for function in functions {
            let f = self
                .functions
                .get_mut(function)
                .unwrap_or_else(|| bug("unknown function"));
            f.demand.catch_up(now_us);
            let facts = ScaleFacts {
                function,
                now_us,
                tick_us,
                interval_us,
                demand_us: std::mem::take(&mut f.demand.integral_us),
                demand: f.demand.unended,
                concurrency: f.concurrency,
                containers: f.containers,
                ready_containers: f.containers - f.unready,
                idle_containers: f.idle.len() as u32,
            };
            if let Some(decision) = policies.desired_containers(&facts) {
                opinions = true;
                self.scale_to(policies, function, decision, out);
            }
        }
        // R168.3: on while the policy has an opinion and anything else is
        // scheduled (a provider with nothing pending but this tick cannot
        // change without an input).
        if opinions && self.timers.len() > 0 {
            self.arm_reconcile();
        }
    }

    /// R169: acts on a desired count for `function`: pre-warms the
    /// difference when it has fewer live containers, unloads idle ones
    /// beyond it when it has more. The one place a desired count is acted
    /// on; the count is never below the function's `min_scale`.
    pub(crate) fn scale_to<P: Policies>(
        &mut self,
        policies: &mut P,
        function: FunctionId,
        decision: ScaleDecision,
        out: &mut Events,
    ) {
        let f = self
            .functions
            .get(function)
            .unwrap_or_else(|| bug("scaling unknown function"));
        // Never below the function's minimum scale (R169.1): the floor is
        // held by `top_up` (R161), not by the autoscaler.
        let (containers, desired) = (f.containers, decision.containers.max(f.min_scale));
        if desired == containers {
            return;
        }
        self.metrics.autoscale_decisions += 1;
        self.emit(
            out,
            EventKind::Scaled {
                function,
                containers,
                desired,
            },
        );
        if desired > containers {
            let keep_alive_us = decision.keep_alive_us.min(DURATION_MAX_US);
            for _ in containers..desired {
                if !self.autoscale_prewarm(policies, function, keep_alive_us, out) {
                    break;
                }
            }
        } else {
            let mut removed = false;
            for _ in desired..containers {
                // The idle container a warm start would take last goes
                // first. Floor containers are never taken: idle, they are
                // Reserved, in the function's `reserved` set and not in its
                // `idle` set (R163.2).
                let Some(&(_, _, container)) =
                    self.functions.get(function).and_then(|f| f.idle.last())
                else {
                    break;
                };
                self.metrics.containers_scaled_down += 1;
                self.remove_idle(policies, container, RemovalCause::ScaledDown, out);
                removed = true;
            }
            if removed {
                self.drain_queue(policies, out);
            }
        }
    }

    /// R169.2: one pre-warm for the autoscaler, placed as a due pre-warm is
    /// (R156 steps 2–5) unless invocations wait or no container id is
    /// free. Returns whether a container was placed.
    fn autoscale_prewarm<P: Policies>(
        &mut self,
        policies: &mut P,
        function: FunctionId,
        keep_alive_us: u64,
        out: &mut Events,
    ) -> bool {
        if !self.queue.is_empty() {
            self.skip_prewarm(function, PrewarmSkip::QueueWaiting, out);
            return false;
        }
        if !self.containers.has_room() {
            self.skip_prewarm(function, PrewarmSkip::NoHost, out);
            return false;
        }
        let initial = ContainerState::PrewarmPreparing { keep_alive_us };
        let placed = self.place_prewarm(policies, function, initial, out);
        if placed {
            self.metrics.autoscale_prewarms += 1;
        }
        placed
    }
}
