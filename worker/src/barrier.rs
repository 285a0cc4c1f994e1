//! The barrier step, as plain functions: what a worker takes from its window state at checkpoint
//! barrier N ([`take_barrier`]), and how that output becomes durable ([`upload`]). The window
//! actor and the uploader call them in turn (so aggregation goes on while the output uploads),
//! and so does `floe bench`.

use floe_common::checkpoint::{encode_state, CheckpointRef};
use floe_common::window::{RecordOutput, WindowOperator};
use floe_proto::{Barrier, CheckpointAck};
use floe_storage::CheckpointStore;

use crate::worker_tables::WorkerTables;

/// What barrier N took from the window state: the ack to send once the rest is durable (its
/// closed windows filled in, its files not yet), the rows of the tables the worker writes, and
/// the encoded state with its positions.
pub struct BarrierOutput {
    pub ack: CheckpointAck,
    pub rows: RecordOutput,
    pub state: Vec<u8>,
}

/// Who is taking the barrier: the worker's id, the partitions it holds, whether all of them are
/// read to their end (bounded input), and the time now (for the idle rule of its watermark).
pub struct BarrierTaker<'a> {
    pub worker_id: &'a str,
    pub partitions: &'a [i32],
    pub input_finished: bool,
    pub now_ms: u64,
}

/// Closes the windows the barrier's job watermark closes, takes the record output waiting for
/// a checkpoint, and encodes the state left (open windows and positions).
pub fn take_barrier(
    operator: &mut WindowOperator,
    barrier: &Barrier,
    taker: &BarrierTaker<'_>,
) -> Result<BarrierOutput, String> {
    let closed_windows = operator.take_closed(barrier.watermark_ms);
    let rows = operator.take_record_output();
    let state = encode_state(&operator.snapshot()).map_err(|e| e.to_string())?;
    let ack = CheckpointAck {
        worker_id: taker.worker_id.to_owned(),
        checkpoint_id: barrier.checkpoint_id,
        epoch: barrier.epoch,
        partitions: taker.partitions.to_vec(),
        closed_windows,
        files: Vec::new(),
        watermark: operator.local_watermark(taker.now_ms),
        stats: operator.stats(),
        input_finished: taker.input_finished,
        state_bytes: state.len() as u64,
    };
    Ok(BarrierOutput { ack, rows, state })
}

/// Writes the output's rows as data files of the worker's tables and its state to the
/// checkpoint store; returns the ack naming the files.
pub async fn upload(
    output: BarrierOutput,
    tables: &WorkerTables,
    store: &CheckpointStore,
) -> Result<CheckpointAck, String> {
    let BarrierOutput {
        mut ack,
        rows,
        state,
    } = output;
    let id = ack.checkpoint_id;
    ack.files = tables
        .write(&rows)
        .await
        .map_err(|e| format!("data files of checkpoint {id}: {e}"))?;
    let at = CheckpointRef {
        id,
        epoch: ack.epoch,
    };
    store
        .put_worker_state(at, &ack.worker_id, state)
        .await
        .map_err(|e| e.to_string())?;
    Ok(ack)
}

#[cfg(test)]
mod tests {
    use super::*;
    use floe_common::checkpoint::decode_state;
    use floe_common::config::example_job;
    use floe_common::decode::{DecodedBatch, Decoder};

    /// 2026-01-01T00:00:00Z.
    const T0: i64 = 1_767_225_600_000;

    fn event(video: &str, ts: i64) -> String {
        format!(
            r#"{{"header":{{"event_id":"e{ts}","event_type":"view","event_ts":{ts},"source":"t"}},"body":{{"video_id":"{video}","user_id":"u","watch_ms":100}}}}"#
        )
    }

    /// The example job's operator after `events` on partition 0, offsets from 0.
    fn operator_with(events: &[String]) -> WindowOperator {
        let job = example_job();
        let decoder = Decoder::new(&job).expect("decoder");
        let mut op = WindowOperator::for_job(&job);
        op.assign(0, 0);
        let mut batch = DecodedBatch {
            read_at_ms: floe_common::clock::wall_clock_ms(),
            ..DecodedBatch::default()
        };
        for (offset, e) in events.iter().enumerate() {
            decoder.decode_into(0, offset as i64, Some(e.as_bytes()), &mut batch);
        }
        op.apply(&batch, 0);
        op
    }

    fn taker(partitions: &[i32]) -> BarrierTaker<'_> {
        BarrierTaker {
            worker_id: "w1",
            partitions,
            input_finished: false,
            now_ms: 0,
        }
    }

    #[test]
    fn a_barrier_closes_what_its_watermark_closes_and_keeps_the_rest_as_state() {
        let mut op = operator_with(&[
            event("a", T0 + 1_000),
            event("b", T0 + 2_000),
            event("a", T0 + 61_000),
        ]);
        let barrier = Barrier {
            checkpoint_id: 7,
            epoch: 2,
            watermark_ms: T0 + 60_000,
        };
        let out = take_barrier(&mut op, &barrier, &taker(&[0])).expect("barrier");
        assert_eq!(
            (
                out.ack.worker_id.as_str(),
                out.ack.checkpoint_id,
                out.ack.epoch
            ),
            ("w1", 7, 2)
        );
        assert_eq!(out.ack.partitions, [0]);
        assert!(out.ack.files.is_empty(), "files come with the upload");
        let closed: Vec<(i64, usize)> = out
            .ack
            .closed_windows
            .iter()
            .map(|w| (w.start_ms, w.rows.len()))
            .collect();
        assert_eq!(closed, [(T0, 2)], "the first minute, with keys a and b");
        assert_eq!(out.ack.state_bytes, out.state.len() as u64);
        let state = decode_state(&out.state).expect("state decodes");
        assert_eq!(
            state.snapshot.partitions[0].next_offset,
            Some(3),
            "the state holds the position after the last event read"
        );
        let again = take_barrier(
            &mut op,
            &Barrier {
                checkpoint_id: 8,
                ..barrier
            },
            &taker(&[0]),
        )
        .expect("barrier");
        assert!(again.ack.closed_windows.is_empty(), "a window closes once");
    }

    #[test]
    fn a_lower_watermark_closes_nothing() {
        let mut op = operator_with(&[event("a", T0 + 1_000)]);
        let barrier = Barrier {
            checkpoint_id: 1,
            epoch: 0,
            watermark_ms: T0,
        };
        let out = take_barrier(&mut op, &barrier, &taker(&[0])).expect("barrier");
        assert!(out.ack.closed_windows.is_empty());
        assert!(out.rows.late.is_empty() && out.rows.dead_letters.is_empty());
    }
}
