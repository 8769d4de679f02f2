#!/usr/bin/env bash
# The test command: installs what the tests need (idempotently) and runs every test.
# Used by CI (.ci/run) and by developers. Safe to run again on the same machine.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

need_apt=()
command -v git >/dev/null || need_apt+=(git)
command -v setpriv >/dev/null || need_apt+=(util-linux)
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

log "format"
cargo fmt --all --check

log "lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

log "tests"
cargo test --workspace --locked -- --include-ignored
