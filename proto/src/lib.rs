//! The seam between the coordinator and workers: the messages they exchange, the
//! [`WorkerService`] the coordinator drives a worker through, and its gRPC adapters (the same
//! service in the same process or over the network).

pub mod grpc;
mod messages;
pub mod row_ipc;
mod service;

pub use messages::{AddPartitions, Assignment, Barrier, CheckpointAck, RestorePoint, WorkerStatus};
pub use service::{WorkerService, WorkerServiceError};
