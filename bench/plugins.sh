#!/usr/bin/env bash
# Plugin steps vs shell steps, measured side by side in one run (issue 3's targets):
#
#   bash bench/plugins.sh        # RUNS=10 by default
#
# 1. A build of 200 plugin steps (the probe plugin, `mode: ok`: instantiate, call, return)
#    vs a build of 200 `true` shell commands vs a build with no steps; per-step cost is
#    (build − empty build) / 200. Warm: the compiled plugin is in the cache.
# 2. Cold vs warm start of one plugin: `runspec plugin run` with an empty cache (compiles the
#    component) vs with the cache filled (mmaps the compiled code).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
cargo build --release -p runspec -q
cargo build --release -q --target wasm32-wasip2 --manifest-path plugins/Cargo.toml --target-dir target/plugins
BIN=$PWD/target/release/runspec
WASM=$PWD/target/plugins/wasm32-wasip2/release
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export RUNSPEC_CACHE_DIR=$WORK/cache

source bench/lib.sh
median_us() { times_us "$@" | median | awk '{printf "%d", $1}'; }

mk() { # dir, then the step lines
  local dir=$1; shift
  mkdir -p "$dir"
  cp "$WASM/probe.wasm" "$dir/"
  { printf 'version: 0.2\nphases:\n  build:\n    commands:\n'; printf '%s\n' "$@"; } > "$dir/buildspec.yml"
}
steps() { for _ in $(seq 200); do printf '      - %s\n' "$1"; done; }

mk "$WORK/empty" '      - true'
sed -i '/- true/d' "$WORK/empty/buildspec.yml"
mk "$WORK/shell" "$(steps true)"
mk "$WORK/plugin" "$(steps '{ plugin: ./probe.wasm, with: { mode: ok } }')"
"$BIN" run --mount-source --source "$WORK/plugin" >/dev/null 2>&1 || { echo "plugin build failed"; exit 1; }

e=$(median_us "$BIN" run --mount-source --source "$WORK/empty")
s=$(median_us "$BIN" run --mount-source --source "$WORK/shell")
p=$(median_us "$BIN" run --mount-source --source "$WORK/plugin")
printf '| benchmark | result | baseline | ratio |\n|---|---|---|---|\n'
awk -v e="$e" -v s="$s" -v p="$p" -v n="$RUNS" 'BEGIN {
  ps = (p - e) / 200; ss = (s - e) / 200;
  printf "| per step, 200 steps, warm (µs, median of %d builds) | plugin %.0f | shell `true` %.0f | %.3f× |\n", n, ps, ss, ps / ss;
  printf "| whole build (ms) | 200 plugin steps %.1f | 200 shell steps %.1f (empty build %.1f) | %.2f× |\n", p / 1000, s / 1000, e / 1000, p / s;
}'

cold() { rm -rf "$RUNSPEC_CACHE_DIR"; "$BIN" plugin run "$WASM/probe.wasm" --with mode=ok; }
warm() { "$BIN" plugin run "$WASM/probe.wasm" --with mode=ok; }
c=$(median_us cold)
warm >/dev/null 2>&1
w=$(median_us warm)
awk -v c="$c" -v w="$w" -v n="$RUNS" 'BEGIN {
  printf "| `runspec plugin run` one step (ms, median of %d) | cold (compile) %.1f | warm (cached) %.1f | %.1f× |\n", n, c / 1000, w / 1000, c / w;
}'

# 3. The Python and JavaScript plugins (18 MB and 12 MB components: an interpreter each), when
#    scripts/test.sh (or plugins/build-other-languages.sh) has built them. Cold compiles are
#    slow, so they are measured RUNS_COLD (default 3) times.
OTHER=$PWD/target/plugins/other
if [ -f "$OTHER/line_count_py.wasm" ] && [ -f "$OTHER/image_tag_js.wasm" ]; then
  printf 'a\nb\n' >"$WORK/lines.txt"
  for p in "line_count_py --with files=lines.txt --allow-export LINE_COUNT_TOTAL" "image_tag_js --with repository=example/web --allow-export IMAGE_TAG --allow-export IMAGE_URI"; do
    set -- $p
    name=$1; shift
    coldp() { rm -rf "$RUNSPEC_CACHE_DIR"; (cd "$WORK" && "$BIN" plugin run "$OTHER/$name.wasm" "$@"); }
    warmp() { (cd "$WORK" && "$BIN" plugin run "$OTHER/$name.wasm" "$@"); }
    c=$(RUNS=${RUNS_COLD:-3} median_us coldp "$@")
    warmp "$@" >/dev/null 2>&1
    w=$(median_us warmp "$@")
    awk -v c="$c" -v w="$w" -v n="$RUNS" -v name="$name" 'BEGIN {
      printf "| `runspec plugin run` %s (ms; warm: median of %d) | cold (compile) %.1f | warm (cached) %.1f | %.1f× |\n", name, n, c / 1000, w / 1000, c / w;
    }'
  done
fi
