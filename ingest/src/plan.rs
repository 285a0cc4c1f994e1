//! What a load writes: the file's columns (names, types), the table columns each fills, and
//! the columns a file adds to an existing table.

use std::collections::HashSet;
use std::sync::Arc;

use iceberg::spec::{NestedField, Schema};

use crate::column_names::normalize;
use crate::csv_type::{CsvType, MAX_DECIMAL_PRECISION};
use crate::decode::LoadColumn;
use crate::error::IngestError;
use crate::infer::{infer_types, NullValues};
use crate::sample::Sample;

/// The user's say over the columns: `--schema` (every column, in file order) and `--type`
/// (one column by name or header).
#[derive(Debug, Clone, Default)]
pub struct ColumnChoice {
    pub schema: Option<Vec<(String, CsvType)>>,
    pub types: Vec<(String, CsvType)>,
}

/// One column of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileColumn {
    /// As the header wrote it (or `column_N` without one): the table column's doc.
    pub header: String,
    pub name: String,
    pub ty: CsvType,
}

/// The table columns a load fills, and which of them it adds to an existing table.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    pub columns: Vec<LoadColumn>,
    pub added: Vec<FileColumn>,
}

/// The file's columns: names from the header (normalised) or `--schema`, types inferred from
/// the sample unless chosen.
pub fn file_columns(
    sample: &Sample,
    choice: &ColumnChoice,
    nulls: &NullValues,
) -> Result<Vec<FileColumn>, IngestError> {
    let headers: Vec<String> = match (&sample.header, &choice.schema) {
        (Some(h), _) => h.clone(),
        (None, Some(schema)) => schema.iter().map(|(n, _)| n.clone()).collect(),
        (None, None) => (1..=sample.width).map(|i| format!("column_{i}")).collect(),
    };
    let mut inferred = infer_types(sample.width, sample.rows.iter().map(Vec::as_slice), nulls);
    if !sample.whole_file {
        // Rows outside the sample may have more integer digits: a decimal keeps its scale and
        // takes the widest precision.
        for ty in &mut inferred {
            if let CsvType::Decimal { scale, .. } = *ty {
                *ty = CsvType::Decimal {
                    precision: MAX_DECIMAL_PRECISION,
                    scale,
                };
            }
        }
    }
    let (names, types) = match &choice.schema {
        Some(schema) => {
            if schema.len() != sample.width {
                return Err(IngestError::Options(format!(
                    "--schema names {} columns but the file's rows have {}",
                    schema.len(),
                    sample.width
                )));
            }
            let names: Vec<String> = schema.iter().map(|(n, _)| n.clone()).collect();
            let types = schema
                .iter()
                .zip(&inferred)
                .map(|((_, ty), seen)| with_read_form(*ty, *seen))
                .collect();
            (normalize(&names), types)
        }
        None => (normalize(&headers), inferred.clone()),
    };
    let mut columns: Vec<FileColumn> = headers
        .into_iter()
        .zip(names)
        .zip(types)
        .map(|((header, name), ty)| FileColumn { header, name, ty })
        .collect();
    for (named, ty) in &choice.types {
        let wanted = normalize(std::slice::from_ref(named)).remove(0);
        let Some(i) = columns
            .iter()
            .position(|c| c.name == *named || c.header == *named || c.name == wanted)
        else {
            let known: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
            return Err(IngestError::Options(format!(
                "--type {named}: the file has no such column (its columns: {})",
                known.join(", ")
            )));
        };
        columns[i].ty = with_read_form(*ty, inferred[i]);
    }
    Ok(columns)
}

/// A chosen date or timestamp type read in the form the sample's values have.
fn with_read_form(chosen: CsvType, seen: CsvType) -> CsvType {
    match (chosen, seen) {
        (CsvType::Date(_), CsvType::Date(f) | CsvType::Timestamp { date: f, .. }) => {
            CsvType::Date(f)
        }
        (
            CsvType::Timestamp { zoned, .. },
            CsvType::Date(f) | CsvType::Timestamp { date: f, .. },
        ) => CsvType::Timestamp { date: f, zoned },
        _ => chosen,
    }
}

/// A new table's schema: every column optional, its header as its doc.
pub fn new_table_schema(columns: &[FileColumn]) -> Result<Schema, IngestError> {
    let fields = columns.iter().enumerate().map(|(i, c)| {
        Arc::new(NestedField::optional(i as i32 + 1, &c.name, c.ty.iceberg()).with_doc(&c.header))
    });
    Ok(Schema::builder().with_fields(fields).build()?)
}

/// A new table's load: each column from its own field.
pub fn plan_new_table(columns: &[FileColumn]) -> LoadPlan {
    LoadPlan {
        columns: columns
            .iter()
            .enumerate()
            .map(|(i, c)| LoadColumn {
                name: c.name.clone(),
                ty: c.ty,
                field: Some(i),
            })
            .collect(),
        added: Vec::new(),
    }
}

/// A load into existing table `table` of `schema`: each table column filled from the file's
/// column of its name, read as the table's type (the file's values must fit it unless
/// `--type` chose the column's type), or null when the file lacks it (only an optional
/// column may be missing). The file's other columns are added, optional.
pub fn plan_existing(
    table: &str,
    schema: &Schema,
    file: &[FileColumn],
    chosen: &HashSet<String>,
) -> Result<LoadPlan, IngestError> {
    let mut problems = Vec::new();
    let mut columns = Vec::new();
    for field in schema.as_struct().fields() {
        let Some(i) = file.iter().position(|c| c.name == field.name) else {
            if field.required {
                problems.push(format!(
                    "its required column `{}` is not in the file",
                    field.name
                ));
            }
            match CsvType::of_table_column(&field.field_type, CsvType::String) {
                Some(ty) => columns.push(LoadColumn {
                    name: field.name.clone(),
                    ty,
                    field: None,
                }),
                None => problems.push(format!(
                    "its column `{}` is {}, which a CSV load cannot fill, and not in the file",
                    field.name, field.field_type
                )),
            }
            continue;
        };
        let seen = file[i].ty;
        match CsvType::of_table_column(&field.field_type, seen) {
            None => problems.push(format!(
                "its column `{}` is {}, which a CSV load cannot fill",
                field.name, field.field_type
            )),
            Some(ty) if seen.fits_in(ty) || chosen.contains(&field.name) => {
                columns.push(LoadColumn {
                    name: field.name.clone(),
                    ty,
                    field: Some(i),
                })
            }
            Some(ty) => problems.push(format!(
                "its column `{}` is {ty} but the file's values read as {seen}",
                field.name
            )),
        }
    }
    if !problems.is_empty() {
        return Err(IngestError::SchemaMismatch {
            table: table.to_owned(),
            problems,
        });
    }
    let added: Vec<FileColumn> = file
        .iter()
        .filter(|c| schema.field_by_name(&c.name).is_none())
        .cloned()
        .collect();
    for c in &added {
        let field = file.iter().position(|f| f.name == c.name);
        columns.push(LoadColumn {
            name: c.name.clone(),
            ty: c.ty,
            field,
        });
    }
    Ok(LoadPlan { columns, added })
}
