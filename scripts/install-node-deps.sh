#!/usr/bin/env bash
# Installs exactly the locked node modules with `npm ci`, as operators and CI systems do, and
# checks that the committed package-lock.json is complete: `npm install` against it must leave it
# unchanged (a lock missing other platforms' optional binaries, or out of step with package.json,
# fails here rather than on someone else's machine). `--if-needed` skips all of it when
# node_modules already holds what the lock names.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--if-needed" ] && [ -f node_modules/.package-lock.json ] && [ ! package-lock.json -nt node_modules/.package-lock.json ]; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
before=$(sha256sum package-lock.json)
npm install --package-lock-only --ignore-scripts --no-audit --no-fund --loglevel=error
if [ "$(sha256sum package-lock.json)" != "$before" ]; then
  echo "install-node-deps: npm install changes package-lock.json; commit the complete lock (npm install, then git add package-lock.json)" >&2
  git --no-pager diff --stat -- package-lock.json >&2 || true
  exit 1
fi
