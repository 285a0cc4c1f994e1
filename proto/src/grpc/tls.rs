//! `GrpcTls`: TLS on the gRPC links between coordinators and workers, from PEM files.
//!
//! A process with a certificate and key serves TLS; with a CA it checks its peers against it:
//! a server then accepts only clients with a certificate the CA signed (mutual TLS), a client
//! only servers whose certificate the CA signed for the host it dials.

use std::path::Path;

use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// This process's certificate and key, and the CA its peers' certificates are checked against.
#[derive(Clone, Default)]
pub struct GrpcTls {
    identity: Option<(Vec<u8>, Vec<u8>)>,
    ca: Option<Vec<u8>>,
}

/// The key stays out of logs.
impl std::fmt::Debug for GrpcTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcTls")
            .field("identity", &self.identity.is_some())
            .field("ca", &self.ca.is_some())
            .finish()
    }
}

/// Why the TLS files cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Incomplete(&'static str),
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.display().to_string(),
        source,
    })
}

impl GrpcTls {
    /// `None` when no file is given (plaintext); a certificate needs its key and a key its
    /// certificate.
    pub fn from_files(
        cert: Option<&Path>,
        key: Option<&Path>,
        ca: Option<&Path>,
    ) -> Result<Option<Self>, TlsError> {
        let identity = match (cert, key) {
            (Some(c), Some(k)) => Some((read(c)?, read(k)?)),
            (None, None) => None,
            _ => return Err(TlsError::Incomplete("--tls-cert and --tls-key go together")),
        };
        let ca = ca.map(read).transpose()?;
        Ok((identity.is_some() || ca.is_some()).then_some(Self { identity, ca }))
    }

    /// Whether peers are checked against a CA: a client needs one to reach servers over TLS.
    pub fn checks_peers(&self) -> bool {
        self.ca.is_some()
    }

    /// The server side: this process's identity, and client certificates required when a CA
    /// is given. `None` without a certificate (a server cannot serve TLS without one).
    pub fn server(&self) -> Option<ServerTlsConfig> {
        let (cert, key) = self.identity.as_ref()?;
        let mut config = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
        if let Some(ca) = &self.ca {
            config = config.client_ca_root(Certificate::from_pem(ca));
        }
        Some(config)
    }

    /// The client side towards `host`: the server checked against the CA, this process's
    /// certificate presented when it has one. `None` without a CA (no server can be checked).
    pub fn client(&self, host: &str) -> Option<ClientTlsConfig> {
        let ca = self.ca.as_ref()?;
        let mut config = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(ca))
            .domain_name(host);
        if let Some((cert, key)) = &self.identity {
            config = config.identity(Identity::from_pem(cert, key));
        }
        Some(config)
    }
}
