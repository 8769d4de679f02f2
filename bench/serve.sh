#!/usr/bin/env bash
# `runspec serve` beside its baselines, on this machine:
#  - StartBuild → the first command running, on an idle server (median of RUNS);
#  - BatchGetBuilds throughput with wrk (2 threads, 16 connections, 10 s), one signed request
#    replayed (a signature is good for 15 minutes);
#  - BUILDS queued builds of `true` at --concurrency 1, first submission → last build ended,
#    beside the same builds run by `runspec run` one after another.
#
#   bash bench/serve.sh          # RUNS=20 BUILDS=200; needs the test venv (scripts/test.sh) and wrk
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-20}
BUILDS=${BUILDS:-200}
VENV=${VENV:-$PWD/target/tools/venv}
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null; }
cargo build --release -p runspec -q
BIN=$PWD/target/release/runspec
WORK=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$WORK"' EXIT
source bench/lib.sh
export RUNSPEC_STATE_DIR=$WORK/runstate
printf '[bench]\naws_access_key_id = AKIDBENCH\naws_secret_access_key = bench-secret\n' >"$WORK/creds"
"$BIN" serve --listen 127.0.0.1:0 --state-dir "$WORK/state" --credentials "$WORK/creds" --concurrency 1 2>"$WORK/serve.log" &
pid=$!
for _ in $(seq 100); do grep -q 'listening on' "$WORK/serve.log" 2>/dev/null && break; sleep 0.05; done
URL=$(sed -n 's/^runspec serve: listening on //p' "$WORK/serve.log")

"$VENV/bin/python" - "$URL" "$RUNS" "$BUILDS" "$WORK" <<'PY' >"$WORK/py.out"
import boto3, json, statistics, sys, time
url, runs, builds, work = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
s = boto3.session.Session(aws_access_key_id='AKIDBENCH', aws_secret_access_key='bench-secret', region_name='us-east-1')
cb = s.client('codebuild', endpoint_url=url)
logs = s.client('logs', endpoint_url=url)
def project(name, spec):
    cb.create_project(name=name, source={'type': 'NO_SOURCE', 'buildspec': spec}, artifacts={'type': 'NO_ARTIFACTS'},
                      environment={'type': 'LINUX_CONTAINER', 'image': 'runspec/host', 'computeType': 'BUILD_GENERAL1_SMALL'}, serviceRole='r')
project('lat', 'version: 0.2\nphases:\n  build:\n    commands:\n      - echo go\n')
project('many', 'version: 0.2\nphases:\n  build:\n    commands:\n      - "true"\n')
def wait(ids):
    while True:
        got = []
        for i in range(0, len(ids), 100):
            got += cb.batch_get_builds(ids=ids[i:i+100])['builds']
        if all(b['buildComplete'] for b in got):
            return got
        time.sleep(0.05)
lat = []
for _ in range(runs):
    t0 = time.time()
    b = cb.start_build(projectName='lat')['build']
    stream = b['logs']['streamName']
    seen = None
    while seen is None:
        for e in logs.get_log_events(logGroupName='/aws/codebuild/lat', logStreamName=stream, startFromHead=True)['events']:
            if e['message'].endswith('Running command echo go'):
                seen = e['timestamp'] / 1000.0
        if seen is None:
            time.sleep(0.005)
    lat.append((seen - t0) * 1000)
    wait([b['id']])
ids = [cb.start_build(projectName='many')['build']['id'] for _ in range(builds)]
done = wait(ids)
start = min(b['startTime'].timestamp() for b in done)
end = max(b['endTime'].timestamp() for b in done)
# One signed BatchGetBuilds for wrk to replay.
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
body = json.dumps({'ids': ids[:1]})
req = AWSRequest(method='POST', url=url + '/', data=body, headers={'X-Amz-Target': 'CodeBuild_20161006.BatchGetBuilds', 'Content-Type': 'application/x-amz-json-1.1'})
SigV4Auth(s.get_credentials(), 'codebuild', 'us-east-1').add_auth(req)
with open(work + '/wrk.lua', 'w') as f:
    f.write('wrk.method = "POST"\nwrk.body = %s\n' % json.dumps(body))
    for k, v in req.headers.items():
        f.write('wrk.headers[%s] = %s\n' % (json.dumps(k), json.dumps(v)))
print(json.dumps({'latency_ms': statistics.median(lat), 'latency_max_ms': max(lat), 'queued_s': end - start,
                  'statuses': sorted(set(b['buildStatus'] for b in done))}))
PY
rps=$(wrk -t2 -c16 -d10s -s "$WORK/wrk.lua" "$URL/" | awk '/Requests\/sec/ {print $2}')
non2xx=$(wrk -t1 -c1 -d1s -s "$WORK/wrk.lua" "$URL/" | awk '/Non-2xx/ {print $NF}')
mkdir -p "$WORK/src"
printf 'version: 0.2\nphases:\n  build:\n    commands:\n      - "true"\n' >"$WORK/src/buildspec.yml"
t0=$(now)
for _ in $(seq "$BUILDS"); do "$BIN" run -s "$WORK/src" >/dev/null 2>&1; done
t1=$(now)
python3 - "$WORK/py.out" "$rps" "$(( (t1 - t0) / 1000000 ))" "$BUILDS" "$RUNS" "${non2xx:-0}" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); rps = float(sys.argv[2]); seq_ms = int(sys.argv[3]); n = sys.argv[4]; runs = sys.argv[5]
q = r['queued_s'] * 1000
print('| benchmark | runspec serve | baseline | ratio | goal |')
print('|---|---|---|---|---|')
print(f"| StartBuild → first command running, idle server (ms, median of {runs}; max {r['latency_max_ms']:.1f}) | {r['latency_ms']:.1f} | — | — | ≤ 50 ms |")
print(f"| BatchGetBuilds (requests/s, wrk 2 threads × 16 connections, 10 s; non-2xx: {sys.argv[6]}) | {rps:.0f} | — | — | ≥ 2,000 |")
print(f"| {n} queued builds of `true`, --concurrency 1 (ms, {r['statuses']}) | {q:.0f} | {seq_ms} (`runspec run` × {n}, one after another) | {q/seq_ms:.2f}× | ≤ 1.1× |")
PY
