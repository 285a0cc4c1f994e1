//! The Floe worker: reads its assigned Kafka partitions, aggregates them into event-time
//! windows, and takes checkpoints when the coordinator asks.
//!
//! Actors: one [`reader::PartitionReader`] per partition range polls and decodes in batches;
//! the [`window_actor::WindowActor`] owns the window state and the source positions (so the two
//! are always checkpointed together); the [`uploader::CheckpointUploader`] writes state to the
//! checkpoint store without stalling aggregation.

pub mod batch_pool;
pub mod file_reader;
pub mod generator_reader;
mod local_worker;
pub mod metrics;
pub mod reader;
pub mod uploader;
pub mod window_actor;
mod worker;

pub use local_worker::{in_process_workers, LocalWorker, WorkerStores};
pub use worker::{Worker, WorkerError, WorkerOptions};
pub mod worker_tables;
