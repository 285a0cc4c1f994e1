//! The built-in generator (`source.type = "generator"`): content events made from a seed, as
//! many partitions as configured, each ending after its configured events (or never).

pub mod content_events;
pub mod nexmark;
pub mod reader;

use std::collections::BTreeMap;

use floe_common::generator_source::GeneratorSpec;

use crate::{PartitionSource, SourceError};

/// The partitions of the built-in generator: as many as it is configured with, each ending
/// after its configured events.
#[derive(Debug)]
pub struct GeneratorPartitions(pub GeneratorSpec);

impl PartitionSource for GeneratorPartitions {
    fn partitions(&self) -> Result<Vec<i32>, SourceError> {
        Ok((0..self.0.partitions).collect())
    }

    fn end_offsets(&self) -> Result<BTreeMap<i32, i64>, SourceError> {
        let Some(events) = self.0.events else {
            return Ok(BTreeMap::new());
        };
        let end = i64::try_from(events).unwrap_or(i64::MAX);
        Ok((0..self.0.partitions).map(|p| (p, end)).collect())
    }
}
