//! Checkpoint identity, object layout, and the binary encoding of operator state.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::checkpoint_legacy::{OperatorSnapshotV1, OperatorSnapshotV2};
use crate::window::{OperatorSnapshot, PartitionSnapshot};

const MAGIC: &[u8; 4] = b"FLOE";
/// 3: a session job's open sessions and a deduplicating job's keys, per partition.
const FORMAT_VERSION: u16 = 3;
/// 2: per-partition counters; the job's watermark is in the manifest.
const FORMAT_V2: u16 = 2;
/// 1: one worker's counters and watermark beside its partitions.
const FORMAT_V1: u16 = 1;

/// Why a checkpoint object could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointFormatError {
    #[error("not a Floe checkpoint (bad magic)")]
    BadMagic,
    #[error("checkpoint format version {0} is not supported (this build reads {FORMAT_VERSION})")]
    Version(u16),
    #[error("corrupt checkpoint state: {0}")]
    Decode(String),
    #[error("cannot encode checkpoint state: {0}")]
    Encode(String),
}

/// Operator state as stored: magic, format version, then bincode.
pub fn encode_state(snapshot: &OperatorSnapshot) -> Result<Vec<u8>, CheckpointFormatError> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    let body = bincode::serde::encode_to_vec(snapshot, bincode::config::standard())
        .map_err(|e| CheckpointFormatError::Encode(e.to_string()))?;
    out.extend_from_slice(&body);
    Ok(out)
}

/// State as [`decode_state`] reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedState {
    pub snapshot: OperatorSnapshot,
    /// The watermark a version-1 object kept (its manifest has no job watermark).
    pub legacy_watermark: Option<i64>,
}

/// Reads what [`encode_state`] (or a version-1 build) wrote.
pub fn decode_state(bytes: &[u8]) -> Result<DecodedState, CheckpointFormatError> {
    if bytes.len() < 6 || &bytes[..4] != MAGIC {
        return Err(CheckpointFormatError::BadMagic);
    }
    match u16::from_le_bytes([bytes[4], bytes[5]]) {
        FORMAT_VERSION => Ok(DecodedState {
            snapshot: decode_body(&bytes[6..])?,
            legacy_watermark: None,
        }),
        FORMAT_V2 => {
            let v2: OperatorSnapshotV2 = decode_body(&bytes[6..])?;
            Ok(v2.upgrade())
        }
        FORMAT_V1 => {
            let v1: OperatorSnapshotV1 = decode_body(&bytes[6..])?;
            Ok(v1.upgrade())
        }
        other => Err(CheckpointFormatError::Version(other)),
    }
}

/// Reads what [`encode_state`] wrote from `reader` as it arrives, keeping only the partitions
/// `keep` wants: a worker restoring some partitions of another's object never holds the whole
/// object, nor the partitions it does not take. (An older version's object is read whole.)
pub fn decode_state_from(
    reader: impl std::io::Read,
    keep: impl Fn(i32) -> bool,
) -> Result<DecodedState, CheckpointFormatError> {
    use std::io::Read;
    // bincode reads small fields straight out of the buffer.
    let mut reader = std::io::BufReader::with_capacity(1 << 16, reader);
    let corrupt = |e: &dyn std::fmt::Display| CheckpointFormatError::Decode(e.to_string());
    let mut header = [0u8; 6];
    reader
        .read_exact(&mut header)
        .map_err(|_| CheckpointFormatError::BadMagic)?;
    if &header[..4] != MAGIC {
        return Err(CheckpointFormatError::BadMagic);
    }
    if u16::from_le_bytes([header[4], header[5]]) != FORMAT_VERSION {
        let mut whole = header.to_vec();
        reader.read_to_end(&mut whole).map_err(|e| corrupt(&e))?;
        let mut decoded = decode_state(&whole)?;
        decoded.snapshot.partitions.retain(|p| keep(p.partition));
        return Ok(decoded);
    }
    // The body is the snapshot's one field, a sequence: its length, then each partition.
    let config = bincode::config::standard();
    let count: u64 =
        bincode::serde::decode_from_reader(&mut reader, config).map_err(|e| corrupt(&e))?;
    let mut partitions = Vec::new();
    for _ in 0..count {
        let p: PartitionSnapshot =
            bincode::serde::decode_from_reader(&mut reader, config).map_err(|e| corrupt(&e))?;
        if keep(p.partition) {
            partitions.push(p);
        }
    }
    let mut rest = [0u8; 1];
    match reader.read(&mut rest) {
        Ok(0) => Ok(DecodedState {
            snapshot: OperatorSnapshot { partitions },
            legacy_watermark: None,
        }),
        Ok(_) => Err(CheckpointFormatError::Decode("trailing bytes".into())),
        Err(e) => Err(corrupt(&e)),
    }
}

fn decode_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, CheckpointFormatError> {
    let (value, used) = bincode::serde::decode_from_slice(body, bincode::config::standard())
        .map_err(|e| CheckpointFormatError::Decode(e.to_string()))?;
    if used != body.len() {
        return Err(CheckpointFormatError::Decode(format!(
            "{} trailing bytes",
            body.len() - used
        )));
    }
    Ok(value)
}

/// One attempt at a checkpoint: its id and the epoch of the process that wrote it. Two
/// processes of a job (a zombie and its replacement) may write the same id; their objects never
/// collide, and the newer epoch wins when both complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CheckpointRef {
    pub id: u64,
    pub epoch: u64,
}

/// What an object path under a job's prefix is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointObject {
    /// An object of a checkpoint attempt; `manifest` when it is the one that completes it.
    Checkpoint { at: CheckpointRef, manifest: bool },
    /// The marker of an epoch taken by a process of the job.
    Epoch(u64),
}

/// Object names of a job's checkpoints under the checkpoint store. Ids and epochs are
/// zero-padded so listing order is checkpoint order. Epoch 0 is the layout of stores written
/// before epochs existed (no epoch directory).
#[derive(Debug, Clone)]
pub struct CheckpointLayout {
    pub job: String,
}

const MANIFEST: &str = "_manifest.json";
const EPOCHS: &str = "_epochs";
const FILE_SPLITS: &str = "_file_splits";

impl CheckpointLayout {
    pub fn job_prefix(&self) -> String {
        format!("{}/", self.job)
    }

    /// Every attempt of checkpoint `checkpoint_id`.
    pub fn dir(&self, checkpoint_id: u64) -> String {
        format!("{}/{checkpoint_id:020}", self.job)
    }

    fn attempt_dir(&self, at: CheckpointRef) -> String {
        match at.epoch {
            0 => self.dir(at.id),
            epoch => format!("{}/e{epoch:020}", self.dir(at.id)),
        }
    }

    pub fn worker_state(&self, at: CheckpointRef, worker: &str) -> String {
        format!("{}/worker-{worker}.state", self.attempt_dir(at))
    }

    /// Written last: its presence makes the checkpoint attempt complete.
    pub fn manifest(&self, at: CheckpointRef) -> String {
        format!("{}/{MANIFEST}", self.attempt_dir(at))
    }

    pub fn epochs_dir(&self) -> String {
        format!("{}/{EPOCHS}", self.job)
    }

    pub fn epoch_marker(&self, epoch: u64) -> String {
        format!("{}/{epoch:020}", self.epochs_dir())
    }

    /// A file source's split ids: one object per id, holding the file's path.
    pub fn file_splits_dir(&self) -> String {
        format!("{}/{FILE_SPLITS}", self.job)
    }

    pub fn file_split(&self, id: i32) -> String {
        format!("{}/{id:010}", self.file_splits_dir())
    }

    /// The split id an object under [`Self::file_splits_dir`] stands for.
    pub fn parse_file_split(&self, path: &str) -> Option<i32> {
        let id = path
            .strip_prefix(&self.file_splits_dir())?
            .strip_prefix('/')?;
        (id.len() == 10).then(|| id.parse().ok()).flatten()
    }

    /// What an object path under this job is, if it is one of ours.
    pub fn parse(&self, path: &str) -> Option<CheckpointObject> {
        let rest = path.strip_prefix(&self.job_prefix())?;
        let mut parts = rest.split('/');
        let first = parts.next()?;
        if first == EPOCHS {
            return parse_padded(parts.next()?).map(CheckpointObject::Epoch);
        }
        let id = parse_padded(first)?;
        let (epoch, file) = match (parts.next()?, parts.next()) {
            (dir, Some(file)) => (parse_padded(dir.strip_prefix('e')?)?, file),
            (file, None) => (0, file),
        };
        Some(CheckpointObject::Checkpoint {
            at: CheckpointRef { id, epoch },
            manifest: file == MANIFEST,
        })
    }
}

fn parse_padded(text: &str) -> Option<u64> {
    if text.len() != 20 {
        return None;
    }
    text.parse().ok()
}

/// What a completed checkpoint committed (or will commit) per table: enough to re-commit it
/// after a crash between "complete" and "committed".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointManifest {
    pub job: String,
    pub checkpoint_id: u64,
    /// The epoch of the process that wrote the checkpoint.
    #[serde(default)]
    pub epoch: u64,
    /// [`crate::job_shape::fingerprint`] of the job that wrote the state.
    #[serde(default)]
    pub job_fingerprint: Option<String>,
    /// The workers whose state objects belong to this checkpoint.
    pub workers: Vec<String>,
    /// Which worker's state object holds each partition (empty in checkpoints written before
    /// partitions could move: then any of `workers` may hold any partition).
    #[serde(default)]
    pub holders: BTreeMap<i32, String>,
    pub tables: Vec<TableFiles>,
    /// The job's watermark its barrier closed windows at: the floor of lateness after a restore
    /// ([`crate::job_watermark::JobWatermark::checkpoint_value`]).
    pub watermark_ms: i64,
    /// False in checkpoints whose `watermark_ms` was only a report: their state objects keep
    /// the watermark to resume from.
    #[serde(default)]
    pub watermark_is_job_watermark: bool,
}

impl CheckpointManifest {
    pub fn at(&self) -> CheckpointRef {
        CheckpointRef {
            id: self.checkpoint_id,
            epoch: self.epoch,
        }
    }
}

/// Data files of one table in a checkpoint, as Iceberg DataFile JSON: the files it adds and,
/// for a rewrite (copy-on-write), the paths of the live files it replaces.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TableFiles {
    pub table: String,
    pub data_files: Vec<String>,
    /// Rows of the added files.
    pub rows: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
    /// Merge-on-read: the live data files whose rows the added position delete files remove.
    /// The commit needs them all still live; otherwise the deletes would miss their rows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deletes_in: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::Acc;
    use crate::session::SessionSnapshot;
    use crate::window::{OperatorStats, WindowSnapshot};

    fn sample() -> OperatorSnapshot {
        OperatorSnapshot {
            partitions: vec![PartitionSnapshot {
                partition: 2,
                next_offset: Some(77),
                max_event_ms: Some(52),
                windows: vec![WindowSnapshot {
                    start_ms: 0,
                    keys: vec!["a".into(), "b".into()],
                    accs: vec![
                        Acc::Count(1),
                        Acc::MinDouble(None),
                        Acc::Count(2),
                        Acc::Avg { sum: 1.5, count: 2 },
                    ],
                }],
                sessions: Vec::new(),
                first_seen: Vec::new(),
                stats: OperatorStats {
                    events: 9,
                    late_accepted: 1,
                    late_rejected: 2,
                    dead_letters: 3,
                },
            }],
        }
    }

    fn four_partitions() -> OperatorSnapshot {
        let one = sample().partitions.remove(0);
        OperatorSnapshot {
            partitions: (0..4)
                .map(|p| PartitionSnapshot {
                    partition: p,
                    next_offset: Some(p as i64 * 10),
                    ..one.clone()
                })
                .collect(),
        }
    }

    #[test]
    fn a_streamed_read_keeps_only_the_partitions_asked_for() {
        let snap = four_partitions();
        let bytes = encode_state(&snap).unwrap();
        let all = decode_state_from(&bytes[..], |_| true).unwrap();
        assert_eq!(all, decode_state(&bytes).unwrap());
        let even = decode_state_from(&bytes[..], |p| p % 2 == 0).unwrap();
        let expected: Vec<_> = (snap.partitions.iter())
            .filter(|p| p.partition % 2 == 0)
            .cloned()
            .collect();
        assert_eq!(even.snapshot.partitions, expected);
        // One byte at a time, as a slow download hands it over.
        struct Trickle<'a>(&'a [u8]);
        impl std::io::Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let Some((first, rest)) = self.0.split_first() else {
                    return Ok(0);
                };
                buf[0] = *first;
                self.0 = rest;
                Ok(1)
            }
        }
        assert_eq!(decode_state_from(Trickle(&bytes), |_| true).unwrap(), all);
    }

    #[test]
    fn a_streamed_read_refuses_what_is_cut_short_or_runs_on() {
        let bytes = encode_state(&four_partitions()).unwrap();
        let cut = decode_state_from(&bytes[..bytes.len() - 3], |_| true);
        assert!(
            matches!(cut, Err(CheckpointFormatError::Decode(_))),
            "{cut:?}"
        );
        let mut longer = bytes.clone();
        longer.push(0);
        let on = decode_state_from(&longer[..], |_| true);
        assert!(
            matches!(on, Err(CheckpointFormatError::Decode(_))),
            "{on:?}"
        );
        let magic = decode_state_from(&b"NOPE\x02\x00"[..], |_| true);
        assert!(matches!(magic, Err(CheckpointFormatError::BadMagic)));
    }

    #[test]
    fn state_round_trips() {
        let bytes = encode_state(&sample()).unwrap();
        let decoded = decode_state(&bytes).unwrap();
        assert_eq!(decoded.snapshot, sample());
        assert_eq!(decoded.legacy_watermark, None);
    }

    #[test]
    fn sessions_round_trip_and_version_2_objects_read_without_them() {
        let mut with_sessions = sample();
        with_sessions.partitions[0].sessions = vec![SessionSnapshot {
            key: "a".into(),
            start_ms: 5,
            last_ms: 9,
            accs: vec![Acc::Count(3), Acc::MaxLong(Some(4))],
        }];
        with_sessions.partitions[0].first_seen = vec![("e-1".into(), 7)];
        let bytes = encode_state(&with_sessions).unwrap();
        assert_eq!(decode_state(&bytes).unwrap().snapshot, with_sessions);
        assert_eq!(
            decode_state_from(&bytes[..], |_| true).unwrap().snapshot,
            with_sessions
        );

        #[derive(Serialize)]
        struct P2 {
            partition: i32,
            next_offset: Option<i64>,
            max_event_ms: Option<i64>,
            windows: Vec<WindowSnapshot>,
            stats: OperatorStats,
        }
        let p = sample().partitions.remove(0);
        let v2 = vec![P2 {
            partition: p.partition,
            next_offset: p.next_offset,
            max_event_ms: p.max_event_ms,
            windows: p.windows,
            stats: p.stats,
        }];
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&FORMAT_V2.to_le_bytes());
        bytes.extend(bincode::serde::encode_to_vec((v2,), bincode::config::standard()).unwrap());
        let decoded = decode_state(&bytes).unwrap();
        assert_eq!(decoded.snapshot, sample());
        assert_eq!(decoded.legacy_watermark, None);
        assert_eq!(decode_state_from(&bytes[..], |_| true).unwrap(), decoded);
    }

    #[test]
    fn reads_version_1_objects_with_their_watermark_and_counters() {
        #[derive(Serialize)]
        struct V1 {
            global_watermark: i64,
            stats: OperatorStats,
            partitions: Vec<P1>,
        }
        #[derive(Serialize)]
        struct P1 {
            partition: i32,
            next_offset: Option<i64>,
            max_event_ms: Option<i64>,
            windows: Vec<WindowSnapshot>,
        }
        let p = sample().partitions.remove(0);
        let v1 = V1 {
            global_watermark: 42,
            stats: p.stats,
            partitions: vec![P1 {
                partition: p.partition,
                next_offset: p.next_offset,
                max_event_ms: p.max_event_ms,
                windows: p.windows.clone(),
            }],
        };
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&FORMAT_V1.to_le_bytes());
        bytes.extend(bincode::serde::encode_to_vec(&v1, bincode::config::standard()).unwrap());
        let decoded = decode_state(&bytes).unwrap();
        assert_eq!(decoded.snapshot, sample());
        assert_eq!(decoded.legacy_watermark, Some(42));
        assert_eq!(decode_state_from(&bytes[..], |_| true).unwrap(), decoded);
        let none = decode_state_from(&bytes[..], |_| false).unwrap();
        assert!(none.snapshot.partitions.is_empty());
        assert_eq!(none.legacy_watermark, Some(42));
    }

    #[test]
    fn rejects_foreign_truncated_and_future_objects() {
        let bytes = encode_state(&sample()).unwrap();
        assert!(matches!(
            decode_state(b"PAR1xxxx"),
            Err(CheckpointFormatError::BadMagic)
        ));
        assert!(matches!(
            decode_state(&bytes[..bytes.len() - 3]),
            Err(CheckpointFormatError::Decode(_))
        ));
        let mut future = bytes.clone();
        future[4] = 9;
        assert!(matches!(
            decode_state(&future),
            Err(CheckpointFormatError::Version(9))
        ));
        let mut longer = bytes;
        longer.push(0);
        assert!(matches!(
            decode_state(&longer),
            Err(CheckpointFormatError::Decode(_))
        ));
    }

    #[test]
    fn layout_orders_and_parses_paths() {
        let l = CheckpointLayout {
            job: "video".into(),
        };
        let at = CheckpointRef { id: 7, epoch: 3 };
        assert_eq!(
            l.manifest(at),
            "video/00000000000000000007/e00000000000000000003/_manifest.json"
        );
        assert_eq!(
            l.parse(&l.manifest(at)),
            Some(CheckpointObject::Checkpoint { at, manifest: true })
        );
        let legacy = CheckpointRef { id: 12, epoch: 0 };
        assert_eq!(
            l.worker_state(legacy, "w0"),
            "video/00000000000000000012/worker-w0.state"
        );
        assert_eq!(
            l.parse(&l.worker_state(legacy, "w0")),
            Some(CheckpointObject::Checkpoint {
                at: legacy,
                manifest: false
            })
        );
        assert_eq!(
            l.parse(&l.epoch_marker(4)),
            Some(CheckpointObject::Epoch(4))
        );
        assert_eq!(l.parse("other/00000000000000000007/x"), None);
        assert_eq!(l.parse("video/7/x"), None);
        assert_eq!(l.parse("video/00000000000000000007/e12/x"), None);
        assert!(l.dir(9) < l.dir(10));
    }
}
