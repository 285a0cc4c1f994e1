//! The column types a CSV load produces, and how each maps to Arrow and Iceberg. One place for
//! the mapping: inference, decoding, table creation and `--type` all use it.

use std::fmt;
use std::sync::Arc;

use arrow_schema::{DataType, TimeUnit};
use iceberg::spec::{PrimitiveType, Type};

use crate::spec_list::split_top_level;
use crate::value_formats::DateFormat;

/// A column's type, with the written form its dates and timestamps are read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvType {
    Boolean,
    Long,
    Decimal {
        precision: u8,
        scale: u8,
    },
    Double,
    Date(DateFormat),
    /// `zoned`: the values name their UTC offset, and the column is a `timestamptz`.
    Timestamp {
        date: DateFormat,
        zoned: bool,
    },
    String,
}

/// The largest decimal precision Iceberg (and Arrow's 128-bit decimal) holds.
pub const MAX_DECIMAL_PRECISION: u8 = 38;

impl CsvType {
    pub fn arrow(self) -> DataType {
        match self {
            Self::Boolean => DataType::Boolean,
            Self::Long => DataType::Int64,
            Self::Decimal { precision, scale } => DataType::Decimal128(precision, scale as i8),
            Self::Double => DataType::Float64,
            Self::Date(_) => DataType::Date32,
            Self::Timestamp { zoned: false, .. } => {
                DataType::Timestamp(TimeUnit::Microsecond, None)
            }
            Self::Timestamp { zoned: true, .. } => {
                DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("+00:00")))
            }
            Self::String => DataType::Utf8,
        }
    }

    pub fn iceberg(self) -> Type {
        Type::Primitive(match self {
            Self::Boolean => PrimitiveType::Boolean,
            Self::Long => PrimitiveType::Long,
            Self::Decimal { precision, scale } => PrimitiveType::Decimal {
                precision: u32::from(precision),
                scale: u32::from(scale),
            },
            Self::Double => PrimitiveType::Double,
            Self::Date(_) => PrimitiveType::Date,
            Self::Timestamp { zoned: false, .. } => PrimitiveType::Timestamp,
            Self::Timestamp { zoned: true, .. } => PrimitiveType::Timestamptz,
            Self::String => PrimitiveType::String,
        })
    }

    /// The type an existing table column of Iceberg type `ty` is loaded as; the date form is
    /// taken from `read_as` (what the file's values look like) when it has one.
    pub fn of_table_column(ty: &Type, read_as: CsvType) -> Option<CsvType> {
        let date = match read_as {
            Self::Date(f) | Self::Timestamp { date: f, .. } => f,
            _ => DateFormat::Iso,
        };
        Some(match ty.as_primitive_type()? {
            PrimitiveType::Boolean => Self::Boolean,
            PrimitiveType::Long => Self::Long,
            PrimitiveType::Decimal { precision, scale } => Self::Decimal {
                precision: u8::try_from(*precision).ok()?,
                scale: u8::try_from(*scale).ok()?,
            },
            PrimitiveType::Double => Self::Double,
            PrimitiveType::Date => Self::Date(date),
            PrimitiveType::Timestamp => Self::Timestamp { date, zoned: false },
            PrimitiveType::Timestamptz => Self::Timestamp { date, zoned: true },
            PrimitiveType::String => Self::String,
            _ => return None,
        })
    }

    /// Whether every value read as `self` also reads as `wider` (a file's column loaded into
    /// an existing table column).
    pub fn fits_in(self, wider: CsvType) -> bool {
        use CsvType::*;
        match (self, wider) {
            (_, String) => true,
            (Long, Decimal { precision, scale }) => precision - scale >= 19,
            (Long | Decimal { .. }, Double) => true,
            (
                Decimal {
                    precision: p,
                    scale: s,
                },
                Decimal {
                    precision: wp,
                    scale: ws,
                },
            ) => s <= ws && p - s <= wp - ws,
            (Timestamp { zoned: a, .. }, Timestamp { zoned: b, .. }) => a == b,
            (Date(_), Date(_)) => true,
            (a, b) => a == b,
        }
    }

    /// `--type` and `--schema` spelling: `boolean`, `bigint` (`long`, `int`), `double`,
    /// `decimal(P,S)`, `date`, `timestamp`, `timestamptz`, `string` (`varchar`, `text`).
    pub fn parse(text: &str) -> Result<CsvType, String> {
        let lower = text.trim().to_ascii_lowercase();
        let compact: String = lower.chars().filter(|c| !c.is_whitespace()).collect();
        if let Some(args) = compact
            .strip_prefix("decimal(")
            .and_then(|a| a.strip_suffix(')'))
        {
            let (p, s) = args.split_once(',').unwrap_or((args, "0"));
            let (precision, scale) = (p.parse::<u8>(), s.parse::<u8>());
            return match (precision, scale) {
                (Ok(precision), Ok(scale))
                    if (1..=MAX_DECIMAL_PRECISION).contains(&precision) && scale <= precision =>
                {
                    Ok(Self::Decimal { precision, scale })
                }
                _ => Err(format!(
                    "`{text}`: a decimal needs 1 <= precision <= 38 and scale <= precision"
                )),
            };
        }
        Ok(match compact.as_str() {
            "boolean" | "bool" => Self::Boolean,
            "bigint" | "long" | "int" | "integer" => Self::Long,
            "double" | "float" => Self::Double,
            "date" => Self::Date(DateFormat::Iso),
            "timestamp" => Self::Timestamp {
                date: DateFormat::Iso,
                zoned: false,
            },
            "timestamptz" => Self::Timestamp {
                date: DateFormat::Iso,
                zoned: true,
            },
            "string" | "varchar" | "text" => Self::String,
            _ => {
                return Err(format!(
                    "unknown type `{text}`: use boolean, bigint, double, decimal(P,S), date, \
                     timestamp, timestamptz or string"
                ))
            }
        })
    }
}

/// `--schema`'s spelling: every column as `NAME TYPE`, comma-separated
/// (`"id bigint, price decimal(10, 2), day date"`).
pub fn parse_schema(text: &str) -> Result<Vec<(String, CsvType)>, String> {
    split_top_level(text)
        .into_iter()
        .map(|item| {
            let (name, ty) = item
                .split_once(char::is_whitespace)
                .ok_or_else(|| format!("`{item}`: write NAME TYPE"))?;
            Ok((name.to_owned(), CsvType::parse(ty)?))
        })
        .collect()
}

impl fmt::Display for CsvType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Boolean => f.write_str("boolean"),
            Self::Long => f.write_str("bigint"),
            Self::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            Self::Double => f.write_str("double"),
            Self::Date(d) => write!(f, "date ({})", d.pattern()),
            Self::Timestamp { date, zoned: false } => write!(f, "timestamp ({})", date.pattern()),
            Self::Timestamp { date, zoned: true } => {
                write!(f, "timestamptz ({}, with a zone)", date.pattern())
            }
            Self::String => f.write_str("string"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_is_read_from_its_text() {
        let schema = parse_schema("id bigint, price decimal(10, 2), day date").expect("schema");
        assert_eq!(
            schema,
            [
                ("id".to_owned(), CsvType::Long),
                (
                    "price".to_owned(),
                    CsvType::Decimal {
                        precision: 10,
                        scale: 2
                    }
                ),
                ("day".to_owned(), CsvType::Date(DateFormat::Iso)),
            ]
        );
        assert!(parse_schema("id").is_err());
        assert!(parse_schema("id nonsense").is_err());
    }
}
