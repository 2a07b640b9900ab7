#!/usr/bin/env bash
# Measures what rate limiting costs per request under `wrangler dev`: a key without
# limits (a Durable Object call that checks revocation) against a key with one policy
# (the same call plus a synchronous SQLite write of its counter). Rounds
# alternate between the two; prints requests per second per round and the medians.
#   bench/ratelimit-cost.sh [rounds=3] [seconds=10] [connections=8]
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/setup.sh"
cd "$KW_ROOT"
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
rounds="${1:-3}" secs="${2:-10}" conns="${3:-8}"
[ -f build/index.js ] || bash scripts/build.sh

work="$(mktemp -d)"
pids=()
# Each child runs in its own process group (setsid), so that wrangler's workerd
# processes stop with it.
cleanup() { for p in "${pids[@]}"; do kill -- "-$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
origin_port="$(free_port)" port="$(free_port)"
setsid node demo/origin.mjs --port "$origin_port" >/dev/null &
pids+=($!)
sed -e "s|^main = .*|main = \"$KW_ROOT/src/shell/entry.mjs\"|" -e '/^\[build\]/,/^command/d' wrangler.toml >"$work/wrangler.toml"
token="$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')"
printf 'ADMIN_TOKEN="%s"\n' "$token" >"$work/.dev.vars"
(cd "$work" && exec setsid wrangler dev --ip 127.0.0.1 --port "$port" --persist-to "$work/state" \
  --var "ORIGIN_URL:http://127.0.0.1:$origin_port" --show-interactive-dev-session=false >"$work/wrangler.log" 2>&1) &
pids+=($!)
for _ in $(seq 1 240); do curl -fsS -o /dev/null "http://127.0.0.1:$port/_keyward/health" 2>/dev/null && break; sleep 0.5; done

issue() {
  curl -fsS -X POST "http://127.0.0.1:$port/_keyward/v1/teams/bench/keys" -H "Authorization: Bearer $token" \
    -d "{\"name\":\"bench\",\"scopes\":[\"documents.read\"],\"rate_limits\":$1}" |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).key))'
}
unlimited="$(issue '[]')"
limited="$(issue '[{"name":"daily","limit":1000000000,"window":"1d"}]')"

rps() { wrk -t2 -c"$conns" -d"${secs}s" -H "Authorization: Bearer $1" "http://127.0.0.1:$port/documents/1" |
  awk '/Requests\/sec/ {print $2}'; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

printf 'round  no-limits(req/s)  limited(req/s)\n'
: >"$work/a"; : >"$work/b"
for r in $(seq 1 "$rounds"); do
  a="$(rps "$unlimited")"; b="$(rps "$limited")"
  echo "$a" >>"$work/a"; echo "$b" >>"$work/b"
  printf '%5s  %16s  %14s\n' "$r" "$a" "$b"
done
ma="$(median <"$work/a")" mb="$(median <"$work/b")"
printf 'median %15s  %14s   ratio limited/no-limits: %s\n' "$ma" "$mb" "$(awk -v a="$ma" -v b="$mb" 'BEGIN{printf "%.2f", b/a}')"
