#!/usr/bin/env bash
# The test command: installs what the tests need (idempotently) and runs every test.
# Used by CI (.ci/run) and by developers. Safe to run again on the same machine.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

need_apt=()
command -v git >/dev/null || need_apt+=(git)
command -v setpriv >/dev/null || need_apt+=(util-linux)
command -v dockerd >/dev/null || need_apt+=(docker.io)
command -v docker-registry >/dev/null || need_apt+=(docker-registry)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v htpasswd >/dev/null || need_apt+=(apache2-utils)
[ -x /bin/busybox ] || need_apt+=(busybox-static)
if ((${#need_apt[@]})); then
  log "installing ${need_apt[*]}"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq "${need_apt[@]}"
  else
    echo "missing: ${need_apt[*]} (install them, or run this script as root)" >&2
    exit 1
  fi
fi
command -v cargo >/dev/null || { echo "cargo is required: install Rust with rustup" >&2; exit 1; }
rustup component add clippy rustfmt >/dev/null 2>&1 || true
# Plugins are WebAssembly components built for wasm32-wasip2.
rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || {
  log "adding the wasm32-wasip2 target"
  rustup target add wasm32-wasip2
}

# Python tools for the AWS tests: moto_server stands in for S3, SSM and Secrets Manager.
TOOLS=$(realpath -m "${RUNSPEC_TOOLS_DIR:-$PWD/target/tools}")
VENV=$TOOLS/venv
if [ ! -x "$VENV/bin/moto_server" ]; then
  log "installing moto[server] into $VENV"
  python3 -m venv "$VENV" || { apt-get update -qq && apt-get install -y -qq python3-venv && python3 -m venv "$VENV"; }
  "$VENV/bin/pip" install -q --disable-pip-version-check 'moto[server]' awscli
fi

# Plugin toolchains for the Python and JavaScript plugins (plugins/build-other-languages.sh).
COMPONENTIZE_PY=0.25.1 COMPONENTIZE_JS=0.23.0
if [ "$("$VENV/bin/componentize-py" --version 2>/dev/null)" != "componentize-py $COMPONENTIZE_PY" ]; then
  log "installing componentize-py $COMPONENTIZE_PY"
  "$VENV/bin/pip" install -q --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY"
fi
JS=$TOOLS/js
if [ "$(cat "$JS/node_modules/@bytecodealliance/componentize-js/package.json" 2>/dev/null |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])' 2>/dev/null)" != "$COMPONENTIZE_JS" ]; then
  log "installing componentize-js $COMPONENTIZE_JS"
  command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq npm; }
  mkdir -p "$JS"
  npm install --prefix "$JS" --silent --no-audit --no-fund "@bytecodealliance/componentize-js@$COMPONENTIZE_JS"
fi

# Services, on free loopback ports, stopped when this script ends.
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
MOTO_PORT=$(free_port)
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$TOOLS/moto.log" 2>&1 &
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

# A private Docker engine (its own socket and data root), and a test image made without any pull:
# busybox-static imported as a rootfs, with an ENV of its own.
DOCKER_SOCK=$TOOLS/docker.sock
if ! DOCKER_HOST=unix://$DOCKER_SOCK docker version >/dev/null 2>&1; then
  rm -f "$DOCKER_SOCK"
  dockerd --host "unix://$DOCKER_SOCK" --data-root "$TOOLS/docker-data" --exec-root "$TOOLS/docker-exec" \
    --pidfile "$TOOLS/dockerd.pid" --bridge none --iptables=false >"$TOOLS/dockerd.log" 2>&1 &
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

log "format"
cargo fmt --all --check
cargo fmt --all --check --manifest-path plugins/Cargo.toml

log "plugins (wasm32-wasip2)"
# Their own workspace and target directory (under target/), so nested builds never wait on
# the test run's lock; incremental after the first run.
cargo build --release --locked --target wasm32-wasip2 --manifest-path plugins/Cargo.toml --target-dir target/plugins
export RUNSPEC_TEST_PLUGINS="$PWD/target/plugins/wasm32-wasip2/release"
cargo clippy --release --locked --target wasm32-wasip2 --manifest-path plugins/Cargo.toml --target-dir target/plugins -- -D warnings
PATH=$VENV/bin:$JS/node_modules/.bin:$PATH plugins/build-other-languages.sh target/plugins/other
export RUNSPEC_TEST_OTHER_PLUGINS="$PWD/target/plugins/other"

log "lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

log "tests"
cargo test --workspace --locked -- --include-ignored
