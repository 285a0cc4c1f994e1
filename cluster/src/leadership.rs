//! The election among coordinators: one leads the cluster's job, the others wait. Leadership
//! lives as long as the leader's lease. etcd being away does not end it (a restarted etcd
//! gives the lease a full TTL again, and no one else can be elected meanwhile); etcd saying
//! the lease is gone does, and the leader must stop at once (a new leader may already run, and
//! it fences the old one's commits by a newer epoch). A campaign that etcd interrupts is
//! taken up again.

use std::time::Duration;

use etcd_client::{LeaderKey, ResignOptions};
use tokio_util::sync::CancellationToken;

use crate::{lease, ClusterError, Etcd};

/// The longest pause between two attempts to reach etcd during a campaign.
const MAX_CAMPAIGN_PAUSE: Duration = Duration::from_secs(5);

/// This process leads until [`Leadership::lost`] resolves.
pub struct Leadership {
    etcd: Etcd,
    leader: LeaderKey,
    lease: i64,
    lost: CancellationToken,
    keeper: tokio::task::JoinHandle<()>,
}

impl Leadership {
    /// Campaigns as `name` and returns once elected (standbys wait here). etcd errors never
    /// end a campaign: it is taken up again, under the same lease while etcd still holds it.
    pub async fn campaign(etcd: &Etcd, name: &str, ttl: Duration) -> Self {
        let mut pause = Duration::from_millis(500);
        let mut retry = |what: &str, error: &ClusterError| {
            tracing::warn!(coordinator = name, error = %error, retry_in = ?pause, "{what}; trying again");
            let now = pause;
            pause = (pause * 2).min(MAX_CAMPAIGN_PAUSE);
            tokio::time::sleep(now)
        };
        loop {
            let (lease, ttl_s) = match etcd.grant_lease(ttl).await {
                Ok(granted) => granted,
                Err(e) => {
                    retry("cannot take a lease to stand for leader", &e).await;
                    continue;
                }
            };
            let lost = CancellationToken::new();
            let keeper = tokio::spawn(keep_alive(etcd.clone(), lease, ttl_s, lost.clone()));
            tracing::info!(coordinator = name, lease, "standing for leader");
            loop {
                // A lease etcd no longer holds takes its place in the election with it.
                let elected = tokio::select! {
                    elected = elect(etcd, name, lease) => elected,
                    _ = lost.cancelled() => break,
                };
                match elected {
                    Ok(leader) => {
                        tracing::info!(coordinator = name, "elected leader");
                        return Self {
                            etcd: etcd.clone(),
                            leader,
                            lease,
                            lost,
                            keeper,
                        };
                    }
                    Err(e) => retry("the campaign was interrupted", &e).await,
                }
            }
            keeper.abort();
        }
    }

    /// Resolves when etcd says the lease (and with it the leadership) is gone.
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

/// Waits in the election under `lease` until this process leads.
async fn elect(etcd: &Etcd, name: &str, lease: i64) -> Result<LeaderKey, ClusterError> {
    let mut response = etcd
        .without_deadline()
        .await?
        .campaign(etcd.keys.election(), name, lease)
        .await
        .map_err(|e| etcd.error(e))?;
    response
        .take_leader()
        .ok_or_else(|| ClusterError::Lost("etcd elected no leader key".into()))
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

/// Keeps the lease alive through etcd's outages; reports its loss once etcd says it is gone
/// (a keeper that ends in any other way reports the loss too).
async fn keep_alive(etcd: Etcd, lease: i64, ttl_s: i64, lost: CancellationToken) {
    let _lost = lost.drop_guard();
    lease::keep_until_gone(&etcd, lease, ttl_s).await;
    tracing::error!(lease, "etcd no longer holds the coordinator's lease");
}
