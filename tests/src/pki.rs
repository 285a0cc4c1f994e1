//! Certificates for the TLS tests, made with the `openssl` command: a CA with one certificate
//! for every process on loopback (`localhost`, `127.0.0.1`), and a rogue CA with one of its own.

use crate::process::output_ok;
use std::path::{Path, PathBuf};
use std::process::Command;

/// PEM files under one directory.
pub struct TestPki {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub rogue_ca: PathBuf,
    pub rogue_cert: PathBuf,
    pub rogue_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let mut cmd = Command::new("openssl");
    output_ok(
        cmd.args(args).current_dir(dir),
        &format!("openssl {args:?}"),
    );
}

/// A CA (`<name>-ca.pem`) and a certificate it signs for loopback (`<name>.pem`, key
/// `<name>-key.pem`), usable as server and client certificate.
fn authority(dir: &Path, name: &str) {
    let ca_key = format!("{name}-ca-key.pem");
    let ca = format!("{name}-ca.pem");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name} test CA"),
            "-keyout",
            &ca_key,
            "-out",
            &ca,
        ],
    );
    let key = format!("{name}-key.pem");
    let csr = format!("{name}.csr");
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            &key,
            "-out",
            &csr,
        ],
    );
    let ext = format!("{name}.ext");
    std::fs::write(
        dir.join(&ext),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    .expect("write extensions");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

impl TestPki {
    pub fn create(dir: &Path) -> TestPki {
        std::fs::create_dir_all(dir).expect("pki directory");
        authority(dir, "floe");
        authority(dir, "rogue");
        TestPki {
            ca: dir.join("floe-ca.pem"),
            cert: dir.join("floe.pem"),
            key: dir.join("floe-key.pem"),
            rogue_ca: dir.join("rogue-ca.pem"),
            rogue_cert: dir.join("rogue.pem"),
            rogue_key: dir.join("rogue-key.pem"),
        }
    }

    /// `--tls-cert C --tls-key K --tls-ca A`.
    pub fn args(cert: &Path, key: &Path, ca: &Path) -> Vec<String> {
        [("--tls-cert", cert), ("--tls-key", key), ("--tls-ca", ca)]
            .iter()
            .flat_map(|(flag, path)| [flag.to_string(), path.display().to_string()])
            .collect()
    }
}
