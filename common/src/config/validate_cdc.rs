//! Validating what only a CDC job (`kind = "cdc"`) has: its primary key, changelog table and
//! the dimension's `updated_at` column.

use crate::cdc::{CdcMode, CdcSpec};

use super::validate_job::{column_name, table_name};
use super::*;

impl JobConfig {
    /// A CDC job's columns and tables, and its watermark settings as a window that never
    /// closes.
    pub(super) fn cdc_parts(
        &self,
        at: &str,
        max_ahead_ms: i64,
    ) -> Result<(CdcSpec, WindowSpec), ConfigError> {
        let k = |s: &str| format!("{at}.{s}");
        let Some(cdc) = &self.cdc else {
            return Err(ConfigError::new(
                k("cdc"),
                "a CDC job needs [job.cdc] with its primary_key",
            ));
        };
        column_name(&k("cdc.updated_at"), &cdc.updated_at, &mut Vec::new())?;
        let columns =
            self.declared_columns(at, "a CDC job", CdcSpec::reserved_columns(&cdc.updated_at))?;
        if let Some(i) = self.columns.iter().position(|c| c.expr.is_some()) {
            return Err(ConfigError::new(
                k(&format!("column[{i}].expr")),
                "a CDC job's columns are fields of the row image: give `field`",
            ));
        }
        if let Some(i) = self.columns.iter().position(|c| c.required) {
            return Err(ConfigError::new(
                k(&format!("column[{i}].required")),
                "a CDC job's key columns are required and the others nullable: remove it",
            ));
        }
        let changes_table = self
            .sink
            .changes_table
            .clone()
            .unwrap_or_else(|| format!("{}_changes", self.sink.table));
        table_name(&k("sink.changes_table"), &changes_table)?;
        if !self.sink.partition_by.is_empty() {
            return Err(ConfigError::new(
                k("sink.partition_by"),
                "a dimension table is not partitioned (its rows are found by key)",
            ));
        }
        let spec = CdcSpec::new(
            columns,
            cdc.primary_key.clone(),
            cdc.updated_at.clone(),
            changes_table,
            self.target_file_bytes(at)?,
        )
        .map_err(|m| ConfigError::new(k("cdc.primary_key"), m))?;
        let mut spec = spec;
        if let Some(mode) = &self.sink.cdc_mode {
            spec.mode =
                CdcMode::parse(mode).map_err(|m| ConfigError::new(k("sink.cdc_mode"), m))?;
        }
        let spec = match &self.sink.history_table {
            None => spec,
            Some(name) => {
                table_name(&k("sink.history_table"), name)?;
                spec.with_history(name.clone())
            }
        };
        Ok((spec, self.watermark_only_window(at, max_ahead_ms)?))
    }
}
