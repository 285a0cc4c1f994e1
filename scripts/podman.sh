#!/usr/bin/env bash
# Runs podman the way it works on these machines: Debian's podman with runc (crun fails on
# hybrid cgroups) and ulimits the host allows, from a containers.conf under the Floe cache.
# Installs podman, runc and tini (for the image) with apt-get when missing.
# usage: scripts/podman.sh <podman arguments…>
set -euo pipefail
cache="${FLOE_CACHE:-$HOME/.cache/floe}"
if ! command -v podman >/dev/null || ! command -v runc >/dev/null || [ ! -x /usr/bin/tini-static ]; then
  command -v apt-get >/dev/null || { echo "podman.sh: no podman and no apt-get to install it" >&2; exit 1; }
  echo "podman.sh: installing podman, runc and tini with apt-get" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q podman runc tini >&2
fi
conf="$cache/containers.conf"
if [ ! -f "$conf" ]; then
  mkdir -p "$cache"
  cat > "$conf.tmp" <<'CONF'
[engine]
runtime = "runc"

[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
CONF
  mv "$conf.tmp" "$conf"
fi
export CONTAINERS_CONF="$conf"
exec podman "$@"
