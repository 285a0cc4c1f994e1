#!/usr/bin/env bash
# Builds the floe container image from deploy/Containerfile: FROM scratch with the release
# binary, the shared libraries it links (from ldd), tini as PID 1, CA certificates and a
# non-root user. No base image, so no network is needed.
# usage: scripts/build-image.sh [TAG]   (default floe:dev; FLOE_BIN picks the binary, else
#        the release build under CARGO_TARGET_DIR or ./target)
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${1:-floe:dev}"
bin="${FLOE_BIN:-${CARGO_TARGET_DIR:-target}/release/floe}"
[ -x "$bin" ] || { echo "build-image.sh: no floe binary at $bin (cargo build --release -p floe-cli)" >&2; exit 1; }
scripts/podman.sh --version >/dev/null  # installs podman and tini when missing

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
root="$stage/rootfs"
mkdir -p "$root/usr/local/bin" "$root/usr/bin" "$root/etc/ssl/certs" "$root/tmp"
chmod 1777 "$root/tmp"
# Debug info stays out of the image.
objcopy --strip-debug "$bin" "$root/usr/local/bin/floe"
cp /usr/bin/tini-static "$root/usr/bin/tini"
for lib in $(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
  cp --parents -L "$lib" "$root/"
done
[ -f /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
echo "floe:x:65532:65532:floe:/tmp:/nonexistent" > "$root/etc/passwd"
echo "floe:x:65532:" > "$root/etc/group"
cp deploy/Containerfile "$stage/Containerfile"
scripts/podman.sh build --quiet -t "$tag" -f "$stage/Containerfile" "$stage" >/dev/null
echo "$tag"
