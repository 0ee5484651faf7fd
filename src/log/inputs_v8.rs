//! Inputs as log formats 2 to 8 wrote them: a function's definition without
//! start costs of its own (format 9 added `FunctionDef::cold_start_us` and
//! `warm_start_us`). Frozen copies of the input types, so that such logs
//! decode byte for byte (bincode is not self-describing: an added field
//! changes every later byte) and replay as they ran, every function on the
//! configuration's start costs; and so that a log can still be written in
//! those versions' layout (`log convert`), as long as no function has costs
//! of its own.

use crate::input::{Code, Command, FunctionDef, Input};
use crate::{FunctionId, HostId, ImageId, InvocationId};
use serde::{Deserialize, Serialize};

/// `Input` as formats 2 to 8 wrote it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InputV8 {
    pub at_us: u64,
    pub command: CommandV8,
}

/// `Command` as formats 2 to 8 wrote it: the same variants, in the same
/// order, with `RegisterFunction` holding [`FunctionDefV8`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum CommandV8 {
    RegisterImage {
        size_bytes: u64,
    },
    RegisterFunction(FunctionDefV8),
    Invoke {
        function: FunctionId,
        code: Code,
        ingress_bytes: u64,
        egress_bytes: u64,
    },
    Advance,
    Reap {
        invocation: InvocationId,
    },
    HostDown {
        host: HostId,
    },
    HostUp {
        host: HostId,
        disk_kept: bool,
    },
    DownloadFails {
        image: ImageId,
    },
    CopyFails {
        host: HostId,
        image: ImageId,
    },
    MainStorageLost,
}

/// `FunctionDef` as formats 2 to 8 wrote it (the fields in their order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FunctionDefV8 {
    pub image: ImageId,
    pub memory_bytes: u64,
    pub scratch_bytes: u64,
    pub time_limit_us: u64,
}

impl From<InputV8> for Input {
    /// As it ran: a function of a version 8 log has no start costs of its
    /// own, and concurrency 1.
    fn from(v8: InputV8) -> Input {
        let command = match v8.command {
            CommandV8::RegisterImage { size_bytes } => Command::RegisterImage { size_bytes },
            CommandV8::RegisterFunction(def) => Command::RegisterFunction(
                FunctionDef::new(def.image, def.memory_bytes, def.time_limit_us)
                    .with_scratch_bytes(def.scratch_bytes),
            ),
            CommandV8::Invoke {
                function,
                code,
                ingress_bytes,
                egress_bytes,
            } => Command::Invoke {
                function,
                code,
                ingress_bytes,
                egress_bytes,
            },
            CommandV8::Advance => Command::Advance,
            CommandV8::Reap { invocation } => Command::Reap { invocation },
            CommandV8::HostDown { host } => Command::HostDown { host },
            CommandV8::HostUp { host, disk_kept } => Command::HostUp { host, disk_kept },
            CommandV8::DownloadFails { image } => Command::DownloadFails { image },
            CommandV8::CopyFails { host, image } => Command::CopyFails { host, image },
            CommandV8::MainStorageLost => Command::MainStorageLost,
        };
        Input {
            at_us: v8.at_us,
            command,
        }
    }
}

impl TryFrom<&Input> for InputV8 {
    type Error = String;

    /// The input in the version 8 layout; refused for a function with start
    /// costs of its own, which that layout cannot hold.
    fn try_from(input: &Input) -> Result<InputV8, String> {
        let command = match input.command {
            Command::RegisterImage { size_bytes } => CommandV8::RegisterImage { size_bytes },
            Command::RegisterFunction(ref def) => {
                if def.cpu_millis != coldstart_core::input::DEFAULT_CPU_MILLIS {
                    return Err(format!(
                        "a log of format 11 or older cannot hold a function's CPU demand of {} millicores (only 1,000)",
                        def.cpu_millis
                    ));
                }
                if def.concurrency != 1 {
                    return Err(format!(
                        "a log of format 10 or older cannot hold a function of concurrency {} (only 1)",
                        def.concurrency
                    ));
                }
                if def.cold_start_us.is_some() || def.warm_start_us.is_some() {
                    return Err(
                        "a log of format 8 or older cannot hold a function with start costs of its own"
                            .to_string(),
                    );
                }
                CommandV8::RegisterFunction(FunctionDefV8 {
                    image: def.image,
                    memory_bytes: def.memory_bytes,
                    scratch_bytes: def.scratch_bytes,
                    time_limit_us: def.time_limit_us,
                })
            }
            Command::Invoke {
                function,
                code,
                ingress_bytes,
                egress_bytes,
            } => CommandV8::Invoke {
                function,
                code,
                ingress_bytes,
                egress_bytes,
            },
            Command::Advance => CommandV8::Advance,
            Command::Reap { invocation } => CommandV8::Reap { invocation },
            Command::HostDown { host } => CommandV8::HostDown { host },
            Command::HostUp { host, disk_kept } => CommandV8::HostUp { host, disk_kept },
            Command::DownloadFails { image } => CommandV8::DownloadFails { image },
            Command::CopyFails { host, image } => CommandV8::CopyFails { host, image },
            Command::MainStorageLost => CommandV8::MainStorageLost,
        };
        Ok(InputV8 {
            at_us: input.at_us,
            command,
        })
    }
}
