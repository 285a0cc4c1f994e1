//! Where each partition's reading starts: the checkpointed position if the partition still
//! holds it, else what the job's out-of-range policy says; a partition the job never read
//! starts at the job's start position, resolved to a concrete offset (kept in the next
//! checkpoint, so "latest" means the latest offset at the job's first start).

use floe_common::config::{OutOfRangePolicy, StartPosition};

/// The offsets a partition holds now: `low` is the first, `high` the next to be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Available {
    pub low: i64,
    pub high: i64,
}

/// Where one partition starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedStart {
    pub offset: i64,
    /// Offsets jumped over because the checkpointed position was gone (retention).
    pub skipped: u64,
}

/// A checkpointed position the partition no longer holds, under the `fail` policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "partition {partition} of topic {topic}: the checkpoint resumes at offset {offset}, but the \
     partition holds offsets {low}..{high} (retention deleted them, or the topic was recreated). \
     Set source.on_offset_out_of_range = \"earliest\" or \"latest\" to go on from there"
)]
pub struct OffsetOutOfRange {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub low: i64,
    pub high: i64,
}

impl PlannedStart {
    /// Logs the move when the position kept for `partition` was gone and the source went on
    /// from elsewhere.
    pub fn warn_if_moved(&self, partition: i32, kept: Option<i64>, available: Available) {
        if kept.is_some_and(|o| o != self.offset) {
            tracing::warn!(
                partition,
                kept,
                low = available.low,
                high = available.high,
                resumed = self.offset,
                skipped = self.skipped,
                "position gone; going on as source.on_offset_out_of_range says"
            );
        }
    }
}

/// Decides where `partition` starts.
pub fn plan_start(
    topic: &str,
    partition: i32,
    checkpointed: Option<i64>,
    available: Available,
    start: StartPosition,
    policy: OutOfRangePolicy,
) -> Result<PlannedStart, OffsetOutOfRange> {
    let at = |position: StartPosition| match position {
        StartPosition::Earliest => available.low,
        StartPosition::Latest => available.high,
    };
    let Some(offset) = checkpointed else {
        return Ok(PlannedStart {
            offset: at(start),
            skipped: 0,
        });
    };
    if (available.low..=available.high).contains(&offset) {
        return Ok(PlannedStart { offset, skipped: 0 });
    }
    match policy {
        OutOfRangePolicy::Fail => Err(OffsetOutOfRange {
            topic: topic.to_owned(),
            partition,
            offset,
            low: available.low,
            high: available.high,
        }),
        OutOfRangePolicy::Skip(to) => {
            let resumed = at(to);
            Ok(PlannedStart {
                offset: resumed,
                skipped: u64::try_from(resumed - offset).unwrap_or(0),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OutOfRangePolicy::{Fail, Skip};
    use StartPosition::{Earliest, Latest};

    const HOLDS: Available = Available {
        low: 100,
        high: 250,
    };

    fn plan(
        checkpointed: Option<i64>,
        start: StartPosition,
        policy: OutOfRangePolicy,
    ) -> Result<(i64, u64), OffsetOutOfRange> {
        plan_start("t", 3, checkpointed, HOLDS, start, policy).map(|p| (p.offset, p.skipped))
    }

    #[test]
    fn a_first_start_resolves_the_start_position_to_an_offset() {
        assert_eq!(plan(None, Earliest, Fail), Ok((100, 0)));
        assert_eq!(plan(None, Latest, Fail), Ok((250, 0)));
    }

    #[test]
    fn a_position_the_partition_still_holds_is_kept() {
        for at in [100, 180, 250] {
            assert_eq!(plan(Some(at), Latest, Fail), Ok((at, 0)));
        }
    }

    #[test]
    fn a_position_gone_to_retention_fails_or_skips_as_configured() {
        let err = plan(Some(40), Earliest, Fail).expect_err("fails by default");
        assert_eq!(
            (err.partition, err.offset, err.low, err.high),
            (3, 40, 100, 250)
        );
        assert!(err.to_string().contains("offsets 100..250"), "{err}");
        assert_eq!(plan(Some(40), Earliest, Skip(Earliest)), Ok((100, 60)));
        assert_eq!(plan(Some(40), Earliest, Skip(Latest)), Ok((250, 210)));
    }

    #[test]
    fn a_position_beyond_the_end_of_a_recreated_topic() {
        assert!(plan(Some(900), Earliest, Fail).is_err());
        assert_eq!(plan(Some(900), Earliest, Skip(Earliest)), Ok((100, 0)));
        assert_eq!(plan(Some(900), Earliest, Skip(Latest)), Ok((250, 0)));
    }
}
