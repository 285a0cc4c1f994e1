//! A one-off load's commit (`floe ingest`): the loaded files appended, or put in place of
//! every row, in one snapshot whose summary names the loaded content's hash. The hash makes a
//! load exactly once: content the table's current rows already came from is not loaded again.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use iceberg::spec::{DataFile, Operation, SnapshotRef, TableMetadata};
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::Catalog;

use crate::commit_marker::ancestry;
use crate::iceberg_table::TableError;
use crate::maintenance::reachable::{files_of, manifests_of};
use crate::overwrite_commit::{stage_overwrite, Overwrite, SnapshotCommits};

/// Snapshot summary property: the SHA-256 (hex) of the content a load committed.
pub const LOADED_CONTENT_PROPERTY: &str = "floe.load.content-sha256";

/// How a load changes the table's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadCommit {
    /// The loaded rows join the table's rows.
    Append,
    /// The loaded rows replace every row of the table.
    Overwrite,
}

/// The snapshot that already did what loading content `sha256` as `how` would do, if one did:
/// - for an append, a snapshot of the current ancestry back to (and including) its last
///   overwrite that loaded the content: the rows are among the table's rows;
/// - for an overwrite, the last snapshot that changed rows (compactions aside) loaded the
///   content in place of every row (an overwrite, or the table's first snapshot): the rows
///   are the table's rows.
pub fn already_loaded(metadata: &TableMetadata, sha256: &str, how: LoadCommit) -> Option<i64> {
    let loaded = |snapshot: &SnapshotRef| {
        snapshot
            .summary()
            .additional_properties
            .get(LOADED_CONTENT_PROPERTY)
            .is_some_and(|h| h == sha256)
    };
    for snapshot in ancestry(metadata) {
        let operation = &snapshot.summary().operation;
        match how {
            LoadCommit::Append => {
                if loaded(snapshot) {
                    return Some(snapshot.snapshot_id());
                }
                if *operation == Operation::Overwrite {
                    return None;
                }
            }
            LoadCommit::Overwrite => {
                if *operation == Operation::Replace {
                    continue;
                }
                let replaced_all =
                    *operation == Operation::Overwrite || snapshot.parent_snapshot_id().is_none();
                return (loaded(snapshot) && replaced_all).then_some(snapshot.snapshot_id());
            }
        }
    }
    None
}

/// Commits `files` to `table` as `how` says, with `summary` in the snapshot (which should
/// name [`LOADED_CONTENT_PROPERTY`]); returns the new snapshot's id. An overwrite goes through
/// `commits` (iceberg's transactions only append) and fails with a conflict if the table
/// changed since `table` was loaded.
pub async fn commit_load(
    catalog: &Arc<dyn Catalog>,
    commits: &SnapshotCommits,
    table: &Table,
    how: LoadCommit,
    files: Vec<DataFile>,
    summary: HashMap<String, String>,
) -> Result<i64, TableError> {
    let name = table.identifier().to_string();
    let failed = |source: iceberg::Error| TableError::CommitFailed {
        table: name.clone(),
        what: "a load".to_owned(),
        source,
    };
    match how {
        LoadCommit::Append => {
            let tx = Transaction::new(table);
            let committed = tx
                .fast_append()
                .with_check_duplicate(false)
                .add_data_files(files)
                .set_snapshot_properties(summary)
                .apply(tx)
                .map_err(failed)?
                .commit(catalog.as_ref())
                .await
                .map_err(failed)?;
            committed
                .metadata()
                .current_snapshot_id()
                .ok_or_else(|| TableError::InvalidArgument("the load committed no snapshot".into()))
        }
        LoadCommit::Overwrite => {
            let removed = match table.metadata().current_snapshot() {
                Some(current) => {
                    let manifests = manifests_of(table, std::slice::from_ref(current))
                        .await
                        .map_err(failed)?;
                    files_of(table, manifests.values(), true)
                        .await
                        .map_err(failed)?
                        .into_iter()
                        .collect()
                }
                None => BTreeSet::new(),
            };
            let change = Overwrite {
                removed,
                added: files,
                deletes_in: BTreeSet::new(),
            };
            let staged = stage_overwrite(table, &change, summary, Vec::new())
                .await
                .map_err(failed)?;
            let id = staged.snapshot_id();
            commits.commit(table, staged).await.map_err(failed)?;
            id.ok_or_else(|| TableError::InvalidArgument("the load staged no snapshot".into()))
        }
    }
}
