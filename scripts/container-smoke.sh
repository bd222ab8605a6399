#!/usr/bin/env bash
# Builds the container image from the Dockerfile and smoke-tests it against this machine's
# PostgreSQL and Redis: the image starts, migrates a new database, answers /readyz, keeps the
# bootstrap token out of its logs, and its own CLI creates a writer, pushes a container image,
# publishes it and moves `latest`, which the real `incus` client then lists over HTTPS. Also
# validates docker-compose.yml. CI runs it (.ci/run); it needs root, a Docker daemon, debootstrap,
# incus, mksquashfs and xz (scripts/install-container-tools.sh, scripts/install-system-deps.sh).
#   bash scripts/container-smoke.sh
# NODE_IMAGE=node:26-slim uses the official base instead of building one with debootstrap.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "container-smoke: $*" >&2; }
fail() {
  say "FAILED: $*"
  exit 1
}

base=${NODE_IMAGE:-}
if [ -z "$base" ]; then
  base=imgsrv-base:node26
  bash scripts/container-base.sh "$base"
fi
tag=imgsrv:smoke

# The compose file, as `docker compose` (or the older docker-compose) reads it.
if docker compose version >/dev/null 2>&1; then
  docker compose config --quiet || fail "docker compose config refused docker-compose.yml"
elif command -v docker-compose >/dev/null 2>&1; then
  docker-compose config --quiet || fail "docker-compose config refused docker-compose.yml"
else
  fail "neither docker compose nor docker-compose is installed"
fi
say "docker-compose.yml is valid"

work=$(mktemp -d)
name="imgsrv-smoke-$$"
db="imgsrv_smoke_$$"
prefix="imgsrv-smoke-$$"
cleanup() {
  docker rm -f "$name" >/dev/null 2>&1 || true
  psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  redis-cli -h 127.0.0.1 --scan --pattern "$prefix*" | xargs -r redis-cli -h 127.0.0.1 del >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# The legacy builder where BuildKit's client plugin (buildx) is missing.
docker buildx version >/dev/null 2>&1 || export DOCKER_BUILDKIT=0
say "building $tag on $base"
started=$(date +%s)
docker build --build-arg "NODE_IMAGE=$base" -t "$tag" . >"$work/build.log" 2>&1 || {
  tail -40 "$work/build.log" >&2
  fail "docker build"
}
say "built $tag in $(($(date +%s) - started)) s ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MiB", $1/1048576}'))"

# Ports nobody holds now.
read -r http https metrics < <(node -e '
  const net = require("node:net");
  const one = () => new Promise((r) => { const s = net.createServer().listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => r(p)); }); });
  Promise.all([one(), one(), one()]).then((p) => console.log(p.join(" ")));')

mkdir -p "$work/data" "$work/fixtures/root/bin" "$work/incus"
chown 1000:1000 "$work/data" # the image runs as the unprivileged `node` user
docker run -d --name "$name" --network host \
  -e "IMGSRV_LISTEN=127.0.0.1:$http" -e "IMGSRV_TLS_LISTEN=127.0.0.1:$https" \
  -e "IMGSRV_METRICS_LISTEN=127.0.0.1:$metrics" \
  -e "IMGSRV_DATABASE_URL=postgres://postgres@127.0.0.1:5432/$db" \
  -e "IMGSRV_REDIS_URL=redis://127.0.0.1:6379" -e "IMGSRV_REDIS_PREFIX=$prefix" \
  -v "$work/data:/var/lib/imgsrv" "$tag" >/dev/null

url="http://127.0.0.1:$http"
for _ in $(seq 1 240); do
  curl -fsS "$url/readyz" >"$work/ready.json" 2>/dev/null && break
  [ "$(docker inspect -f '{{.State.Running}}' "$name")" = true ] || {
    docker logs "$name" 2>&1 | tail -30 >&2
    fail "the container exited before it was ready"
  }
  sleep 0.5
done
grep -q '"status":"ok"' "$work/ready.json" 2>/dev/null || {
  docker logs "$name" 2>&1 | tail -30 >&2
  fail "/readyz did not answer ok within 120 s"
}
say "serving: $(cat "$work/ready.json")"

[ -s "$work/data/bootstrap-token" ] || fail "no bootstrap token in the data directory"
[ "$(stat -c %a "$work/data/bootstrap-token")" = 600 ] || fail "the bootstrap token file is not mode 0600"
bootstrap=$(tr -d '\n' <"$work/data/bootstrap-token")
if docker logs "$name" 2>&1 | grep -qF "$bootstrap"; then fail "the bootstrap token is in the container's logs"; fi

# The image's own CLI, on the host network.
cli() {
  docker run --rm --network host -v "$work/fixtures:/fixtures:ro" -e "IMGSRV_URL=$url" \
    -e HOME=/tmp --entrypoint imgsrv "$tag" "$@"
}
cli --token "$bootstrap" principal create smoke-builder --kind service >/dev/null
cli --token "$bootstrap" grant content-writer --to smoke-builder --images 'smoke-*' >/dev/null
writer=$(cli --token "$bootstrap" token create --principal smoke-builder --expires 1d 2>/dev/null)

# A container image: metadata.yaml in incus.tar.xz, a busybox root file system in squashfs.
created=$(date +%s)
cat >"$work/fixtures/metadata.yaml" <<EOF
architecture: x86_64
creation_date: $created
properties:
  os: Busybox
  release: smoke
  variant: default
  description: container smoke test $created
EOF
tar -C "$work/fixtures" -cJf "$work/fixtures/incus.tar.xz" metadata.yaml
cp "$(command -v busybox)" "$work/fixtures/root/bin/busybox"
mksquashfs "$work/fixtures/root" "$work/fixtures/rootfs.squashfs" -noappend -quiet -all-root >/dev/null
cli --token "$writer" --quiet push smoke-busybox 1 --metadata /fixtures/incus.tar.xz \
  --rootfs /fixtures/rootfs.squashfs --publish --alias latest >"$work/push.out" || {
  docker logs "$name" 2>&1 | tail -30 >&2
  fail "push --publish"
}
say "$(cat "$work/push.out")"

# The real incus client, over HTTPS with the certificate the container generated.
fingerprint=$(cat "$work/fixtures/incus.tar.xz" "$work/fixtures/rootfs.squashfs" | sha256sum | cut -c1-64)
incus_() {
  env -i PATH="$PATH" HOME="$work/incus" INCUS_CONF="$work/incus/config" \
    INCUS_CACHE="$work/incus/cache" SSL_CERT_FILE="$work/data/tls/self-signed.crt" incus "$@"
}
incus_ remote add smoke "https://127.0.0.1:$https" --protocol=simplestreams --public \
  >/dev/null 2>"$work/incus.err" || { cat "$work/incus.err" >&2; fail "incus remote add"; }
incus_ image list smoke: --format=json >"$work/images.json" || fail "incus image list"
node -e '
  const [file, fp] = process.argv.slice(1);
  const images = JSON.parse(require("node:fs").readFileSync(file, "utf8"));
  const image = images.find((i) => i.fingerprint === fp);
  if (!image) { console.error(`incus lists no image ${fp}: ${JSON.stringify(images)}`); process.exit(1); }
  const aliases = image.aliases.map((a) => a.name);
  if (!aliases.includes("smoke-busybox/latest")) { console.error(`aliases: ${aliases}`); process.exit(1); }
' "$work/images.json" "$fingerprint" || fail "incus image list"
say "incus lists smoke-busybox/latest (${fingerprint:0:12})"

# The HEALTHCHECK the image declares reports healthy too.
for _ in $(seq 1 90); do
  health=$(docker inspect -f '{{.State.Health.Status}}' "$name")
  [ "$health" = healthy ] && break
  [ "$health" = unhealthy ] && fail "the image's health check reports unhealthy"
  sleep 1
done
[ "$health" = healthy ] || fail "the health check did not report healthy (last: $health)"
say "passed"
