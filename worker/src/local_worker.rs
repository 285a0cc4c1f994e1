//! `LocalWorker`: this process's worker behind the [`WorkerService`] seam. `floe run` drives it
//! directly; `floe worker` serves it over gRPC.

use std::sync::Arc;

use async_trait::async_trait;
use floe_proto::{
    AddPartitions, Assignment, Barrier, CheckpointAck, WorkerService, WorkerServiceError,
    WorkerStatus,
};
use floe_storage::{open_location, CheckpointStore};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::worker::{Worker, WorkerError, WorkerOptions};

/// Where a local worker's checkpoint store comes from.
#[derive(Debug, Clone)]
pub enum WorkerStores {
    /// The store the embedding process opened (with its own I/O policy, or a test's faults).
    Given(CheckpointStore),
    /// The location each assignment names (cluster mode: the coordinator's config).
    FromAssignment,
}

/// The part of a job this worker runs now, and the newest coordinator epoch it obeyed.
#[derive(Default)]
struct Current {
    epoch: u64,
    worker: Option<Arc<Worker>>,
    /// The assignment starting now, by its number among this process's assignments: a start
    /// finishes only if it is still the newest and not cancelled.
    starting: Option<(u64, CancellationToken)>,
    assignments: u64,
    /// Partitions being added to the running work (restoring their state).
    adding: Option<CancellationToken>,
}

impl Current {
    /// Cancels a start, or an addition of partitions, in progress (a newer assignment or a
    /// release supersedes it).
    fn cancel_start(&mut self) {
        if let Some((_, cancel)) = self.starting.take() {
            cancel.cancel();
        }
        if let Some(cancel) = self.adding.take() {
            cancel.cancel();
        }
    }
}

/// A worker of this process.
pub struct LocalWorker {
    name: String,
    options: WorkerOptions,
    stores: WorkerStores,
    current: Arc<Mutex<Current>>,
    /// When a coordinator last asked anything.
    last_call: std::sync::Mutex<std::time::Instant>,
}

impl LocalWorker {
    pub fn new(name: impl Into<String>, options: WorkerOptions, stores: WorkerStores) -> Self {
        Self {
            name: name.into(),
            options,
            stores,
            current: Arc::new(Mutex::new(Current::default())),
            last_call: std::sync::Mutex::new(std::time::Instant::now()),
        }
    }

    /// How long no coordinator has asked anything: a worker with work that no one drives was
    /// left behind by a coordinator that is gone.
    pub fn unattended_for(&self) -> std::time::Duration {
        self.last_call
            .lock()
            .map(|t| t.elapsed())
            .unwrap_or_default()
    }

    fn called(&self) {
        if let Ok(mut t) = self.last_call.lock() {
            *t = std::time::Instant::now();
        }
    }

    /// The status of the work running here, for this process's own views (its metrics): unlike
    /// [`WorkerService::status`], asking is no sign that a coordinator still drives the worker.
    pub async fn local_status(&self) -> Option<WorkerStatus> {
        let worker = self.current.lock().await.worker.clone()?;
        worker.status().await.ok()
    }

    /// Whether a part of a job runs here now.
    pub async fn has_work(&self) -> bool {
        self.current.lock().await.worker.is_some()
    }

    fn failed(&self, e: impl std::fmt::Display) -> WorkerServiceError {
        WorkerServiceError::Failed {
            worker: self.name.clone(),
            message: e.to_string(),
        }
    }

    fn store_for(&self, assignment: &Assignment) -> Result<CheckpointStore, WorkerServiceError> {
        match &self.stores {
            WorkerStores::Given(store) => Ok(store.clone()),
            WorkerStores::FromAssignment => {
                let location = open_location(&assignment.checkpoint_store)
                    .map_err(|e| self.failed(WorkerError::Storage(e)))?;
                Ok(CheckpointStore::new(location, &assignment.job.name))
            }
        }
    }

    /// Refuses a call from an epoch older than the newest one obeyed.
    fn obeys(&self, epoch: u64, current: &Current) -> Result<(), WorkerServiceError> {
        if epoch < current.epoch {
            return Err(WorkerServiceError::StaleEpoch {
                worker: self.name.clone(),
                epoch,
                current: current.epoch,
            });
        }
        Ok(())
    }

    /// The running worker; with `assigned_at`, only when that is the epoch it was assigned at
    /// (a barrier of another epoch comes from a coordinator of another lineage of the job).
    async fn running(&self, assigned_at: Option<u64>) -> Result<Arc<Worker>, WorkerServiceError> {
        self.called();
        let current = self.current.lock().await;
        if let Some(epoch) = assigned_at {
            if epoch != current.epoch {
                return Err(WorkerServiceError::StaleEpoch {
                    worker: self.name.clone(),
                    epoch,
                    current: current.epoch,
                });
            }
        }
        current
            .worker
            .clone()
            .ok_or_else(|| self.failed("has no assignment"))
    }

    /// Takes the current work away, first checking that `epoch` may.
    async fn take(&self, epoch: u64) -> Result<Option<Arc<Worker>>, WorkerServiceError> {
        self.called();
        let mut current = self.current.lock().await;
        self.obeys(epoch, &current)?;
        current.epoch = epoch;
        current.cancel_start();
        Ok(current.worker.take())
    }
}

#[async_trait]
impl WorkerService for LocalWorker {
    fn name(&self) -> &str {
        &self.name
    }

    async fn assign(&self, assignment: Assignment) -> Result<(), WorkerServiceError> {
        if let Some(old) = self.take(assignment.epoch).await? {
            old.stop().await;
        }
        tracing::info!(worker = %self.name, job = %assignment.job.name, partitions = ?assignment.partitions, restore_from = ?assignment.restore.as_ref().map(|r| r.at), epoch = assignment.epoch, "assigned");
        let epoch = assignment.epoch;
        let store = self.store_for(&assignment)?;
        let (number, cancel) = {
            let mut current = self.current.lock().await;
            current.cancel_start();
            current.assignments += 1;
            let cancel = CancellationToken::new();
            current.starting = Some((current.assignments, cancel.clone()));
            (current.assignments, cancel)
        };
        // A caller that gives up (a gRPC deadline drops this future) cancels the start.
        let gave_up = cancel.clone().drop_guard();
        let (options, current) = (self.options.clone(), self.current.clone());
        // In a task of its own, so that a start is never dropped half-way with actors running:
        // it ends at a step between them, or stops what it started.
        let started = tokio::spawn(async move {
            let worker = Worker::start(assignment, store, options, &cancel).await?;
            let mut current = current.lock().await;
            let newest = matches!(&current.starting, Some((n, _)) if *n == number);
            if !newest || cancel.is_cancelled() || current.epoch != epoch {
                drop(current);
                worker.stop().await;
                return Err(WorkerError::Cancelled);
            }
            current.starting = None;
            current.worker = Some(Arc::new(worker));
            Ok(())
        })
        .await;
        gave_up.disarm();
        let started = started.map_err(|e| self.failed(e))?;
        if let Err(WorkerError::Cancelled) = &started {
            let now = self.current.lock().await.epoch;
            if now != epoch {
                return Err(WorkerServiceError::StaleEpoch {
                    worker: self.name.clone(),
                    epoch,
                    current: now,
                });
            }
        }
        started.map_err(|e| self.failed(e))
    }

    async fn checkpoint(&self, barrier: Barrier) -> Result<CheckpointAck, WorkerServiceError> {
        let worker = self.running(Some(barrier.epoch)).await?;
        worker.checkpoint(barrier).await.map_err(|e| self.failed(e))
    }

    async fn status(&self, epoch: u64) -> Result<WorkerStatus, WorkerServiceError> {
        // Epoch 0: a coordinator from before statuses carried one.
        let worker = self.running(Some(epoch).filter(|e| *e != 0)).await?;
        worker.status().await.map_err(|e| self.failed(e))
    }

    async fn remove_partitions(
        &self,
        epoch: u64,
        partitions: Vec<i32>,
    ) -> Result<(), WorkerServiceError> {
        let worker = self.running(Some(epoch)).await?;
        tracing::info!(worker = %self.name, ?partitions, epoch, "handing partitions over at the next checkpoint");
        worker
            .remove_partitions(&partitions)
            .await
            .map_err(|e| self.failed(e))
    }

    async fn add_partitions(&self, add: AddPartitions) -> Result<(), WorkerServiceError> {
        let worker = self.running(Some(add.epoch)).await?;
        tracing::info!(worker = %self.name, partitions = ?add.partitions, restore_from = ?add.restore.as_ref().map(|r| r.at), epoch = add.epoch, "adding partitions");
        let cancel = CancellationToken::new();
        self.current.lock().await.adding = Some(cancel.clone());
        // A caller that gives up (a gRPC deadline drops this future) cancels the restore.
        let _gave_up = cancel.clone().drop_guard();
        let added = worker.add_partitions(&add, &cancel).await;
        let mut current = self.current.lock().await;
        if current.epoch != add.epoch {
            return Err(WorkerServiceError::StaleEpoch {
                worker: self.name.clone(),
                epoch: add.epoch,
                current: current.epoch,
            });
        }
        current.adding = None;
        added.map_err(|e| self.failed(e))
    }

    async fn release(&self, epoch: u64) -> Result<(), WorkerServiceError> {
        if let Some(old) = self.take(epoch).await? {
            tracing::info!(worker = %self.name, epoch, "released");
            old.stop().await;
        }
        Ok(())
    }
}

/// `count` workers of this process sharing `store`, named `0`, `1`, …: the members a job runs
/// on in `floe run` (one by default; more spread its partitions as a cluster would).
pub fn in_process_workers(
    count: usize,
    store: CheckpointStore,
    options: WorkerOptions,
) -> tokio::sync::watch::Receiver<Vec<Arc<dyn WorkerService>>> {
    let workers = (0..count.max(1))
        .map(|i| {
            Arc::new(LocalWorker::new(
                i.to_string(),
                options.clone(),
                WorkerStores::Given(store.clone()),
            )) as Arc<dyn WorkerService>
        })
        .collect();
    tokio::sync::watch::channel(workers).1
}
