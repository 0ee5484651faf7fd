//! Differential property tests: core against the reference model
//! (`coldstart_model::Model`, written from docs/spec.md), compared after
//! every step by `run_differential`; plus generator coverage, determinism
//! and snapshots.
//!
//! `PROPTEST_CASES=N cargo test --test differential` runs deeper.

use coldstart::FunctionDef;
use coldstart_core::{Builtin, Event, Provider};
use coldstart_model::ops::{case, Case, Op};
use coldstart_model::{run_differential, Model};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use std::collections::BTreeMap;

/// Ops per generated case (besides the registrations at its start).
const OPS_MAX: usize = 60;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200)
}

fn build(case: &Case) -> (Provider<Builtin>, Model<Builtin>) {
    let (config, policies) = case.shape.build();
    let core = Provider::new(config.clone(), policies.clone()).expect("shapes are valid");
    let model = Model::new(config, policies).expect("shapes are valid");
    (core, model)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// After every step: the same events or refusal, client answers, metrics,
    /// time and next timer; both invariant checks hold.
    #[test]
    fn core_agrees_with_the_model(case in case(OPS_MAX)) {
        let (mut core, mut model) = build(&case);
        if let Err(divergence) = run_differential(&case, &mut core, &mut model) {
            prop_assert!(false, "core (left) and model (right) diverge at {}", divergence);
        }
    }
}

/// Every required event kind, fault kinds included, occurs in at least 2%
/// of generated runs.
#[test]
fn the_generator_reaches_every_event_kind() {
    const RUNS: usize = 400;
    const REQUIRED: &[&str] = &[
        "ImageRegistered",
        "FunctionRegistered",
        "Accepted",
        "Queued",
        "Rejected/ResourceUnavailable",
        "Rejected/QueueFull",
        "WarmStart",
        // Starts of a function with a cost of its own for them (spec R41a).
        "WarmStart/OwnCost",
        "ColdStart/OwnCost",
        "ColdStart/HostDisk",
        "ColdStart/HostCopyInFlight",
        "ColdStart/MainStorage",
        "ColdStart/DownloadInFlight",
        "ColdStart/Registry",
        "DownloadWaiting",
        "DownloadStarted",
        "DownloadFinished",
        "CopyStarted",
        "CopyFinished",
        "ImageEvicted/MainStorage",
        "ImageEvicted/Host",
        "ImageCollection/MainStorage",
        "ImageCollection/Host",
        "ExecutionStarted",
        "Completed",
        "Failed/Clone",
        "Failed/Build",
        "Failed/Run",
        "TimedOut",
        "ContainerIdle",
        "ContainerRemoved/Expired",
        "ContainerRemoved/Evicted",
        "ContainerRemoved/Discarded",
        "Reaped",
        // Faults (spec §27).
        "HostDown",
        "HostUp/DiskKept",
        "HostUp/DiskLost",
        "ContainerRemoved/HostLost",
        "Retrying",
        "PlatformFailed/HostLost",
        "PlatformFailed/TransferFailed",
        "DownloadFailed/Retrying",
        "DownloadFailed/GivenUp",
        "CopyFailed/Retrying",
        "CopyFailed/GivenUp",
        "MainStorageLost",
        "ImageLost/MainStorage",
        "ImageLost/Host",
        // Pre-warming (spec §29), by the hybrid histogram once it has
        // learned a function's idle times; its other image sources and
        // skips are rarer with the built-in policies, and they never make
        // a refused decision: `the_generator_reaches_every_prewarm_kind`
        // requires them under `Fickle`.
        "ContainerRemoved/Unloaded",
        "PrewarmPlanned",
        "Prewarmed/HostDisk",
        // Inputs issued past the next timer, naming what the timers in
        // between change (spec R29): judged after them, refused or not.
        "Race/NoDownloadInProgress",
        "Race/NoCopyInProgress",
        "Race/Accepted",
        // Per-container concurrency (spec R57b): half the set-up's
        // functions take 2 to 4 invocations per container.
        "Join/Running",
        "Join/Starting",
        // Cloud Run's billing by container instance (spec R104b), in about
        // two thirds of the cases: bills of containers that were idle for
        // a while, and of containers that held two invocations at once.
        "ContainerBilled",
        "ContainerBilled/AfterIdle",
        "ContainerBilled/Shared",
    ];
    let counts = kinds_reached(RUNS, |case| {
        let (mut core, mut model) = build(case);
        run_differential(case, &mut core, &mut model)
    });
    require(&counts, RUNS, REQUIRED);
    // PrewarmSkipped/AlreadyWarm lives where containers sit idle: see
    // `the_generator_reaches_prewarm_skips_for_idle_containers`.
}

/// A pre-warm skipped because its function already has an idle container
/// needs concurrent invocations of one function, a learned histogram and
/// an idle container at the planned time. Joins (spec R57b) and shared
/// links (R85a) both leave fewer idle containers, so over the whole
/// generator the path is reached in under 1% of runs; here it is measured
/// over 1,000 of the same cases at concurrency 1 with dedicated links,
/// where it was 1.9% (19 runs) when this was written, and required in 1% of them
/// (below the usual 2%: raising it needs the generator to weight
/// repeated invocations of one function; it is also set up by hand in
/// `rare_prewarm_paths_agree_with_the_model`).
#[test]
fn the_generator_reaches_prewarm_skips_for_idle_containers() {
    const RUNS: usize = 1_000;
    let counts = kinds_reached(RUNS, |case| {
        let mut case = case.clone();
        case.shape = case.shape.clone().with_bandwidth_shared(false);
        for op in &mut case.ops {
            if let Op::RegisterFunction { concurrency, .. } = op {
                *concurrency = 1;
            }
        }
        let (mut core, mut model) = build(&case);
        run_differential(&case, &mut core, &mut model)
    });
    let skipped = counts
        .get("PrewarmSkipped/AlreadyWarm")
        .copied()
        .unwrap_or(0);
    assert!(
        skipped * 100 >= RUNS,
        "PrewarmSkipped/AlreadyWarm in {skipped} of {RUNS} runs"
    );
}

/// The kinds of pre-warm event (spec §29) occur in at least 2% of
/// generated runs under the `Prewarmer` policies, which plan a pre-warm
/// after every other invocation and place it on the hosts in turn,
/// sometimes on one that does not exist. A pre-warm joining a transfer in
/// flight, and one skipped for an idle container (which takes concurrent
/// invocations of the function), stay rare (under 1%):
/// `rare_prewarm_paths_agree_with_the_model` sets them up by hand, and
/// `the_generator_reaches_prewarm_skips_for_idle_containers` requires the
/// latter too (in 1% of the cases at concurrency 1 with dedicated links).
#[test]
fn the_generator_reaches_every_prewarm_kind() {
    const RUNS: usize = 400;
    const REQUIRED: &[&str] = &[
        "ContainerRemoved/Unloaded",
        "PrewarmPlanned",
        "Prewarmed/HostDisk",
        "Prewarmed/MainStorage",
        "PrewarmSkipped/QueueWaiting",
        "PrewarmSkipped/NoHost",
        "PrewarmSkipped/Refused",
    ];
    let counts = kinds_reached(RUNS, |case| {
        let (config, inner) = case.shape.build();
        let policies = Prewarmer::new(inner);
        let mut core = Provider::new(config.clone(), policies.clone()).expect("valid");
        let mut model = Model::new(config, policies).expect("valid");
        run_differential(case, &mut core, &mut model)
    });
    require(&counts, RUNS, REQUIRED);
    // A pre-warm that downloads its image needs the image gone from main
    // storage when the pre-warm is due: 6 of 400 since a third of the
    // set-up's functions take joins (spec R57b); required at 1%.
    let registry = counts.get("Prewarmed/Registry").copied().unwrap_or(0);
    assert!(
        registry * 100 >= RUNS,
        "Prewarmed/Registry in {registry} of {RUNS} runs"
    );
}

/// How many of `runs` generated cases reach each event kind, each run by
/// `run` (which must not diverge).
fn kinds_reached(
    runs: usize,
    run: impl Fn(&Case) -> Result<coldstart_model::Trace, coldstart_model::Divergence>,
) -> BTreeMap<&'static str, usize> {
    let mut runner = TestRunner::deterministic();
    let strategy = case(OPS_MAX);
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    for _ in 0..runs {
        let case = strategy.new_tree(&mut runner).expect("a case").current();
        let trace = run(&case).unwrap_or_else(|d| panic!("divergence on {case:?}: {d}"));
        for kind in trace.kinds {
            *counts.entry(kind).or_default() += 1;
        }
    }
    eprintln!("runs reaching each kind, of {runs}: {counts:#?}");
    counts
}

/// Every kind in `required` occurs in at least 2% of the runs, and none
/// reached is one `kind_name` does not know (a kind added to the core's
/// non-exhaustive enums and not named there yet).
fn require(counts: &BTreeMap<&'static str, usize>, runs: usize, required: &[&str]) {
    assert!(
        !counts.contains_key(coldstart_model::diff::UNNAMED_KIND),
        "an event kind without a name in coldstart_model::diff::kind_name: {counts:?}"
    );
    let rare: Vec<String> = required
        .iter()
        .filter(|k| counts.get(*k).copied().unwrap_or(0) * 50 < runs)
        .map(|k| format!("{k}: {}", counts.get(k).copied().unwrap_or(0)))
        .collect();
    assert!(
        rare.is_empty(),
        "event kinds in fewer than 2% of {runs} runs: {rare:?}\nall: {counts:?}"
    );
}

/// Runs the case on core alone, the ops then the timers; returns the events.
fn events_of(case: &Case, core: &mut Provider<Builtin>) -> Vec<Event> {
    let mut resolver = coldstart_model::Resolver::default();
    let mut events = Vec::new();
    for op in &case.ops {
        let input = resolver.input(op, core.now_us(), core.next_timer_us());
        if let Ok(step) = core.apply(&input) {
            resolver.learn(&step);
            events.extend(step);
        }
    }
    while let Some(due) = core.next_timer_us() {
        let step = core
            .apply(&coldstart_core::Input {
                at_us: due,
                command: coldstart_core::Command::Advance,
            })
            .expect("advance to a timer");
        events.extend(step);
    }
    events
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// The same case run twice gives the same events.
    #[test]
    fn runs_repeat(case in case(OPS_MAX)) {
        let (mut a, _) = build(&case);
        let (mut b, _) = build(&case);
        prop_assert_eq!(events_of(&case, &mut a), events_of(&case, &mut b));
    }

    /// A snapshot taken after any op, serialized and restored, continues
    /// with the same events as the original.
    #[test]
    fn snapshots_continue_identically(case in case(OPS_MAX), cut in any::<prop::sample::Index>()) {
        let (mut original, _) = build(&case);
        let cut = cut.index(case.ops.len() + 1);
        let mut resolver = coldstart_model::Resolver::default();
        for op in &case.ops[..cut] {
            let input = resolver.input(op, original.now_us(), original.next_timer_us());
            if let Ok(step) = original.apply(&input) {
                resolver.learn(&step);
            }
        }
        let json = serde_json::to_string(&original).expect("serialize");
        let mut restored: Provider<Builtin> = serde_json::from_str(&json).expect("deserialize");
        let mut r2 = resolver.clone();
        let rest = Case { shape: case.shape.clone(), ops: case.ops[cut..].to_vec() };
        let a = continue_run(&rest, &mut original, &mut resolver);
        let b = continue_run(&rest, &mut restored, &mut r2);
        prop_assert_eq!(a, b);
        prop_assert_eq!(original.metrics(), restored.metrics());
    }
}

fn continue_run(
    case: &Case,
    core: &mut Provider<Builtin>,
    resolver: &mut coldstart_model::Resolver,
) -> Vec<(Vec<Event>, Option<coldstart_core::Refusal>)> {
    use coldstart_model::Machine;
    let mut out = Vec::new();
    for op in &case.ops {
        let input = resolver.input(op, core.now_us(), core.next_timer_us());
        let step = Machine::apply(core, &input);
        resolver.learn(&step.0);
        out.push(step);
    }
    while let Some(due) = core.next_timer_us() {
        let input = coldstart_core::Input {
            at_us: due,
            command: coldstart_core::Command::Advance,
        };
        out.push(coldstart_model::Machine::apply(core, &input));
    }
    out
}

/// Spec R29, R46: a Reap is judged after the timers due by its time; one
/// whose record retention reaps while they fire is refused
/// `UnknownInvocation`, and the refusal carries the retention's `Reaped`.
#[test]
fn reap_of_a_record_retention_reaps_in_the_same_step_is_refused() {
    use coldstart_core::{
        Code, Command, Config, EventKind, HostSpec, Input, InvocationId, MainStorageSpec,
    };
    use coldstart_model::Machine;
    let config = Config::homogeneous(
        MainStorageSpec::new(100, 1_000_000),
        HostSpec::new(100, 4, 100, 1_000_000),
        1,
    )
    .with_terminal_records_max(Some(1))
    .with_cold_start_us(5)
    .with_warm_start_us(1);
    let mut core = Provider::new(config.clone(), Builtin::default()).expect("valid");
    let mut model = Model::new(config, Builtin::default()).expect("valid");
    let image = coldstart_core::ImageId::from_bits(0);
    let function = coldstart_core::FunctionId::from_bits(0);
    let first = InvocationId::from_bits(0);
    let inputs = [
        Command::RegisterImage { size_bytes: 10 },
        Command::RegisterFunction(FunctionDef::new(image, 10, 1_000)),
        Command::Invoke {
            function,
            code: Code::success(10, 1),
            ingress_bytes: 0,
            egress_bytes: 0,
        },
        Command::Invoke {
            function,
            code: Code::success(50, 2),
            ingress_bytes: 0,
            egress_bytes: 0,
        },
    ];
    for command in inputs {
        let input = Input { at_us: 0, command };
        assert_eq!(Machine::apply(&mut core, &input), model.apply(&input));
    }
    // The first ends at 35 and its record is kept (one is allowed).
    let advance = Input {
        at_us: 40,
        command: Command::Advance,
    };
    assert_eq!(Machine::apply(&mut core, &advance), model.apply(&advance));
    // The second ends at 75; retention reaps the first before the Reap runs.
    let reap = Input {
        at_us: 80,
        command: Command::Reap { invocation: first },
    };
    let (events, refusal) = Machine::apply(&mut core, &reap);
    assert_eq!(
        refusal,
        Some(coldstart_core::Refusal::UnknownInvocation { invocation: first })
    );
    assert_eq!((events.clone(), refusal), model.apply(&reap));
    let reaped: Vec<_> = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Reaped { .. }))
        .collect();
    assert_eq!(reaped.len(), 1, "{events:#?}");
    assert_eq!(core.metrics(), &model.metrics());
}

/// A stateful policy whose every answer depends on how many calls it has
/// seen, so core and model agree only if they call it at the same moments,
/// in the same order, with the same facts. Its host choice is sometimes an
/// unknown host or one that does not fit (`DecisionRefused`).
#[derive(Clone, Debug)]
struct Fickle {
    calls: u64,
    inner: Builtin,
}

impl coldstart_core::Policies for Fickle {
    fn select_host(
        &mut self,
        view: &dyn coldstart_core::HostView,
        request: &coldstart_core::PlacementRequest,
    ) -> Option<coldstart_core::HostId> {
        self.calls += 1;
        match self.calls % 5 {
            0 => Some(coldstart_core::HostId(view.host_count() + 1)),
            1 => Some(coldstart_core::HostId(
                (self.calls % 3) as u32 % view.host_count(),
            )),
            2 => None,
            _ => self.inner.select_host(view, request),
        }
    }
    fn warm_priority(&mut self, c: &coldstart_core::ContainerFacts) -> u64 {
        self.calls += 1;
        (self.calls * 7 + c.uses) % 4
    }
    fn idle_eviction_priority(&mut self, c: &coldstart_core::ContainerFacts) -> u64 {
        self.calls += 1;
        (self.calls ^ c.last_used_us) % 3
    }
    fn keep_alive_us(&mut self, c: &coldstart_core::ContainerFacts) -> u64 {
        self.calls += 1;
        if self.calls.is_multiple_of(7) {
            u64::MAX
        } else {
            (self.calls * 13 + c.created_seq) % 400
        }
    }
    /// Its keep-alive; and, two times in three, a pre-warm within 200 µs
    /// (0 included).
    fn idle_plan(&mut self, c: &coldstart_core::ContainerFacts) -> coldstart_core::IdlePlan {
        let keep_alive_us = self.keep_alive_us(c);
        self.calls += 1;
        coldstart_core::IdlePlan {
            keep_alive_us,
            prewarm_after_us: (!self.calls.is_multiple_of(3))
                .then_some((self.calls * 17 + c.uses) % 200),
        }
    }
    fn image_priority(&mut self, i: &coldstart_core::ImageFacts) -> u64 {
        self.calls += 1;
        (self.calls + i.uses + i.first_stored_us) % 5
    }
    fn evicted(&mut self, eviction: &coldstart_core::Eviction) {
        // Mixes in what was evicted and its priority, so a call missing,
        // extra, out of order or with other facts changes later answers.
        let (id, priority) = match *eviction {
            coldstart_core::Eviction::Container {
                container,
                priority,
                ..
            } => (container.to_bits(), priority),
            coldstart_core::Eviction::Image {
                image, priority, ..
            } => (image.to_bits(), priority),
        };
        self.calls += 1 + (id ^ priority) % 2;
    }
    fn collection_target_bytes(&mut self, disk: &coldstart_core::DiskFacts) -> Option<u64> {
        self.calls += 1;
        match self.calls % 4 {
            0 => None,
            1 => Some(u64::MAX),
            _ => Some((self.calls * 11 + disk.used_bytes) % (disk.capacity_bytes + 1)),
        }
    }
    fn bill(&self, usage: &coldstart_core::Usage) -> u64 {
        usage.duration_us * 3 + self.calls + u64::from(usage.cold)
    }
    /// Bills two containers in three, by both of their times (spec R104b),
    /// so that a wrong instance or active time changes the cost.
    fn bill_container(&self, usage: &coldstart_core::ContainerUsage) -> Option<u64> {
        (!self.calls.is_multiple_of(3))
            .then(|| usage.instance_us * 5 + usage.active_us * 7 + self.calls)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// The same differential check with the stateful `Fickle` policies.
    #[test]
    fn core_agrees_with_the_model_under_fickle_policies(case in case(OPS_MAX)) {
        let (config, inner) = case.shape.build();
        let policies = Fickle { calls: 0, inner };
        let mut core = Provider::new(config.clone(), policies.clone()).expect("valid");
        let mut model = Model::new(config, policies).expect("valid");
        if let Err(divergence) = run_differential(&case, &mut core, &mut model) {
            prop_assert!(false, "core (left) and model (right) diverge at {}", divergence);
        }
    }
}

/// The generated cases reach the learned answers of the stateful built-in
/// policies, not only their fallbacks: with the hybrid histogram forced,
/// some containers get a keep-alive from the histogram (a whole number of
/// 10 µs bins plus 10%, unlike the shape's fallback) or are unloaded for a
/// planned pre-warm (only a histogram plans one); with round robin and
/// seeded random forced, cold starts land on more than one host.
#[test]
fn the_generator_reaches_the_stateful_policies_learned_answers() {
    use coldstart_core::EventKind;
    const RUNS: usize = 200;
    let mut runner = TestRunner::deterministic();
    let strategy = case(OPS_MAX);
    let (mut learned, mut spread) = (0, 0);
    for _ in 0..RUNS {
        let mut case = strategy.new_tree(&mut runner).expect("a case").current();
        // Hybrid histogram (warm_choice / 3 % 3 = 1); round robin or
        // seeded random (selection % 10 = 3 or 5).
        case.shape.warm_choice = 3 + case.shape.warm_choice / 9 * 9;
        case.shape.selection = if case.shape.selection.is_multiple_of(2) {
            3
        } else {
            5
        };
        let fallback_us = u64::from(case.shape.keep_alive_us % 2_000);
        let (mut core, mut model) = build(&case);
        let trace = run_differential(&case, &mut core, &mut model)
            .unwrap_or_else(|d| panic!("divergence on {case:?}: {d}"));
        let keep_alives = trace.events.iter().filter_map(|e| match e.kind {
            EventKind::ContainerIdle { expires_at_us, .. } => Some(expires_at_us - e.at_us),
            _ => None,
        });
        let planned = trace
            .events
            .iter()
            .any(|e| matches!(e.kind, EventKind::PrewarmPlanned { .. }));
        if planned
            || keep_alives
                .into_iter()
                .any(|k| k != fallback_us && k % 11 == 0)
        {
            learned += 1;
        }
        let hosts: std::collections::BTreeSet<_> = trace
            .events
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::ColdStart { host, .. } => Some(host),
                _ => None,
            })
            .collect();
        if hosts.len() > 1 {
            spread += 1;
        }
    }
    eprintln!("of {RUNS}: {learned} with a learned keep-alive, {spread} spread over hosts");
    // About 27% (learned keep-alives or pre-warms) and 42% at the time of
    // writing.
    assert!(
        learned * 10 > RUNS,
        "learned keep-alives in {learned} of {RUNS}"
    );
    assert!(
        spread * 5 > RUNS,
        "cold starts spread in {spread} of {RUNS}"
    );
}

/// The built-in policies, but planning a pre-warm (spec §29) after every
/// other invocation, within 300 µs, and placing pre-warms on the hosts in
/// turn (the first that fits from a rotating start), the second and then
/// one in five on a host that does not exist, so that pre-warms are
/// refused and land on hosts without the image.
#[derive(Clone, Debug)]
struct Prewarmer {
    inner: Builtin,
    plans: u64,
    placements: u64,
}

impl Prewarmer {
    fn new(inner: Builtin) -> Self {
        Prewarmer {
            inner,
            plans: 0,
            placements: 0,
        }
    }
}

impl coldstart_core::Policies for Prewarmer {
    fn select_host(
        &mut self,
        view: &dyn coldstart_core::HostView,
        request: &coldstart_core::PlacementRequest,
    ) -> Option<coldstart_core::HostId> {
        if request.invocation.is_some() {
            return self.inner.select_host(view, request);
        }
        self.placements += 1;
        let count = view.host_count();
        if self.placements % 5 == 2 {
            return Some(coldstart_core::HostId(count));
        }
        (0..count)
            .map(|i| {
                coldstart_core::HostId((i + (self.placements % u64::from(count)) as u32) % count)
            })
            .find(|&h| view.fits(h, request))
    }
    fn warm_priority(&mut self, c: &coldstart_core::ContainerFacts) -> u64 {
        self.inner.warm_priority(c)
    }
    fn idle_eviction_priority(&mut self, c: &coldstart_core::ContainerFacts) -> u64 {
        self.inner.idle_eviction_priority(c)
    }
    fn keep_alive_us(&mut self, c: &coldstart_core::ContainerFacts) -> u64 {
        self.inner.keep_alive_us(c)
    }
    fn idle_plan(&mut self, c: &coldstart_core::ContainerFacts) -> coldstart_core::IdlePlan {
        let plan = self.inner.idle_plan(c);
        self.plans += 1;
        if self.plans.is_multiple_of(2) {
            return plan;
        }
        coldstart_core::IdlePlan {
            keep_alive_us: plan.keep_alive_us,
            prewarm_after_us: Some((self.plans * 37 + c.last_used_us) % 300),
        }
    }
    fn image_priority(&mut self, i: &coldstart_core::ImageFacts) -> u64 {
        self.inner.image_priority(i)
    }
    fn evicted(&mut self, eviction: &coldstart_core::Eviction) {
        self.inner.evicted(eviction)
    }
    fn collection_target_bytes(&mut self, disk: &coldstart_core::DiskFacts) -> Option<u64> {
        self.inner.collection_target_bytes(disk)
    }
    fn bill(&self, usage: &coldstart_core::Usage) -> u64 {
        self.inner.bill(usage)
    }

    fn bill_container(&self, usage: &coldstart_core::ContainerUsage) -> Option<u64> {
        self.inner.bill_container(usage)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// The same differential check with the `Prewarmer` policies.
    #[test]
    fn core_agrees_with_the_model_when_prewarming(case in case(OPS_MAX)) {
        let (config, inner) = case.shape.build();
        let policies = Prewarmer::new(inner);
        let mut core = Provider::new(config.clone(), policies.clone()).expect("valid");
        let mut model = Model::new(config, policies).expect("valid");
        if let Err(divergence) = run_differential(&case, &mut core, &mut model) {
            prop_assert!(false, "core (left) and model (right) diverge at {}", divergence);
        }
    }
}

/// Built-in policies that keep the containers of the first `keep_first`
/// completed invocations idle, then unload every one and plan its
/// function's pre-warm `after_us` later, placing pre-warms on `host`.
#[derive(Clone, Debug)]
struct ScriptedPrewarm {
    inner: Builtin,
    keep_first: u64,
    after_us: u64,
    host: u32,
    plans: u64,
}

impl coldstart_core::Policies for ScriptedPrewarm {
    fn select_host(
        &mut self,
        view: &dyn coldstart_core::HostView,
        request: &coldstart_core::PlacementRequest,
    ) -> Option<coldstart_core::HostId> {
        match request.invocation {
            Some(_) => self.inner.select_host(view, request),
            None => Some(coldstart_core::HostId(self.host)),
        }
    }
    fn idle_plan(&mut self, c: &coldstart_core::ContainerFacts) -> coldstart_core::IdlePlan {
        self.plans += 1;
        coldstart_core::IdlePlan {
            keep_alive_us: self.inner.keep_alive_us(c),
            prewarm_after_us: (self.plans > self.keep_first).then_some(self.after_us),
        }
    }
}

/// The pre-warm paths the generated runs reach rarely, each set up by hand
/// and checked against the model: a pre-warm joining a download in flight
/// and a copy in flight (a second function of the same image started the
/// transfer after both tiers lost the image), and one skipped because an
/// earlier container of the function is still idle.
#[test]
fn rare_prewarm_paths_agree_with_the_model() {
    use coldstart_model::ops::{HostShape, Op, Shape};
    let host = HostShape::new(15, 3, 23);
    let shape = Shape::default()
        .with_hosts(vec![host, host])
        .with_main_units(23)
        .with_queue_capacity(None)
        .with_cold_start_us(5)
        .with_warm_start_us(1)
        .with_keep_alive_us(1_000)
        .with_retain(None)
        .with_selection(0)
        .with_warm_choice(0)
        .with_retry_attempts(0)
        .with_retry_backoff_us(0);
    let invoke = |function| Op::Invoke {
        function,
        clone_us: 0,
        build_us: 0,
        run_us: 10,
        ending: 3,
        egress_bytes: 0,
    };
    let finish = |ops: &mut Vec<Op>| ops.extend([Op::NextTimer; 4]);
    // f0 completes (unloaded, its pre-warm planned 50 µs on); host 0 loses
    // its disk and main storage its image; f1 (same image) cold-starts on
    // host 0, from the registry; 50 µs on, f0's pre-warm is placed.
    let mut lost = vec![invoke(0)];
    finish(&mut lost);
    lost.extend([
        Op::HostDown { host: 0 },
        Op::HostUp {
            which: 0,
            disk_kept: false,
        },
        Op::MainStorageLost,
        invoke(1),
        Op::Advance { dt_us: 50 },
    ]);
    // Two concurrent invocations of f0: the first container to end is kept
    // idle, the second unloaded; its pre-warm finds the first idle.
    let mut concurrent = vec![invoke(0), invoke(0)];
    finish(&mut concurrent);
    concurrent.push(Op::Advance { dt_us: 50 });
    for (ops, keep_first, prewarm_host, expected) in [
        (&lost, 0, 1, "Prewarmed/DownloadInFlight"),
        (&lost, 0, 0, "Prewarmed/HostCopyInFlight"),
        (&concurrent, 1, 0, "PrewarmSkipped/AlreadyWarm"),
    ] {
        let case = Case::with_setup(
            shape.clone(),
            &[7],
            &[(0, 0, 0, 300, 0, 1), (0, 0, 0, 300, 0, 1)],
            ops.clone(),
        );
        let (config, inner) = case.shape.build();
        let policies = ScriptedPrewarm {
            inner,
            keep_first,
            after_us: 50,
            host: prewarm_host,
            plans: 0,
        };
        let mut core = Provider::new(config.clone(), policies.clone()).expect("valid");
        let mut model = Model::new(config, policies).expect("valid");
        let trace = run_differential(&case, &mut core, &mut model)
            .unwrap_or_else(|d| panic!("core (left) and model (right) diverge at {d}"));
        assert!(
            trace.kinds.contains(expected),
            "{expected} not reached: {:#?}",
            trace.events
        );
    }
}

/// The generator reaches the states where room first (the default, R59a)
/// and first fit part ways: the same case, run under each (core against
/// model both times), gives other cold-start hosts — first fit evicting an
/// idle container on a low host where room first found room elsewhere.
#[test]
fn the_generator_reaches_cases_where_room_first_and_first_fit_differ() {
    use coldstart_core::EventKind;
    const RUNS: usize = 200;
    let mut runner = TestRunner::deterministic();
    let strategy = case(OPS_MAX);
    let cold_start_hosts = |case: &Case| -> Vec<coldstart_core::HostId> {
        let (mut core, mut model) = build(case);
        run_differential(case, &mut core, &mut model)
            .unwrap_or_else(|d| panic!("divergence on {case:?}: {d}"))
            .events
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::ColdStart { host, .. } => Some(host),
                _ => None,
            })
            .collect()
    };
    let mut differ = 0;
    for _ in 0..RUNS {
        let mut case = strategy.new_tree(&mut runner).expect("a case").current();
        // Placement alone: dedicated CPU, as when this count was set
        // (shared CPU moved one of 200 cases off the path, to 3).
        case.shape = case.shape.clone().with_cpu_shared(false);
        let parameter = (case.shape.selection / 10).min(24) * 10;
        case.shape.selection = parameter + 9; // room first
        let room_first = cold_start_hosts(&case);
        case.shape.selection = parameter; // first fit
        if cold_start_hosts(&case) != room_first {
            differ += 1;
        }
    }
    eprintln!("of {RUNS}: room first and first fit differ in {differ}");
    // 6 of 200 (3%) at the time of writing: the op language's small hosts
    // rarely hold an idle container on a low host while a higher one has
    // room. Low, but reached; the scenario tests pin the choice itself.
    assert!(
        differ * 100 >= RUNS * 2,
        "they differ in only {differ} of {RUNS}"
    );
}

/// Of the cases with shared links (spec R85a), the ones that reach each
/// re-timing path: a download or a copy that starts while another on the
/// same link has been in progress since an earlier µs (so the other has
/// made progress to charge), and a fault that ends a transfer while
/// another shares its link. Each in at least 2% of those runs; they agree
/// with the model (the runs go through `run_differential`).
#[test]
fn the_generator_reaches_shared_link_re_timings() {
    use coldstart_core::EventKind;
    use std::collections::BTreeSet;
    const RUNS: usize = 600;
    let mut runner = TestRunner::deterministic();
    let strategy = case(OPS_MAX);
    let (mut shared_runs, mut counts) = (0usize, BTreeMap::<&str, usize>::new());
    for _ in 0..RUNS {
        let case = strategy.new_tree(&mut runner).expect("a case").current();
        if !case.shape.bandwidth_shared {
            continue;
        }
        shared_runs += 1;
        let (mut core, mut model) = build(&case);
        if let Err(d) = run_differential(&case, &mut core, &mut model) {
            panic!("divergence on {case:?}: {d}");
        }
        let (mut core, _) = build(&case);
        let mut downloads = BTreeMap::new();
        let mut copies = BTreeMap::new();
        let mut reached = BTreeSet::new();
        for e in events_of(&case, &mut core) {
            match e.kind {
                EventKind::DownloadStarted { image } => {
                    if downloads.values().any(|&t| t < e.at_us) {
                        reached.insert("download starts mid-download");
                    }
                    downloads.insert(image, e.at_us);
                }
                EventKind::DownloadFinished { image } => {
                    downloads.remove(&image);
                }
                EventKind::DownloadFailed { image, .. } => {
                    let was_in_flight = downloads.remove(&image).is_some();
                    if was_in_flight && !downloads.is_empty() {
                        reached.insert("download fails mid-share");
                    }
                }
                EventKind::CopyStarted { image, host } => {
                    if copies.iter().any(|(&(h, _), &t)| h == host && t < e.at_us) {
                        reached.insert("copy starts mid-copy on its host");
                    }
                    copies.insert((host, image), e.at_us);
                }
                EventKind::CopyFinished { image, host } => {
                    copies.remove(&(host, image));
                }
                EventKind::CopyFailed { image, host, .. } => {
                    let was_in_flight = copies.remove(&(host, image)).is_some();
                    if was_in_flight && copies.keys().any(|&(h, _)| h == host) {
                        reached.insert("copy fails mid-share");
                    }
                }
                EventKind::HostDown { host } => {
                    if copies.keys().filter(|&&(h, _)| h == host).count() >= 2 {
                        reached.insert("host down mid-share");
                    }
                    copies.retain(|&(h, _), _| h != host);
                }
                _ => {}
            }
        }
        for kind in reached {
            *counts.entry(kind).or_default() += 1;
        }
    }
    eprintln!("shared-link runs reaching each path, of {shared_runs}: {counts:#?}");
    assert!(
        shared_runs * 3 > RUNS,
        "only {shared_runs} of {RUNS} runs share links"
    );
    let required = [
        "download starts mid-download",
        "copy starts mid-copy on its host",
        "download fails mid-share",
    ];
    for kind in required {
        let n = counts.get(kind).copied().unwrap_or(0);
        assert!(n * 50 >= shared_runs, "{kind}: {n} of {shared_runs} runs");
    }
    // Rarer: a copy fault or a host going down with two copies in flight
    // to one host at once; `shared_link_faults_agree_with_the_model` sets
    // them up by hand.
}

/// The shared-link faults the generated runs reach rarely, set up by hand
/// and checked against the model: two images downloaded together share the
/// feed, then their two copies share the host's link; 40 µs into the
/// copies one copy fails (the other is charged and re-timed), or the host
/// goes down (both end), or — earlier — one download fails mid-share.
#[test]
fn shared_link_faults_agree_with_the_model() {
    use coldstart_model::ops::{HostShape, Op, Shape};
    let shape = Shape::default()
        .with_hosts(vec![HostShape::new(15, 3, 23)])
        .with_main_units(23)
        .with_cold_start_us(5)
        .with_keep_alive_us(1_000)
        .with_retry_attempts(1)
        .with_retry_backoff_us(10)
        .with_bandwidth_shared(true);
    let invoke = |function| Op::Invoke {
        function,
        clone_us: 0,
        build_us: 0,
        run_us: 10,
        ending: 3,
        egress_bytes: 0,
    };
    let both = [invoke(0), invoke(1)];
    let copies_in_flight = [
        invoke(0),
        invoke(1),
        Op::NextTimer,
        Op::Advance { dt_us: 40 },
    ];
    for (ops, expected) in [
        (
            [&copies_in_flight[..], &[Op::CopyFails { which: 0 }]].concat(),
            "CopyFailed/Retrying",
        ),
        (
            [&copies_in_flight[..], &[Op::HostDown { host: 0 }]].concat(),
            "HostDown",
        ),
        (
            [
                &both[..],
                &[Op::Advance { dt_us: 40 }, Op::DownloadFails { which: 0 }],
            ]
            .concat(),
            "DownloadFailed/Retrying",
        ),
    ] {
        let mut ops = ops;
        ops.extend([Op::NextTimer; 12]);
        let case = Case::with_setup(
            shape.clone(),
            &[7, 7],
            &[(0, 0, 0, 300, 0, 1), (1, 0, 0, 300, 0, 1)],
            ops,
        );
        let (mut core, mut model) = build(&case);
        let trace = run_differential(&case, &mut core, &mut model)
            .unwrap_or_else(|d| panic!("core (left) and model (right) diverge at {d}"));
        assert!(
            trace.kinds.contains(expected),
            "{expected} not reached: {:#?}",
            trace.events
        );
        // Both transfers of the faulted link were in flight together.
        let started = |e: &&Event| {
            matches!(
                e.kind,
                coldstart_core::EventKind::CopyStarted { .. }
                    | coldstart_core::EventKind::DownloadStarted { .. }
            )
        };
        assert!(trace.events.iter().filter(started).count() >= 4);
    }
}

/// Built-in policies that remember whether the autoscaler was ever in
/// panic mode after answering (spec R170.4); every hook forwarded.
#[derive(Clone, Debug)]
struct PanicSpy {
    inner: Builtin,
    panicked: bool,
}

impl coldstart_core::Policies for PanicSpy {
    fn select_host(
        &mut self,
        view: &dyn coldstart_core::HostView,
        request: &coldstart_core::PlacementRequest,
    ) -> Option<coldstart_core::HostId> {
        self.inner.select_host(view, request)
    }
    fn warm_priority(&mut self, c: &coldstart_core::ContainerFacts) -> u64 {
        self.inner.warm_priority(c)
    }
    fn join_priority(&mut self, c: &coldstart_core::JoinFacts) -> u64 {
        self.inner.join_priority(c)
    }
    fn join_before_waking(
        &mut self,
        join: &coldstart_core::JoinFacts,
        idle: &coldstart_core::ContainerFacts,
    ) -> bool {
        self.inner.join_before_waking(join, idle)
    }
    fn idle_eviction_priority(&mut self, c: &coldstart_core::ContainerFacts) -> u64 {
        self.inner.idle_eviction_priority(c)
    }
    fn keep_alive_us(&mut self, c: &coldstart_core::ContainerFacts) -> u64 {
        self.inner.keep_alive_us(c)
    }
    fn idle_plan(&mut self, c: &coldstart_core::ContainerFacts) -> coldstart_core::IdlePlan {
        self.inner.idle_plan(c)
    }
    fn image_priority(&mut self, i: &coldstart_core::ImageFacts) -> u64 {
        self.inner.image_priority(i)
    }
    fn evicted(&mut self, eviction: &coldstart_core::Eviction) {
        self.inner.evicted(eviction)
    }
    fn collection_target_bytes(&mut self, disk: &coldstart_core::DiskFacts) -> Option<u64> {
        self.inner.collection_target_bytes(disk)
    }
    fn bill(&self, usage: &coldstart_core::Usage) -> u64 {
        self.inner.bill(usage)
    }
    fn desired_containers(
        &mut self,
        facts: &coldstart_core::ScaleFacts,
    ) -> Option<coldstart_core::ScaleDecision> {
        let answer = self.inner.desired_containers(facts);
        self.panicked |= self.inner.autoscale_state.in_panic(facts.function);
        answer
    }
}

/// The autoscaler's paths (spec §31) in at least 2% of 400 generated
/// cases, every one of them autoscaled: a scale-up (`Scaled/Up`, with its
/// pre-warms), a scale-down (`Scaled/Down`, removing idle containers), and
/// panic mode entered; and core agrees with the model on every one.
#[test]
fn the_generator_reaches_every_autoscaler_path() {
    const RUNS: usize = 400;
    let mut runner = TestRunner::deterministic();
    let strategy = case(OPS_MAX);
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut panicked = 0;
    for _ in 0..RUNS {
        let mut case = strategy.new_tree(&mut runner).expect("a case").current();
        case.shape = case.shape.clone().with_autoscaled(true);
        let (config, inner) = case.shape.build();
        assert!(config.autoscale_tick_us.is_some());
        let policies = PanicSpy {
            inner,
            panicked: false,
        };
        let mut core = Provider::new(config.clone(), policies.clone()).expect("valid");
        let mut model = Model::new(config, policies).expect("valid");
        let trace = run_differential(&case, &mut core, &mut model)
            .unwrap_or_else(|d| panic!("divergence on {case:?}: {d}"));
        for kind in trace.kinds {
            *counts.entry(kind).or_default() += 1;
        }
        panicked += usize::from(core.policies().panicked);
    }
    eprintln!("runs reaching each kind, of {RUNS}: {counts:#?}; panicked in {panicked}");
    require(
        &counts,
        RUNS,
        &[
            "Scaled/Up",
            "Scaled/Down",
            "ContainerRemoved/ScaledDown",
            "Prewarmed/HostDisk",
        ],
    );
    assert!(
        panicked * 50 >= RUNS,
        "panic mode in {panicked} of {RUNS} runs"
    );
}

/// Of the cases with shared CPU (spec R85f), the ones that reach each
/// re-timing path: a run that begins on a host where another has run since
/// an earlier µs (so the other has progress to charge), a time-out of a run
/// whose code fits its limit (only the stretch made it late), and a host
/// going down with two runs on it. They agree with the model (the runs go
/// through `run_differential`); the first two are required in 2% of
/// those runs, the crash at least once.
#[test]
fn the_generator_reaches_shared_cpu_re_timings() {
    use coldstart_core::{Command, EventKind, FunctionId, HostId, InvocationId};
    use std::collections::BTreeSet;
    const RUNS: usize = 600;
    let mut runner = TestRunner::deterministic();
    let strategy = case(OPS_MAX);
    let (mut shared_runs, mut counts) = (0usize, BTreeMap::<&str, usize>::new());
    for _ in 0..RUNS {
        let case = strategy.new_tree(&mut runner).expect("a case").current();
        if !case.shape.cpu_shared {
            continue;
        }
        shared_runs += 1;
        let (mut core, mut model) = build(&case);
        if let Err(d) = run_differential(&case, &mut core, &mut model) {
            panic!("divergence on {case:?}: {d}");
        }
        // The run again, keeping each invocation's code duration and its
        // function's time limit from the inputs.
        let (mut core, _) = build(&case);
        let mut resolver = coldstart_model::Resolver::default();
        let mut limits: BTreeMap<FunctionId, u64> = BTreeMap::new();
        let mut fits: BTreeMap<InvocationId, bool> = BTreeMap::new();
        let mut events = Vec::new();
        for op in &case.ops {
            let input = resolver.input(op, core.now_us(), core.next_timer_us());
            let step = match core.apply(&input) {
                Ok(step) => step,
                Err(refused) => {
                    // The timers due by its time fired before it was refused.
                    events.extend(refused.events().iter().copied());
                    continue;
                }
            };
            resolver.learn(&step);
            for e in step.iter() {
                match (e.kind, &input.command) {
                    (
                        EventKind::FunctionRegistered { function, .. },
                        Command::RegisterFunction(def),
                    ) => {
                        limits.insert(function, def.time_limit_us);
                    }
                    (
                        EventKind::Accepted {
                            invocation,
                            function,
                        },
                        Command::Invoke { code, .. },
                    ) => {
                        let limit = limits.get(&function).copied().unwrap_or(0);
                        fits.insert(invocation, code.duration_us() <= limit);
                    }
                    _ => {}
                }
            }
            events.extend(step);
        }
        while let Some(due) = core.next_timer_us() {
            let step = core
                .apply(&coldstart_core::Input {
                    at_us: due,
                    command: Command::Advance,
                })
                .expect("advance to a timer");
            events.extend(step);
        }
        let mut host_of: BTreeMap<InvocationId, HostId> = BTreeMap::new();
        let mut running: BTreeMap<InvocationId, (HostId, u64)> = BTreeMap::new();
        let mut reached = BTreeSet::new();
        for e in &events {
            match e.kind {
                EventKind::ColdStart {
                    invocation, host, ..
                }
                | EventKind::WarmStart {
                    invocation, host, ..
                } => {
                    host_of.insert(invocation, host);
                }
                EventKind::ExecutionStarted { invocation, .. } => {
                    let host = host_of[&invocation];
                    if running.values().any(|&(h, t)| h == host && t < e.at_us) {
                        reached.insert("run begins mid-run on its host");
                    }
                    running.insert(invocation, (host, e.at_us));
                }
                EventKind::Completed { invocation, .. } | EventKind::Failed { invocation, .. } => {
                    running.remove(&invocation);
                }
                EventKind::TimedOut { invocation, .. } => {
                    running.remove(&invocation);
                    if fits.get(&invocation) == Some(&true) {
                        reached.insert("time-out under stretch");
                    }
                }
                EventKind::HostDown { host } => {
                    if running.values().filter(|&&(h, _)| h == host).count() >= 2 {
                        reached.insert("host down mid-share");
                    }
                    running.retain(|_, &mut (h, _)| h != host);
                }
                _ => {}
            }
        }
        for kind in reached {
            *counts.entry(kind).or_default() += 1;
        }
    }
    eprintln!("shared-CPU runs reaching each path, of {shared_runs}: {counts:#?}");
    assert!(
        shared_runs * 3 > RUNS,
        "only {shared_runs} of {RUNS} runs share CPU"
    );
    for kind in ["run begins mid-run on its host", "time-out under stretch"] {
        let n = counts.get(kind).copied().unwrap_or(0);
        assert!(n * 50 >= shared_runs, "{kind}: {n} of {shared_runs} runs");
    }
    assert!(
        counts.get("host down mid-share").copied().unwrap_or(0) >= 1,
        "no run saw a host go down with two runs on it"
    );
}
