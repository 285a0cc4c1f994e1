//! The gold job in streaming SQL: `examples/video_stats.sql`, pointed at a test's broker, topic
//! and tables, run in place of the config's `[[job]]`.

use std::fs;

use crate::env::repo_root;
use crate::job::Job;

impl Job {
    /// Writes `video_stats.sql` from `examples/video_stats.sql` for this job and takes the
    /// `[[job]]` out of the config, which keeps the checkpoint store and the catalog: from now
    /// on every run of the job reads the SQL (`--sql`).
    pub fn switch_to_sql(&mut self) {
        let example = repo_root().join("examples/video_stats.sql");
        let text = fs::read_to_string(&example)
            .unwrap_or_else(|e| panic!("read {}: {e}", example.display()));
        let replace = |text: String, from: &str, to: &str| {
            assert!(text.contains(from), "{} has no `{from}`", example.display());
            text.replace(from, to)
        };
        let text = replace(
            text,
            "'topic' = 'content_events'",
            &format!("'topic' = '{}'", self.topic),
        );
        let text = replace(
            text,
            "'127.0.0.1:9092'",
            &format!("'{}'", self.services.brokers),
        );
        let text = replace(text, "gold.video_stats_1min", &self.gold_table);
        let config = fs::read_to_string(&self.config).expect("read config");
        let mut doc: toml::Table = config.parse().expect("parse config");
        let job = doc.remove("job").expect("the config has a [[job]]");
        let idle = job[0]["window"]["idle_timeout"]
            .as_str()
            .expect("the test's job sets its idle timeout")
            .to_owned();
        let text = replace(
            text,
            "'format' = 'json'",
            &format!("'format' = 'json',\n  'scan.watermark.idle-timeout' = '{idle}'"),
        );
        let sql = self.root.join("video_stats.sql");
        fs::write(&sql, text).expect("write the SQL job");
        fs::write(
            &self.config,
            toml::to_string(&doc).expect("serialize config"),
        )
        .expect("write config");
        eprintln!("[{}] the job is now {}", self.label, sql.display());
        self.sql = Some(sql);
    }
}
