//! Batches: the TOML config and its sweep ([`config`]), the parallel, sharded, resumable
//! runner ([`runner`]) with its crash-safe run log ([`log`]) and the merging of shard files
//! ([`merge`]). A run of a batch is a pure function of (config, index).

pub mod config;
pub mod log;
pub mod merge;
pub mod runner;
