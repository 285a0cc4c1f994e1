#!/usr/bin/env bash
# A Floe cluster on loopback to watch and scale by hand: etcd and the broker (scripts/services.sh),
# two coordinators (one leads, one stands by), three workers, and a generator feeding a
# 12-partition topic in event time = wall time. Ctrl-C stops everything.
#
#   scripts/dev-cluster.sh [DIR]        (default DIR: ./.floe-cluster; state survives restarts)
#
# Env: FLOE_PORT_OFFSET shifts every service port; RATE (events/s, default 2000).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
dir="$(mkdir -p "${1:-.floe-cluster}" && cd "${1:-.floe-cluster}" && pwd)"
rate="${RATE:-2000}"
o="${FLOE_PORT_OFFSET:-0}"

echo "== building floe" >&2
cargo build --release -q -p floe-cli
floe="$CARGO_TARGET_DIR/release/floe"

echo "== starting etcd and the broker in $dir/services" >&2
set -a
eval "$(scripts/services.sh "$dir/services" start --etcd)"
set +a

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo "== stopping the cluster" >&2
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  scripts/services.sh "$dir/services" stop >/dev/null 2>&1 || true
}
trap cleanup INT TERM EXIT

common=(--etcd "$FLOE_ETCD_ENDPOINTS" --cluster dev)
job=(--config examples/video_stats.toml --brokers "$FLOE_KAFKA_BROKERS" --topic content_events
  --warehouse "$dir/warehouse" --catalog "sqlite://$dir/catalog.db" --checkpoints "$dir/checkpoints")
start() {  # name args...
  local name=$1; shift
  "$floe" "$@" >"$dir/$name.log" 2>&1 &
  pids+=($!)
}
"$floe" gen --brokers "$FLOE_KAFKA_BROKERS" --topic content_events --partitions 12 --events 0 >/dev/null 2>&1
start gen gen --brokers "$FLOE_KAFKA_BROKERS" --topic content_events --events 1000000000 --rate "$rate"
for i in 1 2; do
  start "coordinator-$i" coordinator "${job[@]}" "${common[@]}" --name "coordinator-$i" \
    --admin "127.0.0.1:$((9464 + i + o))" --listen "127.0.0.1:$((7000 + i + o))"
done
for i in 1 2 3; do
  start "worker-$i" worker "${common[@]}" --name "worker-$i" --listen "127.0.0.1:$((7070 + i + o))"
done

cat <<EOT
A Floe cluster runs (logs in $dir/*.log):
  etcd $FLOE_ETCD_ENDPOINTS, broker $FLOE_KAFKA_BROKERS, topic content_events (12 partitions, $rate events/s)
  coordinators: coordinator-1, coordinator-2 (admin http://127.0.0.1:$((9465 + o))/status and :$((9466 + o)))
  workers: worker-1..3

Watch it:
  $floe status --etcd $FLOE_ETCD_ENDPOINTS --cluster dev
  curl -s http://127.0.0.1:$((9465 + o))/metrics
Scale out (its share of partitions moves to it through a checkpoint):
  $floe worker --etcd $FLOE_ETCD_ENDPOINTS --cluster dev --name worker-4 --listen 127.0.0.1:$((7074 + o))
Scale in: Ctrl-C that worker (SIGTERM: it hands its partitions over and exits 0).
Fail over: kill -9 the leading coordinator; the other takes over.

Ctrl-C stops everything.
EOT
wait
