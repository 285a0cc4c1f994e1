//! The Floe coordinator: drives checkpoint epochs and is the single Iceberg committer.

// `iceberg::Error` is large; these results are per checkpoint, never per event.
#![allow(clippy::result_large_err)]

pub mod assignment;
pub mod catalog;
mod catalog_call;
pub mod checkpoint_trigger;
pub mod commit_marker;
pub mod committer;
mod committer_rewrites;
pub mod controller;
pub mod dimension_rewrite;
pub mod history_rewrite;
pub mod iceberg_table;
pub mod job;
pub mod metrics;
pub mod overwrite_commit;
mod pinned_catalog;
mod rest_commit;
pub mod source_ends;
mod sql_commit;
pub mod table_commit;
#[cfg(test)]
mod test_support;
pub mod topic_listing;
