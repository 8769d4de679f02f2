#!/usr/bin/env bash
# What runtime-versions costs on top of the runtimes' own commands: a host build selecting
# `python: 3.12` from a home with pyenv, nvm and sdkman trees (the host catalog: directory
# reads, the selection, the `cd` back), beside the baseline: the same build without
# runtime-versions whose INSTALL starts with exactly the commands the selection runs. Also the
# same with the catalog given as a file (`--runspec runtimes` output).
#
#   bash bench/runtimes.sh          # RUNS=21
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-21}
cargo build --release -p runspec -q
BIN=$PWD/target/release/runspec
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
source bench/lib.sh
export RUNSPEC_STATE_DIR=$WORK/state
export HOME=$WORK/home
unset PYENV_ROOT NVM_DIR SDKMAN_DIR ASDF_DATA_DIR MISE_DATA_DIR XDG_DATA_HOME RUSTUP_HOME GOENV_ROOT
mkdir -p "$HOME"
for v in 3.8.18 3.9.18 3.10.13 3.11.7 3.12.1 3.12.4 3.13.0; do mkdir -p "$HOME/.pyenv/versions/$v/bin"; done
for v in 16.20.2 18.19.0 20.11.0 22.1.0; do mkdir -p "$HOME/.nvm/versions/node/v$v/bin"; done
touch "$HOME/.nvm/nvm.sh"
for v in 11.0.21-amzn 17.0.9-amzn 21.0.1-tem; do mkdir -p "$HOME/.sdkman/candidates/java/$v/bin"; done

mkdir -p "$WORK/with" "$WORK/without"
printf 'version: 0.2\nphases:\n  install:\n    runtime-versions:\n      python: 3.12\n    commands:\n      - "true"\n' >"$WORK/with/buildspec.yml"
# The commands the selection runs, as INSTALL's first commands.
"$BIN" runtimes >"$WORK/catalog.yml"
python3 - "$WORK/catalog.yml" "$WORK/without/buildspec.yml" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().split('\n')
start = lines.index('      3.12:') + 1
cmds = []
for line in lines[start:]:
    if re.match(r'^      \S', line) or re.match(r'^  \S', line):
        break
    m = re.match(r'^          - (.*)$', line)
    if m:
        cmds.append(m.group(1))
assert cmds, 'no commands for 3.12 in the catalog'
with open(sys.argv[2], 'w') as f:
    f.write('version: 0.2\nphases:\n  install:\n    commands:\n')
    for c in cmds:
        f.write(f'      - {c}\n')
    f.write('      - "true"\n')
PY
with_us=$(times_us "$BIN" run -s "$WORK/with" | median)
file_us=$(times_us "$BIN" run -s "$WORK/with" --runtimes "$WORK/catalog.yml" | median)
base_us=$(times_us "$BIN" run -s "$WORK/without" | median)
row() { awk -v a="$1" -v b="$2" -v what="$3" 'BEGIN {printf "| %s | %.1f | %.1f | %+.1f ms (%.3f×) |\n", what, a/1000, b/1000, (a-b)/1000, a/b}'; }
echo "| build (median of $RUNS, ms) | with runtime-versions | same commands, no runtime-versions | cost |"
echo "|---|---|---|---|"
row "$with_us" "$base_us" "host catalog (pyenv, nvm, sdkman trees)"
row "$file_us" "$base_us" "--runtimes FILE"
