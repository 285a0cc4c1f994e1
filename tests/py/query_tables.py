#!/usr/bin/env python3
"""DuckDB's answer to a SQL query over tables Floe wrote: the reference `floe query` is checked
against. Each table is a DuckDB view over its Iceberg metadata (iceberg_scan), named as Floe
names it (`namespace.table`), perhaps pinned to a snapshot; the rows are printed in
read_table.py's canonical form (JSON lines, keys sorted, rows sorted).

Usage:
  query_tables.py --catalog-uri sqlite:////abs/catalog.db --table gold.stats \
      [--table dims.videos@8437...] --sql "SELECT video_id, count(*) AS n FROM gold.stats GROUP BY 1"
"""
from __future__ import annotations

import argparse
import sys

from read_table import (add_catalog_args, arrow_to_rows, canonical_lines, duckdb_connect,
                        duckdb_s3_secret, load_catalog, local_path, split_table,
                        sqlite_metadata_location)


def metadata_location(catalog_uri: str, catalog_name: str, warehouse: str | None, table: str) -> str:
    if catalog_uri.startswith("sqlite:"):
        return sqlite_metadata_location(catalog_uri, catalog_name, table)
    return load_catalog(catalog_uri, catalog_name, warehouse).load_table(table).metadata_location


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_catalog_args(p)
    p.add_argument("--table", action="append", required=True,
                   help="namespace.name, or namespace.name@SNAPSHOT_ID to read an older snapshot")
    p.add_argument("--sql", required=True)
    a = p.parse_args(argv)
    con = duckdb_connect()
    duckdb_s3_secret(con)
    for spec in a.table:
        table, _, snapshot = spec.partition("@")
        ns, name = split_table(table)
        loc = metadata_location(a.catalog_uri, a.catalog_name, a.warehouse, table)
        loc = "s3://" + loc.split("://", 1)[1] if loc.startswith(("s3://", "s3a://")) else local_path(loc)
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted(ns)}")
        pinned = f", snapshot_from_id => {int(snapshot)}" if snapshot else ""
        escaped = loc.replace("'", "''")
        con.execute(f"CREATE VIEW {quoted(ns)}.{quoted(name)} AS "
                    f"SELECT * FROM iceberg_scan('{escaped}'{pinned})")
    rows = arrow_to_rows(con.execute(a.sql).to_arrow_table())
    for line in canonical_lines(rows):
        sys.stdout.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
