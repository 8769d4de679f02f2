#!/usr/bin/env bash
# Build start in a container: `runspec run --image IMG` with one trivial command vs
# `docker run --rm IMG true`, median of RUNS (default 10). Needs the engine and the test image
# that scripts/test.sh sets up (DOCKER_HOST pointing at it).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
IMAGE=${IMAGE:-runspec-test:busybox}
docker image inspect "$IMAGE" >/dev/null || { echo "no image $IMAGE: run scripts/test.sh, export DOCKER_HOST" >&2; exit 1; }
cargo build --release -p runspec -q
BIN=$PWD/target/release/runspec
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
printf 'version: 0.2\nphases:\n  build:\n    commands:\n      - "true"\n' > "$WORK/buildspec.yml"
source bench/lib.sh
ms() { local s e; s=$(now); "$@" >/dev/null 2>&1; e=$(now); echo $(( (e - s) / 1000000 )); }
r=(); d=()
for _ in $(seq "$RUNS"); do
  r+=("$(ms "$BIN" run --mount-source --source "$WORK" --image "$IMAGE")")
  d+=("$(ms docker run --rm --network none "$IMAGE" true)")
done
rm=$(printf '%s\n' "${r[@]}" | median); dm=$(printf '%s\n' "${d[@]}" | median)
printf '| build start in a container (ms, median of %s) | %s | %s (docker run --rm IMG true) | %.2f× |\n' "$RUNS" "$rm" "$dm" "$(echo "$rm / $dm" | bc -l)"
