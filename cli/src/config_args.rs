//! The config file and the overrides every command that runs a job takes (`floe run`,
//! `floe coordinator`).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use floe_common::config::{FloeConfig, Overrides, ValidatedConfig};
use floe_common::duration::parse_duration;

#[derive(Args, Debug, Clone)]
pub struct ConfigArgs {
    /// The job file (see examples/video_stats.toml).
    #[arg(long)]
    pub config: PathBuf,
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
    /// Reads the file, applies the overrides, validates.
    pub fn load(&self) -> anyhow::Result<ValidatedConfig> {
        let text = std::fs::read_to_string(&self.config)
            .with_context(|| format!("reading {}", self.config.display()))?;
        let mut file = FloeConfig::parse(&text)?;
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
