#!/usr/bin/env bash
# The test command: installs what the tests need (idempotently) and runs every test.
# Used by CI (.ci/run) and by developers. Safe to run again on the same machine.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

# What git sees before the run; the run must leave it as it was (checked at the end).
git_before=$(git status --porcelain=v1 --untracked-files=all 2>/dev/null | sort || true)

need_apt=()
command -v git >/dev/null || need_apt+=(git)
command -v setpriv >/dev/null || need_apt+=(util-linux)
command -v dockerd >/dev/null || need_apt+=(docker.io)
command -v docker-registry >/dev/null || need_apt+=(docker-registry)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v htpasswd >/dev/null || need_apt+=(apache2-utils)
# Test images with a Docker daemon are made from Debian packages (no image can be pulled).
command -v debootstrap >/dev/null || need_apt+=(debootstrap)
[ -x /bin/busybox ] || need_apt+=(busybox-static)
# A real terminal for the breakpoint and --debug tests (send-keys, capture-pane).
command -v tmux >/dev/null || need_apt+=(tmux)
# A real headless browser for the `runspec serve` web page test (WebDriver).
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
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

# The AWS CLI and boto3 for the `runspec serve` tests.
export RUNSPEC_TEST_VENV=$VENV

# Services for the tests (moto, registries, a private Docker engine, test images).
source scripts/services.sh

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

log "the README's example build (release)"
out=$(mktemp -d)
cargo run --release --locked -q -p runspec -- run --buildspec buildspec.example.yml --artifacts "$out" >"$out/log"
test -f "$out/artifacts.zip" && test -f "$out/deploy.zip"
log "the README's example pipeline (release)"
cargo run --release --locked -q -p runspec -- pipeline run pipeline.example.json \
  --project runspec-example=project.example.json --host --approve all --artifacts "$out/pipeline" >"$out/pipeline.log"
ls "$out"/pipeline/*/deploy/imagedefinitions.json >/dev/null
# What `cargo install` gives users: no debug info (it was 333 MB with line tables).
size=$(stat -c %s target/release/runspec)
echo "release binary: $((size / 1024 / 1024)) MiB"
[ "$size" -lt $((100 * 1024 * 1024)) ] || { echo "the release binary is $size bytes; keep it under 100 MiB" >&2; exit 1; }
rm -rf "$out"

# A clean clone stays clean: the run changed nothing git sees.
if [ -n "$git_before" ] || git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git_after=$(git status --porcelain=v1 --untracked-files=all 2>/dev/null | sort)
  if [ "$git_after" != "$git_before" ]; then
    echo "the test run changed the work tree:" >&2
    diff <(echo "$git_before") <(echo "$git_after") >&2 || true
    exit 1
  fi
fi
