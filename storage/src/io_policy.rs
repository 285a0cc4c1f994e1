//! Every object-store call of the checkpoint store has a deadline and is retried with backoff:
//! a hung or slow store delays a checkpoint (and, through backpressure, the readers) but never
//! leaves a call waiting forever.

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

/// Deadline and retries of one object-store call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoPolicy {
    /// How long one attempt may take.
    pub timeout: Duration,
    /// Attempts in all, the first included.
    pub attempts: usize,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for IoPolicy {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            attempts: 6,
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(15),
        }
    }
}

/// Errors a second attempt cannot cure: the answer was definite.
fn is_definite(e: &object_store::Error) -> bool {
    use object_store::Error as E;
    matches!(
        e,
        E::NotFound { .. }
            | E::AlreadyExists { .. }
            | E::Precondition { .. }
            | E::NotModified { .. }
            | E::NotImplemented { .. }
            | E::NotSupported { .. }
            | E::InvalidPath { .. }
            | E::PermissionDenied { .. }
            | E::Unauthenticated { .. }
            | E::UnknownConfigurationKey { .. }
    )
}

impl IoPolicy {
    /// Runs `op` until it succeeds, fails definitely, or the attempts are used up; each attempt
    /// is cut off after [`Self::timeout`]. `retried` is true from the second attempt on.
    pub async fn run<T, F, Fut>(&self, what: &str, op: F) -> Result<T, object_store::Error>
    where
        F: Fn(bool) -> Fut,
        Fut: Future<Output = Result<T, object_store::Error>>,
    {
        let attempt = std::sync::atomic::AtomicUsize::new(0);
        let timeout = self.timeout;
        let one = || async {
            let retried = attempt.fetch_add(1, std::sync::atomic::Ordering::Relaxed) > 0;
            match tokio::time::timeout(timeout, op(retried)).await {
                Ok(result) => result,
                Err(_) => Err(object_store::Error::Generic {
                    store: "checkpoint store",
                    source: format!("{what} took longer than {timeout:?}").into(),
                }),
            }
        };
        one.retry(
            ExponentialBuilder::default()
                .with_min_delay(self.first_delay)
                .with_max_delay(self.max_delay)
                .with_max_times(self.attempts.saturating_sub(1)),
        )
        .when(|e| !is_definite(e))
        .notify(|e, delay| {
            tracing::warn!(what, error = %e, retry_in = ?delay, "object store call failed; retrying");
        })
        .await
    }
}
