//! Cluster mode's commands: `floe coordinator`, `floe worker`, `floe status`.

pub mod coordinator;
pub mod status;
pub mod worker;

use clap::Args;

/// Where the cluster's shared facts are.
#[derive(Args, Debug, Clone)]
pub struct EtcdArgs {
    /// etcd endpoints, comma-separated, e.g. http://127.0.0.1:2379.
    #[arg(long)]
    pub etcd: String,
    /// The cluster's name: its keys in etcd are under /floe/NAME/ (several clusters can share
    /// an etcd).
    #[arg(long, default_value = "default")]
    pub cluster: String,
}

impl EtcdArgs {
    pub async fn connect(&self) -> anyhow::Result<floe_cluster::Etcd> {
        Ok(floe_cluster::Etcd::connect(&self.etcd, &self.cluster).await?)
    }
}

/// This machine's host name (a StatefulSet pod's name).
pub fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
