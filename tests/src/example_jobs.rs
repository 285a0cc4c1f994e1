//! The examples' other jobs (Bronze, CDC) added to a test's config beside its gold job: each
//! `[[job]]` read from its example file, pointed at a topic of the test's broker and writing
//! into the test's namespace.

use std::fs;

use crate::{repo_root, Job};

impl Job {
    /// The namespace of this test's tables.
    pub(crate) fn namespace(&self) -> String {
        self.gold_table
            .rsplit_once('.')
            .map(|(ns, _)| ns.to_owned())
            .expect("gold table has a namespace")
    }

    /// Adds the `[[job]]` named `name` of `examples/<file>` to this test's config, reading
    /// `topic`, with `sink` (key, table name) set in its `[job.sink]`.
    pub(crate) fn add_example_job(
        &self,
        file: &str,
        name: &str,
        topic: &str,
        sink: &[(&str, &str)],
    ) {
        let example = repo_root().join("examples").join(file);
        let doc: toml::Table = fs::read_to_string(&example)
            .unwrap_or_else(|e| panic!("read {}: {e}", example.display()))
            .parse()
            .unwrap_or_else(|e| panic!("parse {}: {e}", example.display()));
        let mut job = doc["job"].as_array().expect("[[job]]")[0]
            .as_table()
            .expect("[[job]] is a table")
            .clone();
        assert_eq!(job["name"].as_str(), Some(name), "{file}: its job's name");
        let source = job["source"].as_table_mut().expect("[job.source]");
        source.insert("brokers".into(), self.services.brokers.clone().into());
        source.insert("topic".into(), topic.into());
        let sink_table = job["sink"].as_table_mut().expect("[job.sink]");
        for (key, table) in sink {
            sink_table.insert((*key).into(), (*table).into());
        }

        let text = fs::read_to_string(&self.config).expect("read config");
        let mut config: toml::Table = text.parse().expect("parse config");
        config["job"]
            .as_array_mut()
            .expect("[[job]]")
            .push(toml::Value::Table(job));
        fs::write(
            &self.config,
            toml::to_string(&config).expect("serialize config"),
        )
        .expect("write config");
    }
}
