//! Orphan cleanup: data and metadata files under a table's location that nothing references
//! any more (written for a checkpoint that never committed, left by a crash between a commit
//! and its deletions, or by another engine), once they are old enough that no writer can still
//! be about to commit them.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use futures::{StreamExt, TryStreamExt};
use iceberg::table::Table;
use iceberg::{Error, ErrorKind};

use super::reachable::{files_of, manifests_of};
use crate::iceberg_table::{IcebergTable, TableError};

/// What orphan cleanup found, and deleted unless it was a dry run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Orphans {
    pub files: Vec<String>,
    pub bytes: u64,
}

/// Only files of these kinds are ever taken for orphans: anything else under a table's
/// location (another engine's statistics, a Hadoop catalog's version hint) is left alone.
fn is_table_file(path: &str) -> bool {
    path.ends_with(".parquet") || path.ends_with(".avro") || path.ends_with(".metadata.json")
}

/// Every file the table's metadata names: each snapshot's manifest list, manifests and data
/// and delete files (deleted entries too), the current metadata file and those in its log.
async fn referenced(table: &Table) -> iceberg::Result<HashSet<String>> {
    let md = table.metadata();
    let snapshots: Vec<_> = md.snapshots().cloned().collect();
    let manifests = manifests_of(table, &snapshots).await?;
    let mut names = files_of(table, manifests.values(), false).await?;
    names.extend(manifests.into_keys());
    names.extend(snapshots.iter().map(|s| s.manifest_list().to_owned()));
    names.extend(md.metadata_log().iter().map(|l| l.metadata_file.clone()));
    names.extend(table.metadata_location().map(str::to_owned));
    Ok(names)
}

impl IcebergTable {
    /// Finds the files under the table's location that the table does not reference, none of
    /// `protected` names (the files of complete checkpoints a restart would still commit), and
    /// that were last modified more than `min_age` before `now`; deletes them unless `dry_run`.
    pub async fn remove_orphans(
        &self,
        protected: &HashSet<String>,
        min_age: Duration,
        now: SystemTime,
        dry_run: bool,
    ) -> Result<Orphans, TableError> {
        let what = "looking for orphan files";
        let fail = |e| self.maintenance_failed(what, e);
        let table = self.reload().await?;
        let root = table.metadata().location().trim_end_matches('/').to_owned();
        let location = floe_storage::open_location(&root).map_err(|e| {
            fail(
                Error::new(ErrorKind::Unexpected, "cannot list the table's location")
                    .with_source(e),
            )
        })?;
        let cutoff = now.checked_sub(min_age).unwrap_or(SystemTime::UNIX_EPOCH);
        // Listed before the metadata is read: a file committed meanwhile is referenced by then.
        let listed: Vec<object_store::ObjectMeta> = location
            .store
            .list(Some(&location.prefix))
            .try_collect()
            .await
            .map_err(|e| {
                fail(
                    Error::new(ErrorKind::Unexpected, "cannot list the table's location")
                        .with_source(e),
                )
            })?;
        let table = self.reload().await?;
        let names = referenced(&table).await.map_err(fail)?;
        let prefix = location.prefix.as_ref();
        let mut orphans = Orphans::default();
        for meta in listed {
            let relative = meta
                .location
                .as_ref()
                .strip_prefix(prefix)
                .unwrap_or(meta.location.as_ref())
                .trim_start_matches('/');
            let path = format!("{root}/{relative}");
            let modified: SystemTime = meta.last_modified.into();
            if is_table_file(&path)
                && modified < cutoff
                && !names.contains(&path)
                && !protected.contains(&path)
            {
                orphans.bytes += meta.size;
                orphans.files.push(path);
            }
        }
        orphans.files.sort();
        if !dry_run && !orphans.files.is_empty() {
            table
                .file_io()
                .delete_stream(futures::stream::iter(orphans.files.clone()).boxed())
                .await
                .map_err(fail)?;
        }
        Ok(orphans)
    }
}
