//! The catalog's tables as DataFusion sees them: iceberg-datafusion's catalog without its
//! metadata tables (`t$snapshots`, `t$manifests`), whose scans ignore the query's projection
//! and so answer with columns the plan did not ask for. `floe snapshots` shows a table's
//! snapshots instead.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use datafusion::error::Result;
use iceberg_datafusion::IcebergCatalogProvider;

/// Every namespace of the catalog, as a schema of its tables.
#[derive(Debug)]
pub(crate) struct LakeCatalog(pub IcebergCatalogProvider);

impl CatalogProvider for LakeCatalog {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema_names(&self) -> Vec<String> {
        self.0.schema_names()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        let tables = self.0.schema(name)?;
        Some(Arc::new(LakeSchema(tables)))
    }
}

#[derive(Debug)]
struct LakeSchema(Arc<dyn SchemaProvider>);

fn is_metadata_table(name: &str) -> bool {
    name.contains('$')
}

#[async_trait]
impl SchemaProvider for LakeSchema {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn table_names(&self) -> Vec<String> {
        let mut names = self.0.table_names();
        names.retain(|n| !is_metadata_table(n));
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if is_metadata_table(name) {
            return Ok(None);
        }
        self.0.table(name).await
    }

    fn table_exist(&self, name: &str) -> bool {
        !is_metadata_table(name) && self.0.table_exist(name)
    }
}
