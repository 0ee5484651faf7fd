//! The differential runner: one case through two implementations, compared
//! after every step — events or refusal, every invocation's client state and
//! output, metrics, time and the next timer — with both invariant checks.

use crate::machine::Machine;
use crate::ops::{Case, Resolver};
use coldstart_core::{Command, ContainerId, Event, EventKind, FunctionId, Input, InvocationId};
use std::collections::{BTreeMap, BTreeSet};

/// Where and how two implementations disagreed (or one broke an invariant).
#[derive(Clone, Debug)]
pub struct Divergence {
    /// Index of the op (or, past the ops, of the draining step).
    pub step: usize,
    /// The input of that step (`None` for a draining step or a final check).
    pub input: Option<Input>,
    /// What differed, in words.
    pub what: String,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "step {}: {}", self.step, self.what)?;
        if let Some(input) = &self.input {
            write!(f, "\n  input: {input:?}")?;
        }
        Ok(())
    }
}

/// What a run went through: the event kinds seen (for generator coverage)
/// and every event, in order.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    /// Every event, in order.
    pub events: Vec<Event>,
    /// How many inputs were refused.
    pub refusals: usize,
    /// The names of the event kinds (and races) seen, and
    /// `ColdStart/OwnCost`, `WarmStart/OwnCost` for a start of a function
    /// with a cost of its own for it (spec R41a).
    pub kinds: BTreeSet<&'static str>,
    /// What naming the starts that pay a function's own costs needs.
    own_costs: OwnCosts,
    /// What naming the kinds of container bills needs.
    bills: Bills,
}

/// What each live container went through, for naming its bill (spec
/// R104b): `ContainerBilled/AfterIdle` for a container that was idle at
/// some time (request-based billing leaves that time out),
/// `ContainerBilled/Shared` for one that held two invocations at once
/// (which count once).
#[derive(Clone, Debug, Default)]
struct Bills {
    /// The invocations each live container holds now, whether it has been
    /// idle, and whether it has held two invocations at once.
    containers: BTreeMap<ContainerId, (BTreeSet<InvocationId>, bool, bool)>,
    /// The container each started invocation is in.
    container_of: BTreeMap<InvocationId, ContainerId>,
}

impl Bills {
    /// Learns from one step's events; returns the names of the bills among
    /// them.
    fn learn(&mut self, events: &[Event]) -> Vec<&'static str> {
        let mut names = Vec::new();
        for e in events {
            match e.kind {
                EventKind::ColdStart {
                    invocation,
                    container,
                    ..
                }
                | EventKind::WarmStart {
                    invocation,
                    container,
                    ..
                } => {
                    let entry = self.containers.entry(container).or_default();
                    entry.0.insert(invocation);
                    entry.2 |= entry.0.len() > 1;
                    self.container_of.insert(invocation, container);
                }
                EventKind::Completed { invocation, .. }
                | EventKind::Failed { invocation, .. }
                | EventKind::TimedOut { invocation, .. }
                | EventKind::Retrying { invocation, .. }
                | EventKind::PlatformFailed { invocation, .. } => {
                    if let Some(container) = self.container_of.remove(&invocation) {
                        if let Some(entry) = self.containers.get_mut(&container) {
                            entry.0.remove(&invocation);
                        }
                    }
                }
                EventKind::ContainerIdle { container, .. } => {
                    self.containers.entry(container).or_default().1 = true;
                }
                EventKind::ContainerBilled { container, .. } => {
                    let (_, idle, shared) = self.containers.remove(&container).unwrap_or_default();
                    if idle {
                        names.push("ContainerBilled/AfterIdle");
                    }
                    if shared {
                        names.push("ContainerBilled/Shared");
                    }
                }
                _ => {}
            }
        }
        names
    }
}

/// The functions with start costs of their own (learned from their
/// registrations) and each accepted invocation's function.
#[derive(Clone, Debug, Default)]
struct OwnCosts {
    cold: BTreeSet<FunctionId>,
    warm: BTreeSet<FunctionId>,
    function_of: BTreeMap<InvocationId, FunctionId>,
}

impl OwnCosts {
    /// Learns from one step's input and events; returns the names of the
    /// starts among the events that paid a function's own cost.
    fn learn(&mut self, input: &Input, events: &[Event]) -> Vec<&'static str> {
        let mut names = Vec::new();
        for e in events {
            match e.kind {
                EventKind::FunctionRegistered { function, .. } => {
                    if let Command::RegisterFunction(def) = &input.command {
                        if def.cold_start_us.is_some() {
                            self.cold.insert(function);
                        }
                        if def.warm_start_us.is_some() {
                            self.warm.insert(function);
                        }
                    }
                }
                EventKind::Accepted {
                    invocation,
                    function,
                } => {
                    self.function_of.insert(invocation, function);
                }
                EventKind::ColdStart { invocation, .. } if self.has(invocation, |o| &o.cold) => {
                    names.push("ColdStart/OwnCost");
                }
                EventKind::WarmStart { invocation, .. } if self.has(invocation, |o| &o.warm) => {
                    names.push("WarmStart/OwnCost");
                }
                _ => {}
            }
        }
        names
    }

    fn has(&self, invocation: InvocationId, set: impl Fn(&Self) -> &BTreeSet<FunctionId>) -> bool {
        self.function_of
            .get(&invocation)
            .is_some_and(|f| set(self).contains(f))
    }
}

/// The name under which a refusal judged after timers that fired in the
/// same step counts in the generator's coverage.
fn race_name(refusal: &coldstart_core::Refusal) -> Option<&'static str> {
    use coldstart_core::Refusal;
    Some(match refusal {
        Refusal::NoDownloadInProgress { .. } => "Race/NoDownloadInProgress",
        Refusal::NoCopyInProgress { .. } => "Race/NoCopyInProgress",
        Refusal::UnknownInvocation { .. } => "Race/UnknownInvocation",
        Refusal::NotTerminal { .. } => "Race/NotTerminal",
        Refusal::HostAlreadyUp { .. } => "Race/HostAlreadyUp",
        _ => return None,
    })
}

/// Commands whose validity timers can change: faults naming a transfer or
/// host, and Reap.
fn is_race_prone(command: &coldstart_core::Command) -> bool {
    use coldstart_core::Command;
    matches!(
        command,
        Command::Reap { .. }
            | Command::DownloadFails { .. }
            | Command::CopyFails { .. }
            | Command::HostUp { .. }
    )
}

/// The name [`kind_name`] gives a kind (or a case) it does not know yet.
/// The core's event enums are `#[non_exhaustive]`, so the match needs a
/// fallback; the generator-coverage tests fail on a run that reaches it, so
/// a new kind cannot go unnamed.
pub const UNNAMED_KIND: &str = "Unnamed";

/// A short stable name per event kind, refined where a variant has cases
/// the generator must reach (each removal cause, eviction tier, source).
pub fn kind_name(kind: &EventKind) -> &'static str {
    use coldstart_core::{ImageSource, RejectReason, RemovalCause, Tier};
    match kind {
        EventKind::ImageRegistered { .. } => "ImageRegistered",
        EventKind::FunctionRegistered { .. } => "FunctionRegistered",
        EventKind::Accepted { .. } => "Accepted",
        EventKind::Queued { .. } => "Queued",
        EventKind::Rejected {
            reason: RejectReason::ResourceUnavailable,
            ..
        } => "Rejected/ResourceUnavailable",
        EventKind::Rejected {
            reason: RejectReason::QueueFull,
            ..
        } => "Rejected/QueueFull",
        EventKind::WarmStart { .. } => "WarmStart",
        EventKind::ColdStart {
            image: ImageSource::HostDisk,
            ..
        } => "ColdStart/HostDisk",
        EventKind::ColdStart {
            image: ImageSource::HostCopyInFlight,
            ..
        } => "ColdStart/HostCopyInFlight",
        EventKind::ColdStart {
            image: ImageSource::MainStorage,
            ..
        } => "ColdStart/MainStorage",
        EventKind::ColdStart {
            image: ImageSource::DownloadInFlight,
            ..
        } => "ColdStart/DownloadInFlight",
        EventKind::ColdStart {
            image: ImageSource::Registry,
            ..
        } => "ColdStart/Registry",
        EventKind::DownloadWaiting { .. } => "DownloadWaiting",
        EventKind::DownloadStarted { .. } => "DownloadStarted",
        EventKind::DownloadFinished { .. } => "DownloadFinished",
        EventKind::CopyStarted { .. } => "CopyStarted",
        EventKind::CopyFinished { .. } => "CopyFinished",
        EventKind::ImageEvicted {
            tier: Tier::MainStorage,
            ..
        } => "ImageEvicted/MainStorage",
        EventKind::ImageEvicted {
            tier: Tier::Host(_),
            ..
        } => "ImageEvicted/Host",
        EventKind::ImageCollection {
            tier: Tier::MainStorage,
            ..
        } => "ImageCollection/MainStorage",
        EventKind::ImageCollection {
            tier: Tier::Host(_),
            ..
        } => "ImageCollection/Host",
        EventKind::ExecutionStarted { .. } => "ExecutionStarted",
        EventKind::Completed { .. } => "Completed",
        EventKind::Failed { phase, .. } => match phase {
            coldstart_core::Phase::Clone => "Failed/Clone",
            coldstart_core::Phase::Build => "Failed/Build",
            coldstart_core::Phase::Run => "Failed/Run",
        },
        EventKind::TimedOut { .. } => "TimedOut",
        EventKind::ContainerIdle { .. } => "ContainerIdle",
        EventKind::ContainerRemoved {
            cause: RemovalCause::Expired,
            ..
        } => "ContainerRemoved/Expired",
        EventKind::ContainerRemoved {
            cause: RemovalCause::Evicted,
            ..
        } => "ContainerRemoved/Evicted",
        EventKind::ContainerRemoved {
            cause: RemovalCause::Discarded,
            ..
        } => "ContainerRemoved/Discarded",
        EventKind::ContainerRemoved {
            cause: RemovalCause::Unloaded,
            ..
        } => "ContainerRemoved/Unloaded",
        EventKind::ContainerRemoved {
            cause: RemovalCause::ScaledDown,
            ..
        } => "ContainerRemoved/ScaledDown",
        EventKind::Scaled {
            containers,
            desired,
            ..
        } => {
            if desired > containers {
                "Scaled/Up"
            } else {
                "Scaled/Down"
            }
        }
        EventKind::PrewarmPlanned { .. } => "PrewarmPlanned",
        EventKind::Prewarmed { image, .. } => match image {
            ImageSource::HostDisk => "Prewarmed/HostDisk",
            ImageSource::HostCopyInFlight => "Prewarmed/HostCopyInFlight",
            ImageSource::MainStorage => "Prewarmed/MainStorage",
            ImageSource::DownloadInFlight => "Prewarmed/DownloadInFlight",
            ImageSource::Registry => "Prewarmed/Registry",
        },
        EventKind::PrewarmSkipped { reason, .. } => match reason {
            coldstart_core::PrewarmSkip::AlreadyWarm => "PrewarmSkipped/AlreadyWarm",
            coldstart_core::PrewarmSkip::QueueWaiting => "PrewarmSkipped/QueueWaiting",
            coldstart_core::PrewarmSkip::NoHost => "PrewarmSkipped/NoHost",
            coldstart_core::PrewarmSkip::Refused { .. } => "PrewarmSkipped/Refused",
            _ => UNNAMED_KIND,
        },
        EventKind::DecisionRefused { .. } => "DecisionRefused",
        EventKind::Reaped { .. } => "Reaped",
        EventKind::ContainerRemoved {
            cause: RemovalCause::HostLost,
            ..
        } => "ContainerRemoved/HostLost",
        EventKind::HostDown { .. } => "HostDown",
        EventKind::HostUp {
            disk_kept: true, ..
        } => "HostUp/DiskKept",
        EventKind::HostUp {
            disk_kept: false, ..
        } => "HostUp/DiskLost",
        EventKind::MainStorageLost => "MainStorageLost",
        EventKind::ImageLost {
            tier: Tier::MainStorage,
            ..
        } => "ImageLost/MainStorage",
        EventKind::ImageLost {
            tier: Tier::Host(_),
            ..
        } => "ImageLost/Host",
        EventKind::DownloadFailed { retrying: true, .. } => "DownloadFailed/Retrying",
        EventKind::DownloadFailed {
            retrying: false, ..
        } => "DownloadFailed/GivenUp",
        EventKind::CopyFailed { retrying: true, .. } => "CopyFailed/Retrying",
        EventKind::CopyFailed {
            retrying: false, ..
        } => "CopyFailed/GivenUp",
        EventKind::Retrying { .. } => "Retrying",
        EventKind::PlatformFailed {
            reason: coldstart_core::PlatformError::HostLost,
            ..
        } => "PlatformFailed/HostLost",
        EventKind::PlatformFailed {
            reason: coldstart_core::PlatformError::TransferFailed,
            ..
        } => "PlatformFailed/TransferFailed",
        EventKind::ContainerBilled { .. } => "ContainerBilled",
        _ => UNNAMED_KIND,
    }
}

/// How many draining steps a run may take after its ops before it is judged
/// to spin forever.
pub const DRAIN_STEPS_MAX: usize = 10_000;

fn compare<A: Machine, B: Machine>(a: &A, b: &B, resolver: &Resolver) -> Result<(), String> {
    if a.now_us() != b.now_us() {
        return Err(format!("now: {} vs {}", a.now_us(), b.now_us()));
    }
    if a.next_timer_us() != b.next_timer_us() {
        return Err(format!(
            "next timer: {:?} vs {:?}",
            a.next_timer_us(),
            b.next_timer_us()
        ));
    }
    for &id in &resolver.invocations {
        let (sa, sb) = (a.get_state(id), b.get_state(id));
        if sa != sb {
            return Err(format!("state of {id}: {sa:?} vs {sb:?}"));
        }
        let (oa, ob) = (a.get_output(id), b.get_output(id));
        if oa != ob {
            return Err(format!("output of {id}: {oa:?} vs {ob:?}"));
        }
    }
    let (ma, mb) = (a.metrics(), b.metrics());
    if ma != mb {
        return Err(format!("metrics:\n  {ma:?}\nvs\n  {mb:?}"));
    }
    a.check()
        .map_err(|e| format!("first implementation: {e}"))?;
    b.check()
        .map_err(|e| format!("second implementation: {e}"))?;
    Ok(())
}

/// The joins so far: of a running container, of a starting one.
fn joins(m: &coldstart_core::Metrics) -> (u64, u64) {
    (m.joins_running, m.joins_starting)
}

fn step_both<A: Machine, B: Machine>(
    a: &mut A,
    b: &mut B,
    input: &Input,
    trace: &mut Trace,
) -> Result<Vec<Event>, String> {
    let before_us = a.now_us();
    let joins_before = joins(&a.metrics());
    let ((ea, ra), (eb, rb)) = (a.apply(input), b.apply(input));
    if ea != eb {
        return Err(format!("events differ:\n  {ea:#?}\nvs\n  {eb:#?}"));
    }
    if ra != rb {
        return Err(format!("results differ: {ra:?} vs {rb:?}"));
    }
    if let Some(e) = ea
        .iter()
        .find(|e| e.at_us < before_us || e.at_us > input.at_us)
    {
        return Err(format!("event out of the step's time span: {e:?}"));
    }
    if ea.windows(2).any(|w| w[0].at_us > w[1].at_us) {
        return Err("events out of time order".into());
    }
    if let Some(refusal) = &ra {
        trace.refusals += 1;
        if !ea.is_empty() {
            // A command judged after timers that fired in its own step
            // (spec R29): the races the generator must reach.
            if let Some(name) = race_name(refusal) {
                trace.kinds.insert(name);
            }
        }
    } else if !ea.is_empty() && ea[0].at_us < input.at_us && is_race_prone(&input.command) {
        trace.kinds.insert("Race/Accepted");
    }
    for e in &ea {
        trace.kinds.insert(kind_name(&e.kind));
    }
    for name in trace.own_costs.learn(input, &ea) {
        trace.kinds.insert(name);
    }
    for name in trace.bills.learn(&ea) {
        trace.kinds.insert(name);
    }
    // A join (spec R57b) is a `WarmStart` like any other: told apart by
    // the counters it moves.
    let joins_after = joins(&a.metrics());
    if joins_after.0 > joins_before.0 {
        trace.kinds.insert("Join/Running");
    }
    if joins_after.1 > joins_before.1 {
        trace.kinds.insert("Join/Starting");
    }
    trace.events.extend_from_slice(&ea);
    Ok(ea)
}

/// Once no timer is left, nothing is in flight or waiting to retry and no
/// container is left (every keep-alive ran out), so every host's RAM and
/// slots are back to their totals (the invariant checks tie those to the
/// containers); every accepted invocation has ended or waits in the queue
/// (which only a host that stays down can hold up).
fn at_rest<A: Machine>(a: &A) -> Result<(), String> {
    let m = a.metrics();
    if m.in_flight_now != 0 || m.retrying_now != 0 || m.containers_now != 0 {
        return Err(format!(
            "not at rest with no timer left: {} in flight, {} retrying, {} containers",
            m.in_flight_now, m.retrying_now, m.containers_now
        ));
    }
    if m.accepted != m.queued_now + m.ended() {
        return Err("an invocation was lost".into());
    }
    Ok(())
}

/// Runs the case's ops on both, then advances both timer by timer until no
/// timer is left, comparing after every step.
pub fn run_differential<A: Machine, B: Machine>(
    case: &Case,
    a: &mut A,
    b: &mut B,
) -> Result<Trace, Divergence> {
    let mut resolver = Resolver::default();
    let mut trace = Trace::default();
    for (step, op) in case.ops.iter().enumerate() {
        let input = resolver.input(op, a.now_us(), a.next_timer_us());
        let fail = |what: String| Divergence {
            step,
            input: Some(input.clone()),
            what,
        };
        let events = step_both(a, b, &input, &mut trace).map_err(fail)?;
        resolver.learn(&events);
        compare(a, b, &resolver).map_err(fail)?;
    }
    for drain in 0..DRAIN_STEPS_MAX {
        let step = case.ops.len() + drain;
        let Some(due_us) = a.next_timer_us() else {
            at_rest(a).map_err(|what| Divergence {
                step,
                input: None,
                what,
            })?;
            return Ok(trace);
        };
        let input = Input {
            at_us: due_us,
            command: coldstart_core::Command::Advance,
        };
        let fail = |what: String| Divergence {
            step,
            input: Some(input.clone()),
            what,
        };
        let events = step_both(a, b, &input, &mut trace).map_err(fail)?;
        resolver.learn(&events);
        compare(a, b, &resolver).map_err(fail)?;
    }
    Err(Divergence {
        step: case.ops.len() + DRAIN_STEPS_MAX,
        input: None,
        what: "timers never run out".into(),
    })
}
