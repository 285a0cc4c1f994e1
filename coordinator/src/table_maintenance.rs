//! Maintenance of a job's tables beside its stream: once per policy interval or number of
//! checkpoints, a run starts in a task of its own, compacts each table's small files, merges
//! its manifests, expires its old snapshots, deletes orphans now and then, and reads its health
//! figures for the metrics and the status page. Its commits take turns with the stream's
//! (`IcebergTable`'s commit turn), so no checkpoint waits for its reads and writes. A failure is
//! logged and shown there; it never fails the job.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use floe_common::clock::wall_clock_ms;
use floe_common::config::SinkRole;
use floe_common::maintenance::{MaintenancePolicy, MaintenanceSchedule};
use floe_storage::CheckpointStore;
use floe_table::iceberg_table::{IcebergTable, TableError};
use floe_table::maintenance::{Compaction, PreparedDeleteCompaction, TableHealth};
use floe_table::overwrite_commit::SnapshotCommits;
use tokio::task::JoinHandle;

use crate::committer::{CommitterError, IcebergCommitter};

/// How one of the job's tables stands, and what maintenance did to it since this process took
/// the job.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TableStatus {
    pub table: String,
    pub health: TableHealth,
    pub maintenance_runs: u64,
    pub snapshots_expired: u64,
    pub files_deleted: u64,
    pub manifest_bytes_written: u64,
    pub orphans_deleted: u64,
    /// Small data files compacted, and the bytes of the files that replaced them.
    pub files_compacted: u64,
    pub compaction_bytes_written: u64,
    /// Wall clock (epoch ms) of the last run.
    pub last_run_at_ms: i64,
    /// Why the last run failed, if it did.
    pub last_error: Option<String>,
}

/// Runs a job's table maintenance when it is due, in a task of its own beside the stream, and
/// keeps each table's [`TableStatus`].
pub(crate) struct TableMaintenance {
    policy: MaintenancePolicy,
    schedule: Mutex<MaintenanceSchedule>,
    orphan_schedule: Mutex<MaintenanceSchedule>,
    status: Statuses,
    /// The run in progress, if any: one at a time.
    running: Mutex<Option<JoinHandle<()>>>,
    /// Merge-on-read compactions a run wrote, by table, for the committer to commit.
    prepared: Prepared,
    /// The job's dimension and history tables take their changes by merge-on-read.
    merge_on_read: bool,
}

/// What is due in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Due {
    /// Orphan cleanup too (it lists every file of each table, so it runs less often).
    pub orphans: bool,
}

/// What one run works on.
struct Run {
    policy: MaintenancePolicy,
    tables: Vec<(SinkRole, IcebergTable)>,
    via: Option<Arc<SnapshotCommits>>,
    store: CheckpointStore,
    orphans: bool,
    status: Statuses,
    /// Tables the job rewrites by merge-on-read: their compaction is prepared here and
    /// committed by the committer.
    merge_on_read: bool,
    prepared: Prepared,
}

/// Merge-on-read compactions written and waiting for the committer, by table.
type Prepared = Arc<Mutex<HashMap<String, PreparedDeleteCompaction>>>;

/// Each table's status, shared by the committer and the run in progress.
#[derive(Clone, Default)]
struct Statuses(Arc<Mutex<Vec<TableStatus>>>);

impl Statuses {
    fn all(&self) -> Vec<TableStatus> {
        self.0.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// `table`'s status, a fresh one if it has none yet.
    fn of(&self, table: &IcebergTable) -> TableStatus {
        let name = table.layout().name();
        let known = self
            .0
            .lock()
            .ok()
            .and_then(|k| k.iter().find(|s| s.table == name).cloned());
        known.unwrap_or_else(|| TableStatus {
            table: name.to_owned(),
            ..Default::default()
        })
    }

    fn keep(&self, status: TableStatus) {
        if let Ok(mut kept) = self.0.lock() {
            match kept.iter_mut().find(|s| s.table == status.table) {
                Some(s) => *s = status,
                None => kept.push(status),
            }
        }
    }
}

impl TableMaintenance {
    pub(crate) fn new(policy: MaintenancePolicy, merge_on_read: bool) -> Self {
        Self {
            merge_on_read,
            policy,
            schedule: Mutex::new(MaintenanceSchedule::new(
                policy.interval,
                policy.every_checkpoints,
            )),
            orphan_schedule: Mutex::new(MaintenanceSchedule::new(
                policy.orphan_interval(),
                u64::MAX,
            )),
            status: Default::default(),
            running: Mutex::new(None),
            prepared: Default::default(),
        }
    }

    /// Counts a checkpoint; whether a run is due at `now`, and what it includes. A due run
    /// counts as started. Nothing is due while a run is in progress.
    pub(crate) fn take_due(&self, now: Instant) -> Option<Due> {
        if !self.policy.enabled || self.in_progress() {
            return None;
        }
        if !self.schedule.lock().ok()?.checkpoint_due(now) {
            return None;
        }
        let orphans = self.orphan_schedule.lock().ok()?.checkpoint_due(now);
        Some(Due { orphans })
    }

    fn in_progress(&self) -> bool {
        self.running
            .lock()
            .is_ok_and(|r| r.as_ref().is_some_and(|h| !h.is_finished()))
    }

    /// The tables' status as the runs so far left it.
    pub(crate) fn status(&self) -> Vec<TableStatus> {
        self.status.all()
    }

    /// Waits for the run in progress, if any, to end.
    pub(crate) async fn finished(&self) -> Vec<TableStatus> {
        let running = self.running.lock().ok().and_then(|mut r| r.take());
        if let Some(handle) = running {
            if let Err(e) = handle.await {
                tracing::warn!(error = %e, "a table maintenance run ended without finishing");
            }
        }
        self.status()
    }

    fn start(&self, run: Run) {
        let handle = tokio::spawn(run.all_tables());
        if let Ok(mut running) = self.running.lock() {
            *running = Some(handle);
        }
    }
}

impl Drop for TableMaintenance {
    /// A run left when the job's committer goes is stopped, as a crash would stop it: every
    /// commit of it is whole or absent.
    fn drop(&mut self) {
        if let Some(handle) = self.running.get_mut().ok().and_then(|r| r.take()) {
            handle.abort();
        }
    }
}

impl Run {
    /// Maintains every table, never deleting a file of a complete checkpoint (a restart would
    /// commit it).
    async fn all_tables(self) {
        let plain: Vec<IcebergTable> = self.tables.iter().map(|(_, t)| t.clone()).collect();
        let protected = match pending_files(&self.store, &plain).await {
            Ok(files) => files,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the complete checkpoints; maintenance waits");
                return;
            }
        };
        for (role, table) in &self.tables {
            let mut status = self.status.of(table);
            self.one_table(*role, table, &protected, &mut status).await;
            self.status.keep(status);
        }
    }

    async fn one_table(
        &self,
        role: SinkRole,
        table: &IcebergTable,
        protected: &HashSet<String>,
        status: &mut TableStatus,
    ) {
        let name = table.layout().name().to_owned();
        let now_ms = wall_clock_ms();
        status.maintenance_runs += 1;
        status.last_run_at_ms = now_ms;
        status.last_error = None;
        let via = self.via.as_deref();
        // A table the job rewrites by merge-on-read has its compaction written here and
        // committed by the committer between two checkpoints (`maintain`).
        if role.rewrites() && self.merge_on_read && !self.is_prepared(&name) {
            match table.prepare_delete_compaction(&self.policy, false).await {
                Ok(Some(prepared)) => {
                    if let Ok(mut waiting) = self.prepared.lock() {
                        waiting.insert(name.clone(), prepared);
                    }
                }
                Ok(None) => {}
                Err(e) => record_compaction(&name, Err(e), status),
            }
        }
        if let Some(via) = via.filter(|_| !role.rewrites()) {
            let compacted = async {
                let mut done = Compaction::default();
                for bin in table.plan_compaction(&self.policy).await? {
                    let rewrite = table
                        .rewrite_files(&bin, self.policy.target_file_bytes)
                        .await?;
                    table.commit_rewrite(&rewrite, via).await?;
                    done.files_rewritten += rewrite.removed.len();
                    done.files_written += rewrite.added.len();
                    done.bytes_rewritten += rewrite
                        .added
                        .iter()
                        .map(|f| f.file_size_in_bytes())
                        .sum::<u64>();
                }
                Ok::<_, TableError>(done)
            };
            record_compaction(&name, compacted.await, status);
        }
        let report = async {
            let merge = match via {
                Some(via) => {
                    table
                        .merge_manifests(self.policy.max_manifests, via, false)
                        .await?
                }
                None => Default::default(),
            };
            let expiry = table
                .expire_snapshots(&self.policy, protected, now_ms, false)
                .await?;
            Ok::<_, TableError>((merge, expiry))
        };
        match report.await {
            Ok((merge, expiry)) => {
                status.snapshots_expired += expiry.snapshots.len() as u64;
                status.files_deleted += expiry.files.len() as u64;
                status.manifest_bytes_written += merge.bytes_written;
                if !expiry.snapshots.is_empty() || merge.bytes_written > 0 {
                    tracing::info!(table = %name, expired = expiry.snapshots.len(), files_deleted = expiry.files.len(), manifests_before = merge.before, manifests_after = merge.after, "table maintained");
                }
            }
            Err(e) => {
                tracing::warn!(table = %name, error = %e, "table maintenance failed; will try again next interval");
                status.last_error = Some(e.to_string());
            }
        }
        if self.orphans {
            let now = std::time::UNIX_EPOCH
                + std::time::Duration::from_millis(u64::try_from(now_ms).unwrap_or(0));
            match table
                .remove_orphans(protected, self.policy.orphan_min_age, now, false)
                .await
            {
                Ok(orphans) => {
                    status.orphans_deleted += orphans.files.len() as u64;
                    if !orphans.files.is_empty() {
                        tracing::info!(table = %name, files = orphans.files.len(), bytes = orphans.bytes, "deleted orphan files");
                    }
                }
                Err(e) => {
                    tracing::warn!(table = %name, error = %e, "orphan cleanup failed; will try again");
                    status.last_error = Some(e.to_string());
                }
            }
        }
        match table.health().await {
            Ok(health) => status.health = health,
            Err(e) => {
                tracing::warn!(table = %name, error = %e, "cannot read the table's health")
            }
        }
    }
}

impl Run {
    fn is_prepared(&self, table: &str) -> bool {
        self.prepared
            .lock()
            .is_ok_and(|waiting| waiting.contains_key(table))
    }
}

/// Counts a compaction's outcome into `status`.
fn record_compaction(
    table: &str,
    outcome: Result<Compaction, TableError>,
    status: &mut TableStatus,
) {
    match outcome {
        Ok(done) if done.files_rewritten > 0 => {
            status.files_compacted += done.files_rewritten as u64;
            status.compaction_bytes_written += done.bytes_rewritten;
            tracing::info!(
                table,
                files = done.files_rewritten,
                bytes_written = done.bytes_rewritten,
                "compacted data files"
            );
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(table, error = %e, "compaction failed; it is planned again");
            status.last_error = Some(e.to_string());
        }
    }
}

impl IcebergCommitter {
    /// Starts the job's table maintenance if a run is due (see [`TableMaintenance`]). Called
    /// between two checkpoints, when no change of the job's tables is planned and not yet
    /// committed: a merge-on-read table's compaction, which replaces the files its deletes
    /// point into, is committed here; the rest runs in a task of its own.
    pub async fn maintain(&self) -> bool {
        self.commit_prepared_compactions().await;
        let Some(due) = self
            .maintenance
            .take_due(tokio::time::Instant::now().into_std())
        else {
            return false;
        };
        self.maintenance.start(Run {
            policy: self.maintenance.policy,
            tables: self.tables.clone(),
            via: self.snapshot_commits.clone(),
            store: self.store.clone(),
            orphans: due.orphans,
            status: self.maintenance.status.clone(),
            merge_on_read: self.maintenance.merge_on_read,
            prepared: self.maintenance.prepared.clone(),
        });
        true
    }

    /// Commits the merge-on-read compactions a run wrote, each while its table's key index
    /// is held (no plan of the table is open), and moves the index with the rows.
    async fn commit_prepared_compactions(&self) {
        let waiting: Vec<(String, PreparedDeleteCompaction)> =
            match self.maintenance.prepared.lock() {
                Ok(mut waiting) => waiting.drain().collect(),
                Err(_) => return,
            };
        let Some(via) = self.snapshot_commits.as_deref() else {
            return;
        };
        for (name, prepared) in waiting {
            let Some((role, table)) = self.tables.iter().find(|(_, t)| t.layout().name() == name)
            else {
                continue;
            };
            let index = match role {
                SinkRole::History => &self.history_index,
                _ => &self.key_index,
            };
            let mut index = index.lock().await;
            let done = prepared.done();
            let outcome = match table.commit_delete_compaction(prepared, via).await {
                Ok(committed) => {
                    let followed = index
                        .as_mut()
                        .is_some_and(|i| i.follow_compaction(&committed));
                    tracing::debug!(table = %name, followed, deletes_carried = committed.deletes_carried, "committed a merge-on-read compaction");
                    Ok(done)
                }
                Err(e) => Err(e),
            };
            let mut status = self.maintenance.status.of(table);
            record_compaction(&name, outcome, &mut status);
            self.maintenance.status.keep(status);
        }
    }

    /// The tables' status as the maintenance runs so far left it.
    pub fn table_status(&self) -> Vec<TableStatus> {
        self.maintenance.status()
    }

    /// Waits for a maintenance run in progress to end and commits what it wrote (the stream
    /// has stopped); the tables' status then.
    pub async fn maintenance_finished(&self) -> Vec<TableStatus> {
        self.maintenance.finished().await;
        self.commit_prepared_compactions().await;
        self.maintenance.status()
    }
}

/// The data files every complete checkpoint in `store` names, for `tables`: a restart commits
/// them if they are not in their table yet, so orphan cleanup must never take them.
pub async fn pending_files(
    store: &CheckpointStore,
    tables: &[IcebergTable],
) -> Result<HashSet<String>, CommitterError> {
    let mut files = HashSet::new();
    for at in store.list().await?.complete {
        let manifest = match store.get_manifest(at).await {
            Ok(manifest) => manifest,
            // Deleted since the listing: a newer complete checkpoint subsumed it, and its files
            // are committed or carried into that one's manifest.
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e.into()),
        };
        for entry in &manifest.tables {
            let Some(table) = tables.iter().find(|t| t.layout().name() == entry.table) else {
                continue;
            };
            for file in table.layout().data_files_from_json(&entry.data_files)? {
                files.insert(file.file_path().to_owned());
            }
        }
    }
    Ok(files)
}
