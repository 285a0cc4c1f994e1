//! `SourceEnds`: where each partition of a job's source ends now, asked in the background so a
//! slow broker never holds up the controller. A partition's consumer lag is measured against it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use floe_source::PartitionSource;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The source's end offsets by partition, as last asked; asking stops with [`SourceEnds::stop`]
/// (or, without waiting for the source to be let go, when this is dropped).
pub struct SourceEnds {
    ends: watch::Receiver<BTreeMap<i32, i64>>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl SourceEnds {
    /// Asks `source` for its partitions' ends now and then every `every`.
    pub fn spawn(source: Arc<dyn PartitionSource>, every: Duration) -> Self {
        let (tx, ends) = watch::channel(BTreeMap::new());
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            loop {
                let source = source.clone();
                let asked = tokio::task::spawn_blocking(move || source.end_offsets()).await;
                match asked {
                    Ok(Ok(now)) => {
                        tx.send_replace(now);
                    }
                    // Lag goes stale, nothing else depends on it: the next round asks again.
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "cannot read the source's end offsets")
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "reading the source's end offsets stopped")
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stopped.cancelled() => break,
                }
            }
        });
        Self { ends, stop, task }
    }

    /// Stops asking and waits until the source is let go: a Kafka client must not outlive the
    /// job (the demo's in-process cluster goes away right after it).
    pub async fn stop(&mut self) {
        self.stop.cancel();
        let _ = (&mut self.task).await;
    }

    /// Where `partition` ended when last asked.
    pub fn end_of(&self, partition: i32) -> Option<i64> {
        self.ends.borrow().get(&partition).copied()
    }
}

impl Drop for SourceEnds {
    fn drop(&mut self) {
        self.task.abort();
    }
}
