//! A worker's assignments.
//! - It answers barriers and status calls only for the epoch it was assigned at. A worker that a deposed leader
//!   assigned (after a restart wiped what it had obeyed) must not ack a newer leader's barrier
//!   from that other lineage: its state and positions are not the ones the newer leader
//!   restored, and merging them would double rows.
//! - A partition handed over from one running worker to another (removed, checkpointed, added)
//!   is read exactly once, and the partitions that stay read on.
//! - A restore that is cancelled stops downloading its state half-way.
//! - Against a slow checkpoint store, a newer assignment or a caller that gives up cancels a
//!   start still restoring state: two starts never run side by side, and the newest assignment
//!   is the one that runs.

use std::sync::Arc;
use std::time::Duration;

use floe_common::checkpoint::CheckpointRef;
use floe_common::config::{example_generator_job, JobSpec};
use floe_common::generator_source::GeneratorConfig;
use floe_proto::{Assignment, Barrier, RestorePoint, WorkerService, WorkerServiceError};
use floe_storage::{CheckpointStore, Location};
use floe_table::TableLayout;
use floe_worker::start_plan::{read_state, ReadStateError};
use floe_worker::{LocalWorker, WorkerError, WorkerStores};
use object_store::memory::InMemory;
use object_store::throttle::{ThrottleConfig, ThrottledStore};
use object_store::ObjectStore;
use tokio_util::sync::CancellationToken;

fn generator_job() -> JobSpec {
    example_generator_job(GeneratorConfig {
        partitions: 2,
        events: 100,
        ..GeneratorConfig::default()
    })
}

/// The job's worker-written tables (late events, dead letters) as files under `dir`.
fn worker_tables(
    job: &floe_common::config::JobSpec,
    dir: &std::path::Path,
) -> Vec<floe_common::table_target::TableTarget> {
    job.sinks()
        .iter()
        .filter(|s| s.role.written_by_workers())
        .map(|s| {
            let at = format!("file://{}/{}", dir.display(), s.schema.name);
            TableLayout::for_schema(s.schema, &at)
                .expect("table layout")
                .target()
                .expect("table target")
        })
        .collect()
}

fn barrier(checkpoint_id: u64, epoch: u64) -> Barrier {
    Barrier {
        checkpoint_id,
        epoch,
        watermark_ms: i64::MIN,
    }
}

/// How long every read of the store takes.
const SLOW_READ: Duration = Duration::from_millis(1_500);

/// The job's checkpoint store in `memory`, every read taking [`SLOW_READ`] when `slow`.
fn store(job: &JobSpec, memory: &Arc<InMemory>, slow: bool) -> CheckpointStore {
    let config = ThrottleConfig {
        wait_get_per_call: if slow { SLOW_READ } else { Duration::ZERO },
        ..ThrottleConfig::default()
    };
    throttled(job, memory, config)
}

/// The job's checkpoint store in `memory`, slowed down as `config` says.
fn throttled(job: &JobSpec, memory: &Arc<InMemory>, config: ThrottleConfig) -> CheckpointStore {
    let store: Arc<dyn ObjectStore> = Arc::new(ThrottledStore::new(memory.clone(), config));
    let location = Location {
        store,
        prefix: "checkpoints".into(),
        display: "memory".into(),
        local_root: None,
    };
    CheckpointStore::new(location, &job.name)
}

fn assignment(job: &JobSpec, dir: &std::path::Path, epoch: u64, partitions: &[i32]) -> Assignment {
    Assignment {
        job: Arc::new(job.clone()),
        checkpoint_store: String::new(),
        epoch,
        worker_id: "w".into(),
        partitions: partitions.to_vec(),
        restore: None,
        bounded: false,
        tables: worker_tables(job, dir),
    }
}

/// Checkpoint 1 of both partitions, taken by worker `w` at epoch 1: what the tests restore.
async fn checkpoint(job: &JobSpec, dir: &std::path::Path, memory: &Arc<InMemory>) -> RestorePoint {
    let worker = LocalWorker::new(
        "w",
        Default::default(),
        WorkerStores::Given(store(job, memory, false)),
    );
    worker
        .assign(assignment(job, dir, 1, &[0, 1]))
        .await
        .expect("assigned");
    worker.checkpoint(barrier(1, 1)).await.expect("checkpoint");
    worker.release(1).await.expect("release");
    RestorePoint {
        at: CheckpointRef { id: 1, epoch: 1 },
        holders: [(0, "w".to_owned()), (1, "w".to_owned())].into(),
        legacy_workers: Vec::new(),
        watermark_ms: None,
    }
}

/// A worker whose store reads take [`SLOW_READ`], and checkpoint 1 in that store to restore.
async fn slow_worker_and_checkpoint(
    job: &JobSpec,
    dir: &std::path::Path,
) -> (Arc<LocalWorker>, RestorePoint) {
    let memory = Arc::default();
    let from = checkpoint(job, dir, &memory).await;
    let worker = LocalWorker::new(
        "w",
        Default::default(),
        WorkerStores::Given(store(job, &memory, true)),
    );
    (Arc::new(worker), from)
}

fn restoring(
    job: &JobSpec,
    dir: &std::path::Path,
    partitions: &[i32],
    from: &RestorePoint,
) -> Assignment {
    Assignment {
        restore: Some(from.clone()),
        ..assignment(job, dir, 2, partitions)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_barrier_of_another_epoch_than_the_assignment_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let job = generator_job();
    let store = store(&job, &Arc::default(), false);
    let worker = LocalWorker::new("w", Default::default(), WorkerStores::Given(store));
    worker
        .assign(assignment(&job, dir.path(), 5, &[0, 1]))
        .await
        .expect("assigned at epoch 5");
    for (id, epoch) in [(1, 6), (2, 4)] {
        let refused = worker.checkpoint(barrier(id, epoch)).await;
        assert!(
            matches!(
                refused,
                Err(WorkerServiceError::StaleEpoch { current: 5, .. })
            ),
            "a barrier at epoch {epoch}: {refused:?}"
        );
    }
    for epoch in [6, 4] {
        let refused = worker.status(epoch).await;
        assert!(
            matches!(
                refused,
                Err(WorkerServiceError::StaleEpoch { current: 5, .. })
            ),
            "a status call at epoch {epoch}: {}",
            refused.map(|_| "answered").unwrap_or("refused otherwise")
        );
    }
    worker
        .status(5)
        .await
        .expect("a status call of its own epoch");
    let ack = worker
        .checkpoint(barrier(3, 5))
        .await
        .expect("a barrier of its own epoch");
    assert_eq!((ack.epoch, ack.partitions), (5, vec![0, 1]));
    worker.release(5).await.expect("release");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_assignment_cancels_a_start_still_restoring_and_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let job = generator_job();
    let (worker, from) = slow_worker_and_checkpoint(&job, dir.path()).await;
    let first = tokio::spawn({
        let (worker, a) = (worker.clone(), restoring(&job, dir.path(), &[0], &from));
        async move { worker.assign(a).await }
    });
    tokio::time::sleep(SLOW_READ / 5).await;
    worker
        .assign(restoring(&job, dir.path(), &[1], &from))
        .await
        .expect("the newer assignment starts");
    let first = first.await.expect("join");
    assert!(first.is_err(), "the first start was cancelled: {first:?}");
    let ack = worker.checkpoint(barrier(2, 2)).await.expect("checkpoint");
    assert_eq!(ack.partitions, [1], "the newer assignment runs");
    worker.release(2).await.expect("release");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_gives_up_cancels_the_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let job = generator_job();
    let (worker, from) = slow_worker_and_checkpoint(&job, dir.path()).await;
    let gave_up = tokio::time::timeout(
        SLOW_READ / 5,
        worker.assign(restoring(&job, dir.path(), &[0, 1], &from)),
    )
    .await;
    assert!(gave_up.is_err(), "the caller's deadline passed first");
    tokio::time::sleep(SLOW_READ * 2).await;
    assert!(
        !worker.has_work().await,
        "a start no one waits for any more does not go on to run"
    );
}

async fn status(w: &LocalWorker, epoch: u64) -> floe_proto::WorkerStatus {
    w.status(epoch).await.expect("status")
}

fn position(s: &floe_proto::WorkerStatus, partition: i32) -> Option<i64> {
    let p = s.partitions.iter().find(|p| p.partition == partition)?;
    p.next_offset
}

#[tokio::test]
async fn a_cancelled_restore_stops_its_download_half_way() {
    let job = generator_job();
    let dir = tempfile::tempdir().expect("tempdir");
    let memory = Arc::default();
    let from = checkpoint(&job, dir.path(), &memory).await;
    let size = (store(&job, &memory, false)
        .get_worker_state(from.at, "w")
        .await)
        .expect("state object")
        .len();
    let per_byte = Duration::from_millis(5);
    assert!(
        per_byte * size as u32 > Duration::from_secs(4),
        "{size} bytes"
    );
    let slow_download = ThrottleConfig {
        wait_get_per_byte: per_byte,
        ..ThrottleConfig::default()
    };
    let store = throttled(&job, &memory, slow_download);
    let cancel = CancellationToken::new();
    let started = std::time::Instant::now();
    let later = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        later.cancel();
    });
    let read = read_state(&store, from.at, "w", &cancel, |_| true).await;
    assert!(
        matches!(read, Err(ReadStateError::Worker(WorkerError::Cancelled))),
        "{read:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_partition_handed_over_between_running_workers_is_read_exactly_once() {
    const EVENTS: u64 = 3_000;
    let job = example_generator_job(GeneratorConfig {
        partitions: 4,
        events: EVENTS,
        rate: 6_000,
        ..GeneratorConfig::default()
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let memory = Arc::default();
    let worker = |name: &str| {
        LocalWorker::new(
            name,
            Default::default(),
            WorkerStores::Given(store(&job, &memory, false)),
        )
    };
    let (a, b) = (worker("a"), worker("b"));
    for (w, name, partitions) in [(&a, "a", [0, 1]), (&b, "b", [2, 3])] {
        let assigned = Assignment {
            worker_id: name.into(),
            bounded: true,
            ..assignment(&job, dir.path(), 1, &partitions)
        };
        w.assign(assigned).await.expect("assigned");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.remove_partitions(1, vec![3]).await.expect("removed");
    let stopped_at = position(&status(&b, 1).await, 3);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        position(&status(&b, 1).await, 3),
        stopped_at,
        "no record of a removed partition is read"
    );
    let before = position(&status(&a, 1).await, 0);
    let acks = [
        a.checkpoint(barrier(1, 1)).await.expect("a's ack"),
        b.checkpoint(barrier(1, 1)).await.expect("b's ack"),
    ];
    assert_eq!(
        acks[1].partitions,
        [2, 3],
        "the ack still holds partition 3"
    );
    let b_now = status(&b, 1).await;
    assert_eq!(
        position(&b_now, 3),
        None,
        "partition 3 left b with the checkpoint"
    );
    let holders = acks
        .iter()
        .flat_map(|ack| ack.partitions.iter().map(|p| (*p, ack.worker_id.clone())))
        .collect();
    let add = floe_proto::AddPartitions {
        epoch: 1,
        partitions: vec![3],
        restore: Some(RestorePoint {
            at: CheckpointRef { id: 1, epoch: 1 },
            holders,
            legacy_workers: Vec::new(),
            watermark_ms: None,
        }),
    };
    a.add_partitions(add).await.expect("added");
    assert!(
        position(&status(&a, 1).await, 0) >= before,
        "a's own partitions read on"
    );
    assert!(position(&status(&a, 1).await, 3) >= stopped_at);

    let mut id = 2;
    let (events, finished) = loop {
        let end = Barrier {
            watermark_ms: floe_common::watermark::WATERMARK_END,
            ..barrier(id, 1)
        };
        let acks = [
            a.checkpoint(end).await.expect("a's ack"),
            b.checkpoint(end).await.expect("b's ack"),
        ];
        id += 1;
        if acks.iter().all(|ack| ack.input_finished) || id > 200 {
            let events: u64 = acks.iter().map(|ack| ack.stats.events).sum();
            break (events, acks.iter().all(|ack| ack.input_finished));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(finished, "both workers read their partitions to the end");
    assert_eq!(events, 4 * EVENTS, "every event once, none twice");
    let a_now = status(&a, 1).await;
    for p in [0, 1, 3] {
        assert_eq!(position(&a_now, p), Some(EVENTS as i64), "partition {p}");
    }
}
