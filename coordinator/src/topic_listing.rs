//! `TopicListing`: the source's partitions, listed off the controller's path, so that a broker
//! that is away never holds up the job's checkpoints. At most one listing is in flight; one that
//! takes longer than the controller waits is picked up by a later call.

use std::sync::Arc;
use std::time::Duration;

use floe_source::{PartitionSource, SourceError};
use tokio::task::JoinHandle;

/// How long the job's end waits for a listing in flight.
const STOP_WAIT: Duration = Duration::from_secs(5);

type Listing = JoinHandle<Result<Vec<i32>, SourceError>>;

/// Lists a source's partitions in the background.
pub struct TopicListing {
    source: Arc<dyn PartitionSource>,
    in_flight: Option<Listing>,
}

impl TopicListing {
    pub fn new(source: Arc<dyn PartitionSource>) -> Self {
        Self {
            source,
            in_flight: None,
        }
    }

    /// The partitions, when a listing (the one in flight, or a new one) ends within `wait`;
    /// `None` while it goes on, or with why it failed.
    pub async fn list(&mut self, wait: Duration) -> Option<Result<Vec<i32>, String>> {
        let joined = tokio::time::timeout(wait, self.listing()).await.ok()?;
        self.in_flight = None;
        Some(outcome(joined))
    }

    /// The partitions, however long the listing (the one in flight, or a new one) takes.
    pub async fn list_waiting(&mut self) -> Result<Vec<i32>, String> {
        let joined = self.listing().await;
        self.in_flight = None;
        outcome(joined)
    }

    fn listing(&mut self) -> &mut Listing {
        let source = &self.source;
        self.in_flight.get_or_insert_with(|| {
            let source = source.clone();
            tokio::task::spawn_blocking(move || source.partitions())
        })
    }

    /// Waits (up to [`STOP_WAIT`]) for a listing in flight, so that its client does not outlive
    /// the job; a broker that is away does not hold up the job's end longer.
    pub async fn stop(&mut self) {
        if let Some(listing) = self.in_flight.take() {
            let _ = tokio::time::timeout(STOP_WAIT, listing).await;
        }
    }
}

fn outcome(
    joined: Result<Result<Vec<i32>, SourceError>, tokio::task::JoinError>,
) -> Result<Vec<i32>, String> {
    match joined {
        Ok(listed) => listed.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    use super::*;

    /// Each listing waits until the test lets it go, and counts itself.
    #[derive(Debug, Default)]
    struct Gated {
        open: Mutex<bool>,
        opened: std::sync::Condvar,
        listings: AtomicUsize,
    }

    impl Gated {
        fn open(&self) {
            *self.open.lock().expect("lock") = true;
            self.opened.notify_all();
        }
    }

    impl PartitionSource for Gated {
        fn partitions(&self) -> Result<Vec<i32>, SourceError> {
            self.listings.fetch_add(1, Ordering::SeqCst);
            let open = self.open.lock().expect("lock");
            drop(self.opened.wait_while(open, |open| !*open).expect("lock"));
            Ok(vec![0, 1])
        }

        fn end_offsets(&self) -> Result<BTreeMap<i32, i64>, SourceError> {
            Ok(BTreeMap::new())
        }
    }

    #[tokio::test]
    async fn a_slow_listing_is_not_waited_for_nor_started_twice() {
        let source = Arc::new(Gated::default());
        let mut listing = TopicListing::new(source.clone());
        let wait = Duration::from_millis(20);
        assert_eq!(listing.list(wait).await, None);
        assert_eq!(listing.list(wait).await, None);
        assert_eq!(source.listings.load(Ordering::SeqCst), 1, "one in flight");
        source.open();
        assert_eq!(
            listing.list(Duration::from_secs(10)).await,
            Some(Ok(vec![0, 1]))
        );
        assert_eq!(listing.list(wait).await, Some(Ok(vec![0, 1])));
        assert_eq!(source.listings.load(Ordering::SeqCst), 2);
        listing.stop().await;
    }
}
