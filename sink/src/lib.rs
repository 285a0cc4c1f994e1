//! Floe's output tables as files: each output's rows as Arrow ([`rows`]), the Iceberg schema a
//! [`floe_common::schema::TableSchema`] maps to ([`table_schema`]), and the Parquet data files
//! written for a table before the committer commits them ([`TableLayout`]). Workers write the
//! files of row-per-record outputs themselves; the committer writes the merged aggregates.

// `iceberg::Error` is large; these results are per file, never per event.
#![allow(clippy::result_large_err)]

mod data_files;
mod error;
pub mod file_io;
mod layout;
mod read_files;
pub mod rows;
pub mod table_schema;

pub use data_files::WRITE_TIMEOUT;
pub use error::SinkError;
pub use layout::TableLayout;
