//! A job's shape: what its checkpointed state means. State restored into a job of another shape
//! (other window, keys, aggregates or event time) would give wrong rows, so checkpoints carry
//! the fingerprint of the shape that wrote them.

use crate::config::JobSpec;

/// A stable digest of everything a job's window state depends on: event time, group keys,
/// window and aggregates. Not the source or sinks: moving a job to another broker or table keeps
/// its state meaningful.
pub fn fingerprint(job: &JobSpec) -> String {
    let shape = format!(
        "event_time={:?}/{:?};group_by={:?};window={:?};aggregates={:?}",
        job.event_time, job.event_time_unit, job.group_by, job.window, job.aggregates
    );
    format!("{:016x}", fnv1a(shape.as_bytes()))
}

/// FNV-1a, 64 bit: stable across builds and platforms (unlike `DefaultHasher`).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::example_job as job;

    #[test]
    fn changes_with_the_shape_and_only_with_it() {
        let base = job();
        assert_eq!(fingerprint(&base), fingerprint(&job()));
        let mut moved = job();
        moved.source.brokers = "elsewhere:9092".into();
        moved.table.name = "gold.other".into();
        assert_eq!(fingerprint(&base), fingerprint(&moved));
        let mut wider = job();
        wider.window.size_ms *= 5;
        assert_ne!(fingerprint(&base), fingerprint(&wider));
        let mut fewer = job();
        fewer.aggregates.pop();
        assert_ne!(fingerprint(&base), fingerprint(&fewer));
        let mut rekeyed = job();
        rekeyed.group_by[0].0 = "video".into();
        assert_ne!(fingerprint(&base), fingerprint(&rekeyed));
    }
}
