//! `floe`: one binary for the demo, real jobs, load generation and benchmarks.

mod admin_server;
mod admin_tls;
mod bench;
mod catalog_args;
mod cluster;
mod config_args;
mod demo;
mod gateway;
mod generator;
mod ingest;
mod lake;
mod maintain;
mod progress;
mod query;
mod run;
mod setup;
mod status_history;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "floe",
    version,
    about = "Kafka → event-time windows → Iceberg, exactly once"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Check the command line and exit: 0 when floe accepts it, running nothing (how the
    /// deploy manifests' commands are validated).
    #[arg(long, global = true)]
    check_args: bool,
    /// Log lines as text, or as JSON objects with every field (job, partition, checkpoint).
    #[arg(long, global = true, env = "FLOE_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Everything embedded: an in-process Kafka cluster, a generator, the gold job, a local
    /// Iceberg warehouse; a live progress view, then the table's top rows.
    Demo(demo::DemoArgs),
    /// Run the jobs of a config file against a real Kafka cluster, in this process.
    Run(run::RunArgs),
    /// One maintenance run over a config's tables: snapshot expiry, manifest merging, orphan
    /// cleanup (`--dry-run` prints what it would do).
    Maintain(maintain::MaintainArgs),
    /// The catalog's tables, with their rows, files, bytes and snapshots.
    Tables(lake::TablesArgs),
    /// A table's snapshots, with the operation and the Floe checkpoint each committed.
    Snapshots(lake::SnapshotsArgs),
    /// SQL over the catalog's tables (`namespace.table`), as a table, CSV, JSON lines or
    /// Parquet; `FOR SYSTEM_VERSION AS OF` reads an older snapshot.
    Query(query::QueryArgs),
    /// Load a CSV file (a path or s3://) into a table: types inferred, bad rows kept in
    /// `<table>_rejects`, the same content never loaded twice.
    Ingest(ingest::IngestArgs),
    /// The lake over HTTP: CSV uploads, SQL, and the tables' snapshots and schemas, behind an
    /// optional bearer token (`/v1/openapi.json` describes it).
    Serve(gateway::ServeArgs),
    /// Cluster mode: lead (or stand by to lead) a job over the cluster's workers.
    Coordinator(Box<cluster::coordinator::CoordinatorArgs>),
    /// Cluster mode: a worker the leading coordinator gives partitions to.
    Worker(cluster::worker::WorkerArgs),
    /// Cluster mode: leader, workers, assignment and progress, from etcd.
    Status(cluster::status::StatusArgs),
    /// Produce content events into a Kafka topic.
    Gen(generator::GenArgs),
    /// Measure the engine and write a results file.
    Bench(bench::BenchArgs),
}

fn main() {
    if let Err(e) = try_main() {
        // One line with the whole cause chain: no backtrace for a user's mistake.
        eprintln!("floe: {}", one_line(&e));
        std::process::exit(1);
    }
}

/// The cause chain joined by ": ", skipping causes an outer message already quotes.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let message = cause.to_string();
        if line.contains(&message) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&message);
    }
    line
}

fn try_main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Ok(aim) = std::env::var("FLOE_CRASH_AT") {
        floe_common::failpoint::arm(&aim).map_err(|e| anyhow::anyhow!("FLOE_CRASH_AT={e}"))?;
    }
    if cli.check_args {
        println!("floe accepts this command line");
        return Ok(());
    }
    let default_level = match cli.command {
        Command::Demo(_) => "warn",
        _ => "info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("FLOE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => logs.json().with_current_span(false).init(),
    }
    // TLS (gRPC links) uses ring; more than one provider is linked in, so name it.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    // FLOE_THREADS caps the runtime's threads: what a pod's CPU limit would do.
    if let Some(n) = std::env::var("FLOE_THREADS")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| *n > 0)
    {
        runtime.worker_threads(n);
    }
    let runtime = runtime.enable_all().build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Demo(a) => demo::demo(a).await,
            Command::Run(a) => run::run(a).await,
            Command::Maintain(a) => maintain::maintain(a).await,
            Command::Tables(a) => lake::tables(a).await,
            Command::Snapshots(a) => lake::snapshots(a).await,
            Command::Query(a) => query::query(a).await,
            Command::Ingest(a) => ingest::ingest(a).await,
            Command::Serve(a) => gateway::serve(a).await,
            Command::Coordinator(a) => cluster::coordinator::coordinator(*a).await,
            Command::Worker(a) => cluster::worker::worker(a).await,
            Command::Status(a) => cluster::status::status(a).await,
            Command::Gen(a) => generator::gen(a).await,
            Command::Bench(a) => bench::bench(a).await,
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_line_skips_causes_the_outer_message_already_quotes() {
        #[derive(Debug, thiserror::Error)]
        #[error("job gold: {source}")]
        struct Outer {
            source: std::io::Error,
        }
        let inner = std::io::Error::other("topic t does not exist");
        let e = anyhow::Error::new(Outer { source: inner }).context("running");
        assert_eq!(
            super::one_line(&e),
            "running: job gold: topic t does not exist"
        );
        let plain = anyhow::anyhow!("disk full").context("writing state");
        assert_eq!(super::one_line(&plain), "writing state: disk full");
    }
}
