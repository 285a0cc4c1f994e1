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
use floe_common::config::{JobSpec, ValidatedConfig};
use floe_coordinator::job::{cluster_round_deadline, run_job, JobOptions, JobProgress};
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
    /// The longest a checkpoint waits for every worker's ack before the job restarts from the
    /// last complete checkpoint on the workers that answer (default: one checkpoint interval
    /// plus six lease TTLs, 70 s at the defaults).
    #[arg(long, value_parser = super::worker::humantime_secs)]
    checkpoint_timeout: Option<Duration>,
    /// Read every partition up to its end at start, close all windows, commit, exit (a bounded
    /// run, as `floe run --until-end`).
    #[arg(long)]
    until_end: bool,
    /// The job this cluster runs, when the config has several (one cluster per job).
    #[arg(long)]
    job: Option<String>,
}

/// The one job a cluster runs: the config's only job, or the one `--job` names.
fn the_job<'a>(
    jobs: &'a [JobSpec],
    wanted: Option<&str>,
    config: &str,
) -> anyhow::Result<&'a JobSpec> {
    let names = || {
        jobs.iter()
            .map(|j| j.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (wanted, jobs) {
        (None, [job]) => Ok(job),
        (None, _) => anyhow::bail!(
            "a cluster runs one job; {} has {} ({}): pick one with --job (one cluster per job)",
            config,
            jobs.len(),
            names()
        ),
        (Some(name), _) => jobs
            .iter()
            .find(|j| j.name == name)
            .with_context(|| format!("{} has no job {name:?}; its jobs: {}", config, names())),
    }
}

pub async fn coordinator(args: CoordinatorArgs) -> anyhow::Result<()> {
    let cfg = args.config.load()?;
    let job = Arc::new(the_job(&cfg.jobs, args.job.as_deref(), &args.config.origin())?.clone());
    let name = args.name.clone().unwrap_or_else(host_name);
    let tls = args.tls.load()?;
    anyhow::ensure!(
        tls.as_ref().is_none_or(GrpcTls::checks_peers),
        "--tls-ca is needed to reach workers over TLS (it checks their certificates)"
    );
    let etcd = args.etcd.connect().await?;
    let standby =
        json!({"cluster": args.etcd.cluster, "coordinator": name, "role": "standby"}).to_string();
    let (status_tx, status_rx) = watch::channel(standby.clone());
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

    let mut shared: Option<LeaderResources> = None;
    loop {
        metrics.observe_leadership(false);
        status_tx.send_replace(standby.clone());
        let leadership = tokio::select! {
            elected = Leadership::campaign(&etcd, &name, args.lease_ttl) => elected,
            _ = stop.cancelled() => return Ok(()),
        };
        metrics.observe_leadership(true);
        let resources = match &shared {
            Some(r) => r.clone(),
            None => shared
                .insert(LeaderResources::open(&cfg, &job, &etcd, tls.clone()).await?)
                .clone(),
        };
        let term = Term {
            job: job.clone(),
            etcd: etcd.clone(),
            status: json!({"cluster": args.etcd.cluster, "leader": name, "job": job.name}),
            status_tx: status_tx.clone(),
            history: history.clone(),
            metrics: metrics.clone(),
            bounded: args.until_end,
            round_deadline: args
                .checkpoint_timeout
                .unwrap_or_else(|| cluster_round_deadline(args.lease_ttl, cfg.checkpoint_interval)),
        };
        match term.lead(&cfg, resources, leadership, stop.clone()).await {
            TermEnd::Finished(result) => return result,
            // Another coordinator may lead already, and fences this one's commits.
            TermEnd::Lost(why) => {
                tracing::warn!(coordinator = %name, "{why}; the job stopped at once, standing for leader again");
            }
        }
    }
}

/// What every term of this coordinator as leader uses, opened at its first election.
#[derive(Clone)]
struct LeaderResources {
    catalog: Arc<dyn iceberg::Catalog>,
    snapshot_commits: Option<Arc<floe_table::overwrite_commit::SnapshotCommits>>,
    store: floe_storage::CheckpointStore,
    members: watch::Receiver<Vec<Arc<dyn WorkerService>>>,
}

impl LeaderResources {
    async fn open(
        cfg: &ValidatedConfig,
        job: &JobSpec,
        etcd: &floe_cluster::Etcd,
        tls: Option<GrpcTls>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            catalog: crate::setup::catalog(cfg).await?,
            snapshot_commits: crate::setup::snapshot_commits(cfg).await?,
            store: crate::setup::checkpoint_store(cfg, &job.name)?,
            members: membership::follow(etcd.clone(), tls),
        })
    }
}

/// One election won: the job runs until it ends or the leadership goes.
struct Term {
    job: Arc<JobSpec>,
    etcd: floe_cluster::Etcd,
    /// The published status's fixed fields.
    status: serde_json::Value,
    status_tx: watch::Sender<String>,
    history: Arc<Mutex<StatusHistory>>,
    metrics: Arc<JobMetrics>,
    bounded: bool,
    round_deadline: Duration,
}

enum TermEnd {
    /// The job ended (asked to stop, a bounded run done, or failed): the process ends with it.
    Finished(anyhow::Result<()>),
    /// The leadership went (etcd says the lease is gone, or a newer leader fenced the job).
    Lost(&'static str),
}

impl Term {
    async fn lead(
        self,
        cfg: &ValidatedConfig,
        resources: LeaderResources,
        mut leadership: Leadership,
        stop: CancellationToken,
    ) -> TermEnd {
        let (progress_tx, progress_rx) = watch::channel(JobProgress::default());
        let (notices_tx, notices_rx) = mpsc::unbounded_channel();
        crate::admin_server::follow_job(
            self.metrics.clone(),
            self.job.name.clone(),
            progress_rx.clone(),
            notices_rx,
        );
        let options = match to_url(&cfg.checkpoint_store) {
            Ok(checkpoint_store) => JobOptions {
                commit_notices: Some(notices_tx),
                checkpoint_store,
                restart_on_failure: true,
                bounded: self.bounded,
                round_deadline: self.round_deadline,
                snapshot_commits: resources.snapshot_commits.clone(),
                ..JobOptions::new(cfg)
            },
            Err(e) => return TermEnd::Finished(Err(e.into())),
        };
        let publisher = tokio::spawn(publish_status(
            self.etcd.clone(),
            self.status,
            resources.members.clone(),
            progress_rx,
            self.status_tx,
            self.history,
        ));
        let run = run_job(
            self.job,
            resources.catalog,
            resources.store,
            options,
            resources.members,
            stop,
            progress_tx,
        );
        let end = tokio::select! {
            r = run => match r {
                Err(e) if e.is_fenced() => TermEnd::Lost("a newer leader fenced this one's commits"),
                r => TermEnd::Finished(r.map(|_| ()).context("running the job")),
            },
            _ = leadership.lost() => TermEnd::Lost("etcd no longer holds the leader's lease"),
        };
        publisher.abort();
        self.metrics.observe_leadership(false);
        leadership.resign().await;
        end
    }
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
    let mut unpublished = false;
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
        let published = floe_cluster::status::publish(&etcd, &text).await;
        match (&published, unpublished) {
            (Err(e), false) => {
                tracing::warn!(error = %e, "cannot publish the cluster status to etcd; trying every second")
            }
            (Ok(()), true) => tracing::info!("the cluster status is published again"),
            _ => {}
        }
        unpublished = published.is_err();
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

#[cfg(test)]
mod tests {
    use super::*;
    use floe_common::config::example_job;

    fn named(name: &str) -> JobSpec {
        JobSpec {
            name: name.into(),
            ..example_job()
        }
    }

    #[test]
    fn a_cluster_runs_the_only_job_or_the_one_named() {
        let config = "floe.toml";
        let one = [named("gold")];
        assert_eq!(the_job(&one, None, config).expect("only").name, "gold");
        let two = [named("gold"), named("bronze")];
        assert_eq!(
            the_job(&two, Some("bronze"), config).expect("named").name,
            "bronze"
        );
        let unnamed = the_job(&two, None, config).expect_err("which one?");
        assert!(unnamed.to_string().contains("gold, bronze"), "{unnamed}");
        let missing = the_job(&two, Some("cdc"), config).expect_err("no such job");
        assert!(missing.to_string().contains("no job \"cdc\""), "{missing}");
    }
}
