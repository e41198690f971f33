//! Batch runs: records, the parallel runner, merging.

pub mod merge;
pub mod record;
pub mod runner;
