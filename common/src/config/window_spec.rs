//! Which windows an event belongs to, and when each one closes.
//!
//! Every kind of window is cut into slices, as Flink and Arroyo do: an event updates the one
//! slice holding its time, and a window is the merge of the slices it spans. A tumbling window
//! is one slice; a hopping window of size `size` and slide `slide` spans `size / slide` slices
//! of length `slide`; a cumulating window of step `step` grows from its start by one slice of
//! length `step` at a time until it reaches `size`. So an event is never copied into the
//! several windows that hold it.
//!
//! A window closes when the job's watermark reaches its end plus the allowed lateness. A slice
//! lives until the last window holding it has closed; an event whose slice has no open window
//! left is late.
//!
//! Session windows are not sliced: their bounds depend on each key's events, so they are kept
//! per key ([`crate::session::OpenSessions`]).

/// The kind of window a job aggregates over, with what sets its slices apart from its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum WindowKind {
    /// Back-to-back windows of the size: Flink's `TUMBLE`.
    Tumbling,
    /// Windows of the size starting every `slide_ms`: Flink's `HOP`.
    Hopping { slide_ms: i64 },
    /// Windows starting every size, ending every `step_ms` after their start until they are
    /// the size: Flink's `CUMULATE`.
    Cumulating { step_ms: i64 },
    /// Per group key, events less than `gap_ms` apart, ending `gap_ms` after the last one:
    /// Flink's `SESSION`. Its window's size is the gap.
    Session { gap_ms: i64 },
}

/// Validated windowing: sizes in milliseconds. An append job has no windows: its size is
/// `i64::MAX`, so no window ever closes, and only the watermark settings apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WindowSpec {
    pub size_ms: i64,
    pub kind: WindowKind,
    pub watermark_delay_ms: i64,
    pub allowed_lateness_ms: i64,
    pub idle_timeout_ms: u64,
    /// How far event time may run ahead of the wall clock before a record is taken as broken
    /// (a dead letter) rather than lifting its partition's watermark into the future.
    pub max_ahead_ms: i64,
}

impl WindowSpec {
    /// The length of a slice: the size of a tumbling window, a hopping window's slide, a
    /// cumulating window's step. (Sessions are not sliced; the slice methods take a session's
    /// gap as a tumbling window's size.)
    pub fn slice_ms(&self) -> i64 {
        match self.kind {
            WindowKind::Tumbling | WindowKind::Session { .. } => self.size_ms,
            WindowKind::Hopping { slide_ms } => slide_ms,
            WindowKind::Cumulating { step_ms } => step_ms,
        }
    }

    /// Start of the slice holding `event_ms`.
    pub fn slice_of(&self, event_ms: i64) -> i64 {
        let slice = self.slice_ms();
        event_ms.div_euclid(slice) * slice
    }

    /// Every window holding the slice starting at `slice_ms`, as `(start, end)`, in order of
    /// end (so of closing).
    pub fn windows_of(&self, slice_ms: i64) -> impl Iterator<Item = (i64, i64)> + use<> {
        let (size, kind) = (self.size_ms, self.kind);
        let count = match kind {
            WindowKind::Tumbling | WindowKind::Session { .. } => 1,
            WindowKind::Hopping { slide_ms } => size / slide_ms,
            WindowKind::Cumulating { step_ms } => {
                (slice_ms.div_euclid(size) * size + size - slice_ms) / step_ms
            }
        };
        (0..count).map(move |i| match kind {
            WindowKind::Tumbling | WindowKind::Session { .. } => {
                (slice_ms, slice_ms.saturating_add(size))
            }
            WindowKind::Hopping { slide_ms } => {
                let start = slice_ms - size + (i + 1) * slide_ms;
                (start, start + size)
            }
            WindowKind::Cumulating { step_ms } => (
                slice_ms.div_euclid(size) * size,
                slice_ms + (i + 1) * step_ms,
            ),
        })
    }

    /// The last window holding the slice starting at `slice_ms`: the one a late event of that
    /// slice is reported against.
    pub fn last_window_of(&self, slice_ms: i64) -> (i64, i64) {
        match self.kind {
            WindowKind::Tumbling | WindowKind::Hopping { .. } | WindowKind::Session { .. } => {
                (slice_ms, slice_ms.saturating_add(self.size_ms))
            }
            WindowKind::Cumulating { .. } => {
                let start = slice_ms.div_euclid(self.size_ms) * self.size_ms;
                (start, start + self.size_ms)
            }
        }
    }

    /// The watermark at which a window ending at `end_ms` closes.
    pub fn window_closes_at(&self, end_ms: i64) -> i64 {
        end_ms.saturating_add(self.allowed_lateness_ms)
    }

    /// The watermark at which the last window holding the slice starting at `slice_ms`
    /// closes: from then on the slice is gone and its events are late.
    pub fn closes_at(&self, slice_ms: i64) -> i64 {
        self.window_closes_at(self.last_window_of(slice_ms).1)
    }

    /// Whether every window holding the slice starting at `slice_ms` is closed at `watermark`.
    pub fn is_closed(&self, slice_ms: i64, watermark: i64) -> bool {
        self.closes_at(slice_ms) <= watermark
    }

    /// Whether an event at `event_ms`, in the slice starting at `slice_ms`, judged against
    /// `watermark`, is late: for slices, when every window of its slice is closed; for
    /// sessions, when the session it would start is closed, or when a session the job has
    /// emitted (closed at `job_watermark` or before) could hold it, so it cannot change a row
    /// already written.
    pub fn is_late(
        &self,
        event_ms: i64,
        slice_ms: i64,
        job_watermark: i64,
        watermark: i64,
    ) -> bool {
        match self.kind {
            WindowKind::Session { gap_ms } => {
                self.window_closes_at(event_ms.saturating_add(gap_ms)) <= watermark
                    || self.window_closes_at(event_ms) < job_watermark
            }
            _ => self.is_closed(slice_ms, watermark),
        }
    }

    /// The start of the window a late event at `event_ms`, in the slice starting at
    /// `slice_ms`, is reported against: the last one of its slice, or the session it would
    /// have started.
    pub fn late_window_start(&self, event_ms: i64, slice_ms: i64) -> i64 {
        match self.kind {
            WindowKind::Session { .. } => event_ms,
            _ => self.last_window_of(slice_ms).0,
        }
    }
}

/// The windows holding `event_ms`, as `(start, end)` in order of end, found from the kinds'
/// definitions (a window starts at every multiple of the size, or of a hopping window's slide)
/// rather than from slices: what tests check slices against.
#[cfg(test)]
pub(crate) fn windows_by_definition(w: &WindowSpec, event_ms: i64) -> Vec<(i64, i64)> {
    let every = match w.kind {
        WindowKind::Hopping { slide_ms } => slide_ms,
        WindowKind::Tumbling | WindowKind::Cumulating { .. } | WindowKind::Session { .. } => {
            w.size_ms
        }
    };
    let first = (event_ms - w.size_ms).div_euclid(every) * every;
    let mut found = Vec::new();
    for start in (first..=event_ms).step_by(every as usize) {
        let ends: Vec<i64> = match w.kind {
            WindowKind::Cumulating { step_ms } => (1..=w.size_ms / step_ms)
                .map(|i| start + i * step_ms)
                .collect(),
            WindowKind::Tumbling | WindowKind::Hopping { .. } | WindowKind::Session { .. } => {
                vec![start + w.size_ms]
            }
        };
        found.extend(
            ends.into_iter()
                .filter(|end| (start..*end).contains(&event_ms))
                .map(|end| (start, end)),
        );
    }
    found.sort_by_key(|(_, end)| *end);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(size_ms: i64, kind: WindowKind) -> WindowSpec {
        WindowSpec {
            size_ms,
            kind,
            watermark_delay_ms: 0,
            allowed_lateness_ms: 5,
            idle_timeout_ms: 1,
            max_ahead_ms: 0,
        }
    }

    #[test]
    fn an_event_is_in_the_windows_of_its_slice_and_its_slice_lives_until_the_last_closes() {
        let kinds = [
            spec(60, WindowKind::Tumbling),
            spec(60, WindowKind::Hopping { slide_ms: 20 }),
            spec(60, WindowKind::Hopping { slide_ms: 60 }),
            spec(60, WindowKind::Cumulating { step_ms: 20 }),
        ];
        for w in kinds {
            for event_ms in [-70, -1, 0, 5, 19, 20, 59, 60, 61, 119, 125] {
                let slice = w.slice_of(event_ms);
                assert!((slice..slice + w.slice_ms()).contains(&event_ms));
                let windows: Vec<_> = w.windows_of(slice).collect();
                assert_eq!(
                    windows,
                    windows_by_definition(&w, event_ms),
                    "{w:?} at {event_ms}"
                );
                let last = *windows.last().expect("a slice is in a window");
                assert_eq!(w.last_window_of(slice), last);
                assert_eq!(w.closes_at(slice), last.1 + 5);
                assert!(!w.is_closed(slice, last.1 + 4) && w.is_closed(slice, last.1 + 5));
            }
        }
    }

    #[test]
    fn an_append_jobs_single_endless_window_never_closes() {
        let w = spec(i64::MAX, WindowKind::Tumbling);
        let slice = w.slice_of(1_700_000_000_000);
        assert_eq!(slice, 0);
        assert_eq!(w.windows_of(slice).count(), 1);
        assert!(!w.is_closed(slice, i64::MAX - 1));
    }
}
