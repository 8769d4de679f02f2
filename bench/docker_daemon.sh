#!/usr/bin/env bash
# A privileged build's own Docker daemon (issue 22), each beside a baseline in the same run, on
# the test engine and images of scripts/services.sh:
#
# 1. Build start → daemon ready: `runspec run --image DIND --privileged` (in-image and sidecar)
#    until its log says the daemon is ready, vs `docker run --privileged DIND dockerd` (with
#    /var/lib/docker on a volume, as runspec mounts it) until `docker info` answers in it, with
#    the flags of CodeBuild's images (which runspec uses) and with dockerd's defaults. The
#    difference between the two baselines is dockerd's own: it sleeps 1 s before it serves when
#    it listens on TCP without TLS, as CodeBuild's flags make it (tcp://127.0.0.1:2375).
#    Target ≤ 1.2× and ≤ 3 s.
# 2. LOCAL_DOCKER_LAYER_CACHE: the second build of a Dockerfile with a 20 s step vs the first.
#    Target ≥ 5× faster.
# 3. The per-command cost of a privileged image build, in-image vs the host engine's socket
#    (`--docker host`): (a build of 201 × `true` − a build of 1) / 200. Target ≤ 1.1×.
#
#   bash bench/docker_daemon.sh        # RUNS=5 (parts 1 and 3), STEP=20 (seconds, part 2)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
STEP=${STEP:-20}
source bench/services.sh
DIND=$RUNSPEC_TEST_DIND_IMAGE
WORK=$(mktemp -d)
export RUNSPEC_CACHE_DIR=$WORK/cache
trap 'cleanup; rm -rf "$WORK"' EXIT
source bench/lib.sh
ms_since() { echo $(( ($(now) - $1) / 1000000 )); }

# 1. Start → ready.
mkdir -p "$WORK/ready"
printf 'version: 0.2\nphases:\n  build:\n    commands:\n      - "true"\n' > "$WORK/ready/buildspec.yml"
runspec_ready() { # runspec_ready MODE: ms from launch to the log's "ready" line
  local start line
  start=$(now)
  while IFS= read -r line; do
    case $line in *"Docker: the daemon"*"is ready after"*) ms_since "$start" ;; esac
  done < <("$BIN" run --mount-source --source "$WORK/ready" --image "$DIND" --privileged --docker "$1" \
    --docker-sidecar-image "$DIND" 2>/dev/null)
}
docker_ready() { # docker_ready FLAGS…: ms from `docker run` to `docker info` answering inside it
  local start c
  start=$(now)
  c=$(docker run -d --privileged --mount type=volume,dst=/var/lib/docker --entrypoint dockerd "$DIND" "$@")
  until docker exec "$c" docker info >/dev/null 2>&1; do sleep 0.1; done
  ms_since "$start"
  docker rm -f -v "$c" >/dev/null
}
declare -A ready
for mode in in-image sidecar curated defaults; do ready[$mode]=""; done
for _ in $(seq "$RUNS"); do
  ready[curated]+="$(docker_ready --host=unix:///var/run/docker.sock --host=tcp://127.0.0.1:2375 --storage-driver=overlay2)"$'\n'
  ready[defaults]+="$(docker_ready)"$'\n'
  ready[in-image]+="$(runspec_ready in-image)"$'\n'
  ready[sidecar]+="$(runspec_ready sidecar)"$'\n'
done
curated=$(printf '%s' "${ready[curated]}" | median)
defaults=$(printf '%s' "${ready[defaults]}" | median)
for mode in in-image sidecar; do
  m=$(printf '%s' "${ready[$mode]}" | median)
  printf '| start → daemon ready, --docker %s (ms, median of %s) | %s | %s (docker run --privileged dockerd, CodeBuild flags) | %.2f× |\n' \
    "$mode" "$RUNS" "$m" "$curated" "$(echo "$m / $curated" | bc -l)"
  printf '| … the same, beside dockerd with its defaults (unix socket only) | %s | %s | %.2f× |\n' \
    "$m" "$defaults" "$(echo "$m / $defaults" | bc -l)"
done

# 2. The layer cache.
mkdir -p "$WORK/layers"
docker save -o "$WORK/layers/busybox.tar" runspec-test:busybox
printf 'FROM runspec-test:busybox\nRUN sleep %s && echo expensive > /step\n' "$STEP" > "$WORK/layers/Dockerfile"
printf 'version: 0.2\nphases:\n  build:\n    commands:\n      - docker image inspect runspec-test:busybox > /dev/null 2>&1 || docker load -q -i busybox.tar\n      - docker build -q -t layered .\n' \
  > "$WORK/layers/buildspec.yml"
project=bench-layers-$$
printf '{"name": "%s", "cache": {"type": "LOCAL", "modes": ["LOCAL_DOCKER_LAYER_CACHE"]}}' "$project" > "$WORK/project.json"
layered() {
  local start
  start=$(now)
  "$BIN" run --mount-source --source "$WORK/layers" --image "$DIND" --privileged --project "$WORK/project.json" \
    > "$WORK/layers.log" 2>&1 || { cat "$WORK/layers.log" >&2; exit 1; }
  ms_since "$start"
}
first=$(layered)
second=$(layered)
grep -q "using the layer cache of project $project" "$WORK/layers.log" || { echo "no layer cache used" >&2; exit 1; }
docker volume ls -q --filter "label=runspec.layers=$project" | xargs -r docker volume rm >/dev/null
printf '| LOCAL_DOCKER_LAYER_CACHE: second build vs first, %s s step (ms) | %s | %s (first build) | %.1f× faster |\n' \
  "$STEP" "$second" "$first" "$(echo "$first / $second" | bc -l)"

# 3. Per-command cost, in-image vs the host engine.
mkdir -p "$WORK/one" "$WORK/many"
printf 'version: 0.2\nphases:\n  build:\n    commands:\n      - "true"\n' > "$WORK/one/buildspec.yml"
{ printf 'version: 0.2\nphases:\n  build:\n    commands:\n'; for _ in $(seq 201); do printf '      - "true"\n'; done; } \
  > "$WORK/many/buildspec.yml"
build_ms() { # build_ms DIR MODE
  local start
  start=$(now)
  "$BIN" run --mount-source --source "$1" --image "$DIND" --privileged --docker "$2" >/dev/null 2>&1
  ms_since "$start"
}
per_command() { # per_command MODE: µs per command, median of RUNS
  for _ in $(seq "$RUNS"); do
    local one many
    one=$(build_ms "$WORK/one" "$1")
    many=$(build_ms "$WORK/many" "$1")
    echo $(( (many - one) * 1000 / 200 ))
  done | median
}
host=$(per_command host)
own=$(per_command in-image)
printf '| per command in a privileged image build, in-image (µs, median of %s) | %s | %s (--docker host) | %.2f× |\n' \
  "$RUNS" "$own" "$host" "$(echo "$own / $host" | bc -l)"
