//! Bench (cdc): the CDC job of `examples/dim_videos.toml` on the engine alone. A snapshot of
//! `--cdc-keys` rows loads the dimension table, then `--cdc-checkpoints` checkpoints of
//! `--cdc-changes` Debezium changes each (updates, deletes, creates of random keys) go through
//! decoding, the changelog's Parquet files, the last change per key and the merge-on-read
//! commit (the job's default `sink.cdc_mode`). Changes are generated before each checkpoint's
//! timed part. Then the reader's side: DuckDB scanning the table after all those checkpoints,
//! then after a compaction folds their position deletes in, against a table freshly written
//! with the same rows (`scripts/bench_duckdb_scan.py`, when `FLOE_PYTHON` names the test
//! venv).

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use floe_common::decode::{DecodedBatch, Decoder};
use floe_common::window::WindowOperator;
use floe_table::iceberg_table::IcebergTable;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::engine::{checkpoint, decode_chunk, BenchSink, Records};
use super::reader_scans::{duckdb_scans, fresh_copy, ScanColumns};
use super::{bench_config_of, cpu_seconds, percentile, BenchArgs};

const DIM_VIDEOS: &str = include_str!("../../../examples/dim_videos.toml");

/// Changes per second the CDC flow should apply over a million keys.
const TARGET_CHANGES_PER_S: f64 = 100_000.0;
/// A restarted job applies changes again within this.
const TARGET_RESTART_S: f64 = 30.0;

/// The dimension table's columns DuckDB's scans sum and take the max of.
const DIMENSION_COLUMNS: ScanColumns = ScanColumns {
    sum: "duration_s",
    max: "title",
};

/// A source table of `keys` rows and its change stream.
struct Source {
    rng: StdRng,
    live: Vec<bool>,
    rows: usize,
    lsn: i64,
    offsets: Vec<i64>,
}

impl Source {
    fn new(keys: usize, partitions: i32) -> Self {
        Self {
            rng: StdRng::seed_from_u64(7),
            live: vec![false; keys],
            rows: 0,
            lsn: 0,
            offsets: vec![0; partitions.max(1) as usize],
        }
    }

    /// The change of key `k`: `op`, or the next one its state allows.
    fn change(&mut self, k: usize, op: Option<&str>, out: &mut Records) {
        self.lsn += 1;
        let ts_ms = 1_767_225_600_000 + self.lsn;
        let op = op.unwrap_or(match (self.live[k], self.rng.random_range(0..10)) {
            (false, _) => "c",
            (true, 0) => "d",
            (true, _) => "u",
        });
        let row = format!(
            r#"{{"video_id":"v_{k}","title":"title {}","category":"Music","status":"active","duration_s":{}}}"#,
            self.rng.random_range(0..1_000_000),
            self.rng.random_range(1..4_000)
        );
        let (before, after) = match op {
            "d" => (row.as_str(), "null"),
            _ => ("null", row.as_str()),
        };
        let was = self.live[k];
        self.live[k] = op != "d";
        match (was, self.live[k]) {
            (false, true) => self.rows += 1,
            (true, false) => self.rows -= 1,
            _ => {}
        }
        let p = k % self.offsets.len();
        out.push((
            p as i32,
            self.offsets[p],
            format!(
                r#"{{"op":"{op}","ts_ms":{ts_ms},"before":{before},"after":{after},"source":{{"connector":"postgresql","lsn":{}}}}}"#,
                self.lsn
            ),
        ));
        self.offsets[p] += 1;
    }
}

/// Runs the CDC bench and returns its figures.
pub async fn run(args: &BenchArgs) -> anyhow::Result<serde_json::Value> {
    let dir = tempfile::tempdir()?;
    let cfg = bench_config_of(DIM_VIDEOS, dir.path(), None)?;
    let job = Arc::new(cfg.jobs[0].clone());
    let decoder = Decoder::new(&job).map_err(|e| anyhow::anyhow!(e))?;
    let sink = BenchSink::open(&cfg, &job).await?;
    let mut op = WindowOperator::for_job(&job);
    for p in 0..args.partitions {
        op.assign(p, 0);
    }
    let mut source = Source::new(args.cdc_keys, args.partitions);
    let mut batch = DecodedBatch::default();
    let mut checkpoint_id = 0;

    eprintln!("cdc: loading a snapshot of {} keys…", args.cdc_keys);
    let load = Instant::now();
    for keys in (0..args.cdc_keys).collect::<Vec<_>>().chunks(500_000) {
        let mut input = Records::with_capacity(keys.len());
        for k in keys {
            source.change(*k, Some("r"), &mut input);
        }
        for chunk in input.chunks(args.batch) {
            op.apply(decode_chunk(&decoder, chunk, &mut batch), 0);
        }
        checkpoint_id += 1;
        checkpoint(&mut op, &sink, checkpoint_id, args.partitions, false).await?;
    }
    let load_s = load.elapsed().as_secs_f64();

    eprintln!(
        "cdc: {} checkpoints of {} changes…",
        args.cdc_checkpoints, args.cdc_changes
    );
    let (mut wall_s, mut cpu_s) = (0.0, 0.0);
    let mut durations = Vec::new();
    for _ in 0..args.cdc_checkpoints {
        let mut input = Records::with_capacity(args.cdc_changes);
        for _ in 0..args.cdc_changes {
            let k = source.rng.random_range(0..args.cdc_keys);
            source.change(k, None, &mut input);
        }
        let (wall, cpu) = (Instant::now(), cpu_seconds());
        for chunk in input.chunks(args.batch) {
            op.apply(decode_chunk(&decoder, chunk, &mut batch), 0);
        }
        checkpoint_id += 1;
        let started = Instant::now();
        checkpoint(&mut op, &sink, checkpoint_id, args.partitions, false).await?;
        durations.push(started.elapsed());
        wall_s += wall.elapsed().as_secs_f64();
        cpu_s += cpu_seconds() - cpu;
    }
    durations.sort();
    let changes = (args.cdc_checkpoints * args.cdc_changes) as f64;

    // A restart: a new committer takes the job (fencing its tables), recovers, and commits one
    // more checkpoint of changes, building its key index from the table on the way.
    drop(sink);
    let mut input = Records::with_capacity(args.cdc_changes);
    for _ in 0..args.cdc_changes {
        let k = source.rng.random_range(0..args.cdc_keys);
        source.change(k, None, &mut input);
    }
    let started = Instant::now();
    let sink = BenchSink::open(&cfg, &job).await?;
    sink.committer.recover(false).await?;
    for chunk in input.chunks(args.batch) {
        op.apply(decode_chunk(&decoder, chunk, &mut batch), 0);
    }
    checkpoint_id += 1;
    checkpoint(&mut op, &sink, checkpoint_id, args.partitions, true).await?;
    let restart_to_first_commit_s = started.elapsed().as_secs_f64();
    drop(sink);

    let catalog = crate::setup::catalog(&cfg).await?;
    let catalog_uri = format!("sqlite:///{}", dir.path().join("catalog.db").display());
    let scan_before = duckdb_scans(&catalog_uri, &[&job.table.name], DIMENSION_COLUMNS);
    // What `floe maintain` does to the table: its position deletes folded into its files.
    let table = IcebergTable::open_or_create(catalog.clone(), &job.table).await?;
    let via = crate::setup::snapshot_commits(&cfg)
        .await?
        .context("the bench catalog commits snapshots")?;
    let spec = job.cdc().context("the bench job is a CDC job")?;
    let started = Instant::now();
    let index =
        floe_table::dimension_merge::key_index_of(spec, &table.reload().await?, table.layout())
            .await?;
    let key_index_build_s = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        index.len() == source.rows,
        "the key index holds {} keys, the source table {}",
        index.len(),
        source.rows
    );
    drop(index);
    let started = Instant::now();
    let compaction = table.compact(&job.maintenance, via.as_ref(), false).await?;
    let compaction_s = started.elapsed().as_secs_f64();
    let fresh = fresh_copy(catalog, &job.table).await?;
    anyhow::ensure!(
        fresh.0 == source.rows,
        "the dimension table holds {} rows, the source table {}",
        fresh.0,
        source.rows
    );
    let scans = duckdb_scans(
        &catalog_uri,
        &[&job.table.name, &fresh.1],
        DIMENSION_COLUMNS,
    );
    Ok(serde_json::json!({
        "what": "Debezium changes: decode, changelog Parquet, last change per key, merge-on-read \
                 commit of the dimension table (position deletes through the key index), on one \
                 thread; the table's maintenance runs beside it, as in a job (its CPU is in \
                 cpu_s). A restart to its first commit. DuckDB scans before and after a \
                 compaction, against a fresh copy",
        "keys": args.cdc_keys, "rows_at_end": source.rows,
        "snapshot_load_s": load_s,
        "checkpoints": args.cdc_checkpoints, "changes_per_checkpoint": args.cdc_changes,
        "changes": changes as u64, "wall_s": wall_s, "cpu_s": cpu_s,
        "changes_per_s": changes / wall_s,
        "changes_per_cpu_s": changes / cpu_s.max(1e-9),
        "changes_per_s_target": TARGET_CHANGES_PER_S,
        "checkpoint_ms_p50": percentile(&durations, 0.5),
        "checkpoint_ms_p99": percentile(&durations, 0.99),
        "key_index_build_s": key_index_build_s,
        "restart_to_first_commit_s": restart_to_first_commit_s,
        "restart_to_first_commit_s_target": TARGET_RESTART_S,
        "duckdb_scan_before_compaction": scan_before,
        "compaction": {
            "seconds": compaction_s,
            "files_rewritten": compaction.files_rewritten,
            "bytes_rewritten": compaction.bytes_rewritten,
            "files_written": compaction.files_written,
        },
        "duckdb_scan": scans,
    }))
}
