//! Where each live key of a merge-on-read dimension table is: its data file and row. A change
//! finds the row it replaces here instead of in the table's files, so a checkpoint costs what
//! its changes cost, whatever the table's size.
//!
//! The committer keeps one per dimension table, in memory. It is built from the table (the key
//! columns of the live data files, less the rows of live position deletes), moved on by each
//! checkpoint's plan, and trusted only while the table's live files are the ones the index
//! expects: a compaction, another engine's commit or a commit that failed makes the next plan
//! build it again from the table as it is.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef};

use crate::maintenance::DeleteCompactionCommitted;
use crate::position_deletes::LiveFiles;
use crate::{DataFileError, TableLayout};

/// A key's 128-bit hash: the index keeps hashes, not keys, so ten million keys fit in a few
/// hundred megabytes; two keys sharing one is as likely as a random 128-bit collision.
pub type KeyHash = u128;

/// The hash of a key's bytes (`dimension_rewrite::row_key`).
pub fn key_hash(key: &[u8]) -> KeyHash {
    twox_hash::XxHash3_128::oneshot(key)
}

/// Keys are hashes already: the map uses their low bits as they are.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64;
    }
}

/// A data file a plan wrote, with the keys of its rows the index keeps and their positions.
pub type FileRows = (String, Vec<(KeyHash, u32)>);

/// A row of a data file, by the file's number in the index and the row's position.
type Position = (u32, u32);

/// The live keys of a dimension table and where their rows are.
#[derive(Debug, Default)]
pub struct KeyIndex {
    files: Vec<String>,
    rows: HashMap<KeyHash, Position, BuildHasherDefault<Prehashed>>,
    /// The live files (data and deletes) the table has while the index is right.
    expected: HashSet<String>,
}

impl KeyIndex {
    /// Whether the index describes a table whose live files are `live`.
    pub fn is_current_for(&self, live: &HashSet<String>) -> bool {
        self.expected == *live
    }

    /// How many live keys the index holds.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Where the live row of `key` is: its data file's path and its position.
    pub fn position(&self, key: KeyHash) -> Option<(&str, i64)> {
        self.rows
            .get(&key)
            .map(|(file, row)| (self.files[*file as usize].as_str(), i64::from(*row)))
    }

    /// Moves the index past a commit that removed the rows of `replaced` keys, added rows for
    /// keys in new files (`(file, [(key, row)])`), and left the table's live files as `live`.
    pub fn apply(&mut self, replaced: &[KeyHash], added: &[FileRows], live: HashSet<String>) {
        for key in replaced {
            self.rows.remove(key);
        }
        for (file, keys) in added {
            let id = self.add_file(file.clone());
            for (key, row) in keys {
                self.rows.insert(*key, (id, *row));
            }
        }
        self.expected = live;
    }

    /// Moves the index past a merge-on-read compaction of the table it describes: the keys of
    /// rewritten files go to their rows' new places. False (the next plan builds the index
    /// again) when the index did not describe the table the compaction committed on, or the
    /// moves are unknown.
    pub fn follow_compaction(&mut self, committed: &DeleteCompactionCommitted) -> bool {
        let Some(moves) = committed.moves.as_ref() else {
            return false;
        };
        if !self.is_current_for(&committed.live_before) {
            return false;
        }
        let rewritten: HashMap<&str, usize> =
            moves.rewritten().enumerate().map(|(i, p)| (p, i)).collect();
        let from: Vec<Option<usize>> = self
            .files
            .iter()
            .map(|f| rewritten.get(f.as_str()).copied())
            .collect();
        let new: Vec<u32> = moves
            .new_files()
            .map(str::to_owned)
            .collect::<Vec<_>>()
            .into_iter()
            .map(|p| self.add_file(p))
            .collect();
        let mut lost = 0usize;
        for (file, row) in self.rows.values_mut() {
            let Some(Some(from)) = from.get(*file as usize) else {
                continue;
            };
            match moves.moved(*from, i64::from(*row)) {
                Some((to, pos)) => {
                    *file = new[to];
                    *row = pos as u32;
                }
                None => lost += 1,
            }
        }
        if lost > 0 {
            tracing::warn!(keys = lost, "keys of the index point at rows the compaction did not keep; the index is built again");
            self.expected.clear();
            return false;
        }
        self.expected.clone_from(&committed.live_after);
        true
    }

    fn add_file(&mut self, path: String) -> u32 {
        self.files.push(path);
        (self.files.len() - 1) as u32
    }

    /// The index of the table whose live files are `live`, written through `layout`, keyed by
    /// the columns at `key_columns`; with `current`, only the rows whose boolean column at that
    /// index (after the key's) is true. A key found live twice (only another writer can leave
    /// that) keeps the row read last, and is logged.
    pub async fn build(
        layout: &TableLayout,
        key_columns: &[usize],
        current: Option<usize>,
        live: &LiveFiles,
        row_key: impl Fn(&[ArrayRef], usize) -> Vec<u8>,
    ) -> Result<Self, DataFileError> {
        let mut read = key_columns.to_vec();
        read.extend(current);
        let deleted = layout.read_position_deletes(&live.deletes).await?;
        let mut index = Self {
            expected: live.paths(),
            ..Self::default()
        };
        let total: u64 = live.data.iter().map(|f| f.record_count()).sum();
        index.rows.reserve(total as usize);
        let mut twice = 0usize;
        for file in &live.data {
            let gone = deleted.get(file.file_path());
            let id = index.add_file(file.file_path().to_owned());
            let mut row = 0u32;
            for batch in layout.read_data_file(file.file_path(), Some(&read)).await? {
                let keys: Vec<ArrayRef> = batch.columns()[..key_columns.len()].to_vec();
                let flags = current.and_then(|_| batch.columns().last()?.as_boolean_opt());
                for r in 0..batch.num_rows() {
                    let counted = flags.is_none_or(|f| f.is_valid(r) && f.value(r));
                    if counted && !gone.is_some_and(|g| g.contains(&i64::from(row))) {
                        let key = key_hash(&row_key(&keys, r));
                        twice += usize::from(index.rows.insert(key, (id, row)).is_some());
                    }
                    row += 1;
                }
            }
        }
        if twice > 0 {
            tracing::warn!(table = layout.name(), keys = twice, "keys live in two rows of the dimension table (written by another engine?); each keeps the row read last");
        }
        Ok(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_moves_replaced_keys_to_their_new_rows() {
        let mut index = KeyIndex::default();
        let live = |paths: &[&str]| paths.iter().map(|p| p.to_string()).collect();
        index.apply(
            &[],
            &[("a.parquet".into(), vec![(1, 0), (2, 1), (3, 2)])],
            live(&["a.parquet"]),
        );
        assert_eq!(index.position(2), Some(("a.parquet", 1)));
        index.apply(
            &[2, 3],
            &[("b.parquet".into(), vec![(3, 0)])],
            live(&["a.parquet", "b.parquet", "d.parquet"]),
        );
        assert_eq!(index.len(), 2);
        assert_eq!(index.position(1), Some(("a.parquet", 0)));
        assert_eq!(index.position(2), None, "deleted");
        assert_eq!(index.position(3), Some(("b.parquet", 0)));
        assert!(index.is_current_for(&live(&["a.parquet", "b.parquet", "d.parquet"])));
        assert!(!index.is_current_for(&live(&["a.parquet", "b.parquet"])));
    }

    #[test]
    fn equal_keys_hash_alike_and_different_keys_apart() {
        assert_eq!(key_hash(b"\x02abc"), key_hash(b"\x02abc"));
        assert_ne!(key_hash(b"\x02abc"), key_hash(b"\x02abd"));
    }
}
