//! Inputs: what a driver feeds to `step`. Every input carries its virtual
//! time; `Command` says what happens at that time.

use crate::ids::{FunctionId, HostId, ImageId, InvocationId};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Input {
    /// Virtual time in µs. Must not be earlier than the provider's `now`.
    pub at_us: u64,
    pub command: Command,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Command {
    /// Registers an image of `size_bytes`; answered by `ImageRegistered`.
    RegisterImage { size_bytes: u64 },
    /// Registers a function that runs from `image` in a container with
    /// `memory_bytes` of RAM and `scratch_bytes` of local disk (its /tmp),
    /// whose code may run for at most `time_limit_us`.
    RegisterFunction {
        image: ImageId,
        memory_bytes: u64,
        scratch_bytes: u64,
        time_limit_us: u64,
    },
    /// Invokes `function`; the fake code's behaviour is given here.
    Invoke {
        function: FunctionId,
        code: Code,
        /// Bytes of the request payload (billed as ingress).
        ingress_bytes: u64,
        /// Bytes of the response, sent on success only (billed as egress).
        egress_bytes: u64,
    },
    /// Only lets time pass: fires every timer due at or before `at_us`.
    Advance,
    /// Drops the record of a terminal invocation.
    Reap { invocation: InvocationId },
    /// Fault: the host goes down. Its containers die, their invocations are
    /// retried or fail (platform error), copies to it are abandoned.
    HostDown { host: HostId },
    /// The host comes back with empty RAM; its disk cache is kept if
    /// `disk_kept`, else lost.
    HostUp { host: HostId, disk_kept: bool },
    /// Fault: the image's download in progress fails (retried per
    /// `Config::retry`, then the invocations waiting for it fail).
    DownloadFails { image: ImageId },
    /// Fault: the copy of the image to the host in progress fails (retried
    /// per `Config::retry`, then the invocations waiting for it fail).
    CopyFails { host: HostId, image: ImageId },
    /// Fault: main storage's disk is lost: its images are gone and every
    /// transfer into or out of it fails.
    MainStorageLost,
}

/// The fake code of one invocation: clone, build and run phases, and how it
/// ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Code {
    pub clone_us: u64,
    pub build_us: u64,
    pub run_us: u64,
    pub outcome: Outcome,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Outcome {
    /// Completes after the run phase with this output value (an opaque token
    /// chosen by the driver, e.g. a hash or a key into its own table).
    Success { output: u64 },
    /// Fails at the end of the named phase; later phases do not run.
    Failure { phase: Phase },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Phase {
    Clone,
    Build,
    Run,
}

impl Phase {
    pub const ALL: [Phase; 3] = [Phase::Clone, Phase::Build, Phase::Run];

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
