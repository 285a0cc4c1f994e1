use super::*;

fn tree(paths: &[&str]) -> PathTree {
    let mut t = PathTree::default();
    for (slot, p) in paths.iter().enumerate() {
        let segments: Vec<String> = p.split('.').map(str::to_owned).collect();
        t.insert(&segments, slot, p).unwrap();
    }
    t
}

fn scan<'b>(t: &PathTree, json: &'b str, n: usize) -> Result<(bool, Vec<Scalar<'b>>), ScanError> {
    let mut slots = vec![Scalar::Missing; n];
    t.scan(json.as_bytes(), &mut slots).map(|o| (o, slots))
}

#[test]
fn reads_declared_leaves_and_skips_the_rest() {
    let t = tree(&["a.b", "a.c", "d", "e"]);
    let json = r#" { "x": {"a": {"b": 1}}, "a": {"z": [1, {"q": "}"}, "\"]"], "b": -12,
        "c": "s\u00e9\n\ud83d\ude00"}, "d": [1, 2], "e": 1.5e3, "f": null } "#;
    let (object, slots) = scan(&t, json, 4).unwrap();
    assert!(object);
    assert_eq!(slots[0], Scalar::I64(-12));
    assert_eq!(slots[1], Scalar::Str("sé\n😀".into()));
    assert_eq!(slots[2], Scalar::Nested(b"[1, 2]"));
    assert_eq!(slots[3], Scalar::F64(1500.0));
    let (_, slots) = scan(&t, r#"{"a": 5, "d": true, "e": null}"#, 4).unwrap();
    assert_eq!(slots[..2], [Scalar::Missing, Scalar::Missing]);
    assert_eq!(slots[2..], [Scalar::Bool(true), Scalar::Null]);
}

#[test]
fn a_key_is_matched_by_its_value_however_it_is_spelled() {
    let t = tree(&["ab.c", "q\"t"]);
    for json in [
        r#"{"ab":{"c":1}}"#,
        r#"{"a\u0062":{"\u0063":1}}"#,
        r#"{"a":0,"abc":{"c":2},"ab":{"cc":3,"c":1}}"#,
    ] {
        let (_, slots) = scan(&t, json, 2).unwrap();
        assert_eq!(slots[0], Scalar::I64(1), "{json}");
    }
    let (_, slots) = scan(&t, r#"{"ab\"":{"c":1}}"#, 2).unwrap();
    assert_eq!(slots[0], Scalar::Missing);
    let (_, slots) = scan(&t, r#"{"q\"t":5}"#, 2).unwrap();
    assert_eq!(slots[1], Scalar::I64(5));
    assert!(
        scan(&t, "{\"ab\n\":1}", 2).is_err(),
        "a raw control character in a key"
    );
}

#[test]
fn numbers_follow_json_and_keep_integers_exact() {
    let t = tree(&["n"]);
    let read = |v: &str| {
        let json = format!(r#"{{"n":{v}}}"#);
        scan(&t, &json, 1).map(|(_, s)| format!("{:?}", s[0]))
    };
    assert_eq!(
        read("9223372036854775807"),
        Ok(format!("{:?}", Scalar::I64(i64::MAX)))
    );
    assert_eq!(
        read("-9223372036854775808"),
        Ok(format!("{:?}", Scalar::I64(i64::MIN)))
    );
    assert_eq!(
        read("9223372036854775808"),
        Ok(format!("{:?}", Scalar::F64(9.223372036854776e18)))
    );
    assert_eq!(read("0"), Ok(format!("{:?}", Scalar::I64(0))));
    assert_eq!(read("-0.5E-1"), Ok(format!("{:?}", Scalar::F64(-0.05))));
    for bad in ["01", "-", "1.", ".5", "1e", "+1", "0x1", "NaN"] {
        assert!(read(bad).is_err(), "{bad} accepted");
    }
}

#[test]
fn broken_records_are_refused_wherever_the_break_is() {
    let t = tree(&["a"]);
    for bad in [
        "",
        "{",
        r#"{"a":1"#,
        r#"{"a":1,}"#,
        r#"{"a" 1}"#,
        r#"{"b":[1,2}"#,
        r#"{"b":{"c":tru}}"#,
        r#"{"b":"unterminated}"#,
        r#"{"a":1} x"#,
        r#"{"a":"\x"}"#,
        r#"{"a":"\ud800"}"#,
        r#"{a:1}"#,
    ] {
        assert!(scan(&t, bad, 1).is_err(), "{bad:?} accepted");
    }
    let deep = format!(r#"{{"b":{}{}}}"#, "[".repeat(200), "]".repeat(200));
    assert!(scan(&t, &deep, 1).unwrap_err().what.contains("recursion"));
    let (object, _) = scan(&t, " [1, {\"a\": 2}] ", 1).unwrap();
    assert!(!object);
}

#[test]
fn only_strings_the_job_reads_must_be_utf8() {
    let t = tree(&["a"]);
    let mut slots = vec![Scalar::Missing];
    let skipped = b"{\"b\":\"\xff\",\"a\":\"ok\"}";
    assert!(t.scan(skipped, &mut slots).is_ok());
    assert_eq!(slots[0], Scalar::Str("ok".into()));
    let read = b"{\"a\":\"\xff\"}";
    let mut slots = vec![Scalar::Missing];
    assert!(t.scan(read, &mut slots).unwrap_err().what.contains("UTF-8"));
    let mut slots = vec![Scalar::Missing];
    assert!(t.scan(b"{\"a\":\"x\ty\"}", &mut slots).is_err());
}

#[test]
fn the_special_byte_is_found_at_every_position() {
    for len in 0..20 {
        for special in [b'"', b'\\', 0x01, 0x1f] {
            let mut bytes = vec![b'a'; len];
            bytes.extend_from_slice(&[special, b'"', 0x00]);
            assert_eq!(next_special(&bytes, 0), len, "{len} {special}");
            assert_eq!(next_special(&bytes, len), len);
        }
        // bytes just above the limits, and high bytes, are not special
        let plain: Vec<u8> = (0..len)
            .map(|i| [0x20, 0x21, 0x5b, 0x5d, 0xff][i % 5])
            .collect();
        assert_eq!(next_special(&plain, 0), len);
    }
}

#[test]
fn the_last_duplicate_key_wins_and_escaped_keys_match() {
    let t = tree(&["ab"]);
    let (_, slots) = scan(&t, r#"{"ab":1,"a\u0062":2}"#, 1).unwrap();
    assert_eq!(slots[0], Scalar::I64(2));
}

/// Every one-byte deletion or replacement of a record is accepted exactly when serde_json
/// accepts it (strings kept valid UTF-8 without control characters, which serde_json checks
/// even in values the scanner skips).
#[test]
fn accepts_exactly_what_serde_json_accepts_for_every_one_byte_change() {
    let t = tree(&[
        "header.event_ts",
        "header.event_type",
        "body.video_id",
        "body.watch_ms",
    ]);
    let record = r#"{"header":{"event_id":"e-1","event_type":"like","event_ts":1767225600123,"v":1.5e-3},"body":{"video_id":"v_\"1","watch_ms":-5400,"x":[true,false,null,{"y":[]}]}}"#;
    let mut variants: Vec<Vec<u8>> = Vec::new();
    for i in 0..record.len() {
        let mut deleted = record.as_bytes().to_vec();
        deleted.remove(i);
        variants.push(deleted);
        for c in *b"\"{}[],:0-.e \\atn1" {
            let mut replaced = record.as_bytes().to_vec();
            replaced[i] = c;
            variants.push(replaced);
        }
    }
    for v in variants {
        let by_serde = serde_json::from_slice::<serde_json::Value>(&v).is_ok();
        let mut slots = vec![Scalar::Missing; 4];
        let by_scan = t.scan(&v, &mut slots).is_ok();
        assert_eq!(by_scan, by_serde, "{}", String::from_utf8_lossy(&v));
    }
}

#[test]
fn a_field_read_whole_has_its_inner_fields_read_too() {
    for paths in [["a", "a.b.c", "a.d"], ["a.b.c", "a.d", "a"]] {
        let t = tree(&paths);
        let whole = paths.iter().position(|p| *p == "a").unwrap();
        let json = r#"{"a": {"d": "x", "b": {"c": 7, "z": [1]}}, "e": 1}"#;
        let (_, slots) = scan(&t, json, 3).unwrap();
        assert_eq!(
            slots[whole],
            Scalar::Nested(br#"{"d": "x", "b": {"c": 7, "z": [1]}}"#)
        );
        let inner = |p: &str| &slots[paths.iter().position(|q| *q == p).unwrap()];
        assert_eq!(inner("a.b.c"), &Scalar::I64(7));
        assert_eq!(inner("a.d"), &Scalar::Str("x".into()));
        let (_, slots) = scan(&t, r#"{"a": [1, 2]}"#, 3).unwrap();
        assert_eq!(
            slots[whole],
            Scalar::Nested(b"[1, 2]"),
            "not an object: read whole only"
        );
        assert!(scan(&t, r#"{"a": {"b": }}"#, 3).is_err());
    }
}

#[test]
fn a_path_read_twice_is_refused() {
    let mut t = tree(&["a.b", "a"]);
    assert!(t
        .insert(&["a".into()], 2, "a")
        .unwrap_err()
        .contains("twice"));
}

/// Keys are matched eight bytes at a time: every length around that boundary is found, and a
/// key differing in any one byte, or one byte longer or shorter, is not, wherever the record
/// ends.
#[test]
fn keys_of_every_length_match_exactly() {
    for n in 1..=20usize {
        let key: String = (0..n).map(|i| (b'a' + (i % 26) as u8) as char).collect();
        let t = tree(&[&key]);
        let read = |json: &str| scan(&t, json, 1).map(|(_, s)| format!("{:?}", s[0]));
        assert_eq!(
            read(&format!(r#"{{"{key}":7}}"#)),
            Ok(format!("{:?}", Scalar::I64(7))),
            "{key}"
        );
        assert_eq!(
            read(&format!(r#"{{"{key}":7 }}"#)),
            Ok(format!("{:?}", Scalar::I64(7)))
        );
        for at in 0..n {
            let mut other = key.clone().into_bytes();
            other[at] = b'Z';
            let other = String::from_utf8(other).unwrap();
            assert_eq!(
                read(&format!(r#"{{"{other}":7}}"#)),
                Ok(format!("{:?}", Scalar::Missing))
            );
        }
        assert_eq!(
            read(&format!(r#"{{"{key}x":7}}"#)),
            Ok(format!("{:?}", Scalar::Missing))
        );
        assert_eq!(
            read(&format!(r#"{{"{}":7}}"#, &key[..n - 1])),
            Ok(format!("{:?}", Scalar::Missing))
        );
        // The record ends inside or right after the key.
        for end in 0..=n + 1 {
            let json = format!(r#"{{"{key}":7}}"#);
            assert!(read(&json[..2 + end]).is_err(), "{:?}", &json[..2 + end]);
        }
    }
}

#[test]
fn an_error_names_the_end_when_the_record_stops_short() {
    let t = tree(&["a"]);
    for (json, what) in [
        (r#"{"a":1"#, "unexpected end"),
        (r#"{"a":"x"#, "unterminated string"),
        (r#"{"a":"x\"#, "unterminated string"),
        (r#"{"a" 1}"#, "expected `:`"),
        (r#"{"a":1]"#, "expected `,` or `}`"),
        (r#"{"a":1} 2"#, "trailing characters"),
        ("{\"a\":1}\u{0}", "trailing characters"),
    ] {
        assert_eq!(scan(&t, json, 1).unwrap_err().what, what, "{json:?}");
    }
}
