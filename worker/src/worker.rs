//! `Worker`: the actors of one job on this process, started from an assignment.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use floe_common::checkpoint::decode_state;
use floe_common::config::{JobSpec, StartPosition};
use floe_common::decode::Decoder;
use floe_common::window::WindowOperator;
use floe_proto::{Assignment, Barrier, CheckpointAck, WorkerStatus};
use floe_storage::CheckpointStore;
use ractor::{Actor, ActorRef};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::Offset;
use tokio::sync::Semaphore;

use crate::batch_pool::BatchPool;
use crate::clock::now_ms;
use crate::reader::{PartitionReader, ReaderArgs, ReaderMsg};
use crate::uploader::{CheckpointUploader, UploadMsg};
use crate::window_actor::{WindowActor, WindowArgs, WindowMsg};

/// Why a worker could not start or answer.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
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
}

/// Tuning knobs of a worker.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Reader actors (each with its own Kafka consumer) to spread partitions over.
    pub readers: usize,
    /// Most records per poll batch.
    pub max_batch: usize,
    /// Batches in flight between readers and the window actor.
    pub credits: usize,
    /// Read each partition only up to its end offset at start (a bounded run).
    pub bounded: bool,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            readers: 2,
            max_batch: 4096,
            credits: 8,
            bounded: false,
        }
    }
}

/// A running worker of one job.
pub struct Worker {
    window: ActorRef<WindowMsg>,
    uploader: ActorRef<UploadMsg>,
    readers: Vec<ActorRef<ReaderMsg>>,
}

/// The Kafka client settings every reader of `job` uses: the job's pass-through properties,
/// with offsets never committed to Kafka (they live in Floe's checkpoints).
pub fn consumer_config(job: &JobSpec) -> ClientConfig {
    let mut cfg = ClientConfig::new();
    cfg.set("group.id", format!("floe-{}", job.name));
    for (k, v) in &job.source.properties {
        cfg.set(k, v);
    }
    cfg.set("bootstrap.servers", &job.source.brokers)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false");
    cfg
}

fn consumer(job: &JobSpec) -> Result<BaseConsumer, WorkerError> {
    Ok(consumer_config(job).create()?)
}

/// The partition ids of a topic, sorted.
pub fn topic_partitions(job: &JobSpec, timeout: Duration) -> Result<Vec<i32>, WorkerError> {
    let c = consumer(job)?;
    let md = c.fetch_metadata(Some(&job.source.topic), timeout)?;
    let topic = md
        .topics()
        .iter()
        .find(|t| t.name() == job.source.topic)
        .ok_or_else(|| WorkerError::Job(format!("topic {} not found", job.source.topic)))?;
    if let Some(e) = topic.error() {
        let why = match e {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART => "does not exist".to_owned(),
            other => format!("{other:?}"),
        };
        return Err(WorkerError::Job(format!(
            "topic {} on {}: {why}",
            job.source.topic, job.source.brokers
        )));
    }
    let mut ids: Vec<i32> = topic.partitions().iter().map(|p| p.id()).collect();
    ids.sort_unstable();
    if ids.is_empty() {
        return Err(WorkerError::Job(format!(
            "topic {} has no partitions",
            job.source.topic
        )));
    }
    Ok(ids)
}

impl Worker {
    /// Restores state (if the assignment names a checkpoint) and starts reading.
    pub async fn start(
        job: Arc<JobSpec>,
        assignment: Assignment,
        store: CheckpointStore,
        options: WorkerOptions,
    ) -> Result<Self, WorkerError> {
        let now = now_ms();
        let mut operator = match assignment.restore_from {
            Some(id) => {
                let bytes = store.get_worker_state(id, &assignment.worker_id).await?;
                let err = |message: String| WorkerError::State {
                    worker: assignment.worker_id.clone(),
                    checkpoint: id,
                    message,
                };
                let snapshot = decode_state(&bytes).map_err(|e| err(e.to_string()))?;
                WindowOperator::restore(
                    job.window,
                    &job.aggregates,
                    snapshot,
                    &assignment.partitions,
                    now,
                )
                .map_err(err)?
            }
            None => WindowOperator::new(job.window, &job.aggregates),
        };
        // Partitions new to this worker (or with nothing in the checkpoint) start fresh.
        for p in &assignment.partitions {
            operator.assign(*p, now);
        }
        let decoder = Arc::new(Decoder::new(&job).map_err(WorkerError::Job)?);

        // Where each partition starts, and where a bounded read ends.
        let probe = consumer(&job)?;
        let mut starts: Vec<(i32, Offset)> = Vec::new();
        let mut ends: BTreeMap<i32, i64> = BTreeMap::new();
        for p in &assignment.partitions {
            let from_checkpoint = operator.position(*p);
            let start = match (from_checkpoint, job.source.start) {
                (Some(o), _) => Offset::Offset(o),
                (None, StartPosition::Earliest) => Offset::Beginning,
                (None, StartPosition::Latest) => Offset::End,
            };
            if options.bounded {
                let (low, high) =
                    probe.fetch_watermarks(&job.source.topic, *p, Duration::from_secs(10))?;
                ends.insert(*p, high);
                let concrete = match start {
                    Offset::Offset(o) => o,
                    Offset::End => high,
                    _ => low,
                };
                starts.push((*p, Offset::Offset(concrete)));
            } else {
                starts.push((*p, start));
            }
        }
        drop(probe);

        let spawn_err = |e: ractor::SpawnErr| WorkerError::Actor(e.to_string());
        // Batches in flight, plus one being filled per reader.
        let pool = BatchPool::new(options.credits.max(1) + options.readers.max(1));
        let (uploader, _) = Actor::spawn(None, CheckpointUploader, store)
            .await
            .map_err(spawn_err)?;
        let (window, _) = Actor::spawn(
            None,
            WindowActor,
            WindowArgs {
                worker_id: assignment.worker_id.clone(),
                operator,
                partitions: assignment.partitions.clone(),
                uploader: uploader.clone(),
                pool: pool.clone(),
            },
        )
        .await
        .map_err(spawn_err)?;

        let n_readers = options.readers.clamp(1, starts.len().max(1));
        let credits = Arc::new(Semaphore::new(options.credits.max(1)));
        let mut readers = Vec::new();
        for r in 0..n_readers {
            let mine: Vec<(i32, Offset)> =
                starts.iter().skip(r).step_by(n_readers).cloned().collect();
            if mine.is_empty() {
                continue;
            }
            let args = ReaderArgs {
                consumer: Arc::new(consumer(&job)?),
                topic: job.source.topic.clone(),
                end_offsets: options.bounded.then(|| {
                    mine.iter()
                        .map(|(p, _)| (*p, ends.get(p).copied().unwrap_or(0)))
                        .collect()
                }),
                partitions: mine,
                decoder: decoder.clone(),
                window: window.clone(),
                credits: credits.clone(),
                max_batch: options.max_batch,
                pool: pool.clone(),
            };
            let (reader, _) = Actor::spawn(None, PartitionReader, args)
                .await
                .map_err(spawn_err)?;
            readers.push(reader);
        }
        Ok(Self {
            window,
            uploader,
            readers,
        })
    }

    /// Takes a checkpoint: closes ready windows, persists state, returns the output.
    pub async fn checkpoint(&self, barrier: Barrier) -> Result<CheckpointAck, WorkerError> {
        let result = self
            .window
            .call(
                |reply| WindowMsg::Barrier(barrier, reply),
                Some(Duration::from_secs(300)),
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

    pub async fn status(&self) -> Result<WorkerStatus, WorkerError> {
        match self
            .window
            .call(WindowMsg::Status, Some(Duration::from_secs(30)))
            .await
            .map_err(|e| WorkerError::Actor(e.to_string()))?
        {
            ractor::rpc::CallResult::Success(s) => Ok(s),
            other => Err(WorkerError::Actor(format!("status: {other:?}"))),
        }
    }

    /// Stops the readers first, then the window and upload actors.
    pub async fn stop(self) {
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
