//! The cluster status the leading coordinator publishes (and serves on its admin port), read by
//! `floe status`.

use etcd_client::PutOptions;

use crate::{ClusterError, Etcd};

/// Publishes `json` as the cluster's status.
pub async fn publish(etcd: &Etcd, json: &str) -> Result<(), ClusterError> {
    let mut client = etcd.client.clone();
    client
        .put(etcd.keys.status(), json, None::<PutOptions>)
        .await
        .map_err(|e| etcd.error(e))?;
    Ok(())
}

/// The last published status, if any.
pub async fn read(etcd: &Etcd) -> Result<Option<String>, ClusterError> {
    let mut client = etcd.client.clone();
    let r = client
        .get(etcd.keys.status(), None)
        .await
        .map_err(|e| etcd.error(e))?;
    Ok(r.kvs()
        .first()
        .and_then(|kv| kv.value_str().ok())
        .map(str::to_owned))
}
