#!/usr/bin/env bash
# Fails when openapi/openapi.json is not what the code generates (run `npm run openapi`).
set -euo pipefail
cd "$(dirname "$0")/.."
fresh=$(mktemp --suffix=.json)
trap 'rm -f "$fresh"' EXIT
node dist/main.js openapi --out "$fresh" >/dev/null
if ! diff -u openapi/openapi.json "$fresh"; then
  echo "openapi/openapi.json is stale: run 'npm run openapi' and commit the result" >&2
  exit 1
fi
echo "openapi/openapi.json is up to date"
