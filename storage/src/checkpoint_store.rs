//! The checkpoint store: operator state and checkpoint manifests, by checkpoint id.
//!
//! Writes use create-only puts, so two processes that somehow run the same job cannot
//! overwrite each other's checkpoint objects: the second one fails loudly instead. A process
//! takes an epoch (a create-only marker) when it starts; its checkpoint objects live under that
//! epoch, so a zombie and its replacement never write the same object.

use bytes::Bytes;
use floe_common::checkpoint::{
    CheckpointLayout, CheckpointManifest, CheckpointObject, CheckpointRef,
};
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
    #[error(
        "the object store at {location} ignores create-only writes (a second put with \
         If-None-Match: * overwrote the first); Floe's checkpoints need them to be exactly-once. \
         Upgrade the server or use another store"
    )]
    CreateOnlyIgnored { location: String },
    #[error("fsync of {path}: {source}")]
    Sync {
        path: String,
        #[source]
        source: std::io::Error,
    },
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

    /// The store's location as the user wrote it.
    pub fn display(&self) -> &str {
        &self.location.display
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
            Ok(_) => self.sync_local(relative),
            Err(object_store::Error::AlreadyExists { .. }) => {
                Err(StorageError::AlreadyExists(relative.to_owned()))
            }
            Err(e) => Err(self.err(e)),
        }
    }

    /// On a local disk, makes a created object durable before the write counts as done.
    fn sync_local(&self, relative: &str) -> Result<(), StorageError> {
        let Some(root) = &self.location.local_root else {
            return Ok(());
        };
        let path = self.path(relative);
        crate::local_sync::sync_created(root, path.as_ref())
            .map(|_| ())
            .map_err(|source| StorageError::Sync {
                path: path.to_string(),
                source,
            })
    }

    /// Checks that the store rejects a second create-only put of one key; some S3-compatible
    /// servers ignore `If-None-Match: *` and overwrite, which would break exactly-once.
    pub async fn verify_create_only(&self) -> Result<(), StorageError> {
        let probe = format!(
            "{}_probe/{}-{}",
            self.layout.job_prefix(),
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        );
        self.put_new(&probe, b"1".to_vec()).await?;
        let second = self.put_new(&probe, b"2".to_vec()).await;
        let _ = self.location.store.delete(&self.path(&probe)).await;
        match second {
            Err(StorageError::AlreadyExists(_)) => Ok(()),
            Err(e) => Err(e),
            Ok(()) => Err(StorageError::CreateOnlyIgnored {
                location: self.location.display.clone(),
            }),
        }
    }

    /// The newest epoch any process of the job has taken.
    pub async fn newest_epoch(&self) -> Result<u64, StorageError> {
        let prefix = self.path(&self.layout.epochs_dir());
        let objects: Vec<_> = self
            .location
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| self.err(e))?;
        Ok(objects
            .iter()
            .filter_map(|m| match self.layout.parse(self.relative(&m.location)) {
                Some(CheckpointObject::Epoch(e)) => Some(e),
                _ => None,
            })
            .max()
            .unwrap_or(0))
    }

    /// Takes the next epoch of the job (one more than any taken before, and than `above`) with
    /// a create-only marker, so two processes never share one.
    pub async fn claim_epoch(&self, above: u64) -> Result<u64, StorageError> {
        let mut epoch = self.newest_epoch().await?.max(above) + 1;
        loop {
            match self
                .put_new(&self.layout.epoch_marker(epoch), Vec::new())
                .await
            {
                Ok(()) => return Ok(epoch),
                Err(StorageError::AlreadyExists(_)) => epoch += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// Stores one worker's encoded operator state for a checkpoint.
    pub async fn put_worker_state(
        &self,
        at: CheckpointRef,
        worker: &str,
        bytes: Vec<u8>,
    ) -> Result<(), StorageError> {
        self.put_new(&self.layout.worker_state(at, worker), bytes)
            .await
    }

    pub async fn get_worker_state(
        &self,
        at: CheckpointRef,
        worker: &str,
    ) -> Result<Bytes, StorageError> {
        let path = self.path(&self.layout.worker_state(at, worker));
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
                path: self.layout.manifest(manifest.at()),
                message: e.to_string(),
            })?;
        self.put_new(&self.layout.manifest(manifest.at()), json)
            .await
    }

    pub async fn get_manifest(
        &self,
        at: CheckpointRef,
    ) -> Result<CheckpointManifest, StorageError> {
        let rel = self.layout.manifest(at);
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

    /// Every checkpoint id with any object, the complete attempts (with a manifest), and the
    /// epochs taken.
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
            match self.layout.parse(self.relative(&meta.location)) {
                Some(CheckpointObject::Checkpoint { at, manifest }) => {
                    listing.all.push(at.id);
                    if manifest {
                        listing.complete.push(at);
                    }
                }
                Some(CheckpointObject::Epoch(epoch)) => listing.epochs.push(epoch),
                None => {}
            }
        }
        for v in [&mut listing.all, &mut listing.epochs] {
            v.sort_unstable();
            v.dedup();
        }
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
    /// Ids with any object, sorted.
    pub all: Vec<u64>,
    /// Complete attempts, oldest first: by id, then by epoch.
    pub complete: Vec<CheckpointRef>,
    /// Epochs taken, sorted.
    pub epochs: Vec<u64>,
}

impl CheckpointListing {
    /// The newest complete checkpoint: the highest id, and of its attempts the newest epoch.
    pub fn newest_complete(&self) -> Option<CheckpointRef> {
        self.complete.last().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::open_location;

    fn manifest(at: CheckpointRef) -> CheckpointManifest {
        CheckpointManifest {
            job: "j".into(),
            checkpoint_id: at.id,
            epoch: at.epoch,
            job_fingerprint: None,
            workers: vec!["w0".into()],
            tables: vec![],
            watermark_ms: 5,
        }
    }

    fn local_store(dir: &tempfile::TempDir) -> CheckpointStore {
        CheckpointStore::new(open_location(dir.path().to_str().unwrap()).unwrap(), "j")
    }

    const fn at(id: u64, epoch: u64) -> CheckpointRef {
        CheckpointRef { id, epoch }
    }

    #[tokio::test]
    async fn stores_lists_fences_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let store = local_store(&dir);
        store
            .put_worker_state(at(1, 1), "w0", vec![1, 2, 3])
            .await
            .unwrap();
        store.put_manifest(&manifest(at(1, 1))).await.unwrap();
        store
            .put_worker_state(at(2, 1), "w0", vec![4])
            .await
            .unwrap();
        let listing = store.list().await.unwrap();
        assert_eq!(listing.all, [1, 2]);
        assert_eq!(listing.complete, [at(1, 1)]);
        assert_eq!(
            store.get_manifest(at(1, 1)).await.unwrap(),
            manifest(at(1, 1))
        );
        assert_eq!(
            &store.get_worker_state(at(1, 1), "w0").await.unwrap()[..],
            [1, 2, 3]
        );
        assert!(matches!(
            store.put_worker_state(at(2, 1), "w0", vec![9]).await,
            Err(StorageError::AlreadyExists(_))
        ));
        store.delete_checkpoint(1).await.unwrap();
        assert_eq!(store.list().await.unwrap().all, [2]);
    }

    #[tokio::test]
    async fn two_epochs_write_one_id_without_colliding_and_the_newer_wins() {
        let dir = tempfile::tempdir().unwrap();
        let store = local_store(&dir);
        let old = store.claim_epoch(0).await.unwrap();
        let new = store.claim_epoch(0).await.unwrap();
        assert_eq!((old, new), (1, 2));
        assert_eq!(store.claim_epoch(5).await.unwrap(), 6);
        for epoch in [new, old] {
            store
                .put_worker_state(at(5, epoch), "0", vec![epoch as u8])
                .await
                .unwrap();
            store.put_manifest(&manifest(at(5, epoch))).await.unwrap();
        }
        // A store written before epochs existed: epoch 0, no epoch directory.
        store.put_manifest(&manifest(at(4, 0))).await.unwrap();
        let listing = store.list().await.unwrap();
        assert_eq!(listing.epochs, [1, 2, 6]);
        assert_eq!(store.newest_epoch().await.unwrap(), 6);
        assert_eq!(listing.complete, [at(4, 0), at(5, 1), at(5, 2)]);
        assert_eq!(listing.newest_complete(), Some(at(5, 2)));
        assert_eq!(
            &store.get_worker_state(at(5, 2), "0").await.unwrap()[..],
            [2]
        );
    }

    #[tokio::test]
    async fn local_writes_are_synced_and_create_only_is_verified() {
        let dir = tempfile::tempdir().unwrap();
        let store = local_store(&dir);
        store.verify_create_only().await.unwrap();
        assert!(
            store.list().await.unwrap().all.is_empty(),
            "the probe is removed"
        );
        store
            .put_worker_state(at(1, 1), "0", vec![1])
            .await
            .unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let file = root.join(store.layout().worker_state(at(1, 1), "0"));
        assert_eq!(std::fs::read(file).unwrap(), [1]);
    }

    /// A store that takes every create-only put as an overwrite, like the S3 servers that
    /// ignore `If-None-Match: *`.
    #[derive(Debug)]
    struct IgnoresCreateOnly(object_store::memory::InMemory);

    impl std::fmt::Display for IgnoresCreateOnly {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "IgnoresCreateOnly")
        }
    }

    #[async_trait::async_trait]
    impl object_store::ObjectStore for IgnoresCreateOnly {
        async fn put_opts(
            &self,
            location: &Path,
            payload: PutPayload,
            _opts: PutOptions,
        ) -> object_store::Result<object_store::PutResult> {
            self.0
                .put_opts(location, payload, PutOptions::default())
                .await
        }

        async fn put_multipart_opts(
            &self,
            location: &Path,
            opts: object_store::PutMultipartOptions,
        ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
            self.0.put_multipart_opts(location, opts).await
        }

        async fn get_opts(
            &self,
            location: &Path,
            options: object_store::GetOptions,
        ) -> object_store::Result<object_store::GetResult> {
            self.0.get_opts(location, options).await
        }

        fn delete_stream(
            &self,
            locations: futures::stream::BoxStream<'static, object_store::Result<Path>>,
        ) -> futures::stream::BoxStream<'static, object_store::Result<Path>> {
            self.0.delete_stream(locations)
        }

        fn list(
            &self,
            prefix: Option<&Path>,
        ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>>
        {
            self.0.list(prefix)
        }

        async fn list_with_delimiter(
            &self,
            prefix: Option<&Path>,
        ) -> object_store::Result<object_store::ListResult> {
            self.0.list_with_delimiter(prefix).await
        }

        async fn copy_opts(
            &self,
            from: &Path,
            to: &Path,
            options: object_store::CopyOptions,
        ) -> object_store::Result<()> {
            self.0.copy_opts(from, to, options).await
        }
    }

    #[tokio::test]
    async fn a_store_that_overwrites_create_only_puts_is_refused() {
        let location = crate::Location {
            store: std::sync::Arc::new(IgnoresCreateOnly(object_store::memory::InMemory::new())),
            prefix: Path::default(),
            display: "s3://bucket at http://broken-s3:9000".into(),
            local_root: None,
        };
        let err = CheckpointStore::new(location, "j")
            .verify_create_only()
            .await
            .expect_err("must refuse");
        assert!(
            matches!(err, StorageError::CreateOnlyIgnored { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("http://broken-s3:9000"), "{err}");
    }
}
