//! Connecting to the Iceberg catalog (SQL: SQLite/Postgres, or REST) that Floe commits into.
//!
//! One entry point, [`connect_catalog`], turns a [`CatalogConfig`] into an
//! `Arc<dyn iceberg::Catalog>` with storage (local files or S3) wired in, so the rest of the
//! coordinator never has to know which catalog flavour is behind it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::file_io::{fill_s3_defaults, is_s3_location};
use iceberg::{Catalog, CatalogBuilder, Runtime};
use iceberg_catalog_rest::{
    RestCatalogBuilder, REST_CATALOG_PROP_URI, REST_CATALOG_PROP_WAREHOUSE,
};
use iceberg_catalog_sql::{
    SqlBindStyle, SqlCatalogBuilder, SQL_CATALOG_PROP_BIND_STYLE, SQL_CATALOG_PROP_URI,
    SQL_CATALOG_PROP_WAREHOUSE,
};
use iceberg_storage_opendal::OpenDalResolvingStorageFactory;

/// Catalog name used when the configuration does not give one. pyiceberg must be configured
/// with the same name to see Floe's tables in a shared SQL catalog.
pub const DEFAULT_CATALOG_NAME: &str = "floe";

/// SQL catalog pool properties the upstream crate parses with `unwrap()`; we validate them
/// first so a typo is an error instead of a panic.
const SQL_POOL_MAX_CONNECTIONS: &str = "pool.max-connections";
const SQL_POOL_IDLE_TIMEOUT: &str = "pool.idle-timeout";
const SQL_POOL_TEST_BEFORE_ACQUIRE: &str = "pool.test-before-acquire";

/// Where and how to reach the Iceberg catalog and warehouse.
///
/// Exists so the CLI/config layer can describe a catalog without depending on the iceberg
/// crates; [`connect_catalog`] does the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogConfig {
    /// `sqlite:///abs/path/catalog.db` (the file is created if missing), `postgres://...`,
    /// or `http(s)://...` for a REST catalog.
    pub uri: String,
    /// Catalog name, [`DEFAULT_CATALOG_NAME`] unless configured.
    pub name: String,
    /// `file:///abs/dir` (a bare `/abs/dir` is accepted too) or `s3://bucket/prefix`. For REST
    /// catalogs it is passed as the `warehouse` property (e.g. `s3://lake`).
    pub warehouse: String,
    /// Passed through to the catalog and its FileIO: `s3.endpoint`, `s3.region`,
    /// `s3.access-key-id`, `s3.secret-access-key`, `s3.path-style-access`, REST `credential`,
    /// `oauth2-server-uri`, `token`, ...
    pub properties: HashMap<String, String>,
}

impl CatalogConfig {
    /// A config with the default catalog name and no extra properties.
    pub fn new(uri: impl Into<String>, warehouse: impl Into<String>) -> Self {
        Self {
            uri: uri.into(),
            name: DEFAULT_CATALOG_NAME.to_owned(),
            warehouse: warehouse.into(),
            properties: HashMap::new(),
        }
    }
}

/// Why a catalog could not be reached or configured.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The URI scheme is none of sqlite, postgres(ql), http(s).
    #[error(
        "unsupported catalog uri `{0}`: expected sqlite:///path, postgres://..., or http(s)://... (REST)"
    )]
    UnsupportedUri(String),
    /// A configuration value is missing or malformed.
    #[error("invalid catalog configuration: {0}")]
    InvalidConfig(String),
    /// The SQLite database file (or its directory) could not be created.
    #[error("cannot create SQLite catalog file {path}: {source}")]
    CreateSqliteFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The catalog could not be built or did not answer.
    #[error("cannot connect to catalog `{name}` at {uri}: {source}")]
    Connect {
        name: String,
        /// The URI with any password redacted.
        uri: String,
        #[source]
        source: iceberg::Error,
    },
}

/// The flavour of catalog a URI designates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CatalogKind {
    Sqlite,
    Postgres,
    Rest,
}

fn catalog_kind(uri: &str) -> Result<CatalogKind, CatalogError> {
    let lower = uri.to_ascii_lowercase();
    if lower.starts_with("sqlite:") {
        Ok(CatalogKind::Sqlite)
    } else if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        Ok(CatalogKind::Postgres)
    } else if lower.starts_with("http://") || lower.starts_with("https://") {
        Ok(CatalogKind::Rest)
    } else {
        Err(CatalogError::UnsupportedUri(redact_uri(uri)))
    }
}

/// Connects to the catalog described by `cfg`.
///
/// Exists so every component gets the same catalog wiring: storage factory (local files and
/// S3), S3 credentials defaulted from the `AWS_*` environment, SQL bind style per database,
/// and for SQLite, the database file created if missing. REST catalogs are probed once
/// (`list_namespaces`) so bad credentials fail here rather than at the first commit.
pub async fn connect_catalog(cfg: &CatalogConfig) -> Result<Arc<dyn Catalog>, CatalogError> {
    let kind = catalog_kind(&cfg.uri)?;
    let name = if cfg.name.trim().is_empty() {
        DEFAULT_CATALOG_NAME.to_owned()
    } else {
        cfg.name.clone()
    };
    let warehouse = normalize_warehouse(&cfg.warehouse);
    let mut props = cfg.properties.clone();
    if is_s3_location(&warehouse) {
        fill_s3_defaults(&mut props, |k| std::env::var(k).ok());
    }
    let runtime = Runtime::try_current().map_err(|source| CatalogError::Connect {
        name: name.clone(),
        uri: redact_uri(&cfg.uri),
        source,
    })?;
    let storage = Arc::new(OpenDalResolvingStorageFactory::new());
    let connect_err = |source: iceberg::Error| CatalogError::Connect {
        name: name.clone(),
        uri: redact_uri(&cfg.uri),
        source,
    };

    match kind {
        CatalogKind::Sqlite | CatalogKind::Postgres => {
            if warehouse.is_empty() {
                return Err(CatalogError::InvalidConfig(
                    "a SQL catalog needs a warehouse location (file:///dir or s3://bucket/prefix)"
                        .to_owned(),
                ));
            }
            validate_sql_pool_props(&props)?;
            if kind == CatalogKind::Sqlite {
                ensure_sqlite_file(&cfg.uri)?;
            }
            let bind_style = if kind == CatalogKind::Sqlite {
                SqlBindStyle::QMark
            } else {
                SqlBindStyle::DollarNumeric
            };
            props
                .entry(SQL_CATALOG_PROP_BIND_STYLE.to_owned())
                .or_insert_with(|| bind_style.to_string());
            props.insert(SQL_CATALOG_PROP_URI.to_owned(), cfg.uri.clone());
            props.insert(SQL_CATALOG_PROP_WAREHOUSE.to_owned(), warehouse);
            let catalog = SqlCatalogBuilder::default()
                .with_storage_factory(storage)
                .with_runtime(runtime)
                .load(name.clone(), props)
                .await
                .map_err(connect_err)?;
            Ok(Arc::new(catalog))
        }
        CatalogKind::Rest => {
            props.insert(REST_CATALOG_PROP_URI.to_owned(), cfg.uri.clone());
            if !warehouse.is_empty() {
                props.insert(REST_CATALOG_PROP_WAREHOUSE.to_owned(), warehouse);
            }
            let catalog = RestCatalogBuilder::default()
                .with_storage_factory(storage)
                .with_runtime(runtime)
                .load(name.clone(), props)
                .await
                .map_err(connect_err)?;
            // The REST client is lazy; touch the server now so auth/config errors surface here.
            catalog.list_namespaces(None).await.map_err(connect_err)?;
            Ok(Arc::new(catalog))
        }
    }
}

/// `/abs/dir` -> `file:///abs/dir`; trailing slashes dropped (the SQL catalog appends `/ns/table`).
fn normalize_warehouse(warehouse: &str) -> String {
    let w = warehouse.trim();
    let w = if w.starts_with('/') {
        format!("file://{w}")
    } else {
        w.to_owned()
    };
    let trimmed = w.trim_end_matches('/');
    // Keep `file:///` or `s3://bucket` roots intact if someone really points at them.
    if trimmed.ends_with(':') || trimmed.ends_with(":/") {
        w
    } else {
        trimmed.to_owned()
    }
}

fn validate_sql_pool_props(props: &HashMap<String, String>) -> Result<(), CatalogError> {
    let bad = |key: &str, ok: fn(&str) -> bool, what: &str| match props.get(key) {
        Some(v) if !ok(v) => Err(CatalogError::InvalidConfig(format!(
            "property `{key}` must be {what}, got `{v}`"
        ))),
        _ => Ok(()),
    };
    bad(
        SQL_POOL_MAX_CONNECTIONS,
        |v| v.parse::<u32>().is_ok(),
        "a non-negative integer",
    )?;
    bad(
        SQL_POOL_IDLE_TIMEOUT,
        |v| v.parse::<u64>().is_ok(),
        "a non-negative integer (seconds)",
    )?;
    bad(
        SQL_POOL_TEST_BEFORE_ACQUIRE,
        |v| v.parse::<bool>().is_ok(),
        "true or false",
    )
}

/// The database file path of a `sqlite:` URI, or `None` for in-memory databases.
fn sqlite_path(uri: &str) -> Result<Option<PathBuf>, CatalogError> {
    let rest = uri
        .strip_prefix("sqlite://")
        .or_else(|| uri.strip_prefix("sqlite:"))
        .ok_or_else(|| CatalogError::UnsupportedUri(uri.to_owned()))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(None);
    }
    if uri.contains("mode=memory") {
        return Ok(None);
    }
    Ok(Some(PathBuf::from(path)))
}

/// Creates the SQLite database file (and its directory) if missing; sqlx will not by default.
fn ensure_sqlite_file(uri: &str) -> Result<(), CatalogError> {
    let Some(path) = sqlite_path(uri)? else {
        return Ok(());
    };
    let io_err = |source: std::io::Error| CatalogError::CreateSqliteFile {
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io_err)?;
    }
    if !Path::new(&path).exists() {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err)?;
    }
    Ok(())
}

/// The URI with the password part (`user:secret@`) replaced, for error messages.
fn redact_uri(uri: &str) -> String {
    match url::Url::parse(uri) {
        Ok(mut u) if u.password().is_some() => {
            // set_password fails only for cannot-be-a-base URLs, which have no password.
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => uri.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(
            catalog_kind("sqlite:///tmp/x.db").ok(),
            Some(CatalogKind::Sqlite)
        );
        assert_eq!(
            catalog_kind("postgresql://u:p@h/db").ok(),
            Some(CatalogKind::Postgres)
        );
        assert_eq!(
            catalog_kind("https://cat/api").ok(),
            Some(CatalogKind::Rest)
        );
        assert!(matches!(
            catalog_kind("mysql://x"),
            Err(CatalogError::UnsupportedUri(_))
        ));
    }

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_path("sqlite:///a/b/c.db").ok().flatten(),
            Some(PathBuf::from("/a/b/c.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:/a/c.db?mode=rwc").ok().flatten(),
            Some(PathBuf::from("/a/c.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:").ok().flatten(), None);
    }

    #[test]
    fn warehouse_normalization() {
        assert_eq!(normalize_warehouse("/tmp/wh/"), "file:///tmp/wh");
        assert_eq!(normalize_warehouse("s3://lake/"), "s3://lake");
        assert_eq!(normalize_warehouse("file:///"), "file:///");
    }

    #[test]
    fn redacts_password() {
        let r = redact_uri("postgres://floe:hunter2@db:5432/cat");
        assert!(!r.contains("hunter2"), "{r}");
        assert!(r.contains("floe"), "{r}");
    }

    #[test]
    fn bad_pool_prop_is_an_error() {
        let props = HashMap::from([("pool.max-connections".to_owned(), "ten".to_owned())]);
        assert!(matches!(
            validate_sql_pool_props(&props),
            Err(CatalogError::InvalidConfig(_))
        ));
    }

    #[tokio::test]
    async fn sqlite_file_is_created_and_reusable() {
        let dir = tempfile::TempDir::new().expect("tempdir");
        let db = dir.path().join("sub/catalog.db");
        let cfg = CatalogConfig::new(
            format!("sqlite://{}", db.display()),
            format!("file://{}/wh", dir.path().display()),
        );
        let cat = connect_catalog(&cfg).await.expect("connect");
        assert!(db.exists());
        assert!(cat.list_namespaces(None).await.expect("list").is_empty());
        // A second connection to the same file works too.
        connect_catalog(&cfg).await.expect("reconnect");
    }
}
