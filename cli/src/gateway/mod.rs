//! `floe serve`: the lake over HTTP. A CSV upload becomes a table as `floe ingest` makes it, SQL
//! is answered as `floe query` answers it, and the catalog's tables, snapshots and schemas are
//! listed, behind an optional bearer token, with uploads, results and concurrent queries
//! bounded. `/v1/openapi.json` describes every route.

mod api_error;
mod auth;
mod ingest_route;
mod query_route;
mod tables_route;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::routing::{get, post};
use axum::Router;
use bytesize::ByteSize;
use clap::Args;
use floe_common::duration::parse_duration;
use floe_table::overwrite_commit::SnapshotCommits;
use iceberg::Catalog;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::admin_tls::TlsListener;
use crate::catalog_args::CatalogArgs;
use crate::query::parse_bytes;
use api_error::ApiError;
use auth::BearerToken;
use ingest_route::TableLocks;

/// The gateway's OpenAPI 3 description, served at `/v1/openapi.json`.
const OPENAPI: &str = include_str!("openapi.json");

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    catalog: CatalogArgs,
    /// The address to serve on.
    #[arg(long, default_value = "127.0.0.1:8181")]
    listen: SocketAddr,
    /// Require `Authorization: Bearer <token>`, the token read from this file.
    #[arg(long, conflicts_with = "token_env")]
    token_file: Option<PathBuf>,
    /// Require `Authorization: Bearer <token>`, the token read from this environment variable.
    #[arg(long, value_name = "VARIABLE")]
    token_env: Option<String>,
    /// Serve HTTPS with this certificate (PEM chain) and --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Accept only clients presenting a certificate this CA signed (mutual TLS).
    #[arg(long, requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    /// The largest CSV an upload may carry; a larger one is refused with 413.
    #[arg(long, default_value = "1GiB", value_parser = parse_bytes)]
    max_upload: ByteSize,
    /// Queries running at once; the next waits for one to end (up to --queue-wait), then is
    /// refused with 429.
    #[arg(long, default_value_t = 4)]
    max_queries: usize,
    /// How long a query waits for a free slot.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    queue_wait: Duration,
    /// A query's timeout, and the most a request may ask for.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    query_timeout: Duration,
    /// The rows a query answers when the request names no limit, and the most it may name.
    #[arg(long, default_value_t = 10_000)]
    max_rows: u64,
    /// Memory of each query's sorts, joins and aggregations; past it they spill, then fail.
    #[arg(long, default_value = "1GiB", value_parser = parse_bytes)]
    memory_limit: ByteSize,
}

/// What every route shares.
#[derive(Clone)]
struct Gateway {
    catalog: Arc<dyn Catalog>,
    commits: Arc<SnapshotCommits>,
    queries: Arc<Semaphore>,
    loads: Arc<TableLocks>,
    limits: Limits,
}

/// The bounds `floe serve` was started with.
#[derive(Clone, Copy)]
struct Limits {
    max_upload: u64,
    queue_wait: Duration,
    query_timeout: Duration,
    max_rows: u64,
    memory_bytes: usize,
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let token = match (&args.token_file, &args.token_env) {
        (Some(file), _) => Some(BearerToken::from_file(file)?),
        (None, Some(variable)) => Some(BearerToken::from_env(variable)?),
        (None, None) => None,
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(crate::admin_tls::acceptor(
            cert,
            key,
            args.tls_client_ca.as_deref(),
        )?),
        _ => None,
    };
    anyhow::ensure!(args.max_queries > 0, "--max-queries must be at least 1");
    let gateway = Gateway {
        catalog: args.catalog.connect().await?,
        commits: Arc::new(args.catalog.snapshot_commits().await?),
        queries: Arc::new(Semaphore::new(args.max_queries)),
        loads: Arc::default(),
        limits: Limits {
            max_upload: args.max_upload.as_u64(),
            queue_wait: args.queue_wait,
            query_timeout: args.query_timeout,
            max_rows: args.max_rows,
            memory_bytes: usize::try_from(args.memory_limit.as_u64())
                .context("--memory-limit is larger than this machine can address")?,
        },
    };
    let app = routes(gateway, token);
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("serving on {}", args.listen))?;
    let bound = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(address = %bound, "serving the lake at {scheme}://{bound}/v1/");
    eprintln!("floe serve: {scheme}://{bound}/v1/ (OpenAPI at /v1/openapi.json)");
    let stop = tokio_util::sync::CancellationToken::new();
    crate::run::stop_on_signals(stop.clone());
    let stopped = stop.cancelled_owned();
    match tls {
        Some(tls) => {
            axum::serve(TlsListener::spawn(listener, tls), app)
                .with_graceful_shutdown(stopped)
                .await
        }
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(stopped)
                .await
        }
    }
    .context("serving")
}

/// Every route, behind the token when there is one (the OpenAPI description excepted).
fn routes(gateway: Gateway, token: Option<BearerToken>) -> Router {
    let mut api = Router::new()
        .route("/v1/query", post(query_route::query))
        .route("/v1/tables", get(tables_route::tables))
        .route("/v1/tables/{table}/snapshots", get(tables_route::snapshots))
        .route("/v1/tables/{table}/schema", get(tables_route::schema))
        .route("/v1/tables/{table}/ingest", post(ingest_route::ingest))
        // Uploads are streamed to disk and bounded by --max-upload as they arrive.
        .layer(DefaultBodyLimit::disable())
        .with_state(gateway);
    if let Some(token) = token {
        api = api.layer(axum::middleware::from_fn_with_state(
            Arc::new(token),
            auth::require_token,
        ));
    }
    Router::new()
        .route(
            "/v1/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }),
        )
        .merge(api)
        .fallback(|| async { ApiError::not_found("no such route: see /v1/openapi.json") })
}
