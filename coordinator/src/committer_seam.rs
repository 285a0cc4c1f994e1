//! What the job controller needs of the job's single committer, as a trait: the Iceberg
//! committer implements it, and the controller's tests drive every state against a fake
//! without a catalog, a store or real time.

use async_trait::async_trait;
use floe_common::checkpoint::CheckpointManifest;
use floe_common::table_target::TableTarget;
use floe_proto::CheckpointAck;

use crate::committer::{CommitReport, CommitterError, IcebergCommitter, Recovery};
use crate::table_maintenance::TableStatus;

/// Completes checkpoints and commits them, exactly once, for one job.
#[async_trait]
pub trait Committer: Send + Sync {
    /// The epoch this process took the job with; barriers and assignments carry it.
    fn epoch(&self) -> u64;

    /// The tables workers write data files for, sent with assignments.
    fn worker_targets(&self) -> &[TableTarget];

    /// Table commits tried again after a failure so far.
    fn commit_retries(&self) -> u64;

    /// Where the job resumes: the newest complete checkpoint, committed to every table.
    async fn recover(&self, start_over: bool) -> Result<Recovery, CommitterError>;

    /// Makes checkpoint `id` complete from every worker's ack.
    async fn complete(
        &self,
        id: u64,
        acks: Vec<CheckpointAck>,
        watermark_ms: i64,
    ) -> Result<CheckpointManifest, CommitterError>;

    /// Commits a complete checkpoint to every table that does not have it yet.
    async fn commit(&self, manifest: &CheckpointManifest) -> Result<CommitReport, CommitterError>;

    /// Starts deleting checkpoints no restart needs any more, beside the next commits.
    fn start_cleanup(&self);

    /// Waits for a cleanup started before to end.
    async fn cleanup_finished(&self);

    /// Starts maintenance of the job's tables when a run is due; called between two
    /// checkpoints, with nothing planned and not yet committed.
    async fn maintain(&self);

    /// The tables' status as maintenance left it so far.
    fn table_status(&self) -> Vec<TableStatus>;

    /// Waits for a maintenance run in progress; the tables' status then.
    async fn maintenance_finished(&self) -> Vec<TableStatus>;
}

#[async_trait]
impl Committer for IcebergCommitter {
    fn epoch(&self) -> u64 {
        IcebergCommitter::epoch(self)
    }

    fn worker_targets(&self) -> &[TableTarget] {
        IcebergCommitter::worker_targets(self)
    }

    fn commit_retries(&self) -> u64 {
        IcebergCommitter::commit_retries(self)
    }

    async fn recover(&self, start_over: bool) -> Result<Recovery, CommitterError> {
        IcebergCommitter::recover(self, start_over).await
    }

    async fn complete(
        &self,
        id: u64,
        acks: Vec<CheckpointAck>,
        watermark_ms: i64,
    ) -> Result<CheckpointManifest, CommitterError> {
        IcebergCommitter::complete(self, id, acks, watermark_ms).await
    }

    async fn commit(&self, manifest: &CheckpointManifest) -> Result<CommitReport, CommitterError> {
        IcebergCommitter::commit(self, manifest).await
    }

    fn start_cleanup(&self) {
        IcebergCommitter::start_cleanup(self);
    }

    async fn cleanup_finished(&self) {
        IcebergCommitter::cleanup_finished(self).await;
    }

    async fn maintain(&self) {
        IcebergCommitter::maintain(self).await;
    }

    fn table_status(&self) -> Vec<TableStatus> {
        IcebergCommitter::table_status(self)
    }

    async fn maintenance_finished(&self) -> Vec<TableStatus> {
        IcebergCommitter::maintenance_finished(self).await
    }
}
