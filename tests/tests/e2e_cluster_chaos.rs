//! A seeded chaos run of cluster mode: three jobs (gold, Bronze and CDC), each a cluster of its
//! own on one etcd, over fixed event sets, on SeaweedFS S3 and its REST catalog reached through
//! faulty proxies and links. Random kills (workers and the leader), restarts, joins, graceful
//! leaves, stopped workers (SIGSTOP), workers the leader cannot reach (their links
//! black-holed) hit one cluster at a time; etcd killed and started again hits all three (no
//! process may exit for it); beside each, a store or catalog fault (an upload failed half-way,
//! an answer lost or replaced with a 502 after the upload or commit landed, connections cut or
//! dark). Then every table must equal its oracle, and after `floe maintain` takes the
//! orphans, no data file may be left in S3 outside the snapshots.
//! `FLOE_CHAOS_SECS` (default 40) sets how long the chaos lasts; `FLOE_E2E_SEED` replays a run.
//! The long version: `FLOE_CHAOS_SECS=600 cargo test --release -p floe-tests --test
//! e2e_cluster_chaos` (with the services of scripts/services.sh, `--s3 --etcd` included).

use std::time::{Duration, Instant};

use floe_tests::bronze::BRONZE_JOB;
use floe_tests::cdc::{CdcGen, ChangeCounts, CDC_JOB};
use floe_tests::cluster::*;
use floe_tests::etcd::PrivateEtcd;
use floe_tests::faulty_link::LinkFault;
use floe_tests::faulty_store::FaultyStore;
use floe_tests::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const PARTITIONS: i32 = 12;
const CDC_PARTITIONS: i32 = 4;
const WAIT: Duration = Duration::from_secs(120);
const STOP: Duration = Duration::from_secs(120);

/// One job's cluster: its processes, the job its coordinators run, and the number of the next
/// worker it starts.
struct JobCluster {
    cluster: Cluster,
    job: &'static str,
    next_worker: usize,
    /// A stall that lasts until the next step that picks this cluster (about three steps, as
    /// there are three clusters): (worker, frozen rather than cut off).
    stalled: Option<(String, bool)>,
}

impl JobCluster {
    /// A cluster of `job` on `etcd` with two coordinators (the first leading) and `workers`
    /// workers behind links.
    fn start(job: &'static str, interval: &str, etcd: &str, run: &mut Job, workers: usize) -> Self {
        let mut me = JobCluster {
            cluster: Cluster::on_etcd(&format!("chaos-{job}"), interval, etcd),
            job,
            next_worker: 1,
            stalled: None,
        };
        me.start_coordinator(run, "c1");
        me.cluster
            .wait_for("a leader", WAIT, |s| leader(s) == Some("c1"));
        me.start_coordinator(run, "c2");
        for _ in 0..workers {
            me.start_worker(run);
        }
        me
    }

    fn start_coordinator(&mut self, run: &mut Job, name: &str) {
        let args = ["--job".to_owned(), self.job.to_owned()];
        self.cluster.start_coordinator_with(run, name, &args);
    }

    fn start_worker(&mut self, run: &mut Job) {
        let w = format!("w{}", self.next_worker);
        self.next_worker += 1;
        eprintln!("[chaos {}] start {w}", self.job);
        self.cluster.start_worker_behind_link(run, &w);
    }

    /// One random fault (etcd aside), after ending the stall of the step before.
    fn fault(&mut self, run: &mut Job, rng: &mut StdRng) {
        self.end_stall();
        let job = self.job;
        let cluster = &mut self.cluster;
        let workers: Vec<String> = cluster.workers().into_iter().collect();
        let coordinators: Vec<String> = cluster.coordinators().into_iter().collect();
        match rng.random_range(0..6) {
            0 if workers.len() > 1 => {
                let w = &workers[rng.random_range(0..workers.len())];
                eprintln!("[chaos {job}] kill -9 {w}");
                cluster.kill(w);
            }
            1 if workers.len() < 5 => self.start_worker(run),
            2 if workers.len() > 1 => {
                let w = &workers[rng.random_range(0..workers.len())];
                eprintln!("[chaos {job}] SIGTERM {w}");
                cluster.leave(w, STOP);
            }
            3 if coordinators.len() > 1 => {
                let status = cluster.status();
                if let Some(l) = leader(&status).filter(|l| coordinators.iter().any(|c| c == l)) {
                    let l = l.to_owned();
                    eprintln!("[chaos {job}] kill -9 leader {l}");
                    cluster.kill(&l);
                    let name = format!("c{}", self.next_worker + 100);
                    self.next_worker += 1;
                    self.start_coordinator(run, &name);
                }
            }
            4 | 5 if workers.len() > 1 => {
                let w = workers[rng.random_range(0..workers.len())].clone();
                let frozen = rng.random_bool(0.5);
                if frozen {
                    eprintln!("[chaos {job}] SIGSTOP {w}");
                    cluster.freeze(&w);
                } else {
                    eprintln!("[chaos {job}] black-hole the link to {w}");
                    cluster.link(&w).set(LinkFault::BlackHole);
                }
                self.stalled = Some((w, frozen));
            }
            _ => {
                if cluster.workers().is_empty() {
                    self.start_worker(run);
                }
            }
        }
    }

    /// Ends a stall: thaws the worker, or heals its link.
    fn end_stall(&mut self) {
        let cluster = &mut self.cluster;
        let Some((w, frozen)) = self
            .stalled
            .take()
            .filter(|(w, _)| cluster.workers().contains(w))
        else {
            return;
        };
        if frozen {
            eprintln!("[chaos {}] SIGCONT {w}", self.job);
            cluster.thaw(&w);
        } else {
            eprintln!("[chaos {}] heal the link to {w}", self.job);
            cluster.link(&w).set(LinkFault::None);
        }
    }

    /// Ends the stall and makes sure a worker runs, for the end of the run.
    fn calm(&mut self, run: &mut Job) {
        self.end_stall();
        if self.cluster.workers().is_empty() {
            self.start_worker(run);
        }
    }
}

#[test]
fn random_kills_restarts_and_scale_changes_lose_and_double_nothing() {
    let _serial = serial();
    let services = Services::from_env();
    let seed = seed("cluster-chaos");
    let mut rng = StdRng::seed_from_u64(seed);
    let chaos_secs: u64 = std::env::var("FLOE_CHAOS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let faulty = FaultyStore::in_front_of(S3Services::from_env());
    let options = JobOptions {
        storage: Storage::S3(faulty.services.clone()),
        ..JobOptions::with_partitions(PARTITIONS).interval("1s")
    };
    let mut run = Job::new(&services, "cluster-chaos", options);
    let bronze = run.add_bronze_job();
    let kafka = run.kafka();
    let cdc = run.add_cdc_job(&kafka, CDC_PARTITIONS);
    let minutes = (chaos_secs as i64 / 4).max(6);
    let recs = mixed_records(PARTITIONS, seed, minutes, (minutes as usize) * 1_000);
    let over = Duration::from_secs(chaos_secs);
    let producer = produce_slowly(&run, recs, over);
    let mut source = CdcGen::new(seed, 1_000, CDC_PARTITIONS);
    let mut changes = source.snapshot(500);
    changes.extend(source.changes(chaos_secs as usize * 50));
    let chunk = changes.len().div_ceil(40);
    let cdc_producer = run.produce_to_in_background(&cdc.topic, changes, chunk, over / 40);

    let mut etcd = PrivateEtcd::start(&run.root.join("etcd"));
    let at = etcd.endpoint();
    let mut clusters = [
        JobCluster::start(JOB_NAME, "1s", &at, &mut run, 3),
        JobCluster::start(BRONZE_JOB, "2s", &at, &mut run, 2),
        JobCluster::start(CDC_JOB, "2s", &at, &mut run, 2),
    ];
    let started = Instant::now();
    let mut steps = 0usize;
    while started.elapsed() < over {
        std::thread::sleep(Duration::from_millis(rng.random_range(2_000..=5_000)));
        steps += 1;
        if steps % 2 == 1 {
            faulty.arm(steps / 2, rng.random_range(1..=3));
        } else {
            faulty.fail_a_link(&mut rng);
        }
        if rng.random_range(0..7) == 0 {
            let away = Duration::from_millis(rng.random_range(2_000..=8_000));
            eprintln!("[chaos] kill -9 etcd for {:.1} s", away.as_secs_f64());
            etcd.kill();
            std::thread::sleep(away);
            for c in &mut clusters {
                c.cluster.assert_running("while etcd was away");
            }
            etcd.resume();
        } else {
            let c = rng.random_range(0..clusters.len());
            clusters[c].fault(&mut run, &mut rng);
        }
    }
    faulty.calm();
    for c in &mut clusters {
        c.calm(&mut run);
    }
    let [gold, bronze_cluster, cdc_cluster] = clusters;
    eprintln!("[chaos] seed {seed}: chaos over; waiting for the clusters to read everything");

    let mut log = EventLog::default();
    let produced = producer.join().expect("producer thread");
    let ends = end_offsets(&produced);
    log.extend(produced);
    log.write_jsonl(&run.events);
    log.validate_labels(false, None);
    let mut gold = gold.cluster;
    let expected = (log.count(Expect::Ok) + log.count(Expect::Late)) as u64;
    let read = gold.wait_for("every event read", WAIT, |s| {
        events(s) >= expected && state(s) == "running"
    });
    let after = last_checkpoint(&read);
    gold.wait_for("a checkpoint after the last event", WAIT, |s| {
        last_checkpoint(s) > after
    });
    gold.stop(STOP);
    drain_and_stop(bronze_cluster.cluster, &ends, WAIT, STOP);
    let cdc_produced = cdc_producer.join().expect("CDC producer thread");
    let mut counts = ChangeCounts::default();
    counts.add(&cdc_produced);
    drain_and_stop(cdc_cluster.cluster, &end_offsets(&cdc_produced), WAIT, STOP);

    // The last windows close in one bounded run of the config (all three jobs).
    run.run_until_end_exact(&log, STOP);
    run.assert_bronze_exact(&log, &bronze);
    run.assert_cdc_exact(&cdc, &source, counts);

    // What crashes and aborted checkpoints left is orphaned: cleanup takes all of it, and
    // nothing a snapshot references.
    run.maintain(&["--orphan-min-age", "0s", "--jobs-stopped"]);
    let tables = [
        run.gold_table.clone(),
        run.late_table.clone(),
        run.dlq_table.clone(),
        bronze.table.clone(),
        bronze.dead_letters.clone(),
        cdc.table.clone(),
        cdc.changes.clone(),
        cdc.history.clone(),
        cdc.dead_letters.clone(),
    ];
    run.assert_no_stray_data_files(&tables);
    let hits: usize = faulty.hits().iter().sum();
    assert!(hits > 0, "no store or catalog fault was hit");
    run.assert_exact(&log);
    run.assert_bronze_exact(&log, &bronze);
    run.assert_cdc_exact(&cdc, &source, counts);
}
