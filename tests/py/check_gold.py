#!/usr/bin/env python3
"""Check Floe's gold.video_stats_1min (and optionally its late / dead-letter tables) against an
independent computation over the raw events.

  check_gold.py --events FILE --catalog-uri URI [--catalog-name floe] [--warehouse W]
                [--table gold.video_stats_1min] [--window-ms 60000] [--slide-ms MS | --step-ms MS]
                [--where SQL] [--having SQL]
                [--until-windows-end-before MS]
                [--late-table NAME --expect-late N|auto] [--dlq-table NAME --expect-bad N|auto]
                [--expect-checkpoint-ids-unique] [--readers pyiceberg,duckdb]

1. reads the table with every reader (default: pyiceberg and duckdb) and requires byte-identical
   canonical output (see read_table.py);
2. computes the expected rows with expected_gold.py (DuckDB SQL over the events with expect=="ok")
   and requires equality; on mismatch prints a unified diff (first 40 lines);
3. --late-table / --dlq-table: row counts (pyiceberg) must equal N ("auto": the number of events
   with expect=="late" / "bad"); for the dead-letter table the (kafka_partition, kafka_offset)
   set must equal the "bad" events' (partition, offset) set when the events carry offsets;
4. --expect-checkpoint-ids-unique: in the snapshot summaries of each checked table, no
   (floe.job-id, floe.checkpoint-id) pair appears twice.
--until-windows-end-before MS compares only windows with window_end <= MS (for a job that is
still running). Exit 0 and one line "gold OK: N rows ..." when all checks pass, else 1.
"""
from __future__ import annotations

import argparse
import collections
import difflib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import expected_gold  # noqa: E402
import read_table  # noqa: E402


def load_events(path: str) -> list[dict]:
    out = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise SystemExit(f"{path}:{n}: not JSON: {e}")
    return out


def diff_head(a: list[str], b: list[str], name_a: str, name_b: str, limit: int = 40) -> str:
    d = list(difflib.unified_diff(a, b, name_a, name_b, lineterm="", n=1))
    more = f"\n... ({len(d) - limit} more diff lines)" if len(d) > limit else ""
    return "\n".join(d[:limit]) + more


def expected_count(arg: str, events: list[dict], kind: str) -> int:
    if arg == "auto":
        return sum(1 for e in events if e.get("expect") == kind)
    return int(arg)


def check_side_table(a, events, table: str, expect_arg: str, kind: str, failures: list[str],
                     check_offsets: bool) -> str:
    rows = read_table.read_rows(a.catalog_uri, table, "pyiceberg", a.catalog_name, a.warehouse,
                                columns=["kafka_partition", "kafka_offset"])
    want_n = expected_count(expect_arg, events, kind)
    got = collections.Counter((r["kafka_partition"], r["kafka_offset"]) for r in rows)
    want_pairs = {(e["partition"], e["offset"]) for e in events
                  if e.get("expect") == kind and e.get("offset") is not None}
    all_have_offsets = all(e.get("offset") is not None for e in events if e.get("expect") == kind)
    dups = sorted(k for k, c in got.items() if c > 1)
    problems = []
    if len(rows) != want_n:
        problems.append(f"{len(rows)} rows, expected {want_n}")
    if dups:
        problems.append(f"duplicate (partition, offset): {dups[:10]}")
    missing = sorted(want_pairs - set(got))
    extra = sorted(set(got) - want_pairs) if all_have_offsets else []
    if (check_offsets or problems) and (missing or extra):
        problems.append(f"missing (partition, offset): {missing[:10]}"
                        + (f" ... +{len(missing) - 10}" if len(missing) > 10 else "")
                        + f"; unexpected: {extra[:10]}" + (f" ... +{len(extra) - 10}" if len(extra) > 10 else ""))
    if problems:
        failures.append(f"{kind} table {table}: " + "; ".join(problems))
    return f"{kind} {len(rows)}"


def check_checkpoint_ids(a, table: str, failures: list[str]) -> int:
    snaps = read_table.read_summaries(a.catalog_uri, table, a.catalog_name, a.warehouse)
    seen = collections.defaultdict(list)
    tagged = 0
    for s in snaps:
        summ = s["summary"]
        cid = summ.get("floe.checkpoint-id")
        if cid is None:
            continue
        tagged += 1
        seen[(summ.get("floe.job-id"), cid)].append(s["snapshot_id"])
    dup = {k: v for k, v in seen.items() if len(v) > 1}
    if dup:
        shown = "; ".join(f"job {j!r} checkpoint {c!r} in snapshots {ids}" for (j, c), ids in list(dup.items())[:10])
        failures.append(f"{table}: checkpoint ids committed more than once: {shown}")
    if snaps and not tagged:
        failures.append(f"{table}: none of its {len(snaps)} snapshots has a floe.checkpoint-id summary property")
    return tagged


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", required=True)
    read_table.add_catalog_args(p)
    p.add_argument("--table", default="gold.video_stats_1min")
    expected_gold.add_window_args(p)
    p.add_argument("--until-windows-end-before", type=int, default=None, metavar="MS",
                   help="compare only windows with window_end <= MS")
    p.add_argument("--readers", default="pyiceberg,duckdb", help="comma-separated (default pyiceberg,duckdb)")
    p.add_argument("--late-table", default=None)
    p.add_argument("--expect-late", default=None, metavar="N|auto")
    p.add_argument("--dlq-table", default=None)
    p.add_argument("--expect-bad", default=None, metavar="N|auto")
    p.add_argument("--expect-checkpoint-ids-unique", action="store_true")
    a = p.parse_args(argv)
    if a.late_table and a.expect_late is None:
        p.error("--late-table needs --expect-late")
    if a.dlq_table and a.expect_bad is None:
        p.error("--dlq-table needs --expect-bad")

    events = load_events(a.events)
    failures: list[str] = []

    # 1. read with every reader; they must agree byte for byte
    readers = [r.strip() for r in a.readers.split(",") if r.strip()]
    outputs: dict[str, list[str]] = {}
    for r in readers:
        rows = read_table.read_rows(a.catalog_uri, a.table, r, a.catalog_name, a.warehouse)
        if a.until_windows_end_before is not None:
            rows = [x for x in rows if x.get("window_end") is not None and x["window_end"] <= a.until_windows_end_before]
        outputs[r] = read_table.canonical_lines(rows)
    first = readers[0]
    for r in readers[1:]:
        if outputs[r] != outputs[first]:
            print(f"READERS DISAGREE on {a.table}: {first} {len(outputs[first])} rows, {r} {len(outputs[r])} rows")
            print(diff_head(outputs[first], outputs[r], first, r))
            failures.append(f"readers {first} and {r} disagree")
    actual = outputs[first]

    # 2. expected rows
    expected = read_table.canonical_lines(
        expected_gold.expected_rows(a.events, a.window_ms, a.until_windows_end_before,
                                    a.slide_ms, a.step_ms, a.where, a.having, a.gap_ms,
                                    a.shares_sql, a.shares_hll))
    if expected != actual:
        print(f"GOLD MISMATCH in {a.table}: expected {len(expected)} rows, table has {len(actual)} ({first})")
        print(diff_head(expected, actual, "expected", f"{a.table} ({first})"))
        failures.append("gold rows differ from expected")

    notes = [f"readers {'='.join(readers)}"]
    # 3. side tables
    if a.late_table:
        notes.append(check_side_table(a, events, a.late_table, a.expect_late, "late", failures, check_offsets=False))
    if a.dlq_table:
        notes.append(check_side_table(a, events, a.dlq_table, a.expect_bad, "bad", failures, check_offsets=True))
    # 4. checkpoint ids
    if a.expect_checkpoint_ids_unique:
        n = 0
        for t in [a.table] + [x for x in (a.late_table, a.dlq_table) if x]:
            n += check_checkpoint_ids(a, t, failures)
        notes.append(f"checkpoint ids unique over {n} snapshots")

    if failures:
        for f in failures:
            print("FAIL:", f)
        return 1
    print(f"gold OK: {len(actual)} rows ({'; '.join(notes)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
