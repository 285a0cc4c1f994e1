//! `COUNT(DISTINCT x)` as two levels of aggregation, as Flink's split-distinct aggregation does.
//!
//! A window's rows are kept per group key *and value of `x`*: the value is the key's last part
//! (`decode.rs` appends it), each distinct count of such a row counts the records of that value
//! its filter kept, and every other aggregate is a partial of that value's records. Rows merge
//! across partitions and workers as any do, so a value seen on two workers is one row. When the
//! window is written, its rows are collapsed to one per group key: a distinct count is the
//! number of values with a record counted, every other aggregate the merge of its partials.
//!
//! State is one row per (window, key, value), as Flink keeps a set of values per key; nothing
//! is approximated.

use crate::aggregate::{Acc, AggregateFunction, AggregateSpec};
use crate::config::{JobSpec, WindowKind, WindowSpec};
use crate::expr::Expr;
use crate::group_key;
use crate::window_close::{remake_rows, ClosedWindow};

/// Refuses what the two levels cannot compute: distinct counts of two different values, and
/// distinct counts of sessions (whose windows are per key, not per key and value). The error
/// names the aggregate at fault.
pub fn check(aggregates: &[AggregateSpec], window: &WindowSpec) -> Result<(), (usize, String)> {
    let mut value: Option<&Expr> = None;
    for (i, a) in aggregates.iter().enumerate() {
        if a.function != AggregateFunction::CountDistinct {
            continue;
        }
        if matches!(window.kind, WindowKind::Session { .. }) {
            return Err((
                i,
                "COUNT(DISTINCT …) over session windows is not supported: sessions are per key"
                    .into(),
            ));
        }
        match (value, &a.field) {
            (Some(v), Some(f)) if v != f => {
                return Err((
                    i,
                    format!(
                        "distinct counts of `{v}` and of `{f}`: a job counts the distinct \
                         values of one expression"
                    ),
                ))
            }
            (_, f) => value = value.or(f.as_ref()),
        }
    }
    Ok(())
}

/// The value a job's distinct counts count, which its window rows are kept per.
pub fn value(job: &JobSpec) -> Option<&Expr> {
    job.aggregates
        .iter()
        .find(|a| a.function == AggregateFunction::CountDistinct)
        .and_then(|a| a.field.as_ref())
}

/// Collapses a job's closed windows from rows per (key, value) to rows per key.
#[derive(Debug, Clone)]
pub struct Distinct {
    /// The positions of the distinct counts among the accumulators.
    counts: Vec<usize>,
    template: Vec<Acc>,
}

impl Distinct {
    /// For a job with a distinct count.
    pub fn of(job: &JobSpec) -> Option<Distinct> {
        value(job)?;
        Some(Distinct {
            counts: job
                .aggregates
                .iter()
                .enumerate()
                .filter(|(_, a)| a.function == AggregateFunction::CountDistinct)
                .map(|(i, _)| i)
                .collect(),
            template: job.aggregates.iter().map(AggregateSpec::new_acc).collect(),
        })
    }

    /// `windows` with one row per group key: each distinct count the number of values one of
    /// whose records it counted.
    pub fn collapse(&self, windows: &[ClosedWindow]) -> Vec<ClosedWindow> {
        remake_rows(windows, &self.template, |rows, per_key| {
            for (key, accs) in rows.iter() {
                let accs = accs.iter().enumerate().map(|(i, acc)| {
                    if !self.counts.contains(&i) {
                        return acc;
                    }
                    Acc::Count(i64::from(matches!(acc, Acc::Count(n) if n > 0)))
                });
                per_key.merge_row(group_key::without_last_part(key), accs);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::example_job;
    use crate::keyed_accs::KeyedAccs;

    #[test]
    fn collapses_rows_per_value_into_rows_per_key() {
        let mut job = example_job();
        job.aggregates[1].function = AggregateFunction::CountDistinct;
        job.aggregates[1].field = Some(Expr::parse("body.user_id").expect("expr"));
        job.aggregates[1].filter = None;
        let distinct = Distinct::of(&job).expect("a distinct count");
        let template: Vec<Acc> = job.aggregates.iter().map(AggregateSpec::new_acc).collect();
        let row = |events, users| {
            let mut accs = template.clone();
            accs[0] = Acc::Count(events);
            accs[1] = Acc::Count(users);
            accs[5] = Acc::SumLong(events * 10);
            accs
        };
        let key = |video: &str, user: &str| {
            let mut k = String::new();
            group_key::push_part(&mut k, true, video);
            group_key::push_part(&mut k, false, user);
            k
        };
        let mut rows = KeyedAccs::new(&template);
        rows.merge_row(&key("v1", "u1"), row(2, 2));
        rows.merge_row(&key("v1", "u2"), row(1, 1));
        // A record without a user: counted by the other aggregates, not as a user.
        rows.merge_row(&key("v1", ""), row(1, 0));
        rows.merge_row(&key("v\u{1f}2", "u1"), row(3, 3));
        let windows = [ClosedWindow {
            start_ms: 0,
            end_ms: 60_000,
            rows,
        }];
        let collapsed = distinct.collapse(&windows);
        let mut got: Vec<(String, Vec<Acc>)> = collapsed[0]
            .rows
            .iter()
            .map(|(k, accs)| (group_key::parts(k).concat(), accs.to_vec()))
            .collect();
        got.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(got.len(), 2, "one row per video");
        assert_eq!(got[0].0, "v\u{1f}2");
        assert_eq!(got[0].1[..2], [Acc::Count(3), Acc::Count(1)]);
        assert_eq!(got[1].0, "v1");
        assert_eq!(got[1].1[..2], [Acc::Count(4), Acc::Count(2)]);
        assert_eq!(got[1].1[5], Acc::SumLong(40));
    }

    #[test]
    fn refuses_two_values_and_sessions() {
        let mut job = example_job();
        for (i, field) in [(1, "body.user_id"), (2, "header.event_id")] {
            job.aggregates[i].function = AggregateFunction::CountDistinct;
            job.aggregates[i].field = Some(Expr::parse(field).expect("expr"));
        }
        let (at, why) = check(&job.aggregates, &job.window).expect_err("two values");
        assert_eq!(at, 2);
        assert!(why.contains("one expression"), "{why}");
        job.aggregates[2].field = job.aggregates[1].field.clone();
        assert_eq!(check(&job.aggregates, &job.window), Ok(()));
        job.window.kind = WindowKind::Session { gap_ms: 1_000 };
        assert!(check(&job.aggregates, &job.window).is_err());
    }
}
