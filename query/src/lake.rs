//! The lake as DataFusion sees it: every table of an Iceberg catalog by `namespace.table`, read
//! through iceberg's scan planning (partition and file pruning from the metadata, filters
//! pushed into the scan, position deletes applied), with memory bounded and a timeout.

use std::sync::Arc;
use std::time::Duration;

use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider, MemorySchemaProvider};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::TableReference;
use futures::StreamExt;
use iceberg::{Catalog, TableIdent};
use iceberg_datafusion::IcebergStaticTableProvider;

use crate::error::QueryError;
use crate::lake_catalog::LakeCatalog;
use crate::output::ResultSink;
use crate::time_travel::{self, AsOf, Pin, PINNED_CATALOG, PINNED_SCHEMA};

/// The catalog name queries see the lake's tables under (`floe.ns.table` or just `ns.table`).
pub const LAKE_CATALOG: &str = "floe";

/// How much a query may take.
#[derive(Debug, Clone, Copy)]
pub struct QueryLimits {
    /// Memory of sorts, joins and aggregations; past it they spill to disk, then fail.
    pub memory_bytes: usize,
    /// Planning, execution and writing the result, all together.
    pub timeout: Duration,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            memory_bytes: 1 << 30,
            timeout: Duration::from_secs(600),
        }
    }
}

/// How much of a result a sink was given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    pub rows: u64,
    /// The result had more rows than the limit let through.
    pub truncated: bool,
}

/// Read-only SQL over one Iceberg catalog.
pub struct Lake {
    catalog: Arc<dyn Catalog>,
    limits: QueryLimits,
}

impl Lake {
    pub fn new(catalog: Arc<dyn Catalog>, limits: QueryLimits) -> Self {
        Lake { catalog, limits }
    }

    /// Runs one statement, giving its result to `sink`; `Ok(rows)` when all of it was written.
    pub async fn run(&self, sql: &str, sink: &mut dyn ResultSink) -> Result<u64, QueryError> {
        Ok(self.run_limited(sql, sink, u64::MAX).await?.rows)
    }

    /// Runs one statement, giving at most `max_rows` of its result to `sink`; the query stops
    /// reading once it has them.
    pub async fn run_limited(
        &self,
        sql: &str,
        sink: &mut dyn ResultSink,
        max_rows: u64,
    ) -> Result<Written, QueryError> {
        let timeout = self.limits.timeout;
        tokio::time::timeout(timeout, self.write(sql, sink, max_rows))
            .await
            .map_err(|_| QueryError::TimedOut(timeout))?
    }

    async fn write(
        &self,
        sql: &str,
        sink: &mut dyn ResultSink,
        max_rows: u64,
    ) -> Result<Written, QueryError> {
        let mut stream = self.stream(sql).await?;
        sink.start(&stream.schema())?;
        let mut written = Written::default();
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| self.error(e))?;
            let room = max_rows - written.rows;
            if batch.num_rows() as u64 > room {
                if room > 0 {
                    sink.batch(&batch.slice(0, room as usize))?;
                }
                written.rows = max_rows;
                written.truncated = true;
                break;
            }
            written.rows += batch.num_rows() as u64;
            sink.batch(&batch)?;
        }
        sink.finish()?;
        Ok(written)
    }

    /// Plans one read-only statement over the catalog's tables as they are now (or as its
    /// time-travel clauses say) and starts it.
    async fn stream(&self, sql: &str) -> Result<SendableRecordBatchStream, QueryError> {
        let parsed = time_travel::parse(sql)?;
        let ctx = self.session().await?;
        self.register_pins(&ctx, &parsed.pins).await?;
        let state = ctx.state();
        let plan = state
            .statement_to_plan(parsed.statement)
            .await
            .map_err(|e| self.error(e))?;
        datafusion::execution::context::SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false)
            .verify_plan(&plan)
            .map_err(|e| QueryError::Sql(format!("only queries run here: {}", e.message())))?;
        let frame = ctx
            .execute_logical_plan(plan)
            .await
            .map_err(|e| self.error(e))?;
        frame.execute_stream().await.map_err(|e| self.error(e))
    }

    async fn session(&self) -> Result<SessionContext, QueryError> {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(self.limits.memory_bytes, 1.0)
            .build_arc()
            .map_err(|e| self.error(e))?;
        let config = SessionConfig::new()
            .with_create_default_catalog_and_schema(false)
            .with_default_catalog_and_schema(LAKE_CATALOG, "default")
            .with_information_schema(true);
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        let lake = LakeCatalog::list(self.catalog.clone()).await?;
        ctx.register_catalog(LAKE_CATALOG, Arc::new(lake));
        Ok(ctx)
    }

    /// Registers each table read as of an older state as a table of its own.
    async fn register_pins(&self, ctx: &SessionContext, pins: &[Pin]) -> Result<(), QueryError> {
        if pins.is_empty() {
            return Ok(());
        }
        let pinned = MemoryCatalogProvider::new();
        pinned
            .register_schema(PINNED_SCHEMA, Arc::new(MemorySchemaProvider::new()))
            .map_err(|e| self.error(e))?;
        ctx.register_catalog(PINNED_CATALOG, Arc::new(pinned));
        for pin in pins {
            let name = pin.table.join(".");
            let table_error = |message: String| QueryError::Table {
                table: name.clone(),
                message,
            };
            let ident =
                TableIdent::from_strs(&pin.table).map_err(|e| table_error(e.to_string()))?;
            let table = self
                .catalog
                .load_table(&ident)
                .await
                .map_err(|e| table_error(e.to_string()))?;
            let snapshot = match pin.as_of {
                AsOf::Snapshot(id) => id,
                AsOf::Time(at_ms) => time_travel::snapshot_at(
                    table
                        .metadata()
                        .history()
                        .iter()
                        .map(|log| (log.timestamp_ms, log.snapshot_id)),
                    at_ms,
                )
                .ok_or_else(|| table_error(format!("it had no snapshot at {}", utc(at_ms))))?,
            };
            let provider = IcebergStaticTableProvider::try_new_from_table_snapshot(table, snapshot)
                .await
                .map_err(|e| table_error(e.message().to_owned()))?;
            ctx.register_table(
                TableReference::full(PINNED_CATALOG, PINNED_SCHEMA, pin.name.as_str()),
                Arc::new(provider),
            )
            .map_err(|e| self.error(e))?;
        }
        Ok(())
    }

    fn error(&self, error: datafusion::error::DataFusionError) -> QueryError {
        QueryError::from_datafusion(error, self.limits.memory_bytes)
    }
}

fn utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string())
        .unwrap_or_else(|| ms.to_string())
}
