//! Keeping a table healthy as it ages, beside the stream or from `floe maintain`:
//! - [`expire`]: snapshots past the policy leave the metadata, with the files only they
//!   referenced;
//! - [`compaction`]: a partition's small data files become files of the target size;
//! - [`delete_compaction`]: a merge-on-read table's position deletes are folded into its files;
//! - [`manifest_merge`]: the current snapshot's small manifests become one per spec;
//! - [`metadata_files`]: metadata files a commit drops from the log are deleted;
//! - [`orphans`]: old files nothing references are deleted;
//! - [`TableHealth`]: the figures that show whether this keeps up.
//!
//! Every change is a commit pinned to the state it was planned on: a concurrent writer makes
//! it conflict and it is planned again at the next run, never forced.

mod compaction;
mod delete_compaction;
mod delete_compaction_commit;
mod expire;
mod manifest_merge;
pub(crate) mod metadata_files;
mod orphans;
pub(crate) mod reachable;
mod row_moves;

pub use compaction::{plan_bins, Candidate, Compaction, MAINTENANCE_PROPERTY};
pub use delete_compaction::{
    plan_delete_compaction, DataFileFacts, DeletePlan, PreparedDeleteCompaction,
};
pub use delete_compaction_commit::DeleteCompactionCommitted;
pub use expire::Expiry;
pub use manifest_merge::ManifestMerge;
pub use orphans::Orphans;
pub use row_moves::RowMoves;

use std::collections::HashSet;

use floe_common::maintenance::MaintenancePolicy;
use futures::StreamExt;
use iceberg::io::FileIO;
use iceberg::spec::ManifestContentType;
use iceberg::table::Table;
use iceberg::transaction::Transaction;
use iceberg::ErrorKind;

use crate::catalog_call::with_deadline;
use crate::iceberg_table::{IcebergTable, TableError};
use crate::overwrite_commit::{CommitStaged, SnapshotCommits, StagedSnapshot};
use crate::pinned_catalog::PinnedCatalog;

/// What one maintenance run of a table did, or in a dry run would do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaintenanceReport {
    pub compaction: Compaction,
    pub merge: ManifestMerge,
    pub expiry: Expiry,
}

/// How a table stands: what its readers and its next commit have to read.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TableHealth {
    pub snapshots: usize,
    pub data_files: u64,
    pub delete_files: u64,
    pub records: u64,
    pub data_bytes: u64,
    /// Data manifests of the current snapshot.
    pub data_manifests: usize,
    /// Size of the current `metadata.json`.
    pub metadata_file_bytes: u64,
    /// Previous metadata files the log still names.
    pub metadata_log_entries: usize,
}

impl IcebergTable {
    /// One maintenance run, all in line: compacts small files and merges manifests (when
    /// `via` can commit them), then expires snapshots at `now_ms`, never deleting a file
    /// `protected` names.
    pub async fn maintain(
        &self,
        policy: &MaintenancePolicy,
        via: Option<&SnapshotCommits>,
        protected: &HashSet<String>,
        now_ms: i64,
        dry_run: bool,
    ) -> Result<MaintenanceReport, TableError> {
        let (compaction, merge) = match via {
            Some(via) => (
                self.compact(policy, via, dry_run).await?,
                self.merge_manifests(policy.max_manifests, via, dry_run)
                    .await?,
            ),
            None => Default::default(),
        };
        let expiry = self
            .expire_snapshots(policy, protected, now_ms, dry_run)
            .await?;
        Ok(MaintenanceReport {
            compaction,
            merge,
            expiry,
        })
    }

    /// The table's health figures, from its current metadata.
    pub async fn health(&self) -> Result<TableHealth, TableError> {
        let table = self.reload().await?;
        let md = table.metadata();
        let fail = |e| self.maintenance_failed("reading the table's health", e);
        let total = |key: &str| {
            md.current_snapshot()
                .and_then(|s| s.summary().additional_properties.get(key))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let data_manifests = match md.current_snapshot() {
            Some(current) => table
                .manifest_list_reader(current)
                .load()
                .await
                .map_err(fail)?
                .entries()
                .iter()
                .filter(|m| m.content == ManifestContentType::Data)
                .count(),
            None => 0,
        };
        let metadata_file_bytes = match table.metadata_location() {
            Some(location) => {
                table
                    .file_io()
                    .new_input(location)
                    .map_err(fail)?
                    .metadata()
                    .await
                    .map_err(fail)?
                    .size
            }
            None => 0,
        };
        Ok(TableHealth {
            snapshots: md.snapshots().count(),
            data_files: total("total-data-files"),
            delete_files: total("total-delete-files"),
            records: total("total-records"),
            data_bytes: total("total-files-size"),
            data_manifests,
            metadata_file_bytes,
            metadata_log_entries: md.metadata_log().len(),
        })
    }

    pub(crate) fn maintenance_failed(&self, what: &str, source: iceberg::Error) -> TableError {
        if source.kind() == ErrorKind::CatalogCommitConflicts {
            TableError::CommitConflict {
                table: self.ident.to_string(),
                what: what.to_owned(),
                source,
            }
        } else {
            TableError::Maintenance {
                table: self.ident.to_string(),
                what: what.to_owned(),
                source,
            }
        }
    }

    /// Commits `tx`, planned on `base`, only if the table is still at `base`. The caller holds
    /// the table's commit turn; a failure makes the next commit reload.
    async fn commit_transaction_pinned(
        &self,
        what: &str,
        base: &Table,
        tx: Transaction,
    ) -> Result<(), TableError> {
        let pinned = PinnedCatalog {
            inner: self.catalog.clone(),
            base: base.clone(),
        };
        let after = with_deadline(what, tx.commit(&pinned)).await.map_err(|e| {
            self.forget_base();
            self.maintenance_failed(what, e)
        })?;
        self.committed(base, &after).await;
        Ok(())
    }

    /// Commits `staged`, planned on `base`, through `via`, only if the table is still at `base`
    /// (as [`Self::commit_transaction_pinned`]).
    pub(crate) async fn commit_staged_pinned(
        &self,
        what: &str,
        base: &Table,
        via: &dyn CommitStaged,
        staged: StagedSnapshot,
    ) -> Result<(), TableError> {
        let snapshot_id = staged.snapshot_id();
        let attempt = async {
            via.commit(base, staged).await?;
            self.catalog.load_table(&self.ident).await
        };
        let error = match with_deadline(what, attempt).await {
            Ok(after) => {
                self.committed(base, &after).await;
                return Ok(());
            }
            Err(e) => e,
        };
        self.forget_base();
        if error.kind() == ErrorKind::CatalogCommitConflicts {
            return Err(self.maintenance_failed(what, error));
        }
        // The answer may be lost after the commit landed: the table says.
        let now = with_deadline(what, self.catalog.load_table(&self.ident)).await;
        match (snapshot_id, now) {
            (Some(id), Ok(now)) if now.metadata().snapshot_by_id(id).is_some() => {
                tracing::warn!(table = %self.ident, what, snapshot_id = id, %error, "a maintenance commit reported an error but is in the table");
                self.committed(base, &now).await;
                Ok(())
            }
            _ => Err(TableError::MaintenanceOutcomeUnknown {
                table: self.ident.to_string(),
                what: what.to_owned(),
                source: error,
            }),
        }
    }

    /// Deletes `files`; a file that cannot be deleted is left for orphan cleanup.
    pub(crate) async fn delete_files(&self, what: &str, io: &FileIO, files: Vec<String>) {
        if files.is_empty() {
            return;
        }
        let count = files.len();
        let deleted = io.delete_stream(futures::stream::iter(files).boxed()).await;
        match deleted {
            Ok(()) => {
                tracing::debug!(table = %self.ident, what, files = count, "deleted unreferenced files")
            }
            Err(e) => {
                tracing::warn!(table = %self.ident, what, error = %e, "could not delete unreferenced files; they stay until orphan cleanup")
            }
        }
    }
}

#[cfg(test)]
mod lost_answer_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod turn_tests;
