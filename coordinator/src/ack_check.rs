//! Whether a round's acks answer the barrier the coordinator sent to the workers it assigned:
//! an ack from another worker, checkpoint, epoch or partition set (a worker restarted and
//! assigned by another coordinator meanwhile) must never be merged into the checkpoint.

use std::collections::BTreeMap;

use floe_proto::{Barrier, CheckpointAck};

/// Why an ack was refused: the worker that sent it and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ack of worker {worker} refused: {reason}")]
pub struct AckRefused {
    pub worker: String,
    pub reason: String,
}

/// Checks `acks`, in the order of `assigned` (worker name → its partitions), against `barrier`.
pub fn check_acks(
    assigned: &[(String, Vec<i32>)],
    barrier: &Barrier,
    acks: &[CheckpointAck],
) -> Result<(), AckRefused> {
    let mut holders: BTreeMap<i32, &str> = BTreeMap::new();
    for ((worker, partitions), ack) in assigned.iter().zip(acks) {
        let refuse = |reason: String| AckRefused {
            worker: worker.clone(),
            reason,
        };
        if ack.worker_id != *worker {
            return Err(refuse(format!("it names worker {}", ack.worker_id)));
        }
        if ack.checkpoint_id != barrier.checkpoint_id {
            return Err(refuse(format!(
                "it answers checkpoint {}, not {}",
                ack.checkpoint_id, barrier.checkpoint_id
            )));
        }
        if ack.epoch != barrier.epoch {
            return Err(refuse(format!(
                "it answers epoch {}, not {}",
                ack.epoch, barrier.epoch
            )));
        }
        let (mut acked, mut expected) = (ack.partitions.clone(), partitions.clone());
        acked.sort_unstable();
        expected.sort_unstable();
        if acked != expected {
            return Err(refuse(format!(
                "it holds partitions {acked:?}, assigned {expected:?}"
            )));
        }
        for p in acked {
            if let Some(other) = holders.insert(p, worker) {
                return Err(refuse(format!("worker {other} holds partition {p} too")));
            }
        }
    }
    if acks.len() != assigned.len() {
        return Err(AckRefused {
            worker: "coordinator".into(),
            reason: format!("{} acks for {} workers", acks.len(), assigned.len()),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use floe_common::watermark::LocalWatermark;
    use floe_common::window::OperatorStats;

    const BARRIER: Barrier = Barrier {
        checkpoint_id: 9,
        epoch: 4,
        watermark_ms: 0,
    };

    fn ack(worker: &str, partitions: &[i32]) -> CheckpointAck {
        CheckpointAck {
            worker_id: worker.into(),
            checkpoint_id: BARRIER.checkpoint_id,
            epoch: BARRIER.epoch,
            partitions: partitions.to_vec(),
            closed_windows: Vec::new(),
            files: Vec::new(),
            watermark: LocalWatermark::Active(0),
            stats: OperatorStats::default(),
            input_finished: false,
            state_bytes: 0,
        }
    }

    fn assigned() -> Vec<(String, Vec<i32>)> {
        vec![("a".into(), vec![0, 2]), ("b".into(), vec![1, 3])]
    }

    fn refused(acks: &[CheckpointAck]) -> String {
        check_acks(&assigned(), &BARRIER, acks)
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn acks_that_answer_the_barrier_pass_in_any_partition_order() {
        let acks = [ack("a", &[2, 0]), ack("b", &[1, 3])];
        assert_eq!(check_acks(&assigned(), &BARRIER, &acks), Ok(()));
    }

    #[test]
    fn an_ack_of_another_worker_checkpoint_or_epoch_is_refused() {
        let wrong_worker = [ack("a", &[0, 2]), ack("c", &[1, 3])];
        assert!(refused(&wrong_worker).contains("names worker c"));
        let mut old = ack("b", &[1, 3]);
        old.checkpoint_id = 8;
        assert!(refused(&[ack("a", &[0, 2]), old]).contains("checkpoint 8, not 9"));
        let mut other_lineage = ack("a", &[0, 2]);
        other_lineage.epoch = 3;
        assert!(refused(&[other_lineage, ack("b", &[1, 3])]).contains("epoch 3, not 4"));
    }

    #[test]
    fn an_ack_of_other_partitions_or_colliding_holders_is_refused() {
        let fewer = [ack("a", &[0]), ack("b", &[1, 3])];
        assert!(refused(&fewer).contains("holds partitions [0], assigned [0, 2]"));
        // An assignment that gave a partition twice is caught by the holders.
        let twice = vec![("a".into(), vec![0, 1]), ("b".into(), vec![1, 3])];
        let acks = [ack("a", &[0, 1]), ack("b", &[1, 3])];
        let e = check_acks(&twice, &BARRIER, &acks).expect_err("collision");
        assert!(
            e.to_string().contains("worker a holds partition 1 too"),
            "{e}"
        );
        assert!(refused(&[ack("a", &[0, 2])]).contains("1 acks for 2 workers"));
    }
}
