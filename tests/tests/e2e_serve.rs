//! `floe serve` driven by a real HTTP client: uploads (a CSV body and a multipart form) that
//! DuckDB then reads as it reads the file, queries whose rows equal DuckDB's, the Arrow answer
//! read by pyarrow, the tables' listings, and what the gateway refuses: no token, an upload over
//! its limit, bad SQL and DDL, a query past its timeout; and HTTPS, checked by curl.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use floe_tests::pki::TestPki;
use floe_tests::{floe_bin, free_local_addr, repo_root, serial, tail_file, Services};
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::StatusCode;
use serde_json::{json, Value};

const TOKEN: &str = "gateway-test-token";

/// A `floe serve` over a SQLite catalog in a temporary directory, stopped when dropped.
struct Gateway {
    child: std::process::Child,
    addr: String,
    dir: tempfile::TempDir,
    log: PathBuf,
    client: Client,
}

impl Gateway {
    /// `floe serve ARGS` over a new catalog, once it said it serves.
    fn start(args: &[String]) -> Gateway {
        let dir = tempfile::tempdir().expect("tempdir");
        let addr = free_local_addr();
        let log = dir.path().join("serve.log");
        let out = std::fs::File::create(&log).expect("log");
        let child = Command::new(floe_bin())
            .args(["serve", "--listen", &addr])
            .args(args)
            .arg("--catalog")
            .arg(format!(
                "sqlite://{}",
                dir.path().join("catalog.db").display()
            ))
            .arg("--warehouse")
            .arg(dir.path().join("warehouse"))
            .env("GATEWAY_TOKEN", TOKEN)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .expect("floe serve starts");
        let client = Client::builder()
            .timeout(Duration::from_secs(60))
            .no_proxy()
            .build()
            .expect("an HTTP client");
        let gateway = Gateway {
            child,
            addr,
            dir,
            log,
            client,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !std::fs::read_to_string(&gateway.log).is_ok_and(|l| l.contains("floe serve: ")) {
            assert!(
                Instant::now() < deadline,
                "floe serve did not answer:\n{}",
                tail_file(&gateway.log, 40)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        gateway
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn get(&self, path: &str) -> RequestBuilder {
        self.client.get(self.url(path)).bearer_auth(TOKEN)
    }

    fn post(&self, path: &str) -> RequestBuilder {
        self.client.post(self.url(path)).bearer_auth(TOKEN)
    }

    fn query(&self, body: Value) -> (StatusCode, Value) {
        answer(self.post("/v1/query").json(&body).send().expect("query"))
    }

    fn catalog_uri_for_readers(&self) -> String {
        format!("sqlite:///{}", self.dir.path().join("catalog.db").display())
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status and JSON body of an answer.
fn answer(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().expect("a body");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("a JSON answer ({status}): {e}: {text}"));
    (status, body)
}

fn python(services: &Services, script: &str) -> Command {
    let mut cmd = Command::new(&services.python);
    cmd.arg(repo_root().join("tests/py").join(script));
    cmd
}

/// Runs `cmd` and returns its standard output, failing the test when it fails.
fn stdout_of(mut cmd: Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The uploaded table equals DuckDB's `read_csv` of the same file.
fn assert_table_is_duckdbs_read(services: &Services, gateway: &Gateway, table: &str, csv: &Path) {
    let mut check = python(services, "csv_beside_duckdb.py");
    check
        .args(["--catalog-uri", &gateway.catalog_uri_for_readers()])
        .args(["--table", table, "--csv"])
        .arg(csv);
    let said = stdout_of(check, "csv_beside_duckdb.py");
    assert!(said.starts_with("equal "), "{table}: {said}");
}

/// Rows as sorted canonical JSON texts.
fn canonical(rows: impl IntoIterator<Item = Value>) -> Vec<String> {
    let mut rows: Vec<String> = rows.into_iter().map(|r| r.to_string()).collect();
    rows.sort();
    rows
}

const PRICES: &str = "id,name,Price ($),day\n\
                      1,apple,1.50,2024-03-01\n\
                      2,pear,2.25,2024-03-02\n\
                      3,\"fig, dried\",9.50,2024-03-03\n\
                      4,plum,1.00\n";

#[test]
fn the_gateway_loads_and_answers_over_http() {
    let _serial = serial();
    let services = Services::from_env();
    let gateway = Gateway::start(
        &[
            "--token-env=GATEWAY_TOKEN",
            "--max-upload=64KiB",
            "--max-rows=1000",
            "--query-timeout=20s",
            "--max-queries=2",
        ]
        .map(str::to_owned),
    );
    let prices = gateway.dir.path().join("prices.csv");
    std::fs::write(&prices, PRICES).expect("write the CSV");

    // The token: none, a wrong one, then the right one.
    let (status, body) = answer(
        gateway
            .client
            .get(gateway.url("/v1/tables"))
            .send()
            .expect("tables"),
    );
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("Bearer")));
    let (status, _) = answer(
        gateway
            .client
            .get(gateway.url("/v1/tables"))
            .bearer_auth("not-the-token")
            .send()
            .expect("tables"),
    );
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let log = std::fs::read_to_string(&gateway.log).expect("the log");
    assert!(!log.contains(TOKEN), "the token was logged:\n{log}");

    // An upload as the body: one row cannot be read.
    let (status, loaded) = answer(
        gateway
            .post("/v1/tables/lake.prices/ingest?mode=create")
            .header("content-type", "text/csv")
            .body(PRICES)
            .send()
            .expect("ingest"),
    );
    assert_eq!(status, StatusCode::OK, "{loaded}");
    assert_eq!(loaded["loaded"], json!(true), "{loaded}");
    assert_eq!(loaded["rows"], json!(3), "{loaded}");
    assert_eq!(loaded["rejected"], json!(1), "{loaded}");
    assert_eq!(loaded["rejects_table"], json!("lake.prices_rejects"));
    assert_table_is_duckdbs_read(&services, &gateway, "lake.prices", &prices);

    // The same content again loads nothing; create on an existing table is a conflict.
    let (status, again) = answer(
        gateway
            .post("/v1/tables/lake.prices/ingest")
            .body(PRICES)
            .send()
            .expect("ingest"),
    );
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["loaded"], json!(false), "{again}");
    assert_eq!(again["already_loaded_by"], loaded["snapshot_id"]);
    let (status, _) = answer(
        gateway
            .post("/v1/tables/lake.prices/ingest?mode=create&force=true")
            .body(PRICES)
            .send()
            .expect("ingest"),
    );
    assert_eq!(status, StatusCode::CONFLICT);

    // A multipart form, with the load's options as parameters.
    let fruit = gateway.dir.path().join("fruit.csv");
    let fruit_csv = "code;kind\n0870;citrus\n0042;stone\n";
    std::fs::write(&fruit, fruit_csv).expect("write the CSV");
    let boundary = "floe-test-boundary";
    let form = format!(
        "--{boundary}\r\ncontent-disposition: form-data; name=\"note\"\r\n\r\nnot a file\r\n\
         --{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"fruit.csv\"\r\n\
         content-type: text/csv\r\n\r\n{fruit_csv}\r\n--{boundary}--\r\n"
    );
    let (status, report) = answer(
        gateway
            .post("/v1/tables/lake.fruit/ingest?delimiter=%3B&type=kind%3Dstring")
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(form)
            .send()
            .expect("multipart ingest"),
    );
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["rows"], json!(2), "{report}");
    assert_eq!(
        report["columns"],
        json!([{"name": "code", "type": "string"}, {"name": "kind", "type": "string"}])
    );
    assert_table_is_duckdbs_read(&services, &gateway, "lake.fruit", &fruit);

    // The listings.
    let (status, tables) = answer(gateway.get("/v1/tables").send().expect("tables"));
    assert_eq!(status, StatusCode::OK, "{tables}");
    let names: Vec<&str> = tables["tables"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|t| t["table"].as_str())
        .collect();
    assert_eq!(names, ["lake.fruit", "lake.prices", "lake.prices_rejects"]);
    assert_eq!(tables["tables"][1]["rows"], json!(3), "{tables}");
    let (status, snapshots) = answer(
        gateway
            .get("/v1/tables/lake.prices/snapshots")
            .send()
            .expect("snapshots"),
    );
    assert_eq!(status, StatusCode::OK, "{snapshots}");
    let snapshots = snapshots["snapshots"].as_array().expect("a list").clone();
    assert_eq!(snapshots.len(), 1, "{snapshots:?}");
    assert_eq!(snapshots[0]["operation"], json!("append"));
    assert_eq!(snapshots[0]["snapshot_id"], loaded["snapshot_id"]);
    let (status, schema) = answer(
        gateway
            .get("/v1/tables/lake.prices/schema")
            .send()
            .expect("schema"),
    );
    assert_eq!(status, StatusCode::OK, "{schema}");
    let price = schema["schema"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .find(|f| f["name"] == json!("price"))
        .unwrap_or_else(|| panic!("no price column: {schema}"))
        .clone();
    assert_eq!(price["doc"], json!("Price ($)"), "{price}");
    assert_eq!(price["type"], json!("decimal(3, 2)"), "{price}");
    let (status, _) = answer(
        gateway
            .get("/v1/tables/lake.nothing/schema")
            .send()
            .expect("schema"),
    );
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Queries: rows equal DuckDB's, and the row limit says it cut the result.
    let sql = "SELECT p.id, p.name, p.price, p.day, r.source, r.line FROM lake.prices p \
               CROSS JOIN lake.prices_rejects r";
    let (status, result) = gateway.query(json!({ "sql": sql }));
    assert_eq!(status, StatusCode::OK, "{result}");
    assert_eq!(result["row_count"], json!(3));
    assert_eq!(result["truncated"], json!(false));
    let rows = result["rows"].as_array().expect("rows");
    assert!(
        rows.iter()
            .all(|r| r["source"] == json!("upload.csv") && r["line"] == json!(5)),
        "the reject names the upload and its line: {result}"
    );
    let mine = canonical(rows.iter().cloned());
    let mut duckdb = python(&services, "query_tables.py");
    duckdb
        .args(["--catalog-uri", &gateway.catalog_uri_for_readers()])
        .args(["--table", "lake.prices", "--table", "lake.prices_rejects"])
        .args(["--sql", sql]);
    let theirs = canonical(
        stdout_of(duckdb, "query_tables.py")
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str::<Value>(l).expect("a JSON row")),
    );
    assert_eq!(mine, theirs, "floe serve and DuckDB differ");
    let (status, cut) = gateway.query(json!({
        "sql": "SELECT id FROM lake.prices ORDER BY id",
        "max_rows": 2
    }));
    assert_eq!(status, StatusCode::OK, "{cut}");
    assert_eq!(cut["rows"], json!([{"id": 1}, {"id": 2}]));
    assert_eq!(cut["truncated"], json!(true));

    // The Arrow answer, read by pyarrow.
    let arrow = gateway
        .post("/v1/query")
        .header("accept", "application/vnd.apache.arrow.stream")
        .json(&json!({ "sql": "SELECT id, name FROM lake.prices ORDER BY id" }))
        .send()
        .expect("an Arrow query");
    assert_eq!(arrow.status(), StatusCode::OK);
    let stream = gateway.dir.path().join("answer.arrows");
    std::fs::write(&stream, arrow.bytes().expect("the stream")).expect("write");
    let mut read = Command::new(&services.python);
    read.args([
        "-c",
        "import sys, json, pyarrow.ipc as ipc; \
         print(json.dumps(ipc.open_stream(open(sys.argv[1], 'rb')).read_all().to_pydict()))",
    ])
    .arg(&stream);
    let read: Value =
        serde_json::from_str(stdout_of(read, "pyarrow").trim()).expect("pyarrow's JSON");
    assert_eq!(
        read,
        json!({"id": [1, 2, 3], "name": ["apple", "pear", "fig, dried"]})
    );

    // What the gateway refuses.
    let (status, bad) = gateway.query(json!({ "sql": "SELEC 1" }));
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    let (status, ddl) = gateway.query(json!({ "sql": "DROP TABLE lake.prices" }));
    assert_eq!(status, StatusCode::BAD_REQUEST, "{ddl}");
    assert!(ddl["error"]
        .as_str()
        .is_some_and(|e| e.contains("only queries")));
    let (status, slow) = gateway.query(json!({
        "sql": "SELECT count(*) FROM generate_series(1, 100000000000)",
        "timeout_secs": 1
    }));
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{slow}");
    assert!(slow["error"]
        .as_str()
        .is_some_and(|e| e.contains("timeout")));
    let big: String = (0..4000).map(|i| format!("{i},row number {i}\n")).collect();
    assert!(big.len() > 64 * 1024);
    let (status, refused) = answer(
        gateway
            .post("/v1/tables/lake.big/ingest")
            .body(format!("id,text\n{big}"))
            .send()
            .expect("a big upload"),
    );
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{refused}");
    let (status, _) = answer(
        gateway
            .get("/v1/tables/lake.big/schema")
            .send()
            .expect("schema"),
    );
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "an upload over the limit created a table"
    );

    // The description of it all.
    let (status, openapi) = answer(
        gateway
            .client
            .get(gateway.url("/v1/openapi.json"))
            .send()
            .expect("openapi"),
    );
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/v1/query",
        "/v1/tables",
        "/v1/tables/{table}/ingest",
        "/v1/tables/{table}/snapshots",
        "/v1/tables/{table}/schema",
    ] {
        assert!(openapi["paths"].get(path).is_some(), "{path} undocumented");
    }
}

#[test]
fn the_gateway_serves_https() {
    let _serial = serial();
    let pki_dir = tempfile::tempdir().expect("tempdir");
    let pki = TestPki::create(pki_dir.path());
    let gateway = Gateway::start(&[
        "--tls-cert".to_owned(),
        pki.cert.display().to_string(),
        "--tls-key".to_owned(),
        pki.key.display().to_string(),
    ]);
    let url = gateway
        .url("/v1/query")
        .replace("http://127.0.0.1", "https://localhost");
    // curl, an HTTPS client that shares no code with floe's rustls.
    let curl = |ca: &Path| {
        let out = Command::new("curl")
            .args(["--silent", "--show-error", "--max-time", "20", "--cacert"])
            .arg(ca)
            .args(["-H", "content-type: application/json"])
            .args(["--data", r#"{"sql": "SELECT 40 + 2 AS answer"}"#])
            .arg(&url)
            .output()
            .expect("curl runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (ok, body) = curl(&pki.ca);
    assert!(
        ok,
        "HTTPS query failed: {body}\n{}",
        tail_file(&gateway.log, 20)
    );
    let body: Value = serde_json::from_str(&body).expect("a JSON answer");
    assert_eq!(body["rows"], json!([{"answer": 42}]), "{body}");
    let (ok, _) = curl(&pki.rogue_ca);
    assert!(
        !ok,
        "a certificate the client's CA did not sign was accepted"
    );
}
