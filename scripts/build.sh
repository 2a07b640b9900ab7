#!/usr/bin/env bash
# Builds the release worker into build/ (wasm, optimised with wasm-opt).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$KW_ROOT"
worker-build --release >/dev/null
wasm=build/index_bg.wasm
printf '[build] %s: %s bytes, %s gzipped\n' "$wasm" "$(wc -c <"$wasm")" "$(gzip -9c "$wasm" | wc -c)" >&2
