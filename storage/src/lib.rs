//! Object storage for Floe: where checkpoints (operator state and manifests) live.

mod checkpoint_store;
mod file_splits;
mod io_policy;
mod local_sync;
mod location;
#[cfg(test)]
mod test_store;

pub use checkpoint_store::CheckpointListing;
pub use checkpoint_store::{CheckpointStore, StorageError};
pub use file_splits::FileSplits;
pub use io_policy::IoPolicy;
pub use location::{open_location, to_url, Location};
