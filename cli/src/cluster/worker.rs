//! `floe worker`: serves this process's worker over gRPC and registers it in etcd; the leading
//! coordinator gives it partitions. SIGTERM leaves gracefully: the worker deregisters, the
//! coordinator takes a checkpoint with it and moves its partitions, then it exits 0.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use floe_cluster::registration::{Registration, WorkerRecord};
use floe_proto::grpc::WorkerGrpcService;
use floe_worker::metrics::WorkerMetrics;
use floe_worker::{LocalWorker, WorkerOptions, WorkerStores};
use tokio_util::sync::CancellationToken;

use super::{host_name, EtcdArgs, TlsArgs};

/// How often the admin port's metrics are refreshed from the worker's status.
const METRICS_EVERY: Duration = Duration::from_secs(2);
/// How long a registered worker goes without any call before it says so: a leader polls its
/// workers every second.
const UNATTENDED_WARNING: Duration = Duration::from_secs(20);

#[derive(Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    etcd: EtcdArgs,
    #[command(flatten)]
    tls: TlsArgs,
    /// This worker's name (default: the host name, so a restarted StatefulSet pod gets its
    /// partitions back).
    #[arg(long)]
    name: Option<String>,
    /// Where the gRPC service listens.
    #[arg(long, default_value = "0.0.0.0:7070")]
    listen: SocketAddr,
    /// The address coordinators reach this worker at (default: the host name and the listen
    /// port, or the listen address when it names a host).
    #[arg(long)]
    advertise: Option<String>,
    /// Reader actors (Kafka consumers) per job.
    #[arg(long, default_value_t = 2)]
    readers: usize,
    /// How long the worker's etcd lease lives without renewal: how soon a dead worker's
    /// partitions move.
    #[arg(long, default_value = "10s", value_parser = humantime_secs)]
    lease_ttl: Duration,
    /// Where /metrics and /healthz are served.
    #[arg(long)]
    admin: Option<SocketAddr>,
    /// The longest a leaving worker waits for the coordinator to take its partitions.
    #[arg(long, default_value = "120s", value_parser = humantime_secs)]
    leave_timeout: Duration,
}

pub fn humantime_secs(text: &str) -> Result<Duration, String> {
    floe_common::duration::parse_duration(text)
}

pub async fn worker(args: WorkerArgs) -> anyhow::Result<()> {
    let name = args.name.clone().unwrap_or_else(host_name);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("worker gRPC on {}", args.listen))?;
    let bound = listener.local_addr()?;
    let advertise = args.advertise.clone().unwrap_or_else(|| {
        if bound.ip().is_unspecified() {
            format!("{}:{}", host_name(), bound.port())
        } else {
            bound.to_string()
        }
    });
    let worker = Arc::new(LocalWorker::new(
        name.clone(),
        WorkerOptions {
            readers: args.readers,
            ..WorkerOptions::default()
        },
        WorkerStores::FromAssignment,
    ));
    if let Some(addr) = args.admin {
        let metrics = Arc::new(WorkerMetrics::new());
        let admin = crate::admin_server::Admin {
            tls: args.tls.admin()?,
            ..crate::admin_server::Admin::serving_metrics({
                let metrics = metrics.clone();
                move || metrics.encode()
            })
        };
        crate::admin_server::serve(addr, admin).await?;
        let worker = worker.clone();
        tokio::spawn(async move {
            loop {
                metrics.observe(worker.local_status().await.as_ref());
                tokio::time::sleep(METRICS_EVERY).await;
            }
        });
    }
    let shutdown = CancellationToken::new();
    if args.tls.tls_cert.is_some() && args.tls.tls_ca.is_none() {
        tracing::warn!(
            "serving TLS without --tls-ca: any client that reaches this worker can drive it; \
             give --tls-ca for mutual TLS"
        );
    }
    let tls = match args.tls.load()? {
        Some(tls) => Some(tls.server().context(
            "a worker serves TLS with --tls-cert and --tls-key (--tls-ca alone secures nothing)",
        )?),
        None => None,
    };
    let mut server = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        server = server
            .tls_config(tls)
            .context("the worker's TLS settings")?;
    }
    let server = server
        .add_service(WorkerGrpcService::new(worker.clone()).into_server())
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener),
            shutdown.clone().cancelled_owned(),
        );
    let server = tokio::spawn(server);
    tracing::info!(worker = %name, listen = %bound, %advertise, "worker serving");

    let etcd = args.etcd.connect().await?;
    let registration = Registration::register(
        &etcd,
        &name,
        &WorkerRecord {
            address: advertise.clone(),
        },
        args.lease_ttl,
    )
    .await?;

    let watch = tokio::spawn(warn_while_unattended(
        worker.clone(),
        name.clone(),
        advertise.clone(),
    ));
    let stop = CancellationToken::new();
    crate::run::stop_on_signals(stop.clone());
    stop.cancelled().await;
    watch.abort();
    tracing::info!(worker = %name, "leaving the cluster: the coordinator moves this worker's partitions");
    registration.leave().await?;
    // The coordinator sees the change after its settle time, checkpoints with this worker and
    // releases it.
    let deadline = tokio::time::Instant::now() + args.leave_timeout;
    tokio::time::sleep(Duration::from_secs(3)).await;
    while worker.has_work().await {
        if worker.unattended_for() > Duration::from_secs(5) {
            tracing::info!(worker = %name, "no coordinator drives this worker any more; leaving");
            break;
        }
        if tokio::time::Instant::now() > deadline {
            tracing::warn!(worker = %name, "no coordinator took the partitions in time; leaving anyway (they restart from the last checkpoint)");
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    shutdown.cancel();
    let _ = server.await;
    tracing::info!(worker = %name, "left");
    Ok(())
}

/// Says, once per silence, that no coordinator has called this worker for a while: the sign, on
/// the worker's side, of a leader that cannot reach the address it advertised.
async fn warn_while_unattended(worker: Arc<LocalWorker>, name: String, advertise: String) {
    let mut warned = false;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let silent = worker.unattended_for();
        if silent < UNATTENDED_WARNING {
            if warned {
                tracing::info!(worker = %name, %advertise, "a coordinator reaches this worker again");
            }
            warned = false;
        } else if !warned {
            warned = true;
            tracing::warn!(
                worker = %name,
                %advertise,
                silent_s = silent.as_secs(),
                "no coordinator has called this worker lately: either no leader runs, or the \
                 leader cannot reach the address this worker advertised (check --advertise and \
                 the network between them)"
            );
        }
    }
}
