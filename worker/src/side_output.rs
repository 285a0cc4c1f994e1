//! `SideOutputTables`: where a worker writes its row-per-record output (late events, dead
//! letters). Each checkpoint's rows become Parquet data files of those tables, written here;
//! only the files' metadata goes to the committer, which commits them with the checkpoint.

use floe_common::checkpoint::TableFiles;
use floe_common::config::JobSpec;
use floe_common::records::{DeadLetter, LateEvent};
use floe_common::schema::TableSchema;
use floe_common::table_target::TableTarget;
use floe_proto::Assignment;
use floe_sink::{rows, TableLayout};

use crate::worker::WorkerError;

/// The late-events and dead-letter tables of a job, as this worker writes them.
pub struct SideOutputTables {
    topic: String,
    late: TableLayout,
    dead_letters: TableLayout,
}

impl SideOutputTables {
    /// The tables an assignment names for the job's late events and dead letters.
    pub fn for_assignment(assignment: &Assignment) -> Result<Self, WorkerError> {
        Self::from_targets(&assignment.job, &assignment.tables)
    }

    /// The job's late-events and dead-letter tables among `targets`.
    pub fn from_targets(job: &JobSpec, targets: &[TableTarget]) -> Result<Self, WorkerError> {
        let layout = |name: &str| {
            let target = find(targets, name).ok_or_else(|| {
                WorkerError::Job(format!(
                    "the assignment of job {} does not describe its table {name}",
                    job.name
                ))
            })?;
            TableLayout::from_target(target).map_err(|e| WorkerError::Job(e.to_string()))
        };
        Ok(Self {
            topic: job.source.topic.clone(),
            late: layout(&job.late_table.name)?,
            dead_letters: layout(&job.dead_letter_table.name)?,
        })
    }

    /// Layouts made without a catalog under `location` (tests and tools).
    pub fn for_job_at(job: &JobSpec, location: &str) -> Result<Self, WorkerError> {
        let layout = |spec: &TableSchema| {
            let at = format!("{}/{}", location.trim_end_matches('/'), spec.name);
            TableLayout::for_schema(spec, &at).map_err(|e| WorkerError::Job(e.to_string()))
        };
        Ok(Self {
            topic: job.source.topic.clone(),
            late: layout(&job.late_table)?,
            dead_letters: layout(&job.dead_letter_table)?,
        })
    }

    /// Writes one checkpoint's late events and dead letters as data files; one entry per table
    /// that got rows.
    pub async fn write(
        &self,
        late: &[LateEvent],
        dead: &[DeadLetter],
    ) -> Result<Vec<TableFiles>, String> {
        let late = rows::late_batch(&self.topic, &self.late.arrow_schema(), late)?;
        let dead = rows::dead_letter_batch(&self.topic, &self.dead_letters.arrow_schema(), dead)?;
        let mut out = Vec::new();
        for (layout, batch) in [(&self.late, late), (&self.dead_letters, dead)] {
            out.extend(
                layout
                    .write_table_files(batch)
                    .await
                    .map_err(|e| e.to_string())?,
            );
        }
        Ok(out)
    }
}

fn find<'a>(targets: &'a [TableTarget], table: &str) -> Option<&'a TableTarget> {
    targets.iter().find(|t| t.table == table)
}
