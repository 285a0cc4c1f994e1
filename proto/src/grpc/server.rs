//! `WorkerGrpcService`: serves a worker of this process to coordinators.

use std::sync::{Arc, Mutex};

use floe_common::aggregate::Acc;
use tonic::{Request, Response, Status};

use super::convert;
use super::pb;
use super::pb::worker_server::{Worker, WorkerServer};
use crate::service::{WorkerService, WorkerServiceError};

/// The gRPC face of a [`WorkerService`].
pub struct WorkerGrpcService {
    worker: Arc<dyn WorkerService>,
    /// The accumulators of the assigned job: how closed windows are written.
    template: Mutex<Vec<Acc>>,
}

impl WorkerGrpcService {
    pub fn new(worker: Arc<dyn WorkerService>) -> Self {
        Self {
            worker,
            template: Mutex::new(Vec::new()),
        }
    }

    /// The tonic service to add to a server.
    pub fn into_server(self) -> WorkerServer<Self> {
        WorkerServer::new(self)
            .max_decoding_message_size(1 << 30)
            .max_encoding_message_size(1 << 30)
    }
}

fn status(e: WorkerServiceError) -> Status {
    match e {
        WorkerServiceError::Unavailable { .. } | WorkerServiceError::NoAnswer { .. } => {
            Status::unavailable(e.to_string())
        }
        WorkerServiceError::Failed { .. } => Status::internal(e.to_string()),
        WorkerServiceError::StaleEpoch { .. } => Status::failed_precondition(e.to_string()),
    }
}

fn bad_request(e: convert::ConvertError) -> Status {
    Status::invalid_argument(e.to_string())
}

#[tonic::async_trait]
impl Worker for WorkerGrpcService {
    async fn assign(
        &self,
        request: Request<pb::AssignRequest>,
    ) -> Result<Response<pb::Empty>, Status> {
        let assignment = convert::assignment_from_pb(request.into_inner()).map_err(bad_request)?;
        let template = convert::acc_template(&assignment.job);
        self.worker.assign(assignment).await.map_err(status)?;
        if let Ok(mut t) = self.template.lock() {
            *t = template;
        }
        Ok(Response::new(pb::Empty {}))
    }

    async fn checkpoint(
        &self,
        request: Request<pb::BarrierRequest>,
    ) -> Result<Response<pb::CheckpointReply>, Status> {
        let barrier = convert::barrier_from_pb(request.into_inner());
        let ack = self.worker.checkpoint(barrier).await.map_err(status)?;
        let template = self.template.lock().map(|t| t.clone()).unwrap_or_default();
        let reply = convert::ack_to_pb(&ack, &template)
            .map_err(|e| Status::internal(format!("encoding the ack: {e}")))?;
        Ok(Response::new(reply))
    }

    async fn status(
        &self,
        request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusReply>, Status> {
        let s = self
            .worker
            .status(request.into_inner().epoch)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::status_to_pb(&s)))
    }

    async fn release(
        &self,
        request: Request<pb::ReleaseRequest>,
    ) -> Result<Response<pb::Empty>, Status> {
        self.worker
            .release(request.into_inner().epoch)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn remove_partitions(
        &self,
        request: Request<pb::RemovePartitionsRequest>,
    ) -> Result<Response<pb::Empty>, Status> {
        let request = request.into_inner();
        self.worker
            .remove_partitions(request.epoch, request.partitions)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn add_partitions(
        &self,
        request: Request<pb::AddPartitionsRequest>,
    ) -> Result<Response<pb::Empty>, Status> {
        let add = convert::add_partitions_from_pb(request.into_inner()).map_err(bad_request)?;
        self.worker.add_partitions(add).await.map_err(status)?;
        Ok(Response::new(pb::Empty {}))
    }
}
