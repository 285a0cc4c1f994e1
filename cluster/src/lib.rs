//! A Floe cluster's shared facts in etcd, under `/floe/<cluster>/`:
//! - `workers/<name>`: a live worker and its gRPC address, kept by the worker's lease
//!   ([`registration`]); the coordinator turns them into members ([`membership`]);
//! - `leader`: the election among coordinators ([`leadership`]);
//! - `status`: what the leading coordinator publishes for `floe status` ([`status`]).

pub mod keys;
pub mod leadership;
mod lease;
pub mod membership;
pub mod registration;
pub mod status;

/// Why etcd could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("etcd at {endpoints}: {source}")]
    Etcd {
        endpoints: String,
        #[source]
        source: etcd_client::Error,
    },
    #[error("{0}")]
    Lost(String),
}

/// A connection to the cluster's etcd.
#[derive(Clone)]
pub struct Etcd {
    pub client: etcd_client::Client,
    pub keys: keys::ClusterKeys,
    endpoints: String,
}

impl Etcd {
    /// Connects to `endpoints` (comma-separated `http://host:port`) for cluster `cluster`;
    /// every request has a deadline.
    pub async fn connect(endpoints: &str, cluster: &str) -> Result<Self, ClusterError> {
        Ok(Self {
            client: client(endpoints, Some(std::time::Duration::from_secs(10))).await?,
            keys: keys::ClusterKeys::new(cluster),
            endpoints: endpoints.to_owned(),
        })
    }

    /// Another connection whose requests may wait as long as they need (a standby's
    /// campaign waits until the leader goes).
    pub async fn without_deadline(&self) -> Result<etcd_client::Client, ClusterError> {
        client(&self.endpoints, None).await
    }

    /// A new lease of `ttl` (at least 2 s); returns its id and TTL in seconds.
    pub async fn grant_lease(&self, ttl: std::time::Duration) -> Result<(i64, i64), ClusterError> {
        let ttl_s = ttl.as_secs().max(2) as i64;
        let lease = self
            .client
            .clone()
            .lease_grant(ttl_s, None)
            .await
            .map_err(|e| self.error(e))?
            .id();
        Ok((lease, ttl_s))
    }

    pub fn error(&self, source: etcd_client::Error) -> ClusterError {
        ClusterError::Etcd {
            endpoints: self.endpoints.clone(),
            source,
        }
    }
}

async fn client(
    endpoints: &str,
    deadline: Option<std::time::Duration>,
) -> Result<etcd_client::Client, ClusterError> {
    let list: Vec<&str> = endpoints.split(',').map(str::trim).collect();
    let mut options = etcd_client::ConnectOptions::new()
        .with_connect_timeout(std::time::Duration::from_secs(5))
        .with_keep_alive(
            std::time::Duration::from_secs(5),
            std::time::Duration::from_secs(5),
        );
    if let Some(d) = deadline {
        options = options.with_timeout(d);
    }
    etcd_client::Client::connect(&list, Some(options))
        .await
        .map_err(|source| ClusterError::Etcd {
            endpoints: endpoints.to_owned(),
            source,
        })
}
