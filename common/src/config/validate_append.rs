//! Validating what append (`kind = "append"`) and CDC jobs have and aggregate jobs do not: their
//! declared columns, file size and watermark.

use crate::append::{AppendColumn, AppendSpec, AppendType, DedupSpec};

use super::validate_job::{column_name, field_path, millis, time_unit, value_of};
use super::*;

/// Data files of append jobs roll at this size unless `sink.target_file_size` says otherwise.
pub(crate) const DEFAULT_TARGET_FILE_BYTES: u64 = 128 << 20;

impl JobConfig {
    /// An append job's columns and file size, and its watermark settings as a window that
    /// never closes.
    pub(super) fn append_parts(
        &self,
        at: &str,
        max_ahead_ms: i64,
    ) -> Result<(AppendSpec, WindowSpec), ConfigError> {
        let reserved = AppendSpec::reserved_columns().map(str::to_owned).to_vec();
        let columns = self.declared_columns(at, "an append job", reserved)?;
        Ok((
            AppendSpec {
                columns,
                target_file_bytes: self.target_file_bytes(at)?,
                dedup: self.dedup_spec(at)?,
            },
            self.watermark_only_window(at, max_ahead_ms)?,
        ))
    }

    /// The `[[job.column]]`s of a job without windows (`what` names its kind), none of them
    /// named as one of `reserved`.
    pub(super) fn declared_columns(
        &self,
        at: &str,
        what: &str,
        mut taken: Vec<String>,
    ) -> Result<Vec<AppendColumn>, ConfigError> {
        let k = |s: &str| format!("{at}.{s}");
        for (given, key) in [
            (!self.group_by.is_empty(), "group_by"),
            (!self.aggregates.is_empty(), "aggregate"),
            (self.sink.late_table.is_some(), "sink.late_table"),
            (
                self.window.as_ref().is_some_and(|w| w.size.is_some()),
                "window.size",
            ),
        ] {
            if given {
                return Err(ConfigError::new(
                    k(key),
                    format!("{what} has no windows: remove it"),
                ));
            }
        }
        if self.columns.is_empty() {
            return Err(ConfigError::new(
                k("column"),
                "declare at least one [[job.column]]",
            ));
        }
        let mut columns: Vec<AppendColumn> = Vec::new();
        for (i, c) in self.columns.iter().enumerate() {
            let ck = k(&format!("column[{i}]"));
            column_name(&format!("{ck}.column"), &c.column, &mut taken)?;
            let field = value_of(&ck, c.field.as_deref(), c.expr.as_deref())?
                .ok_or_else(|| ConfigError::new(format!("{ck}.field"), "give `field` or `expr`"))?;
            let ty = match (c.value_type.as_str(), &c.unit) {
                ("timestamp", unit) => AppendType::Timestamp(time_unit(
                    &format!("{ck}.unit"),
                    unit.as_deref().unwrap_or("ms"),
                )?),
                (_, Some(_)) => {
                    return Err(ConfigError::new(
                        format!("{ck}.unit"),
                        "is for type = \"timestamp\"",
                    ))
                }
                ("string", None) => AppendType::String,
                ("long", None) => AppendType::Long,
                ("double", None) => AppendType::Double,
                ("boolean", None) => AppendType::Boolean,
                ("json", None) => AppendType::Json,
                (other, None) => {
                    return Err(ConfigError::new(
                        format!("{ck}.type"),
                        format!(
                            "`{other}`: expected string, long, double, boolean, timestamp or json"
                        ),
                    ))
                }
            };
            columns.push(AppendColumn {
                column: c.column.clone(),
                field,
                ty,
                required: c.required,
            });
        }
        Ok(columns)
    }

    /// `[job.dedup]`: at least one key field, remembered for a positive time.
    fn dedup_spec(&self, at: &str) -> Result<Option<DedupSpec>, ConfigError> {
        let Some(d) = &self.dedup else {
            return Ok(None);
        };
        let k = |s: &str| format!("{at}.dedup.{s}");
        if d.key.is_empty() {
            return Err(ConfigError::new(k("key"), "name at least one field"));
        }
        let key = d
            .key
            .iter()
            .enumerate()
            .map(|(i, f)| field_path(&k(&format!("key[{i}]")), f))
            .collect::<Result<Vec<_>, _>>()?;
        let within_ms = millis(&k("within"), &d.within)?;
        if within_ms <= 0 {
            return Err(ConfigError::new(k("within"), "must be > 0"));
        }
        Ok(Some(DedupSpec { key, within_ms }))
    }

    /// `sink.target_file_size`, or the default.
    pub(super) fn target_file_bytes(&self, at: &str) -> Result<u64, ConfigError> {
        match &self.sink.target_file_size {
            None => Ok(DEFAULT_TARGET_FILE_BYTES),
            Some(text) => byte_size(text).filter(|b| *b >= 1 << 20).ok_or_else(|| {
                ConfigError::new(
                    format!("{at}.sink.target_file_size"),
                    format!("`{text}`: expected a size of at least 1MB, like 128MB or 1GB"),
                )
            }),
        }
    }

    /// The watermark settings of a job without windows, as a window that never closes.
    pub(super) fn watermark_only_window(
        &self,
        at: &str,
        max_ahead_ms: i64,
    ) -> Result<WindowSpec, ConfigError> {
        let k = |s: &str| format!("{at}.{s}");
        let default_window = WindowConfig {
            kind: default_window_type(),
            size: None,
            slide: None,
            step: None,
            gap: None,
            watermark_delay: default_delay(),
            allowed_lateness: default_lateness(),
            idle_timeout: default_idle(),
        };
        let w = self.window.as_ref().unwrap_or(&default_window);
        Ok(WindowSpec {
            size_ms: i64::MAX,
            kind: WindowKind::Tumbling,
            watermark_delay_ms: millis(&k("window.watermark_delay"), &w.watermark_delay)?,
            allowed_lateness_ms: 0,
            idle_timeout_ms: millis(&k("window.idle_timeout"), &w.idle_timeout)?.max(1) as u64,
            max_ahead_ms,
        })
    }
}

/// `128MB`, `1GB`, `512KiB`, `1048576`: a size in bytes (decimal and binary units read alike,
/// as file sizes are usually meant).
pub(crate) fn byte_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let scale: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "KB" | "KIB" | "K" => 1 << 10,
        "MB" | "MIB" | "M" => 1 << 20,
        "GB" | "GIB" | "G" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_file_sizes() {
        assert_eq!(byte_size("128MB"), Some(128 << 20));
        assert_eq!(byte_size("1 GiB"), Some(1 << 30));
        assert_eq!(byte_size("4096"), Some(4096));
        assert_eq!(byte_size("1.5GB"), None);
        assert_eq!(byte_size("lots"), None);
    }
}
