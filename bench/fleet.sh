#!/usr/bin/env bash
# The fleet (`runspec serve --store dynamodb:// --queue sqs://` and `runspec worker`) on moto,
# on this machine:
#  - StartBuild → claimed (PROVISIONING) → BUILD running, on an idle fleet of one worker
#    (median of RUNS), beside moto's own round trip for one DynamoDB GetItem and one SQS
#    SendMessage (boto3, median of 50) and how many moto calls one build makes;
#  - BUILDS builds of `true` submitted at once, first submission → last build ended, over 3
#    workers beside 1 worker (each worker --concurrency 2), with the CPU seconds moto and the
#    workers spent.
#
#   bash bench/fleet.sh          # RUNS=20 BUILDS=100; needs the test venv (scripts/test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-20}
BUILDS=${BUILDS:-100}
VENV=${VENV:-$PWD/target/tools/venv}
cargo build --release -p runspec -q
BIN=$PWD/target/release/runspec
WORK=$(mktemp -d)
echo "work: $WORK" >&2
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; [ -n "${KEEP:-}" ] || rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
MOTO_PORT=$(free_port)
"$VENV/bin/python" scripts/moto_server.py -H 127.0.0.1 -p "$MOTO_PORT" >"$WORK/moto.log" 2>&1 &
MOTO_PID=$!
pids+=("$MOTO_PID")
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$MOTO_PORT/moto-api/" >/dev/null 2>&1 && break; sleep 0.1; done
export AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
printf '[bench]\naws_access_key_id = AKIDBENCH\naws_secret_access_key = bench-secret\n' >"$WORK/creds"

# CPU seconds (user + system) a process has used.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }

# fleet NAME WORKERS: a server and WORKERS workers on table and queue NAME; sets URL, WORKER_PIDS.
fleet() {
  local name=$1 n=$2
  "$BIN" serve --listen 127.0.0.1:0 --state-dir "$WORK/$name-serve" --credentials "$WORK/creds" \
    --store "dynamodb://$name" --queue "sqs://$name" >/dev/null 2>"$WORK/$name-serve.log" &
  pids+=($!)
  for _ in $(seq 200); do grep -q 'web page at' "$WORK/$name-serve.log" 2>/dev/null && break; sleep 0.05; done
  URL=$(sed -n 's/^runspec serve: listening on //p' "$WORK/$name-serve.log")
  WORKER_PIDS=()
  for i in $(seq "$n"); do
    "$BIN" worker --store "dynamodb://$name" --queue "sqs://$name" --host --concurrency 2 \
      --state-dir "$WORK/$name-w$i" >/dev/null 2>"$WORK/$name-w$i.log" &
    pids+=($!)
    WORKER_PIDS+=($!)
  done
  for i in $(seq "$n"); do
    for _ in $(seq 200); do grep -q 'taking builds' "$WORK/$name-w$i.log" 2>/dev/null && break; sleep 0.05; done
  done
}

# many NAME WORKERS: BUILDS builds of `true`; sets MANY to "seconds moto_cpu workers_cpu statuses".
# Not called in $(...): the daemons it starts must stay in this shell (their pids, and no
# inherited pipe for the substitution to wait on).
many() {
  fleet "$1" "$2"
  local m0 w0=0 w1=0 p c0
  m0=$(cpu_s "$MOTO_PID")
  c0=$(grep -c '" 200 ' "$WORK/moto.log" || true)
  for p in "${WORKER_PIDS[@]}"; do w0=$(echo "$w0 + $(cpu_s "$p")" | bc -l); done
  local out
  out=$("$VENV/bin/python" - "$URL" "$BUILDS" <<'PY'
import boto3, json, sys, time
url, builds = sys.argv[1], int(sys.argv[2])
s = boto3.session.Session(aws_access_key_id='AKIDBENCH', aws_secret_access_key='bench-secret', region_name='us-east-1')
cb = s.client('codebuild', endpoint_url=url)
cb.create_project(name='many', source={'type': 'NO_SOURCE', 'buildspec': 'version: 0.2\nphases:\n  build:\n    commands:\n      - "true"\n'},
                  artifacts={'type': 'NO_ARTIFACTS'}, serviceRole='r',
                  environment={'type': 'LINUX_CONTAINER', 'image': 'runspec/host', 'computeType': 'BUILD_GENERAL1_SMALL'})
t0 = time.time()
ids = [cb.start_build(projectName='many')['build']['id'] for _ in range(builds)]
# Polling goes through the server to the table: ask only for the builds still running, once a
# second, so the measurement does not load moto much more than the builds do.
done, waiting = {}, list(ids)
while waiting:
    time.sleep(1.0)
    for i in range(0, len(waiting), 100):
        for b in cb.batch_get_builds(ids=waiting[i:i+100])['builds']:
            if b['buildComplete']:
                done[b['id']] = b
    waiting = [i for i in ids if i not in done]
got = list(done.values())
end = max(b['endTime'].timestamp() for b in got)
print(end - t0, ','.join(sorted(set(b['buildStatus'] for b in got))))
PY
)
  local m1
  m1=$(cpu_s "$MOTO_PID")
  for p in "${WORKER_PIDS[@]}"; do w1=$(echo "$w1 + $(cpu_s "$p")" | bc -l); done
  local c1
  c1=$(grep -c '" 200 ' "$WORK/moto.log" || true)
  MANY="${out% *} $(echo "$m1 - $m0" | bc -l) $(echo "$w1 - $w0" | bc -l) ${out##* } $(((c1 - c0) / BUILDS))"
  for p in "${WORKER_PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
}

command -v bc >/dev/null || apt-get install -y -qq bc >/dev/null

# Latency on an idle fleet of one worker.
fleet lat 1
calls0=$(grep -c '" 200 ' "$WORK/moto.log" || true)
lat=$("$VENV/bin/python" - "$URL" "$RUNS" "$AWS_ENDPOINT_URL" <<'PY'
import boto3, json, statistics, sys, time
url, runs, moto = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = boto3.session.Session(aws_access_key_id='AKIDBENCH', aws_secret_access_key='bench-secret', region_name='us-east-1')
cb = s.client('codebuild', endpoint_url=url)
cb.create_project(name='lat', source={'type': 'NO_SOURCE', 'buildspec': 'version: 0.2\nphases:\n  build:\n    commands:\n      - echo go\n'},
                  artifacts={'type': 'NO_ARTIFACTS'}, serviceRole='r',
                  environment={'type': 'LINUX_CONTAINER', 'image': 'runspec/host', 'computeType': 'BUILD_GENERAL1_SMALL'})
claimed, running = [], []
for _ in range(runs):
    time.sleep(0.3)
    t0 = time.time()
    bid = cb.start_build(projectName='lat')['build']['id']
    while True:
        b = cb.batch_get_builds(ids=[bid])['builds'][0]
        if b['buildComplete']:
            break
        time.sleep(0.02)
    ph = {p['phaseType']: p for p in b['phases']}
    claimed.append((ph['PROVISIONING']['startTime'].timestamp() - t0) * 1000)
    running.append((ph['BUILD']['startTime'].timestamp() - t0) * 1000)
m = boto3.session.Session(aws_access_key_id='testing', aws_secret_access_key='testing', region_name='us-east-1')
ddb, sqs = m.client('dynamodb', endpoint_url=moto), m.client('sqs', endpoint_url=moto)
q = sqs.get_queue_url(QueueName='lat-dlq')['QueueUrl']
def med(f):
    ts = []
    for _ in range(50):
        t = time.perf_counter(); f(); ts.append((time.perf_counter() - t) * 1000)
    return statistics.median(ts)
get = med(lambda: ddb.get_item(TableName='lat', Key={'pk': {'S': 'CFG'}, 'sk': {'S': 'CFG'}}))
send = med(lambda: sqs.send_message(QueueUrl=q, MessageBody='x'))
print(json.dumps({'claimed': statistics.median(claimed), 'running': statistics.median(running),
                  'max': max(running), 'get': get, 'send': send}))
PY
)
calls1=$(grep -c '" 200 ' "$WORK/moto.log" || true)
for p in "${WORKER_PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
many three 3
read -r s3 m3 w3 st3 c3 <<<"$MANY"
many one 1
read -r s1 m1 w1 st1 c1 <<<"$MANY"
python3 - "$lat" "$RUNS" "$BUILDS" "$((calls1 - calls0))" "$s3" "$m3" "$w3" "$st3" "$s1" "$m1" "$w1" "$st1" "$c3" "$c1" <<'PY'
import json, sys
lat = json.loads(sys.argv[1]); runs = int(sys.argv[2]); n = sys.argv[3]; calls = int(sys.argv[4])
s3, m3, w3, st3, s1, m1, w1, st1, c3, c1 = sys.argv[5:15]
s3, m3, w3, s1, m1, w1 = map(float, (s3, m3, w3, s1, m1, w1))
per = calls / runs
print('| benchmark | fleet | baseline | ratio | goal |')
print('|---|---|---|---|---|')
print(f"| StartBuild → claimed by a worker, idle fleet (ms, median of {runs}) | {lat['claimed']:.0f} | — | — | — |")
print(f"| StartBuild → BUILD running, idle fleet (ms, median of {runs}; max {lat['max']:.0f}) | {lat['running']:.0f} | — | — | ≤ 1000 ms |")
print(f"| moto: DynamoDB GetItem / SQS SendMessage round trip (ms, boto3, median of 50); moto calls per build, polling included | {lat['get']:.1f} / {lat['send']:.1f}; {per:.0f} calls | — | — | — |")
print(f"| {n} builds of `true` at once (s; {st3} / {st1}) | {s3:.1f} (3 workers) | {s1:.1f} (1 worker) | {s1/s3:.2f}× faster | — |")
print(f"| … CPU seconds spent by moto / by the workers | {m3:.1f} / {w3:.1f} | {m1:.1f} / {w1:.1f} | — | — |")
print(f"| … moto calls per build, idle polling of the workers included | {c3} | {c1} | — | — |")
PY
