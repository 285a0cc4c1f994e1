//! The table state a commit is planned on, and what follows a commit.
//!
//! Floe's committer is a table's only Floe writer, so the metadata its last commit wrote is
//! usually still current: a commit starts from it instead of loading and parsing the table
//! again. That is safe because every commit is pinned to the state it was planned on; if
//! another writer moved the table, the commit conflicts and its retry reloads.

use iceberg::table::Table;

use crate::iceberg_table::{IcebergTable, TableError};
use crate::maintenance::metadata_files::dropped_by_commit;

impl IcebergTable {
    /// What this process's last commit left, or the table reloaded.
    pub(crate) async fn base_for_commit(&self) -> Result<Table, TableError> {
        let cached = self.last_committed.lock().ok().and_then(|c| c.clone());
        match cached {
            Some(table) => Ok(table),
            None => self.reload().await,
        }
    }

    /// Forgets the last commit's state: the next commit reloads.
    pub(crate) fn forget_base(&self) {
        if let Ok(mut cached) = self.last_committed.lock() {
            *cached = None;
        }
    }

    /// After a commit that moved the table from `before` to `after`: remembers `after` for the
    /// next commit, and deletes the metadata files the commit dropped from the log.
    pub(crate) async fn committed(&self, before: &Table, after: &Table) {
        if let Ok(mut cached) = self.last_committed.lock() {
            *cached = Some(after.clone());
        }
        let dropped = dropped_by_commit(
            before.metadata(),
            before.metadata_location(),
            after.metadata(),
            after.metadata_location(),
        );
        for path in dropped {
            if let Err(e) = after.file_io().delete(&path).await {
                tracing::warn!(table = %self.ident, path, error = %e, "could not delete an old metadata file; it stays until orphan cleanup");
            }
        }
    }
}
