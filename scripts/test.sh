#!/usr/bin/env bash
# Floe's test command (the README's second quick-start command; .ci/run calls it too).
# Installs and starts the real services the end-to-end tests use (a Kafka-protocol broker,
# SeaweedFS for S3 and the Iceberg REST catalog, Python readers), builds, runs every test,
# and stops the services again. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/floe/target}"
data="$(mktemp -d "${TMPDIR:-/tmp}/floe-test.XXXXXX")"
cleanup() { scripts/services.sh "$data" stop >/dev/null 2>&1 || true; }
trap cleanup EXIT

echo "== starting services in $data" >&2
env_lines="$(scripts/services.sh "$data" start --s3 --pg)"
set -a
eval "$env_lines"
set +a

echo "== building" >&2
cargo build --release -p floe-cli
export FLOE_BIN="$CARGO_TARGET_DIR/release/floe"

echo "== testing" >&2
cargo test --release --workspace --no-fail-fast "$@"
