//! `floe query` beside DuckDB: the same SQL over the same tables of a job, answered by Floe and
//! by DuckDB's iceberg extension (tests/py/query_tables.py), which share no code.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::env::floe_bin;
use crate::job::Job;
use crate::process::clip;

impl Job {
    /// `floe query --format json` over the job's catalog answers `sql` with the rows DuckDB
    /// gives for `duckdb_sql` over views of `tables` (`ns.t`, or `ns.t@SNAPSHOT_ID` for an
    /// older snapshot); both are compared in the canonical form, row for row. Returns the rows.
    pub fn assert_query_is_duckdbs(
        &mut self,
        sql: &str,
        tables: &[&str],
        duckdb_sql: &str,
    ) -> Vec<String> {
        let mut floe = Command::new(floe_bin());
        floe.args(["query", "--format", "json", "--config"])
            .arg(&self.config)
            .arg(sql);
        if let Some(s3) = &self.s3 {
            floe.envs(s3.env());
        }
        let out = floe.output().expect("floe query runs");
        assert!(
            out.status.success(),
            "floe query {sql:?} failed:\n{}",
            clip(&String::from_utf8_lossy(&out.stderr), 4000)
        );
        let mut mine: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| canonical(l, "floe query prints JSON lines"))
            .collect();
        mine.sort();

        let mut args = self.catalog_args();
        for table in tables {
            args.extend(["--table".to_owned(), table.to_string()]);
        }
        args.extend(["--sql".to_owned(), duckdb_sql.to_owned()]);
        let (ok, text) = self.python("query_tables.py", &args, Duration::from_secs(120));
        assert!(ok, "DuckDB's {duckdb_sql:?}:\n{}", clip(&text, 4000));
        let mut theirs: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| canonical(l, "a JSON row"))
            .collect();
        theirs.sort();
        assert!(
            mine == theirs,
            "[{}] floe query {sql:?}: {} rows, DuckDB: {} rows\nfloe:   {:?}\nDuckDB: {:?}",
            self.label,
            mine.len(),
            theirs.len(),
            &mine[..mine.len().min(3)],
            &theirs[..theirs.len().min(3)]
        );
        eprintln!(
            "[{}] floe query equals DuckDB ({} rows): {sql}",
            self.label,
            mine.len()
        );
        mine
    }
}

/// A JSON line written compactly with its keys sorted (serde_json's map is ordered by key).
fn canonical(line: &str, what: &str) -> String {
    serde_json::from_str::<Value>(line)
        .unwrap_or_else(|e| panic!("{what}: {line}: {e}"))
        .to_string()
}
