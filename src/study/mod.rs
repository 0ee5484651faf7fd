//! Studies over many runs: a [`grid`] of scenario keys and seeds, and
//! [`compare`], which runs every combination and summarizes each report
//! metric as a mean with its 95% confidence interval.

pub mod compare;
pub mod grid;
