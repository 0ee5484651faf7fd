//! Why an input was refused. A refused input changes nothing.

use crate::ids::{FunctionId, HostId, ImageId, InvocationId};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// The input's time is before the provider's current time.
    TimeWentBackwards {
        at_us: u64,
        now_us: u64,
    },
    /// The input's time is beyond `limits::TIME_MAX_US`.
    TimeTooLate {
        at_us: u64,
        max_us: u64,
    },
    UnknownImage {
        image: ImageId,
    },
    UnknownFunction {
        function: FunctionId,
    },
    /// Never existed, or already reaped.
    UnknownInvocation {
        invocation: InvocationId,
    },
    /// `Reap` of an invocation that has not ended.
    NotTerminal {
        invocation: InvocationId,
    },
    /// A size or duration that must be positive is zero.
    Zero {
        field: &'static str,
    },
    /// A size or duration above its limit (see `limits`).
    TooLarge {
        field: &'static str,
        value: u64,
        max: u64,
    },
    /// The image is larger than main storage or than every host's disk.
    ImageNeverFits {
        size_bytes: u64,
        why: &'static str,
    },
    /// No host could ever hold a container of this function (RAM, a slot, and
    /// disk for the image plus scratch, all on one host).
    FunctionNeverFits {
        why: &'static str,
    },
    /// An arena holds 2^32 - 1 entities already.
    TooManyEntities {
        kind: &'static str,
    },
    /// A fault names a host the configuration does not have.
    UnknownHost {
        host: HostId,
    },
    /// `HostDown` of a host that is down.
    HostAlreadyDown {
        host: HostId,
    },
    /// `HostUp` of a host that is up.
    HostAlreadyUp {
        host: HostId,
    },
    /// `DownloadFails` of an image with no download in progress.
    NoDownloadInProgress {
        image: ImageId,
    },
    /// `CopyFails` of an image with no copy to that host in progress.
    NoCopyInProgress {
        image: ImageId,
        host: HostId,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::TimeWentBackwards { at_us, now_us } => {
                write!(
                    f,
                    "input at {at_us} µs is earlier than the current time {now_us} µs"
                )
            }
            Refusal::TimeTooLate { at_us, max_us } => {
                write!(
                    f,
                    "input at {at_us} µs is beyond the latest time {max_us} µs"
                )
            }
            Refusal::UnknownImage { image } => write!(f, "unknown image {image}"),
            Refusal::UnknownFunction { function } => write!(f, "unknown function {function}"),
            Refusal::UnknownInvocation { invocation } => {
                write!(f, "unknown (or reaped) invocation {invocation}")
            }
            Refusal::NotTerminal { invocation } => {
                write!(
                    f,
                    "invocation {invocation} has not ended and cannot be reaped"
                )
            }
            Refusal::Zero { field } => write!(f, "{field} must be greater than zero"),
            Refusal::TooLarge { field, value, max } => {
                write!(f, "{field} = {value} is above its limit of {max}")
            }
            Refusal::ImageNeverFits { size_bytes, why } => {
                write!(f, "an image of {size_bytes} bytes can never fit: {why}")
            }
            Refusal::FunctionNeverFits { why } => write!(f, "the function can never fit: {why}"),
            Refusal::TooManyEntities { kind } => write!(f, "too many {kind}"),
            Refusal::UnknownHost { host } => write!(f, "unknown host {host}"),
            Refusal::HostAlreadyDown { host } => write!(f, "{host} is already down"),
            Refusal::HostAlreadyUp { host } => write!(f, "{host} is already up"),
            Refusal::NoDownloadInProgress { image } => {
                write!(f, "no download of {image} is in progress")
            }
            Refusal::NoCopyInProgress { image, host } => {
                write!(f, "no copy of {image} to {host} is in progress")
            }
        }
    }
}

impl std::error::Error for Refusal {}
