//! `floe maintain`: one maintenance run over the tables of a config's jobs (snapshot expiry,
//! manifest merging, orphan cleanup), for teams that schedule it themselves. It takes no job
//! over: a job running meanwhile keeps committing, and a table it changes under this run is
//! reported and left for the next one.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use clap::Args;
use floe_common::duration::parse_duration;
use floe_common::maintenance::MIN_ORPHAN_AGE;
use floe_coordinator::table_maintenance::pending_files;
use floe_table::iceberg_table::IcebergTable;
use floe_table::maintenance::{MaintenanceReport, Orphans};

use crate::config_args::ConfigArgs;

#[derive(Args)]
pub struct MaintainArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Only this table (`namespace.table`).
    #[arg(long)]
    table: Option<String>,
    /// Print what would be deleted and merged; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Delete files no snapshot references once older than this (`10m`, `0s`), in place of
    /// the jobs' `orphan_min_age`. Under 1h it needs `--jobs-stopped`.
    #[arg(long, value_name = "AGE", value_parser = parse_duration)]
    orphan_min_age: Option<Duration>,
    /// Every job writing these tables is stopped, so no checkpoint is being written and a
    /// young unreferenced file is garbage (what a crash left moments ago).
    #[arg(long)]
    jobs_stopped: bool,
}

pub async fn maintain(args: MaintainArgs) -> anyhow::Result<()> {
    if let Some(age) = args.orphan_min_age.filter(|a| *a < MIN_ORPHAN_AGE) {
        anyhow::ensure!(
            args.jobs_stopped,
            "--orphan-min-age {}: under 1h a file may belong to a checkpoint still being written; \
             stop every job writing these tables and add --jobs-stopped",
            humantime::format_duration(age)
        );
    }
    let cfg = args.config.load()?;
    let catalog = crate::setup::catalog(&cfg).await?;
    let via = crate::setup::snapshot_commits(&cfg).await?;
    let now = SystemTime::now();
    let now_ms = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let run = RunSettings {
        now,
        now_ms,
        orphan_min_age: args.orphan_min_age,
        dry_run: args.dry_run,
    };
    let mut maintained = 0;
    let mut failed = 0;
    for job in &cfg.jobs {
        let mut tables = Vec::new();
        for sink in job.sinks() {
            if args.table.as_deref().is_some_and(|t| t != sink.schema.name) {
                continue;
            }
            let ident = iceberg::TableIdent::from_strs(sink.schema.name.split('.'))
                .with_context(|| format!("table name {}", sink.schema.name))?;
            if !catalog.table_exists(&ident).await? {
                println!("{}: not created yet", sink.schema.name);
                continue;
            }
            tables.push(IcebergTable::open_or_create(catalog.clone(), sink.schema).await?);
        }
        if tables.is_empty() {
            continue;
        }
        let store = crate::setup::checkpoint_store(&cfg, &job.name)?;
        let protected = pending_files(&store, &tables)
            .await
            .with_context(|| format!("reading the complete checkpoints of job {}", job.name))?;
        for table in &tables {
            maintained += 1;
            match maintain_table(table, job, via.as_deref(), &protected, &run).await {
                Ok(()) => {}
                Err(e) => {
                    failed += 1;
                    println!("{}: failed: {e:#}", table.layout().name());
                }
            }
        }
    }
    if maintained == 0 {
        anyhow::bail!(
            "no table to maintain{}",
            args.table
                .map(|t| format!(": no job of the config writes {t}"))
                .unwrap_or_default()
        );
    }
    if failed > 0 {
        anyhow::bail!("maintenance of {failed} of {maintained} tables failed");
    }
    Ok(())
}

/// What one run applies to every table.
#[derive(Clone, Copy)]
struct RunSettings {
    now: SystemTime,
    now_ms: i64,
    /// `--orphan-min-age`, over each job's own.
    orphan_min_age: Option<Duration>,
    dry_run: bool,
}

async fn maintain_table(
    table: &IcebergTable,
    job: &floe_common::config::JobSpec,
    via: Option<&floe_table::overwrite_commit::SnapshotCommits>,
    protected: &HashSet<String>,
    run: &RunSettings,
) -> anyhow::Result<()> {
    let RunSettings {
        now,
        now_ms,
        orphan_min_age,
        dry_run,
    } = *run;
    let policy = &job.maintenance;
    let orphan_min_age = orphan_min_age.unwrap_or(policy.orphan_min_age);
    let report = table
        .maintain(policy, via, protected, now_ms, dry_run)
        .await?;
    let orphans = table
        .remove_orphans(protected, orphan_min_age, now, dry_run)
        .await?;
    let health = table.health().await?;
    println!(
        "{}",
        summary(table.layout().name(), &report, &orphans, dry_run)
    );
    if dry_run {
        for file in report.expiry.files.iter().chain(&orphans.files) {
            println!("  would delete {file}");
        }
    }
    println!(
        "  now: {} snapshots, {} data files in {} manifests, metadata.json {} bytes",
        health.snapshots, health.data_files, health.data_manifests, health.metadata_file_bytes
    );
    Ok(())
}

/// One line per table: what was (or would be) done.
fn summary(table: &str, report: &MaintenanceReport, orphans: &Orphans, dry_run: bool) -> String {
    let verb = |done: &'static str, would: &'static str| if dry_run { would } else { done };
    format!(
        "{table}: {} {} snapshots and {} {} files they alone referenced; manifests {} -> {}; {} {} orphan files ({} bytes)",
        verb("expired", "would expire"),
        report.expiry.snapshots.len(),
        verb("deleted", "would delete"),
        report.expiry.files.len(),
        report.merge.before,
        report.merge.after,
        verb("deleted", "would delete"),
        orphans.files.len(),
        orphans.bytes,
    )
}
