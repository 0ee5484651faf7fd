//! coldstart: the facade. It re-exports the whole of `coldstart-core` (the
//! state machine) and adds what lives outside the pure core.

pub use coldstart_core::*;

pub mod driver;
pub mod simulate;
pub mod summary;
pub mod workload;
