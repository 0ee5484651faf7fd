#![doc = include_str!("../README.md")]
//!
//! ## This crate
//!
//! `coldstart` is the library around the pure state machine: it re-exports
//! the whole of `coldstart-core` and adds what lives outside it, one folder
//! per concern —
//!
//! - [`driver`]: feeds inputs to a provider, digests the events, checks
//!   invariants, drains timers within a bound;
//! - [`log`]: command logs (binary and JSON Lines), recording and replay;
//! - [`scenario`]: scenario files, `--set` overrides, sizes and durations
//!   with units, built-in policies by name;
//! - [`workload`]: seeded synthetic workloads, the Azure Functions traces,
//!   faults;
//! - [`simulate`] and [`report`]: one run of a scenario and its report;
//! - [`files`]: bounded reading of the user's files (regular files only,
//!   size and line-length limits, values cut for messages);
//! - [`html`]: the self-contained HTML report of a run or a comparison;
//! - [`study`]: grids of runs over scenario keys and seeds, with confidence
//!   intervals;
//! - [`harness`] (feature `harness`, on by default): fuzzing your own
//!   policy, and the bodies of the project's fuzz targets.
//!
//! The command line is another crate, `coldstart-cli`; depending on this
//! one pulls none of it.

// Every public item is documented, and stays so: an undocumented one does
// not build.
#![deny(missing_docs)]

pub use coldstart_core::*;

pub mod driver;
pub mod files;
#[cfg(feature = "harness")]
pub mod harness;
pub mod html;
pub mod log;
pub mod report;
pub mod scenario;
pub mod simulate;
pub mod study;
pub mod workload;
