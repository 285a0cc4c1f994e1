//! The window actor holds the readers back while the output waiting for a checkpoint is over
//! its budget, and lets them go when a checkpoint has taken it.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use floe_common::decode::{DecodedBatch, Decoder};
use floe_common::window::WindowOperator;
use floe_proto::Barrier;
use floe_source::batch_pool::BatchPool;
use floe_storage::{open_location, CheckpointStore};
use floe_worker::uploader::{CheckpointUploader, UploaderArgs};
use floe_worker::window_actor::{WindowActor, WindowArgs, WindowMsg};
use floe_worker::worker_tables::WorkerTables;
use ractor::Actor;
use tokio::sync::Semaphore;

#[tokio::test]
async fn output_over_budget_keeps_the_readers_credits_until_a_checkpoint() {
    let job = floe_common::config::example_job();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = CheckpointStore::new(
        open_location(dir.path().to_str().expect("utf-8")).expect("store"),
        &job.name,
    );
    let tables = format!("file://{}/tables", dir.path().display());
    let tables = WorkerTables::for_job_at(&job, &tables).expect("tables");
    let (uploader, _) = Actor::spawn(None, CheckpointUploader, UploaderArgs { store, tables })
        .await
        .expect("uploader");
    let mut operator = WindowOperator::new(job.window, &job.aggregates);
    operator.assign(0, 0);
    let (window, _) = Actor::spawn(
        None,
        WindowActor,
        WindowArgs {
            worker_id: "0".into(),
            operator,
            partitions: vec![0],
            uploader,
            pool: BatchPool::new(4),
            skipped: Arc::new(AtomicU64::new(0)),
            max_pending_bytes: 1_000,
            bytes_read: Arc::new(AtomicU64::new(0)),
        },
    )
    .await
    .expect("window actor");
    let credits = Arc::new(Semaphore::new(4));
    let decoder = Decoder::new(&job).expect("decoder");
    // Dead letters of ~300 bytes each: the fourth batch is over the budget.
    for offset in 0..4 {
        let mut batch = DecodedBatch::default();
        let junk = "x".repeat(200);
        decoder.decode_into(0, offset, Some(junk.as_bytes()), &mut batch);
        let permit = credits.clone().acquire_owned().await.expect("permit");
        window
            .send_message(WindowMsg::Batch(Box::new(batch), Some(permit)))
            .expect("send");
    }
    let status = window
        .call(WindowMsg::Status, Some(Duration::from_secs(5)))
        .await
        .expect("status");
    let ractor::rpc::CallResult::Success(status) = status else {
        panic!("no status: {status:?}");
    };
    assert!(status.backpressured);
    assert!(credits.available_permits() < 4, "credits are held back");

    let ack = window
        .call(
            |reply| {
                WindowMsg::Barrier(
                    Barrier {
                        checkpoint_id: 1,
                        epoch: 1,
                        watermark_ms: i64::MIN,
                    },
                    reply,
                )
            },
            Some(Duration::from_secs(5)),
        )
        .await
        .expect("barrier");
    let ractor::rpc::CallResult::Success(Ok(ack)) = ack else {
        panic!("no ack: {ack:?}");
    };
    // The dead letters went to Parquet data files of the dead-letter table, written here.
    assert_eq!(ack.files.len(), 1);
    assert_eq!(ack.files[0].table, job.dead_letter_table.name);
    assert_eq!(ack.files[0].rows, 4);
    for json in &ack.files[0].data_files {
        let file: serde_json::Value = serde_json::from_str(json).expect("data file json");
        let path = file["file_path"].as_str().expect("file_path");
        let path = path.strip_prefix("file://").unwrap_or(path);
        assert!(std::path::Path::new(path).is_file(), "{path} exists");
    }
    assert_eq!(
        credits.available_permits(),
        4,
        "the checkpoint gives the credits back"
    );
}
