//! One Iceberg output table: creation and validation; its data files are written through its
//! [`TableLayout`].
//! The checkpoint-tagged commit lives in `table_commit.rs`, the markers it writes in
//! `commit_marker.rs`.

use std::sync::Arc;

use crate::table_schema::{
    iceberg_schema, schema_problems, unbound_partition_spec, warn_on_partition_difference,
};
use crate::{DataFileError, TableLayout};
use floe_common::schema::TableSchema;
use iceberg::table::Table;
use iceberg::{Catalog, TableIdent};

use crate::catalog_call::read;
use crate::table_creation::{open_or_create_table, table_ident};

/// Why a table operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// `TableSchema.name` is not `namespace[.namespace...].table`.
    #[error("invalid table name `{0}`: expected `namespace.table` with non-empty parts")]
    InvalidName(String),
    /// The table exists with columns that differ from what Floe writes.
    #[error("table `{table}` exists with a different schema: {}", .problems.join("; "))]
    SchemaMismatch {
        table: String,
        problems: Vec<String>,
    },
    /// A catalog call failed.
    #[error("catalog operation `{op}` failed for `{table}`: {source}")]
    Catalog {
        op: &'static str,
        table: String,
        #[source]
        source: iceberg::Error,
    },
    /// A Floe marker of this job in the table is not an unsigned integer.
    #[error("`{table}` has an unparsable Floe marker in {place}: `{value}`")]
    BadMarker {
        table: String,
        place: String,
        value: String,
    },
    /// A newer process of the job has taken the table over: this one must stop.
    #[error(
        "`{table}` is owned by a newer process of job {job} (epoch {owner} > this process's {mine}); \
         this process was replaced and stops"
    )]
    Fenced {
        table: String,
        job: String,
        mine: u64,
        owner: u64,
    },
    /// The commit lost a race with another writer.
    #[error("commit of {what} to `{table}` conflicted with another writer: {source}")]
    CommitConflict {
        table: String,
        what: String,
        #[source]
        source: iceberg::Error,
    },
    /// The commit failed and a re-check showed it is not in the table: safe to retry.
    #[error("commit of {what} to `{table}` failed (verified not committed): {source}")]
    CommitFailed {
        table: String,
        what: String,
        #[source]
        source: iceberg::Error,
    },
    /// The commit failed and the table could not be reloaded to find out whether it landed.
    /// Retrying `commit` is still safe: it re-checks first.
    #[error(
        "commit of {what} to `{table}` failed ({commit_error}) and its outcome is unknown: reload failed: {source}"
    )]
    CommitStateUnknown {
        table: String,
        what: String,
        commit_error: iceberg::Error,
        #[source]
        source: iceberg::Error,
    },
    /// Turning rows into the table's data files failed.
    #[error(transparent)]
    Sink(#[from] DataFileError),
    /// A maintenance step (expiry, manifest merge, health) failed; the stream is unaffected.
    #[error("maintenance of `{table}` failed while {what}: {source}")]
    Maintenance {
        table: String,
        what: String,
        #[source]
        source: iceberg::Error,
    },
    /// A maintenance commit failed without an answer saying whether it landed (a lost answer,
    /// a 5xx after the catalog took it), and the table, read again, did not settle it. Its
    /// files must stay: orphan cleanup takes them if the commit never landed.
    #[error("maintenance of `{table}` failed while {what}, and whether the commit landed is unknown: {source}")]
    MaintenanceOutcomeUnknown {
        table: String,
        what: String,
        #[source]
        source: iceberg::Error,
    },
    /// A table that was to be created exists already.
    #[error("table `{0}` already exists")]
    AlreadyExists(String),
    /// A caller-supplied argument is unusable.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl TableError {
    /// Whether the files written for a failed maintenance commit may be deleted: it surely did
    /// not land.
    pub(crate) fn commit_surely_failed(&self) -> bool {
        !matches!(self, TableError::MaintenanceOutcomeUnknown { .. })
    }
}

/// What [`IcebergTable::commit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    /// A new snapshot now records this checkpoint (and its files).
    Committed { snapshot_id: i64 },
    /// The table already records checkpoint `last >= checkpoint_id` for this job; nothing done.
    AlreadyCommitted { last: u64 },
}

/// One Iceberg output table Floe appends to.
///
/// Exists so the coordinator (the single committer) and the writers share one definition of
/// "the table": its schema as Arrow, how files are laid out, and how checkpoints are recorded.
/// The table's schema, partition spec and location are captured when it is opened; reopen it
/// if the table is evolved by someone else.
#[derive(Debug, Clone)]
pub struct IcebergTable {
    pub(crate) catalog: Arc<dyn Catalog>,
    pub(crate) ident: TableIdent,
    /// The table as opened: how its data files are written.
    layout: TableLayout,
    /// The table as this process's last commit left it (`commit_base.rs`).
    pub(crate) last_committed: Arc<std::sync::Mutex<Option<Table>>>,
    /// This process's commits to the table, the stream's and maintenance's, take turns: each
    /// stages on the state the one before it left, so neither makes the other conflict.
    pub(crate) commit_turn: Arc<tokio::sync::Mutex<()>>,
}

impl IcebergTable {
    /// Creates the namespace (recursively) and the table if missing, or checks that an existing
    /// table has exactly the columns of `spec` (name, type, and that Floe's nullable columns are
    /// not required in the table).
    ///
    /// New tables are format v2, partitioned per `spec.partition`, with
    /// `write.parquet.compression-codec=zstd`, and keep their last few metadata files,
    /// deleting older ones after each commit (`table_creation.rs`). An existing table keeps
    /// its own properties.
    pub async fn open_or_create(
        catalog: Arc<dyn Catalog>,
        spec: &TableSchema,
    ) -> Result<Self, TableError> {
        let ident = table_ident(&spec.name)?;
        let (table, _) = open_or_create_table(
            catalog.as_ref(),
            &ident,
            iceberg_schema(spec)?,
            unbound_partition_spec(spec)?,
        )
        .await?;

        let problems = schema_problems(spec, table.metadata());
        if !problems.is_empty() {
            return Err(TableError::SchemaMismatch {
                table: spec.name.clone(),
                problems,
            });
        }
        warn_on_partition_difference(spec, table.metadata());

        Ok(Self {
            catalog,
            layout: TableLayout::of_table(spec.name.clone(), &table)?,
            ident,
            last_committed: Default::default(),
            commit_turn: Default::default(),
        })
    }

    /// Schema, partitioning, location and FileIO of the table as opened: what its data files
    /// are written with.
    pub fn layout(&self) -> &TableLayout {
        &self.layout
    }

    /// The catalog identifier of this table.
    pub fn ident(&self) -> &TableIdent {
        &self.ident
    }

    /// Loads the table's current state from the catalog (e.g. to scan it).
    pub async fn reload(&self) -> Result<Table, TableError> {
        read("load_table", || self.catalog.load_table(&self.ident))
            .await
            .map_err(|source| TableError::Catalog {
                op: "load_table",
                table: self.ident.to_string(),
                source,
            })
    }
}

#[cfg(test)]
#[path = "iceberg_table_tests.rs"]
mod tests;
