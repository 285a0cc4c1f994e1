//! Which kind of source a `[job.source]` is, and its kind's own settings.

use super::{ConfigError, SourceConfig};
use crate::file_source::FilesSpec;
use crate::generator_source::GeneratorSpec;

/// The generator's or the files' settings (both `None` for Kafka); each kind refuses the
/// others' sections. `k` turns a key under the job into its full name.
pub(super) fn validate_source_kind(
    source: &SourceConfig,
    k: &dyn Fn(&str) -> String,
) -> Result<(Option<GeneratorSpec>, Option<FilesSpec>), ConfigError> {
    let kind = source.kind.as_str();
    for (section, belongs_to, given) in [
        ("generator", "generator", source.generator.is_some()),
        ("files", "files", source.files.is_some()),
    ] {
        if given && kind != belongs_to {
            return Err(ConfigError::new(
                k(&format!("source.{section}")),
                format!("is for source.type = \"{belongs_to}\""),
            ));
        }
    }
    match kind {
        "kafka" => {
            if source.brokers.trim().is_empty() {
                return Err(ConfigError::new(k("source.brokers"), "is empty"));
            }
            if source.topic.trim().is_empty() {
                return Err(ConfigError::new(k("source.topic"), "is empty"));
            }
            Ok((None, None))
        }
        "generator" => Ok((
            Some(
                source
                    .generator
                    .clone()
                    .unwrap_or_default()
                    .validate(&k("source.generator"))?,
            ),
            None,
        )),
        "files" => match &source.files {
            Some(files) => Ok((None, Some(files.validate(&k("source.files"))?))),
            None => Err(ConfigError::new(
                k("source.files"),
                "is missing: a files source needs `location` (and may set `glob`, `watch`)",
            )),
        },
        other => Err(ConfigError::new(
            k("source.type"),
            format!("`{other}`: expected kafka, generator or files"),
        )),
    }
}
