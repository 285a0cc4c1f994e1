//! A job's shape: what its checkpointed state means. State restored into a job of another shape
//! (other window, keys, aggregates or event time) would give wrong rows, so checkpoints carry
//! the fingerprint of the shape that wrote them.

use std::hash::Hasher;

use crate::config::{JobSpec, WindowKind};
use crate::expr::{BinaryOp, Expr, ExprOf, Literal};

/// A stable digest of everything a job's window state means: event time, group keys, window
/// size and aggregates, and whether positions are byte offsets in files. Not the source's
/// address or the sinks (moving a job to another broker or table keeps its state meaningful),
/// nor tuning that leaves the state's meaning alone (watermark delay, allowed lateness, idle
/// timeout, `max_ahead`). Versioned, so that a later encoding can still
/// read this one's meaning.
pub fn fingerprint(job: &JobSpec) -> String {
    let mut shape = format!(
        "v1;event_time={}/{:?};window={}",
        job.event_time, job.event_time_unit, job.window.size_ms
    );
    match job.window.kind {
        WindowKind::Tumbling => {}
        // Its state is each key's sessions of this gap.
        WindowKind::Session { gap_ms } => shape.push_str(&format!(";sessions={gap_ms}")),
        // Its state is slices of this length, each in the windows this kind makes of them.
        kind => shape.push_str(&format!(";slices={kind:?}")),
    }
    if job.source.files.is_some() {
        // Its positions are byte offsets, not Kafka offsets.
        shape.push_str(";files");
    }
    if let Some(append) = job.append() {
        // Its state is positions only; what it appends does not change their meaning.
        shape.push_str(";append");
        if let Some(dedup) = &append.dedup {
            // And the keys seen, which the key's fields give their meaning.
            let key: Vec<String> = dedup.key.iter().map(ToString::to_string).collect();
            shape.push_str(&format!(";dedup={}", key.join(",")));
        }
    }
    if let Some(filter) = &job.filter {
        // Which records enter the windows.
        shape.push_str(&format!(";where={}", condition_shape(filter)));
    }
    for (column, value) in &job.group_by {
        shape.push_str(&format!(";key={column}={}", value_shape(value)));
    }
    for a in &job.aggregates {
        shape.push_str(&format!(
            ";agg={}:{:?}:{}:{}:{:?}",
            a.column,
            a.function,
            a.field.as_ref().map(value_shape).unwrap_or_default(),
            match &a.filter {
                Some(f) => format!("Some({})", condition_shape(f)),
                None => "None".into(),
            },
            a.value_type
        ));
    }
    // FNV-1a is stable across builds and platforms (unlike `DefaultHasher`).
    let mut hash = fnv::FnvHasher::default();
    hash.write(shape.as_bytes());
    format!("{:016x}", hash.finish())
}

/// A value in the fingerprint: a field as fields read before expressions, so that their
/// checkpoints still restore; any other expression as its SQL text.
fn value_shape(value: &Expr) -> String {
    match value.as_field() {
        Some(path) => path.to_string(),
        None => value.to_string(),
    }
}

/// A condition in the fingerprint. A conjunction of comparisons of a field with a constant,
/// all conditions could be before expressions, reads as it did then, so their checkpoints
/// still restore; any other is its SQL text.
fn condition_shape(condition: &Expr) -> String {
    fn comparisons(e: &Expr, out: &mut Vec<String>) -> Option<()> {
        let ExprOf::Binary { op, left, right } = e else {
            return None;
        };
        match op {
            BinaryOp::And => {
                comparisons(left, out)?;
                comparisons(right, out)
            }
            BinaryOp::Cmp(cmp) => {
                let path = left.as_field()?.segments();
                let literal = match right.as_ref() {
                    ExprOf::Literal(Literal::Str(s)) => format!("Str({s:?})"),
                    ExprOf::Literal(Literal::Int(i)) => format!("Num({:?})", *i as f64),
                    ExprOf::Literal(Literal::Float(f)) => format!("Num({f:?})"),
                    ExprOf::Literal(Literal::Bool(b)) => format!("Bool({b:?})"),
                    _ => return None,
                };
                out.push(format!(
                    "Comparison {{ path: FieldPath({path:?}), op: {cmp:?}, literal: {literal} }}"
                ));
                Some(())
            }
            _ => None,
        }
    }
    let mut legacy = Vec::new();
    match comparisons(condition, &mut legacy) {
        Some(()) => format!("[{}]", legacy.join(", ")),
        None => condition.to_string(),
    }
}

#[cfg(test)]
mod tests {
    /// Fingerprints written before expressions (a filter was a list of comparisons): their
    /// checkpoints must still restore.
    #[test]
    fn conditions_of_comparisons_keep_the_fingerprint_they_had() {
        let mut job = crate::config::example_job();
        assert_eq!(fingerprint(&job), "55b03b23e1a42d43");
        job.filter = Some(
            crate::expr::Expr::parse(
                "header.event_type != 'heartbeat' and body.watch_ms >= 10 AND header.x = true",
            )
            .expect("filter"),
        );
        assert_eq!(fingerprint(&job), "6531256856fa33ef");
    }

    use super::*;

    use crate::config::example_job as job;

    /// Fingerprints are kept in manifests: the hash must stay 64-bit FNV-1a.
    #[test]
    fn the_hash_is_fnv1a() {
        let mut hash = fnv::FnvHasher::default();
        hash.write(b"a");
        assert_eq!(hash.finish(), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn changes_with_the_shape_and_only_with_it() {
        let base = job();
        assert_eq!(fingerprint(&base), fingerprint(&job()));
        let mut moved = job();
        moved.source.brokers = "elsewhere:9092".into();
        moved.table.name = "gold.other".into();
        assert_eq!(fingerprint(&base), fingerprint(&moved));
        let mut tuned = job();
        tuned.window.idle_timeout_ms *= 2;
        tuned.window.watermark_delay_ms += 1_000;
        tuned.window.max_ahead_ms = 1;
        assert_eq!(
            fingerprint(&base),
            fingerprint(&tuned),
            "tuning keeps the state's meaning"
        );
        let mut wider = job();
        wider.window.size_ms *= 5;
        assert_ne!(fingerprint(&base), fingerprint(&wider));
        let mut hopping = job();
        hopping.window.kind = WindowKind::Hopping { slide_ms: 10_000 };
        let mut cumulating = job();
        cumulating.window.kind = WindowKind::Cumulating { step_ms: 10_000 };
        let mut hopping_slower = job();
        hopping_slower.window.kind = WindowKind::Hopping { slide_ms: 20_000 };
        let mut sessions = job();
        sessions.window.kind = WindowKind::Session {
            gap_ms: sessions.window.size_ms,
        };
        for other in [&hopping, &cumulating, &hopping_slower, &sessions] {
            assert_ne!(fingerprint(&base), fingerprint(other));
        }
        assert_ne!(fingerprint(&hopping), fingerprint(&cumulating));
        assert_ne!(fingerprint(&hopping), fingerprint(&hopping_slower));
        let mut filtered = job();
        filtered.filter = Some(crate::expr::Expr::parse("body.watch_ms > 0").expect("filter"));
        assert_ne!(fingerprint(&base), fingerprint(&filtered));
        let mut fewer = job();
        fewer.aggregates.pop();
        assert_ne!(fingerprint(&base), fingerprint(&fewer));
        let mut rekeyed = job();
        rekeyed.group_by[0].0 = "video".into();
        assert_ne!(fingerprint(&base), fingerprint(&rekeyed));
    }
}
