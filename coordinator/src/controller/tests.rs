//! The controller against fake workers and the real committer (SQLite catalog and a local store
//! in a temp dir), so checkpoints are real manifests: no processes, no sockets, no Kafka.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use floe_common::config::example_job;
use floe_proto::{RestorePoint, WorkerService};
use floe_source::{PartitionSource, SourceError};
use floe_storage::{open_location, CheckpointStore};
use tokio::sync::watch;

use crate::job::{run_job, JobError, JobOptions, JobProgress, JobSummary};
use floe_table::test_support::sqlite_catalog;

use super::fakes::{example_config, FakeWorker, FourPartitions};

/// Lists its partitions at once for scheduling; every later listing waits until `away` is
/// false again (a broker that went away).
#[derive(Debug, Default)]
struct BrokerAway {
    away: Mutex<bool>,
    back: std::sync::Condvar,
}

impl BrokerAway {
    fn set_away(&self, away: bool) {
        *self.away.lock().expect("lock") = away;
        self.back.notify_all();
    }
}

impl PartitionSource for BrokerAway {
    fn partitions(&self) -> Result<Vec<i32>, SourceError> {
        let away = self.away.lock().expect("lock");
        drop(self.back.wait_while(away, |away| *away).expect("lock"));
        Ok(vec![0, 1, 2, 3])
    }

    fn end_offsets(&self) -> Result<BTreeMap<i32, i64>, SourceError> {
        Ok(BTreeMap::new())
    }
}

/// Runs `f` when dropped, panic or not.
fn scopeguard(f: impl FnOnce()) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}

type Members = watch::Sender<Vec<Arc<dyn WorkerService>>>;

struct Harness {
    _dir: tempfile::TempDir,
    members: Members,
    stop: tokio_util::sync::CancellationToken,
    progress: watch::Receiver<JobProgress>,
    task: tokio::task::JoinHandle<Result<JobSummary, JobError>>,
}

async fn start(workers: &[Arc<FakeWorker>], bounded: bool, restart_on_failure: bool) -> Harness {
    start_with(
        workers,
        bounded,
        restart_on_failure,
        Arc::new(FourPartitions),
    )
    .await
}

async fn start_with(
    workers: &[Arc<FakeWorker>],
    bounded: bool,
    restart_on_failure: bool,
    source: Arc<dyn PartitionSource>,
) -> Harness {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let catalog = sqlite_catalog(&dir).await;
    let job = Arc::new(example_job());
    let store = CheckpointStore::new(
        open_location(dir.path().join("checkpoints").to_str().expect("utf-8")).expect("store"),
        &job.name,
    );
    let cfg = example_config("50ms", "10ms");
    let options = JobOptions {
        bounded,
        restart_on_failure,
        partition_source: Some(source),
        ..JobOptions::new(&cfg)
    };
    let list: Vec<Arc<dyn WorkerService>> = workers
        .iter()
        .map(|w| w.clone() as Arc<dyn WorkerService>)
        .collect();
    let (members, members_rx) = watch::channel(list);
    let stop = tokio_util::sync::CancellationToken::new();
    let stop_rx = stop.clone();
    let (progress_tx, progress) = watch::channel(JobProgress::default());
    let task = tokio::spawn(run_job(
        job,
        catalog,
        store,
        options,
        members_rx,
        stop_rx,
        progress_tx,
    ));
    Harness {
        _dir: dir,
        members,
        stop,
        progress,
        task,
    }
}

async fn wait_until(what: &str, mut pred: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !pred() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn last_restore(w: &FakeWorker) -> Option<RestorePoint> {
    w.with(|s| s.restores.last().cloned().flatten())
}

#[tokio::test]
async fn a_bounded_job_spreads_its_partitions_and_finishes_at_the_end_of_time() {
    let (a, b) = (FakeWorker::new("a", true), FakeWorker::new("b", true));
    let h = start(&[a.clone(), b.clone()], true, false).await;
    let summary = h.task.await.expect("join").expect("job");
    assert_eq!(
        a.with(|s| s.restores.len()),
        1,
        "one assignment, no restore"
    );
    assert_eq!(last_restore(&a), None);
    let mut all = a.with(|s| s.assigned[0].clone());
    all.extend(b.with(|s| s.assigned[0].clone()));
    all.sort_unstable();
    assert_eq!(all, [0, 1, 2, 3], "every partition once");
    assert_eq!(a.with(|s| s.assigned[0].len()), 2, "an even spread");
    let last = |w: &FakeWorker| w.with(|s| *s.barriers.last().expect("a barrier"));
    assert_eq!(
        last(&a).watermark_ms,
        i64::MAX,
        "the last barrier closes every window"
    );
    assert_eq!(last(&a), last(&b), "every worker gets the same barrier");
    assert!(summary.progress.input_finished);
    assert_eq!(
        summary.progress.assignment.len(),
        0,
        "the workers are released at the end"
    );
    drop(h.stop);
}

#[tokio::test]
async fn a_lost_worker_s_partitions_restart_from_the_last_checkpoint_on_the_others() {
    let (a, b) = (FakeWorker::new("a", false), FakeWorker::new("b", false));
    let h = start(&[a.clone(), b.clone()], false, true).await;
    let mut progress = h.progress.clone();
    wait_until("two checkpoints", || {
        progress.borrow_and_update().last_checkpoint_id >= 2
    })
    .await;
    assert_eq!(a.with(|s| s.partitions.len()), 2);
    assert_eq!(b.with(|s| s.partitions.len()), 2);
    b.with(|s| s.dead = true);
    h.members
        .send_replace(vec![a.clone() as Arc<dyn WorkerService>]);
    wait_until("a holds every partition", || {
        a.with(|s| s.partitions.clone()) == [0, 1, 2, 3]
    })
    .await;
    let restore = last_restore(&a).expect("restored from a checkpoint");
    assert_eq!(
        restore
            .holders
            .values()
            .collect::<std::collections::BTreeSet<_>>(),
        [&"a".to_owned(), &"b".to_owned()].into(),
        "the checkpoint names who held each partition: {restore:?}"
    );
    assert_eq!(restore.holders.len(), 4);
    h.stop.cancel();
    h.task.await.expect("join").expect("job stops cleanly");
}

#[tokio::test]
async fn a_new_member_gets_its_share_through_a_checkpoint() {
    let a = FakeWorker::new("a", false);
    let h = start(std::slice::from_ref(&a), false, true).await;
    let mut progress = h.progress.clone();
    wait_until("a first checkpoint", || {
        progress.borrow_and_update().last_checkpoint_id >= 1
    })
    .await;
    assert_eq!(a.with(|s| s.partitions.clone()), [0, 1, 2, 3]);
    let b = FakeWorker::new("b", false);
    h.members.send_replace(vec![
        a.clone() as Arc<dyn WorkerService>,
        b.clone() as Arc<dyn WorkerService>,
    ]);
    wait_until("b holds two partitions", || {
        b.with(|s| s.partitions.len()) == 2
    })
    .await;
    assert_eq!(a.with(|s| s.partitions.len()), 2, "a keeps two of its four");
    let rescale = last_restore(&b).expect("b restores from the rescaling checkpoint");
    let barrier_before = a.with(|s| {
        s.barriers
            .iter()
            .rev()
            .find(|x| x.checkpoint_id == rescale.at.id)
            .copied()
    });
    assert!(
        barrier_before.is_some(),
        "a took the rescaling checkpoint itself"
    );
    assert_eq!(
        a.with(|s| s.assigned.len()),
        1,
        "a is not assigned again: its other partitions read on"
    );
    h.stop.cancel();
    h.task.await.expect("join").expect("job stops cleanly");
}

#[tokio::test]
async fn checkpoints_go_on_while_the_topic_cannot_be_listed() {
    let a = FakeWorker::new("a", false);
    let source = Arc::new(BrokerAway::default());
    let h = start_with(std::slice::from_ref(&a), false, false, source.clone()).await;
    let mut progress = h.progress.clone();
    wait_until("a first checkpoint", || {
        progress.borrow_and_update().last_checkpoint_id >= 1
    })
    .await;
    source.set_away(true);
    // Back again however the test ends: the runtime waits for the listing's thread.
    let _back = scopeguard(|| source.set_away(false));
    let before = progress.borrow().last_checkpoint_id;
    wait_until("three more checkpoints with the broker away", || {
        progress.borrow_and_update().last_checkpoint_id >= before + 3
    })
    .await;
    source.set_away(false);
    h.stop.cancel();
    h.task.await.expect("join").expect("job stops cleanly");
}

#[tokio::test]
async fn without_restarts_a_worker_s_failure_is_the_job_s() {
    let a = FakeWorker::new("a", false);
    let h = start(std::slice::from_ref(&a), false, false).await;
    let mut progress = h.progress.clone();
    wait_until("a first checkpoint", || {
        progress.borrow_and_update().last_checkpoint_id >= 1
    })
    .await;
    a.with(|s| s.dead = true);
    let err = h.task.await.expect("join").expect_err("the job fails");
    assert!(matches!(err, JobError::Worker { .. }), "{err}");
    assert!(err.to_string().contains("connection refused"), "{err}");
}

#[test]
fn restarts_back_off_up_to_thirty_seconds() {
    let pauses: Vec<u64> = (1..=8).map(|n| super::restart_pause(n).as_secs()).collect();
    assert_eq!(pauses, [1, 2, 4, 8, 16, 30, 30, 30]);
}
