//! Seeded generator of content events (formats.md §1): in-order and jittered streams, late
//! events and undecodable records, each labelled with what the engine must do with it.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hasher;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::records::{Expect, Record, BASE_TS, MAX_DISORDER_MS};

/// A seed for the random choices of a test: `$FLOE_E2E_SEED` or a fresh one, printed.
pub fn seed(label: &str) -> u64 {
    let s = match std::env::var("FLOE_E2E_SEED") {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("FLOE_E2E_SEED={v} is not an integer")),
        Err(_) => rand::rng().random::<u64>() >> 12,
    };
    eprintln!("[{label}] random seed {s} (replay with FLOE_E2E_SEED={s})");
    s
}

/// How stream records are spread over partitions.
#[derive(Clone, Copy, Debug)]
pub enum Placement {
    /// by a hash of the video id (as the real topic is partitioned)
    ByKey,
    /// each record to a random partition (the same video on every partition)
    Random,
    /// all to one partition
    Fixed(i32),
}

/// A stream of content events.
#[derive(Clone, Debug)]
pub struct StreamSpec {
    /// event time of the first event (before jitter)
    pub start_ms: i64,
    /// event times spread evenly over [start, start + duration)
    pub duration_ms: i64,
    pub count: usize,
    pub partitions: i32,
    pub placement: Placement,
    /// each event time moved by a uniform ±jitter, then clamped so that the disorder within a
    /// partition stays ≤ MAX_DISORDER_MS (< watermark delay)
    pub jitter_ms: i64,
}

impl StreamSpec {
    /// `count` events over `minutes` of event time from `start_ms`.
    pub fn minutes(
        start_ms: i64,
        minutes: i64,
        count: usize,
        partitions: i32,
        placement: Placement,
        jitter_ms: i64,
    ) -> StreamSpec {
        StreamSpec {
            start_ms,
            duration_ms: minutes * 60_000,
            count,
            partitions,
            placement,
            jitter_ms,
        }
    }
}

/// Kinds of undecodable records [`ContentGen::bad_record`] makes.
pub const BAD_KINDS: usize = 11;

/// Deterministic generator of content events (formats.md §1), seeded.
pub struct ContentGen {
    rng: StdRng,
    videos: Vec<String>,
    next_id: u64,
    part_max: HashMap<i32, i64>,
}

/// A stable hash of a key (FNV-1a), for [`Placement::ByKey`].
fn key_hash(key: &str) -> u64 {
    let mut hash = fnv::FnvHasher::default();
    hash.write(key.as_bytes());
    hash.finish()
}

impl ContentGen {
    pub fn new(seed: u64, videos: usize) -> ContentGen {
        let mut rng = StdRng::seed_from_u64(seed);
        let videos = (0..videos)
            .map(|_| format!("v_{}", rng.random_range(1000..100_000)))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        ContentGen {
            rng,
            videos,
            next_id: 0,
            part_max: HashMap::new(),
        }
    }

    pub fn videos(&self) -> &[String] {
        &self.videos
    }

    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }

    /// Largest event time generated so far on `partition`.
    pub fn partition_max(&self, partition: i32) -> Option<i64> {
        self.part_max.get(&partition).copied()
    }

    fn note(&mut self, partition: i32, ts: i64) {
        let e = self.part_max.entry(partition).or_insert(i64::MIN);
        *e = (*e).max(ts);
    }

    /// The JSON value of one content event, with some schema drift.
    pub fn content_event(&mut self, ts: i64, video: &str) -> String {
        self.next_id += 1;
        let r = self.rng.random_range(0..100);
        let event_type = match r {
            0..55 => "impression",
            55..70 => "like",
            70..75 => "share",
            75..90 => "completion",
            90..97 => "comment",
            _ => "view_start",
        };
        let mut body = serde_json::Map::new();
        body.insert("video_id".into(), json!(video));
        body.insert(
            "user_id".into(),
            json!(format!("u_{}", self.rng.random_range(1..5000))),
        );
        match self.rng.random_range(0..100) {
            0..10 => {} // watch_ms missing: counts as 0
            10..13 => {
                body.insert("watch_ms".into(), Value::Null);
            }
            _ => {
                body.insert(
                    "watch_ms".into(),
                    json!(self.rng.random_range(0..120_000i64)),
                );
            }
        }
        let mut schema_version = 1;
        if self.rng.random_range(0..100) < 15 {
            // drift: newer producers add fields
            schema_version = 2;
            body.insert(
                "device".into(),
                json!(["ios", "android", "web"][self.rng.random_range(0..3)]),
            );
            body.insert(
                "extra".into(),
                json!({"ab": self.rng.random_range(0..4), "tags": ["x", "y"]}),
            );
        }
        json!({
            "header": {
                "event_id": format!("e-{:09}", self.next_id),
                "event_type": event_type,
                "event_ts": ts,
                "schema_version": schema_version,
            },
            "body": Value::Object(body),
        })
        .to_string()
    }

    fn partition_for(&mut self, video: &str, partitions: i32, placement: Placement) -> i32 {
        match placement {
            Placement::ByKey => (key_hash(video) % partitions as u64) as i32,
            Placement::Random => self.rng.random_range(0..partitions),
            Placement::Fixed(p) => p,
        }
    }

    /// A stream of "ok" events (see [`StreamSpec`]).
    pub fn stream(&mut self, spec: &StreamSpec) -> Vec<Record> {
        assert!(spec.count > 0 && spec.duration_ms > 0);
        let mut out = Vec::with_capacity(spec.count);
        for i in 0..spec.count {
            let base = spec.start_ms + (i as i64 * spec.duration_ms) / spec.count as i64;
            let video = self.videos[self.rng.random_range(0..self.videos.len())].clone();
            let partition = self.partition_for(&video, spec.partitions, spec.placement);
            let mut ts = base;
            if spec.jitter_ms > 0 {
                ts += self.rng.random_range(-spec.jitter_ms..=spec.jitter_ms);
            }
            if let Some(max) = self.partition_max(partition) {
                let floor = max - MAX_DISORDER_MS;
                if ts < floor {
                    ts = floor + self.rng.random_range(0..1000);
                }
            }
            self.note(partition, ts);
            let value = self.content_event(ts, &video);
            out.push(Record {
                partition,
                key: Some(video),
                value: Some(value),
                expect: Expect::Ok,
                event_ts: Some(ts),
            });
        }
        out
    }

    /// A well-formed event labelled late (the caller knows its window has closed).
    pub fn late_event(&mut self, partition: i32, ts: i64) -> Record {
        let video = self.videos[self.rng.random_range(0..self.videos.len())].clone();
        let value = self.content_event(ts, &video);
        self.note(partition, ts);
        Record {
            partition,
            key: Some(video),
            value: Some(value),
            expect: Expect::Late,
            event_ts: Some(ts),
        }
    }

    /// An undecodable record of kind `kind % BAD_KINDS`: not JSON, truncated JSON, no
    /// header.event_ts, string / null / boolean event_ts, no body.video_id, no body, empty
    /// value, null value (tombstone), a JSON array.
    pub fn bad_record(&mut self, partition: i32, kind: usize) -> Record {
        let ts = BASE_TS + self.rng.random_range(0..3_600_000);
        let video = self.videos[self.rng.random_range(0..self.videos.len())].clone();
        let value = match kind % BAD_KINDS {
            0 => Some(format!("this is not json {}", self.rng.random_range(0..1000))),
            1 => Some(format!(
                "{{\"header\": {{\"event_id\": \"e-x\", \"event_type\": \"like\", \"event_ts\": {}",
                ts
            )),
            2 => Some(
                json!({"header": {"event_id": "e-no-ts", "event_type": "like", "schema_version": 1},
                       "body": {"video_id": video, "watch_ms": 5}})
                .to_string(),
            ),
            3 => Some(
                json!({"header": {"event_id": "e-str-ts", "event_type": "like", "event_ts": ts.to_string()},
                       "body": {"video_id": video, "watch_ms": 5}})
                .to_string(),
            ),
            4 => Some(
                json!({"header": {"event_id": "e-no-video", "event_type": "share", "event_ts": ts},
                       "body": {"user_id": "u_1", "watch_ms": 5}})
                .to_string(),
            ),
            5 => Some(String::new()),
            6 => None,
            7 => Some(
                json!({"header": {"event_id": "e-null-ts", "event_type": "like", "event_ts": null},
                       "body": {"video_id": video}})
                .to_string(),
            ),
            8 => Some("[1, 2, 3]".to_string()),
            9 => Some(
                json!({"header": {"event_id": "e-no-body", "event_type": "impression", "event_ts": ts}})
                    .to_string(),
            ),
            _ => Some(
                json!({"header": {"event_id": "e-bool-ts", "event_type": "like", "event_ts": true},
                       "body": {"video_id": video}})
                .to_string(),
            ),
        };
        Record {
            partition,
            key: Some(format!("bad-{kind}")),
            value,
            expect: Expect::Bad,
            event_ts: None,
        }
    }

    /// [`ContentGen::stream`] with `bad` undecodable records ([`ContentGen::bad_records`] on
    /// the stream's partitions) inserted at random positions.
    pub fn stream_with_bad(&mut self, spec: &StreamSpec, bad: usize) -> Vec<Record> {
        let mut recs = self.stream(spec);
        let bad = self.bad_records(bad, spec.partitions);
        self.insert_randomly(&mut recs, bad, 0);
        recs
    }

    /// `n` events labelled late, at random times of `ts`, on partitions `0..partitions` in turn
    /// (the caller knows their windows have closed).
    pub fn late_events(
        &mut self,
        n: usize,
        partitions: i32,
        ts: std::ops::RangeInclusive<i64>,
    ) -> Vec<Record> {
        (0..n)
            .map(|i| {
                let t = self.rng.random_range(ts.clone());
                self.late_event(i as i32 % partitions, t)
            })
            .collect()
    }

    /// `n` bad records of every kind in turn, on random partitions of `0..partitions`.
    pub fn bad_records(&mut self, n: usize, partitions: i32) -> Vec<Record> {
        (0..n)
            .map(|k| {
                let p = self.rng.random_range(0..partitions);
                self.bad_record(p, k)
            })
            .collect()
    }

    /// Inserts `extra` at random positions of `into` at or after index `min_index`, keeping the
    /// order of `extra`.
    pub fn insert_randomly(
        &mut self,
        into: &mut Vec<Record>,
        extra: Vec<Record>,
        min_index: usize,
    ) {
        let min_index = min_index.min(into.len());
        let mut positions: Vec<usize> = (0..extra.len())
            .map(|_| self.rng.random_range(min_index..=into.len()))
            .collect();
        positions.sort_unstable();
        // insert from the back so earlier positions stay valid
        for (pos, rec) in positions.into_iter().zip(extra).rev() {
            into.insert(pos, rec);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{EventLog, Produced};

    /// Seeds replay the same streams across versions: the key hash stays FNV-1a.
    #[test]
    fn keys_hash_with_fnv1a() {
        assert_eq!(key_hash("a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn generator_is_deterministic() {
        let spec = StreamSpec::minutes(BASE_TS, 5, 500, 3, Placement::ByKey, 8_000);
        let a = ContentGen::new(7, 20).stream(&spec);
        let b = ContentGen::new(7, 20).stream(&spec);
        assert_eq!(
            a.iter().map(|r| r.value.clone()).collect::<Vec<_>>(),
            b.iter().map(|r| r.value.clone()).collect::<Vec<_>>()
        );
    }

    fn fake_log(records: Vec<Record>) -> EventLog {
        let mut next: HashMap<i32, i64> = HashMap::new();
        EventLog {
            records: records
                .into_iter()
                .map(|r| {
                    let o = next.entry(r.partition).or_insert(0);
                    *o += 1;
                    Produced {
                        partition: r.partition,
                        offset: *o - 1,
                        expect: r.expect,
                        value: r.value,
                        event_ts: r.event_ts,
                    }
                })
                .collect(),
        }
    }

    #[test]
    fn jittered_streams_are_never_late() {
        for seed in 0..20 {
            let mut g = ContentGen::new(seed, 20);
            let spec = StreamSpec::minutes(BASE_TS + 17_300, 5, 2000, 3, Placement::Random, 8_000);
            let recs = g.stream(&spec);
            fake_log(recs).validate_labels(false, None);
        }
    }

    #[test]
    #[should_panic(expected = "labelled late")]
    fn late_labels_need_a_proof_on_several_partitions() {
        let mut g = ContentGen::new(1, 5);
        let spec = StreamSpec::minutes(BASE_TS, 5, 300, 2, Placement::Random, 0);
        let mut recs = g.stream(&spec);
        recs.push(g.late_event(0, BASE_TS + 1_000));
        fake_log(recs).validate_labels(false, None);
    }

    #[test]
    fn late_labels_hold_on_one_partition() {
        let mut g = ContentGen::new(1, 5);
        let spec = StreamSpec::minutes(BASE_TS, 5, 300, 1, Placement::Fixed(0), 0);
        let mut recs = g.stream(&spec);
        recs.push(g.late_event(0, BASE_TS + 1_000));
        fake_log(recs).validate_labels(true, None);
    }

    #[test]
    fn bad_records_cover_every_kind() {
        let mut g = ContentGen::new(3, 5);
        let recs = g.bad_records(BAD_KINDS, 2);
        assert!(recs.iter().any(|r| r.value.is_none()));
        assert!(recs.iter().any(|r| r.value.as_deref() == Some("")));
        assert!(recs.iter().all(|r| r.expect == Expect::Bad));
    }
}
