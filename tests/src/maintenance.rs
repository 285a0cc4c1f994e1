//! Table maintenance from a test: `[job.sink.maintenance]` (and other sink settings) in every
//! job of the config, `floe maintain` runs, and reading a table as of each snapshot it keeps.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::Value;

use crate::job::Job;

impl Job {
    /// Sets `[job.sink.maintenance]` of every job in the config to `settings`.
    pub fn set_maintenance(&self, settings: &[(&str, toml::Value)]) {
        let mut maintenance = toml::Table::new();
        for (k, v) in settings {
            maintenance.insert((*k).to_owned(), v.clone());
        }
        self.set_sink_of_every_job("maintenance", toml::Value::Table(maintenance));
    }

    /// Sets `[job.sink] key = value` in every job of the config.
    pub fn set_sink_of_every_job(&self, key: &str, value: toml::Value) {
        let text = std::fs::read_to_string(&self.config).expect("read config");
        let mut doc: toml::Table = text.parse().expect("parse config");
        let jobs = doc
            .get_mut("job")
            .and_then(|j| j.as_array_mut())
            .expect("the config has [[job]]");
        for job in jobs.iter_mut().filter_map(|j| j.as_table_mut()) {
            job.get_mut("sink")
                .and_then(|s| s.as_table_mut())
                .expect("every job has [job.sink]")
                .insert(key.to_owned(), value.clone());
        }
        std::fs::write(
            &self.config,
            toml::to_string(&doc).expect("serialize config"),
        )
        .expect("write config");
    }

    /// A streaming run with `FLOE_CRASH_AT=fp` (checkpoints every 200 ms), which must crash
    /// there within 90 s: for points table maintenance reaches, which a run to the end may not.
    pub fn crash_streaming_at(&mut self, fp: &str) {
        let mut p = self.start(
            &crate::job::RunOptions::streaming()
                .interval("200ms")
                .env("FLOE_CRASH_AT", fp),
        );
        let crashed = p.expect_crash(Duration::from_secs(90), fp);
        eprintln!("[{}] FLOE_CRASH_AT={fp}: exited with {crashed}", self.label);
    }

    /// Runs `floe maintain --config <config> ARGS` to exit 0; its output.
    pub fn maintain(&mut self, args: &[&str]) -> String {
        let mut all: Vec<String> = vec!["maintain".into()];
        all.extend(self.job_args());
        all.extend(args.iter().map(|a| a.to_string()));
        let desc = format!("floe maintain {}", args.join(" "));
        let mut p = self.spawn(&all, &[], &desc);
        p.expect_success(Duration::from_secs(120));
        let out = std::fs::read_to_string(&p.log).expect("read maintain output");
        eprintln!("[{}] {desc}:\n{out}", self.label);
        out
    }

    /// Every row of `table` as of `snapshot_id`, as `reader` reads it (time travel).
    pub fn read_rows_at(&mut self, table: &str, snapshot_id: i64, reader: &str) -> Vec<Value> {
        let mut args = self.catalog_args();
        args.extend([
            "--table".into(),
            table.to_owned(),
            "--reader".into(),
            reader.to_owned(),
            "--snapshot-id".into(),
            snapshot_id.to_string(),
        ]);
        self.read_table_lines(&args)
            .unwrap_or_else(|| panic!("[{}] table {table} does not exist", self.label))
    }

    /// Fails if a file stored under the data directory of any of `tables` (local or S3, as
    /// pyarrow lists it) is named by no manifest of a kept snapshot, as pyiceberg reads them
    /// (what a crash or an aborted checkpoint left behind and orphan cleanup did not take), or
    /// a live file is not stored. Every table must exist.
    pub fn assert_no_stray_data_files(&mut self, tables: &[String]) {
        for table in tables {
            let mut args = self.catalog_args();
            args.extend(["--table".into(), table.clone(), "--files".into()]);
            let lines = self
                .read_table_lines(&args)
                .unwrap_or_else(|| panic!("[{}] table {table} does not exist", self.label));
            let local = |url: &str| url.trim_start_matches("file://").to_owned();
            let location = lines
                .iter()
                .find_map(|l| l["location"].as_str())
                .unwrap_or_else(|| panic!("read_table.py --files gave no location for {table}"));
            let named: BTreeMap<String, bool> = lines
                .iter()
                .filter_map(|l| Some((local(l["file"].as_str()?), l["live"].as_bool()?)))
                .collect();
            let stored: BTreeSet<String> = lines
                .iter()
                .filter_map(|l| Some(local(l["stored"].as_str()?)))
                .collect();
            let stray: Vec<&String> = (stored.iter())
                .filter(|f| !named.contains_key(*f))
                .collect();
            assert!(
                stray.is_empty(),
                "[{}] {table}: {} of {} data files are named by no snapshot: {stray:#?}",
                self.label,
                stray.len(),
                stored.len()
            );
            let missing: Vec<&String> = (named.iter())
                .filter(|(f, live)| **live && !stored.contains(*f))
                .map(|(f, _)| f)
                .collect();
            assert!(
                missing.is_empty(),
                "[{}] {table}: {} live files are not under {location}/data: {missing:#?}",
                self.label,
                missing.len()
            );
            eprintln!(
                "[{}] {table}: each of its {} data files is named by a snapshot; the {} live ones \
                 are all there",
                self.label,
                stored.len(),
                named.values().filter(|live| **live).count()
            );
        }
    }
}
