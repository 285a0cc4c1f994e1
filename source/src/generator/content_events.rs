//! Content events (header + body, `formats.md` §1), deterministic: the event with a given id
//! under a given seed is always the same. `floe gen`, the demo, the benchmarks and the built-in
//! generator source all make them here.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// A seeded stream of content events.
#[derive(Debug, Clone)]
pub struct ContentEvents {
    seed: u64,
    videos: u32,
    disorder_ms: i64,
    next_id: u64,
}

/// One generated event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedEvent {
    pub video_id: String,
    pub event_ts: i64,
    pub json: String,
}

impl ContentEvents {
    pub fn new(seed: u64, videos: u32, disorder_ms: i64) -> Self {
        Self {
            seed,
            videos: videos.max(1),
            disorder_ms: disorder_ms.max(0),
            next_id: 0,
        }
    }

    /// The next event, with an event time of `now_ms` minus up to the disorder.
    pub fn next_event(&mut self, now_ms: i64) -> GeneratedEvent {
        let id = self.next_id;
        self.next_id += 1;
        self.event_at(id, now_ms)
    }

    /// Event `id`, with an event time of `now_ms` minus up to the disorder.
    pub fn event_at(&self, id: u64, now_ms: i64) -> GeneratedEvent {
        let mut rng = SmallRng::seed_from_u64(self.seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let video = rng.random_range(0..self.videos);
        let kind = match rng.random_range(0..100) {
            0..70 => "impression",
            70..85 => "like",
            85..90 => "share",
            90..98 => "completion",
            _ => "comment",
        };
        let lag = if self.disorder_ms > 0 {
            rng.random_range(0..=self.disorder_ms)
        } else {
            0
        };
        let event_ts = now_ms - lag;
        let user = rng.random_range(0..100_000);
        let watch = match kind {
            "impression" | "completion" => {
                format!(r#","watch_ms":{}"#, rng.random_range(0..60_000))
            }
            _ => String::new(),
        };
        let video_id = format!("v_{video}");
        let json = format!(
            r#"{{"header":{{"event_id":"e-{id:09}","event_type":"{kind}","event_ts":{event_ts},"schema_version":1}},"body":{{"video_id":"{video_id}","user_id":"u_{user}"{watch}}}}}"#
        );
        GeneratedEvent {
            video_id,
            event_ts,
            json,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_events_with_bounded_disorder() {
        let mut a = ContentEvents::new(7, 10, 3_000);
        let b = ContentEvents::new(7, 10, 3_000);
        for i in 0..1_000 {
            let x = a.next_event(100_000 + i);
            assert_eq!(x, b.event_at(i as u64, 100_000 + i), "random access agrees");
            assert!(x.event_ts <= 100_000 + i && x.event_ts >= 100_000 + i - 3_000);
            let v: serde_json::Value = serde_json::from_str(&x.json).unwrap();
            assert_eq!(v["body"]["video_id"], x.video_id.as_str());
            assert_eq!(v["header"]["event_ts"], x.event_ts);
        }
        assert_ne!(
            ContentEvents::new(8, 10, 3_000).event_at(0, 0),
            b.event_at(0, 0)
        );
    }
}
