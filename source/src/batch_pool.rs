//! `BatchPool`: decoded batches handed back by the window actor for readers to fill again.
//!
//! A batch of a few thousand records owns several growable buffers; building a fresh one per
//! poll costs allocation, regrowth and page faults on every batch. Recycling keeps them warm.

use std::sync::{Arc, Mutex};

use floe_common::decode::DecodedBatch;

/// A bounded stack of empty batches shared by a worker's readers and its window actor.
#[derive(Clone, Debug)]
pub struct BatchPool {
    /// Boxed because batches travel boxed in actor messages: no re-boxing on the way back.
    #[allow(clippy::vec_box)]
    free: Arc<Mutex<Vec<Box<DecodedBatch>>>>,
    capacity: usize,
}

impl BatchPool {
    /// Keeps at most `capacity` idle batches (about the number in flight).
    pub fn new(capacity: usize) -> Self {
        Self {
            free: Arc::new(Mutex::new(Vec::with_capacity(capacity))),
            capacity,
        }
    }

    /// An empty batch: a recycled one when there is one.
    pub fn take(&self) -> Box<DecodedBatch> {
        self.free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_default()
    }

    /// Returns a processed batch for reuse (dropped when the pool is full).
    pub fn give(&self, mut batch: Box<DecodedBatch>) {
        batch.clear();
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        if free.len() < self.capacity {
            free.push(batch);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_come_back_empty_and_the_pool_stays_bounded() {
        let pool = BatchPool::new(1);
        let mut a = pool.take();
        a.keys.push_str("v_1");
        a.key_ends.push(3);
        a.event_ms.push(1);
        let keys_capacity = a.keys.capacity();
        pool.give(a);
        pool.give(Box::default());
        let again = pool.take();
        assert!(again.is_empty() && again.keys.is_empty());
        assert_eq!(again.keys.capacity(), keys_capacity, "the same buffers");
        assert_eq!(
            pool.take().keys.capacity(),
            0,
            "the second batch was dropped"
        );
    }
}
