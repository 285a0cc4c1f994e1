//! Tumbling event-time windows: where events are aggregated and where a window closes.
//!
//! State is kept per source partition (so a partition can move to another worker with its
//! state) as `window start → key → accumulators`. A window closes when the global watermark
//! reaches `end + allowed_lateness`; its partial aggregates from every partition are merged into
//! exactly one row per key. An event whose window has reached that point is late beyond the
//! allowed lateness and goes to the late-events output instead; an event behind the watermark
//! whose window is still open is counted normally (and in `late_accepted`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::aggregate::{Acc, AggregateSpec};
use crate::config::WindowSpec;
use crate::decode::DecodedBatch;
use crate::records::{DeadLetter, LateEvent};
use crate::watermark::{WatermarkTracker, WATERMARK_END, WATERMARK_START};

pub use crate::keyed_accs::KeyedAccs;

/// A window whose watermark has passed: its final rows.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedWindow {
    pub start_ms: i64,
    pub end_ms: i64,
    pub rows: KeyedAccs,
}

impl ClosedWindow {
    /// Folds another partial of the same window into this one.
    pub fn merge(&mut self, other: KeyedAccs) {
        // Fold the smaller set of rows into the larger one.
        if other.len() > self.rows.len() {
            let mine = std::mem::replace(&mut self.rows, other);
            self.rows.merge(&mine);
        } else {
            self.rows.merge(&other);
        }
    }
}

/// Merges closed windows from several sources into one list ordered by window start.
pub fn merge_closed(parts: impl IntoIterator<Item = ClosedWindow>) -> Vec<ClosedWindow> {
    let mut by_start: BTreeMap<i64, ClosedWindow> = BTreeMap::new();
    for part in parts {
        match by_start.get_mut(&part.start_ms) {
            Some(w) => w.merge(part.rows),
            None => {
                by_start.insert(part.start_ms, part);
            }
        }
    }
    by_start.into_values().collect()
}

#[derive(Debug, Default, Clone)]
struct PartitionWindows {
    windows: BTreeMap<i64, KeyedAccs>,
    next_offset: Option<i64>,
}

/// Counters a worker exports as metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorStats {
    pub events: u64,
    pub late_accepted: u64,
    pub late_rejected: u64,
    pub dead_letters: u64,
}

/// The windowed aggregation of one job over the partitions a worker owns.
#[derive(Debug, Clone)]
pub struct WindowOperator {
    window: WindowSpec,
    template: Box<[Acc]>,
    watermarks: WatermarkTracker,
    /// The largest end of a window taken by [`Self::take_closed`].
    closed_until: i64,
    partitions: BTreeMap<i32, PartitionWindows>,
    late: Vec<LateEvent>,
    dead_letters: Vec<DeadLetter>,
    /// Approximate bytes held by `late` and `dead_letters`.
    side_bytes: usize,
    stats: OperatorStats,
}

/// Approximate bytes one (window, key) entry holds in state.
const ENTRY_BYTES: usize = 128;

fn late_bytes(e: &LateEvent) -> usize {
    64 + e.raw.len() + e.reason.len()
}

fn dead_letter_bytes(d: &DeadLetter) -> usize {
    64 + d.raw.as_ref().map_or(0, Vec::len) + d.reason.len()
}

impl WindowOperator {
    pub fn new(window: WindowSpec, aggregates: &[AggregateSpec]) -> Self {
        Self {
            window,
            template: aggregates.iter().map(AggregateSpec::new_acc).collect(),
            watermarks: WatermarkTracker::new(window.watermark_delay_ms, window.idle_timeout_ms),
            closed_until: WATERMARK_START,
            partitions: BTreeMap::new(),
            late: Vec::new(),
            dead_letters: Vec::new(),
            side_bytes: 0,
            stats: OperatorStats::default(),
        }
    }

    /// Takes ownership of a partition (fresh, or restored by [`Self::restore`]).
    pub fn assign(&mut self, partition: i32, now_ms: u64) {
        self.partitions.entry(partition).or_default();
        let max = self.watermarks.max_event(partition);
        self.watermarks.assign(partition, max, now_ms);
    }

    /// Where reading `partition` resumes, if anything of it was processed.
    pub fn position(&self, partition: i32) -> Option<i64> {
        self.partitions.get(&partition).and_then(|p| p.next_offset)
    }

    /// Sets where reading `partition` resumes (its start, resolved when it is first read, or
    /// where the source went on after its checkpointed position was gone).
    pub fn set_position(&mut self, partition: i32, offset: i64) {
        self.partitions.entry(partition).or_default().next_offset = Some(offset);
    }

    /// Marks a bounded partition as fully read.
    pub fn finish_partition(&mut self, partition: i32) {
        self.watermarks.finish(partition);
    }

    pub fn watermark(&self) -> i64 {
        self.watermarks.global()
    }

    pub fn stats(&self) -> OperatorStats {
        self.stats
    }

    /// Open windows and (window, key) entries across all partitions.
    pub fn open_state(&self) -> (usize, usize) {
        let mut starts: Vec<i64> = Vec::new();
        let mut entries = 0;
        for p in self.partitions.values() {
            for (s, keys) in &p.windows {
                if !starts.contains(s) {
                    starts.push(*s);
                }
                entries += keys.len();
            }
        }
        (starts.len(), entries)
    }

    /// Aggregates one batch, then advances the watermark at `now_ms` (processing time).
    ///
    /// Lateness is judged record by record, as if the watermark advanced after every record:
    /// whether an event is late depends on the records before it, not on how they were batched.
    /// An event time before 1970 or further ahead of the batch's `read_at_ms` than the window's
    /// `max_ahead_ms` makes the record a dead letter: one wild timestamp must not lift the
    /// watermark.
    pub fn apply(&mut self, batch: &DecodedBatch, now_ms: u64) {
        // Disjoint borrows: a partition's windows stay in place while the run updates them.
        let Self {
            window,
            template,
            watermarks,
            partitions,
            late,
            dead_letters,
            stats,
            ..
        } = self;
        let latest_sane = batch.read_at_ms.saturating_add(window.max_ahead_ms);
        let side_before = (late.len(), dead_letters.len());
        let delay = watermarks.delay_ms();
        let n_aggs = template.len();
        let n = batch.len();
        let mut i = 0;
        while i < n {
            let partition = batch.partitions[i];
            let run_end = batch.partitions[i..]
                .iter()
                .position(|p| *p != partition)
                .map_or(n, |k| i + k);
            let state = partitions.entry(partition).or_default();
            let (floor, others) = watermarks.advance_for_run(partition, now_ms);
            let others = others.unwrap_or(i64::MAX);
            let mut own_max = watermarks.max_event(partition);
            for r in i..run_end {
                let event_ms = batch.event_ms[r];
                if !(0..=latest_sane).contains(&event_ms) {
                    stats.dead_letters += 1;
                    dead_letters.push(DeadLetter {
                        partition,
                        offset: batch.offsets[r],
                        reason: format!(
                            "event time {event_ms} ms is outside the sane range (from 1970 to \
                             {} ms ahead of the wall clock; wrong unit?)",
                            window.max_ahead_ms
                        ),
                        raw: Some(batch.raw(r).to_vec()),
                    });
                    continue;
                }
                own_max = Some(own_max.map_or(event_ms, |m| m.max(event_ms)));
                let own = own_max.map_or(i64::MIN, |m| m.saturating_sub(delay));
                let watermark = floor.max(own.min(others));
                let start = window.start_of(event_ms);
                if window.is_closed(start, watermark) {
                    stats.late_rejected += 1;
                    late.push(LateEvent {
                        partition,
                        offset: batch.offsets[r],
                        event_time_ms: event_ms,
                        window_start_ms: start,
                        watermark_ms: watermark,
                        reason: "window already closed (beyond allowed lateness)".into(),
                        raw: batch.raw(r).to_vec(),
                    });
                    continue;
                }
                if event_ms < watermark {
                    stats.late_accepted += 1;
                }
                let accs = state
                    .windows
                    .entry(start)
                    .or_insert_with(|| KeyedAccs::new(n_aggs))
                    .row_mut(batch.key(r), template);
                let inputs = &batch.inputs[r * n_aggs..(r + 1) * n_aggs];
                for (acc, input) in accs.iter_mut().zip(inputs) {
                    acc.update(*input);
                }
            }
            if let Some(m) = own_max {
                watermarks.observe(partition, m, now_ms);
            }
            i = run_end;
        }
        self.stats.events += n as u64;
        for (partition, next) in &batch.positions {
            let state = self.partitions.entry(*partition).or_default();
            state.next_offset = Some(state.next_offset.map_or(*next, |o| o.max(*next)));
        }
        self.stats.dead_letters += batch.dead_letters.len() as u64;
        self.dead_letters.extend(batch.dead_letters.iter().cloned());
        self.side_bytes += self.late[side_before.0..]
            .iter()
            .map(late_bytes)
            .chain(
                self.dead_letters[side_before.1..]
                    .iter()
                    .map(dead_letter_bytes),
            )
            .sum::<usize>();
        for p in &batch.caught_up {
            self.watermarks.caught_up(*p);
        }
        self.watermarks.advance(now_ms);
    }

    /// Approximate bytes of output waiting for the next checkpoint: late events, dead letters
    /// and the windows the watermark has closed. What backpressure bounds.
    pub fn pending_output_bytes(&self) -> usize {
        let watermark = self.watermarks.global();
        let closed_entries: usize = self
            .partitions
            .values()
            .flat_map(|p| {
                p.windows
                    .iter()
                    .take_while(|(start, _)| self.window.is_closed(**start, watermark))
            })
            .map(|(_, keys)| keys.len())
            .sum();
        self.side_bytes + closed_entries * ENTRY_BYTES
    }

    /// Advances the watermark and removes every window it has closed, merged across
    /// partitions, in order of window start.
    pub fn take_closed(&mut self, now_ms: u64) -> Vec<ClosedWindow> {
        let watermark = self.watermarks.advance(now_ms);
        let mut parts = Vec::new();
        for state in self.partitions.values_mut() {
            let closable: Vec<i64> = state
                .windows
                .keys()
                .copied()
                .take_while(|s| self.window.is_closed(*s, watermark))
                .collect();
            for start in closable {
                if let Some(rows) = state.windows.remove(&start) {
                    let end = start.saturating_add(self.window.size_ms);
                    self.closed_until = self.closed_until.max(end);
                    parts.push(ClosedWindow {
                        start_ms: start,
                        end_ms: start.saturating_add(self.window.size_ms),
                        rows,
                    });
                }
            }
        }
        merge_closed(parts)
    }

    /// Removes the late events and dead letters gathered since the last call.
    pub fn take_side_outputs(&mut self) -> (Vec<LateEvent>, Vec<DeadLetter>) {
        self.side_bytes = 0;
        (
            std::mem::take(&mut self.late),
            std::mem::take(&mut self.dead_letters),
        )
    }

    /// The watermark a checkpoint keeps. At the end of a bounded input the live watermark is
    /// the end of time (every window closes); a job that goes on streaming from the checkpoint
    /// resumes at its real event-time progress instead, raised so that every window already
    /// written counts as closed (its later events are late, never a second row).
    fn checkpoint_watermark(&self) -> i64 {
        if self.watermarks.global() != WATERMARK_END {
            return self.watermarks.global();
        }
        let written = self
            .closed_until
            .saturating_add(self.window.allowed_lateness_ms);
        self.watermarks.finite_global().max(written)
    }

    /// The state to checkpoint: positions, event-time progress and open windows.
    pub fn snapshot(&self) -> OperatorSnapshot {
        OperatorSnapshot {
            global_watermark: self.checkpoint_watermark(),
            stats: self.stats,
            partitions: self
                .partitions
                .iter()
                .map(|(p, s)| PartitionSnapshot {
                    partition: *p,
                    next_offset: s.next_offset,
                    max_event_ms: self.watermarks.max_event(*p),
                    windows: s
                        .windows
                        .iter()
                        .map(|(start, keys)| {
                            let sorted = keys.sorted();
                            WindowSnapshot {
                                start_ms: *start,
                                keys: sorted.iter().map(|(k, _)| k.to_string()).collect(),
                                accs: sorted.iter().flat_map(|(_, a)| a.iter().copied()).collect(),
                            }
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    /// Rebuilds the operator from a snapshot, keeping only the partitions in `owned`.
    pub fn restore(
        window: WindowSpec,
        aggregates: &[AggregateSpec],
        snapshot: OperatorSnapshot,
        owned: &[i32],
        now_ms: u64,
    ) -> Result<Self, String> {
        let mut op = Self::new(window, aggregates);
        let n_aggs = op.template.len();
        op.stats = snapshot.stats;
        op.watermarks.restore_global(snapshot.global_watermark);
        for p in snapshot.partitions {
            if !owned.contains(&p.partition) {
                continue;
            }
            let mut state = PartitionWindows {
                windows: BTreeMap::new(),
                next_offset: p.next_offset,
            };
            for w in p.windows {
                if w.accs.len() != w.keys.len() * n_aggs {
                    return Err(format!(
                        "partition {} window {}: {} accumulators for {} keys × {} aggregates",
                        p.partition,
                        w.start_ms,
                        w.accs.len(),
                        w.keys.len(),
                        n_aggs
                    ));
                }
                let mut keyed = KeyedAccs::new(n_aggs);
                for (i, key) in w.keys.iter().enumerate() {
                    keyed.row_mut(key, &w.accs[i * n_aggs..(i + 1) * n_aggs]);
                }
                state.windows.insert(w.start_ms, keyed);
            }
            op.watermarks.assign(p.partition, p.max_event_ms, now_ms);
            op.partitions.insert(p.partition, state);
        }
        Ok(op)
    }
}

/// One window's state in a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowSnapshot {
    pub start_ms: i64,
    pub keys: Vec<String>,
    /// `keys.len() × n_aggregates` accumulators, key-major.
    pub accs: Vec<Acc>,
}

/// One partition's state in a checkpoint: what moves with the partition on a rebalance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionSnapshot {
    pub partition: i32,
    pub next_offset: Option<i64>,
    pub max_event_ms: Option<i64>,
    pub windows: Vec<WindowSnapshot>,
}

/// A worker's whole operator state in a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatorSnapshot {
    pub global_watermark: i64,
    pub stats: OperatorStats,
    pub partitions: Vec<PartitionSnapshot>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::OutputValue;
    use crate::decode::Decoder;

    use crate::config::example_job as job;

    fn event(ts: i64, video: &str, kind: &str, watch: i64) -> String {
        format!(
            r#"{{"header":{{"event_type":"{kind}","event_ts":{ts}}},"body":{{"video_id":"{video}","watch_ms":{watch}}}}}"#
        )
    }

    fn batch(partition: i32, first_offset: i64, events: &[String]) -> DecodedBatch {
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

    fn longs(w: &ClosedWindow, key: &str) -> Vec<i64> {
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

    const M: i64 = 60_000;

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
            op.take_closed(3).is_empty(),
            "watermark 59_999 < end 60_000"
        );
        op.apply(&batch(0, 3, &[event(M + 10_000, "b", "impression", 0)]), 4);
        let closed = op.take_closed(5);
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
        let (late, dead) = op.take_side_outputs();
        assert!(dead.is_empty());
        assert_eq!(late.len(), 1);
        assert_eq!(
            (late[0].partition, late[0].offset, late[0].window_start_ms),
            (0, 2, 0)
        );
        assert_eq!(late[0].watermark_ms, M + 20_000);
        assert!(late[0].raw.starts_with(b"{\"header\""));
        op.finish_partition(0);
        let closed = op.take_closed(4);
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
            let (late, _) = op.take_side_outputs();
            assert_eq!((late[0].offset, late[0].watermark_ms), (2, 3 * M - 10_000));
        }
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
            op.take_closed(2).is_empty(),
            "wm 89s < end 60s + lateness 30s"
        );
        op.apply(&batch(0, 2, &[event(2_000, "a", "share", 0)]), 3);
        assert_eq!(op.stats().late_rejected, 0);
        op.apply(&batch(0, 3, &[event(M + 41_000, "a", "like", 0)]), 4);
        let closed = op.take_closed(5);
        assert_eq!(longs(&closed[0], "a"), [2, 0, 1, 1, 0, 0]);
    }

    #[test]
    fn same_key_on_several_partitions_gives_one_row() {
        let mut op = operator(&[0, 1]);
        op.apply(&batch(0, 0, &[event(1_000, "k", "like", 3)]), 1);
        op.apply(&batch(1, 0, &[event(2_000, "k", "share", 4)]), 1);
        assert_eq!(op.open_state(), (1, 2), "state is per partition");
        assert!(op.take_closed(1).is_empty());
        op.finish_partition(0);
        op.finish_partition(1);
        assert_ne!(op.watermark(), WATERMARK_START);
        let closed = op.take_closed(2);
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
            op.take_closed(1_000).is_empty(),
            "partition 1 holds the watermark"
        );
        assert_eq!(
            op.take_closed(30_500).len(),
            1,
            "after the 30 s idle timeout"
        );
    }

    #[test]
    fn snapshot_round_trips_and_restores_only_owned_partitions() {
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
        let mut back =
            WindowOperator::restore(j.window, &j.aggregates, snap.clone(), &[0, 1], 5).unwrap();
        assert_eq!(back.snapshot(), snap);
        assert_eq!(back.position(0), Some(12));
        let only0 = WindowOperator::restore(j.window, &j.aggregates, snap, &[0], 5).unwrap();
        assert_eq!(only0.position(1), None);
        back.finish_partition(0);
        back.finish_partition(1);
        assert_eq!(longs(&back.take_closed(6)[0], "a"), [2, 0, 1, 0, 1, 12]);
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
            op.take_closed(2).len(),
            2,
            "the end of the input closes every window"
        );
        let snap = op.snapshot();
        assert_eq!(
            snap.global_watermark,
            2 * M,
            "resumes after the windows it wrote"
        );
        let j = job();
        let mut streaming =
            WindowOperator::restore(j.window, &j.aggregates, snap, &[0], 3).unwrap();
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
        let (_, dead) = op.take_side_outputs();
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
    fn pending_output_counts_side_records_and_closed_windows_until_taken() {
        let mut op = operator(&[0]);
        assert_eq!(op.pending_output_bytes(), 0);
        op.apply(&batch(0, 0, &[event(1_000, "a", "like", 0)]), 1);
        assert_eq!(
            op.pending_output_bytes(),
            0,
            "an open window is not output yet"
        );
        op.apply(&batch(0, 1, &[event(2 * M, "b", "like", 0)]), 2);
        assert_eq!(
            op.pending_output_bytes(),
            ENTRY_BYTES,
            "window [0, 1m) closed"
        );
        op.apply(&batch(0, 2, &[event(5, "c", "like", 0)]), 3);
        let with_late = op.pending_output_bytes();
        assert!(with_late > ENTRY_BYTES + 64, "{with_late}");
        op.take_closed(4);
        op.take_side_outputs();
        assert_eq!(op.pending_output_bytes(), 0);
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
        let merged = merge_closed(a.take_closed(2).into_iter().chain(b.take_closed(2)));
        assert_eq!(merged.len(), 1);
        assert_eq!(longs(&merged[0], "k"), [2, 0, 2, 0, 0, 3]);
        assert_eq!(longs(&merged[0], "z"), [1, 0, 1, 0, 0, 2]);
    }
}
