//! `Worker`: the actors of one job on this process, started from an assignment.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use floe_common::clock::now_ms;
use floe_common::config::JobSpec;
use floe_common::decode::Decoder;
use floe_proto::{AddPartitions, Assignment, Barrier, CheckpointAck, WorkerStatus};
use floe_source::batch_pool::BatchPool;
use floe_source::files::reader::{FileReader, FileReaderArgs, PlannedSplit};
use floe_source::generator::reader::{GeneratorArgs, GeneratorReader};
use floe_source::kafka::reader::{KafkaReader, KafkaReaderArgs};
use floe_source::reader::SourceReader;
use floe_source::{create_consumer, SourceError};
use floe_storage::CheckpointStore;
use ractor::{Actor, ActorRef};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::reader::{PartitionReader, ReaderArgs, ReaderMsg};
use crate::start_plan::{prepare, Prepared, WorkerFiles};
use crate::uploader::{CheckpointUploader, UploadMsg, UploaderArgs};
use crate::window_actor::{WindowActor, WindowArgs, WindowMsg};
use crate::worker_tables::WorkerTables;

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
    worker_id: String,
    options: WorkerOptions,
    decoder: Arc<Decoder>,
    credits: Arc<Semaphore>,
    pool: BatchPool,
    skipped: Arc<AtomicU64>,
    window: ActorRef<WindowMsg>,
    uploader: ActorRef<UploadMsg>,
    /// Grows when partitions are added.
    readers: Mutex<Vec<ActorRef<ReaderMsg>>>,
    /// Where partitions added later restore from.
    store: CheckpointStore,
    bounded: bool,
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
        let partitions = &assignment.partitions;
        let Prepared {
            operator,
            files,
            starts,
            ends,
            skipped,
        } = prepare(
            &job,
            &assignment.worker_id,
            partitions,
            assignment.restore.as_ref(),
            &store,
            now_ms(),
            cancel,
        )
        .await?;
        let skipped = Arc::new(AtomicU64::new(skipped));
        let decoder = Arc::new(Decoder::new(&job).map_err(WorkerError::Job)?);
        let spawn_err = |e: ractor::SpawnErr| WorkerError::Actor(e.to_string());
        // Batches in flight, plus one being filled per reader.
        let pool = BatchPool::new(options.credits.max(1) + options.readers.max(1));
        let uploader_args = UploaderArgs {
            store: store.clone(),
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
                partitions: partitions.clone(),
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
        let worker = Self {
            decoder,
            credits: Arc::new(Semaphore::new(options.credits.max(1))),
            worker_id: assignment.worker_id.clone(),
            job,
            options,
            pool,
            skipped,
            window,
            uploader,
            readers: Mutex::new(Vec::new()),
            store,
            bounded: assignment.bounded,
        };
        if let Err(e) = worker.spawn_readers(&starts, &ends, files.as_ref()).await {
            worker.stop().await;
            return Err(e);
        }
        Ok(worker)
    }

    /// Starts readers on `starts` (partitions with their start offsets): as many as the
    /// options ask, each with a share of them.
    async fn spawn_readers(
        &self,
        starts: &[(i32, i64)],
        ends: &BTreeMap<i32, i64>,
        files: Option<&WorkerFiles>,
    ) -> Result<(), WorkerError> {
        let n_readers = self.options.readers.clamp(1, starts.len().max(1));
        for r in 0..n_readers {
            let mine: Vec<(i32, i64)> = starts.iter().skip(r).step_by(n_readers).copied().collect();
            self.spawn_reader(mine, ends, files).await?;
        }
        Ok(())
    }

    /// Adds partitions a rescale hands over: their state restored from the checkpoint that
    /// took them off their last worker, then new readers on them. The partitions running here
    /// read on meanwhile.
    pub async fn add_partitions(
        &self,
        add: &AddPartitions,
        cancel: &CancellationToken,
    ) -> Result<(), WorkerError> {
        let now = now_ms();
        let prepared = prepare(
            &self.job,
            &self.worker_id,
            &add.partitions,
            add.restore.as_ref(),
            &self.store,
            now,
            cancel,
        )
        .await?;
        self.skipped.fetch_add(prepared.skipped, Ordering::Relaxed);
        let moved_in = (Box::new(prepared.operator), add.partitions.clone());
        self.window
            .call(
                |reply| WindowMsg::Absorb(moved_in.0, moved_in.1, reply),
                Some(Duration::from_secs(60)),
            )
            .await
            .map_err(|e| WorkerError::Actor(e.to_string()))?;
        let files = prepared.files.as_ref();
        self.spawn_readers(&prepared.starts, &prepared.ends, files)
            .await
    }

    /// Stops reading `partitions`; their state leaves with the next checkpoint (see
    /// [`WindowMsg::Leave`]).
    pub async fn remove_partitions(&self, partitions: &[i32]) -> Result<(), WorkerError> {
        let readers = self.readers.lock().map(|r| r.clone()).unwrap_or_default();
        for reader in readers {
            let removed = reader
                .call(
                    |reply| ReaderMsg::Remove(partitions.to_vec(), reply),
                    Some(Duration::from_secs(30)),
                )
                .await
                .map_err(|e| WorkerError::Actor(e.to_string()))?;
            match removed {
                ractor::rpc::CallResult::Success(Ok(())) => {}
                ractor::rpc::CallResult::Success(Err(e)) => return Err(WorkerError::Actor(e)),
                other => return Err(WorkerError::Actor(format!("remove: {other:?}"))),
            }
        }
        self.window
            .send_message(WindowMsg::Leave(partitions.to_vec()))
            .map_err(|e| WorkerError::Actor(e.to_string()))
    }

    /// Starts one reader actor on `partitions` (with their start offsets), reading them
    /// through the job's source kind.
    async fn spawn_reader(
        &self,
        partitions: Vec<(i32, i64)>,
        ends: &BTreeMap<i32, i64>,
        files: Option<&WorkerFiles>,
    ) -> Result<(), WorkerError> {
        if partitions.is_empty() {
            return Ok(());
        }
        let source = self.source_reader(partitions, ends, files)?;
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
        if let Ok(mut readers) = self.readers.lock() {
            readers.push(reader);
        }
        Ok(())
    }

    /// The reader of the job's source kind for `partitions`.
    fn source_reader(
        &self,
        partitions: Vec<(i32, i64)>,
        ends: &BTreeMap<i32, i64>,
        files: Option<&WorkerFiles>,
    ) -> Result<Box<dyn SourceReader>, WorkerError> {
        let end_offsets = self.bounded.then(|| {
            partitions
                .iter()
                .map(|(p, _)| (*p, ends.get(p).copied().unwrap_or(0)))
                .collect()
        });
        if let Some(files) = files {
            return Ok(Box::new(self.file_reader(partitions, ends, files)?));
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
        files: &WorkerFiles,
    ) -> Result<FileReader, WorkerError> {
        let Some(spec) = &self.job.source.files else {
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
        let readers = self.readers.lock().map(|r| r.clone()).unwrap_or_default();
        for r in &readers {
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
