#!/usr/bin/env bash
# runspec benchmarks, each against a baseline measured in the same run. Prints a table; copy it
# into BENCHMARKS.md with the machine and date.
#
#   bash bench/run.sh            # RUNS=10 by default
#
# 1. 200 trivial commands in one phase vs the floor: a plain sh loop that runs the same 200
#    commands as 200 `sh` processes with the same save/restore of variables and directory.
# 2. runspec's own start-up: a build with no commands, and `runspec check`.
# 3. One command printing 1 GiB: through runspec's log path vs the command to /dev/null, and
#    runspec's peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
command -v /usr/bin/time >/dev/null 2>&1 || { [ "$(id -u)" = 0 ] && apt-get install -y -qq time >/dev/null; }
cargo build --release -p runspec -q
BIN=$PWD/target/release/runspec
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

source bench/lib.sh
# median of RUNS timings (ms) of a command
median_ms() { times_us "$@" | median | awk '{printf "%.1f", $1 / 1000}'; }

# The floor: same wrapper as runspec (restore, run, save), one sh process per command, with the
# same environment size (the full environment, like runspec passes).
cat > "$WORK/floor.sh" <<'FLOOR'
#!/bin/sh
cd "$1"
export -p > env.sh
i=0
while [ $i -lt 200 ]; do
  printf 'set -a\n. ./env.sh\ncd -- "$PWD"\n%s\nCODEBUILD_LAST_EXIT=$?\nexport -p > ./env.sh\nexit $CODEBUILD_LAST_EXIT\n' "$2" > script.sh
  sh ./script.sh
  i=$((i + 1))
done
FLOOR

spec_200() {
  local dir=$1 cmd=$2
  mkdir -p "$dir"
  { printf 'version: 0.2\nphases:\n  build:\n    commands:\n'; for _ in $(seq 200); do printf '      - %s\n' "$cmd"; done; } > "$dir/buildspec.yml"
}

printf '| benchmark | runspec | baseline | ratio |\n|---|---|---|---|\n'
for cmd in 'true' 'N=$((N+1))'; do
  d="$WORK/b$RANDOM"
  spec_200 "$d" "$cmd"
  mkdir -p "$d/floor"
  r=$(median_ms "$BIN" run --mount-source --source "$d")
  f=$(median_ms sh "$WORK/floor.sh" "$d/floor" "$cmd")
  printf '| 200 × `%s` (ms, median of %s) | %s | %s (sh floor) | %.2f× |\n' "$cmd" "$RUNS" "$r" "$f" "$(echo "$r / $f" | bc -l)"
done

d="$WORK/empty"; mkdir -p "$d"; printf 'version: 0.2\n' > "$d/buildspec.yml"
r=$(median_ms "$BIN" run --mount-source --source "$d")
t=$(median_ms true)
printf '| start-up: build with no commands (ms) | %s | %s (`true`) | — |\n' "$r" "$t"
c=$(median_ms "$BIN" check buildspec.example.yml)
printf '| start-up: `runspec check` example (ms) | %s | %s (`true`) | — |\n' "$c" "$t"

d="$WORK/big"; mkdir -p "$d"
printf 'version: 0.2\nphases:\n  build:\n    commands:\n      - head -c 1073741824 /dev/zero\n' > "$d/buildspec.yml"
RUNS=3
base=$(median_ms sh -c 'head -c 1073741824 /dev/zero > /dev/null')
through=$(median_ms "$BIN" run --mount-source --source "$d")
rss=$(/usr/bin/time -f %M "$BIN" run --mount-source --source "$d" 2>&1 >/dev/null | tail -n1)
mbps=$(echo "1073.741824 / ($through / 1000)" | bc -l)
printf '| 1 GiB of output (ms, median of 3) | %s (%.0f MB/s) | %s (to /dev/null) | %.2f× |\n' "$through" "$mbps" "$base" "$(echo "$through / $base" | bc -l)"
printf '| peak RSS while logging 1 GiB | %s KiB | — | — |\n' "$rss"
