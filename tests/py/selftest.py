#!/usr/bin/env python3
"""Self-test of the independent readers (no Floe involved).

Writes a tiny Iceberg table with pyiceberg (timestamptz, string, long, binary columns, partitioned
by day, two appends) and checks that read_table.py's pyiceberg and duckdb readers print
byte-identical output with the expected canonical values. Also checks expected_gold.py on a small
hand-made events file against hand-computed numbers.

  selftest.py [--dir DIR]            SQL catalog (SQLite file) in DIR (default: a temp dir)
  selftest.py --rest                 also the REST catalog of `scripts/services.sh ... --s3`
                                     (needs FLOE_REST_URI, FLOE_REST_CREDENTIAL, FLOE_S3_ENDPOINT, AWS_*)
Exit 0 when everything matches.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import read_table  # noqa: E402

UTC = dt.timezone.utc


def build_arrow():
    import pyarrow as pa

    ts = [
        dt.datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=UTC),   # sub-ms micros: floored to ms
        dt.datetime(2026, 1, 1, 23, 59, 59, 999000, tzinfo=UTC),
        dt.datetime(2026, 1, 2, 0, 0, 0, 0, tzinfo=UTC),
        None,
    ]
    schema = pa.schema([
        pa.field("event_time", pa.timestamp("us", tz="UTC"), nullable=True),
        pa.field("video_id", pa.string(), nullable=True),
        pa.field("n", pa.int64(), nullable=True),
        pa.field("raw", pa.binary(), nullable=True),
    ])
    return schema, pa.table({
        "event_time": pa.array(ts, pa.timestamp("us", tz="UTC")),
        "video_id": ["v_1", "v_2", None, "v_\u00e9"],
        "n": [1, -2, 3_000_000_000_000, None],
        "raw": [b"\x00\xff\xfe", b"{}", None, b""],
    }, schema=schema)


# in canonical order: video_id (a SORT_FIRST column) first, nulls first; then event_time, n, raw
EXPECTED = [
    {"event_time": 1767312000000, "n": 3000000000000, "raw": None, "video_id": None},
    {"event_time": 1767225600123, "n": 1, "raw": "AP/+", "video_id": "v_1"},
    {"event_time": 1767311999999, "n": -2, "raw": "e30=", "video_id": "v_2"},
    {"event_time": None, "n": None, "raw": "", "video_id": "v_\u00e9"},
]


def write_table(catalog, ident: str) -> None:
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.schema import Schema
    from pyiceberg.transforms import DayTransform
    from pyiceberg.types import BinaryType, LongType, NestedField, StringType, TimestamptzType

    ns, _ = read_table.split_table(ident)
    try:
        catalog.create_namespace(ns)
    except Exception:
        pass
    try:
        catalog.drop_table(ident)
    except Exception:
        pass
    schema = Schema(
        NestedField(1, "event_time", TimestamptzType(), required=False),
        NestedField(2, "video_id", StringType(), required=False),
        NestedField(3, "n", LongType(), required=False),
        NestedField(4, "raw", BinaryType(), required=False),
    )
    spec = PartitionSpec(PartitionField(source_id=1, field_id=1000, transform=DayTransform(), name="event_time_day"))
    t = catalog.create_table(ident, schema=schema, partition_spec=spec)
    _, data = build_arrow()
    t.append(data.slice(0, 2))
    t.append(data.slice(2))


def check_readers(uri: str, ident: str, warehouse: str | None) -> None:
    outs = {}
    for reader in ("pyiceberg", "duckdb"):
        t0 = time.time()
        r = subprocess.run([sys.executable, os.path.join(HERE, "read_table.py"), "--catalog-uri", uri,
                            "--table", ident, "--reader", reader]
                           + (["--warehouse", warehouse] if warehouse else []),
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"{reader} reader failed:\n{r.stderr}")
        outs[reader] = r.stdout
        print(f"  {reader}: {len(r.stdout.splitlines())} rows in {time.time() - t0:.1f}s")
    if outs["pyiceberg"] != outs["duckdb"]:
        raise SystemExit("readers disagree:\n--- pyiceberg\n" + outs["pyiceberg"] + "--- duckdb\n" + outs["duckdb"])
    want = "".join(json.dumps(r, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n" for r in EXPECTED)
    if outs["pyiceberg"] != want:
        raise SystemExit("unexpected output:\n" + outs["pyiceberg"] + "--- wanted\n" + want)
    s = subprocess.run([sys.executable, os.path.join(HERE, "read_table.py"), "--catalog-uri", uri,
                        "--table", ident, "--summaries"] + (["--warehouse", warehouse] if warehouse else []),
                       capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(s) == 2, s
    assert all(json.loads(x)["summary"]["operation"] == "append" for x in s), s


# events: (partition, offset, expect, value)
def gold_events() -> list[dict]:
    def ev(ts, typ, vid, watch=None, extra_body=None):
        body = {"video_id": vid, "user_id": "u_1"}
        if watch is not None:
            body["watch_ms"] = watch
        if extra_body:
            body.update(extra_body)
        return json.dumps({"header": {"event_id": "e", "event_type": typ, "event_ts": ts, "schema_version": 1},
                           "body": body})
    t0 = 1767225600000  # 2026-01-01T00:00:00Z
    rows = [
        (0, 0, "ok", ev(t0 + 1, "impression", "v_1", 100)),
        (0, 1, "ok", ev(t0 + 59_999, "like", "v_1")),                  # watch_ms missing -> 0
        (0, 2, "ok", ev(t0 + 60_000, "share", "v_1", 50)),             # next window
        (1, 0, "ok", ev(t0 + 30_000, "completion", "v_2", 1000)),
        (1, 1, "ok", ev(t0 + 31_000, "completion", "v_2", 24, {"new_field": [1, 2]})),
        (1, 2, "ok", ev(t0 + 32_000, "pause", "v_2", 1)),              # other type: events only
        (1, 3, "late", ev(t0 + 1_000, "impression", "v_2", 999)),     # excluded
        (0, 3, "bad", "not json"),                                      # excluded
        (0, 4, "bad", json.dumps({"header": {"event_ts": "x"}, "body": {}})),
    ]
    return [{"partition": p, "offset": o, "expect": e, "value": v} for p, o, e, v in rows]


GOLD_EXPECTED = [
    # window_start, window_end, video_id, events, impressions, likes, shares, completions, watch_ms_sum
    (1767225600000, 1767225660000, "v_1", 2, 1, 1, 0, 0, 100),
    (1767225600000, 1767225660000, "v_2", 3, 0, 0, 0, 2, 1025),
    (1767225660000, 1767225720000, "v_1", 1, 0, 0, 1, 0, 50),
]


def check_expected_gold(d: str) -> None:
    path = os.path.join(d, "events.jsonl")
    with open(path, "w") as f:
        for e in gold_events():
            f.write(json.dumps(e) + "\n")
    r = subprocess.run([sys.executable, os.path.join(HERE, "expected_gold.py"), "--events", path],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("expected_gold.py failed:\n" + r.stderr)
    cols = ["window_start", "window_end", "video_id", "events", "impressions", "likes", "shares",
            "completions", "watch_ms_sum"]
    want = read_table.canonical_lines([dict(zip(cols, g)) for g in GOLD_EXPECTED])
    got = r.stdout.splitlines()
    if got != want:
        raise SystemExit("expected_gold.py wrong:\n" + r.stdout + "--- wanted\n" + "\n".join(want))
    print(f"  expected_gold.py: {len(got)} rows as computed by hand")


def write_gold_tables(catalog, events: list[dict], checkpoint_ids: list[str]) -> None:
    """Fake Floe output: gold (two commits), late and dead-letter tables, with floe.* summaries."""
    import pyarrow as pa
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.schema import Schema
    from pyiceberg.transforms import DayTransform
    from pyiceberg.types import (BinaryType, IntegerType, LongType, NestedField, StringType,
                                 TimestamptzType)

    for ns in ("gold", "errors"):
        try:
            catalog.create_namespace(ns)
        except Exception:
            pass
    for t in ("gold.video_stats_1min", "errors.late", "errors.dlq"):
        try:
            catalog.drop_table(t)
        except Exception:
            pass
    longs = ["events", "impressions", "likes", "shares", "completions", "watch_ms_sum"]
    gs = Schema(NestedField(1, "window_start", TimestamptzType(), required=True),
                NestedField(2, "window_end", TimestamptzType(), required=True),
                NestedField(3, "video_id", StringType(), required=False),
                *[NestedField(4 + i, c, LongType(), required=True) for i, c in enumerate(longs)])
    gold = catalog.create_table("gold.video_stats_1min", schema=gs, partition_spec=PartitionSpec(
        PartitionField(source_id=1, field_id=1000, transform=DayTransform(), name="window_start_day")))
    ts = pa.timestamp("us", tz="UTC")
    arrow_schema = gold.schema().as_arrow()

    def gold_arrow(rows):
        cols = list(zip(*rows))
        return pa.table([pa.array([x * 1000 for x in cols[0]], ts), pa.array([x * 1000 for x in cols[1]], ts),
                         pa.array(cols[2], pa.string())] + [pa.array(c, pa.int64()) for c in cols[3:]],
                        schema=arrow_schema)
    for i, chunk in enumerate((GOLD_EXPECTED[:2], GOLD_EXPECTED[2:])):
        gold.append(gold_arrow(chunk), snapshot_properties={"floe.job-id": "job-1",
                                                              "floe.checkpoint-id": checkpoint_ids[i]})
    late = catalog.create_table("errors.late", schema=Schema(
        NestedField(1, "kafka_partition", IntegerType(), required=True),
        NestedField(2, "kafka_offset", LongType(), required=True),
        NestedField(3, "event_time", TimestamptzType(), required=False),
        NestedField(4, "reason", StringType(), required=False)))
    lr = [e for e in events if e["expect"] == "late"]
    late.append(pa.table({"kafka_partition": pa.array([e["partition"] for e in lr], pa.int32()),
                          "kafka_offset": pa.array([e["offset"] for e in lr], pa.int64()),
                          "event_time": pa.array([json.loads(e["value"])["header"]["event_ts"] * 1000 for e in lr], ts),
                          "reason": ["late"] * len(lr)}, schema=late.schema().as_arrow()),
                snapshot_properties={"floe.job-id": "job-1", "floe.checkpoint-id": "1"})
    dlq = catalog.create_table("errors.dlq", schema=Schema(
        NestedField(1, "kafka_partition", IntegerType(), required=True),
        NestedField(2, "kafka_offset", LongType(), required=True),
        NestedField(3, "reason", StringType(), required=False),
        NestedField(4, "raw", BinaryType(), required=False)))
    br = [e for e in events if e["expect"] == "bad"]
    dlq.append(pa.table({"kafka_partition": pa.array([e["partition"] for e in br], pa.int32()),
                         "kafka_offset": pa.array([e["offset"] for e in br], pa.int64()),
                         "reason": ["bad"] * len(br),
                         "raw": pa.array([e["value"].encode() for e in br], pa.binary())},
                        schema=dlq.schema().as_arrow()),
               snapshot_properties={"floe.job-id": "job-1", "floe.checkpoint-id": "1"})


def check_check_gold(d: str) -> None:
    db = os.path.join(d, "gold.db")
    if os.path.exists(db):
        os.remove(db)
    uri = "sqlite:///" + db
    cat = read_table.load_catalog(uri, "floe", "file://" + os.path.join(d, "warehouse"))
    events = gold_events()
    ev_path = os.path.join(d, "events.jsonl")
    base = [sys.executable, os.path.join(HERE, "check_gold.py"), "--events", ev_path, "--catalog-uri", uri,
            "--late-table", "errors.late", "--expect-late", "auto", "--dlq-table", "errors.dlq",
            "--expect-bad", "2", "--expect-checkpoint-ids-unique"]

    def run(extra, want_rc, want_text):
        r = subprocess.run(base + extra, capture_output=True, text=True)
        if r.returncode != want_rc or want_text not in r.stdout:
            raise SystemExit(f"check_gold.py {extra}: rc {r.returncode} (want {want_rc}), output:\n"
                             f"{r.stdout}{r.stderr}")
        return r.stdout

    write_gold_tables(cat, events, ["1", "2"])
    print("  check_gold.py (good):", run([], 0, "gold OK: 3 rows").strip())
    run(["--until-windows-end-before", "1767225660000"], 0, "gold OK: 2 rows")
    run(["--expect-late", "2"], 1, "late table errors.late: 1 rows, expected 2")
    bad = [e for e in events]
    bad[0] = dict(bad[0], expect="bad")   # one more "bad" event that the dlq table lacks
    bad_path = os.path.join(d, "events-bad.jsonl")
    with open(bad_path, "w") as f:
        f.writelines(json.dumps(e) + "\n" for e in bad)
    out = run(["--events", bad_path, "--expect-bad", "auto"], 1, "GOLD MISMATCH")
    assert "missing (partition, offset): [(0, 0)]" in out, out
    write_gold_tables(cat, events, ["7", "7"])   # same checkpoint committed twice
    run([], 1, "checkpoint ids committed more than once")
    print("  check_gold.py detects: wrong late count, gold diff, missing dlq offsets, duplicate checkpoint ids")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", default=None)
    p.add_argument("--rest", action="store_true")
    a = p.parse_args()
    d = a.dir or tempfile.mkdtemp(prefix="floe-selftest-")
    os.makedirs(d, exist_ok=True)
    d = os.path.abspath(d)

    print("SQL catalog (SQLite) in", d)
    db = os.path.join(d, "catalog.db")
    uri = "sqlite:///" + db
    wh = "file://" + os.path.join(d, "warehouse")
    os.makedirs(os.path.join(d, "warehouse"), exist_ok=True)
    cat = read_table.load_catalog(uri, "floe", wh)
    write_table(cat, "selftest.t1")
    check_readers(uri, "selftest.t1", None)

    if a.rest:
        ruri = os.environ.get("FLOE_REST_URI")
        if not ruri:
            raise SystemExit("--rest needs FLOE_REST_URI (source the output of scripts/services.sh ... --s3)")
        print("REST catalog", ruri)
        rcat = read_table.load_catalog(ruri, "floe", None)
        ident = f"selftest.t{os.getpid()}"
        write_table(rcat, ident)
        try:
            check_readers(ruri, ident, None)
        finally:
            try:
                rcat.drop_table(ident)
            except Exception as e:  # noqa: BLE001
                print("  (drop_table failed:", e, ")")

    check_expected_gold(d)
    check_check_gold(d)
    if not a.dir:
        shutil.rmtree(d, ignore_errors=True)   # kept on failure (SystemExit above) for debugging
    print("selftest OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
