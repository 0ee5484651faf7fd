//! Inputs as log formats 9 and 10 wrote them: a function's definition with
//! start costs of its own but without a concurrency (format 11 added
//! `FunctionDef::concurrency`, spec R57a; format 10 changed only the
//! header). Frozen copies of the input
//! types, as `inputs_v8` is for formats 2 to 8: such logs decode byte for
//! byte and replay as they ran, every function of concurrency 1; and a log
//! can still be written in that layout (`log convert`), as long as every
//! function has concurrency 1.

use crate::input::{Code, Command, FunctionDef, Input};
use crate::{FunctionId, HostId, ImageId, InvocationId};
use serde::{Deserialize, Serialize};

/// `Input` as formats 9 and 10 wrote it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InputV9 {
    pub at_us: u64,
    pub command: CommandV9,
}

/// `Command` as format 9 wrote it: the same variants, in the same
/// order, with `RegisterFunction` holding [`FunctionDefV9`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum CommandV9 {
    RegisterImage {
        size_bytes: u64,
    },
    RegisterFunction(FunctionDefV9),
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

/// `FunctionDef` as format 9 wrote it (the fields in their order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FunctionDefV9 {
    pub image: ImageId,
    pub memory_bytes: u64,
    pub scratch_bytes: u64,
    pub time_limit_us: u64,
    #[serde(default)]
    pub cold_start_us: Option<u64>,
    #[serde(default)]
    pub warm_start_us: Option<u64>,
}

impl From<InputV9> for Input {
    /// As it ran: a function of a version 9 log has concurrency 1.
    fn from(v9: InputV9) -> Input {
        let command = match v9.command {
            CommandV9::RegisterImage { size_bytes } => Command::RegisterImage { size_bytes },
            CommandV9::RegisterFunction(def) => {
                let mut own = FunctionDef::new(def.image, def.memory_bytes, def.time_limit_us)
                    .with_scratch_bytes(def.scratch_bytes);
                own.cold_start_us = def.cold_start_us;
                own.warm_start_us = def.warm_start_us;
                Command::RegisterFunction(own)
            }
            CommandV9::Invoke {
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
            CommandV9::Advance => Command::Advance,
            CommandV9::Reap { invocation } => Command::Reap { invocation },
            CommandV9::HostDown { host } => Command::HostDown { host },
            CommandV9::HostUp { host, disk_kept } => Command::HostUp { host, disk_kept },
            CommandV9::DownloadFails { image } => Command::DownloadFails { image },
            CommandV9::CopyFails { host, image } => Command::CopyFails { host, image },
            CommandV9::MainStorageLost => Command::MainStorageLost,
        };
        Input {
            at_us: v9.at_us,
            command,
        }
    }
}

impl TryFrom<&Input> for InputV9 {
    type Error = String;

    /// The input in the version 9 layout; refused for a function of
    /// concurrency above 1, which that layout cannot hold.
    fn try_from(input: &Input) -> Result<InputV9, String> {
        let command = match input.command {
            Command::RegisterImage { size_bytes } => CommandV9::RegisterImage { size_bytes },
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
                CommandV9::RegisterFunction(FunctionDefV9 {
                    image: def.image,
                    memory_bytes: def.memory_bytes,
                    scratch_bytes: def.scratch_bytes,
                    time_limit_us: def.time_limit_us,
                    cold_start_us: def.cold_start_us,
                    warm_start_us: def.warm_start_us,
                })
            }
            Command::Invoke {
                function,
                code,
                ingress_bytes,
                egress_bytes,
            } => CommandV9::Invoke {
                function,
                code,
                ingress_bytes,
                egress_bytes,
            },
            Command::Advance => CommandV9::Advance,
            Command::Reap { invocation } => CommandV9::Reap { invocation },
            Command::HostDown { host } => CommandV9::HostDown { host },
            Command::HostUp { host, disk_kept } => CommandV9::HostUp { host, disk_kept },
            Command::DownloadFails { image } => CommandV9::DownloadFails { image },
            Command::CopyFails { host, image } => CommandV9::CopyFails { host, image },
            Command::MainStorageLost => CommandV9::MainStorageLost,
        };
        Ok(InputV9 {
            at_us: input.at_us,
            command,
        })
    }
}
