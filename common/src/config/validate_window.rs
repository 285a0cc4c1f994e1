//! `[job.window]` validated into a [`WindowSpec`].

use super::validate_job::millis;
use super::{ConfigError, WindowConfig, WindowKind, WindowSpec};

impl WindowConfig {
    /// The window of an aggregate job, `at` being the key of its `[job.window]`.
    pub(super) fn validate(&self, at: &str, max_ahead_ms: i64) -> Result<WindowSpec, ConfigError> {
        let k = |s: &str| format!("{at}.{s}");
        if self.kind == "session" {
            self.refuse(at, "size", &self.size)?;
            self.refuse(at, "slide", &self.slide)?;
            self.refuse(at, "step", &self.step)?;
        } else {
            self.refuse(at, "gap", &self.gap)?;
        }
        let (size_key, size) = match self.kind.as_str() {
            // A session's window is as long as its gap at least.
            "session" => ("gap", &self.gap),
            _ => ("size", &self.size),
        };
        let Some(size) = size else {
            return Err(ConfigError::new(k(size_key), "is missing"));
        };
        let size_ms = millis(&k(size_key), size)?;
        if size_ms <= 0 {
            return Err(ConfigError::new(k(size_key), "must be > 0"));
        }
        let kind = match self.kind.as_str() {
            "tumbling" => {
                self.refuse(at, "slide", &self.slide)?;
                self.refuse(at, "step", &self.step)?;
                WindowKind::Tumbling
            }
            "session" => WindowKind::Session { gap_ms: size_ms },
            "hopping" => {
                self.refuse(at, "step", &self.step)?;
                WindowKind::Hopping {
                    slide_ms: slice(&k("slide"), self.slide.as_deref(), size_ms)?,
                }
            }
            "cumulating" => {
                self.refuse(at, "slide", &self.slide)?;
                WindowKind::Cumulating {
                    step_ms: slice(&k("step"), self.step.as_deref(), size_ms)?,
                }
            }
            other => {
                return Err(ConfigError::new(
                    k("type"),
                    format!(
                        "`{other}`: the windows are \"tumbling\", \"hopping\", \"cumulating\" \
                         and \"session\""
                    ),
                ))
            }
        };
        let window = WindowSpec {
            size_ms,
            kind,
            watermark_delay_ms: millis(&k("watermark_delay"), &self.watermark_delay)?,
            allowed_lateness_ms: millis(&k("allowed_lateness"), &self.allowed_lateness)?,
            idle_timeout_ms: millis(&k("idle_timeout"), &self.idle_timeout)? as u64,
            max_ahead_ms,
        };
        if window.idle_timeout_ms == 0 {
            return Err(ConfigError::new(k("idle_timeout"), "must be > 0"));
        }
        Ok(window)
    }

    fn refuse(&self, at: &str, key: &str, value: &Option<String>) -> Result<(), ConfigError> {
        match value {
            Some(_) => Err(ConfigError::new(
                format!("{at}.{key}"),
                format!("is not a setting of {} windows", self.kind),
            )),
            None => Ok(()),
        }
    }
}

/// A hopping window's slide or a cumulating window's step: a whole fraction of the size (as
/// Flink requires), so that windows are made of whole slices.
fn slice(key: &str, text: Option<&str>, size_ms: i64) -> Result<i64, ConfigError> {
    let Some(text) = text else {
        return Err(ConfigError::new(key, "is missing"));
    };
    let ms = millis(key, text)?;
    if ms <= 0 || ms > size_ms || size_ms % ms != 0 {
        return Err(ConfigError::new(
            key,
            format!("`{text}` must be > 0 and divide the window's size ({size_ms} ms) evenly"),
        ));
    }
    Ok(ms)
}
