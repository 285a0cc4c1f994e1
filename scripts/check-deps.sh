#!/usr/bin/env bash
# Fails when a crate declares a dependency it does not use (cargo-machete, installed once into
# the cache). A dependency only generated code uses is listed under
# [package.metadata.cargo-machete] in its crate's Cargo.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
root=${FLOE_CACHE:-$HOME/.cache/floe}/tools-bin
if [ ! -x "$root/bin/cargo-machete" ]; then
  echo "== installing cargo-machete into $root" >&2
  env -u CARGO_TARGET_DIR cargo install --locked --quiet --version 0.9.2 --root "$root" cargo-machete
fi
"$root/bin/cargo-machete"
