//! Session windows of one partition: per group key, the events less than the gap apart, as
//! partial aggregates.
//!
//! An event opens the session `[t, t + gap)`; sessions of a key that overlap merge (an event
//! bridging two joins them into one), so a key's open sessions never overlap and each ends
//! `gap` after its last event, as Flink's `SESSION` windows do. A session closes when the job's
//! watermark reaches its end plus the allowed lateness; until then a late event within the
//! lateness can still extend or merge it.
//!
//! Sessions are kept where a key's events are read: a key's sessions are whole when its events
//! are in one source partition (a topic keyed by the session key, as Kafka Streams requires).
//!
//! Closed sessions are nearly all windows of their own, one row each. So the sessions one close
//! ends are the rows of one [`ClosedWindow`] spanning them all, each row keyed by its group key
//! with its own start and end as two more key parts ([`session_row`] reads them back); a window
//! per session cost the pipeline over three times what the sessions' events did.

use std::fmt::Write as _;

use hashbrown::HashMap;
use serde::{Deserialize, Serialize};

use crate::aggregate::{Acc, Input};
use crate::group_key;
use crate::keyed_accs::KeyedAccs;
use crate::window_close::ClosedWindow;

/// One open session of a key.
#[derive(Debug, Clone, PartialEq)]
struct Session {
    start_ms: i64,
    /// The time of its last event: it ends a gap later.
    last_ms: i64,
    accs: Box<[Acc]>,
}

/// The open sessions of one partition, per group key.
#[derive(Debug, Clone, Default)]
pub struct OpenSessions {
    /// Each key's sessions, ordered by start and never overlapping.
    by_key: HashMap<Box<str>, Vec<Session>>,
}

/// One open session in a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionSnapshot {
    pub key: String,
    pub start_ms: i64,
    pub last_ms: i64,
    pub accs: Vec<Acc>,
}

impl OpenSessions {
    /// Adds one event of `key` at `event_ms` with its `inputs` (one per accumulator): it joins
    /// the sessions of the key it overlaps, merging them, or opens one shaped like `template`.
    pub fn add(
        &mut self,
        key: &str,
        event_ms: i64,
        inputs: &[Input],
        gap_ms: i64,
        template: &[Acc],
    ) {
        let sessions = self.by_key.entry_ref(key).or_default();
        let ends = event_ms.saturating_add(gap_ms);
        // The first session ending after the event, then those starting before its own end.
        let (first, overlapping) = match sessions.last() {
            // Most events come in order: at or after the start of the key's last session,
            // they join it or open the next; no earlier session need be read.
            Some(last) if last.start_ms <= event_ms => {
                let joins = last.last_ms.saturating_add(gap_ms) > event_ms;
                (sessions.len() - usize::from(joins), usize::from(joins))
            }
            _ => {
                let first =
                    sessions.partition_point(|s| s.last_ms.saturating_add(gap_ms) <= event_ms);
                let overlapping = sessions[first..]
                    .iter()
                    .take_while(|s| s.start_ms < ends)
                    .count();
                (first, overlapping)
            }
        };
        if overlapping == 0 {
            sessions.insert(
                first,
                Session {
                    start_ms: event_ms,
                    last_ms: event_ms,
                    accs: template.into(),
                },
            );
        }
        // The event bridges the sessions after the first it overlaps: they join it.
        for _ in 1..overlapping {
            let other = sessions.remove(first + 1);
            let session = &mut sessions[first];
            session.last_ms = session.last_ms.max(other.last_ms);
            for (acc, o) in session.accs.iter_mut().zip(other.accs.iter()) {
                acc.merge(o);
            }
        }
        let session = &mut sessions[first];
        session.start_ms = session.start_ms.min(event_ms);
        session.last_ms = session.last_ms.max(event_ms);
        for (acc, input) in session.accs.iter_mut().zip(inputs) {
            acc.update(*input);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Open sessions.
    pub fn len(&self) -> usize {
        self.by_key.values().map(Vec::len).sum()
    }

    /// The end of the earliest-ending open session.
    pub fn first_end(&self, gap_ms: i64) -> Option<i64> {
        self.by_key
            .values()
            .filter_map(|s| s.first())
            .map(|s| s.last_ms.saturating_add(gap_ms))
            .min()
    }

    /// Bytes the open sessions hold on the heap, about.
    pub fn heap_bytes(&self) -> usize {
        self.by_key
            .iter()
            .map(|(k, s)| {
                k.len()
                    + 16
                    + s.capacity() * std::mem::size_of::<Session>()
                    + s.iter()
                        .map(|s| s.accs.len() * std::mem::size_of::<Acc>())
                        .sum::<usize>()
            })
            .sum()
    }

    /// Removes the sessions that close at `watermark` (`closes_at` of their end), as one window
    /// of `template`'s rows, a row per session keyed as [`session_row`] reads it.
    pub fn close(
        &mut self,
        gap_ms: i64,
        closes_at: impl Fn(i64) -> i64,
        watermark: i64,
        template: &[Acc],
    ) -> Option<ClosedWindow> {
        let mut rows = KeyedAccs::new(template);
        let (mut first_start, mut last_end) = (i64::MAX, i64::MIN);
        let mut row_key = String::new();
        self.by_key.retain(|key, sessions| {
            let closed = sessions
                .iter()
                .take_while(|s| closes_at(s.last_ms.saturating_add(gap_ms)) <= watermark)
                .count();
            for s in sessions.drain(..closed) {
                let end = s.last_ms.saturating_add(gap_ms);
                row_key.clear();
                row_key.push_str(key);
                for bound in [s.start_ms, end] {
                    group_key::push_part(&mut row_key, false, "");
                    let _ = write!(row_key, "{bound}");
                }
                rows.merge_row(&row_key, s.accs.iter().copied());
                first_start = first_start.min(s.start_ms);
                last_end = last_end.max(end);
            }
            !sessions.is_empty()
        });
        (!rows.is_empty()).then_some(ClosedWindow {
            start_ms: first_start,
            end_ms: last_end,
            rows,
        })
    }

    /// The open sessions, ordered by key and start: a checkpoint holds the same state whatever
    /// order the events came in.
    pub fn snapshot(&self) -> Vec<SessionSnapshot> {
        let mut keys: Vec<&Box<str>> = self.by_key.keys().collect();
        keys.sort_unstable();
        keys.into_iter()
            .flat_map(|key| {
                self.by_key[key].iter().map(|s| SessionSnapshot {
                    key: key.to_string(),
                    start_ms: s.start_ms,
                    last_ms: s.last_ms,
                    accs: s.accs.to_vec(),
                })
            })
            .collect()
    }

    /// Sessions as [`Self::snapshot`] gave them, each with `n_aggs` accumulators.
    pub fn restore(snapshot: Vec<SessionSnapshot>, n_aggs: usize) -> Result<Self, String> {
        let mut open = Self::default();
        for s in snapshot {
            if s.accs.len() != n_aggs || s.last_ms < s.start_ms {
                return Err(format!(
                    "session of `{}` at {}: {} accumulators for {n_aggs} aggregates, last event at {}",
                    s.key,
                    s.start_ms,
                    s.accs.len(),
                    s.last_ms
                ));
            }
            let sessions = open.by_key.entry(s.key.into_boxed_str()).or_default();
            if sessions
                .last()
                .is_some_and(|last| last.start_ms >= s.start_ms)
            {
                return Err(format!("sessions at {} out of order", s.start_ms));
            }
            sessions.push(Session {
                start_ms: s.start_ms,
                last_ms: s.last_ms,
                accs: s.accs.into(),
            });
        }
        Ok(open)
    }
}

/// A closed session's row key, as [`OpenSessions::close`] made it: the group key, and the
/// session's start and end; `None` for a key made otherwise.
pub fn session_row(row_key: &str) -> Option<(&str, i64, i64)> {
    let mut parts = row_key.rsplitn(3, group_key::SEPARATOR);
    let end = parts.next()?.parse().ok()?;
    let start = parts.next()?.parse().ok()?;
    Some((parts.next()?, start, end))
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
