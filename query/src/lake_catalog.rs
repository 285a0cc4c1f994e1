//! The catalog's tables as DataFusion sees them: every namespace a schema, listed when a query
//! starts, and a table loaded only when the query names it (once, pinned to its current
//! snapshot for the whole query). iceberg-datafusion's own catalog loads every table of every
//! namespace for each query, and its table provider loads the table again to scan it.
//!
//! Its metadata tables (`t$snapshots`) are not offered: their scans ignore the query's
//! projection. `floe snapshots` shows the same facts.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result};
use iceberg::{Catalog, NamespaceIdent, TableIdent};
use iceberg_datafusion::IcebergStaticTableProvider;

/// Every namespace of the catalog, as a schema of its tables.
#[derive(Debug)]
pub(crate) struct LakeCatalog {
    schemas: HashMap<String, Arc<LakeSchema>>,
}

impl LakeCatalog {
    /// Lists the namespaces and their tables (no table is loaded).
    pub(crate) async fn list(catalog: Arc<dyn Catalog>) -> iceberg::Result<Self> {
        let mut schemas = HashMap::new();
        for namespace in catalog.list_namespaces(None).await? {
            let tables = catalog
                .list_tables(&namespace)
                .await?
                .into_iter()
                .map(|t| t.name().to_owned())
                .collect();
            let schema = LakeSchema {
                catalog: catalog.clone(),
                namespace: namespace.clone(),
                tables,
                loaded: Mutex::default(),
            };
            schemas.insert(namespace.join("."), Arc::new(schema));
        }
        Ok(LakeCatalog { schemas })
    }
}

impl CatalogProvider for LakeCatalog {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema_names(&self) -> Vec<String> {
        self.schemas.keys().cloned().collect()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        let schema = self.schemas.get(name)?.clone();
        Some(schema)
    }
}

#[derive(Debug)]
struct LakeSchema {
    catalog: Arc<dyn Catalog>,
    namespace: NamespaceIdent,
    tables: Vec<String>,
    loaded: Mutex<HashMap<String, Arc<dyn TableProvider>>>,
}

#[async_trait]
impl SchemaProvider for LakeSchema {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn table_names(&self) -> Vec<String> {
        self.tables.clone()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if !self.table_exist(name) {
            return Ok(None);
        }
        if let Some(loaded) = self.lock().get(name) {
            return Ok(Some(loaded.clone()));
        }
        let ident = TableIdent::new(self.namespace.clone(), name.to_owned());
        let table = self
            .catalog
            .load_table(&ident)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let provider: Arc<dyn TableProvider> = Arc::new(
            IcebergStaticTableProvider::try_new_from_table(table)
                .await
                .map_err(|e| DataFusionError::External(Box::new(e)))?,
        );
        self.lock().insert(name.to_owned(), provider.clone());
        Ok(Some(provider))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.tables.iter().any(|t| t == name)
    }
}

impl LakeSchema {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<dyn TableProvider>>> {
        self.loaded
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
