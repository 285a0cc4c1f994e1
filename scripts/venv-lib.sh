# Sourced by python-env.sh and k8s-tools.sh (which define CACHE, VENV, STAMP, REQS and log):
# the steps both take to keep a pip-installed venv under the cache.

# Serialises concurrent callers (parallel test runs) on one lock file under $CACHE (fd 9).
lock_cache() {
  mkdir -p "$CACHE"
  exec 9>"$CACHE/$1"
  if command -v flock >/dev/null; then flock 9; fi
}

# A working venv at $VENV, created afresh when it is missing or broken (with Debian's
# python3-venv when python3 has no ensurepip), then ${REQS[@]} installed into it.
install_venv() {
  if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
    if ! python3 -c 'import ensurepip' 2>/dev/null; then
      log "python3 has no ensurepip: installing python3-venv with apt"
      apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    fi
    log "creating venv $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
  fi
  log "pip install $1${REQS[*]}"
  rm -f "$STAMP"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-input "${REQS[@]}" >&2
}
