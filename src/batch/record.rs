//! The records of a batch, defined in [`crate::results`] (re-exported here).

pub use crate::results::{
    BatchMeta, RunParams, RunRecord, RunStatus, RunSummary, TrajectoryColumns,
};
