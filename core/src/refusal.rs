//! Why an input was refused (spec R47). A refused input changes nothing but
//! the advance to its time (spec R30).

use crate::ids::{FunctionId, HostId, ImageId, InvocationId};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Why an input was refused, with the values that broke the rule (spec
/// R37–R47, R140). Returned inside [`Refused`](crate::Refused) by
/// [`Provider::apply`](crate::Provider::apply), and by
/// [`Provider::validate`](crate::Provider::validate).
///
/// The time checks come first and, when they refuse, change nothing at
/// all; every other refusal is judged after the timers due by the input's
/// time have fired, and leaves the provider as an `Advance` to that time
/// would (spec R29, R30). Its `Display` is a sentence that says what was
/// wrong and what to change. The enum is `#[non_exhaustive]`: new inputs
/// bring new reasons. Its text fields are `Cow<'static, str>`: the core
/// fills them with static names, and a refusal deserialized from any
/// buffer (a log, a finding, a message) owns its text, so `Refusal` is
/// `DeserializeOwned`.
///
/// ```
/// use coldstart_core::{Builtin, Command, Config, Input, Provider, Refusal};
///
/// let mut provider = Provider::new(Config::default(), Builtin::default())?;
/// let empty = Input { at_us: 0, command: Command::RegisterImage { size_bytes: 0 } };
/// let refused = provider.apply(&empty).unwrap_err();
/// assert_eq!(refused.refusal(), &Refusal::Zero { field: "size_bytes".into() });
/// assert_eq!(refused.refusal().to_string(), "size_bytes must be greater than zero");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Refusal {
    /// The input's time is before the provider's current time (spec R37).
    TimeWentBackwards {
        /// The input's time (µs).
        at_us: u64,
        /// The provider's current time (µs): the earliest an input may carry.
        now_us: u64,
    },
    /// The input's time is beyond `limits::TIME_MAX_US` (spec R37). After a
    /// client's wait has moved time past it, every input is refused (spec
    /// R128).
    TimeTooLate {
        /// The input's time (µs).
        at_us: u64,
        /// The latest time an input may carry (µs).
        max_us: u64,
    },
    /// The input names an image that was never registered.
    UnknownImage {
        /// The id given.
        image: ImageId,
    },
    /// The input names a function that was never registered.
    UnknownFunction {
        /// The id given.
        function: FunctionId,
    },
    /// `Reap` of an invocation that never existed or was already reaped
    /// (by input or by retention, spec R45, R46).
    UnknownInvocation {
        /// The id given.
        invocation: InvocationId,
    },
    /// `Reap` of an invocation that has not ended.
    NotTerminal {
        /// The invocation, still queued, in flight or retrying.
        invocation: InvocationId,
    },
    /// A size or duration that must be positive is zero.
    Zero {
        /// The field's name in the command, e.g. `"size_bytes"`.
        field: Cow<'static, str>,
    },
    /// A size or duration above its limit (see `limits`).
    TooLarge {
        /// The field's name in the command, e.g. `"code.run_us"`.
        field: Cow<'static, str>,
        /// The value given.
        value: u64,
        /// The largest value allowed.
        max: u64,
    },
    /// The image is larger than main storage or than every host's disk
    /// (spec R38): no cold start could ever place it.
    ImageNeverFits {
        /// The image's size (bytes).
        size_bytes: u64,
        /// Which disk is too small.
        why: Cow<'static, str>,
    },
    /// No host could ever hold a container of this function (RAM, a slot,
    /// and disk for the image plus scratch, all on one host; spec R40).
    FunctionNeverFits {
        /// Which resource no host has enough of.
        why: Cow<'static, str>,
    },
    /// An arena holds 2^32 − 1 entities already (spec R10).
    TooManyEntities {
        /// `"images"`, `"functions"` or `"invocations"`.
        kind: Cow<'static, str>,
    },
    /// A fault names a host the configuration does not have (spec R140).
    UnknownHost {
        /// The host given.
        host: HostId,
    },
    /// `HostDown` of a host that is down.
    HostAlreadyDown {
        /// The host given.
        host: HostId,
    },
    /// `HostUp` of a host that is up.
    HostAlreadyUp {
        /// The host given.
        host: HostId,
    },
    /// `DownloadFails` of an image with no download in progress at the
    /// input's time (none started, it finished, it waits for room, or it
    /// waits for its next attempt).
    NoDownloadInProgress {
        /// The image given.
        image: ImageId,
    },
    /// `CopyFails` of an image with no copy to that host in progress at the
    /// input's time.
    NoCopyInProgress {
        /// The image given.
        image: ImageId,
        /// The host given.
        host: HostId,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::TimeWentBackwards { at_us, now_us } => write!(
                f,
                "input at {at_us} µs is earlier than the current time {now_us} µs: \
                 give inputs in time order"
            ),
            Refusal::TimeTooLate { at_us, max_us } => write!(
                f,
                "input at {at_us} µs is beyond the latest time {max_us} µs an input may carry"
            ),
            Refusal::UnknownImage { image } => write!(
                f,
                "unknown image {image}: use an id an ImageRegistered event returned"
            ),
            Refusal::UnknownFunction { function } => write!(
                f,
                "unknown function {function}: use an id a FunctionRegistered event returned"
            ),
            Refusal::UnknownInvocation { invocation } => {
                write!(f, "unknown (or reaped) invocation {invocation}")
            }
            Refusal::NotTerminal { invocation } => write!(
                f,
                "invocation {invocation} has not ended and cannot be reaped: wait for it to end first"
            ),
            Refusal::Zero { field } => write!(f, "{field} must be greater than zero"),
            Refusal::TooLarge { field, value, max } => {
                write!(f, "{field} = {value} is above its limit of {max}")
            }
            Refusal::ImageNeverFits { size_bytes, why } => {
                write!(f, "an image of {size_bytes} bytes can never fit: {why}")
            }
            Refusal::FunctionNeverFits { why } => write!(f, "the function can never fit: {why}"),
            Refusal::TooManyEntities { kind } => {
                write!(f, "too many {kind}: at most 2^32 - 1 can exist at once")?;
                if *kind == "invocations" {
                    write!(f, "; reap ended ones to free their ids")?;
                }
                Ok(())
            }
            Refusal::UnknownHost { host } => write!(
                f,
                "unknown host {host}: hosts are numbered from host#0 in the configuration's order"
            ),
            Refusal::HostAlreadyDown { host } => write!(f, "{host} is already down"),
            Refusal::HostAlreadyUp { host } => write!(f, "{host} is already up"),
            Refusal::NoDownloadInProgress { image } => write!(
                f,
                "no download of {image} is in progress at this time \
                 (it has not started, has finished, or waits for room or a retry)"
            ),
            Refusal::NoCopyInProgress { image, host } => write!(
                f,
                "no copy of {image} to {host} is in progress at this time \
                 (it has not started, has finished, or waits for a download or a retry)"
            ),
        }
    }
}

impl std::error::Error for Refusal {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, EventKind};
    use crate::Refused;

    /// Every refusal that carries text, and one that does not.
    fn with_text() -> Vec<Refusal> {
        vec![
            Refusal::Zero {
                field: "size_bytes".into(),
            },
            Refusal::TooLarge {
                field: "code.run_us".into(),
                value: 7,
                max: 6,
            },
            Refusal::ImageNeverFits {
                size_bytes: 9,
                why: "larger than main storage".into(),
            },
            Refusal::FunctionNeverFits {
                why: Cow::Owned(String::from("no host has enough RAM")),
            },
            Refusal::TooManyEntities {
                kind: "invocations".into(),
            },
            Refusal::HostAlreadyDown { host: HostId(3) },
        ]
    }

    fn owned<T: serde::de::DeserializeOwned>(text: &str) -> T {
        serde_json::from_str(text).expect("parses")
    }

    #[test]
    fn refusals_round_trip_through_a_buffer_that_does_not_outlive_them() {
        for refusal in with_text() {
            // A buffer dropped before the value is compared: a field that
            // borrowed from it (`&'static str` did not even compile here)
            // could not outlive it.
            let back: Refusal = {
                let text = serde_json::to_string(&refusal).expect("serializes");
                owned(&text)
            };
            assert_eq!(back, refusal);
            assert_eq!(back.to_string(), refusal.to_string());
        }
        let back: Refusal = owned(r#"{"Zero":{"field":"memory_bytes"}}"#);
        assert_eq!(
            back,
            Refusal::Zero {
                field: "memory_bytes".into()
            }
        );
    }

    #[test]
    fn refused_round_trips_with_its_events() {
        let events = vec![Event {
            at_us: 5,
            kind: EventKind::HostDown { host: HostId(0) },
        }];
        for refusal in with_text() {
            let refused = Refused::new(refusal, events.clone());
            let back: Refused = {
                let text = serde_json::to_string(&refused).expect("serializes");
                owned(&text)
            };
            assert_eq!(back, refused);
            assert_eq!(back.events(), &events[..]);
            assert_eq!(back.to_string(), refused.to_string());
        }
    }
}
