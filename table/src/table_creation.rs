//! How Floe creates a table: its namespaces first, then format v2 with Floe's properties (zstd
//! Parquet; old metadata files deleted after each commit, the last few kept).

use std::collections::HashMap;

use iceberg::spec::{FormatVersion, Schema, UnboundPartitionSpec};
use iceberg::table::Table;
use iceberg::{Catalog, ErrorKind, NamespaceIdent, TableCreation, TableIdent};

use crate::catalog_call::{read, with_deadline};
use crate::iceberg_table::TableError;
use crate::maintenance::metadata_files::{
    DELETE_AFTER_COMMIT_PROPERTY, PREVIOUS_VERSIONS_KEPT, PREVIOUS_VERSIONS_PROPERTY,
};

/// Table property selecting the Parquet codec (read by Spark/pyiceberg writers too).
pub(crate) const PARQUET_COMPRESSION_PROPERTY: &str = "write.parquet.compression-codec";

/// The properties every table Floe creates starts with.
fn new_table_properties() -> HashMap<String, String> {
    HashMap::from([
        (PARQUET_COMPRESSION_PROPERTY.to_owned(), "zstd".to_owned()),
        (DELETE_AFTER_COMMIT_PROPERTY.to_owned(), "true".to_owned()),
        (
            PREVIOUS_VERSIONS_PROPERTY.to_owned(),
            PREVIOUS_VERSIONS_KEPT.to_string(),
        ),
    ])
}

/// `namespace[.namespace...].table` as the catalog's identifier.
pub fn table_ident(name: &str) -> Result<TableIdent, TableError> {
    let mut parts: Vec<String> = name.split('.').map(str::to_owned).collect();
    let table = parts.pop().unwrap_or_default();
    if table.is_empty() || parts.is_empty() || parts.iter().any(String::is_empty) {
        return Err(TableError::InvalidName(name.to_owned()));
    }
    let namespace =
        NamespaceIdent::from_vec(parts).map_err(|_| TableError::InvalidName(name.to_owned()))?;
    Ok(TableIdent::new(namespace, table))
}

/// Creates table `ident` (and its namespaces) with `schema`, `partition` and Floe's
/// properties; [`TableError::AlreadyExists`] if it exists, even when another process created
/// it a moment ago.
pub async fn create_table(
    catalog: &dyn Catalog,
    ident: &TableIdent,
    schema: Schema,
    partition: UnboundPartitionSpec,
) -> Result<Table, TableError> {
    let name = ident.to_string();
    ensure_namespace(catalog, &ident.namespace().clone().inner(), &name).await?;
    let creation = TableCreation::builder()
        .name(ident.name().to_owned())
        .schema(schema)
        .partition_spec(partition)
        .properties(new_table_properties())
        .format_version(FormatVersion::V2)
        .build();
    match with_deadline(
        "create_table",
        catalog.create_table(ident.namespace(), creation),
    )
    .await
    {
        Ok(table) => Ok(table),
        // The SQL catalog reports a lost creation race as a unique-constraint error.
        Err(e)
            if e.kind() == ErrorKind::TableAlreadyExists
                || read("table_exists", || catalog.table_exists(ident))
                    .await
                    .unwrap_or(false) =>
        {
            Err(TableError::AlreadyExists(name))
        }
        Err(source) => Err(TableError::Catalog {
            op: "create_table",
            table: name,
            source,
        }),
    }
}

/// Table `ident` as it is, or created as [`create_table`] creates it (also when another
/// process creates it first); `true` when this call created it.
pub async fn open_or_create_table(
    catalog: &dyn Catalog,
    ident: &TableIdent,
    schema: Schema,
    partition: UnboundPartitionSpec,
) -> Result<(Table, bool), TableError> {
    let name = ident.to_string();
    let catalog_err = |op: &'static str| {
        let table = name.clone();
        move |source: iceberg::Error| TableError::Catalog { op, table, source }
    };
    let load = || async {
        read("load_table", || catalog.load_table(ident))
            .await
            .map_err(catalog_err("load_table"))
    };
    let exists = read("table_exists", || catalog.table_exists(ident))
        .await
        .map_err(catalog_err("table_exists"))?;
    if exists {
        return Ok((load().await?, false));
    }
    match create_table(catalog, ident, schema, partition).await {
        Ok(table) => Ok((table, true)),
        // Lost a creation race with another process or job (or the answer to a creation that
        // landed): the table there.
        Err(TableError::AlreadyExists(_)) => Ok((load().await?, false)),
        Err(e) => Err(e),
    }
}

/// Creates `a`, `a.b`, ... as needed (tolerating concurrent creation).
async fn ensure_namespace(
    catalog: &dyn Catalog,
    parts: &[String],
    table: &str,
) -> Result<(), TableError> {
    let err = |op: &'static str| {
        move |source: iceberg::Error| TableError::Catalog {
            op,
            table: table.to_owned(),
            source,
        }
    };
    for depth in 1..=parts.len() {
        let ns = NamespaceIdent::from_vec(parts[..depth].to_vec())
            .map_err(|_| TableError::InvalidName(table.to_owned()))?;
        let exists = || read("namespace_exists", || catalog.namespace_exists(&ns));
        if exists().await.map_err(err("namespace_exists"))? {
            continue;
        }
        match with_deadline(
            "create_namespace",
            catalog.create_namespace(&ns, HashMap::new()),
        )
        .await
        {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NamespaceAlreadyExists => {}
            // The SQL catalog reports a lost creation race as a unique-constraint error.
            Err(e) => {
                if !exists().await.unwrap_or(false) {
                    return Err(err("create_namespace")(e));
                }
            }
        }
    }
    Ok(())
}
