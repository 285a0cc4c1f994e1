//! An etcd of the test's own, on ports of its own, that the test can kill and start again on the
//! same data (the shared etcd of scripts/services.sh serves the other tests).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_local_addr, http_get};

/// One etcd member and its data directory.
pub struct PrivateEtcd {
    dir: PathBuf,
    client: String,
    peer: String,
    child: Option<Child>,
    starts: usize,
}

impl PrivateEtcd {
    /// Starts etcd (`$FLOE_ETCD_BIN`, else `etcd` on the PATH, as scripts/services.sh installs
    /// it) with its data under `dir`, and waits until it reports itself healthy.
    pub fn start(dir: &Path) -> PrivateEtcd {
        std::fs::create_dir_all(dir).expect("etcd dir");
        let mut etcd = PrivateEtcd {
            dir: dir.to_path_buf(),
            client: free_local_addr(),
            peer: free_local_addr(),
            child: None,
            starts: 0,
        };
        etcd.resume();
        etcd
    }

    /// The endpoint floe's `--etcd` takes.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.client)
    }

    /// Starts etcd again on the same ports and data.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "etcd is already running");
        self.starts += 1;
        let bin = std::env::var("FLOE_ETCD_BIN").unwrap_or_else(|_| "etcd".into());
        let log = File::create(self.dir.join(format!("etcd-{}.log", self.starts))).expect("log");
        let (client, peer) = (
            format!("http://{}", self.client),
            format!("http://{}", self.peer),
        );
        let child = Command::new(&bin)
            .args(["--name", "floe-private", "--data-dir"])
            .arg(self.dir.join("data"))
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args(["--initial-cluster", &format!("floe-private={peer}")])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {bin}: {e} (scripts/services.sh installs etcd)"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !http_get(&self.client, "/health").is_some_and(|b| b.contains("true")) {
            assert!(
                Instant::now() < deadline,
                "etcd on {} not healthy after 30 s (log in {})",
                self.client,
                self.dir.display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// SIGKILLs etcd; its data stays.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateEtcd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Revokes the lease of cluster `cluster`'s leader on the etcd at `endpoint`, as etcd does when
/// the lease expires while the leader cannot reach it; returns the leader's name.
pub fn revoke_leader_lease(endpoint: &str, cluster: &str) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut client = etcd_client::Client::connect([endpoint], None)
            .await
            .expect("connect to etcd");
        let election = floe_cluster::keys::ClusterKeys::new(cluster).election();
        let leader = client.leader(election).await.expect("the cluster's leader");
        let kv = leader.kv().expect("a leader key");
        client.lease_revoke(kv.lease()).await.expect("revoke");
        kv.value_str().expect("a name").to_owned()
    })
}
