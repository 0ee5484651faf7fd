//! The HTML report of a run (`simulate --html`, `replay --html`) and of a
//! comparison (`compare --html`): one self-contained file, its charts
//! inline SVG written here, a small inline script for hover read-outs and
//! table sorting, and nothing fetched from the network.
//!
//! The run's series are rebuilt from its events by a [`Collector`] in the
//! driver's loop, never in core, into a fixed number of intervals
//! ([`buckets::BUCKETS`]) whatever the run's length, so a report of 10^8
//! invocations has the size of one of 10^5.

pub mod buckets;
mod collector;
pub mod compare;
mod page;
pub mod render;

pub use collector::{
    Collector, FunctionStats, HostRowStats, Outcome, Series, FUNCTION_SUB_BITS, HOST_ROWS_MAX,
    RUN_SUB_BITS,
};
/// Shared with the command line's `compare --svg`.
pub use page::{escape, nice_ceiling};
pub use render::{render_run, RunInfo};

#[cfg(test)]
mod tests;
