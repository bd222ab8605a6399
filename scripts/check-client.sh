#!/usr/bin/env bash
# Fails when the generated client types are not what openapi/openapi.json gives
# (run `npm run client:generate`).
set -euo pipefail
cd "$(dirname "$0")/.."
fresh=$(mktemp --suffix=.d.ts)
trap 'rm -f "$fresh"' EXIT
bash scripts/generate-client.sh --out "$fresh" >/dev/null
if ! diff -u cli/src/client/generated/openapi.d.ts "$fresh"; then
  echo "cli/src/client/generated is stale: run 'npm run client:generate' and commit the result" >&2
  exit 1
fi
echo "cli/src/client/generated/openapi.d.ts is up to date"
