//! Deleting the checkpoints newer complete ones have subsumed, off the commit path, as Flink's
//! checkpoints cleaner does: a commit starts a pass, and no commit waits for one. A pass
//! cut off (a crash, a dropped committer) leaves what the next one deletes.

use std::sync::Mutex;

use floe_storage::{CheckpointStore, StorageError};
use tokio::task::JoinHandle;

/// Deletes every checkpoint older than the newest `keep` complete ones (incomplete attempts
/// among them too: a zombie's attempt is never deleted while it could still complete).
pub async fn delete_subsumed(store: &CheckpointStore, keep: usize) -> Result<(), StorageError> {
    let listing = store.list().await?;
    let mut complete: Vec<u64> = listing.complete.iter().map(|c| c.id).collect();
    complete.dedup();
    if complete.len() <= keep {
        return Ok(());
    }
    let oldest_kept = complete[complete.len() - keep];
    for id in listing.all.iter().filter(|id| **id < oldest_kept) {
        store.delete_checkpoint(*id).await?;
    }
    Ok(())
}

/// At most one [`delete_subsumed`] pass of a job at a time, in a task of its own.
pub struct CheckpointCleaner {
    store: CheckpointStore,
    keep: usize,
    pass: Mutex<Option<JoinHandle<()>>>,
}

impl CheckpointCleaner {
    pub fn new(store: CheckpointStore, keep: usize) -> Self {
        Self {
            store,
            keep: keep.max(1),
            pass: Mutex::new(None),
        }
    }

    /// Starts a pass, unless one is still going: the next commit starts the pass then.
    pub fn start(&self) {
        let Ok(mut pass) = self.pass.lock() else {
            return;
        };
        if pass.as_ref().is_some_and(|p| !p.is_finished()) {
            return;
        }
        let (store, keep) = (self.store.clone(), self.keep);
        *pass = Some(tokio::spawn(async move {
            if let Err(e) = delete_subsumed(&store, keep).await {
                tracing::warn!(error = %e, store = %store.display(), "deleting old checkpoints failed; the next commit tries again");
            }
        }));
    }

    /// Waits for a pass in progress to end.
    pub async fn finished(&self) {
        let pass = self.pass.lock().ok().and_then(|mut p| p.take());
        if let Some(pass) = pass {
            let _ = pass.await;
        }
    }
}

impl Drop for CheckpointCleaner {
    fn drop(&mut self) {
        if let Ok(mut pass) = self.pass.lock() {
            if let Some(pass) = pass.take() {
                pass.abort();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use floe_common::checkpoint::{CheckpointManifest, CheckpointRef};
    use floe_storage::open_location;

    use super::*;

    fn manifest(id: u64) -> CheckpointManifest {
        CheckpointManifest {
            job: "job".into(),
            checkpoint_id: id,
            epoch: 1,
            job_fingerprint: None,
            workers: vec!["w".into()],
            holders: BTreeMap::new(),
            tables: Vec::new(),
            watermark_ms: 0,
            watermark_is_job_watermark: true,
        }
    }

    /// A pass started beside the commits deletes what newer complete checkpoints subsumed,
    /// abandoned attempts among them, and keeps the newest `keep` and any attempt after them.
    #[tokio::test]
    async fn a_pass_keeps_the_newest_complete_checkpoints_and_what_follows_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let location = open_location(&dir.path().display().to_string()).expect("location");
        let store = CheckpointStore::new(location, "job");
        for id in [1, 2, 4, 5] {
            store.put_manifest(&manifest(id)).await.expect("manifest");
        }
        // Attempts that never completed: one subsumed, one newer than every manifest.
        for id in [3, 6] {
            store
                .put_worker_state(CheckpointRef { id, epoch: 1 }, "w", b"state".to_vec())
                .await
                .expect("state");
        }
        let cleaner = CheckpointCleaner::new(store.clone(), 2);
        cleaner.start();
        cleaner.finished().await;
        assert_eq!(store.list().await.expect("list").all, vec![4, 5, 6]);

        store.put_manifest(&manifest(7)).await.expect("manifest");
        cleaner.start();
        cleaner.finished().await;
        let listing = store.list().await.expect("list");
        assert_eq!(listing.all, vec![5, 6, 7]);
        assert_eq!(listing.complete.len(), 2);
    }
}
