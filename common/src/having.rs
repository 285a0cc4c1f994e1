//! `HAVING`: which of a closed window's rows are written, by conditions on its aggregates.
//! Applied by the committer to the rows merged from every worker, so a condition sees a key's
//! whole window, never one partition's part of it.

use crate::aggregate::{AggregateSpec, OutputValue};
use crate::config::JobSpec;
use crate::expr::Compiled;
use crate::keyed_accs::AccRow;
use crate::value::Scalar;
use crate::window::ClosedWindow;
use crate::window_close::remake_rows;

/// A job's `having`, compiled to read a row's aggregates (slot `i` is aggregate `i`).
#[derive(Debug, Clone)]
pub struct Having {
    condition: Compiled,
    template: Vec<crate::aggregate::Acc>,
}

impl Having {
    /// The job's conditions, if it has any. Validation made each name one of its aggregates.
    pub fn of(job: &JobSpec) -> Option<Having> {
        let having = job.having.as_ref()?;
        let condition = having.compile(&mut |path| {
            let name = path.to_string();
            job.aggregates
                .iter()
                .position(|a| a.column == name)
                .unwrap_or(job.aggregates.len())
        });
        Some(Having {
            condition,
            template: job.aggregates.iter().map(AggregateSpec::new_acc).collect(),
        })
    }

    /// Whether a row with these accumulators is written: a comparison with a null aggregate
    /// (the `MIN` of no values) is false, as in SQL.
    pub fn keeps(&self, accs: AccRow<'_>) -> bool {
        let mut values: Vec<Scalar<'_>> = accs
            .iter()
            .map(|a| match a.output() {
                OutputValue::Long(Some(v)) => Scalar::I64(v),
                OutputValue::Double(Some(v)) => Scalar::F64(v),
                _ => Scalar::Null,
            })
            .collect();
        // Validation made every name an aggregate's; a slot past them reads as null.
        values.push(Scalar::Null);
        match self.condition.holds(&values) {
            Ok(keeps) => keeps,
            Err(e) => {
                tracing::warn!(error = %e, "HAVING could not be computed for a row: it is kept");
                true
            }
        }
    }

    /// The windows with only the rows kept; a window left with none is dropped.
    pub fn apply(&self, windows: &[ClosedWindow]) -> Vec<ClosedWindow> {
        remake_rows(windows, &self.template, |rows, kept| {
            for (key, accs) in rows.iter().filter(|(_, accs)| self.keeps(*accs)) {
                kept.merge_row(key, accs.iter());
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::Acc;
    use crate::config::example_job;
    use crate::expr::Expr;
    use crate::keyed_accs::KeyedAccs;

    #[test]
    fn keeps_the_rows_whose_aggregates_hold_the_conditions() {
        let mut job = example_job();
        job.having = Some(Expr::parse("events >= 2 and watch_ms_sum < 100").expect("having"));
        let having = Having::of(&job).expect("a having");
        let template: Vec<Acc> = job.aggregates.iter().map(AggregateSpec::new_acc).collect();
        let mut rows = KeyedAccs::new(&template);
        let row = |events, watch| {
            let mut accs = template.clone();
            accs[0] = Acc::Count(events);
            accs[5] = Acc::SumLong(watch);
            accs
        };
        rows.merge_row("kept", row(2, 99));
        rows.merge_row("few", row(1, 5));
        rows.merge_row("long", row(3, 100));
        let mut none = KeyedAccs::new(&template);
        none.merge_row("few", row(1, 1));
        let windows = [
            ClosedWindow {
                start_ms: 0,
                end_ms: 60_000,
                rows,
            },
            ClosedWindow {
                start_ms: 60_000,
                end_ms: 120_000,
                rows: none,
            },
        ];
        let kept = having.apply(&windows);
        assert_eq!(kept.len(), 1, "a window with no row kept is dropped");
        let keys: Vec<&str> = kept[0].rows.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["kept"]);
    }
}
