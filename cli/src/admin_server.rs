//! The admin HTTP port of every process: `/metrics` for Prometheus, `/healthz`; on coordinators
//! also `/status` (the cluster's status as JSON), `/history` (its last minutes) and `/`, a live
//! page of both; and the task feeding a job's metrics.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context;
use floe_coordinator::job::{CommitNotice, JobProgress};
use floe_coordinator::metrics::JobMetrics;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::status_history::StatusHistory;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What the admin port serves.
#[derive(Clone)]
pub struct Admin {
    /// The OpenMetrics text of this process's metrics.
    pub metrics: Arc<dyn Fn() -> String + Send + Sync>,
    /// The status JSON `/status` answers with, when this process has one.
    pub status: Option<watch::Receiver<String>>,
    /// The last minutes of samples `/history` answers with (the page's plots), beside a status.
    pub history: Option<Arc<Mutex<StatusHistory>>>,
    /// Serve HTTPS with this instead of HTTP.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Admin {
    /// An admin port serving `metrics` at `/metrics` (and `/healthz`).
    pub fn serving_metrics(metrics: impl Fn() -> String + Send + Sync + 'static) -> Self {
        Self {
            metrics: Arc::new(metrics),
            status: None,
            history: None,
            tls: None,
        }
    }
}

/// The live page of a coordinator: plots and tables drawn from `/status` and `/history`.
const PAGE: &str = include_str!("admin_page.html");

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
                match admin.tls.clone() {
                    Some(tls) => match tls.accept(stream).await {
                        Ok(stream) => serve_connection(stream, admin).await,
                        Err(e) => tracing::debug!(error = %e, "admin TLS handshake failed"),
                    },
                    None => serve_connection(stream, admin).await,
                }
            });
        }
    });
    Ok(bound)
}

async fn serve_connection<S>(stream: S, admin: Admin)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| respond(req, admin.clone()));
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!(error = %e, "admin connection ended");
    }
}

async fn respond(
    req: Request<Incoming>,
    admin: Admin,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, content_type, body) = match (req.method(), req.uri().path(), &admin.status) {
        (&hyper::Method::GET, "/metrics", _) => (StatusCode::OK, CONTENT_TYPE, (admin.metrics)()),
        (&hyper::Method::GET, "/status", Some(s)) => {
            (StatusCode::OK, "application/json", s.borrow().clone())
        }
        (&hyper::Method::GET, "/history", Some(_)) => {
            let json = admin.history.as_ref().map_or_else(
                || "[]".to_owned(),
                |h| h.lock().unwrap_or_else(PoisonError::into_inner).to_json(),
            );
            (StatusCode::OK, "application/json", json)
        }
        (&hyper::Method::GET, "/", Some(_)) => {
            (StatusCode::OK, "text/html; charset=utf-8", PAGE.to_owned())
        }
        (&hyper::Method::GET, "/healthz", _) => (StatusCode::OK, "text/plain", "ok\n".into()),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: try /, /metrics, /status, /history or /healthz\n".to_owned(),
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
