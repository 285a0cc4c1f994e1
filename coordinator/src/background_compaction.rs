//! Compactions beside the stream: a table's small files are read and written again in a task
//! of their own, so no checkpoint waits for that work; the committer commits the result at its
//! next maintenance run, between two checkpoints, where the commit is cheap and races nobody.

use std::collections::HashMap;
use std::sync::Mutex;

use floe_common::maintenance::MaintenancePolicy;
use floe_table::iceberg_table::{IcebergTable, TableError};
use floe_table::overwrite_commit::{Overwrite, SnapshotCommits};
use tokio::task::JoinHandle;

/// What one compaction committed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Compacted {
    pub files_rewritten: u64,
    pub bytes_rewritten: u64,
}

/// A compaction's rewrite running in a task of its own: its changes, one per bin.
type Rewriting = JoinHandle<Result<Vec<Overwrite>, TableError>>;

/// The running compaction of each table, by name.
#[derive(Default)]
pub(crate) struct BackgroundCompactions {
    running: Mutex<HashMap<String, Rewriting>>,
}

impl BackgroundCompactions {
    /// Commits `table`'s finished compaction if there is one, or starts one if none runs.
    pub(crate) async fn step(
        &self,
        table: &IcebergTable,
        via: &SnapshotCommits,
        policy: &MaintenancePolicy,
    ) -> Result<Option<Compacted>, TableError> {
        let name = table.layout().name().to_owned();
        let finished = {
            let Ok(mut running) = self.running.lock() else {
                return Ok(None);
            };
            match running.get(&name) {
                Some(handle) if handle.is_finished() => running.remove(&name),
                Some(_) => return Ok(None),
                None => {
                    running.insert(name, spawn(table.clone(), *policy));
                    return Ok(None);
                }
            }
        };
        let Some(handle) = finished else {
            return Ok(None);
        };
        let rewrites = match handle.await {
            Ok(result) => result?,
            Err(e) => {
                tracing::warn!(table = %name, error = %e, "a compaction task ended without a result");
                return Ok(None);
            }
        };
        let mut done = Compacted::default();
        for rewrite in &rewrites {
            let bytes: u64 = rewrite.added.iter().map(|f| f.file_size_in_bytes()).sum();
            table.commit_rewrite(rewrite, via).await?;
            done.files_rewritten += rewrite.removed.len() as u64;
            done.bytes_rewritten += bytes;
        }
        Ok(Some(done))
    }
}

/// Plans `table`'s compaction and writes its new files, in a task of its own.
fn spawn(
    table: IcebergTable,
    policy: MaintenancePolicy,
) -> JoinHandle<Result<Vec<Overwrite>, TableError>> {
    tokio::spawn(async move {
        let mut rewrites = Vec::new();
        for bin in table.plan_compaction(&policy).await? {
            rewrites.push(table.rewrite_files(&bin, policy.target_file_bytes).await?);
        }
        Ok(rewrites)
    })
}
