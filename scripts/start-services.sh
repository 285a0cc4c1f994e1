# Sourced by test.sh and bench.sh: starts the services in a fresh temp dir, exports their
# addresses, points CARGO_TARGET_DIR at the persistent build dir, and stops the services on exit.
#   . scripts/start-services.sh NAME [--s3] [--pg]
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/floe/target}"
data="$(mktemp -d "${TMPDIR:-/tmp}/floe-$1.XXXXXX")"
shift
cleanup() { scripts/services.sh "$data" stop >/dev/null 2>&1 || true; }
trap cleanup EXIT

echo "== starting services in $data" >&2
env_lines="$(scripts/services.sh "$data" start "$@")"
set -a
eval "$env_lines"
set +a
