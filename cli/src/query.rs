//! `floe query "SELECT …"`: SQL over every table of the catalog, answered by Floe itself.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use bytesize::ByteSize;
use clap::{Args, ValueEnum};
use floe_common::duration::parse_duration;
use floe_query::{Lake, OutputFormat, QueryLimits};

use crate::catalog_args::CatalogArgs;

#[derive(Args)]
pub struct QueryArgs {
    /// One read-only SQL statement. Tables are `namespace.table`; `FROM t FOR SYSTEM_VERSION AS
    /// OF <snapshot id>` or `FOR SYSTEM_TIME AS OF '<timestamp>'` reads an older state.
    sql: String,
    #[command(flatten)]
    catalog: CatalogArgs,
    /// `table` for a terminal, `csv`, `json` (one object per line) or `parquet` (with --out).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write the result to this file rather than to standard output.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Memory for sorts, joins and aggregations; past it they spill to disk, then fail.
    #[arg(long, default_value = "1GiB", value_parser = parse_bytes)]
    memory_limit: ByteSize,
    /// The query fails past this time (`30s`, `10m`).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    timeout: Duration,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Csv,
    Json,
    Parquet,
}

/// A size flag (`512MiB`, `2GiB`).
pub(crate) fn parse_bytes(text: &str) -> Result<ByteSize, String> {
    text.parse::<ByteSize>()
        .map_err(|e| format!("{text}: {e} (for example 512MiB or 2GiB)"))
}

pub async fn query(args: QueryArgs) -> anyhow::Result<()> {
    let format = match args.format {
        Format::Table => OutputFormat::Table,
        Format::Csv => OutputFormat::Csv,
        Format::Json => OutputFormat::Json,
        Format::Parquet => OutputFormat::Parquet,
    };
    let out: Box<dyn Write + Send> = match &args.out {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None if format == OutputFormat::Parquet => {
            anyhow::bail!("--format parquet writes a file: give it --out FILE")
        }
        None => Box::new(BufWriter::new(std::io::stdout())),
    };
    let memory_bytes = usize::try_from(args.memory_limit.as_u64())
        .context("--memory-limit is larger than this machine can address")?;
    let lake = Lake::new(
        args.catalog.connect().await?,
        QueryLimits {
            memory_bytes,
            timeout: args.timeout,
        },
    );
    let mut sink = floe_query::sink(format, out);
    let rows = lake.run(&args.sql, sink.as_mut()).await?;
    if let Some(path) = &args.out {
        eprintln!("{rows} rows written to {}", path.display());
    }
    Ok(())
}
