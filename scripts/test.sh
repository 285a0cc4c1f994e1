#!/usr/bin/env bash
# Floe's test command (the README's second quick-start command; .ci/run calls it too).
# Installs and starts the real services the end-to-end tests use (a Kafka-protocol broker,
# SeaweedFS for S3 and the Iceberg REST catalog, PostgreSQL for the SQL catalog, etcd for cluster
# mode, Python readers), builds, runs every test, and stops the services again. Extra arguments go to
# `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/start-services.sh test --s3 --pg --etcd

echo "== building" >&2
cargo build --release -p floe-cli
export FLOE_BIN="$CARGO_TARGET_DIR/release/floe"

echo "== testing" >&2
if [ $# -gt 0 ]; then
  exec cargo test --release --workspace --no-fail-fast "$@"
fi
# The soak (13–15 minutes, most of it waiting on 250 ms checkpoints) runs in a lane of its
# own beside the other tests, which leave the machine mostly idle; no test restarts the shared
# services it uses (the broker and etcd restart tests start their own).
soak=soak_two_thousand_checkpoints_with_default_maintenance_on_s3
soak_bin="$(cargo test --release --workspace --no-run --message-format=json \
  | python3 -c 'import json, sys
for m in map(json.loads, sys.stdin):
    if m.get("executable") and m["target"]["name"] == "e2e_soak":
        print(m["executable"])')"
soak_log="$data/soak.log"
echo "== the soak runs beside the other tests; its output: $soak_log" >&2
(cd tests && exec "$soak_bin" --exact "$soak" --nocapture) > "$soak_log" 2>&1 &
soak_pid=$!
tests_status=0
cargo test --release --workspace --no-fail-fast -- --skip "$soak" --exact || tests_status=$?
soak_status=0
wait "$soak_pid" || soak_status=$?
echo "== the soak (exit $soak_status):" >&2
grep -E "^\[|^test |^test result|panicked|^thread" "$soak_log" | tail -n 60 >&2 || true
if [ "$soak_status" -ne 0 ]; then
  tail -n 200 "$soak_log" >&2
fi
[ "$tests_status" -eq 0 ] && [ "$soak_status" -eq 0 ]
