//! SQL over the lake's tables: what `floe query` and the gateway run, so a user sees and
//! queries their tables without a second engine.

mod error;
mod lake;
mod lake_catalog;
pub mod output;
pub mod time_travel;

pub use error::QueryError;
pub use lake::{Lake, QueryLimits, Written, LAKE_CATALOG};
pub use output::{sink, OutputFormat, ResultSink};
