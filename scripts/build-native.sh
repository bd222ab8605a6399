#!/usr/bin/env bash
# Builds the native addons with node-gyp: native/sendfile (sendfile(2) downloads) and
# native/sha256 (SHA-256 with a resumable state on Node's own OpenSSL). `npm install` runs it in
# full (postinstall); `npm run build` passes --if-needed and builds an addon only when it is
# missing, its sources are newer, or it was built for another Node ABI, so a build does not
# recompile it.
set -euo pipefail
cd "$(dirname "$0")/../native"
abi=$(node -p process.versions.modules)
for dir in sendfile sha256; do
  (
    cd "$dir"
    addon="build/Release/$dir.node"
    stamp=build/node-abi
    if [ "${1:-}" = "--if-needed" ] && [ -f "$addon" ] && [ -f "$stamp" ] \
      && [ "$(cat "$stamp")" = "$abi" ] && [ "$addon" -nt "$dir.c" ] && [ "$addon" -nt binding.gyp ]; then
      exit 0
    fi
    node-gyp rebuild
    echo "$abi" >"$stamp"
  )
done
