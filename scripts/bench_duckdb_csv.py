#!/usr/bin/env python3
"""Times DuckDB loading a CSV file into zstd Parquet (read_csv, its own type detection), the
reference `floe bench`'s ingest part compares `floe ingest` with. Prints one JSON object: CPU
seconds (user + system of this process, all DuckDB threads), wall seconds and rows.

  bench_duckdb_csv.py --csv FILE --out FILE.parquet
"""
import argparse
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "py"))
from read_table import duckdb_connect  # noqa: E402


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--csv", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    con = duckdb_connect(extensions=())
    quote = lambda s: "'" + s.replace("'", "''") + "'"
    cpu, wall = cpu_s(), time.perf_counter()
    con.execute(f"COPY (SELECT * FROM read_csv({quote(a.csv)})) TO {quote(a.out)} "
                "(FORMAT parquet, COMPRESSION zstd)")
    wall, cpu = time.perf_counter() - wall, cpu_s() - cpu
    rows = con.execute(f"SELECT count(*) FROM read_parquet({quote(a.out)})").fetchone()[0]
    print(json.dumps({"cpu_s": round(cpu, 3), "wall_s": round(wall, 3), "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
