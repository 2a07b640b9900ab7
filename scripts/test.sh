#!/usr/bin/env bash
# The whole test suite: formatting, lints (native and wasm32), the release build,
# the unit tests, the end-to-end tests against a real `wrangler dev`, and the key
# console's tests: its model's units, its types, and its pages in a real browser.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$KW_ROOT"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== clippy (native, all targets)"
cargo clippy --all-targets -q -- -D warnings
echo "== clippy (wasm32 worker)"
cargo clippy --lib --target wasm32-unknown-unknown -q -- -D warnings
echo "== build the worker"
bash scripts/build.sh
echo "== the key console's model (node --test) and types (tsc)"
node --test tests/console/model.test.mjs
tsc -p tests/console
echo "== unit and end-to-end tests (the console's pages in Chromium among them)"
cargo test
