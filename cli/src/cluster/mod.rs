//! Cluster mode's commands: `floe coordinator`, `floe worker`, `floe status`.

pub mod coordinator;
pub mod status;
pub mod worker;

use std::path::PathBuf;

use clap::Args;
use floe_proto::grpc::GrpcTls;

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

/// TLS on the gRPC links between coordinators and workers (PEM files).
#[derive(Args, Debug, Clone, Default)]
pub struct TlsArgs {
    /// This process's certificate: a worker serves TLS with it, a coordinator presents it to
    /// workers that require client certificates (and serves its `--listen` with it).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of `--tls-cert`.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The CA peers are checked against: a worker then accepts only coordinators with a
    /// certificate it signed (mutual TLS); a coordinator reaches workers over TLS and checks
    /// their certificates with it.
    #[arg(long)]
    pub tls_ca: Option<PathBuf>,
    /// Serve the admin port over HTTPS with --tls-cert and --tls-key.
    #[arg(long, requires = "tls_cert")]
    pub admin_tls: bool,
    /// With --admin-tls: accept only admin clients (scrapers) presenting a certificate this CA
    /// signed.
    #[arg(long, requires = "admin_tls")]
    pub admin_client_ca: Option<PathBuf>,
}

impl TlsArgs {
    /// The admin port's TLS, when `--admin-tls` asks for it.
    pub fn admin(&self) -> anyhow::Result<Option<tokio_rustls::TlsAcceptor>> {
        match (self.admin_tls, &self.tls_cert, &self.tls_key) {
            (true, Some(cert), Some(key)) => Ok(Some(crate::admin_tls::acceptor(
                cert,
                key,
                self.admin_client_ca.as_deref(),
            )?)),
            _ => Ok(None),
        }
    }

    /// `None` for plaintext.
    pub fn load(&self) -> anyhow::Result<Option<GrpcTls>> {
        Ok(GrpcTls::from_files(
            self.tls_cert.as_deref(),
            self.tls_key.as_deref(),
            self.tls_ca.as_deref(),
        )?)
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
