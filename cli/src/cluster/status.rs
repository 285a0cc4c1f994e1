//! `floe status`: the cluster as etcd and its leader see it.

use clap::Args;
use floe_cluster::leadership::current_leader;
use floe_cluster::membership::read_workers;
use serde_json::{json, Value};

use super::EtcdArgs;

#[derive(Args)]
pub struct StatusArgs {
    #[command(flatten)]
    etcd: EtcdArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub async fn status(args: StatusArgs) -> anyhow::Result<()> {
    let etcd = args.etcd.connect().await?;
    let leader = current_leader(&etcd).await?;
    let workers = read_workers(&etcd).await?;
    let published: Value = match floe_cluster::status::read(&etcd).await? {
        Some(text) => serde_json::from_str(&text)?,
        None => Value::Null,
    };
    let status = json!({
        "cluster": args.etcd.cluster,
        "leader": leader,
        "workers": workers,
        "job": published.get("job"),
        "progress": published.get("progress"),
        "published_at_ms": published.get("published_at_ms"),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(());
    }
    println!("cluster  {}", args.etcd.cluster);
    println!("leader   {}", leader.as_deref().unwrap_or("(none)"));
    println!("workers  {}", workers.len());
    let progress = &status["progress"];
    let assignment = &progress["assignment"];
    for (name, address) in &workers {
        let partitions = assignment
            .get(name)
            .map(Value::to_string)
            .unwrap_or_default();
        println!("  {name:<24} {address:<24} partitions {partitions}");
    }
    if let Some(parts) = progress["partitions"].as_array() {
        let holder = |p: i64| {
            assignment
                .as_object()
                .and_then(|a| {
                    a.iter().find(|(_, ps)| {
                        ps.as_array()
                            .is_some_and(|ps| ps.iter().any(|x| x.as_i64() == Some(p)))
                    })
                })
                .map(|(w, _)| w.clone())
                .unwrap_or_default()
        };
        println!(
            "  partition  worker                   next offset          lag   watermark (ms)     events"
        );
        for part in parts {
            let p = part["partition"].as_i64().unwrap_or(-1);
            println!(
                "  {p:>9}  {:<24} {:>11}  {:>11}   {:>14}  {:>9}",
                holder(p),
                part["next_offset"],
                part["lag"],
                part["watermark_ms"],
                part["events"]
            );
        }
    }
    if let Some(job) = status["job"].as_str() {
        println!(
            "job      {job} ({})",
            progress["state"].as_str().unwrap_or("?")
        );
        println!(
            "         events {}  watermark {}  checkpoints {} (last {})  rows {}",
            progress["events"],
            progress["watermark_ms"],
            progress["checkpoints_committed"],
            progress["last_checkpoint_id"],
            progress["rows_committed"]
        );
        let commits = progress["recent_commits"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if !commits.is_empty() {
            println!("         last commits");
        }
        for c in commits.iter().rev() {
            println!(
                "           checkpoint {:>8}  rows {:>9}  took {:>6} ms  state {:>10} B",
                c["checkpoint_id"], c["rows"], c["duration_ms"], c["state_bytes"]
            );
        }
        if let Some(failure) = progress["last_failure"].as_str() {
            println!(
                "         restarts {}, the last after: {failure}",
                progress["restarts"]
            );
        }
    }
    Ok(())
}
