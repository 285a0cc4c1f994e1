//! The committer's side of a CDC job: planning each checkpoint's change of the dimension table
//! (a merge through the key index, or a rewrite) and of the history table from its changelog
//! files, and planning it again at commit when the table has moved since the plan.

use std::collections::HashSet;

use arrow_array::RecordBatch;
use floe_common::cdc::CdcMode;
use floe_common::checkpoint::{CheckpointManifest, TableFiles};
use floe_common::config::SinkRole;
use iceberg::spec::FormatVersion;

use crate::committer::{CommitterError, IcebergCommitter};
use floe_table::dimension_merge::merge_dimension;
use floe_table::dimension_rewrite::{
    live_data_files, read_changelog, rewrite_dimension, RewriteError,
};
use floe_table::history_merge::merge_history;
use floe_table::history_rewrite::rewrite_history;
use floe_table::iceberg_table::IcebergTable;

impl IcebergCommitter {
    /// Refuses a rewritten table that overwrites cannot be committed to (format v1), before a
    /// checkpoint plans a rewrite for it.
    pub(crate) fn check_rewritable(table: &IcebergTable) -> Result<(), CommitterError> {
        match table.layout().metadata().format_version() {
            FormatVersion::V1 => Err(CommitterError::NotRewritable {
                table: table.ident().to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// The rewrite of `table` (the job's dimension or history table, by `role`) applying the
    /// changelog files `files` of `changelog`, read once into `rows` for all rewritten tables;
    /// `None` when nothing changes.
    pub(crate) async fn plan_rewrite(
        &self,
        role: SinkRole,
        table: &IcebergTable,
        changelog: &IcebergTable,
        files: &TableFiles,
        rows: &mut Option<Vec<RecordBatch>>,
    ) -> Result<Option<TableFiles>, CommitterError> {
        let Some(spec) = self.job.cdc() else {
            return Ok(None);
        };
        if rows.is_none() {
            *rows = Some(read_changelog(changelog.layout(), files).await?);
        }
        let rows = rows.as_deref().unwrap_or_default();
        let layout = table
            .layout()
            .clone()
            .with_target_file_bytes(spec.changelog.target_file_bytes);
        let base = table.reload().await?;
        Ok(match (role, spec.mode) {
            (SinkRole::History, CdcMode::MergeOnRead) => {
                let mut index = self.history_index.lock().await;
                merge_history(spec, &base, &layout, rows, &mut index).await?
            }
            (SinkRole::History, CdcMode::CopyOnWrite) => {
                rewrite_history(spec, &base, &layout, rows).await?
            }
            (_, CdcMode::MergeOnRead) => {
                let mut index = self.key_index.lock().await;
                merge_dimension(spec, &base, &layout, rows, &mut index).await?
            }
            (_, CdcMode::CopyOnWrite) => rewrite_dimension(spec, &base, &layout, rows).await?,
        })
    }

    /// The rewrite of `table` to commit for `manifest`: its planned `entry`, or, when files the
    /// plan replaces are no longer live (another writer, such as a compaction while the job was
    /// down, rewrote them) and the table lacks the checkpoint, the same changes planned again
    /// on the table as it is now. A rewrite depends only on the table and the changes, so
    /// planning it again gives the rows the first plan would have.
    pub(crate) async fn current_rewrite(
        &self,
        role: SinkRole,
        table: &IcebergTable,
        entry: &TableFiles,
        manifest: &CheckpointManifest,
    ) -> Result<Option<TableFiles>, CommitterError> {
        let id = manifest.checkpoint_id;
        if entry.removed.is_empty() && entry.deletes_in.is_empty() {
            return Ok(Some(entry.clone()));
        }
        let base = table.reload().await?;
        let live: HashSet<String> = live_data_files(&base)
            .await
            .map_err(|source| RewriteError::Listing {
                table: table.ident().to_string(),
                source,
            })?
            .iter()
            .map(|f| f.file_path().to_owned())
            .collect();
        // Checked second: a plan made this round is still live (one reload, as the commit
        // does anyway); a committed checkpoint's replaced files are gone, but so is the need.
        if entry
            .removed
            .iter()
            .chain(&entry.deletes_in)
            .all(|p| live.contains(p))
            || table
                .last_committed_checkpoint(&self.job.name)
                .await?
                .is_some_and(|last| last >= id)
        {
            return Ok(Some(entry.clone()));
        }
        tracing::warn!(table = %table.ident(), checkpoint = id, "files the checkpoint's rewrite replaces were rewritten by another writer since; planning it again on the table as it is");
        let changelog = self
            .tables
            .iter()
            .find(|(role, _)| *role == SinkRole::Records)
            .map(|(_, t)| t);
        let changes = changelog.and_then(|t| {
            manifest
                .tables
                .iter()
                .find(|e| e.table == t.layout().name())
                .map(|e| (t, e))
        });
        match changes {
            Some((changelog, files)) => {
                self.plan_rewrite(role, table, changelog, files, &mut None)
                    .await
            }
            None => Err(CommitterError::UnknownTable {
                checkpoint: id,
                table: format!("the changelog of {}", table.ident()),
            }),
        }
    }
}
