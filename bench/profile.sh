#!/usr/bin/env bash
# Where keyward's CPU goes on the valid-key path: serves a release build that keeps
# its function names (so wasm frames are named) as bench/run.sh does, loads it with
# wrk, and samples workerd's V8 profiler meanwhile (bench/profile.mjs). Rebuilds the
# normal (stripped) release build at the end.
#
#   bench/profile.sh [seconds=8] [connections=16] [setup]
#
# Setups as in bench/serve.mjs: keyward (the default), keyward-problems-log, peer,
# peer-fast, passthrough.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/setup.sh"
cd "$KW_ROOT"
secs=${1:-8} conns=${2:-16} setup=${3:-keyward}
. bench/common.sh
load=""
finish() {
  if [ -n "$load" ]; then kill "$load" 2>/dev/null || true; fi
  stop_all
  bash scripts/build.sh
}
trap finish EXIT
CARGO_PROFILE_RELEASE_STRIP=false bash scripts/build.sh

origin_port=$(free_port) port=$(free_port) inspector=$(free_port)
start_on "$load_cpu" "$state/origin.log" node demo/origin.mjs --port "$origin_port"
KW_BENCH_ADMIN_TOKEN=$token KW_INSPECTOR_PORT=$inspector start_worker "$state/serve.log" \
  node bench/serve.mjs "$setup" "$port" "http://127.0.0.1:$origin_port" "$state/do"

auth=()
if [ "$setup" = keyward ] || [ "$setup" = keyward-problems-log ]; then
  key=$(issue_key "$port" profile '{"name": "profile", "scopes": ["documents.read"], "rate_limits": []}')
  auth=(-H "authorization: Bearer $key")
elif [ "$setup" = peer-fast ] || [ "$setup" = peer ]; then
  key="kw_profile"
  seed_peer "$port" "$key" profile
  auth=(-H "authorization: Bearer $key")
fi
url="http://127.0.0.1:$port/documents/1"
[ "$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" "$url")" = 200 ]
taskset -c "$load_cpu" wrk -t1 -c"$conns" -d2s "${auth[@]}" "$url" >/dev/null
taskset -c "$load_cpu" wrk -t1 -c"$conns" -d"$((secs + 2))s" "${auth[@]}" "$url" >"$state/wrk.txt" &
load=$!
sleep 1
timeout $((secs + 30)) node bench/profile.mjs "$inspector" "$setup" "$secs"
wait "$load"
grep -E 'Requests/sec' "$state/wrk.txt"
