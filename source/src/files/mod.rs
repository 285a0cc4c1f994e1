//! `type = "files"`: the files a job reads (listed under its location, chosen by its glob) and
//! the partition ids they are read as ([`FileSplits`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use floe_common::config::JobSpec;
use floe_common::file_source::FilesSpec;
use floe_storage::{open_location, CheckpointStore, FileSplits, Location};
use futures::TryStreamExt;
use globset::GlobMatcher;
use object_store::path::Path;
use object_store::ObjectStore;

use crate::{PartitionSource, SourceError};

pub mod reader;

/// Where a file source's files are.
#[derive(Debug, Clone)]
pub struct FileSource {
    location: Location,
    matcher: GlobMatcher,
}

fn files_error(e: impl std::fmt::Display) -> SourceError {
    SourceError::Files(e.to_string())
}

impl FileSource {
    pub fn open(spec: &FilesSpec) -> Result<Self, SourceError> {
        if !spec.location.contains("://") && !std::path::Path::new(&spec.location).is_dir() {
            return Err(SourceError::Files(format!(
                "`{}` is not a directory",
                spec.location
            )));
        }
        Ok(Self {
            location: open_location(&spec.location).map_err(files_error)?,
            matcher: spec.matcher().map_err(SourceError::Files)?,
        })
    }

    pub fn store(&self) -> Arc<dyn ObjectStore> {
        self.location.store.clone()
    }

    /// The object of a file named by its path under the location (as listed: not encoded again).
    pub fn object(&self, relative: &str) -> Path {
        let prefix = self.location.prefix.as_ref();
        let full = if prefix.is_empty() {
            relative.to_owned()
        } else {
            format!("{prefix}/{relative}")
        };
        Path::parse(&full).unwrap_or_else(|_| Path::from(full))
    }

    /// The files the glob chooses, by path under the location, with their sizes, sorted.
    pub async fn list(&self) -> Result<Vec<(String, u64)>, SourceError> {
        let prefix = &self.location.prefix;
        let listed: Vec<_> = self
            .location
            .store
            .list((!prefix.as_ref().is_empty()).then_some(prefix))
            .try_collect()
            .await
            .map_err(|e| SourceError::Files(format!("listing {}: {e}", self.location.display)))?;
        let mut files: Vec<(String, u64)> = listed
            .into_iter()
            .filter_map(|meta| {
                let full = meta.location.as_ref();
                let relative = full
                    .strip_prefix(prefix.as_ref())
                    .unwrap_or(full)
                    .trim_start_matches('/');
                self.matcher
                    .is_match(relative)
                    .then(|| (relative.to_owned(), meta.size))
            })
            .collect();
        files.sort();
        Ok(files)
    }
}

/// The files of a job as partitions: each listed file registered under its id, the end of each
/// its size. Used by the coordinator, whose calls are blocking: they run on `runtime`, so they
/// must be made on a blocking thread (`spawn_blocking`), never on an async one.
#[derive(Debug)]
pub struct FilePartitions {
    source: FileSource,
    splits: tokio::sync::Mutex<FileSplits>,
    runtime: tokio::runtime::Handle,
}

impl FilePartitions {
    /// Must be called on a Tokio runtime (the one the blocking calls will use).
    pub async fn open(job: &JobSpec, store: CheckpointStore) -> Result<Self, SourceError> {
        let spec = job
            .source
            .files
            .as_ref()
            .ok_or_else(|| SourceError::Files("the job's source is not files".into()))?;
        Ok(Self {
            source: FileSource::open(spec)?,
            splits: tokio::sync::Mutex::new(FileSplits::open(store).await.map_err(files_error)?),
            runtime: tokio::runtime::Handle::current(),
        })
    }

    /// Every listed file's id and size, registering the files seen for the first time; with
    /// `all`, also the ids of registered files gone since (size 0).
    async fn listed_splits(&self, all: bool) -> Result<BTreeMap<i32, u64>, SourceError> {
        let files = self.source.list().await?;
        let mut splits = self.splits.lock().await;
        let paths: Vec<String> = files.iter().map(|(p, _)| p.clone()).collect();
        splits.register(&paths).await.map_err(files_error)?;
        let ids: BTreeMap<&str, i32> = splits
            .by_id()
            .iter()
            .map(|(id, p)| (p.as_str(), *id))
            .collect();
        let mut listed: BTreeMap<i32, u64> = files
            .iter()
            .filter_map(|(path, size)| Some((*ids.get(path.as_str())?, *size)))
            .collect();
        if all {
            for id in splits.by_id().keys() {
                listed.entry(*id).or_insert(0);
            }
        }
        Ok(listed)
    }
}

impl PartitionSource for FilePartitions {
    /// Every registered split, its file there or not: a file moved away after it was read keeps
    /// its partition, so the state of its open windows is restored with it.
    fn partitions(&self) -> Result<Vec<i32>, SourceError> {
        Ok(self
            .runtime
            .block_on(self.listed_splits(true))?
            .into_keys()
            .collect())
    }

    fn end_offsets(&self) -> Result<BTreeMap<i32, i64>, SourceError> {
        Ok(self
            .runtime
            .block_on(self.listed_splits(false))?
            .into_iter()
            .map(|(id, size)| (id, size as i64))
            .collect())
    }
}

/// The files behind `ids` (which the coordinator registered before it assigned them), for a
/// worker: id → path under the location.
pub async fn split_paths(
    store: &CheckpointStore,
    ids: &[i32],
) -> Result<BTreeMap<i32, String>, SourceError> {
    let splits = FileSplits::open(store.clone()).await.map_err(files_error)?;
    ids.iter()
        .map(|id| match splits.path(*id) {
            Some(path) => Ok((*id, path.to_owned())),
            None => Err(SourceError::Files(format!(
                "split {id} is not registered under {}",
                store.display()
            ))),
        })
        .collect()
}
