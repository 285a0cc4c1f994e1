//! A worker that stops answering while its socket stays open (a stopped process, a hung node):
//! the coordinator's calls to it fail at the channel's keepalive, long before their own
//! timeouts (a barrier's is 15 minutes).

use std::time::{Duration, Instant};

use floe_proto::grpc::GrpcWorker;
use floe_proto::{Barrier, WorkerService, WorkerServiceError};

#[tokio::test]
async fn a_call_to_a_silent_worker_fails_at_the_keepalive() {
    // Accepts connections and holds them, never reading or answering.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let worker = GrpcWorker::new("silent", &address, None).expect("client");
    let started = Instant::now();
    let barrier = Barrier {
        checkpoint_id: 1,
        epoch: 1,
        watermark_ms: 0,
    };
    let answer = tokio::time::timeout(Duration::from_secs(60), worker.checkpoint(barrier))
        .await
        .expect("the call ends within a minute");
    assert!(
        matches!(answer, Err(WorkerServiceError::Unavailable { .. })),
        "{answer:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "failed after {:?}",
        started.elapsed()
    );
}
