//! Each controller state against fake workers and a fake committer, in paused tokio time: no
//! catalog, no store, no sockets, no sleeps of real time. A test sleeps in virtual time and the
//! runtime jumps to the controller's next timer.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use floe_common::config::example_job;
use floe_proto::{RestorePoint, WorkerService};
use floe_source::{PartitionSource, SourceError};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::fakes::{
    example_config, restore_at, Commits, FakeCommitter, FakeWorker, FourPartitions, KEEPALIVE,
};
use crate::job::{run_job_with, JobError, JobOptions, JobProgress, JobSummary};

const INTERVAL: Duration = Duration::from_secs(1);
const EPOCH: u64 = 3;
const ROUND_DEADLINE: Duration = Duration::from_secs(5);

struct Run {
    members: watch::Sender<Vec<Arc<dyn WorkerService>>>,
    stop: CancellationToken,
    progress: watch::Receiver<JobProgress>,
    commits: Arc<Mutex<Commits>>,
    task: tokio::task::JoinHandle<Result<JobSummary, JobError>>,
}

impl Run {
    fn commits<T>(&self, f: impl FnOnce(&Commits) -> T) -> T {
        f(&self.commits.lock().expect("commits"))
    }

    fn committed(&self) -> Vec<u64> {
        self.commits(|c| c.committed.clone())
    }

    async fn stop(self) -> JobSummary {
        self.stop.cancel();
        self.task
            .await
            .expect("join")
            .expect("the job stops cleanly")
    }
}

fn members(workers: &[Arc<FakeWorker>]) -> Vec<Arc<dyn WorkerService>> {
    workers
        .iter()
        .map(|w| w.clone() as Arc<dyn WorkerService>)
        .collect()
}

/// The example job on `workers`, checkpointing every [`INTERVAL`], committed by a fake that
/// took the job at [`EPOCH`] and resumes from `restored`.
fn start(
    workers: &[Arc<FakeWorker>],
    restored: Option<RestorePoint>,
    restart_on_failure: bool,
) -> Run {
    start_job(
        example_job(),
        Arc::new(FourPartitions),
        workers,
        restored,
        restart_on_failure,
    )
}

/// [`start`] with another job.
fn start_job(
    job: floe_common::config::JobSpec,
    source: Arc<dyn PartitionSource>,
    workers: &[Arc<FakeWorker>],
    restored: Option<RestorePoint>,
    restart_on_failure: bool,
) -> Run {
    let cfg = example_config("1s", "100ms");
    let options = JobOptions {
        restart_on_failure,
        partition_source: Some(source.clone()),
        round_deadline: ROUND_DEADLINE,
        ..JobOptions::new(&cfg)
    };
    let (committer, commits) = FakeCommitter::new(EPOCH, restored);
    let (members_tx, members_rx) = watch::channel(members(workers));
    let stop = CancellationToken::new();
    let (progress_tx, progress) = watch::channel(JobProgress::default());
    let task = tokio::spawn(run_job_with(
        Arc::new(job),
        Box::new(committer),
        source,
        options,
        members_rx,
        stop.clone(),
        progress_tx,
    ));
    Run {
        members: members_tx,
        stop,
        progress,
        commits,
        task,
    }
}

/// Lets `d` of virtual time pass.
async fn pass(d: Duration) {
    tokio::time::sleep(d).await;
}

#[tokio::test(start_paused = true)]
async fn recovering_resumes_after_the_restore_point() {
    let a = FakeWorker::new("a", false);
    let restored = restore_at(7, &[(0, "x"), (1, "x"), (2, "x"), (3, "x")], 5_000);
    let run = start(std::slice::from_ref(&a), Some(restored.clone()), false);
    pass(INTERVAL + INTERVAL / 2).await;
    assert_eq!(run.commits(|c| c.recoveries), 1);
    assert_eq!(a.with(|s| s.restores.clone()), [Some(restored)]);
    let first = a.with(|s| s.barriers[0]);
    assert_eq!(first.checkpoint_id, 8, "ids go on after the restore point");
    assert_eq!(first.epoch, EPOCH);
    assert!(
        first.watermark_ms >= 5_000,
        "the job's watermark resumes from the checkpoint's: {}",
        first.watermark_ms
    );
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_checkpoint_keeps_the_watermark_its_barrier_closed_windows_at() {
    // The ack reports a watermark past the barrier's. Right after the checkpoint the workers
    // judge lateness against the barrier's; a restore from it must too.
    let a = FakeWorker::new("a", false);
    a.with(|s| s.ack_watermark_ms = Some(60_000));
    let run = start(std::slice::from_ref(&a), None, false);
    pass(INTERVAL * 3).await;
    let barriers = a.with(|s| s.barriers.clone());
    let completed = run.commits(|c| c.completed.clone());
    assert!(completed.len() >= 2, "{} checkpoints", completed.len());
    assert!(barriers[0].watermark_ms < 60_000);
    for m in &completed {
        let barrier = barriers
            .iter()
            .find(|b| b.checkpoint_id == m.checkpoint_id)
            .expect("a barrier per checkpoint");
        assert_eq!(
            m.watermark_ms, barrier.watermark_ms,
            "checkpoint {}",
            m.checkpoint_id
        );
    }
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn scheduling_spreads_every_partition_once() {
    let (a, b) = (FakeWorker::new("a", false), FakeWorker::new("b", false));
    let run = start(&[a.clone(), b.clone()], None, false);
    pass(INTERVAL / 2).await;
    let (pa, pb) = (
        a.with(|s| s.partitions.clone()),
        b.with(|s| s.partitions.clone()),
    );
    assert_eq!((pa.len(), pb.len()), (2, 2), "{pa:?} {pb:?}");
    let mut all = [pa, pb].concat();
    all.sort_unstable();
    assert_eq!(all, [0, 1, 2, 3]);
    assert_eq!(
        a.with(|s| s.restores.clone()),
        [None],
        "nothing to restore yet"
    );
    run.stop().await;
}

/// A listing that misses partition 3 (a broker's metadata mid-change).
#[derive(Debug)]
struct ListingWithoutThree;

impl PartitionSource for ListingWithoutThree {
    fn partitions(&self) -> Result<Vec<i32>, SourceError> {
        Ok(vec![0, 1, 2])
    }

    fn end_offsets(&self) -> Result<std::collections::BTreeMap<i32, i64>, SourceError> {
        Ok(Default::default())
    }
}

#[tokio::test(start_paused = true)]
async fn scheduling_keeps_a_restored_partition_the_listing_misses() {
    let a = FakeWorker::new("a", false);
    let restored = restore_at(7, &[(0, "a"), (1, "a"), (2, "a"), (3, "a")], 5_000);
    let run = start_job(
        example_job(),
        Arc::new(ListingWithoutThree),
        std::slice::from_ref(&a),
        Some(restored),
        false,
    );
    pass(INTERVAL / 2).await;
    assert_eq!(a.with(|s| s.partitions.clone()), [0, 1, 2, 3]);
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn running_checkpoints_once_per_interval() {
    let a = FakeWorker::new("a", false);
    let run = start(std::slice::from_ref(&a), None, false);
    pass(INTERVAL * 10 + INTERVAL / 2).await;
    let committed = run.committed();
    assert_eq!(committed, (1..=10).collect::<Vec<u64>>());
    assert!(a.with(|s| s.barriers.iter().all(|b| b.epoch == EPOCH)));
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_commit_interval_commits_every_few_checkpoints_and_at_the_stop() {
    let a = FakeWorker::new("a", false);
    let mut job = example_job();
    job.commit_interval = Some(INTERVAL * 3);
    let run = start_job(
        job,
        Arc::new(FourPartitions),
        std::slice::from_ref(&a),
        None,
        false,
    );
    pass(INTERVAL * 10 + INTERVAL / 2).await;
    assert_eq!(
        run.commits(|c| c.completed.len()),
        10,
        "a checkpoint every interval"
    );
    assert_eq!(run.committed(), [1, 4, 7, 10], "a commit every third");
    let commits = run.commits.clone();
    let summary = run.stop().await;
    assert_eq!(
        commits.lock().expect("commits").committed.last(),
        Some(&11),
        "the last checkpoint is committed"
    );
    assert_eq!(summary.progress.last_checkpoint_id, 11);
}

#[tokio::test(start_paused = true)]
async fn rescaling_moves_only_the_partitions_that_change_worker() {
    let a = FakeWorker::new("a", false);
    let run = start(std::slice::from_ref(&a), None, false);
    pass(INTERVAL * 2 + INTERVAL / 2).await;
    let b = FakeWorker::new("b", false);
    run.members.send_replace(members(&[a.clone(), b.clone()]));
    pass(INTERVAL / 2).await;
    let removed = a.with(|s| s.removals.clone());
    assert_eq!(removed.len(), 1, "a gives up partitions once");
    assert_eq!(
        b.with(|s| s.assigned.clone()),
        removed,
        "b takes what a gave up"
    );
    assert_eq!(a.with(|s| s.partitions.len()), 2, "a keeps two of its four");
    assert_eq!(
        (a.with(|s| s.assigned.len()), a.with(|s| s.releases)),
        (1, 0),
        "a is neither released nor assigned again: its partitions read on"
    );
    let moved = b.with(|s| s.restores.last().cloned().flatten());
    let moved = moved.expect("b restores from the rescaling checkpoint");
    assert_eq!(moved.at.id, 3, "the checkpoint taken for the rescale");
    assert_eq!(run.committed(), [1, 2, 3]);
    assert_eq!(
        moved.holders.values().filter(|w| *w == "a").count(),
        4,
        "a's ack of that checkpoint still held the partitions it gave up"
    );
    pass(INTERVAL).await;
    let holders = run.commits(|c| c.completed.last().map(|m| m.holders.clone()));
    assert_eq!(
        holders.map(|h| h.values().filter(|w| *w == "b").count()),
        Some(2),
        "the next checkpoint has b's two from b"
    );
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_leaving_worker_hands_its_partitions_to_the_others_which_read_on() {
    let (a, b) = (FakeWorker::new("a", false), FakeWorker::new("b", false));
    let run = start(&[a.clone(), b.clone()], None, false);
    pass(INTERVAL * 2 + INTERVAL / 2).await;
    let b_had = b.with(|s| s.partitions.clone());
    run.members.send_replace(members(std::slice::from_ref(&a)));
    pass(INTERVAL / 2).await;
    assert_eq!(b.with(|s| s.removals.clone()), std::slice::from_ref(&b_had));
    assert_eq!(
        b.with(|s| s.releases),
        1,
        "released once its partitions left"
    );
    let added = a.with(|s| s.additions.clone());
    assert_eq!(added.len(), 1);
    assert_eq!(added[0].partitions, b_had);
    let from = added[0]
        .restore
        .clone()
        .expect("restored from a checkpoint");
    assert_eq!(from.at.id, 3, "the checkpoint b took them off with");
    assert_eq!(a.with(|s| s.partitions.clone()), [0, 1, 2, 3]);
    assert_eq!(
        (a.with(|s| s.assigned.len()), a.with(|s| s.releases)),
        (1, 0),
        "a reads on"
    );
    run.stop().await;
}

/// A topic of four partitions that grows to six once `grown` is set.
#[derive(Debug, Default)]
struct GrowingTopic {
    grown: std::sync::atomic::AtomicBool,
}

impl PartitionSource for GrowingTopic {
    fn partitions(&self) -> Result<Vec<i32>, SourceError> {
        let n = if self.grown.load(std::sync::atomic::Ordering::SeqCst) {
            6
        } else {
            4
        };
        Ok((0..n).collect())
    }

    fn end_offsets(&self) -> Result<std::collections::BTreeMap<i32, i64>, SourceError> {
        Ok(Default::default())
    }
}

#[tokio::test(start_paused = true)]
async fn new_partitions_of_the_topic_are_added_to_running_workers() {
    let (a, b) = (FakeWorker::new("a", false), FakeWorker::new("b", false));
    let topic = Arc::new(GrowingTopic::default());
    let run = start_job(
        example_job(),
        topic.clone(),
        &[a.clone(), b.clone()],
        None,
        false,
    );
    pass(INTERVAL + INTERVAL / 2).await;
    topic.grown.store(true, std::sync::atomic::Ordering::SeqCst);
    pass(INTERVAL * 2).await;
    let mut added: Vec<i32> = (a.with(|s| s.additions.clone()).into_iter())
        .chain(b.with(|s| s.additions.clone()))
        .flat_map(|add| add.partitions)
        .collect();
    added.sort_unstable();
    assert_eq!(added, [4, 5], "each new partition is added once");
    for w in [&a, &b] {
        assert_eq!(w.with(|s| s.partitions.len()), 3);
        assert!(w.with(|s| s.removals.is_empty()), "nothing moves");
        assert_eq!(
            (w.with(|s| s.assigned.len()), w.with(|s| s.releases)),
            (1, 0)
        );
    }
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_round_past_its_deadline_restarts_from_the_last_checkpoint() {
    let (a, b) = (FakeWorker::new("a", false), FakeWorker::new("b", false));
    let run = start(&[a.clone(), b.clone()], None, true);
    pass(INTERVAL * 2 + INTERVAL / 2).await;
    b.with(|s| s.hung = true);
    pass(INTERVAL / 2 + ROUND_DEADLINE - INTERVAL / 4).await;
    assert_eq!(
        run.commits(|c| c.recoveries),
        1,
        "still waiting for b's ack"
    );
    // The deadline, then the restart's pause of a second.
    pass(INTERVAL + INTERVAL / 2).await;
    assert_eq!(
        run.commits(|c| c.recoveries),
        2,
        "past the deadline the job recovers from the last complete checkpoint"
    );
    assert_eq!(run.committed(), [1, 2]);
    b.with(|s| s.hung = false);
    pass(INTERVAL * 3).await;
    assert!(run.committed().len() > 2, "{:?}", run.committed());
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_frozen_member_whose_lease_lapses_is_left_at_once() {
    let (a, b) = (FakeWorker::new("a", false), FakeWorker::new("b", false));
    let run = start(&[a.clone(), b.clone()], None, true);
    pass(INTERVAL * 2 + INTERVAL / 2).await;
    b.with(|s| s.frozen = true);
    pass(INTERVAL).await;
    // b's lease lapses in the cluster: it leaves the members while the controller waits on it.
    run.members.send_replace(members(std::slice::from_ref(&a)));
    pass(INTERVAL / 10).await;
    assert_eq!(
        run.commits(|c| c.recoveries),
        2,
        "the wait ends when b leaves, long before any deadline"
    );
    assert_eq!(
        b.with(|s| s.partitions.len()),
        2,
        "b, no longer a member, is not waited for with a release"
    );
    pass(INTERVAL * 2).await;
    assert_eq!(a.with(|s| s.partitions.len()), 4, "a reads every partition");
    assert!(run.committed().len() > 2, "{:?}", run.committed());
    run.stop().await;
}

/// A member cut off from the leader, its lease alive: every call to it waits out the channel's
/// keepalive, so a failure is not followed by a release that would wait as long again.
#[tokio::test(start_paused = true)]
async fn a_member_the_leader_cannot_reach_is_not_waited_for_twice_per_failure() {
    let (a, b) = (FakeWorker::new("a", false), FakeWorker::new("b", false));
    let run = start(&[a.clone(), b.clone()], None, true);
    pass(INTERVAL * 2 + INTERVAL / 2).await;
    let before = run.committed().len();
    b.with(|s| s.cut_off = true);
    // A status poll and two assignments that fail at the keepalive, 1 + 2 + 4 s of restart
    // pauses, a checkpoint interval: b is set aside and a commits. A release after each
    // failure would add a keepalive each time.
    pass(KEEPALIVE * 3 + INTERVAL * 9).await;
    let aside = run.progress.borrow().quarantined.clone();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(aside[0].worker, "b");
    assert_eq!(a.with(|s| s.partitions.len()), 4, "a reads every partition");
    assert!(run.committed().len() > before, "{:?}", run.committed());
    run.stop().await;
}

/// A member that keeps its lease but fails every call (the leader cannot reach it): after three
/// failures in a row it is set aside and the job runs on the others; when its quarantine ends
/// it is scheduled again.
#[tokio::test(start_paused = true)]
async fn a_member_failing_again_and_again_is_set_aside_and_comes_back() {
    let (a, b) = (FakeWorker::new("a", false), FakeWorker::new("b", false));
    b.with(|s| s.dead = true);
    let run = start(&[a.clone(), b.clone()], None, true);
    // Three failed assignments, 1 + 2 + 4 s of restart pauses, then a runs alone.
    pass(INTERVAL * 12).await;
    assert_eq!(a.with(|s| s.partitions.len()), 4, "a reads every partition");
    assert!(!run.committed().is_empty(), "the job commits without b");
    let aside = run.progress.borrow().quarantined.clone();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(aside[0].worker, "b");
    assert!(aside[0].last_error.contains("connection refused"));
    b.with(|s| s.dead = false);
    pass(INTERVAL * 10).await;
    assert_eq!(
        b.with(|s| s.partitions.len()),
        2,
        "b is back after its quarantine"
    );
    assert!(run.progress.borrow().quarantined.is_empty());
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn stopping_takes_a_last_checkpoint_and_releases_every_worker() {
    let (a, b) = (FakeWorker::new("a", false), FakeWorker::new("b", false));
    let run = start(&[a.clone(), b.clone()], None, false);
    pass(INTERVAL * 2 + INTERVAL / 2).await;
    let summary = run.stop.clone();
    let commits = run.commits.clone();
    summary.cancel();
    let summary = run.task.await.expect("join").expect("stops cleanly");
    let committed = commits.lock().expect("commits").committed.clone();
    assert_eq!(committed, [1, 2, 3], "one last checkpoint at the stop");
    assert_eq!(summary.progress.last_checkpoint_id, 3);
    assert!(a.with(|s| s.partitions.is_empty()) && b.with(|s| s.partitions.is_empty()));
}

#[tokio::test(start_paused = true)]
async fn a_lost_worker_restarts_the_job_with_growing_pauses() {
    let (a, b) = (FakeWorker::new("a", false), FakeWorker::new("b", false));
    let run = start(&[a.clone(), b.clone()], None, true);
    pass(INTERVAL * 2 + INTERVAL / 2).await;
    assert_eq!(run.committed(), [1, 2]);
    // b stays a member but answers nothing: every restart fails at its assignment.
    b.with(|s| s.dead = true);
    pass(Duration::from_secs(2)).await;
    assert_eq!(run.commits(|c| c.recoveries), 2, "one restart within 2 s");
    let before = a.with(|s| s.restores.len());
    assert_eq!(
        a.with(|s| s.restores.last().cloned().flatten())
            .map(|r| r.at.id),
        Some(2),
        "the others restart from the last committed checkpoint"
    );
    // Pauses of 2, 4 and 8 s: a handful of restarts in 12 s, not one per status poll.
    pass(Duration::from_secs(12)).await;
    let restarts = a.with(|s| s.restores.len()) - before;
    assert!((2..=4).contains(&restarts), "{restarts} restarts in 12 s");
    run.members.send_replace(members(std::slice::from_ref(&a)));
    pass(Duration::from_secs(20)).await;
    assert_eq!(a.with(|s| s.partitions.clone()), [0, 1, 2, 3]);
    assert!(run.committed().len() > 2, "commits resume on the one left");
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_refused_commit_fails_the_job_even_with_restarts() {
    let a = FakeWorker::new("a", false);
    let run = start(std::slice::from_ref(&a), None, true);
    pass(INTERVAL + INTERVAL / 2).await;
    run.commits.lock().expect("commits").refuse = true;
    pass(INTERVAL).await;
    let err = run
        .task
        .await
        .expect("join")
        .expect_err("a committer's refusal is the job's");
    assert!(matches!(err, JobError::Committer { .. }), "{err}");
}
