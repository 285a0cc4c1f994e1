//! From a validated config to live catalog connections and checkpoint stores.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use floe_common::config::{CatalogSection, ValidatedConfig};
use floe_storage::{open_location, to_url, CheckpointStore};
use floe_table::catalog::{connect_catalog, CatalogConfig};
use floe_table::overwrite_commit::SnapshotCommits;

/// `sqlite://relative/path` → `sqlite:///absolute/path`; other URIs unchanged.
pub fn absolute_catalog_uri(uri: &str) -> anyhow::Result<String> {
    let Some(path) = uri.strip_prefix("sqlite://") else {
        return Ok(uri.to_owned());
    };
    if path.starts_with('/') {
        return Ok(uri.to_owned());
    }
    let abs = std::path::absolute(path).with_context(|| format!("catalog path {path}"))?;
    if let Some(dir) = abs.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(format!("sqlite://{}", abs.display()))
}

pub async fn catalog(cfg: &ValidatedConfig) -> anyhow::Result<Arc<dyn iceberg::Catalog>> {
    catalog_of(&cfg.catalog).await
}

/// The catalog of a config's `[catalog]`.
pub async fn catalog_of(section: &CatalogSection) -> anyhow::Result<Arc<dyn iceberg::Catalog>> {
    connect_catalog(&catalog_config(section)?)
        .await
        .with_context(|| format!("connecting to catalog {}", section.uri))
}

/// The catalog's commits of snapshots iceberg's transactions cannot make: a CDC job's rewrites
/// and every job's manifest merges.
pub async fn snapshot_commits(
    cfg: &ValidatedConfig,
) -> anyhow::Result<Option<Arc<SnapshotCommits>>> {
    let commits = SnapshotCommits::connect(&catalog_config(&cfg.catalog)?)
        .await
        .with_context(|| {
            format!(
                "connecting to catalog {} for snapshot commits",
                cfg.catalog.uri
            )
        })?;
    Ok(Some(Arc::new(commits)))
}

pub(crate) fn catalog_config(catalog: &CatalogSection) -> anyhow::Result<CatalogConfig> {
    let warehouse = to_url(&catalog.warehouse)?;
    if let Some(path) = warehouse.strip_prefix("file://") {
        std::fs::create_dir_all(path).with_context(|| format!("creating warehouse {path}"))?;
    }
    Ok(CatalogConfig {
        uri: absolute_catalog_uri(&catalog.uri)?,
        name: catalog.name.clone(),
        warehouse,
        properties: catalog
            .properties
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<HashMap<_, _>>(),
    })
}

pub fn checkpoint_store(cfg: &ValidatedConfig, job: &str) -> anyhow::Result<CheckpointStore> {
    let location = open_location(&cfg.checkpoint_store)
        .with_context(|| format!("checkpoint store {}", cfg.checkpoint_store))?;
    Ok(CheckpointStore::new(location, job))
}
