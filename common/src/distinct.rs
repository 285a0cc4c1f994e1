//! `COUNT(DISTINCT x)` and `APPROX_COUNT_DISTINCT(x)` as two levels of aggregation, as Flink's
//! split-distinct aggregation does.
//!
//! A window's rows are kept per group key *and a part of `x`*, the key's last part
//! (`decode.rs` appends it):
//! - for `COUNT(DISTINCT x)`, the value of `x`: each distinct count of such a row counts the
//!   records of that value its filter kept. State is one row per (window, key, value), as Flink
//!   keeps a set of values per key; nothing is approximated.
//! - for `APPROX_COUNT_DISTINCT(x)`, the sketch register `x` falls in, the count holding the
//!   register's highest rank ([`crate::approx_distinct`]): at most that many rows per key.
//!
//! Every other aggregate is a partial of that row's records. Rows merge across partitions and
//! workers as any do, so a value seen on two workers is one row. When the window is written, its
//! rows are collapsed to one per group key: a distinct count is the number of values with a
//! record counted, an approximate one the estimate of the key's registers, every other
//! aggregate the merge of its partials.

use hashbrown::HashMap;

use crate::aggregate::{Acc, AggregateFunction, AggregateSpec};
use crate::approx_distinct::Sketch;
use crate::config::{JobSpec, WindowKind, WindowSpec};
use crate::expr::Expr;
use crate::group_key;
use crate::window_close::{remake_rows, ClosedWindow};

/// What a job's window rows are kept per, beside their group key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DistinctPart {
    /// The value: `COUNT(DISTINCT x)`.
    Value,
    /// The value's sketch register: `APPROX_COUNT_DISTINCT(x)`.
    Register,
}

fn part_of(function: AggregateFunction) -> Option<DistinctPart> {
    match function {
        AggregateFunction::CountDistinct => Some(DistinctPart::Value),
        AggregateFunction::ApproxCountDistinct => Some(DistinctPart::Register),
        _ => None,
    }
}

/// Refuses what the two levels cannot compute: distinct counts of two different values, exact
/// and approximate counts in one job, and distinct counts of sessions (whose windows are per
/// key, not per key and value). The error names the aggregate at fault.
pub fn check(aggregates: &[AggregateSpec], window: &WindowSpec) -> Result<(), (usize, String)> {
    let mut first: Option<(&Option<Expr>, DistinctPart)> = None;
    for (i, a) in aggregates.iter().enumerate() {
        let Some(part) = part_of(a.function) else {
            continue;
        };
        if matches!(window.kind, WindowKind::Session { .. }) {
            return Err((
                i,
                "distinct counts over session windows are not supported: sessions are per key"
                    .into(),
            ));
        }
        match first {
            Some((_, p)) if p != part => {
                return Err((
                    i,
                    "COUNT(DISTINCT …) and APPROX_COUNT_DISTINCT(…) in one job: a job counts \
                     distinct values either exactly or approximately"
                        .into(),
                ))
            }
            Some((Some(v), _)) if a.field.as_ref().is_some_and(|f| f != v) => {
                let f = a
                    .field
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                return Err((
                    i,
                    format!(
                        "distinct counts of `{v}` and of `{f}`: a job counts the distinct \
                         values of one expression"
                    ),
                ));
            }
            Some((Some(_), _)) => {}
            _ => first = Some((&a.field, part)),
        }
    }
    Ok(())
}

/// The value a job's distinct counts count, which its window rows are kept per (or per its
/// sketch register).
pub fn value(job: &JobSpec) -> Option<(&Expr, DistinctPart)> {
    job.aggregates
        .iter()
        .find_map(|a| Some((a.field.as_ref()?, part_of(a.function)?)))
}

/// Collapses a job's closed windows from rows per (key, value or register) to rows per key.
#[derive(Debug, Clone)]
pub struct Distinct {
    /// The positions of the exact distinct counts among the accumulators.
    counts: Vec<usize>,
    /// The positions of the approximate ones.
    sketches: Vec<usize>,
    template: Vec<Acc>,
}

impl Distinct {
    /// For a job with a distinct count.
    pub fn of(job: &JobSpec) -> Option<Distinct> {
        value(job)?;
        let positions = |part| {
            job.aggregates
                .iter()
                .enumerate()
                .filter(|(_, a)| part_of(a.function) == Some(part))
                .map(|(i, _)| i)
                .collect()
        };
        Some(Distinct {
            counts: positions(DistinctPart::Value),
            sketches: positions(DistinctPart::Register),
            template: job.aggregates.iter().map(AggregateSpec::new_acc).collect(),
        })
    }

    /// `windows` with one row per group key: each distinct count the number of values one of
    /// whose records it counted, each approximate count its sketch's estimate.
    pub fn collapse(&self, windows: &[ClosedWindow]) -> Vec<ClosedWindow> {
        remake_rows(windows, &self.template, |rows, per_key| {
            let mut sketches: HashMap<&str, Vec<Sketch>> = HashMap::new();
            for (key, accs) in rows.iter() {
                let owner = group_key::without_last_part(key);
                if !self.sketches.is_empty() {
                    let sketch = sketches
                        .entry(owner)
                        .or_insert_with(|| vec![Sketch::default(); self.sketches.len()]);
                    for (s, &at) in sketch.iter_mut().zip(&self.sketches) {
                        if let Some(Acc::MaxLong(Some(rank))) = accs.iter().nth(at) {
                            s.add(rank);
                        }
                    }
                }
                let accs = accs.iter().enumerate().map(|(i, acc)| {
                    if self.counts.contains(&i) {
                        Acc::Count(i64::from(matches!(acc, Acc::Count(n) if n > 0)))
                    } else if self.sketches.contains(&i) {
                        self.template[i]
                    } else {
                        acc
                    }
                });
                per_key.merge_row(owner, accs);
            }
            for (owner, sketch) in sketches {
                let mut estimates = sketch.iter();
                let accs = self.template.iter().enumerate().map(|(i, &acc)| {
                    if !self.sketches.contains(&i) {
                        return acc;
                    }
                    estimates
                        .next()
                        .map_or(acc, |s| Acc::MaxLong(Some(s.estimate())))
                });
                per_key.merge_row(owner, accs);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approx_distinct::register_and_rank;
    use crate::config::example_job;
    use crate::keyed_accs::KeyedAccs;

    /// A row's key: the video, then the value (or register) it is kept per.
    fn key(video: &str, part: &str) -> String {
        let mut k = String::new();
        group_key::push_part(&mut k, true, video);
        group_key::push_part(&mut k, false, part);
        k
    }

    /// The one window of `rows` collapsed, as (key, accumulators) sorted by key.
    fn collapsed(distinct: &Distinct, rows: KeyedAccs) -> Vec<(String, Vec<Acc>)> {
        let windows = [ClosedWindow {
            start_ms: 0,
            end_ms: 60_000,
            rows,
        }];
        let mut got: Vec<(String, Vec<Acc>)> = distinct.collapse(&windows)[0]
            .rows
            .iter()
            .map(|(k, accs)| (group_key::parts(k).concat(), accs.to_vec()))
            .collect();
        got.sort_by(|a, b| a.0.cmp(&b.0));
        got
    }

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
        let mut rows = KeyedAccs::new(&template);
        rows.merge_row(&key("v1", "u1"), row(2, 2));
        rows.merge_row(&key("v1", "u2"), row(1, 1));
        // A record without a user: counted by the other aggregates, not as a user.
        rows.merge_row(&key("v1", ""), row(1, 0));
        rows.merge_row(&key("v\u{1f}2", "u1"), row(3, 3));
        let got = collapsed(&distinct, rows);
        assert_eq!(got.len(), 2, "one row per video");
        assert_eq!(got[0].0, "v\u{1f}2");
        assert_eq!(got[0].1[..2], [Acc::Count(3), Acc::Count(1)]);
        assert_eq!(got[1].0, "v1");
        assert_eq!(got[1].1[..2], [Acc::Count(4), Acc::Count(2)]);
        assert_eq!(got[1].1[5], Acc::SumLong(40));
    }

    #[test]
    fn collapses_rows_per_register_into_one_estimate_per_key() {
        let mut job = example_job();
        job.aggregates[1].function = AggregateFunction::ApproxCountDistinct;
        job.aggregates[1].field = Some(Expr::parse("body.user_id").expect("expr"));
        job.aggregates[1].filter = None;
        let distinct = Distinct::of(&job).expect("a distinct count");
        let template: Vec<Acc> = job.aggregates.iter().map(AggregateSpec::new_acc).collect();
        let mut rows = KeyedAccs::new(&template);
        // 300 users of v1, each seen twice (as two partitions would give them).
        for _ in 0..2 {
            for user in 0..300 {
                let (register, rank) = register_and_rank(format!("u{user}").as_bytes());
                let mut accs = template.clone();
                accs[0] = Acc::Count(1);
                accs[1] = Acc::MaxLong(Some(rank));
                rows.merge_row(&key("v1", &register.to_string()), accs);
            }
        }
        // v2's one record has no user: it counts as an event, not a user.
        let mut accs = template.clone();
        accs[0] = Acc::Count(1);
        rows.merge_row(&key("v2", ""), accs);
        let got = collapsed(&distinct, rows);
        let users = match got[0].1[1] {
            Acc::MaxLong(Some(n)) => n,
            other => panic!("{other:?}"),
        };
        assert_eq!((got[0].0.as_str(), got[0].1[0]), ("v1", Acc::Count(600)));
        assert!(
            (286..=314).contains(&users),
            "300 users estimated as {users}"
        );
        assert_eq!(got[1].0, "v2");
        assert_eq!(got[1].1[..2], [Acc::Count(1), Acc::MaxLong(Some(0))]);
    }

    #[test]
    fn refuses_exact_and_approximate_counts_in_one_job() {
        let mut job = example_job();
        for (i, function) in [
            (1, AggregateFunction::CountDistinct),
            (2, AggregateFunction::ApproxCountDistinct),
        ] {
            job.aggregates[i].function = function;
            job.aggregates[i].field = Some(Expr::parse("body.user_id").expect("expr"));
        }
        let (at, why) = check(&job.aggregates, &job.window).expect_err("both");
        assert_eq!(at, 2);
        assert!(why.contains("either exactly or approximately"), "{why}");
        job.aggregates[1].function = AggregateFunction::ApproxCountDistinct;
        assert_eq!(check(&job.aggregates, &job.window), Ok(()));
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
