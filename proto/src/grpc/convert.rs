//! Messages ↔ their protobuf form. Closed windows go through [`crate::row_ipc`].

use std::sync::Arc;

use floe_common::aggregate::{Acc, AggregateSpec};
use floe_common::checkpoint::{CheckpointRef, TableFiles};
use floe_common::config::JobSpec;
use floe_common::table_target::TableTarget;
use floe_common::watermark::{LocalWatermark, WATERMARK_START};
use floe_common::window::{OperatorStats, PartitionProgress};

use super::pb;
use crate::messages::{
    AddPartitions, Assignment, Barrier, CheckpointAck, RestorePoint, WorkerStatus,
};
use crate::row_ipc;

/// The version of these messages. Coordinators and workers of different versions refuse each
/// other instead of dropping what they do not know (say, an older worker's late events).
pub const PROTOCOL: u32 = 2;

fn same_protocol(peer: u32, who: &str) -> Result<(), ConvertError> {
    if peer == PROTOCOL {
        return Ok(());
    }
    Err(ConvertError(format!(
        "the {who} speaks Floe protocol {peer}, this process {PROTOCOL}: run coordinators and \
         workers of one release (stop the cluster to upgrade across this change)"
    )))
}

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
            LocalWatermark::Idle(ms) => Kind::IdleAt(ms),
            LocalWatermark::Finished => Kind::Finished(pb::Empty {}),
        }),
    }
}

pub fn watermark_from_pb(w: Option<pb::LocalWatermark>) -> Result<LocalWatermark, ConvertError> {
    use pb::local_watermark::Kind;
    match w.and_then(|w| w.kind) {
        Some(Kind::Active(ms)) => Ok(LocalWatermark::Active(ms)),
        Some(Kind::IdleAt(ms)) => Ok(LocalWatermark::Idle(ms)),
        // A worker of an older build: idle, with no watermark of its own.
        Some(Kind::Idle(_)) => Ok(LocalWatermark::Idle(WATERMARK_START)),
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

fn restore_to_pb(r: &RestorePoint) -> pb::RestorePoint {
    pb::RestorePoint {
        at: Some(ref_to_pb(r.at)),
        holders: r.holders.clone().into_iter().collect(),
        legacy_workers: r.legacy_workers.clone(),
        watermark_ms: r.watermark_ms,
    }
}

fn restore_from_pb(r: pb::RestorePoint) -> Result<RestorePoint, ConvertError> {
    let at =
        r.at.ok_or_else(|| ConvertError("restore point without a checkpoint".into()))?;
    Ok(RestorePoint {
        at: CheckpointRef {
            id: at.id,
            epoch: at.epoch,
        },
        holders: r.holders.into_iter().collect(),
        legacy_workers: r.legacy_workers,
        watermark_ms: r.watermark_ms,
    })
}

pub fn add_partitions_to_pb(a: &AddPartitions) -> pb::AddPartitionsRequest {
    pb::AddPartitionsRequest {
        epoch: a.epoch,
        partitions: a.partitions.clone(),
        restore: a.restore.as_ref().map(restore_to_pb),
    }
}

pub fn add_partitions_from_pb(a: pb::AddPartitionsRequest) -> Result<AddPartitions, ConvertError> {
    Ok(AddPartitions {
        epoch: a.epoch,
        partitions: a.partitions,
        restore: a.restore.map(restore_from_pb).transpose()?,
    })
}

pub fn assignment_to_pb(a: &Assignment) -> Result<pb::AssignRequest, ConvertError> {
    Ok(pb::AssignRequest {
        job_json: serde_json::to_string(&*a.job).map_err(err)?,
        checkpoint_store: a.checkpoint_store.clone(),
        epoch: a.epoch,
        worker_id: a.worker_id.clone(),
        partitions: a.partitions.clone(),
        restore: a.restore.as_ref().map(restore_to_pb),
        bounded: a.bounded,
        protocol: PROTOCOL,
        // Credentials stay in the coordinator; the worker has its own.
        tables: a
            .tables
            .iter()
            .map(TableTarget::for_the_wire)
            .map(|t| pb::TableTarget {
                table: t.table,
                metadata_json: t.metadata_json,
                file_io: t.file_io.into_iter().collect(),
            })
            .collect(),
    })
}

pub fn assignment_from_pb(a: pb::AssignRequest) -> Result<Assignment, ConvertError> {
    same_protocol(a.protocol, "coordinator")?;
    let job: JobSpec = serde_json::from_str(&a.job_json).map_err(err)?;
    let restore = a.restore.map(restore_from_pb).transpose()?;
    Ok(Assignment {
        job: Arc::new(job),
        checkpoint_store: a.checkpoint_store,
        epoch: a.epoch,
        worker_id: a.worker_id,
        partitions: a.partitions,
        restore,
        bounded: a.bounded,
        tables: a
            .tables
            .into_iter()
            .map(|t| TableTarget {
                table: t.table,
                metadata_json: t.metadata_json,
                file_io: t.file_io.into_iter().collect(),
            })
            .collect(),
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
        watermark: Some(watermark_to_pb(a.watermark)),
        stats: Some(stats_to_pb(a.stats)),
        input_finished: a.input_finished,
        state_bytes: a.state_bytes,
        protocol: PROTOCOL,
        files: a
            .files
            .iter()
            .map(|f| pb::TableFiles {
                table: f.table.clone(),
                data_files: f.data_files.clone(),
                rows: f.rows,
            })
            .collect(),
    })
}

pub fn ack_from_pb(
    a: pb::CheckpointReply,
    template: &[Acc],
) -> Result<CheckpointAck, ConvertError> {
    same_protocol(a.protocol, "worker")?;
    Ok(CheckpointAck {
        worker_id: a.worker_id,
        checkpoint_id: a.checkpoint_id,
        epoch: a.epoch,
        partitions: a.partitions,
        closed_windows: row_ipc::closed_windows_from_ipc(&a.closed_windows, template)
            .map_err(err)?,
        watermark: watermark_from_pb(a.watermark)?,
        stats: stats_from_pb(a.stats),
        input_finished: a.input_finished,
        state_bytes: a.state_bytes,
        files: a
            .files
            .into_iter()
            .map(|f| TableFiles {
                table: f.table,
                data_files: f.data_files,
                rows: f.rows,
                // Workers only add files; rewrites are the committer's.
                removed: Vec::new(),
                deletes_in: Vec::new(),
            })
            .collect(),
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
        bytes_read: s.bytes_read,
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
        bytes_read: s.bytes_read,
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
            tables: vec![TableTarget {
                table: "gold.late".into(),
                metadata_json: "{}".into(),
                file_io: [
                    ("s3.endpoint".to_owned(), "http://s3:8333".to_owned()),
                    ("s3.secret-access-key".to_owned(), "hush".to_owned()),
                ]
                .into(),
            }],
        };
        let back = assignment_from_pb(assignment_to_pb(&a).unwrap()).unwrap();
        let sent = Assignment {
            tables: vec![a.tables[0].for_the_wire()],
            ..a.clone()
        };
        assert_eq!(sent.tables[0].file_io.len(), 1, "the secret stays home");
        assert_eq!(back, sent);
    }

    #[test]
    fn an_added_partitions_request_survives_the_wire() {
        let a = AddPartitions {
            epoch: 7,
            partitions: vec![3, 11],
            restore: Some(RestorePoint {
                at: CheckpointRef { id: 40, epoch: 7 },
                holders: [(3, "w0".to_owned()), (11, "w2".to_owned())].into(),
                legacy_workers: vec![],
                watermark_ms: Some(120_000),
            }),
        };
        let back = add_partitions_from_pb(add_partitions_to_pb(&a)).unwrap();
        assert_eq!(back, a);
        let none = AddPartitions { restore: None, ..a };
        assert_eq!(
            add_partitions_from_pb(add_partitions_to_pb(&none)).unwrap(),
            none
        );
    }

    #[test]
    fn a_watermark_survives_the_wire_and_an_older_idle_worker_is_read() {
        for w in [
            LocalWatermark::Active(60_000),
            LocalWatermark::Idle(90_000),
            LocalWatermark::Finished,
        ] {
            assert_eq!(watermark_from_pb(Some(watermark_to_pb(w))).unwrap(), w);
        }
        let older = pb::LocalWatermark {
            kind: Some(pb::local_watermark::Kind::Idle(pb::Empty {})),
        };
        assert_eq!(
            watermark_from_pb(Some(older)).unwrap(),
            LocalWatermark::Idle(WATERMARK_START)
        );
    }

    #[test]
    fn a_peer_of_another_protocol_is_refused() {
        let mut a = assignment_to_pb(&Assignment {
            job: Arc::new(example_job()),
            checkpoint_store: "store".into(),
            epoch: 1,
            worker_id: "w".into(),
            partitions: vec![0],
            restore: None,
            bounded: false,
            tables: Vec::new(),
        })
        .unwrap();
        a.protocol = 0;
        let err = assignment_from_pb(a).unwrap_err();
        assert!(err.0.contains("protocol 0"), "{err}");
        let reply = pb::CheckpointReply {
            protocol: 0,
            ..Default::default()
        };
        assert!(ack_from_pb(reply, &[]).is_err());
    }
}
