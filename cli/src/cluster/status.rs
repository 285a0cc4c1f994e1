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
        let rows = parts
            .iter()
            .map(|part| {
                let p = part["partition"].as_i64().unwrap_or(-1);
                vec![
                    p.to_string(),
                    holder(p),
                    part["next_offset"].to_string(),
                    part["lag"].to_string(),
                    utc(part["watermark_ms"].as_i64()),
                    part["events"].to_string(),
                ]
            })
            .collect();
        let header = [
            "partition",
            "worker",
            "next offset",
            "lag",
            "watermark",
            "events",
        ];
        for line in aligned(&header, rows, &[true, false, true, true, false, true]) {
            println!("  {line}");
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
            utc(progress["watermark_ms"].as_i64()),
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
        for q in progress["quarantined"].as_array().into_iter().flatten() {
            println!(
                "         set aside  {} for {} s more, after: {}",
                q["worker"].as_str().unwrap_or("?"),
                q["remaining_ms"].as_u64().unwrap_or(0) / 1000,
                q["last_error"].as_str().unwrap_or("")
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

/// An epoch-milliseconds time in UTC as the live page shows it (`2026-12-06 03:00:00Z`); a
/// watermark before any event, or a time outside years 1970 to 9999, is `–` or its number.
fn utc(ms: Option<i64>) -> String {
    const LAST_MS: i64 = 253_402_300_799_999;
    match ms {
        None | Some(i64::MIN) => "–".to_owned(),
        Some(ms @ 0..=LAST_MS) => {
            let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms as u64);
            humantime::format_rfc3339_seconds(at)
                .to_string()
                .replacen('T', " ", 1)
        }
        Some(ms) => format!("{ms} ms"),
    }
}

/// `header` and `rows` as lines whose columns line up, each as wide as its widest cell and
/// right-aligned where `right` says so (numbers).
fn aligned(header: &[&str], rows: Vec<Vec<String>>, right: &[bool]) -> Vec<String> {
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    let lines: Vec<Vec<String>> = std::iter::once(header).chain(rows).collect();
    let widths: Vec<usize> = (0..right.len())
        .map(|c| {
            lines
                .iter()
                .filter_map(|l| l.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    lines
        .iter()
        .map(|line| {
            let cells: Vec<String> = line
                .iter()
                .zip(widths.iter().zip(right))
                .map(|(cell, (w, right))| {
                    if *right {
                        format!("{cell:>w$}")
                    } else {
                        format!("{cell:<w$}")
                    }
                })
                .collect();
            cells.join("  ").trim_end().to_owned()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_in_utc_as_the_page_shows_them() {
        assert_eq!(utc(Some(1_796_526_000_123)), "2026-12-06 03:00:00Z");
        assert_eq!(utc(Some(i64::MIN)), "–");
        assert_eq!(utc(None), "–");
        assert_eq!(utc(Some(-5)), "-5 ms");
    }

    /// Every column starts where its header does, whatever the width of its cells.
    #[test]
    fn columns_line_up_under_their_headers() {
        let rows = vec![
            vec!["0".into(), "worker-1".into(), "1234567".into()],
            vec!["11".into(), "w".into(), "5".into()],
        ];
        let lines = aligned(
            &["partition", "worker", "next offset"],
            rows,
            &[true, false, true],
        );
        assert_eq!(
            lines,
            vec![
                "partition  worker    next offset",
                "        0  worker-1      1234567",
                "       11  w                   5",
            ]
        );
    }
}
