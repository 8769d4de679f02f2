# The test services, on free loopback ports, stopped when the sourcing script exits: moto_server
# (S3, SSM, Secrets Manager, ECR, STS), an open OCI registry, an htpasswd registry standing in
# for ECR, a private Docker engine, and the test images. Sourced by scripts/test.sh and by the
# benchmarks that need them; expects TOOLS and VENV (scripts/test.sh sets both) and `log`.
# Exports the RUNSPEC_TEST_* variables the tests read, and DOCKER_HOST.
# Services, on free loopback ports, stopped when this script ends.
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
MOTO_PORT=$(free_port)
# moto with its DynamoDB made safe for concurrent clients (see scripts/moto_server.py).
"$VENV/bin/python" "$(dirname "${BASH_SOURCE[0]}")/moto_server.py" -H 127.0.0.1 -p "$MOTO_PORT" >"$TOOLS/moto.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$MOTO_PORT/moto-api/" >/dev/null 2>&1 && break
  sleep 0.1
done
export RUNSPEC_TEST_MOTO_URL="http://127.0.0.1:$MOTO_PORT"

# An OCI registry without auth, for plugins pulled with oci:// references.
start_registry() { # start_registry NAME PORT [AUTH_YAML] — a docker-registry on 127.0.0.1:PORT
  local dir=$TOOLS/registry-$1
  mkdir -p "$dir"
  printf 'version: 0.1\nlog: { level: warn }\nstorage: { filesystem: { rootdirectory: %s/data }, delete: { enabled: true } }\nhttp: { addr: "127.0.0.1:%s" }\n%s' \
    "$dir" "$2" "${3:-}" >"$dir/config.yml"
  docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    curl -sS -o /dev/null "http://127.0.0.1:$2/v2/" 2>/dev/null && return
    sleep 0.1
  done
  echo "docker-registry did not start: $(cat "$dir/log")" >&2
  exit 1
}
OCI_PORT=$(free_port)
start_registry oci "$OCI_PORT"
export RUNSPEC_TEST_OCI_REGISTRY="127.0.0.1:$OCI_PORT"
# A registry standing in for ECR: its password is the token moto's ECR API hands out
# (`AWS:<account>-auth-token`), so a push with a token from moto gets in and any other does not.
mkdir -p "$TOOLS/registry-ecr"
htpasswd -Bbn AWS 123456789012-auth-token >"$TOOLS/registry-ecr/htpasswd"
ECR_PORT=$(free_port)
start_registry ecr "$ECR_PORT" "auth: { htpasswd: { realm: ecr, path: $TOOLS/registry-ecr/htpasswd } }"
export RUNSPEC_TEST_ECR_REGISTRY="127.0.0.1:$ECR_PORT"

# A private Docker engine with its own socket, data root and runtime, shared by every clone on
# this machine so that the test images are built once per machine (they live in its data root,
# under RUNSPEC_TEST_CACHE, ~/.cache/runspec-test by default, never in the clone). Its default
# runtime is scripts/runc-capsafe, which lets privileged containers start on machines whose
# capability bounding set lacks some capabilities (see that script).
TEST_CACHE=$(realpath -m "${RUNSPEC_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/runspec-test}")
mkdir -p "$TEST_CACHE"
DOCKER_SOCK=$TEST_CACHE/docker.sock
# The runtime is run afresh for every container and exec: a newer one takes effect at once.
if ! cmp -s "$(dirname "${BASH_SOURCE[0]}")/runc-capsafe" "$TEST_CACHE/runc-capsafe"; then
  install -m 755 "$(dirname "${BASH_SOURCE[0]}")/runc-capsafe" "$TEST_CACHE/runc-capsafe.new"
  mv -f "$TEST_CACHE/runc-capsafe.new" "$TEST_CACHE/runc-capsafe"
fi
if ! DOCKER_HOST=unix://$DOCKER_SOCK docker version >/dev/null 2>&1; then
  rm -f "$DOCKER_SOCK"
  dockerd --host "unix://$DOCKER_SOCK" --data-root "$TEST_CACHE/docker-data" --exec-root "$TEST_CACHE/docker-exec" \
    --pidfile "$TEST_CACHE/dockerd.pid" --bridge none --iptables=false \
    --add-runtime "capsafe=$TEST_CACHE/runc-capsafe" --default-runtime capsafe >"$TEST_CACHE/dockerd.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 150); do DOCKER_HOST=unix://$DOCKER_SOCK docker version >/dev/null 2>&1 && break; sleep 0.2; done
fi
export DOCKER_HOST=unix://$DOCKER_SOCK
if ! docker image inspect runspec-test:busybox >/dev/null 2>&1; then
  log "building the test image"
  rootfs=$(mktemp -d)
  mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/root" "$rootfs/etc"
  cp /bin/busybox "$rootfs/bin/busybox"
  for applet in $(/bin/busybox --list); do [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
  tar -C "$rootfs" -c . | docker import --change 'ENV IMAGE_VAR=from-image SHARED=image PATH=/bin' - runspec-test:busybox >/dev/null
  rm -rf "$rootfs"
fi
export RUNSPEC_TEST_DOCKER_IMAGE=runspec-test:busybox
# busybox without /etc/passwd or /etc/group, like distroless and scratch-based images.
if ! docker image inspect runspec-test:no-passwd >/dev/null 2>&1; then
  rootfs=$(mktemp -d)
  mkdir -p "$rootfs/bin" "$rootfs/tmp"
  cp /bin/busybox "$rootfs/bin/busybox"
  for applet in $(/bin/busybox --list); do [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"; done
  tar -C "$rootfs" -c . | docker import --change 'ENV PATH=/bin' - runspec-test:no-passwd >/dev/null
  rm -rf "$rootfs"
fi
export RUNSPEC_TEST_DOCKER_NO_PASSWD_IMAGE=runspec-test:no-passwd
# The same plus the Docker client (and the C library it links), for privileged builds that run
# `docker build` / `docker push` against the engine runspec hands them.
if ! docker image inspect runspec-test:docker-cli >/dev/null 2>&1; then
  log "building the test image with the Docker client"
  rootfs=$(mktemp -d)
  cli=$(command -v docker)
  mkdir -p "$rootfs/usr/bin"
  cp "$cli" "$rootfs/usr/bin/docker"
  for lib in $(ldd "$cli" 2>/dev/null | grep -o '/[^ ]*'); do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
  id=$(docker create runspec-test:busybox true)
  docker cp "$rootfs/." "$id:/" >/dev/null
  docker commit --change 'ENV PATH=/bin:/usr/bin' "$id" runspec-test:docker-cli >/dev/null
  docker rm "$id" >/dev/null
  rm -rf "$rootfs"
fi
export RUNSPEC_TEST_DOCKER_CLI_IMAGE=runspec-test:docker-cli
# busybox plus a CodeBuild-style runtime catalog (a symbolic link, as the file may be) and three
# fake versions of `fakelang`, for runtime-versions in images. Rebuilt when the catalog changes.
catalog=$(dirname "${BASH_SOURCE[0]}")/../agent/tests/fixtures/runtimes/image-runtimes.yml
catalog_sum=$(sha256sum "$catalog" | cut -c1-16)
if [ "$(docker image inspect -f '{{index .Config.Labels "runspec.catalog"}}' runspec-test:runtimes 2>/dev/null)" != "$catalog_sum" ]; then
  log "building the test image with a runtime catalog"
  rootfs=$(mktemp -d)
  mkdir -p "$rootfs/codebuild/image/config" "$rootfs/opt/catalog"
  cp "$catalog" "$rootfs/opt/catalog/runtimes.yml"
  ln -s ../../../opt/catalog/runtimes.yml "$rootfs/codebuild/image/config/runtimes.yml"
  for v in 1.0 2.1 2.30; do
    mkdir -p "$rootfs/opt/fakelang/$v/bin"
    printf '#!/bin/sh\necho fakelang %s\n' "$v" >"$rootfs/opt/fakelang/$v/bin/fakelang"
    chmod +x "$rootfs/opt/fakelang/$v/bin/fakelang"
  done
  id=$(docker create runspec-test:busybox true)
  docker cp "$rootfs/." "$id:/" >/dev/null
  docker commit --change 'ENV FAKELANG_230_VERSION=2.30' --change "LABEL runspec.catalog=$catalog_sum" \
    "$id" runspec-test:runtimes >/dev/null
  docker rm "$id" >/dev/null
  rm -rf "$rootfs"
fi
export RUNSPEC_TEST_DOCKER_RUNTIMES_IMAGE=runspec-test:runtimes

# Debian with the Docker engine, Compose, a registry, curl and python3, laid out like CodeBuild's
# curated images (`/usr/local/bin/dockerd`, and `dockerd-entrypoint.sh` as the entrypoint), for
# privileged builds and as the sidecar daemon; and the same without the daemon (the Docker and
# Compose clients only), like a language image. Made with debootstrap from the Debian mirror,
# once per recipe.
DIND_PACKAGES=docker.io,docker-compose,docker-registry,curl,python3,iptables,procps,ca-certificates
images=$(dirname "${BASH_SOURCE[0]}")/test-images
recipe=$( (cat "$images/dockerd-entrypoint.sh"; echo "$DIND_PACKAGES") | sha256sum | cut -c1-16)
if [ "$(docker image inspect -f '{{index .Config.Labels "runspec.recipe"}}' runspec-test:compose-cli 2>/dev/null)" != "$recipe" ]; then
  log "building the test images with Docker and Compose (debootstrap, about a minute)"
  command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap; }
  rootfs=$(mktemp -d)
  if ! debootstrap --variant=minbase --include="$DIND_PACKAGES" bookworm "$rootfs" \
    "${RUNSPEC_TEST_DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$TOOLS/debootstrap.log" 2>&1; then
    tail -20 "$TOOLS/debootstrap.log" >&2
    exit 1
  fi
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc \
    "$rootfs"/usr/share/man "$rootfs"/usr/share/locale
  ln -sf /usr/sbin/dockerd "$rootfs/usr/local/bin/dockerd"
  install -m 755 "$images/dockerd-entrypoint.sh" "$rootfs/usr/local/bin/dockerd-entrypoint.sh"
  path='ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  tar -C "$rootfs" -c . | docker import --change "$path" --change 'ENTRYPOINT ["dockerd-entrypoint.sh"]' \
    --change 'CMD ["sh"]' --change "LABEL runspec.recipe=$recipe" - runspec-test:dind >/dev/null
  rm -f "$rootfs"/usr/sbin/dockerd "$rootfs"/usr/local/bin/dockerd "$rootfs"/usr/local/bin/dockerd-entrypoint.sh \
    "$rootfs"/usr/bin/containerd* "$rootfs"/usr/sbin/runc
  tar -C "$rootfs" -c . | docker import --change "$path" --change "LABEL runspec.recipe=$recipe" \
    - runspec-test:compose-cli >/dev/null
  rm -rf "$rootfs"
fi
export RUNSPEC_TEST_DIND_IMAGE=runspec-test:dind RUNSPEC_TEST_COMPOSE_CLI_IMAGE=runspec-test:compose-cli
