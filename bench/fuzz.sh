#!/usr/bin/env bash
# The buildspec fuzzer's long run: INPUTS (default 1,000,000) mutated buildspecs through
# parse → validate → render, split over one process per core, each with its own seed.
#
#   bash bench/fuzz.sh                 # INPUTS=1000000 SEED=1
#
# Prints one line per process and the total; exits 1 if any input panicked (the inputs are
# saved under target/fuzz-crashes). The bounded CI run is `cargo test --test fuzz`.
set -euo pipefail
cd "$(dirname "$0")/.."
INPUTS=${INPUTS:-1000000}
SEED=${SEED:-1}
JOBS=${JOBS:-$(nproc)}
cargo build --release -q -p runspec --example fuzz_buildspec
BIN=target/release/examples/fuzz_buildspec
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
start=$(date +%s)
for j in $(seq 0 $((JOBS - 1))); do
  n=$(( INPUTS / JOBS + (j < INPUTS % JOBS ? 1 : 0) ))
  "$BIN" --inputs "$n" --seed $((SEED + j)) --save target/fuzz-crashes > "$OUT/$j" &
done
status=0
wait || status=1
end=$(date +%s)
cat "$OUT"/*
total=$(cat "$OUT"/* | awk '/^seed/ {n += $3} END {print n}')
panics=$(cat "$OUT"/* | awk '/^seed/ {p += $5} END {print p}')
slow=$(cat "$OUT"/* | awk '/^seed/ {s += $7} END {print s}')
echo "total: $total inputs, $panics panics, $slow slower than 1s, $((end - start)) s on $JOBS cores"
[ "$status" = 0 ] && [ "$panics" = 0 ] && [ "$slow" = 0 ]
