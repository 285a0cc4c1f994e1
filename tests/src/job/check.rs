//! The checks of a test's tables against the oracle: tests/py/check_gold.py and
//! tests/py/read_table.py (pyiceberg and DuckDB), which share no code with floe.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::fs;
use std::process::Command;
use std::time::Duration;

use rand::Rng;
use serde_json::Value;

use super::{CheckOptions, Job};
use crate::env::repo_root;
use crate::process::{clip, problems_in_file, run_logged, tail_file};
use crate::records::{EventLog, Expect, JOB_NAME};

impl Job {
    /// Writes the events file and runs check_gold.py. Ok(its output) when it exits 0.
    pub fn check(&mut self, log: &EventLog, opts: &CheckOptions) -> Result<String, String> {
        log.write_jsonl(&self.events);
        let mut args = vec![
            "--events".to_string(),
            self.events.to_string_lossy().into_owned(),
        ];
        args.extend(self.catalog_args());
        args.extend(["--table".to_string(), self.gold_table.clone()]);
        args.extend(self.oracle_args.iter().cloned());
        if let Some(u) = opts.until {
            args.extend(["--until-windows-end-before".to_string(), u.to_string()]);
        }
        if opts.side_tables {
            if log.count(Expect::Late) > 0 {
                args.extend([
                    "--late-table".into(),
                    self.late_table.clone(),
                    "--expect-late".into(),
                    "auto".into(),
                ]);
            }
            if log.count(Expect::Bad) > 0 {
                args.extend([
                    "--dlq-table".into(),
                    self.dlq_table.clone(),
                    "--expect-bad".into(),
                    "auto".into(),
                ]);
            }
        }
        if opts.unique_checkpoint_ids {
            args.push("--expect-checkpoint-ids-unique".into());
        }
        let (ok, out) = self.python("check_gold.py", &args, Duration::from_secs(300));
        if ok {
            Ok(out.trim().to_string())
        } else {
            Err(format!(
                "$ check_gold.py {}\n{}",
                args.join(" "),
                clip(&out, 12_000)
            ))
        }
    }

    /// The final check of a test: gold rows exact (both readers), late and dead-letter tables
    /// exact by (partition, offset), and no checkpoint id committed twice.
    pub fn assert_exact(&mut self, log: &EventLog) {
        let opts = CheckOptions {
            until: None,
            side_tables: true,
            unique_checkpoint_ids: true,
        };
        match self.check(log, &opts) {
            Ok(out) => eprintln!("[{}] {out}", self.label),
            Err(e) => panic!(
                "[{}] the tables are not what a failure-free run over the same input gives:\n{e}\n{}",
                self.label,
                self.last_log_tail()
            ),
        }
        self.assert_side_table(log, Expect::Late);
        self.assert_side_table(log, Expect::Bad);
        self.assert_job_summaries();
    }

    /// The side table holds exactly the records labelled `kind`: same (partition, offset)
    /// multiset (no loss, no duplicate, nothing else). A table that does not exist counts as
    /// empty.
    pub fn assert_side_table(&mut self, log: &EventLog, kind: Expect) {
        let table = match kind {
            Expect::Late => self.late_table.clone(),
            Expect::Bad => self.dlq_table.clone(),
            Expect::Ok => unreachable!("gold is checked by check_gold.py"),
        };
        let want = log.offsets(kind);
        let got = self.read_offsets(&table).unwrap_or_default();
        let mut counts: BTreeMap<(i32, i64), usize> = BTreeMap::new();
        for k in &got {
            *counts.entry(*k).or_default() += 1;
        }
        let dups: Vec<_> = counts
            .iter()
            .filter(|(_, c)| **c > 1)
            .map(|(k, c)| (*k, *c))
            .take(10)
            .collect();
        let have: BTreeSet<(i32, i64)> = counts.keys().copied().collect();
        let missing: Vec<_> = want.difference(&have).take(10).collect();
        let extra: Vec<_> = have.difference(&want).take(10).collect();
        if !dups.is_empty() || !missing.is_empty() || !extra.is_empty() || got.len() != want.len() {
            panic!(
                "[{}] {} table {table}: {} rows, expected {} (the records labelled {}).\n\
                 duplicated (partition, offset) -> count: {dups:?}\nmissing: {missing:?} ({} in all)\n\
                 unexpected: {extra:?} ({} in all)\n{}",
                self.label,
                kind.as_str(),
                got.len(),
                want.len(),
                kind.as_str(),
                want.difference(&have).count(),
                have.difference(&want).count(),
                self.last_log_tail()
            );
        }
    }

    /// The checkpoint ids of `job`'s snapshots of `table`, oldest first, each committed once.
    pub fn assert_each_checkpoint_once(&mut self, table: &str, job: &str) -> Vec<u64> {
        let ids: Vec<u64> = self
            .summaries(table)
            .unwrap_or_else(|| panic!("[{}] table {table} does not exist", self.label))
            .iter()
            .filter(|s| s["summary"]["floe.job-id"].as_str() == Some(job))
            .filter_map(|s| s["summary"]["floe.checkpoint-id"].as_str()?.parse().ok())
            .collect();
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(
            ids.len(),
            unique.len(),
            "a checkpoint committed twice: {ids:?}"
        );
        ids
    }

    /// Every snapshot of the gold table that carries a checkpoint id names this job.
    pub fn assert_job_summaries(&mut self) {
        let table = self.gold_table.clone();
        let Some(snaps) = self.summaries(&table) else {
            panic!("[{}] table {table} does not exist", self.label);
        };
        for s in &snaps {
            let summ = &s["summary"];
            if summ.get("floe.checkpoint-id").is_some() {
                assert_eq!(
                    summ.get("floe.job-id").and_then(|v| v.as_str()),
                    Some(JOB_NAME),
                    "[{}] snapshot {} of {table} has floe.checkpoint-id but floe.job-id is not \
                     {JOB_NAME}: {summ}",
                    self.label,
                    s["snapshot_id"]
                );
            }
        }
    }

    /// (kafka_partition, kafka_offset) of every row of `table`, read with pyiceberg through
    /// tests/py/read_table.py; `None` when the table does not exist.
    pub fn read_offsets(&mut self, table: &str) -> Option<Vec<(i32, i64)>> {
        let mut args = self.catalog_args();
        args.extend([
            "--table".into(),
            table.to_string(),
            "--columns".into(),
            "kafka_partition,kafka_offset".into(),
        ]);
        Some(
            self.read_table_lines(&args)?
                .iter()
                .map(|v| {
                    (
                        v["kafka_partition"].as_i64().expect("kafka_partition") as i32,
                        v["kafka_offset"].as_i64().expect("kafka_offset"),
                    )
                })
                .collect(),
        )
    }

    /// Snapshot summaries of `table`, oldest first (`None` when it does not exist).
    pub fn summaries(&mut self, table: &str) -> Option<Vec<Value>> {
        let mut args = self.catalog_args();
        args.extend(["--table".into(), table.to_string(), "--summaries".into()]);
        self.read_table_lines(&args)
    }

    /// Runs tests/py/read_table.py and parses its JSON lines; `None` when the table does not
    /// exist, a panic with the script's output on any other failure.
    pub(crate) fn read_table_lines(&mut self, args: &[String]) -> Option<Vec<Value>> {
        let (ok, out) = self.python("read_table.py", args, Duration::from_secs(120));
        if !ok {
            if out.contains("NoSuchTable")
                || out.contains("not found")
                || out.contains("does not exist")
            {
                return None;
            }
            panic!("read_table.py {}:\n{}", args.join(" "), clip(&out, 8000));
        }
        Some(
            out.lines()
                .filter(|l| l.starts_with('{'))
                .map(|l| serde_json::from_str(l).expect("read_table.py line is JSON"))
                .collect(),
        )
    }

    /// The checkpoint ids recorded in `table`'s snapshot summaries.
    pub fn committed_checkpoint_ids(&mut self, table: &str) -> BTreeSet<u64> {
        self.summaries(table)
            .unwrap_or_default()
            .iter()
            .filter_map(|s| s["summary"]["floe.checkpoint-id"].as_str()?.parse().ok())
            .collect()
    }

    /// Plays another engine's table maintenance on `table` (tests/py/rewrite_table.py): its rows
    /// rewritten into new files and every older snapshot expired.
    pub fn rewrite_and_expire(&mut self, table: &str) {
        let mut args = self.catalog_args();
        args.extend(["--table".into(), table.to_string()]);
        let (ok, out) = self.python("rewrite_table.py", &args, Duration::from_secs(120));
        assert!(
            ok,
            "rewrite_table.py {}:\n{}",
            args.join(" "),
            clip(&out, 8000)
        );
        eprintln!("[{}] {}", self.label, out.trim());
    }

    /// For `Storage::S3`: the checkpoint prefix on S3 holds files (listed with pyarrow's S3
    /// client), and floe left no local storage in its working directory (no silent fallback).
    pub fn assert_checkpoints_on_s3(&mut self) {
        let uri = self.checkpoints.clone();
        let rest = uri
            .strip_prefix("s3://")
            .expect("an s3:// checkpoint store");
        const LIST: &str = r#"
import os, sys
from urllib.parse import urlparse
from pyarrow import fs
u = urlparse(os.environ["FLOE_S3_ENDPOINT"])
s3 = fs.S3FileSystem(endpoint_override=u.netloc, scheme=u.scheme,
                     access_key=os.environ["AWS_ACCESS_KEY_ID"],
                     secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
                     region=os.environ.get("AWS_REGION", "us-east-1"))
for i in s3.get_file_info(fs.FileSelector(sys.argv[1], recursive=True, allow_not_found=True)):
    if i.type == fs.FileType.File:
        print(i.path)
"#;
        let mut cmd = Command::new(&self.services.python);
        cmd.arg("-c").arg(LIST).arg(rest);
        if let Some(s3) = &self.s3 {
            for (k, v) in s3.env() {
                cmd.env(k, v);
            }
        }
        let (ok, out) = run_logged(cmd, &self.root.join("s3-list.log"), Duration::from_secs(60));
        assert!(ok, "listing {uri} failed:\n{}", clip(&out, 4000));
        let files = out
            .lines()
            .filter(|l| l.starts_with(rest.split('/').next().unwrap()))
            .count();
        assert!(
            files > 0,
            "[{}] no checkpoint files under {uri}:\n{}",
            self.label,
            clip(&out, 4000)
        );
        for local in [".floe", "checkpoints", "warehouse", "catalog.db"] {
            assert!(
                !self.root.join(local).exists(),
                "[{}] floe wrote local storage {} although the config says S3/REST",
                self.label,
                self.root.join(local).display()
            );
        }
        eprintln!("[{}] {files} checkpoint files under {uri}", self.label);
    }

    /// For failure messages: the ERROR/WARN/failpoint lines of every run's log, and the tail
    /// of the last run's log.
    pub fn last_log_tail(&self) -> String {
        let Some(last) = &self.last_run_log else {
            return "(floe was never started)".into();
        };
        let mut out = String::new();
        for n in 1..=self.runs {
            let log = self.root.join(format!("floe-run-{n:02}.log"));
            let p = problems_in_file(&log, 5);
            if !p.is_empty() {
                out.push_str(&format!(
                    "--- {} (ERROR/WARN lines) ---\n{}\n",
                    log.display(),
                    p.join("\n")
                ));
            }
        }
        out.push_str(&format!(
            "--- last floe log {} (tail) ---\n{}",
            last.display(),
            tail_file(last, 40)
        ));
        out
    }

    pub(crate) fn python(
        &self,
        script: &str,
        args: &[String],
        timeout: Duration,
    ) -> (bool, String) {
        let mut cmd = Command::new(&self.services.python);
        cmd.arg(repo_root().join("tests/py").join(script))
            .args(args);
        if let Some(s3) = &self.s3 {
            for (k, v) in s3.env() {
                cmd.env(k, v);
            }
        }
        let log = self.root.join(format!(
            "py-{}-{}.log",
            script.trim_end_matches(".py"),
            rand::rng().random::<u32>()
        ));
        let r = run_logged(cmd, &log, timeout);
        let _ = fs::remove_file(&log);
        r
    }

    pub(crate) fn catalog_args(&self) -> Vec<String> {
        vec![
            "--catalog-uri".into(),
            self.reader_catalog_uri.clone(),
            "--catalog-name".into(),
            "floe".into(),
            "--warehouse".into(),
            self.reader_warehouse.clone(),
        ]
    }
}

/// The rows a reader gave, by key, with the keys it gave more than once: what the checks of
/// whole tables compare with the rows they expect.
pub(crate) struct KeyedRows<K, V> {
    pub got: BTreeMap<K, V>,
    pub duplicated: Vec<K>,
}

impl<K: Ord + Clone + Debug, V: PartialEq + Debug> KeyedRows<K, V> {
    pub fn new(rows: impl IntoIterator<Item = (K, V)>) -> Self {
        let mut got = BTreeMap::new();
        let mut duplicated = Vec::new();
        for (key, row) in rows {
            if got.insert(key.clone(), row).is_some() {
                duplicated.push(key);
            }
        }
        KeyedRows { got, duplicated }
    }

    /// Whether the rows read are exactly `want`, each once.
    pub fn is_exact(&self, want: &BTreeMap<K, V>) -> bool {
        self.duplicated.is_empty()
            && self.missing(want).is_empty()
            && self.extra(want).is_empty()
            && self.differing(want).is_empty()
    }

    /// How the rows read differ from `want`, for a failure message (`key` names the key).
    pub fn report(&self, want: &BTreeMap<K, V>, key: &str) -> String {
        let (missing, extra) = (self.missing(want), self.extra(want));
        let first = |n: usize| n.min(10);
        format!(
            "duplicated: {:?}\nmissing: {:?} ({} in all)\nunexpected: {:?}\n\
             differing ({key}, want, got): {:?}",
            &self.duplicated[..first(self.duplicated.len())],
            &missing[..first(missing.len())],
            missing.len(),
            &extra[..first(extra.len())],
            self.differing(want)
        )
    }

    /// The keys of `want` not read.
    pub fn missing<'a>(&'a self, want: &'a BTreeMap<K, V>) -> Vec<&'a K> {
        want.keys().filter(|k| !self.got.contains_key(*k)).collect()
    }

    /// The keys read that `want` does not have.
    pub fn extra<'a>(&'a self, want: &'a BTreeMap<K, V>) -> Vec<&'a K> {
        self.got.keys().filter(|k| !want.contains_key(*k)).collect()
    }

    /// The first three rows read otherwise than `want` has them: (key, want, got).
    pub fn differing<'a>(&'a self, want: &'a BTreeMap<K, V>) -> Vec<(&'a K, &'a V, &'a V)> {
        want.iter()
            .filter_map(|(k, v)| Some((k, v, self.got.get(k).filter(|g| *g != v)?)))
            .take(3)
            .collect()
    }
}
