//! Calls to every assigned worker at once with no wait longer than the failure detector: the
//! call ends when every worker has answered, when one fails, when one's lease in the cluster
//! lapses (it left the members), or at a deadline.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use floe_proto::{WorkerService, WorkerServiceError};
use futures::stream::{FuturesUnordered, StreamExt};

use super::Members;

/// Calls `call` on every worker of `assigned` and returns the answers in its order. `what`
/// names the call in the errors.
pub(super) async fn call_assigned<T, F, Fut>(
    assigned: &[(Arc<dyn WorkerService>, Vec<i32>)],
    members: &Members,
    deadline: Option<Duration>,
    what: &str,
    call: F,
) -> Result<Vec<T>, WorkerServiceError>
where
    F: Fn(Arc<dyn WorkerService>) -> Fut,
    Fut: Future<Output = Result<T, WorkerServiceError>>,
{
    let mut pending: FuturesUnordered<_> = assigned
        .iter()
        .enumerate()
        .map(|(i, (w, _))| {
            let answer = call(w.clone());
            async move { (i, answer.await) }
        })
        .collect();
    // A receiver of its own: the changes it sees stay unseen for Running's eye on the members.
    let mut members = members.clone();
    let timer = async {
        match deadline {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(timer);
    let mut answers: Vec<(usize, T)> = Vec::with_capacity(assigned.len());
    while answers.len() < assigned.len() {
        // Only a worker still owing its answer can fail the call by leaving; one that answered
        // and left (gracefully, answering until released) is Running's to see. Answers already
        // in count first for the same reason.
        let owing: Vec<&str> = (assigned.iter().enumerate())
            .filter(|(i, _)| !answers.iter().any(|(j, _)| j == i))
            .map(|(_, (w, _))| w.name())
            .collect();
        tokio::select! {
            biased;
            Some((i, answer)) = pending.next() => answers.push((i, answer?)),
            worker = lapsed_member(&mut members, &owing) => {
                return Err(WorkerServiceError::Unavailable {
                    worker,
                    message: format!("its lease in the cluster lapsed during {what}"),
                });
            }
            _ = &mut timer => {
                return Err(WorkerServiceError::NoAnswer {
                    workers: owing.iter().map(|w| (*w).to_owned()).collect(),
                    what: what.to_owned(),
                    deadline: deadline.unwrap_or_default(),
                });
            }
        }
    }
    answers.sort_by_key(|(i, _)| *i);
    Ok(answers.into_iter().map(|(_, answer)| answer).collect())
}

/// Resolves with the name of a worker of `owing` that is no longer a member; never, once no one
/// can change the members (a fixed list).
async fn lapsed_member(members: &mut Members, owing: &[&str]) -> String {
    loop {
        if members.changed().await.is_err() {
            return std::future::pending().await;
        }
        let now = members.borrow_and_update();
        if let Some(w) = owing.iter().find(|w| !now.iter().any(|m| m.name() == **w)) {
            return (*w).to_owned();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fakes::FakeWorker;
    use super::*;

    type Assigned = Vec<(Arc<dyn WorkerService>, Vec<i32>)>;
    type MembersChange = tokio::sync::watch::Sender<Vec<Arc<dyn WorkerService>>>;

    /// Fake workers a and b, assigned a partition each, and both members.
    fn two_workers() -> (Assigned, MembersChange, Members) {
        let (a, b) = (FakeWorker::new("a", false), FakeWorker::new("b", false));
        let assigned: Assigned = vec![(a, vec![0]), (b, vec![1])];
        let (change, members) =
            tokio::sync::watch::channel(assigned.iter().map(|(w, _)| w.clone()).collect());
        (assigned, change, members)
    }

    #[tokio::test]
    async fn answers_already_in_win_over_a_member_leaving_at_the_same_moment() {
        let (assigned, change, members) = two_workers();
        // b leaves the members (gracefully: it answers until released) as the calls start.
        change.send_replace(vec![assigned[0].0.clone()]);
        // Were both ready outcomes picked at random, one of these would fail.
        for _ in 0..32 {
            let answers =
                call_assigned(&assigned, &members, None, "a status poll", |w| async move {
                    w.status(1).await
                })
                .await;
            assert!(
                answers.is_ok(),
                "every worker answered, and that is what counts: {:?}",
                answers.err()
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_worker_that_answered_and_then_left_does_not_fail_the_call() {
        let (assigned, change, members) = two_workers();
        // a answers at once and leaves 50 ms later; b answers at 100 ms.
        let b = assigned[1].0.clone();
        let left = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            change.send_replace(vec![b]);
            change
        });
        let answers = call_assigned(&assigned, &members, None, "a status poll", |w| async move {
            if w.name() == "b" {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            w.status(1).await
        })
        .await;
        assert!(answers.is_ok(), "a had answered: {:?}", answers.err());
        let _change = left.await.expect("the leave");
    }
}
