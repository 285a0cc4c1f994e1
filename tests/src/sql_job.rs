//! The gold job in streaming SQL: `examples/video_stats.sql`, pointed at a test's broker, topic
//! and tables, run in place of the config's `[[job]]`, over the example's one-minute tumbling
//! windows, over hopping or cumulating ones of a minute, or over each video's sessions.

use std::fs;

use crate::env::repo_root;
use crate::job::Job;

/// The windows of the gold job, and how the oracle (tests/py/expected_gold.py) computes them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum GoldWindows {
    /// The example's `TUMBLE` of one minute.
    #[default]
    Tumbling,
    /// `HOP` of one minute, every `slide_s` seconds.
    Hopping { slide_s: i64 },
    /// `CUMULATE` up to one minute, by `step_s` seconds.
    Cumulating { step_s: i64 },
    /// `SESSION` of each video, ending `gap_s` seconds after its last event.
    Session { gap_s: i64 },
}

impl GoldWindows {
    /// The window function reading `content_events`.
    fn tvf(self) -> String {
        match self {
            GoldWindows::Tumbling => {
                "TUMBLE(TABLE content_events, DESCRIPTOR(ts), INTERVAL '1' MINUTE)".into()
            }
            GoldWindows::Hopping { slide_s } => format!(
                "HOP(TABLE content_events, DESCRIPTOR(ts), INTERVAL '{slide_s}' SECOND, \
                 INTERVAL '1' MINUTE)"
            ),
            GoldWindows::Cumulating { step_s } => format!(
                "CUMULATE(TABLE content_events, DESCRIPTOR(ts), INTERVAL '{step_s}' SECOND, \
                 INTERVAL '1' MINUTE)"
            ),
            GoldWindows::Session { gap_s } => format!(
                "SESSION(TABLE content_events PARTITION BY body.video_id, DESCRIPTOR(ts), \
                 INTERVAL '{gap_s}' SECOND)"
            ),
        }
    }

    /// What check_gold.py is told about these windows.
    fn oracle_args(self) -> Vec<String> {
        match self {
            GoldWindows::Tumbling => vec![],
            GoldWindows::Hopping { slide_s } => {
                vec!["--slide-ms".into(), (slide_s * 1000).to_string()]
            }
            GoldWindows::Cumulating { step_s } => {
                vec!["--step-ms".into(), (step_s * 1000).to_string()]
            }
            GoldWindows::Session { gap_s } => {
                vec!["--gap-ms".into(), (gap_s * 1000).to_string()]
            }
        }
    }
}

impl Job {
    /// Writes `video_stats.sql` from `examples/video_stats.sql` for this job and takes the
    /// `[[job]]` out of the config, which keeps the checkpoint store and the catalog: from now
    /// on every run of the job reads the SQL (`--sql`).
    pub fn switch_to_sql(&mut self) {
        self.switch_to_sql_with(GoldWindows::Tumbling);
    }

    /// [`Job::switch_to_sql`] aggregating over `windows`, which the tables are then checked
    /// against.
    pub fn switch_to_sql_with(&mut self, windows: GoldWindows) {
        let gold = self.gold_table.clone();
        self.switch_to_sql_example(
            "video_stats.sql",
            &[
                ("gold.video_stats_1min", &gold),
                (&GoldWindows::Tumbling.tvf(), &windows.tvf()),
            ],
        );
        self.oracle_args = windows.oracle_args();
    }

    /// Writes the SQL job of `examples/{example}` for this job, reading this test's topic, with
    /// each `(from, to)` of `replacements` made, and takes the `[[job]]` out of the config:
    /// from now on every run of the job reads the SQL (`--sql`).
    pub fn switch_to_sql_example(&mut self, example: &str, replacements: &[(&str, &str)]) {
        let example = repo_root().join("examples").join(example);
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
        let mut text = replace(
            text,
            "'127.0.0.1:9092'",
            &format!("'{}'", self.services.brokers),
        );
        for (from, to) in replacements {
            text = replace(text, from, to);
        }
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
        let sql = self.root.join(example.file_name().expect("a file name"));
        fs::write(&sql, text).expect("write the SQL job");
        fs::write(
            &self.config,
            toml::to_string(&doc).expect("serialize config"),
        )
        .expect("write config");
        eprintln!("[{}] the job is now {}", self.label, sql.display());
        self.sql = Some(sql);
    }

    /// Adds `WHERE condition` to the SQL job, and `oracle` (the same condition over
    /// expected_gold.py's columns) to its checks.
    pub fn sql_where(&mut self, condition: &str, oracle: &str) {
        let group_by = "\nGROUP BY window_start";
        self.edit_sql(group_by, &format!("\nWHERE {condition}{group_by}"));
        self.oracle_args.extend(["--where".into(), oracle.into()]);
    }

    /// Adds `HAVING condition` to the SQL job, and `oracle` (the same condition over the gold
    /// table's columns) to its checks.
    pub fn sql_having(&mut self, condition: &str, oracle: &str) {
        let end = "body.video_id;";
        self.edit_sql(end, &format!("body.video_id\nHAVING {condition};"));
        self.oracle_args.extend(["--having".into(), oracle.into()]);
    }

    /// Aggregates the shares column as `aggregate` (the source then declares `body.user_id`
    /// and `header.event_id` too), and tells the oracle `oracle` (the same over
    /// expected_gold.py's columns).
    pub fn sql_shares(&mut self, aggregate: &str, oracle: &str) {
        self.edit_sql(
            "body ROW<video_id STRING, watch_ms BIGINT>",
            "body ROW<video_id STRING, user_id STRING, watch_ms BIGINT>",
        );
        self.edit_sql(
            "header ROW<event_type STRING, event_ts BIGINT>",
            "header ROW<event_id STRING, event_type STRING, event_ts BIGINT>",
        );
        self.edit_sql(
            "COUNT(*) FILTER (WHERE header.event_type = 'share') AS shares",
            &format!("{aggregate} AS shares"),
        );
        self.oracle_args
            .extend(["--shares-sql".into(), oracle.into()]);
    }

    /// [`Job::sql_shares`] of an `APPROX_COUNT_DISTINCT`, whose oracle gives the list of values
    /// the oracle estimates itself.
    pub fn sql_sketched_shares(&mut self, aggregate: &str, values: &str) {
        self.sql_shares(aggregate, values);
        self.oracle_args.push("--shares-hll".into());
    }

    fn edit_sql(&mut self, from: &str, to: &str) {
        let sql = self.sql.clone().expect("a job switched to SQL");
        let text = fs::read_to_string(&sql).expect("read the SQL job");
        assert!(text.contains(from), "{} has no `{from}`", sql.display());
        fs::write(&sql, text.replacen(from, to, 1)).expect("write the SQL job");
    }
}
