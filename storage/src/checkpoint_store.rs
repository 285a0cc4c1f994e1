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
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use tokio_util::io::{StreamReader, SyncIoBridge};
use tokio_util::sync::CancellationToken;

use crate::io_policy::IoPolicy;
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

impl StorageError {
    /// The object asked for is not there (deleted meanwhile, or never written).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            Self::Store {
                source: object_store::Error::NotFound { .. },
                ..
            }
        )
    }
}

/// Reads and writes one job's checkpoints.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    location: Location,
    layout: CheckpointLayout,
    io: IoPolicy,
    /// Objects made durable with fsync (local disk only).
    synced: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl CheckpointStore {
    pub fn new(location: Location, job: &str) -> Self {
        Self {
            location,
            layout: CheckpointLayout {
                job: job.to_owned(),
            },
            io: IoPolicy::default(),
            synced: Default::default(),
        }
    }

    /// How many objects this store (and its clones) fsynced to a local disk.
    pub fn local_syncs(&self) -> u64 {
        self.synced.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The same store with another deadline and retry policy for its calls.
    pub fn with_io_policy(mut self, io: IoPolicy) -> Self {
        self.io = io;
        self
    }

    pub fn layout(&self) -> &CheckpointLayout {
        &self.layout
    }

    /// The store's location as the user wrote it.
    pub fn display(&self) -> &str {
        &self.location.display
    }

    pub(crate) fn path(&self, relative: &str) -> Path {
        let prefix = self.location.prefix.as_ref();
        if prefix.is_empty() {
            Path::from(relative)
        } else {
            Path::from(format!("{prefix}/{relative}"))
        }
    }

    pub(crate) fn relative<'a>(&self, path: &'a Path) -> &'a str {
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

    /// A create-only put. Finding the object already there reads it back: the same bytes count
    /// as written. An attempt whose answer was lost may have landed, and the store's client
    /// retries under this call too, so even a first attempt can find its own object.
    pub(crate) async fn put_new(&self, relative: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
        let path = self.path(relative);
        let bytes = Bytes::from(bytes);
        let put = |_| {
            let (path, bytes) = (&path, bytes.clone());
            async move {
                let opts = PutOptions {
                    mode: PutMode::Create,
                    ..Default::default()
                };
                match self
                    .location
                    .store
                    .put_opts(path, PutPayload::from(bytes.clone()), opts)
                    .await
                {
                    Err(object_store::Error::AlreadyExists { .. }) => {
                        let there = self.location.store.get(path).await?.bytes().await?;
                        if there == bytes {
                            Ok(())
                        } else {
                            Err(object_store::Error::AlreadyExists {
                                path: path.to_string(),
                                source: "another writer's object".into(),
                            })
                        }
                    }
                    Err(e) => Err(e),
                    Ok(_) => Ok(()),
                }
            }
        };
        match self.io.run(&format!("put {relative}"), put).await {
            Ok(()) => self.sync_local(relative),
            Err(object_store::Error::AlreadyExists { .. }) => {
                Err(StorageError::AlreadyExists(relative.to_owned()))
            }
            Err(e) => Err(self.err(e)),
        }
    }

    pub(crate) async fn get_bytes(&self, relative: &str) -> Result<Bytes, StorageError> {
        let path = self.path(relative);
        self.io
            .run(&format!("get {relative}"), |_| async {
                self.location.store.get(&path).await?.bytes().await
            })
            .await
            .map_err(|e| self.err(e))
    }

    pub(crate) async fn list_under(&self, prefix: &Path) -> Result<Vec<ObjectMeta>, StorageError> {
        self.io
            .run(&format!("list {prefix}"), |_| {
                self.location.store.list(Some(prefix)).try_collect()
            })
            .await
            .map_err(|e| self.err(e))
    }

    async fn delete(&self, path: &Path) -> Result<(), StorageError> {
        let deleted = self
            .io
            .run(&format!("delete {path}"), |_| {
                self.location.store.delete(path)
            })
            .await;
        match deleted {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err(e)),
        }
    }

    /// On a local disk, makes a created object durable before the write counts as done.
    fn sync_local(&self, relative: &str) -> Result<(), StorageError> {
        let Some(root) = &self.location.local_root else {
            return Ok(());
        };
        let path = self.path(relative);
        crate::local_sync::sync_created(root, path.as_ref()).map_err(|source| {
            StorageError::Sync {
                path: path.to_string(),
                source,
            }
        })?;
        self.synced
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Checks that the store rejects a second create-only put of one key; some S3-compatible
    /// servers ignore `If-None-Match: *` and overwrite, which would break exactly-once.
    pub async fn verify_create_only(&self) -> Result<(), StorageError> {
        let token = unique_token();
        let probe = format!(
            "{}_probe/{}",
            self.layout.job_prefix(),
            String::from_utf8_lossy(&token)
        );
        self.put_new(&probe, token).await?;
        let second = self.put_new(&probe, unique_token()).await;
        let _ = self.delete(&self.path(&probe)).await;
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
        let objects = self.list_under(&prefix).await?;
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
            // A body of its own: a retry that finds the marker tells its write from another's.
            match self
                .put_new(&self.layout.epoch_marker(epoch), unique_token())
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
        self.get_bytes(&self.layout.worker_state(at, worker)).await
    }

    /// A worker's state object of checkpoint `at`, to read as it arrives (on a blocking
    /// thread): the file itself on local disk; elsewhere the download, whose request is retried
    /// as every read is. A failure half-way, or `cancel`, ends the download early: the reader
    /// then finds the object cut short.
    pub async fn worker_state_reader(
        &self,
        at: CheckpointRef,
        worker: &str,
        cancel: &CancellationToken,
    ) -> Result<Box<dyn std::io::Read + Send>, StorageError> {
        let relative = self.layout.worker_state(at, worker);
        let path = self.path(&relative);
        if let Some(root) = &self.location.local_root {
            let file = std::fs::File::open(root.join(path.as_ref())).map_err(|e| {
                let source = match e.kind() {
                    std::io::ErrorKind::NotFound => object_store::Error::NotFound {
                        path: path.to_string(),
                        source: Box::new(e),
                    },
                    _ => object_store::Error::Generic {
                        store: "LocalFileSystem",
                        source: Box::new(e),
                    },
                };
                self.err(source)
            })?;
            return Ok(Box::new(file));
        }
        let got = self
            .io
            .run(&format!("get {relative}"), |_| {
                self.location.store.get(&path)
            })
            .await
            .map_err(|e| self.err(e))?;
        let download = got
            .into_stream()
            .map_err(std::io::Error::other)
            .take_until(Box::pin(cancel.clone().cancelled_owned()));
        Ok(Box::new(SyncIoBridge::new(StreamReader::new(download))))
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
        let bytes = self.get_bytes(&rel).await?;
        serde_json::from_slice(&bytes).map_err(|e| StorageError::CorruptManifest {
            path: rel,
            message: e.to_string(),
        })
    }

    /// Every checkpoint id with any object, the complete attempts (with a manifest), and the
    /// epochs taken.
    pub async fn list(&self) -> Result<CheckpointListing, StorageError> {
        let prefix = self.path(self.layout.job_prefix().trim_end_matches('/'));
        let objects = self.list_under(&prefix).await?;
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
        let objects = self.list_under(&prefix).await?;
        // The manifest goes first, so a half-deleted checkpoint is never taken as complete.
        let (manifests, others): (Vec<_>, Vec<_>) = objects
            .into_iter()
            .partition(|m| m.location.as_ref().ends_with("_manifest.json"));
        for meta in manifests.into_iter().chain(others) {
            self.delete(&meta.location).await?;
        }
        Ok(())
    }
}

/// Bytes no other write produces: this process, this moment, some randomness.
fn unique_token() -> Vec<u8> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let random = std::collections::hash_map::RandomState::new();
    let salt = std::hash::BuildHasher::hash_one(&random, now);
    format!("{}-{now}-{salt:016x}", std::process::id()).into_bytes()
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
    use std::time::Duration;

    use super::*;
    use crate::open_location;
    use crate::test_store::{Fault, FaultyStore};

    fn manifest(at: CheckpointRef) -> CheckpointManifest {
        CheckpointManifest {
            holders: Default::default(),
            watermark_is_job_watermark: true,
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
        // A manifest deleted after a listing named it is told from a store that failed.
        let gone = store.get_manifest(at(1, 1)).await.unwrap_err();
        assert!(gone.is_not_found(), "{gone}");
        // No empty directory is left behind: every listing walks what is there.
        let empty: Vec<String> = walk_dirs(dir.path())
            .into_iter()
            .filter(|d| std::fs::read_dir(d).unwrap().next().is_none())
            .collect();
        assert!(empty.is_empty(), "empty directories left: {empty:?}");
    }

    fn walk_dirs(root: &std::path::Path) -> Vec<String> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(root).unwrap().flatten() {
            if e.path().is_dir() {
                out.push(e.path().display().to_string());
                out.extend(walk_dirs(&e.path()));
            }
        }
        out
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
        let before = store.local_syncs();
        store
            .put_worker_state(at(1, 1), "0", vec![1])
            .await
            .unwrap();
        assert_eq!(
            store.local_syncs(),
            before + 1,
            "synced before the put returns"
        );
        store.put_manifest(&manifest(at(1, 1))).await.unwrap();
        assert_eq!(store.local_syncs(), before + 2);
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let file = root.join(store.layout().worker_state(at(1, 1), "0"));
        assert_eq!(std::fs::read(file).unwrap(), [1]);
    }

    #[tokio::test]
    async fn a_store_that_overwrites_create_only_puts_is_refused() {
        let (location, _) = FaultyStore::location(Fault::IgnoreCreateOnly);
        let err = CheckpointStore::new(location, "j")
            .verify_create_only()
            .await
            .expect_err("must refuse");
        assert!(
            matches!(err, StorageError::CreateOnlyIgnored { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("http://faulty-s3:9000"), "{err}");
    }

    fn quick_retries() -> IoPolicy {
        IoPolicy {
            timeout: Duration::from_secs(5),
            attempts: 4,
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        }
    }

    /// A store that hangs for 30 s: calls are cut off after their deadline and retried, so a
    /// checkpoint waits seconds, not forever; a write that landed before the hang counts once.
    #[tokio::test(start_paused = true)]
    async fn a_stalled_store_is_timed_out_and_retried() {
        for fault in [Fault::StallBefore, Fault::StallAfterWriting] {
            let (location, faulty) = FaultyStore::location(fault);
            let store = CheckpointStore::new(location, "j").with_io_policy(quick_retries());
            faulty.stall_next(2, Duration::from_secs(30));
            let started = tokio::time::Instant::now();
            store
                .put_worker_state(at(1, 1), "0", vec![7])
                .await
                .expect("put");
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{fault:?}: {:?}",
                started.elapsed()
            );
            faulty.stall_next(1, Duration::from_secs(30));
            assert_eq!(
                &store.get_worker_state(at(1, 1), "0").await.expect("get")[..],
                [7]
            );
            faulty.stall_next(1, Duration::from_secs(30));
            assert_eq!(store.list().await.expect("list").all, [1]);
            // A stall longer than every attempt is an error, not a hang.
            faulty.stall_next(10, Duration::from_secs(30));
            let started = tokio::time::Instant::now();
            assert!(store
                .put_worker_state(at(2, 1), "0", vec![1])
                .await
                .is_err());
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{:?}",
                started.elapsed()
            );
        }
    }
}
