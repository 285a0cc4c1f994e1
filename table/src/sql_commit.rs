//! `SqlCommits`: staged snapshots committed to a SQL catalog (the `iceberg_tables` table of
//! iceberg-catalog-sql) as that catalog commits, but swapped only from the metadata the
//! snapshot was staged on.

use std::str::FromStr;

use iceberg::table::Table;
use iceberg::{Error, ErrorKind, MetadataLocation, Result};

use crate::overwrite_commit::StagedSnapshot;

/// Commits staged snapshots to a SQL catalog, on a connection pool of its own.
#[derive(Debug, Clone)]
pub struct SqlCommits {
    pool: sqlx::AnyPool,
    catalog_name: String,
    /// PostgreSQL numbers its placeholders.
    dollar_placeholders: bool,
}

const SWAP_METADATA: &str = "UPDATE iceberg_tables \
     SET metadata_location = ?, previous_metadata_location = ? \
     WHERE catalog_name = ? AND table_name = ? AND table_namespace = ? \
     AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL) AND metadata_location = ?";

impl SqlCommits {
    /// Connects to the catalog database at `uri` (`sqlite://…` or `postgres://…`).
    pub async fn connect(uri: &str, catalog_name: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(2)
            .connect(uri)
            .await
            .map_err(|e| {
                Error::new(ErrorKind::Unexpected, "cannot connect to the SQL catalog")
                    .with_source(e)
            })?;
        Ok(Self {
            pool,
            catalog_name: catalog_name.to_owned(),
            dollar_placeholders: uri.starts_with("postgres"),
        })
    }

    /// Commits `staged` if the table is still at `base`'s metadata: the requirements are
    /// checked against `base`, its next metadata file is written, and the catalog row moves to
    /// it only from `base`'s. Anything else is [`ErrorKind::CatalogCommitConflicts`].
    pub async fn commit(&self, base: &Table, staged: StagedSnapshot) -> Result<()> {
        for requirement in &staged.requirements {
            requirement.check(Some(base.metadata()))?;
        }
        let current = base.metadata_location_result()?.to_owned();
        let mut builder = base.metadata().clone().into_builder(Some(current.clone()));
        for update in staged.updates {
            builder = update.apply(builder)?;
        }
        let metadata = builder.build()?.metadata;
        let next = MetadataLocation::from_str(&current)?
            .with_next_version()
            .with_new_metadata(&metadata);
        metadata.write_to(base.file_io(), &next).await?;
        let sql = if self.dollar_placeholders {
            numbered_placeholders(SWAP_METADATA)
        } else {
            SWAP_METADATA.to_owned()
        };
        let ident = base.identifier();
        let swapped = sqlx::query(&sql)
            .bind(next.to_string())
            .bind(current.as_str())
            .bind(self.catalog_name.as_str())
            .bind(ident.name())
            .bind(ident.namespace().join("."))
            .bind(current.as_str())
            .execute(&self.pool)
            .await
            .map_err(|e| {
                Error::new(ErrorKind::Unexpected, "the catalog update failed").with_source(e)
            })?;
        if swapped.rows_affected() == 0 {
            return Err(Error::new(
                ErrorKind::CatalogCommitConflicts,
                "the table changed since the snapshot was staged",
            )
            .with_retryable(true));
        }
        Ok(())
    }
}

/// `?` placeholders as `$1`, `$2`, … (the statement holds no other `?`).
fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_placeholders_are_numbered() {
        assert_eq!(
            numbered_placeholders("a = ? AND b = ?"),
            "a = $1 AND b = $2"
        );
    }
}
