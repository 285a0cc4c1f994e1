//! Event-time watermarks: per partition, and the global one that closes windows.
//!
//! A partition's watermark is its largest event time minus the delay. The global watermark is
//! the minimum over active partitions; a partition that has read everything there is to read
//! (its reader reached the end of the partition) and then had no events for the idle timeout
//! (processing time, passed in by the caller so tests control the clock) stops holding it back,
//! and counts again as soon as it has an event. A partition with a backlog is never idle, even
//! when no records arrive for a while (a broker that is away, a slow fetch): its unread events
//! may be older than the others' watermark. A finished partition (bounded reads) never
//! holds it back; when every partition is finished the watermark jumps to the end of time.
//! When every partition is idle, the watermark moves to the minimum over those that had events:
//! the value it would have had while they were still active, so events read just before the
//! partitions went idle still count. Every watermark only moves forward.

/// The watermark before any event: nothing is late, no window closes.
pub const WATERMARK_START: i64 = i64::MIN;
/// The watermark after the end of a bounded input: every window closes.
pub const WATERMARK_END: i64 = i64::MAX;

#[derive(Debug, Clone, PartialEq)]
struct PartitionClock {
    max_event_ms: Option<i64>,
    last_event_at: u64,
    /// The reader reached the end of the partition after its last event.
    caught_up: bool,
    finished: bool,
}

impl PartitionClock {
    fn new(max_event_ms: Option<i64>, now_ms: u64) -> Self {
        Self {
            max_event_ms,
            last_event_at: now_ms,
            caught_up: false,
            finished: false,
        }
    }
}

/// The watermark of a set of inputs (a worker's partitions, a job's workers): the minimum over
/// the active ones or, when none is active, over the idle ones that saw events.
#[derive(Debug, Clone, Copy)]
pub struct InputsMin {
    // Plain minimums with flags rather than `Option`s: a worker folds its partitions in here on
    // every run of records.
    active: i64,
    idle: i64,
    any_active: bool,
    any_idle: bool,
}

impl Default for InputsMin {
    fn default() -> Self {
        Self {
            active: i64::MAX,
            idle: i64::MAX,
            any_active: false,
            any_idle: false,
        }
    }
}

impl InputsMin {
    #[inline]
    pub fn active(&mut self, w: i64) {
        self.active = self.active.min(w);
        self.any_active = true;
    }

    /// An idle input; one that saw no event (`WATERMARK_START`) does not count.
    #[inline]
    pub fn idle(&mut self, w: i64) {
        if w != WATERMARK_START {
            self.idle = self.idle.min(w);
            self.any_idle = true;
        }
    }

    #[inline]
    pub fn value(&self) -> Option<i64> {
        if self.any_active {
            Some(self.active)
        } else {
            self.any_idle.then_some(self.idle)
        }
    }
}

/// A worker's event-time progress as the coordinator combines it into the job's watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalWatermark {
    /// The minimum watermark over the partitions that hold the job back.
    Active(i64),
    /// No partition holds the job back (all idle, or some idle and the rest finished); the
    /// value is how far the worker's partitions got, which moves the job's watermark only when
    /// every worker is idle.
    Idle(i64),
    /// Nothing more will come: every partition is finished (bounded reads), or none is
    /// assigned.
    Finished,
}

/// Tracks watermarks for a set of assigned partitions.
#[derive(Debug, Clone)]
pub struct WatermarkTracker {
    delay_ms: i64,
    idle_timeout_ms: u64,
    /// Sorted by partition: a few per worker, visited on every run of records, so a vector.
    partitions: Vec<(i32, PartitionClock)>,
    global: i64,
    /// The highest watermark restored or handed by a barrier: the job's, which no event is
    /// ever judged below. `global` may run ahead of it on this worker's own partitions.
    floor: i64,
}

impl WatermarkTracker {
    pub fn new(delay_ms: i64, idle_timeout_ms: u64) -> Self {
        Self {
            delay_ms,
            idle_timeout_ms,
            partitions: Vec::new(),
            global: WATERMARK_START,
            floor: WATERMARK_START,
        }
    }

    fn index(&self, partition: i32) -> Result<usize, usize> {
        self.partitions
            .binary_search_by_key(&partition, |(p, _)| *p)
    }

    fn clock(&self, partition: i32) -> Option<&PartitionClock> {
        self.index(partition).ok().map(|i| &self.partitions[i].1)
    }

    fn clock_mut(&mut self, partition: i32) -> Option<&mut PartitionClock> {
        self.index(partition)
            .ok()
            .map(|i| &mut self.partitions[i].1)
    }

    /// Starts tracking a partition; its idle clock starts at `now_ms`.
    pub fn assign(&mut self, partition: i32, max_event_ms: Option<i64>, now_ms: u64) {
        let clock = PartitionClock::new(max_event_ms, now_ms);
        match self.index(partition) {
            Ok(i) => self.partitions[i].1 = clock,
            Err(i) => self.partitions.insert(i, (partition, clock)),
        }
    }

    /// Restores a global watermark from a checkpoint (never moves it back).
    pub fn restore_global(&mut self, global: i64) {
        self.floor = self.floor.max(global);
        self.global = self.global.max(global);
    }

    /// The highest job watermark this tracker was handed or restored.
    pub fn floor(&self) -> i64 {
        self.floor
    }

    /// Stops tracking a partition (it moved to another worker).
    pub fn unassign(&mut self, partition: i32) {
        if let Ok(i) = self.index(partition) {
            self.partitions.remove(i);
        }
    }

    /// Takes over the partitions `other` tracks (they moved here), then judges every partition
    /// from the job's floor up again, as a worker restored with all of them would: a moved
    /// partition is not held to how far this worker's own partitions had got.
    pub fn absorb(&mut self, other: &WatermarkTracker, now_ms: u64) {
        for (p, c) in &other.partitions {
            self.assign(*p, c.max_event_ms, now_ms);
        }
        self.restore_global(other.floor);
        self.global = self.floor;
        self.recompute(now_ms, None);
    }

    /// Records that `partition` had events up to `max_event_ms` at `now_ms`.
    #[inline]
    pub fn observe(&mut self, partition: i32, max_event_ms: i64, now_ms: u64) {
        let i = self.index(partition).unwrap_or_else(|i| {
            let clock = PartitionClock::new(None, now_ms);
            self.partitions.insert(i, (partition, clock));
            i
        });
        let clock = &mut self.partitions[i].1;
        clock.max_event_ms = Some(
            clock
                .max_event_ms
                .map_or(max_event_ms, |m| m.max(max_event_ms)),
        );
        clock.last_event_at = now_ms;
        clock.caught_up = false;
    }

    /// Records that the reader of `partition` has reached its end: from now on, a stretch
    /// without events counts towards idleness.
    pub fn caught_up(&mut self, partition: i32) {
        if let Some(c) = self.clock_mut(partition) {
            c.caught_up = true;
        }
    }

    /// Forgets that readers reached the end of their partitions: while readers are held back,
    /// new records may be waiting, so no partition may count as idle until its reader reaches
    /// the end again.
    pub fn forget_caught_up(&mut self) {
        for (_, c) in &mut self.partitions {
            c.caught_up = false;
        }
    }

    /// Marks the end of a bounded partition.
    pub fn finish(&mut self, partition: i32) {
        if let Some(c) = self.clock_mut(partition) {
            c.finished = true;
        }
    }

    pub fn is_idle(&self, partition: i32, now_ms: u64) -> bool {
        self.clock(partition)
            .is_some_and(|c| self.clock_idle(c, now_ms))
    }

    fn clock_idle(&self, c: &PartitionClock, now_ms: u64) -> bool {
        c.finished
            || (c.caught_up && now_ms.saturating_sub(c.last_event_at) >= self.idle_timeout_ms)
    }

    fn clock_watermark(&self, c: &PartitionClock) -> i64 {
        c.max_event_ms
            .map_or(WATERMARK_START, |m| m.saturating_sub(self.delay_ms))
    }

    /// The largest event time seen on `partition`.
    pub fn max_event(&self, partition: i32) -> Option<i64> {
        self.clock(partition).and_then(|c| c.max_event_ms)
    }

    /// The partition's own watermark.
    pub fn partition_watermark(&self, partition: i32) -> i64 {
        self.clock(partition)
            .map_or(WATERMARK_START, |c| self.clock_watermark(c))
    }

    /// [`advance`](Self::advance), and the smallest watermark among the active partitions other
    /// than `partition`, in one pass: what a run of `partition`'s records is judged against.
    pub fn advance_for_run(&mut self, partition: i32, now_ms: u64) -> (i64, Option<i64>) {
        let others = self.recompute(now_ms, Some(partition));
        (self.global, others)
    }

    /// Moves the global watermark to the minimum over active partitions (or, when all are idle,
    /// over the idle ones that had events; to the end when all are finished); returns the
    /// minimum over the active partitions other than `excluded` (`None` when there is none).
    fn recompute(&mut self, now_ms: u64, excluded: Option<i32>) -> Option<i64> {
        let mut all_finished = !self.partitions.is_empty();
        let (mut all, mut others) = (InputsMin::default(), InputsMin::default());
        for (p, c) in &self.partitions {
            all_finished &= c.finished;
            let w = self.clock_watermark(c);
            if self.clock_idle(c, now_ms) {
                if !c.finished {
                    all.idle(w);
                }
                continue;
            }
            all.active(w);
            if Some(*p) != excluded {
                others.active(w);
            }
        }
        if all_finished {
            self.global = WATERMARK_END;
        } else if let Some(w) = all.value() {
            self.global = self.global.max(w);
        }
        others.value()
    }

    /// This tracker's part of the job's watermark at `now_ms`: its global watermark (never
    /// below a floor it restored or was handed), once a partition is active.
    pub fn report(&mut self, now_ms: u64) -> LocalWatermark {
        let active = self.recompute(now_ms, None).is_some();
        if self.global == WATERMARK_END || self.partitions.is_empty() {
            return LocalWatermark::Finished;
        }
        if active {
            LocalWatermark::Active(self.global)
        } else {
            LocalWatermark::Idle(self.global)
        }
    }

    pub fn delay_ms(&self) -> i64 {
        self.delay_ms
    }

    /// Recomputes and returns the global watermark at `now_ms`.
    pub fn advance(&mut self, now_ms: u64) -> i64 {
        self.recompute(now_ms, None);
        self.global
    }

    pub fn global(&self) -> i64 {
        self.global
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker() -> WatermarkTracker {
        let mut t = WatermarkTracker::new(10_000, 30_000);
        t.assign(0, None, 0);
        t.assign(1, None, 0);
        t
    }

    #[test]
    fn partitions_moved_in_are_judged_from_the_job_floor_and_moved_out_no_longer_hold_back() {
        let mut here = tracker();
        here.restore_global(1_000);
        here.observe(0, 100_000, 0);
        here.observe(1, 90_000, 0);
        assert_eq!(
            here.advance(0),
            80_000,
            "ahead of the job's floor on its own partitions"
        );
        let mut moved = WatermarkTracker::new(10_000, 30_000);
        moved.restore_global(1_000);
        moved.assign(5, Some(21_000), 0);
        here.absorb(&moved, 0);
        assert_eq!(
            here.advance(0),
            11_000,
            "the moved partition holds this worker back"
        );
        assert_eq!(here.max_event(5), Some(21_000));
        here.unassign(5);
        assert_eq!(here.advance(0), 80_000);
        assert_eq!(here.max_event(5), None);
    }

    #[test]
    fn a_report_never_goes_below_a_floor_the_worker_holds() {
        // A floor restored from a checkpoint (or handed by a barrier) is above what a
        // partition that woke up reports: the job's watermark must not fall back under it, or
        // a window already written could take events again.
        let mut t = tracker();
        t.restore_global(100_000);
        t.observe(0, 60_000, 1);
        t.observe(1, 70_000, 1);
        assert_eq!(t.report(2), LocalWatermark::Active(100_000));
        t.finish(0);
        t.finish(1);
        assert_eq!(t.report(3), LocalWatermark::Finished);
        assert_eq!(
            WatermarkTracker::new(10_000, 30_000).report(0),
            LocalWatermark::Finished,
            "no partition: nothing will come"
        );
    }

    #[test]
    fn global_is_min_over_partitions_minus_delay() {
        let mut t = tracker();
        t.observe(0, 100_000, 1);
        assert_eq!(
            t.advance(1),
            WATERMARK_START,
            "partition 1 has no events yet"
        );
        t.observe(1, 50_000, 2);
        assert_eq!(t.advance(2), 40_000);
        t.observe(1, 200_000, 3);
        assert_eq!(t.advance(3), 90_000);
    }

    #[test]
    fn watermarks_never_go_back() {
        let mut t = tracker();
        t.observe(0, 100_000, 0);
        t.observe(1, 100_000, 0);
        assert_eq!(t.advance(0), 90_000);
        t.observe(0, 20_000, 1);
        assert_eq!(t.partition_watermark(0), 90_000);
        assert_eq!(t.advance(1), 90_000);
    }

    #[test]
    fn idle_partition_stops_holding_back_and_rejoins() {
        let mut t = tracker();
        t.observe(0, 100_000, 20_000);
        t.caught_up(1);
        assert_eq!(t.advance(29_999), WATERMARK_START);
        assert!(t.is_idle(1, 30_000));
        assert_eq!(t.advance(30_000), 90_000, "idle partition 1 is excluded");
        // partition 0 goes quiet too: everything idle, the watermark holds
        t.caught_up(0);
        assert_eq!(t.advance(100_000), 90_000);
        // partition 1 rejoins with older data: global does not regress, and it holds back again
        t.observe(1, 95_000, 100_001);
        t.observe(0, 300_000, 100_001);
        assert_eq!(t.advance(100_001), 90_000);
        t.observe(1, 150_000, 100_002);
        assert_eq!(t.advance(100_002), 140_000);
    }

    #[test]
    fn events_of_partitions_that_went_idle_before_a_recompute_still_count() {
        let mut t = tracker();
        t.observe(0, 100_000, 0);
        t.observe(1, 50_000, 0);
        t.observe(1, 200_000, 10);
        t.caught_up(0);
        t.caught_up(1);
        assert_eq!(t.report(40_000), LocalWatermark::Idle(90_000));
        t.observe(1, 300_000, 40_001);
        assert_eq!(
            t.report(40_001),
            LocalWatermark::Active(290_000),
            "partition 0 stays idle"
        );
    }

    #[test]
    fn a_partition_with_a_backlog_is_never_idle() {
        let mut t = tracker();
        t.observe(0, 100_000, 0);
        t.observe(1, 50_000, 0);
        // No records from partition 1 for a long time, but its reader never reached the end
        // (a broker away, a slow fetch): it still holds the watermark.
        assert_eq!(t.advance(600_000), 40_000);
        assert!(!t.is_idle(1, 600_000));
        t.caught_up(1);
        assert!(t.is_idle(1, 600_000));
        t.forget_caught_up();
        assert!(
            !t.is_idle(1, 600_000),
            "held-back readers may have a backlog again"
        );
        t.caught_up(1);
        assert_eq!(t.advance(600_000), 90_000);
        // An event after reaching the end makes it a reader with a backlog again.
        t.observe(1, 60_000, 600_001);
        assert!(!t.is_idle(1, 10_000_000));
    }

    #[test]
    fn the_finite_global_survives_the_end_of_a_bounded_input() {
        let mut t = tracker();
        t.observe(0, 100_000, 0);
        t.observe(1, 70_000, 0);
        assert_eq!(t.advance(0), 60_000);
        t.finish(0);
        t.finish(1);
        assert_eq!(t.advance(0), WATERMARK_END);
    }

    #[test]
    fn finished_partitions_release_everything() {
        let mut t = tracker();
        t.observe(0, 100_000, 0);
        t.finish(1);
        assert_eq!(t.advance(0), 90_000);
        t.finish(0);
        assert_eq!(t.advance(0), WATERMARK_END);
    }

    #[test]
    fn a_run_is_judged_against_the_global_and_the_other_active_partitions() {
        let mut t = WatermarkTracker::new(10_000, 30_000);
        for p in 0..4 {
            t.assign(p, None, 0);
        }
        t.observe(0, 100_000, 1_000);
        t.observe(1, 70_000, 1_000);
        t.observe(2, 50_000, 1_000);
        for p in 0..4 {
            t.caught_up(p);
        }
        // partition 3 never had an event: active, at the start of time, until it idles out
        assert_eq!(
            t.advance_for_run(0, 1_000),
            (WATERMARK_START, Some(WATERMARK_START))
        );
        assert_eq!(
            t.advance_for_run(3, 30_000),
            (40_000, Some(40_000)),
            "3 idles out"
        );
        assert_eq!(t.advance_for_run(2, 30_000), (40_000, Some(60_000)));
        t.finish(2);
        assert_eq!(t.advance_for_run(0, 30_000), (60_000, Some(60_000)));
        assert_eq!(t.advance_for_run(1, 30_000), (60_000, Some(90_000)));
        // all idle: the global holds, no other partition bounds the run
        assert_eq!(t.advance_for_run(1, 100_000), (60_000, None));
        for p in [0, 1, 3] {
            t.finish(p);
        }
        assert_eq!(t.advance_for_run(1, 100_000), (WATERMARK_END, None));
    }
}
