//! A worker's presence in the cluster: its key with its gRPC address, alive as long as the
//! worker keeps its lease alive. A worker that dies disappears after the lease's TTL; one that
//! leaves revokes the lease and disappears at once.

use std::time::Duration;

use etcd_client::PutOptions;
use serde::{Deserialize, Serialize};

use crate::{ClusterError, Etcd};

/// What a worker's key holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerRecord {
    /// Where the coordinator reaches the worker's gRPC service (`host:port`).
    pub address: String,
}

/// A registered worker; dropping it without [`Self::leave`] lets the lease expire.
pub struct Registration {
    etcd: Etcd,
    lease: i64,
    keeper: tokio::task::JoinHandle<()>,
}

impl Registration {
    /// Puts the worker's key under a lease of `ttl` and keeps the lease alive in the background
    /// (re-registering after etcd comes back, if the lease expired meanwhile).
    pub async fn register(
        etcd: &Etcd,
        name: &str,
        record: &WorkerRecord,
        ttl: Duration,
    ) -> Result<Self, ClusterError> {
        let mut client = etcd.client.clone();
        let (lease, ttl_s) = etcd.grant_lease(ttl).await?;
        let key = etcd.keys.worker(name);
        let value = serde_json::to_string(record).map_err(|e| ClusterError::Lost(e.to_string()))?;
        client
            .put(
                key.clone(),
                value.clone(),
                Some(PutOptions::new().with_lease(lease)),
            )
            .await
            .map_err(|e| etcd.error(e))?;
        tracing::info!(worker = name, address = %record.address, lease, "registered in etcd");
        let keeper = tokio::spawn(keep_alive(etcd.clone(), key, value, lease, ttl_s));
        Ok(Self {
            etcd: etcd.clone(),
            lease,
            keeper,
        })
    }

    /// Leaves the cluster now: the key goes with the lease.
    pub async fn leave(self) -> Result<(), ClusterError> {
        self.keeper.abort();
        let mut client = self.etcd.client.clone();
        client
            .lease_revoke(self.lease)
            .await
            .map_err(|e| self.etcd.error(e))?;
        Ok(())
    }
}

/// Refreshes the lease every third of its TTL; when it was lost (etcd away longer than the
/// TTL), registers again under a new one.
async fn keep_alive(etcd: Etcd, key: String, value: String, mut lease: i64, ttl_s: i64) {
    let every = Duration::from_millis((ttl_s as u64 * 1000) / 3);
    loop {
        let mut client = etcd.client.clone();
        let kept = match client.lease_keep_alive(lease).await {
            Ok((mut keeper, mut responses)) => loop {
                if keeper.keep_alive().await.is_err() {
                    break false;
                }
                match responses.message().await {
                    Ok(Some(r)) if r.ttl() > 0 => {}
                    _ => break false,
                }
                tokio::time::sleep(every).await;
            },
            Err(_) => false,
        };
        if !kept {
            tracing::warn!(key, "worker lease lost; registering again");
            // Until a new lease holds the key again.
            loop {
                tokio::time::sleep(every).await;
                let Ok(r) = client.lease_grant(ttl_s, None).await else {
                    continue;
                };
                let options = Some(PutOptions::new().with_lease(r.id()));
                match client.put(key.clone(), value.clone(), options).await {
                    Ok(_) => {
                        lease = r.id();
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(key, error = %e, "cannot register again yet");
                        let _ = client.lease_revoke(r.id()).await;
                    }
                }
            }
        }
    }
}
