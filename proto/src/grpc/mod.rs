//! The gRPC adapters of [`crate::WorkerService`]: [`GrpcWorker`] is the coordinator's client of a
//! remote worker, [`WorkerGrpcService`] serves a worker of this process to coordinators.

mod client;
mod convert;
mod server;
mod tls;

pub use client::GrpcWorker;
pub use server::WorkerGrpcService;
pub use tls::{GrpcTls, TlsError};

/// The code tonic generated from `proto/floe.proto`.
#[allow(clippy::all, missing_docs)]
pub mod pb {
    tonic::include_proto!("floe.v1");
}
