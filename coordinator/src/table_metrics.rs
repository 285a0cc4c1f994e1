//! The Prometheus metrics of a job's tables: their size in snapshots, files and metadata, and
//! what maintenance did to them (see `table_maintenance.rs`).

use std::collections::HashMap;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::table_maintenance::TableStatus;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TableLabels {
    job_name: String,
    table: String,
}

/// Gauges of each table's health and counters of its maintenance.
pub(crate) struct TableMetrics {
    snapshots: Family<TableLabels, Gauge>,
    data_files: Family<TableLabels, Gauge>,
    delete_files: Family<TableLabels, Gauge>,
    data_manifests: Family<TableLabels, Gauge>,
    metadata_bytes: Family<TableLabels, Gauge>,
    data_bytes: Family<TableLabels, Gauge>,
    last_run: Family<TableLabels, Gauge>,
    runs: Family<TableLabels, Counter>,
    failures: Family<TableLabels, Counter>,
    snapshots_expired: Family<TableLabels, Counter>,
    files_deleted: Family<TableLabels, Counter>,
    bytes_written: Family<TableLabels, Counter>,
    files_compacted: Family<TableLabels, Counter>,
    compaction_bytes: Family<TableLabels, Counter>,
    /// The statuses already turned into counter increments, per (job, table).
    seen: Mutex<HashMap<(String, String), TableStatus>>,
}

impl TableMetrics {
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let m = Self {
            snapshots: Family::default(),
            data_files: Family::default(),
            delete_files: Family::default(),
            data_manifests: Family::default(),
            metadata_bytes: Family::default(),
            data_bytes: Family::default(),
            last_run: Family::default(),
            runs: Family::default(),
            failures: Family::default(),
            snapshots_expired: Family::default(),
            files_deleted: Family::default(),
            bytes_written: Family::default(),
            files_compacted: Family::default(),
            compaction_bytes: Family::default(),
            seen: Mutex::new(HashMap::new()),
        };
        let gauges = [
            (
                "table_snapshots",
                "Snapshots the table's metadata holds",
                &m.snapshots,
            ),
            (
                "table_data_files",
                "Live data files of the table's current snapshot",
                &m.data_files,
            ),
            (
                "table_delete_files",
                "Live delete files of the table's current snapshot",
                &m.delete_files,
            ),
            (
                "table_data_manifests",
                "Data manifests a scan of the current snapshot reads",
                &m.data_manifests,
            ),
            (
                "table_metadata_file_bytes",
                "Size of the table's current metadata.json",
                &m.metadata_bytes,
            ),
            (
                "table_data_bytes",
                "Bytes of the current snapshot's data files",
                &m.data_bytes,
            ),
            (
                "table_last_maintenance_timestamp_seconds",
                "When maintenance last ran on the table (Unix time)",
                &m.last_run,
            ),
        ];
        for (name, help, family) in gauges {
            registry.register(name, help, family.clone());
        }
        let counters = [
            (
                "table_maintenance_runs",
                "Maintenance runs of the table",
                &m.runs,
            ),
            (
                "table_maintenance_failures",
                "Maintenance runs of the table that failed",
                &m.failures,
            ),
            (
                "table_snapshots_expired",
                "Snapshots expired from the table",
                &m.snapshots_expired,
            ),
            (
                "table_files_deleted",
                "Files deleted because only expired snapshots referenced them",
                &m.files_deleted,
            ),
            (
                "table_manifest_bytes_written",
                "Bytes of manifests written by manifest merging",
                &m.bytes_written,
            ),
            (
                "table_files_compacted",
                "Small data files rewritten into files of the target size",
                &m.files_compacted,
            ),
            (
                "table_compaction_bytes_written",
                "Bytes of the data files compaction wrote",
                &m.compaction_bytes,
            ),
        ];
        for (name, help, family) in counters {
            registry.register(name, help, family.clone());
        }
        m
    }

    /// Takes the job's tables as its last maintenance run left them.
    pub(crate) fn observe(&self, job: &str, tables: &[TableStatus]) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        for t in tables {
            let labels = TableLabels {
                job_name: job.into(),
                table: t.table.clone(),
            };
            let gauge = |family: &Family<TableLabels, Gauge>, v: u64| {
                family
                    .get_or_create(&labels)
                    .set(i64::try_from(v).unwrap_or(i64::MAX));
            };
            gauge(&self.snapshots, t.health.snapshots as u64);
            gauge(&self.data_files, t.health.data_files);
            gauge(&self.delete_files, t.health.delete_files);
            gauge(&self.data_manifests, t.health.data_manifests as u64);
            gauge(&self.metadata_bytes, t.health.metadata_file_bytes);
            gauge(&self.data_bytes, t.health.data_bytes);
            gauge(
                &self.last_run,
                u64::try_from(t.last_run_at_ms / 1000).unwrap_or(0),
            );
            let before = seen.entry((job.to_owned(), t.table.clone())).or_default();
            let follow = |family: &Family<TableLabels, Counter>, now: u64, was: u64| {
                family
                    .get_or_create(&labels)
                    .inc_by(now.saturating_sub(was));
            };
            follow(&self.runs, t.maintenance_runs, before.maintenance_runs);
            let failures = self.failures.get_or_create(&labels);
            if t.last_error.is_some() && t.maintenance_runs > before.maintenance_runs {
                failures.inc();
            }
            follow(
                &self.snapshots_expired,
                t.snapshots_expired,
                before.snapshots_expired,
            );
            follow(&self.files_deleted, t.files_deleted, before.files_deleted);
            follow(
                &self.files_compacted,
                t.files_compacted,
                before.files_compacted,
            );
            follow(
                &self.compaction_bytes,
                t.compaction_bytes_written,
                before.compaction_bytes_written,
            );
            follow(
                &self.bytes_written,
                t.manifest_bytes_written,
                before.manifest_bytes_written,
            );
            if t.maintenance_runs >= before.maintenance_runs {
                *before = t.clone();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use floe_table::maintenance::TableHealth;

    use crate::job::JobProgress;
    use crate::metrics::JobMetrics;
    use crate::table_maintenance::TableStatus;

    #[test]
    fn table_health_and_maintenance_totals() {
        let m = JobMetrics::new();
        let mut status = TableStatus {
            table: "bronze.events".into(),
            health: TableHealth {
                snapshots: 12,
                data_files: 40,
                data_manifests: 3,
                metadata_file_bytes: 9_000,
                ..Default::default()
            },
            maintenance_runs: 1,
            snapshots_expired: 5,
            files_deleted: 7,
            last_run_at_ms: 1_767_225_660_000,
            ..Default::default()
        };
        let mut p = JobProgress {
            tables: vec![status.clone()],
            ..Default::default()
        };
        m.observe_progress("bronze", &p);
        status.maintenance_runs = 2;
        status.snapshots_expired = 9;
        status.last_error = Some("conflict".into());
        p.tables = vec![status];
        m.observe_progress("bronze", &p);
        // A stale status adds nothing.
        m.observe_progress("bronze", &p);
        let text = m.encode();
        let labels = r#"{job_name="bronze",table="bronze.events"}"#;
        for expected in [
            format!("floe_table_snapshots{labels} 12"),
            format!("floe_table_data_manifests{labels} 3"),
            format!("floe_table_metadata_file_bytes{labels} 9000"),
            format!("floe_table_maintenance_runs_total{labels} 2"),
            format!("floe_table_maintenance_failures_total{labels} 1"),
            format!("floe_table_snapshots_expired_total{labels} 9"),
            format!("floe_table_files_deleted_total{labels} 7"),
            format!("floe_table_last_maintenance_timestamp_seconds{labels} 1767225660"),
        ] {
            assert!(text.contains(&expected), "{expected} in\n{text}");
        }
    }
}
