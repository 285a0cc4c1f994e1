//! The admin HTTP port: `/metrics` for Prometheus, `/status` (the cluster's status as JSON, on
//! coordinators), `/healthz`; and the task feeding the metrics from a running job.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use floe_coordinator::job::{CommitNotice, JobProgress};
use floe_coordinator::metrics::JobMetrics;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What the admin port serves.
#[derive(Clone)]
pub struct Admin {
    pub metrics: Arc<JobMetrics>,
    /// The status JSON `/status` answers with, when this process has one.
    pub status: Option<watch::Receiver<String>>,
}

/// Binds `addr` (failing at once if it is taken) and serves the admin routes in the background.
pub async fn serve(addr: SocketAddr, admin: Admin) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("admin endpoint on {addr}"))?;
    let bound = listener.local_addr()?;
    tracing::info!(address = %bound, "serving /metrics, /status and /healthz");
    tokio::spawn(async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics endpoint: accept failed");
                    continue;
                }
            };
            let admin = admin.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| respond(req, admin.clone()));
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!(error = %e, "metrics connection ended");
                }
            });
        }
    });
    Ok(bound)
}

async fn respond(
    req: Request<Incoming>,
    admin: Admin,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, content_type, body) = match (req.method(), req.uri().path(), &admin.status) {
        (&hyper::Method::GET, "/metrics", _) => {
            (StatusCode::OK, CONTENT_TYPE, admin.metrics.encode())
        }
        (&hyper::Method::GET, "/status", Some(s)) => {
            (StatusCode::OK, "application/json", s.borrow().clone())
        }
        (&hyper::Method::GET, "/healthz", _) => (StatusCode::OK, "text/plain", "ok\n".into()),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: try /metrics, /status or /healthz\n".to_owned(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, v);
    }
    Ok(response)
}

/// Feeds `metrics` from one job's progress and commit notices until the job ends.
pub fn follow_job(
    metrics: Arc<JobMetrics>,
    job: String,
    mut progress: watch::Receiver<JobProgress>,
    mut notices: mpsc::UnboundedReceiver<CommitNotice>,
) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                changed = progress.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let p = progress.borrow_and_update().clone();
                    metrics.observe_progress(&job, &p);
                }
                notice = notices.recv() => match notice {
                    Some(n) => metrics.observe_commit(&job, &n),
                    None => break,
                },
            }
        }
    });
}
