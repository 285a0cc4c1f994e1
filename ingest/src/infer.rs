//! Type inference: each column's values in the sample narrow the types it may have, and the
//! narrowest left wins (boolean, bigint, decimal, double, date, timestamp, else string).

use crate::csv_type::{CsvType, MAX_DECIMAL_PRECISION};
use crate::value_formats::{
    decimal_shape, parse_bool, parse_double, parse_long, parse_timestamp, DateFormat,
};

/// What one column's sampled values still allow.
#[derive(Debug, Clone)]
pub struct ColumnGuess {
    values: usize,
    boolean: bool,
    long: bool,
    decimal: bool,
    double: bool,
    int_digits: u8,
    scale: u8,
    /// One bit per [`DateFormat::ALL`] entry every value so far parses as.
    dates: u8,
    timestamps: u8,
    zoned: Option<bool>,
}

const ALL_FORMATS: u8 = (1 << DateFormat::ALL.len()) - 1;

fn bit(format: DateFormat) -> u8 {
    let index = DateFormat::ALL
        .iter()
        .position(|f| *f == format)
        .unwrap_or_default();
    1 << index
}

fn first_format(bits: u8) -> Option<DateFormat> {
    DateFormat::ALL.into_iter().find(|f| bits & bit(*f) != 0)
}

impl Default for ColumnGuess {
    fn default() -> Self {
        Self {
            values: 0,
            boolean: true,
            long: true,
            decimal: true,
            double: true,
            int_digits: 0,
            scale: 0,
            dates: ALL_FORMATS,
            timestamps: ALL_FORMATS,
            zoned: None,
        }
    }
}

impl ColumnGuess {
    /// Narrows the guess by one non-null value.
    pub fn observe(&mut self, value: &str) {
        self.values += 1;
        self.boolean &= parse_bool(value).is_some();
        self.long &= parse_long(value).is_some();
        if self.decimal {
            match decimal_shape(value) {
                Some(shape) => {
                    self.int_digits = self.int_digits.max(shape.int_digits);
                    self.scale = self.scale.max(shape.scale);
                }
                None => self.decimal = false,
            }
        }
        self.double &= parse_double(value).is_some();
        if self.dates != 0 {
            for format in DateFormat::ALL {
                if self.dates & bit(format) != 0 && format.parse(value).is_none() {
                    self.dates &= !bit(format);
                }
            }
        }
        if self.timestamps != 0 {
            match parse_timestamp(value) {
                Some(t) if self.zoned.is_none_or(|z| z == t.offset_secs.is_some()) => {
                    self.timestamps &= bit(t.date);
                    self.zoned = Some(t.offset_secs.is_some());
                }
                _ => self.timestamps = 0,
            }
        }
    }

    /// The narrowest type every observed value reads as; a column of nulls only is a string.
    pub fn guess(&self) -> CsvType {
        if self.values == 0 {
            return CsvType::String;
        }
        if self.boolean {
            return CsvType::Boolean;
        }
        if self.long {
            return CsvType::Long;
        }
        let precision = self.int_digits.saturating_add(self.scale).max(1);
        if self.decimal && precision <= MAX_DECIMAL_PRECISION {
            return CsvType::Decimal {
                precision,
                scale: self.scale,
            };
        }
        if self.double {
            return CsvType::Double;
        }
        if let Some(date) = first_format(self.dates) {
            return CsvType::Date(date);
        }
        if let Some(date) = first_format(self.timestamps) {
            return CsvType::Timestamp {
                date,
                zoned: self.zoned.unwrap_or(false),
            };
        }
        CsvType::String
    }
}

/// Which field texts are nulls: the empty field, and by default `NULL`, `null`, `NA` and
/// `N/A`.
#[derive(Debug, Clone)]
pub struct NullValues(Vec<String>);

impl Default for NullValues {
    fn default() -> Self {
        Self(["NULL", "null", "NA", "N/A"].map(str::to_owned).to_vec())
    }
}

impl NullValues {
    /// Exactly `values` (and the empty field) are nulls.
    pub fn only(values: Vec<String>) -> Self {
        Self(values)
    }

    pub fn is_null(&self, field: &str) -> bool {
        field.is_empty() || self.0.iter().any(|n| n == field)
    }
}

/// The types of `columns` columns from sampled rows (rows of another width are skipped).
pub fn infer_types<'a>(
    columns: usize,
    rows: impl IntoIterator<Item = &'a [String]>,
    nulls: &NullValues,
) -> Vec<CsvType> {
    let mut guesses = vec![ColumnGuess::default(); columns];
    for row in rows {
        if row.len() != columns {
            continue;
        }
        for (guess, value) in guesses.iter_mut().zip(row) {
            if !nulls.is_null(value) {
                guess.observe(value);
            }
        }
    }
    guesses.iter().map(ColumnGuess::guess).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guess(values: &[&str]) -> CsvType {
        let rows: Vec<Vec<String>> = values.iter().map(|v| vec![(*v).to_owned()]).collect();
        infer_types(1, rows.iter().map(Vec::as_slice), &NullValues::default())[0]
    }

    #[test]
    fn each_column_gets_the_narrowest_type_all_its_values_read_as() {
        assert_eq!(guess(&["true", "False", ""]), CsvType::Boolean);
        assert_eq!(guess(&["1", "-20", "NA"]), CsvType::Long);
        assert_eq!(
            guess(&["1", "2.5", "-10.25"]),
            CsvType::Decimal {
                precision: 4,
                scale: 2
            }
        );
        assert_eq!(guess(&["1.5", "2e10"]), CsvType::Double);
        assert_eq!(
            guess(&["99999999999999999999"]),
            CsvType::Decimal {
                precision: 20,
                scale: 0
            }
        );
        assert_eq!(
            guess(&["2024-01-31", "2024-02-01"]),
            CsvType::Date(DateFormat::Iso)
        );
        assert_eq!(
            guess(&["31.01.2024", "1.2.2024"]),
            CsvType::Date(DateFormat::DayDotted)
        );
        assert_eq!(
            guess(&["2024-01-31 10:00:00", "2024-01-31T11:00"]),
            CsvType::Timestamp {
                date: DateFormat::Iso,
                zoned: false
            }
        );
        assert_eq!(
            guess(&["2024-01-31 10:00:00Z", "2024-01-31 11:00+01:00"]),
            CsvType::Timestamp {
                date: DateFormat::Iso,
                zoned: true
            }
        );
    }

    #[test]
    fn mixed_or_coded_columns_stay_strings() {
        assert_eq!(guess(&["0870", "1234"]), CsvType::String);
        assert_eq!(guess(&["2024-01-31", "31.01.2024"]), CsvType::String);
        assert_eq!(
            guess(&["2024-01-31 10:00Z", "2024-01-31 10:00"]),
            CsvType::String
        );
        assert_eq!(guess(&["1", "x"]), CsvType::String);
        assert_eq!(guess(&["", "NULL"]), CsvType::String);
        assert_eq!(
            guess(&["1.5", "1.123456789012345678901234567890123456789"]),
            CsvType::Double
        );
    }
}
