//! Maintenance of a job's tables beside its stream: once per policy interval, between two
//! checkpoints, each table's manifests are merged and its old snapshots expired
//! ([`IcebergTable::maintain`]), and its health figures read for the metrics and the status
//! page. A failure is logged and shown there; it never fails the job.

use std::sync::Mutex;
use std::time::Instant;

use floe_common::maintenance::{MaintenancePolicy, MaintenanceSchedule};
use floe_table::iceberg_table::IcebergTable;
use floe_table::maintenance::TableHealth;
use floe_table::overwrite_commit::SnapshotCommits;

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
    /// Wall clock (epoch ms) of the last run.
    pub last_run_at_ms: i64,
    /// Why the last run failed, if it did.
    pub last_error: Option<String>,
}

/// Runs a job's table maintenance when it is due, and keeps each table's [`TableStatus`].
pub(crate) struct TableMaintenance {
    policy: MaintenancePolicy,
    schedule: Mutex<MaintenanceSchedule>,
    status: Mutex<Vec<TableStatus>>,
}

impl TableMaintenance {
    pub(crate) fn new(policy: MaintenancePolicy) -> Self {
        Self {
            policy,
            schedule: Mutex::new(MaintenanceSchedule::new(policy.interval)),
            status: Mutex::new(Vec::new()),
        }
    }

    /// Maintains every table if a run is due at `now` (wall clock `now_ms`); returns the
    /// tables' status after a run, `None` when none was due.
    pub(crate) async fn run_if_due(
        &self,
        tables: Vec<IcebergTable>,
        via: Option<&SnapshotCommits>,
        now: Instant,
        now_ms: i64,
    ) -> Option<Vec<TableStatus>> {
        if !self.policy.enabled {
            return None;
        }
        {
            let mut schedule = self.schedule.lock().ok()?;
            if !schedule.due(now) {
                return None;
            }
            schedule.ran(now);
        }
        let mut statuses = self.status.lock().map(|s| s.clone()).unwrap_or_default();
        for table in &tables {
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
            match table.maintain(&self.policy, via, now_ms, false).await {
                Ok(report) => {
                    status.snapshots_expired += report.expiry.snapshots.len() as u64;
                    status.files_deleted += report.expiry.files.len() as u64;
                    status.manifest_bytes_written += report.merge.bytes_written;
                    if !report.expiry.snapshots.is_empty() || report.merge.bytes_written > 0 {
                        tracing::info!(table = %name, expired = report.expiry.snapshots.len(), files_deleted = report.expiry.files.len(), manifests_before = report.merge.before, manifests_after = report.merge.after, "table maintained");
                    }
                }
                Err(e) => {
                    tracing::warn!(table = %name, error = %e, "table maintenance failed; will try again next interval");
                    status.last_error = Some(e.to_string());
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
        Some(statuses)
    }
}
