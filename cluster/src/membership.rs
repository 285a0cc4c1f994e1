//! The coordinator's view of the live workers: the keys under `workers/`, each turned into a
//! gRPC client, published on a watch channel the job controller follows.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use etcd_client::GetOptions;
use floe_proto::grpc::{GrpcTls, GrpcWorker};
use floe_proto::WorkerService;
use tokio::sync::watch;

use crate::registration::WorkerRecord;
use crate::{ClusterError, Etcd};

/// How often etcd is read, and how long a change must stand before it is published (workers
/// starting together cause one rebalance, not one each).
const POLL: Duration = Duration::from_millis(500);
const SETTLE: Duration = Duration::from_secs(1);

/// The live workers: name → address.
pub async fn read_workers(etcd: &Etcd) -> Result<BTreeMap<String, String>, ClusterError> {
    let mut client = etcd.client.clone();
    let prefix = etcd.keys.workers_prefix();
    let response = client
        .get(prefix, Some(GetOptions::new().with_prefix()))
        .await
        .map_err(|e| etcd.error(e))?;
    let mut workers = BTreeMap::new();
    for kv in response.kvs() {
        let (Ok(key), Ok(value)) = (kv.key_str(), kv.value_str()) else {
            continue;
        };
        let Some(name) = etcd.keys.worker_name(key) else {
            continue;
        };
        match serde_json::from_str::<WorkerRecord>(value) {
            Ok(record) => {
                workers.insert(name.to_owned(), record.address);
            }
            Err(e) => {
                tracing::warn!(key, error = %e, "ignoring a worker key that is not a worker record")
            }
        }
    }
    Ok(workers)
}

/// Follows the workers in etcd until the receiver is dropped, reaching them over TLS when
/// `tls` says so. While etcd cannot be read, the members stay as they were (losing etcd stops
/// progress, never correctness).
pub fn follow(etcd: Etcd, tls: Option<GrpcTls>) -> watch::Receiver<Vec<Arc<dyn WorkerService>>> {
    let (tx, rx) = watch::channel(Vec::new());
    tokio::spawn(async move {
        let mut published: BTreeMap<String, String> = BTreeMap::new();
        let mut clients: BTreeMap<(String, String), Arc<dyn WorkerService>> = BTreeMap::new();
        let mut unreadable = false;
        loop {
            if tx.is_closed() {
                return;
            }
            let read = read_workers(&etcd).await;
            match (&read, unreadable) {
                (Err(e), false) => {
                    tracing::warn!(error = %e, "cannot read the workers from etcd; the members stay as they are until it answers")
                }
                (Ok(_), true) => tracing::info!("etcd answers again; following the workers"),
                _ => {}
            }
            unreadable = read.is_err();
            match read {
                Ok(now) if now != published => {
                    tokio::time::sleep(SETTLE).await;
                    let Ok(settled) = read_workers(&etcd).await else {
                        continue;
                    };
                    if settled != now {
                        continue;
                    }
                    let mut members: Vec<Arc<dyn WorkerService>> = Vec::new();
                    for (name, address) in &settled {
                        let key = (name.clone(), address.clone());
                        if let Some(c) = clients.get(&key) {
                            members.push(c.clone());
                            continue;
                        }
                        match GrpcWorker::new(name, address, tls.as_ref()) {
                            Ok(c) => {
                                let c: Arc<dyn WorkerService> = Arc::new(c);
                                clients.insert(key, c.clone());
                                members.push(c);
                            }
                            Err(e) => tracing::warn!(error = %e, "cannot use worker"),
                        }
                    }
                    clients.retain(|(n, a), _| settled.get(n) == Some(a));
                    tracing::info!(workers = ?settled, "members changed");
                    published = settled;
                    if tx.send(members).is_err() {
                        return;
                    }
                }
                Ok(_) | Err(_) => {}
            }
            tokio::time::sleep(POLL).await;
        }
    });
    rx
}
