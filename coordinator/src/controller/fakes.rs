//! Fakes of what the controller drives: workers that record what they were asked and answer as
//! scripted, a source of four partitions, and a committer that keeps its manifests in memory.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use floe_common::checkpoint::{CheckpointManifest, CheckpointRef};
use floe_common::table_target::TableTarget;
use floe_common::watermark::LocalWatermark;
use floe_common::window::OperatorStats;
use floe_proto::{
    AddPartitions, Assignment, Barrier, CheckpointAck, RestorePoint, WorkerService,
    WorkerServiceError, WorkerStatus,
};
use floe_source::{PartitionSource, SourceError};

use floe_common::config::{FloeConfig, ValidatedConfig};

use crate::committer::{CommitReport, CommitterError, Recovery};
use crate::committer_seam::Committer;

/// What a fake worker was asked, and how it answers.
#[derive(Default)]
pub(super) struct Script {
    pub(super) partitions: Vec<i32>,
    /// Every assignment's partitions, in order.
    pub(super) assigned: Vec<Vec<i32>>,
    pub(super) restores: Vec<Option<RestorePoint>>,
    pub(super) barriers: Vec<Barrier>,
    /// Answers every call with this error once set (a dead worker).
    pub(super) dead: bool,
    /// Never answers a barrier once set, though it answers the rest (a stuck upload).
    pub(super) hung: bool,
    /// Never answers anything once set (a stopped process whose sockets stay open).
    pub(super) frozen: bool,
    /// Fails every call after the channel's keepalive ([`KEEPALIVE`]) once set (the leader
    /// cannot reach it, though it keeps its lease).
    pub(super) cut_off: bool,
    /// Reports a finished bounded input.
    pub(super) finished: bool,
    /// The watermark its acks report, when ahead of its status (events read since the poll).
    pub(super) ack_watermark_ms: Option<i64>,
    /// Releases asked.
    pub(super) releases: u32,
    /// Partitions removed, which leave with the next checkpoint.
    pub(super) leaving: Vec<i32>,
    /// Every `remove_partitions`, in order.
    pub(super) removals: Vec<Vec<i32>>,
    /// Every `add_partitions`, in order.
    pub(super) additions: Vec<AddPartitions>,
}

/// How long a call to a worker that is cut off waits before it fails.
pub(super) const KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(10);

pub(super) struct FakeWorker {
    name: String,
    script: Mutex<Script>,
}

impl FakeWorker {
    pub(super) fn new(name: &str, finished: bool) -> Arc<Self> {
        Arc::new(Self {
            name: name.into(),
            script: Mutex::new(Script {
                finished,
                ..Script::default()
            }),
        })
    }

    pub(super) fn with<T>(&self, f: impl FnOnce(&mut Script) -> T) -> T {
        f(&mut self.script.lock().expect("script"))
    }

    async fn check_alive(&self) -> Result<(), WorkerServiceError> {
        if self.with(|s| s.frozen) {
            return std::future::pending().await;
        }
        if self.with(|s| s.cut_off) {
            tokio::time::sleep(KEEPALIVE).await;
            return Err(WorkerServiceError::Unavailable {
                worker: self.name.clone(),
                message: "http2 error (keepalive timed out)".into(),
            });
        }
        if self.with(|s| s.dead) {
            return Err(WorkerServiceError::Unavailable {
                worker: self.name.clone(),
                message: "connection refused".into(),
            });
        }
        Ok(())
    }

    fn watermark(&self) -> LocalWatermark {
        if self.with(|s| s.finished) {
            LocalWatermark::Finished
        } else {
            LocalWatermark::Active(1_000)
        }
    }
}

#[async_trait]
impl WorkerService for FakeWorker {
    fn name(&self) -> &str {
        &self.name
    }

    async fn assign(&self, a: Assignment) -> Result<(), WorkerServiceError> {
        self.check_alive().await?;
        self.with(|s| {
            s.partitions = a.partitions.clone();
            s.assigned.push(a.partitions.clone());
            s.restores.push(a.restore.clone());
        });
        Ok(())
    }

    async fn checkpoint(&self, barrier: Barrier) -> Result<CheckpointAck, WorkerServiceError> {
        self.check_alive().await?;
        if self.with(|s| s.hung) {
            return std::future::pending().await;
        }
        let (partitions, finished, ack_watermark) = self.with(|s| {
            s.barriers.push(barrier);
            let acked = s.partitions.clone();
            let leaving = std::mem::take(&mut s.leaving);
            s.partitions.retain(|p| !leaving.contains(p));
            (acked, s.finished, s.ack_watermark_ms)
        });
        Ok(CheckpointAck {
            worker_id: self.name.clone(),
            checkpoint_id: barrier.checkpoint_id,
            epoch: barrier.epoch,
            partitions,
            closed_windows: Vec::new(),
            files: Vec::new(),
            watermark: ack_watermark.map_or(self.watermark(), LocalWatermark::Active),
            stats: OperatorStats::default(),
            input_finished: finished,
            state_bytes: 0,
        })
    }

    async fn status(&self, _epoch: u64) -> Result<WorkerStatus, WorkerServiceError> {
        self.check_alive().await?;
        Ok(WorkerStatus {
            stats: OperatorStats::default(),
            watermark: self.watermark(),
            next_close_ms: None,
            open_windows: 0,
            open_entries: 0,
            input_finished: self.with(|s| s.finished),
            offsets_skipped: 0,
            backpressured: false,
            failure: None,
            partitions: Vec::new(),
            bytes_read: 0,
        })
    }

    async fn release(&self, _epoch: u64) -> Result<(), WorkerServiceError> {
        self.check_alive().await?;
        self.with(|s| {
            s.partitions.clear();
            s.releases += 1;
        });
        Ok(())
    }

    async fn remove_partitions(
        &self,
        _epoch: u64,
        partitions: Vec<i32>,
    ) -> Result<(), WorkerServiceError> {
        self.check_alive().await?;
        self.with(|s| {
            s.leaving.extend(&partitions);
            s.removals.push(partitions);
        });
        Ok(())
    }

    async fn add_partitions(&self, add: AddPartitions) -> Result<(), WorkerServiceError> {
        self.check_alive().await?;
        self.with(|s| {
            s.partitions.extend(&add.partitions);
            s.partitions.sort_unstable();
            s.additions.push(add);
        });
        Ok(())
    }
}

#[derive(Debug)]
pub(super) struct FourPartitions;

impl PartitionSource for FourPartitions {
    fn partitions(&self) -> Result<Vec<i32>, SourceError> {
        Ok(vec![0, 1, 2, 3])
    }

    fn end_offsets(&self) -> Result<BTreeMap<i32, i64>, SourceError> {
        Ok(BTreeMap::new())
    }
}

/// The example job's config, checkpointing every `interval` and at most every `min_pause`.
pub(super) fn example_config(interval: &str, min_pause: &str) -> ValidatedConfig {
    let mut file =
        FloeConfig::parse(include_str!("../../../examples/video_stats.toml")).expect("config");
    file.checkpoint.interval = interval.into();
    file.checkpoint.min_pause = min_pause.into();
    file.validate().expect("valid")
}

/// What the fake committer did, and what it is told to do.
#[derive(Default)]
pub(super) struct Commits {
    pub(super) recoveries: u32,
    /// Every manifest completed, in order.
    pub(super) completed: Vec<CheckpointManifest>,
    /// The ids committed, in order.
    pub(super) committed: Vec<u64>,
    /// Fails every commit from now on (a catalog that refuses).
    pub(super) refuse: bool,
}

/// A committer whose checkpoints complete and commit in memory; recovery resumes from the last
/// one committed (or from `restored`, before any).
pub(super) struct FakeCommitter {
    epoch: u64,
    restored: Option<RestorePoint>,
    pub(super) commits: Arc<Mutex<Commits>>,
}

impl FakeCommitter {
    pub(super) fn new(epoch: u64, restored: Option<RestorePoint>) -> (Self, Arc<Mutex<Commits>>) {
        let commits = Arc::new(Mutex::new(Commits::default()));
        let committer = Self {
            epoch,
            restored,
            commits: commits.clone(),
        };
        (committer, commits)
    }

    fn with<T>(&self, f: impl FnOnce(&mut Commits) -> T) -> T {
        f(&mut self.commits.lock().expect("commits"))
    }
}

#[async_trait]
impl Committer for FakeCommitter {
    fn epoch(&self) -> u64 {
        self.epoch
    }

    fn worker_targets(&self) -> &[TableTarget] {
        &[]
    }

    fn commit_retries(&self) -> u64 {
        0
    }

    async fn recover(&self, _start_over: bool) -> Result<Recovery, CommitterError> {
        self.with(|c| {
            c.recoveries += 1;
            let last = c
                .completed
                .iter()
                .rev()
                .find(|m| c.committed.contains(&m.checkpoint_id));
            let restore = last
                .map(crate::committer::restore_point)
                .or_else(|| self.restored.clone());
            let next_id = restore.as_ref().map_or(1, |r| r.at.id + 1);
            Ok(Recovery { restore, next_id })
        })
    }

    async fn complete(
        &self,
        id: u64,
        acks: Vec<CheckpointAck>,
        watermark_ms: i64,
    ) -> Result<CheckpointManifest, CommitterError> {
        let manifest = CheckpointManifest {
            job: "fake".into(),
            checkpoint_id: id,
            epoch: self.epoch,
            job_fingerprint: None,
            workers: acks.iter().map(|a| a.worker_id.clone()).collect(),
            holders: acks
                .iter()
                .flat_map(|a| a.partitions.iter().map(|p| (*p, a.worker_id.clone())))
                .collect(),
            tables: Vec::new(),
            watermark_ms,
            watermark_is_job_watermark: true,
        };
        self.with(|c| c.completed.push(manifest.clone()));
        Ok(manifest)
    }

    async fn commit(&self, manifest: &CheckpointManifest) -> Result<CommitReport, CommitterError> {
        self.with(|c| {
            if c.refuse {
                return Err(CommitterError::Superseded {
                    job: manifest.job.clone(),
                    mine: self.epoch,
                    newer: self.epoch + 1,
                });
            }
            c.committed.push(manifest.checkpoint_id);
            Ok(CommitReport {
                checkpoint_id: manifest.checkpoint_id,
                ..CommitReport::default()
            })
        })
    }

    fn start_cleanup(&self) {}

    async fn cleanup_finished(&self) {}

    async fn maintain(&self) {}

    fn table_status(&self) -> Vec<crate::table_maintenance::TableStatus> {
        Vec::new()
    }

    async fn maintenance_finished(&self) -> Vec<crate::table_maintenance::TableStatus> {
        Vec::new()
    }
}

/// A restore point at checkpoint `id` (epoch 1) with `holders`.
pub(super) fn restore_at(id: u64, holders: &[(i32, &str)], watermark_ms: i64) -> RestorePoint {
    RestorePoint {
        at: CheckpointRef { id, epoch: 1 },
        holders: holders.iter().map(|(p, w)| (*p, (*w).to_owned())).collect(),
        legacy_workers: Vec::new(),
        watermark_ms: Some(watermark_ms),
    }
}
