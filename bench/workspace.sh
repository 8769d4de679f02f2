#!/usr/bin/env bash
# The end of a build with a big workspace: how long `runspec run` takes from its last log line
# to its exit, for a build that leaves a node_modules of FILES files (default 100,000) in its
# copy of the source, beside the baseline: `rm -rf` of the same tree, which is what removing
# the workspace used to put on that path.
#
#   bash bench/workspace.sh          # FILES=100000 RUNS=3
set -euo pipefail
cd "$(dirname "$0")/.."
FILES=${FILES:-100000}
RUNS=${RUNS:-3}
cargo build --release -p runspec -q
BIN=$PWD/target/release/runspec
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
source bench/lib.sh
export RUNSPEC_STATE_DIR=$WORK/state
dirs=$((FILES / 100))
make_tree='mkdir -p node_modules && cd node_modules && seq 1 '"$dirs"' | xargs mkdir -p && for d in $(seq 1 '"$dirs"'); do (cd $d && seq 1 100 | xargs touch); done'
mkdir -p "$WORK/src"
printf 'version: 0.2\nphases:\n  build:\n    commands:\n      - %s\n' "$make_tree" > "$WORK/src/buildspec.yml"

tail_ms=()
for _ in $(seq "$RUNS"); do
  # The time of the last line read, then the time the pipe closed (runspec exited).
  last=$( { "$BIN" run -s "$WORK/src" 2>/dev/null; } | while IFS= read -r _line; do now; done | tail -1)
  end=$(now)
  tail_ms+=($(( (end - last) / 1000000 )))
done
rm_ms=()
for _ in $(seq "$RUNS"); do
  mkdir -p "$WORK/tree" && (cd "$WORK/tree" && eval "$make_tree")
  t0=$(now); rm -rf "$WORK/tree"; t1=$(now)
  rm_ms+=($(( (t1 - t0) / 1000000 )))
done
ours=$(printf '%s\n' "${tail_ms[@]}" | median)
base=$(printf '%s\n' "${rm_ms[@]}" | median)
echo "| benchmark | runspec | baseline | ratio |"
echo "|---|---|---|---|"
echo "| last log line → exit, workspace with $FILES files (ms, median of $RUNS) | $ours | $base (rm -rf of the tree) | $(awk -v a="$ours" -v b="$base" 'BEGIN {printf "%.0f× shorter", (a > 0 ? b / a : b)}') |"
