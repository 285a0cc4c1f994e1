//! The Floe coordinator: drives checkpoint epochs and is the single Iceberg committer.

// `iceberg::Error` is large; these results are per checkpoint, never per event.
#![allow(clippy::result_large_err)]

pub mod catalog;
pub mod committer;
pub mod iceberg_table;
pub mod job;
pub mod metrics;
pub mod output;
