//! How an Iceberg table records which checkpoints of a job it holds, and which process of the
//! job may write to it.
//!
//! Every commit of checkpoint `n` carries the job and `n` twice:
//! - in its snapshot summary ([`JOB_ID_PROPERTY`], [`CHECKPOINT_ID_PROPERTY`]), readable by
//!   walking the snapshot ancestry, and
//! - in a table property ([`checkpoint_table_property`]) set in the same commit, which survives
//!   when another engine rewrites files and expires the snapshots that carried the summary.
//!
//! The last committed checkpoint is the larger of the two. A process that takes over a job
//! records its epoch in [`epoch_table_property`]; commits of older epochs are refused.

use std::collections::{HashMap, HashSet};

use iceberg::spec::{SnapshotRef, TableMetadata};

/// Snapshot summary property naming the Floe job that produced a snapshot.
pub const JOB_ID_PROPERTY: &str = "floe.job-id";
/// Snapshot summary property holding the checkpoint id a snapshot commits.
pub const CHECKPOINT_ID_PROPERTY: &str = "floe.checkpoint-id";
/// Snapshot summary property of a fencing snapshot: the epoch that took the job over.
pub const EPOCH_PROPERTY: &str = "floe.epoch";

/// The table property holding the last checkpoint of `job` committed to the table.
pub fn checkpoint_table_property(job: &str) -> String {
    format!("floe.job.{job}.checkpoint-id")
}

/// The table property holding the epoch of the process that owns `job`.
pub fn epoch_table_property(job: &str) -> String {
    format!("floe.job.{job}.epoch")
}

/// A Floe marker whose value is not an unsigned integer: ignoring it could commit a checkpoint
/// twice, so it stops the commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadMarker {
    /// Where it was found: a snapshot id or a table property.
    pub place: String,
    pub value: String,
}

/// What a table says about one job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobMarks {
    /// The largest checkpoint of the job the table holds.
    pub last_checkpoint: Option<u64>,
    /// The epoch of the process that last took the job over on this table.
    pub owner_epoch: Option<u64>,
}

impl JobMarks {
    /// Reads both markers of `job` from `metadata`.
    pub fn read(metadata: &TableMetadata, job: &str) -> Result<Self, BadMarker> {
        let from_snapshots =
            max_checkpoint_in_ancestry(ancestry(metadata).into_iter().map(floe_properties), job)?;
        let properties = metadata.properties();
        let from_property = parse_property(properties, &checkpoint_table_property(job))?;
        Ok(Self {
            last_checkpoint: from_snapshots.max(from_property),
            owner_epoch: parse_property(properties, &epoch_table_property(job))?,
        })
    }
}

fn parse_property(
    properties: &HashMap<String, String>,
    key: &str,
) -> Result<Option<u64>, BadMarker> {
    properties
        .get(key)
        .map(|raw| {
            raw.trim().parse::<u64>().map_err(|_| BadMarker {
                place: format!("table property {key}"),
                value: raw.clone(),
            })
        })
        .transpose()
}

/// The snapshots from the current one back through parent ids (stopping at a missing parent,
/// e.g. expired, or at a cycle in corrupt metadata).
pub fn ancestry(metadata: &TableMetadata) -> Vec<&SnapshotRef> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut next = metadata.current_snapshot();
    while let Some(snapshot) = next {
        if !seen.insert(snapshot.snapshot_id()) {
            break;
        }
        out.push(snapshot);
        next = snapshot
            .parent_snapshot_id()
            .and_then(|id| metadata.snapshot_by_id(id));
    }
    out
}

/// The largest checkpoint id among `snapshots` (as `(snapshot_id, job, checkpoint)` property
/// values) whose job is `job_id`. Snapshots of other jobs or without a checkpoint are skipped.
fn max_checkpoint_in_ancestry<'a>(
    snapshots: impl IntoIterator<Item = (i64, Option<&'a str>, Option<&'a str>)>,
    job_id: &str,
) -> Result<Option<u64>, BadMarker> {
    let mut max = None;
    for (snapshot_id, job, checkpoint) in snapshots {
        if job != Some(job_id) {
            continue;
        }
        let Some(raw) = checkpoint else { continue };
        let id = raw.trim().parse::<u64>().map_err(|_| BadMarker {
            place: format!("snapshot {snapshot_id}"),
            value: raw.to_owned(),
        })?;
        max = max.max(Some(id));
    }
    Ok(max)
}

fn floe_properties(snapshot: &SnapshotRef) -> (i64, Option<&str>, Option<&str>) {
    let props = &snapshot.summary().additional_properties;
    (
        snapshot.snapshot_id(),
        props.get(JOB_ID_PROPERTY).map(String::as_str),
        props.get(CHECKPOINT_ID_PROPERTY).map(String::as_str),
    )
}

/// The snapshot (in the current ancestry) that recorded exactly `checkpoint_id` for `job_id`.
pub fn snapshot_for_checkpoint(
    metadata: &TableMetadata,
    job_id: &str,
    checkpoint_id: u64,
) -> Option<i64> {
    ancestry(metadata)
        .into_iter()
        .map(floe_properties)
        .find(|(_, job, ckpt)| {
            *job == Some(job_id)
                && ckpt.and_then(|c| c.trim().parse::<u64>().ok()) == Some(checkpoint_id)
        })
        .map(|(id, _, _)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestry_max_ignores_other_jobs_and_plain_snapshots() {
        let snaps = vec![
            (5, None, None),                // e.g. a compaction on top
            (4, Some("other"), Some("99")), // another job
            (3, Some("job"), Some("2")),
            (2, Some("job"), Some("1")),
            (1, Some("job"), None), // a fencing snapshot: no checkpoint
        ];
        assert_eq!(max_checkpoint_in_ancestry(snaps, "job"), Ok(Some(2)));
        assert_eq!(
            max_checkpoint_in_ancestry(vec![(1, Some("other"), Some("3"))], "job"),
            Ok(None)
        );
        assert_eq!(max_checkpoint_in_ancestry(Vec::new(), "job"), Ok(None));
        assert_eq!(
            max_checkpoint_in_ancestry(
                vec![(2, Some("job"), Some("3")), (1, Some("job"), Some("7"))],
                "job"
            ),
            Ok(Some(7)),
            "not sorted: still the max"
        );
    }

    #[test]
    fn garbage_markers_of_the_own_job_are_errors() {
        assert_eq!(
            max_checkpoint_in_ancestry(vec![(9, Some("job"), Some("x"))], "job"),
            Err(BadMarker {
                place: "snapshot 9".into(),
                value: "x".into()
            })
        );
        assert_eq!(
            max_checkpoint_in_ancestry(vec![(9, Some("other"), Some("x"))], "job"),
            Ok(None)
        );
        let props = HashMap::from([(epoch_table_property("job"), "seven".to_owned())]);
        assert!(parse_property(&props, &epoch_table_property("job")).is_err());
        assert_eq!(
            parse_property(&props, &epoch_table_property("other")),
            Ok(None)
        );
    }
}
