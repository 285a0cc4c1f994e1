//! The yardstick the engine's figures are divided by: the gold job written as a plain loop
//! over the same records (serde_json into borrowed structs, one hashbrown map per window, the
//! same six aggregates), with none of Floe's generality. A ratio to it compares across machines
//! of different speed.

use std::borrow::Cow;

use hashbrown::HashMap;
use serde::Deserialize;

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(borrow)]
    header: Header<'a>,
    #[serde(borrow)]
    body: Body<'a>,
}

#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    event_type: Cow<'a, str>,
    event_ts: i64,
}

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(borrow)]
    video_id: Cow<'a, str>,
    watch_ms: Option<i64>,
}

/// events, impressions, likes, shares, completions, watch_ms_sum.
type Row = [i64; 6];

/// Window start → video → row.
#[derive(Default)]
pub struct PlainLoop {
    windows: HashMap<i64, HashMap<String, Row>>,
    pub unreadable: u64,
}

impl PlainLoop {
    pub fn add(&mut self, json: &[u8], window_ms: i64) {
        let Ok(e) = serde_json::from_slice::<Event>(json) else {
            self.unreadable += 1;
            return;
        };
        let start = e.header.event_ts.div_euclid(window_ms) * window_ms;
        let keys = self.windows.entry(start).or_default();
        let row = match keys.get_mut(e.body.video_id.as_ref()) {
            Some(row) => row,
            None => keys.entry(e.body.video_id.into_owned()).or_default(),
        };
        row[0] += 1;
        match e.header.event_type.as_ref() {
            "impression" => row[1] += 1,
            "like" => row[2] += 1,
            "share" => row[3] += 1,
            "completion" => row[4] += 1,
            _ => {}
        }
        row[5] = row[5].wrapping_add(e.body.watch_ms.unwrap_or(0));
    }

    /// (window, key) rows held.
    pub fn rows(&self) -> usize {
        self.windows.values().map(|w| w.len()).sum()
    }

    /// Events counted, over every row.
    pub fn events(&self) -> i64 {
        self.windows
            .values()
            .flat_map(|w| w.values())
            .map(|r| r[0])
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_six_aggregates_per_window_and_video() {
        let mut l = PlainLoop::default();
        let rec = |t: &str, ts: i64, v: &str, w: &str| {
            format!(
                r#"{{"header":{{"event_id":"x","event_type":"{t}","event_ts":{ts}}},"body":{{"video_id":"{v}"{w}}}}}"#
            )
        };
        l.add(
            rec("impression", 1_000, "a", r#","watch_ms":5"#).as_bytes(),
            60_000,
        );
        l.add(rec("like", 2_000, "a", "").as_bytes(), 60_000);
        l.add(rec("share", 61_000, "a", "").as_bytes(), 60_000);
        l.add(
            rec("completion", 3_000, "b", r#","watch_ms":7"#).as_bytes(),
            60_000,
        );
        l.add(b"not json", 60_000);
        assert_eq!(l.windows[&0]["a"], [2, 1, 1, 0, 0, 5]);
        assert_eq!(l.windows[&0]["b"], [1, 0, 0, 0, 1, 7]);
        assert_eq!(l.windows[&60_000]["a"], [1, 0, 0, 1, 0, 0]);
        assert_eq!((l.rows(), l.events(), l.unreadable), (3, 4, 1));
    }
}
