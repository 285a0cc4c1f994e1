//! How a worker starts partitions: their state restored from the checkpoint objects that hold
//! them, and where each one's reading starts (and, bounded, ends). The same for a worker's
//! first partitions and for those a rescale hands over to it later.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use floe_common::checkpoint::{
    decode_state_from, CheckpointFormatError, CheckpointRef, DecodedState,
};
use floe_common::config::{JobSpec, StartPosition};
use floe_common::watermark::WATERMARK_START;
use floe_common::window::WindowOperator;
use floe_proto::RestorePoint;
use floe_source::files::{split_paths, FileSource};
use floe_source::start_position::{plan_start, Available, PlannedStart};
use floe_source::{available, create_consumer, SourceError};
use floe_storage::CheckpointStore;
use tokio_util::sync::CancellationToken;

use crate::worker::WorkerError;

/// Partitions ready to be read: their operator (restored or fresh, positions set) and where
/// each one's reader starts.
pub(crate) struct Prepared {
    pub operator: WindowOperator,
    pub files: Option<WorkerFiles>,
    /// Partition → the offset its reader starts at.
    pub starts: Vec<(i32, i64)>,
    /// Partition → where a bounded read of it ends.
    pub ends: BTreeMap<i32, i64>,
    /// Offsets jumped over because a checkpointed position was gone.
    pub skipped: u64,
}

/// Restores `partitions` from `restore` (the objects that hold them) and plans their starts.
/// Its slow steps (state downloads, offset lookups) end early when `cancel` fires.
pub(crate) async fn prepare(
    job: &Arc<JobSpec>,
    worker_id: &str,
    partitions: &[i32],
    restore: Option<&RestorePoint>,
    store: &CheckpointStore,
    now_ms: u64,
    cancel: &CancellationToken,
) -> Result<Prepared, WorkerError> {
    let restored = restore_operator(job, worker_id, partitions, restore, store, now_ms, cancel);
    let mut operator = unless_cancelled(cancel, restored).await?;
    let files = WorkerFiles::open(job, store, partitions, &operator).await?;
    // Partitions new to this worker (or with nothing in the checkpoint) start fresh; file
    // splits when their reader opens them.
    for p in partitions {
        if files.as_ref().is_none_or(|f| f.begun.contains(p)) {
            operator.assign(*p, now_ms);
        }
    }
    // The job's start position applies to its first start; a partition a restored
    // checkpoint does not know is new to the job, and read from its start.
    let start = match restore {
        None => job.source.start,
        Some(_) => StartPosition::Earliest,
    };
    let planned = plan_starts(job, partitions, start, &mut operator, files.as_ref());
    let Plan { starts, ends } = unless_cancelled(cancel, planned).await?;
    Ok(Prepared {
        operator,
        files,
        skipped: starts.iter().map(|(_, s)| s.skipped).sum(),
        starts: starts.into_iter().map(|(p, s)| (p, s.offset)).collect(),
        ends,
    })
}

/// A file source's files behind this worker's partitions.
pub(crate) struct WorkerFiles {
    pub(crate) source: FileSource,
    pub(crate) paths: BTreeMap<i32, String>,
    /// Splits a checkpoint had begun: read first.
    pub(crate) begun: BTreeSet<i32>,
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

/// The operator of `partitions`: restored from the objects of the checkpoint that
/// hold them (any workers'), or empty.
async fn restore_operator(
    job: &JobSpec,
    worker_id: &str,
    partitions: &[i32],
    restore: Option<&RestorePoint>,
    store: &CheckpointStore,
    now_ms: u64,
    cancel: &CancellationToken,
) -> Result<WindowOperator, WorkerError> {
    let Some(restore) = restore else {
        return Ok(WindowOperator::for_job(job));
    };
    let mine: BTreeSet<i32> = partitions.iter().copied().collect();
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
        let keep = mine.clone();
        let decoded = read_state(store, restore.at, holder, cancel, move |p| {
            keep.contains(&p)
        })
        .await
        .map_err(|e| match e {
            ReadStateError::Format(e) => err(e.to_string()),
            ReadStateError::Worker(e) => e,
        })?;
        if let Some(w) = decoded.legacy_watermark {
            legacy_watermark = Some(legacy_watermark.map_or(w, |l| l.max(w)));
        }
        partitions.extend(decoded.snapshot.partitions);
    }
    let watermark = restore
        .watermark_ms
        .or(legacy_watermark)
        .unwrap_or(WATERMARK_START);
    WindowOperator::restore(job.window, &job.aggregates, partitions, watermark, now_ms)
        .map(|op| op.with_output_of(job))
        .map_err(|message| WorkerError::State {
            worker: worker_id.to_owned(),
            checkpoint: restore.at.id,
            message,
        })
}

/// Why a state object could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadStateError {
    #[error(transparent)]
    Worker(#[from] WorkerError),
    #[error(transparent)]
    Format(#[from] CheckpointFormatError),
}

/// Reads `holder`'s state object of checkpoint `at` as it downloads, keeping the partitions
/// `keep` wants: neither the whole object nor the partitions not kept are ever held. A
/// cancelled `cancel` ends the download (the decoder then finds the object cut short).
pub async fn read_state(
    store: &CheckpointStore,
    at: CheckpointRef,
    holder: &str,
    cancel: &CancellationToken,
    keep: impl Fn(i32) -> bool + Send + 'static,
) -> Result<DecodedState, ReadStateError> {
    let reader = store
        .worker_state_reader(at, holder, cancel)
        .await
        .map_err(WorkerError::from)?;
    let decoded = tokio::task::spawn_blocking(move || decode_state_from(reader, keep))
        .await
        .map_err(|e| WorkerError::Actor(e.to_string()))?;
    if cancel.is_cancelled() {
        return Err(WorkerError::Cancelled.into());
    }
    Ok(decoded?)
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
