use super::*;

fn column(name: &str, ty: AppendType) -> AppendColumn {
    AppendColumn {
        column: name.into(),
        field: crate::expr::Expr::parse(name).unwrap(),
        ty,
        required: false,
    }
}

fn spec() -> CdcSpec {
    CdcSpec::new(
        vec![
            column("video_id", AppendType::String),
            column("title", AppendType::String),
            column("duration_s", AppendType::Long),
        ],
        vec!["video_id".to_owned()],
        "updated_at".into(),
        "dims.t_changes".into(),
        1 << 20,
    )
    .unwrap()
}

const UPDATE: &str = r#"{"op":"u","ts_ms":1767225600999,
    "before":{"video_id":"v_1","title":"Old","duration_s":310},
    "after":{"video_id":"v_1","title":"New","duration_s":311,"ignored":true},
    "source":{"connector":"postgresql","lsn":123456,"ts_ms":1767225600990}}"#;

fn text(rows: &AppendRows, column: usize, row: usize) -> Option<&str> {
    rows.fields[column].text(row)
}

#[test]
fn tables_columns_come_from_the_declared_ones() {
    let s = spec();
    let names = |c: Vec<Column>| c.into_iter().map(|c| c.name).collect::<Vec<_>>();
    assert_eq!(
        names(s.table_columns()),
        ["video_id", "title", "duration_s", "updated_at"]
    );
    assert!(s.table_columns()[0].required, "the key is required");
    assert!(!s.table_columns()[1].required);
    assert_eq!(
        names(s.changelog.table_columns()),
        [
            "video_id",
            "title",
            "duration_s",
            "op",
            "changed_at",
            "source_lsn",
            "kafka_partition",
            "kafka_offset",
            "ingested_at"
        ]
    );
}

#[test]
fn reads_both_envelope_forms_alike() {
    let d = ChangeDecoder::new(&spec()).unwrap();
    let mut rows = AppendRows::new(&spec().changelog);
    assert_eq!(d.decode(UPDATE.as_bytes(), &mut rows), Ok(1767225600999));
    let wrapped = format!(r#"{{"schema":{{"type":"struct"}},"payload":{UPDATE}}}"#);
    assert_eq!(d.decode(wrapped.as_bytes(), &mut rows), Ok(1767225600999));
    assert_eq!(rows.decoded_rows(), 2);
    for row in 0..2 {
        assert_eq!(text(&rows, 0, row), Some("v_1"));
        assert_eq!(text(&rows, 1, row), Some("New"));
        assert_eq!(text(&rows, 3, row), Some("u"));
    }
    assert_eq!(
        rows.fields[2],
        crate::append::ColumnValues::Long(vec![Some(311), Some(311)])
    );
    assert_eq!(
        rows.fields[4],
        crate::append::ColumnValues::Long(vec![Some(1767225600999000); 2]),
        "changed_at in microseconds"
    );
    assert_eq!(
        rows.fields[5],
        crate::append::ColumnValues::Long(vec![Some(123456); 2])
    );
}

#[test]
fn a_delete_keeps_the_row_before_it() {
    let d = ChangeDecoder::new(&spec()).unwrap();
    let mut rows = AppendRows::new(&spec().changelog);
    let delete = r#"{"op":"d","ts_ms":5,"before":{"video_id":"v_9","title":"x"},"after":null}"#;
    assert_eq!(d.decode(delete.as_bytes(), &mut rows), Ok(5));
    assert_eq!(text(&rows, 0, 0), Some("v_9"));
    assert_eq!(text(&rows, 1, 0), Some("x"));
    assert_eq!(text(&rows, 3, 0), Some("d"));
    assert_eq!(
        rows.fields[5],
        crate::append::ColumnValues::Long(vec![None]),
        "no source position"
    );
}

#[test]
fn unusable_records_say_why() {
    let d = ChangeDecoder::new(&spec()).unwrap();
    let mut rows = AppendRows::new(&spec().changelog);
    for (record, why) in [
        ("nope", "invalid JSON"),
        ("[1]", "record is not a JSON object"),
        (r#"{"ts_ms":1}"#, "not a Debezium change: no op"),
        (r#"{"op":"x","ts_ms":1}"#, "unknown op `x`"),
        (r#"{"op":"c"}"#, "ts_ms is missing, expected an integer"),
        (
            r#"{"op":"c","ts_ms":1,"after":{}}"#,
            "after.video_id is missing",
        ),
        (
            r#"{"op":"d","ts_ms":1,"before":null,"after":null}"#,
            "before.video_id is missing",
        ),
        (
            r#"{"op":"c","ts_ms":1,"after":{"video_id":"v","duration_s":"long"}}"#,
            "after.duration_s is string, expected an integer",
        ),
    ] {
        let err = d.decode(record.as_bytes(), &mut rows).expect_err(record);
        assert!(err.starts_with(why), "{record}: {err}");
    }
    assert_eq!(rows.decoded_rows(), 0);
}

#[test]
fn keys_must_be_declared_scalar_columns() {
    let make = |key: &str| {
        CdcSpec::new(
            vec![
                column("id", AppendType::String),
                column("doc", AppendType::Json),
            ],
            vec![key.to_owned()],
            "updated_at".into(),
            "dims.t_changes".into(),
            1 << 20,
        )
    };
    assert!(make("id").is_ok());
    assert!(make("nope").unwrap_err().contains("not a declared column"));
    assert!(make("doc").unwrap_err().contains("cannot be"));
    let twice = CdcSpec::new(
        vec![column("id", AppendType::String)],
        vec!["id".to_owned(), "id".to_owned()],
        "updated_at".into(),
        "dims.t_changes".into(),
        1 << 20,
    );
    assert!(twice.unwrap_err().contains("named twice"));
}

#[test]
fn the_latest_change_of_a_key_wins_by_source_position_then_time() {
    let order = |lsn: Option<i64>, changed_at: i64, offset: i64| ChangeOrder {
        source_position: lsn,
        changed_at,
        partition: 0,
        offset,
    };
    let mut latest = LatestChanges::default();
    latest.add("a", order(Some(10), 5, 0), 0);
    latest.add("a", order(Some(12), 1, 1), 1);
    latest.add("a", order(Some(11), 9, 2), 2);
    latest.add("b", order(None, 7, 3), 3);
    latest.add("b", order(None, 7, 4), 4);
    latest.add("b", order(None, 6, 5), 5);
    let mut kept: Vec<(&str, i32)> = latest.into_rows().collect();
    kept.sort();
    assert_eq!(kept, [("a", 1), ("b", 4)]);
}
