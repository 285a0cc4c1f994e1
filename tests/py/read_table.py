#!/usr/bin/env python3
"""Independent reader of an Iceberg table written by Floe.

Reads the table the way a Trino/Spark/DuckDB user would, with code that shares nothing with
Floe (pyiceberg or DuckDB's iceberg extension), and prints it in a canonical form so that the
outputs of the two readers -- and of tests/py/expected_gold.py -- can be compared byte for byte:

  * one JSON object per line, one line per row, keys sorted (so column order does not matter)
  * timestamp / timestamptz  -> integer epoch MILLISECONDS (UTC, floored)
  * binary / fixed           -> base64 string
  * date -> "YYYY-MM-DD", time -> "HH:MM:SS[.ffffff]", decimal -> string, uuid -> string
  * rows sorted by their values (window_start, window_end, video_id, kafka_partition,
    kafka_offset first when present, then the other columns by name; nulls first)

Usage:
  read_table.py --catalog-uri sqlite:////abs/catalog.db --table gold.video_stats_1min [--reader duckdb]
  read_table.py --catalog-uri http://127.0.0.1:18181 --table gold.video_stats_1min   (REST)
  read_table.py --catalog-uri postgresql+psycopg2://floe@127.0.0.1:15432/postgres ...  (SQL on Postgres)
  read_table.py ... --summaries      snapshot summaries (JSON lines, oldest first) instead of rows
  read_table.py ... --snapshot-id N  the rows as of snapshot N (time travel)
  read_table.py ... --files          the table's location, then every data and delete file the
                                     manifests of kept snapshots name, and whether it is live,
                                     then every file stored under the location's data/

REST catalogs take extra properties from the environment: FLOE_REST_CREDENTIAL (OAuth client
credentials "id:secret"), FLOE_REST_WAREHOUSE (default for --warehouse), FLOE_S3_ENDPOINT,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION.

Run it with the venv of scripts/python-env.sh.
"""
from __future__ import annotations

import argparse
import base64
import datetime as dt
import decimal
import json
import os
import sqlite3
import sys
import uuid
from typing import Any, Iterable
from urllib.parse import urlparse

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


# ----------------------------------------------------------------------------- canonical form
def _norm_value(v: Any) -> Any:
    """Python value (from Arrow's to_pylist) -> JSON-able canonical value."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v
    if isinstance(v, dt.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=dt.timezone.utc)
        return (v - EPOCH) // dt.timedelta(milliseconds=1)
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, dt.time):
        return v.isoformat()
    if isinstance(v, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(v)).decode("ascii")
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, dict):
        return {str(k): _norm_value(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        # Arrow maps come back as lists of (key, value) tuples
        return [_norm_value(x) for x in v]
    return str(v)


def arrow_to_rows(table) -> list[dict]:
    """Arrow table -> list of canonical dicts. Top-level timestamps are converted exactly in Arrow
    (works for us and ns precision); nested values go through _norm_value."""
    import pyarrow as pa

    cols: dict[str, list] = {}
    for name, col in zip(table.column_names, table.columns):
        t = col.type
        if pa.types.is_timestamp(t):
            per_ms = {"s": None, "ms": 1, "us": 1000, "ns": 1_000_000}[t.unit]
            raw = col.cast(pa.int64()).to_pylist()
            if per_ms is None:
                cols[name] = [None if x is None else x * 1000 for x in raw]
            else:
                cols[name] = [None if x is None else x // per_ms for x in raw]
        else:
            cols[name] = [_norm_value(x) for x in col.to_pylist()]
    names = list(cols)
    return [{n: cols[n][i] for n in names} for i in range(table.num_rows)]


# Rows are ordered by these columns first (when present), then by the others in name order, so
# that diffs of Floe's tables read naturally (window by window, partition/offset order).
SORT_FIRST = ("window_start", "window_end", "video_id", "kafka_partition", "kafka_offset")


def _sort_key(row: dict) -> tuple:
    key = []
    for k in [c for c in SORT_FIRST if c in row] + sorted(c for c in row if c not in SORT_FIRST):
        v = row[k]
        if v is None:
            key.append((0, 0))
        elif isinstance(v, bool):
            key.append((1, int(v)))
        elif isinstance(v, (int, float)):
            key.append((1, v))
        elif isinstance(v, str):
            key.append((2, v))
        else:
            key.append((3, json.dumps(v, sort_keys=True)))
    return tuple(key)


def canonical_lines(rows: Iterable[dict]) -> list[str]:
    rows = sorted(rows, key=_sort_key)
    return [json.dumps(r, sort_keys=True, separators=(",", ":"), ensure_ascii=False) for r in rows]


# ----------------------------------------------------------------------------- catalogs
def split_table(ident: str) -> tuple[str, str]:
    if "." not in ident:
        raise SystemExit(f"--table must be namespace.name, got {ident!r}")
    ns, name = ident.rsplit(".", 1)
    return ns, name


def is_rest(uri: str) -> bool:
    return uri.startswith("http://") or uri.startswith("https://")


def s3_props_from_env() -> dict:
    props = {}
    if os.environ.get("FLOE_S3_ENDPOINT"):
        props["s3.endpoint"] = os.environ["FLOE_S3_ENDPOINT"]
        props["s3.path-style-access"] = "true"
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        props["s3.access-key-id"] = os.environ["AWS_ACCESS_KEY_ID"]
    if os.environ.get("AWS_SECRET_ACCESS_KEY"):
        props["s3.secret-access-key"] = os.environ["AWS_SECRET_ACCESS_KEY"]
    props["s3.region"] = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return props


def load_catalog(uri: str, name: str = "floe", warehouse: str | None = None):
    if is_rest(uri):
        from pyiceberg.catalog.rest import RestCatalog

        props = {"uri": uri, **s3_props_from_env()}
        wh = warehouse or os.environ.get("FLOE_REST_WAREHOUSE")
        if wh:
            props["warehouse"] = wh
        cred = os.environ.get("FLOE_REST_CREDENTIAL")
        if cred:
            props["credential"] = cred
            props.setdefault("oauth2-server-uri", uri.rstrip("/") + "/v1/oauth/tokens")
        return RestCatalog(name, **props)
    if uri.startswith("sqlite:") or uri.startswith("postgresql"):
        from pyiceberg.catalog.sql import SqlCatalog

        props = {"uri": uri, **s3_props_from_env()}
        if warehouse:
            props["warehouse"] = warehouse
        else:
            # pyiceberg only needs a warehouse to create tables; reading uses metadata_location
            props["warehouse"] = "file:///nonexistent-floe-warehouse"
        return SqlCatalog(name, **props)
    raise SystemExit(f"unsupported --catalog-uri {uri!r} (want sqlite:////abs/path.db or http(s)://)")


def sqlite_path(uri: str) -> str:
    # SQLAlchemy form: sqlite:////abs/path.db (absolute) or sqlite:///rel/path.db (relative)
    if not uri.startswith("sqlite:///"):
        raise SystemExit(f"not a sqlite catalog uri: {uri!r}")
    return uri[len("sqlite:///"):]


def sqlite_metadata_location(uri: str, catalog_name: str, ident: str) -> str:
    """Current metadata location straight from the SQL catalog's iceberg_tables (no pyiceberg)."""
    ns, name = split_table(ident)
    path = sqlite_path(uri)
    if not os.path.exists(path):
        raise SystemExit(f"catalog database {path} does not exist")
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT metadata_location FROM iceberg_tables"
            " WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?",
            (catalog_name, ns, name),
        ).fetchall()
    finally:
        con.close()
    if not rows or not rows[0][0]:
        raise SystemExit(f"table {ident} not found in catalog {catalog_name!r} of {path}")
    return rows[0][0]


def local_path(location: str) -> str:
    if location.startswith("file:"):
        p = urlparse(location)
        return p.path
    return location


# ----------------------------------------------------------------------------- duckdb
def duckdb_connect(extensions: Iterable[str] = ("avro", "httpfs", "iceberg")):
    """DuckDB connection with extensions from the duckdb-extension-* wheels (no network)."""
    import duckdb

    ext_dir = os.path.join(sys.prefix, "duckdb-extensions")
    con = duckdb.connect(config={"extension_directory": ext_dir, "autoinstall_known_extensions": False})
    con.execute("SET TimeZone = 'UTC'")
    for ext in extensions:
        try:
            con.execute(f"LOAD {ext}")
        except Exception:
            from duckdb_extensions import import_extension

            import_extension(ext, con=con)
            con.execute(f"LOAD {ext}")
    return con


def duckdb_s3_secret(con) -> None:
    ep = os.environ.get("FLOE_S3_ENDPOINT")
    if not ep:
        return
    u = urlparse(ep)

    def q(s: str) -> str:
        return "'" + s.replace("'", "''") + "'"

    con.execute(
        "CREATE OR REPLACE SECRET floe_s3 (TYPE s3, PROVIDER config"
        f", KEY_ID {q(os.environ.get('AWS_ACCESS_KEY_ID', ''))}"
        f", SECRET {q(os.environ.get('AWS_SECRET_ACCESS_KEY', ''))}"
        f", REGION {q(os.environ.get('AWS_REGION', 'us-east-1'))}"
        f", ENDPOINT {q(u.netloc)}, URL_STYLE 'path', USE_SSL {'true' if u.scheme == 'https' else 'false'})"
    )


def read_duckdb_metadata(metadata_location: str, columns: list[str] | None = None,
                         snapshot_id: int | None = None):
    con = duckdb_connect()
    loc = metadata_location
    if loc.startswith("s3://") or loc.startswith("s3a://"):
        duckdb_s3_secret(con)
        loc = "s3://" + loc.split("://", 1)[1]
    else:
        loc = local_path(loc)
    sel = "*" if not columns else ", ".join('"' + c.replace('"', '""') + '"' for c in columns)
    if snapshot_id is None:
        return con.execute(f"SELECT {sel} FROM iceberg_scan(?)", [loc]).to_arrow_table()
    return con.execute(f"SELECT {sel} FROM iceberg_scan(?, snapshot_from_id => ?)",
                       [loc, snapshot_id]).to_arrow_table()


# ----------------------------------------------------------------------------- readers
def read_rows(catalog_uri: str, table: str, reader: str = "pyiceberg", catalog_name: str = "floe",
              warehouse: str | None = None, columns: list[str] | None = None,
              snapshot_id: int | None = None) -> list[dict]:
    if reader == "pyiceberg":
        cat = load_catalog(catalog_uri, catalog_name, warehouse)
        t = cat.load_table(table)
        kwargs = {"snapshot_id": snapshot_id} if snapshot_id is not None else {}
        scan = t.scan(selected_fields=tuple(columns), **kwargs) if columns else t.scan(**kwargs)
        return arrow_to_rows(scan.to_arrow())
    if reader == "duckdb":
        if not catalog_uri.startswith("sqlite:"):
            # REST or Postgres: the catalog lookup goes through pyiceberg, the data through DuckDB
            cat = load_catalog(catalog_uri, catalog_name, warehouse)
            loc = cat.load_table(table).metadata_location
        else:
            loc = sqlite_metadata_location(catalog_uri, catalog_name, table)
        return arrow_to_rows(read_duckdb_metadata(loc, columns, snapshot_id))
    raise SystemExit(f"unknown reader {reader!r}")


def read_summaries(catalog_uri: str, table: str, catalog_name: str = "floe",
                   warehouse: str | None = None) -> list[dict]:
    cat = load_catalog(catalog_uri, catalog_name, warehouse)
    md = cat.load_table(table).metadata
    out = []
    for s in sorted(md.snapshots, key=lambda s: (s.sequence_number or 0, s.timestamp_ms)):
        summ = s.summary
        d = {}
        if summ is not None:
            d = dict(summ.additional_properties)
            d["operation"] = str(summ.operation.value if hasattr(summ.operation, "value") else summ.operation)
        out.append({
            "snapshot_id": s.snapshot_id,
            "parent_snapshot_id": s.parent_snapshot_id,
            "sequence_number": s.sequence_number,
            "timestamp_ms": s.timestamp_ms,
            "summary": d,
        })
    return out


def read_files(catalog_uri: str, table: str, catalog_name: str = "floe",
               warehouse: str | None = None) -> list[dict]:
    """The table's location, then each data or delete file a manifest of a kept snapshot names,
    live unless every such entry marks it deleted (expiry may have removed those)."""
    tbl = load_catalog(catalog_uri, catalog_name, warehouse).load_table(table)
    from pyiceberg.manifest import ManifestEntryStatus

    live: dict[str, bool] = {}
    for snapshot in tbl.metadata.snapshots:
        for manifest in snapshot.manifests(tbl.io):
            for entry in manifest.fetch_manifest_entry(tbl.io, discard_deleted=False):
                path = entry.data_file.file_path
                alive = entry.status != ManifestEntryStatus.DELETED
                live[path] = live.get(path, False) or alive
    location = tbl.metadata.location
    stored = stored_files(location.rstrip("/") + "/data")
    return ([{"location": location}] + [{"file": p, "live": live[p]} for p in sorted(live)]
            + [{"stored": p} for p in stored])


def stored_files(prefix: str) -> list[str]:
    """Every file under `prefix` (`s3://bucket/key` or a local path, perhaps `file:`), listed
    by pyarrow's file systems and named the way `prefix` is."""
    from pyarrow import fs

    if prefix.startswith("s3://") or prefix.startswith("s3a://"):
        scheme, path = prefix.split("://", 1)
        props = s3_props_from_env()
        protocol, _, host = props.get("s3.endpoint", "").rpartition("://")
        filesystem = fs.S3FileSystem(
            access_key=props.get("s3.access-key-id"),
            secret_key=props.get("s3.secret-access-key"),
            region=props["s3.region"],
            endpoint_override=host or None,
            scheme=protocol or "https",
        )
        named = f"{scheme}://"
    else:
        filesystem, path, named = fs.LocalFileSystem(), local_path(prefix), (
            "file://" if prefix.startswith("file:") else "")
    infos = filesystem.get_file_info(fs.FileSelector(path, recursive=True, allow_not_found=True))
    return sorted(named + i.path for i in infos if i.type == fs.FileType.File)


def add_catalog_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--catalog-uri", required=True,
                   help="sqlite:////abs/catalog.db (SQL catalog) or http://host:port (REST catalog)")
    p.add_argument("--catalog-name", default="floe", help="SQL catalog name (default floe)")
    p.add_argument("--warehouse", default=None,
                   help="warehouse location (REST default: $FLOE_REST_WAREHOUSE)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_catalog_args(p)
    p.add_argument("--table", required=True, help="namespace.name")
    p.add_argument("--reader", choices=["pyiceberg", "duckdb"], default="pyiceberg")
    p.add_argument("--columns", default=None, help="comma-separated projection (default: all)")
    p.add_argument("--summaries", action="store_true",
                   help="print snapshot summaries (JSON lines, oldest first) instead of rows")
    p.add_argument("--snapshot-id", type=int, default=None,
                   help="read the table as of this snapshot (time travel)")
    p.add_argument("--files", action="store_true",
                   help="print the location and every file a kept snapshot references")
    a = p.parse_args(argv)
    out = sys.stdout
    if a.files:
        for f in read_files(a.catalog_uri, a.table, a.catalog_name, a.warehouse):
            out.write(json.dumps(f, sort_keys=True, separators=(",", ":")) + "\n")
        return 0
    if a.summaries:
        for s in read_summaries(a.catalog_uri, a.table, a.catalog_name, a.warehouse):
            out.write(json.dumps(s, sort_keys=True, separators=(",", ":")) + "\n")
        return 0
    cols = [c.strip() for c in a.columns.split(",")] if a.columns else None
    rows = read_rows(a.catalog_uri, a.table, a.reader, a.catalog_name, a.warehouse, cols,
                     a.snapshot_id)
    for line in canonical_lines(rows):
        out.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
