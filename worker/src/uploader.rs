//! `CheckpointUploader`: writes a checkpoint's rows of the worker-written tables as data files and
//! the worker's encoded state to the checkpoint store, then acknowledges the checkpoint to the
//! coordinator. It works beside the window actor, which goes on with the next records.

use floe_common::window::RecordOutput;
use floe_proto::CheckpointAck;
use floe_storage::CheckpointStore;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::worker_tables::WorkerTables;

/// One checkpoint's output to make durable, and the ack to send once it is.
pub struct UploadMsg {
    pub bytes: Vec<u8>,
    pub rows: RecordOutput,
    pub ack: CheckpointAck,
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
        let mut ack = msg.ack;
        let id = ack.checkpoint_id;
        let at = floe_common::checkpoint::CheckpointRef {
            id,
            epoch: ack.epoch,
        };
        let started = std::time::Instant::now();
        let size = msg.bytes.len();
        let result = match state.tables.write(&msg.rows).await {
            Ok(files) => {
                ack.files = files;
                ack.state_bytes = size as u64;
                state
                    .store
                    .put_worker_state(at, &ack.worker_id, msg.bytes)
                    .await
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(format!("data files of checkpoint {id}: {e}")),
        };
        floe_common::failpoint::hit("after-state-upload", id, 0);
        tracing::debug!(
            checkpoint = id,
            bytes = size,
            ms = started.elapsed().as_millis() as u64,
            "checkpoint output uploaded"
        );
        let _ = msg.reply.send(result.map(|()| ack));
        Ok(())
    }
}
