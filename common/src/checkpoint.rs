//! Checkpoint identity, object layout, and the binary encoding of operator state.

use serde::{Deserialize, Serialize};

use crate::window::OperatorSnapshot;

const MAGIC: &[u8; 4] = b"FLOE";
const FORMAT_VERSION: u16 = 1;

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

/// Reads what [`encode_state`] wrote.
pub fn decode_state(bytes: &[u8]) -> Result<OperatorSnapshot, CheckpointFormatError> {
    if bytes.len() < 6 || &bytes[..4] != MAGIC {
        return Err(CheckpointFormatError::BadMagic);
    }
    let version = u16::from_le_bytes([bytes[4], bytes[5]]);
    if version != FORMAT_VERSION {
        return Err(CheckpointFormatError::Version(version));
    }
    let (snapshot, used) =
        bincode::serde::decode_from_slice(&bytes[6..], bincode::config::standard())
            .map_err(|e| CheckpointFormatError::Decode(e.to_string()))?;
    if used != bytes.len() - 6 {
        return Err(CheckpointFormatError::Decode(format!(
            "{} trailing bytes",
            bytes.len() - 6 - used
        )));
    }
    Ok(snapshot)
}

/// Object names of a job's checkpoints under the checkpoint store. Ids are zero-padded so
/// listing order is checkpoint order.
#[derive(Debug, Clone)]
pub struct CheckpointLayout {
    pub job: String,
}

impl CheckpointLayout {
    pub fn job_prefix(&self) -> String {
        format!("{}/", self.job)
    }

    pub fn dir(&self, checkpoint_id: u64) -> String {
        format!("{}/{checkpoint_id:020}", self.job)
    }

    pub fn worker_state(&self, checkpoint_id: u64, worker: &str) -> String {
        format!("{}/worker-{worker}.state", self.dir(checkpoint_id))
    }

    /// Written last: its presence makes the checkpoint complete.
    pub fn manifest(&self, checkpoint_id: u64) -> String {
        format!("{}/_manifest.json", self.dir(checkpoint_id))
    }

    /// The checkpoint id of an object path under this job, if it is one of ours.
    pub fn parse_id(&self, path: &str) -> Option<u64> {
        let rest = path.strip_prefix(&self.job_prefix())?;
        let (id, _) = rest.split_once('/')?;
        if id.len() != 20 {
            return None;
        }
        id.parse().ok()
    }
}

/// What a completed checkpoint committed (or will commit) per table: enough to re-commit it
/// after a crash between "complete" and "committed".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointManifest {
    pub job: String,
    pub checkpoint_id: u64,
    /// The workers whose state objects belong to this checkpoint.
    pub workers: Vec<String>,
    pub tables: Vec<TableFiles>,
    pub watermark_ms: i64,
}

/// Data files of one table in a checkpoint, as Iceberg DataFile JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableFiles {
    pub table: String,
    pub data_files: Vec<String>,
    pub rows: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::Acc;
    use crate::window::{OperatorStats, PartitionSnapshot, WindowSnapshot};

    fn sample() -> OperatorSnapshot {
        OperatorSnapshot {
            global_watermark: 42,
            stats: OperatorStats {
                events: 9,
                late_accepted: 1,
                late_rejected: 2,
                dead_letters: 3,
            },
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
            }],
        }
    }

    #[test]
    fn state_round_trips() {
        let bytes = encode_state(&sample()).unwrap();
        assert_eq!(decode_state(&bytes).unwrap(), sample());
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
    fn layout_orders_and_parses_ids() {
        let l = CheckpointLayout {
            job: "video".into(),
        };
        assert_eq!(l.manifest(7), "video/00000000000000000007/_manifest.json");
        assert_eq!(l.parse_id(&l.worker_state(12, "w0")), Some(12));
        assert_eq!(l.parse_id("other/00000000000000000007/x"), None);
        assert_eq!(l.parse_id("video/7/x"), None);
        assert!(l.dir(9) < l.dir(10));
    }
}
