//! Floe's Iceberg tables, and the one place that touches them.
//!
//! - Catalogs: SQLite/Postgres SQL and REST ([`catalog`]), with deadlines on every call.
//! - A table's shape: the Iceberg schema a [`floe_common::schema::TableSchema`] maps to
//!   ([`table_schema`]), each output's rows as Arrow ([`rows`]).
//! - Data files: Parquet written before a commit ([`TableLayout`]) and read back for rewrites.
//!   Workers write the files of row-per-record outputs themselves; the committer writes the merged
//!   aggregates.
//! - Commits: an append or an overwrite pinned to the table state it checked, with the job's
//!   checkpoint marker and epoch fence ([`table_commit`], [`overwrite_commit`], [`commit_marker`]).
//! - Maintenance: snapshot expiry, manifest merging, metadata file cleanup, health figures
//!   ([`maintenance`]).
//! - Loads (`floe ingest`): table creation ([`table_creation`]), a streamed file writer
//!   ([`TableFileWriter`]), and an append or overwrite tagged with the content's hash
//!   ([`load_commit`]).
//! - CDC: the merge-on-read plans of dimension and history tables ([`dimension_merge`],
//!   [`history_merge`], through a [`key_index`], with [`position_deletes`]), and their
//!   copy-on-write plans ([`dimension_rewrite`], [`history_rewrite`]).

// `iceberg::Error` is large; these results are per file or per commit, never per event.
#![allow(clippy::result_large_err)]

pub mod catalog;
mod catalog_call;
mod commit_base;
pub mod commit_marker;
mod data_files;
pub mod dimension_merge;
pub mod dimension_rewrite;
mod error;
pub mod file_io;
mod file_writer;
pub mod history_merge;
pub mod history_rewrite;
pub mod iceberg_table;
pub mod key_index;
mod layout;
pub mod load_commit;
pub mod maintenance;
mod manifest_cache;
pub mod overwrite_commit;
mod pinned_catalog;
pub mod position_deletes;
mod read_files;
mod rest_commit;
pub mod rows;
mod sql_commit;
pub mod table_commit;
pub mod table_creation;
pub mod table_schema;
// Fixtures for the table tests here and in the coordinator; compiled always, so that tests and
// the binary share one build of this crate.
#[doc(hidden)]
pub mod test_support;

pub use data_files::WRITE_TIMEOUT;
pub use error::DataFileError;
pub use file_writer::TableFileWriter;
pub use layout::TableLayout;
