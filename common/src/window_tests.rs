//! Unit tests of `window.rs`.

use super::*;
use crate::aggregate::OutputValue;
use crate::decode::Decoder;

use crate::config::example_job as job;
use crate::watermark::{WATERMARK_END, WATERMARK_START};

pub(super) fn event(ts: i64, video: &str, kind: &str, watch: i64) -> String {
    format!(
        r#"{{"header":{{"event_type":"{kind}","event_ts":{ts}}},"body":{{"video_id":"{video}","watch_ms":{watch}}}}}"#
    )
}

pub(super) fn batch(partition: i32, first_offset: i64, events: &[String]) -> DecodedBatch {
    let d = Decoder::new(&job()).unwrap();
    let mut b = DecodedBatch::default();
    for (i, e) in events.iter().enumerate() {
        d.decode_into(
            partition,
            first_offset + i as i64,
            Some(e.as_bytes()),
            &mut b,
        );
    }
    b
}

fn operator(partitions: &[i32]) -> WindowOperator {
    let j = job();
    let mut op = WindowOperator::new(j.window, &j.aggregates);
    for p in partitions {
        op.assign(*p, 0);
    }
    op
}

/// Whether this operator's own watermark has closed one of its windows.
fn closable(op: &WindowOperator) -> bool {
    op.next_close_ms().is_some_and(|at| at <= op.watermark())
}

/// Closes what this operator's own watermark at `now_ms` closes (a job of one worker).
pub(super) fn close(op: &mut WindowOperator, now_ms: u64) -> Vec<ClosedWindow> {
    let watermark = op.advance_watermark(now_ms);
    op.take_closed(watermark)
}

pub(super) fn longs(w: &ClosedWindow, key: &str) -> Vec<i64> {
    w.rows
        .get(key)
        .unwrap_or_else(|| panic!("no row for {key}"))
        .iter()
        .map(|a| match a.output() {
            OutputValue::Long(Some(v)) => v,
            other => panic!("{other:?}"),
        })
        .collect()
}

pub(super) const M: i64 = 60_000;

#[test]
fn window_closes_only_when_watermark_passes_its_end() {
    let mut op = operator(&[0]);
    op.apply(
        &batch(
            0,
            0,
            &[
                event(10_000, "a", "like", 5),
                event(59_999, "a", "share", 7),
            ],
        ),
        1,
    );
    op.apply(&batch(0, 2, &[event(M + 9_999, "a", "like", 1)]), 2);
    assert!(
        close(&mut op, 3).is_empty(),
        "watermark 59_999 < end 60_000"
    );
    op.apply(&batch(0, 3, &[event(M + 10_000, "b", "impression", 0)]), 4);
    let closed = close(&mut op, 5);
    assert_eq!(closed.len(), 1);
    assert_eq!((closed[0].start_ms, closed[0].end_ms), (0, M));
    // events, impressions, likes, shares, completions, watch_ms_sum
    assert_eq!(longs(&closed[0], "a"), [2, 0, 1, 1, 0, 12]);
    assert_eq!(op.position(0), Some(4));
    assert_eq!(op.open_state(), (1, 2));
}

#[test]
fn out_of_order_within_delay_counts_and_beyond_lateness_goes_to_late_output() {
    let mut op = operator(&[0]);
    op.apply(&batch(0, 0, &[event(M + 30_000, "a", "like", 0)]), 1); // wm = 80s
    op.apply(&batch(0, 1, &[event(M + 5_000, "a", "like", 0)]), 2); // behind wm, window open
    op.apply(&batch(0, 2, &[event(50_000, "a", "like", 0)]), 3); // window [0,60s) closed
    assert_eq!(op.stats().late_accepted, 1);
    assert_eq!(op.stats().late_rejected, 1);
    let RecordOutput {
        late,
        dead_letters: dead,
        ..
    } = op.take_record_output();
    assert!(dead.is_empty());
    assert_eq!(late.len(), 1);
    assert_eq!(
        (late[0].partition, late[0].offset, late[0].window_start_ms),
        (0, 2, 0)
    );
    assert_eq!(late[0].watermark_ms, M + 20_000);
    assert!(late[0].raw.starts_with(b"{\"header\""));
    op.finish_partition(0);
    let closed = close(&mut op, 4);
    assert_eq!(closed.len(), 1);
    assert_eq!(longs(&closed[0], "a")[0], 2);
}

#[test]
fn lateness_does_not_depend_on_batching() {
    let events = [
        event(10_000, "a", "like", 0),
        event(3 * M, "a", "like", 0),
        event(20_000, "a", "like", 0), // its window closed two records ago
        event(3 * M + 1, "b", "like", 0),
    ];
    let mut one_batch = operator(&[0]);
    one_batch.apply(&batch(0, 0, &events), 1);
    let mut one_by_one = operator(&[0]);
    for (i, e) in events.iter().enumerate() {
        one_by_one.apply(&batch(0, i as i64, std::slice::from_ref(e)), 1);
    }
    for op in [&mut one_batch, &mut one_by_one] {
        assert_eq!(op.stats().late_rejected, 1);
        let late = op.take_record_output().late;
        assert_eq!((late[0].offset, late[0].watermark_ms), (2, 3 * M - 10_000));
    }
}

/// Records of several partitions in one batch, in the order given: (partition, offset, value).
fn mixed_batch(records: &[(i32, i64, String)]) -> DecodedBatch {
    let d = Decoder::new(&job()).unwrap();
    let mut b = DecodedBatch::default();
    for (partition, offset, value) in records {
        d.decode_into(*partition, *offset, Some(value.as_bytes()), &mut b);
    }
    b
}

#[test]
fn interleaved_partitions_keep_each_partitions_order() {
    let mut op = operator(&[0, 1]);
    op.apply(&batch(1, 0, &[event(3 * M + 5, "b", "like", 0)]), 1);
    op.apply(
        &mixed_batch(&[
            (0, 0, event(10_000, "a", "like", 1)),
            (1, 1, event(3 * M + 6, "b", "like", 0)),
            (0, 1, event(3 * M, "a", "like", 2)),
            (1, 2, event(3 * M + 7, "b", "share", 0)),
            (0, 2, event(20_000, "a", "like", 4)), // partition 0 closed its window a record ago
        ]),
        2,
    );
    assert_eq!(op.stats().events, 6);
    assert_eq!(op.stats().late_rejected, 1);
    let late = op.take_record_output().late;
    assert_eq!((late[0].partition, late[0].offset), (0, 2));
    let next: Vec<_> = op
        .partition_progress()
        .iter()
        .map(|p| p.next_offset)
        .collect();
    assert_eq!(next, [Some(3), Some(3)]);
    op.finish_partition(0);
    op.finish_partition(1);
    let closed = close(&mut op, 3);
    assert_eq!(closed.len(), 2);
    assert_eq!(longs(&closed[0], "a"), [1, 0, 1, 0, 0, 1]);
    assert_eq!(longs(&closed[1], "a"), [1, 0, 1, 0, 0, 2]);
    assert_eq!(longs(&closed[1], "b"), [3, 0, 2, 1, 0, 0]);
}

#[test]
fn allowed_lateness_keeps_the_window_open_longer() {
    let j = job();
    let window = WindowSpec {
        allowed_lateness_ms: 30_000,
        ..j.window
    };
    let mut op = WindowOperator::new(window, &j.aggregates);
    op.assign(0, 0);
    op.apply(
        &batch(
            0,
            0,
            &[
                event(1_000, "a", "like", 0),
                event(M + 39_000, "a", "like", 0),
            ],
        ),
        1,
    );
    assert!(
        close(&mut op, 2).is_empty(),
        "wm 89s < end 60s + lateness 30s"
    );
    op.apply(&batch(0, 2, &[event(2_000, "a", "share", 0)]), 3);
    assert_eq!(op.stats().late_rejected, 0);
    op.apply(&batch(0, 3, &[event(M + 41_000, "a", "like", 0)]), 4);
    let closed = close(&mut op, 5);
    assert_eq!(longs(&closed[0], "a"), [2, 0, 1, 1, 0, 0]);
}

#[test]
fn same_key_on_several_partitions_gives_one_row() {
    let mut op = operator(&[0, 1]);
    op.apply(&batch(0, 0, &[event(1_000, "k", "like", 3)]), 1);
    op.apply(&batch(1, 0, &[event(2_000, "k", "share", 4)]), 1);
    assert_eq!(op.open_state(), (1, 2), "state is per partition");
    assert!(close(&mut op, 1).is_empty());
    op.finish_partition(0);
    op.finish_partition(1);
    assert_ne!(op.watermark(), WATERMARK_START);
    let closed = close(&mut op, 2);
    assert_eq!(op.watermark(), WATERMARK_END);
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].rows.len(), 1);
    assert_eq!(longs(&closed[0], "k"), [2, 0, 1, 1, 0, 7]);
}

#[test]
fn an_idle_partition_stops_holding_windows_open() {
    let mut op = operator(&[0, 1]);
    let mut end_of_1 = DecodedBatch::default();
    end_of_1.note_caught_up(1);
    op.apply(&end_of_1, 0);
    op.apply(
        &batch(
            0,
            0,
            &[event(1_000, "a", "like", 0), event(2 * M, "a", "like", 0)],
        ),
        1_000,
    );
    assert!(
        close(&mut op, 1_000).is_empty(),
        "partition 1 holds the watermark"
    );
    assert_eq!(
        close(&mut op, 30_500).len(),
        1,
        "after the 30 s idle timeout"
    );
}

#[test]
fn snapshot_round_trips_and_restores_any_set_of_partitions() {
    let mut op = operator(&[0, 1]);
    op.apply(
        &batch(
            0,
            10,
            &[event(1_000, "a", "like", 3), event(2_000, "b", "share", 1)],
        ),
        1,
    );
    op.apply(&batch(1, 20, &[event(3_000, "a", "completion", 9)]), 1);
    let snap = op.snapshot();
    let j = job();
    let restore = |parts: Vec<PartitionSnapshot>| {
        WindowOperator::restore(j.window, &j.aggregates, parts, WATERMARK_START, 5).unwrap()
    };
    let mut back = restore(snap.partitions.clone());
    assert_eq!(back.snapshot(), snap);
    assert_eq!(back.position(0), Some(12));
    assert_eq!(
        back.stats(),
        op.stats(),
        "counters move with their partitions"
    );
    let only0 = restore(snap.partitions[..1].to_vec());
    assert_eq!(only0.position(1), None);
    assert_eq!(only0.stats().events, 2);
    back.finish_partition(0);
    back.finish_partition(1);
    assert_eq!(longs(&close(&mut back, 6)[0], "a"), [2, 0, 1, 0, 1, 12]);
}

#[test]
fn a_partition_moved_between_live_operators_keeps_its_windows_and_position() {
    let j = job();
    let mut from = operator(&[0, 1]);
    from.apply(&batch(0, 10, &[event(1_000, "a", "like", 3)]), 1);
    from.apply(&batch(1, 20, &[event(2_000, "a", "share", 1)]), 1);
    let moving: Vec<PartitionSnapshot> = (from.snapshot().partitions.into_iter())
        .filter(|p| p.partition == 1)
        .collect();
    from.remove_partitions(&[1]);
    assert_eq!(from.position(1), None);
    assert_eq!(from.snapshot().partitions.len(), 1);

    let mut to = operator(&[7]);
    to.apply(&batch(7, 0, &[event(1_500, "a", "like", 2)]), 1);
    let restored =
        WindowOperator::restore(j.window, &j.aggregates, moving, WATERMARK_START, 2).unwrap();
    to.absorb(restored, 2);
    assert_eq!(to.position(1), Some(21));
    assert_eq!(to.stats().events, 2);
    // Both operators' windows of `a` together count what one operator would have.
    let mut both = Vec::new();
    for op in [&mut from, &mut to] {
        op.finish_partition(0);
        op.finish_partition(1);
        op.finish_partition(7);
        both.extend(close(op, 3));
    }
    let mut one = operator(&[0, 1, 7]);
    one.apply(&batch(0, 10, &[event(1_000, "a", "like", 3)]), 1);
    one.apply(&batch(1, 20, &[event(2_000, "a", "share", 1)]), 1);
    one.apply(&batch(7, 0, &[event(1_500, "a", "like", 2)]), 1);
    for p in [0, 1, 7] {
        one.finish_partition(p);
    }
    let alone = close(&mut one, 3);
    assert_eq!(longs(&merge_closed(both)[0], "a"), longs(&alone[0], "a"));
    assert_eq!(longs(&alone[0], "a")[0], 3);
}

#[test]
fn a_bounded_run_leaves_state_a_streaming_run_can_go_on_from() {
    let mut op = operator(&[0]);
    op.apply(
        &batch(
            0,
            0,
            &[
                event(10_000, "a", "like", 0),
                event(M + 5_000, "a", "like", 0),
            ],
        ),
        1,
    );
    op.finish_partition(0);
    assert_eq!(
        close(&mut op, 2).len(),
        2,
        "the end of the input closes every window"
    );
    let snap = op.snapshot();
    let j = job();
    // The job's watermark a checkpoint keeps after these windows (`JobWatermark`).
    let mut streaming =
        WindowOperator::restore(j.window, &j.aggregates, snap.partitions, 2 * M, 3).unwrap();
    streaming.assign(0, 3);
    streaming.apply(
        &batch(
            0,
            2,
            &[
                event(M + 50_000, "a", "like", 0),
                event(2 * M + 1, "b", "like", 0),
            ],
        ),
        4,
    );
    assert_eq!(
        streaming.stats().late_rejected,
        1,
        "its window was written already"
    );
    assert_eq!(
        streaming.open_state(),
        (1, 1),
        "the next window is open as usual"
    );
}

#[test]
fn wild_event_times_are_dead_letters_and_leave_the_watermark_alone() {
    let mut op = operator(&[0]);
    let t = 1_767_225_600_000i64;
    let mut read = batch(
        0,
        0,
        &[
            event(t, "a", "like", 0),
            event(t * 1000, "a", "like", 0), // microseconds sent as milliseconds
            event(-5, "a", "like", 0),
            event(t + 60_000, "a", "like", 0),
        ],
    );
    read.read_at_ms = t;
    op.apply(&read, 1);
    let dead = op.take_record_output().dead_letters;
    assert_eq!(dead.iter().map(|d| d.offset).collect::<Vec<_>>(), [1, 2]);
    assert!(
        dead[0].reason.contains("outside the sane range"),
        "{}",
        dead[0].reason
    );
    assert_eq!(
        dead[0].raw.as_deref().map(|r| r.starts_with(b"{")),
        Some(true)
    );
    assert_eq!(op.stats().dead_letters, 2);
    assert_eq!(op.watermark(), t + 60_000 - 10_000);
}

#[test]
fn pending_output_counts_side_records_until_taken() {
    let mut op = operator(&[0]);
    assert_eq!(op.pending_output_bytes(), 0);
    op.apply(&batch(0, 0, &[event(1_000, "a", "like", 0)]), 1);
    assert_eq!(
        op.pending_output_bytes(),
        0,
        "an open window is not output yet"
    );
    assert!(!closable(&op));
    op.apply(&batch(0, 1, &[event(2 * M, "b", "like", 0)]), 2);
    assert!(closable(&op));
    assert_eq!(
        op.pending_output_bytes(),
        0,
        "a window only this worker's watermark passed is open until the job's closes it: \
         holding the readers for it would stall a worker ahead of the others"
    );
    op.apply(&batch(0, 2, &[event(5, "c", "like", 0)]), 3);
    let with_late = op.pending_output_bytes();
    assert!(with_late > 64, "{with_late}");
    close(&mut op, 4);
    op.take_record_output();
    assert_eq!(op.pending_output_bytes(), 0);
    assert!(!closable(&op));
}

#[test]
fn merging_closed_windows_from_workers() {
    let mut a = operator(&[0]);
    let mut b = operator(&[1]);
    a.apply(&batch(0, 0, &[event(1_000, "k", "like", 1)]), 1);
    b.apply(
        &batch(
            1,
            0,
            &[event(1_500, "k", "like", 2), event(1_600, "z", "like", 2)],
        ),
        1,
    );
    a.finish_partition(0);
    b.finish_partition(1);
    let merged = merge_closed(close(&mut a, 2).into_iter().chain(close(&mut b, 2)));
    assert_eq!(merged.len(), 1);
    assert_eq!(longs(&merged[0], "k"), [2, 0, 2, 0, 0, 3]);
    assert_eq!(longs(&merged[0], "z"), [1, 0, 1, 0, 0, 2]);
}

fn bronze_job() -> JobSpec {
    crate::config::FloeConfig::parse(include_str!("../../examples/bronze.toml"))
        .and_then(|c| c.validate())
        .map(|mut c| c.jobs.remove(0))
        .unwrap()
}

/// An append job keeps every record whose header reads, whatever its body, with where it came
/// from; the rest are dead letters; positions cover both.
#[test]
fn an_append_job_keeps_every_readable_record_as_a_row() {
    let job = bronze_job();
    let decoder = Decoder::new(&job).unwrap();
    let mut op = WindowOperator::for_job(&job);
    op.assign(2, 0);
    let mut b = DecodedBatch {
        read_at_ms: 2_000_000_000_000,
        ..Default::default()
    };
    let records = [
        r#"{"header":{"event_id":"e-1","event_type":"like","event_ts":1767225600123,"schema_version":1},"body":{"video_id":"v_1","watch_ms":5}}"#,
        r#"{"header":{"event_id":"e-2","event_ts":1767225600999},"body":{"drifted":[1,{"x":"é"}]}}"#,
        r#"{"header":{"event_id":"e-3","event_ts":"yesterday"},"body":{}}"#,
        r#"{"header":{"event_id":4,"event_ts":1767225601000},"body":{}}"#,
        r#"{"header":{"event_id":"e-5","event_ts":1767225602000}}"#,
        "not json",
    ];
    for (i, r) in records.iter().enumerate() {
        decoder.decode_into(2, 40 + i as i64, Some(r.as_bytes()), &mut b);
    }
    op.apply(&b, 0);
    assert_eq!(op.position(2), Some(46));
    let out = op.take_record_output();
    let rows = out.appended.expect("append rows");
    assert_eq!(rows.offsets, [40, 41, 44]);
    assert_eq!(rows.partitions, [2, 2, 2]);
    assert_eq!(rows.ingested_at_ms, [b.read_at_ms; 3]);
    let text = |c: usize, i: usize| rows.fields[c].text(i).map(str::to_owned);
    assert_eq!(text(0, 1).as_deref(), Some("e-2"));
    assert_eq!(text(1, 1), None, "a missing header field is null");
    assert_eq!(
        text(4, 0).as_deref(),
        Some(r#"{"video_id":"v_1","watch_ms":5}"#)
    );
    assert_eq!(text(4, 1).as_deref(), Some(r#"{"drifted":[1,{"x":"é"}]}"#));
    assert_eq!(text(4, 2), None, "no body at all is a null body");
    assert_eq!(
        rows.fields[2],
        crate::append::ColumnValues::Long(vec![
            Some(1767225600123000),
            Some(1767225600999000),
            Some(1767225602000000)
        ])
    );
    let dead: Vec<(i64, &str)> = out
        .dead_letters
        .iter()
        .map(|d| (d.offset, d.reason.as_str()))
        .collect();
    assert_eq!(dead.len(), 3, "{dead:?}");
    assert_eq!(
        dead[0],
        (42, "header.event_ts is string, expected an integer")
    );
    assert_eq!(
        dead[1],
        (43, "header.event_id is integer, expected a string")
    );
    assert!(dead[2].1.starts_with("invalid JSON"), "{dead:?}");
    assert!(out.late.is_empty());
    assert_eq!(op.stats().events, 3);
    assert_eq!(op.next_close_ms(), None, "an append job has no windows");
    let empty = op.take_record_output();
    assert_eq!(empty.appended.map(|r| r.len()), Some(0));
}

/// A filtered append job writes the records its filter keeps, each with its own values: a
/// refused record holds a row of the decoded batch that is never written.
#[test]
fn an_append_job_with_a_filter_writes_the_records_it_keeps() {
    let mut job = bronze_job();
    job.filter = Some(crate::expr::Expr::parse("header.event_type = 'like'").unwrap());
    let decoder = Decoder::new(&job).unwrap();
    let mut op = WindowOperator::for_job(&job);
    op.assign(0, 0);
    let mut b = DecodedBatch {
        read_at_ms: 2_000_000_000_000,
        ..Default::default()
    };
    for (i, kind) in ["share", "like", "share", "share", "like"]
        .iter()
        .enumerate()
    {
        let r = format!(
            r#"{{"header":{{"event_id":"e-{i}","event_type":"{kind}","event_ts":{}}}}}"#,
            1767225600000i64 + i as i64
        );
        decoder.decode_into(0, i as i64, Some(r.as_bytes()), &mut b);
    }
    op.apply(&b, 0);
    let rows = op.take_record_output().appended.expect("append rows");
    assert_eq!(rows.offsets, [1, 4]);
    let ids: Vec<_> = (0..2)
        .map(|i| rows.fields[0].text(i).map(str::to_owned))
        .collect();
    assert_eq!(ids, [Some("e-1".to_owned()), Some("e-4".to_owned())]);
    assert_eq!(op.position(0), Some(5));
}

/// A deduplicating append job writes the first record of each key; the keys survive a
/// checkpoint and are forgotten once the job's watermark passes them by the bound.
#[test]
fn a_deduplicating_append_job_writes_each_keys_first_record() {
    let mut job = bronze_job();
    if let crate::config::JobKind::Append(spec) = &mut job.kind {
        spec.dedup = Some(crate::append::DedupSpec {
            key: vec![crate::path::FieldPath::parse("header.event_id").unwrap()],
            within_ms: 60_000,
        });
    }
    let decoder = Decoder::new(&job).unwrap();
    let record = |id: &str, ts: i64| {
        format!(r#"{{"header":{{"event_id":"{id}","event_ts":{ts}}},"body":{{}}}}"#)
    };
    let decode = |records: &[(i64, String)]| {
        let mut b = DecodedBatch {
            read_at_ms: 2_000_000_000_000,
            ..Default::default()
        };
        for (offset, r) in records {
            decoder.decode_into(0, *offset, Some(r.as_bytes()), &mut b);
        }
        b
    };
    let t = 1_767_225_600_000;
    let mut op = WindowOperator::for_job(&job);
    op.assign(0, 0);
    op.apply(
        &decode(&[
            (0, record("a", t)),
            (1, record("b", t + 1)),
            (2, record("a", t)),
            (3, r#"{"header":{"event_ts":1767225600000}}"#.to_owned()),
        ]),
        0,
    );
    let out = op.take_record_output();
    assert_eq!(out.appended.expect("rows").offsets, [0, 1]);
    assert_eq!(
        out.dead_letters[0].reason,
        "dedup key header.event_id is missing"
    );
    let mut op = WindowOperator::restore(job.window, &[], op.snapshot().partitions, 0, 0)
        .unwrap()
        .with_output_of(&job);
    op.apply(&decode(&[(4, record("b", t + 1)), (5, record("c", t))]), 0);
    op.take_closed(t + 60_000);
    op.apply(&decode(&[(6, record("a", t)), (7, record("b", t + 1))]), 0);
    let rows = op.take_record_output().appended.expect("rows");
    assert_eq!(
        rows.offsets,
        [5, 6],
        "a is forgotten at {}, b is not",
        t + 60_000
    );
}

#[test]
fn a_record_the_filter_refuses_moves_the_watermark_and_enters_no_window() {
    let mut j = job();
    j.filter = Some(crate::expr::Expr::parse("header.event_type != 'heartbeat'").unwrap());
    let d = Decoder::new(&j).unwrap();
    let mut b = DecodedBatch::default();
    for (i, e) in [
        event(1_000, "a", "like", 3),
        event(M + 20_000, "b", "heartbeat", 0),
    ]
    .iter()
    .enumerate()
    {
        d.decode_into(0, i as i64, Some(e.as_bytes()), &mut b);
    }
    assert_eq!(b.filtered, [false, true]);
    let mut op = WindowOperator::for_job(&j);
    op.assign(0, 0);
    op.apply(&b, 1);
    assert_eq!(
        op.watermark(),
        M + 10_000,
        "the refused record's time counts"
    );
    let closed = close(&mut op, 2);
    assert_eq!(closed.len(), 1);
    assert_eq!(longs(&closed[0], "a"), [1, 0, 1, 0, 0, 3]);
    assert_eq!(
        closed[0].rows.len(),
        1,
        "no row for the refused record's key"
    );
    assert_eq!(op.open_state(), (0, 0));
}
