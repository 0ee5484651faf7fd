//! # coldstart-core
//!
//! A deterministic, pure model of a Function-as-a-Service provider:
//! `step(provider, input) -> (provider, events)`. No I/O, no clock, no
//! threads, no randomness; virtual time in µs and money in picodollars, both
//! integers. See `docs/spec.md` for the semantics and `docs/architecture.md`
//! for the map of this crate.

mod applied;
pub mod arena;
pub mod billing;
pub mod client;
pub mod config;
pub mod event;
mod faults;
mod hosts;
pub mod ids;
pub mod input;
pub mod invariants;
pub mod limits;
pub mod metrics;
mod ordered_set;
mod placement;
pub mod policies;
pub mod policy;
pub mod refusal;
mod state;
mod step;
mod storage;
mod timers;

pub use applied::{Applied, Created, InputTiming, Refused};
pub use billing::{LambdaPrices, Usage};
pub use client::{ClientError, Finished, InvocationState, WaitError};
pub use config::{Config, ConfigError, HostSpec, MainStorageSpec, Pressure, Retry, GIB, MIB};
pub use event::{
    DecisionError, Event, EventKind, Events, ImageSource, PlatformError, PrewarmSkip, RejectReason,
    RemovalCause, Tier,
};
pub use ids::{ContainerId, FunctionId, HostId, ImageId, InvocationId};
pub use input::{Code, Command, Input, Outcome, Phase};
pub use invariants::Violation;
pub use metrics::Metrics;
pub use policy::{
    Builtin, ContainerFacts, DiskFacts, Eviction, HostFacts, HostSelection, HostView,
    HybridHistogram, IdlePlan, ImageEviction, ImageFacts, KeepAlivePolicy, PlacementRequest,
    Policies, PolicyState, WarmChoice,
};
pub use refusal::Refusal;
pub use state::{EndOutcome, Ending};
pub use step::{step, Provider};
