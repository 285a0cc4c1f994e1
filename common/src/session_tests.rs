//! Unit tests of `session.rs`: sessions against their definition.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::*;

const GAP: i64 = 10;
const COUNT: [Acc; 1] = [Acc::Count(0)];

fn add(open: &mut OpenSessions, key: &str, t: i64) {
    open.add(key, t, &[Input::One], GAP, &COUNT);
}

/// (key, start, end, events) of closed sessions.
fn rows(closed: &Option<ClosedWindow>) -> Vec<(String, i64, i64, i64)> {
    let mut rows: Vec<_> = closed
        .iter()
        .flat_map(|w| {
            w.rows.iter().map(|(k, accs)| {
                let (key, start, end) = session_row(k).expect("a session's row");
                match accs.to_vec()[..] {
                    [Acc::Count(n)] => (key.to_owned(), start, end, n),
                    ref other => panic!("{other:?}"),
                }
            })
        })
        .collect();
    rows.sort();
    rows
}

fn close_all(open: &mut OpenSessions) -> Vec<(String, i64, i64, i64)> {
    rows(&open.close(GAP, |end| end, i64::MAX, &COUNT))
}

/// Sessions written from their definition: a key's events in time order, cut where the next
/// one is a gap or more after the previous.
fn sessions_by_definition(events: &[(String, i64)]) -> Vec<(String, i64, i64, i64)> {
    let mut by_key: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for (k, t) in events {
        by_key.entry(k).or_default().push(*t);
    }
    let mut out = Vec::new();
    for (k, mut times) in by_key {
        times.sort();
        let (mut start, mut last, mut n) = (times[0], times[0], 0);
        for t in times {
            if t - last >= GAP {
                out.push((k.to_string(), start, last + GAP, n));
                (start, n) = (t, 0);
            }
            last = t;
            n += 1;
        }
        out.push((k.to_string(), start, last + GAP, n));
    }
    out.sort();
    out
}

#[test]
fn an_event_bridging_two_sessions_merges_them() {
    let mut open = OpenSessions::default();
    add(&mut open, "a", 0);
    add(&mut open, "a", 25);
    add(&mut open, "b", 3);
    assert_eq!(open.len(), 3);
    add(&mut open, "a", 12);
    assert_eq!(
        open.len(),
        4,
        "[0, 10) ends before 12, [25, 35) starts after 22"
    );
    add(&mut open, "a", 9);
    assert_eq!(open.len(), 3, "[9, 19) bridges [0, 10) and [12, 22)");
    assert_eq!(
        close_all(&mut open),
        [
            ("a".into(), 0, 22, 3),
            ("a".into(), 25, 35, 1),
            ("b".into(), 3, 13, 1)
        ]
    );
    assert!(open.is_empty());
}

#[test]
fn a_session_closes_once_the_watermark_passes_its_end_plus_the_lateness() {
    let mut open = OpenSessions::default();
    for t in [0, 5, 30, 31] {
        add(&mut open, "a", t);
    }
    add(&mut open, "b", 20);
    assert_eq!(open.first_end(GAP), Some(15));
    let lateness = |end: i64| end + 5;
    assert!(open.close(GAP, lateness, 19, &COUNT).is_none());
    let closed = open.close(GAP, lateness, 20, &COUNT);
    assert_eq!(rows(&closed), [("a".into(), 0, 15, 2)]);
    assert_eq!(open.first_end(GAP), Some(30), "b's session ends at 30");
    let closed = open.close(GAP, lateness, 46, &COUNT);
    assert_eq!(
        rows(&closed),
        [("a".into(), 30, 41, 2), ("b".into(), 20, 30, 1)]
    );
    assert!(open.is_empty() && open.first_end(GAP).is_none());
}

#[test]
fn the_sessions_one_close_ends_are_rows_of_one_window_spanning_them() {
    let mut open = OpenSessions::default();
    add(&mut open, "a", 0);
    add(&mut open, "b", 0);
    add(&mut open, "c", 1);
    add(&mut open, "a\u{1f}b", 50);
    let closed = open.close(GAP, |end| end, 100, &COUNT).expect("closed");
    assert_eq!(
        (closed.start_ms, closed.end_ms, closed.rows.len()),
        (0, 60, 4)
    );
    assert_eq!(
        rows(&Some(closed)),
        [
            ("a".into(), 0, 10, 1),
            ("a\u{1f}b".into(), 50, 60, 1),
            ("b".into(), 0, 10, 1),
            ("c".into(), 1, 11, 1)
        ]
    );
}

#[test]
fn sessions_in_any_order_of_events_and_through_snapshots_equal_their_definition() {
    let mut rng = StdRng::seed_from_u64(11);
    for round in 0..200 {
        let keys = ["a", "b", "c"];
        let events: Vec<(String, i64)> = (0..rng.random_range(1..60))
            .map(|_| {
                let key = keys[rng.random_range(0..keys.len())];
                (key.to_string(), rng.random_range(0..300))
            })
            .collect();
        let mut shuffled = events.clone();
        shuffled.shuffle(&mut rng);
        let mut open = OpenSessions::default();
        for (i, (k, t)) in shuffled.iter().enumerate() {
            add(&mut open, k, *t);
            if i % 7 == 3 {
                let snapshot = open.snapshot();
                open = OpenSessions::restore(snapshot.clone(), 1).expect("restore");
                assert_eq!(open.snapshot(), snapshot);
            }
        }
        assert_eq!(
            close_all(&mut open),
            sessions_by_definition(&events),
            "round {round}: {shuffled:?}"
        );
    }
}

#[test]
fn a_snapshot_of_the_wrong_shape_is_an_error() {
    let mut open = OpenSessions::default();
    add(&mut open, "a", 0);
    add(&mut open, "a", 50);
    let snapshot = open.snapshot();
    assert!(OpenSessions::restore(snapshot.clone(), 2).is_err());
    let mut reversed = snapshot;
    reversed.reverse();
    assert!(OpenSessions::restore(reversed, 1).is_err());
}
