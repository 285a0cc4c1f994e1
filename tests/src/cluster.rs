//! Cluster mode in the end-to-end tests: `floe coordinator` and `floe worker` as separate
//! processes on loopback, on the test services' etcd (`FLOE_ETCD_ENDPOINTS`; each test is a
//! cluster of its own name), checked through `floe status --json`.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{floe_bin, free_local_addr, unique_topic, FloeProcess, Job};

/// How long a dead process keeps its lease: how soon its partitions (or leadership) move.
pub const LEASE_TTL: &str = "3s";

/// The coordinators and workers of one test's cluster.
pub struct Cluster {
    pub name: String,
    pub etcd: String,
    interval: String,
    coordinators: BTreeMap<String, FloeProcess>,
    workers: BTreeMap<String, FloeProcess>,
}

impl Cluster {
    /// A cluster named after `label`, checkpointing every `interval`.
    pub fn new(label: &str, interval: &str) -> Cluster {
        let etcd = std::env::var("FLOE_ETCD_ENDPOINTS")
            .ok()
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| {
                panic!(
                    "FLOE_ETCD_ENDPOINTS is not set: start the services with \
                     `scripts/services.sh DIR start --etcd` (scripts/test.sh does)"
                )
            });
        Cluster {
            name: unique_topic(label),
            etcd,
            interval: interval.to_owned(),
            coordinators: BTreeMap::new(),
            workers: BTreeMap::new(),
        }
    }

    fn etcd_args(&self) -> Vec<String> {
        vec![
            "--etcd".into(),
            self.etcd.clone(),
            "--cluster".into(),
            self.name.clone(),
        ]
    }

    pub fn start_coordinator(&mut self, job: &mut Job, name: &str) {
        let mut args = vec![
            "coordinator".to_owned(),
            "--config".into(),
            job.config.display().to_string(),
            "--checkpoint-interval".into(),
            self.interval.clone(),
            "--name".into(),
            name.into(),
            "--admin".into(),
            free_local_addr(),
            "--lease-ttl".into(),
            LEASE_TTL.into(),
        ];
        args.extend(self.etcd_args());
        let p = job.spawn(&args, &[], &format!("floe coordinator {name}"));
        self.coordinators.insert(name.to_owned(), p);
    }

    pub fn start_worker(&mut self, job: &mut Job, name: &str) {
        let mut args = vec![
            "worker".to_owned(),
            "--name".into(),
            name.into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--lease-ttl".into(),
            LEASE_TTL.into(),
        ];
        args.extend(self.etcd_args());
        let p = job.spawn(&args, &[], &format!("floe worker {name}"));
        self.workers.insert(name.to_owned(), p);
    }

    fn process(&mut self, name: &str) -> &mut FloeProcess {
        if self.workers.contains_key(name) {
            return self.workers.get_mut(name).expect("worker");
        }
        self.coordinators
            .get_mut(name)
            .unwrap_or_else(|| panic!("no process {name} in the cluster"))
    }

    /// SIGKILLs a coordinator or worker.
    pub fn kill(&mut self, name: &str) {
        let status = self.process(name).kill();
        eprintln!("[cluster {}] killed {name}: {status}", self.name);
        self.workers.remove(name);
        self.coordinators.remove(name);
    }

    /// SIGTERMs a worker and expects it to leave gracefully (exit 0).
    pub fn leave(&mut self, name: &str, timeout: Duration) {
        let mut p = self.workers.remove(name).expect("a running worker");
        p.terminate();
        p.expect_success(timeout);
        eprintln!("[cluster {}] {name} left", self.name);
    }

    /// SIGKILLs every process at once.
    pub fn kill_all(&mut self) {
        let names: Vec<String> = self
            .workers
            .keys()
            .chain(self.coordinators.keys())
            .cloned()
            .collect();
        for p in self
            .workers
            .values_mut()
            .chain(self.coordinators.values_mut())
        {
            p.kill();
        }
        self.workers.clear();
        self.coordinators.clear();
        eprintln!("[cluster {}] killed everything: {names:?}", self.name);
    }

    /// Stops the coordinators (the leader finishes with a last checkpoint), then the workers;
    /// every one must exit 0.
    pub fn stop(&mut self, timeout: Duration) {
        for (_, mut p) in std::mem::take(&mut self.coordinators) {
            p.terminate();
            p.expect_success(timeout);
        }
        for (_, mut p) in std::mem::take(&mut self.workers) {
            p.terminate();
            p.expect_success(timeout);
        }
    }

    pub fn workers(&self) -> BTreeSet<String> {
        self.workers.keys().cloned().collect()
    }

    pub fn coordinators(&self) -> BTreeSet<String> {
        self.coordinators.keys().cloned().collect()
    }

    /// `floe status --json`.
    pub fn status(&self) -> Value {
        let out = Command::new(floe_bin())
            .arg("status")
            .arg("--json")
            .args(self.etcd_args())
            .output()
            .expect("run floe status");
        assert!(
            out.status.success(),
            "floe status failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("floe status --json prints JSON")
    }

    /// Polls the status until `pred` holds; fails when a process exits meanwhile.
    pub fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.status();
            if pred(&status) {
                return status;
            }
            for p in self
                .workers
                .values_mut()
                .chain(self.coordinators.values_mut())
            {
                if let Some(s) = p.poll() {
                    panic!("exited ({s}) while waiting for {what}:\n{}", p.describe());
                }
            }
            if Instant::now() >= deadline {
                let mut logs = String::new();
                for p in self.coordinators.values_mut() {
                    logs.push_str(&p.describe());
                }
                panic!("no {what} within {timeout:?}; status {status:#}\n{logs}");
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

/// The workers the status's assignment gives partitions to.
pub fn assigned_workers(status: &Value) -> BTreeSet<String> {
    status["progress"]["assignment"]
        .as_object()
        .map(|a| {
            a.iter()
                .filter(|(_, ps)| ps.as_array().is_some_and(|p| !p.is_empty()))
                .map(|(w, _)| w.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// The status's count of committed checkpoints (0 before any).
pub fn checkpoints(status: &Value) -> u64 {
    status["progress"]["checkpoints_committed"]
        .as_u64()
        .unwrap_or(0)
}

/// The status's running-state name.
pub fn state(status: &Value) -> &str {
    status["progress"]["state"].as_str().unwrap_or("")
}

/// The leader named by the status.
pub fn leader(status: &Value) -> Option<&str> {
    status["leader"].as_str()
}

/// The id of the newest committed checkpoint (ids go on across leaders).
pub fn last_checkpoint(status: &Value) -> u64 {
    status["progress"]["last_checkpoint_id"]
        .as_u64()
        .unwrap_or(0)
}

/// Events the job has read, by the status.
pub fn events(status: &Value) -> u64 {
    status["progress"]["events"].as_u64().unwrap_or(0)
}
