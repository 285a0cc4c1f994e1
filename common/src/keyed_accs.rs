//! `KeyedAccs`: one window's accumulators per group key, in flat buffers.
//!
//! The per-event hot path is "find this key's accumulators, update them". Keeping every key in
//! one string arena and every accumulator row in one vector, with a hash table of row numbers
//! on top, costs no allocation per new key and keeps a row's accumulators contiguous, where a
//! map of boxed keys to boxed slices paid two allocations per key and a pointer chase per
//! update.

use std::fmt;
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::aggregate::Acc;

/// Group key → accumulator row, for one window.
#[derive(Clone, Default)]
pub struct KeyedAccs {
    /// Row numbers, hashed by their key.
    table: HashTable<u32>,
    hasher: DefaultHashBuilder,
    /// Every key, concatenated in row order; row `i`'s key ends at `key_ends[i]`.
    keys: String,
    key_ends: Vec<usize>,
    /// `width` accumulators per row, row-major.
    accs: Vec<Acc>,
    width: usize,
}

impl KeyedAccs {
    /// An empty set of rows of `width` accumulators each.
    pub fn new(width: usize) -> Self {
        Self {
            width,
            ..Self::default()
        }
    }

    pub fn len(&self) -> usize {
        self.key_ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.key_ends.is_empty()
    }

    fn key_of<'a>(keys: &'a str, ends: &[usize], row: u32) -> &'a str {
        let row = row as usize;
        let start = if row == 0 { 0 } else { ends[row - 1] };
        &keys[start..ends[row]]
    }

    fn key(&self, row: u32) -> &str {
        Self::key_of(&self.keys, &self.key_ends, row)
    }

    fn row(&self, row: u32) -> &[Acc] {
        let at = row as usize * self.width;
        &self.accs[at..at + self.width]
    }

    fn row_at_mut(&mut self, row: u32) -> &mut [Acc] {
        let at = row as usize * self.width;
        &mut self.accs[at..at + self.width]
    }

    fn find(&self, key: &str, hash: u64) -> Option<u32> {
        self.table.find(hash, |row| self.key(*row) == key).copied()
    }

    /// The accumulators of `key`, added as a copy of `initial` when the key is new.
    pub fn row_mut(&mut self, key: &str, initial: &[Acc]) -> &mut [Acc] {
        let hash = self.hasher.hash_one(key);
        let row = match self.find(key, hash) {
            Some(row) => row,
            None => self.push(key, hash, initial),
        };
        self.row_at_mut(row)
    }

    fn push(&mut self, key: &str, hash: u64, initial: &[Acc]) -> u32 {
        debug_assert_eq!(initial.len(), self.width);
        let row = u32::try_from(self.key_ends.len()).expect("fewer than 2^32 keys per window");
        self.keys.push_str(key);
        self.key_ends.push(self.keys.len());
        self.accs.extend_from_slice(initial);
        let Self {
            table,
            hasher,
            keys,
            key_ends,
            ..
        } = self;
        table.insert_unique(hash, row, |r| {
            hasher.hash_one(Self::key_of(keys, key_ends, *r))
        });
        row
    }

    /// The accumulators of `key`, if it has a row.
    pub fn get(&self, key: &str) -> Option<&[Acc]> {
        self.find(key, self.hasher.hash_one(key))
            .map(|row| self.row(row))
    }

    /// Every (key, accumulators) row, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[Acc])> {
        (0..self.len() as u32).map(|row| (self.key(row), self.row(row)))
    }

    /// Every row, ordered by key (checkpoints and data files are deterministic).
    pub fn sorted(&self) -> Vec<(&str, &[Acc])> {
        let mut rows: Vec<(&str, &[Acc])> = self.iter().collect();
        rows.sort_unstable_by(|a, b| a.0.cmp(b.0));
        rows
    }

    /// Folds `other`'s rows into these: accumulators of a shared key merge.
    pub fn merge(&mut self, other: &KeyedAccs) {
        for (key, accs) in other.iter() {
            let hash = self.hasher.hash_one(key);
            match self.find(key, hash) {
                Some(row) => self
                    .row_at_mut(row)
                    .iter_mut()
                    .zip(accs)
                    .for_each(|(a, b)| a.merge(b)),
                None => {
                    self.push(key, hash, accs);
                }
            }
        }
    }
}

impl PartialEq for KeyedAccs {
    /// The same keys with the same accumulators, whatever the insertion order.
    fn eq(&self, other: &Self) -> bool {
        self.width == other.width
            && self.len() == other.len()
            && self.iter().all(|(k, a)| other.get(k) == Some(a))
    }
}

impl fmt::Debug for KeyedAccs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.sorted()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::Input;

    fn initial() -> [Acc; 2] {
        [Acc::Count(0), Acc::MaxLong(None)]
    }

    fn add(rows: &mut KeyedAccs, key: &str, v: i64) {
        for acc in rows.row_mut(key, &initial()) {
            acc.update(Input::Int(v));
        }
    }

    #[test]
    fn rows_are_found_again_and_updated_in_place() {
        let mut rows = KeyedAccs::new(2);
        for i in 0..10_000 {
            add(&mut rows, &format!("v_{}", i % 1_000), i);
        }
        assert_eq!(rows.len(), 1_000);
        assert_eq!(
            rows.get("v_7"),
            Some(&[Acc::Count(10), Acc::MaxLong(Some(9_007))][..])
        );
        assert_eq!(rows.get("v_1000"), None);
        assert_eq!(rows.get(""), None);
        add(&mut rows, "", 5);
        assert_eq!(
            rows.get(""),
            Some(&[Acc::Count(1), Acc::MaxLong(Some(5))][..])
        );
        let sorted: Vec<&str> = rows.sorted().iter().take(3).map(|r| r.0).collect();
        assert_eq!(sorted, ["", "v_0", "v_1"]);
    }

    #[test]
    fn merge_combines_shared_keys_and_adopts_new_ones() {
        let mut a = KeyedAccs::new(2);
        add(&mut a, "x", 1);
        add(&mut a, "y", 2);
        let mut b = KeyedAccs::new(2);
        add(&mut b, "y", 7);
        add(&mut b, "z", 3);
        a.merge(&b);
        assert_eq!(a.len(), 3);
        assert_eq!(
            a.get("y"),
            Some(&[Acc::Count(2), Acc::MaxLong(Some(7))][..])
        );
        assert_eq!(
            a.get("z"),
            Some(&[Acc::Count(1), Acc::MaxLong(Some(3))][..])
        );
        // equality ignores insertion order
        let mut c = KeyedAccs::new(2);
        add(&mut c, "z", 3);
        add(&mut c, "y", 2);
        add(&mut c, "y", 7);
        add(&mut c, "x", 1);
        assert_eq!(a, c);
        add(&mut c, "x", 1);
        assert_ne!(a, c);
    }
}
