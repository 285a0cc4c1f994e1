//! The `floe` commands a user meets first: `demo` (the README's first command), `gen` feeding a
//! bounded `run`, and a bad config. Tables are read back with the independent reader
//! (tests/py/read_table.py, DuckDB over the Iceberg metadata).

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Output};

use floe_tests::{floe_bin, output_ok, repo_root, serial, unique_topic, Kafka, Services};
use serde_json::Value;

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .env("NO_COLOR", "1")
        .output()
        .expect("the floe binary runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `floe run`'s arguments keeping its warehouse, SQLite catalog and checkpoints under `dir`.
fn stored_under(dir: &Path) -> [String; 6] {
    [
        "--warehouse".into(),
        dir.join("warehouse").display().to_string(),
        "--catalog".into(),
        format!("sqlite://{}", dir.join("catalog.db").display()),
        "--checkpoints".into(),
        dir.join("checkpoints").display().to_string(),
    ]
}

/// Rows of `table` as the independent reader sees them.
fn read_rows(services: &Services, dir: &Path, table: &str) -> Vec<Value> {
    let mut cmd = Command::new(&services.python);
    cmd.arg(repo_root().join("tests/py/read_table.py"))
        .args([
            "--catalog-uri",
            &format!("sqlite:///{}", dir.join("catalog.db").display()),
        ])
        .args([
            "--warehouse",
            &format!("file://{}", dir.join("warehouse").display()),
        ])
        .args(["--table", table, "--reader", "duckdb"]);
    let out = output_ok(&mut cmd, "read_table.py");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("a JSON row"))
        .collect()
}

fn long(row: &Value, column: &str) -> i64 {
    row[column]
        .as_i64()
        .unwrap_or_else(|| panic!("{column} in {row}"))
}

/// One row per (window, video), whole one-minute windows, and per-type counts within `events`.
fn assert_gold_shape(rows: &[Value]) {
    let mut seen = HashSet::new();
    for r in rows {
        let key = (long(r, "window_start"), r["video_id"].to_string());
        assert!(seen.insert(key.clone()), "two rows for {key:?}");
        assert_eq!(
            long(r, "window_end") - long(r, "window_start"),
            60_000,
            "{r}"
        );
        assert_eq!(long(r, "window_start") % 60_000, 0, "{r}");
        let typed: i64 = ["impressions", "likes", "shares", "completions"]
            .iter()
            .map(|c| long(r, c))
            .sum();
        assert!(typed <= long(r, "events"), "{r}");
    }
}

#[test]
fn demo_commits_rows_an_independent_reader_sees() {
    let _serial = serial();
    let services = Services::from_env();
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("demo");
    let out = run(Command::new(floe_bin())
        .current_dir(tmp.path())
        .args([
            "demo",
            "--duration",
            "20s",
            "--rate",
            "20000",
            "--videos",
            "50",
        ])
        .arg("--dir")
        .arg(&dir));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("ERROR"),
        "the README's first command logs no error:\n{stderr}"
    );
    let reported: usize = stdout
        .lines()
        .find_map(|l| l.strip_suffix(" rows committed; top 10 by events:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("the demo reports its committed rows:\n{stdout}"));
    let rows = read_rows(&services, &dir, "gold.video_stats_1min");
    assert!(
        !rows.is_empty(),
        "a 20 s demo at 10× event time closes windows"
    );
    assert_eq!(
        rows.len(),
        reported,
        "the demo's count matches the reader's"
    );
    assert_gold_shape(&rows);
    let again = stdout
        .lines()
        .skip_while(|l| !l.starts_with("query it again"))
        .nth(1)
        .unwrap_or_else(|| panic!("the demo prints the floe query command:\n{stdout}"));
    let shown = run(Command::new("sh")
        .current_dir(tmp.path())
        .arg("-c")
        .arg(format!("{} --format csv", again.trim())));
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert_eq!(
        shown.lines().count(),
        1 + rows.len().min(10),
        "a header and the top rows:\n{shown}"
    );
    let most = rows.iter().map(|r| long(r, "events")).max();
    let first = shown.lines().nth(1).expect("a row");
    assert!(
        most.is_some_and(|m| first.contains(&format!(",{m},"))),
        "the first row holds the most events ({most:?}): {first}"
    );
}

#[test]
fn generated_events_are_all_counted_by_a_bounded_run() {
    let _serial = serial();
    let services = Services::from_env();
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    let topic = unique_topic("gen");
    Kafka::connect(&services.brokers).create_topic(&topic, 3);
    let events = 5_000;
    run(Command::new(floe_bin()).args([
        "gen",
        "--brokers",
        &services.brokers,
        "--topic",
        &topic,
        "--events",
        &events.to_string(),
        "--videos",
        "40",
        "--seed",
        "3",
        "--disorder-ms",
        "5000",
        "--start-ms",
        "1767225605000",
        "--step-us",
        "40000",
    ]));
    // A bounded run commits as soon as its input is read, not at the next checkpoint tick: with
    // an hour between checkpoints it must still finish (exit 124 from `timeout` otherwise).
    let out = run(Command::new("timeout")
        .arg("120")
        .arg(floe_bin())
        .args(["--log-format", "json"])
        .arg("run")
        .arg("--config")
        .arg(repo_root().join("examples/video_stats.toml"))
        .args(["--brokers", &services.brokers, "--topic", &topic])
        .args(stored_under(dir))
        .args(["--checkpoint-interval", "1h", "--until-end"]));
    // --log-format json: one JSON object per line, the job and checkpoint as fields.
    let logs = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<Value> = logs
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(!lines.is_empty(), "no log lines");
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["job"] == "video_stats_1min" && l["fields"]["checkpoint"].is_u64()),
        "no line has the job and checkpoint as fields:\n{logs}"
    );
    let rows = read_rows(&services, dir, "gold.video_stats_1min");
    assert_gold_shape(&rows);
    // disorder (5 s) < watermark delay (10 s): nothing is late, every event is in a row
    let total: i64 = rows.iter().map(|r| long(r, "events")).sum();
    assert_eq!(total, events);
    // 5,000 events × 40 ms = 200 s of event time starting 5 s past a minute boundary (the most
    // disorder): event times stay within [boundary, boundary + 205 s), 4 windows
    let windows: HashSet<i64> = rows.iter().map(|r| long(r, "window_start")).collect();
    assert_eq!(windows.len(), 4);
}

#[test]
fn a_bad_config_fails_before_anything_starts_with_one_line_naming_the_key() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let example = std::fs::read_to_string(repo_root().join("examples/video_stats.toml"))
        .expect("the example config");
    let bad = example.replace("size = \"1m\"", "size = \"1 fortnight\"");
    assert_ne!(bad, example);
    let config = tmp.path().join("bad.toml");
    std::fs::write(&config, bad).expect("write config");
    let out = Command::new(floe_bin())
        .current_dir(tmp.path())
        .args(["run", "--config"])
        .arg(&config)
        .args([
            "--checkpoints",
            "ck",
            "--warehouse",
            "wh",
            "--catalog",
            "sqlite://c.db",
        ])
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("the floe binary runs");
    let line = the_one_error_line(&out);
    assert!(line.contains("job[0].window.size"), "{line}");
    for created in ["ck", "wh", "c.db"] {
        assert!(!tmp.path().join(created).exists(), "{created} was created");
    }
}

#[test]
fn a_sql_job_floe_cannot_run_fails_with_one_line_naming_what() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let example = std::fs::read_to_string(repo_root().join("examples/video_stats.sql"))
        .expect("the example SQL job");
    let bad = example.replace(
        "TUMBLE(TABLE content_events, DESCRIPTOR(ts), INTERVAL '1' MINUTE)",
        "SESSION(TABLE content_events, DESCRIPTOR(ts), INTERVAL '1' MINUTE)",
    );
    assert_ne!(bad, example);
    let sql = tmp.path().join("bad.sql");
    std::fs::write(&sql, bad).expect("write the SQL job");
    let out = Command::new(floe_bin())
        .current_dir(tmp.path())
        .args(["run", "--sql"])
        .arg(&sql)
        .output()
        .expect("the floe binary runs");
    let line = the_one_error_line(&out);
    assert!(
        line.contains("bad.sql") && line.contains("SESSION") && line.contains("at Line: 35,"),
        "{line}"
    );
    assert!(!tmp.path().join(".floe").exists(), "nothing was created");
}

/// Nexmark's q14 as DuckDB computes it over `events` (one Nexmark event per line): JSON lines of
/// auction, bidder, price_eur, bid_time_type, date_time (epoch ms) and extra.
const Q14_IN_DUCKDB: &str = r#"
import duckdb, json, sys
con = duckdb.connect()
rows = con.execute('''
    WITH e AS (
        SELECT CAST(json ->> '$.event_type' AS INT) AS event_type,
               CAST(json ->> '$.dateTime' AS BIGINT) AS ts,
               CAST(json ->> '$.bid.auction' AS BIGINT) AS auction,
               CAST(json ->> '$.bid.bidder' AS BIGINT) AS bidder,
               CAST(json ->> '$.bid.price' AS BIGINT) AS price,
               json ->> '$.bid.extra' AS extra
        FROM read_ndjson_objects(?)
    )
    SELECT auction, bidder, CAST(0.908 AS DOUBLE) * price AS price_eur,
           CASE WHEN hour(make_timestamp(ts * 1000)) BETWEEN 8 AND 18 THEN 'dayTime'
                WHEN hour(make_timestamp(ts * 1000)) <= 6
                     OR hour(make_timestamp(ts * 1000)) >= 20 THEN 'nightTime'
                ELSE 'otherTime' END AS bid_time_type,
           ts AS date_time, extra
    FROM e
    WHERE event_type = 2 AND CAST(0.908 AS DOUBLE) * price > 1000000
      AND CAST(0.908 AS DOUBLE) * price < 50000000
''', [sys.argv[1]]).fetchall()
names = ['auction', 'bidder', 'price_eur', 'bid_time_type', 'date_time', 'extra']
for r in rows:
    print(json.dumps(dict(zip(names, r))))
"#;

/// `examples/nexmark_bids.sql` runs on the built-in generator without a broker (`datagen`), and
/// its table holds what DuckDB computes by q14's definition over the same events, which
/// `floe gen --nexmark` writes out.
#[test]
fn the_nexmark_example_holds_what_duckdb_computes_from_the_same_events() {
    let services = Services::from_env();
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    let example = std::fs::read_to_string(repo_root().join("examples/nexmark_bids.sql"))
        .expect("the example");
    let sql = dir.join("nexmark_bids.sql");
    // 20,000 events 5 s apart: a day and more, each time of day.
    let bounded = example
        .replace("'number-of-rows' = '100000'", "'number-of-rows' = '20000'")
        .replace("'floe.step' = '1s'", "'floe.step' = '5s'");
    assert_ne!(bounded, example);
    std::fs::write(&sql, bounded).expect("write the SQL job");
    let events = dir.join("events.jsonl");
    // The generator's default start, 2026-01-01.
    run(Command::new(floe_bin())
        .args(["gen", "--nexmark", "--events", "20000", "--seed", "42"])
        .args([
            "--start-ms",
            "1767225600000",
            "--step-us",
            "5000000",
            "--to-file",
        ])
        .arg(&events));
    run(Command::new("timeout")
        .arg("120")
        .arg(floe_bin())
        .args(["run", "--sql"])
        .arg(&sql)
        .args(stored_under(dir))
        .arg("--until-end"));
    let mut got: Vec<String> = read_rows(&services, dir, "nexmark.bids")
        .into_iter()
        .map(|mut row| {
            let row = row.as_object_mut().expect("a row");
            for column in ["kafka_partition", "kafka_offset", "ingested_at"] {
                row.remove(column);
            }
            Value::Object(row.clone()).to_string()
        })
        .collect();
    got.sort();
    let mut duckdb = Command::new(&services.python);
    duckdb.args(["-c", Q14_IN_DUCKDB]).arg(&events);
    let out = output_ok(&mut duckdb, "q14 in DuckDB");
    let mut want: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l)
                .expect("a JSON row")
                .to_string()
        })
        .collect();
    want.sort();
    assert!(
        want.len() > 1_000,
        "the band holds a fair share of 20,000 events"
    );
    let missing: Vec<&String> = want
        .iter()
        .filter(|r| got.binary_search(r).is_err())
        .collect();
    let unexpected: Vec<&String> = got
        .iter()
        .filter(|r| want.binary_search(r).is_err())
        .collect();
    assert!(
        got.len() == want.len() && missing.is_empty() && unexpected.is_empty(),
        "{} rows for {} expected; missing {:?}…; unexpected {:?}…",
        got.len(),
        want.len(),
        &missing[..missing.len().min(2)],
        &unexpected[..unexpected.len().min(2)]
    );
    let types: HashSet<&str> = want
        .iter()
        .filter_map(|r| r.split("\"bid_time_type\":\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(types.len(), 3, "{types:?}");
    tables_and_snapshots_are_the_readers(&services, dir, "nexmark.bids", got.len());
}

/// `floe tables` and `floe snapshots` over the catalog under `dir`: `table` holds the `rows`
/// DuckDB read, and its snapshots, their operations and checkpoint ids are pyiceberg's.
fn tables_and_snapshots_are_the_readers(services: &Services, dir: &Path, table: &str, rows: usize) {
    let json_lines = |out: Output| -> Vec<Value> {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect()
    };
    let catalog = [
        "--warehouse".to_owned(),
        dir.join("warehouse").display().to_string(),
        "--catalog".to_owned(),
        format!("sqlite://{}", dir.join("catalog.db").display()),
        "--format".to_owned(),
        "json".to_owned(),
    ];
    let tables = json_lines(run(Command::new(floe_bin()).arg("tables").args(&catalog)));
    let listed = tables
        .iter()
        .find(|t| t["table"] == table)
        .unwrap_or_else(|| panic!("{table} in {tables:?}"));
    assert_eq!(listed["rows"].as_u64(), Some(rows as u64), "{listed}");
    assert!(listed["data_files"].as_u64() >= Some(1), "{listed}");
    let mine: Vec<(i64, String, Option<String>)> = json_lines(run(Command::new(floe_bin())
        .args(["snapshots", table])
        .args(&catalog)))
    .iter()
    .map(|s| {
        (
            s["snapshot_id"].as_i64().expect("an id"),
            s["operation"].as_str().expect("an operation").to_owned(),
            s["checkpoint"].as_str().map(str::to_owned),
        )
    })
    .collect();
    let mut pyiceberg = Command::new(&services.python);
    pyiceberg
        .arg(repo_root().join("tests/py/read_table.py"))
        .args([
            "--catalog-uri",
            &format!("sqlite:///{}", dir.join("catalog.db").display()),
            "--warehouse",
            &format!("file://{}", dir.join("warehouse").display()),
            "--table",
            table,
            "--summaries",
        ]);
    let theirs: Vec<(i64, String, Option<String>)> =
        json_lines(output_ok(&mut pyiceberg, "summaries"))
            .iter()
            .map(|s| {
                let summary = &s["summary"];
                (
                    s["snapshot_id"].as_i64().expect("an id"),
                    summary["operation"]
                        .as_str()
                        .expect("an operation")
                        .to_owned(),
                    summary["floe.checkpoint-id"].as_str().map(str::to_owned),
                )
            })
            .collect();
    assert!(mine.iter().any(|s| s.2.is_some()), "{mine:?}");
    assert_eq!(mine, theirs);
}

#[test]
fn orphan_cleanup_younger_than_an_hour_needs_the_jobs_stopped() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = repo_root().join("examples/video_stats.toml");
    let out = Command::new(floe_bin())
        .current_dir(tmp.path())
        .args(["maintain", "--config"])
        .arg(&config)
        .args(["--orphan-min-age", "10m"])
        .output()
        .expect("the floe binary runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--jobs-stopped") && stderr.contains("10m"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_dir(tmp.path()).expect("temp dir").count(),
        0,
        "nothing was opened or created"
    );
}

/// The only line a failed command printed, which must say why it failed.
fn the_one_error_line(out: &std::process::Output) -> String {
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line, got:\n{stderr}");
    lines[0].to_owned()
}
