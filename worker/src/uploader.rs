//! `CheckpointUploader`: writes a checkpoint's rows of the worker-written tables as data files and
//! the worker's encoded state to the checkpoint store, then acknowledges the checkpoint to the
//! coordinator. It works beside the window actor, which goes on with the next records.

use floe_proto::CheckpointAck;
use floe_storage::CheckpointStore;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::barrier::{upload, BarrierOutput};
use crate::worker_tables::WorkerTables;

/// One checkpoint's output to make durable, and where the ack goes once it is.
pub struct UploadMsg {
    pub output: BarrierOutput,
    pub reply: RpcReplyPort<Result<CheckpointAck, String>>,
}

/// Where the uploader writes.
pub struct UploaderArgs {
    pub store: CheckpointStore,
    pub tables: WorkerTables,
}

/// Uploads checkpoints in order.
pub struct CheckpointUploader;

impl Actor for CheckpointUploader {
    type Msg = UploadMsg;
    type State = UploaderArgs;
    type Arguments = UploaderArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<UploadMsg>,
        args: UploaderArgs,
    ) -> Result<UploaderArgs, ActorProcessingErr> {
        Ok(args)
    }

    async fn handle(
        &self,
        _myself: ActorRef<UploadMsg>,
        msg: UploadMsg,
        state: &mut UploaderArgs,
    ) -> Result<(), ActorProcessingErr> {
        let id = msg.output.ack.checkpoint_id;
        let bytes = msg.output.state.len();
        let started = std::time::Instant::now();
        let result = upload(msg.output, &state.tables, &state.store).await;
        floe_common::failpoint::hit("after-state-upload", id, 0);
        tracing::debug!(
            checkpoint = id,
            bytes,
            ms = started.elapsed().as_millis() as u64,
            "checkpoint output uploaded"
        );
        let _ = msg.reply.send(result);
        Ok(())
    }
}
