//! The Floe coordinator: drives checkpoint epochs and is the single Iceberg committer.

pub mod catalog;
pub mod committer;
pub mod iceberg_table;
pub mod job;
pub mod output;
