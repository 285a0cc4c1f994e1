//! Snapshot expiry: the snapshots a [`MaintenancePolicy`] lets go leave the table's metadata,
//! and the files only they referenced are deleted.

use std::collections::HashSet;

use floe_common::maintenance::{snapshots_to_expire, MaintenancePolicy};
use iceberg::spec::TableMetadata;
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};

use super::reachable::unreferenced_after_expiry;
use crate::iceberg_table::{IcebergTable, TableError};

/// What an expiry did, or in a dry run would do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expiry {
    /// The snapshots removed from the table's metadata.
    pub snapshots: Vec<i64>,
    /// The files only those snapshots referenced: manifest lists, manifests, data and delete
    /// files.
    pub files: Vec<String>,
}

/// The snapshots of `table`'s main branch, newest first, as `(id, timestamp ms)`.
fn main_ancestry(table: &Table) -> Vec<(i64, i64)> {
    let md = table.metadata();
    let mut ancestry = Vec::new();
    let mut next = md.current_snapshot_id();
    while let Some(snapshot) = next.and_then(|id| md.snapshot_by_id(id)) {
        ancestry.push((snapshot.snapshot_id(), snapshot.timestamp_ms()));
        next = snapshot.parent_snapshot_id();
    }
    ancestry
}

/// The snapshots branches and tags point at (iceberg 0.10 keeps `refs` private; its serde
/// form is the spec's).
fn ref_heads(md: &TableMetadata) -> iceberg::Result<HashSet<i64>> {
    let json = serde_json::to_value(md).map_err(|e| {
        iceberg::Error::new(iceberg::ErrorKind::Unexpected, "cannot serialise metadata")
            .with_source(e)
    })?;
    Ok(json
        .get("refs")
        .and_then(|r| r.as_object())
        .into_iter()
        .flat_map(|refs| refs.values())
        .filter_map(|r| r.get("snapshot-id").and_then(|id| id.as_i64()))
        .collect())
}

impl IcebergTable {
    /// Expires the snapshots `policy` lets go at `now_ms` and deletes the files only they
    /// referenced, except those `protected` names (the files of complete checkpoints, which a
    /// restart may read again). Snapshots a branch or tag points at stay. With `dry_run`,
    /// reports what it would do and changes nothing.
    pub async fn expire_snapshots(
        &self,
        policy: &MaintenancePolicy,
        protected: &HashSet<String>,
        now_ms: i64,
        dry_run: bool,
    ) -> Result<Expiry, TableError> {
        // Planned on the table as it is, beside the stream's commits; committed in the table's
        // commit turn on the state the last commit left.
        let planned = self.reload().await?;
        let heads = ref_heads(planned.metadata())
            .map_err(|e| self.maintenance_failed("reading the table's branches and tags", e))?;
        let ids: Vec<i64> = snapshots_to_expire(&main_ancestry(&planned), now_ms, policy)
            .into_iter()
            .filter(|id| !heads.contains(id))
            .collect();
        if ids.is_empty() {
            return Ok(Expiry::default());
        }
        let expired: HashSet<i64> = ids.iter().copied().collect();
        let mut files = unreferenced_after_expiry(&planned, &expired)
            .await
            .map_err(|e| self.maintenance_failed("listing the files of expired snapshots", e))?;
        files.retain(|f| !protected.contains(f));
        if dry_run {
            return Ok(Expiry {
                snapshots: ids,
                files,
            });
        }
        let what = "expiring snapshots";
        {
            let _turn = self.commit_turn.lock().await;
            let base = self.base_for_commit().await?;
            let heads = ref_heads(base.metadata()).map_err(|e| self.maintenance_failed(what, e))?;
            // Commits since the plan only add snapshots; one that moved a branch onto an
            // expiring snapshot (another engine's rollback) makes the run stop here.
            if ids
                .iter()
                .any(|id| heads.contains(id) || base.metadata().snapshot_by_id(*id).is_none())
            {
                self.forget_base();
                return Err(self.maintenance_failed(
                    what,
                    iceberg::Error::new(
                        iceberg::ErrorKind::CatalogCommitConflicts,
                        "the table moved under the expiry's plan; it is planned again",
                    ),
                ));
            }
            let tx = Transaction::new(&base);
            // The cutoff at the start of time keeps every snapshot but the ones named.
            let tx = tx
                .expire_snapshots()
                .expire_snapshot_ids(ids.iter().copied())
                .expire_older_than_ms(i64::MIN)
                .apply(tx)
                .map_err(|e| self.maintenance_failed(what, e))?;
            self.commit_transaction_pinned(what, &base, tx).await?;
        }
        floe_common::failpoint::hit_counted("expiry-before-deletes");
        self.delete_files(what, planned.file_io(), files.clone())
            .await;
        Ok(Expiry {
            snapshots: ids,
            files,
        })
    }
}
