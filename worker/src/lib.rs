//! The Floe worker: reads its assigned Kafka partitions, aggregates them into event-time
//! windows, and takes checkpoints when the coordinator asks.
//!
//! Actors: one [`reader::PartitionReader`] per partition range reads and decodes in batches
//! through its source kind's `floe_source::reader::SourceReader` (Kafka, files, the
//! generator); the [`window_actor::WindowActor`] owns the window state and the source positions (so the two
//! are always checkpointed together) and takes each barrier ([`barrier`]); the
//! [`uploader::CheckpointUploader`] makes a checkpoint's output durable without stalling
//! aggregation.

pub mod barrier;
mod local_worker;
pub mod metrics;
pub mod reader;
pub mod start_plan;
pub mod uploader;
pub mod window_actor;
mod worker;

pub use local_worker::{in_process_workers, LocalWorker, WorkerStores};
pub use worker::{Worker, WorkerError, WorkerOptions};
pub mod worker_tables;
