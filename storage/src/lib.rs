//! Object storage for Floe: where checkpoints (operator state and manifests) live.

mod checkpoint_store;
mod local_sync;
mod location;

pub use checkpoint_store::CheckpointListing;
pub use checkpoint_store::{CheckpointStore, StorageError};
pub use location::{open_location, to_url, Location};
