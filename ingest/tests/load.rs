//! `floe_ingest::ingest` against a SQLite catalog on local disk: the modes, the exactly-once
//! reload, rejects, `--max-rejects`, a column added by a later file, partitioning. The rows are
//! read back through iceberg's own scan.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use floe_ingest::csv_type::CsvType;
use floe_ingest::input::CsvInput;
use floe_ingest::read_rows::LoadProgress;
use floe_ingest::value_formats::DateFormat;
use floe_ingest::{ingest, IngestError, IngestOptions, IngestReport, LoadMode};
use floe_table::catalog::{connect_catalog, CatalogConfig};
use floe_table::overwrite_commit::SnapshotCommits;
use futures::TryStreamExt;
use iceberg::{Catalog, TableIdent};

struct Lake {
    dir: tempfile::TempDir,
    catalog: Arc<dyn Catalog>,
    commits: SnapshotCommits,
}

impl Lake {
    async fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = CatalogConfig::new(
            format!("sqlite://{}/catalog.db", dir.path().display()),
            format!("file://{}/warehouse", dir.path().display()),
        );
        std::fs::create_dir_all(dir.path().join("warehouse")).expect("warehouse");
        let catalog = connect_catalog(&cfg).await.expect("catalog");
        let commits = SnapshotCommits::connect(&cfg).await.expect("commits");
        Self {
            dir,
            catalog,
            commits,
        }
    }

    fn file(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).expect("write csv");
        path
    }

    async fn load(
        &self,
        path: &Path,
        options: &IngestOptions,
    ) -> Result<IngestReport, IngestError> {
        let input = CsvInput::open(path.to_str().expect("utf-8 path")).expect("input");
        ingest(
            self.catalog.clone(),
            &self.commits,
            &input,
            options,
            Arc::new(LoadProgress::default()),
        )
        .await
    }

    /// The table's rows, each as its values joined by `|` (null as `∅`), sorted.
    async fn rows(&self, table: &str) -> Vec<String> {
        let (ns, name) = table.split_once('.').expect("ns.table");
        let ident = TableIdent::from_strs([ns, name]).expect("ident");
        let table = self.catalog.load_table(&ident).await.expect("load");
        let batches: Vec<RecordBatch> = table
            .scan()
            .build()
            .expect("scan")
            .to_arrow()
            .await
            .expect("arrow")
            .try_collect()
            .await
            .expect("read");
        let options = FormatOptions::default().with_null("∅");
        let mut rows = Vec::new();
        for batch in &batches {
            let columns: Vec<ArrayFormatter> = batch
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).expect("formatter"))
                .collect();
            for row in 0..batch.num_rows() {
                let values: Vec<String> =
                    columns.iter().map(|c| c.value(row).to_string()).collect();
                rows.push(values.join("|"));
            }
        }
        rows.sort();
        rows
    }

    async fn exists(&self, table: &str) -> bool {
        let (ns, name) = table.split_once('.').expect("ns.table");
        let ident = TableIdent::from_strs([ns, name]).expect("ident");
        self.catalog.table_exists(&ident).await.expect("exists")
    }
}

/// A UTF-8 BOM, CRLF line ends, a quoted comma and a quoted line break, a leading-zero code,
/// day-first dotted dates, decimals, and `NA`.
const PEOPLE: &str = "\u{feff}id,Name,Price ($),Zip,Day\r\n\
    1,\"Ann, A.\",9.50,0870,31.03.2024\r\n\
    2,\"two\r\nlines\",10,1234,01.04.2024\r\n\
    3,NA,,0001,2.4.2024\r\n";

#[tokio::test(flavor = "multi_thread")]
async fn a_file_is_created_reloaded_once_forced_and_overwritten() {
    let lake = Lake::new().await;
    let people = lake.file("people.csv", PEOPLE);
    let created = lake
        .load(&people, &IngestOptions::new("crm.people", LoadMode::Create))
        .await
        .expect("create");
    assert_eq!(
        created.columns,
        [
            ("id".to_owned(), CsvType::Long),
            ("name".to_owned(), CsvType::String),
            (
                "price".to_owned(),
                CsvType::Decimal {
                    precision: 4,
                    scale: 2
                }
            ),
            ("zip".to_owned(), CsvType::String),
            ("day".to_owned(), CsvType::Date(DateFormat::DayDotted)),
        ]
    );
    assert_eq!((created.rows, created.rejected), (3, 0));
    let first = lake.rows("crm.people").await;
    assert_eq!(
        first,
        [
            "1|Ann, A.|9.50|0870|2024-03-31",
            "2|two\r\nlines|10.00|1234|2024-04-01",
            "3|∅|∅|0001|2024-04-02",
        ]
    );

    let again = lake
        .load(&people, &IngestOptions::new("crm.people", LoadMode::Append))
        .await
        .expect("reload");
    assert_eq!(again.already_loaded_by, created.snapshot_id);
    assert_eq!(lake.rows("crm.people").await, first);

    let e = lake
        .load(&people, &IngestOptions::new("crm.people", LoadMode::Create))
        .await
        .expect_err("create over an existing table");
    assert!(e.to_string().contains("already exists"), "{e}");

    let mut forced = IngestOptions::new("crm.people", LoadMode::Append);
    forced.force = true;
    lake.load(&people, &forced).await.expect("forced reload");
    assert_eq!(lake.rows("crm.people").await.len(), 6);

    let replaced = lake
        .load(
            &people,
            &IngestOptions::new("crm.people", LoadMode::Overwrite),
        )
        .await
        .expect("overwrite");
    assert!(
        replaced.snapshot_id.is_some(),
        "the table held the rows twice: not a no-op"
    );
    assert_eq!(lake.rows("crm.people").await, first);
    let same = lake
        .load(
            &people,
            &IngestOptions::new("crm.people", LoadMode::Overwrite),
        )
        .await
        .expect("overwrite again");
    assert_eq!(same.already_loaded_by, replaced.snapshot_id);

    let fewer = lake.file(
        "fewer.csv",
        "id,Name,Price ($),Zip,Day\n9,Zed,1.5,0099,01.01.2025\n",
    );
    lake.load(
        &fewer,
        &IngestOptions::new("crm.people", LoadMode::Overwrite),
    )
    .await
    .expect("overwrite with another file");
    assert_eq!(
        lake.rows("crm.people").await,
        ["9|Zed|1.50|0099|2025-01-01"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_rows_go_to_the_rejects_table_and_past_max_rejects_nothing_is_loaded() {
    let lake = Lake::new().await;
    let file = lake.file("bad.csv", "a,b\n1,x\n2,y\nthree,z\n4\n5,w\n");
    let mut options = IngestOptions::new("raw.bad", LoadMode::Append);
    options.columns.types = vec![("a".to_owned(), CsvType::Long)];
    options.max_rejects = Some(1);
    let e = lake
        .load(&file, &options)
        .await
        .expect_err("two rejects, one allowed");
    assert!(matches!(e, IngestError::TooManyRejects { .. }), "{e}");
    assert!(
        !lake.exists("raw.bad").await,
        "a failed load leaves no table"
    );
    assert!(!lake.exists("raw.bad_rejects").await);

    options.max_rejects = Some(2);
    let report = lake
        .load(&file, &options)
        .await
        .expect("two rejects allowed");
    assert_eq!((report.rows, report.rejected), (3, 2));
    assert_eq!(report.rejects_table.as_deref(), Some("raw.bad_rejects"));
    assert_eq!(lake.rows("raw.bad").await, ["1|x", "2|y", "5|w"]);
    let source = file.display().to_string();
    assert_eq!(
        lake.rows("raw.bad_rejects").await,
        [
            format!("{source}|4|a|`three` is not a bigint|three,z"),
            format!("{source}|5|∅|1 fields where the file's rows have 2|4"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_later_file_adds_its_new_columns_and_must_fit_the_old_ones() {
    let lake = Lake::new().await;
    let first = lake.file("v1.csv", "id,name\n1,ann\n");
    lake.load(&first, &IngestOptions::new("crm.users", LoadMode::Append))
        .await
        .expect("v1");
    let second = lake.file("v2.csv", "id,name,score\n2,bob,0.5\n");
    let report = lake
        .load(&second, &IngestOptions::new("crm.users", LoadMode::Append))
        .await
        .expect("v2 adds a column");
    assert_eq!(report.added_columns, ["score"]);
    assert_eq!(lake.rows("crm.users").await, ["1|ann|∅", "2|bob|0.5"]);

    let clash = lake.file("v3.csv", "id,name\nthree,cy\n");
    let e = lake
        .load(&clash, &IngestOptions::new("crm.users", LoadMode::Append))
        .await
        .expect_err("text into a bigint column");
    assert!(
        e.to_string()
            .contains("`id` is bigint but the file's values read as string"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_table_is_partitioned_as_asked() {
    let lake = Lake::new().await;
    let file = lake.file(
        "events.csv",
        "ts,n\n2024-01-01 10:00:00,1\n2024-01-02 11:00:00,2\n2024-01-02 12:30:00,3\n",
    );
    let mut options = IngestOptions::new("raw.events", LoadMode::Create);
    options.partition_by = Some("day(ts)".to_owned());
    let report = lake.load(&file, &options).await.expect("partitioned load");
    assert_eq!(report.data_files, 2, "one file per day");
    assert_eq!(
        lake.rows("raw.events").await,
        [
            "2024-01-01T10:00:00|1",
            "2024-01-02T11:00:00|2",
            "2024-01-02T12:30:00|3"
        ]
    );
}
