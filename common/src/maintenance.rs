//! How Floe keeps a job's tables healthy as they age: which snapshots to keep, when manifests
//! are merged, which unreferenced files may go, and how often that work runs.
//!
//! The defaults bound a table at any checkpoint interval from 10 s down to 250 ms: maintenance
//! runs every minute or every 50 checkpoints, a table keeps at most
//! [`MaintenancePolicy::max_snapshots`] snapshots (a `metadata.json` of ~100 KB), and its
//! current snapshot reads at most [`MaintenancePolicy::max_manifests`] data manifests plus
//! those of the checkpoints since the last run.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;
use crate::duration::parse_duration;

/// The youngest files orphan cleanup may take: a checkpoint's files are written before its
/// manifest names them, and no checkpoint takes this long.
pub const MIN_ORPHAN_AGE: Duration = Duration::from_secs(3600);

/// `[job.sink.maintenance]`, as written; every key is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceConfig {
    /// `false` turns maintenance off for the job's tables (`floe maintain` still works).
    pub enabled: Option<bool>,
    /// How often maintenance runs beside the stream (`1m`)...
    pub interval: Option<String>,
    /// ...or after this many checkpoints, whichever comes first (`50`).
    pub every_checkpoints: Option<u64>,
    /// Snapshots older than this expire (`1h`; the data platforms Floe replaces use `7d`).
    pub expire_after: Option<String>,
    /// The newest snapshots kept whatever their age (`10`).
    pub retain_last: Option<usize>,
    /// The most snapshots a table keeps, the newest ones, whatever their age (`100`).
    pub max_snapshots: Option<usize>,
    /// The current snapshot's data manifests are merged past this many (`50`).
    pub max_manifests: Option<usize>,
    /// Files no snapshot references are deleted once older than this (`1d`).
    pub orphan_min_age: Option<String>,
    /// A partition's small data files are compacted once it has this many (`10`).
    pub compact_min_files: Option<usize>,
    /// Bytes of small files one run compacts at most (`1GB`).
    pub compact_max_bytes: Option<String>,
}

/// The validated maintenance of one job's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintenancePolicy {
    pub enabled: bool,
    pub interval: Duration,
    pub every_checkpoints: u64,
    pub expire_after: Duration,
    pub retain_last: usize,
    pub max_snapshots: usize,
    pub max_manifests: usize,
    pub orphan_min_age: Duration,
    /// The size compaction writes files at: `sink.target_file_size` (`128MB`).
    pub target_file_bytes: u64,
    pub compact_min_files: usize,
    pub compact_max_bytes: u64,
}

impl Default for MaintenancePolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(60),
            every_checkpoints: 50,
            expire_after: Duration::from_secs(3600),
            retain_last: 10,
            max_snapshots: 100,
            max_manifests: 50,
            orphan_min_age: Duration::from_secs(86_400),
            target_file_bytes: 128 << 20,
            compact_min_files: 10,
            compact_max_bytes: 1 << 30,
        }
    }
}

impl MaintenancePolicy {
    /// How often orphan cleanup lists a table's files: it only finds files older than
    /// `orphan_min_age`, so a 24th of that (an hour by default) is often enough.
    pub fn orphan_interval(&self) -> Duration {
        self.interval.max(self.orphan_min_age / 24)
    }
}

impl MaintenanceConfig {
    /// The policy these settings give, defaults filled in; errors name the key under `at`.
    pub fn validate(&self, at: &str) -> Result<MaintenancePolicy, ConfigError> {
        let d = MaintenancePolicy::default();
        let duration = |key: &str, text: &Option<String>, default: Duration| match text {
            None => Ok(default),
            Some(text) => parse_duration(text)
                .map_err(|e| ConfigError::new(format!("{at}.{key}"), e))
                .and_then(|v| {
                    if v.is_zero() {
                        Err(ConfigError::new(format!("{at}.{key}"), "must be positive"))
                    } else {
                        Ok(v)
                    }
                }),
        };
        let at_least_one = |key: &str, n: Option<usize>, default: usize| match n {
            Some(0) => Err(ConfigError::new(
                format!("{at}.{key}"),
                "must be at least 1",
            )),
            Some(n) => Ok(n),
            None => Ok(default),
        };
        let policy = MaintenancePolicy {
            enabled: self.enabled.unwrap_or(d.enabled),
            interval: duration("interval", &self.interval, d.interval)?,
            every_checkpoints: match self.every_checkpoints {
                Some(0) => {
                    return Err(ConfigError::new(
                        format!("{at}.every_checkpoints"),
                        "must be at least 1",
                    ))
                }
                Some(n) => n,
                None => d.every_checkpoints,
            },
            expire_after: duration("expire_after", &self.expire_after, d.expire_after)?,
            retain_last: at_least_one("retain_last", self.retain_last, d.retain_last)?,
            max_snapshots: at_least_one("max_snapshots", self.max_snapshots, d.max_snapshots)?,
            max_manifests: at_least_one("max_manifests", self.max_manifests, d.max_manifests)?,
            orphan_min_age: duration("orphan_min_age", &self.orphan_min_age, d.orphan_min_age)?,
            target_file_bytes: d.target_file_bytes,
            compact_min_files: match self.compact_min_files {
                Some(n) if n < 2 => {
                    return Err(ConfigError::new(
                        format!("{at}.compact_min_files"),
                        "must be at least 2",
                    ))
                }
                Some(n) => n,
                None => d.compact_min_files,
            },
            compact_max_bytes: match &self.compact_max_bytes {
                None => d.compact_max_bytes,
                Some(text) => crate::config::byte_size(text)
                    .filter(|b| *b >= 1 << 20)
                    .ok_or_else(|| {
                        ConfigError::new(
                            format!("{at}.compact_max_bytes"),
                            format!("`{text}`: expected a size of at least 1MB, like 1GB"),
                        )
                    })?,
            },
        };
        if policy.orphan_min_age < MIN_ORPHAN_AGE {
            return Err(ConfigError::new(
                format!("{at}.orphan_min_age"),
                "must be at least 1h: a younger file may belong to a checkpoint still being written",
            ));
        }
        if policy.retain_last > policy.max_snapshots {
            return Err(ConfigError::new(
                format!("{at}.retain_last"),
                format!(
                    "{} is more than max_snapshots ({})",
                    policy.retain_last, policy.max_snapshots
                ),
            ));
        }
        Ok(policy)
    }
}

/// Which snapshots of a branch expire: `ancestry` is the branch's snapshots, newest first, as
/// `(snapshot id, timestamp ms)`. The newest `retain_last` stay; of the others, those older
/// than `expire_after` before `now_ms` go, and so does everything past the newest
/// `max_snapshots`.
pub fn snapshots_to_expire(
    ancestry: &[(i64, i64)],
    now_ms: i64,
    policy: &MaintenancePolicy,
) -> Vec<i64> {
    let cutoff =
        now_ms.saturating_sub(i64::try_from(policy.expire_after.as_millis()).unwrap_or(i64::MAX));
    ancestry
        .iter()
        .enumerate()
        .filter(|(i, (_, ts))| {
            *i >= policy.retain_last && (*i >= policy.max_snapshots || *ts < cutoff)
        })
        .map(|(_, (id, _))| *id)
        .collect()
}

/// When maintenance is next due: every `interval`, or after `every` checkpoints, counted from
/// the last run; the first check after start is due at once, so a restarted job tidies what
/// its predecessor left.
#[derive(Debug, Clone)]
pub struct MaintenanceSchedule {
    interval: Duration,
    every: u64,
    last_run: Option<std::time::Instant>,
    checkpoints: u64,
}

impl MaintenanceSchedule {
    pub fn new(interval: Duration, every_checkpoints: u64) -> Self {
        Self {
            interval,
            every: every_checkpoints,
            last_run: None,
            checkpoints: 0,
        }
    }

    /// Counts a checkpoint, then says whether a run is due at `now`; a due run counts as
    /// started.
    pub fn checkpoint_due(&mut self, now: std::time::Instant) -> bool {
        self.checkpoints += 1;
        let due = self.checkpoints >= self.every
            || self
                .last_run
                .is_none_or(|last| now.saturating_duration_since(last) >= self.interval);
        if due {
            self.last_run = Some(now);
            self.checkpoints = 0;
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(retain_last: usize, max_snapshots: usize, expire_after_ms: u64) -> MaintenancePolicy {
        MaintenancePolicy {
            retain_last,
            max_snapshots,
            expire_after: Duration::from_millis(expire_after_ms),
            ..Default::default()
        }
    }

    #[test]
    fn old_snapshots_expire_but_the_newest_are_kept() {
        // Newest first: ids 5..1 at 50, 40, 30, 20, 10 ms.
        let ancestry: Vec<(i64, i64)> = (1..=5).rev().map(|i| (i, i * 10)).collect();
        assert_eq!(
            snapshots_to_expire(&ancestry, 100, &policy(1, 100, 65)),
            vec![3, 2, 1],
            "older than 35 ms"
        );
        assert_eq!(
            snapshots_to_expire(&ancestry, 100, &policy(4, 100, 1)),
            vec![1],
            "retain_last wins over age"
        );
        assert_eq!(
            snapshots_to_expire(&ancestry, 100, &policy(1, 2, 1_000)),
            vec![3, 2, 1],
            "max_snapshots caps young snapshots too"
        );
        assert!(snapshots_to_expire(&ancestry, 100, &policy(1, 100, 1_000)).is_empty());
    }

    #[test]
    fn config_defaults_and_errors() {
        let policy = MaintenanceConfig::default().validate("job[0].sink.maintenance");
        assert_eq!(policy.ok(), Some(MaintenancePolicy::default()));
        let set = MaintenanceConfig {
            expire_after: Some("7d".into()),
            retain_last: Some(3),
            ..Default::default()
        }
        .validate("m")
        .expect("valid");
        assert_eq!(set.expire_after, Duration::from_secs(7 * 86_400));
        assert_eq!(set.retain_last, 3);
        let bad = |c: MaintenanceConfig| c.validate("m").expect_err("invalid").key;
        assert_eq!(
            bad(MaintenanceConfig {
                interval: Some("10".into()),
                ..Default::default()
            }),
            "m.interval"
        );
        assert_eq!(
            bad(MaintenanceConfig {
                orphan_min_age: Some("5m".into()),
                ..Default::default()
            }),
            "m.orphan_min_age"
        );
        assert_eq!(
            bad(MaintenanceConfig {
                retain_last: Some(0),
                ..Default::default()
            }),
            "m.retain_last"
        );
        assert_eq!(
            bad(MaintenanceConfig {
                retain_last: Some(20),
                max_snapshots: Some(10),
                ..Default::default()
            }),
            "m.retain_last"
        );
    }

    #[test]
    fn runs_are_due_at_start_then_every_interval_or_count() {
        let start = std::time::Instant::now();
        let mut schedule = MaintenanceSchedule::new(Duration::from_secs(60), 3);
        assert!(schedule.checkpoint_due(start));
        assert!(!schedule.checkpoint_due(start + Duration::from_secs(59)));
        assert!(schedule.checkpoint_due(start + Duration::from_secs(60)));
        // Three quick checkpoints.
        assert!(!schedule.checkpoint_due(start + Duration::from_secs(61)));
        assert!(!schedule.checkpoint_due(start + Duration::from_secs(61)));
        assert!(schedule.checkpoint_due(start + Duration::from_secs(61)));
    }
}
