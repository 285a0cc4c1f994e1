#!/usr/bin/env python3
"""A table `floe ingest` loaded beside DuckDB's own read of the same CSV file.

DuckDB reads the file with read_csv, told only the column types Floe chose (taken from the
table through DuckDB's iceberg extension), the null texts, and the date or timestamp format
when the file writes them unusually. Both sides are cast to text, value by value, and the
rows compared as sorted lists. DuckDB skips rows it cannot read (ignore_errors), as Floe sends
them to the rejects table. Prints one line `equal N` or the first differences, exit code 1.

Usage:
  csv_beside_duckdb.py --catalog-uri sqlite:////abs/catalog.db --table ns.t --csv FILE \
      [--dateformat %d.%m.%Y] [--timestampformat '%Y/%m/%d %H:%M']
"""
from __future__ import annotations

import argparse
import sys

from read_table import (add_catalog_args, duckdb_connect, duckdb_s3_secret, load_catalog,
                        local_path, sqlite_metadata_location)

NULLS = ["", "NULL", "null", "NA", "N/A"]


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_catalog_args(p)
    p.add_argument("--table", required=True)
    p.add_argument("--csv", required=True, help="a path or s3:// URL")
    p.add_argument("--dateformat")
    p.add_argument("--timestampformat")
    a = p.parse_args(argv)

    if a.catalog_uri.startswith("sqlite:"):
        loc = sqlite_metadata_location(a.catalog_uri, a.catalog_name, a.table)
    else:
        loc = load_catalog(a.catalog_uri, a.catalog_name, a.warehouse).load_table(a.table).metadata_location
    loc = "s3://" + loc.split("://", 1)[1] if loc.startswith(("s3://", "s3a://")) else local_path(loc)
    con = duckdb_connect()
    duckdb_s3_secret(con)
    floe = f"iceberg_scan({literal(loc)})"
    columns = con.execute(f"DESCRIBE SELECT * FROM {floe}").fetchall()
    types = ", ".join(f"{literal(name)}: {literal(ty)}" for name, ty, *_ in columns)
    options = [
        "header = true",
        f"columns = {{{types}}}",
        f"nullstr = [{', '.join(literal(n) for n in NULLS)}]",
        "ignore_errors = true",
    ]
    if a.dateformat:
        options.append(f"dateformat = {literal(a.dateformat)}")
    if a.timestampformat:
        options.append(f"timestampformat = {literal(a.timestampformat)}")
    theirs = f"read_csv({literal(a.csv)}, {', '.join(options)})"
    as_text = ", ".join(f"CAST({quoted(name)} AS VARCHAR)" for name, *_ in columns)

    def rows(source: str) -> list[tuple]:
        got = con.execute(f"SELECT {as_text} FROM {source}").fetchall()
        return sorted(got, key=lambda r: tuple((v is not None, v or "") for v in r))

    mine, expected = rows(floe), rows(theirs)
    if mine == expected:
        print(f"equal {len(mine)}")
        return 0
    print(f"floe has {len(mine)} rows, DuckDB {len(expected)}")
    shown = 0
    for m, e in zip(mine, expected):
        if m != e and shown < 5:
            print(f"floe:   {m}\nDuckDB: {e}")
            shown += 1
    return 1


if __name__ == "__main__":
    sys.exit(main())
