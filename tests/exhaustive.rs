//! Bounded exhaustive check: on two tiny configurations, every sequence of
//! up to `DEPTH` ops from a fixed alphabet (after a fixed set-up registering
//! two images and two functions) runs through core and the reference model,
//! compared after every step and then drained timer by timer
//! (`run_differential`); then the same over an alphabet of faults, to a
//! smaller depth; and the first alphabet under pre-warming. The counts are
//! recorded in docs/testing.md.

use coldstart_core::{Builtin, Provider};
use coldstart_model::ops::{Case, HostShape, Op, Shape};
use coldstart_model::{run_differential, Model};

const DEPTH: usize = 5;

fn setup() -> Vec<Op> {
    vec![
        Op::RegisterImage { units: 3 },
        Op::RegisterImage { units: 4 },
        Op::RegisterFunction {
            image: 0,
            memory_units: 2,
            scratch_units: 1,
            time_limit_us: 100,
            start_costs: 0,
            concurrency: 1,
        },
        Op::RegisterFunction {
            image: 1,
            memory_units: 3,
            scratch_units: 0,
            time_limit_us: 60,
            // Its own start costs (spec R41a): a cold start of 20 µs and a
            // warm start of 8 µs.
            start_costs: 3 + 20 * 4,
            concurrency: 1,
        },
    ]
}

fn invoke(function: u8, run_us: u16, ending: u8) -> Op {
    Op::Invoke {
        function,
        clone_us: 5,
        build_us: 5,
        run_us,
        ending,
        egress_bytes: 8,
    }
}

/// Six ops: a short success of fn0, a long success of fn1, a build failure
/// of fn0, a time-out of fn1 (260 µs of code > limit 60 µs), a small advance,
/// and an advance to the next timer.
fn alphabet() -> Vec<Op> {
    vec![
        invoke(0, 20, 3),
        invoke(1, 40, 4),
        invoke(0, 20, 1),
        invoke(1, 250, 5),
        Op::Advance { dt_us: 15 },
        Op::NextTimer,
    ]
}

/// Two tiny shapes (see `Shape::build` for the unit folding).
fn shapes() -> Vec<Shape> {
    vec![
        // One host (RAM 5 units, 2 slots, disk 8), main storage 6 units (the
        // two images, 3 + 4, never both fit), a queue of 1, keep-alive 30 µs,
        // retention of 1 record, first fit.
        Shape::default()
            .with_hosts(vec![HostShape::new(4, 1, 7)])
            .with_main_units(5)
            .with_queue_capacity(Some(0))
            .with_cold_start_us(5)
            .with_warm_start_us(1)
            .with_keep_alive_us(30)
            .with_retain(Some(1))
            .with_selection(0)
            .with_warm_choice(0)
            .with_retry_attempts(1)
            .with_retry_backoff_us(10),
        // Two unequal hosts (RAM 3/6 units, 1/2 slots, disk 5/10), main
        // storage 12, reject mode, keep-alive 0, best fit, LRU warm choice,
        // links shared among their transfers (spec R85a), cores shared by
        // their runs (one core each, R85f).
        Shape::default()
            .with_hosts(vec![HostShape::new(2, 0, 4), HostShape::new(5, 1, 9)])
            .with_main_units(11)
            .with_queue_capacity(None)
            .with_cold_start_us(5)
            .with_warm_start_us(0)
            .with_keep_alive_us(0)
            .with_retain(None)
            .with_selection(1)
            .with_warm_choice(2)
            .with_retry_attempts(0)
            .with_retry_backoff_us(0)
            .with_bandwidth_shared(true)
            .with_cpu_shared(true),
    ]
}

/// Every sequence over `alphabet` of length 1..=depth, in lexicographic
/// order of indices.
fn sequences(alphabet: usize, depth: usize) -> Vec<Vec<usize>> {
    let mut all = Vec::new();
    let mut level: Vec<Vec<usize>> = vec![Vec::new()];
    for _ in 0..depth {
        level = level
            .iter()
            .flat_map(|s| {
                (0..alphabet).map(move |i| {
                    let mut t = s.clone();
                    t.push(i);
                    t
                })
            })
            .collect();
        all.extend(level.iter().cloned());
    }
    all
}

const REACHED: &[&str] = &[
    "Accepted",
    "ColdStart/DownloadInFlight",
    "ColdStart/HostCopyInFlight",
    "ColdStart/HostDisk",
    "ColdStart/MainStorage",
    "ColdStart/Registry",
    "Completed",
    "ContainerIdle",
    "ContainerRemoved/Discarded",
    "ContainerRemoved/Evicted",
    "ContainerRemoved/Expired",
    "CopyFinished",
    "CopyStarted",
    "DownloadFinished",
    "DownloadStarted",
    "DownloadWaiting",
    "ExecutionStarted",
    "Failed/Build",
    "ImageEvicted/Host",
    "ImageEvicted/MainStorage",
    "Queued",
    "Reaped",
    "Rejected/QueueFull",
    "Rejected/ResourceUnavailable",
    "TimedOut",
    "WarmStart",
];

/// Runs every sequence of up to `depth` ops from `alphabet`, after the
/// set-up, on both shapes, against the model; every kind in `reached` must
/// occur. Returns the number of sequences checked.
fn check_every_sequence(alphabet: &[Op], depth: usize, reached: &[&str]) -> usize {
    check_every_sequence_on(shapes(), &setup(), alphabet, depth, reached)
}

/// `check_every_sequence` on the given shapes, after the given set-up.
fn check_every_sequence_on(
    shapes: Vec<Shape>,
    setup: &[Op],
    alphabet: &[Op],
    depth: usize,
    reached: &[&str],
) -> usize {
    let mut checked = 0usize;
    let mut kinds = std::collections::BTreeSet::new();
    for shape in shapes {
        let (config, policies) = shape.build();
        for seq in sequences(alphabet.len(), depth) {
            let mut ops = setup.to_vec();
            ops.extend(seq.iter().map(|&i| alphabet[i]));
            let case = Case {
                shape: shape.clone(),
                ops,
            };
            let mut core = Provider::new(config.clone(), policies.clone()).expect("valid");
            let mut model = Model::<Builtin>::new(config.clone(), policies.clone()).expect("valid");
            match run_differential(&case, &mut core, &mut model) {
                Ok(trace) => kinds.extend(trace.kinds),
                Err(d) => panic!("core (left) and model (right) diverge on {case:?}\nat {d}"),
            }
            checked += 1;
        }
    }
    eprintln!("event kinds reached: {kinds:?}");
    let missing: Vec<&str> = reached
        .iter()
        .copied()
        .filter(|k| !kinds.contains(k))
        .collect();
    assert!(missing.is_empty(), "never reached: {missing:?}");
    checked
}

#[test]
fn every_short_sequence_agrees_with_the_model() {
    // The alphabet fails only at Build; the built-in policies never make a
    // refused decision. Every other kind must be reached.
    let checked = check_every_sequence(&alphabet(), DEPTH, REACHED);
    // 2 shapes × (6 + 6² + … + 6⁵) = 2 × 9,330.
    assert_eq!(checked, 18_660);
}

/// Depth of the fault check: shorter, its alphabet being larger.
const FAULT_DEPTH: usize = 4;

/// Seven ops: a short and a long success, host 0 going down and coming
/// back without its disk, the download and the copy in progress failing,
/// and an advance to the next timer.
fn fault_alphabet() -> Vec<Op> {
    vec![
        invoke(0, 20, 3),
        invoke(1, 250, 4),
        Op::HostDown { host: 0 },
        Op::HostUp {
            which: 0,
            disk_kept: false,
        },
        Op::DownloadFails { which: 0 },
        Op::CopyFails { which: 0 },
        Op::NextTimer,
    ]
}

/// Every fault kind the alphabet can reach in four ops (`ImageLost` needs a
/// copy to arrive before the crash: five; `MainStorageLost` is not in the
/// alphabet; the generator of tests/differential.rs reaches both).
const FAULT_REACHED: &[&str] = &[
    "ContainerRemoved/HostLost",
    "CopyFailed/GivenUp",
    "CopyFailed/Retrying",
    "DownloadFailed/GivenUp",
    "DownloadFailed/Retrying",
    "HostDown",
    "HostUp/DiskLost",
    "PlatformFailed/HostLost",
    "PlatformFailed/TransferFailed",
    "Retrying",
];

/// The same exhaustive check over faults, on the same two shapes (the first
/// allows two attempts, the second one: no retry).
#[test]
fn every_short_fault_sequence_agrees_with_the_model() {
    let checked = check_every_sequence(&fault_alphabet(), FAULT_DEPTH, FAULT_REACHED);
    // 2 shapes × (7 + 7² + 7³ + 7⁴) = 2 × 2,800.
    assert_eq!(checked, 5_600);
}

/// Pre-warming (spec §29) on the first shape in reject mode, with the
/// hybrid histogram over 10 µs bins pre-warming at the 5th percentile
/// (`Shape::build`). The set-up runs one short invocation of fn0 to its end
/// (125 µs: download, copy, overhead, code), so its container is idle for
/// the 30 µs fallback; a later end of fn0, one or more bins after, plans a
/// pre-warm, which the drain at the end of each run places.
fn prewarm_shape() -> Shape {
    shapes()[0]
        .clone()
        .with_queue_capacity(None)
        // Hybrid keep-alive, newest created reused first.
        .with_warm_choice(3)
        // Pre-warm percentile 5 (`retry_attempts / 4 % 4 == 1`), one
        // attempt.
        .with_retry_attempts(4)
}

/// What five ops reach under pre-warming: a warm start on the set-up's
/// container, a container unloaded, a pre-warm planned and placed. (No
/// pre-warm is skipped in five ops; the generator of tests/differential.rs
/// reaches every skip.)
const PREWARM_REACHED: &[&str] = &[
    "ContainerRemoved/Unloaded",
    "PrewarmPlanned",
    "Prewarmed/HostDisk",
    "WarmStart",
];

#[test]
fn every_short_prewarming_sequence_agrees_with_the_model() {
    let mut ops = setup();
    ops.push(invoke(0, 20, 3));
    ops.extend([Op::NextTimer; 4]);
    let checked = check_every_sequence_on(
        vec![prewarm_shape()],
        &ops,
        &alphabet(),
        DEPTH,
        PREWARM_REACHED,
    );
    // 1 shape × (6 + 6² + … + 6⁵).
    assert_eq!(checked, 9_330);
}

/// Per-container concurrency (spec R57a, R57b): the set-up with fn0 of
/// concurrency 2, the first alphabet, both shapes. Its invocations join a
/// container still starting and one running, fail in a shared container
/// (R89a), and are queued or rejected beside a container with room for
/// another function's.
#[test]
fn every_short_sequence_with_a_concurrency_2_function_agrees_with_the_model() {
    let mut ops = setup();
    if let Op::RegisterFunction { concurrency, .. } = &mut ops[2] {
        *concurrency = 2;
    }
    let checked = check_every_sequence_on(
        shapes(),
        &ops,
        &alphabet(),
        DEPTH,
        &[
            "Join/Running",
            "Join/Starting",
            "WarmStart",
            "ContainerRemoved/Discarded",
        ],
    );
    // 2 shapes × (6 + 6² + … + 6⁵).
    assert_eq!(checked, 18_660);
}
