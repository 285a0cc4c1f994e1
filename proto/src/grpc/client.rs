//! `GrpcWorker`: a remote worker as the coordinator sees it.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use floe_common::aggregate::Acc;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

use super::convert;
use super::pb;
use super::pb::worker_client::WorkerClient;
use super::tls::GrpcTls;
use crate::messages::{AddPartitions, Assignment, Barrier, CheckpointAck, WorkerStatus};
use crate::service::{WorkerService, WorkerServiceError};

/// Restoring state and asking Kafka for offsets can take a while.
const ASSIGN_TIMEOUT: Duration = Duration::from_secs(120);
/// Longer than a worker's retries of its state upload.
const CHECKPOINT_TIMEOUT: Duration = Duration::from_secs(900);
const STATUS_TIMEOUT: Duration = Duration::from_secs(10);
const RELEASE_TIMEOUT: Duration = Duration::from_secs(30);
/// HTTP/2 pings on every worker channel, busy or idle: a worker whose process stops answering
/// (stopped, hung, its node gone) fails its calls within a ping and a timeout, even while the
/// kernel still holds its socket open.
const KEEPALIVE_PING: Duration = Duration::from_secs(5);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(5);

/// A worker in another process, reached over gRPC at its advertised address.
pub struct GrpcWorker {
    name: String,
    address: String,
    client: WorkerClient<Channel>,
    /// The accumulators of the assigned job: how its acks' closed windows are read.
    template: Mutex<Vec<Acc>>,
}

impl GrpcWorker {
    /// A client of the worker `name` at `address` (`host:port`), over TLS when `tls` has a CA
    /// to check the worker with; connects on first use.
    pub fn new(
        name: &str,
        address: &str,
        tls: Option<&GrpcTls>,
    ) -> Result<Self, WorkerServiceError> {
        let unusable = |e: &dyn std::fmt::Display| WorkerServiceError::Unavailable {
            worker: name.to_owned(),
            message: format!("address {address}: {e}"),
        };
        let host = address
            .rsplit_once(':')
            .map_or(address, |(host, _)| host)
            .trim_start_matches('[')
            .trim_end_matches(']');
        let tls = tls.and_then(|t| t.client(host));
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut endpoint = Endpoint::from_shared(format!("{scheme}://{address}"))
            .map_err(|e| unusable(&e))?
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(KEEPALIVE_PING)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true);
        if let Some(tls) = tls {
            endpoint = endpoint.tls_config(tls).map_err(|e| unusable(&e))?;
        }
        Ok(Self {
            name: name.to_owned(),
            address: address.to_owned(),
            client: WorkerClient::new(endpoint.connect_lazy())
                .max_decoding_message_size(1 << 30)
                .max_encoding_message_size(1 << 30),
            template: Mutex::new(Vec::new()),
        })
    }

    fn error(&self, status: Status) -> WorkerServiceError {
        let message = status.message().to_owned();
        match status.code() {
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown => {
                WorkerServiceError::Unavailable {
                    worker: self.name.clone(),
                    message: format!("{} ({})", message, self.address),
                }
            }
            _ => WorkerServiceError::Failed {
                worker: self.name.clone(),
                message,
            },
        }
    }

    fn convert_error(&self, e: convert::ConvertError) -> WorkerServiceError {
        WorkerServiceError::Failed {
            worker: self.name.clone(),
            message: format!("bad message: {e}"),
        }
    }
}

fn with_timeout<T>(message: T, timeout: Duration) -> Request<T> {
    let mut request = Request::new(message);
    request.set_timeout(timeout);
    request
}

#[async_trait]
impl WorkerService for GrpcWorker {
    fn name(&self) -> &str {
        &self.name
    }

    async fn assign(&self, assignment: Assignment) -> Result<(), WorkerServiceError> {
        let message = convert::assignment_to_pb(&assignment).map_err(|e| self.convert_error(e))?;
        if let Ok(mut t) = self.template.lock() {
            *t = convert::acc_template(&assignment.job);
        }
        self.client
            .clone()
            .assign(with_timeout(message, ASSIGN_TIMEOUT))
            .await
            .map_err(|s| self.error(s))?;
        Ok(())
    }

    async fn checkpoint(&self, barrier: Barrier) -> Result<CheckpointAck, WorkerServiceError> {
        let reply = self
            .client
            .clone()
            .checkpoint(with_timeout(
                convert::barrier_to_pb(barrier),
                CHECKPOINT_TIMEOUT,
            ))
            .await
            .map_err(|s| self.error(s))?
            .into_inner();
        let template = self.template.lock().map(|t| t.clone()).unwrap_or_default();
        convert::ack_from_pb(reply, &template).map_err(|e| self.convert_error(e))
    }

    async fn status(&self, epoch: u64) -> Result<WorkerStatus, WorkerServiceError> {
        let reply = self
            .client
            .clone()
            .status(with_timeout(pb::StatusRequest { epoch }, STATUS_TIMEOUT))
            .await
            .map_err(|s| self.error(s))?
            .into_inner();
        convert::status_from_pb(reply).map_err(|e| self.convert_error(e))
    }

    async fn release(&self, epoch: u64) -> Result<(), WorkerServiceError> {
        self.client
            .clone()
            .release(with_timeout(pb::ReleaseRequest { epoch }, RELEASE_TIMEOUT))
            .await
            .map_err(|s| self.error(s))?;
        Ok(())
    }

    async fn remove_partitions(
        &self,
        epoch: u64,
        partitions: Vec<i32>,
    ) -> Result<(), WorkerServiceError> {
        let request = pb::RemovePartitionsRequest { epoch, partitions };
        self.client
            .clone()
            .remove_partitions(with_timeout(request, RELEASE_TIMEOUT))
            .await
            .map_err(|s| self.error(s))?;
        Ok(())
    }

    async fn add_partitions(&self, add: AddPartitions) -> Result<(), WorkerServiceError> {
        let request = convert::add_partitions_to_pb(&add);
        self.client
            .clone()
            .add_partitions(with_timeout(request, ASSIGN_TIMEOUT))
            .await
            .map_err(|s| self.error(s))?;
        Ok(())
    }
}
