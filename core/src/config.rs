//! The provider's configuration (spec §4): hardware, overheads, the
//! pressure mode, retention and retries. Policies (host selection,
//! keep-alive, eviction, billing) are given apart, as a `Policies` value
//! (see [`crate::policy`]). A configuration is checked once, by
//! [`Config::validate`] (which `Provider::new` calls), and never changes
//! after (spec R18).

use crate::limits::{
    BYTES_MAX, CORES_MILLIS_MAX, DURATION_MAX_US, HOSTS_MAX, SLOTS_MAX, SPEED_PERMILLE_MAX,
};
use serde::{Deserialize, Serialize};

/// Bytes in a mebibyte (2^20), for readable configurations.
pub const MIB: u64 = 1 << 20;
/// Bytes in a gibibyte (2^30), for readable configurations.
pub const GIB: u64 = 1 << 30;

/// The provider's configuration (spec R16): main storage, the hosts, the
/// start overheads, what happens under pressure, how many terminal records
/// to keep, and how faults are retried.
///
/// Start from [`Config::default`] (the default scenario's hardware) or
/// [`Config::homogeneous`], and change parts with the `with_*` methods (one
/// for every field). The struct is `#[non_exhaustive]`: a field added later
/// gets a default and a `with_*` method, so code built this way keeps
/// compiling; outside this crate it cannot be written out as a literal,
/// but its public fields can be read and assigned. Every size is in bytes,
/// every duration in µs, every bandwidth in bytes per second.
///
/// ```
/// use coldstart_core::{Config, ConfigError, HostSpec, MainStorageSpec, Pressure, GIB, MIB};
///
/// let main = MainStorageSpec::new(100 * GIB, 100 * MIB);
/// let host = HostSpec::new(8 * GIB, 16, 50 * GIB, GIB);
/// let config = Config::homogeneous(main, host, 10)
///     .with_pressure(Pressure::Queue { capacity: 500 })
///     .with_terminal_records_max(Some(1_000));
/// assert_eq!(config.validate(), Ok(()));
///
/// let broken = config.with_hosts(host.with_slots(0), 2);
/// assert_eq!(broken.validate(), Err(ConfigError::Zero { field: "hosts[0].slots".into() }));
///
/// // Hosts may differ: give the list.
/// let mixed = Config::default().with_host_specs(vec![host, host.with_ram_bytes(32 * GIB)]);
/// assert_eq!(mixed.hosts[1].ram_bytes, 32 * GIB);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct Config {
    /// The provider's main storage disk, where every image is downloaded
    /// first and copied to hosts from.
    pub main_storage: MainStorageSpec,
    /// One entry per host; `HostId(i)` is `hosts[i]`. Heterogeneous hosts are
    /// allowed; `Config::homogeneous` builds the common case.
    pub hosts: Vec<HostSpec>,
    /// Overhead of starting a new container once its image is on the host's
    /// disk (the "init" phase), in µs (spec R64): its invocation's code
    /// starts this long after the image arrives. Billed as part of a cold
    /// invocation's duration (spec R102). 0 to `limits::DURATION_MAX_US`.
    pub cold_start_us: u64,
    /// Overhead of handing an invocation to an idle warm container, in µs
    /// (spec R57); never billed. 0 to `limits::DURATION_MAX_US`.
    pub warm_start_us: u64,
    /// What happens to an invocation that finds no room on any host.
    pub pressure: Pressure,
    /// Keep at most this many terminal invocation records; the oldest to end
    /// is reaped first, with a `Reaped` event (`Some(0)` reaps each record
    /// as it ends; spec R99). `None` keeps every record until a `Reap`
    /// input.
    pub terminal_records_max: Option<u64>,
    /// How a fault's victims are retried: invocations whose host went down,
    /// and failed image transfers (spec §27).
    #[serde(default)]
    pub retry: Retry,
    /// How concurrent transfers on one link share it (spec R85):
    /// [`Bandwidth::Dedicated`] (the default, each at the link's full
    /// rate) or [`Bandwidth::FairShare`] (equal shares, re-timed at every
    /// start and end on the link).
    #[serde(default)]
    pub bandwidth: Bandwidth,
    /// The autoscaler's reconcile period (µs, spec R167): `Some(t)` fires
    /// a `Reconcile` timer at every multiple of `t` from the first
    /// invocation or container on, while the policy answers and any other
    /// timer is pending, and asks the policy's
    /// `desired_containers` for every function; `None` (the default) has
    /// no such timer. Knative's autoscaler ticks every 2 s. 1 to
    /// `limits::DURATION_MAX_US`.
    #[serde(default)]
    pub autoscale_tick_us: Option<u64>,
    /// How the invocations running on one host share its cores (spec
    /// R85f): [`Cpu::Dedicated`] (the default, every run at full speed
    /// however many run) or [`Cpu::ProcessorSharing`] (runs stretch when
    /// their demand exceeds the host's cores, re-timed at every start and
    /// end on the host).
    #[serde(default)]
    pub cpu: Cpu,
}

/// How the invocations running on one host share its CPU (spec R85f).
///
/// ```
/// use coldstart_core::{Config, Cpu};
///
/// let config = Config::default().with_cpu(Cpu::ProcessorSharing);
/// assert_eq!(config.cpu, Cpu::ProcessorSharing);
/// assert_eq!(Config::default().cpu, Cpu::Dedicated);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub enum Cpu {
    /// Every invocation's code runs for `duration(code)` from its start
    /// however many run on its host; hosts' cores and speed are not
    /// consulted (spec R86–R88).
    #[default]
    Dedicated,
    /// Processor sharing: while the CPU demand of the invocations running
    /// on a host exceeds its cores, each progresses at `cores / demand` of
    /// its speed, times the host's speed factor. Progress is charged and end
    /// timers re-set whenever a run starts or ends on the host (spec
    /// R85f–R85k).
    ProcessorSharing,
}

/// How the transfers on one link — main storage's download feed, or one
/// host's copy link — share its bandwidth (spec R85).
///
/// ```
/// use coldstart_core::{Bandwidth, Config};
///
/// let config = Config::default().with_bandwidth(Bandwidth::FairShare);
/// assert_eq!(config.bandwidth, Bandwidth::FairShare);
/// assert_eq!(Config::default().bandwidth, Bandwidth::Dedicated);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub enum Bandwidth {
    /// Every transfer runs at the link's full rate however many run at
    /// once: `transfer_us(size, bandwidth)` from its start (spec R85).
    #[default]
    Dedicated,
    /// The link is shared max-min fairly among the transfers on it; as
    /// every transfer wants the whole link, that is an equal share each.
    /// Progress is charged and completion timers re-set whenever a
    /// transfer starts or ends on the link (spec R85a–R85d).
    FairShare,
}

/// The default scenario's provider: four hosts of 16 GiB RAM, 8 container
/// slots and a 40 GiB disk, copying at 1 GB/s from a 4 GiB main storage
/// that downloads at 200 MB/s; cold starts of 250 ms, warm starts of 1 ms;
/// rejection under pressure; the last 10,000 terminal records kept.
/// Change it with the `with_*` methods:
///
/// ```
/// use coldstart_core::{Config, Pressure};
///
/// let config = Config::default()
///     .with_pressure(Pressure::Queue { capacity: 1_000 })
///     .with_cold_start_us(500_000);
/// assert_eq!(config.hosts.len(), 4);
/// assert!(config.validate().is_ok());
/// ```
impl Default for Config {
    fn default() -> Config {
        Config::homogeneous(MainStorageSpec::default(), HostSpec::default(), 4)
            .with_terminal_records_max(Some(10_000))
    }
}

/// The retry setting (spec R136): at most `attempts_max` attempts in all
/// (the first included); after the attempt numbered `n` fails, the next one
/// begins `backoff_us × 2^(n−1)` µs later (at most
/// `limits::DURATION_MAX_US`). It governs invocations whose host went down
/// and failed downloads and copies, each counted apart.
///
/// ```
/// use coldstart_core::Retry;
///
/// let retry = Retry::new(4, 500_000);
/// assert_eq!(retry.backoff_after_us(1), 500_000);
/// assert_eq!(retry.backoff_after_us(3), 2_000_000);
/// assert_eq!(Retry::default().with_attempts_max(1), Retry::new(1, 1_000_000));
/// ```
///
/// `#[non_exhaustive]`: build it with [`Retry::new`], [`Retry::default`]
/// and the `with_*` methods.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Retry {
    /// Attempts in all, the first included: 1 (no retry) to
    /// [`ATTEMPTS_MAX`].
    pub attempts_max: u32,
    /// The wait after the first failed attempt (µs), doubled after each
    /// later one; 0 retries at once.
    pub backoff_us: u64,
}

/// The most attempts a retry setting may allow.
pub const ATTEMPTS_MAX: u32 = 16;

impl Default for Retry {
    /// Three attempts, the second one second after the first fails (Lambda
    /// retries a failed asynchronous invocation twice).
    fn default() -> Retry {
        Retry {
            attempts_max: 3,
            backoff_us: 1_000_000,
        }
    }
}

impl Retry {
    /// At most `attempts_max` attempts in all (the first included), the
    /// first retry `backoff_us` µs after the first failure. Checked by
    /// [`Config::validate`], not here.
    pub fn new(attempts_max: u32, backoff_us: u64) -> Retry {
        Retry {
            attempts_max,
            backoff_us,
        }
    }

    /// This many attempts in all, in place of the number there was.
    pub fn with_attempts_max(mut self, attempts_max: u32) -> Retry {
        self.attempts_max = attempts_max;
        self
    }

    /// This backoff after the first failed attempt (µs), in place of the
    /// one there was.
    pub fn with_backoff_us(mut self, backoff_us: u64) -> Retry {
        self.backoff_us = backoff_us;
        self
    }

    /// The wait (µs) between the failure of the attempt numbered `attempt`
    /// (the first is 1) and the start of the next: `backoff_us ×
    /// 2^(attempt−1)`, saturating, at most `limits::DURATION_MAX_US`.
    pub fn backoff_after_us(&self, attempt: u32) -> u64 {
        let doublings = attempt.saturating_sub(1).min(ATTEMPTS_MAX);
        self.backoff_us
            .saturating_mul(1u64 << doublings)
            .min(DURATION_MAX_US)
    }
}

/// The main storage disk (spec §13): an LRU cache of images, which every
/// image is downloaded into before it is copied to a host.
/// `#[non_exhaustive]`: build it with [`MainStorageSpec::new`] (or
/// [`MainStorageSpec::default`]) and the `with_*` methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct MainStorageSpec {
    /// Its size (bytes): images downloading or present use it; every image
    /// registered must fit (spec R38). 1 to `limits::BYTES_MAX`.
    pub capacity_bytes: u64,
    /// Download bandwidth from the image registry into main storage (bytes
    /// per second). Each download takes `⌈size × 10^6 / bandwidth⌉` µs,
    /// whatever else is in flight, unless [`Config::bandwidth`] shares the
    /// feed (spec R84, R85). 1 to `limits::BYTES_MAX`.
    pub download_bytes_per_s: u64,
}

/// One compute host (spec §12): RAM, container slots, and a local disk that
/// holds image copies (an LRU cache) and each live container's scratch.
/// Hosts may differ. `#[non_exhaustive]`: build it with [`HostSpec::new`]
/// (or [`HostSpec::default`]) and the `with_*` methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct HostSpec {
    /// Its RAM (bytes): every live container, idle or busy, holds its
    /// function's `memory_bytes`. 1 to `limits::BYTES_MAX`.
    pub ram_bytes: u64,
    /// How many containers (idle or busy) the host may hold at once. 1 to
    /// `limits::SLOTS_MAX`.
    pub slots: u32,
    /// Its local disk (bytes): image copies, present or arriving, plus the
    /// scratch of its live containers. 1 to `limits::BYTES_MAX`.
    pub disk_bytes: u64,
    /// Copy bandwidth from main storage to this host's disk (bytes per
    /// second). 1 to `limits::BYTES_MAX`.
    pub copy_bytes_per_s: u64,
    /// Its CPU, in millicores (1,000 per core): under
    /// [`Cpu::ProcessorSharing`] the running invocations' demand above this
    /// stretches their runs (spec R85f); ignored under [`Cpu::Dedicated`].
    /// 1 to `limits::CORES_MILLIS_MAX`; 8 cores (8,000) by default, and in
    /// logs and JSON written before it existed.
    #[serde(default = "default_cores_millis")]
    pub cores_millis: u64,
    /// How fast its cores run against the nominal speed that code
    /// durations are given at, in per-mille (1,000: nominal; 2,000: twice as
    /// fast): under [`Cpu::ProcessorSharing`] every run on the host
    /// progresses this much faster or slower (spec R85f); ignored under
    /// [`Cpu::Dedicated`]. 1 to `limits::SPEED_PERMILLE_MAX`; 1,000 by
    /// default.
    #[serde(default = "default_speed_permille")]
    pub speed_permille: u32,
}

/// A host's cores when none are given: 8 (in millicores).
pub const DEFAULT_CORES_MILLIS: u64 = 8_000;
/// A host's speed factor when none is given: nominal (in per-mille).
pub const DEFAULT_SPEED_PERMILLE: u32 = 1_000;

fn default_cores_millis() -> u64 {
    DEFAULT_CORES_MILLIS
}

fn default_speed_permille() -> u32 {
    DEFAULT_SPEED_PERMILLE
}

/// The default scenario's main storage: 4 GiB, downloading at 200 MB/s.
impl Default for MainStorageSpec {
    fn default() -> MainStorageSpec {
        MainStorageSpec::new(4 * GIB, 200_000_000)
    }
}

impl MainStorageSpec {
    /// A main storage disk of `capacity_bytes`, downloading at
    /// `download_bytes_per_s`. Checked by [`Config::validate`], not here.
    pub fn new(capacity_bytes: u64, download_bytes_per_s: u64) -> MainStorageSpec {
        MainStorageSpec {
            capacity_bytes,
            download_bytes_per_s,
        }
    }

    /// This capacity (bytes), in place of the one there was.
    pub fn with_capacity_bytes(mut self, capacity_bytes: u64) -> MainStorageSpec {
        self.capacity_bytes = capacity_bytes;
        self
    }

    /// This download bandwidth (bytes per second), in place of the one
    /// there was.
    pub fn with_download_bytes_per_s(mut self, download_bytes_per_s: u64) -> MainStorageSpec {
        self.download_bytes_per_s = download_bytes_per_s;
        self
    }
}

/// The default scenario's host: 16 GiB of RAM, 8 slots, a 40 GiB disk,
/// copying at 1 GB/s, 8 cores at nominal speed.
impl Default for HostSpec {
    fn default() -> HostSpec {
        HostSpec::new(16 * GIB, 8, 40 * GIB, 1_000_000_000)
    }
}

impl HostSpec {
    /// A host of `ram_bytes` RAM, `slots` container slots and a disk of
    /// `disk_bytes`, copying images from main storage at
    /// `copy_bytes_per_s`, with [`DEFAULT_CORES_MILLIS`] cores at
    /// [`DEFAULT_SPEED_PERMILLE`]. Checked by [`Config::validate`], not
    /// here.
    pub fn new(ram_bytes: u64, slots: u32, disk_bytes: u64, copy_bytes_per_s: u64) -> HostSpec {
        HostSpec {
            ram_bytes,
            slots,
            disk_bytes,
            copy_bytes_per_s,
            cores_millis: DEFAULT_CORES_MILLIS,
            speed_permille: DEFAULT_SPEED_PERMILLE,
        }
    }

    /// This many millicores of CPU, in place of what there was (spec
    /// R85f).
    pub fn with_cores_millis(mut self, cores_millis: u64) -> HostSpec {
        self.cores_millis = cores_millis;
        self
    }

    /// This speed factor (per-mille of nominal), in place of the one there
    /// was (spec R85f).
    pub fn with_speed_permille(mut self, speed_permille: u32) -> HostSpec {
        self.speed_permille = speed_permille;
        self
    }

    /// This much RAM (bytes), in place of what there was.
    pub fn with_ram_bytes(mut self, ram_bytes: u64) -> HostSpec {
        self.ram_bytes = ram_bytes;
        self
    }

    /// This many container slots, in place of the number there was.
    pub fn with_slots(mut self, slots: u32) -> HostSpec {
        self.slots = slots;
        self
    }

    /// This disk size (bytes), in place of the one there was.
    pub fn with_disk_bytes(mut self, disk_bytes: u64) -> HostSpec {
        self.disk_bytes = disk_bytes;
        self
    }

    /// This copy bandwidth (bytes per second), in place of the one there
    /// was.
    pub fn with_copy_bytes_per_s(mut self, copy_bytes_per_s: u64) -> HostSpec {
        self.copy_bytes_per_s = copy_bytes_per_s;
        self
    }
}

/// What happens to an invocation that cannot start at once: no idle
/// container of its function, and no host with room (spec §9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Pressure {
    /// An invocation that cannot start at once ends as `Rejected
    /// { reason: ResourceUnavailable }`.
    Reject,
    /// It waits in one provider-wide FIFO queue of at most `capacity`
    /// invocations (beyond that it is rejected with `QueueFull`). While the
    /// queue is not empty a new invocation joins its back without being
    /// tried, and only the head is retried, each time an invocation ends
    /// (spec R48, R50–R52). Its time limit starts only when it starts.
    Queue {
        /// The most invocations that may wait at once (at least 1).
        capacity: u32,
    },
}

/// Why [`Config::validate`] rejected a configuration (spec R17): the first
/// field found wrong, by its path, such as `"hosts[2].slots"`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `hosts` is empty: a provider needs at least one host.
    NoHosts,
    /// `hosts` lists more than `limits::HOSTS_MAX` hosts.
    TooManyHosts {
        /// How many it lists.
        count: usize,
    },
    /// A value that must be positive is zero.
    Zero {
        /// The field's path, e.g. `"main_storage.capacity_bytes"`.
        field: String,
    },
    /// A value above its limit.
    TooLarge {
        /// The field's path, e.g. `"retry.backoff_us"`.
        field: String,
        /// The largest value allowed.
        max: u64,
    },
    /// `Pressure::Queue { capacity: 0 }`: a queue must hold at least one
    /// invocation (use `Pressure::Reject` for none).
    QueueCapacityZero,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::NoHosts => {
                write!(f, "the configuration lists no hosts: give it at least one")
            }
            ConfigError::TooManyHosts { count } => {
                write!(f, "{count} hosts is more than the limit of {HOSTS_MAX}")
            }
            ConfigError::Zero { field } => write!(f, "{field} must be greater than zero"),
            ConfigError::TooLarge { field, max } => {
                write!(f, "{field} is above its limit of {max}")
            }
            ConfigError::QueueCapacityZero => {
                write!(
                    f,
                    "pressure.queue.capacity must be greater than zero (for no queue, reject)"
                )
            }
        }
    }
}

impl std::error::Error for ConfigError {}

fn check_range(field: impl Fn() -> String, value: u64, max: u64) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(ConfigError::Zero { field: field() });
    }
    if value > max {
        return Err(ConfigError::TooLarge {
            field: field(),
            max,
        });
    }
    Ok(())
}

impl Config {
    /// This main storage disk in place of the one there was.
    pub fn with_main_storage(mut self, main_storage: MainStorageSpec) -> Config {
        self.main_storage = main_storage;
        self
    }

    /// `count` hosts like `host`, in place of the hosts there were.
    pub fn with_hosts(mut self, host: HostSpec, count: u32) -> Config {
        self.hosts = vec![host; count as usize];
        self
    }

    /// These hosts, in order (`HostId(i)` is `hosts[i]`; they may differ),
    /// in place of the hosts there were.
    pub fn with_host_specs(mut self, hosts: Vec<HostSpec>) -> Config {
        self.hosts = hosts;
        self
    }

    /// This cold-start overhead (µs), in place of the one there was.
    pub fn with_cold_start_us(mut self, cold_start_us: u64) -> Config {
        self.cold_start_us = cold_start_us;
        self
    }

    /// This warm-start overhead (µs), in place of the one there was.
    pub fn with_warm_start_us(mut self, warm_start_us: u64) -> Config {
        self.warm_start_us = warm_start_us;
        self
    }

    /// This pressure mode: what happens to an invocation that finds no
    /// room.
    pub fn with_pressure(mut self, pressure: Pressure) -> Config {
        self.pressure = pressure;
        self
    }

    /// How many terminal records to keep (`None`: all, until reaped; spec
    /// R99).
    pub fn with_terminal_records_max(mut self, terminal_records_max: Option<u64>) -> Config {
        self.terminal_records_max = terminal_records_max;
        self
    }

    /// How a fault's victims are retried (spec R136).
    pub fn with_retry(mut self, retry: Retry) -> Config {
        self.retry = retry;
        self
    }

    /// How concurrent transfers share a link (spec R85).
    pub fn with_bandwidth(mut self, bandwidth: Bandwidth) -> Config {
        self.bandwidth = bandwidth;
        self
    }

    /// This autoscaler reconcile period (µs; `None`: no autoscaler timer,
    /// spec R167), in place of the one there was.
    pub fn with_autoscale_tick_us(mut self, autoscale_tick_us: Option<u64>) -> Config {
        self.autoscale_tick_us = autoscale_tick_us;
        self
    }

    /// How the invocations running on a host share its cores (spec R85f).
    pub fn with_cpu(mut self, cpu: Cpu) -> Config {
        self.cpu = cpu;
        self
    }

    /// `count` hosts like `host` behind `main_storage`, with the defaults of
    /// spec R16: cold starts of 250 ms, warm starts of 1 ms, rejection under
    /// pressure, every terminal record kept, and [`Retry::default`].
    pub fn homogeneous(main_storage: MainStorageSpec, host: HostSpec, count: u32) -> Config {
        Config::new(main_storage, vec![host; count as usize])
    }

    /// These hosts, in order (`HostId(i)` is `hosts[i]`; they may differ),
    /// behind `main_storage`, with the defaults of spec R16 as
    /// [`Config::homogeneous`] gives them.
    pub fn new(main_storage: MainStorageSpec, hosts: Vec<HostSpec>) -> Config {
        Config {
            main_storage,
            hosts,
            cold_start_us: 250_000,
            warm_start_us: 1_000,
            pressure: Pressure::Reject,
            terminal_records_max: None,
            retry: Retry::default(),
            bandwidth: Bandwidth::Dedicated,
            autoscale_tick_us: None,
            cpu: Cpu::Dedicated,
        }
    }

    /// Checks every value against its limit, in the order of spec R17, and
    /// returns the first that is wrong. `Provider::new` calls it and builds
    /// nothing from a configuration it rejects.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of the first field found wrong.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.hosts.is_empty() {
            return Err(ConfigError::NoHosts);
        }
        if self.hosts.len() > HOSTS_MAX as usize {
            return Err(ConfigError::TooManyHosts {
                count: self.hosts.len(),
            });
        }
        let main = &self.main_storage;
        check_range(
            || "main_storage.capacity_bytes".into(),
            main.capacity_bytes,
            BYTES_MAX,
        )?;
        check_range(
            || "main_storage.download_bytes_per_s".into(),
            main.download_bytes_per_s,
            BYTES_MAX,
        )?;
        for (i, host) in self.hosts.iter().enumerate() {
            check_range(
                || format!("hosts[{i}].ram_bytes"),
                host.ram_bytes,
                BYTES_MAX,
            )?;
            check_range(
                || format!("hosts[{i}].slots"),
                u64::from(host.slots),
                u64::from(SLOTS_MAX),
            )?;
            check_range(
                || format!("hosts[{i}].disk_bytes"),
                host.disk_bytes,
                BYTES_MAX,
            )?;
            check_range(
                || format!("hosts[{i}].copy_bytes_per_s"),
                host.copy_bytes_per_s,
                BYTES_MAX,
            )?;
            check_range(
                || format!("hosts[{i}].cores_millis"),
                host.cores_millis,
                CORES_MILLIS_MAX,
            )?;
            check_range(
                || format!("hosts[{i}].speed_permille"),
                u64::from(host.speed_permille),
                u64::from(SPEED_PERMILLE_MAX),
            )?;
        }
        if self.cold_start_us > DURATION_MAX_US {
            return Err(ConfigError::TooLarge {
                field: "cold_start_us".into(),
                max: DURATION_MAX_US,
            });
        }
        if self.warm_start_us > DURATION_MAX_US {
            return Err(ConfigError::TooLarge {
                field: "warm_start_us".into(),
                max: DURATION_MAX_US,
            });
        }
        if let Pressure::Queue { capacity: 0 } = self.pressure {
            return Err(ConfigError::QueueCapacityZero);
        }
        check_range(
            || "retry.attempts_max".into(),
            u64::from(self.retry.attempts_max),
            u64::from(ATTEMPTS_MAX),
        )?;
        if self.retry.backoff_us > DURATION_MAX_US {
            return Err(ConfigError::TooLarge {
                field: "retry.backoff_us".into(),
                max: DURATION_MAX_US,
            });
        }
        if let Some(tick_us) = self.autoscale_tick_us {
            check_range(|| "autoscale_tick_us".into(), tick_us, DURATION_MAX_US)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> Config {
        Config::homogeneous(
            MainStorageSpec {
                capacity_bytes: GIB,
                download_bytes_per_s: MIB,
            },
            HostSpec::new(GIB, 4, GIB, MIB),
            2,
        )
    }

    fn error_of(edit: impl FnOnce(&mut Config)) -> Result<(), ConfigError> {
        let mut config = valid();
        edit(&mut config);
        config.validate()
    }

    #[test]
    fn the_host_count_limit_is_inclusive() {
        let at_most = error_of(|c| c.hosts = vec![c.hosts[0]; HOSTS_MAX as usize]);
        assert_eq!(at_most, Ok(()));
        let over = error_of(|c| c.hosts = vec![c.hosts[0]; HOSTS_MAX as usize + 1]);
        assert_eq!(
            over,
            Err(ConfigError::TooManyHosts {
                count: HOSTS_MAX as usize + 1
            })
        );
    }

    #[test]
    fn every_field_is_checked_with_its_path() {
        assert_eq!(error_of(|_| {}), Ok(()));
        assert_eq!(error_of(|c| c.hosts.clear()), Err(ConfigError::NoHosts));
        let zero = |field: &str| {
            Err(ConfigError::Zero {
                field: field.into(),
            })
        };
        let large = |field: &str, max| {
            Err(ConfigError::TooLarge {
                field: field.into(),
                max,
            })
        };
        assert_eq!(
            error_of(|c| c.main_storage.capacity_bytes = 0),
            zero("main_storage.capacity_bytes")
        );
        assert_eq!(
            error_of(|c| c.main_storage.download_bytes_per_s = BYTES_MAX + 1),
            large("main_storage.download_bytes_per_s", BYTES_MAX)
        );
        assert_eq!(
            error_of(|c| c.hosts[1].ram_bytes = 0),
            zero("hosts[1].ram_bytes")
        );
        assert_eq!(
            error_of(|c| c.hosts[1].slots = SLOTS_MAX + 1),
            large("hosts[1].slots", u64::from(SLOTS_MAX))
        );
        assert_eq!(
            error_of(|c| c.hosts[0].disk_bytes = BYTES_MAX + 1),
            large("hosts[0].disk_bytes", BYTES_MAX)
        );
        assert_eq!(
            error_of(|c| c.hosts[0].copy_bytes_per_s = 0),
            zero("hosts[0].copy_bytes_per_s")
        );
        assert_eq!(
            error_of(|c| c.hosts[1].cores_millis = 0),
            zero("hosts[1].cores_millis")
        );
        assert_eq!(
            error_of(|c| c.hosts[0].cores_millis = CORES_MILLIS_MAX + 1),
            large("hosts[0].cores_millis", CORES_MILLIS_MAX)
        );
        assert_eq!(
            error_of(|c| c.hosts[0].speed_permille = 0),
            zero("hosts[0].speed_permille")
        );
        assert_eq!(
            error_of(|c| c.hosts[1].speed_permille = SPEED_PERMILLE_MAX + 1),
            large("hosts[1].speed_permille", u64::from(SPEED_PERMILLE_MAX))
        );
        assert_eq!(
            error_of(|c| c.cold_start_us = DURATION_MAX_US + 1),
            large("cold_start_us", DURATION_MAX_US)
        );
        assert_eq!(
            error_of(|c| c.warm_start_us = DURATION_MAX_US + 1),
            large("warm_start_us", DURATION_MAX_US)
        );
        assert_eq!(
            error_of(|c| c.pressure = Pressure::Queue { capacity: 0 }),
            Err(ConfigError::QueueCapacityZero)
        );
    }

    #[test]
    fn limits_themselves_are_allowed() {
        assert_eq!(
            error_of(|c| {
                c.main_storage.capacity_bytes = BYTES_MAX;
                c.hosts[0].slots = SLOTS_MAX;
                c.cold_start_us = DURATION_MAX_US;
                c.warm_start_us = DURATION_MAX_US;
            }),
            Ok(())
        );
    }

    #[test]
    fn errors_read_as_sentences() {
        let zero = ConfigError::Zero {
            field: "hosts[0].slots".into(),
        }
        .to_string();
        assert_eq!(zero, "hosts[0].slots must be greater than zero");
        assert!(ConfigError::NoHosts.to_string().contains("no hosts"));
    }
}
