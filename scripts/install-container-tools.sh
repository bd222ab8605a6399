#!/usr/bin/env bash
# Installs and starts what scripts/container-smoke.sh needs beyond the test tools: Debian's Docker
# daemon (docker.io), debootstrap (the base image is built here: no container registry is
# reachable) and docker-compose (validates docker-compose.yml where the `docker compose` plugin is
# missing). Starts dockerd when no daemon answers. Idempotent; needs root to install.
set -euo pipefail

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1 ||
  need+=(docker-compose)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || { echo "install-container-tools: missing ${need[*]}; run as root" >&2; exit 1; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${need[@]}" >/dev/null
  echo "install-container-tools: installed ${need[*]}"
fi

if ! docker info >/dev/null 2>&1; then
  echo "install-container-tools: starting dockerd"
  mkdir -p /var/log
  nohup dockerd >/var/log/imgsrv-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && exit 0
    sleep 0.5
  done
  tail -20 /var/log/imgsrv-dockerd.log >&2
  echo "install-container-tools: dockerd did not come up" >&2
  exit 1
fi
