//! Commits less often than checkpoints (`sink.commit_interval`): a checkpoint that is not
//! committed hands its files to the next one, so each complete checkpoint's manifest lists
//! every file since the last commit. Whichever checkpoint is committed next, by the running
//! job or by a restart's recovery (which commits the newest complete checkpoint), lands them
//! all in one snapshot per table, exactly once.

use floe_common::checkpoint::{CheckpointManifest, TableFiles};

/// `tables` (a new checkpoint's files, in commit order) with the files of `uncommitted`, the
/// previous complete checkpoint that was not committed, carried over: the same tables gain
/// its files first, and a table only it has files for joins in commit order (`order`).
pub fn carry_over(
    uncommitted: &CheckpointManifest,
    tables: Vec<TableFiles>,
    order: &[&str],
) -> Vec<TableFiles> {
    let mut merged: Vec<TableFiles> = uncommitted.tables.clone();
    for files in tables {
        match merged.iter_mut().find(|t| t.table == files.table) {
            Some(into) => {
                into.data_files.extend(files.data_files);
                into.rows += files.rows;
                into.removed.extend(files.removed);
            }
            None => merged.push(files),
        }
    }
    merged.sort_by_key(|t| order.iter().position(|name| *name == t.table));
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(table: &str, data: &[&str], rows: u64) -> TableFiles {
        TableFiles {
            table: table.into(),
            data_files: data.iter().map(|d| d.to_string()).collect(),
            rows,
            removed: Vec::new(),
            deletes_in: Vec::new(),
        }
    }

    #[test]
    fn an_uncommitted_checkpoints_files_join_the_next_in_commit_order() {
        let uncommitted = CheckpointManifest {
            job: "j".into(),
            checkpoint_id: 4,
            epoch: 1,
            job_fingerprint: None,
            workers: Vec::new(),
            holders: Default::default(),
            tables: vec![files("dlq", &["d4"], 1), files("main", &["m4"], 10)],
            watermark_ms: 0,
            watermark_is_job_watermark: true,
        };
        let merged = carry_over(
            &uncommitted,
            vec![files("late", &["l5"], 2), files("main", &["m5"], 20)],
            &["late", "dlq", "main"],
        );
        assert_eq!(
            merged,
            vec![
                files("late", &["l5"], 2),
                files("dlq", &["d4"], 1),
                files("main", &["m4", "m5"], 30),
            ]
        );
    }
}
