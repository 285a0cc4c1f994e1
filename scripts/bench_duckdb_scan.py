#!/usr/bin/env python3
"""Times DuckDB's iceberg extension scanning Iceberg tables of a SQLite catalog.

For `floe bench`'s CDC and growth parts: a table after many checkpoints against a table freshly
written with the same rows. Prints one JSON object: per table, the best and
median wall time of `--runs` full scans (count, a sum and a max over every row) and the rows
and data files the scan saw.

  bench_duckdb_scan.py --catalog-uri sqlite:////abs/catalog.db --table dims.a --table dims.b
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "py"))
from read_table import duckdb_connect, local_path, sqlite_metadata_location  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--catalog-uri", required=True)
    p.add_argument("--catalog-name", default="floe")
    p.add_argument("--table", action="append", required=True)
    p.add_argument("--column", default="duration_s", help="a long column to sum")
    p.add_argument("--max-column", default="title", help="a column to take the max of")
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    con = duckdb_connect()
    out = {}
    for table in args.table:
        loc = local_path(sqlite_metadata_location(args.catalog_uri, args.catalog_name, table))
        quoted = lambda c: '"' + c.replace('"', '""') + '"'
        col, top = quoted(args.column), quoted(args.max_column)
        query = f"SELECT count(*), sum({col}), max({top}) FROM iceberg_scan(?)"
        times = []
        rows = None
        for _ in range(args.runs):
            started = time.perf_counter()
            rows = con.execute(query, [loc]).fetchone()[0]
            times.append((time.perf_counter() - started) * 1000.0)
        files = con.execute(
            "SELECT count(*) FROM iceberg_metadata(?) WHERE status != 'DELETED'", [loc]
        ).fetchone()[0]
        out[table] = {
            "rows": rows,
            "manifest_entries": files,
            "scan_ms_best": round(min(times), 2),
            "scan_ms_median": round(statistics.median(times), 2),
        }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
