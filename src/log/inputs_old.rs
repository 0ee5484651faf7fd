//! Inputs as older log formats wrote them. bincode is not self-describing:
//! a field added to `FunctionDef` changes every later byte, so each older
//! layout of a function's definition is kept here as a frozen copy, and an
//! old log decodes byte for byte and replays as it ran. The other commands
//! have not changed since format 2 (new ones were appended, which older
//! logs never hold), so one generic command, [`CommandOld`], carries any of
//! the frozen definitions.
//!
//! | formats | definition | what the next format added |
//! |---|---|---|
//! | 2 to 8 | [`FunctionDefV8`] | start costs of its own (9, spec R41a) |
//! | 9 and 10 | [`FunctionDefV9`] | a concurrency (11, spec R57a) |
//! | 11 | [`FunctionDefV11`] | (format 12's fields; see `FunctionDefV11::of`) |
//!
//! A log can still be written in an older layout (`log convert`) as long
//! as every function fits it: each `of` refuses, in words, a definition
//! the layout cannot hold, and asks the next newer layout first, so a
//! field added later is refused by every older layout at once.

use crate::input::{Code, Command, FunctionDef, Input};
use crate::{FunctionId, HostId, ImageId, InvocationId};
use serde::{Deserialize, Serialize};

/// `Input` as an older format wrote it, with its function definitions in
/// layout `D`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InputOld<D> {
    pub at_us: u64,
    pub command: CommandOld<D>,
}

/// `Input` as formats 2 to 8 wrote it.
pub(crate) type InputV8 = InputOld<FunctionDefV8>;
/// `Input` as formats 9 and 10 wrote it.
pub(crate) type InputV9 = InputOld<FunctionDefV9>;
/// `Input` as format 11 wrote it.
pub(crate) type InputV11 = InputOld<FunctionDefV11>;

/// `Command` as formats 2 to 11 wrote it: the same variants, in the same
/// order (bincode writes a variant's index), with `RegisterFunction`
/// holding the format's definition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum CommandOld<D> {
    RegisterImage {
        size_bytes: u64,
    },
    RegisterFunction(D),
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

/// A frozen layout of `FunctionDef`: how it reads as this build's (as it
/// ran: the fields it lacks take the values that were the only ones then),
/// and the definition in it, if the layout can hold it.
pub(crate) trait OldDef: Sized {
    /// The definition as this build's type.
    fn into_def(self) -> FunctionDef;
    /// `def` in this layout; the error says what the layout cannot hold.
    fn of(def: &FunctionDef) -> Result<Self, String>;
}

/// `FunctionDef` as formats 2 to 8 wrote it (the fields in their order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FunctionDefV8 {
    pub image: ImageId,
    pub memory_bytes: u64,
    pub scratch_bytes: u64,
    pub time_limit_us: u64,
}

/// `FunctionDef` as formats 9 and 10 wrote it.
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

/// `FunctionDef` as format 11 wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FunctionDefV11 {
    pub image: ImageId,
    pub memory_bytes: u64,
    pub scratch_bytes: u64,
    pub time_limit_us: u64,
    #[serde(default)]
    pub cold_start_us: Option<u64>,
    #[serde(default)]
    pub warm_start_us: Option<u64>,
    /// Absent from JSON written by hand reads as 1, as in format 11.
    #[serde(default = "one")]
    pub concurrency: u32,
}

fn one() -> u32 {
    1
}

impl OldDef for FunctionDefV11 {
    /// As it ran: format 11 had every field format 12 reads but those
    /// `of` lists, which take their defaults.
    fn into_def(self) -> FunctionDef {
        let mut def = FunctionDef::new(self.image, self.memory_bytes, self.time_limit_us)
            .with_scratch_bytes(self.scratch_bytes)
            .with_concurrency(self.concurrency);
        def.cold_start_us = self.cold_start_us;
        def.warm_start_us = self.warm_start_us;
        def
    }

    /// Refuses what format 12 added to a function (none of it may differ
    /// from its default).
    fn of(def: &FunctionDef) -> Result<FunctionDefV11, String> {
        if def.min_scale != 0 {
            return Err(format!(
                "a version 11 log cannot hold a function with a warm floor (min_scale {}; only 0)",
                def.min_scale
            ));
        }
        if def.cpu_millis != coldstart_core::input::DEFAULT_CPU_MILLIS {
            return Err(format!(
                "a version 11 log cannot hold a function's CPU demand of {} millicores (only 1,000; format 12 added it)",
                def.cpu_millis
            ));
        }
        Ok(FunctionDefV11 {
            image: def.image,
            memory_bytes: def.memory_bytes,
            scratch_bytes: def.scratch_bytes,
            time_limit_us: def.time_limit_us,
            cold_start_us: def.cold_start_us,
            warm_start_us: def.warm_start_us,
            concurrency: def.concurrency,
        })
    }
}

impl OldDef for FunctionDefV9 {
    /// As it ran: concurrency 1.
    fn into_def(self) -> FunctionDef {
        FunctionDefV11 {
            image: self.image,
            memory_bytes: self.memory_bytes,
            scratch_bytes: self.scratch_bytes,
            time_limit_us: self.time_limit_us,
            cold_start_us: self.cold_start_us,
            warm_start_us: self.warm_start_us,
            concurrency: 1,
        }
        .into_def()
    }

    fn of(def: &FunctionDef) -> Result<FunctionDefV9, String> {
        let v11 = FunctionDefV11::of(def)?;
        if v11.concurrency != 1 {
            return Err(format!(
                "a log of format 10 or older cannot hold a function of concurrency {} (only 1)",
                v11.concurrency
            ));
        }
        Ok(FunctionDefV9 {
            image: v11.image,
            memory_bytes: v11.memory_bytes,
            scratch_bytes: v11.scratch_bytes,
            time_limit_us: v11.time_limit_us,
            cold_start_us: v11.cold_start_us,
            warm_start_us: v11.warm_start_us,
        })
    }
}

impl OldDef for FunctionDefV8 {
    /// As it ran: the configuration's start costs, concurrency 1.
    fn into_def(self) -> FunctionDef {
        FunctionDefV9 {
            image: self.image,
            memory_bytes: self.memory_bytes,
            scratch_bytes: self.scratch_bytes,
            time_limit_us: self.time_limit_us,
            cold_start_us: None,
            warm_start_us: None,
        }
        .into_def()
    }

    fn of(def: &FunctionDef) -> Result<FunctionDefV8, String> {
        let v9 = FunctionDefV9::of(def)?;
        if v9.cold_start_us.is_some() || v9.warm_start_us.is_some() {
            return Err(
                "a log of format 8 or older cannot hold a function with start costs of its own"
                    .to_string(),
            );
        }
        Ok(FunctionDefV8 {
            image: v9.image,
            memory_bytes: v9.memory_bytes,
            scratch_bytes: v9.scratch_bytes,
            time_limit_us: v9.time_limit_us,
        })
    }
}

impl<D: OldDef> From<InputOld<D>> for Input {
    /// As it ran (see each layout's `into_def`).
    fn from(old: InputOld<D>) -> Input {
        let command = match old.command {
            CommandOld::RegisterImage { size_bytes } => Command::RegisterImage { size_bytes },
            CommandOld::RegisterFunction(def) => Command::RegisterFunction(def.into_def()),
            CommandOld::Invoke {
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
            CommandOld::Advance => Command::Advance,
            CommandOld::Reap { invocation } => Command::Reap { invocation },
            CommandOld::HostDown { host } => Command::HostDown { host },
            CommandOld::HostUp { host, disk_kept } => Command::HostUp { host, disk_kept },
            CommandOld::DownloadFails { image } => Command::DownloadFails { image },
            CommandOld::CopyFails { host, image } => Command::CopyFails { host, image },
            CommandOld::MainStorageLost => Command::MainStorageLost,
        };
        Input {
            at_us: old.at_us,
            command,
        }
    }
}

impl<D: OldDef> TryFrom<&Input> for InputOld<D> {
    type Error = String;

    /// The input in the older layout; refused for a function that layout
    /// cannot hold.
    fn try_from(input: &Input) -> Result<InputOld<D>, String> {
        let command = match input.command {
            Command::RegisterImage { size_bytes } => CommandOld::RegisterImage { size_bytes },
            Command::RegisterFunction(ref def) => CommandOld::RegisterFunction(D::of(def)?),
            Command::Invoke {
                function,
                code,
                ingress_bytes,
                egress_bytes,
            } => CommandOld::Invoke {
                function,
                code,
                ingress_bytes,
                egress_bytes,
            },
            Command::Advance => CommandOld::Advance,
            Command::Reap { invocation } => CommandOld::Reap { invocation },
            Command::HostDown { host } => CommandOld::HostDown { host },
            Command::HostUp { host, disk_kept } => CommandOld::HostUp { host, disk_kept },
            Command::DownloadFails { image } => CommandOld::DownloadFails { image },
            Command::CopyFails { host, image } => CommandOld::CopyFails { host, image },
            Command::MainStorageLost => CommandOld::MainStorageLost,
        };
        Ok(InputOld {
            at_us: input.at_us,
            command,
        })
    }
}
