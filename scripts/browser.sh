#!/usr/bin/env bash
# Make sure a headless Chromium is installed for the browser end-to-end tests
# (tests/e2e/browser). Idempotent; installs Debian's `chromium` package only
# when no Chromium is found. Runs as root (sudo otherwise), like services.sh.
set -euo pipefail

log() { echo "browser: $*"; }

if [[ -n "${CHROMIUM:-}" ]] || command -v chromium >/dev/null 2>&1 \
   || command -v chromium-browser >/dev/null 2>&1; then
  log "chromium present"
  exit 0
fi

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else "$@"; fi
}

log "apt-get install chromium"
as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
command -v chromium >/dev/null 2>&1 || { echo "browser: ERROR: chromium still missing" >&2; exit 1; }
log "chromium installed: $(chromium --version 2>/dev/null | tail -1)"
