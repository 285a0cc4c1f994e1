//! Event-time windows: where events are aggregated and where a window closes.
//!
//! State is kept per source partition (so a partition can move to another worker with its
//! state) as `slice start → key → accumulators`; [`WindowSpec`] says which windows a slice
//! belongs to (one for tumbling windows, several for hopping and cumulating ones). A window
//! closes when the job's watermark reaches `end + allowed_lateness`. That watermark is the
//! coordinator's (the minimum over every worker, [`crate::job_watermark::JobWatermark`]),
//! handed in at each barrier, so every worker closes a window at the same checkpoint and its
//! partials from every partition merge into exactly one row per key. A window is emitted at the
//! one barrier whose watermark passes its close, as the merge of its slices; a slice is dropped
//! once the last window holding it is emitted. Session windows are kept per key instead of in
//! slices ([`OpenSessions`]) and closed the same way.
//!
//! Lateness is judged record by record against this worker's own watermark, never below the
//! job's (as a Flink subtask judges against its own): an event whose slice has no window left
//! open at that point goes to the late-events output; an event behind the watermark whose
//! slice still has an open window is counted (and in `late_accepted`) in every window not yet
//! closed. A window the job has closed is closed on every worker, so no event can add to it
//! after its row is written.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::aggregate::{Acc, AggregateSpec};
use crate::append::AppendRows;
use crate::config::{JobSpec, WindowKind, WindowSpec};
use crate::decode::DecodedBatch;
use crate::first_seen::FirstSeen;
use crate::partition_runs::PartitionRuns;
use crate::records::{DeadLetter, LateEvent};
use crate::session::OpenSessions;
use crate::watermark::{LocalWatermark, WatermarkTracker};

pub use crate::keyed_accs::KeyedAccs;
use crate::window_close::close_windows;
pub use crate::window_close::{merge_closed, ClosedWindow};

/// The rows of the slice starting at `start`, started when it has none: with room for as many
/// keys as the latest slice holds, as consecutive slices hold about as many.
fn slice_rows<'w>(
    slices: &'w mut BTreeMap<i64, KeyedAccs>,
    start: i64,
    template: &[Acc],
) -> &'w mut KeyedAccs {
    if !slices.contains_key(&start) {
        let mut rows = KeyedAccs::new(template);
        if let Some(latest) = slices.values().next_back() {
            rows.reserve_for(std::slice::from_ref(latest));
        }
        slices.insert(start, rows);
    }
    slices
        .entry(start)
        .or_insert_with(|| KeyedAccs::new(template))
}

/// One checkpoint's rows of the tables workers write themselves (a row per record).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RecordOutput {
    pub late: Vec<LateEvent>,
    pub dead_letters: Vec<DeadLetter>,
    /// An append job's records; `None` for a windowed job.
    pub appended: Option<AppendRows>,
}

#[derive(Debug, Clone)]
struct PartitionWindows {
    /// By slice start.
    slices: BTreeMap<i64, KeyedAccs>,
    /// A session job's state, in place of slices.
    sessions: OpenSessions,
    /// A deduplicating append job's state.
    first_seen: FirstSeen,
    /// The job watermark up to which this partition's windows were emitted (or, restored, were
    /// in the checkpoint's output): the next barrier emits those closing after it. Kept per
    /// partition, as a partition moves between workers with its state.
    emitted_until: i64,
    next_offset: Option<i64>,
    /// Counted for this partition since the job's start: they move with it.
    stats: OperatorStats,
}

/// Counters of what the operator did, per partition and summed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorStats {
    pub events: u64,
    pub late_accepted: u64,
    pub late_rejected: u64,
    pub dead_letters: u64,
}

/// The state of `partition`, started empty when there is none: its windows count as emitted up
/// to the job watermark the operator was last handed, as the operator's other partitions' are.
fn partition_state<'p>(
    partitions: &'p mut BTreeMap<i32, PartitionWindows>,
    watermarks: &WatermarkTracker,
    partition: i32,
) -> &'p mut PartitionWindows {
    partitions
        .entry(partition)
        .or_insert_with(|| PartitionWindows {
            slices: BTreeMap::new(),
            sessions: OpenSessions::default(),
            first_seen: FirstSeen::default(),
            emitted_until: watermarks.floor(),
            next_offset: None,
            stats: OperatorStats::default(),
        })
}

impl OperatorStats {
    pub fn add(&mut self, other: &OperatorStats) {
        self.events += other.events;
        self.late_accepted += other.late_accepted;
        self.late_rejected += other.late_rejected;
        self.dead_letters += other.dead_letters;
    }
}

impl<'a> std::iter::Sum<&'a OperatorStats> for OperatorStats {
    fn sum<I: Iterator<Item = &'a OperatorStats>>(iter: I) -> Self {
        let mut total = OperatorStats::default();
        for s in iter {
            total.add(s);
        }
        total
    }
}

/// Where one partition is: for status views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionProgress {
    pub partition: i32,
    /// The next offset to read.
    pub next_offset: Option<i64>,
    /// The partition's own watermark, once it had an event.
    pub watermark_ms: Option<i64>,
    pub events: u64,
}

/// The windowed aggregation of one job over the partitions a worker owns.
#[derive(Debug, Clone)]
pub struct WindowOperator {
    window: WindowSpec,
    template: Box<[Acc]>,
    watermarks: WatermarkTracker,
    partitions: BTreeMap<i32, PartitionWindows>,
    late: Vec<LateEvent>,
    dead_letters: Vec<DeadLetter>,
    /// Approximate bytes held by `late` and `dead_letters`.
    side_bytes: usize,
    /// An append job's rows since the last checkpoint; `None` for a windowed job.
    appended: Option<AppendRows>,
    /// How long a deduplicating append job remembers a key, on the watermark.
    dedup_within_ms: Option<i64>,
    /// The last batch's records grouped by partition (kept for its buffers).
    runs: PartitionRuns,
}

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
            partitions: BTreeMap::new(),
            late: Vec::new(),
            dead_letters: Vec::new(),
            side_bytes: 0,
            appended: None,
            dedup_within_ms: None,
            runs: PartitionRuns::default(),
        }
    }

    /// The empty operator of `job`.
    pub fn for_job(job: &JobSpec) -> Self {
        Self::new(job.window, &job.aggregates).with_output_of(job)
    }

    /// This operator making `job`'s output: for an append job, every sane record becomes a
    /// row of the job's columns instead of joining a window.
    pub fn with_output_of(mut self, job: &JobSpec) -> Self {
        self.appended = job.append().map(AppendRows::new);
        self.dedup_within_ms = job
            .append()
            .and_then(|a| a.dedup.as_ref())
            .map(|d| d.within_ms);
        self
    }

    /// Takes ownership of a partition (fresh, or restored by [`Self::restore`]).
    pub fn assign(&mut self, partition: i32, now_ms: u64) {
        partition_state(&mut self.partitions, &self.watermarks, partition);
        let max = self.watermarks.max_event(partition);
        self.watermarks.assign(partition, max, now_ms);
    }

    /// Drops the state of `partitions` (they moved to another worker with a checkpoint).
    pub fn remove_partitions(&mut self, partitions: &[i32]) {
        for p in partitions {
            self.partitions.remove(p);
            self.watermarks.unassign(*p);
        }
    }

    /// Takes over the partitions of `other` (restored from a checkpoint on their way here),
    /// their windows and positions as they are.
    pub fn absorb(&mut self, other: WindowOperator, now_ms: u64) {
        self.watermarks.absorb(&other.watermarks, now_ms);
        self.partitions.extend(other.partitions);
    }

    /// Where reading `partition` resumes, if anything of it was processed.
    pub fn position(&self, partition: i32) -> Option<i64> {
        self.partitions.get(&partition).and_then(|p| p.next_offset)
    }

    /// Sets where reading `partition` resumes (its start, resolved when it is first read, or
    /// where the source went on after its checkpointed position was gone).
    pub fn set_position(&mut self, partition: i32, offset: i64) {
        partition_state(&mut self.partitions, &self.watermarks, partition).next_offset =
            Some(offset);
    }

    /// No partition counts as caught up until its reader reaches its end again (see
    /// [`WatermarkTracker::forget_caught_up`]).
    pub fn forget_caught_up(&mut self) {
        self.watermarks.forget_caught_up();
    }

    /// Marks a bounded partition as fully read.
    pub fn finish_partition(&mut self, partition: i32) {
        self.watermarks.finish(partition);
    }

    /// This worker's watermark: the minimum over its active partitions, never below the job's
    /// watermark of the last barrier.
    pub fn watermark(&self) -> i64 {
        self.watermarks.global()
    }

    /// Recomputes this worker's watermark at `now_ms` and returns it.
    pub fn advance_watermark(&mut self, now_ms: u64) -> i64 {
        self.watermarks.advance(now_ms)
    }

    /// What this worker tells the coordinator about its event-time progress at `now_ms`.
    pub fn local_watermark(&mut self, now_ms: u64) -> LocalWatermark {
        self.watermarks.report(now_ms)
    }

    /// The smallest job watermark at which one of the open windows closes. (A partition's
    /// earliest slice's windows close before any later slice's.)
    pub fn next_close_ms(&self) -> Option<i64> {
        if let WindowKind::Session { gap_ms } = self.window.kind {
            return self
                .partitions
                .values()
                .filter_map(|p| p.sessions.first_end(gap_ms))
                .min()
                .map(|end| self.window.window_closes_at(end));
        }
        self.partitions
            .values()
            .filter_map(|p| {
                let first = p.slices.keys().next()?;
                self.window
                    .windows_of(*first)
                    .map(|(_, end)| self.window.window_closes_at(end))
                    .find(|at| *at > p.emitted_until)
            })
            .min()
    }

    /// Where each partition this worker holds is.
    pub fn partition_progress(&self) -> Vec<PartitionProgress> {
        self.partitions
            .iter()
            .map(|(p, s)| PartitionProgress {
                partition: *p,
                next_offset: s.next_offset,
                watermark_ms: self
                    .watermarks
                    .max_event(*p)
                    .map(|_| self.watermarks.partition_watermark(*p)),
                events: s.stats.events,
            })
            .collect()
    }

    /// Counters summed over the partitions this worker holds.
    pub fn stats(&self) -> OperatorStats {
        self.partitions.values().map(|p| &p.stats).sum()
    }

    /// Open slices and (slice, key) entries across all partitions; for a session job, its open
    /// sessions as both.
    pub fn open_state(&self) -> (usize, usize) {
        let mut starts: Vec<i64> = Vec::new();
        let mut entries = 0;
        for p in self.partitions.values() {
            entries += p.sessions.len();
            for (s, keys) in &p.slices {
                if !starts.contains(s) {
                    starts.push(*s);
                }
                entries += keys.len();
            }
        }
        let windows = match self.window.kind {
            WindowKind::Session { .. } => entries,
            _ => starts.len(),
        };
        (windows, entries)
    }

    /// Bytes the open windows' rows hold on the heap (the state's own accounting).
    pub fn state_heap_bytes(&self) -> usize {
        self.partitions
            .values()
            .map(|p| {
                p.sessions.heap_bytes()
                    + p.first_seen.heap_bytes()
                    + p.slices.values().map(KeyedAccs::heap_bytes).sum::<usize>()
            })
            .sum()
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
            appended,
            dedup_within_ms,
            runs,
            ..
        } = self;
        let latest_sane = batch.read_at_ms.saturating_add(window.max_ahead_ms);
        let side_before = (late.len(), dead_letters.len());
        let delay = watermarks.delay_ms();
        let job_watermark = watermarks.floor();
        let n_aggs = template.len();
        runs.group(&batch.partitions);
        for (partition, records) in runs.iter() {
            let state = partition_state(partitions, watermarks, partition);
            let stats = &mut state.stats;
            stats.events += records.len() as u64;
            let (floor, others) = watermarks.advance_for_run(partition, now_ms);
            let others = others.unwrap_or(i64::MAX);
            let mut own_max = watermarks.max_event(partition);
            // The slice the run's last event went to: the next one most likely goes there too.
            let mut current: Option<(i64, &mut KeyedAccs)> = None;
            for r in records.iter().map(|r| *r as usize) {
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
                if batch.is_filtered(r) {
                    continue;
                }
                if let Some(rows) = appended {
                    if dedup_within_ms.is_some() && !state.first_seen.first(batch.key(r), event_ms)
                    {
                        continue;
                    }
                    rows.push_from(
                        &batch.appended,
                        r,
                        partition,
                        batch.offsets[r],
                        batch.read_at_ms,
                    );
                    continue;
                }
                let own = own_max.map_or(i64::MIN, |m| m.saturating_sub(delay));
                let watermark = floor.max(own.min(others));
                let start = window.slice_of(event_ms);
                if window.is_late(event_ms, start, job_watermark, watermark) {
                    stats.late_rejected += 1;
                    late.push(LateEvent {
                        partition,
                        offset: batch.offsets[r],
                        event_time_ms: event_ms,
                        window_start_ms: window.late_window_start(event_ms, start),
                        watermark_ms: watermark,
                        reason: "window already closed (beyond allowed lateness)".into(),
                        raw: batch.raw(r).to_vec(),
                    });
                    continue;
                }
                if event_ms < watermark {
                    stats.late_accepted += 1;
                }
                let inputs = &batch.inputs[r * n_aggs..(r + 1) * n_aggs];
                if let WindowKind::Session { gap_ms } = window.kind {
                    state
                        .sessions
                        .add(batch.key(r), event_ms, inputs, gap_ms, template);
                    continue;
                }
                let rows = match current.take() {
                    Some((at, rows)) if at == start => rows,
                    _ => slice_rows(&mut state.slices, start, template),
                };
                rows.update(batch.key(r), inputs);
                current = Some((start, rows));
            }
            if let Some(m) = own_max {
                watermarks.observe(partition, m, now_ms);
            }
        }
        for (partition, next) in &batch.positions {
            let state = partition_state(&mut self.partitions, &self.watermarks, *partition);
            state.next_offset = Some(state.next_offset.map_or(*next, |o| o.max(*next)));
        }
        for d in &batch.dead_letters {
            partition_state(&mut self.partitions, &self.watermarks, d.partition)
                .stats
                .dead_letters += 1;
        }
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
    /// and an append job's rows. What backpressure bounds. (A window leaves the state at the
    /// barrier whose job watermark closes it, so no closed window waits between barriers; a
    /// window only this worker's watermark has passed is still open for the job.)
    pub fn pending_output_bytes(&self) -> usize {
        self.side_bytes + self.appended.as_ref().map_or(0, AppendRows::heap_bytes)
    }

    fn take_appended(&mut self) -> Option<AppendRows> {
        let rows = self.appended.as_mut()?;
        let empty = rows.emptied();
        Some(std::mem::replace(rows, empty))
    }

    /// Removes every window the job's watermark `job_watermark` has closed since the last
    /// call (or the restored checkpoint), merged across partitions, in order of window start,
    /// and drops the slices no open window holds any more. From now on, no event is judged
    /// against a watermark below it.
    pub fn take_closed(&mut self, job_watermark: i64) -> Vec<ClosedWindow> {
        self.watermarks.restore_global(job_watermark);
        let mut parts = Vec::new();
        for state in self.partitions.values_mut() {
            if let WindowKind::Session { gap_ms } = self.window.kind {
                let window = &self.window;
                parts.extend(state.sessions.close(
                    gap_ms,
                    |end| window.window_closes_at(end),
                    job_watermark,
                    &self.template,
                ));
            }
            parts.extend(close_windows(
                &self.window,
                &self.template,
                &mut state.slices,
                state.emitted_until,
                job_watermark,
            ));
            if let Some(within_ms) = self.dedup_within_ms {
                state.first_seen.forget(job_watermark, within_ms);
            }
            state.emitted_until = state.emitted_until.max(job_watermark);
        }
        merge_closed(parts)
    }

    /// Removes the rows for worker-written tables gathered since the last call: late events,
    /// dead letters and an append job's records.
    pub fn take_record_output(&mut self) -> RecordOutput {
        self.side_bytes = 0;
        RecordOutput {
            late: std::mem::take(&mut self.late),
            dead_letters: std::mem::take(&mut self.dead_letters),
            appended: self.take_appended(),
        }
    }
}

#[path = "window_snapshot.rs"]
mod snapshot;
pub use snapshot::{OperatorSnapshot, PartitionSnapshot, WindowSnapshot};

#[cfg(test)]
#[path = "window_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "window_slices_tests.rs"]
mod slices_tests;

#[cfg(test)]
#[path = "window_sessions_tests.rs"]
mod sessions_tests;
