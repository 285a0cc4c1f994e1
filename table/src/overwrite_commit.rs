//! An overwrite snapshot (copy-on-write: data files removed, their rewrites and new rows added)
//! built from iceberg's public spec writers, and its commit.
//!
//! iceberg 0.10.1 commits appends only: its `Transaction` has no overwrite action and a
//! `TableCommit` cannot be built outside the crate. So the snapshot is staged here (manifests,
//! manifest list, snapshot, the catalog updates and requirements that commit it), and committed
//! to the catalog directly: [`SqlCommits`] (`sql_commit.rs`) as the SQL catalog commits,
//! [`RestCommits`] (`rest_commit.rs`) with the REST protocol's commit request.

use std::collections::{BTreeSet, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use iceberg::spec::{
    DataContentType, DataFile, FormatVersion, ManifestContentType, ManifestEntry, ManifestFile,
    ManifestListWriter, ManifestWriterBuilder, Operation, Snapshot, SnapshotReference,
    SnapshotRetention, SnapshotSummaryCollector, Summary, MAIN_BRANCH,
};
use iceberg::table::Table;
use iceberg::{Error, ErrorKind, Result, TableRequirement, TableUpdate};

use crate::catalog::{CatalogConfig, DEFAULT_CATALOG_NAME};
pub use crate::rest_commit::RestCommits;
pub use crate::sql_commit::SqlCommits;

/// What one overwrite changes in a table.
#[derive(Debug, Default, Clone)]
pub struct Overwrite {
    /// Paths of live files to remove (a data file's remaining rows are among `added`).
    pub removed: BTreeSet<String>,
    /// Data files, and position delete files removing rows of `deletes_in`.
    pub added: Vec<DataFile>,
    /// Live data files the added position deletes point into: all must still be live.
    pub deletes_in: BTreeSet<String>,
}

/// A snapshot whose files are written but which no catalog records yet.
#[derive(Debug)]
pub struct StagedSnapshot {
    pub updates: Vec<TableUpdate>,
    pub requirements: Vec<TableRequirement>,
}

impl StagedSnapshot {
    /// The id of the snapshot it adds: how a commit whose answer was lost is found in the
    /// table.
    pub fn snapshot_id(&self) -> Option<i64> {
        self.updates.iter().find_map(|u| match u {
            TableUpdate::AddSnapshot { snapshot } => Some(snapshot.snapshot_id()),
            _ => None,
        })
    }
}

/// The summary totals iceberg keeps (`total = previous + added - removed`), as its
/// crate-private summary update computes them.
const TOTALS: [(&str, &str, &str); 5] = [
    ("total-data-files", "added-data-files", "deleted-data-files"),
    ("total-records", "added-records", "deleted-records"),
    ("total-files-size", "added-files-size", "removed-files-size"),
    (
        "total-delete-files",
        "added-delete-files",
        "removed-delete-files",
    ),
    (
        "total-position-deletes",
        "added-position-deletes",
        "removed-position-deletes",
    ),
];

pub(crate) fn add_totals(props: &mut HashMap<String, String>, previous: Option<&Summary>) {
    for (total, added, removed) in TOTALS {
        let before = match previous {
            None => Some(0),
            Some(s) => s
                .additional_properties
                .get(total)
                .and_then(|v| v.parse::<u64>().ok()),
        };
        let count = |key: &str| props.get(key).map_or(Some(0), |v| v.parse::<u64>().ok());
        if let (Some(before), Some(a), Some(r)) = (before, count(added), count(removed)) {
            props.insert(
                total.to_owned(),
                before.saturating_add(a).saturating_sub(r).to_string(),
            );
        }
    }
}

pub(crate) fn fresh_snapshot_id(table: &Table) -> i64 {
    loop {
        let (a, b) = uuid::Uuid::new_v4().as_u64_pair();
        let id = ((a ^ b) >> 1) as i64;
        if id > 0 && table.metadata().snapshot_by_id(id).is_none() {
            return id;
        }
    }
}

/// Writes the manifests and manifest list of `change` on top of `base`'s current snapshot, with
/// `properties` in the snapshot summary and `also` applied in the same commit. A file to
/// remove that is no longer live in `base` is a conflict: the rewrite was made from a stale
/// table.
pub async fn stage_overwrite(
    base: &Table,
    change: &Overwrite,
    properties: HashMap<String, String>,
    also: Vec<TableUpdate>,
) -> Result<StagedSnapshot> {
    stage_change(base, change, Operation::Overwrite, properties, also).await
}

/// [`stage_overwrite`] with the snapshot's `operation`: `replace` for a rewrite that keeps the
/// rows (compaction).
pub(crate) async fn stage_change(
    base: &Table,
    change: &Overwrite,
    operation: Operation,
    properties: HashMap<String, String>,
    also: Vec<TableUpdate>,
) -> Result<StagedSnapshot> {
    let md = base.metadata();
    if md.format_version() != FormatVersion::V2 {
        return Err(Error::new(
            ErrorKind::FeatureUnsupported,
            "overwrites are written for format v2 tables only",
        ));
    }
    let io = base.file_io();
    let schema = md.current_schema().clone();
    let spec = md.default_partition_spec().clone();
    let snapshot_id = fresh_snapshot_id(base);
    let commit = uuid::Uuid::new_v4();
    let mut written = 0u32;
    let mut manifest_path = || {
        written += 1;
        format!("{}/metadata/{commit}-m{written}.avro", md.location())
    };
    let mut summary = SnapshotSummaryCollector::default();
    let mut manifests: Vec<ManifestFile> = Vec::new();
    let mut removed = 0usize;

    let mut deletes_in_live = 0usize;
    if let Some(current) = md.current_snapshot() {
        let list = base.manifest_list_reader(current).load().await?;
        // Collected first: the list's own iterator is not `Send`, and commits run in tasks.
        let listed_all: Vec<ManifestFile> = list.consume_entries().into_iter().collect();
        for listed in listed_all {
            let data = listed.content == ManifestContentType::Data;
            let checks_targets = data && !change.deletes_in.is_empty();
            if change.removed.is_empty() && !checks_targets {
                manifests.push(listed);
                continue;
            }
            let manifest = crate::manifest_cache::load_manifest(&listed, io).await?;
            if data {
                deletes_in_live += manifest
                    .entries()
                    .iter()
                    .filter(|e| e.is_alive() && change.deletes_in.contains(e.file_path()))
                    .count();
            }
            if !manifest.entries().iter().any(|e| e.is_alive()) {
                // Only deletions of an earlier snapshot: nothing a reader of this one needs.
                continue;
            }
            let hit = |e: &ManifestEntry| e.is_alive() && change.removed.contains(e.file_path());
            if !manifest.entries().iter().any(|e| hit(e)) {
                manifests.push(listed);
                continue;
            }
            let entry_spec = md
                .partition_spec_by_id(listed.partition_spec_id)
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::DataInvalid,
                        "a manifest names an unknown partition spec",
                    )
                })?
                .clone();
            let builder = ManifestWriterBuilder::new(
                io.new_output(manifest_path())?,
                Some(snapshot_id),
                schema.clone(),
                entry_spec.as_ref().clone(),
            );
            let mut rewritten = if data {
                builder.build_v2_data()
            } else {
                builder.build_v2_deletes()
            };
            for e in manifest.entries().iter().filter(|e| e.is_alive()) {
                let inherited = |what: &str| {
                    Error::new(
                        ErrorKind::DataInvalid,
                        format!("a live manifest entry has no {what}"),
                    )
                };
                let sequence = e
                    .sequence_number()
                    .ok_or_else(|| inherited("sequence number"))?;
                if hit(e) {
                    removed += 1;
                    summary.remove_file(e.data_file(), schema.clone(), entry_spec.clone());
                    rewritten.add_delete_file(
                        e.data_file().clone(),
                        sequence,
                        e.file_sequence_number,
                    )?;
                } else {
                    let added_by = e.snapshot_id().ok_or_else(|| inherited("snapshot id"))?;
                    rewritten.add_existing_file(
                        e.data_file().clone(),
                        added_by,
                        sequence,
                        e.file_sequence_number,
                    )?;
                }
            }
            manifests.push(rewritten.write_manifest_file().await?);
        }
    }
    if removed != change.removed.len() {
        return Err(Error::new(
            ErrorKind::CatalogCommitConflicts,
            "a data file to remove is no longer in the table",
        ));
    }
    if deletes_in_live != change.deletes_in.len() {
        return Err(Error::new(
            ErrorKind::CatalogCommitConflicts,
            "a data file the position deletes point into is no longer in the table",
        ));
    }
    let (added_data, added_deletes): (Vec<&DataFile>, Vec<&DataFile>) = change
        .added
        .iter()
        .partition(|f| f.content_type() == DataContentType::Data);
    for (files, data) in [(added_data, true), (added_deletes, false)] {
        if files.is_empty() {
            continue;
        }
        let builder = ManifestWriterBuilder::new(
            io.new_output(manifest_path())?,
            Some(snapshot_id),
            schema.clone(),
            spec.as_ref().clone(),
        );
        let mut added = if data {
            builder.build_v2_data()
        } else {
            builder.build_v2_deletes()
        };
        for file in files {
            summary.add_file(file, schema.clone(), spec.clone());
            // A negative sequence number is written as null: inherited from this snapshot.
            added.add_file(file.clone(), -1)?;
        }
        manifests.push(added.write_manifest_file().await?);
    }

    let mut additional_properties = properties;
    additional_properties.extend(summary.build());
    add_totals(
        &mut additional_properties,
        md.current_snapshot().map(|s| s.summary()),
    );
    stage_snapshot(
        base,
        NewSnapshot {
            id: snapshot_id,
            commit,
            operation,
            manifests,
            summary: additional_properties,
        },
        also,
    )
    .await
}

/// A snapshot to stage: its id, the uuid its files are named with, and what it holds.
pub(crate) struct NewSnapshot {
    pub id: i64,
    pub commit: uuid::Uuid,
    pub operation: Operation,
    pub manifests: Vec<ManifestFile>,
    /// The summary's properties, totals included.
    pub summary: HashMap<String, String>,
}

/// Writes the manifest list of `snapshot` and returns the updates that make it `base`'s next
/// current snapshot (with `also`), required to apply to `base`'s state only.
pub(crate) async fn stage_snapshot(
    base: &Table,
    snapshot: NewSnapshot,
    also: Vec<TableUpdate>,
) -> Result<StagedSnapshot> {
    let md = base.metadata();
    let io = base.file_io();
    let NewSnapshot {
        id: snapshot_id,
        commit,
        operation,
        manifests,
        summary: additional_properties,
    } = snapshot;
    let sequence_number = md.next_sequence_number();
    let list_path = format!(
        "{}/metadata/snap-{snapshot_id}-0-{commit}.avro",
        md.location()
    );
    let mut list = ManifestListWriter::v2(
        io.new_output(&list_path)?.writer().await?,
        snapshot_id,
        md.current_snapshot_id(),
        sequence_number,
    );
    list.add_manifests(manifests.into_iter())?;
    list.close().await?;

    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
        .max(md.last_updated_ms());
    let snapshot = Snapshot::builder()
        .with_snapshot_id(snapshot_id)
        .with_parent_snapshot_id(md.current_snapshot_id())
        .with_sequence_number(sequence_number)
        .with_timestamp_ms(now_ms)
        .with_manifest_list(list_path)
        .with_summary(Summary {
            operation,
            additional_properties,
        })
        .with_schema_id(md.current_schema_id())
        .build();
    let mut updates = vec![
        TableUpdate::AddSnapshot { snapshot },
        TableUpdate::SetSnapshotRef {
            ref_name: MAIN_BRANCH.to_owned(),
            reference: SnapshotReference::new(
                snapshot_id,
                SnapshotRetention::branch(None, None, None),
            ),
        },
    ];
    updates.extend(also);
    Ok(StagedSnapshot {
        updates,
        requirements: vec![
            TableRequirement::UuidMatch { uuid: md.uuid() },
            TableRequirement::RefSnapshotIdMatch {
                r#ref: MAIN_BRANCH.to_owned(),
                snapshot_id: md.current_snapshot_id(),
            },
        ],
    })
}

/// Where staged snapshots are committed: the job's catalog, spoken to directly.
#[derive(Debug, Clone)]
pub enum SnapshotCommits {
    Sql(SqlCommits),
    Rest(RestCommits),
}

impl SnapshotCommits {
    /// The commit path of the catalog `cfg` names.
    pub async fn connect(cfg: &CatalogConfig) -> Result<Self> {
        if cfg.uri.starts_with("http://") || cfg.uri.starts_with("https://") {
            Ok(Self::Rest(RestCommits::connect(cfg).await?))
        } else {
            let name = if cfg.name.trim().is_empty() {
                DEFAULT_CATALOG_NAME
            } else {
                cfg.name.as_str()
            };
            Ok(Self::Sql(SqlCommits::connect(&cfg.uri, name).await?))
        }
    }

    /// Commits `staged` if the table is still at `base`'s state; anything else is
    /// [`ErrorKind::CatalogCommitConflicts`].
    pub async fn commit(&self, base: &Table, staged: StagedSnapshot) -> Result<()> {
        match self {
            Self::Sql(sql) => sql.commit(base, staged).await,
            Self::Rest(rest) => rest.commit(base, staged).await,
        }
    }
}

/// Where table maintenance commits its staged snapshots: the catalog's own path
/// ([`SnapshotCommits`]), or in tests one that lands a commit and loses its answer.
#[async_trait::async_trait]
pub trait CommitStaged: Send + Sync {
    /// As [`SnapshotCommits::commit`].
    async fn commit(&self, base: &Table, staged: StagedSnapshot) -> Result<()>;
}

#[async_trait::async_trait]
impl CommitStaged for SnapshotCommits {
    async fn commit(&self, base: &Table, staged: StagedSnapshot) -> Result<()> {
        SnapshotCommits::commit(self, base, staged).await
    }
}

#[cfg(test)]
#[path = "overwrite_commit_tests.rs"]
mod tests;
