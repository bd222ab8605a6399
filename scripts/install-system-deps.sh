#!/usr/bin/env bash
# Installs the Debian packages the tests and benchmarks need: the Incus client and daemon
# (bookworm-backports; the daemon also brings qemu-utils from there), incus-simplestreams
# (incus-extra), qemu-img, mksquashfs, busybox-static (a container root filesystem that boots),
# unshare, nginx, Chromium (the web catalog's browser tests drive it with playwright-core), and
# what node-gyp needs to build the sendfile addon (native/sendfile; Node's own headers come with
# Node). Idempotent and quiet: it does nothing when every command is present.
set -euo pipefail

need=()
command -v incus >/dev/null 2>&1 || need+=(incus)
[ -x /usr/libexec/incus/incusd ] || need+=(incusd)
command -v busybox >/dev/null 2>&1 || need+=(busybox)
command -v unshare >/dev/null 2>&1 || need+=(unshare)
command -v incus-simplestreams >/dev/null 2>&1 || need+=(incus-simplestreams)
command -v qemu-img >/dev/null 2>&1 || need+=(qemu-img)
command -v mksquashfs >/dev/null 2>&1 || need+=(mksquashfs)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v xz >/dev/null 2>&1 || need+=(xz)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v make >/dev/null 2>&1 || need+=(make)
command -v python3 >/dev/null 2>&1 || need+=(python3)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-system-deps: missing ${need[*]}; run as root to install them" >&2
  exit 1
fi

src=/etc/apt/sources.list.d/debian.sources
backports=/etc/apt/sources.list.d/imgsrv-backports.sources
if [ ! -f "$backports" ]; then
  # Copy URIs and Signed-By of the main (non-security) entry (docs/testing.md, "System tools").
  uris=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' "$src")
  signed=$(awk '/^Signed-By:/ {print $2; exit}' "$src")
  printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: %s\n' \
    "$uris" "$signed" >"$backports"
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq -t bookworm-backports incus-client incus-extra incus >/dev/null
apt-get install -y -qq qemu-utils squashfs-tools nginx-light xz-utils g++ make python3 \
  busybox-static util-linux chromium >/dev/null
echo "install-system-deps: installed ${need[*]}"
