//! Manifests this process has read, by path. A manifest file never changes once written (its
//! name is unique), so a commit, a plan or a maintenance run that lists the current snapshot
//! reads only the manifests added since the last one did: the work under a table's commit turn
//! stays small however many manifests the table has.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use iceberg::io::FileIO;
use iceberg::spec::{Manifest, ManifestFile};

/// Manifest file bytes the cache holds at most (the parsed manifests take a few times that).
const CACHED_MANIFEST_BYTES: u64 = 64 << 20;

#[derive(Default)]
struct Cached {
    manifests: HashMap<String, Arc<Manifest>>,
    /// Paths, oldest first, with their file sizes.
    order: VecDeque<(String, u64)>,
    bytes: u64,
}

fn cache() -> &'static Mutex<Cached> {
    static CACHE: OnceLock<Mutex<Cached>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// The manifest `listed` names, read through `io` unless it was read before.
pub(crate) async fn load_manifest(
    listed: &ManifestFile,
    io: &FileIO,
) -> iceberg::Result<Arc<Manifest>> {
    let path = &listed.manifest_path;
    if let Some(found) = cache()
        .lock()
        .ok()
        .and_then(|c| c.manifests.get(path).cloned())
    {
        return Ok(found);
    }
    let manifest = Arc::new(listed.load_manifest(io).await?);
    let size = u64::try_from(listed.manifest_length).unwrap_or(0);
    if let Ok(mut c) = cache().lock() {
        if c.manifests.insert(path.clone(), manifest.clone()).is_none() {
            c.order.push_back((path.clone(), size));
            c.bytes += size;
        }
        while c.bytes > CACHED_MANIFEST_BYTES {
            let Some((oldest, size)) = c.order.pop_front() else {
                break;
            };
            c.manifests.remove(&oldest);
            c.bytes -= size;
        }
    }
    Ok(manifest)
}
