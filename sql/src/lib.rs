//! Jobs written in streaming SQL, in the dialect Flink users know: a source declared with
//! `CREATE TABLE … WITH ('connector' = …)`, its event time and watermark declared beside its
//! columns, and `INSERT INTO sink SELECT … FROM TABLE(TUMBLE | HOP | CUMULATE | SESSION(…))
//! GROUP BY …`, or `INSERT INTO sink SELECT <columns> FROM src WHERE …` appending every record
//! kept.
//!
//! A script is lowered to the same [`JobConfig`]s a TOML file declares, so a job written either
//! way is validated, fingerprinted and run by one path. What the engine cannot run yet is
//! refused with an error naming it, never approximated.

mod aggregate_call;
mod append_select;
mod dedup_select;
mod error;
mod expr;
mod insert;
mod scalar;
mod script;
mod source;
mod sql_type;
mod table_decl;
mod window_tvf;

pub use error::SqlError;
pub use script::jobs_from_sql;

#[cfg(test)]
mod expression_tests;
#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod source_tests;
#[cfg(test)]
mod tests;
