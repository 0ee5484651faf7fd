//! # coldstart-model
//!
//! The executable specification of coldstart (`reference`), written from
//! `docs/spec.md` for clarity rather than speed, and the tools that check
//! `coldstart-core` against it: the op language and its generators (`ops`),
//! shared by property tests, the exhaustive check and the fuzz targets, and
//! the `Machine` trait both implementations answer to.

// Every public item is documented, and stays so: an undocumented one does
// not build.
#![deny(missing_docs)]

pub mod machine;
pub mod ops;
pub mod reference;
#[cfg(feature = "state-machine")]
pub mod state_machine;

pub use machine::Machine;
pub use ops::{Case, Op, Resolver, Shape};
pub use reference::Model;
pub mod diff;

pub use diff::{run_differential, Divergence, Trace};
