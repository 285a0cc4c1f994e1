//! The Floe coordinator: drives checkpoint epochs and is the single Iceberg committer.

// `iceberg::Error` is large; these results are per checkpoint, never per event.
#![allow(clippy::result_large_err)]

pub mod ack_check;
pub mod assignment;
pub mod checkpoint_cleaner;
pub mod checkpoint_trigger;
pub mod committer;
mod committer_recovery;
mod committer_rewrites;
pub mod committer_seam;
pub mod controller;
mod deferred_commits;
pub mod job;
pub mod metrics;
pub mod quarantine;
pub mod source_ends;
pub mod table_maintenance;
mod table_metrics;
pub mod topic_listing;
