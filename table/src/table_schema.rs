//! How a Floe table schema maps to Iceberg: column types, the schema with its field ids, the
//! partition spec, and what differs in a table that already exists.

use std::collections::HashSet;
use std::sync::Arc;

use floe_common::schema::{ColumnType, PartitionTransform, TableSchema};
use iceberg::spec::{
    NestedField, PrimitiveType, Schema, TableMetadata, Transform, Type, UnboundPartitionSpec,
};

use crate::DataFileError;

pub fn primitive_type(ty: ColumnType) -> PrimitiveType {
    match ty {
        ColumnType::Long => PrimitiveType::Long,
        ColumnType::Int => PrimitiveType::Int,
        ColumnType::Double => PrimitiveType::Double,
        ColumnType::String => PrimitiveType::String,
        ColumnType::Binary => PrimitiveType::Binary,
        ColumnType::Boolean => PrimitiveType::Boolean,
        ColumnType::TimestampTz => PrimitiveType::Timestamptz,
    }
}

/// The iceberg schema for `spec` (field ids 1..=n in column order).
pub fn iceberg_schema(spec: &TableSchema) -> Result<Schema, DataFileError> {
    let invalid = |reason: String| DataFileError::InvalidSchema {
        table: spec.name.clone(),
        reason,
    };
    if spec.columns.is_empty() {
        return Err(invalid("no columns".into()));
    }
    let mut seen = HashSet::new();
    let mut fields = Vec::with_capacity(spec.columns.len());
    for (i, col) in spec.columns.iter().enumerate() {
        if col.name.is_empty() {
            return Err(invalid("empty column name".into()));
        }
        if !seen.insert(col.name.as_str()) {
            return Err(invalid(format!("duplicate column `{}`", col.name)));
        }
        let id = i32::try_from(i + 1).map_err(|_| invalid("too many columns".into()))?;
        fields.push(Arc::new(NestedField::new(
            id,
            &col.name,
            Type::Primitive(primitive_type(col.ty)),
            col.required,
        )));
    }
    Schema::builder()
        .with_fields(fields)
        .build()
        .map_err(|e| invalid(e.to_string()))
}

pub fn transform_of(t: &PartitionTransform) -> Transform {
    match t {
        PartitionTransform::Identity => Transform::Identity,
        PartitionTransform::Hour => Transform::Hour,
        PartitionTransform::Day => Transform::Day,
        PartitionTransform::Month => Transform::Month,
        PartitionTransform::Year => Transform::Year,
    }
}

/// Partition field name as Spark/Java name it (`col`, `col_hour`, `col_day`, ...).
pub fn partition_field_name(column: &str, t: &PartitionTransform) -> String {
    match t {
        PartitionTransform::Identity => column.to_owned(),
        PartitionTransform::Hour => format!("{column}_hour"),
        PartitionTransform::Day => format!("{column}_day"),
        PartitionTransform::Month => format!("{column}_month"),
        PartitionTransform::Year => format!("{column}_year"),
    }
}

pub fn unbound_partition_spec(spec: &TableSchema) -> Result<UnboundPartitionSpec, DataFileError> {
    let invalid = |reason: String| DataFileError::InvalidSchema {
        table: spec.name.clone(),
        reason,
    };
    let mut builder = UnboundPartitionSpec::builder();
    for pf in &spec.partition {
        let (idx, col) = spec
            .columns
            .iter()
            .enumerate()
            .find(|(_, c)| c.name == pf.column)
            .ok_or_else(|| invalid(format!("partition column `{}` is not a column", pf.column)))?;
        let time_based = !matches!(pf.transform, PartitionTransform::Identity);
        if time_based && col.ty != ColumnType::TimestampTz {
            return Err(invalid(format!(
                "partition transform {:?} needs a timestamp column, `{}` is {:?}",
                pf.transform, pf.column, col.ty
            )));
        }
        let source_id = i32::try_from(idx + 1).map_err(|_| invalid("too many columns".into()))?;
        builder = builder
            .add_partition_field(
                source_id,
                partition_field_name(&pf.column, &pf.transform),
                transform_of(&pf.transform),
            )
            .map_err(|e| invalid(e.to_string()))?;
    }
    Ok(builder.build())
}

/// Differences between the columns Floe writes and the table's current schema.
pub fn schema_problems(spec: &TableSchema, metadata: &TableMetadata) -> Vec<String> {
    let schema = metadata.current_schema();
    let table_fields = schema.as_struct().fields();
    let mut problems = Vec::new();
    for col in &spec.columns {
        let Some(field) = table_fields.iter().find(|f| f.name == col.name) else {
            problems.push(format!("column `{}` is missing from the table", col.name));
            continue;
        };
        let expected = Type::Primitive(primitive_type(col.ty));
        if *field.field_type != expected {
            problems.push(format!(
                "column `{}` is {} in the table but Floe writes {}",
                col.name, field.field_type, expected
            ));
        }
        if field.required && !col.required {
            problems.push(format!(
                "column `{}` is required in the table but nullable in Floe",
                col.name
            ));
        }
    }
    for field in table_fields {
        if !spec.columns.iter().any(|c| c.name == field.name) {
            problems.push(format!(
                "table has column `{}` that Floe does not write",
                field.name
            ));
        }
    }
    problems
}

pub fn warn_on_partition_difference(spec: &TableSchema, metadata: &TableMetadata) {
    let schema = metadata.current_schema();
    let actual: Vec<(String, Transform)> = metadata
        .default_partition_spec()
        .fields()
        .iter()
        .map(|f| {
            let column = schema
                .field_by_id(f.source_id)
                .map(|c| c.name.clone())
                .unwrap_or_default();
            (column, f.transform)
        })
        .collect();
    let wanted: Vec<(String, Transform)> = spec
        .partition
        .iter()
        .map(|p| (p.column.clone(), transform_of(&p.transform)))
        .collect();
    if actual != wanted {
        tracing::warn!(
            table = %spec.name,
            ?actual,
            ?wanted,
            "existing table is partitioned differently from the Floe schema; writing with the table's spec"
        );
    }
}
