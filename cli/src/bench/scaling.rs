//! Scaling: the gold job over the built-in generator (no broker to limit it) as a cluster of one
//! worker process and of two, each run bounded (`floe coordinator --until-end`), with the
//! events per second and the CPU of every process, in `--scaling-rounds` rounds of one run of
//! each. Needs etcd (`--etcd`).
//!
//! Each worker runs with `FLOE_THREADS` = `--worker-threads` (default 1: a worker as a pod with
//! one CPU; on this 2-core machine an unlimited worker already uses both cores, and a second
//! one has nothing left to add).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{json, Value};

use super::rounds::{median_by, paired_ratios};
use super::BenchArgs;

const PARTITIONS: i32 = 8;

/// CPU seconds (user + system) a running process has used so far.
fn cpu_of(pid: u32) -> Option<f64> {
    let stat = procfs::process::Process::new(i32::try_from(pid).ok()?)
        .ok()?
        .stat()
        .ok()?;
    Some(super::ticks_to_seconds(stat.utime + stat.stime))
}

fn spawn(args: &[String], log: &Path, threads: Option<usize>) -> anyhow::Result<Child> {
    let exe = std::env::current_exe()?;
    let out = std::fs::File::create(log)?;
    let mut cmd = Command::new(exe);
    if let Some(n) = threads {
        cmd.env("FLOE_THREADS", n.to_string());
    }
    Ok(cmd
        .args(args)
        .env("FLOE_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()?)
}

fn config(
    dir: &Path,
    events_per_partition: u64,
    videos: u32,
) -> anyhow::Result<std::path::PathBuf> {
    let mut text = super::EXAMPLE.replace("[job.source]", "[job.source]\ntype = \"generator\"");
    text.push_str(&format!(
        "\n[job.source.generator]\npartitions = {PARTITIONS}\nevents = {events_per_partition}\nvideos = {videos}\n"
    ));
    let mut file = floe_common::config::FloeConfig::parse(&text)?;
    file.apply(&super::bench_storage(dir))?;
    file.validate()?;
    let path = dir.join("floe.toml");
    // The overrides go on the command line; the file keeps the generator settings.
    std::fs::write(&path, text)?;
    Ok(path)
}

/// One bounded run on `workers` worker processes.
async fn run_once(args: &BenchArgs, etcd: &str, workers: usize) -> anyhow::Result<Value> {
    let dir = tempfile::tempdir()?;
    let per_partition = args.scaling_events / PARTITIONS as u64;
    let cfg = config(dir.path(), per_partition, args.videos)?;
    let cluster = format!("bench-{workers}-{}", floe_common::clock::wall_clock_ms());
    let etcd_args = vec![
        "--etcd".to_owned(),
        etcd.to_owned(),
        "--cluster".into(),
        cluster.clone(),
    ];
    let mut procs = Vec::new();
    for w in 0..workers {
        let mut a = vec![
            "worker".to_owned(),
            "--name".into(),
            format!("w{w}"),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--readers".into(),
            args.readers.to_string(),
        ];
        a.extend(etcd_args.clone());
        let threads = (args.worker_threads > 0).then_some(args.worker_threads);
        procs.push(spawn(
            &a,
            &dir.path().join(format!("worker-{w}.log")),
            threads,
        )?);
    }
    let etcd_conn = floe_cluster::Etcd::connect(etcd, &cluster).await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while floe_cluster::membership::read_workers(&etcd_conn)
        .await?
        .len()
        < workers
    {
        anyhow::ensure!(Instant::now() < deadline, "workers did not register");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let d = dir.path();
    let mut a = vec![
        "coordinator".to_owned(),
        "--config".into(),
        cfg.display().to_string(),
        "--warehouse".into(),
        d.join("warehouse").display().to_string(),
        "--catalog".into(),
        format!("sqlite://{}", d.join("catalog.db").display()),
        "--checkpoints".into(),
        d.join("checkpoints").display().to_string(),
        "--name".into(),
        "c".into(),
        "--until-end".into(),
    ];
    a.extend(etcd_args);
    let started = Instant::now();
    let mut coordinator = spawn(&a, &d.join("coordinator.log"), None)?;
    let (mut coordinator_cpu, mut workers_cpu) = (0.0, vec![0.0; workers]);
    let status = loop {
        if let Some(s) = coordinator.try_wait()? {
            break s;
        }
        coordinator_cpu = cpu_of(coordinator.id()).unwrap_or(coordinator_cpu);
        for (i, w) in procs.iter().enumerate() {
            workers_cpu[i] = cpu_of(w.id()).unwrap_or(workers_cpu[i]);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let wall = started.elapsed().as_secs_f64();
    for w in &procs {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(w.id().to_string())
            .status();
    }
    for w in &mut procs {
        let _ = w.wait();
    }
    let log = std::fs::read_to_string(d.join("coordinator.log")).unwrap_or_default();
    anyhow::ensure!(status.success(), "coordinator failed: {log}");
    let events = per_partition * PARTITIONS as u64;
    let worker_cpu: f64 = workers_cpu.iter().sum();
    Ok(json!({
        "workers": workers,
        "worker_threads": args.worker_threads,
        "events": events,
        "wall_s": wall,
        "events_per_s": events as f64 / wall,
        "events_per_worker_cpu_s": events as f64 / worker_cpu.max(1e-9),
        "coordinator_cpu_s": coordinator_cpu,
        "workers_cpu_s": workers_cpu,
    }))
}

pub async fn run(args: &BenchArgs, etcd: &str) -> anyhow::Result<Value> {
    let rounds = args.scaling_rounds.max(1);
    let (mut ones, mut twos) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        eprintln!(
            "scaling round {round}/{rounds}: {} generated events, 1 then 2 worker processes…",
            args.scaling_events
        );
        ones.push(run_once(args, etcd, 1).await.context("one worker")?);
        twos.push(run_once(args, etcd, 2).await.context("two workers")?);
    }
    // The same events in every run: wall seconds stand for the rates.
    let wall = |run: &Value| run["wall_s"].as_f64().unwrap_or(f64::INFINITY);
    let one = median_by(&ones, wall);
    let two = median_by(&twos, wall);
    let one_walls: Vec<f64> = ones.iter().map(wall).collect();
    let (paired, of_rounds) = paired_ratios(&one_walls, twos.iter().map(wall));
    Ok(json!({
        "one_worker": one,
        "two_workers": two,
        "speedup": wall(one) / wall(two),
        "speedup_paired": paired,
        "speedup_of_rounds": of_rounds,
        "rounds": rounds,
        "target_speedup": 1.8,
        "note": "generator source (no broker); each run includes process start-up, scheduling and \
                 the final commit; one and two workers are the runs with the median wall time of \
                 their rounds, speedup_paired the median of each round's two-worker speedup",
    }))
}
