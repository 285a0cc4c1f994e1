//! `WorkerTables`: the tables a worker writes data files for itself: the row-per-record ones
//! (late events, dead letters, an append job's records). Each checkpoint's rows become Parquet
//! data files of those tables, written here; only the files' metadata goes to the committer,
//! which commits them with the checkpoint.

use floe_common::checkpoint::TableFiles;
use floe_common::config::{JobSpec, SinkRole};
use floe_common::table_target::TableTarget;
use floe_common::window::RecordOutput;
use floe_proto::Assignment;
use floe_table::{rows, TableLayout};

use crate::worker::WorkerError;

/// The worker-written tables of a job, as this worker writes them.
pub struct WorkerTables {
    topic: String,
    tables: Vec<(SinkRole, TableLayout)>,
}

impl WorkerTables {
    /// The tables an assignment describes for the job.
    pub fn for_assignment(assignment: &Assignment) -> Result<Self, WorkerError> {
        Self::from_targets(&assignment.job, &assignment.tables)
    }

    /// The job's worker-written tables among `targets`.
    pub fn from_targets(job: &JobSpec, targets: &[TableTarget]) -> Result<Self, WorkerError> {
        Self::of_job(job, |name| {
            let target = targets.iter().find(|t| t.table == name).ok_or_else(|| {
                WorkerError::Job(format!(
                    "the assignment of job {} does not describe its table {name}",
                    job.name
                ))
            })?;
            TableLayout::from_target(target).map_err(|e| WorkerError::Job(e.to_string()))
        })
    }

    /// Layouts made without a catalog under `location` (tests and tools).
    pub fn for_job_at(job: &JobSpec, location: &str) -> Result<Self, WorkerError> {
        let sinks = job.sinks();
        Self::of_job(job, |name| {
            let spec = sinks
                .iter()
                .map(|s| s.schema)
                .find(|s| s.name == name)
                .ok_or_else(|| WorkerError::Job(format!("job {} has no table {name}", job.name)))?;
            let at = format!("{}/{}", location.trim_end_matches('/'), spec.name);
            TableLayout::for_schema(spec, &at).map_err(|e| WorkerError::Job(e.to_string()))
        })
    }

    fn of_job(
        job: &JobSpec,
        layout: impl Fn(&str) -> Result<TableLayout, WorkerError>,
    ) -> Result<Self, WorkerError> {
        let mut tables = Vec::new();
        for sink in job.sinks() {
            if !sink.role.written_by_workers() {
                continue;
            }
            let mut table = layout(&sink.schema.name)?;
            if let (SinkRole::Records, Some(spec)) = (sink.role, job.append()) {
                table = table.with_target_file_bytes(spec.target_file_bytes);
            }
            tables.push((sink.role, table));
        }
        Ok(Self {
            topic: job.source.topic.clone(),
            tables,
        })
    }

    /// Writes one checkpoint's rows as data files; one entry per table that got rows.
    pub async fn write(&self, rows: &RecordOutput) -> Result<Vec<TableFiles>, String> {
        let mut out = Vec::new();
        for (role, layout) in &self.tables {
            let schema = layout.arrow_schema();
            let batch = match role {
                SinkRole::LateEvents => rows::late_batch(&self.topic, &schema, &rows.late)?,
                SinkRole::DeadLetters => {
                    rows::dead_letter_batch(&self.topic, &schema, &rows.dead_letters)?
                }
                SinkRole::Records => match &rows.appended {
                    Some(appended) => rows::appended_batch(&schema, appended)?,
                    None => continue,
                },
                SinkRole::Windows | SinkRole::Dimension | SinkRole::History => continue,
            };
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
