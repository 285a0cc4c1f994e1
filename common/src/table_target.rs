//! `TableTarget`: an output table as a writer in another process receives it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// FileIO properties that may leave the coordinator: where storage is and how to address it,
/// never how to authenticate (REST catalogs pass every catalog property, headers and
/// credentials included, into the FileIO).
const WIRE_PROPERTIES: &[&str] = &[
    "s3.endpoint",
    "s3.region",
    "client.region",
    "s3.path-style-access",
];

/// An Iceberg table as a worker needs it to write data files the committer can commit: the
/// table's metadata without its snapshot history (schema, partition spec, location, properties,
/// with the table's own field and spec ids) and the FileIO properties. Only addresses go over
/// the wire ([`TableTarget::for_the_wire`]): a remote worker takes credentials from its own
/// environment, as it does for the checkpoint store.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableTarget {
    /// `namespace.table`.
    pub table: String,
    /// Iceberg table metadata JSON, history left out.
    pub metadata_json: String,
    pub file_io: BTreeMap<String, String>,
}

impl TableTarget {
    /// The target with only the FileIO properties that say where storage is.
    pub fn for_the_wire(&self) -> Self {
        Self {
            file_io: self
                .file_io
                .iter()
                .filter(|(k, _)| WIRE_PROPERTIES.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            ..self.clone()
        }
    }
}

/// Property values left out: they may be credentials.
impl std::fmt::Debug for TableTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableTarget")
            .field("table", &self.table)
            .field("file_io", &self.file_io.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_storage_addresses_go_over_the_wire_and_debug_shows_no_value() {
        let target = TableTarget {
            table: "gold.late".into(),
            metadata_json: "{}".into(),
            file_io: [
                ("s3.endpoint", "http://s3:8333"),
                ("s3.region", "eu-west-1"),
                ("s3.access-key-id", "AKIA"),
                ("s3.secret-access-key", "hush"),
                ("header.Authorization", "Bearer hush"),
                ("adls.connection-string", "AccountKey=hush"),
                ("uri", "https://user:hush@catalog"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        };
        let wire = target.for_the_wire();
        assert_eq!(
            wire.file_io.keys().collect::<Vec<_>>(),
            ["s3.endpoint", "s3.region"]
        );
        assert!(!format!("{target:?}").contains("hush"));
    }
}
