//! `CheckpointUploader`: writes a worker's encoded state to the checkpoint store, then
//! acknowledges the checkpoint to the coordinator.

use floe_proto::CheckpointAck;
use floe_storage::CheckpointStore;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

/// One state object to upload and the ack to send once it is durable.
pub struct UploadMsg {
    pub bytes: Vec<u8>,
    pub ack: CheckpointAck,
    pub reply: RpcReplyPort<Result<CheckpointAck, String>>,
}

/// Uploads checkpoint state in order.
pub struct CheckpointUploader;

impl Actor for CheckpointUploader {
    type Msg = UploadMsg;
    type State = CheckpointStore;
    type Arguments = CheckpointStore;

    async fn pre_start(
        &self,
        _myself: ActorRef<UploadMsg>,
        store: CheckpointStore,
    ) -> Result<CheckpointStore, ActorProcessingErr> {
        Ok(store)
    }

    async fn handle(
        &self,
        _myself: ActorRef<UploadMsg>,
        msg: UploadMsg,
        store: &mut CheckpointStore,
    ) -> Result<(), ActorProcessingErr> {
        let id = msg.ack.checkpoint_id;
        let at = floe_common::checkpoint::CheckpointRef {
            id,
            epoch: msg.ack.epoch,
        };
        let started = std::time::Instant::now();
        let size = msg.bytes.len();
        let result = store
            .put_worker_state(at, &msg.ack.worker_id, msg.bytes)
            .await
            .map_err(|e| e.to_string());
        floe_common::failpoint::hit("after-state-upload", id, 0);
        tracing::debug!(
            checkpoint = id,
            bytes = size,
            ms = started.elapsed().as_millis() as u64,
            "state uploaded"
        );
        let _ = msg.reply.send(result.map(|()| msg.ack));
        Ok(())
    }
}
