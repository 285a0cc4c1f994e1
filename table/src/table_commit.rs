//! The idempotent, fenced commit of one checkpoint to one table, and the fence that hands a job
//! over to a newer process.
//!
//! Before committing checkpoint `n`, the table is reloaded and its markers read
//! ([`JobMarks`]): if it already holds a checkpoint `>= n` of the job, nothing is written; if a
//! newer process has fenced the job, the commit is refused. Each attempt is pinned to the state
//! that was checked ([`PinnedCatalog`]), so a concurrent commit makes it conflict instead of
//! being rebased without the check. A failed or conflicting attempt is retried by one policy
//! ([`retry_commit`]), every attempt starting from a fresh reload and re-check.

use std::collections::HashMap;
use std::time::Duration;

use iceberg::spec::DataFile;
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::{ErrorKind, TableUpdate};

use crate::commit_marker::{
    checkpoint_table_property, epoch_table_property, snapshot_for_checkpoint, JobMarks,
    CHECKPOINT_ID_PROPERTY, EPOCH_PROPERTY, JOB_ID_PROPERTY,
};
use crate::iceberg_table::{CommitOutcome, IcebergTable, TableError};
use crate::overwrite_commit::{stage_overwrite, Overwrite, SnapshotCommits};
use crate::pinned_catalog::PinnedCatalog;

/// Attempts of one commit (or fence) before it fails: conflicts with another writer, failed
/// commits verified not to have landed, and catalog errors are all tried again.
const COMMIT_ATTEMPTS: usize = 8;
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

/// Whether a second attempt of a commit may succeed where this one failed.
fn is_retryable(e: &TableError) -> bool {
    matches!(
        e,
        TableError::CommitFailed { .. }
            | TableError::CommitStateUnknown { .. }
            | TableError::CommitConflict { .. }
            | TableError::Catalog { .. }
    )
}

/// Runs `attempt` under the one commit retry policy: up to [`COMMIT_ATTEMPTS`] attempts with
/// jittered exponential backoff; `retried` is called before each new attempt. Each attempt must
/// re-read the table, so none can commit twice.
async fn retry_commit<T, Fut>(
    what: &str,
    attempt: impl FnMut() -> Fut,
    retried: impl Fn(),
) -> Result<T, TableError>
where
    Fut: std::future::Future<Output = Result<T, TableError>>,
{
    use backon::{ExponentialBuilder, Retryable};
    attempt
        .retry(
            ExponentialBuilder::default()
                .with_min_delay(FIRST_RETRY_DELAY)
                .with_max_delay(MAX_RETRY_DELAY)
                .with_jitter()
                .with_max_times(COMMIT_ATTEMPTS - 1),
        )
        .when(is_retryable)
        .notify(|e, delay| {
            retried();
            tracing::warn!(what, error = %e, retry_in = ?delay, "commit failed; retrying");
        })
        .await
}

/// The process committing for a job: the job's name and the epoch this process took it with.
/// Epoch 0 never fences anyone (a table no process has fenced accepts it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOwner {
    pub job: String,
    pub epoch: u64,
}

/// What one checkpoint commits to a table.
#[derive(Debug, Clone)]
pub enum TableChange<'a> {
    /// New data files.
    Append(Vec<DataFile>),
    /// Data files replaced by their rewrites and new rows (copy-on-write), committed through
    /// `via`: iceberg's transactions only append.
    Overwrite {
        change: Overwrite,
        via: &'a SnapshotCommits,
    },
}

/// What one pinned attempt should do, decided from the freshly loaded table.
enum Plan<'a> {
    Done(CommitOutcome),
    Commit(Box<Transaction>),
    /// Stage an overwrite on the loaded table with this summary and these updates, then commit.
    Overwrite {
        change: &'a Overwrite,
        via: &'a SnapshotCommits,
        summary: HashMap<String, String>,
        also: Vec<TableUpdate>,
    },
}

/// How one pinned attempt ended.
enum Attempts {
    Done(CommitOutcome),
    Committed(Table),
    Failed(iceberg::Error),
}

impl IcebergTable {
    /// The job's markers as the table holds them now.
    pub async fn marks(&self, job: &str) -> Result<JobMarks, TableError> {
        let table = self.reload().await?;
        self.read_marks(&table, job)
    }

    /// The largest checkpoint of `job` the table holds (snapshot ancestry or table property).
    pub async fn last_committed_checkpoint(&self, job: &str) -> Result<Option<u64>, TableError> {
        Ok(self.marks(job).await?.last_checkpoint)
    }

    fn read_marks(&self, table: &Table, job: &str) -> Result<JobMarks, TableError> {
        JobMarks::read(table.metadata(), job).map_err(|bad| TableError::BadMarker {
            table: self.ident.to_string(),
            place: bad.place,
            value: bad.value,
        })
    }

    fn check_owner(&self, marks: &JobMarks, owner: &JobOwner) -> Result<(), TableError> {
        match marks.owner_epoch {
            Some(newer) if newer > owner.epoch => Err(TableError::Fenced {
                table: self.ident.to_string(),
                job: owner.job.clone(),
                mine: owner.epoch,
                owner: newer,
            }),
            _ => Ok(()),
        }
    }

    /// Appends `files` as checkpoint `checkpoint_id` of `owner.job`, exactly once (see
    /// [`Self::commit_change`]).
    pub async fn commit(
        &self,
        owner: &JobOwner,
        checkpoint_id: u64,
        files: Vec<DataFile>,
    ) -> Result<CommitOutcome, TableError> {
        self.commit_change(owner, checkpoint_id, TableChange::Append(files))
            .await
    }

    /// Commits `change` as checkpoint `checkpoint_id` of `owner.job`, exactly once.
    ///
    /// Returns [`CommitOutcome::AlreadyCommitted`] without writing when the table holds a
    /// checkpoint `>= checkpoint_id` of the job, and [`TableError::Fenced`] when a newer process
    /// owns it. Otherwise commits the change in one snapshot tagged with the job and checkpoint,
    /// setting the checkpoint table property in the same commit. An append may be empty.
    /// Any failure is followed by a reload: if the checkpoint landed anyway, that is returned.
    pub async fn commit_change(
        &self,
        owner: &JobOwner,
        checkpoint_id: u64,
        change: TableChange<'_>,
    ) -> Result<CommitOutcome, TableError> {
        self.commit_change_observed(owner, checkpoint_id, change, || {})
            .await
    }

    /// [`Self::commit_change`], calling `retried` before each attempt after the first.
    pub async fn commit_change_observed(
        &self,
        owner: &JobOwner,
        checkpoint_id: u64,
        change: TableChange<'_>,
        retried: impl Fn(),
    ) -> Result<CommitOutcome, TableError> {
        let what = format!("checkpoint {checkpoint_id} of `{}`", self.ident);
        retry_commit(
            &what,
            || self.commit_change_once(owner, checkpoint_id, &change),
            retried,
        )
        .await
    }

    async fn commit_change_once(
        &self,
        owner: &JobOwner,
        checkpoint_id: u64,
        change: &TableChange<'_>,
    ) -> Result<CommitOutcome, TableError> {
        if owner.job.is_empty() {
            return Err(TableError::InvalidArgument(
                "job id must not be empty".into(),
            ));
        }
        let what = format!("checkpoint {checkpoint_id}");
        let summary = HashMap::from([
            (JOB_ID_PROPERTY.to_owned(), owner.job.clone()),
            (CHECKPOINT_ID_PROPERTY.to_owned(), checkpoint_id.to_string()),
        ]);
        let attempts = self
            .commit_pinned(&what, |base| {
                let marks = self.read_marks(base, &owner.job)?;
                if let Some(last) = marks.last_checkpoint.filter(|l| *l >= checkpoint_id) {
                    return Ok(Plan::Done(CommitOutcome::AlreadyCommitted { last }));
                }
                self.check_owner(&marks, owner)?;
                let files = match change {
                    TableChange::Append(files) => files,
                    TableChange::Overwrite { change, via } => {
                        return Ok(Plan::Overwrite {
                            change,
                            via,
                            summary: summary.clone(),
                            also: vec![TableUpdate::SetProperties {
                                updates: HashMap::from([(
                                    checkpoint_table_property(&owner.job),
                                    checkpoint_id.to_string(),
                                )]),
                            }],
                        })
                    }
                };
                // File names carry a fresh uuid and the checkpoint check guards re-commits, so
                // the duplicate-file scan (which reads every manifest of the table) is skipped.
                let tx = Transaction::new(base);
                let tx = tx
                    .fast_append()
                    .with_check_duplicate(false)
                    .add_data_files(files.iter().cloned())
                    .set_snapshot_properties(summary.clone())
                    .apply(tx)
                    .and_then(|tx| {
                        tx.update_table_properties()
                            .set(
                                checkpoint_table_property(&owner.job),
                                checkpoint_id.to_string(),
                            )
                            .apply(tx)
                    })
                    .map_err(|source| self.failed(&what, source))?;
                Ok(Plan::Commit(Box::new(tx)))
            })
            .await?;
        let error = match attempts {
            Attempts::Done(outcome) => return Ok(outcome),
            Attempts::Committed(table) => {
                match snapshot_for_checkpoint(table.metadata(), &owner.job, checkpoint_id)
                    .or_else(|| table.metadata().current_snapshot_id())
                {
                    Some(snapshot_id) => return Ok(CommitOutcome::Committed { snapshot_id }),
                    // Cannot happen with a conforming catalog; re-check rather than guess.
                    None => iceberg::Error::new(
                        ErrorKind::Unexpected,
                        "catalog returned a table without a current snapshot",
                    ),
                }
            }
            Attempts::Failed(e) => e,
        };
        self.recheck_after_failure(&owner.job, checkpoint_id, error)
            .await
    }

    /// Makes `owner` the owner of its job on this table: from now on commits of older epochs
    /// fail with [`TableError::Fenced`]. The fence is an empty snapshot (so that every catalog,
    /// REST included, sees a racing commit of an older epoch as a conflict) plus the epoch table
    /// property. Fails with `Fenced` if a newer epoch already owns the job.
    pub async fn fence(&self, owner: &JobOwner) -> Result<(), TableError> {
        let what = format!("the fence of job {} at epoch {}", owner.job, owner.epoch);
        retry_commit(&what, || self.fence_once(owner, &what), || {}).await
    }

    async fn fence_once(&self, owner: &JobOwner, what: &str) -> Result<(), TableError> {
        let summary = HashMap::from([
            (JOB_ID_PROPERTY.to_owned(), owner.job.clone()),
            (EPOCH_PROPERTY.to_owned(), owner.epoch.to_string()),
        ]);
        let attempts = self
            .commit_pinned(what, |base| {
                let marks = self.read_marks(base, &owner.job)?;
                self.check_owner(&marks, owner)?;
                if marks.owner_epoch == Some(owner.epoch) {
                    return Ok(Plan::Done(CommitOutcome::AlreadyCommitted { last: 0 }));
                }
                let tx = Transaction::new(base);
                let tx = tx
                    .fast_append()
                    .set_snapshot_properties(summary.clone())
                    .apply(tx)
                    .and_then(|tx| {
                        tx.update_table_properties()
                            .set(epoch_table_property(&owner.job), owner.epoch.to_string())
                            .apply(tx)
                    })
                    .map_err(|source| self.failed(what, source))?;
                Ok(Plan::Commit(Box::new(tx)))
            })
            .await?;
        match attempts {
            Attempts::Done(_) | Attempts::Committed(_) => Ok(()),
            Attempts::Failed(commit_error) => {
                // Did it land after all?
                let (table, commit_error) = self.reload_after_failure(what, commit_error).await?;
                let marks = self.read_marks(&table, &owner.job)?;
                self.check_owner(&marks, owner)?;
                if marks.owner_epoch == Some(owner.epoch) {
                    Ok(())
                } else {
                    Err(self.failed(what, commit_error))
                }
            }
        }
    }

    fn failed(&self, what: &str, source: iceberg::Error) -> TableError {
        TableError::CommitFailed {
            table: self.ident.to_string(),
            what: what.to_owned(),
            source,
        }
    }

    /// Reloads, lets `plan` decide from the loaded table, and commits its transaction pinned to
    /// that table. Losing a race to another writer is [`TableError::CommitConflict`], which
    /// [`retry_commit`] tries again from a fresh reload.
    async fn commit_pinned<'p>(
        &self,
        what: &str,
        plan: impl Fn(&Table) -> Result<Plan<'p>, TableError>,
    ) -> Result<Attempts, TableError> {
        let asked = std::time::Instant::now();
        let _turn = self.commit_turn.lock().await;
        let turn_wait = asked.elapsed();
        let base = self.base_for_commit().await?;
        let based = asked.elapsed();
        let committed = match plan(&base)? {
            Plan::Done(outcome) => return Ok(Attempts::Done(outcome)),
            Plan::Commit(tx) => {
                let pinned = PinnedCatalog {
                    inner: self.catalog.clone(),
                    base: base.clone(),
                };
                crate::catalog_call::with_deadline(what, tx.commit(&pinned)).await
            }
            Plan::Overwrite {
                change,
                via,
                summary,
                also,
            } => {
                let attempt = async {
                    let staged = stage_overwrite(&base, change, summary, also).await?;
                    via.commit(&base, staged).await?;
                    self.catalog.load_table(&self.ident).await
                };
                crate::catalog_call::with_deadline(what, attempt).await
            }
        };
        match committed {
            Ok(committed) => {
                self.committed(&base, &committed).await;
                let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
                tracing::debug!(
                    table = %self.ident,
                    what,
                    turn_wait_ms = ms(turn_wait),
                    base_ms = ms(based - turn_wait),
                    commit_ms = ms(asked.elapsed() - based),
                    "table commit"
                );
                Ok(Attempts::Committed(committed))
            }
            Err(e) if e.kind() == ErrorKind::CatalogCommitConflicts => {
                self.forget_base();
                Err(TableError::CommitConflict {
                    table: self.ident.to_string(),
                    what: what.to_owned(),
                    source: e,
                })
            }
            Err(e) => {
                self.forget_base();
                Ok(Attempts::Failed(e))
            }
        }
    }

    /// The table after a failed commit (with the commit's error back), to see whether the
    /// commit landed; a table that cannot be read leaves the outcome unknown.
    async fn reload_after_failure(
        &self,
        what: &str,
        commit_error: iceberg::Error,
    ) -> Result<(Table, iceberg::Error), TableError> {
        match self.reload().await {
            Ok(table) => Ok((table, commit_error)),
            Err(TableError::Catalog { source, .. }) => Err(TableError::CommitStateUnknown {
                table: self.ident.to_string(),
                what: what.to_owned(),
                commit_error,
                source,
            }),
            Err(e) => Err(e),
        }
    }

    /// After a failed commit: reload and decide whether the checkpoint landed anyway.
    async fn recheck_after_failure(
        &self,
        job: &str,
        checkpoint_id: u64,
        commit_error: iceberg::Error,
    ) -> Result<CommitOutcome, TableError> {
        let what = format!("checkpoint {checkpoint_id}");
        let (table, commit_error) = self.reload_after_failure(&what, commit_error).await?;
        if let Some(snapshot_id) = snapshot_for_checkpoint(table.metadata(), job, checkpoint_id) {
            tracing::warn!(
                table = %self.ident,
                checkpoint_id,
                snapshot_id,
                error = %commit_error,
                "iceberg commit reported an error but the checkpoint is in the table"
            );
            return Ok(CommitOutcome::Committed { snapshot_id });
        }
        match self.read_marks(&table, job)?.last_checkpoint {
            Some(last) if last >= checkpoint_id => Ok(CommitOutcome::AlreadyCommitted { last }),
            _ => Err(self.failed(&what, commit_error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commit_marker::ancestry;
    use crate::test_support::{owner, scan_rows, sqlite_catalog, test_schema, two_day_batch};

    async fn table(dir: &tempfile::TempDir) -> IcebergTable {
        let mut spec = test_schema("db.marked");
        spec.partition.clear();
        IcebergTable::open_or_create(sqlite_catalog(dir).await, &spec)
            .await
            .expect("create")
    }

    /// Another engine compacts the table and expires the snapshots Floe wrote: the job's last
    /// checkpoint must still be known, or the next restart re-appends it.
    #[tokio::test]
    async fn the_last_checkpoint_survives_rewrites_and_snapshot_expiry() {
        let dir = tempfile::TempDir::new().expect("tempdir");
        let table = table(&dir).await;
        for id in [1, 2] {
            let files = table
                .layout()
                .write_data_files(two_day_batch())
                .await
                .expect("write");
            table.commit(&owner("j"), id, files).await.expect("commit");
        }
        // "Another engine": an append without Floe's summary, then expiry of all older snapshots.
        let files = table
            .layout()
            .write_data_files(two_day_batch())
            .await
            .expect("write");
        let base = table.reload().await.expect("reload");
        let tx = Transaction::new(&base);
        let tx = tx
            .fast_append()
            .add_data_files(files)
            .apply(tx)
            .expect("apply");
        let after = tx
            .commit(table.catalog.as_ref())
            .await
            .expect("foreign append");
        let current = after.metadata().current_snapshot_id().expect("current");
        let older: Vec<i64> = after
            .metadata()
            .snapshots()
            .map(|s| s.snapshot_id())
            .filter(|id| *id != current)
            .collect();
        let tx = Transaction::new(&after);
        let tx = tx
            .expire_snapshots()
            .expire_snapshot_ids(older)
            .apply(tx)
            .expect("apply expiry");
        let expired = tx.commit(table.catalog.as_ref()).await.expect("expire");
        assert_eq!(
            ancestry(expired.metadata()).len(),
            1,
            "Floe's snapshots are gone"
        );

        assert_eq!(
            table.last_committed_checkpoint("j").await.expect("last"),
            Some(2)
        );
        assert_eq!(
            table
                .commit(&owner("j"), 2, Vec::new())
                .await
                .expect("re-commit"),
            CommitOutcome::AlreadyCommitted { last: 2 }
        );
        assert_eq!(scan_rows(&table).await, 12);
    }

    #[tokio::test]
    async fn a_fenced_job_refuses_older_epochs_and_keeps_its_checkpoints() {
        let dir = tempfile::TempDir::new().expect("tempdir");
        let table = table(&dir).await;
        let old = JobOwner {
            job: "j".into(),
            epoch: 1,
        };
        let new = JobOwner {
            job: "j".into(),
            epoch: 2,
        };
        table.fence(&old).await.expect("fence 1");
        table
            .commit(&old, 1, Vec::new())
            .await
            .expect("commit as 1");
        table.fence(&new).await.expect("fence 2");
        table.fence(&new).await.expect("fencing twice is a no-op");
        let err = table.commit(&old, 2, Vec::new()).await.expect_err("fenced");
        assert!(
            matches!(
                err,
                TableError::Fenced {
                    mine: 1,
                    owner: 2,
                    ..
                }
            ),
            "{err}"
        );
        let err = table.fence(&old).await.expect_err("cannot take it back");
        assert!(matches!(err, TableError::Fenced { .. }), "{err}");
        assert_eq!(
            table.commit(&new, 1, Vec::new()).await.expect("already"),
            CommitOutcome::AlreadyCommitted { last: 1 },
            "the fence snapshot keeps the checkpoint history"
        );
        assert!(matches!(
            table
                .commit(&new, 2, Vec::new())
                .await
                .expect("commit as 2"),
            CommitOutcome::Committed { .. }
        ));
        // Another job on the same table is not fenced by this one.
        table
            .commit(&owner("other"), 1, Vec::new())
            .await
            .expect("other job");
    }
}
