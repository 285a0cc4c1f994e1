#!/usr/bin/env bash
# Floe's benchmark: `floe bench` against the real broker tansu and etcd, which this script
# installs and starts (and stops again). Writes bench-results.json (override with --out FILE); extra
# arguments go to `floe bench` (e.g. --events 2000000 --broker-events 1000000 --latency-secs 0).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/start-services.sh bench --etcd

echo "== building" >&2
cargo build --release -p floe-cli

echo "== benchmarking" >&2
FLOE_LOG="${FLOE_LOG:-warn}" "$CARGO_TARGET_DIR/release/floe" bench \
  --brokers "$FLOE_KAFKA_BROKERS" --etcd "$FLOE_ETCD_ENDPOINTS" "$@"
