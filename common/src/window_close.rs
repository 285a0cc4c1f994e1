//! Where a window closes: at a barrier, the windows of a partition's slices that the job's
//! watermark has passed since the last barrier are each merged from their slices, and the
//! slices no open window holds any more are dropped; the committer then merges each window's
//! partials from every partition and worker into one row per key.

use std::collections::BTreeMap;

use crate::aggregate::Acc;
use crate::config::WindowSpec;
use crate::keyed_accs::KeyedAccs;

/// A window whose watermark has passed: its final rows.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedWindow {
    pub start_ms: i64,
    pub end_ms: i64,
    pub rows: KeyedAccs,
}

/// Merges closed windows from several sources (a worker's partitions, or workers) into one
/// list ordered by window start and end, each window's partials folded into one set of rows.
pub fn merge_closed(parts: impl IntoIterator<Item = ClosedWindow>) -> Vec<ClosedWindow> {
    let mut by_window: BTreeMap<(i64, i64), Vec<KeyedAccs>> = BTreeMap::new();
    for part in parts {
        by_window
            .entry((part.start_ms, part.end_ms))
            .or_default()
            .push(part.rows);
    }
    by_window
        .into_iter()
        .filter_map(|((start_ms, end_ms), partials)| {
            Some(ClosedWindow {
                start_ms,
                end_ms,
                rows: KeyedAccs::merged(partials)?,
            })
        })
        .collect()
}

/// `windows`, each one's rows made anew by `fill` from its rows into an empty set shaped like
/// `template`; a window left without a row is dropped.
pub fn remake_rows(
    windows: &[ClosedWindow],
    template: &[Acc],
    mut fill: impl FnMut(&KeyedAccs, &mut KeyedAccs),
) -> Vec<ClosedWindow> {
    windows
        .iter()
        .filter_map(|w| {
            let mut rows = KeyedAccs::new(template);
            fill(&w.rows, &mut rows);
            (!rows.is_empty()).then(|| ClosedWindow {
                start_ms: w.start_ms,
                end_ms: w.end_ms,
                rows,
            })
        })
        .collect()
}

/// The windows of one partition's `slices` that close in `(emitted_until, watermark]`, each the
/// merge of its slices; then the slices whose every window has closed are dropped. A window
/// holding a single slice that it is the last window of takes that slice's rows as they are
/// (always so for tumbling windows).
pub(crate) fn close_windows(
    window: &WindowSpec,
    template: &[Acc],
    slices: &mut BTreeMap<i64, KeyedAccs>,
    emitted_until: i64,
    watermark: i64,
) -> Vec<ClosedWindow> {
    let closing = |end: i64| {
        let at = window.window_closes_at(end);
        emitted_until < at && at <= watermark
    };
    let mut windows: BTreeMap<(i64, i64), Vec<i64>> = BTreeMap::new();
    for slice in slices.keys() {
        let mut holding = window.windows_of(*slice).peekable();
        if holding
            .peek()
            .is_none_or(|(_, end)| window.window_closes_at(*end) > watermark)
        {
            // Later slices' windows close later still.
            break;
        }
        for w in holding.filter(|(_, end)| closing(*end)) {
            windows.entry(w).or_default().push(*slice);
        }
    }
    let mut closed = Vec::with_capacity(windows.len());
    for ((start_ms, end_ms), held) in windows {
        let rows = match held.as_slice() {
            [only] if window.last_window_of(*only) == (start_ms, end_ms) => slices.remove(only),
            _ => {
                let mut rows = KeyedAccs::new(template);
                for s in &held {
                    if let Some(slice) = slices.get(s) {
                        rows.merge(slice);
                    }
                }
                Some(rows)
            }
        };
        if let Some(rows) = rows {
            closed.push(ClosedWindow {
                start_ms,
                end_ms,
                rows,
            });
        }
    }
    let spent: Vec<i64> = slices
        .keys()
        .copied()
        .take_while(|s| window.is_closed(*s, watermark))
        .collect();
    for s in spent {
        slices.remove(&s);
    }
    closed
}
