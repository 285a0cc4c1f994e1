//! `type = "generator"` sources: content events (or Nexmark's auction events) made inside the
//! worker, deterministically per (partition, offset), like Flink's datagen or Arroyo's impulse.
//! For benchmarks without a broker as the limit, and for trying Floe without Kafka.

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;
use crate::duration::parse_duration;

/// `[job.source.generator]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorConfig {
    /// What it makes: `content` events (default) or `nexmark` events.
    #[serde(default = "default_kind")]
    pub kind: String,
    #[serde(default = "default_partitions")]
    pub partitions: i32,
    /// Events per second over all partitions; 0: as fast as the job takes them.
    #[serde(default)]
    pub rate: u64,
    /// Events per partition; 0: without end.
    #[serde(default)]
    pub events: u64,
    #[serde(default = "default_seed")]
    pub seed: u64,
    #[serde(default = "default_videos")]
    pub videos: u32,
    /// Event time of each partition's first event (epoch ms).
    #[serde(default = "default_start_ms")]
    pub start_ms: i64,
    /// Event time between consecutive events of a partition.
    #[serde(default = "default_step")]
    pub step: String,
    /// Largest amount an event's time lags its place in the partition.
    #[serde(default = "default_disorder")]
    pub disorder: String,
}

fn default_kind() -> String {
    "content".into()
}
fn default_partitions() -> i32 {
    4
}
fn default_seed() -> u64 {
    42
}
fn default_videos() -> u32 {
    1_000
}
fn default_start_ms() -> i64 {
    1_767_225_600_000
}
fn default_step() -> String {
    "1ms".into()
}
fn default_disorder() -> String {
    "5s".into()
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            kind: default_kind(),
            partitions: default_partitions(),
            rate: 0,
            events: 0,
            seed: default_seed(),
            videos: default_videos(),
            start_ms: default_start_ms(),
            step: default_step(),
            disorder: default_disorder(),
        }
    }
}

/// What a generator makes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum GeneratedEvents {
    /// Content events (header + body), over `videos` videos.
    #[default]
    Content,
    /// Nexmark's persons, auctions and bids (one per event time step, no disorder).
    Nexmark,
}

/// A validated generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneratorSpec {
    #[serde(default)]
    pub kind: GeneratedEvents,
    pub partitions: i32,
    pub rate: u64,
    /// Events per partition; `None`: without end.
    pub events: Option<u64>,
    pub seed: u64,
    pub videos: u32,
    pub start_ms: i64,
    pub step_us: i64,
    pub disorder_ms: i64,
}

impl GeneratorSpec {
    /// The event time at `offset` of a partition, before disorder.
    pub fn time_at(&self, offset: i64) -> i64 {
        self.start_ms + offset.saturating_mul(self.step_us) / 1000
    }

    /// The seed of one partition's events.
    pub fn partition_seed(&self, partition: i32) -> u64 {
        self.seed
            .wrapping_add((partition as u64).wrapping_mul(0xA076_1D64_78BD_642F))
    }
}

impl GeneratorConfig {
    /// Checks the settings; `key` names the table in errors.
    pub fn validate(&self, key: &str) -> Result<GeneratorSpec, ConfigError> {
        let k = |f: &str| format!("{key}.{f}");
        if self.partitions < 1 {
            return Err(ConfigError::new(k("partitions"), "must be at least 1"));
        }
        let step = parse_duration(&self.step).map_err(|m| ConfigError::new(k("step"), m))?;
        let disorder =
            parse_duration(&self.disorder).map_err(|m| ConfigError::new(k("disorder"), m))?;
        let kind = match self.kind.as_str() {
            "content" => GeneratedEvents::Content,
            "nexmark" => GeneratedEvents::Nexmark,
            other => {
                return Err(ConfigError::new(
                    k("kind"),
                    format!("`{other}`: expected content or nexmark"),
                ))
            }
        };
        Ok(GeneratorSpec {
            kind,
            partitions: self.partitions,
            rate: self.rate,
            events: (self.events > 0).then_some(self.events),
            seed: self.seed,
            videos: self.videos.max(1),
            start_ms: self.start_ms,
            step_us: step.as_micros() as i64,
            disorder_ms: disorder.as_millis() as i64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_name_their_key() {
        let spec = GeneratorConfig::default()
            .validate("job[0].source.generator")
            .unwrap();
        assert_eq!(spec.events, None);
        assert_eq!(spec.time_at(1_000), spec.start_ms + 1_000);
        assert_ne!(spec.partition_seed(0), spec.partition_seed(1));
        let bad = GeneratorConfig {
            step: "fortnight".into(),
            ..GeneratorConfig::default()
        };
        let err = bad.validate("g").unwrap_err();
        assert_eq!(err.key, "g.step");
        let none = GeneratorConfig {
            partitions: 0,
            ..GeneratorConfig::default()
        };
        assert_eq!(none.validate("g").unwrap_err().key, "g.partitions");
        let unknown = GeneratorConfig {
            kind: "stocks".into(),
            ..GeneratorConfig::default()
        };
        assert_eq!(unknown.validate("g").unwrap_err().key, "g.kind");
    }
}
