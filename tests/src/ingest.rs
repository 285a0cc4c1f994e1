//! `floe ingest` in a job's catalog: a CSV file loaded and checked beside DuckDB's `read_csv`
//! of the same file (tests/py/csv_beside_duckdb.py).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::env::floe_bin;
use crate::job::Job;
use crate::process::clip;

impl Job {
    /// Copies `file` to the job's S3 store and returns its `s3://` URL.
    pub fn put_on_s3(&mut self, file: &Path) -> String {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("file");
        let url = format!("s3://checkpoints/{}-upload/{name}", self.label);
        let (ok, text) = self.python(
            "put_s3.py",
            &[file.display().to_string(), url.clone()],
            Duration::from_secs(60),
        );
        assert!(ok, "put_s3.py {url}:\n{}", clip(&text, 2000));
        url
    }

    /// `floe ingest FILE --table TABLE` into the job's catalog; the table must then equal
    /// DuckDB's read of `file` (a path or an `s3://` URL). Returns what floe ingest printed.
    pub fn assert_ingest_is_duckdbs(&mut self, file: &str, table: &str) -> String {
        let mut floe = Command::new(floe_bin());
        floe.args(["ingest", file, "--table", table])
            .args(self.job_args());
        if let Some(s3) = &self.s3 {
            floe.envs(s3.env());
        }
        let out = floe.output().expect("floe ingest runs");
        let printed = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "floe ingest {file} failed:\n{printed}\n{}",
            clip(&String::from_utf8_lossy(&out.stderr), 4000)
        );
        let mut args = self.catalog_args();
        args.extend(["--table", table, "--csv", file].map(str::to_owned));
        let (ok, text) = self.python("csv_beside_duckdb.py", &args, Duration::from_secs(120));
        assert!(
            ok,
            "floe ingest {file} and DuckDB differ:\n{}",
            clip(&text, 4000)
        );
        assert!(text.contains("equal "), "{text}");
        eprintln!(
            "[{}] floe ingest {file} into {table}: DuckDB {}",
            self.label,
            text.trim()
        );
        printed
    }
}
