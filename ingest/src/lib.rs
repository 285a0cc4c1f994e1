//! CSV files loaded into Iceberg tables (`floe ingest`, and the gateway's uploads).
//!
//! - [`sample`]: the dialect ([`dialect`]) and the column types ([`infer`], over the value
//!   forms of [`value_formats`]) come from a sample spread over the file.
//! - [`plan`]: the table's columns: names normalised ([`column_names`]), a new table's schema,
//!   or an existing table's columns plus the ones the file adds.
//! - [`read_rows`]: one streamed pass decodes rows ([`decode`]) into batches, and the rows that
//!   do not read into the [`rejects`] table, while hashing the content.
//! - [`load`]: creates or evolves the table, writes the files, and commits the rows in one
//!   snapshot tagged with the content's hash, so the same file is never loaded twice.

// `iceberg::Error` and the table errors are large; these results are per load or per option,
// never per row (a row's outcome is a small `decode::Reject`).
#![allow(clippy::result_large_err)]

pub mod column_names;
pub mod csv_type;
pub mod decode;
pub mod dialect;
mod error;
pub mod infer;
pub mod input;
pub mod load;
pub mod partition;
pub mod plan;
pub mod read_rows;
pub mod rejects;
pub mod sample;
mod spec_list;
pub mod value_formats;

pub use error::IngestError;
pub use load::{ingest, IngestOptions, IngestReport, LoadMode};
