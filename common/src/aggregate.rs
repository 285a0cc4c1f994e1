//! Aggregate functions and their mergeable accumulators.
//!
//! Accumulators merge associatively, so partial aggregates from several partitions (or, in
//! cluster mode, several workers) combine into exactly one row per (window, key).

use serde::{Deserialize, Serialize};

use crate::expr::Expr;
use crate::schema::ColumnType;
use crate::value::Scalar;

/// The functions a job can aggregate with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AggregateFunction {
    Count,
    /// `COUNT(DISTINCT x)`: a window's rows are kept per key and value of `x` (each counting
    /// the records of that value), and collapsed to one per key when the window is written
    /// ([`crate::distinct`]).
    CountDistinct,
    /// `APPROX_COUNT_DISTINCT(x)`: a window's rows are kept per key and sketch register, each
    /// holding the register's rank as a max, and the registers of a key give the estimate when
    /// the window is written ([`crate::approx_distinct`]).
    ApproxCountDistinct,
    Sum,
    Min,
    Max,
    Avg,
}

/// Output type of sum/min/max.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ValueType {
    Long,
    Double,
}

/// One output column: `function(field) [filter]`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AggregateSpec {
    pub column: String,
    pub function: AggregateFunction,
    /// What is aggregated; for count, only records where it is present and not null count.
    pub field: Option<Expr>,
    /// Which records it aggregates (SQL's `FILTER (WHERE …)`).
    pub filter: Option<Expr>,
    pub value_type: ValueType,
}

impl AggregateSpec {
    pub fn output_type(&self) -> ColumnType {
        match (self.function, self.value_type) {
            (
                AggregateFunction::Count
                | AggregateFunction::CountDistinct
                | AggregateFunction::ApproxCountDistinct,
                _,
            ) => ColumnType::Long,
            (AggregateFunction::Avg, _) => ColumnType::Double,
            (_, ValueType::Long) => ColumnType::Long,
            (_, ValueType::Double) => ColumnType::Double,
        }
    }

    /// Count and sum always have a value; min, max and avg of no values are null.
    pub fn output_required(&self) -> bool {
        matches!(
            self.function,
            AggregateFunction::Count
                | AggregateFunction::CountDistinct
                | AggregateFunction::ApproxCountDistinct
                | AggregateFunction::Sum
        )
    }

    /// A fresh accumulator for this column.
    pub fn new_acc(&self) -> Acc {
        match (self.function, self.value_type) {
            (AggregateFunction::Count | AggregateFunction::CountDistinct, _) => Acc::Count(0),
            (AggregateFunction::ApproxCountDistinct, _) => Acc::MaxLong(None),
            (AggregateFunction::Sum, ValueType::Long) => Acc::SumLong(0),
            (AggregateFunction::Sum, ValueType::Double) => Acc::SumDouble(0.0),
            (AggregateFunction::Min, ValueType::Long) => Acc::MinLong(None),
            (AggregateFunction::Min, ValueType::Double) => Acc::MinDouble(None),
            (AggregateFunction::Max, ValueType::Long) => Acc::MaxLong(None),
            (AggregateFunction::Max, ValueType::Double) => Acc::MaxDouble(None),
            (AggregateFunction::Avg, _) => Acc::Avg { sum: 0.0, count: 0 },
        }
    }

    /// What one record contributes, given its filter result and field value (for
    /// `ApproxCountDistinct`, the rank of the value's sketch register).
    pub fn input(&self, passes_filter: bool, value: &Scalar<'_>) -> Input {
        if !passes_filter {
            return Input::Skip;
        }
        match (self.function, &self.field) {
            (AggregateFunction::Count, None) => Input::One,
            (AggregateFunction::Count | AggregateFunction::CountDistinct, Some(_)) => match value {
                Scalar::Missing | Scalar::Null => Input::Skip,
                _ => Input::One,
            },
            _ => match value {
                Scalar::I64(v) => Input::Int(*v),
                Scalar::F64(v) => Input::Float(*v),
                _ => Input::Skip,
            },
        }
    }
}

/// One record's contribution to one accumulator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Input {
    Skip,
    One,
    Int(i64),
    Float(f64),
}

/// A running aggregate. Long sums wrap on overflow rather than stop the job; a float into a
/// long column is truncated toward zero.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Acc {
    Count(i64),
    SumLong(i64),
    SumDouble(f64),
    MinLong(Option<i64>),
    MaxLong(Option<i64>),
    MinDouble(Option<f64>),
    MaxDouble(Option<f64>),
    Avg { sum: f64, count: i64 },
}

/// A finished value for an output column.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OutputValue {
    Long(Option<i64>),
    Double(Option<f64>),
}

fn as_long(input: Input) -> Option<i64> {
    match input {
        Input::Int(v) => Some(v),
        Input::Float(v) => Some(v as i64),
        Input::One => Some(1),
        Input::Skip => None,
    }
}

fn as_double(input: Input) -> Option<f64> {
    match input {
        Input::Int(v) => Some(v as f64),
        Input::Float(v) => Some(v),
        Input::One => Some(1.0),
        Input::Skip => None,
    }
}

fn pick<T: Copy>(a: Option<T>, b: Option<T>, keep_a: impl Fn(T, T) -> bool) -> Option<T> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if keep_a(x, y) { x } else { y }),
        (x, None) => x,
        (None, y) => y,
    }
}

impl Acc {
    #[inline]
    pub fn update(&mut self, input: Input) {
        if input == Input::Skip {
            return;
        }
        match self {
            Acc::Count(n) => *n += 1,
            Acc::SumLong(s) => *s = s.wrapping_add(as_long(input).unwrap_or(0)),
            Acc::SumDouble(s) => *s += as_double(input).unwrap_or(0.0),
            Acc::MinLong(m) => *m = pick(*m, as_long(input), |a, b| a <= b),
            Acc::MaxLong(m) => *m = pick(*m, as_long(input), |a, b| a >= b),
            Acc::MinDouble(m) => *m = pick(*m, as_double(input), |a, b| a <= b),
            Acc::MaxDouble(m) => *m = pick(*m, as_double(input), |a, b| a >= b),
            Acc::Avg { sum, count } => {
                *sum += as_double(input).unwrap_or(0.0);
                *count += 1;
            }
        }
    }

    /// Folds another partial aggregate of the same column into this one.
    pub fn merge(&mut self, other: &Acc) {
        match (self, other) {
            (Acc::Count(a), Acc::Count(b)) => *a += b,
            (Acc::SumLong(a), Acc::SumLong(b)) => *a = a.wrapping_add(*b),
            (Acc::SumDouble(a), Acc::SumDouble(b)) => *a += b,
            (Acc::MinLong(a), Acc::MinLong(b)) => *a = pick(*a, *b, |x, y| x <= y),
            (Acc::MaxLong(a), Acc::MaxLong(b)) => *a = pick(*a, *b, |x, y| x >= y),
            (Acc::MinDouble(a), Acc::MinDouble(b)) => *a = pick(*a, *b, |x, y| x <= y),
            (Acc::MaxDouble(a), Acc::MaxDouble(b)) => *a = pick(*a, *b, |x, y| x >= y),
            (Acc::Avg { sum, count }, Acc::Avg { sum: s2, count: c2 }) => {
                *sum += s2;
                *count += c2;
            }
            (a, b) => tracing::error!(?a, ?b, "merging accumulators of different kinds"),
        }
    }

    /// 8-byte words this accumulator takes in a packed row (see [`Acc::pack`]).
    pub fn words(&self) -> usize {
        match self {
            Acc::Count(_) | Acc::SumLong(_) | Acc::SumDouble(_) => 1,
            Acc::MinLong(_) | Acc::MaxLong(_) | Acc::MinDouble(_) | Acc::MaxDouble(_) => 2,
            Acc::Avg { .. } => 2,
        }
    }

    /// Writes this accumulator into `out` (`self.words()` long): an open window keeps its
    /// rows packed, 8 or 16 bytes per accumulator where the enum takes 24.
    #[inline]
    pub fn pack(&self, out: &mut [u64]) {
        let opt = |out: &mut [u64], v: Option<u64>| {
            out[0] = v.is_some() as u64;
            out[1] = v.unwrap_or(0);
        };
        match *self {
            Acc::Count(n) | Acc::SumLong(n) => out[0] = n as u64,
            Acc::SumDouble(s) => out[0] = s.to_bits(),
            Acc::MinLong(m) | Acc::MaxLong(m) => opt(out, m.map(|v| v as u64)),
            Acc::MinDouble(m) | Acc::MaxDouble(m) => opt(out, m.map(f64::to_bits)),
            Acc::Avg { sum, count } => {
                out[0] = sum.to_bits();
                out[1] = count as u64;
            }
        }
    }

    /// [`update`](Self::update) of the accumulator of this one's kind packed in `words`: counts
    /// and long sums, the usual aggregates, are updated in place without unpacking.
    #[inline]
    pub fn update_packed(&self, words: &mut [u64], input: Input) {
        match (self, input) {
            (_, Input::Skip) => {}
            (Acc::Count(_), _) => words[0] = words[0].wrapping_add(1),
            (Acc::SumLong(_), _) => {
                let v = as_long(input).unwrap_or(0);
                words[0] = (words[0] as i64).wrapping_add(v) as u64;
            }
            _ => {
                let mut acc = self.unpack(words);
                acc.update(input);
                acc.pack(words);
            }
        }
    }

    /// [`merge`](Self::merge) of two accumulators of this one's kind, packed in `words` and
    /// `other`: counts and long sums add in place without unpacking.
    #[inline]
    pub fn merge_packed(&self, words: &mut [u64], other: &[u64]) {
        match self {
            Acc::Count(_) | Acc::SumLong(_) => words[0] = words[0].wrapping_add(other[0]),
            _ => {
                let mut acc = self.unpack(words);
                acc.merge(&self.unpack(other));
                acc.pack(words);
            }
        }
    }

    /// The accumulator of this one's kind that [`Acc::pack`] wrote into `words`.
    #[inline]
    pub fn unpack(&self, words: &[u64]) -> Acc {
        let opt = |w: &[u64]| (w[0] != 0).then_some(w[1]);
        match self {
            Acc::Count(_) => Acc::Count(words[0] as i64),
            Acc::SumLong(_) => Acc::SumLong(words[0] as i64),
            Acc::SumDouble(_) => Acc::SumDouble(f64::from_bits(words[0])),
            Acc::MinLong(_) => Acc::MinLong(opt(words).map(|v| v as i64)),
            Acc::MaxLong(_) => Acc::MaxLong(opt(words).map(|v| v as i64)),
            Acc::MinDouble(_) => Acc::MinDouble(opt(words).map(f64::from_bits)),
            Acc::MaxDouble(_) => Acc::MaxDouble(opt(words).map(f64::from_bits)),
            Acc::Avg { .. } => Acc::Avg {
                sum: f64::from_bits(words[0]),
                count: words[1] as i64,
            },
        }
    }

    pub fn output(&self) -> OutputValue {
        match *self {
            Acc::Count(n) | Acc::SumLong(n) => OutputValue::Long(Some(n)),
            Acc::MinLong(m) | Acc::MaxLong(m) => OutputValue::Long(m),
            Acc::SumDouble(s) => OutputValue::Double(Some(s)),
            Acc::MinDouble(m) | Acc::MaxDouble(m) => OutputValue::Double(m),
            Acc::Avg { sum, count } => OutputValue::Double((count > 0).then(|| sum / count as f64)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(function: AggregateFunction, value_type: ValueType) -> AggregateSpec {
        AggregateSpec {
            column: "c".into(),
            function,
            field: Some(crate::expr::Expr::parse("x").unwrap()),
            filter: None,
            value_type,
        }
    }

    fn run(s: &AggregateSpec, values: &[Scalar<'_>]) -> OutputValue {
        let mut acc = s.new_acc();
        for v in values {
            acc.update(s.input(true, v));
        }
        acc.output()
    }

    #[test]
    fn packed_updates_and_merges_equal_unpacked_ones() {
        let kinds = [
            Acc::Count(3),
            Acc::SumLong(i64::MAX),
            Acc::SumDouble(1.5),
            Acc::MinLong(None),
            Acc::MaxLong(Some(-4)),
            Acc::MinDouble(Some(2.5)),
            Acc::MaxDouble(None),
            Acc::Avg { sum: 1.0, count: 2 },
        ];
        let inputs = [
            Input::Skip,
            Input::One,
            Input::Int(7),
            Input::Int(-9),
            Input::Float(-0.5),
        ];
        for acc in kinds {
            for input in inputs {
                let mut words = [0u64; 2];
                acc.pack(&mut words[..acc.words()]);
                acc.update_packed(&mut words[..acc.words()], input);
                let mut expected = acc;
                expected.update(input);
                assert_eq!(acc.unpack(&words), expected, "{acc:?} with {input:?}");
                // Merging packed equals merging: `acc` with the updated one.
                let mut mine = [0u64; 2];
                acc.pack(&mut mine[..acc.words()]);
                acc.merge_packed(&mut mine[..acc.words()], &words[..acc.words()]);
                let mut merged = acc;
                merged.merge(&expected);
                assert_eq!(
                    acc.unpack(&mine),
                    merged,
                    "{acc:?} merged with {expected:?}"
                );
            }
        }
    }

    #[test]
    fn functions_compute_sql_results() {
        let vals = [
            Scalar::I64(5),
            Scalar::Missing,
            Scalar::I64(-2),
            Scalar::F64(3.9),
            Scalar::Null,
        ];
        use AggregateFunction::*;
        assert_eq!(
            run(&spec(Count, ValueType::Long), &vals),
            OutputValue::Long(Some(3))
        );
        assert_eq!(
            run(&spec(Sum, ValueType::Long), &vals),
            OutputValue::Long(Some(6))
        );
        assert_eq!(
            run(&spec(Sum, ValueType::Double), &vals),
            OutputValue::Double(Some(6.9))
        );
        assert_eq!(
            run(&spec(Min, ValueType::Long), &vals),
            OutputValue::Long(Some(-2))
        );
        assert_eq!(
            run(&spec(Max, ValueType::Double), &vals),
            OutputValue::Double(Some(5.0))
        );
        let OutputValue::Double(Some(avg)) = run(&spec(Avg, ValueType::Double), &vals) else {
            panic!("avg of values is not null")
        };
        assert!((avg - 6.9 / 3.0).abs() < 1e-9);
        assert_eq!(
            run(&spec(Min, ValueType::Long), &[Scalar::Missing]),
            OutputValue::Long(None)
        );
        assert_eq!(
            run(&spec(Avg, ValueType::Long), &[]),
            OutputValue::Double(None)
        );
        assert_eq!(
            run(&spec(Sum, ValueType::Long), &[]),
            OutputValue::Long(Some(0))
        );
    }

    #[test]
    fn packing_keeps_every_kind_and_value() {
        let accs = [
            Acc::Count(-3),
            Acc::SumLong(i64::MIN),
            Acc::SumDouble(-0.0),
            Acc::MinLong(None),
            Acc::MinLong(Some(0)),
            Acc::MaxLong(Some(i64::MAX)),
            Acc::MinDouble(Some(f64::NEG_INFINITY)),
            Acc::MaxDouble(None),
            Acc::Avg { sum: 2.5, count: 7 },
        ];
        for acc in accs {
            let mut words = vec![u64::MAX; acc.words()];
            acc.pack(&mut words);
            let back = acc.unpack(&words);
            assert_eq!(format!("{back:?}"), format!("{acc:?}"));
        }
    }

    #[test]
    fn filters_skip_records() {
        let s = AggregateSpec {
            field: None,
            ..spec(AggregateFunction::Count, ValueType::Long)
        };
        let mut acc = s.new_acc();
        acc.update(s.input(false, &Scalar::Missing));
        acc.update(s.input(true, &Scalar::Missing));
        assert_eq!(acc.output(), OutputValue::Long(Some(1)));
    }

    #[test]
    fn merging_partials_equals_one_pass() {
        use AggregateFunction::*;
        let vals: Vec<Scalar<'_>> = (0..20).map(|i| Scalar::I64(i * 7 % 11 - 3)).collect();
        for f in [Count, Sum, Min, Max, Avg] {
            let s = spec(f, ValueType::Long);
            let whole = run(&s, &vals);
            let mut left = s.new_acc();
            let mut right = s.new_acc();
            for v in &vals[..7] {
                left.update(s.input(true, v));
            }
            for v in &vals[7..] {
                right.update(s.input(true, v));
            }
            left.merge(&right);
            assert_eq!(left.output(), whole, "{f:?}");
        }
    }
}
