//! Newline-delimited JSON input for `source.type = "files"` jobs, and the log of where each
//! record is in it, as the engine names it: the file's split id and the byte offset of its line.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{EventLog, Produced, Record};

/// The files of a job's input directory.
pub struct InputFiles {
    pub dir: PathBuf,
    /// Split id of each file: the order in which the job first lists them. Files are listed in
    /// path order, so a test gives ids right when the files it adds between two listings sort
    /// after each other.
    ids: BTreeMap<String, i32>,
    /// Every record written, with its split id and byte offset.
    pub log: EventLog,
}

impl InputFiles {
    pub fn new(dir: &Path) -> InputFiles {
        fs::create_dir_all(dir).expect("create the input directory");
        InputFiles {
            dir: dir.to_path_buf(),
            ids: BTreeMap::new(),
            log: EventLog::default(),
        }
    }

    /// The split id `name` has (or gets, as the next file the job lists).
    pub fn id(&mut self, name: &str) -> i32 {
        let next = self.ids.len() as i32;
        *self.ids.entry(name.to_owned()).or_insert(next)
    }

    /// Appends `records` (values without newlines) to `name` as lines. A new file is written
    /// under a name the job's glob skips and renamed, so the job never sees half of it.
    pub fn write(&mut self, name: &str, records: &[Record]) {
        let id = self.id(name);
        let path = self.dir.join(name);
        let mut offset = fs::metadata(&path).map_or(0, |m| m.len() as i64);
        let mut bytes = Vec::new();
        for r in records {
            let value = r.value.as_deref().expect("a line has a value");
            assert!(
                !value.contains('\n') && !value.trim().is_empty(),
                "a record of a line: {value:?}"
            );
            self.log.records.push(Produced {
                partition: id,
                offset,
                expect: r.expect,
                value: r.value.clone(),
                event_ts: r.event_ts,
            });
            bytes.extend_from_slice(value.as_bytes());
            bytes.push(b'\n');
            offset += value.len() as i64 + 1;
        }
        if path.exists() {
            let mut f = fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .expect("open for appending");
            f.write_all(&bytes).expect("append lines");
        } else {
            let hidden = self.dir.join(format!(".{name}.part"));
            fs::write(&hidden, &bytes).expect("write a new input file");
            fs::rename(&hidden, &path).expect("move the new input file in");
        }
    }

    /// Split ids of the files written so far.
    pub fn ids(&self) -> Vec<i32> {
        self.ids.values().copied().collect()
    }
}
