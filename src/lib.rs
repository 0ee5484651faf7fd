#![doc = include_str!("../README.md")]
//!
//! ## This crate
//!
//! `coldstart` is the facade: it re-exports the whole of `coldstart-core`
//! (the state machine) and adds what lives outside the pure core — the
//! seeded [`workload`] generator, the [`driver`] that feeds inputs and
//! digests events, the default [`simulate`] scenario and its [`summary`],
//! and seeded host crashes ([`faults`]).

pub use coldstart_core::*;

pub mod azure2019;
pub mod codec;
pub mod compare;
pub mod digest;
pub mod driver;
pub mod faults;
#[cfg(feature = "harness")]
pub mod fuzzing;
pub mod grid;
#[cfg(feature = "harness")]
pub mod harness;
pub mod jobs;
pub mod log;
pub mod policy_names;
pub mod report;
pub mod scenario;
pub mod simulate;
pub mod summary;
pub mod svg;
pub mod trace;
pub mod units;
pub mod workload;
