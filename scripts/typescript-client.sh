#!/usr/bin/env bash
# Prove the OpenAPI document is usable by frontends: generate TypeScript types from it
# with openapi-typescript and compile a small client against them with tsc --strict.
# Needs Node.js and npm (installed from Debian packages when missing); writes to build/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { echo "typescript-client: $*"; }

if ! command -v npx >/dev/null 2>&1; then
  log "apt-get install nodejs npm"
  if [[ $(id -u) -eq 0 ]]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
fi

out=build/typescript-client
rm -rf "$out" && mkdir -p "$out"
# The document as GET /schema/openapi.json serves it; embedded settings, nothing connects.
JWT_SECRET_KEY="${JWT_SECRET_KEY:-openapi-export-only-key-of-forty-chars!!}" \
  uv run tessera openapi > "$out/openapi.json"
npx --yes openapi-typescript@7 "$out/openapi.json" -o "$out/tessera-api.d.ts"
cp scripts/typescript-client/client.ts "$out/client.ts"
npx --yes -p typescript@5 tsc --strict --noEmit --target es2022 --module es2022 \
  --moduleResolution bundler --lib es2022,dom "$out/client.ts"
log "types generated and a client compiled against them: $out"
