//! A tansu broker of the test's own, on a port of its own, that the test can stop and start
//! again on the same data (the shared broker of scripts/services.sh serves the other tests).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::free_local_addr;

/// One tansu process and its data directory.
pub struct PrivateBroker {
    bin: PathBuf,
    dir: PathBuf,
    pub addr: String,
    child: Option<Child>,
    starts: usize,
}

impl PrivateBroker {
    /// Starts tansu (`$FLOE_TANSU_BIN`, set by scripts/services.sh) with sqlite storage under
    /// `dir`, and waits until it answers metadata requests.
    pub fn start(dir: &Path) -> PrivateBroker {
        let bin = std::env::var_os("FLOE_TANSU_BIN")
            .map(PathBuf::from)
            .filter(|p| p.exists())
            .unwrap_or_else(|| {
                panic!("FLOE_TANSU_BIN is not set or missing (scripts/services.sh exports it)")
            });
        std::fs::create_dir_all(dir).expect("broker dir");
        let mut broker = PrivateBroker {
            bin,
            dir: dir.to_path_buf(),
            addr: free_local_addr(),
            child: None,
            starts: 0,
        };
        broker.resume();
        broker
    }

    /// Starts the broker again on the same port and data.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "the broker is already running");
        self.starts += 1;
        let log =
            File::create(self.dir.join(format!("tansu-{}.log", self.starts))).expect("broker log");
        let url = format!("tcp://{}", self.addr);
        let child = Command::new(&self.bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", self.bin.display()));
        self.child = Some(child);
        self.wait_ready(Duration::from_secs(60));
    }

    /// Stops the broker (SIGTERM, then SIGKILL after 10 s); its data stays.
    pub fn pause(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    fn wait_ready(&self, timeout: Duration) {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.addr)
            .create()
            .expect("probe consumer");
        let deadline = Instant::now() + timeout;
        loop {
            match consumer.fetch_metadata(None, Duration::from_secs(2)) {
                Ok(md) if !md.brokers().is_empty() => return,
                Ok(_) => {}
                Err(e) => assert!(
                    Instant::now() < deadline,
                    "tansu on {} not ready after {timeout:?}: {e}",
                    self.addr
                ),
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
