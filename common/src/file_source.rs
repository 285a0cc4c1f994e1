//! `type = "files"` sources: newline-delimited JSON files under a directory or an object-store
//! prefix, chosen by a glob. Each file is a split read like a Kafka partition whose offsets are
//! byte offsets: a record's offset is where its line starts, a split's position the byte after
//! the last line read, so a checkpoint keeps (file, byte offset) as it keeps Kafka offsets.

use globset::{GlobBuilder, GlobMatcher};
use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// `[job.source.files]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesConfig {
    /// A local directory (`./events`, `file:///data/events`) or `s3://bucket/prefix`.
    pub location: String,
    /// Which files to read, by their path under `location` (`*` stays within a directory,
    /// `**` crosses them).
    #[serde(default = "default_glob")]
    pub glob: String,
    /// Keep reading: files that appear later, and lines appended to files already read.
    /// Without it the job ends once every file listed is read to the end it had.
    #[serde(default)]
    pub watch: bool,
    /// A longer line is a dead letter (its first [`LONG_LINE_KEPT_BYTES`] kept) and reading
    /// goes on after its newline, so a file that is not NDJSON cannot fill the memory.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: u64,
}

fn default_glob() -> String {
    "*".into()
}

fn default_max_line_bytes() -> u64 {
    DEFAULT_MAX_LINE_BYTES
}

/// `max_line_bytes` when unset: 16 MiB, well above Kafka's default largest message (1 MB).
pub const DEFAULT_MAX_LINE_BYTES: u64 = 16 << 20;

/// The bytes of an over-long line its dead letter keeps.
pub const LONG_LINE_KEPT_BYTES: u64 = 64 << 10;

/// The dead-letter reason of a line of `len` bytes (newline not counted) over `max`.
pub fn long_line_reason(len: u64, max: u64) -> String {
    format!(
        "line of {len} bytes is longer than max_line_bytes ({max}); its first {} bytes are kept",
        len.min(LONG_LINE_KEPT_BYTES)
    )
}

/// A validated file source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilesSpec {
    pub location: String,
    pub glob: String,
    pub watch: bool,
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: u64,
}

impl FilesConfig {
    /// Every file of a directory, or one file (`--files`), read to its end.
    pub fn for_path(path: &str) -> Self {
        let as_file = std::path::Path::new(path);
        let (location, glob) = match (as_file.is_file(), as_file.file_name()) {
            (true, Some(name)) => {
                let parent = as_file.parent().map(|d| d.display().to_string());
                (
                    parent
                        .filter(|d| !d.is_empty())
                        .unwrap_or_else(|| ".".into()),
                    globset::escape(&name.to_string_lossy()),
                )
            }
            _ => (path.to_owned(), default_glob()),
        };
        Self {
            location,
            glob,
            watch: false,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
        }
    }

    /// Checks the settings; `key` names the table in errors.
    pub fn validate(&self, key: &str) -> Result<FilesSpec, ConfigError> {
        let k = |f: &str| format!("{key}.{f}");
        if self.location.trim().is_empty() {
            return Err(ConfigError::new(k("location"), "is empty"));
        }
        if self.max_line_bytes < 1024 {
            return Err(ConfigError::new(
                k("max_line_bytes"),
                format!("is {}: it must be at least 1024", self.max_line_bytes),
            ));
        }
        let spec = FilesSpec {
            location: self.location.trim().to_owned(),
            glob: self.glob.trim().to_owned(),
            watch: self.watch,
            max_line_bytes: self.max_line_bytes,
        };
        spec.matcher().map_err(|m| ConfigError::new(k("glob"), m))?;
        Ok(spec)
    }
}

impl FilesSpec {
    /// Matches a file's path relative to the location.
    pub fn matcher(&self) -> Result<GlobMatcher, String> {
        if self.glob.is_empty() {
            return Err("is empty".into());
        }
        GlobBuilder::new(&self.glob)
            .literal_separator(true)
            .build()
            .map(|g| g.compile_matcher())
            .map_err(|e| format!("`{}`: {e}", self.glob))
    }
}

/// Hands each complete line of `chunk` (bytes of a file from offset `start`) to `each` with the
/// offset it starts at, and returns where reading goes on: after the last complete line. Blank
/// lines are passed over; a `\r` before the `\n` is not part of the line. `file_ends_here`: the
/// chunk reaches the end of a file that is complete, so a last line without `\n` is a line too.
pub fn split_lines(
    chunk: &[u8],
    start: i64,
    file_ends_here: bool,
    mut each: impl FnMut(i64, &[u8]),
) -> i64 {
    let mut at = 0;
    for end in memchr::memchr_iter(b'\n', chunk) {
        emit(&chunk[at..end], start + at as i64, &mut each);
        at = end + 1;
    }
    if file_ends_here && at < chunk.len() {
        emit(&chunk[at..], start + at as i64, &mut each);
        at = chunk.len();
    }
    start + at as i64
}

fn emit(line: &[u8], offset: i64, each: &mut impl FnMut(i64, &[u8])) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if !line.iter().all(u8::is_ascii_whitespace) {
        each(offset, line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(chunk: &[u8], start: i64, ends: bool) -> (Vec<(i64, String)>, i64) {
        let mut seen = Vec::new();
        let next = split_lines(chunk, start, ends, |o, l| {
            seen.push((o, String::from_utf8_lossy(l).into_owned()))
        });
        (seen, next)
    }

    #[test]
    fn complete_lines_carry_their_start_and_reading_resumes_after_the_last() {
        let chunk = b"{\"a\":1}\n\n{\"b\":2}\r\n  \n{\"c\":";
        let (seen, next) = lines(chunk, 100, false);
        assert_eq!(seen, [(100, "{\"a\":1}".into()), (109, "{\"b\":2}".into())]);
        assert_eq!(next, 100 + 21, "the partial last line is read again later");
        let (rest, next) = lines(&chunk[21..], next, true);
        assert_eq!(rest, [(121, "{\"c\":".into())]);
        assert_eq!(next, 100 + chunk.len() as i64);
    }

    #[test]
    fn a_chunk_without_newline_reads_nothing_until_its_file_ends() {
        assert_eq!(lines(b"{\"a\":1}", 0, false), (vec![], 0));
        assert_eq!(
            lines(b"{\"a\":1}", 0, true),
            (vec![(0, "{\"a\":1}".into())], 7)
        );
        assert_eq!(lines(b"", 5, true), (vec![], 5));
    }

    #[test]
    fn a_path_on_the_command_line_is_a_directory_or_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("events[1].jsonl");
        std::fs::write(&file, "{}\n").unwrap();
        let one = FilesConfig::for_path(file.to_str().unwrap());
        assert_eq!(one.location, dir.path().display().to_string());
        let m = one.validate("f").unwrap().matcher().unwrap();
        assert!(m.is_match("events[1].jsonl") && !m.is_match("events1.jsonl"));
        let all = FilesConfig::for_path(dir.path().to_str().unwrap());
        assert_eq!((all.glob.as_str(), all.watch), ("*", false));
    }

    #[test]
    fn globs_match_relative_paths_and_bad_settings_name_their_key() {
        let spec = FilesConfig {
            location: "./events".into(),
            glob: "*.jsonl".into(),
            watch: false,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
        }
        .validate("job[0].source.files")
        .unwrap();
        let m = spec.matcher().unwrap();
        assert!(m.is_match("2026-12-01.jsonl"));
        assert!(
            !m.is_match("old/2026-11-30.jsonl"),
            "`*` stays in its directory"
        );
        let deep = FilesSpec {
            glob: "**/*.jsonl".into(),
            ..spec.clone()
        };
        assert!(deep.matcher().unwrap().is_match("old/2026-11-30.jsonl"));
        let bad = FilesConfig {
            location: "./events".into(),
            glob: "[".into(),
            watch: false,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
        };
        assert_eq!(bad.validate("f").unwrap_err().key, "f.glob");
        let nowhere = FilesConfig {
            location: " ".into(),
            glob: "*".into(),
            watch: true,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
        };
        assert_eq!(nowhere.validate("f").unwrap_err().key, "f.location");
        let tiny = FilesConfig {
            location: "./events".into(),
            glob: "*".into(),
            watch: false,
            max_line_bytes: 10,
        };
        assert_eq!(tiny.validate("f").unwrap_err().key, "f.max_line_bytes");
    }
}
