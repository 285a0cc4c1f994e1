//! `KeyedAccs`: one window's accumulators per group key, in flat buffers.
//!
//! The per-event hot path is "find this key's accumulators, update them". Keeping every key in
//! one string arena and every accumulator row packed into one vector of words, with a hash table
//! of row numbers on top, costs no allocation per new key, keeps a row contiguous, and holds an
//! open (window, key) in about half the memory of a row of [`Acc`] values.

use std::fmt;
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::aggregate::{Acc, Input};
use crate::bytes_eq::bytes_eq;

/// Group key → accumulator row, for one window.
#[derive(Clone, Default)]
pub struct KeyedAccs {
    /// Row numbers, hashed by their key.
    table: HashTable<u32>,
    hasher: DefaultHashBuilder,
    /// Every key, concatenated in row order; row `i`'s key ends at `key_ends[i]`.
    keys: String,
    key_ends: Vec<usize>,
    /// The kinds of a row's accumulators, each with its initial value.
    template: Box<[Acc]>,
    /// The template packed: `width` words, the start of every new row.
    initial: Box<[u64]>,
    /// `width` words per row, row-major ([`Acc::pack`]).
    words: Vec<u64>,
    width: usize,
}

/// One row's accumulators, unpacked on reading.
#[derive(Clone, Copy)]
pub struct AccRow<'a> {
    template: &'a [Acc],
    words: &'a [u64],
}

impl<'a> AccRow<'a> {
    pub fn iter(self) -> impl Iterator<Item = Acc> + 'a {
        let mut at = 0;
        self.template.iter().map(move |kind| {
            let acc = kind.unpack(&self.words[at..]);
            at += kind.words();
            acc
        })
    }

    pub fn to_vec(self) -> Vec<Acc> {
        self.iter().collect()
    }
}

impl KeyedAccs {
    /// An empty set of rows shaped like `template` (the job's fresh accumulators).
    pub fn new(template: &[Acc]) -> Self {
        let width = template.iter().map(Acc::words).sum();
        let mut initial = vec![0u64; width];
        pack_into(template.iter().copied(), template, &mut initial);
        Self {
            template: template.into(),
            initial: initial.into(),
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

    #[inline]
    fn key_of<'a>(keys: &'a str, ends: &[usize], row: u32) -> &'a str {
        let row = row as usize;
        let start = if row == 0 { 0 } else { ends[row - 1] };
        &keys[start..ends[row]]
    }

    #[inline]
    fn key(&self, row: u32) -> &str {
        Self::key_of(&self.keys, &self.key_ends, row)
    }

    #[inline]
    fn row(&self, row: u32) -> AccRow<'_> {
        let at = row as usize * self.width;
        AccRow {
            template: &self.template,
            words: &self.words[at..at + self.width],
        }
    }

    fn find(&self, key: &str, hash: u64) -> Option<u32> {
        self.table
            .find(hash, |row| {
                bytes_eq(self.key(*row).as_bytes(), key.as_bytes())
            })
            .copied()
    }

    /// Adds one record's `inputs` (one per accumulator) to `key`'s row, starting the row when
    /// the key is new.
    #[inline]
    pub fn update(&mut self, key: &str, inputs: &[Input]) {
        let hash = self.hasher.hash_one(key);
        let row = match self.find(key, hash) {
            Some(row) => row,
            None => self.push(key, hash, None),
        };
        let at = row as usize * self.width;
        let words = &mut self.words[at..at + self.width];
        let mut w = 0;
        for (kind, input) in self.template.iter().zip(inputs) {
            let n = kind.words();
            kind.update_packed(&mut words[w..w + n], *input);
            w += n;
        }
    }

    /// Folds `accs` (one per accumulator, in template order) into `key`'s row: they become the
    /// row when the key is new.
    pub fn merge_row(&mut self, key: &str, accs: impl IntoIterator<Item = Acc>) {
        let hash = self.hasher.hash_one(key);
        match self.find(key, hash) {
            Some(row) => self.fold_into(row, accs),
            None => {
                self.push(key, hash, None);
                let at = self.words.len() - self.width;
                pack_into(accs.into_iter(), &self.template, &mut self.words[at..]);
            }
        }
    }

    /// Merges `accs` (in template order) into the accumulators of `row`.
    fn fold_into(&mut self, row: u32, accs: impl IntoIterator<Item = Acc>) {
        let at = row as usize * self.width;
        let words = &mut self.words[at..at + self.width];
        let mut w = 0;
        for (kind, other) in self.template.iter().zip(accs) {
            let n = kind.words();
            let mut acc = kind.unpack(&words[w..]);
            acc.merge(&other);
            acc.pack(&mut words[w..w + n]);
            w += n;
        }
    }

    /// Merges the packed accumulators `other` (a row of the same template) into `row`'s.
    fn fold_packed(&mut self, row: u32, other: &[u64]) {
        let at = row as usize * self.width;
        let words = &mut self.words[at..at + self.width];
        let mut w = 0;
        for kind in self.template.iter() {
            let n = kind.words();
            kind.merge_packed(&mut words[w..w + n], &other[w..w + n]);
            w += n;
        }
    }

    /// Starts `key`'s row with the packed words `packed`, or the template's when none.
    fn push(&mut self, key: &str, hash: u64, packed: Option<&[u64]>) -> u32 {
        let row = u32::try_from(self.key_ends.len()).expect("fewer than 2^32 keys per window");
        self.keys.push_str(key);
        self.key_ends.push(self.keys.len());
        self.words
            .extend_from_slice(packed.unwrap_or(&self.initial));
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

    /// Room for as many rows (and key bytes) as `others` hold, taken at once rather than by
    /// doubling (and rehashing) while rows arrive.
    pub fn reserve_for(&mut self, others: &[KeyedAccs]) {
        let rows = others.iter().map(KeyedAccs::len).sum();
        let key_bytes = others.iter().map(|o| o.keys.len()).sum();
        let Self {
            table,
            hasher,
            keys,
            key_ends,
            words,
            width,
            ..
        } = self;
        table.reserve(rows, |r| hasher.hash_one(Self::key_of(keys, key_ends, *r)));
        keys.reserve(key_bytes);
        key_ends.reserve(rows);
        words.reserve(rows * *width);
    }

    /// Bytes this window's rows hold on the heap: what an open (window, key) costs in memory.
    pub fn heap_bytes(&self) -> usize {
        self.table.allocation_size()
            + self.keys.capacity()
            + self.key_ends.capacity() * std::mem::size_of::<usize>()
            + self.words.capacity() * std::mem::size_of::<u64>()
    }

    /// The accumulators of `key`, if it has a row.
    pub fn get(&self, key: &str) -> Option<Vec<Acc>> {
        self.find(key, self.hasher.hash_one(key))
            .map(|row| self.row(row).to_vec())
    }

    /// Every (key, accumulators) row, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, AccRow<'_>)> {
        (0..self.len() as u32).map(|row| (self.key(row), self.row(row)))
    }

    /// Every row, ordered by key: a checkpoint holds the same state whatever order the keys came in.
    pub fn sorted(&self) -> Vec<(&str, AccRow<'_>)> {
        // Row numbers with their key's first bytes: most pairs are told apart by comparing two
        // integers, and the sort moves 16 bytes per row rather than a whole entry.
        let mut order: Vec<(u64, u32)> = (0..self.len() as u32)
            .map(|row| (sort_prefix(self.key(row)), row))
            .collect();
        order.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| self.key(a.1).cmp(self.key(b.1))));
        order
            .into_iter()
            .map(|(_, row)| (self.key(row), self.row(row)))
            .collect()
    }

    /// Folds `other`'s rows into these: accumulators of a shared key merge.
    pub fn merge(&mut self, other: &KeyedAccs) {
        self.reserve_for(std::slice::from_ref(other));
        self.fold_rows(other);
    }

    /// One set of rows from several partials of a window (a worker's partitions, or workers):
    /// the largest is taken as it is and the others are folded into it, with room for all of
    /// them taken once. `None` when there are none.
    pub fn merged(mut partials: Vec<KeyedAccs>) -> Option<KeyedAccs> {
        let largest = (0..partials.len()).max_by_key(|i| partials[*i].len())?;
        let mut rows = partials.swap_remove(largest);
        rows.reserve_for(&partials);
        for other in &partials {
            rows.fold_rows(other);
        }
        Some(rows)
    }

    fn fold_rows(&mut self, other: &KeyedAccs) {
        if self.template != other.template {
            for (key, accs) in other.iter() {
                self.merge_row(key, accs.iter());
            }
            return;
        }
        // Rows of the same shape: merged packed, and a key new here takes the other's packed
        // words as they are.
        for row in 0..other.len() as u32 {
            let key = other.key(row);
            let hash = self.hasher.hash_one(key);
            let at = row as usize * other.width;
            let packed = &other.words[at..at + other.width];
            match self.find(key, hash) {
                Some(mine) => self.fold_packed(mine, packed),
                None => {
                    self.push(key, hash, Some(packed));
                }
            }
        }
    }
}

/// The first eight bytes of `key`, zero-padded, as a big-endian number: keys with different
/// prefixes compare as their prefixes do.
fn sort_prefix(key: &str) -> u64 {
    let mut bytes = [0u8; 8];
    let n = key.len().min(8);
    bytes[..n].copy_from_slice(&key.as_bytes()[..n]);
    u64::from_be_bytes(bytes)
}

/// Packs `accs` of `template`'s kinds into `out`, one after another.
fn pack_into(accs: impl Iterator<Item = Acc>, template: &[Acc], out: &mut [u64]) {
    let mut w = 0;
    for (kind, acc) in template.iter().zip(accs) {
        let n = kind.words();
        acc.pack(&mut out[w..w + n]);
        w += n;
    }
}

impl PartialEq for KeyedAccs {
    /// The same keys with the same accumulators, whatever the insertion order.
    fn eq(&self, other: &Self) -> bool {
        self.template == other.template
            && self.len() == other.len()
            && self
                .iter()
                .all(|(k, a)| other.get(k).as_deref() == Some(&a.to_vec()[..]))
    }
}

impl fmt::Debug for KeyedAccs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.sorted().into_iter().map(|(k, a)| (k, a.to_vec())))
            .finish()
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
        rows.update(key, &[Input::Int(v), Input::Int(v)]);
    }

    #[test]
    fn rows_are_found_again_and_updated_in_place() {
        let mut rows = KeyedAccs::new(&initial());
        for i in 0..10_000 {
            add(&mut rows, &format!("v_{}", i % 1_000), i);
        }
        assert_eq!(rows.len(), 1_000);
        assert_eq!(
            rows.get("v_7"),
            Some(vec![Acc::Count(10), Acc::MaxLong(Some(9_007))])
        );
        assert_eq!(rows.get("v_1000"), None);
        let bytes = rows.heap_bytes();
        // 3 words of accumulators, a key of up to 5 bytes and its end, a slot of the table.
        let floor = 1_000 * (3 * 8 + 4 + 8 + 4);
        assert!(
            bytes >= floor && bytes < 2 * floor,
            "{bytes} bytes for 1,000 rows"
        );
        assert_eq!(rows.get(""), None);
        add(&mut rows, "", 5);
        assert_eq!(
            rows.get(""),
            Some(vec![Acc::Count(1), Acc::MaxLong(Some(5))])
        );
        let sorted: Vec<&str> = rows.sorted().iter().take(3).map(|r| r.0).collect();
        assert_eq!(sorted, ["", "v_0", "v_1"]);
    }

    #[test]
    fn rows_are_sorted_by_key_bytes_whatever_their_length() {
        let mut rows = KeyedAccs::new(&initial());
        let keys = [
            "v_10",
            "v_1",
            "",
            "v_1\0",
            "v_100000000",
            "v_10000000",
            "v_1000000a",
            "é",
            "v_2",
            "a",
            "v_1000000",
        ];
        for (i, k) in keys.iter().enumerate() {
            add(&mut rows, k, i as i64);
        }
        let sorted: Vec<&str> = rows.sorted().iter().map(|(k, _)| *k).collect();
        let mut expected = keys.to_vec();
        expected.sort();
        assert_eq!(sorted, expected);
        let (key, accs) = rows.sorted()[1];
        assert_eq!(key, "a");
        assert_eq!(accs.to_vec(), rows.get("a").unwrap());
    }

    #[test]
    fn merge_combines_shared_keys_and_adopts_new_ones() {
        let mut a = KeyedAccs::new(&initial());
        add(&mut a, "x", 1);
        add(&mut a, "y", 2);
        let mut b = KeyedAccs::new(&initial());
        add(&mut b, "y", 7);
        add(&mut b, "z", 3);
        a.merge(&b);
        assert_eq!(a.len(), 3);
        assert_eq!(a.get("y"), Some(vec![Acc::Count(2), Acc::MaxLong(Some(7))]));
        assert_eq!(a.get("z"), Some(vec![Acc::Count(1), Acc::MaxLong(Some(3))]));
        // equality ignores insertion order
        let mut c = KeyedAccs::new(&initial());
        add(&mut c, "z", 3);
        add(&mut c, "y", 2);
        add(&mut c, "y", 7);
        add(&mut c, "x", 1);
        assert_eq!(a, c);
        add(&mut c, "x", 1);
        assert_ne!(a, c);
    }

    #[test]
    fn partials_merged_at_once_equal_partials_merged_one_by_one() {
        let partial = |keys: &[(&str, i64)]| {
            let mut rows = KeyedAccs::new(&initial());
            for (k, v) in keys {
                add(&mut rows, k, *v);
            }
            rows
        };
        let partials = [
            partial(&[("x", 1)]),
            partial(&[("x", 5), ("y", 2), ("z", 0)]),
            partial(&[("y", 9), ("w", -3)]),
        ];
        let mut one_by_one = partials[0].clone();
        one_by_one.merge(&partials[1]);
        one_by_one.merge(&partials[2]);
        let at_once = KeyedAccs::merged(partials.to_vec()).expect("three partials");
        assert_eq!(at_once, one_by_one);
        assert_eq!(at_once.len(), 4);
        assert_eq!(
            at_once.get("y"),
            Some(vec![Acc::Count(2), Acc::MaxLong(Some(9))])
        );
        assert_eq!(KeyedAccs::merged(Vec::new()), None);
    }

    #[test]
    fn a_merged_row_is_taken_whole_when_new_and_folded_in_when_not() {
        let mut rows = KeyedAccs::new(&initial());
        rows.merge_row("k", [Acc::Count(3), Acc::MaxLong(Some(-4))]);
        assert_eq!(
            rows.get("k"),
            Some(vec![Acc::Count(3), Acc::MaxLong(Some(-4))])
        );
        rows.merge_row("k", [Acc::Count(2), Acc::MaxLong(None)]);
        assert_eq!(
            rows.get("k"),
            Some(vec![Acc::Count(5), Acc::MaxLong(Some(-4))])
        );
        rows.update("k", &[Input::Skip, Input::Int(9)]);
        assert_eq!(
            rows.get("k"),
            Some(vec![Acc::Count(5), Acc::MaxLong(Some(9))])
        );
    }
}
