//! `FileSplits`: the ids of a file source's files, kept beside the job's checkpoints.
//!
//! A checkpoint keeps positions by partition id; for a file source each file is a partition,
//! so a file must keep its id for good, whatever files appear later. Ids are handed out in
//! order with create-only objects (`<job>/_file_splits/<id>` holding the file's path): two
//! coordinators racing for an id never both get it, and one that loses reads the winner's
//! entry before trying the next id, so a path is never registered twice.

use std::collections::BTreeMap;

use crate::{CheckpointStore, StorageError};

/// A job's registered file splits: id → path under the source's location.
#[derive(Debug, Clone)]
pub struct FileSplits {
    store: CheckpointStore,
    by_id: BTreeMap<i32, String>,
}

impl FileSplits {
    /// Reads the splits registered so far.
    pub async fn open(store: CheckpointStore) -> Result<Self, StorageError> {
        let mut splits = Self {
            store,
            by_id: BTreeMap::new(),
        };
        splits.refresh().await?;
        Ok(splits)
    }

    pub fn by_id(&self) -> &BTreeMap<i32, String> {
        &self.by_id
    }

    pub fn path(&self, id: i32) -> Option<&str> {
        self.by_id.get(&id).map(String::as_str)
    }

    /// Reads the entries registered since the last look (entries never change once written).
    pub async fn refresh(&mut self) -> Result<(), StorageError> {
        let layout = self.store.layout().clone();
        let dir = self.store.path(&layout.file_splits_dir());
        for meta in self.store.list_under(&dir).await? {
            let relative = self.store.relative(&meta.location).to_owned();
            let Some(id) = layout.parse_file_split(&relative) else {
                continue;
            };
            if self.by_id.contains_key(&id) {
                continue;
            }
            let bytes = self.store.get_bytes(&relative).await?;
            let path =
                String::from_utf8(bytes.to_vec()).map_err(|_| StorageError::CorruptManifest {
                    path: relative.clone(),
                    message: "a file split's path is not UTF-8".into(),
                })?;
            self.by_id.insert(id, path);
        }
        Ok(())
    }

    /// Gives every path of `paths` that has no id yet the next free one, in the order given.
    pub async fn register(&mut self, paths: &[String]) -> Result<(), StorageError> {
        let mut known: BTreeMap<String, i32> =
            self.by_id.iter().map(|(id, p)| (p.clone(), *id)).collect();
        for path in paths {
            while !known.contains_key(path) {
                let id = self.by_id.keys().next_back().map_or(0, |last| last + 1);
                let entry = self.store.layout().file_split(id);
                match self.store.put_new(&entry, path.as_bytes().to_vec()).await {
                    Ok(()) => {
                        self.by_id.insert(id, path.clone());
                        known.insert(path.clone(), id);
                    }
                    // Another coordinator took the id: learn what it registered (read directly: a
                    // listing may not show it yet), then go on.
                    Err(StorageError::AlreadyExists(_)) => {
                        let theirs = self.store.get_bytes(&entry).await?;
                        let theirs = String::from_utf8_lossy(&theirs).into_owned();
                        known.insert(theirs.clone(), id);
                        self.by_id.insert(id, theirs);
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::open_location;

    fn store(dir: &std::path::Path) -> CheckpointStore {
        CheckpointStore::new(open_location(dir.to_str().unwrap()).unwrap(), "job")
    }

    #[tokio::test]
    async fn a_file_keeps_its_id_whatever_files_come_later() {
        let dir = tempfile::tempdir().unwrap();
        let mut splits = FileSplits::open(store(dir.path())).await.unwrap();
        splits
            .register(&["b.jsonl".into(), "c.jsonl".into()])
            .await
            .unwrap();
        // A file sorting first appears later: it gets a new id, the others keep theirs.
        splits
            .register(&["a.jsonl".into(), "b.jsonl".into(), "c.jsonl".into()])
            .await
            .unwrap();
        let expected = BTreeMap::from([
            (0, "b.jsonl".to_string()),
            (1, "c.jsonl".to_string()),
            (2, "a.jsonl".to_string()),
        ]);
        assert_eq!(splits.by_id(), &expected);
        let reopened = FileSplits::open(store(dir.path())).await.unwrap();
        assert_eq!(reopened.by_id(), &expected);
        assert!(
            store(dir.path()).list().await.unwrap().all.is_empty(),
            "split entries are not checkpoints"
        );
    }

    #[tokio::test]
    async fn two_registrars_racing_never_share_an_id_nor_a_path() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = FileSplits::open(store(dir.path())).await.unwrap();
        let mut second = FileSplits::open(store(dir.path())).await.unwrap();
        first.register(&["x".into()]).await.unwrap();
        // `second` has not seen `x`: its try at id 0 fails, it reads `x`, then takes id 1.
        second.register(&["x".into(), "y".into()]).await.unwrap();
        let expected = BTreeMap::from([(0, "x".to_string()), (1, "y".to_string())]);
        assert_eq!(second.by_id(), &expected);
        first.refresh().await.unwrap();
        assert_eq!(first.by_id(), &expected);
    }
}
