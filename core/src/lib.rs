//! # coldstart-core
//!
//! A deterministic, pure model of a Function-as-a-Service provider:
//! `step(provider, input) -> (provider, events)`. No I/O, no clock, no
//! threads, no randomness; virtual time in µs and money in picodollars, both
//! integers. The same inputs give the same events, byte for byte, on every
//! machine.
//!
//! A [`Provider`] downloads function images into a main storage disk (an
//! LRU cache), picks a compute host, copies the image to the host's disk
//! (another LRU cache, where running containers always win), starts a
//! container cold or warm, runs the invocation's fake [`Code`], and ends it
//! with an output, a failure or a timeout, billed by its [`Policies`]. Under
//! RAM pressure it rejects or queues ([`Pressure`]). Every input is
//! validated first and refused atomically with a [`Refusal`]; every policy
//! decision is validated too, so no policy can break an invariant
//! ([`Provider::check_invariants`]).
//!
//! ```
//! use coldstart_core::{
//!     Builtin, Code, Command, Config, EndOutcome, FunctionDef, Input, Provider, MIB,
//! };
//!
//! let mut provider = Provider::new(Config::default(), Builtin::default())?;
//! let at = |at_us, command| Input { at_us, command };
//! let image = provider
//!     .apply(&at(0, Command::RegisterImage { size_bytes: 100 * MIB }))?
//!     .image()
//!     .unwrap();
//! let function = provider
//!     .apply(&at(0, Command::RegisterFunction(FunctionDef::new(image, 256 * MIB, 1_000_000))))?
//!     .function()
//!     .unwrap();
//! let code = Code::success(30_000, 7); // runs 30 ms, outputs 7
//! let invocation = provider
//!     .apply(&at(0, Command::Invoke { function, code, ingress_bytes: 0, egress_bytes: 0 }))?
//!     .invocation()
//!     .unwrap();
//!
//! // A client's wait moves virtual time until the invocation has ended.
//! let mut events = Vec::new();
//! let finished = provider.wait_for(invocation, None, &mut events)?;
//! assert!(matches!(finished.ending.outcome, EndOutcome::Completed { output: 7, .. }));
//! assert_eq!(provider.get_output(invocation)?, 7);
//! assert_eq!(provider.metrics().cold_starts, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The semantics are specified rule by rule in `docs/spec.md`, and the
//! crate's map and invariants in `docs/architecture.md`, both in the
//! source repository. The `coldstart` crate adds drivers, command logs,
//! workloads, reports and a policy harness around this one.
//!
//! ## Where things are
//!
//! - **Driving**: [`Provider::new`] checks a [`Config`] and takes the
//!   [`Policies`]; [`Provider::apply`] (or [`step`]) takes an [`Input`] — a
//!   [`Command`] at a virtual time — and returns an [`Applied`] (the events,
//!   the timers' apart from the command's own, the id it created) or a
//!   [`Refused`] (a [`Refusal`] and the events of the timers that fired
//!   first). [`Provider::next_timer_us`] says when something happens next.
//! - **What happened**: [`Event`] and [`EventKind`], the catalogue of spec
//!   §20; [`Metrics`], the counters, gauges and time integrals of spec §22,
//!   each one a function of the events.
//! - **Asking**: the client of spec §23 — [`Provider::get_state`]
//!   ([`InvocationState`]), [`Provider::get_output`], and the waits
//!   [`Provider::wait_for`], [`wait_for_all`](Provider::wait_for_all),
//!   [`wait_for_any`](Provider::wait_for_any), which move virtual time
//!   until invocations end ([`Finished`]) or say why they cannot
//!   ([`WaitError`]).
//! - **Deciding**: [`Policies`], the trait a policy implements (host
//!   selection over a [`HostView`], keep-alive and pre-warm plans,
//!   eviction priorities, image collection, billing from a [`Usage`]);
//!   [`Builtin`], the built-in policies chosen by configuration;
//!   [`LambdaPrices`], the default bill.
//! - **Checking**: [`Provider::check_invariants`] recomputes every derived
//!   number and returns the first [`Violation`].
//! - **Bounds and ids**: [`limits`] bounds every input quantity; the ids
//!   ([`ImageId`], [`FunctionId`], [`InvocationId`], [`ContainerId`],
//!   [`HostId`]) print as `img#0.0`, `host#2`, … (spec §3).
//!
//! ## Units
//!
//! Time and durations are `u64` µs of virtual time; sizes `u64` bytes;
//! bandwidths bytes per second; money `u64` picodollars (10^-12 USD) per
//! invocation and `u128` in [`Metrics::cost_picodollars`] (spec R5).
//!
//! ## Stability
//!
//! Enums that will grow are `#[non_exhaustive]` — [`EventKind`] and the
//! reasons events carry, [`Refusal`], [`ClientError`], [`WaitError`],
//! [`ConfigError`], [`Bandwidth`], [`Cpu`] — so a `match` on them needs a `_` arm. The enums a
//! system checked against coldstart must *implement* stay exhaustive on
//! purpose: [`Command`], [`Outcome`] and [`Phase`] (what an input asks),
//! [`Pressure`] and the built-in policy choices
//! ([`HostSelection`], [`WarmChoice`], [`KeepAlivePolicy`],
//! [`ImageEviction`]). A new variant should break the build of the other
//! side (the reference model, an oracle's adapter) rather than fall into a
//! catch-all arm that silently does something else. For the same reason
//! [`Input`] and [`Code`] are plain structs, written out in full.
//! Configuration structs that will grow are
//! `#[non_exhaustive]` — [`Config`], [`HostSpec`], [`MainStorageSpec`],
//! [`Retry`], [`LambdaPrices`], [`Builtin`], [`Usage`] and [`FunctionDef`] — and are built with constructors (`new`,
//! `Default`) and `with_*` methods, one for every field, so that a field
//! added later takes its default in code written against this version. A [`Provider`]'s serialized form (a snapshot) is for
//! the same version of this crate; command logs, the stable format, are
//! versioned by the `coldstart` crate.

// Every public item is documented, and stays so: an undocumented one does
// not build.
#![deny(missing_docs)]

mod applied;
mod arena;
mod autoscale;
pub mod billing;
pub mod client;
pub mod config;
mod cpu;
pub mod event;
mod faults;
mod hosts;
pub mod ids;
pub mod input;
pub mod invariants;
pub mod limits;
mod links;
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
pub use billing::{Billing, CloudRunPrices, ContainerUsage, LambdaPrices, Usage};
pub use client::{ClientError, Finished, InvocationState, WaitError};
pub use config::{
    Bandwidth, Config, ConfigError, Cpu, HostSpec, MainStorageSpec, Pressure, Retry, GIB, MIB,
};
pub use event::{
    DecisionError, Event, EventKind, Events, ImageSource, PlatformError, PrewarmSkip, RejectReason,
    RemovalCause, Tier,
};
pub use ids::{ContainerId, FunctionId, HostId, ImageId, InvocationId};
pub use input::{Code, Command, FunctionDef, Input, Outcome, Phase};
pub use invariants::Violation;
pub use metrics::Metrics;
pub use policy::{
    default_join_priority, Autoscaler, Builtin, ContainerFacts, DiskFacts, Eviction, HostFacts,
    HostSelection, HostView, HybridHistogram, IdlePlan, ImageEviction, ImageFacts, JoinFacts,
    KeepAlivePolicy, Kpa, PlacementRequest, Policies, PolicyState, ScaleDecision, ScaleFacts,
    WarmChoice,
};
pub use refusal::Refusal;
pub use state::{EndOutcome, Ending};
pub use step::{step, Provider};
