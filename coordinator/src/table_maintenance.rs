//! Maintenance of a job's tables beside its stream: between two checkpoints, once per policy
//! interval or number of checkpoints, each table's finished compaction is committed (or one
//! started in the background, `background_compaction.rs`), its manifests merged and its old
//! snapshots expired, orphans deleted now and then, and its health figures read for the
//! metrics and the status page. A failure is logged and shown there; it never fails the job.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Instant;

use floe_common::maintenance::{MaintenancePolicy, MaintenanceSchedule};
use floe_storage::CheckpointStore;
use floe_table::iceberg_table::IcebergTable;
use floe_table::maintenance::TableHealth;
use floe_table::overwrite_commit::SnapshotCommits;

use floe_common::config::SinkRole;

use crate::background_compaction::BackgroundCompactions;
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

/// Runs a job's table maintenance when it is due, and keeps each table's [`TableStatus`].
pub(crate) struct TableMaintenance {
    policy: MaintenancePolicy,
    schedule: Mutex<MaintenanceSchedule>,
    orphan_schedule: Mutex<MaintenanceSchedule>,
    compactions: BackgroundCompactions,
    status: Mutex<Vec<TableStatus>>,
    /// The job's dimension and history tables take their changes by merge-on-read.
    merge_on_read: bool,
}

/// What is due in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Due {
    /// Orphan cleanup too (it lists every file of each table, so it runs less often).
    pub orphans: bool,
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
            compactions: BackgroundCompactions::default(),
            status: Mutex::new(Vec::new()),
        }
    }

    /// Counts a checkpoint; whether a run is due at `now`, and what it includes. A due run
    /// counts as started.
    pub(crate) fn take_due(&self, now: Instant) -> Option<Due> {
        if !self.policy.enabled {
            return None;
        }
        if !self.schedule.lock().ok()?.checkpoint_due(now) {
            return None;
        }
        let orphans = self.orphan_schedule.lock().ok()?.checkpoint_due(now);
        Some(Due { orphans })
    }

    /// Maintains every table at wall clock `now_ms`, never deleting a file `protected` names
    /// (the files of complete checkpoints a restart would commit); with `orphans`, orphan
    /// cleanup too. Returns the tables' status.
    pub(crate) async fn run(
        &self,
        tables: Vec<(SinkRole, IcebergTable)>,
        via: Option<&SnapshotCommits>,
        protected: &HashSet<String>,
        orphans: bool,
        now_ms: i64,
    ) -> Vec<TableStatus> {
        let mut statuses = self.status.lock().map(|s| s.clone()).unwrap_or_default();
        for (role, table) in &tables {
            let name = table.layout().name().to_owned();
            let index = match statuses.iter().position(|s| s.table == name) {
                Some(i) => i,
                None => {
                    statuses.push(TableStatus {
                        table: name.clone(),
                        ..Default::default()
                    });
                    statuses.len() - 1
                }
            };
            let status = &mut statuses[index];
            status.maintenance_runs += 1;
            status.last_run_at_ms = now_ms;
            status.last_error = None;
            // Merge-on-read dimension and history tables fold their deletes in line: the
            // committer is their only writer, so nothing lands between the plan and the commit.
            // Tables the job rewrites (copy-on-write) compact their small files as they go.
            if let Some(via) = via.filter(|_| role.rewrites() && self.merge_on_read) {
                match table.compact_with_deletes(&self.policy, via, false).await {
                    Ok(Some(done)) => {
                        status.files_compacted += done.files_rewritten as u64;
                        status.compaction_bytes_written += done.bytes_rewritten;
                        tracing::info!(table = %name, files = done.files_rewritten, bytes_written = done.bytes_rewritten, "compacted data files and their position deletes");
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(table = %name, error = %e, "compaction failed; it is planned again");
                        status.last_error = Some(e.to_string());
                    }
                }
            } else if let Some(via) = via.filter(|_| !role.rewrites()) {
                match self.compactions.step(table, via, &self.policy).await {
                    Ok(Some(done)) => {
                        status.files_compacted += done.files_rewritten;
                        status.compaction_bytes_written += done.bytes_rewritten;
                        tracing::info!(table = %name, files = done.files_rewritten, bytes_written = done.bytes_rewritten, "compacted small files");
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(table = %name, error = %e, "compaction failed; it is planned again");
                        status.last_error = Some(e.to_string());
                    }
                }
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
                Ok::<_, floe_table::iceberg_table::TableError>((merge, expiry))
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
            if orphans {
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
        if let Ok(mut kept) = self.status.lock() {
            kept.clone_from(&statuses);
        }
        statuses
    }
}

impl IcebergCommitter {
    /// Maintains the job's tables if a run is due (see [`TableMaintenance`]); the tables'
    /// status after a run.
    pub async fn maintain(&self) -> Option<Vec<TableStatus>> {
        let due = self
            .maintenance
            .take_due(tokio::time::Instant::now().into_std())?;
        let tables = self.tables.clone();
        let plain: Vec<IcebergTable> = tables.iter().map(|(_, t)| t.clone()).collect();
        let protected = match pending_files(&self.store, &plain).await {
            Ok(files) => files,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the complete checkpoints; maintenance waits");
                return None;
            }
        };
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Some(
            self.maintenance
                .run(
                    tables,
                    self.snapshot_commits.as_deref(),
                    &protected,
                    due.orphans,
                    now_ms,
                )
                .await,
        )
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
        let manifest = store.get_manifest(at).await?;
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
