//! Unit tests of session windows in `window.rs`: sessions per key through barriers, restores
//! and lateness.

use std::collections::BTreeMap;

use super::tests::{batch, close, event, longs};
use super::*;
use crate::aggregate::{Acc, AggregateSpec};
use crate::config::{example_job as job, WindowKind};
use crate::keyed_accs::KeyedAccs;
use crate::session::session_row;

const S: i64 = 1_000;
const GAP: i64 = 10 * S;

/// The example job's aggregates over sessions of a 10 s gap, 10 s behind the events (its
/// watermark delay), allowing `lateness_ms`.
fn sessions(partitions: &[i32], lateness_ms: i64) -> WindowOperator {
    let j = job();
    let window = WindowSpec {
        kind: WindowKind::Session { gap_ms: GAP },
        size_ms: GAP,
        allowed_lateness_ms: lateness_ms,
        ..j.window
    };
    let mut op = WindowOperator::new(window, &j.aggregates);
    for p in partitions {
        op.assign(*p, 0);
    }
    op
}

/// The sessions [`close`] closes, a window each (as they are written), in order of their
/// bounds.
fn close_sessions(op: &mut WindowOperator, now_ms: u64) -> Vec<ClosedWindow> {
    let template: Vec<Acc> = job()
        .aggregates
        .iter()
        .map(AggregateSpec::new_acc)
        .collect();
    let mut sessions: BTreeMap<(i64, i64), KeyedAccs> = BTreeMap::new();
    for w in close(op, now_ms) {
        for (row_key, accs) in w.rows.iter() {
            let (key, start, end) = session_row(row_key).expect("a session's row");
            sessions
                .entry((start, end))
                .or_insert_with(|| KeyedAccs::new(&template))
                .merge_row(key, accs.iter());
        }
    }
    sessions
        .into_iter()
        .map(|((start_ms, end_ms), rows)| ClosedWindow {
            start_ms,
            end_ms,
            rows,
        })
        .collect()
}

fn bounds(closed: &[ClosedWindow]) -> Vec<(i64, i64, usize)> {
    closed
        .iter()
        .map(|w| (w.start_ms, w.end_ms, w.rows.len()))
        .collect()
}

#[test]
fn a_keys_session_ends_a_gap_after_its_last_event_and_closes_with_the_watermark() {
    let mut op = sessions(&[0, 1], 0);
    op.apply(
        &batch(
            0,
            0,
            &[
                event(100 * S, "a", "like", 1),
                event(105 * S, "a", "share", 2),
                event(120 * S, "a", "like", 4),
                event(101 * S, "b", "like", 8),
            ],
        ),
        1,
    );
    op.apply(&batch(1, 0, &[event(140 * S, "c", "like", 1)]), 1);
    assert_eq!(op.open_state(), (4, 4));
    assert_eq!(op.next_close_ms(), Some(111 * S), "b's session ends first");
    // The watermark is 110 s (partition 0's 120 s less its delay).
    assert!(close_sessions(&mut op, 2).is_empty());
    op.apply(&batch(0, 4, &[event(128 * S, "a", "like", 16)]), 3);
    // 118 s: a's [100 s, 115 s) and b's [101 s, 111 s) close; a's [120 s, 138 s) is open.
    let first = close_sessions(&mut op, 4);
    assert_eq!(
        bounds(&first),
        [(100 * S, 115 * S, 1), (101 * S, 111 * S, 1)]
    );
    assert_eq!(longs(&first[0], "a"), [2, 0, 1, 1, 0, 3]);
    assert_eq!(longs(&first[1], "b"), [1, 0, 1, 0, 0, 8]);
    let snapshot = op.snapshot();
    let mut op = WindowOperator::restore(
        op.window,
        &job().aggregates,
        snapshot.partitions,
        118 * S,
        5,
    )
    .expect("restore");
    op.finish_partition(0);
    op.finish_partition(1);
    let rest = close_sessions(&mut op, 6);
    assert_eq!(
        bounds(&rest),
        [(120 * S, 138 * S, 1), (140 * S, 150 * S, 1)]
    );
    assert_eq!(longs(&rest[0], "a"), [2, 0, 2, 0, 0, 20]);
    assert_eq!(op.open_state(), (0, 0));
}

#[test]
fn a_late_event_within_the_lateness_merges_two_open_sessions() {
    let mut op = sessions(&[0], 40 * S);
    op.apply(
        &batch(
            0,
            0,
            &[
                event(100 * S, "a", "like", 1),
                event(115 * S, "a", "like", 1),
                event(150 * S, "b", "like", 1),
            ],
        ),
        1,
    );
    // The watermark is 140 s: a's sessions [100 s, 110 s) and [115 s, 125 s) are behind it but
    // within the lateness; 108 s bridges them.
    assert!(close_sessions(&mut op, 2).is_empty());
    op.apply(&batch(0, 3, &[event(108 * S, "a", "share", 1)]), 3);
    assert_eq!(op.stats().late_accepted, 1);
    op.finish_partition(0);
    let closed = close_sessions(&mut op, 4);
    assert_eq!(bounds(&closed)[0], (100 * S, 125 * S, 1));
    assert_eq!(longs(&closed[0], "a"), [3, 0, 2, 1, 0, 3]);
}

#[test]
fn an_event_an_emitted_session_could_hold_is_late() {
    let mut op = sessions(&[0], 5 * S);
    op.apply(
        &batch(
            0,
            0,
            &[
                event(100 * S, "a", "like", 1),
                event(130 * S, "b", "like", 1),
            ],
        ),
        1,
    );
    // The watermark is 120 s: a's [100 s, 110 s) closes at 115 s.
    assert_eq!(bounds(&close_sessions(&mut op, 2)), [(100 * S, 110 * S, 1)]);
    op.apply(
        &batch(
            0,
            2,
            &[
                // Its own session would close at 119 s: late.
                event(104 * S, "c", "like", 1),
                // Had it come in time, a's emitted session would hold it: late, though its
                // own session [108 s, 118 s) would still be open.
                event(108 * S, "a", "like", 1),
                // Behind the job's watermark by no more than the lateness: counted.
                event(116 * S, "a", "like", 1),
            ],
        ),
        3,
    );
    let late = op.take_record_output().late;
    let late: Vec<(i64, i64)> = late
        .iter()
        .map(|e| (e.event_time_ms, e.window_start_ms))
        .collect();
    assert_eq!(late, [(104 * S, 104 * S), (108 * S, 108 * S)]);
    assert_eq!(op.stats().late_accepted, 1);
}
