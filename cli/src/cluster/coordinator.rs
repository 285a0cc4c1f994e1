//! `floe coordinator`: stands for leader in etcd; the leader runs the config's job on the
//! cluster's workers (members by their etcd leases, reached over gRPC) and publishes the
//! cluster's status. Standbys wait to take over. A leader that loses its etcd lease stops at
//! once: the next leader claims a newer epoch, and the old one's commits are refused.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use floe_cluster::leadership::Leadership;
use floe_cluster::membership;
use floe_coordinator::job::{run_job, JobOptions, JobProgress};
use floe_coordinator::metrics::JobMetrics;
use floe_proto::grpc::{pb, GrpcTls};
use floe_proto::WorkerService;
use floe_storage::to_url;
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::{host_name, EtcdArgs, TlsArgs};
use crate::config_args::ConfigArgs;
use crate::status_history::{Sample, StatusHistory};

#[derive(Args)]
pub struct CoordinatorArgs {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(flatten)]
    etcd: EtcdArgs,
    #[command(flatten)]
    tls: TlsArgs,
    /// This coordinator's name in the election (default: the host name).
    #[arg(long)]
    name: Option<String>,
    /// Where the coordinator's gRPC service (the cluster status) listens.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Where /metrics, /status and /healthz are served.
    #[arg(long)]
    admin: Option<SocketAddr>,
    /// How long the leader's etcd lease lives without renewal: how soon a standby takes over
    /// from a dead leader.
    #[arg(long, default_value = "10s", value_parser = super::worker::humantime_secs)]
    lease_ttl: Duration,
    /// Read every partition up to its end at start, close all windows, commit, exit (a bounded
    /// run, as `floe run --until-end`).
    #[arg(long)]
    until_end: bool,
}

pub async fn coordinator(args: CoordinatorArgs) -> anyhow::Result<()> {
    let cfg = args.config.load()?;
    anyhow::ensure!(
        cfg.jobs.len() == 1,
        "a cluster runs one job; {} has {} (run one cluster per job)",
        args.config.config.display(),
        cfg.jobs.len()
    );
    let job = Arc::new(cfg.jobs[0].clone());
    let name = args.name.clone().unwrap_or_else(host_name);
    let tls = args.tls.load()?;
    anyhow::ensure!(
        tls.as_ref().is_none_or(GrpcTls::checks_peers),
        "--tls-ca is needed to reach workers over TLS (it checks their certificates)"
    );
    let etcd = args.etcd.connect().await?;
    let (status_tx, status_rx) = watch::channel(
        json!({"cluster": args.etcd.cluster, "coordinator": name, "role": "standby"}).to_string(),
    );
    let history = Arc::new(Mutex::new(StatusHistory::default()));
    let metrics = Arc::new(JobMetrics::new());
    if let Some(addr) = args.admin {
        let admin = crate::admin_server::Admin {
            status: Some(status_rx.clone()),
            history: Some(history.clone()),
            tls: args.tls.admin()?,
            ..crate::admin_server::Admin::serving_metrics({
                let metrics = metrics.clone();
                move || metrics.encode()
            })
        };
        crate::admin_server::serve(addr, admin).await?;
    }
    if let Some(addr) = args.listen {
        serve_status(addr, status_rx.clone(), tls.as_ref()).await?;
    }
    let stop = CancellationToken::new();
    crate::run::stop_on_signals(stop.clone());

    metrics.observe_leadership(false);
    let mut leadership = tokio::select! {
        elected = Leadership::campaign(&etcd, &name, args.lease_ttl) => elected?,
        _ = stop.cancelled() => return Ok(()),
    };
    metrics.observe_leadership(true);
    let catalog = crate::setup::catalog(&cfg).await?;
    let snapshot_commits = crate::setup::snapshot_commits(&cfg).await?;
    let store = crate::setup::checkpoint_store(&cfg, &job.name)?;
    let members = membership::follow(etcd.clone(), tls);
    let (progress_tx, progress_rx) = watch::channel(JobProgress::default());
    let (notices_tx, notices_rx) = mpsc::unbounded_channel();
    crate::admin_server::follow_job(
        metrics.clone(),
        job.name.clone(),
        progress_rx.clone(),
        notices_rx,
    );
    let options = JobOptions {
        commit_notices: Some(notices_tx),
        checkpoint_store: to_url(&cfg.checkpoint_store)?,
        restart_on_failure: true,
        bounded: args.until_end,
        snapshot_commits,
        ..JobOptions::new(&cfg)
    };
    let publisher = tokio::spawn(publish_status(
        etcd.clone(),
        json!({"cluster": args.etcd.cluster, "leader": name, "job": job.name}),
        members.clone(),
        progress_rx,
        status_tx,
        history,
    ));
    let run = run_job(job, catalog, store, options, members, stop, progress_tx);
    let result = tokio::select! {
        r = run => r,
        _ = leadership.lost() => {
            // Another coordinator may lead already: stop now, without a last checkpoint.
            anyhow::bail!("lost the leadership (etcd lease expired); stopping at once");
        }
    };
    publisher.abort();
    metrics.observe_leadership(false);
    leadership.resign().await;
    result.context("running the job")?;
    Ok(())
}

/// Keeps the cluster's status current: in etcd for `floe status`, and for the admin port.
async fn publish_status(
    etcd: floe_cluster::Etcd,
    base: serde_json::Value,
    members: watch::Receiver<Vec<Arc<dyn WorkerService>>>,
    progress: watch::Receiver<JobProgress>,
    status_tx: watch::Sender<String>,
    history: Arc<Mutex<StatusHistory>>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let now = floe_common::clock::wall_clock_ms();
        let (sample, progress_json) = {
            let p = progress.borrow();
            (
                Sample::of(&p, now),
                serde_json::to_value(&*p).unwrap_or_default(),
            )
        };
        history
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(sample);
        let mut status = base.clone();
        let names: Vec<String> = members
            .borrow()
            .iter()
            .map(|w| w.name().to_owned())
            .collect();
        status["role"] = json!("leader");
        status["members"] = json!(names);
        status["progress"] = progress_json;
        status["published_at_ms"] = json!(now);
        let text = status.to_string();
        status_tx.send_replace(text.clone());
        if let Err(e) = floe_cluster::status::publish(&etcd, &text).await {
            tracing::warn!(error = %e, "cannot publish the cluster status to etcd");
        }
    }
}

/// The coordinator's gRPC service: the cluster status.
struct StatusService(watch::Receiver<String>);

#[tonic::async_trait]
impl pb::coordinator_server::Coordinator for StatusService {
    async fn status(
        &self,
        _request: tonic::Request<pb::Empty>,
    ) -> Result<tonic::Response<pb::StatusJson>, tonic::Status> {
        Ok(tonic::Response::new(pb::StatusJson {
            json: self.0.borrow().clone(),
        }))
    }
}

async fn serve_status(
    addr: SocketAddr,
    status: watch::Receiver<String>,
    tls: Option<&GrpcTls>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("coordinator gRPC on {addr}"))?;
    let mut server = tonic::transport::Server::builder();
    if let Some(tls) = tls.and_then(GrpcTls::server) {
        server = server
            .tls_config(tls)
            .context("the coordinator's TLS settings")?;
    }
    tokio::spawn(
        server
            .add_service(pb::coordinator_server::CoordinatorServer::new(
                StatusService(status),
            ))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    Ok(())
}
