//! Messages ↔ their protobuf form. Row data goes through [`crate::row_ipc`].

use std::sync::Arc;

use floe_common::aggregate::{Acc, AggregateSpec};
use floe_common::checkpoint::CheckpointRef;
use floe_common::config::JobSpec;
use floe_common::watermark::LocalWatermark;
use floe_common::window::{OperatorStats, PartitionProgress};

use super::pb;
use crate::messages::{Assignment, Barrier, CheckpointAck, RestorePoint, WorkerStatus};
use crate::row_ipc;

/// Why a message could not be converted.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConvertError(pub String);

fn err(e: impl std::fmt::Display) -> ConvertError {
    ConvertError(e.to_string())
}

/// The accumulators a job's closed windows carry, in order.
pub fn acc_template(job: &JobSpec) -> Vec<Acc> {
    job.aggregates.iter().map(AggregateSpec::new_acc).collect()
}

pub fn watermark_to_pb(w: LocalWatermark) -> pb::LocalWatermark {
    use pb::local_watermark::Kind;
    pb::LocalWatermark {
        kind: Some(match w {
            LocalWatermark::Active(ms) => Kind::Active(ms),
            LocalWatermark::Idle => Kind::Idle(pb::Empty {}),
            LocalWatermark::Finished => Kind::Finished(pb::Empty {}),
        }),
    }
}

pub fn watermark_from_pb(w: Option<pb::LocalWatermark>) -> Result<LocalWatermark, ConvertError> {
    use pb::local_watermark::Kind;
    match w.and_then(|w| w.kind) {
        Some(Kind::Active(ms)) => Ok(LocalWatermark::Active(ms)),
        Some(Kind::Idle(_)) => Ok(LocalWatermark::Idle),
        Some(Kind::Finished(_)) => Ok(LocalWatermark::Finished),
        None => Err(ConvertError("no watermark".into())),
    }
}

pub fn stats_to_pb(s: OperatorStats) -> pb::OperatorStats {
    pb::OperatorStats {
        events: s.events,
        late_accepted: s.late_accepted,
        late_rejected: s.late_rejected,
        dead_letters: s.dead_letters,
    }
}

pub fn stats_from_pb(s: Option<pb::OperatorStats>) -> OperatorStats {
    let s = s.unwrap_or_default();
    OperatorStats {
        events: s.events,
        late_accepted: s.late_accepted,
        late_rejected: s.late_rejected,
        dead_letters: s.dead_letters,
    }
}

fn ref_to_pb(r: CheckpointRef) -> pb::CheckpointRef {
    pb::CheckpointRef {
        id: r.id,
        epoch: r.epoch,
    }
}

pub fn assignment_to_pb(a: &Assignment) -> Result<pb::AssignRequest, ConvertError> {
    Ok(pb::AssignRequest {
        job_json: serde_json::to_string(&*a.job).map_err(err)?,
        checkpoint_store: a.checkpoint_store.clone(),
        epoch: a.epoch,
        worker_id: a.worker_id.clone(),
        partitions: a.partitions.clone(),
        restore: a.restore.as_ref().map(|r| pb::RestorePoint {
            at: Some(ref_to_pb(r.at)),
            holders: r.holders.clone().into_iter().collect(),
            legacy_workers: r.legacy_workers.clone(),
            watermark_ms: r.watermark_ms,
        }),
        bounded: a.bounded,
    })
}

pub fn assignment_from_pb(a: pb::AssignRequest) -> Result<Assignment, ConvertError> {
    let job: JobSpec = serde_json::from_str(&a.job_json).map_err(err)?;
    let restore = match a.restore {
        Some(r) => {
            let at =
                r.at.ok_or_else(|| ConvertError("restore point without a checkpoint".into()))?;
            Some(RestorePoint {
                at: CheckpointRef {
                    id: at.id,
                    epoch: at.epoch,
                },
                holders: r.holders.into_iter().collect(),
                legacy_workers: r.legacy_workers,
                watermark_ms: r.watermark_ms,
            })
        }
        None => None,
    };
    Ok(Assignment {
        job: Arc::new(job),
        checkpoint_store: a.checkpoint_store,
        epoch: a.epoch,
        worker_id: a.worker_id,
        partitions: a.partitions,
        restore,
        bounded: a.bounded,
    })
}

pub fn barrier_to_pb(b: Barrier) -> pb::BarrierRequest {
    pb::BarrierRequest {
        checkpoint_id: b.checkpoint_id,
        epoch: b.epoch,
        watermark_ms: b.watermark_ms,
    }
}

pub fn barrier_from_pb(b: pb::BarrierRequest) -> Barrier {
    Barrier {
        checkpoint_id: b.checkpoint_id,
        epoch: b.epoch,
        watermark_ms: b.watermark_ms,
    }
}

pub fn ack_to_pb(a: &CheckpointAck, template: &[Acc]) -> Result<pb::CheckpointReply, ConvertError> {
    Ok(pb::CheckpointReply {
        worker_id: a.worker_id.clone(),
        checkpoint_id: a.checkpoint_id,
        epoch: a.epoch,
        partitions: a.partitions.clone(),
        closed_windows: row_ipc::closed_windows_to_ipc(&a.closed_windows, template).map_err(err)?,
        late_events: row_ipc::late_events_to_ipc(&a.late_events).map_err(err)?,
        dead_letters: row_ipc::dead_letters_to_ipc(&a.dead_letters).map_err(err)?,
        watermark: Some(watermark_to_pb(a.watermark)),
        stats: Some(stats_to_pb(a.stats)),
        input_finished: a.input_finished,
    })
}

pub fn ack_from_pb(
    a: pb::CheckpointReply,
    template: &[Acc],
) -> Result<CheckpointAck, ConvertError> {
    Ok(CheckpointAck {
        worker_id: a.worker_id,
        checkpoint_id: a.checkpoint_id,
        epoch: a.epoch,
        partitions: a.partitions,
        closed_windows: row_ipc::closed_windows_from_ipc(&a.closed_windows, template)
            .map_err(err)?,
        late_events: row_ipc::late_events_from_ipc(&a.late_events).map_err(err)?,
        dead_letters: row_ipc::dead_letters_from_ipc(&a.dead_letters).map_err(err)?,
        watermark: watermark_from_pb(a.watermark)?,
        stats: stats_from_pb(a.stats),
        input_finished: a.input_finished,
    })
}

pub fn status_to_pb(s: &WorkerStatus) -> pb::StatusReply {
    pb::StatusReply {
        stats: Some(stats_to_pb(s.stats)),
        watermark: Some(watermark_to_pb(s.watermark)),
        next_close_ms: s.next_close_ms,
        open_windows: s.open_windows as u64,
        open_entries: s.open_entries as u64,
        input_finished: s.input_finished,
        offsets_skipped: s.offsets_skipped,
        backpressured: s.backpressured,
        failure: s.failure.clone(),
        partitions: s
            .partitions
            .iter()
            .map(|p| pb::PartitionProgress {
                partition: p.partition,
                next_offset: p.next_offset,
                watermark_ms: p.watermark_ms,
                events: p.events,
            })
            .collect(),
    }
}

pub fn status_from_pb(s: pb::StatusReply) -> Result<WorkerStatus, ConvertError> {
    Ok(WorkerStatus {
        stats: stats_from_pb(s.stats),
        watermark: watermark_from_pb(s.watermark)?,
        next_close_ms: s.next_close_ms,
        open_windows: s.open_windows as usize,
        open_entries: s.open_entries as usize,
        input_finished: s.input_finished,
        offsets_skipped: s.offsets_skipped,
        backpressured: s.backpressured,
        failure: s.failure,
        partitions: s
            .partitions
            .into_iter()
            .map(|p| PartitionProgress {
                partition: p.partition,
                next_offset: p.next_offset,
                watermark_ms: p.watermark_ms,
                events: p.events,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use floe_common::config::example_job;

    #[test]
    fn an_assignment_survives_the_wire() {
        let a = Assignment {
            job: Arc::new(example_job()),
            checkpoint_store: "s3://bucket/checkpoints".into(),
            epoch: 4,
            worker_id: "floe-worker-1".into(),
            partitions: vec![1, 5, 9],
            restore: Some(RestorePoint {
                at: CheckpointRef { id: 12, epoch: 3 },
                holders: [(1, "a".to_owned()), (5, "b".to_owned())].into(),
                legacy_workers: vec![],
                watermark_ms: Some(60_000),
            }),
            bounded: true,
        };
        let back = assignment_from_pb(assignment_to_pb(&a).unwrap()).unwrap();
        assert_eq!(back, a);
    }
}
