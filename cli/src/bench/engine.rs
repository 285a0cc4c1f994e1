//! Bench (a): the gold job's engine alone, records generated into memory first, so the figures
//! are the engine's own (decode → windows → Parquet → Iceberg commit), not a broker's:
//! - `aggregate_only`: decode + window aggregation, one thread: events per core-second;
//! - `pipeline_to_iceberg`: the same plus closing windows, encoding checkpoint state, writing data
//!   files and committing to a SQLite-catalog Iceberg table every `checkpoint_every` events;
//! - `plain_loop`: the same records through [`PlainLoop`], the yardstick both figures above are
//!   divided by;
//! - `memory`: bytes per open (window, key), by the state's own accounting of its heap.

use std::hash::Hasher;
use std::sync::Arc;
use std::time::Instant;

use floe_common::config::{JobSpec, ValidatedConfig};
use floe_common::decode::{DecodedBatch, Decoder};
use floe_common::window::WindowOperator;
use floe_coordinator::committer::IcebergCommitter;
use floe_proto::Barrier;
use floe_storage::CheckpointStore;
use floe_worker::barrier::{take_barrier, upload, BarrierTaker};
use floe_worker::worker_tables::WorkerTables;

use super::baseline::PlainLoop;
use super::rounds::{median_by, paired_ratios};
use super::{bench_config, cpu_seconds, peak_rss_kib, percentile, BenchArgs};
use crate::generator::ContentEvents;

/// Generated records: (partition, offset, value).
pub(super) type Records = Vec<(i32, i64, String)>;

pub(super) fn generate(args: &BenchArgs) -> Records {
    generate_n(args, args.events)
}

/// `count` records of the bench's event mix over its videos and partitions.
pub(super) fn generate_n(args: &BenchArgs, count: u64) -> Records {
    let mut events = ContentEvents::new(42, args.videos, 5_000);
    let mut offsets = vec![0i64; args.partitions.max(1) as usize];
    let start = 1_767_225_600_000i64;
    let mut records = Vec::with_capacity(count as usize);
    for i in 0..count {
        // 1,000 events per second of event time.
        let e = events.next_event(start + i as i64);
        let mut key_hash = fnv::FnvHasher::default();
        key_hash.write(e.video_id.as_bytes());
        let p = (key_hash.finish() % offsets.len() as u64) as usize;
        records.push((p as i32, offsets[p], e.json));
        offsets[p] += 1;
    }
    records
}

/// Decodes one chunk of records into `batch`, reusing its buffers as the worker's readers do.
pub(super) fn decode_chunk<'b>(
    decoder: &Decoder,
    chunk: &[(i32, i64, String)],
    batch: &'b mut DecodedBatch,
) -> &'b DecodedBatch {
    batch.clear();
    batch.read_at_ms = floe_common::clock::wall_clock_ms();
    for (p, o, v) in chunk {
        decoder.decode_into(*p, *o, Some(v.as_bytes()), batch);
    }
    batch
}

/// A job's committer, checkpoint store and worker tables: what one bench checkpoint goes through.
pub(super) struct BenchSink {
    pub(super) committer: IcebergCommitter,
    store: CheckpointStore,
    tables: WorkerTables,
}

impl BenchSink {
    pub(super) async fn open(cfg: &ValidatedConfig, job: &Arc<JobSpec>) -> anyhow::Result<Self> {
        let catalog = crate::setup::catalog(cfg).await?;
        let store = crate::setup::checkpoint_store(cfg, &job.name)?;
        let snapshot_commits = crate::setup::snapshot_commits(cfg).await?;
        let committer =
            IcebergCommitter::open(job.clone(), catalog, snapshot_commits, store.clone(), 3)
                .await?;
        let tables = WorkerTables::from_targets(job, committer.worker_targets())?;
        Ok(Self {
            committer,
            store,
            tables,
        })
    }
}

/// What one bench checkpoint did.
pub(super) struct CheckpointDone {
    pub rows: u64,
    pub state_bytes: usize,
    pub phases: CheckpointPhases,
}

/// Wall time of a checkpoint's steps, summed over the checkpoints of a run: where the
/// pipeline's cost beyond decode and aggregation goes.
#[derive(Default, Clone, Copy)]
pub(super) struct CheckpointPhases {
    /// Closing windows and encoding the operator's state.
    pub state: std::time::Duration,
    /// Writing the worker's tables (late events, dead letters) and storing the state.
    pub worker_io: std::time::Duration,
    /// Writing the closed windows' data files and the manifest.
    pub complete: std::time::Duration,
    /// The Iceberg commit (old checkpoints are removed beside it, as the job does).
    pub commit: std::time::Duration,
    /// Table maintenance between checkpoints, when due.
    pub maintenance: std::time::Duration,
}

impl CheckpointPhases {
    fn add(&mut self, other: &Self) {
        self.state += other.state;
        self.worker_io += other.worker_io;
        self.complete += other.complete;
        self.commit += other.commit;
        self.maintenance += other.maintenance;
    }

    fn to_json(self) -> serde_json::Value {
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
        serde_json::json!({
            "close_and_encode_state": ms(self.state), "worker_files_and_state_put": ms(self.worker_io),
            "window_files_and_manifest": ms(self.complete), "iceberg_commit": ms(self.commit),
            "table_maintenance": ms(self.maintenance),
        })
    }
}

/// One checkpoint of a single worker (its own watermark is the job's), as a worker and the
/// committer take it: closed windows and worker-written rows out, state stored, files written,
/// the checkpoint completed, committed, and a cleanup of older ones started.
pub(super) async fn checkpoint(
    op: &mut WindowOperator,
    sink: &BenchSink,
    checkpoint_id: u64,
    partitions: i32,
    last: bool,
) -> anyhow::Result<CheckpointDone> {
    let mut phases = CheckpointPhases::default();
    let mut step = Instant::now();
    let mut lap = |into: &mut std::time::Duration| {
        *into += step.elapsed();
        step = Instant::now();
    };
    if last {
        for p in 0..partitions {
            op.finish_partition(p);
        }
    }
    let watermark = op.advance_watermark(0);
    let barrier = Barrier {
        checkpoint_id,
        epoch: sink.committer.epoch(),
        watermark_ms: watermark,
    };
    let partitions: Vec<i32> = (0..partitions).collect();
    let taker = BarrierTaker {
        worker_id: "0",
        partitions: &partitions,
        input_finished: last,
        now_ms: 0,
    };
    let output = take_barrier(op, &barrier, &taker).map_err(anyhow::Error::msg)?;
    let state_bytes = output.state.len();
    lap(&mut phases.state);
    let ack = upload(output, &sink.tables, &sink.store)
        .await
        .map_err(anyhow::Error::msg)?;
    lap(&mut phases.worker_io);
    let manifest = sink
        .committer
        .complete(checkpoint_id, vec![ack], watermark)
        .await?;
    lap(&mut phases.complete);
    let rows = sink.committer.commit(&manifest).await?.rows_committed;
    sink.committer.start_cleanup();
    lap(&mut phases.commit);
    // As the job controller does after each checkpoint: table maintenance when it is due.
    sink.committer.maintain().await;
    lap(&mut phases.maintenance);
    Ok(CheckpointDone {
        rows,
        state_bytes,
        phases,
    })
}

/// What [`run_pipeline`] measured.
pub(super) struct PipelineRun {
    pub wall_s: f64,
    pub cpu_s: f64,
    /// Sorted.
    pub checkpoint_durations: Vec<std::time::Duration>,
    pub rows: u64,
    pub last_state_bytes: usize,
    pub phases: CheckpointPhases,
}

/// `input` through `job` on one thread as a worker and the committer take it: decoded batch by
/// batch into the operator, with a checkpoint into Iceberg every `checkpoint_every` events
/// and after the last.
pub(super) async fn run_pipeline(
    cfg: &ValidatedConfig,
    job: &Arc<JobSpec>,
    decoder: &Decoder,
    input: &Records,
    args: &BenchArgs,
) -> anyhow::Result<PipelineRun> {
    let sink = BenchSink::open(cfg, job).await?;
    let mut op = WindowOperator::for_job(job);
    for p in 0..args.partitions {
        op.assign(p, 0);
    }
    let mut batch = DecodedBatch::default();
    let mut run = PipelineRun {
        wall_s: 0.0,
        cpu_s: 0.0,
        checkpoint_durations: Vec::new(),
        rows: 0,
        last_state_bytes: 0,
        phases: CheckpointPhases::default(),
    };
    let mut since = 0u64;
    let mut checkpoint_id = 0u64;
    let (wall, cpu) = (Instant::now(), cpu_seconds());
    let total_batches = input.len().div_ceil(args.batch.max(1));
    for (n, chunk) in input.chunks(args.batch).enumerate() {
        op.apply(decode_chunk(decoder, chunk, &mut batch), 0);
        since += chunk.len() as u64;
        let last = n + 1 == total_batches;
        if since >= args.checkpoint_every || last {
            since = 0;
            checkpoint_id += 1;
            let started = Instant::now();
            let done = checkpoint(&mut op, &sink, checkpoint_id, args.partitions, last).await?;
            run.rows += done.rows;
            run.last_state_bytes = done.state_bytes;
            run.phases.add(&done.phases);
            run.checkpoint_durations.push(started.elapsed());
        }
    }
    run.wall_s = wall.elapsed().as_secs_f64();
    run.cpu_s = (cpu_seconds() - cpu).max(1e-9);
    run.checkpoint_durations.sort();
    Ok(run)
}

/// Wall and CPU seconds of one timed pass.
#[derive(Clone, Copy)]
pub(super) struct Timed {
    pub wall_s: f64,
    pub cpu_s: f64,
}

impl Timed {
    fn since(wall: Instant, cpu: f64) -> Self {
        Self {
            wall_s: wall.elapsed().as_secs_f64(),
            cpu_s: (cpu_seconds() - cpu).max(1e-9),
        }
    }
}

/// The yardstick: the plain loop over `input`, timed; and its (window, key) rows.
fn run_plain_loop(input: &Records, window_ms: i64) -> anyhow::Result<(Timed, usize)> {
    let (wall, cpu) = (Instant::now(), cpu_seconds());
    let mut plain = PlainLoop::default();
    for (_, _, v) in input {
        plain.add(v.as_bytes(), window_ms);
    }
    let timed = Timed::since(wall, cpu);
    anyhow::ensure!(
        plain.unreadable == 0 && plain.events() == input.len() as i64,
        "the plain loop read {} of {} records",
        plain.events(),
        input.len()
    );
    Ok((timed, plain.rows()))
}

/// Decode + aggregate on one thread, timed; and the open (windows, entries) at the end.
pub(super) fn run_aggregate_only(
    job: &JobSpec,
    decoder: &Decoder,
    input: &Records,
    args: &BenchArgs,
) -> (Timed, (usize, usize)) {
    let mut op = WindowOperator::for_job(job);
    for p in 0..args.partitions {
        op.assign(p, 0);
    }
    let (wall, cpu) = (Instant::now(), cpu_seconds());
    let mut batch = DecodedBatch::default();
    for chunk in input.chunks(args.batch) {
        op.apply(decode_chunk(decoder, chunk, &mut batch), 0);
        // An append job's rows are made, then dropped: what writing them costs is the
        // pipeline's.
        drop(op.take_record_output());
    }
    (Timed::since(wall, cpu), op.open_state())
}

/// Runs bench (a) and returns its figures.
pub async fn run(args: &BenchArgs) -> anyhow::Result<serde_json::Value> {
    let dir = tempfile::tempdir()?;
    let cfg = bench_config(dir.path(), None)?;
    let job = Arc::new(cfg.jobs[0].clone());
    let decoder = Decoder::new(&job).map_err(|e| anyhow::anyhow!(e))?;

    eprintln!("generating {} events…", args.events);
    let input = generate(args);
    let bytes: usize = input.iter().map(|r| r.2.len()).sum();

    // 0–2. the plain loop, decode + aggregate, and the pipeline with checkpoints and Iceberg
    // commits (each pass into a fresh catalog), in turn, `engine_rounds` times.
    let (mut plains, mut aggs, mut pipes) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=args.engine_rounds.max(1) {
        eprintln!("engine round {round}…");
        plains.push(run_plain_loop(&input, job.window.size_ms)?);
        aggs.push(run_aggregate_only(&job, &decoder, &input, args));
        let round_dir = tempfile::tempdir()?;
        let round_cfg = bench_config(round_dir.path(), None)?;
        pipes.push(run_pipeline(&round_cfg, &job, &decoder, &input, args).await?);
    }
    let (plain, plain_rows) = *median_by(&plains, |r| r.0.cpu_s);
    let (agg, (open_windows, open_entries)) = *median_by(&aggs, |r| r.0.cpu_s);
    let pipe = median_by(&pipes, |r| r.cpu_s);
    let (pipe_wall, pipe_cpu, durations) = (pipe.wall_s, pipe.cpu_s, &pipe.checkpoint_durations);
    let (rows, state_bytes) = (pipe.rows, pipe.last_state_bytes);

    // 3. bytes per open (window, key): one window with many keys.
    let mut op = WindowOperator::new(job.window, &job.aggregates);
    op.assign(0, 0);
    let keys = 1_000_000u64;
    let mut b = DecodedBatch::default();
    for k in 0..keys {
        let v = format!(
            r#"{{"header":{{"event_type":"like","event_ts":1000}},"body":{{"video_id":"v_{k}","watch_ms":1}}}}"#
        );
        decoder.decode_into(0, k as i64, Some(v.as_bytes()), &mut b);
        if b.len() == 4096 {
            op.apply(&b, 0);
            b = DecodedBatch::default();
        }
    }
    op.apply(&b, 0);
    drop(b);
    let open_keys = op.open_state().1;
    let per_entry = op.state_heap_bytes() as f64 / open_keys.max(1) as f64;
    drop(op);

    let plain_cpus: Vec<f64> = plains.iter().map(|r| r.0.cpu_s).collect();
    let (agg_paired, agg_ratios) = paired_ratios(&plain_cpus, aggs.iter().map(|r| r.0.cpu_s));
    let (pipe_paired, pipe_ratios) = paired_ratios(&plain_cpus, pipes.iter().map(|r| r.cpu_s));

    let events = args.events as f64;
    let (plain_wall, plain_cpu) = (plain.wall_s, plain.cpu_s);
    let (agg_wall, agg_cpu) = (agg.wall_s, agg.cpu_s);
    let plain_rate = events / plain_cpu;
    let results = serde_json::json!({
        "workload": {
            "events": args.events, "videos": args.videos, "partitions": args.partitions,
            "input_bytes": bytes, "batch": args.batch, "checkpoint_every": args.checkpoint_every,
            "rounds": plains.len(),
            "what": "each figure is the pass with the median CPU seconds of `rounds` passes, taken in turn",
        },
        "plain_loop": {
            "what": "serde_json into borrowed structs, one hashbrown map per window, the six aggregates",
            "wall_s": plain_wall, "cpu_s": plain_cpu,
            "events_per_s": events / plain_wall, "events_per_cpu_s": plain_rate,
            "cpu_s_of_rounds": plain_cpus,
            "window_key_rows": plain_rows,
        },
        "aggregate_only": {
            "wall_s": agg_wall, "cpu_s": agg_cpu,
            "events_per_s": events / agg_wall, "events_per_cpu_s": events / agg_cpu,
            "ratio_to_plain_loop": events / agg_cpu / plain_rate,
            "ratio_to_plain_loop_paired": agg_paired,
            "ratio_to_plain_loop_of_rounds": agg_ratios,
            "cpu_s_of_rounds": aggs.iter().map(|r| r.0.cpu_s).collect::<Vec<_>>(),
            "open_windows_at_end": open_windows, "open_entries_at_end": open_entries,
        },
        "pipeline_to_iceberg": {
            "wall_s": pipe_wall, "cpu_s": pipe_cpu,
            "events_per_s": events / pipe_wall, "events_per_cpu_s": events / pipe_cpu,
            "ratio_to_plain_loop": events / pipe_cpu / plain_rate,
            "ratio_to_plain_loop_paired": pipe_paired,
            "ratio_to_plain_loop_of_rounds": pipe_ratios,
            "ratio_target": 1.3,
            "cpu_s_of_rounds": pipes.iter().map(|r| r.cpu_s).collect::<Vec<_>>(),
            "checkpoints": durations.len(), "rows_committed": rows,
            "checkpoint_ms_p50": percentile(durations, 0.5),
            "checkpoint_ms_p99": percentile(durations, 0.99),
            "last_state_bytes": state_bytes,
            "checkpoint_phases_total_ms": pipe.phases.to_json(),
        },
        "memory": {
            "peak_rss_kib": peak_rss_kib(),
            "open_window_keys": open_keys,
            "bytes_per_open_window_key": per_entry,
            "bytes_per_open_window_key_target": 120,
        },
    });
    Ok(results)
}
