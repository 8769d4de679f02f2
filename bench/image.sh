#!/usr/bin/env bash
# `runspec image push` vs `docker push` of same-sized fresh images to the same registry (issue
# 5's target: ≤ 1.1×). Uses the test services (scripts/services.sh: a private Docker engine,
# moto for the ECR API, an htpasswd registry standing in for ECR).
#
#   bash bench/image.sh          # RUNS=5, SIZE_MB=64 by default
#
# Every push gets a new image (one layer of SIZE_MB random bytes) and a new repository, so
# neither side can skip or mount layers. runspec's time includes what it does that docker push
# does not: the ECR token and the repository check (docker is logged in beforehand).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
SIZE_MB=${SIZE_MB:-64}
source bench/services.sh
WORK=$(mktemp -d)
trap 'cleanup; rm -rf "$WORK"' EXIT
REG=$RUNSPEC_TEST_ECR_REGISTRY
export AWS_ENDPOINT_URL=$RUNSPEC_TEST_MOTO_URL AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1 RUNSPEC_ECR_REGISTRY=$REG DOCKER_CONFIG=$WORK/docker
echo 123456789012-auth-token | docker login -u AWS --password-stdin "$REG" >/dev/null 2>&1

source bench/lib.sh
image() { # a fresh single-layer image named $1
  head -c "${SIZE_MB}M" /dev/urandom >"$WORK/blob"
  tar -C "$WORK" -c blob | docker import - "$1" >/dev/null
}

r=() d=()
for i in $(seq "$RUNS"); do
  repo=bench-$$-$i
  image "bench:r$i"
  t0=$(now)
  "$BIN" image push "bench:r$i" "123456789012.dkr.ecr.us-east-1.amazonaws.com/$repo-r:1" --create-repository >/dev/null
  t1=$(now)
  r+=($(( (t1 - t0) / 1000 )))
  image "bench:d$i"
  docker tag "bench:d$i" "$REG/$repo-d:1"
  t0=$(now)
  docker push -q "$REG/$repo-d:1" >/dev/null
  t1=$(now)
  d+=($(( (t1 - t0) / 1000 )))
  docker rmi -f "bench:r$i" "bench:d$i" "$REG/$repo-r:1" "$REG/$repo-d:1" >/dev/null 2>&1 || true
done
rm=$(printf '%s\n' "${r[@]}" | median)
dm=$(printf '%s\n' "${d[@]}" | median)
printf '| benchmark | result | baseline | ratio |\n|---|---|---|---|\n'
awk -v r="$rm" -v d="$dm" -v n="$RUNS" -v s="$SIZE_MB" 'BEGIN {
  printf "| push a fresh %d MiB image (ms, median of %d) | `runspec image push` %.1f | `docker push` %.1f | %.2f× |\n", s, n, r / 1000, d / 1000, r / d;
}'
