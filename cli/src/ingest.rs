//! `floe ingest FILE.csv --table ns.t`: a CSV file (local or `s3://`) loaded into an Iceberg
//! table, its types inferred, its bad rows kept in `ns.t_rejects`, exactly once per content.

use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytesize::ByteSize;
use clap::{Args, ValueEnum};
use floe_ingest::csv_type::CsvType;
use floe_ingest::infer::NullValues;
use floe_ingest::input::CsvInput;
use floe_ingest::read_rows::LoadProgress;
use floe_ingest::{IngestOptions, IngestReport, LoadMode};

use crate::catalog_args::CatalogArgs;
use crate::query::parse_bytes;

#[derive(Args)]
pub struct IngestArgs {
    /// The CSV file: a path, file:///…, or s3://bucket/key.
    file: String,
    /// The table to load: `namespace.table`.
    #[arg(long)]
    table: String,
    /// `create` fails if the table exists; `append` adds the rows; `overwrite` replaces every
    /// row in one snapshot. `append` and `overwrite` create a missing table.
    #[arg(long, value_enum, default_value_t = Mode::Append)]
    mode: Mode,
    #[command(flatten)]
    catalog: CatalogArgs,
    /// The field delimiter (detected among `,` `;` tab `|` without it); `tab` or `\t` for tab.
    #[arg(long, value_parser = parse_byte)]
    delimiter: Option<u8>,
    /// The quote character (detected among `"` and `'` without it).
    #[arg(long, value_parser = parse_byte)]
    quote: Option<u8>,
    /// The first row is a header (detected without this or --no-header).
    #[arg(long, conflicts_with = "no_header")]
    header: bool,
    /// The first row is data; columns are named column_1, column_2, … (or by --schema).
    #[arg(long)]
    no_header: bool,
    /// A text that reads as null (repeatable); replaces the defaults NULL, null, NA and N/A.
    /// The empty field is always null.
    #[arg(long = "null", value_name = "TEXT")]
    nulls: Vec<String>,
    /// A column's type, by name or header: `--type zip=string`, `--type price=decimal(10,2)`
    /// (boolean, bigint, double, decimal(P,S), date, timestamp, timestamptz, string).
    #[arg(long = "type", value_name = "COLUMN=TYPE", value_parser = parse_column_type)]
    types: Vec<(String, CsvType)>,
    /// Every column, in the file's order: `"id bigint, name string, born date"`.
    #[arg(long, value_parser = floe_ingest::csv_type::parse_schema)]
    schema: Option<Vec<(String, CsvType)>>,
    /// Fail, loading nothing, if more rows than this cannot be read.
    #[arg(long)]
    max_rejects: Option<u64>,
    /// Load the file even if the table already holds its content.
    #[arg(long)]
    force: bool,
    /// A new table's partitioning: `day(ts)`, `bucket(16, id), country`, …
    #[arg(long)]
    partition_by: Option<String>,
    /// Data files roll at this size.
    #[arg(long, default_value = "128MiB", value_parser = parse_bytes)]
    target_file_size: ByteSize,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    Create,
    Append,
    Overwrite,
}

pub(crate) fn parse_byte(text: &str) -> Result<u8, String> {
    match text {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        _ if text.len() == 1 && text.is_ascii() => Ok(text.as_bytes()[0]),
        _ => Err(format!("`{text}`: give one ASCII character (or `tab`)")),
    }
}

pub(crate) fn parse_column_type(text: &str) -> Result<(String, CsvType), String> {
    let (column, ty) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}`: write COLUMN=TYPE"))?;
    Ok((column.trim().to_owned(), CsvType::parse(ty)?))
}

pub async fn ingest(args: IngestArgs) -> anyhow::Result<()> {
    let mut options = IngestOptions::new(
        args.table.clone(),
        match args.mode {
            Mode::Create => LoadMode::Create,
            Mode::Append => LoadMode::Append,
            Mode::Overwrite => LoadMode::Overwrite,
        },
    );
    options.dialect.delimiter = args.delimiter;
    options.dialect.quote = args.quote;
    options.dialect.header = match (args.header, args.no_header) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    };
    if !args.nulls.is_empty() {
        options.nulls = NullValues::only(args.nulls.clone());
    }
    options.columns.types = args.types.clone();
    options.columns.schema = args.schema.clone();
    options.max_rejects = args.max_rejects;
    options.force = args.force;
    options.partition_by = args.partition_by.clone();
    options.target_file_bytes = args.target_file_size.as_u64();

    let input = CsvInput::open(&args.file)?;
    let catalog = args.catalog.connect().await?;
    let commits = args.catalog.snapshot_commits().await?;
    let progress = Arc::new(LoadProgress::default());
    let shown = tokio::spawn(show_progress(progress.clone()));
    let report = floe_ingest::ingest(catalog, &commits, &input, &options, progress).await;
    shown.abort();
    let report = report.with_context(|| format!("loading {} into {}", args.file, args.table))?;
    print_report(&report);
    Ok(())
}

/// A progress line on standard error every few seconds, once a load has run for a while.
async fn show_progress(progress: Arc<LoadProgress>) {
    let tty = std::io::stderr().is_terminal();
    let mut tick = tokio::time::interval(Duration::from_secs(if tty { 1 } else { 10 }));
    tick.tick().await;
    loop {
        tick.tick().await;
        let (read, size) = (
            progress.bytes_read.load(Ordering::Relaxed),
            progress.size.load(Ordering::Relaxed).max(1),
        );
        let line = format!(
            "{} of {} read ({:.0}%), {} rows, {} rejected",
            ByteSize(read),
            ByteSize(size),
            read as f64 * 100.0 / size as f64,
            progress.rows.load(Ordering::Relaxed),
            progress.rejected.load(Ordering::Relaxed),
        );
        if tty {
            eprint!("\r{line}   ");
        } else {
            eprintln!("{line}");
        }
    }
}

fn print_report(report: &IngestReport) {
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
    if let Some(snapshot) = report.already_loaded_by {
        println!(
            "{} already holds this file's content (sha256 {}, snapshot {snapshot}): nothing loaded; --force loads it again",
            report.table, report.sha256
        );
        return;
    }
    let columns: Vec<String> = report
        .columns
        .iter()
        .map(|(name, ty)| format!("{name} {ty}"))
        .collect();
    println!("columns: {}", columns.join(", "));
    if !report.added_columns.is_empty() {
        println!("added to the table: {}", report.added_columns.join(", "));
    }
    println!(
        "loaded {} rows into {} in {} data files (snapshot {})",
        report.rows,
        report.table,
        report.data_files,
        report.snapshot_id.map_or("-".to_owned(), |s| s.to_string())
    );
    if let Some(rejects) = &report.rejects_table {
        println!("{} rows could not be read: see {rejects}", report.rejected);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_types_and_delimiters_are_read_from_the_command_line() {
        assert_eq!(
            parse_column_type("zip=string").expect("type"),
            ("zip".to_owned(), CsvType::String)
        );
        assert!(parse_column_type("zip").is_err());
        assert_eq!(parse_byte("tab"), Ok(b'\t'));
        assert!(parse_byte(";;").is_err());
    }
}
