//! The cost of merging one window's partials from several workers at the committer: each worker
//! encodes its partial of a window with `keys` keys as Arrow IPC (what crosses the network), the
//! committer decodes them and merges them into one row per key. Measured at 1 M keys per window
//! by default, the size the cluster design has to carry without key-range owners.

use std::time::Instant;

use floe_common::aggregate::{Acc, AggregateSpec};
use floe_common::config::example_job;
use floe_common::window::{merge_closed, ClosedWindow, KeyedAccs};
use floe_proto::row_ipc::{closed_windows_from_ipc, closed_windows_to_ipc};
use serde_json::{json, Value};

/// A window's partial on one worker: every key, with accumulators that depend on `worker`.
fn partial(template: &[Acc], keys: usize, worker: i64) -> ClosedWindow {
    let mut rows = KeyedAccs::new(template);
    let mut accs = template.to_vec();
    for k in 0..keys {
        for (i, acc) in accs.iter_mut().enumerate() {
            let input = floe_common::aggregate::Input::Int(worker + (k as i64 % 97) + i as i64);
            *acc = template[i];
            acc.update(input);
        }
        rows.merge_row(&format!("v_{k}"), accs.iter().copied());
    }
    ClosedWindow {
        start_ms: 0,
        end_ms: 60_000,
        rows,
    }
}

pub fn run(keys: usize, workers: usize) -> anyhow::Result<Value> {
    let job = example_job();
    let template: Vec<Acc> = job.aggregates.iter().map(AggregateSpec::new_acc).collect();
    let partials: Vec<ClosedWindow> = (0..workers)
        .map(|w| partial(&template, keys, w as i64))
        .collect();
    let started = Instant::now();
    let encoded = partials
        .iter()
        .map(|p| closed_windows_to_ipc(std::slice::from_ref(p), &template))
        .collect::<Result<Vec<_>, _>>()?;
    let encode_s = started.elapsed().as_secs_f64() / workers as f64;
    let bytes: usize = encoded.iter().map(Vec::len).sum::<usize>() / workers;
    let started = Instant::now();
    let mut decoded = Vec::new();
    for e in &encoded {
        decoded.extend(closed_windows_from_ipc(e, &template)?);
    }
    let decode_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let merged = merge_closed(decoded);
    let merge_s = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        merged.len() == 1 && merged[0].rows.len() == keys,
        "merged {} windows",
        merged.len()
    );
    Ok(json!({
        "keys_per_window": keys,
        "workers": workers,
        "ipc_bytes_per_worker": bytes,
        "encode_s_per_worker": encode_s,
        "decode_s_at_committer": decode_s,
        "merge_s_at_committer": merge_s,
        "note": "one window's partials from every worker, each with every key: the committer's worst case",
    }))
}
