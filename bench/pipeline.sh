#!/usr/bin/env bash
# `runspec pipeline run` (issue 23), each beside a baseline in the same run:
#
# 1. A pipeline of a git source and three CodeBuild actions of `true` (runOrder 1, 2, 3) vs the
#    same three builds run one after another by `runspec run` in the repository. Target ≤ 1.1×.
# 2. With SERVE=1 (needs the test venv: scripts/test.sh): the same pipeline as an execution of
#    `runspec serve` (StartPipelineExecution → GetPipelineExecution says Succeeded, polled every
#    5 ms with boto3; its builds go through the server's queue) vs `runspec pipeline run`.
# 3. With WORKSHOP=1 (needs the test services: scripts/services.sh): the workshop pipeline end
#    to end with --deploy local (git source → a build that builds the app's image and pushes
#    it with the ECR login → the ECS service run on the local engine), with each action's share.
#
#   bash bench/pipeline.sh            # RUNS=20
#   SERVE=1 bash bench/pipeline.sh
#   WORKSHOP=1 bash bench/pipeline.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-20}
if [ "${WORKSHOP:-0}" = 1 ]; then
  source bench/services.sh
else
  cargo build --release -p runspec -q
  BIN=$PWD/target/release/runspec
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"; type cleanup >/dev/null 2>&1 && cleanup' EXIT
source bench/lib.sh
export RUNSPEC_STATE_DIR=$WORK/state

git_repo() { # git_repo DIR: commits what DIR holds
  git -C "$1" init -q -b main && git -C "$1" add -A &&
    git -C "$1" -c user.email=bench@example.com -c user.name=bench commit -qm bench
}
codebuild() { # codebuild NAME RUN_ORDER INPUT [OUTPUT]
  local out=""
  [ -z "${4:-}" ] || out=$(printf ', "outputArtifacts": [{"name": "%s"}]' "$4")
  printf '{"name": "%s", "runOrder": %s, "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"}, "configuration": {"ProjectName": "app"}, "inputArtifacts": [{"name": "%s"}]%s}' \
    "$1" "$2" "$3" "$out"
}
SOURCE='{"name": "Source", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeCommit", "version": "1"}, "configuration": {"RepositoryName": "app", "BranchName": "main"}, "outputArtifacts": [{"name": "Src"}]}'
pipeline() { # pipeline NAME STAGES_JSON
  printf '{"pipeline": {"name": "%s", "roleArn": "arn:aws:iam::123456789012:role/p", "artifactStore": {"type": "S3", "location": "bucket"}, "stages": %s}}\n' "$1" "$2"
}

# 1. Three actions of `true`.
mkdir -p "$WORK/app"
printf 'version: 0.2\nphases:\n  build:\n    commands:\n      - "true"\n' >"$WORK/app/buildspec.yml"
git_repo "$WORK/app"
pipeline three "[{\"name\": \"Source\", \"actions\": [$SOURCE]}, {\"name\": \"Build\", \"actions\": [$(codebuild One 1 Src), $(codebuild Two 2 Src), $(codebuild Three 3 Src)]}]" >"$WORK/three.json"
cd "$WORK/app"
"$BIN" pipeline run "$WORK/three.json" >/dev/null 2>&1 || { "$BIN" pipeline run "$WORK/three.json"; exit 1; }
three_runs() { "$BIN" run && "$BIN" run && "$BIN" run; }
pipe_us=$(times_us "$BIN" pipeline run "$WORK/three.json" | median)
runs_us=$(times_us three_runs | median)
cd - >/dev/null
awk -v p="$pipe_us" -v r="$runs_us" -v runs="$RUNS" 'BEGIN {
  print "| benchmark (median of " runs ") | runspec pipeline run | baseline | ratio | target |"
  print "|---|---|---|---|---|"
  printf "| a git source + 3 CodeBuild actions of `true` (ms) | %.1f | %.1f (`runspec run` × 3, one after another) | %.2f× | ≤ 1.1× |\n", p/1000, r/1000, p/r
}'

# 2. The same pipeline on `runspec serve`.
if [ "${SERVE:-0}" = 1 ]; then
  VENV=${VENV:-$PWD/target/tools/venv}
  printf '[bench]\naws_access_key_id = AKIDBENCH\naws_secret_access_key = bench-secret\n' >"$WORK/creds"
  "$BIN" serve --listen 127.0.0.1:0 --state-dir "$WORK/serve" --credentials "$WORK/creds" --host \
    --pipeline-source "app=$WORK/app" 2>"$WORK/serve.log" &
  serve_pid=$!
  cleanup() { kill "$serve_pid" 2>/dev/null || true; }
  for _ in $(seq 100); do grep -q 'listening on' "$WORK/serve.log" 2>/dev/null && break; sleep 0.05; done
  url=$(sed -n 's/^runspec serve: listening on //p' "$WORK/serve.log")
  serve_us=$("$VENV/bin/python" - "$url" "$RUNS" "$WORK/three.json" <<'PY'
import boto3, json, statistics, sys, time
url, runs, definition = sys.argv[1], int(sys.argv[2]), json.load(open(sys.argv[3]))
s = boto3.session.Session(aws_access_key_id='AKIDBENCH', aws_secret_access_key='bench-secret', region_name='us-east-1')
cb, cp = s.client('codebuild', endpoint_url=url), s.client('codepipeline', endpoint_url=url)
cb.create_project(name='app', source={'type': 'CODEPIPELINE'}, artifacts={'type': 'CODEPIPELINE'}, serviceRole='r',
                  environment={'type': 'LINUX_CONTAINER', 'image': 'runspec/host', 'computeType': 'BUILD_GENERAL1_SMALL'})
cp.create_pipeline(**definition)
took = []
for _ in range(runs + 1):
    t0 = time.time()
    i = cp.start_pipeline_execution(name='three')['pipelineExecutionId']
    while True:
        e = cp.get_pipeline_execution(pipelineName='three', pipelineExecutionId=i)['pipelineExecution']
        if e['status'] != 'InProgress':
            break
        time.sleep(0.005)
    assert e['status'] == 'Succeeded', e
    took.append((time.time() - t0) * 1e6)
print(int(statistics.median(took[1:])))
details = cp.list_action_executions(pipelineName='three', filter={'pipelineExecutionId': i})['actionExecutionDetails']
shares = ', '.join(f"{d['actionName']} {(d['lastUpdateTime'] - d['startTime']).total_seconds() * 1000:.0f} ms" for d in reversed(details))
print(f'the last execution on serve: {shares}', file=sys.stderr)
PY
)
  awk -v s="$serve_us" -v p="$pipe_us" 'BEGIN {
    printf "| the same pipeline as a `runspec serve` execution (ms; start → Succeeded seen) | %.1f | %.1f (`runspec pipeline run`) | %.2f× | |\n", s/1000, p/1000, s/p
  }'
fi

# 3. The workshop pipeline with --deploy local.
[ "${WORKSHOP:-0}" = 1 ] || exit 0
mkdir -p "$WORK/web"
repo="bench-web-$$"
cat >"$WORK/web/buildspec.yml" <<SPEC
version: 0.2
env:
  variables:
    REPOSITORY_URI: 123456789012.dkr.ecr.us-east-1.amazonaws.com/$repo
phases:
  build:
    commands:
      - TAG=\$(echo \$CODEBUILD_RESOLVED_SOURCE_VERSION | cut -c 1-7)
      - docker build -q -t $repo:\$TAG .
  post_build:
    commands:
      - runspec image push $repo:\$TAG \$REPOSITORY_URI:\$TAG --create-repository --imagedefinitions web
artifacts:
  files:
    - imagedefinitions.json
SPEC
printf 'FROM %s\nCOPY index.html /www/index.html\nCMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n' "$RUNSPEC_TEST_DOCKER_IMAGE" >"$WORK/web/Dockerfile"
echo hello >"$WORK/web/index.html"
git_repo "$WORK/web"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf '{"taskDefinition": {"family": "web", "containerDefinitions": [{"name": "web", "image": "x", "essential": true, "portMappings": [{"containerPort": 8080, "hostPort": %s}]}]}}\n' "$port" >"$WORK/taskdef.json"
DEPLOY='{"name": "Deploy", "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "ECS", "version": "1"}, "configuration": {"ClusterName": "bench", "ServiceName": "web"}, "inputArtifacts": [{"name": "Out"}]}'
pipeline workshop "[{\"name\": \"Source\", \"actions\": [$SOURCE]}, {\"name\": \"Build\", \"actions\": [$(codebuild Build 1 Src Out)]}, {\"name\": \"Deploy\", \"actions\": [$DEPLOY]}]" >"$WORK/workshop.json"
export AWS_ENDPOINT_URL=$RUNSPEC_TEST_MOTO_URL AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
export RUNSPEC_ECR_REGISTRY=$RUNSPEC_TEST_ECR_REGISTRY
cd "$WORK/web"
t0=$(now)
"$BIN" pipeline run "$WORK/workshop.json" --deploy local --task-definition "web=$WORK/taskdef.json" --result "$WORK/result.json" >"$WORK/workshop.log" 2>&1 ||
  { cat "$WORK/workshop.log" >&2; exit 1; }
for _ in $(seq 100); do curl -fsS "127.0.0.1:$port/index.html" >/dev/null 2>&1 && break; sleep 0.1; done
t1=$(now)
cd - >/dev/null
docker rm -f $(docker ps -aq --filter label=runspec.ecs.service=bench/web) >/dev/null
docker network rm runspec-ecs-bench-web >/dev/null
python3 - "$WORK/result.json" $(( (t1 - t0) / 1000000 )) <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
total = int(sys.argv[2])
print(f"\n| the workshop pipeline, --deploy local | ms |\n|---|---|\n| end to end (launch → the app answers) | {total} |")
for d in r["actionExecutionDetails"]:
    ms = (d["lastUpdateTime"] - d["startTime"]) * 1000
    print(f"| {d['stageName']}/{d['actionName']} | {ms:.0f} |")
PY
