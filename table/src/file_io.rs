//! The FileIO Floe writes data files with, and which of its properties are secrets.

use std::collections::HashMap;
use std::sync::Arc;

use iceberg::io::{
    FileIO, FileIOBuilder, S3_ACCESS_KEY_ID, S3_ENDPOINT, S3_PATH_STYLE_ACCESS, S3_REGION,
    S3_SECRET_ACCESS_KEY, S3_SESSION_TOKEN,
};
use iceberg_storage_opendal::OpenDalResolvingStorageFactory;

/// Region filled in for S3 warehouses when neither the properties nor `AWS_REGION` give one.
pub const DEFAULT_S3_REGION: &str = "us-east-1";

/// A FileIO for local paths and S3 (chosen by each path's scheme) with `props`.
pub fn file_io(props: impl IntoIterator<Item = (String, String)>) -> FileIO {
    FileIOBuilder::new(Arc::new(OpenDalResolvingStorageFactory::new()))
        .with_props(props)
        .build()
}

/// Fills missing S3 FileIO properties from the `AWS_*` environment (read through `env`, so it
/// can be tested without touching the process environment).
pub fn fill_s3_defaults(props: &mut HashMap<String, String>, env: impl Fn(&str) -> Option<String>) {
    let env = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    if !props.contains_key(S3_ACCESS_KEY_ID) {
        if let Some(v) = env("AWS_ACCESS_KEY_ID") {
            props.insert(S3_ACCESS_KEY_ID.to_owned(), v);
            // A session token only makes sense with the key it belongs to.
            if !props.contains_key(S3_SESSION_TOKEN) {
                if let Some(t) = env("AWS_SESSION_TOKEN") {
                    props.insert(S3_SESSION_TOKEN.to_owned(), t);
                }
            }
        }
    }
    if !props.contains_key(S3_SECRET_ACCESS_KEY) {
        if let Some(v) = env("AWS_SECRET_ACCESS_KEY") {
            props.insert(S3_SECRET_ACCESS_KEY.to_owned(), v);
        }
    }
    if !props.contains_key(S3_REGION) && !props.contains_key("client.region") {
        let region = env("AWS_REGION")
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| DEFAULT_S3_REGION.to_owned());
        props.insert(S3_REGION.to_owned(), region);
    }
    if !props.contains_key(S3_ENDPOINT) {
        if let Some(v) = env("AWS_ENDPOINT_URL") {
            props.insert(S3_ENDPOINT.to_owned(), v);
        }
    }
    // Custom endpoints (SeaweedFS, MinIO, ...) want path-style addressing; iceberg's opendal
    // storage defaults to virtual-host style, which resolves `bucket.host` and fails there.
    if props.contains_key(S3_ENDPOINT) && !props.contains_key(S3_PATH_STYLE_ACCESS) {
        props.insert(S3_PATH_STYLE_ACCESS.to_owned(), "true".to_owned());
    }
}

/// Whether `location` is on S3 (`s3://`, `s3a://`, `s3n://`).
pub fn is_s3_location(location: &str) -> bool {
    let lower = location.to_ascii_lowercase();
    lower.starts_with("s3://") || lower.starts_with("s3a://") || lower.starts_with("s3n://")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_defaults_from_env_do_not_override() {
        let env: HashMap<&str, &str> = HashMap::from([
            ("AWS_ACCESS_KEY_ID", "envkey"),
            ("AWS_SECRET_ACCESS_KEY", "envsecret"),
            ("AWS_ENDPOINT_URL", "http://localhost:8333"),
        ]);
        let mut props = HashMap::from([(S3_ACCESS_KEY_ID.to_owned(), "given".to_owned())]);
        fill_s3_defaults(&mut props, |k| env.get(k).map(|v| v.to_string()));
        assert_eq!(props[S3_ACCESS_KEY_ID], "given");
        assert_eq!(props[S3_SECRET_ACCESS_KEY], "envsecret");
        assert_eq!(props[S3_REGION], DEFAULT_S3_REGION);
        assert_eq!(props[S3_ENDPOINT], "http://localhost:8333");
        assert_eq!(props[S3_PATH_STYLE_ACCESS], "true");
    }
}
