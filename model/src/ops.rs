//! The op language shared by property tests, the exhaustive check and the
//! fuzz targets: a compact description of a configuration and an input
//! sequence in which entities are named by the order they were created, so
//! any generated value is meaningful and shrinks well. A `Resolver` turns
//! each op into a real `Input` using the ids learned from earlier events.

use coldstart_core::FunctionDef;
use coldstart_core::{
    Autoscaler, Bandwidth, Billing, Builtin, CloudRunPrices, Code, Command, Config, Cpu, Event,
    EventKind, FunctionId, HostId, HostSelection, HostSpec, HybridHistogram, ImageEviction,
    ImageId, Input, InvocationId, KeepAlivePolicy, Kpa, MainStorageSpec, Outcome, Phase, Pressure,
    Retry, WarmChoice,
};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

/// A configuration, small enough to be tight: sizes are in "units" of 10
/// bytes, bandwidths make one unit take 10 µs to move.
///
/// `#[non_exhaustive]`: build it from [`Shape::default`] with the `with_*`
/// methods, one for every field, so a field added later folds its default.
///
/// ```
/// use coldstart_model::ops::{HostShape, Shape};
///
/// let shape = Shape::default()
///     .with_hosts(vec![HostShape::new(7, 1, 11)])
///     .with_queue_capacity(Some(2));
/// let (config, _policies) = shape.build();
/// assert_eq!(config.hosts.len(), 1);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct Shape {
    /// The compute hosts: at most 4 are used (an empty list gives one host of
    /// 8 RAM units, 2 slots and 12 disk units).
    pub hosts: Vec<HostShape>,
    /// Main storage capacity in units, folded to 1..=24.
    pub main_units: u8,
    /// `Some(c)`: queue under RAM pressure, capacity `c` folded to 1..=6;
    /// `None`: reject.
    pub queue_capacity: Option<u8>,
    /// The cold start's duration, folded to 0..50 µs.
    pub cold_start_us: u8,
    /// The warm start's duration, folded to 0..10 µs.
    pub warm_start_us: u8,
    /// The keep-alive of idle containers, folded to 0..2000 µs.
    pub keep_alive_us: u16,
    /// `Some(r)`: keep at most `r % 6` terminal records; `None`: keep all.
    pub retain: Option<u8>,
    /// `selection % 10`: the host-selection rule; `/ 10`: its parameter.
    pub selection: u8,
    /// `% 3`: the warm choice; `/ 3 % 3`: the keep-alive policy (fixed,
    /// hybrid histogram, greedy dual); `/ 9 % 4`: the image eviction (LRU,
    /// LFU, GDSF, kubelet watermarks, whose high mark is `40 + 10 × (/ 36)`
    /// percent and low mark `high × (% 9) / 9`).
    pub warm_choice: u8,
    /// `% 4`: attempts allowed after a fault (folded to 1..=4); `/ 4 % 4`:
    /// the hybrid histogram's pre-warm percentile (0: none, 5, 50, 50). The
    /// backoff is folded to 0..100 µs.
    pub retry_attempts: u8,
    /// The retry backoff after a fault, folded to 0..100 µs.
    pub retry_backoff_us: u8,
    /// Links shared among their transfers (`Bandwidth::FairShare`, spec
    /// R85a) rather than dedicated to each (absent in older cases: false).
    #[serde(default)]
    pub bandwidth_shared: bool,
    /// An autoscaler (spec §31): a reconcile tick every 50 µs and the
    /// KPA-like rule on this small clock (absent in older cases: none).
    #[serde(default)]
    pub autoscaled: bool,
    /// Hosts' cores shared by processor sharing (`Cpu::ProcessorSharing`,
    /// spec R85f) rather than dedicated to each run (absent in older cases:
    /// false). The hosts then have 0.7 to 2 cores (from `ram_units / 16`)
    /// at 0.7 to 1.5 times nominal speed (from `disk_units / 24`).
    #[serde(default)]
    pub cpu_shared: bool,
    /// `% 3`: the billing model (Lambda's; Cloud Run's instance-based;
    /// request-based, spec R104b); `/ 3 % 2`: Cloud Run's rounding (1 µs,
    /// so that a bill tells every µs of a container's time apart, or 7 µs).
    /// Absent in older cases: 0, Lambda's.
    #[serde(default)]
    pub billing: u8,
}

/// One compute host of a [`Shape`], in units of 10 bytes.
/// `#[non_exhaustive]`: build it with [`HostShape::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct HostShape {
    /// RAM in units, folded to 1..=16.
    pub ram_units: u8,
    /// Container slots, folded to 1..=4.
    pub slots: u8,
    /// Disk in units, folded to 1..=24.
    pub disk_units: u8,
}

const UNIT_BYTES: u64 = 10;
/// One unit per 10 µs.
const BYTES_PER_S: u64 = 1_000_000;

impl HostShape {
    /// A host of `ram_units` RAM, `slots` slots and `disk_units` disk
    /// (each folded into range by [`Shape::build`]).
    pub fn new(ram_units: u8, slots: u8, disk_units: u8) -> HostShape {
        HostShape {
            ram_units,
            slots,
            disk_units,
        }
    }
}

impl Shape {
    /// These hosts, in place of what there was.
    pub fn with_hosts(mut self, hosts: Vec<HostShape>) -> Shape {
        self.hosts = hosts;
        self
    }

    /// This main storage capacity (units), in place of what there was.
    pub fn with_main_units(mut self, main_units: u8) -> Shape {
        self.main_units = main_units;
        self
    }

    /// This pressure mode (`Some`: a queue), in place of what there was.
    pub fn with_queue_capacity(mut self, queue_capacity: Option<u8>) -> Shape {
        self.queue_capacity = queue_capacity;
        self
    }

    /// This cold start (µs, folded), in place of what there was.
    pub fn with_cold_start_us(mut self, cold_start_us: u8) -> Shape {
        self.cold_start_us = cold_start_us;
        self
    }

    /// This warm start (µs, folded), in place of what there was.
    pub fn with_warm_start_us(mut self, warm_start_us: u8) -> Shape {
        self.warm_start_us = warm_start_us;
        self
    }

    /// This keep-alive (µs, folded), in place of what there was.
    pub fn with_keep_alive_us(mut self, keep_alive_us: u16) -> Shape {
        self.keep_alive_us = keep_alive_us;
        self
    }

    /// This retention, in place of what there was.
    pub fn with_retain(mut self, retain: Option<u8>) -> Shape {
        self.retain = retain;
        self
    }

    /// This host-selection code, in place of what there was.
    pub fn with_selection(mut self, selection: u8) -> Shape {
        self.selection = selection;
        self
    }

    /// This warm-choice, keep-alive and eviction code, in place of what there was.
    pub fn with_warm_choice(mut self, warm_choice: u8) -> Shape {
        self.warm_choice = warm_choice;
        self
    }

    /// This retry and pre-warm code, in place of what there was.
    pub fn with_retry_attempts(mut self, retry_attempts: u8) -> Shape {
        self.retry_attempts = retry_attempts;
        self
    }

    /// This retry backoff (µs, folded), in place of what there was.
    pub fn with_retry_backoff_us(mut self, retry_backoff_us: u8) -> Shape {
        self.retry_backoff_us = retry_backoff_us;
        self
    }

    /// This billing code, in place of what there was.
    pub fn with_billing(mut self, billing: u8) -> Shape {
        self.billing = billing;
        self
    }

    /// Links shared among their transfers (true) or dedicated to each.
    pub fn with_bandwidth_shared(mut self, bandwidth_shared: bool) -> Shape {
        self.bandwidth_shared = bandwidth_shared;
        self
    }

    /// With the autoscaler (true) or without.
    pub fn with_autoscaled(mut self, autoscaled: bool) -> Shape {
        self.autoscaled = autoscaled;
        self
    }

    /// Hosts' cores shared by their runs (true) or dedicated to each.
    pub fn with_cpu_shared(mut self, cpu_shared: bool) -> Shape {
        self.cpu_shared = cpu_shared;
        self
    }

    /// The configuration and policies this shape describes. Out-of-range
    /// values are folded into range, so every shape is valid.
    pub fn build(&self) -> (Config, Builtin) {
        let mut hosts: Vec<HostSpec> = self
            .hosts
            .iter()
            .take(4)
            .map(|h| {
                let host = HostSpec::new(
                    u64::from(h.ram_units % 16 + 1) * UNIT_BYTES,
                    u32::from(h.slots % 4 + 1),
                    u64::from(h.disk_units % 24 + 1) * UNIT_BYTES,
                    BYTES_PER_S,
                );
                if self.cpu_shared {
                    host.with_cores_millis(
                        [1_000, 1_500, 2_000, 700][usize::from(h.ram_units / 16 % 4)],
                    )
                    .with_speed_permille(
                        [1_000, 1_000, 1_500, 700][usize::from(h.disk_units / 24 % 4)],
                    )
                } else {
                    host
                }
            })
            .collect();
        if hosts.is_empty() {
            hosts.push(HostSpec::new(
                8 * UNIT_BYTES,
                2,
                12 * UNIT_BYTES,
                BYTES_PER_S,
            ));
        }
        let main_storage = MainStorageSpec::new(
            u64::from(self.main_units % 24 + 1) * UNIT_BYTES,
            BYTES_PER_S / 2,
        );
        let config = Config::new(main_storage, hosts)
            .with_cold_start_us(u64::from(self.cold_start_us % 50))
            .with_warm_start_us(u64::from(self.warm_start_us % 10))
            .with_pressure(match self.queue_capacity {
                Some(c) => Pressure::Queue {
                    capacity: u32::from(c % 6 + 1),
                },
                None => Pressure::Reject,
            })
            .with_terminal_records_max(self.retain.map(|r| u64::from(r % 6)))
            .with_retry(Retry::new(
                u32::from(self.retry_attempts % 4 + 1),
                u64::from(self.retry_backoff_us % 100),
            ))
            .with_bandwidth(if self.bandwidth_shared {
                Bandwidth::FairShare
            } else {
                Bandwidth::Dedicated
            })
            .with_autoscale_tick_us(self.autoscaled.then_some(AUTOSCALE_TICK_US))
            .with_cpu(if self.cpu_shared {
                Cpu::ProcessorSharing
            } else {
                Cpu::Dedicated
            });
        let keep_alive_us = u64::from(self.keep_alive_us % 2_000);
        let prewarm_percentile = [0, 5, 50, 50][usize::from(self.retry_attempts / 4 % 4)];
        let policies = Builtin::default()
            .with_host_selection(host_selection(self.selection))
            .with_warm_choice(
                [
                    WarmChoice::NewestCreated,
                    WarmChoice::MostRecentlyUsed,
                    WarmChoice::LeastRecentlyUsed,
                ][usize::from(self.warm_choice % 3)],
            )
            .with_keep_alive_us(keep_alive_us)
            .with_keep_alive_policy(match (self.warm_choice / 3) % 3 {
                0 => KeepAlivePolicy::Fixed,
                // Bins of 10 µs over 1 ms (an `Advance` moves at most that),
                // so that these short runs fill the histogram; a CV
                // threshold of 1, since few bins cap the CV (at
                // √(bins − 1)). Pre-warms (spec §29) at the 5th percentile
                // (the paper's), the 50th (twice as often: its window is
                // wider, so more happens before the pre-warm), or none.
                1 => KeepAlivePolicy::HybridHistogram(HybridHistogram {
                    bin_us: 10,
                    bins: 100,
                    cv_threshold_hundredths: 100,
                    prewarm_percentile,
                    fallback_keep_alive_us: keep_alive_us,
                    ..HybridHistogram::PAPER
                }),
                _ => KeepAlivePolicy::GreedyDual {
                    cold_cost_us: config.cold_start_us,
                },
            })
            .with_image_eviction(match self.warm_choice / 9 % 4 {
                0 => ImageEviction::Lru,
                1 => ImageEviction::Lfu,
                2 => ImageEviction::Gdsf,
                // Marks from 40% to 100% (the low one at most the high one,
                // 0 to 99% of it), so that these small disks collect often.
                _ => {
                    let high_percent = 40 + u32::from((self.warm_choice / 36).min(6)) * 10;
                    ImageEviction::KubeletWatermark {
                        high_percent,
                        low_percent: high_percent * u32::from(self.warm_choice % 9) / 9,
                    }
                }
            });
        let policies = if self.autoscaled {
            policies.with_autoscaler(Autoscaler::Kpa(AUTOSCALE_KPA))
        } else {
            policies
        };
        let rounding_us = [1, 7][usize::from(self.billing / 3 % 2)];
        let policies = policies.with_billing(match self.billing % 3 {
            0 => Billing::Lambda,
            1 => Billing::CloudRunInstance(
                CloudRunPrices::instance_based().with_rounding_us(rounding_us),
            ),
            _ => Billing::CloudRunRequest(
                CloudRunPrices::request_based().with_rounding_us(rounding_us),
            ),
        });
        (config, policies)
    }
}

/// The autoscaled shapes' reconcile period (µs): a few ticks per
/// invocation at these speeds (a unit moves in 10 µs).
pub const AUTOSCALE_TICK_US: u64 = 50;

/// The autoscaled shapes' rule: Knative's, its windows scaled from 2 s
/// ticks to 50 µs ones (a stable window of 30 ticks, a panic window of 3,
/// a grace of 15).
pub const AUTOSCALE_KPA: Kpa = Kpa {
    stable_window_us: 1_500,
    panic_window_us: 150,
    scale_to_zero_grace_us: 750,
    ..Kpa::KNATIVE
};

/// Every built-in host-selection rule: `selection % 10` picks the rule and
/// `selection / 10` (0..=25) its parameter (a seed, a load threshold of 10%
/// to 135%, an ε of 0% to 125%).
fn host_selection(selection: u8) -> HostSelection {
    let parameter = u32::from(selection / 10);
    match selection % 10 {
        0 => HostSelection::FirstFit,
        1 => HostSelection::BestFit,
        2 => HostSelection::ImageLocality,
        3 => HostSelection::RoundRobin,
        // An odd parameter: the CPU-aware twin (spec R108).
        4 if parameter % 2 == 1 => HostSelection::LeastCpuLoaded,
        4 => HostSelection::LeastLoaded,
        5 => HostSelection::SeededRandom {
            seed: u64::from(parameter),
        },
        6 => HostSelection::PackageAware {
            load_threshold_percent: 10 + parameter * 5,
        },
        7 => HostSelection::HomeInvoker,
        8 => HostSelection::BoundedConsistentHashing {
            epsilon_percent: parameter * 5,
        },
        _ => HostSelection::RoomFirst,
    }
}

/// One input, with entities named by creation order (taken modulo how many
/// exist; with none, an id that names nothing, which must be refused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Op {
    /// Registers an image of `units % 12` units.
    RegisterImage {
        /// The image's size in units (folded to 0..12; 0 is refused).
        units: u8,
    },
    /// Registers a function.
    RegisterFunction {
        /// Which image, by creation order.
        image: u8,
        /// Memory in units, folded to 0..10 (0 is refused).
        memory_units: u8,
        /// Scratch disk in units, folded to 0..6; `/ 6 % 6` picks the CPU
        /// demand (1,000, 500, 1,000, 1,500, 2,500 or 1,000 millicores).
        scratch_units: u8,
        /// The time limit in duration units, folded to 0..400 (0 is refused).
        time_limit_us: u16,
        /// Start costs of its own (spec R41a): `% 4` is 0 for none (the
        /// configuration's), 1 for a cold-start cost, 2 for a warm-start
        /// cost, 3 for both; `v = / 4` (0..64) gives them in duration units,
        /// `v` for the cold start and `v % 12` for the warm start.
        #[serde(default)]
        start_costs: u8,
        /// The most invocations per container, folded to 0..5 (0 is
        /// refused; 1, the default, also for ops written before the field).
        #[serde(default = "one")]
        concurrency: u8,
    },
    /// Invokes a function with fake code.
    Invoke {
        /// Which function, by creation order.
        function: u8,
        /// The clone phase in duration units, folded to 0..40.
        clone_us: u8,
        /// The build phase in duration units, folded to 0..40.
        build_us: u8,
        /// The run phase in duration units, folded to 0..300.
        run_us: u16,
        /// `% 8`: 0, 1, 2 fail in the clone, build or run phase; the rest succeed.
        ending: u8,
        /// Bytes out (and half as many in), not scaled.
        egress_bytes: u8,
    },
    /// Lets `dt_us` pass.
    Advance {
        /// Duration units to let pass, folded to 0..1000.
        dt_us: u16,
    },
    /// Advances to the next pending timer (or stays, if none).
    NextTimer,
    /// Reaps the record of an invocation (by creation order), now or just past
    /// the next timer (see `which` of [`Op::HostUp`]).
    Reap {
        /// Which invocation; its high bit issues the op at the next timer.
        invocation: u8,
    },
    /// An input `dt_us` in the past (refused unless 0).
    Backwards {
        /// How far back, in µs (not scaled).
        dt_us: u8,
    },
    /// An input naming an id that was never handed out.
    Bogus {
        /// Which kind of id: `% 3` picks a reap, a registration or an invocation.
        which: u8,
    },
    /// Fault: a host (folded to 0..3, so sometimes unknown) goes down.
    HostDown {
        /// The host's index, folded to 0..3.
        host: u8,
    },
    /// A host that is down (as learned from events; else `which` folded
    /// to 0..3) comes back.
    HostUp {
        /// Which down host; its high bit issues the op at the next timer.
        which: u8,
        /// Whether the host's disk survived the outage.
        disk_kept: bool,
    },
    /// Fault: one of the downloads in progress (as learned from events)
    /// fails.
    DownloadFails {
        /// Which download; its high bit issues the op at the next timer.
        which: u8,
    },
    /// Fault: one of the copies in progress fails.
    CopyFails {
        /// Which copy; its high bit issues the op at the next timer.
        which: u8,
    },
    /// Fault: main storage is lost.
    MainStorageLost,
}

/// When an op that names an entity as last seen (a transfer, an
/// invocation, a down host) is issued: now, or — when `which`'s high bit is
/// set — at or just past the next pending timer, so that the timers in
/// between may change what it names (a transfer that finishes, an
/// invocation that ends, a record retention reaps): the races of spec R29.
fn later(now_us: u64, next_timer_us: Option<u64>, which: u8) -> u64 {
    match next_timer_us {
        Some(due_us) if which >= 128 => due_us.max(now_us) + u64::from(which % 3),
        _ => now_us,
    }
}

/// What one unit of an op stands for when it is resolved into an input:
/// the op language's sizes are in units of `unit_bytes` (10 by default, to
/// match its shapes' small hosts) and its durations — time limits, code
/// phases, `Advance` steps — in units of `unit_us` (1 by default). A
/// harness run on a user's own configuration scales them to its hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scale {
    /// Bytes per size unit.
    pub unit_bytes: u64,
    /// µs per duration unit.
    pub unit_us: u64,
}

impl Default for Scale {
    fn default() -> Scale {
        Scale {
            unit_bytes: UNIT_BYTES,
            unit_us: 1,
        }
    }
}

impl Scale {
    fn bytes(&self, units: u64) -> u64 {
        units.saturating_mul(self.unit_bytes)
    }

    fn us(&self, units: u64) -> u64 {
        units.saturating_mul(self.unit_us)
    }
}

/// Learns ids from events and resolves ops into inputs.
#[derive(Clone, Debug, Default)]
pub struct Resolver {
    /// What the ops' units stand for.
    pub scale: Scale,
    /// Images, in the order they were registered.
    pub images: Vec<ImageId>,
    /// Functions, in the order they were registered.
    pub functions: Vec<FunctionId>,
    /// Invocations, in the order they were accepted.
    pub invocations: Vec<InvocationId>,
    /// Transfers started and not yet seen to end, and hosts seen going down
    /// and not back up: what fault ops aim at (an entry gone stale only
    /// makes the op refused).
    pub downloads: Vec<ImageId>,
    /// Copies in progress, as `(host, image)`.
    pub copies: Vec<(HostId, ImageId)>,
    /// Hosts that are down.
    pub down: Vec<HostId>,
}

fn pick<T: Copy + Default>(items: &[T], index: u8) -> T {
    if items.is_empty() {
        return T::default();
    }
    items[usize::from(index) % items.len()]
}

fn bogus<T: Copy>(from_bits: fn(u64) -> T) -> T {
    from_bits((7u64 << 32) | 0xFFFF)
}

impl Resolver {
    /// A resolver whose ops' units stand for `scale`.
    pub fn with_scale(scale: Scale) -> Resolver {
        Resolver {
            scale,
            ..Resolver::default()
        }
    }

    /// The input `op` stands for, at `now_us` (or, for ops that name an
    /// entity as last seen, possibly just past `next_timer_us`), with its
    /// entities resolved from what was learned so far. Every op resolves to
    /// some input; one that names nothing real is refused by the provider.
    pub fn input(&self, op: &Op, now_us: u64, next_timer_us: Option<u64>) -> Input {
        let (at_us, command) = match *op {
            Op::RegisterImage { units } => (
                now_us,
                Command::RegisterImage {
                    size_bytes: self.scale.bytes(u64::from(units % 12)),
                },
            ),
            Op::RegisterFunction {
                image,
                memory_units,
                scratch_units,
                time_limit_us,
                start_costs,
                concurrency,
            } => {
                let mut def = FunctionDef::new(
                    pick(&self.images, image),
                    self.scale.bytes(u64::from(memory_units % 10)),
                    self.scale.us(u64::from(time_limit_us % 400)),
                )
                .with_scratch_bytes(self.scale.bytes(u64::from(scratch_units % 6)));
                let v = u64::from(start_costs / 4);
                if start_costs % 4 == 1 || start_costs % 4 == 3 {
                    def = def.with_cold_start_us(self.scale.us(v));
                }
                if start_costs % 4 >= 2 {
                    def = def.with_warm_start_us(self.scale.us(v % 12));
                }
                // The CPU demand from scratch's unread bits (R85f): a core
                // in half the functions, else half, one and a half or two
                // and a half cores.
                let cpu_millis =
                    [1_000, 500, 1_000, 1_500, 2_500, 1_000][usize::from(scratch_units / 6 % 6)];
                let def = def
                    .with_concurrency(u32::from(concurrency % 5))
                    .with_cpu_millis(cpu_millis);
                (now_us, Command::RegisterFunction(def))
            }
            Op::Invoke {
                function,
                clone_us,
                build_us,
                run_us,
                ending,
                egress_bytes,
            } => (
                now_us,
                Command::Invoke {
                    function: pick(&self.functions, function),
                    code: Code {
                        clone_us: self.scale.us(u64::from(clone_us % 40)),
                        build_us: self.scale.us(u64::from(build_us % 40)),
                        run_us: self.scale.us(u64::from(run_us % 300)),
                        outcome: match ending % 8 {
                            0 => Outcome::Failure {
                                phase: Phase::Clone,
                            },
                            1 => Outcome::Failure {
                                phase: Phase::Build,
                            },
                            2 => Outcome::Failure { phase: Phase::Run },
                            n => Outcome::Success {
                                output: u64::from(n) * 1_000 + u64::from(run_us),
                            },
                        },
                    },
                    ingress_bytes: u64::from(egress_bytes / 2),
                    egress_bytes: u64::from(egress_bytes),
                },
            ),
            Op::Advance { dt_us } => (
                now_us.saturating_add(self.scale.us(u64::from(dt_us % 1_000))),
                Command::Advance,
            ),
            Op::NextTimer => (next_timer_us.unwrap_or(now_us), Command::Advance),
            Op::Reap { invocation } => (
                later(now_us, next_timer_us, invocation),
                Command::Reap {
                    invocation: pick(&self.invocations, invocation),
                },
            ),
            Op::Backwards { dt_us } => (now_us.saturating_sub(u64::from(dt_us)), Command::Advance),
            Op::HostDown { host } => (
                now_us,
                Command::HostDown {
                    host: HostId(u32::from(host % 3)),
                },
            ),
            Op::HostUp { which, disk_kept } => (
                later(now_us, next_timer_us, which),
                Command::HostUp {
                    host: if self.down.is_empty() {
                        HostId(u32::from(which % 3))
                    } else {
                        pick(&self.down, which)
                    },
                    disk_kept,
                },
            ),
            Op::DownloadFails { which } => (
                later(now_us, next_timer_us, which),
                Command::DownloadFails {
                    image: if self.downloads.is_empty() {
                        pick(&self.images, which)
                    } else {
                        pick(&self.downloads, which)
                    },
                },
            ),
            Op::CopyFails { which } => {
                let (host, image) = if self.copies.is_empty() {
                    (HostId(0), pick(&self.images, which))
                } else {
                    pick(&self.copies, which)
                };
                (
                    later(now_us, next_timer_us, which),
                    Command::CopyFails { host, image },
                )
            }
            Op::MainStorageLost => (now_us, Command::MainStorageLost),
            Op::Bogus { which } => (
                now_us,
                match which % 3 {
                    0 => Command::Reap {
                        invocation: bogus(InvocationId::from_bits),
                    },
                    1 => Command::RegisterFunction(FunctionDef::new(
                        bogus(ImageId::from_bits),
                        self.scale.unit_bytes,
                        self.scale.us(10),
                    )),
                    _ => Command::Invoke {
                        function: bogus(FunctionId::from_bits),
                        code: Code::success(1, 0),
                        ingress_bytes: 0,
                        egress_bytes: 0,
                    },
                },
            ),
        };
        Input { at_us, command }
    }

    /// Learns the ids and transfers that `events` create or end, so that later
    /// ops can name them. Feed it every event of every step, in order.
    pub fn learn(&mut self, events: &[Event]) {
        for event in events {
            match event.kind {
                EventKind::ImageRegistered { image, .. } => self.images.push(image),
                EventKind::FunctionRegistered { function, .. } => self.functions.push(function),
                EventKind::Accepted { invocation, .. } => self.invocations.push(invocation),
                EventKind::DownloadStarted { image } => self.downloads.push(image),
                EventKind::DownloadFinished { image } | EventKind::DownloadFailed { image, .. } => {
                    self.downloads.retain(|&i| i != image)
                }
                EventKind::CopyStarted { image, host } => self.copies.push((host, image)),
                EventKind::CopyFinished { image, host }
                | EventKind::CopyFailed { image, host, .. } => {
                    self.copies.retain(|&c| c != (host, image))
                }
                EventKind::HostDown { host } => {
                    self.copies.retain(|&(h, _)| h != host);
                    self.down.push(host);
                }
                EventKind::HostUp { host, .. } => self.down.retain(|&h| h != host),
                _ => {}
            }
        }
    }
}

/// A generated case: a configuration and the ops to run on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Case {
    /// The configuration and policies.
    pub shape: Shape,
    /// The ops to run, in order.
    pub ops: Vec<Op>,
}

/// Any host shape.
pub fn host_shape() -> impl Strategy<Value = HostShape> {
    (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(ram_units, slots, disk_units)| HostShape {
        ram_units,
        slots,
        disk_units,
    })
}

/// Shapes weighted towards tight main storage and the hybrid histogram, so
/// that cases reach queued downloads and pre-warms.
pub fn shape() -> impl Strategy<Value = Shape> {
    (
        prop::collection::vec(host_shape(), 1..4),
        // Main storage: often tight (5–12 units: two images rarely fit at
        // once, so downloads wait for room), else anything.
        prop_oneof![4u8..12, any::<u8>()],
        prop::option::of(any::<u8>()),
        any::<u8>(),
        any::<u8>(),
        prop_oneof![Just(0u16), 1u16..100, 100u16..2_000],
        prop::option::weighted(0.2, any::<u8>()),
        any::<u8>(),
        // Half the time the hybrid histogram, whose pre-warms (spec §29)
        // need a function's idle times learned first; else anything.
        prop_oneof![any::<u8>().prop_map(with_hybrid_histogram), any::<u8>()],
        (any::<u8>(), any::<u8>()),
    )
        .prop_map(
            |(
                hosts,
                main_units,
                queue_capacity,
                cold_start_us,
                warm_start_us,
                keep_alive_us,
                retain,
                selection,
                warm_choice,
                (retry_attempts, retry_backoff_us),
            )| Shape {
                // A quarter of the cases autoscale: from bits 2-3 of the
                // first host's `slots` (a host reads only `slots % 4`, and
                // every shape has at least one host), so the cases drawn
                // are otherwise the same (read before `hosts` moves).
                autoscaled: hosts[0].slots / 4 % 4 == 1,
                hosts,
                main_units,
                queue_capacity,
                cold_start_us,
                warm_start_us,
                keep_alive_us,
                retain,
                selection,
                warm_choice,
                retry_attempts,
                retry_backoff_us,
                // Half the cases share links; drawn from a bit of
                // `retry_attempts` no other setting reads, so the cases
                // drawn are the same as before links could be shared.
                bandwidth_shared: retry_attempts / 16 % 2 == 1,
                // Half share CPU: from the top bit of `retry_backoff_us`
                // (the backoff reads only `% 100` of it).
                cpu_shared: retry_backoff_us >= 128,
                // From the bits of `retry_attempts` still unread, for the
                // same reason: each model in about a third of the cases.
                billing: retry_attempts / 32,
            },
        )
}

/// `warm_choice` with its keep-alive policy (`/ 3 % 3`) set to the hybrid
/// histogram, its other parts kept where they fit.
fn with_hybrid_histogram(warm_choice: u8) -> u8 {
    let (high, low) = (warm_choice / 9, warm_choice % 3);
    (high.min(27) * 9) + 3 + low
}

/// Ops weighted to reach the interesting states: most are invocations and
/// time passing; a few registrations early matter most.
pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => any::<u8>().prop_map(|units| Op::RegisterImage { units }),
        2 => (any::<u8>(), any::<u8>(), any::<u8>(), 1u16..400, any::<u8>(), any::<u8>()).prop_map(|(image, memory_units, scratch_units, time_limit_us, start_costs, concurrency)| Op::RegisterFunction { image, memory_units, scratch_units, time_limit_us, start_costs, concurrency }),
        10 => (any::<u8>(), any::<u8>(), any::<u8>(), any::<u16>(), any::<u8>(), any::<u8>()).prop_map(|(function, clone_us, build_us, run_us, ending, egress_bytes)| Op::Invoke { function, clone_us, build_us, run_us, ending, egress_bytes }),
        4 => any::<u16>().prop_map(|dt_us| Op::Advance { dt_us }),
        3 => Just(Op::NextTimer),
        1 => any::<u8>().prop_map(|invocation| Op::Reap { invocation }),
        1 => any::<u8>().prop_map(|dt_us| Op::Backwards { dt_us }),
        1 => any::<u8>().prop_map(|which| Op::Bogus { which }),
        1 => any::<u8>().prop_map(|host| Op::HostDown { host }),
        2 => (any::<u8>(), any::<bool>()).prop_map(|(which, disk_kept)| Op::HostUp { which, disk_kept }),
        2 => any::<u8>().prop_map(|which| Op::DownloadFails { which }),
        2 => any::<u8>().prop_map(|which| Op::CopyFails { which }),
        1 => Just(Op::MainStorageLost),
    ]
}

/// A case that starts by registering a few images and functions (so most
/// ops act on real entities), then runs `1..max_ops` generated ops.
pub fn case(max_ops: usize) -> impl Strategy<Value = Case> {
    (
        shape(),
        prop::collection::vec(any::<u8>(), 2..5),
        prop::collection::vec(
            (
                any::<u8>(),
                any::<u8>(),
                any::<u8>(),
                1u16..400,
                any::<u8>(),
                any::<u8>(),
            ),
            2..6,
        ),
        prop::collection::vec(op(), 1..max_ops),
    )
        .prop_map(|(shape, image_units, functions, tail)| {
            Case::with_setup(shape, &image_units, &functions, tail)
        })
}

/// A function registration in a case's set-up: `(image, memory_units,
/// scratch_units, time_limit_us, start_costs, concurrency)`, folded into
/// range by `Case::with_setup` (`start_costs` as [`Op::RegisterFunction`]
/// reads it; `concurrency`: 2 to 4 for multiples of 3, else 1).
pub type FunctionSetup = (u8, u8, u8, u16, u8, u8);

fn one() -> u8 {
    1
}

impl Case {
    /// A case whose ops register an image per `image_units` entry and a
    /// function per `functions` entry, then run `tail`. Both generators,
    /// proptest's `case` and the fuzzers' `arbitrary_case`, build their
    /// cases here, so they share one idea of a good start: images of 1 to 8
    /// units, functions of 1 to 4 memory units with a time limit of at
    /// least 50 µs, two in three of concurrency 1 and the others of 2 to 4
    /// (spec R57a).
    pub fn with_setup(
        shape: Shape,
        image_units: &[u8],
        functions: &[FunctionSetup],
        tail: Vec<Op>,
    ) -> Case {
        let mut ops: Vec<Op> = image_units
            .iter()
            .map(|&units| Op::RegisterImage {
                units: units % 8 + 1,
            })
            .collect();
        ops.extend(functions.iter().map(
            |&(image, memory_units, scratch_units, time_limit_us, start_costs, concurrency)| {
                Op::RegisterFunction {
                    image,
                    memory_units: memory_units % 4 + 1,
                    scratch_units,
                    time_limit_us: time_limit_us.max(50),
                    start_costs,
                    concurrency: if concurrency % 3 != 0 {
                        1
                    } else {
                        concurrency / 3 % 3 + 2
                    },
                }
            },
        ));
        ops.extend(tail);
        Case { shape, ops }
    }
}

/// The fuzzers' twin of `case`: the same set-up (2 to 4 images, 2 to 5
/// functions), then at most `max_ops` ops, all drawn from the fuzzer's
/// bytes. Ops beyond `max_ops` are dropped so one input cannot make a run
/// arbitrarily slow.
#[cfg(feature = "arbitrary")]
pub fn arbitrary_case(
    u: &mut arbitrary::Unstructured<'_>,
    max_ops: usize,
) -> arbitrary::Result<Case> {
    let shape: Shape = u.arbitrary()?;
    let image_count = u.int_in_range(2..=4)?;
    let image_units = (0..image_count)
        .map(|_| u.arbitrary())
        .collect::<arbitrary::Result<Vec<u8>>>()?;
    let function_count = u.int_in_range(2..=5)?;
    let functions = (0..function_count)
        .map(|_| u.arbitrary())
        .collect::<arbitrary::Result<Vec<FunctionSetup>>>()?;
    let mut tail = Vec::new();
    while tail.len() < max_ops && !u.is_empty() {
        tail.push(u.arbitrary()?);
    }
    Ok(Case::with_setup(shape, &image_units, &functions, tail))
}
