#!/usr/bin/env bash
# Where workerd's CPU goes, per request, for setups side by side: serves each setup as
# bench/run.sh does (workerd alone on its core), loads it with wrk, samples workerd
# with Linux `perf` (call stacks, no profiler inside V8, no inspector attached), and
# attributes the samples to the runtime's APIs (bench/perf-attribute.py).
#
#   bench/perf.sh [rounds=2] [seconds=8] [setups="keyward peer-fast passthrough"]
#
# Setups as in bench/serve.mjs. The keyward setups get a key without limits, the
# peers the same key, as in bench/run.sh. Rounds alternate between the setups.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/setup.sh"
cd "$KW_ROOT"
rounds=${1:-2} secs=${2:-8}
read -r -a names <<<"${3:-keyward peer-fast passthrough}"
hz=2999
. bench/common.sh
trap stop_all EXIT
if ! command -v perf >/dev/null; then
  log "apt-get install linux-perf (the sampling profiler)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >/dev/null
fi
[ -f build/index_bg.wasm ] || bash scripts/build.sh

origin_port=$(free_port)
start_on "$load_cpu" "$state/origin.log" node demo/origin.mjs --port "$origin_port"
origin="http://127.0.0.1:$origin_port"
declare -A port workerd keys
for s in "${names[@]}"; do
  port[$s]=$(free_port)
  KW_BENCH_ADMIN_TOKEN=$token start_worker "$state/$s.log" node bench/serve.mjs "$s" "${port[$s]}" "$origin" "$state/$s"
  workerd[$s]=$last_workerd
done
# Each keyward setup has its own KV, so its own key; the peers share the first one.
key=""
for s in "${names[@]}"; do
  case $s in keyward | keyward-problems-log)
    keys[$s]=$(issue_key "${port[$s]}" bench '{"name": "bench", "scopes": ["documents.read"], "rate_limits": []}')
    key=${key:-${keys[$s]}} ;;
  esac
done
key=${key:-kw_perf}
for s in "${names[@]}"; do
  case $s in peer | peer-fast) seed_peer "${port[$s]}" "$key" bench ;; esac
  keys[$s]=${keys[$s]:-$key}
done

declare -A requests
for s in "${names[@]}"; do
  taskset -c "$load_cpu" wrk -t1 -c16 -d2s -H "authorization: Bearer ${keys[$s]}" "http://127.0.0.1:${port[$s]}/documents/1" >/dev/null
  requests[$s]=0
  : >"$state/$s.stacks"
done
for round in $(seq "$rounds"); do
  for s in "${names[@]}"; do
    taskset -c "$load_cpu" wrk -t1 -c16 -d"$((secs + 2))s" -H "authorization: Bearer ${keys[$s]}" \
      "http://127.0.0.1:${port[$s]}/documents/1" >"$state/wrk.txt" &
    load=$!
    sleep 1
    as_root perf record -q -F "$hz" -g -p "${workerd[$s]}" -o "$state/perf.data" -- sleep "$secs" 2>/dev/null
    wait "$load"
    as_root perf script -i "$state/perf.data" -F ip,sym,dso 2>/dev/null >>"$state/$s.stacks"
    echo >>"$state/$s.stacks"
    rps=$(awk '/^Requests\/sec/ {print $2}' "$state/wrk.txt")
    # The samples cover $secs seconds of the load; wrk reports its rate over all of it.
    requests[$s]=$(awk -v a="${requests[$s]}" -v r="$rps" -v t="$secs" 'BEGIN { printf "%.0f", a + r * t }')
    echo "round $round: $s: $rps req/s under perf" >&2
  done
done
args=()
for s in "${names[@]}"; do args+=("$s=$state/$s.stacks:${requests[$s]}"); done
echo
python3 bench/perf-attribute.py "$hz" "${args[@]}"
