#!/usr/bin/env bash
# Artifact packaging + upload to S3: runspec vs `zip -r` + `aws s3 cp` (awscli), against the
# same local S3 server, on a 1 GiB tree (10,000 small text files + 4 × 250 MB of random bytes).
# Median of RUNS (default 3), with runspec's peak RSS.
#
#   bash bench/s3.sh                     # against moto_server (installed by scripts/test.sh)
#   S3_SERVER=s3s-fs bash bench/s3.sh    # against s3s-fs (a fast Rust S3 server on local disk;
#                                        # installed from crates.io into target/tools on first use)
#   S3_ENDPOINT=http://127.0.0.1:9000 bash bench/s3.sh   # against any other S3-compatible server
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
VENV=${RUNSPEC_TOOLS_DIR:-$PWD/target/tools}/venv
[ -x "$VENV/bin/aws" ] || { echo "run scripts/test.sh first (it installs moto and awscli)"; exit 1; }
command -v zip >/dev/null || apt-get install -y -qq zip >/dev/null
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null
cargo build --release -p runspec -q
BIN=$PWD/target/release/runspec
WORK=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT

if [ "${S3_SERVER:-}" = s3s-fs ]; then
  TOOLS=${RUNSPEC_TOOLS_DIR:-$PWD/target/tools}
  # 0.14.1 is the newest s3s-fs that builds with rustc 1.95.
  [ -x "$TOOLS/bin/s3s-fs" ] || cargo install --quiet --root "$TOOLS" s3s-fs@0.14.1 --features binary --locked
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$WORK/s3root"
  "$TOOLS/bin/s3s-fs" --host 127.0.0.1 --port "$PORT" --access-key testing --secret-key testing "$WORK/s3root" >"$WORK/s3s.log" 2>&1 &
  pids+=($!)
  S3_ENDPOINT=http://127.0.0.1:$PORT
  SERVER="s3s-fs 0.14.1"
  for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
elif [ -z "${S3_ENDPOINT:-}" ]; then
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$WORK/moto.log" 2>&1 &
  pids+=($!)
  S3_ENDPOINT=http://127.0.0.1:$PORT
  SERVER=moto_server
  for _ in $(seq 100); do curl -fsS "$S3_ENDPOINT/moto-api/" >/dev/null 2>&1 && break; sleep 0.1; done
else
  SERVER=$S3_ENDPOINT
fi
export AWS_ENDPOINT_URL=$S3_ENDPOINT AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-testing} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-testing} AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
"$VENV/bin/aws" s3 mb s3://bench >/dev/null

SRC=$WORK/src
mkdir -p "$SRC/tree"
python3 - "$SRC/tree" <<'PY'
import os, random, sys
random.seed(1)
root = sys.argv[1]
for i in range(10000):
    d = f"{root}/small/d{i // 500}"
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/f{i}.txt", "w") as f:
        f.write(("line %d of a small text file\n" % i) * random.randint(5, 60))
PY
for i in 1 2 3 4; do head -c 250000000 /dev/urandom > "$SRC/tree/big$i.bin"; done
printf 'version: 0.2\nartifacts:\n  files:\n    - "**/*"\n  base-directory: tree\n' > "$SRC/buildspec.yml"

source bench/lib.sh
r_times=(); b_times=(); rss=()
for i in $(seq "$RUNS"); do
  /usr/bin/time -f "%e %M" -o "$WORK/t" "$BIN" run --mount-source --source "$SRC" --artifacts "s3://bench/runspec-$i" >"$WORK/log" 2>&1
  read -r t m < "$WORK/t"; r_times+=("$t"); rss+=("$m")
  grep -q "UPLOAD_ARTIFACTS State: SUCCEEDED" "$WORK/log" || { cat "$WORK/log"; exit 1; }
  start=$(date +%s.%N)
  (cd "$SRC" && zip -qr "$WORK/a.zip" tree && "$VENV/bin/aws" s3 cp --quiet "$WORK/a.zip" "s3://bench/baseline-$i.zip")
  end=$(date +%s.%N)
  b_times+=("$(echo "$end - $start" | bc)"); rm -f "$WORK/a.zip"
done
r=$(printf '%s\n' "${r_times[@]}" | median); b=$(printf '%s\n' "${b_times[@]}" | median)
m=$(printf '%s\n' "${rss[@]}" | sort -n | tail -n1)
echo "server: $SERVER"
printf '| 1 GiB tree to S3 (s, median of %s) | %.1f | %.1f (zip -r + aws s3 cp) | %.1f× faster |\n' "$RUNS" "$r" "$b" "$(echo "$b / $r" | bc -l)"
printf '| peak RSS of runspec | %s KiB | — | — |\n' "$m"
