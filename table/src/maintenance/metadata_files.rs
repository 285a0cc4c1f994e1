//! Metadata files a commit drops from the table's metadata log, deleted when the table asks
//! for it (`write.metadata.delete-after-commit.enabled`), as Iceberg's own writers do.

use iceberg::spec::TableMetadata;

/// Deletes the metadata files a commit drops from the log.
pub(crate) const DELETE_AFTER_COMMIT_PROPERTY: &str = "write.metadata.delete-after-commit.enabled";
/// How many previous metadata files the log keeps.
pub(crate) const PREVIOUS_VERSIONS_PROPERTY: &str = "write.metadata.previous-versions-max";
/// What Floe sets on the tables it creates: enough versions for a reader that loaded the table
/// a few commits ago, few enough that the metadata directory stays small.
pub(crate) const PREVIOUS_VERSIONS_KEPT: usize = 10;

/// The metadata files `before` (at `before_location`) knew that `after` (at `after_location`)
/// no longer logs, if `after` asks for them to be deleted.
pub(crate) fn dropped_by_commit(
    before: &TableMetadata,
    before_location: Option<&str>,
    after: &TableMetadata,
    after_location: Option<&str>,
) -> Vec<String> {
    let enabled = after
        .properties()
        .get(DELETE_AFTER_COMMIT_PROPERTY)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if !enabled {
        return Vec::new();
    }
    let still_logged = |path: &str| {
        Some(path) == after_location || after.metadata_log().iter().any(|l| l.metadata_file == path)
    };
    before
        .metadata_log()
        .iter()
        .map(|l| l.metadata_file.as_str())
        .chain(before_location)
        .filter(|path| !still_logged(path))
        .map(str::to_owned)
        .collect()
}
