#!/usr/bin/env bash
# Batch builds on this machine:
#  - 20 children of `sleep 1` with -j 4: wall time beside the ideal 5 s;
#  - per-child overhead: 20 children of `true` at -j 1, beside the same 20 builds run by
#    `runspec run` one after another.
#
#   bash bench/batch.sh          # RUNS=3
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
cargo build --release -p runspec -q
BIN=$PWD/target/release/runspec
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
source bench/lib.sh
export RUNSPEC_STATE_DIR=$WORK/state
mkdir -p "$WORK/sleep" "$WORK/true" "$WORK/one"
printf 'version: 0.2\nbatch:\n  build-fanout:\n    parallelism: 20\nphases:\n  build:\n    commands:\n      - sleep 1\n' >"$WORK/sleep/buildspec.yml"
printf 'version: 0.2\nbatch:\n  build-fanout:\n    parallelism: 20\nphases:\n  build:\n    commands:\n      - "true"\n' >"$WORK/true/buildspec.yml"
printf 'version: 0.2\nphases:\n  build:\n    commands:\n      - "true"\n' >"$WORK/one/buildspec.yml"
RUNS_SAVED=$RUNS
sleep_ms=$(times_us "$BIN" run -s "$WORK/sleep" --batch -j 4 | median)
true_ms=$(times_us "$BIN" run -s "$WORK/true" --batch -j 1 | median)
seq_us=()
for _ in $(seq "$RUNS"); do
  t0=$(now)
  for _ in $(seq 20); do "$BIN" run -s "$WORK/one" >/dev/null 2>&1; done
  t1=$(now)
  seq_us+=($(( (t1 - t0) / 1000 )))
done
seq_med=$(printf '%s\n' "${seq_us[@]}" | median)
awk -v s="$sleep_ms" -v t="$true_ms" -v q="$seq_med" -v runs="$RUNS_SAVED" 'BEGIN {
  print "| benchmark (median of " runs ") | runspec run --batch | baseline | ratio | goal |"
  print "|---|---|---|---|---|"
  printf "| 20 children of `sleep 1`, -j 4 (ms) | %.0f | 5000 (ideal: 5 rounds of 1 s) | %.3f× | ≤ 1.1× |\n", s/1000, s/5000000
  printf "| per child, 20 children of `true`, -j 1 (ms) | %.1f | %.1f (`runspec run` × 20, one after another) | %.2f× | — |\n", t/20000, q/20000, t/q
}'
