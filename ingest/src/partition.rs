//! `--partition-by`: a new table's partition spec, written as in Spark and Trino DDL:
//! `day(ts), bucket(16, id), country` (`identity`, `year`, `month`, `day`, `hour`,
//! `bucket(N, col)`, `truncate(W, col)`, or a bare column for identity).

use iceberg::spec::{Schema, Transform, UnboundPartitionSpec};

use crate::error::IngestError;
use crate::spec_list::split_top_level;

/// The spec `text` describes over the columns of `schema`.
pub fn partition_spec(text: &str, schema: &Schema) -> Result<UnboundPartitionSpec, IngestError> {
    let bad = |why: String| IngestError::Options(format!("--partition-by `{text}`: {why}"));
    let mut builder = UnboundPartitionSpec::builder();
    for item in split_top_level(text) {
        let (transform, column) = match item.split_once('(') {
            None => (Transform::Identity, item),
            Some((name, rest)) => {
                let args = rest
                    .strip_suffix(')')
                    .ok_or_else(|| bad(format!("`{item}` lacks its `)`")))?;
                let args: Vec<&str> = args.split(',').map(str::trim).collect();
                let width = |args: &[&str]| -> Result<u32, IngestError> {
                    args.first()
                        .and_then(|n| n.parse().ok())
                        .filter(|n| *n > 0)
                        .ok_or_else(|| bad(format!("`{item}` needs a positive number first")))
                };
                match (name.trim().to_ascii_lowercase().as_str(), args.as_slice()) {
                    ("identity", [c]) => (Transform::Identity, *c),
                    ("year" | "years", [c]) => (Transform::Year, *c),
                    ("month" | "months", [c]) => (Transform::Month, *c),
                    ("day" | "days", [c]) => (Transform::Day, *c),
                    ("hour" | "hours", [c]) => (Transform::Hour, *c),
                    ("bucket", [_, c]) => (Transform::Bucket(width(&args)?), *c),
                    ("truncate", [_, c]) => (Transform::Truncate(width(&args)?), *c),
                    _ => {
                        return Err(bad(format!(
                            "`{item}` is not a partition transform: use identity, year, month, \
                             day, hour, bucket(N, col) or truncate(W, col)"
                        )))
                    }
                }
            }
        };
        let field = schema
            .field_by_name(column)
            .ok_or_else(|| bad(format!("no column `{column}`")))?;
        let name = match transform {
            Transform::Identity => column.to_owned(),
            Transform::Bucket(_) => format!("{column}_bucket"),
            Transform::Truncate(_) => format!("{column}_trunc"),
            t => format!("{column}_{}", t.to_string().to_ascii_lowercase()),
        };
        builder = builder
            .add_partition_field(field.id, name, transform)
            .map_err(|e| bad(e.to_string()))?;
    }
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use iceberg::spec::{NestedField, PrimitiveType, Type};
    use std::sync::Arc;

    #[test]
    fn transforms_are_read_as_in_spark_ddl() {
        let schema = Schema::builder()
            .with_fields([
                Arc::new(NestedField::optional(
                    1,
                    "ts",
                    Type::Primitive(PrimitiveType::Timestamp),
                )),
                Arc::new(NestedField::optional(
                    2,
                    "id",
                    Type::Primitive(PrimitiveType::Long),
                )),
                Arc::new(NestedField::optional(
                    3,
                    "country",
                    Type::Primitive(PrimitiveType::String),
                )),
            ])
            .build()
            .expect("schema");
        let spec = partition_spec("day(ts), bucket(16, id), country", &schema).expect("spec");
        let fields: Vec<(i32, String, Transform)> = spec
            .fields()
            .iter()
            .map(|f| (f.source_id, f.name.clone(), f.transform))
            .collect();
        assert_eq!(
            fields,
            [
                (1, "ts_day".to_owned(), Transform::Day),
                (2, "id_bucket".to_owned(), Transform::Bucket(16)),
                (3, "country".to_owned(), Transform::Identity),
            ]
        );
        let e = partition_spec("week(ts)", &schema).expect_err("no such transform");
        assert!(e.to_string().contains("not a partition transform"), "{e}");
        let e = partition_spec("day(nope)", &schema).expect_err("no such column");
        assert!(e.to_string().contains("no column `nope`"), "{e}");
    }
}
