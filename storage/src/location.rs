//! Turning a user's location string (`./dir`, `file:///abs`, `s3://bucket/prefix`) into an
//! object store and a prefix inside it.

use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreScheme};
use url::Url;

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
    let bad = |e: &dyn std::fmt::Display| StorageError::Config(format!("`{location}`: {e}"));
    if !location.contains("://") {
        return open_local(location, std::path::PathBuf::from(location));
    }
    let url = Url::parse(location).map_err(|e| bad(&e))?;
    if url.scheme().starts_with("s3") && url.host_str().is_none_or(str::is_empty) {
        return Err(StorageError::Config(format!(
            "`{location}` names no bucket"
        )));
    }
    let (scheme, prefix) = ObjectStoreScheme::parse(&url).map_err(|e| bad(&e))?;
    match scheme {
        ObjectStoreScheme::Local => {
            let dir = url
                .to_file_path()
                .map_err(|()| bad(&"not an absolute local path"))?;
            open_local(location, dir)
        }
        ObjectStoreScheme::AmazonS3 => {
            let mut builder = AmazonS3Builder::from_env().with_url(location);
            if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
                builder = builder
                    .with_allow_http(endpoint.starts_with("http://"))
                    .with_endpoint(endpoint)
                    .with_virtual_hosted_style_request(false);
            }
            if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err()
            {
                builder = builder.with_region("us-east-1");
            }
            let store = builder.build().map_err(|e| bad(&e))?;
            Ok(Location {
                store: Arc::new(store),
                prefix,
                display: location.to_owned(),
                local_root: None,
            })
        }
        _ => Err(bad(
            &"Floe stores on local disk (a path or file://) or S3 (s3://)",
        )),
    }
}

fn open_local(location: &str, dir: std::path::PathBuf) -> Result<Location, StorageError> {
    std::fs::create_dir_all(&dir)
        .map_err(|e| StorageError::Config(format!("cannot create `{}`: {e}", dir.display())))?;
    // Deleting a checkpoint's last file removes its emptied directories too: every listing
    // walks the tree, and empty directories would make each one slower than the last.
    let store = LocalFileSystem::new_with_prefix(&dir)
        .map_err(|e| StorageError::Config(format!("`{location}`: {e}")))?
        .with_automatic_cleanup(true);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_and_file_urls_open_the_same_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a");
        let plain = open_location(path.to_str().expect("utf-8")).expect("path");
        let url = open_location(&format!("file://{}", path.display())).expect("file url");
        assert_eq!(plain.local_root, url.local_root);
        assert!(plain.local_root.is_some());
    }

    #[test]
    fn s3_locations_keep_their_prefix() {
        let location = open_location("s3://bucket/some/prefix/").expect("s3");
        assert_eq!(location.prefix.as_ref(), "some/prefix");
        assert!(location.local_root.is_none());
        let location = open_location("s3a://bucket").expect("s3a");
        assert_eq!(location.prefix.as_ref(), "");
    }

    #[test]
    fn bad_locations_are_refused_by_name() {
        let e = open_location("s3:///prefix").expect_err("no bucket");
        assert!(e.to_string().contains("names no bucket"), "{e}");
        let e = open_location("gs://bucket/x").expect_err("unsupported");
        assert!(e.to_string().contains("`gs://bucket/x`"), "{e}");
    }
}
