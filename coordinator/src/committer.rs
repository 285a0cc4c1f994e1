//! `IcebergCommitter`: the single writer of a job's tables.
//!
//! A checkpoint goes through three steps, each safe to crash in:
//! 1. **complete**: the workers' partial aggregates are merged into Parquet data files
//!    (uncommitted; the workers wrote their late events and dead letters as data files
//!    themselves), and the checkpoint manifest listing every file is written — from then on
//!    the checkpoint is complete;
//! 2. **commit**: each table gets one snapshot tagged with the job and checkpoint id, unless its
//!    snapshot ancestry already holds that checkpoint (so a retry never doubles a row);
//! 3. **cleanup**: older checkpoints beyond the ones kept are deleted.
//!
//! On start, [`IcebergCommitter::open`] takes a new epoch for this process and fences every
//! table with it, so an older process of the job (a zombie, the old pod of a rolling update)
//! can no longer commit. [`IcebergCommitter::recover`] then re-commits the newest complete
//! checkpoint wherever it is missing and returns it as the state to restore.
//!
//! Tables are committed in the order of [`JobSpec::sinks`]: side tables first and the main table
//! last, so a reader never sees main rows without the late and dead-letter rows of the same
//! checkpoint.

use std::sync::Arc;

use arrow_array::RecordBatch;
use floe_common::checkpoint::{CheckpointManifest, CheckpointRef, TableFiles};
use floe_common::config::{JobSpec, SinkRole};
use floe_common::failpoint;
use floe_common::job_shape;
use floe_common::table_target::TableTarget;
use floe_common::window::merge_closed;
use floe_proto::{CheckpointAck, RestorePoint};
use floe_storage::{CheckpointStore, StorageError};
use floe_table::{rows, DataFileError};
use iceberg::Catalog;

use floe_common::cdc::CdcMode;
use floe_table::dimension_rewrite::RewriteError;
use floe_table::iceberg_table::{CommitOutcome, IcebergTable, TableError};
use floe_table::key_index::KeyIndex;
use floe_table::overwrite_commit::{Overwrite, SnapshotCommits};
use floe_table::table_commit::{JobOwner, TableChange};

use crate::checkpoint_cleaner::CheckpointCleaner;
use crate::deferred_commits::carry_over;
use crate::table_maintenance::TableMaintenance;

/// Why a checkpoint could not be completed or committed.
#[derive(Debug, thiserror::Error)]
pub enum CommitterError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Sink(#[from] DataFileError),
    #[error(transparent)]
    Rewrite(#[from] RewriteError),
    #[error(
        "job {job} rewrites its dimension table, which needs the overwrite commits of its catalog"
    )]
    NoOverwriteCommits { job: String },
    #[error("table {table} is Iceberg format v1: Floe rewrites format v2 tables only")]
    NotRewritable { table: String },
    #[error("building rows for {table}: {message}")]
    Output { table: String, message: String },
    #[error("checkpoint {checkpoint} manifest names unknown table {table}")]
    UnknownTable { checkpoint: u64, table: String },
    #[error(
        "worker {worker} sent unusable data files of checkpoint {checkpoint} for {table}: {reason}"
    )]
    BadFiles {
        worker: String,
        checkpoint: u64,
        table: String,
        reason: String,
    },
    #[error("worker {worker} sent data files of checkpoint {checkpoint} for {table}, which workers do not write")]
    UnexpectedFiles {
        worker: String,
        checkpoint: u64,
        table: String,
    },
    #[error(
        "checkpoint {checkpoint} of job {job} names {file} for table {table}, and the file is \
         gone (deleted by hand or by another tool): committing it would leave the table naming a \
         file no reader can open. Restore the file, or remove the job's checkpoints and run it \
         again from a source position"
    )]
    MissingFile {
        job: String,
        checkpoint: u64,
        table: String,
        file: String,
    },
    #[error(
        "table `{table}` holds checkpoint {in_table} of job {job}, but the checkpoint store {store} \
         has {in_store}: was the store replaced or emptied? Restoring from it would write rows \
         the table already has. Point --checkpoints at the job's store, or pass \
         --start-over earliest|latest to run the job again from that position with empty state"
    )]
    StoreBehindTables {
        job: String,
        table: String,
        in_table: u64,
        store: String,
        in_store: String,
    },
    #[error(
        "checkpoint {checkpoint} of job {job} was written by a job of another shape (its window, \
         group keys, aggregates or event time changed): its state would give wrong rows. Run the \
         changed job under a new name, or pass --start-over earliest|latest to start it with \
         empty state"
    )]
    JobChanged { job: String, checkpoint: u64 },
    #[error(
        "job {job} was taken over by a newer process (epoch {newer} > this process's {mine}); \
         this one stops"
    )]
    Superseded { job: String, mine: u64, newer: u64 },
}

/// Where a (re)started job resumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// The complete checkpoint whose state the workers restore.
    pub restore: Option<RestorePoint>,
    /// The id the next checkpoint takes.
    pub next_id: u64,
}

impl Recovery {
    pub fn restore_from(&self) -> Option<CheckpointRef> {
        self.restore.as_ref().map(|r| r.at)
    }
}

/// What workers restore from a complete checkpoint: which worker's object holds each partition,
/// and the job's watermark.
pub fn restore_point(manifest: &CheckpointManifest) -> RestorePoint {
    RestorePoint {
        at: manifest.at(),
        holders: manifest.holders.clone(),
        legacy_workers: if manifest.holders.is_empty() {
            manifest.workers.clone()
        } else {
            Vec::new()
        },
        watermark_ms: manifest
            .watermark_is_job_watermark
            .then_some(manifest.watermark_ms),
    }
}

/// What one checkpoint commit did, per table.
#[derive(Debug, Clone, Default)]
pub struct CommitReport {
    pub checkpoint_id: u64,
    pub rows_committed: u64,
    pub tables_committed: usize,
    pub tables_already_committed: usize,
}

/// What committing one checkpoint did to one table.
enum TableOutcome {
    Committed {
        rows: u64,
    },
    AlreadyCommitted,
    /// A rewrite with nothing left to change.
    Unchanged,
}

impl CommitReport {
    fn add(&mut self, outcome: TableOutcome) {
        match outcome {
            TableOutcome::Committed { rows } => {
                self.tables_committed += 1;
                self.rows_committed += rows;
            }
            TableOutcome::AlreadyCommitted => self.tables_already_committed += 1,
            TableOutcome::Unchanged => {}
        }
    }
}

/// Commits one job's checkpoints to its Iceberg tables.
pub struct IcebergCommitter {
    pub(crate) job: Arc<JobSpec>,
    /// The job's sinks in commit order ([`JobSpec::sinks`]).
    pub(crate) tables: Vec<(SinkRole, IcebergTable)>,
    /// What workers need to write the data files of the tables they write.
    worker_targets: Vec<TableTarget>,
    pub(crate) store: CheckpointStore,
    /// Deletes the checkpoints newer ones subsumed, beside the commits.
    cleaner: CheckpointCleaner,
    owner: JobOwner,
    /// Table commits tried again after a failure, since this committer opened.
    retries: std::sync::atomic::AtomicU64,
    /// How rewrites (a CDC job's dimension table) and manifest merges are committed.
    pub(crate) snapshot_commits: Option<Arc<SnapshotCommits>>,
    pub(crate) maintenance: TableMaintenance,
    /// The newest complete checkpoint not committed yet (`deferred_commits.rs`).
    uncommitted: std::sync::Mutex<Option<CheckpointManifest>>,
    /// A merge-on-read CDC job's key index of its dimension table (`key_index.rs`).
    pub(crate) key_index: tokio::sync::Mutex<Option<KeyIndex>>,
    /// Its index of the current versions in its history table.
    pub(crate) history_index: tokio::sync::Mutex<Option<KeyIndex>>,
}

impl IcebergCommitter {
    /// Opens (creating if needed) the job's tables ([`JobSpec::sinks`]), checks that the store
    /// honours create-only writes, takes the job's next epoch and fences every table with it.
    /// A job rewriting a table (CDC) needs `snapshot_commits`; without them, maintenance does
    /// not merge manifests.
    pub async fn open(
        job: Arc<JobSpec>,
        catalog: Arc<dyn Catalog>,
        snapshot_commits: Option<Arc<SnapshotCommits>>,
        store: CheckpointStore,
        keep: usize,
    ) -> Result<Self, CommitterError> {
        let mut tables = Vec::new();
        for sink in job.sinks() {
            if sink.role.rewrites() && snapshot_commits.is_none() {
                return Err(CommitterError::NoOverwriteCommits {
                    job: job.name.clone(),
                });
            }
            let table = IcebergTable::open_or_create(catalog.clone(), sink.schema).await?;
            if sink.role.rewrites() {
                Self::check_rewritable(&table)?;
            }
            tables.push((sink.role, table));
        }
        store.verify_create_only().await?;
        // Above every epoch the store or a table has seen: a process on a replaced store must
        // still fence the one it replaces.
        let mut seen = 0;
        for (_, table) in &tables {
            seen = seen.max(table.marks(&job.name).await?.owner_epoch.unwrap_or(0));
        }
        let owner = JobOwner {
            job: job.name.clone(),
            epoch: store.claim_epoch(seen).await?,
        };
        for (_, table) in &tables {
            table.fence(&owner).await?;
        }
        tracing::info!(job = %job.name, epoch = owner.epoch, "took over the job's tables");
        let worker_targets = tables
            .iter()
            .filter(|(role, _)| role.written_by_workers())
            .map(|(_, table)| table.layout().target())
            .collect::<Result<_, _>>()?;
        Ok(Self {
            uncommitted: Default::default(),
            key_index: Default::default(),
            history_index: Default::default(),
            maintenance: TableMaintenance::new(
                job.maintenance,
                job.cdc().is_some_and(|c| c.mode == CdcMode::MergeOnRead),
            ),
            job,
            tables,
            worker_targets,
            retries: Default::default(),
            snapshot_commits,
            cleaner: CheckpointCleaner::new(store.clone(), keep),
            store,
            owner,
        })
    }

    /// The epoch this process took the job with.
    pub fn epoch(&self) -> u64 {
        self.owner.epoch
    }

    pub fn store(&self) -> &CheckpointStore {
        &self.store
    }

    /// Table commits tried again after a failure (catalog errors, lost answers, conflicts).
    pub fn commit_retries(&self) -> u64 {
        self.retries.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The tables workers write data files for, as they need them (sent with assignments).
    pub fn worker_targets(&self) -> &[TableTarget] {
        &self.worker_targets
    }

    pub(crate) fn table_by_name(&self, name: &str) -> Option<&IcebergTable> {
        self.tables
            .iter()
            .map(|(_, table)| table)
            .find(|t| t.layout().name() == name)
    }

    /// Writes the data files of checkpoint `id` and the manifest that makes it complete,
    /// keeping the job's watermark `watermark_ms` and which worker holds each partition.
    pub async fn complete(
        &self,
        id: u64,
        acks: Vec<CheckpointAck>,
        watermark_ms: i64,
    ) -> Result<CheckpointManifest, CommitterError> {
        let workers = acks.iter().map(|a| a.worker_id.clone()).collect();
        let holders = acks
            .iter()
            .flat_map(|a| a.partitions.iter().map(|p| (*p, a.worker_id.clone())))
            .collect();
        // Per worker-written table, in commit order: the table and the files gathered so far.
        let mut from_workers: Vec<(&IcebergTable, TableFiles)> = self
            .tables
            .iter()
            .filter(|(role, _)| role.written_by_workers())
            .map(|(_, table)| {
                let files = TableFiles {
                    table: table.layout().name().to_owned(),
                    ..TableFiles::default()
                };
                (table, files)
            })
            .collect();
        let mut windows = Vec::new();
        for ack in acks {
            windows.extend(ack.closed_windows);
            for files in ack.files {
                let Some((table, into)) = from_workers
                    .iter_mut()
                    .find(|(_, t)| t.table == files.table)
                else {
                    return Err(CommitterError::UnexpectedFiles {
                        worker: ack.worker_id,
                        checkpoint: id,
                        table: files.table,
                    });
                };
                // Checked before the manifest makes them part of a complete checkpoint: a
                // manifest the commit cannot read would stop every restart.
                check_worker_files(table, &files).map_err(|reason| CommitterError::BadFiles {
                    worker: ack.worker_id.clone(),
                    checkpoint: id,
                    table: files.table.clone(),
                    reason,
                })?;
                into.data_files.extend(files.data_files);
                into.rows += files.rows;
            }
        }
        // Gathered in the order of `self.tables`, so they come back in that order.
        let mut gathered = from_workers.into_iter().map(|(_, files)| files);
        let mut tables: Vec<TableFiles> = Vec::new();
        // A CDC job's changelog files of this checkpoint (its records), and their rows once
        // read: what its dimension and history tables apply.
        let mut records: Option<(&IcebergTable, TableFiles)> = None;
        let mut changes: Option<Vec<RecordBatch>> = None;
        for (role, table) in &self.tables {
            let files = if role.written_by_workers() {
                let files = gathered.next().filter(|files| files.rows > 0);
                if let (SinkRole::Records, Some(files)) = (role, &files) {
                    records = Some((table, files.clone()));
                }
                files
            } else if role.rewrites() {
                let Some((changelog, files)) = &records else {
                    continue;
                };
                self.plan_rewrite(*role, table, changelog, files, &mut changes)
                    .await?
            } else {
                let batch = rows::windows_batch(
                    &self.job,
                    &table.layout().arrow_schema(),
                    &merge_closed(std::mem::take(&mut windows)),
                )
                .map_err(|message| CommitterError::Output {
                    table: table.ident().to_string(),
                    message,
                })?;
                table.layout().write_table_files(batch).await?
            };
            // In commit order, so the manifest lists the tables as they are committed.
            tables.extend(files);
        }
        let uncommitted = self.uncommitted.lock().ok().and_then(|u| u.clone());
        if let Some(uncommitted) = uncommitted.filter(|u| u.checkpoint_id < id) {
            let order: Vec<&str> = self.tables.iter().map(|(_, t)| t.layout().name()).collect();
            tables = carry_over(&uncommitted, tables, &order);
        }
        failpoint::hit("after-data-files", id, tables.len());
        let newer = self.store.newest_epoch().await?;
        if newer > self.owner.epoch {
            return Err(CommitterError::Superseded {
                job: self.job.name.clone(),
                mine: self.owner.epoch,
                newer,
            });
        }
        let manifest = CheckpointManifest {
            job: self.job.name.clone(),
            checkpoint_id: id,
            epoch: self.owner.epoch,
            job_fingerprint: Some(job_shape::fingerprint(&self.job)),
            workers,
            holders,
            tables,
            watermark_ms,
            watermark_is_job_watermark: true,
        };
        self.store.put_manifest(&manifest).await?;
        if let Ok(mut uncommitted) = self.uncommitted.lock() {
            *uncommitted = Some(manifest.clone());
        }
        failpoint::hit("after-manifest", id, manifest.tables.len());
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
        for entry in &manifest.tables {
            if self.table_by_name(&entry.table).is_none() {
                return Err(CommitterError::UnknownTable {
                    checkpoint: manifest.checkpoint_id,
                    table: entry.table.clone(),
                });
            }
        }
        let due: Vec<(SinkRole, &IcebergTable, &TableFiles)> = self
            .tables
            .iter()
            .filter_map(|(role, table)| {
                let name = table.layout().name();
                let entry = manifest.tables.iter().find(|e| e.table == name)?;
                Some((*role, table, entry))
            })
            .collect();
        // The first table alone, then the others side by side: each table keeps its own
        // marker, so a crash between any two leaves a checkpoint that restarts finish.
        let (first, others) = due
            .split_first()
            .map_or((None, &[][..]), |(f, o)| (Some(f), o));
        if let Some((role, table, entry)) = first {
            report.add(self.commit_table(*role, table, entry, manifest).await?);
        }
        if !others.is_empty() {
            failpoint::hit(
                "after-commit",
                manifest.checkpoint_id,
                manifest.tables.len(),
            );
        }
        let outcomes = futures::future::join_all(
            others
                .iter()
                .map(|(role, table, entry)| self.commit_table(*role, table, entry, manifest)),
        )
        .await;
        for outcome in outcomes {
            report.add(outcome?);
        }
        if let Ok(mut uncommitted) = self.uncommitted.lock() {
            if uncommitted
                .as_ref()
                .is_some_and(|u| u.checkpoint_id <= manifest.checkpoint_id)
            {
                *uncommitted = None;
            }
        }
        if manifest.tables.len() < 2 {
            // Fewer than two tables still pass the point, so a crash aimed at it always fires.
            failpoint::hit(
                "after-commit",
                manifest.checkpoint_id,
                manifest.tables.len(),
            );
        }
        Ok(report)
    }

    /// Commits `entry`, checkpoint `manifest`'s files of `table`, unless the table has it.
    async fn commit_table(
        &self,
        role: SinkRole,
        table: &IcebergTable,
        entry: &TableFiles,
        manifest: &CheckpointManifest,
    ) -> Result<TableOutcome, CommitterError> {
        let entry = if role.rewrites() {
            match self.current_rewrite(role, table, entry, manifest).await? {
                Some(entry) => entry,
                None => return Ok(TableOutcome::Unchanged),
            }
        } else {
            entry.clone()
        };
        let files = table.layout().data_files_from_json(&entry.data_files)?;
        let retried = || {
            self.retries
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        };
        let removed: std::collections::BTreeSet<String> = entry.removed.iter().cloned().collect();
        let change = if role.rewrites() {
            let via = self.snapshot_commits.as_deref().ok_or_else(|| {
                CommitterError::NoOverwriteCommits {
                    job: self.job.name.clone(),
                }
            })?;
            TableChange::Overwrite {
                change: Overwrite {
                    removed,
                    added: files,
                    deletes_in: entry.deletes_in.iter().cloned().collect(),
                },
                via,
            }
        } else {
            TableChange::Append(files)
        };
        Ok(
            match table
                .commit_change_observed(&self.owner, manifest.checkpoint_id, change, retried)
                .await?
            {
                CommitOutcome::Committed { snapshot_id } => {
                    tracing::debug!(table = %entry.table, checkpoint = manifest.checkpoint_id, snapshot_id, rows = entry.rows, "committed");
                    TableOutcome::Committed { rows: entry.rows }
                }
                CommitOutcome::AlreadyCommitted { last } => {
                    tracing::info!(table = %entry.table, checkpoint = manifest.checkpoint_id, last, "already committed");
                    TableOutcome::AlreadyCommitted
                }
            },
        )
    }

    /// Starts deleting the checkpoints older than the newest `keep` complete ones, unless a
    /// pass is still going; no commit waits for it.
    pub fn start_cleanup(&self) {
        self.cleaner.start();
    }

    /// Waits for a cleanup pass in progress to end.
    pub async fn cleanup_finished(&self) {
        self.cleaner.finished().await;
    }
}

/// A worker's files of one table: readable as the table's data files, under its location,
/// holding the rows the worker counted.
fn check_worker_files(table: &IcebergTable, files: &TableFiles) -> Result<(), String> {
    let parsed = table
        .layout()
        .data_files_from_json(&files.data_files)
        .map_err(|e| e.to_string())?;
    let location = table.layout().metadata().location().trim_end_matches('/');
    if let Some(f) = parsed
        .iter()
        .find(|f| !f.file_path().starts_with(&format!("{location}/")))
    {
        return Err(format!(
            "{} is not under the table's location {location}",
            f.file_path()
        ));
    }
    let rows: u64 = parsed.iter().map(|f| f.record_count()).sum();
    if rows != files.rows {
        return Err(format!(
            "the files hold {rows} rows, the worker counted {}",
            files.rows
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "committer_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "committer_cdc_tests.rs"]
mod cdc_tests;

#[cfg(test)]
#[path = "committer_compaction_tests.rs"]
mod compaction_tests;
