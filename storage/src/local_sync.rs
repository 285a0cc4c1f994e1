//! Durability of checkpoint objects on a local disk: a created file is flushed, and so is every
//! directory from its own up to the store's root, before the write counts as done. Without it a
//! power cut after the manifest could leave a manifest whose state file is empty or missing.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// Fsyncs `root/relative` and each directory between it and `root` (both included); returns
/// what was synced, file first.
pub fn sync_created(root: &Path, relative: &str) -> io::Result<Vec<PathBuf>> {
    let file = root.join(relative);
    File::open(&file)?.sync_all()?;
    let mut synced = vec![file.clone()];
    let mut dir = file.parent();
    while let Some(d) = dir {
        File::open(d)?.sync_all()?;
        synced.push(d.to_path_buf());
        if d == root {
            break;
        }
        dir = d.parent();
    }
    Ok(synced)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syncs_the_file_and_every_directory_up_to_the_root() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("job/0001")).unwrap();
        std::fs::write(root.path().join("job/0001/state"), b"x").unwrap();
        let synced = sync_created(root.path(), "job/0001/state").unwrap();
        assert_eq!(
            synced,
            [
                root.path().join("job/0001/state"),
                root.path().join("job/0001"),
                root.path().join("job"),
                root.path().to_path_buf(),
            ]
        );
        assert!(sync_created(root.path(), "job/missing").is_err());
    }
}
