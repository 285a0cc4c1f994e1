//! The config file of a test's job: examples/video_stats.toml with this test's storage,
//! topic, window settings and table names.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use rand::Rng;

use super::{Job, JobOptions, Storage};
use crate::env::{floe_bin, repo_root, Services};
use crate::kafka::{unique_topic, Kafka};
use crate::records::JOB_NAME;

fn sub_table<'a>(t: &'a mut toml::Table, key: &str) -> &'a mut toml::Table {
    t.entry(key)
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .unwrap_or_else(|| panic!("`{key}` of examples/video_stats.toml is not a table"))
}

/// Where a job's catalog, warehouse and checkpoints are, as floe and as the readers name them:
/// one value per [`Storage`], so the config and the checks agree.
struct Layout {
    catalog_uri: String,
    reader_catalog_uri: String,
    warehouse: String,
    reader_warehouse: String,
    checkpoints: String,
    namespace: String,
    /// `[catalog.properties]`
    props: BTreeMap<String, String>,
}

impl Layout {
    /// Creates the local directories the storage needs under `root`.
    fn new(storage: &Storage, root: &Path, label: &str) -> Layout {
        let abs = |p: &str| root.join(p).to_string_lossy().into_owned();
        let suffix = format!("{:08x}", rand::rng().random::<u32>());
        let unique_namespace = || format!("e2e_{}_{suffix}", label.replace('-', "_"));
        let local = |catalog_uri: String, reader_catalog_uri: String, namespace: String| {
            fs::create_dir_all(root.join("warehouse")).unwrap();
            fs::create_dir_all(root.join("checkpoints")).unwrap();
            Layout {
                catalog_uri,
                reader_catalog_uri,
                warehouse: abs("warehouse"),
                reader_warehouse: format!("file://{}", abs("warehouse")),
                checkpoints: abs("checkpoints"),
                namespace,
                props: BTreeMap::new(),
            }
        };
        match storage {
            Storage::Local => {
                let db = abs("catalog.db");
                local(
                    format!("sqlite://{db}"),
                    format!("sqlite:///{db}"),
                    "gold".to_string(),
                )
            }
            Storage::Postgres(pg) => local(pg.url.clone(), pg.reader_url(), unique_namespace()),
            Storage::S3(s3) => Layout {
                catalog_uri: s3.rest_uri.clone(),
                reader_catalog_uri: s3.rest_uri.clone(),
                warehouse: s3.rest_warehouse.clone(),
                reader_warehouse: s3.rest_warehouse.clone(),
                checkpoints: format!("s3://checkpoints/floe-e2e-{label}-{suffix}"),
                namespace: unique_namespace(),
                props: [
                    ("credential", &s3.rest_credential),
                    ("s3.endpoint", &s3.endpoint),
                    ("s3.access-key-id", &s3.access_key_id),
                    ("s3.secret-access-key", &s3.secret_access_key),
                    ("s3.region", &s3.region),
                    ("s3.path-style-access", &"true".to_string()),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            },
        }
    }
}

/// examples/video_stats.toml, parsed.
fn example_config() -> toml::Table {
    let example = repo_root().join("examples/video_stats.toml");
    let text =
        fs::read_to_string(&example).unwrap_or_else(|e| panic!("read {}: {e}", example.display()));
    text.parse()
        .unwrap_or_else(|e| panic!("parse {}: {e}", example.display()))
}

/// The example's only `[[job]]`, checked to be the gold job.
fn gold_job(doc: &mut toml::Table) -> &mut toml::Table {
    let jobs = doc
        .get_mut("job")
        .and_then(|j| j.as_array_mut())
        .expect("examples/video_stats.toml has [[job]]");
    assert_eq!(
        jobs.len(),
        1,
        "examples/video_stats.toml should have exactly one job"
    );
    let job = jobs[0].as_table_mut().expect("[[job]] is a table");
    assert_eq!(
        job.get("name").and_then(|n| n.as_str()),
        Some(JOB_NAME),
        "the example job's name changed: update JOB_NAME"
    );
    job
}

impl Job {
    /// Creates the topic and the temp dir, and writes the config (from examples/video_stats.toml
    /// with storage, source and window settings replaced).
    pub fn new(services: &Services, label: &str, opts: JobOptions) -> Job {
        floe_bin(); // fail before producing anything when the binary is missing
        let topic = unique_topic(label);
        let kafka = Kafka::connect(&services.brokers);
        kafka.create_topic(&topic, opts.partitions);

        let dir = tempfile::Builder::new()
            .prefix(&format!("floe-e2e-{label}-"))
            .tempdir()
            .expect("temp dir");
        let root = dir.path().to_path_buf();
        let mut doc = example_config();
        let layout = Layout::new(&opts.storage, &root, label);
        let gold_table = format!("{}.video_stats_1min", layout.namespace);
        let late_table = format!("{gold_table}_late");
        let dlq_table = format!("{gold_table}_dead_letters");

        let cp = sub_table(&mut doc, "checkpoint");
        cp.insert("store".into(), layout.checkpoints.clone().into());
        cp.insert("interval".into(), opts.checkpoint_interval.clone().into());
        let cat = sub_table(&mut doc, "catalog");
        cat.insert("uri".into(), layout.catalog_uri.clone().into());
        cat.insert("name".into(), "floe".into());
        cat.insert("warehouse".into(), layout.warehouse.clone().into());
        if !layout.props.is_empty() {
            let p = sub_table(cat, "properties");
            for (k, v) in &layout.props {
                p.insert(k.clone(), v.clone().into());
            }
        }
        let job = gold_job(&mut doc);
        let src = sub_table(job, "source");
        src.insert("brokers".into(), services.brokers.clone().into());
        src.insert("topic".into(), topic.clone().into());
        src.insert("start".into(), "earliest".into());
        let win = sub_table(job, "window");
        win.insert("size".into(), "1m".into());
        win.insert("watermark_delay".into(), "10s".into());
        win.insert("allowed_lateness".into(), "0s".into());
        win.insert("idle_timeout".into(), opts.idle_timeout.clone().into());
        let sink = sub_table(job, "sink");
        sink.insert("table".into(), gold_table.clone().into());
        sink.insert("late_table".into(), late_table.clone().into());
        sink.insert("dead_letter_table".into(), dlq_table.clone().into());

        let config = root.join("floe.toml");
        fs::write(
            &config,
            format!(
                "# written by floe-tests from examples/video_stats.toml\n{}",
                toml::to_string(&doc).expect("serialize config")
            ),
        )
        .expect("write config");
        eprintln!(
            "[{label}] topic {topic} ({} partitions), dir {}",
            opts.partitions,
            root.display()
        );
        let Layout {
            reader_catalog_uri,
            reader_warehouse,
            checkpoints,
            ..
        } = layout;
        Job {
            dir: Some(dir),
            events: root.join("events.jsonl"),
            root,
            label: label.to_string(),
            topic,
            partitions: opts.partitions,
            services: services.clone(),
            config,
            reader_catalog_uri,
            reader_warehouse,
            gold_table,
            late_table,
            dlq_table,
            local_checkpoints: match opts.storage {
                Storage::Local | Storage::Postgres(_) => Some(PathBuf::from(&checkpoints)),
                Storage::S3(_) => None,
            },
            checkpoints,
            s3: match opts.storage {
                Storage::S3(s) => Some(s),
                Storage::Local | Storage::Postgres(_) => None,
            },
            runs: 0,
            last_run_log: None,
            image: None,
            sql: None,
            oracle_args: Vec::new(),
        }
    }

    /// [`Job::new`] with the services of the environment ([`Services::from_env`]).
    pub fn from_env(label: &str, opts: JobOptions) -> Job {
        Job::new(&Services::from_env(), label, opts)
    }

    /// Changes the job's `[[job]]` table in the config file (e.g. its source settings).
    pub fn edit_job_config(&self, edit: impl FnOnce(&mut toml::Table)) {
        let text = fs::read_to_string(&self.config).expect("read config");
        let mut doc: toml::Table = text.parse().expect("parse config");
        let job = doc
            .get_mut("job")
            .and_then(|j| j.as_array_mut())
            .and_then(|jobs| jobs.first_mut())
            .and_then(|j| j.as_table_mut())
            .expect("the config has a [[job]]");
        edit(job);
        fs::write(
            &self.config,
            toml::to_string(&doc).expect("serialize config"),
        )
        .expect("write config");
    }

    /// Sets `[job.source] key = value` in the config file.
    pub fn set_source(&self, key: &str, value: &str) {
        self.edit_job_config(|job| {
            sub_table(job, "source").insert(key.into(), value.into());
        });
    }

    /// Sets `[job.source.properties] key = value` (a librdkafka property) in the config file.
    pub fn set_source_property(&self, key: &str, value: &str) {
        self.edit_job_config(|job| {
            sub_table(sub_table(job, "source"), "properties").insert(key.into(), value.into());
        });
    }
}
