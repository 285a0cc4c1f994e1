# Sourced by test.sh and bench.sh: starts the services in a fresh temp dir, exports their
# addresses, points CARGO_TARGET_DIR (unless set; CI sets a persistent one) at the repo's target/,
# the build `cargo run --release -- demo` made, and stops the services on exit.
#   . scripts/start-services.sh NAME [--s3] [--pg]
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
data="$(mktemp -d "${TMPDIR:-/tmp}/floe-$1.XXXXXX")"
shift
cleanup() { scripts/services.sh "$data" stop >/dev/null 2>&1 || true; }
trap cleanup EXIT

echo "== starting services in $data" >&2
env_lines="$(scripts/services.sh "$data" start "$@")"
set -a
eval "$env_lines"
set +a
