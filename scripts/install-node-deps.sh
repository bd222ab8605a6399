#!/usr/bin/env bash
# Installs the locked node modules. Not `npm ci`: the registry these machines reach serves only the
# Linux builds of packages with per-platform binaries (@swc/core, unrs-resolver, msgpackr-extract),
# so npm records no other platform in package-lock.json, and `npm ci` then refuses that lock as
# "missing" them. `npm install` with the committed lock installs exactly the locked versions.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--if-needed" ] && [ -f node_modules/.package-lock.json ] && [ ! package-lock.json -nt node_modules/.package-lock.json ]; then
  exit 0
fi
npm install --no-audit --no-fund --loglevel=error
