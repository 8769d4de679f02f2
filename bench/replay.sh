#!/usr/bin/env bash
# `runspec replay` beside `runspec run` of the same build, on this machine: a `runspec serve`
# build of a git repository (20 files, a few commands) at an older commit, replayed from a local
# clone (BatchGetBuilds, BatchGetProjects, a shared clone checked out at the commit, the build,
# the comparison) against `runspec run` of the same buildspec in a checkout of that commit.
# Median of RUNS each.
#
#   bash bench/replay.sh          # RUNS=20; needs the test venv (scripts/test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-20}
VENV=${VENV:-$PWD/target/tools/venv}
cargo build --release -p runspec -q
BIN=$PWD/target/release/runspec
WORK=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$WORK"' EXIT
source bench/lib.sh
export RUNSPEC_STATE_DIR=$WORK/runstate

# The repository: two commits; the build runs the older one.
REPO=$WORK/repo
mkdir -p "$REPO/src"
for i in $(seq 20); do echo "file $i" >"$REPO/src/f$i.txt"; done
printf 'version: 0.2\nphases:\n  build:\n    commands:\n      - cat src/*.txt | wc -l\n      - cd src && ls | wc -l\n' >"$REPO/buildspec.yml"
git -C "$REPO" init -q -b main
git -C "$REPO" add -A
git -C "$REPO" -c user.name=b -c user.email=b@b commit -qm one
FIRST=$(git -C "$REPO" rev-parse HEAD)
echo more >"$REPO/src/f1.txt"
git -C "$REPO" -c user.name=b -c user.email=b@b commit -qam two
git clone -q "$REPO" "$WORK/clone"
git clone -q "$REPO" "$WORK/checkout" && git -C "$WORK/checkout" checkout -q "$FIRST"

printf '[bench]\naws_access_key_id = AKIDBENCH\naws_secret_access_key = bench-secret\n' >"$WORK/creds"
"$BIN" serve --listen 127.0.0.1:0 --state-dir "$WORK/state" --credentials "$WORK/creds" 2>"$WORK/serve.log" &
pid=$!
for _ in $(seq 100); do grep -q 'listening on' "$WORK/serve.log" 2>/dev/null && break; sleep 0.05; done
URL=$(sed -n 's/^runspec serve: listening on //p' "$WORK/serve.log")
ID=$("$VENV/bin/python" - "$URL" "$REPO" "$FIRST" <<'PY'
import boto3, sys, time
url, repo, first = sys.argv[1:4]
s = boto3.session.Session(aws_access_key_id='AKIDBENCH', aws_secret_access_key='bench-secret', region_name='us-east-1')
cb = s.client('codebuild', endpoint_url=url)
cb.create_project(name='app', source={'type': 'GITHUB', 'location': repo}, artifacts={'type': 'NO_ARTIFACTS'},
                  environment={'type': 'LINUX_CONTAINER', 'image': 'runspec/host', 'computeType': 'BUILD_GENERAL1_SMALL'},
                  serviceRole='r')
bid = cb.start_build(projectName='app', sourceVersion=first)['build']['id']
while not cb.batch_get_builds(ids=[bid])['builds'][0]['buildComplete']:
    time.sleep(0.05)
print(bid)
PY
)
export AWS_ENDPOINT_URL_CODEBUILD=$URL AWS_ACCESS_KEY_ID=AKIDBENCH AWS_SECRET_ACCESS_KEY=bench-secret AWS_DEFAULT_REGION=us-east-1
# Both must work before they are timed.
"$BIN" replay "$ID" --source "$WORK/clone" --artifacts "$WORK/a" 2>"$WORK/replay.err" >/dev/null ||
  { cat "$WORK/replay.err" >&2; exit 1; }
grep -q 'no difference' "$WORK/replay.err" || { cat "$WORK/replay.err" >&2; exit 1; }
replay_ms=$(times_us "$BIN" replay "$ID" --source "$WORK/clone" --artifacts "$WORK/a" | median)
run_ms=$(times_us "$BIN" run --source "$WORK/checkout" --artifacts "$WORK/b" | median)
python3 - "$replay_ms" "$run_ms" "$RUNS" <<'PY'
import sys
replay, run, runs = float(sys.argv[1]) / 1000, float(sys.argv[2]) / 1000, sys.argv[3]
print('| benchmark | runspec replay | baseline | ratio |')
print('|---|---|---|---|')
print(f"| a serve build of a git repo at an older commit, replayed from a local clone (ms, median of {runs}) | {replay:.1f} | {run:.1f} (`runspec run` of a checkout of that commit) | {replay/run:.2f}× |")
print(f"| … what replay adds (two API calls, the shared clone and checkout, the comparison) (ms) | {replay-run:.1f} | — | — |")
PY
