//! Where a job resumes: the newest complete checkpoint, committed to every table that lacks
//! it once its files are known to exist, and the refusals of a store behind its tables or a
//! checkpoint of a job of another shape.

use floe_common::checkpoint::CheckpointManifest;
use floe_common::job_shape;
use floe_table::iceberg_table::IcebergTable;

use crate::committer::{restore_point, CommitterError, IcebergCommitter, Recovery};

impl IcebergCommitter {
    /// Finds the newest complete checkpoint, makes sure every table has it, and returns where
    /// the job resumes. Refuses a store that is behind the tables (replaced or emptied) and a
    /// checkpoint written by a job of another shape; with `start_over`, such a start runs from
    /// the source position with empty state instead, its checkpoint ids above everything
    /// before. `start_over` changes nothing when the state is fine, so a supervisor can keep
    /// it in its command line without resetting the job at every restart.
    pub async fn recover(&self, start_over: bool) -> Result<Recovery, CommitterError> {
        let listing = self.store.list().await?;
        let mut in_tables: Option<(u64, &IcebergTable)> = None;
        for (_, table) in &self.tables {
            if let Some(last) = table.last_committed_checkpoint(&self.job.name).await? {
                if in_tables.is_none_or(|(l, _)| last > l) {
                    in_tables = Some((last, table));
                }
            }
        }
        let next_id = listing
            .all
            .last()
            .copied()
            .max(in_tables.map(|(l, _)| l))
            .unwrap_or(0)
            + 1;
        let newest = listing.newest_complete();
        let manifest = match newest {
            Some(at) => Some(self.store.get_manifest(at).await?),
            None => None,
        };
        // Its files are final output, whether the job then restores it or starts over.
        if let Some(m) = &manifest {
            let m = self.known_tables_only(m);
            self.check_files_exist(&m).await?;
            let report = self.commit(&m).await?;
            tracing::info!(job = %self.job.name, checkpoint = m.checkpoint_id, epoch = m.epoch, recommitted = report.tables_committed, "newest complete checkpoint is in every table");
        }
        let refusal = if let Some((last, table)) =
            in_tables.filter(|(last, _)| newest.is_none_or(|n| *last > n.id))
        {
            Some(CommitterError::StoreBehindTables {
                job: self.job.name.clone(),
                table: table.ident().to_string(),
                in_table: last,
                store: self.store.display().to_owned(),
                in_store: newest.map_or("no complete checkpoint".into(), |n| {
                    format!("nothing newer than checkpoint {}", n.id)
                }),
            })
        } else {
            let current = job_shape::fingerprint(&self.job);
            manifest
                .as_ref()
                .filter(|m| m.job_fingerprint.as_ref().is_some_and(|f| *f != current))
                .map(|m| CommitterError::JobChanged {
                    job: self.job.name.clone(),
                    checkpoint: m.checkpoint_id,
                })
        };
        match refusal {
            None => Ok(Recovery {
                restore: manifest.as_ref().map(restore_point),
                next_id,
            }),
            Some(why) if start_over => {
                tracing::warn!(job = %self.job.name, next_id, reason = %why, "starting over with empty state (--start-over)");
                Ok(Recovery {
                    restore: None,
                    next_id,
                })
            }
            Some(why) => Err(why),
        }
    }

    /// `manifest` without the tables this job no longer writes (a renamed sink), each named in
    /// a warning.
    fn known_tables_only(&self, manifest: &CheckpointManifest) -> CheckpointManifest {
        let mut known = manifest.clone();
        known.tables.retain(|t| {
            let ok = self.table_by_name(&t.table).is_some();
            if !ok {
                tracing::warn!(job = %self.job.name, checkpoint = manifest.checkpoint_id, table = %t.table, rows = t.rows, "checkpoint has files for a table the job no longer writes; not committing them");
            }
            ok
        });
        known
    }

    /// Refuses to commit checkpoint `manifest` to a table that lacks it while a file it names
    /// is gone (deleted by hand or by another tool's cleanup): a snapshot naming it would
    /// break every reader of the table.
    async fn check_files_exist(&self, manifest: &CheckpointManifest) -> Result<(), CommitterError> {
        for entry in &manifest.tables {
            let Some(table) = self.table_by_name(&entry.table) else {
                continue;
            };
            if table
                .last_committed_checkpoint(&self.job.name)
                .await?
                .is_some_and(|last| last >= manifest.checkpoint_id)
            {
                continue;
            }
            let files = table.layout().data_files_from_json(&entry.data_files)?;
            if let Some(file) = table.layout().first_missing(&files).await? {
                return Err(CommitterError::MissingFile {
                    job: self.job.name.clone(),
                    checkpoint: manifest.checkpoint_id,
                    table: entry.table.clone(),
                    file: file.to_owned(),
                });
            }
        }
        Ok(())
    }
}
