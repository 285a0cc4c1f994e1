//! A worker's presence in the cluster: its key with its gRPC address, alive as long as the
//! worker keeps its lease alive. A worker that dies disappears after the lease's TTL; one that
//! leaves revokes the lease and disappears at once.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use etcd_client::PutOptions;
use serde::{Deserialize, Serialize};

use crate::{lease, ClusterError, Etcd};

/// What a worker's key holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerRecord {
    /// Where the coordinator reaches the worker's gRPC service (`host:port`).
    pub address: String,
}

/// A registered worker; dropping it without [`Self::leave`] lets the lease expire.
pub struct Registration {
    etcd: Etcd,
    /// The lease holding the key now (the keeper takes a new one after etcd lost the last).
    lease: Arc<AtomicI64>,
    keeper: tokio::task::JoinHandle<()>,
}

impl Registration {
    /// Puts the worker's key under a lease of `ttl` and keeps the lease alive in the background
    /// (re-registering after etcd comes back, if it lost the lease meanwhile).
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
        let lease = Arc::new(AtomicI64::new(lease));
        let keeper = tokio::spawn(keep_alive(etcd.clone(), key, value, lease.clone(), ttl_s));
        Ok(Self {
            etcd: etcd.clone(),
            lease,
            keeper,
        })
    }

    /// Leaves the cluster now: the key goes with the lease (a lease etcd no longer holds has
    /// taken the key with it already).
    pub async fn leave(self) -> Result<(), ClusterError> {
        self.keeper.abort();
        let mut client = self.etcd.client.clone();
        match client
            .lease_revoke(self.lease.load(Ordering::Acquire))
            .await
        {
            Ok(_) => Ok(()),
            Err(etcd_client::Error::GRpcStatus(s)) if s.message().contains("lease not found") => {
                Ok(())
            }
            Err(e) => Err(self.etcd.error(e)),
        }
    }
}

/// Keeps the lease alive through etcd's outages; when etcd says it is gone (it expired while
/// etcd could not be reached, or etcd lost it), registers again under a new one.
async fn keep_alive(etcd: Etcd, key: String, value: String, lease: Arc<AtomicI64>, ttl_s: i64) {
    let every = Duration::from_millis((ttl_s as u64 * 1000) / 3);
    loop {
        lease::keep_until_gone(&etcd, lease.load(Ordering::Acquire), ttl_s).await;
        tracing::warn!(key, "worker lease lost; registering again");
        let mut client = etcd.client.clone();
        // Until a new lease holds the key again.
        loop {
            tokio::time::sleep(every).await;
            let Ok(r) = client.lease_grant(ttl_s, None).await else {
                continue;
            };
            let options = Some(PutOptions::new().with_lease(r.id()));
            match client.put(key.clone(), value.clone(), options).await {
                Ok(_) => {
                    lease.store(r.id(), Ordering::Release);
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
