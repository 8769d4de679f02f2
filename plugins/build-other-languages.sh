#!/usr/bin/env bash
# Builds the plugins written in Python and JavaScript against wit/v0.1.0:
#   line-count-py/app.py      → OUT/line_count_py.wasm   (componentize-py)
#   image-tag-js/plugin.js    → OUT/image_tag_js.wasm    (componentize-js)
# Usage: plugins/build-other-languages.sh OUT_DIR
# Needs `componentize-py` and `componentize-js` on PATH (scripts/test.sh installs both into
# target/tools). A component newer than its source and the WIT is not rebuilt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
wit=$here/../wit/v0.1.0
out=$(realpath -m "${1:?usage: $0 OUT_DIR}")
mkdir -p "$out"

fresh() { # fresh OUTPUT INPUT… — true when OUTPUT exists and is newer than every INPUT
  local target=$1 input
  shift
  [ -f "$target" ] || return 1
  for input in "$@"; do [ "$target" -nt "$input" ] || return 1; done
}

if ! fresh "$out/line_count_py.wasm" "$here/line-count-py/app.py" "$wit/plugin.wit"; then
  # No __pycache__ in the source tree: a clean clone stays clean after a test run.
  (cd "$here/line-count-py" && PYTHONDONTWRITEBYTECODE=1 componentize-py -d "$wit" -w step componentize app -o "$out/line_count_py.wasm.tmp")
  mv "$out/line_count_py.wasm.tmp" "$out/line_count_py.wasm"
fi
if ! fresh "$out/image_tag_js.wasm" "$here/image-tag-js/plugin.js" "$wit/plugin.wit"; then
  # No wasi:http and no fetch-event handler: the world is `step`, whose only export is `run`.
  componentize-js "$here/image-tag-js/plugin.js" --wit "$wit" --world-name step \
    --disable http fetch-event -o "$out/image_tag_js.wasm.tmp"
  mv "$out/image_tag_js.wasm.tmp" "$out/image_tag_js.wasm"
fi
