//! A seeded chaos run of cluster mode: over a fixed event set, random kills (workers and the
//! leader), restarts, joins, graceful leaves, stopped workers (SIGSTOP), workers the leader
//! cannot reach (their links black-holed) and etcd killed and started again (no process may
//! exit for it), then the tables must equal the oracle.
//! `FLOE_CHAOS_SECS` (default 40) sets how long the chaos lasts; `FLOE_E2E_SEED` replays a run.
//! The long version: `FLOE_CHAOS_SECS=600 cargo test --release -p floe-tests --test
//! e2e_cluster_chaos` (with the services of scripts/services.sh, `--etcd` included).

use std::time::{Duration, Instant};

use floe_tests::cluster::*;
use floe_tests::etcd::PrivateEtcd;
use floe_tests::faulty_link::LinkFault;
use floe_tests::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const PARTITIONS: i32 = 12;
const WAIT: Duration = Duration::from_secs(120);
const STOP: Duration = Duration::from_secs(120);

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
    let mut job = cluster_job(&services, "cluster-chaos", PARTITIONS);
    let minutes = (chaos_secs as i64 / 4).max(6);
    let recs = mixed_records(PARTITIONS, seed, minutes, (minutes as usize) * 1_000);
    let over = Duration::from_secs(chaos_secs);
    let producer = produce_slowly(&job, recs, over);

    let mut etcd = PrivateEtcd::start(&job.root.join("etcd"));
    let mut cluster = Cluster::on_etcd("chaos", "1s", &etcd.endpoint());
    cluster.start_coordinator(&mut job, "c1");
    cluster.wait_for("a leader", WAIT, |s| leader(s) == Some("c1"));
    cluster.start_coordinator(&mut job, "c2");
    for w in ["w1", "w2", "w3"] {
        cluster.start_worker_behind_link(&mut job, w);
    }
    let mut next_worker = 4;
    // A stall lasts until the next step: (worker, frozen rather than cut off).
    let mut stalled: Option<(String, bool)> = None;
    let started = Instant::now();
    while started.elapsed() < over {
        std::thread::sleep(Duration::from_millis(rng.random_range(2_000..=5_000)));
        end_stall(&mut cluster, stalled.take());
        let workers: Vec<String> = cluster.workers().into_iter().collect();
        let coordinators: Vec<String> = cluster.coordinators().into_iter().collect();
        match rng.random_range(0..7) {
            0 if workers.len() > 1 => {
                let w = &workers[rng.random_range(0..workers.len())];
                eprintln!("[chaos] kill -9 {w}");
                cluster.kill(w);
            }
            1 if workers.len() < 5 => {
                let w = format!("w{next_worker}");
                next_worker += 1;
                eprintln!("[chaos] start {w}");
                cluster.start_worker_behind_link(&mut job, &w);
            }
            2 if workers.len() > 1 => {
                let w = &workers[rng.random_range(0..workers.len())];
                eprintln!("[chaos] SIGTERM {w}");
                cluster.leave(w, STOP);
            }
            3 if coordinators.len() > 1 => {
                let status = cluster.status();
                if let Some(l) = leader(&status).filter(|l| coordinators.iter().any(|c| c == l)) {
                    let l = l.to_owned();
                    eprintln!("[chaos] kill -9 leader {l}");
                    cluster.kill(&l);
                    let name = format!("c{}", next_worker + 100);
                    cluster.start_coordinator(&mut job, &name);
                }
            }
            4 => {
                let away = Duration::from_millis(rng.random_range(2_000..=8_000));
                eprintln!("[chaos] kill -9 etcd for {:.1} s", away.as_secs_f64());
                etcd.kill();
                std::thread::sleep(away);
                cluster.assert_running("while etcd was away");
                etcd.resume();
            }
            5 | 6 if workers.len() > 1 => {
                let w = workers[rng.random_range(0..workers.len())].clone();
                let frozen = rng.random_bool(0.5);
                if frozen {
                    eprintln!("[chaos] SIGSTOP {w}");
                    cluster.freeze(&w);
                } else {
                    eprintln!("[chaos] black-hole the link to {w}");
                    cluster.link(&w).set(LinkFault::BlackHole);
                }
                stalled = Some((w, frozen));
            }
            _ => {
                if cluster.workers().is_empty() {
                    cluster.start_worker_behind_link(&mut job, "w1");
                }
            }
        }
    }
    let mut log = EventLog::default();
    log.extend(producer.join().expect("producer thread"));
    log.write_jsonl(&job.events);
    log.validate_labels(false, None);
    if let Some((w, frozen)) = stalled
        .take()
        .filter(|(w, _)| cluster.workers().contains(w))
    {
        if frozen {
            cluster.thaw(&w);
        } else {
            cluster.link(&w).set(LinkFault::None);
        }
    }
    eprintln!("[chaos] seed {seed}: chaos over; waiting for the cluster to read everything");
    if cluster.workers().is_empty() {
        cluster.start_worker_behind_link(&mut job, "w1");
    }
    let expected = (log.count(Expect::Ok) + log.count(Expect::Late)) as u64;
    let read = cluster.wait_for("every event read", WAIT, |s| {
        events(s) >= expected && state(s) == "running"
    });
    let after = last_checkpoint(&read);
    cluster.wait_for("a checkpoint after the last event", WAIT, |s| {
        last_checkpoint(s) > after
    });
    cluster.stop(STOP);
    job.run_until_end_exact(&log, STOP);
}

/// Ends a stall of the step before: thaws the worker, or heals its link.
fn end_stall(cluster: &mut Cluster, stalled: Option<(String, bool)>) {
    let Some((w, frozen)) = stalled.filter(|(w, _)| cluster.workers().contains(w)) else {
        return;
    };
    if frozen {
        eprintln!("[chaos] SIGCONT {w}");
        cluster.thaw(&w);
    } else {
        eprintln!("[chaos] heal the link to {w}");
        cluster.link(&w).set(LinkFault::None);
    }
}
