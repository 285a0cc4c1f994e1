#!/usr/bin/env python3
"""Expected rows of gold.video_stats_1min, computed independently of Floe with DuckDB SQL.

  expected_gold.py --events FILE [--window-ms 60000] [--slide-ms MS | --step-ms MS | --gap-ms MS]
                   [--where SQL] [--having SQL] [--shares-sql SQL [--shares-hll]]
                   [--until-windows-end-before MS]

Windows are tumbling of --window-ms; with --slide-ms, hopping (Flink's HOP: every window
[start, start + size) with start a multiple of the slide holds the events in it); with --step-ms,
cumulating (Flink's CUMULATE: windows [start, start + k * step) for k = 1 .. size / step, start a
multiple of the size); with --gap-ms, sessions (Flink's SESSION partitioned by video_id: a
video's events less than the gap apart, from its first event to its last plus the gap).
--where keeps the events a condition over the columns event_ts, event_type, video_id, user_id,
event_id and watch_ms holds for; --having keeps the rows a condition over the output columns
holds for; --shares-sql is the aggregate of the shares column in place of
counting shares (such as count(DISTINCT user_id) FILTER (WHERE event_type = 'share')); with
--shares-hll it gives a list of values, and the column is HyperLogLog's estimate of their distinct
count (hll_estimate below).

FILE: JSON lines {"partition": int, "offset": int|null, "expect": "ok"|"late"|"bad",
"value": "<raw Kafka record value>"}; only expect == "ok" records count. The value is a content
event (formats.md §1): header.event_ts (epoch ms), header.event_type, body.video_id,
body.watch_ms (missing or null -> 0).

Output: the canonical JSON lines of read_table.py (keys sorted, timestamps as epoch ms,
rows sorted), columns window_start, window_end, video_id, events, impressions, likes, shares,
completions, watch_ms_sum.
"""
from __future__ import annotations

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import read_table  # noqa: E402

GOLD_SQL = """
WITH src AS (
    SELECT "value" AS v
    FROM read_json(?, format = 'newline_delimited',
                   maximum_object_size = 268435456,  -- the tests' over-long lines
                   columns = {'partition': 'BIGINT', 'offset': 'BIGINT',
                              'expect': 'VARCHAR', 'value': 'VARCHAR'})
    WHERE "expect" = 'ok'
),
ev AS (
    SELECT
        CAST(json_extract(v, '$.header.event_ts') AS BIGINT)          AS event_ts,
        json_extract_string(v, '$.header.event_type')                  AS event_type,
        json_extract_string(v, '$.body.video_id')                      AS video_id,
        json_extract_string(v, '$.body.user_id')                       AS user_id,
        json_extract_string(v, '$.header.event_id')                    AS event_id,
        coalesce(TRY_CAST(json_extract(v, '$.body.watch_ms') AS BIGINT), 0) AS watch_ms
    FROM src
),
kept AS (
    SELECT * FROM ev WHERE $where
),
win AS (
    $windows
)
SELECT
    window_start,
    window_end,
    video_id,
    count(*)                                               AS events,
    count(*) FILTER (WHERE event_type = 'impression')      AS impressions,
    count(*) FILTER (WHERE event_type = 'like')            AS likes,
    $shares                                                AS shares,
    count(*) FILTER (WHERE event_type = 'completion')      AS completions,
    CAST(coalesce(sum(watch_ms), 0) AS BIGINT)             AS watch_ms_sum
FROM win
GROUP BY window_start, window_end, video_id
HAVING $until IS NULL OR window_end <= $until
"""

TUMBLING = """
    SELECT *, event_ts - (((event_ts % $w) + $w) % $w) AS window_start,
           event_ts - (((event_ts % $w) + $w) % $w) + $w AS window_end
    FROM kept
"""

# Every multiple of the slide from a size before the event to the event, kept when the window
# starting there holds the event.
HOPPING = """
    SELECT * FROM (
        SELECT kept.*, s.start AS window_start, s.start + $w AS window_end
        FROM kept, unnest(range(event_ts - (((event_ts % $d) + $d) % $d) - $w,
                              event_ts + $d, $d)) AS s(start)
    ) WHERE window_start <= event_ts AND event_ts < window_end
"""

# The windows from the start of the event's size-long period, ending every step, kept when they
# end after the event.
CUMULATING = """
    SELECT * FROM (
        SELECT kept.*, event_ts - (((event_ts % $w) + $w) % $w) AS window_start, e.end AS window_end
        FROM kept, unnest(range(event_ts - (((event_ts % $w) + $w) % $w) + $d,
                              event_ts - (((event_ts % $w) + $w) % $w) + $w + 1, $d)) AS e("end")
    ) WHERE event_ts < window_end
"""

# A video's events in time order; one more than a gap after the previous starts a session. Ties
# share their session (RANGE frames take a time's every event at once).
SESSIONS = """
    SELECT *, min(event_ts) OVER s AS window_start, max(event_ts) OVER s + $d AS window_end
    FROM (
        SELECT *, sum(starts) OVER (PARTITION BY video_id ORDER BY event_ts
                                    RANGE UNBOUNDED PRECEDING) AS session_no
        FROM (
            SELECT *, CASE WHEN event_ts - lag(event_ts) OVER (PARTITION BY video_id
                                                                ORDER BY event_ts) < $d
                           THEN 0 ELSE 1 END AS starts
            FROM kept
        )
    )
    WINDOW s AS (PARTITION BY video_id, session_no)
"""


# APPROX_COUNT_DISTINCT's sketch as docs/sql.md defines it, written from the paper (Flajolet et
# al. 2007, with linear counting for small counts), not from Floe's code: 2^11 registers, the
# first 64 bits of MurmurHash3 x64-128 (seed 0) of the value's text.
HLL_PRECISION = 11


def hll_estimate(values: list[str] | None) -> int:
    import math

    import mmh3

    m = 1 << HLL_PRECISION
    registers = [0] * m
    for v in values or []:
        if v is None:
            continue
        h = mmh3.hash128(v.encode(), 0, True, False) & ((1 << 64) - 1)
        j = h >> (64 - HLL_PRECISION)
        rest = (h << HLL_PRECISION) & ((1 << 64) - 1)
        rank = min(64 - rest.bit_length(), 64 - HLL_PRECISION) + 1
        registers[j] = max(registers[j], rank)
    alpha = 0.7213 / (1 + 1.079 / m)
    raw = alpha * m * m / sum(2.0 ** -r for r in registers)
    empty = registers.count(0)
    if raw <= 2.5 * m and empty > 0:
        return round(m * math.log(m / empty))
    return round(raw)


def expected_rows(events_file: str, window_ms: int = 60000, until: int | None = None,
                  slide_ms: int | None = None, step_ms: int | None = None,
                  where: str | None = None, having: str | None = None,
                  gap_ms: int | None = None, shares: str | None = None,
                  shares_hll: bool = False) -> list[dict]:
    import duckdb
    import pyarrow as pa

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    windows, every = TUMBLING, window_ms
    if slide_ms is not None:
        windows, every = HOPPING, slide_ms
    elif step_ms is not None:
        windows, every = CUMULATING, step_ms
    elif gap_ms is not None:
        windows, every = SESSIONS, gap_ms
    # read_json takes the file name as a prepared parameter; $w / $d / $until are named literals
    shares = shares or "count(*) FILTER (WHERE event_type = 'share')"
    sql = (GOLD_SQL.replace("$windows", windows).replace("$where", where or "TRUE")
           .replace("$shares", shares)
           .replace("$w", str(int(window_ms)))
           .replace("$d", str(int(every)))
           .replace("$until", "NULL" if until is None else str(int(until))))
    if having:
        sql = f"SELECT * FROM ({sql}) WHERE {having}"
    tbl = con.execute(sql, [os.path.abspath(events_file)]).to_arrow_table()
    if shares_hll:
        at = tbl.schema.get_field_index("shares")
        estimates = pa.array([hll_estimate(v) for v in tbl.column(at).to_pylist()], pa.int64())
        tbl = tbl.set_column(at, "shares", estimates)
    return read_table.arrow_to_rows(tbl)


def add_window_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--window-ms", type=int, default=60000)
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--slide-ms", type=int, default=None, help="hopping windows of this slide")
    kind.add_argument("--step-ms", type=int, default=None, help="cumulating windows of this step")
    kind.add_argument("--gap-ms", type=int, default=None, help="sessions of this gap, per video")
    p.add_argument("--where", default=None, help="only the events this SQL condition holds for")
    p.add_argument("--having", default=None, help="only the rows this SQL condition holds for")
    p.add_argument("--shares-sql", default=None,
                   help="the shares column's aggregate, in place of counting shares")
    p.add_argument("--shares-hll", action="store_true",
                   help="--shares-sql gives a list of values; shares is their HLL estimate")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", required=True)
    add_window_args(p)
    p.add_argument("--until-windows-end-before", type=int, default=None, metavar="MS",
                   help="only windows with window_end <= MS")
    a = p.parse_args(argv)
    rows = expected_rows(a.events, a.window_ms, a.until_windows_end_before, a.slide_ms, a.step_ms,
                         a.where, a.having, a.gap_ms, a.shares_sql, a.shares_hll)
    for line in read_table.canonical_lines(rows):
        sys.stdout.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
