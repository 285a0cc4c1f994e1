//! Which catalog a command that reads the lake opens: a config file's `[catalog]`, the flags,
//! or the embedded default.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use floe_common::config::{CatalogSection, FloeConfig, Overrides};
use floe_table::overwrite_commit::SnapshotCommits;
use iceberg::Catalog;

#[derive(Args)]
pub struct CatalogArgs {
    /// A job file whose `[catalog]` to read. Without it, the embedded default (./.floe).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Catalog: sqlite://PATH, postgres://..., or http(s)://... (REST).
    #[arg(long)]
    catalog: Option<String>,
    /// Warehouse location: a path, file:///..., or s3://bucket/prefix.
    #[arg(long)]
    warehouse: Option<String>,
}

impl CatalogArgs {
    fn section(&self) -> anyhow::Result<CatalogSection> {
        let mut file = match &self.config {
            Some(path) => FloeConfig::parse(
                &std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?,
            )?,
            None => FloeConfig::default(),
        };
        file.apply(&Overrides {
            catalog: self.catalog.clone(),
            warehouse: self.warehouse.clone(),
            ..Overrides::default()
        })?;
        Ok(file.catalog)
    }

    pub async fn connect(&self) -> anyhow::Result<Arc<dyn Catalog>> {
        crate::setup::catalog_of(&self.section()?).await
    }

    /// The catalog's path for snapshots iceberg's transactions cannot commit (overwrites).
    pub async fn snapshot_commits(&self) -> anyhow::Result<SnapshotCommits> {
        let section = self.section()?;
        SnapshotCommits::connect(&crate::setup::catalog_config(&section)?)
            .await
            .with_context(|| format!("connecting to catalog {} for snapshot commits", section.uri))
    }
}
