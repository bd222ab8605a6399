#!/usr/bin/env bash
# Writes the TypeScript types of the API client from openapi/openapi.json (openapi-typescript);
# cli/src/client/api-client.ts wraps them in openapi-fetch. With --out F, writes F instead (drift check).
set -euo pipefail
cd "$(dirname "$0")/.."
out=cli/src/client/generated/openapi.d.ts
if [ "${1:-}" = "--out" ] && [ -n "${2:-}" ]; then out=$2; fi
mkdir -p "$(dirname "$out")"
npx --no-install openapi-typescript openapi/openapi.json --output "$out" >/dev/null
echo "wrote $out"
