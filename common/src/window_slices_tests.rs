//! Unit tests of hopping and cumulating windows in `window.rs`: windows made of slices.

use std::collections::BTreeMap;

use super::tests::{batch, close, event, longs, M};
use super::*;
use crate::config::{example_job as job, windows_by_definition, WindowKind};
use crate::watermark::WATERMARK_END;

const S: i64 = 1_000;

fn operator_of(kind: WindowKind, size_ms: i64, partitions: &[i32]) -> WindowOperator {
    let j = job();
    let window = WindowSpec {
        kind,
        size_ms,
        ..j.window
    };
    let mut op = WindowOperator::new(window, &j.aggregates);
    for p in partitions {
        op.assign(*p, 0);
    }
    op
}

fn hopping(partitions: &[i32]) -> WindowOperator {
    operator_of(WindowKind::Hopping { slide_ms: 20 * S }, M, partitions)
}

fn windows(closed: &[ClosedWindow]) -> Vec<(i64, i64)> {
    closed.iter().map(|w| (w.start_ms, w.end_ms)).collect()
}

#[test]
fn a_hopping_window_is_the_merge_of_its_slices_and_closes_at_its_own_end() {
    let mut op = hopping(&[0]);
    op.apply(
        &batch(
            0,
            0,
            &[event(5 * S, "a", "like", 1), event(45 * S, "a", "share", 2)],
        ),
        1,
    );
    // The watermark is 35 s: the window ending at 20 s (holding 5 s) closes.
    let first = close(&mut op, 2);
    assert_eq!(windows(&first), [(-40 * S, 20 * S)]);
    assert_eq!(longs(&first[0], "a"), [1, 0, 1, 0, 0, 1]);
    assert_eq!(op.next_close_ms(), Some(40 * S), "(-20 s, 40 s) is next");
    op.finish_partition(0);
    let rest = close(&mut op, 3);
    assert_eq!(longs(&rest[0], "a"), [1, 0, 1, 0, 0, 1]);
    let rest = &rest[1..];
    assert_eq!(
        windows(rest),
        [(0, M), (20 * S, 80 * S), (40 * S, 100 * S)],
        "(0, 60 s) holds both events; the later two only the one at 45 s"
    );
    assert_eq!(longs(&rest[0], "a"), [2, 0, 1, 1, 0, 3]);
    assert_eq!(longs(&rest[1], "a"), [1, 0, 0, 1, 0, 2]);
    assert_eq!(longs(&rest[2], "a"), [1, 0, 0, 1, 0, 2]);
    assert_eq!(op.open_state(), (0, 0), "every slice is dropped");
    assert_eq!(op.next_close_ms(), None);
}

#[test]
fn a_cumulating_window_grows_by_its_step_from_a_start_every_size() {
    let mut op = operator_of(WindowKind::Cumulating { step_ms: 20 * S }, M, &[0]);
    op.apply(
        &batch(
            0,
            0,
            &[
                event(5 * S, "a", "like", 1),
                event(45 * S, "a", "share", 2),
                event(61 * S, "a", "like", 4),
            ],
        ),
        1,
    );
    op.finish_partition(0);
    let closed = close(&mut op, 2);
    assert_eq!(
        windows(&closed),
        [
            (0, 20 * S),
            (0, 40 * S),
            (0, M),
            (M, 80 * S),
            (M, 100 * S),
            (M, 2 * M)
        ]
    );
    let events: Vec<i64> = closed.iter().map(|w| longs(w, "a")[0]).collect();
    assert_eq!(events, [1, 1, 2, 1, 1, 1]);
}

#[test]
fn an_event_counts_in_the_windows_still_open_and_is_late_when_none_is() {
    let mut op = hopping(&[0]);
    op.apply(&batch(0, 0, &[event(100 * S, "a", "like", 1)]), 1);
    op.apply(&batch(0, 1, &[event(200 * S, "b", "like", 1)]), 2);
    // Watermark 190 s: every window holding 100 s has closed, (140 s, 200 s) has not.
    let first = close(&mut op, 3);
    assert_eq!(
        windows(&first),
        [(60 * S, 120 * S), (80 * S, 140 * S), (100 * S, 160 * S)]
    );
    op.apply(
        &batch(
            0,
            2,
            &[
                event(155 * S, "a", "share", 1),
                event(119 * S, "a", "share", 1),
            ],
        ),
        4,
    );
    let late = op.take_record_output().late;
    assert_eq!(late.len(), 1, "119 s has no open window left");
    assert_eq!(late[0].event_time_ms, 119 * S);
    assert_eq!(late[0].window_start_ms, 100 * S, "its slice's last window");
    assert_eq!(op.stats().late_accepted, 1, "155 s is behind the watermark");
    op.finish_partition(0);
    let rest = close(&mut op, 5);
    assert_eq!(windows(&rest)[0], (140 * S, 200 * S));
    assert_eq!(longs(&rest[0], "a"), [1, 0, 0, 1, 0, 1], "only 155 s");
    assert!(
        rest.iter()
            .all(|w| w.start_ms >= 140 * S && w.rows.get("a").is_none() == (w.start_ms > 140 * S)),
        "155 s is in (140 s, 200 s) only: the others holding it had closed"
    );
}

/// A generator of pseudo-random numbers for the property test: no crate needed.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// Every window of the kind holding each event, from the kind's definition: per window, per
/// key, the example job's aggregates (events, impressions, likes, shares, completions,
/// watch_ms).
fn expected_windows(
    window: &WindowSpec,
    events: &[Event],
) -> BTreeMap<(i64, i64), BTreeMap<String, [i64; 6]>> {
    let mut expected: BTreeMap<(i64, i64), BTreeMap<String, [i64; 6]>> = BTreeMap::new();
    for (ts, key, kind, watch) in events {
        for w in windows_by_definition(window, *ts) {
            let row = expected
                .entry(w)
                .or_default()
                .entry(key.clone())
                .or_default();
            row[0] += 1;
            let i = ["impression", "like", "share", "completion"]
                .iter()
                .position(|k| k == kind)
                .map_or(0, |i| i + 1);
            row[i] += 1;
            row[5] += watch;
        }
    }
    expected
}

type Event = (i64, String, &'static str, i64);

/// `e` read from partition `p` at its next offset, into `op` and `events`.
fn read(
    op: &mut WindowOperator,
    p: i32,
    offsets: &mut [i64; 3],
    events: &mut Vec<Event>,
    e: Event,
    now_ms: u64,
) {
    let (ts, key, kind, watch) = e;
    let offset = &mut offsets[p as usize];
    op.apply(&batch(p, *offset, &[event(ts, &key, kind, watch)]), now_ms);
    *offset += 1;
    events.push((ts, key, kind, watch));
}

/// Random events on three partitions, out of order within the watermark delay, through
/// barriers at random times and checkpoints restored at random (a crash): each window is
/// emitted once, equal to its definition.
#[test]
fn hopping_and_cumulating_windows_through_barriers_and_restores_equal_their_definition() {
    let j = job();
    for (seed, kind) in [
        (1, WindowKind::Hopping { slide_ms: 20 * S }),
        (2, WindowKind::Hopping { slide_ms: 15 * S }),
        (3, WindowKind::Cumulating { step_ms: 20 * S }),
        (4, WindowKind::Hopping { slide_ms: M }),
    ] {
        let mut rng = Lcg(seed);
        let mut op = operator_of(kind, M, &[0, 1, 2]);
        let window = op.window;
        let mut events = Vec::new();
        let mut emitted: Vec<ClosedWindow> = Vec::new();
        let mut job_watermark = i64::MIN;
        let mut saved: Option<(OperatorSnapshot, i64, usize)> = None;
        let mut offsets = [0i64; 3];
        let mut clock = 0;
        for step in 0..400 {
            let p = rng.below(3) as i32;
            let ts = step * 2 * S + rng.below(9 * S as u64) as i64;
            let key = format!("k{}", rng.below(4));
            let kind_of = ["impression", "like", "share", "completion"][rng.below(4) as usize];
            let watch = rng.below(100) as i64;
            clock += 1;
            read(
                &mut op,
                p,
                &mut offsets,
                &mut events,
                (ts, key, kind_of, watch),
                clock,
            );
            if rng.below(10) == 0 {
                job_watermark = job_watermark.max(op.advance_watermark(clock));
                emitted.extend(op.take_closed(job_watermark));
                if rng.below(3) == 0 {
                    saved = Some((op.snapshot(), job_watermark, events.len()));
                }
            }
            if rng.below(60) == 0 {
                if let Some((snap, at, seen)) = saved.clone() {
                    // A crash: back to the checkpoint, the events after it read again.
                    op = WindowOperator::restore(window, &j.aggregates, snap.partitions, at, clock)
                        .expect("restores");
                    emitted.retain(|w| window.window_closes_at(w.end_ms) <= at);
                    job_watermark = at;
                    let replay = events.split_off(seen);
                    for e in replay {
                        clock += 1;
                        read(
                            &mut op,
                            rng.below(3) as i32,
                            &mut offsets,
                            &mut events,
                            e,
                            clock,
                        );
                    }
                }
            }
        }
        emitted.extend(op.take_closed(WATERMARK_END));
        assert_eq!(
            op.stats().late_rejected,
            0,
            "{kind:?}: disorder is within the delay"
        );
        let mut got: BTreeMap<(i64, i64), BTreeMap<String, [i64; 6]>> = BTreeMap::new();
        for w in &emitted {
            let rows = got.entry((w.start_ms, w.end_ms)).or_default();
            for key in ["k0", "k1", "k2", "k3"] {
                if w.rows.get(key).is_some() {
                    let values: [i64; 6] = longs(w, key).try_into().expect("six aggregates");
                    assert!(
                        rows.insert(key.into(), values).is_none(),
                        "{kind:?}: ({}, {}) emitted twice",
                        w.start_ms,
                        w.end_ms
                    );
                }
            }
        }
        assert_eq!(got, expected_windows(&window, &events), "{kind:?}");
    }
}

/// A partition restored from a checkpoint older than the barriers its new worker has seen (its
/// old worker died after the checkpoint) has windows that closed since: they are emitted at the
/// new worker's next barrier, never dropped as already emitted.
#[test]
fn a_partition_absorbed_from_an_older_checkpoint_emits_the_windows_closed_since() {
    let j = job();
    for kind in [
        WindowKind::Tumbling,
        WindowKind::Hopping { slide_ms: 20 * S },
    ] {
        let mut to = operator_of(kind, M, &[7]);
        assert!(to.take_closed(2 * M).is_empty());
        let mut from = operator_of(kind, M, &[1]);
        from.apply(&batch(1, 0, &[event(M + 10 * S, "a", "like", 1)]), 1);
        let restored =
            WindowOperator::restore(from.window, &j.aggregates, from.snapshot().partitions, M, 2)
                .expect("restores");
        to.absorb(restored, 2);
        let closed = to.take_closed(3 * M);
        assert!(
            closed
                .iter()
                .any(|w| w.end_ms == 2 * M && w.rows.get("a").is_some()),
            "{kind:?}: the window ending at 2 min, closed since the checkpoint: {:?}",
            windows(&closed)
        );
    }
}
