//! Turning a user's location string (`./dir`, `file:///abs`, `s3://bucket/prefix`) into an
//! object store and a prefix inside it.

use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::ObjectStore;

use crate::StorageError;

/// An object store plus the prefix under which Floe writes.
#[derive(Clone, Debug)]
pub struct Location {
    pub store: Arc<dyn ObjectStore>,
    pub prefix: Path,
    /// The location as the user wrote it, for messages.
    pub display: String,
    /// The directory, when the store is a local disk (its writes are fsynced).
    pub local_root: Option<std::path::PathBuf>,
}

/// Opens a location. Local directories are created; S3 reads credentials from `AWS_*` and a
/// custom endpoint (MinIO, SeaweedFS, Ozone) from `AWS_ENDPOINT_URL`.
pub fn open_location(location: &str) -> Result<Location, StorageError> {
    if let Some(rest) = location
        .strip_prefix("s3://")
        .or_else(|| location.strip_prefix("s3a://"))
    {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(StorageError::Config(format!(
                "`{location}` names no bucket"
            )));
        }
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
            builder = builder
                .with_allow_http(endpoint.starts_with("http://"))
                .with_endpoint(endpoint)
                .with_virtual_hosted_style_request(false);
        }
        if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
            builder = builder.with_region("us-east-1");
        }
        let store = builder
            .build()
            .map_err(|e| StorageError::Config(format!("`{location}`: {e}")))?;
        return Ok(Location {
            store: Arc::new(store),
            prefix: Path::from(prefix.trim_matches('/')),
            display: location.to_owned(),
            local_root: None,
        });
    }
    let dir = match location.strip_prefix("file://") {
        Some(path) => std::path::PathBuf::from(path),
        None => std::path::PathBuf::from(location),
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| StorageError::Config(format!("cannot create `{}`: {e}", dir.display())))?;
    let store = LocalFileSystem::new_with_prefix(&dir)
        .map_err(|e| StorageError::Config(format!("`{location}`: {e}")))?;
    let root = std::fs::canonicalize(&dir)
        .map_err(|e| StorageError::Config(format!("`{}`: {e}", dir.display())))?;
    Ok(Location {
        store: Arc::new(store),
        prefix: Path::default(),
        display: location.to_owned(),
        local_root: Some(root),
    })
}

/// A `file://` URL for a local path (absolute), or the location unchanged for S3.
pub fn to_url(location: &str) -> Result<String, StorageError> {
    if location.contains("://") {
        return Ok(location.to_owned());
    }
    let abs = std::path::absolute(location)
        .map_err(|e| StorageError::Config(format!("`{location}`: {e}")))?;
    Ok(format!("file://{}", abs.display()))
}
