//! The oracle's side of the records: what each produced record must become (its label), the
//! log of everything produced, and the proof that each label holds whatever order the engine
//! reads partitions in.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;

use serde_json::json;

/// Window size of the gold job.
pub const WINDOW_MS: i64 = 60_000;
/// Watermark delay written into every test config.
pub const WATERMARK_DELAY_MS: i64 = 10_000;
/// Allowed lateness written into every test config.
pub const ALLOWED_LATENESS_MS: i64 = 0;
/// 2026-01-01T00:00:00Z: event times of the tests start near here.
pub const BASE_TS: i64 = 1_767_225_600_000;
/// The gold job's name (= `floe.job-id` in snapshot summaries).
pub const JOB_NAME: &str = "video_stats_1min";
/// Largest disorder the generator makes within a partition: strictly below the watermark delay,
/// so an "ok" event can never be late whatever the engine reads first.
pub const MAX_DISORDER_MS: i64 = WATERMARK_DELAY_MS - 1_000;

/// `[start, end)` of the window `ts` falls in.
pub fn window_of(ts: i64) -> (i64, i64) {
    let s = ts.div_euclid(WINDOW_MS) * WINDOW_MS;
    (s, s + WINDOW_MS)
}

/// What the engine must do with a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Expect {
    /// counted in its window of the gold table
    Ok,
    /// its window had closed: a row of the late table, not counted
    Late,
    /// undecodable: a row of the dead-letter table
    Bad,
}

impl Expect {
    pub fn as_str(self) -> &'static str {
        match self {
            Expect::Ok => "ok",
            Expect::Late => "late",
            Expect::Bad => "bad",
        }
    }
}

/// A record to produce.
#[derive(Clone, Debug)]
pub struct Record {
    pub partition: i32,
    pub key: Option<String>,
    /// `None`: a null value (tombstone).
    pub value: Option<String>,
    pub expect: Expect,
    /// The event time in the value (for "ok" and "late" records).
    pub event_ts: Option<i64>,
}

/// A produced record with the offset the broker gave it.
#[derive(Clone, Debug)]
pub struct Produced {
    pub partition: i32,
    pub offset: i64,
    pub expect: Expect,
    pub value: Option<String>,
    pub event_ts: Option<i64>,
}

/// Everything produced to a topic, in production order.
#[derive(Clone, Debug, Default)]
pub struct EventLog {
    pub records: Vec<Produced>,
}

impl EventLog {
    pub fn extend(&mut self, produced: Vec<Produced>) {
        self.records.extend(produced);
    }

    pub fn count(&self, e: Expect) -> usize {
        self.records.iter().filter(|r| r.expect == e).count()
    }

    /// (partition, offset) of the records labelled `e`.
    pub fn offsets(&self, e: Expect) -> BTreeSet<(i32, i64)> {
        self.records
            .iter()
            .filter(|r| r.expect == e)
            .map(|r| (r.partition, r.offset))
            .collect()
    }

    /// Largest event time per partition (over decodable records).
    pub fn max_ts_per_partition(&self) -> BTreeMap<i32, i64> {
        let mut m = BTreeMap::new();
        for r in &self.records {
            if let (Some(ts), Expect::Ok | Expect::Late) = (r.event_ts, r.expect) {
                let e = m.entry(r.partition).or_insert(i64::MIN);
                *e = (*e).max(ts);
            }
        }
        m
    }

    /// The global watermark once every record of `partitions` has been read and none is idle:
    /// min over the partitions of (max event time − delay).
    pub fn watermark_over(&self, partitions: &[i32]) -> i64 {
        let m = self.max_ts_per_partition();
        partitions
            .iter()
            .map(|p| {
                m.get(p)
                    .copied()
                    .unwrap_or_else(|| panic!("no event on partition {p}"))
                    - WATERMARK_DELAY_MS
            })
            .min()
            .expect("at least one partition")
    }

    /// Writes the events file of `tests/py/check_gold.py`.
    pub fn write_jsonl(&self, path: &Path) {
        // write then rename: a reader never sees a half-written file
        let tmp = path.with_extension("jsonl.tmp");
        let mut w = BufWriter::new(File::create(&tmp).expect("create events file"));
        for r in &self.records {
            let line = json!({
                "partition": r.partition,
                "offset": r.offset,
                "expect": r.expect.as_str(),
                "value": r.value,
            });
            writeln!(w, "{line}").expect("write events file");
        }
        w.flush().expect("flush events file");
        drop(w);
        fs::rename(&tmp, path).expect("rename events file");
    }

    /// Checks that every label holds for every order in which the engine may interleave the
    /// partitions (panics on a harness bug, before any engine is blamed):
    /// - "ok": its window ends after the watermark of its own partition just before it (the
    ///   global watermark is never above a non-idle partition's), so it cannot be late;
    /// - "late": its window ends at or before a watermark the engine has certainly passed:
    ///   `global_floor` (a watermark proven reached before these records were produced, e.g. by
    ///   committed windows of an earlier run), or — single-partition topic only — the
    ///   partition's own watermark just before it.
    pub fn validate_labels(&self, single_partition: bool, global_floor: Option<i64>) {
        let mut by_partition: BTreeMap<i32, Vec<&Produced>> = BTreeMap::new();
        for r in &self.records {
            by_partition.entry(r.partition).or_default().push(r);
        }
        for (p, mut recs) in by_partition {
            recs.sort_by_key(|r| r.offset);
            let mut max_prev = i64::MIN;
            for r in recs {
                let Some(ts) = r.event_ts else {
                    assert_eq!(r.expect, Expect::Bad, "{r:?} has no event time");
                    continue;
                };
                let end = window_of(ts).1;
                let own_wm = max_prev.saturating_sub(WATERMARK_DELAY_MS);
                match r.expect {
                    Expect::Ok => assert!(
                        end + ALLOWED_LATENESS_MS > own_wm,
                        "harness bug: partition {p} offset {} (ts {ts}) is labelled ok but its \
                         window ends at {end}, not after the partition's watermark {own_wm}",
                        r.offset
                    ),
                    Expect::Late => {
                        let mut bound = global_floor.unwrap_or(i64::MIN);
                        if single_partition {
                            bound = bound.max(own_wm);
                        }
                        assert!(
                            end + ALLOWED_LATENESS_MS <= bound,
                            "harness bug: partition {p} offset {} (ts {ts}, window end {end}) is \
                             labelled late but the engine is not certain to have passed {end} \
                             (proven watermark {bound})",
                            r.offset
                        );
                    }
                    Expect::Bad => {}
                }
                max_prev = max_prev.max(ts);
            }
        }
    }
}
