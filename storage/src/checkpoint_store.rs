//! The checkpoint store: operator state and checkpoint manifests, by checkpoint id.
//!
//! Writes use create-only puts, so two processes that somehow run the same job cannot
//! overwrite each other's checkpoint objects: the second one fails loudly instead.

use bytes::Bytes;
use floe_common::checkpoint::{CheckpointLayout, CheckpointManifest};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::Location;

/// Failures of object storage or of what it returned.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage configuration: {0}")]
    Config(String),
    #[error("object storage at {location}: {source}")]
    Store {
        location: String,
        #[source]
        source: object_store::Error,
    },
    #[error("checkpoint object {0} already exists (another process is running this job?)")]
    AlreadyExists(String),
    #[error("checkpoint manifest {path} is corrupt: {message}")]
    CorruptManifest { path: String, message: String },
}

/// Reads and writes one job's checkpoints.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    location: Location,
    layout: CheckpointLayout,
}

impl CheckpointStore {
    pub fn new(location: Location, job: &str) -> Self {
        Self {
            location,
            layout: CheckpointLayout {
                job: job.to_owned(),
            },
        }
    }

    pub fn layout(&self) -> &CheckpointLayout {
        &self.layout
    }

    fn path(&self, relative: &str) -> Path {
        let prefix = self.location.prefix.as_ref();
        if prefix.is_empty() {
            Path::from(relative)
        } else {
            Path::from(format!("{prefix}/{relative}"))
        }
    }

    fn relative<'a>(&self, path: &'a Path) -> &'a str {
        let full = path.as_ref();
        let prefix = self.location.prefix.as_ref();
        if prefix.is_empty() {
            full
        } else {
            full.strip_prefix(prefix)
                .map(|r| r.trim_start_matches('/'))
                .unwrap_or(full)
        }
    }

    fn err(&self, source: object_store::Error) -> StorageError {
        StorageError::Store {
            location: self.location.display.clone(),
            source,
        }
    }

    async fn put_new(&self, relative: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match self
            .location
            .store
            .put_opts(&self.path(relative), PutPayload::from(bytes), opts)
            .await
        {
            Ok(_) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) => {
                Err(StorageError::AlreadyExists(relative.to_owned()))
            }
            Err(e) => Err(self.err(e)),
        }
    }

    /// Stores one worker's encoded operator state for a checkpoint.
    pub async fn put_worker_state(
        &self,
        checkpoint_id: u64,
        worker: &str,
        bytes: Vec<u8>,
    ) -> Result<(), StorageError> {
        self.put_new(&self.layout.worker_state(checkpoint_id, worker), bytes)
            .await
    }

    pub async fn get_worker_state(
        &self,
        checkpoint_id: u64,
        worker: &str,
    ) -> Result<Bytes, StorageError> {
        let path = self.path(&self.layout.worker_state(checkpoint_id, worker));
        let got = self
            .location
            .store
            .get(&path)
            .await
            .map_err(|e| self.err(e))?;
        got.bytes().await.map_err(|e| self.err(e))
    }

    /// Writes the manifest, which makes the checkpoint complete.
    pub async fn put_manifest(&self, manifest: &CheckpointManifest) -> Result<(), StorageError> {
        let json =
            serde_json::to_vec_pretty(manifest).map_err(|e| StorageError::CorruptManifest {
                path: self.layout.manifest(manifest.checkpoint_id),
                message: e.to_string(),
            })?;
        self.put_new(&self.layout.manifest(manifest.checkpoint_id), json)
            .await
    }

    pub async fn get_manifest(
        &self,
        checkpoint_id: u64,
    ) -> Result<CheckpointManifest, StorageError> {
        let rel = self.layout.manifest(checkpoint_id);
        let got = self
            .location
            .store
            .get(&self.path(&rel))
            .await
            .map_err(|e| self.err(e))?;
        let bytes = got.bytes().await.map_err(|e| self.err(e))?;
        serde_json::from_slice(&bytes).map_err(|e| StorageError::CorruptManifest {
            path: rel,
            message: e.to_string(),
        })
    }

    /// Every checkpoint id with any object, and which of them are complete (have a manifest).
    pub async fn list(&self) -> Result<CheckpointListing, StorageError> {
        let prefix = self.path(self.layout.job_prefix().trim_end_matches('/'));
        let objects: Vec<_> = self
            .location
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| self.err(e))?;
        let mut listing = CheckpointListing::default();
        for meta in objects {
            let rel = self.relative(&meta.location).to_owned();
            if let Some(id) = self.layout.parse_id(&rel) {
                if !listing.all.contains(&id) {
                    listing.all.push(id);
                }
                if rel.ends_with("/_manifest.json") {
                    listing.complete.push(id);
                }
            }
        }
        listing.all.sort_unstable();
        listing.complete.sort_unstable();
        Ok(listing)
    }

    /// Deletes every object of one checkpoint.
    pub async fn delete_checkpoint(&self, checkpoint_id: u64) -> Result<(), StorageError> {
        let prefix = self.path(&self.layout.dir(checkpoint_id));
        let objects: Vec<_> = self
            .location
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| self.err(e))?;
        // The manifest goes first, so a half-deleted checkpoint is never taken as complete.
        let (manifests, others): (Vec<_>, Vec<_>) = objects
            .into_iter()
            .partition(|m| m.location.as_ref().ends_with("_manifest.json"));
        for meta in manifests.into_iter().chain(others) {
            match self.location.store.delete(&meta.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.err(e)),
            }
        }
        Ok(())
    }
}

/// What [`CheckpointStore::list`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CheckpointListing {
    pub all: Vec<u64>,
    pub complete: Vec<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::open_location;

    fn manifest(id: u64) -> CheckpointManifest {
        CheckpointManifest {
            job: "j".into(),
            checkpoint_id: id,
            workers: vec!["w0".into()],
            tables: vec![],
            watermark_ms: 5,
        }
    }

    #[tokio::test]
    async fn stores_lists_fences_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(open_location(dir.path().to_str().unwrap()).unwrap(), "j");
        store
            .put_worker_state(1, "w0", vec![1, 2, 3])
            .await
            .unwrap();
        store.put_manifest(&manifest(1)).await.unwrap();
        store.put_worker_state(2, "w0", vec![4]).await.unwrap();
        let listing = store.list().await.unwrap();
        assert_eq!(listing.all, [1, 2]);
        assert_eq!(listing.complete, [1]);
        assert_eq!(store.get_manifest(1).await.unwrap(), manifest(1));
        assert_eq!(
            &store.get_worker_state(1, "w0").await.unwrap()[..],
            [1, 2, 3]
        );
        assert!(matches!(
            store.put_worker_state(2, "w0", vec![9]).await,
            Err(StorageError::AlreadyExists(_))
        ));
        store.delete_checkpoint(1).await.unwrap();
        assert_eq!(store.list().await.unwrap().all, [2]);
    }
}
