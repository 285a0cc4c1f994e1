//! Members set aside: a worker that fails its assignment or its barriers a few times in a row
//! (one the leader cannot reach while it keeps its lease alive, say) is left out of scheduling
//! for a while, doubling each time, so that the job runs on the others instead of failing over
//! the same member again and again.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

/// Failures in a row that set a member aside.
pub const FAILURES_BEFORE_QUARANTINE: u32 = 3;
const FIRST_QUARANTINE: Duration = Duration::from_secs(10);
const MAX_QUARANTINE: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
struct Entry {
    failures_in_row: u32,
    /// How many times it was set aside since it last worked.
    times: u32,
    until: Option<Instant>,
    last_error: String,
}

/// The members that failed lately, by name.
#[derive(Debug, Default)]
pub struct Quarantine {
    entries: BTreeMap<String, Entry>,
}

/// One member set aside, for the status.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QuarantinedMember {
    pub worker: String,
    pub failures_in_row: u32,
    /// How long it stays aside from now.
    pub remaining_ms: u64,
    /// The failure that set it aside (the address that could not be reached, for one).
    pub last_error: String,
}

impl Quarantine {
    /// Counts a failure of `worker`; the [`FAILURES_BEFORE_QUARANTINE`]th in a row sets it
    /// aside for 10 s, twice as long each time after, up to 5 minutes.
    pub fn failed(&mut self, worker: &str, error: &str, now: Instant) {
        let entry = self.entries.entry(worker.to_owned()).or_insert(Entry {
            failures_in_row: 0,
            times: 0,
            until: None,
            last_error: String::new(),
        });
        entry.failures_in_row += 1;
        entry.last_error = error.to_owned();
        if entry.failures_in_row >= FAILURES_BEFORE_QUARANTINE {
            let pause = (FIRST_QUARANTINE * 2u32.saturating_pow(entry.times)).min(MAX_QUARANTINE);
            entry.until = Some(now + pause);
            entry.times += 1;
            entry.failures_in_row = 0;
            tracing::warn!(worker, error, for_ = ?pause, "setting the worker aside after failures in a row");
        }
    }

    /// `workers` acked a complete checkpoint: their failures are forgotten.
    pub fn worked<'a>(&mut self, workers: impl IntoIterator<Item = &'a str>) {
        for w in workers {
            self.entries.remove(w);
        }
    }

    /// Whether `worker` is set aside at `now`.
    pub fn is_aside(&self, worker: &str, now: Instant) -> bool {
        self.entries
            .get(worker)
            .and_then(|e| e.until)
            .is_some_and(|until| until > now)
    }

    /// When the next member set aside may come back: a time already past while scheduling has
    /// not taken it back yet ([`Self::take_back`]).
    pub fn next_return(&self) -> Option<Instant> {
        self.entries.values().filter_map(|e| e.until).min()
    }

    /// Scheduling takes back the members whose time aside is over at `now`: they count their
    /// failures in a row afresh.
    pub fn take_back(&mut self, now: Instant) {
        for e in self.entries.values_mut() {
            if e.until.is_some_and(|until| until <= now) {
                e.until = None;
            }
        }
    }

    /// The members aside at `now`.
    pub fn listing(&self, now: Instant) -> Vec<QuarantinedMember> {
        self.entries
            .iter()
            .filter_map(|(worker, e)| {
                let until = e.until.filter(|u| *u > now)?;
                Some(QuarantinedMember {
                    worker: worker.clone(),
                    failures_in_row: e.failures_in_row,
                    remaining_ms: u64::try_from((until - now).as_millis()).unwrap_or(u64::MAX),
                    last_error: e.last_error.clone(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_failing_three_times_in_a_row_is_set_aside_with_backoff() {
        let mut q = Quarantine::default();
        let t0 = Instant::now();
        q.failed("w3", "unreachable (10.0.0.3:7070)", t0);
        q.failed("w3", "unreachable (10.0.0.3:7070)", t0);
        assert!(!q.is_aside("w3", t0), "two failures are not enough");
        q.failed("w3", "unreachable (10.0.0.3:7070)", t0);
        assert!(q.is_aside("w3", t0));
        assert!(!q.is_aside("w1", t0));
        assert_eq!(q.next_return(), Some(t0 + FIRST_QUARANTINE));
        let listed = q.listing(t0);
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].remaining_ms, 10_000);
        assert!(listed[0].last_error.contains("10.0.0.3:7070"));

        let back = t0 + FIRST_QUARANTINE;
        assert!(!q.is_aside("w3", back), "it comes back after 10 s");
        assert!(q.listing(back).is_empty());
        assert_eq!(
            q.next_return(),
            Some(back),
            "until scheduling takes it back"
        );
        q.take_back(back);
        assert_eq!(q.next_return(), None);
        for _ in 0..3 {
            q.failed("w3", "unreachable", back);
        }
        assert_eq!(q.next_return(), Some(back + FIRST_QUARANTINE * 2));
        q.worked(["w3"]);
        assert!(!q.is_aside("w3", back), "a checkpoint it acked clears it");
    }

    #[test]
    fn the_pause_stops_growing_at_five_minutes() {
        let mut q = Quarantine::default();
        let mut now = Instant::now();
        for _ in 0..10 {
            for _ in 0..3 {
                q.failed("w", "x", now);
            }
            let back = q.next_return().expect("aside");
            assert!(back - now <= MAX_QUARANTINE);
            now = back;
            q.take_back(now);
        }
        assert_eq!(q.next_return(), None);
    }
}
