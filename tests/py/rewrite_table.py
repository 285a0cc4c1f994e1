#!/usr/bin/env python3
"""Table maintenance by another engine, with pyiceberg: rewrite a table's rows into new files
(an overwrite with the same rows, as a compaction does) and expire every snapshot but the new
one. Afterwards no snapshot of the table carries Floe's summary properties. While Floe commits
to the table, a step that loses the race is done again from a fresh read, as an engine does.

Usage:
  rewrite_table.py --catalog-uri sqlite:////abs/catalog.db --table gold.video_stats_1min

Run it with the venv of scripts/python-env.sh.
"""
from __future__ import annotations

import argparse
import sys
import time

from pyiceberg.exceptions import CommitFailedException, ValidationException

from read_table import add_catalog_args, load_catalog


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_catalog_args(p)
    p.add_argument("--table", required=True)
    a = p.parse_args(argv)
    cat = load_catalog(a.catalog_uri, a.catalog_name, a.warehouse)

    def rewrite():
        table = cat.load_table(a.table)
        rows = table.scan().to_arrow()
        table.overwrite(rows)
        return rows.num_rows

    def expire():
        table = cat.load_table(a.table)
        current = table.current_snapshot().snapshot_id
        older = [s.snapshot_id for s in table.snapshots() if s.snapshot_id != current]
        if older:
            table.maintenance.expire_snapshots().by_ids(older).commit()

    rewritten = again_on_conflict(rewrite)
    again_on_conflict(expire)
    table = cat.load_table(a.table)
    print(f"rewrote {rewritten} rows; {len(table.snapshots())} snapshot(s) left")
    return 0


def again_on_conflict(step, attempts: int = 30):
    for attempt in range(attempts):
        try:
            return step()
        except (CommitFailedException, ValidationException):
            if attempt + 1 == attempts:
                raise
            time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(main())
