//! `floe run`: the jobs of a config file, until SIGTERM/Ctrl-C (or the end of a bounded run).

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use floe_common::config::StartPosition;
use floe_coordinator::job::{run_job, JobOptions, JobProgress};
use floe_coordinator::metrics::JobMetrics;
use floe_worker::{in_process_workers, WorkerOptions};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::config_args::ConfigArgs;

#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Read every partition up to its end offset at start, close all windows, commit, exit.
    #[arg(long)]
    until_end: bool,
    /// Where a start would be refused (the job's shape changed, or its checkpoint store is
    /// behind its tables), run from this position (`earliest` or `latest`) with empty state
    /// instead. Committed rows stay; checkpoint ids continue above them. Changes nothing when
    /// the state is fine.
    #[arg(long, value_name = "earliest|latest", value_parser = parse_start)]
    start_over: Option<StartPosition>,
    /// Reader actors (Kafka consumers) per worker.
    #[arg(long, default_value_t = 2)]
    readers: usize,
    /// Workers in this process to spread each job's partitions over (as a cluster would).
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Serve Prometheus metrics at http://ADDR/metrics, e.g. 0.0.0.0:9464.
    #[arg(long)]
    metrics_addr: Option<std::net::SocketAddr>,
}

pub fn parse_start(text: &str) -> Result<StartPosition, String> {
    match text {
        "earliest" => Ok(StartPosition::Earliest),
        "latest" => Ok(StartPosition::Latest),
        other => Err(format!("`{other}`: expected earliest or latest")),
    }
}

/// Cancels `stop` on SIGTERM or Ctrl-C.
pub fn stop_on_signals(stop: CancellationToken) {
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM");
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("stopping: finishing the current checkpoint");
        stop.cancel();
    });
}

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let cfg = args.config.load()?;
    let catalog = crate::setup::catalog(&cfg).await?;
    let snapshot_commits = crate::setup::snapshot_commits(&cfg).await?;
    let metrics = match args.metrics_addr {
        Some(addr) => {
            let metrics = Arc::new(JobMetrics::new());
            let admin = crate::admin_server::Admin::serving_metrics({
                let metrics = metrics.clone();
                move || metrics.encode()
            });
            crate::admin_server::serve(addr, admin).await?;
            Some(metrics)
        }
        None => None,
    };
    let stop = CancellationToken::new();
    stop_on_signals(stop.clone());
    let mut tasks = tokio::task::JoinSet::new();
    for job in cfg.jobs.clone() {
        let store = crate::setup::checkpoint_store(&cfg, &job.name)?;
        let (progress, progress_rx) = watch::channel(JobProgress::default());
        let (notices_tx, notices_rx) = mpsc::unbounded_channel();
        if let Some(m) = &metrics {
            crate::admin_server::follow_job(m.clone(), job.name.clone(), progress_rx, notices_rx);
        }
        let options = JobOptions {
            commit_notices: metrics.is_some().then_some(notices_tx),
            start_over: args.start_over,
            bounded: args.until_end,
            snapshot_commits: snapshot_commits.clone(),
            ..JobOptions::new(&cfg)
        };
        let workers = in_process_workers(
            args.workers,
            store.clone(),
            WorkerOptions {
                readers: args.readers,
                ..WorkerOptions::default()
            },
        );
        let name = job.name.clone();
        let run = run_job(
            Arc::new(job),
            catalog.clone(),
            store,
            options,
            workers,
            stop.clone(),
            progress,
        );
        tasks.spawn(async move { (name, run.await) });
    }
    // The first failure is reported at once and stops the other jobs (each finishes a last
    // checkpoint); the process then exits non-zero so that its supervisor restarts it.
    let mut failed = None;
    while let Some(joined) = tasks.join_next().await {
        let (name, result) = match joined {
            Ok(done) => done,
            Err(e) => {
                tracing::error!(error = %e, "a job panicked; stopping the others");
                stop.cancel();
                failed.get_or_insert(anyhow::anyhow!("a job panicked: {e}"));
                continue;
            }
        };
        match result {
            Ok(summary) => tracing::info!(
                job = %name,
                events = summary.progress.events,
                checkpoints = summary.progress.checkpoints_committed,
                rows = summary.progress.rows_committed,
                "job finished"
            ),
            Err(e) => {
                tracing::error!(job = %name, error = %e, "job failed; stopping the others");
                stop.cancel();
                failed.get_or_insert(e.into());
            }
        }
    }
    // librdkafka threads may take a moment to wind down; don't let them delay the exit.
    tokio::time::sleep(Duration::from_millis(10)).await;
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
