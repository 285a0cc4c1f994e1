//! Moving a worker's state to another worker, as a rescale or a failover does: the state of
//! `keys` open keys (one window, spread over 4 partitions) is snapshotted, encoded and stored by
//! one worker at a barrier, then downloaded and decoded as it arrives (as a worker restores)
//! and restored into a window operator by another, through a checkpoint store on local disk.
//! Reported in seconds and MB/s.

use std::time::Instant;

use floe_common::aggregate::{Acc, AggregateSpec, Input};
use floe_common::checkpoint::{encode_state, CheckpointRef};
use floe_common::config::example_job;
use floe_common::watermark::WATERMARK_START;
use floe_common::window::{OperatorStats, PartitionSnapshot, WindowOperator, WindowSnapshot};
use floe_storage::{open_location, CheckpointStore};
use serde_json::{json, Value};

const PARTITIONS: i32 = 4;

/// One partition's share of `keys` keys, in one open window.
fn partition_state(template: &[Acc], partition: i32, keys: usize) -> PartitionSnapshot {
    let mine: Vec<String> = (0..keys)
        .filter(|k| *k as i32 % PARTITIONS == partition)
        .map(|k| format!("video_{k:08}"))
        .collect();
    let mut accs = Vec::with_capacity(mine.len() * template.len());
    for (k, _) in mine.iter().enumerate() {
        for (i, acc) in template.iter().enumerate() {
            let mut acc = *acc;
            acc.update(Input::Int((k % 997) as i64 + i as i64));
            accs.push(acc);
        }
    }
    PartitionSnapshot {
        partition,
        next_offset: Some(keys as i64),
        max_event_ms: Some(60_000),
        windows: vec![WindowSnapshot {
            start_ms: 60_000,
            keys: mine,
            accs,
        }],
        sessions: Vec::new(),
        first_seen: Vec::new(),
        stats: OperatorStats::default(),
    }
}

pub async fn run(keys: usize) -> anyhow::Result<Value> {
    let dir = tempfile::tempdir()?;
    let job = example_job();
    let template: Vec<Acc> = job.aggregates.iter().map(AggregateSpec::new_acc).collect();
    let partitions = (0..PARTITIONS)
        .map(|p| partition_state(&template, p, keys))
        .collect();
    let sender = WindowOperator::restore(job.window, &job.aggregates, partitions, 0, 0)
        .map_err(anyhow::Error::msg)?;
    let location = open_location(&dir.path().display().to_string())?;
    let store = CheckpointStore::new(location, &job.name);
    let at = CheckpointRef { id: 1, epoch: 1 };

    let started = Instant::now();
    let bytes = encode_state(&sender.snapshot())?;
    let size = bytes.len();
    store.put_worker_state(at, "sender", bytes).await?;
    let send_s = started.elapsed().as_secs_f64();
    drop(sender);

    let started = Instant::now();
    let all = tokio_util::sync::CancellationToken::new();
    let decoded = floe_worker::start_plan::read_state(&store, at, "sender", &all, |_| true).await?;
    let receiver = WindowOperator::restore(
        job.window,
        &job.aggregates,
        decoded.snapshot.partitions,
        WATERMARK_START,
        0,
    )
    .map_err(anyhow::Error::msg)?;
    let receive_s = started.elapsed().as_secs_f64();
    let restored: usize = receiver
        .snapshot()
        .partitions
        .iter()
        .flat_map(|p| &p.windows)
        .map(|w| w.keys.len())
        .sum();
    anyhow::ensure!(restored == keys, "restored {restored} of {keys} keys");
    let mb = size as f64 / 1e6;
    Ok(json!({
        "open_keys": keys,
        "state_bytes": size,
        "snapshot_encode_store_s": send_s,
        "load_decode_restore_s": receive_s,
        "total_s": send_s + receive_s,
        "mb_per_s": mb / (send_s + receive_s),
        "note": "one worker's state of open keys to another through the checkpoint store on local disk; actors' start excluded",
    }))
}
