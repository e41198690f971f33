//! Batch files on disk: [`hdf5`] writes the runs of a batch (parameters, status, summary and
//! optional trajectories, see [`crate::results`]) to one self-describing HDF5 file per
//! shard in an H5MD-like layout (`/summary` columns with a `unit` attribute on every numeric
//! dataset, one `/runs/run_NNNNNN` group per stored trajectory, provenance as root attributes)
//! and reads it back, summaries and trajectories separately so that a large batch never has
//! to be held in memory at once. Every failure is an [`IoError`] naming the file.

pub mod hdf5;

pub use self::hdf5::{
    read_meta, read_summary, read_trajectory, trajectory_count, write_batch,
    write_batch_then_wall_time, IoError, FORMAT_NAME, FORMAT_VERSION,
};
