//! Deduplication's state, per partition: the keys whose first record was kept, each with that
//! record's event time, remembered until the job's watermark passes it by the job's bound.

use hashbrown::hash_map::EntryRef;
use hashbrown::HashMap;

/// The keys seen on one partition, with their first record's event time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FirstSeen {
    by_key: HashMap<Box<str>, i64>,
}

impl FirstSeen {
    /// Whether the record of `key` at `event_ms` is the key's first: then it is remembered.
    pub fn first(&mut self, key: &str, event_ms: i64) -> bool {
        match self.by_key.entry_ref(key) {
            EntryRef::Occupied(_) => false,
            EntryRef::Vacant(vacant) => {
                vacant.insert(event_ms);
                true
            }
        }
    }

    /// Forgets the keys whose first record's event time is `within_ms` or more behind
    /// `watermark`: a record of such a key is kept again.
    pub fn forget(&mut self, watermark: i64, within_ms: i64) {
        self.by_key
            .retain(|_, first_ms| first_ms.saturating_add(within_ms) > watermark);
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Bytes held on the heap, about.
    pub fn heap_bytes(&self) -> usize {
        self.by_key.keys().map(|k| k.len() + 32).sum()
    }

    /// The keys with their first event times, ordered by key: a checkpoint holds the same state
    /// whatever order the records came in.
    pub fn snapshot(&self) -> Vec<(String, i64)> {
        let mut keys: Vec<(String, i64)> = self
            .by_key
            .iter()
            .map(|(k, t)| (k.to_string(), *t))
            .collect();
        keys.sort_unstable();
        keys
    }

    pub fn restore(keys: Vec<(String, i64)>) -> Self {
        Self {
            by_key: keys
                .into_iter()
                .map(|(k, t)| (k.into_boxed_str(), t))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_first_once_until_the_watermark_passes_it_by_the_bound() {
        let mut seen = FirstSeen::default();
        assert!(seen.first("a", 100));
        assert!(!seen.first("a", 100));
        assert!(seen.first("b", 150));
        seen.forget(159, 60);
        assert!(!seen.first("a", 100), "159 is 59 past a");
        seen.forget(160, 60);
        assert_eq!(seen.snapshot(), [("b".to_owned(), 150)]);
        assert!(seen.first("a", 101), "a is forgotten: kept again");
        let restored = FirstSeen::restore(seen.snapshot());
        assert_eq!(restored, seen);
    }
}
