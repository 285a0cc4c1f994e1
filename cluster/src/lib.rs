//! A Floe cluster's shared facts in etcd, under `/floe/<cluster>/`:
//! - `workers/<name>`: a live worker and its gRPC address, kept by the worker's lease
//!   ([`registration`]); the coordinator turns them into members ([`membership`]);
//! - `leader`: the election among coordinators ([`leadership`]);
//! - `status`: what the leading coordinator publishes for `floe status` ([`status`]).

pub mod keys;
pub mod leadership;
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
    /// Connects to `endpoints` (comma-separated `http://host:port`) for cluster `cluster`.
    pub async fn connect(endpoints: &str, cluster: &str) -> Result<Self, ClusterError> {
        let list: Vec<&str> = endpoints.split(',').map(str::trim).collect();
        let options = etcd_client::ConnectOptions::new()
            .with_connect_timeout(std::time::Duration::from_secs(5))
            .with_timeout(std::time::Duration::from_secs(10))
            .with_keep_alive(
                std::time::Duration::from_secs(5),
                std::time::Duration::from_secs(5),
            );
        let client = etcd_client::Client::connect(&list, Some(options))
            .await
            .map_err(|source| ClusterError::Etcd {
                endpoints: endpoints.to_owned(),
                source,
            })?;
        Ok(Self {
            client,
            keys: keys::ClusterKeys::new(cluster),
            endpoints: endpoints.to_owned(),
        })
    }

    pub fn error(&self, source: etcd_client::Error) -> ClusterError {
        ClusterError::Etcd {
            endpoints: self.endpoints.clone(),
            source,
        }
    }
}
