//! The config file and the overrides every command that runs a job takes (`floe run`,
//! `floe coordinator`).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use floe_common::config::{FloeConfig, Overrides, ValidatedConfig};
use floe_common::duration::parse_duration;

#[derive(Args, Debug, Clone)]
pub struct ConfigArgs {
    /// The job file (see examples/video_stats.toml). Without it, the defaults: local files
    /// under ./.floe and a SQLite catalog.
    #[arg(long, required_unless_present = "sql")]
    pub config: Option<PathBuf>,
    /// Jobs in streaming SQL (see examples/video_stats.sql), beside or instead of the
    /// config's.
    #[arg(long)]
    pub sql: Option<PathBuf>,
    /// Kafka bootstrap servers (one-job files only).
    #[arg(long)]
    pub brokers: Option<String>,
    /// Source topic (one-job files only).
    #[arg(long)]
    pub topic: Option<String>,
    /// Warehouse location: a path, file:///..., or s3://bucket/prefix.
    #[arg(long)]
    pub warehouse: Option<String>,
    /// Catalog: sqlite://PATH, postgres://..., or http(s)://... (REST).
    #[arg(long)]
    pub catalog: Option<String>,
    /// Checkpoint store: a path, file:///..., or s3://bucket/prefix.
    #[arg(long)]
    pub checkpoints: Option<String>,
    /// Read newline-delimited JSON files instead of the job's source (one-job files only): a
    /// directory (every file in it) or one file.
    #[arg(long)]
    pub files: Option<String>,
    /// Overrides [checkpoint].interval, e.g. 500ms.
    #[arg(long)]
    pub checkpoint_interval: Option<String>,
}

impl ConfigArgs {
    /// What the jobs are read from, for messages: the config file, or the SQL file.
    pub fn origin(&self) -> String {
        let files: Vec<String> = [&self.config, &self.sql]
            .into_iter()
            .flatten()
            .map(|p| p.display().to_string())
            .collect();
        files.join(" and ")
    }

    /// Reads the files, lowers the SQL jobs, applies the overrides, validates.
    pub fn load(&self) -> anyhow::Result<ValidatedConfig> {
        let mut file = match &self.config {
            Some(path) => {
                let mut file = FloeConfig::parse(&read(path)?)?;
                if let Some(sql) = file.sql.take() {
                    let jobs = floe_sql::jobs_from_sql(&sql)
                        .with_context(|| format!("the `sql` jobs of {}", path.display()))?;
                    file.jobs.extend(jobs);
                }
                file
            }
            None => FloeConfig::default(),
        };
        if let Some(path) = &self.sql {
            let jobs = floe_sql::jobs_from_sql(&read(path)?)
                .with_context(|| format!("the SQL jobs of {}", path.display()))?;
            file.jobs.extend(jobs);
        }
        file.apply(&Overrides {
            brokers: self.brokers.clone(),
            topic: self.topic.clone(),
            warehouse: self.warehouse.clone(),
            catalog: self.catalog.clone(),
            checkpoints: self.checkpoints.clone(),
            files: self.files.clone(),
        })?;
        if let Some(i) = &self.checkpoint_interval {
            parse_duration(i).map_err(|m| anyhow::anyhow!("--checkpoint-interval: {m}"))?;
            file.checkpoint.interval = i.clone();
        }
        Ok(file.validate()?)
    }
}

fn read(path: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(config: Option<PathBuf>, sql: Option<PathBuf>) -> ConfigArgs {
        ConfigArgs {
            config,
            sql,
            brokers: None,
            topic: None,
            warehouse: None,
            catalog: None,
            checkpoints: None,
            files: None,
            checkpoint_interval: None,
        }
    }

    #[test]
    fn the_sql_jobs_come_from_the_config_or_a_file_of_their_own() {
        let dir = tempfile::tempdir().expect("temp dir");
        let sql = include_str!("../../examples/video_stats.sql");
        let config = dir.path().join("floe.toml");
        std::fs::write(
            &config,
            format!("sql = '''\n{sql}'''\n\n[checkpoint]\ninterval = \"2s\"\n"),
        )
        .expect("write config");
        let from_config = args(Some(config), None).load().expect("load");
        assert_eq!(from_config.jobs, [floe_common::config::example_job()]);
        assert_eq!(
            from_config.checkpoint_interval,
            std::time::Duration::from_secs(2)
        );

        let file = dir.path().join("job.sql");
        std::fs::write(&file, sql).expect("write SQL");
        let alone = args(None, Some(file)).load().expect("load");
        assert_eq!(alone.jobs, from_config.jobs);
        assert_eq!(alone.catalog.uri, FloeConfig::default().catalog.uri);
    }
}
