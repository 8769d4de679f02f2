# Sourced by the benchmarks that need the test services (scripts/services.sh: moto, the
# registries, the private Docker engine and its images; stopped when the benchmark exits):
# defines `log`, TOOLS and VENV, starts the services, and builds the release binary as BIN.
log() { printf '== %s\n' "$*" >&2; }
TOOLS=$(realpath -m "${RUNSPEC_TOOLS_DIR:-$PWD/target/tools}")
VENV=$TOOLS/venv
[ -x "$VENV/bin/moto_server" ] || { echo "run scripts/test.sh once first (it installs moto)" >&2; exit 1; }
source scripts/services.sh
cargo build --release -p runspec -q
BIN=$PWD/target/release/runspec
