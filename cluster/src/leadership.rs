//! The election among coordinators: one leads the cluster's job, the others wait. Leadership
//! lives as long as the leader's lease; a leader that cannot keep it must stop at once (a new
//! leader may already run, and it fences the old one's commits by a newer epoch).

use std::time::Duration;

use etcd_client::{LeaderKey, ResignOptions};
use tokio_util::sync::CancellationToken;

use crate::{ClusterError, Etcd};

/// This process leads until [`Leadership::lost`] resolves.
pub struct Leadership {
    etcd: Etcd,
    leader: LeaderKey,
    lease: i64,
    lost: CancellationToken,
    keeper: tokio::task::JoinHandle<()>,
}

impl Leadership {
    /// Campaigns as `name` and returns once elected (standbys wait here).
    pub async fn campaign(etcd: &Etcd, name: &str, ttl: Duration) -> Result<Self, ClusterError> {
        let (lease, ttl_s) = etcd.grant_lease(ttl).await?;
        let lost = CancellationToken::new();
        let keeper = tokio::spawn(keep_alive(etcd.clone(), lease, ttl_s, lost.clone()));
        tracing::info!(coordinator = name, "standing for leader");
        let mut response = etcd
            .without_deadline()
            .await?
            .campaign(etcd.keys.election(), name, lease)
            .await
            .map_err(|e| etcd.error(e))?;
        let leader = response
            .take_leader()
            .ok_or_else(|| ClusterError::Lost("etcd elected no leader key".into()))?;
        tracing::info!(coordinator = name, "elected leader");
        Ok(Self {
            etcd: etcd.clone(),
            leader,
            lease,
            lost,
            keeper,
        })
    }

    /// Resolves when the lease (and with it the leadership) is lost.
    pub async fn lost(&mut self) {
        self.lost.cancelled().await
    }

    /// Steps down so that a standby takes over at once.
    pub async fn resign(self) {
        self.keeper.abort();
        let mut client = self.etcd.client.clone();
        let _ = client
            .resign(Some(ResignOptions::new().with_leader(self.leader)))
            .await;
        let _ = client.lease_revoke(self.lease).await;
    }
}

/// The name of the current leader, if any.
pub async fn current_leader(etcd: &Etcd) -> Result<Option<String>, ClusterError> {
    let mut client = etcd.client.clone();
    match client.leader(etcd.keys.election()).await {
        Ok(r) => Ok(r.kv().and_then(|kv| kv.value_str().ok()).map(str::to_owned)),
        Err(etcd_client::Error::GRpcStatus(s)) if s.message().contains("no leader") => Ok(None),
        Err(e) => Err(etcd.error(e)),
    }
}

/// Keeps the lease alive; reports its loss once and stops (a keeper that ends in any other way
/// reports the loss too).
async fn keep_alive(etcd: Etcd, lease: i64, ttl_s: i64, lost: CancellationToken) {
    let lost = lost.drop_guard();
    let every = Duration::from_millis((ttl_s as u64 * 1000) / 3);
    let mut client = etcd.client.clone();
    if let Ok((mut keeper, mut responses)) = client.lease_keep_alive(lease).await {
        loop {
            if keeper.keep_alive().await.is_err() {
                break;
            }
            match tokio::time::timeout(Duration::from_secs(ttl_s as u64), responses.message()).await
            {
                Ok(Ok(Some(r))) if r.ttl() > 0 => {}
                _ => break,
            }
            tokio::time::sleep(every).await;
        }
    }
    tracing::error!(lease, "the leader's etcd lease is lost");
    drop(lost);
}
