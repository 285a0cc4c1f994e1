//! `Worker`: the actors of one job on this process, started from an assignment.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use floe_common::checkpoint::decode_state;
use floe_common::clock::now_ms;
use floe_common::config::{JobSpec, StartPosition};
use floe_common::decode::Decoder;
use floe_common::watermark::WATERMARK_START;
use floe_common::window::WindowOperator;
use floe_proto::{Assignment, Barrier, CheckpointAck, WorkerStatus};
use floe_source::files::{split_paths, FileSource};
use floe_source::start_position::{plan_start, Available, PlannedStart};
use floe_source::{available, create_consumer, SourceError};
use floe_storage::CheckpointStore;
use ractor::{Actor, ActorRef};
use tokio::sync::Semaphore;

use crate::reader::{PartitionReader, ReaderArgs, ReaderMsg};
use crate::uploader::{CheckpointUploader, UploadMsg, UploaderArgs};
use crate::window_actor::{WindowActor, WindowArgs, WindowMsg};
use crate::worker_tables::WorkerTables;
use floe_source::batch_pool::BatchPool;
use floe_source::files::reader::{FileReader, FileReaderArgs, PlannedSplit};
use floe_source::generator::reader::{GeneratorArgs, GeneratorReader};
use floe_source::kafka::reader::{KafkaReader, KafkaReaderArgs};
use floe_source::reader::SourceReader;
use tokio_util::sync::CancellationToken;

/// Why a worker could not start or answer.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("checkpoint store: {0}")]
    Storage(#[from] floe_storage::StorageError),
    #[error("checkpoint state of worker {worker} at checkpoint {checkpoint}: {message}")]
    State {
        worker: String,
        checkpoint: u64,
        message: String,
    },
    #[error("job configuration: {0}")]
    Job(String),
    #[error("actor: {0}")]
    Actor(String),
    /// A newer assignment (or a release) came while this one was starting, or its caller gave
    /// up on it.
    #[error("the start was cancelled: a newer assignment came, or the coordinator gave up on it")]
    Cancelled,
}

/// Tuning knobs of a worker.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Reader actors (each with its own Kafka consumer) to spread partitions over.
    pub readers: usize,
    /// Most records per poll batch.
    pub max_batch: usize,
    /// How long a Kafka batch that has records waits for more (up to `max_batch`).
    pub poll_linger: Duration,
    /// Batches in flight between readers and the window actor.
    pub credits: usize,
    /// Output bytes (late events, dead letters) waiting for a checkpoint above
    /// which the readers are held back until the next checkpoint.
    pub max_pending_bytes: usize,
    /// Record bytes read, over every assignment of the workers sharing these options (the
    /// process's count, for its metrics).
    pub bytes_read: Arc<AtomicU64>,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            readers: 2,
            max_batch: 4096,
            poll_linger: Duration::from_millis(10),
            credits: 8,
            max_pending_bytes: 256 << 20,
            bytes_read: Arc::new(AtomicU64::new(0)),
        }
    }
}

/// A running worker of one job.
pub struct Worker {
    job: Arc<JobSpec>,
    options: WorkerOptions,
    decoder: Arc<Decoder>,
    credits: Arc<Semaphore>,
    pool: BatchPool,
    skipped: Arc<AtomicU64>,
    window: ActorRef<WindowMsg>,
    uploader: ActorRef<UploadMsg>,
    readers: Vec<ActorRef<ReaderMsg>>,
    files: Option<WorkerFiles>,
    bounded: bool,
}

/// A file source's files behind this worker's partitions.
struct WorkerFiles {
    source: FileSource,
    paths: BTreeMap<i32, String>,
    /// Splits a checkpoint had begun: read first.
    begun: BTreeSet<i32>,
}

impl WorkerFiles {
    /// `operator` is the restored one: the splits it has a position of are the begun ones.
    async fn open(
        job: &JobSpec,
        store: &CheckpointStore,
        partitions: &[i32],
        operator: &WindowOperator,
    ) -> Result<Option<Self>, WorkerError> {
        let Some(spec) = &job.source.files else {
            return Ok(None);
        };
        Ok(Some(Self {
            source: FileSource::open(spec)?,
            paths: split_paths(store, partitions).await?,
            begun: (partitions.iter())
                .filter(|p| operator.position(**p).is_some())
                .copied()
                .collect(),
        }))
    }

    /// Every file's size now (one listing): the offsets a split holds are `0..size`.
    /// A file gone since it was read ends where it was read to: its split keeps its state until
    /// its windows close, and reads nothing more.
    async fn available(
        &self,
        operator: &WindowOperator,
    ) -> Result<Vec<(i32, Available)>, WorkerError> {
        let sizes: BTreeMap<String, u64> = self.source.list().await?.into_iter().collect();
        Ok(self
            .paths
            .iter()
            .map(|(p, path)| {
                let high = match sizes.get(path) {
                    Some(size) => *size as i64,
                    None => {
                        let read_to = operator.position(*p).unwrap_or(0);
                        tracing::warn!(split = p, path, read_to, "file gone; its split ends there");
                        read_to
                    }
                };
                (*p, Available { low: 0, high })
            })
            .collect())
    }
}

/// Where each partition starts, and where a bounded read of it ends.
struct Plan {
    starts: Vec<(i32, PlannedStart)>,
    ends: BTreeMap<i32, i64>,
}

/// The offsets each of `partitions` holds now, asked on a blocking thread.
async fn available_offsets(
    job: &Arc<JobSpec>,
    partitions: &[i32],
    files: Option<&WorkerFiles>,
    operator: &WindowOperator,
) -> Result<Vec<(i32, Available)>, WorkerError> {
    if let Some(files) = files {
        return files.available(operator).await;
    }
    if let Some(g) = job.source.generator {
        let high = g.events.map_or(i64::MAX, |n| n as i64);
        return Ok(partitions
            .iter()
            .map(|p| (*p, Available { low: 0, high }))
            .collect());
    }
    let (job, partitions) = (job.clone(), partitions.to_vec());
    tokio::task::spawn_blocking(move || {
        let probe = create_consumer(&job).map_err(SourceError::from)?;
        partitions
            .iter()
            .map(|p| {
                Ok((
                    *p,
                    available(&probe, &job.source.topic, *p).map_err(SourceError::from)?,
                ))
            })
            .collect()
    })
    .await
    .map_err(|e| WorkerError::Actor(e.to_string()))?
}

/// Where each of `partitions` starts (`start` for those `operator` has no position of) and,
/// for a bounded read, ends; sets the start as each partition's position in `operator`.
async fn plan_starts(
    job: &Arc<JobSpec>,
    partitions: &[i32],
    start: StartPosition,
    operator: &mut WindowOperator,
    files: Option<&WorkerFiles>,
) -> Result<Plan, WorkerError> {
    let mut starts = Vec::with_capacity(partitions.len());
    let mut ends = BTreeMap::new();
    for (p, available) in available_offsets(job, partitions, files, operator).await? {
        let checkpointed = operator.position(p);
        let planned = plan_start(
            &job.source.topic,
            p,
            checkpointed,
            available,
            start,
            job.source.on_out_of_range,
        )
        .map_err(|e| WorkerError::Job(e.to_string()))?;
        planned.warn_if_moved(p, checkpointed, available);
        // A file split no checkpoint has begun stays unknown to the operator until its reader
        // opens it (see `FileReader`).
        if files.is_none_or(|f| f.begun.contains(&p)) {
            operator.set_position(p, planned.offset);
        }
        ends.insert(p, available.high);
        starts.push((p, planned));
    }
    Ok(Plan { starts, ends })
}

/// The operator of `assignment`'s partitions: restored from the objects of the checkpoint that
/// hold them (any workers'), or empty.
async fn restore_operator(
    job: &JobSpec,
    assignment: &Assignment,
    store: &CheckpointStore,
    now_ms: u64,
) -> Result<WindowOperator, WorkerError> {
    let Some(restore) = &assignment.restore else {
        return Ok(WindowOperator::for_job(job));
    };
    let mine: BTreeSet<i32> = assignment.partitions.iter().copied().collect();
    let objects: BTreeSet<&String> = if restore.holders.is_empty() {
        restore.legacy_workers.iter().collect()
    } else {
        restore
            .holders
            .iter()
            .filter(|(p, _)| mine.contains(p))
            .map(|(_, w)| w)
            .collect()
    };
    let mut partitions = Vec::new();
    let mut legacy_watermark = None::<i64>;
    for holder in objects {
        let err = |message: String| WorkerError::State {
            worker: holder.clone(),
            checkpoint: restore.at.id,
            message,
        };
        let bytes = store.get_worker_state(restore.at, holder).await?;
        let decoded = decode_state(&bytes).map_err(|e| err(e.to_string()))?;
        if let Some(w) = decoded.legacy_watermark {
            legacy_watermark = Some(legacy_watermark.map_or(w, |l| l.max(w)));
        }
        partitions.extend(
            decoded
                .snapshot
                .partitions
                .into_iter()
                .filter(|p| mine.contains(&p.partition)),
        );
    }
    let watermark = restore
        .watermark_ms
        .or(legacy_watermark)
        .unwrap_or(WATERMARK_START);
    WindowOperator::restore(job.window, &job.aggregates, partitions, watermark, now_ms)
        .map(|op| op.with_output_of(job))
        .map_err(|message| WorkerError::State {
            worker: assignment.worker_id.clone(),
            checkpoint: restore.at.id,
            message,
        })
}

/// Runs one step of a start, unless `cancel` fires first.
async fn unless_cancelled<T>(
    cancel: &CancellationToken,
    step: impl std::future::Future<Output = Result<T, WorkerError>>,
) -> Result<T, WorkerError> {
    tokio::select! {
        biased;
        _ = cancel.cancelled() => Err(WorkerError::Cancelled),
        done = step => done,
    }
}

impl Worker {
    /// Restores state (if the assignment names a checkpoint) and starts reading.
    /// Its slow steps (state downloads, offset lookups) end early when `cancel` fires; no
    /// actor is started before they are done.
    pub async fn start(
        assignment: Assignment,
        store: CheckpointStore,
        options: WorkerOptions,
        cancel: &CancellationToken,
    ) -> Result<Self, WorkerError> {
        let job = assignment.job.clone();
        let now = now_ms();
        let mut operator =
            unless_cancelled(cancel, restore_operator(&job, &assignment, &store, now)).await?;
        let files = WorkerFiles::open(&job, &store, &assignment.partitions, &operator).await?;
        // Partitions new to this worker (or with nothing in the checkpoint) start fresh; file
        // splits when their reader opens them.
        for p in &assignment.partitions {
            if files.as_ref().is_none_or(|f| f.begun.contains(p)) {
                operator.assign(*p, now);
            }
        }
        // The job's start position applies to its first start; a partition a restored
        // checkpoint does not know is new to the job, and read from its start.
        let start = match assignment.restore {
            None => job.source.start,
            Some(_) => StartPosition::Earliest,
        };
        let Plan { starts, ends } = unless_cancelled(
            cancel,
            plan_starts(
                &job,
                &assignment.partitions,
                start,
                &mut operator,
                files.as_ref(),
            ),
        )
        .await?;
        let skipped: u64 = starts.iter().map(|(_, s)| s.skipped).sum();
        let skipped = Arc::new(AtomicU64::new(skipped));

        let decoder = Arc::new(Decoder::new(&job).map_err(WorkerError::Job)?);
        let spawn_err = |e: ractor::SpawnErr| WorkerError::Actor(e.to_string());
        // Batches in flight, plus one being filled per reader.
        let pool = BatchPool::new(options.credits.max(1) + options.readers.max(1));
        let uploader_args = UploaderArgs {
            store,
            tables: WorkerTables::for_assignment(&assignment)?,
        };
        let (uploader, _) = Actor::spawn(None, CheckpointUploader, uploader_args)
            .await
            .map_err(spawn_err)?;
        let window = Actor::spawn(
            None,
            WindowActor,
            WindowArgs {
                worker_id: assignment.worker_id.clone(),
                operator,
                partitions: assignment.partitions.clone(),
                uploader: uploader.clone(),
                pool: pool.clone(),
                skipped: skipped.clone(),
                bytes_read: options.bytes_read.clone(),
                max_pending_bytes: options.max_pending_bytes,
            },
        )
        .await;
        let window = match window {
            Ok((window, _)) => window,
            Err(e) => {
                uploader.stop(None);
                return Err(spawn_err(e));
            }
        };
        let mut worker = Self {
            decoder,
            credits: Arc::new(Semaphore::new(options.credits.max(1))),
            job,
            options,
            pool,
            skipped,
            window,
            uploader,
            readers: Vec::new(),
            files,
            bounded: assignment.bounded,
        };
        let n_readers = worker.options.readers.clamp(1, starts.len().max(1));
        for r in 0..n_readers {
            let mine: Vec<(i32, i64)> = starts
                .iter()
                .skip(r)
                .step_by(n_readers)
                .map(|(p, s)| (*p, s.offset))
                .collect();
            if let Err(e) = worker.spawn_reader(mine, &ends).await {
                worker.stop().await;
                return Err(e);
            }
        }
        Ok(worker)
    }

    /// Starts one reader actor on `partitions` (with their start offsets), reading them
    /// through the job's source kind.
    async fn spawn_reader(
        &mut self,
        partitions: Vec<(i32, i64)>,
        ends: &BTreeMap<i32, i64>,
    ) -> Result<(), WorkerError> {
        if partitions.is_empty() {
            return Ok(());
        }
        let source = self.source_reader(partitions, ends)?;
        let args = ReaderArgs {
            source,
            window: self.window.clone(),
            credits: self.credits.clone(),
            pool: self.pool.clone(),
        };
        // Linked: the window actor hears of a reader's failure and fails the job.
        let (reader, _) = Actor::spawn_linked(None, PartitionReader, args, self.window.get_cell())
            .await
            .map_err(|e| WorkerError::Actor(e.to_string()))?;
        self.readers.push(reader);
        Ok(())
    }

    /// The reader of the job's source kind for `partitions`.
    fn source_reader(
        &self,
        partitions: Vec<(i32, i64)>,
        ends: &BTreeMap<i32, i64>,
    ) -> Result<Box<dyn SourceReader>, WorkerError> {
        let end_offsets = self.bounded.then(|| {
            partitions
                .iter()
                .map(|(p, _)| (*p, ends.get(p).copied().unwrap_or(0)))
                .collect()
        });
        if self.files.is_some() {
            return Ok(Box::new(self.file_reader(partitions, ends)?));
        }
        if let Some(spec) = self.job.source.generator {
            return Ok(Box::new(GeneratorReader::new(GeneratorArgs {
                spec,
                rate: spec.rate as f64 * partitions.len() as f64 / spec.partitions.max(1) as f64,
                partitions,
                end_offsets,
                decoder: self.decoder.clone(),
                max_batch: self.options.max_batch,
                pool: self.pool.clone(),
            })));
        }
        Ok(Box::new(KafkaReader::new(KafkaReaderArgs {
            consumer: Arc::new(create_consumer(&self.job).map_err(SourceError::from)?),
            source: self.job.source.clone(),
            end_offsets: end_offsets.map(Arc::new),
            linger: self.options.poll_linger,
            partitions,
            decoder: self.decoder.clone(),
            max_batch: self.options.max_batch,
            pool: self.pool.clone(),
            skipped: self.skipped.clone(),
        })))
    }

    /// Reads `partitions` (file splits, with their start offsets) one after the other.
    fn file_reader(
        &self,
        partitions: Vec<(i32, i64)>,
        ends: &BTreeMap<i32, i64>,
    ) -> Result<FileReader, WorkerError> {
        let (Some(files), Some(spec)) = (&self.files, &self.job.source.files) else {
            return Err(WorkerError::Job("not a file source".into()));
        };
        let mut splits: Vec<PlannedSplit> = partitions
            .into_iter()
            .map(|(p, offset)| PlannedSplit {
                partition: p,
                path: files.paths.get(&p).cloned().unwrap_or_default(),
                offset,
                size: ends.get(&p).copied().unwrap_or(0),
                opened: files.begun.contains(&p),
            })
            .collect();
        // The splits a checkpoint had begun first, then the rest in path order.
        splits.sort_by(|a, b| b.opened.cmp(&a.opened).then_with(|| a.path.cmp(&b.path)));
        Ok(FileReader::new(FileReaderArgs {
            source: files.source.clone(),
            splits,
            watch: spec.watch && !self.bounded,
            max_line_bytes: spec.max_line_bytes,
            decoder: self.decoder.clone(),
            max_batch: self.options.max_batch,
            pool: self.pool.clone(),
        }))
    }

    /// Takes a checkpoint: closes ready windows, persists state, returns the output.
    pub async fn checkpoint(&self, barrier: Barrier) -> Result<CheckpointAck, WorkerError> {
        let result = self
            .window
            .call(
                |reply| WindowMsg::Barrier(barrier, reply),
                // Longer than the store's retries of the state upload (IoPolicy).
                Some(Duration::from_secs(900)),
            )
            .await
            .map_err(|e| WorkerError::Actor(e.to_string()))?;
        match result {
            ractor::rpc::CallResult::Success(Ok(ack)) => Ok(ack),
            ractor::rpc::CallResult::Success(Err(e)) => Err(WorkerError::Actor(format!(
                "checkpoint {}: {e}",
                barrier.checkpoint_id
            ))),
            other => Err(WorkerError::Actor(format!(
                "checkpoint {} not acknowledged: {other:?}",
                barrier.checkpoint_id
            ))),
        }
    }

    /// The worker's live numbers; an error once a reader has failed (the job cannot go on).
    pub async fn status(&self) -> Result<WorkerStatus, WorkerError> {
        match self
            .window
            .call(WindowMsg::Status, Some(Duration::from_secs(30)))
            .await
            .map_err(|e| WorkerError::Actor(e.to_string()))?
        {
            ractor::rpc::CallResult::Success(s) => match &s.failure {
                Some(why) => Err(WorkerError::Actor(why.clone())),
                None => Ok(s),
            },
            other => Err(WorkerError::Actor(format!("status: {other:?}"))),
        }
    }

    /// Stops the readers first, then the window and upload actors.
    pub async fn stop(&self) {
        for r in &self.readers {
            let _ = r.stop_and_wait(None, Some(Duration::from_secs(5))).await;
        }
        let _ = self
            .window
            .stop_and_wait(None, Some(Duration::from_secs(5)))
            .await;
        let _ = self
            .uploader
            .stop_and_wait(None, Some(Duration::from_secs(5)))
            .await;
    }
}
