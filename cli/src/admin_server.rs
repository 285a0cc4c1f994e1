//! The admin HTTP port of every process: `/metrics` for Prometheus, `/healthz`; on coordinators
//! also `/status` (the cluster's status as JSON), `/history` (its last minutes) and `/`, a live
//! page of both; and the task feeding a job's metrics.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use floe_coordinator::job::{CommitNotice, JobProgress};
use floe_coordinator::metrics::JobMetrics;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::admin_tls::TlsListener;
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
    let tls = admin.tls.clone();
    let app = routes(admin);
    tokio::spawn(async move {
        let served = match tls {
            Some(tls) => axum::serve(TlsListener::spawn(listener, tls), app).await,
            None => axum::serve(listener, app).await,
        };
        if let Err(e) = served {
            tracing::error!(error = %e, "the admin endpoint stopped");
        }
    });
    Ok(bound)
}

/// `/metrics` and `/healthz` always; `/status`, `/history` and the page where there is a status.
fn routes(admin: Admin) -> Router {
    let mut router = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }));
    if admin.status.is_some() {
        router = router
            .route("/status", get(status))
            .route("/history", get(history))
            .route(
                "/",
                get(|| async { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE) }),
            );
    }
    router.fallback(not_found).with_state(admin)
}

async fn metrics(State(admin): State<Admin>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], (admin.metrics)())
}

async fn status(State(admin): State<Admin>) -> impl IntoResponse {
    let json = admin
        .status
        .as_ref()
        .map_or_else(|| "{}".to_owned(), |s| s.borrow().clone());
    ([(header::CONTENT_TYPE, "application/json")], json)
}

async fn history(State(admin): State<Admin>) -> impl IntoResponse {
    let json = admin.history.as_ref().map_or_else(
        || "[]".to_owned(),
        |h| h.lock().unwrap_or_else(PoisonError::into_inner).to_json(),
    );
    ([(header::CONTENT_TYPE, "application/json")], json)
}

async fn not_found() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        "not found: try /, /metrics, /status, /history or /healthz\n",
    )
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
