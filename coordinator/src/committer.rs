//! `IcebergCommitter`: the single writer of a job's tables.
//!
//! A checkpoint goes through three steps, each safe to crash in:
//! 1. **complete**: the workers' output becomes Parquet data files (uncommitted), and the
//!    checkpoint manifest listing them is written — from then on the checkpoint is complete;
//! 2. **commit**: each table gets one snapshot tagged with the job and checkpoint id, unless its
//!    snapshot ancestry already holds that checkpoint (so a retry never doubles a row);
//! 3. **cleanup**: older checkpoints beyond the ones kept are deleted.
//!
//! On start, [`IcebergCommitter::recover`] re-commits the newest complete checkpoint wherever it
//! is missing and returns it as the state to restore.

use std::sync::Arc;

use floe_common::checkpoint::{CheckpointManifest, TableFiles};
use floe_common::config::JobSpec;
use floe_common::failpoint;
use floe_common::schema::TableSchema;
use floe_common::window::merge_closed;
use floe_proto::CheckpointAck;
use floe_storage::{CheckpointStore, StorageError};
use iceberg::Catalog;

use crate::iceberg_table::{
    data_files_from_json, data_files_to_json, CommitOutcome, IcebergTable, TableError,
};
use crate::output;

/// Why a checkpoint could not be completed or committed.
#[derive(Debug, thiserror::Error)]
pub enum CommitterError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("building rows for {table}: {message}")]
    Output { table: String, message: String },
    #[error("checkpoint {checkpoint} manifest names unknown table {table}")]
    UnknownTable { checkpoint: u64, table: String },
}

/// Where a (re)started job resumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// The complete checkpoint whose state the workers restore.
    pub restore_from: Option<u64>,
    /// The id the next checkpoint takes.
    pub next_id: u64,
}

/// What one checkpoint commit did, per table.
#[derive(Debug, Clone, Default)]
pub struct CommitReport {
    pub checkpoint_id: u64,
    pub rows_committed: u64,
    pub tables_committed: usize,
    pub tables_already_committed: usize,
}

/// Commits one job's checkpoints to its Iceberg tables.
pub struct IcebergCommitter {
    job: Arc<JobSpec>,
    tables: Vec<IcebergTable>,
    store: CheckpointStore,
    keep: usize,
}

/// A job's tables, in the order of `IcebergCommitter::tables`.
fn table_specs(job: &JobSpec) -> [&TableSchema; 3] {
    [&job.table, &job.late_table, &job.dead_letter_table]
}

const AGGREGATES: usize = 0;
const LATE: usize = 1;
const DEAD_LETTERS: usize = 2;

impl IcebergCommitter {
    /// Opens (creating if needed) the job's aggregate, late-events and dead-letter tables.
    pub async fn open(
        job: Arc<JobSpec>,
        catalog: Arc<dyn Catalog>,
        store: CheckpointStore,
        keep: usize,
    ) -> Result<Self, CommitterError> {
        let mut tables = Vec::with_capacity(3);
        for spec in table_specs(&job) {
            tables.push(IcebergTable::open_or_create(catalog.clone(), spec).await?);
        }
        Ok(Self {
            job,
            tables,
            store,
            keep: keep.max(1),
        })
    }

    pub fn store(&self) -> &CheckpointStore {
        &self.store
    }

    fn table_by_name(&self, name: &str) -> Option<&IcebergTable> {
        let i = table_specs(&self.job).iter().position(|s| s.name == name)?;
        Some(&self.tables[i])
    }

    /// Finds the newest complete checkpoint, makes sure every table has it, and drops
    /// incomplete ones.
    pub async fn recover(&self) -> Result<Recovery, CommitterError> {
        let listing = self.store.list().await?;
        let latest = listing.complete.last().copied();
        if let Some(id) = latest {
            let manifest = self.store.get_manifest(id).await?;
            let report = self.commit(&manifest).await?;
            tracing::info!(job = %self.job.name, checkpoint = id, recommitted = report.tables_committed, "recovered from checkpoint");
        }
        for id in listing.all.iter().filter(|id| Some(**id) > latest) {
            tracing::info!(job = %self.job.name, checkpoint = id, "discarding incomplete checkpoint");
            self.store.delete_checkpoint(*id).await?;
        }
        let mut highest = listing.all.last().copied().unwrap_or(0);
        for table in &self.tables {
            if let Some(last) = table.last_committed_checkpoint(&self.job.name).await? {
                if latest.is_none_or(|l| last > l) {
                    tracing::warn!(
                        job = %self.job.name,
                        table = %table.ident(),
                        last_committed = last,
                        "the table has commits of this job newer than any checkpoint in the store; \
                         was the checkpoint store replaced? continuing after them"
                    );
                }
                highest = highest.max(last);
            }
        }
        Ok(Recovery {
            restore_from: latest,
            next_id: highest + 1,
        })
    }

    /// Writes the data files of checkpoint `id` and the manifest that makes it complete.
    pub async fn complete(
        &self,
        id: u64,
        acks: Vec<CheckpointAck>,
    ) -> Result<CheckpointManifest, CommitterError> {
        let workers = acks.iter().map(|a| a.worker_id.clone()).collect();
        let watermark_ms = acks
            .iter()
            .map(|a| a.watermark_ms)
            .min()
            .unwrap_or(i64::MIN);
        let mut windows = Vec::new();
        let mut late = Vec::new();
        let mut dead = Vec::new();
        for ack in acks {
            windows.extend(ack.closed_windows);
            late.extend(ack.late_events);
            dead.extend(ack.dead_letters);
        }
        let windows = merge_closed(windows);
        let topic = &self.job.source.topic;
        let batches = [
            (
                AGGREGATES,
                output::windows_batch(&self.job, &self.tables[AGGREGATES].arrow_schema(), &windows),
            ),
            (
                LATE,
                output::late_batch(topic, &self.tables[LATE].arrow_schema(), &late),
            ),
            (
                DEAD_LETTERS,
                output::dead_letter_batch(topic, &self.tables[DEAD_LETTERS].arrow_schema(), &dead),
            ),
        ];
        let mut tables = Vec::new();
        for (i, batch) in batches {
            let table = &self.tables[i];
            let batch = batch.map_err(|message| CommitterError::Output {
                table: table.ident().to_string(),
                message,
            })?;
            let rows = batch.num_rows() as u64;
            if rows == 0 {
                continue;
            }
            let files = table.write_data_files(batch).await?;
            tables.push(TableFiles {
                table: table_specs(&self.job)[i].name.clone(),
                data_files: data_files_to_json(&files, table)?,
                rows,
            });
        }
        failpoint::hit("after-data-files", id);
        let manifest = CheckpointManifest {
            job: self.job.name.clone(),
            checkpoint_id: id,
            workers,
            tables,
            watermark_ms,
        };
        self.store.put_manifest(&manifest).await?;
        failpoint::hit("after-manifest", id);
        Ok(manifest)
    }

    /// Commits a complete checkpoint to every table that does not have it yet. Tables with no
    /// rows in this checkpoint get no snapshot.
    pub async fn commit(
        &self,
        manifest: &CheckpointManifest,
    ) -> Result<CommitReport, CommitterError> {
        let mut report = CommitReport {
            checkpoint_id: manifest.checkpoint_id,
            ..Default::default()
        };
        for (n, entry) in manifest.tables.iter().enumerate() {
            let table =
                self.table_by_name(&entry.table)
                    .ok_or_else(|| CommitterError::UnknownTable {
                        checkpoint: manifest.checkpoint_id,
                        table: entry.table.clone(),
                    })?;
            let files = data_files_from_json(&entry.data_files, table)?;
            match table
                .commit(&self.job.name, manifest.checkpoint_id, files)
                .await?
            {
                CommitOutcome::Committed { snapshot_id } => {
                    tracing::debug!(table = %entry.table, checkpoint = manifest.checkpoint_id, snapshot_id, rows = entry.rows, "committed");
                    report.tables_committed += 1;
                    report.rows_committed += entry.rows;
                }
                CommitOutcome::AlreadyCommitted { last } => {
                    tracing::info!(table = %entry.table, checkpoint = manifest.checkpoint_id, last, "already committed");
                    report.tables_already_committed += 1;
                }
            }
            // After the first table: a crash here leaves the checkpoint half committed.
            if n == 0 {
                failpoint::hit("after-commit", manifest.checkpoint_id);
            }
        }
        if manifest.tables.is_empty() {
            // Nothing to commit still passes the point, so a crash aimed at it always fires.
            failpoint::hit("after-commit", manifest.checkpoint_id);
        }
        Ok(report)
    }

    /// Deletes checkpoints older than the newest `keep` complete ones.
    pub async fn cleanup(&self) -> Result<(), CommitterError> {
        let listing = self.store.list().await?;
        if listing.complete.len() <= self.keep {
            return Ok(());
        }
        let oldest_kept = listing.complete[listing.complete.len() - self.keep];
        for id in listing.all.iter().filter(|id| **id < oldest_kept) {
            self.store.delete_checkpoint(*id).await?;
        }
        Ok(())
    }
}
