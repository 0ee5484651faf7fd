//! Where a run's inputs come from, outside the pure core: seeded synthetic
//! workloads ([`Workload`] from a [`WorkloadSpec`]), the two Azure Functions trace
//! formats ([`trace`] for 2021, [`azure2019`] for the 2019 dataset), and
//! faults merged into either ([`faults`]), and synthetic days written in
//! the traces' layouts ([`generate`]); functions' cold-start costs drawn by
//! memory size from measured platforms ([`ColdStartModel`]).

pub mod azure2019;
pub mod faults;
pub mod generate;
mod start_costs;
mod synthetic;
pub mod trace;

pub use start_costs::{ColdStartModel, StartCosts};
pub use synthetic::*;
