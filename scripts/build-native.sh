#!/usr/bin/env bash
# Builds the sendfile addon (native/sendfile) with node-gyp. `npm install` runs it in full
# (postinstall); `npm run build` passes --if-needed and builds only when the addon is missing, its
# sources are newer, or it was built for another Node ABI, so a build does not recompile it.
set -euo pipefail
cd "$(dirname "$0")/../native/sendfile"
addon=build/Release/sendfile.node
stamp=build/node-abi
abi=$(node -p process.versions.modules)
if [ "${1:-}" = "--if-needed" ] && [ -f "$addon" ] && [ -f "$stamp" ] \
  && [ "$(cat "$stamp")" = "$abi" ] && [ "$addon" -nt sendfile.c ] && [ "$addon" -nt binding.gyp ]; then
  exit 0
fi
node-gyp rebuild
echo "$abi" >"$stamp"
