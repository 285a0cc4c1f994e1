//! Record decoding: JSON bytes → the few fields a job needs, into a columnar [`DecodedBatch`].
//!
//! The decoder walks the JSON once with [`PathTree::scan`], borrowing strings from the record
//! where it can and jumping over every value the job does not name. Records it
//! cannot use become [`DeadLetter`]s with a reason; they never stop the job.

use std::fmt::Write as _;

use crate::aggregate::{AggregateFunction, AggregateSpec, Input};
use crate::append::{AppendRows, AppendSpec};
use crate::approx_distinct;
use crate::cdc::ChangeDecoder;
use crate::config::{JobSpec, TimeUnit};
use crate::distinct::DistinctPart;
use crate::expr::{Compiled, Expr};
use crate::group_key;
use crate::json_scan::PathTree;
use crate::path::FieldPath;
use crate::records::DeadLetter;
use crate::value::Scalar;

/// Decoded records of one poll, column by column, plus what could not be decoded.
#[derive(Debug, Default, Clone)]
pub struct DecodedBatch {
    pub partitions: Vec<i32>,
    pub offsets: Vec<i64>,
    pub event_ms: Vec<i64>,
    /// All group keys, concatenated; record `i`'s key ends at `key_ends[i]`.
    pub keys: String,
    pub key_ends: Vec<usize>,
    /// `n_aggregates` inputs per record.
    pub inputs: Vec<Input>,
    /// Of a job with a filter, whether each record failed it: such a record only moves its
    /// partition's watermark. Empty for a job without one.
    pub filtered: Vec<bool>,
    /// An append job's column values, one row per record.
    pub appended: AppendRows,
    /// Raw record values, kept so late events can be stored whole.
    pub raw: Vec<u8>,
    pub raw_ends: Vec<usize>,
    pub dead_letters: Vec<DeadLetter>,
    /// Next offset to read per partition after this batch (covers dead letters too).
    pub positions: Vec<(i32, i64)>,
    /// Partitions whose reader reached the end of the partition after their last record here.
    pub caught_up: Vec<i32>,
    /// Wall clock (epoch ms) when the records were read: an event time further ahead of it
    /// than the job allows is refused.
    pub read_at_ms: i64,
    /// Bytes of the record values read into this batch.
    pub bytes: u64,
}

impl DecodedBatch {
    pub fn len(&self) -> usize {
        self.event_ms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.event_ms.is_empty() && self.dead_letters.is_empty() && self.caught_up.is_empty()
    }

    /// Empties the batch but keeps its buffers, so the next poll writes into warm memory.
    pub fn clear(&mut self) {
        let Self {
            partitions,
            offsets,
            event_ms,
            keys,
            key_ends,
            inputs,
            filtered,
            appended,
            raw,
            raw_ends,
            dead_letters,
            positions,
            caught_up,
            read_at_ms,
            bytes,
        } = self;
        filtered.clear();
        appended.clear();
        partitions.clear();
        offsets.clear();
        event_ms.clear();
        keys.clear();
        key_ends.clear();
        inputs.clear();
        raw.clear();
        raw_ends.clear();
        dead_letters.clear();
        positions.clear();
        caught_up.clear();
        *read_at_ms = 0;
        *bytes = 0;
    }

    /// Notes that the reader reached the end of `partition` (after any record of it so far).
    pub fn note_caught_up(&mut self, partition: i32) {
        if !self.caught_up.contains(&partition) {
            self.caught_up.push(partition);
        }
    }

    /// Whether record `i` failed the job's filter.
    pub fn is_filtered(&self, i: usize) -> bool {
        self.filtered.get(i).copied().unwrap_or(false)
    }

    pub fn key(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.key_ends[i - 1] };
        &self.keys[start..self.key_ends[i]]
    }

    pub fn raw(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.raw_ends[i - 1] };
        &self.raw[start..self.raw_ends[i]]
    }

    /// A record that cannot be used, with why.
    pub fn dead_letter(
        &mut self,
        partition: i32,
        offset: i64,
        reason: String,
        raw: Option<Vec<u8>>,
    ) {
        self.dead_letters.push(DeadLetter {
            partition,
            offset,
            reason,
            raw,
        });
    }

    /// Reading of `partition` goes on at `next` (past lines that held no record, for a file).
    pub fn note_read_to(&mut self, partition: i32, next: i64) {
        self.note_position(partition, next - 1);
    }

    fn note_position(&mut self, partition: i32, offset: i64) {
        self.caught_up.retain(|p| *p != partition);
        match self.positions.iter_mut().find(|(p, _)| *p == partition) {
            Some((_, next)) => *next = (*next).max(offset + 1),
            None => self.positions.push((partition, offset + 1)),
        }
    }
}

struct AggregateInput {
    spec: AggregateSpec,
    value: Option<Compiled>,
    filter: Option<Compiled>,
}

/// Decodes one job's records. Built once per job from its [`JobSpec`].
pub struct Decoder {
    root: PathTree,
    paths: Vec<FieldPath>,
    event_time_slot: usize,
    event_time_unit: TimeUnit,
    /// The values of the group (or dedup) key's parts.
    keys: Vec<Compiled>,
    /// The value distinct counts count, which (or whose sketch register) is the key's last
    /// part ([`crate::distinct`]).
    distinct: Option<(Compiled, DistinctPart)>,
    aggregates: Vec<AggregateInput>,
    /// Which records enter the windows (or the table).
    filter: Option<Compiled>,
    /// An append job's columns and their values.
    append: Option<(AppendSpec, Vec<Compiled>)>,
    /// A CDC job's records are Debezium changes, read by their own decoder.
    changes: Option<ChangeDecoder>,
}

impl Decoder {
    pub fn new(job: &JobSpec) -> Result<Self, String> {
        let mut paths: Vec<FieldPath> = Vec::new();
        let mut slot_of = |p: &FieldPath| -> usize {
            match paths.iter().position(|q| q == p) {
                Some(i) => i,
                None => {
                    paths.push(p.clone());
                    paths.len() - 1
                }
            }
        };
        let event_time_slot = slot_of(&job.event_time);
        // An append job that deduplicates is keyed by its dedup key.
        let dedup_key = job
            .append()
            .and_then(|a| a.dedup.as_ref())
            .map(|d| &d.key[..]);
        let keys = match dedup_key {
            Some(key) => key
                .iter()
                .map(|p| Expr::field(p.clone()).compile(&mut slot_of))
                .collect(),
            None => job
                .group_by
                .iter()
                .map(|(_, e)| e.compile(&mut slot_of))
                .collect(),
        };
        let distinct = crate::distinct::value(job).map(|(e, part)| (e.compile(&mut slot_of), part));
        let aggregates = job
            .aggregates
            .iter()
            .map(|a| AggregateInput {
                spec: a.clone(),
                value: a.field.as_ref().map(|e| e.compile(&mut slot_of)),
                filter: a.filter.as_ref().map(|e| e.compile(&mut slot_of)),
            })
            .collect();
        let filter = job.filter.as_ref().map(|e| e.compile(&mut slot_of));
        let changes = job.cdc().map(ChangeDecoder::new).transpose()?;
        let append = job.append().filter(|_| changes.is_none()).map(|spec| {
            let values = spec
                .columns
                .iter()
                .map(|c| c.field.compile(&mut slot_of))
                .collect();
            (spec.clone(), values)
        });
        let mut root = PathTree::default();
        for (slot, p) in paths.iter().enumerate() {
            root.insert(p.segments(), slot, &p.to_string())?;
        }
        Ok(Self {
            root,
            paths,
            event_time_slot,
            event_time_unit: job.event_time_unit,
            keys,
            distinct,
            aggregates,
            filter,
            append,
            changes,
        })
    }

    pub fn n_aggregates(&self) -> usize {
        self.aggregates.len()
    }

    /// Decodes one record into `batch`: an event, or a dead letter with the reason.
    pub fn decode_into(
        &self,
        partition: i32,
        offset: i64,
        value: Option<&[u8]>,
        batch: &mut DecodedBatch,
    ) {
        batch.note_position(partition, offset);
        batch.bytes += value.map_or(0, |v| v.len() as u64);
        let Some(bytes) = value else {
            if self.changes.is_some() {
                // Debezium's tombstone after a delete: for log compaction, not a change.
                return;
            }
            batch.dead_letter(
                partition,
                offset,
                "null record value (tombstone)".into(),
                None,
            );
            return;
        };
        if let Err(reason) = self.decode_event(bytes, batch) {
            batch.dead_letter(partition, offset, reason, Some(bytes.to_vec()));
            return;
        }
        batch.partitions.push(partition);
        batch.offsets.push(offset);
        batch.raw.extend_from_slice(bytes);
        batch.raw_ends.push(batch.raw.len());
    }

    fn decode_event(&self, bytes: &[u8], batch: &mut DecodedBatch) -> Result<(), String> {
        if let Some(changes) = &self.changes {
            let event_ms = changes.decode(bytes, &mut batch.appended)?;
            batch.key_ends.push(batch.keys.len());
            batch.event_ms.push(event_ms);
            return Ok(());
        }
        if self.paths.len() <= INLINE_SLOTS {
            let mut inline: [Scalar<'_>; INLINE_SLOTS] = std::array::from_fn(|_| Scalar::Missing);
            self.decode_fields(bytes, &mut inline[..self.paths.len()], batch)
        } else {
            self.decode_fields(bytes, &mut vec![Scalar::Missing; self.paths.len()], batch)
        }
    }

    /// Parses `bytes` into `slots` (one per path, all `Missing`), then appends the event.
    fn decode_fields<'b>(
        &self,
        bytes: &'b [u8],
        slots: &mut [Scalar<'b>],
        batch: &mut DecodedBatch,
    ) -> Result<(), String> {
        let is_object = self
            .root
            .scan(bytes, slots)
            .map_err(|e| format!("invalid JSON: {e}"))?;
        if !is_object {
            return Err("record is not a JSON object".into());
        }
        let ts_path = &self.paths[self.event_time_slot];
        let event_ms = match &slots[self.event_time_slot] {
            Scalar::I64(v) => self
                .event_time_unit
                .to_millis(*v)
                .ok_or_else(|| format!("{ts_path} out of range: {v}"))?,
            Scalar::Missing => return Err(format!("missing {ts_path}")),
            other => {
                return Err(format!(
                    "{ts_path} is {}, expected an integer",
                    other.type_name()
                ))
            }
        };
        if let Some(filter) = &self.filter {
            if !filter.holds(slots)? {
                batch.key_ends.push(batch.keys.len());
                let skip = std::iter::repeat_n(Input::Skip, self.aggregates.len());
                batch.inputs.extend(skip);
                batch.event_ms.push(event_ms);
                batch.filtered.push(true);
                if let Some((spec, _)) = &self.append {
                    batch.appended.push_refused(spec);
                }
                return Ok(());
            }
        }
        let key_start = batch.keys.len();
        for (i, key) in self.keys.iter().enumerate() {
            let pushed = key.eval(slots).and_then(|value| {
                if group_key::push_scalar(&mut batch.keys, i == 0, &value) {
                    return Ok(());
                }
                Err(format!(
                    "{} {key} is {}",
                    if self.append.is_some() {
                        "dedup key"
                    } else {
                        "group key"
                    },
                    value.type_name()
                ))
            });
            if let Err(e) = pushed {
                batch.keys.truncate(key_start);
                return Err(e);
            }
        }
        let mut rank = None;
        if let Some((distinct, part)) = &self.distinct {
            let first = self.keys.is_empty();
            // A value that cannot be a key part (null, an object) is keyed as the empty
            // string; a null is not counted.
            let part_start = batch.keys.len();
            match distinct.eval(slots) {
                Ok(value) if group_key::push_scalar(&mut batch.keys, first, &value) => {
                    if *part == DistinctPart::Register {
                        let text_start = part_start + usize::from(!first);
                        let (register, r) = approx_distinct::register_and_rank(
                            &batch.keys.as_bytes()[text_start..],
                        );
                        batch.keys.truncate(part_start);
                        group_key::push_part(&mut batch.keys, first, "");
                        let _ = write!(batch.keys, "{register}");
                        rank = Some(r);
                    }
                }
                Ok(_) => group_key::push_part(&mut batch.keys, first, ""),
                Err(e) => {
                    batch.keys.truncate(key_start);
                    return Err(e);
                }
            }
        }
        if let Some((spec, values)) = &self.append {
            if let Err(e) = batch.appended.push_computed(spec, values, slots) {
                batch.keys.truncate(key_start);
                return Err(e);
            }
        }
        let inputs_start = batch.inputs.len();
        for a in &self.aggregates {
            let input = a.input(slots, rank);
            match input {
                Ok(input) => batch.inputs.push(input),
                Err(e) => {
                    batch.keys.truncate(key_start);
                    batch.inputs.truncate(inputs_start);
                    return Err(e);
                }
            }
        }
        batch.key_ends.push(batch.keys.len());
        if self.filter.is_some() {
            batch.filtered.push(false);
        }
        batch.event_ms.push(event_ms);
        Ok(())
    }
}

impl AggregateInput {
    /// What the record in `slots` contributes; `rank` is its value's sketch rank when the job
    /// counts distinct values approximately.
    fn input(&self, slots: &[Scalar<'_>], rank: Option<i64>) -> Result<Input, String> {
        let passes = match &self.filter {
            Some(f) => f.holds(slots)?,
            None => true,
        };
        if !passes {
            return Ok(Input::Skip);
        }
        if self.spec.function == AggregateFunction::ApproxCountDistinct {
            return Ok(rank.map_or(Input::Skip, Input::Int));
        }
        match &self.value {
            Some(v) => Ok(self.spec.input(true, &*v.eval(slots)?)),
            None => Ok(self.spec.input(true, &Scalar::Missing)),
        }
    }
}

/// Jobs reading at most this many fields decode a record without a heap allocation.
const INLINE_SLOTS: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::example_job as gold_job;

    fn decode(values: &[&str]) -> DecodedBatch {
        let d = Decoder::new(&gold_job()).unwrap();
        let mut b = DecodedBatch::default();
        for (i, v) in values.iter().enumerate() {
            d.decode_into(3, 100 + i as i64, Some(v.as_bytes()), &mut b);
        }
        b
    }

    const LIKE: &str = r#"{"header":{"event_id":"e-1","event_type":"like","event_ts":1767225600123,"schema_version":1},"body":{"video_id":"v_1023","user_id":"u_77","watch_ms":5400,"extra":{"deep":[1,2,{"x":null}]}}}"#;

    #[test]
    fn decodes_the_fields_the_job_needs() {
        let b = decode(&[LIKE]);
        assert_eq!(b.len(), 1);
        assert_eq!(b.event_ms, [1767225600123]);
        assert_eq!(b.key(0), "v_1023");
        // events, impressions, likes, shares, completions, watch_ms_sum
        assert_eq!(
            b.inputs,
            [
                Input::One,
                Input::Skip,
                Input::One,
                Input::Skip,
                Input::Skip,
                Input::Int(5400)
            ]
        );
        assert_eq!(b.raw(0), LIKE.as_bytes());
        assert_eq!(b.positions, [(3, 101)]);
    }

    #[test]
    fn invalid_utf8_only_matters_in_a_field_the_job_reads() {
        let d = Decoder::new(&gold_job()).unwrap();
        let mut b = DecodedBatch::default();
        let ignored = LIKE.replace("u_77", "u_\u{1}7").into_bytes();
        let mut ignored_bad = ignored.clone();
        let at = ignored_bad.iter().position(|c| *c == 1).unwrap();
        ignored_bad[at] = 0xff;
        d.decode_into(0, 0, Some(&ignored_bad), &mut b);
        assert_eq!(b.len(), 1, "{:?}", b.dead_letters);
        assert_eq!(b.key(0), "v_1023");
        let mut key_bad = LIKE.as_bytes().to_vec();
        let at = LIKE.find("v_1023").unwrap() + 2;
        key_bad[at] = 0xff;
        d.decode_into(0, 1, Some(&key_bad), &mut b);
        assert_eq!(b.len(), 1);
        assert_eq!(b.dead_letters.len(), 1);
        assert!(b.dead_letters[0].reason.starts_with("invalid JSON"));
    }

    #[test]
    fn a_cleared_batch_decodes_like_a_new_one() {
        let d = Decoder::new(&gold_job()).unwrap();
        let mut reused = decode(&[LIKE, "not json", LIKE]);
        reused.clear();
        assert!(reused.is_empty() && reused.raw.is_empty() && reused.keys.is_empty());
        d.decode_into(3, 100, Some(LIKE.as_bytes()), &mut reused);
        let fresh = decode(&[LIKE]);
        assert_eq!(format!("{reused:?}"), format!("{fresh:?}"));
    }

    #[test]
    fn tolerates_body_drift_and_escapes() {
        let b = decode(&[
            r#"{"body":{"video_id":"v\"1","new_field":[1]},"header":{"event_ts":5,"event_type":"sh\u0061re"}}"#,
        ]);
        assert_eq!(b.key(0), "v\"1");
        assert_eq!(b.inputs[3], Input::One, "escaped 'share' still matches");
        assert_eq!(b.inputs[5], Input::Skip, "missing watch_ms adds nothing");
    }

    #[test]
    fn bad_records_become_dead_letters_with_reasons() {
        let b = decode(&[
            "not json",
            r#"{"header":{"event_type":"like"},"body":{"video_id":"v"}}"#,
            r#"{"header":{"event_ts":"yesterday"},"body":{"video_id":"v"}}"#,
            r#"[1,2]"#,
            r#"{"header":{"event_ts":1},"body":{}}"#,
            r#"{"header":{"event_ts":1},"body":{"video_id":"v"}} trailing"#,
            LIKE,
        ]);
        assert_eq!(b.len(), 1);
        let reasons: Vec<&str> = b.dead_letters.iter().map(|d| d.reason.as_str()).collect();
        assert!(reasons[0].starts_with("invalid JSON"), "{reasons:?}");
        assert_eq!(reasons[1], "missing header.event_ts");
        assert_eq!(reasons[2], "header.event_ts is string, expected an integer");
        assert_eq!(reasons[3], "record is not a JSON object");
        assert_eq!(reasons[4], "group key body.video_id is missing");
        assert!(reasons[5].starts_with("invalid JSON"), "{reasons:?}");
        assert_eq!(b.dead_letters[2].offset, 102);
        assert_eq!(b.dead_letters[0].raw.as_deref(), Some(&b"not json"[..]));
        assert_eq!(b.positions, [(3, 107)], "dead letters advance the position");
        assert_eq!(b.key_ends.len(), 1, "a rejected key leaves no trace");
        assert_eq!(b.keys, "v_1023");
    }

    #[test]
    fn composite_keys_never_collide() {
        let mut job = gold_job();
        job.group_by
            .push(("user".into(), Expr::parse("body.user_id").unwrap()));
        let d = Decoder::new(&job).unwrap();
        let mut b = DecodedBatch::default();
        let event = |video: &str, user: &str| {
            format!(
                r#"{{"header":{{"event_ts":1}},"body":{{"video_id":"{video}","user_id":{user}}}}}"#
            )
        };
        // ("a\u001fb", "c") and ("a", "b\u001fc") used to be one key.
        d.decode_into(0, 0, Some(event("a\\u001fb", r#""c""#).as_bytes()), &mut b);
        d.decode_into(0, 1, Some(event("a", r#""b\u001fc""#).as_bytes()), &mut b);
        // The number 5 and the string "5" are one key by the documented rule.
        d.decode_into(0, 2, Some(event("v", "5").as_bytes()), &mut b);
        d.decode_into(0, 3, Some(event("v", r#""5""#).as_bytes()), &mut b);
        assert_eq!(b.len(), 4, "{:?}", b.dead_letters);
        assert_ne!(b.key(0), b.key(1));
        assert_eq!(group_key::parts(b.key(0)), ["a\u{1f}b", "c"]);
        assert_eq!(group_key::parts(b.key(1)), ["a", "b\u{1f}c"]);
        assert_eq!(b.key(2), b.key(3));
    }

    #[test]
    fn tombstones_are_dead_letters() {
        let d = Decoder::new(&gold_job()).unwrap();
        let mut b = DecodedBatch::default();
        d.decode_into(0, 7, None, &mut b);
        assert_eq!(b.dead_letters[0].raw, None);
        assert!(b.dead_letters[0].reason.contains("tombstone"));
    }

    /// A key read whole holds the event time: both are read.
    #[test]
    fn a_field_read_whole_and_the_fields_inside_it_are_all_read() {
        let mut job = gold_job();
        job.group_by[0].1 = Expr::parse("header").unwrap();
        let d = Decoder::new(&job).expect("nested paths");
        let mut b = DecodedBatch::default();
        let header = r#"{"event_type":"like","event_ts":60000}"#;
        let record = format!(r#"{{"header":{header},"body":{{"video_id":"v"}}}}"#);
        d.decode_into(0, 1, Some(record.as_bytes()), &mut b);
        // Not "missing header.event_ts": the event time inside the key was read.
        assert_eq!(b.dead_letters[0].reason, "group key header is object/array");
    }
}
