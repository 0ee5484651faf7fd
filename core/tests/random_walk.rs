//! Random input sequences on small, tight configurations: every invariant
//! holds after every step, refused inputs change nothing, and the same
//! inputs give the same events.

use coldstart_core::*;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Image {
        size: u64,
    },
    Function {
        image: usize,
        memory: u64,
        scratch: u64,
        limit_us: u64,
        /// Its warm floor (spec §30): 0 mostly.
        min_scale: u32,
    },
    Invoke {
        function: usize,
        code: Code,
        egress: u64,
    },
    Advance {
        dt_us: u64,
    },
    Reap {
        invocation: usize,
    },
    Back {
        dt_us: u64,
    },
    /// Faults (spec §27), sometimes naming an unknown host or a transfer
    /// not in progress (refused).
    HostDown {
        host: u32,
    },
    HostUp {
        host: u32,
        disk_kept: bool,
    },
    DownloadFails {
        image: usize,
    },
    CopyFails {
        host: u32,
        image: usize,
    },
    MainStorageLost,
}

fn code() -> impl Strategy<Value = Code> {
    (0u64..50, 0u64..50, 0u64..200, 0u8..10, any::<u64>()).prop_map(|(c, b, r, o, output)| Code {
        clone_us: c,
        build_us: b,
        run_us: r,
        outcome: match o {
            0 => Outcome::Failure {
                phase: Phase::Clone,
            },
            1 => Outcome::Failure {
                phase: Phase::Build,
            },
            2 => Outcome::Failure { phase: Phase::Run },
            _ => Outcome::Success { output },
        },
    })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (1u64..120).prop_map(|size| Op::Image { size }),
        1 => (0usize..8, 1u64..90, 0u64..60, 1u64..300, prop_oneof![3 => Just(0u32), 1 => 1u32..4]).prop_map(|(image, memory, scratch, limit_us, min_scale)| Op::Function { image, memory, scratch, limit_us, min_scale }),
        6 => (0usize..8, code(), 0u64..10).prop_map(|(function, code, egress)| Op::Invoke { function, code, egress }),
        3 => (0u64..400).prop_map(|dt_us| Op::Advance { dt_us }),
        1 => (0usize..40).prop_map(|invocation| Op::Reap { invocation }),
        1 => (1u64..10).prop_map(|dt_us| Op::Back { dt_us }),
        1 => (0u32..4).prop_map(|host| Op::HostDown { host }),
        1 => (0u32..4, any::<bool>()).prop_map(|(host, disk_kept)| Op::HostUp { host, disk_kept }),
        1 => (0usize..8).prop_map(|image| Op::DownloadFails { image }),
        1 => (0u32..4, 0usize..8).prop_map(|(host, image)| Op::CopyFails { host, image }),
        1 => Just(Op::MainStorageLost),
    ]
}

fn config() -> impl Strategy<Value = (Config, Builtin)> {
    (
        1usize..4,
        60u64..300,
        50u64..200,
        1u32..4,
        60u64..250,
        any::<bool>(),
        0u64..30,
        0u64..500,
        prop::option::of(0u64..5),
        0u8..9,
    )
        .prop_map(
            |(hosts, main_cap, ram, slots, disk, queue, cold, keep_alive_us, retain, sel)| {
                let host = HostSpec::new(ram, slots, disk, 1_000_000);
                let mut config = Config::homogeneous(
                    MainStorageSpec::new(main_cap, 500_000),
                    host,
                    hosts as u32,
                );
                config.cold_start_us = cold;
                config.warm_start_us = cold / 4;
                config.pressure = if queue {
                    Pressure::Queue { capacity: 4 }
                } else {
                    Pressure::Reject
                };
                config.terminal_records_max = retain;
                // The hybrid histogram on 20 µs bins, so that these short
                // walks learn idle times and pre-warm (spec §29).
                let hybrid = |prewarm_percentile| {
                    KeepAlivePolicy::HybridHistogram(HybridHistogram {
                        bin_us: 20,
                        bins: 30,
                        cv_threshold_hundredths: 100,
                        prewarm_percentile,
                        fallback_keep_alive_us: keep_alive_us,
                        ..HybridHistogram::PAPER
                    })
                };
                let policies = Builtin::default()
                    .with_keep_alive_us(keep_alive_us)
                    .with_host_selection(
                        [
                            HostSelection::FirstFit,
                            HostSelection::BestFit,
                            HostSelection::ImageLocality,
                        ][sel as usize % 3],
                    )
                    .with_keep_alive_policy(match sel / 3 {
                        0 => KeepAlivePolicy::Fixed,
                        1 => hybrid(5),
                        _ => hybrid(50),
                    });
                (config, policies)
            },
        )
}

/// Runs the ops, checking invariants after each; returns every event.
fn run(config: &Config, policies: Builtin, ops: &[Op]) -> Result<Vec<Event>, TestCaseError> {
    let mut provider = Provider::new(config.clone(), policies).expect("valid config");
    let (mut images, mut functions, mut invocations) = (Vec::new(), Vec::new(), Vec::new());
    let mut all = Vec::new();
    for op in ops {
        let now = provider.now_us();
        let command = match *op {
            Op::Image { size } => Command::RegisterImage { size_bytes: size },
            Op::Function {
                image,
                memory,
                scratch,
                limit_us,
                min_scale,
            } => Command::RegisterFunction(
                FunctionDef::new(
                    images
                        .get(image % images.len().max(1))
                        .copied()
                        .unwrap_or_default(),
                    memory,
                    limit_us,
                )
                .with_scratch_bytes(scratch)
                .with_min_scale(min_scale),
            ),
            Op::Invoke {
                function,
                code,
                egress,
            } => Command::Invoke {
                function: functions
                    .get(function % functions.len().max(1))
                    .copied()
                    .unwrap_or_default(),
                code,
                ingress_bytes: 1,
                egress_bytes: egress,
            },
            Op::Advance { .. } | Op::Back { .. } => Command::Advance,
            Op::HostDown { host } => Command::HostDown { host: HostId(host) },
            Op::HostUp { host, disk_kept } => Command::HostUp {
                host: HostId(host),
                disk_kept,
            },
            Op::DownloadFails { image } => Command::DownloadFails {
                image: images
                    .get(image % images.len().max(1))
                    .copied()
                    .unwrap_or_default(),
            },
            Op::CopyFails { host, image } => Command::CopyFails {
                host: HostId(host),
                image: images
                    .get(image % images.len().max(1))
                    .copied()
                    .unwrap_or_default(),
            },
            Op::MainStorageLost => Command::MainStorageLost,
            Op::Reap { invocation } => Command::Reap {
                invocation: invocations
                    .get(invocation % invocations.len().max(1))
                    .copied()
                    .unwrap_or_default(),
            },
        };
        let at_us = match *op {
            Op::Advance { dt_us } => now + dt_us,
            Op::Back { dt_us } => now.saturating_sub(dt_us),
            _ => now,
        };
        let input = Input { at_us, command };
        let before = provider.clone();
        match provider.apply(&input) {
            Ok(events) => {
                for e in &events {
                    prop_assert!(e.at_us <= at_us && e.at_us >= before.now_us());
                    match e.kind {
                        EventKind::ImageRegistered { image, .. } => images.push(image),
                        EventKind::FunctionRegistered { function, .. } => functions.push(function),
                        EventKind::Accepted { invocation, .. } => invocations.push(invocation),
                        _ => {}
                    }
                }
                prop_assert!(
                    events.windows(2).all(|w| w[0].at_us <= w[1].at_us),
                    "events out of time order"
                );
                all.extend(events);
            }
            Err(_) => prop_assert_eq!(&provider, &before, "a refused input changed the state"),
        }
        if let Err(v) = provider
            .check_invariants()
            .and_then(|()| provider.check_floor_held())
        {
            return Err(TestCaseError::fail(format!("{v} after {input:?}")));
        }
    }
    // Drain every timer: nothing may stay in flight forever.
    let mut guard = 0;
    while let Some(t) = provider.next_timer_us() {
        all.extend(
            provider
                .apply(&Input {
                    at_us: t,
                    command: Command::Advance,
                })
                .expect("advance"),
        );
        if let Err(v) = provider
            .check_invariants()
            .and_then(|()| provider.check_floor_held())
        {
            return Err(TestCaseError::fail(format!("{v} while draining")));
        }
        guard += 1;
        prop_assert!(guard < 100_000, "timers never run out");
    }
    let m = provider.metrics();
    prop_assert_eq!(m.in_flight_now, 0);
    prop_assert_eq!(m.retrying_now, 0);
    prop_assert_eq!(m.busy_containers_now, 0);
    // The warm floors stay, Reserved: they have no timer (spec §30).
    prop_assert_eq!(m.reserved_containers_now, m.floor_containers_now);
    if m.queued_now > 0 {
        // Only a queue whose head can never be placed may remain, and then
        // nothing is running to free room.
        prop_assert_eq!(
            m.containers_now,
            m.floor_containers_now,
            "queue stuck while containers remain"
        );
    }
    Ok(all)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_and_runs_repeat((config, policies) in config(), ops in prop::collection::vec(op(), 1..80)) {
        let first = run(&config, policies.clone(), &ops)?;
        let second = run(&config, policies, &ops)?;
        prop_assert_eq!(first, second);
    }
}

/// A view that answers only the basic questions (facts, `fits`,
/// `fits_in_room`, `has_image`), so that every composite question a rule
/// asks (`first_fitting_host`, `best_fitting_host`, …) takes the trait's
/// default: a scan of every host.
struct ScanView<'a>(&'a dyn HostView);

impl HostView for ScanView<'_> {
    fn now_us(&self) -> u64 {
        self.0.now_us()
    }
    fn host_count(&self) -> u32 {
        self.0.host_count()
    }
    fn host(&self, host: HostId) -> Option<HostFacts> {
        self.0.host(host)
    }
    fn has_image(&self, host: HostId, image: ImageId) -> bool {
        self.0.has_image(host, image)
    }
    fn fits(&self, host: HostId, request: &PlacementRequest) -> bool {
        self.0.fits(host, request)
    }
    fn fits_in_room(&self, host: HostId, request: &PlacementRequest) -> bool {
        self.0.fits_in_room(host, request)
    }
    fn is_up(&self, host: HostId) -> bool {
        self.0.is_up(host)
    }
}

/// `Builtin`, deciding every placement through `ScanView`: what the core's
/// host index (core/src/hosts.rs) must agree with.
#[derive(Clone, Debug)]
struct Scanning(Builtin);

impl Policies for Scanning {
    fn select_host(&mut self, view: &dyn HostView, request: &PlacementRequest) -> Option<HostId> {
        self.0.select_host(&ScanView(view), request)
    }
    fn warm_priority(&mut self, container: &ContainerFacts) -> u64 {
        self.0.warm_priority(container)
    }
    fn idle_eviction_priority(&mut self, container: &ContainerFacts) -> u64 {
        self.0.idle_eviction_priority(container)
    }
    fn keep_alive_us(&mut self, container: &ContainerFacts) -> u64 {
        self.0.keep_alive_us(container)
    }
    fn image_priority(&mut self, image: &ImageFacts) -> u64 {
        self.0.image_priority(image)
    }
    fn bill(&self, usage: &Usage) -> u64 {
        self.0.bill(usage)
    }

    fn bill_container(&self, usage: &coldstart_core::ContainerUsage) -> Option<u64> {
        self.0.bill_container(usage)
    }
}

/// The host index answers every built-in host selection exactly as a scan
/// does: 1 to 129 hosts
/// of unlike sizes (scanned up to 16, indexed from 17, in trees of 32 to 256
/// leaves, full and partly empty), tight enough
/// that hosts fill, evict and reject, with hosts crashing and returning;
/// the events of the two runs are equal step by step, and every invariant
/// (the index's own among them) holds after every step.
#[test]
fn host_index_answers_every_rule_as_a_scan() {
    let mut state = 0x5eed_u64;
    let mut draw = move |bound: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % bound
    };
    // Room first and first fit on every size; the other rules where the
    // index answers them (below 17 hosts they scan), but consistent
    // hashing's ring table, and home invoker's probes past their first
    // 16, on small sizes too.
    let runs = HostSelection::ALL.into_iter().flat_map(|rule| {
        let counts: &[u64] = match rule {
            HostSelection::RoomFirst | HostSelection::FirstFit => &[1, 3, 16, 17, 32, 33, 70, 129],
            HostSelection::BoundedConsistentHashing { .. } => &[1, 3, 17, 129],
            HostSelection::HomeInvoker | HostSelection::SeededRandom { .. } => &[3, 17, 33, 129],
            _ => &[17, 129],
        };
        counts.iter().map(move |&count| (count, rule))
    });
    for (hosts_count, rule) in runs {
        let hosts = (0..hosts_count)
            .map(|_| {
                HostSpec::new(
                    (1 + draw(8)) * 100,
                    1 + draw(3) as u32,
                    (2 + draw(10)) * 100,
                    1_000_000,
                )
            })
            .collect();
        let config = Config::new(MainStorageSpec::new(600, 1_000_000), hosts)
            .with_cold_start_us(100)
            .with_warm_start_us(10)
            .with_pressure(if hosts_count % 2 == 0 {
                Pressure::Reject
            } else {
                Pressure::Queue { capacity: 20 }
            });
        let builtin = Builtin::default().with_host_selection(rule);
        let mut indexed = Provider::new(config.clone(), builtin.clone()).expect("valid");
        let mut scanned = Provider::new(config, Scanning(builtin)).expect("valid");
        let mut now_us = 0u64;
        let mut inputs = vec![];
        for size in [50u64, 120, 200] {
            inputs.push(Command::RegisterImage { size_bytes: size });
        }
        for f in 0..6u64 {
            inputs.push(Command::RegisterFunction(
                FunctionDef::new(ImageId::from_bits(f % 3), 50 + 50 * (f % 3), 10_000)
                    .with_scratch_bytes(20 * (f % 4)),
            ));
        }
        while inputs.len() < 1_000 {
            inputs.push(match draw(40) {
                0 => Command::HostDown {
                    host: HostId(draw(hosts_count) as u32),
                },
                1 => Command::HostUp {
                    host: HostId(draw(hosts_count) as u32),
                    disk_kept: draw(2) == 0,
                },
                _ => Command::Invoke {
                    function: FunctionId::from_bits(draw(6)),
                    code: Code::success(draw(3_000), 0),
                    ingress_bytes: 0,
                    egress_bytes: 0,
                },
            });
        }
        for (i, command) in inputs.into_iter().enumerate() {
            // Arrivals about as fast as the hosts serve them (runs average
            // 1.5 ms, hosts hold 2 slots on average).
            now_us += if i < 9 {
                0
            } else {
                draw(1_500 / hosts_count + 1)
            };
            let input = Input {
                at_us: now_us,
                command,
            };
            let a = indexed.apply(&input);
            let b = scanned.apply(&input);
            assert_eq!(a, b, "{hosts_count} hosts, {rule:?}, step {i}: {input:?}");
            indexed
                .check_invariants()
                .unwrap_or_else(|v| panic!("{hosts_count} hosts, step {i}: {v}"));
        }
        let m = indexed.metrics();
        assert!(
            m.cold_starts > 100 && m.warm_starts > 20,
            "{hosts_count} hosts: the run places and reuses containers ({} cold, {} warm)",
            m.cold_starts,
            m.warm_starts
        );
    }
}

/// The random walk reaches the warm floor's paths (spec §30), so that its
/// invariants and `check_floor_held` are checked on them: a floor placed
/// at registration, one placed again by the `REPLENISH` that ends a
/// `HostDown`, and a floor that was short and placed later.
#[test]
fn the_walk_covers_the_floor_paths() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let ops = prop::collection::vec(op(), 1..80);
    let (mut at_registration, mut after_crash, mut later) = (0, 0, 0);
    let cases = 600;
    for _ in 0..cases {
        let (config, policies) = config().new_tree(&mut runner).unwrap().current();
        let ops = ops.new_tree(&mut runner).unwrap().current();
        let events = run(&config, policies, &ops).unwrap();
        let (mut registration, mut crash, mut placed_late) = (false, false, false);
        let mut trigger = None;
        let mut short = std::collections::BTreeSet::new();
        for e in &events {
            match e.kind {
                EventKind::FunctionRegistered { .. } | EventKind::HostDown { .. } => {
                    trigger = Some(e.kind)
                }
                EventKind::Accepted { .. }
                | EventKind::Completed { .. }
                | EventKind::Failed { .. }
                | EventKind::TimedOut { .. }
                | EventKind::HostUp { .. }
                | EventKind::ContainerReserved { .. } => trigger = None,
                EventKind::FloorShort { function, .. } => {
                    short.insert(function);
                }
                EventKind::FloorPlaced { function, .. } => {
                    match trigger {
                        Some(EventKind::FunctionRegistered { .. }) => registration = true,
                        Some(EventKind::HostDown { .. }) => crash = true,
                        _ => {}
                    }
                    placed_late |= short.contains(&function);
                }
                _ => {}
            }
        }
        at_registration += usize::from(registration);
        after_crash += usize::from(crash);
        later += usize::from(placed_late);
    }
    eprintln!(
        "of {cases} walks: {at_registration} place a floor at registration, {after_crash} after a crash, {later} a short floor later"
    );
    assert!(at_registration >= cases / 10, "{at_registration}");
    assert!(after_crash >= 3, "{after_crash}");
    assert!(later >= cases / 100, "{later}");
}
