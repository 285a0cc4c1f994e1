//! Every catalog call of the committer has a deadline, and the ones that only read are retried
//! with backoff: a hung catalog delays a commit (and, through backpressure, the readers) but
//! never leaves the job waiting forever. Commits are not retried here: a commit whose outcome
//! is unknown is re-checked by reading the table first (`table_commit.rs`).

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use iceberg::ErrorKind;

/// How long one catalog call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// `call` cut off after [`CALL_TIMEOUT`].
pub async fn with_deadline<T>(
    what: &str,
    call: impl Future<Output = iceberg::Result<T>>,
) -> iceberg::Result<T> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(result) => result,
        Err(_) => Err(iceberg::Error::new(
            ErrorKind::Unexpected,
            format!("catalog call {what} took longer than {CALL_TIMEOUT:?}"),
        )
        .with_retryable(true)),
    }
}

/// Errors a second attempt cannot cure.
fn is_definite(e: &iceberg::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::TableNotFound
            | ErrorKind::NamespaceNotFound
            | ErrorKind::TableAlreadyExists
            | ErrorKind::NamespaceAlreadyExists
            | ErrorKind::DataInvalid
            | ErrorKind::FeatureUnsupported
            | ErrorKind::PreconditionFailed
    )
}

/// A reading call, with a deadline per attempt and up to five attempts.
pub async fn read<T, F, Fut>(what: &str, call: F) -> iceberg::Result<T>
where
    F: Fn() -> Fut,
    Fut: Future<Output = iceberg::Result<T>>,
{
    (|| with_deadline(what, call()))
        .retry(
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(200))
                .with_max_delay(Duration::from_secs(10))
                .with_max_times(4),
        )
        .when(|e| !is_definite(e))
        .notify(|e, delay| {
            tracing::warn!(what, error = %e, retry_in = ?delay, "catalog call failed; retrying");
        })
        .await
}
