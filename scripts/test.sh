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
cargo test --release --workspace --no-fail-fast "$@"
