//! Keeping an etcd lease alive through etcd's own outages. A restarted etcd gives every lease it
//! restores a full TTL again, so an unreachable etcd is no sign that a lease is gone: only etcd
//! answering that it no longer holds the lease is.

use std::time::Duration;

use crate::Etcd;

/// How long to wait before asking an unreachable etcd again.
const RETRY: Duration = Duration::from_secs(1);

/// Why renewing a lease stopped.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Renewal {
    /// etcd answered that it no longer holds the lease (it expired or was revoked).
    Gone,
    /// etcd did not answer; the lease may well be alive.
    Unreachable(String),
}

/// Renews `lease` every third of its TTL until etcd says it is gone or cannot be reached.
/// `outage` holds when etcd was first found unreachable; the first renewal that works ends it.
pub(crate) async fn renew(
    etcd: &Etcd,
    lease: i64,
    ttl_s: i64,
    outage: &mut Option<tokio::time::Instant>,
) -> Renewal {
    let ttl = Duration::from_secs(ttl_s.max(1) as u64);
    let mut client = etcd.client.clone();
    let (mut keeper, mut responses) = match client.lease_keep_alive(lease).await {
        Ok(stream) => stream,
        Err(e) => return Renewal::Unreachable(e.to_string()),
    };
    loop {
        if let Err(e) = keeper.keep_alive().await {
            return Renewal::Unreachable(e.to_string());
        }
        match tokio::time::timeout(ttl, responses.message()).await {
            Ok(Ok(Some(r))) if r.ttl() > 0 => {
                if let Some(since) = outage.take() {
                    tracing::info!(lease, after = ?since.elapsed(), "etcd answers again and still holds the lease");
                }
            }
            Ok(Ok(Some(_))) => return Renewal::Gone,
            Ok(Ok(None)) => return Renewal::Unreachable("the keep-alive stream ended".into()),
            Ok(Err(e)) => return Renewal::Unreachable(e.to_string()),
            Err(_) => return Renewal::Unreachable(format!("no answer within {ttl:?}")),
        }
        tokio::time::sleep(ttl / 3).await;
    }
}

/// Keeps `lease` alive until etcd says it is gone, asking again every second while etcd
/// cannot be reached.
pub(crate) async fn keep_until_gone(etcd: &Etcd, lease: i64, ttl_s: i64) {
    let mut outage = None;
    while let Renewal::Unreachable(why) = renew(etcd, lease, ttl_s, &mut outage).await {
        if outage.is_none() {
            tracing::warn!(lease, error = %why, "etcd is unreachable; the lease is kept as long as etcd holds it");
            outage = Some(tokio::time::Instant::now());
        }
        tokio::time::sleep(RETRY).await;
    }
}
