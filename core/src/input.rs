//! Inputs: what a driver feeds to `step`. Every input carries its virtual
//! time; [`Command`] says what happens at that time (spec §8).

use crate::ids::{FunctionId, HostId, ImageId, InvocationId};
use serde::{Deserialize, Serialize};

/// One input: a command at a virtual time (spec R29).
///
/// An input at `at_us` is an advance to `at_us` — every timer due by then
/// fires first — followed by its command, judged against the state those
/// timers leave. It is refused ([`Refusal`], spec R30, R37) if its time is
/// earlier than the provider's current time or beyond
/// `limits::TIME_MAX_US`, changing nothing at all; or if its command is
/// invalid, changing nothing beyond that advance.
///
/// [`Refusal`]: crate::Refusal
///
/// ```
/// use coldstart_core::{Builtin, Command, Config, Input, Provider, Refusal, MIB};
///
/// let mut provider = Provider::new(Config::default(), Builtin::default())?;
/// let register = Input { at_us: 1_000, command: Command::RegisterImage { size_bytes: 50 * MIB } };
/// let image = provider.apply(&register)?.image().unwrap();
/// assert_eq!(provider.now_us(), 1_000);
///
/// // An input earlier than the current time is refused, and changes nothing.
/// let late = Input { at_us: 999, command: Command::Advance };
/// let refused = provider.apply(&late).unwrap_err();
/// assert_eq!(refused.refusal(), &Refusal::TimeWentBackwards { at_us: 999, now_us: 1_000 });
/// # let _ = image;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Input {
    /// Virtual time in µs. Must not be earlier than the provider's current
    /// time ([`Provider::now_us`](crate::Provider::now_us)), nor later than
    /// `limits::TIME_MAX_US`; equal to it is allowed.
    pub at_us: u64,
    /// What happens at that time.
    pub command: Command,
}

/// A function's definition: what [`Command::RegisterFunction`] registers
/// (spec R40, R41).
///
/// Built with [`FunctionDef::new`] and the `with_*` methods, so that
/// definitions written today keep compiling as the type grows (it is
/// `#[non_exhaustive]`); read its fields directly.
///
/// ```
/// use coldstart_core::{Builtin, Command, Config, FunctionDef, Input, Provider, MIB};
///
/// let mut provider = Provider::new(Config::default(), Builtin::default())?;
/// let image = provider
///     .apply(&Input { at_us: 0, command: Command::RegisterImage { size_bytes: 50 * MIB } })?
///     .image()
///     .unwrap();
/// let def = FunctionDef::new(image, 128 * MIB, 3_000_000)
///     .with_scratch_bytes(10 * MIB)
///     .with_cold_start_us(400_000); // its own; warm starts use the Config's
/// assert_eq!(def.scratch_bytes, 10 * MIB);
/// assert_eq!((def.cold_start_us, def.warm_start_us), (Some(400_000), None));
/// let function = provider
///     .apply(&Input { at_us: 0, command: Command::RegisterFunction(def) })?
///     .function();
/// assert!(function.is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct FunctionDef {
    /// The image its containers run from.
    pub image: ImageId,
    /// RAM each container of the function holds, from creation to
    /// removal, idle or busy (bytes); also what billing charges by.
    pub memory_bytes: u64,
    /// Local disk each container reserves on its host for its life,
    /// like Lambda's `/tmp` (bytes; may be zero).
    pub scratch_bytes: u64,
    /// The longest an invocation's code may run before it times out
    /// (µs), counted from its `ExecutionStarted` (spec R88).
    pub time_limit_us: u64,
    /// The function's own cold-start overhead (µs, at most
    /// `limits::DURATION_MAX_US`): what its containers pay once their image
    /// is on the host, before they are ready, and what a cold invocation is
    /// billed for on top of its run (spec R41a). `None`: the configuration's
    /// [`Config::cold_start_us`](crate::Config::cold_start_us).
    #[serde(default)]
    pub cold_start_us: Option<u64>,
    /// The function's own warm-start overhead (µs, at most
    /// `limits::DURATION_MAX_US`): what a warm start waits before its code
    /// runs (spec R41a). `None`: the configuration's
    /// [`Config::warm_start_us`](crate::Config::warm_start_us).
    #[serde(default)]
    pub warm_start_us: Option<u64>,
    /// The most invocations one of its containers runs at once (spec
    /// R57a): 1, the default, is Lambda's one request per execution
    /// environment; more lets an invocation join a container of the
    /// function that has room (Cloud Run's, Knative's per-instance
    /// concurrency). At most `limits::CONCURRENCY_MAX`. Absent from logs
    /// and JSON written before it existed, where it reads as 1.
    #[serde(default = "one")]
    pub concurrency: u32,
    /// How many of its containers are kept warm at all times (spec
    /// R159–R165): Lambda's provisioned concurrency, Knative's `minScale`.
    /// They are placed like pre-warms at registration (or as soon as room
    /// allows), never expire and are never evicted, and are replaced when a
    /// fault or a failure removes one. 0, the default, keeps none. At most
    /// `limits::MIN_SCALE_MAX`. Absent from logs and JSON written before it
    /// existed, where it reads as 0.
    #[serde(default)]
    pub min_scale: u32,
    /// The CPU each of its running invocations demands, in millicores
    /// (1,000 per core; the default is one core): under
    /// [`Cpu::ProcessorSharing`](crate::Cpu::ProcessorSharing) the demand of
    /// a host's running invocations against its cores sets how fast their
    /// code progresses (spec R85f); ignored under `Cpu::Dedicated`. 1 to
    /// `limits::CPU_MILLIS_MAX`. Absent from logs and JSON written before it
    /// existed, where it reads as 1,000.
    #[serde(default = "one_core")]
    pub cpu_millis: u32,
}

fn one() -> u32 {
    1
}

/// A function's CPU demand when none is given: one core, in millicores.
pub const DEFAULT_CPU_MILLIS: u32 = 1_000;

fn one_core() -> u32 {
    DEFAULT_CPU_MILLIS
}

impl FunctionDef {
    /// A function of `memory_bytes` per container whose invocations may run
    /// for `time_limit_us`, from `image`, with no scratch disk.
    pub fn new(image: ImageId, memory_bytes: u64, time_limit_us: u64) -> Self {
        FunctionDef {
            image,
            memory_bytes,
            scratch_bytes: 0,
            time_limit_us,
            cold_start_us: None,
            warm_start_us: None,
            concurrency: 1,
            min_scale: 0,
            cpu_millis: DEFAULT_CPU_MILLIS,
        }
    }

    /// The same, with this CPU demand per running invocation (millicores;
    /// spec R85f) in place of the one there was.
    #[must_use]
    pub fn with_cpu_millis(mut self, cpu_millis: u32) -> Self {
        self.cpu_millis = cpu_millis;
        self
    }

    /// The same, with a cold-start overhead of its own (µs) instead of the
    /// configuration's.
    #[must_use]
    pub fn with_cold_start_us(mut self, cold_start_us: u64) -> Self {
        self.cold_start_us = Some(cold_start_us);
        self
    }

    /// The same, with a warm-start overhead of its own (µs) instead of the
    /// configuration's.
    #[must_use]
    pub fn with_warm_start_us(mut self, warm_start_us: u64) -> Self {
        self.warm_start_us = Some(warm_start_us);
        self
    }

    /// The same, with at most `concurrency` invocations per container at
    /// once (spec R57a).
    #[must_use]
    pub fn with_concurrency(mut self, concurrency: u32) -> Self {
        self.concurrency = concurrency;
        self
    }

    /// The same, keeping `min_scale` containers warm at all times (spec
    /// R159).
    #[must_use]
    pub fn with_min_scale(mut self, min_scale: u32) -> Self {
        self.min_scale = min_scale;
        self
    }

    /// The same, with `scratch_bytes` of local disk per container.
    #[must_use]
    pub fn with_scratch_bytes(mut self, scratch_bytes: u64) -> Self {
        self.scratch_bytes = scratch_bytes;
        self
    }
}

/// What an input does (spec §8 and, for the faults, §27).
///
/// The registrations and `Invoke` create an entity and name it in their
/// events ([`Applied::image`](crate::Applied::image),
/// [`function`](crate::Applied::function),
/// [`invocation`](crate::Applied::invocation) return it); `Advance` only
/// moves time; `Reap` drops a record; the rest are faults, which the driver
/// decides (core draws none itself).
///
/// Unlike the event and error enums, `Command` is exhaustive on purpose: a
/// system checked against coldstart (an oracle's other side, the reference
/// model) must handle every command, and a new one should fail its build
/// rather than fall into a catch-all arm.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Command {
    /// Registers an image; answered by `ImageRegistered` (spec R38, R39).
    /// Refused if `size_bytes` is zero, above `limits::BYTES_MAX`, larger
    /// than main storage or than every host's disk.
    RegisterImage {
        /// The image's size (bytes): what it takes on main storage and on
        /// each host's disk that holds a copy, and what every download and
        /// copy of it moves.
        size_bytes: u64,
    },
    /// Registers a function; answered by `FunctionRegistered` (spec R40,
    /// R41). Refused if the image is unknown, a value is zero (scratch and
    /// start costs may be) or above its limit, or no host could ever hold
    /// one of its containers.
    RegisterFunction(FunctionDef),
    /// Invokes `function`; the fake code's behaviour is given here (spec
    /// R42, R43). Answered by `Accepted`, then a warm or cold start, a
    /// `Queued` or a `Rejected`.
    Invoke {
        /// The function invoked.
        function: FunctionId,
        /// What the invocation's code does, and for how long.
        code: Code,
        /// Bytes of the request payload (billed as ingress).
        ingress_bytes: u64,
        /// Bytes of the response, sent on success only (billed as egress).
        egress_bytes: u64,
    },
    /// Only lets time pass: fires every timer due at or before `at_us`
    /// (spec R44).
    Advance,
    /// Drops the record of a terminal invocation, freeing its id's slot
    /// (spec R45, R46). Refused if the invocation is unknown (or already
    /// reaped) or has not ended.
    Reap {
        /// The ended invocation whose record is dropped.
        invocation: InvocationId,
    },
    /// Fault: the host goes down (spec R141). Its containers die, their
    /// invocations are retried (per `Config::retry`) or fail (platform
    /// error), copies to it are abandoned. Refused if it is unknown or
    /// already down.
    HostDown {
        /// The host that goes down.
        host: HostId,
    },
    /// The host comes back with empty RAM and slots (spec R142). Refused if
    /// it is unknown or already up.
    HostUp {
        /// The host that comes back.
        host: HostId,
        /// Whether its disk cache survived; if not, its image copies are
        /// lost (`ImageLost`).
        disk_kept: bool,
    },
    /// Fault: the image's download in progress fails (spec R143): retried
    /// per `Config::retry`, then the invocations waiting for it fail.
    /// Refused if no download of it is in progress at this time.
    DownloadFails {
        /// The image whose download fails.
        image: ImageId,
    },
    /// Fault: the copy of the image to the host in progress fails (spec
    /// R144): retried per `Config::retry`, then the invocations waiting for
    /// it fail. Refused if no such copy is in progress at this time.
    CopyFails {
        /// The host the copy goes to.
        host: HostId,
        /// The image being copied.
        image: ImageId,
    },
    /// Fault: main storage's disk is lost (spec R145): its images are gone
    /// and every transfer into or out of it fails, without retry.
    MainStorageLost,
}

/// The fake code of one invocation: clone, build and run phases, and how it
/// ends (spec R87).
///
/// The code runs for [`duration_us`](Code::duration_us) — the phases up to
/// the one it fails in, or all three — unless that is longer than the
/// function's time limit, in which case it times out at the limit (spec
/// R88). The phase durations are at most `limits::DURATION_MAX_US` each.
///
/// ```
/// use coldstart_core::{Code, Outcome, Phase};
///
/// let ok = Code::success(30_000, 7);
/// assert_eq!(ok.duration_us(), 30_000);
///
/// let broken_build = Code {
///     clone_us: 2_000,
///     build_us: 5_000,
///     run_us: 10_000,
///     outcome: Outcome::Failure { phase: Phase::Build },
/// };
/// assert_eq!(broken_build.duration_us(), 7_000); // the run phase never starts
/// assert_eq!(broken_build.phase_at(1_000), Phase::Clone);
/// assert_eq!(broken_build.phase_at(2_000), Phase::Build);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Code {
    /// How long the clone phase takes (µs).
    pub clone_us: u64,
    /// How long the build phase takes (µs), after the clone.
    pub build_us: u64,
    /// How long the run phase takes (µs), after the build.
    pub run_us: u64,
    /// How the code ends, if the time limit does not end it first.
    pub outcome: Outcome,
}

/// How an invocation's code ends on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Outcome {
    /// Completes after the run phase with this output value (an opaque token
    /// chosen by the driver, e.g. a hash or a key into its own table).
    Success {
        /// The value `Completed` carries and `Provider::get_output` returns.
        output: u64,
    },
    /// Fails at the end of the named phase; later phases do not run.
    Failure {
        /// The phase it fails in.
        phase: Phase,
    },
}

/// A phase of an invocation's code, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Phase {
    /// Fetching the function's source (`Code::clone_us`).
    Clone,
    /// Building it (`Code::build_us`).
    Build,
    /// Running it (`Code::run_us`).
    Run,
}

impl Phase {
    /// The three phases, in the order they run.
    pub const ALL: [Phase; 3] = [Phase::Clone, Phase::Build, Phase::Run];

    /// The phase's position: 0 for clone, 1 for build, 2 for run (the index
    /// into `Metrics::failed_by_phase`).
    pub fn index(self) -> usize {
        match self {
            Phase::Clone => 0,
            Phase::Build => 1,
            Phase::Run => 2,
        }
    }
}

impl Code {
    /// Code that succeeds after `run_us` with no clone or build time.
    pub fn success(run_us: u64, output: u64) -> Code {
        Code {
            clone_us: 0,
            build_us: 0,
            run_us,
            outcome: Outcome::Success { output },
        }
    }

    /// How long the code runs until it ends on its own (success or failure),
    /// ignoring the time limit.
    pub fn duration_us(&self) -> u64 {
        match self.outcome {
            Outcome::Success { .. } => self.clone_us + self.build_us + self.run_us,
            Outcome::Failure {
                phase: Phase::Clone,
            } => self.clone_us,
            Outcome::Failure {
                phase: Phase::Build,
            } => self.clone_us + self.build_us,
            Outcome::Failure { phase: Phase::Run } => self.clone_us + self.build_us + self.run_us,
        }
    }

    /// The phase the code is in after `elapsed_us` of running.
    pub fn phase_at(&self, elapsed_us: u64) -> Phase {
        if elapsed_us < self.clone_us {
            Phase::Clone
        } else if elapsed_us < self.clone_us + self.build_us {
            Phase::Build
        } else {
            Phase::Run
        }
    }
}
