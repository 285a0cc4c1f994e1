//! Nexmark: the auction events of the published generator, and the queries Floe's SQL runs,
//! each written in SQL, lowered and run as Floe runs it: `aggregate_only` (decode and
//! aggregate, one thread) and `pipeline` (plus closing windows, Parquet and Iceberg commits),
//! in events per CPU-second beside Flink's published figure per core (nexmark/nexmark's
//! README: Flink 1.13, 8 workers, events per second per core).
//!
//! Bids are placed on partitions by bidder, as q11's sessions need (a topic keyed by the
//! session key), persons and auctions by id. q14 leaves out Flink's `count_char` column: it is
//! a user-defined function of the nexmark project, not SQL.

use std::hash::Hasher;
use std::sync::Arc;

use floe_common::config::{FloeConfig, JobSpec};
use floe_common::decode::Decoder;
use floe_source::generator::nexmark::NexmarkEvents;

use super::engine::{run_aggregate_only, run_pipeline, Records};
use super::rounds::median_by;
use super::{bench_storage, BenchArgs, EXAMPLE};

/// The source every query reads: Flink Nexmark's table, its event time the top-level
/// `dateTime` the generator writes beside each kind's own.
const SOURCE: &str = "
CREATE TABLE nexmark (
  event_type INT,
  person ROW<id BIGINT, name STRING, emailAddress STRING, creditCard STRING, city STRING,
             state STRING, dateTime BIGINT, extra STRING>,
  auction ROW<id BIGINT, itemName STRING, description STRING, initialBid BIGINT,
              reserve BIGINT, dateTime BIGINT, expires BIGINT, seller BIGINT, category BIGINT,
              extra STRING>,
  bid ROW<auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING,
          dateTime BIGINT, extra STRING>,
  dateTime BIGINT,
  ts AS TO_TIMESTAMP_LTZ(dateTime, 3),
  WATERMARK FOR ts AS ts - INTERVAL '4' SECOND
) WITH ('connector' = 'kafka', 'topic' = 'nexmark',
        'properties.bootstrap.servers' = '127.0.0.1:9092');
";

/// The queries run, with Flink's events per second per core for each.
const QUERIES: [(&str, &str, f64); 6] = [
    (
        "q0_pass_through",
        "INSERT INTO nexmark.q0
         SELECT bid.auction AS auction, bid.bidder AS bidder, bid.price AS price,
                bid.dateTime AS date_time, bid.extra AS extra
         FROM nexmark WHERE event_type = 2;",
        155_020.0,
    ),
    (
        "q1_currency_conversion",
        "INSERT INTO nexmark.q1
         SELECT bid.auction AS auction, bid.bidder AS bidder, 0.908 * bid.price AS price,
                bid.dateTime AS date_time, bid.extra AS extra
         FROM nexmark WHERE event_type = 2;",
        157_940.0,
    ),
    (
        "q2_selection",
        "INSERT INTO nexmark.q2
         SELECT bid.auction AS auction, bid.price AS price
         FROM nexmark WHERE event_type = 2 AND MOD(bid.auction, 123) = 0;",
        175_210.0,
    ),
    (
        "q5_hop_bids_per_auction",
        "INSERT INTO nexmark.q5
         SELECT window_start, window_end, bid.auction AS auction, COUNT(*) AS num
         FROM TABLE(HOP(TABLE nexmark, DESCRIPTOR(ts), INTERVAL '10' SECOND, INTERVAL '60' SECOND))
         WHERE event_type = 2
         GROUP BY window_start, window_end, bid.auction;",
        22_140.0,
    ),
    (
        "q11_bids_per_session",
        "INSERT INTO nexmark.q11
         SELECT window_start, window_end, bid.bidder AS bidder, COUNT(*) AS bid_count
         FROM TABLE(SESSION(TABLE nexmark PARTITION BY bid.bidder, DESCRIPTOR(ts),
                            INTERVAL '10' SECOND))
         WHERE event_type = 2
         GROUP BY window_start, window_end, bid.bidder;",
        39_700.0,
    ),
    (
        "q14_calculation",
        "INSERT INTO nexmark.q14
         SELECT bid.auction AS auction, bid.bidder AS bidder, 0.908 * bid.price AS price,
                CASE
                  WHEN HOUR(ts) >= 8 AND HOUR(ts) <= 18 THEN 'dayTime'
                  WHEN HOUR(ts) <= 6 OR HOUR(ts) >= 20 THEN 'nightTime'
                  ELSE 'otherTime'
                END AS bid_time_type,
                bid.dateTime AS date_time, bid.extra AS extra
         FROM nexmark
         WHERE event_type = 2 AND 0.908 * bid.price > 1000000 AND 0.908 * bid.price < 50000000;",
        161_230.0,
    ),
];

/// `count` Nexmark events, one per millisecond of event time, on `partitions` partitions.
fn generate(count: u64, partitions: i32) -> Records {
    let events = NexmarkEvents::new(42);
    let mut offsets = vec![0i64; partitions.max(1) as usize];
    let start = 1_767_225_600_000i64;
    (0..count)
        .map(|id| {
            let e = events.event_at(id, start + id as i64);
            let mut hash = fnv::FnvHasher::default();
            hash.write_u64(e.key);
            let p = (hash.finish() % offsets.len() as u64) as usize;
            offsets[p] += 1;
            (p as i32, offsets[p] - 1, e.json)
        })
        .collect()
}

/// A query's job, with the bench's storage under `dir`.
fn job_of(
    sql: &str,
    dir: &std::path::Path,
) -> anyhow::Result<(floe_common::config::ValidatedConfig, Arc<JobSpec>)> {
    let mut file = FloeConfig::parse(EXAMPLE)?;
    file.apply(&bench_storage(dir))?;
    file.jobs = floe_sql::jobs_from_sql(&format!("{SOURCE}{sql}"))?;
    let cfg = file.validate()?;
    let job = Arc::new(cfg.jobs[0].clone());
    Ok((cfg, job))
}

/// Runs the Nexmark bench and returns its figures.
pub(super) async fn run(
    args: &BenchArgs,
    plain_loop: Option<f64>,
) -> anyhow::Result<serde_json::Value> {
    eprintln!("nexmark: generating {} events…", args.events);
    let input = generate(args.events, args.partitions);
    let events = args.events as f64;
    let mut results = serde_json::Map::new();
    results.insert(
        "workload".into(),
        serde_json::json!({
            "events": args.events, "partitions": args.partitions,
            "mix": "1 person, 3 auctions, 46 bids of every 50; one event per ms of event time",
            "plain_loop_events_per_cpu_s": plain_loop,
            "not_run": "q14's count_char column (a nexmark user-defined function)",
            "flink": "nexmark/nexmark README, Flink 1.13: events per second per core",
        }),
    );
    for (name, sql, flink) in QUERIES {
        let mut aggs = Vec::new();
        let mut runs = Vec::new();
        for round in 1..=args.engine_rounds.max(1) {
            eprintln!("nexmark {name} round {round}…");
            let dir = tempfile::tempdir()?;
            let (cfg, job) = job_of(sql, dir.path())?;
            let decoder = Decoder::new(&job).map_err(|e| anyhow::anyhow!(e))?;
            aggs.push(run_aggregate_only(&job, &decoder, &input, args).0.cpu_s);
            runs.push(run_pipeline(&cfg, &job, &decoder, &input, args).await?);
        }
        let agg_cpu = *median_by(&aggs, |s| *s);
        let median = median_by(&runs, |r| r.cpu_s);
        results.insert(
            name.into(),
            serde_json::json!({
                "aggregate_only": {"cpu_s": agg_cpu, "events_per_cpu_s": events / agg_cpu},
                "pipeline": {
                    "cpu_s": median.cpu_s, "wall_s": median.wall_s,
                    "events_per_cpu_s": events / median.cpu_s, "rows_committed": median.rows,
                    "times_flink_per_core": events / median.cpu_s / flink,
                },
                "flink_events_per_s_per_core": flink,
            }),
        );
    }
    Ok(serde_json::Value::Object(results))
}

#[cfg(test)]
mod tests {
    use floe_common::decode::DecodedBatch;

    use super::*;

    /// Each query lowers, reads the generated events without a dead letter, and q2 keeps the
    /// bids a reading of the JSON itself selects.
    #[test]
    fn every_query_runs_on_the_generated_events() {
        let input = generate(5_000, 2);
        let selected = input
            .iter()
            .filter(|(_, _, json)| {
                let v: serde_json::Value = serde_json::from_str(json).expect("JSON");
                v["event_type"] == 2 && v["bid"]["auction"].as_i64().is_some_and(|a| a % 123 == 0)
            })
            .count();
        assert!(selected > 0, "the input has bids q2 selects");
        for (name, sql, _) in QUERIES {
            let dir = tempfile::tempdir().expect("dir");
            let (_, job) = job_of(sql, dir.path()).unwrap_or_else(|e| panic!("{name}: {e}"));
            let decoder = Decoder::new(&job).expect("decoder");
            let mut batch = DecodedBatch::default();
            for (p, offset, json) in &input {
                decoder.decode_into(*p, *offset, Some(json.as_bytes()), &mut batch);
            }
            assert!(
                batch.dead_letters.is_empty(),
                "{name}: {:?}",
                batch.dead_letters[0]
            );
            if name == "q2_selection" {
                let kept = (0..batch.len()).filter(|i| !batch.is_filtered(*i)).count();
                assert_eq!(kept, selected);
            }
        }
    }
}
