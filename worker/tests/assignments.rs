//! A worker answers barriers only for the epoch it was assigned at. A worker that a deposed
//! leader assigned (after a restart wiped what it had obeyed) must not ack a newer leader's
//! barrier from that other lineage: its state and positions are not the ones the newer leader
//! restored, and merging them would double rows.

use std::sync::Arc;

use floe_common::config::FloeConfig;
use floe_common::generator_source::GeneratorConfig;
use floe_proto::{Assignment, Barrier, WorkerService, WorkerServiceError};
use floe_storage::{open_location, CheckpointStore};
use floe_table::TableLayout;
use floe_worker::{LocalWorker, WorkerStores};

fn generator_job() -> floe_common::config::JobSpec {
    let mut file =
        FloeConfig::parse(include_str!("../../examples/video_stats.toml")).expect("parse");
    file.jobs[0].source.kind = "generator".into();
    file.jobs[0].source.generator = Some(GeneratorConfig {
        partitions: 2,
        events: 100,
        ..GeneratorConfig::default()
    });
    file.validate().expect("validate").jobs.remove(0)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_barrier_of_another_epoch_than_the_assignment_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let job_spec = generator_job();
    let job = Arc::new(job_spec.clone());
    let store = CheckpointStore::new(
        open_location(dir.path().to_str().expect("utf-8")).expect("store"),
        &job.name,
    );
    let worker = LocalWorker::new("w", Default::default(), WorkerStores::Given(store));
    worker
        .assign(Assignment {
            job,
            checkpoint_store: String::new(),
            epoch: 5,
            worker_id: "w".into(),
            partitions: vec![0, 1],
            restore: None,
            bounded: false,
            tables: worker_tables(&job_spec, dir.path()),
        })
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
    let ack = worker
        .checkpoint(barrier(3, 5))
        .await
        .expect("a barrier of its own epoch");
    assert_eq!((ack.epoch, ack.partitions), (5, vec![0, 1]));
    worker.release(5).await.expect("release");
}
