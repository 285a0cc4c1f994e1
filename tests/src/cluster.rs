//! Cluster mode in the end-to-end tests: `floe coordinator` and `floe worker` as separate
//! processes on loopback, on the test services' etcd (`FLOE_ETCD_ENDPOINTS`; each test is a
//! cluster of its own name), checked through `floe status --json`.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::faulty_link::FaultyLink;
use crate::process::output_ok;
use crate::{
    floe_bin, free_local_addr, unique_topic, ContentGen, EventLog, Expect, FloeProcess, Job,
    JobOptions, Placement, Produced, Record, Services, StreamSpec, BAD_KINDS, BASE_TS,
};

/// How long a dead process keeps its lease: how soon its partitions (or leadership) move. 3 s,
/// or `FLOE_E2E_LEASE_TTL` (e.g. `10s`, the default of `floe worker`, to measure at it).
pub fn lease_ttl() -> String {
    std::env::var("FLOE_E2E_LEASE_TTL")
        .ok()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "3s".to_owned())
}

/// [`lease_ttl`] as a duration (whole seconds, `10s`).
pub fn lease() -> Duration {
    let ttl = lease_ttl();
    let secs = ttl
        .strip_suffix('s')
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("FLOE_E2E_LEASE_TTL {ttl:?}: give whole seconds, as `10s`"));
    Duration::from_secs(secs)
}

/// The coordinators and workers of one test's cluster.
pub struct Cluster {
    pub name: String,
    pub etcd: String,
    interval: String,
    coordinators: BTreeMap<String, FloeProcess>,
    workers: BTreeMap<String, FloeProcess>,
    /// Each process's admin address (`host:port`).
    admins: BTreeMap<String, String>,
    /// The links in front of workers started behind one.
    links: BTreeMap<String, FaultyLink>,
}

impl Cluster {
    /// A cluster named after `label`, checkpointing every `interval`, on the services' etcd.
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
        Cluster::on_etcd(label, interval, &etcd)
    }

    /// A cluster on the etcd at `endpoints` (a test's own, which it may stop).
    pub fn on_etcd(label: &str, interval: &str, endpoints: &str) -> Cluster {
        Cluster {
            name: unique_topic(label),
            etcd: endpoints.to_owned(),
            interval: interval.to_owned(),
            coordinators: BTreeMap::new(),
            workers: BTreeMap::new(),
            admins: BTreeMap::new(),
            links: BTreeMap::new(),
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
        self.start_coordinator_with(job, name, &[]);
    }

    /// A coordinator with more arguments (e.g. TLS files).
    pub fn start_coordinator_with(&mut self, job: &mut Job, name: &str, extra: &[String]) {
        let mut role = job.job_args();
        role.extend(["--checkpoint-interval".into(), self.interval.clone()]);
        let p = self.spawn_member(job, "coordinator", name, &role, extra);
        self.coordinators.insert(name.to_owned(), p);
    }

    pub fn start_worker(&mut self, job: &mut Job, name: &str) {
        self.start_worker_with(job, name, &[]);
    }

    /// A worker with more arguments (e.g. TLS files).
    pub fn start_worker_with(&mut self, job: &mut Job, name: &str, extra: &[String]) {
        let role = ["--listen".to_owned(), "127.0.0.1:0".into()];
        let p = self.spawn_member(job, "worker", name, &role, extra);
        self.workers.insert(name.to_owned(), p);
    }

    /// A worker that coordinators reach only through a [`FaultyLink`] ([`Self::link`]); its
    /// own traffic to etcd, the broker and the store does not cross it.
    pub fn start_worker_behind_link(&mut self, job: &mut Job, name: &str) {
        let listen = free_local_addr();
        let link = FaultyLink::to(&listen);
        let role = [
            "--listen".to_owned(),
            listen,
            "--advertise".into(),
            link.address().to_owned(),
        ];
        let p = self.spawn_member(job, "worker", name, &role, &[]);
        self.workers.insert(name.to_owned(), p);
        self.links.insert(name.to_owned(), link);
    }

    /// The link in front of worker `name` ([`Self::start_worker_behind_link`]).
    pub fn link(&self, name: &str) -> &FaultyLink {
        self.links
            .get(name)
            .unwrap_or_else(|| panic!("worker {name} was not started behind a link"))
    }

    /// `floe <command> <role args> --name <name>` with an admin port of its own, this cluster's
    /// lease and etcd, and `extra`.
    fn spawn_member(
        &mut self,
        job: &mut Job,
        command: &str,
        name: &str,
        role: &[String],
        extra: &[String],
    ) -> FloeProcess {
        let admin = free_local_addr();
        self.admins.insert(name.to_owned(), admin.clone());
        let mut args = vec![command.to_owned()];
        args.extend(role.iter().cloned());
        args.extend([
            "--name".into(),
            name.into(),
            "--admin".into(),
            admin,
            "--lease-ttl".into(),
            lease_ttl(),
        ]);
        args.extend(self.etcd_args());
        args.extend(extra.iter().cloned());
        job.spawn(&args, &[], &format!("floe {command} {name}"))
    }

    fn process(&mut self, name: &str) -> &mut FloeProcess {
        if self.workers.contains_key(name) {
            return self.workers.get_mut(name).expect("worker");
        }
        self.coordinators
            .get_mut(name)
            .unwrap_or_else(|| panic!("no process {name} in the cluster"))
    }

    /// Waits until a line of `name`'s log satisfies `pred`.
    pub fn wait_for_log(
        &mut self,
        name: &str,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) {
        self.process(name).wait_for_log(what, timeout, pred);
    }

    /// How many lines of `name`'s log `pred` holds for now.
    pub fn count_log_lines(&mut self, name: &str, pred: impl Fn(&str) -> bool) -> usize {
        self.process(name).count_log_lines(pred)
    }

    /// SIGKILLs a coordinator or worker.
    pub fn kill(&mut self, name: &str) {
        let status = self.process(name).kill();
        eprintln!("[cluster {}] killed {name}: {status}", self.name);
        self.workers.remove(name);
        self.coordinators.remove(name);
    }

    /// SIGSTOPs a coordinator or worker (it stays in the cluster, hung).
    pub fn freeze(&mut self, name: &str) {
        self.process(name).freeze();
        eprintln!("[cluster {}] froze {name}", self.name);
    }

    /// SIGCONTs a process [`Self::freeze`] stopped.
    pub fn thaw(&mut self, name: &str) {
        self.process(name).thaw();
        eprintln!("[cluster {}] thawed {name}", self.name);
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

    /// The admin address (`host:port`) of coordinator or worker `name`.
    pub fn admin_of(&self, name: &str) -> &str {
        self.admins
            .get(name)
            .unwrap_or_else(|| panic!("no process {name}"))
    }

    pub fn workers(&self) -> BTreeSet<String> {
        self.workers.keys().cloned().collect()
    }

    pub fn coordinators(&self) -> BTreeSet<String> {
        self.coordinators.keys().cloned().collect()
    }

    /// `floe status --json`.
    pub fn status(&self) -> Value {
        let mut cmd = Command::new(floe_bin());
        cmd.arg("status").arg("--json").args(self.etcd_args());
        let out = output_ok(&mut cmd, "floe status");
        serde_json::from_slice(&out.stdout).expect("floe status --json prints JSON")
    }

    /// Fails if any process of the cluster has exited; `when` ends the message.
    pub fn assert_running(&mut self, when: &str) {
        for p in self
            .workers
            .values_mut()
            .chain(self.coordinators.values_mut())
        {
            if let Some(s) = p.poll() {
                panic!("exited ({s}) {when}:\n{}", p.describe());
            }
        }
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
            self.assert_running(&format!("while waiting for {what}"));
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

/// The workers the leader has set aside.
pub fn quarantined(status: &Value) -> BTreeSet<String> {
    status["progress"]["quarantined"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|q| q["worker"].as_str().map(str::to_owned))
        .collect()
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

/// A job for a cluster test: a fresh topic of `partitions`, local storage, checkpoints every
/// second.
pub fn cluster_job(services: &Services, label: &str, partitions: i32) -> Job {
    Job::new(
        services,
        label,
        JobOptions::with_partitions(partitions).interval("1s"),
    )
}

/// `count` events over `minutes` of event time on random partitions, plus bad records.
pub fn mixed_records(partitions: i32, seed: u64, minutes: i64, count: usize) -> Vec<Record> {
    let spec = StreamSpec::minutes(
        BASE_TS + 5_000,
        minutes,
        count,
        partitions,
        Placement::Random,
        5_000,
    );
    ContentGen::new(seed, 40).stream_with_bad(&spec, 2 * BAD_KINDS)
}

/// Produces `records` in chunks over about `over`, in the background.
pub fn produce_slowly(
    job: &Job,
    records: Vec<Record>,
    over: Duration,
) -> JoinHandle<Vec<Produced>> {
    let chunks = 40usize;
    let chunk = records.len().div_ceil(chunks).max(1);
    job.produce_in_background(records, chunk, over / chunks as u32)
}

/// Waits for the producer and for the cluster to have read everything (each partition at its
/// end, lag 0), stops the cluster, closes the last windows with one bounded run and checks the
/// tables.
pub fn finish(
    mut cluster: Cluster,
    mut job: Job,
    producer: JoinHandle<Vec<Produced>>,
    wait: Duration,
    stop: Duration,
) {
    let (log, ends) = produced(&job, producer);
    log.validate_labels(false, None);
    let expected = (log.count(Expect::Ok) + log.count(Expect::Late)) as u64;
    let read = cluster.wait_for("every event read", wait, |s| events(s) >= expected);
    let after = last_checkpoint(&read);
    let done = cluster.wait_for("a checkpoint after the last event", wait, |s| {
        last_checkpoint(s) > after
    });
    assert_eq!(events(&done), expected, "no event counted twice: {done:#}");
    wait_until_read(&mut cluster, &ends, wait);
    cluster.stop(stop);
    job.run_until_end(stop);
    job.assert_exact(&log);
}

/// [`finish`] for a Bronze job: every record is committed at a checkpoint once it is read.
pub fn finish_bronze(
    cluster: Cluster,
    mut job: Job,
    tables: &crate::bronze::BronzeTables,
    producer: JoinHandle<Vec<Produced>>,
    wait: Duration,
    stop: Duration,
) {
    let (log, ends) = produced(&job, producer);
    drain_and_stop(cluster, &ends, wait, stop);
    job.assert_bronze_exact(&log, tables);
}

/// Waits for the cluster to read every partition to its end (`ends`) and commit a checkpoint
/// after that, then stops it: for jobs whose every record is committed once read.
pub fn drain_and_stop(
    mut cluster: Cluster,
    ends: &BTreeMap<i32, i64>,
    wait: Duration,
    stop: Duration,
) {
    wait_until_read(&mut cluster, ends, wait);
    let after = last_checkpoint(&cluster.status());
    cluster.wait_for("a checkpoint after the last record", wait, |s| {
        last_checkpoint(s) > after
    });
    cluster.stop(stop);
}

/// What the producer wrote, and each partition's end offset.
pub fn produced(job: &Job, producer: JoinHandle<Vec<Produced>>) -> (EventLog, BTreeMap<i32, i64>) {
    let mut log = EventLog::default();
    let produced = producer.join().expect("producer thread");
    let ends = end_offsets(&produced);
    log.extend(produced);
    log.write_jsonl(&job.events);
    (log, ends)
}

/// Each partition's end offset after `produced`.
pub fn end_offsets(produced: &[Produced]) -> BTreeMap<i32, i64> {
    let mut ends = BTreeMap::new();
    for p in produced {
        let end = ends.entry(p.partition).or_insert(0);
        *end = (*end).max(p.offset + 1);
    }
    ends
}

/// Waits until the status shows every partition at its end (`ends`), lag 0.
fn wait_until_read(cluster: &mut Cluster, ends: &BTreeMap<i32, i64>, wait: Duration) {
    cluster.wait_for("every partition at its end, lag 0", wait, |s| {
        let parts = s["progress"]["partitions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let seen: BTreeMap<i64, (i64, i64)> = parts
            .iter()
            .map(|p| {
                let n = |k: &str| p[k].as_i64().unwrap_or(-1);
                (n("partition"), (n("end_offset"), n("lag")))
            })
            .collect();
        ends.iter()
            .all(|(p, end)| seen.get(&i64::from(*p)) == Some(&(*end, 0)))
    });
}
