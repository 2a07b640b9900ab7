#!/usr/bin/env bash
# The benchmark, one command: builds the release worker, serves each setup through
# Miniflare's own socket (workerd, local KV and SQLite Durable Objects; not
# `wrangler dev`), loads them in alternation with wrk, and prints medians.
#
#   bench/run.sh [rounds=5] [seconds=5] [connections=16]
#
# Setups: the echo origin directly; a JavaScript pass-through worker; the same
# with one JSON log line per request (bench/passthrough-log.js); the same
# pass-through in Rust with workers-rs (bench/rust-passthrough); keyward with
# a valid key (KV hit or isolate cache, scope check, the key's Durable Object,
# forward); keyward with an unknown key (401, no origin call); keyward with a valid
# key and DECISION_LOG = "problems" (no log line for a forwarded request); keyward
# with a valid key that has credits (spent and written by its object), and one
# with a rate limit (its counters written likewise); the
# JavaScript peer written by hand (bench/peer.js); the same peer with keyward's
# optimisations (bench/peer-fast.js); keyward with ADMISSION = "leased", with and
# without credits (leased like quota); keyward exact and leased with the key's
# object 100 ms away (bench/distant.mjs delays every call to it, in the harness
# only), leased also with credits. Then one hot key at high concurrency under
# leased admission: object calls per 1,000 admitted requests; and with KV hiding
# every write for 30 s (tests/it/lagging.mjs), made-up keys (bench/madeup-keys.mjs:
# one repeated, then 10,000 distinct) and a new key: object calls per 1,000 requests. workerd runs alone on core 0; wrk, the origin
# and Miniflare's Node.js processes on core 1 (when there are two). CPU per request is
# workerd's utime+stime delta from /proc/<pid>/stat divided by the requests.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/setup.sh"
cd "$KW_ROOT"

rounds=${1:-5} secs=${2:-5} conns=${3:-16}
. bench/common.sh
trap stop_all EXIT
bash scripts/build.sh
# The Rust pass-through: keyward's toolchain, worker-build and release profile.
(cd bench/rust-passthrough && CARGO_TARGET_DIR="$KW_ROOT/target" worker-build --release >/dev/null)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

origin_port=$(free_port)
start_on "$load_cpu" "$state/origin.log" node demo/origin.mjs --port "$origin_port"
origin="http://127.0.0.1:$origin_port"

ptlog_port=$(free_port) ptrs_port=$(free_port)
pt_port=$(free_port) kw_port=$(free_port) peer_port=$(free_port) fast_port=$(free_port) quiet_port=$(free_port)
start_worker "$state/passthrough.log" node bench/serve.mjs passthrough "$pt_port" "$origin" "$state/pt"
pt_workerd=$last_workerd
KW_BENCH_ADMIN_TOKEN=$token start_worker "$state/keyward.log" node bench/serve.mjs keyward "$kw_port" "$origin" "$state/kw"
kw_workerd=$last_workerd
start_worker "$state/peer.log" node bench/serve.mjs peer "$peer_port" "$origin" "$state/peer"
peer_workerd=$last_workerd
start_worker "$state/peer-fast.log" node bench/serve.mjs peer-fast "$fast_port" "$origin" "$state/fast"
fast_workerd=$last_workerd
KW_BENCH_ADMIN_TOKEN=$token start_worker "$state/quiet.log" node bench/serve.mjs keyward-problems-log "$quiet_port" "$origin" "$state/quiet"
quiet_workerd=$last_workerd
start_worker "$state/passthrough-log.log" node bench/serve.mjs passthrough-log "$ptlog_port" "$origin" "$state/ptlog"
ptlog_workerd=$last_workerd
start_worker "$state/passthrough-rs.log" node bench/serve.mjs passthrough-rs "$ptrs_port" "$origin" "$state/ptrs"
ptrs_workerd=$last_workerd
leased_port=$(free_port) far_port=$(free_port) farleased_port=$(free_port)
KW_BENCH_ADMIN_TOKEN=$token start_worker "$state/leased.log" node bench/serve.mjs keyward-leased "$leased_port" "$origin" "$state/leased"
leased_workerd=$last_workerd
KW_BENCH_ADMIN_TOKEN=$token start_worker "$state/far.log" node bench/serve.mjs keyward-distant "$far_port" "$origin" "$state/far"
far_workerd=$last_workerd
KW_BENCH_ADMIN_TOKEN=$token start_worker "$state/farleased.log" node bench/serve.mjs keyward-leased-distant "$farleased_port" "$origin" "$state/farleased"
farleased_workerd=$last_workerd

reader='{"name": "bench", "scopes": ["documents.read"], "rate_limits": []}'
key=$(issue_key "$kw_port" bench "$reader")
quiet_key=$(issue_key "$quiet_port" bench "$reader")
leased_key=$(issue_key "$leased_port" bench "$reader")
far_key=$(issue_key "$far_port" bench "$reader")
farleased_key=$(issue_key "$farleased_port" bench "$reader")
# The same key with credits (more than any run spends): the object spends and
# writes them on every request.
credited='{"name": "bench", "scopes": ["documents.read"], "rate_limits": [], "credits": {"remaining": 1000000000000}}'
credit_key=$(issue_key "$kw_port" bench "$credited")
leased_credit_key=$(issue_key "$leased_port" bench "$credited")
farleased_credit_key=$(issue_key "$farleased_port" bench "$credited")
# And with a rate limit (far above any load): its counters are written on every
# request too, the same durable write that credits make.
limited='{"name": "bench", "scopes": ["documents.read"], "rate_limits": [{"name": "total", "limit": 1000000000, "window": "366d"}]}'
limited_key=$(issue_key "$kw_port" bench "$limited")
unknown="kw_$(head -c 64 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 38)"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $key" "http://127.0.0.1:$kw_port/documents/1")" = 200 ]
# The peers hold the same key in their own KV.
for port in "$peer_port" "$fast_port"; do
  seed_peer "$port" "$key" bench
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $key" "http://127.0.0.1:$port/documents/1")" = 200 ]
done

# name|url|auth header|workerd pid
setups=(
  "direct|$origin/documents/1||"
  "passthrough|http://127.0.0.1:$pt_port/documents/1||$pt_workerd"
  "passthrough + log line|http://127.0.0.1:$ptlog_port/documents/1||$ptlog_workerd"
  "passthrough in Rust|http://127.0.0.1:$ptrs_port/documents/1||$ptrs_workerd"
  "keyward valid|http://127.0.0.1:$kw_port/documents/1|authorization: Bearer $key|$kw_workerd"
  "keyward valid, with credits|http://127.0.0.1:$kw_port/documents/1|authorization: Bearer $credit_key|$kw_workerd"
  "keyward valid, with a rate limit|http://127.0.0.1:$kw_port/documents/1|authorization: Bearer $limited_key|$kw_workerd"
  "keyward invalid|http://127.0.0.1:$kw_port/documents/1|authorization: Bearer $unknown|$kw_workerd"
  "keyward valid, DECISION_LOG=problems|http://127.0.0.1:$quiet_port/documents/1|authorization: Bearer $quiet_key|$quiet_workerd"
  "js peer|http://127.0.0.1:$peer_port/documents/1|authorization: Bearer $key|$peer_workerd"
  "js peer, keyward's optimisations|http://127.0.0.1:$fast_port/documents/1|authorization: Bearer $key|$fast_workerd"
  "keyward leased|http://127.0.0.1:$leased_port/documents/1|authorization: Bearer $leased_key|$leased_workerd"
  "keyward leased, with credits|http://127.0.0.1:$leased_port/documents/1|authorization: Bearer $leased_credit_key|$leased_workerd"
  "keyward exact, object 100 ms away|http://127.0.0.1:$far_port/documents/1|authorization: Bearer $far_key|$far_workerd"
  "keyward leased, object 100 ms away|http://127.0.0.1:$farleased_port/documents/1|authorization: Bearer $farleased_key|$farleased_workerd"
  "keyward leased, with credits, object 100 ms away|http://127.0.0.1:$farleased_port/documents/1|authorization: Bearer $farleased_credit_key|$farleased_workerd"
)

# Warm up every setup, then alternate.
for s in "${setups[@]}"; do
  IFS='|' read -r name url auth pid <<<"$s"
  taskset -c "$load_cpu" wrk -t1 -c"$conns" -d2s ${auth:+-H "$auth"} "$url" >/dev/null
done

results="$state/results"
: >"$results"
for round in $(seq "$rounds"); do
  for s in "${setups[@]}"; do
    IFS='|' read -r name url auth pid <<<"$s"
    before=0; [ -n "$pid" ] && before=$(cpu_ticks "$pid")
    out=$(taskset -c "$load_cpu" wrk -t1 -c"$conns" -d"${secs}s" --latency ${auth:+-H "$auth"} "$url")
    after=0; [ -n "$pid" ] && after=$(cpu_ticks "$pid")
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')
    cpu_us=$(awk -v d=$((after - before)) -v n="$reqs" -v hz="$(getconf CLK_TCK)" \
      'BEGIN { if (n > 0 && d > 0) printf "%.0f", d * 1e6 / hz / n; else print "-" }')
    printf '%s|%s|%s|%s|%s|%s|%s\n' "$round" "$name" "$rps" "$p50" "$p99" "$cpu_us" "$errors" >>"$results"
    echo "round $round: $name: $rps req/s, p50 $p50, p99 $p99, $cpu_us us CPU/req ${errors}" >&2
  done
done

python3 - "$results" "$rounds" "$secs" "$conns" <<'EOF'
import statistics, sys
path, rounds, secs, conns = sys.argv[1:]
rows = [l.rstrip("\n").split("|") for l in open(path)]
def ms(v):
    return float(v[:-2]) if v.endswith("ms") else float(v[:-2]) / 1000 if v.endswith("us") else float(v[:-1]) * 1000
order, by = [], {}
for _, name, rps, p50, p99, cpu, _ in rows:
    if name not in by:
        order.append(name)
        by[name] = []
    by[name].append((float(rps), ms(p50), ms(p99), None if cpu == "-" else float(cpu)))
med = {}
for name in order:
    r = by[name]
    cpus = [x[3] for x in r if x[3] is not None]
    med[name] = (statistics.median(x[0] for x in r), statistics.median(x[1] for x in r),
                 statistics.median(x[2] for x in r), statistics.median(cpus) if cpus else None)
print(f"\nMedians of {rounds} alternating rounds of {secs} s, wrk -t1 -c{conns}:\n")
print("| Setup | req/s | p50 ms | p99 ms | workerd CPU us/req |")
print("|---|---|---|---|---|")
for name in order:
    rps, p50, p99, cpu = med[name]
    print(f"| {name} | {rps:,.0f} | {p50:.2f} | {p99:.2f} | {'-' if cpu is None else f'{cpu:,.0f}'} |")
# Each ratio two ways: of the medians, and the median of the ratios taken within
# each round (setups of one round run a minute apart, so the machine's drift over
# the run cancels out of them).
def ratio(a, b):
    of_medians = med[a][0] / med[b][0]
    per_round = statistics.median(x[0] / y[0] for x, y in zip(by[a], by[b]))
    return f"{of_medians:.2f}x (median of per-round ratios {per_round:.2f}x)"
pt = med["passthrough"]
print()
for name in ("passthrough + log line", "passthrough in Rust", "keyward valid", "keyward invalid", "keyward valid, DECISION_LOG=problems",
             "js peer, keyward's optimisations", "keyward leased", "keyward exact, object 100 ms away",
             "keyward leased, object 100 ms away", "keyward leased, with credits, object 100 ms away"):
    print(f"{name} / passthrough: {ratio(name, 'passthrough')} throughput, +{med[name][1] - pt[1]:.2f} ms p50")
print(f"keyward valid, with credits / keyward valid: {ratio('keyward valid, with credits', 'keyward valid')} throughput, +{med['keyward valid, with credits'][1] - med['keyward valid'][1]:.2f} ms p50")
print(f"keyward valid, with credits / with a rate limit: {ratio('keyward valid, with credits', 'keyward valid, with a rate limit')} throughput")
print(f"keyward leased, with credits / keyward leased: {ratio('keyward leased, with credits', 'keyward leased')} throughput, +{med['keyward leased, with credits'][1] - med['keyward leased'][1]:.2f} ms p50")
print(f"keyward leased, with credits / keyward valid, with credits (exact): {ratio('keyward leased, with credits', 'keyward valid, with credits')} throughput")
print(f"keyward valid / js peer: {ratio('keyward valid', 'js peer')}")
print(f"keyward valid / js peer with keyward's optimisations: {ratio('keyward valid', 'js peer, keyward' + chr(39) + 's optimisations')}")
EOF
wasm=build/index_bg.wasm
printf '\nwasm: %s bytes raw, %s gzipped\n' "$(wc -c <"$wasm")" "$(gzip -9c "$wasm" | wc -c)"
rs=bench/rust-passthrough/build/index_bg.wasm
printf 'wasm of the Rust pass-through: %s bytes raw, %s gzipped\n' "$(wc -c <"$rs")" "$(gzip -9c "$rs" | wc -c)"

# The Durable Objects under load: every request a client saw answered must have
# been counted, and none twice. wrk does not count requests still in flight when it
# stops, so the objects may count up to one more per connection.
limit=1000000000
issue_limited() {
  issue_key "$kw_port" load \
    "{\"name\": \"load\", \"scopes\": [\"documents.read\"], \"rate_limits\": [{\"name\": \"total\", \"limit\": $limit, \"window\": \"366d\"}]}"
}
# What the key's object has counted so far (one request more, which it counts too).
counted() {
  local r
  r=$(curl -s -D - -o /dev/null -H "authorization: Bearer $1" "http://127.0.0.1:$kw_port/documents/1" |
    tr -d '\r' | awk -F'r=' 'tolower($0) ~ /^ratelimit:/ {split($2, a, ";"); print a[1]}')
  echo $((limit - r - 1))
}
check_counts() {
  local what=$1 seen=$2 got=$3 non2xx=$4
  if [ "$got" -ge "$seen" ] && [ "$got" -le $((seen + conns)) ] && [ -z "$non2xx" ]; then
    echo "$what: $seen answered, $got counted: none lost"
  else
    echo "$what: $seen answered, $got counted ($non2xx): COUNTS DISAGREE" >&2
    exit 1
  fi
}
hot=$(issue_limited)
out=$(taskset -c "$load_cpu" wrk -t1 -c"$conns" -d"${secs}s" -H "authorization: Bearer $hot" "http://127.0.0.1:$kw_port/documents/1")
check_counts "one hot key" "$(awk '/requests in/ {print $1}' <<<"$out")" "$(counted "$hot")" "$(awk '/Non-2xx/ {print $NF}' <<<"$out")"

many=()
for _ in $(seq 50); do many+=("$(issue_limited)"); done
lua="$state/many.lua"
{
  echo "keys = {"; printf '  "%s",\n' "${many[@]}"; echo "}"
  echo 'i = 0'
  echo 'request = function() i = i % #keys + 1; return wrk.format("GET", "/documents/1", {["authorization"] = "Bearer " .. keys[i]}) end'
} >"$lua"
out=$(taskset -c "$load_cpu" wrk -t1 -c"$conns" -d"${secs}s" -s "$lua" "http://127.0.0.1:$kw_port")
total=0
for k in "${many[@]}"; do total=$((total + $(counted "$k"))); done
check_counts "50 keys" "$(awk '/requests in/ {print $1}' <<<"$out")" "$total" "$(awk '/Non-2xx/ {print $NF}' <<<"$out")"

# Leased admission, one hot key at high concurrency: how often the isolate still
# calls the key's object (bench/distant.mjs counts the calls); a key with a rate
# limit, then one with credits (leased in cost units).
hot_conns=$((conns * 4))
object_calls() { curl -s "http://127.0.0.1:$leased_port/_bench/object-calls" | python3 -c 'import json, sys; print(json.load(sys.stdin)["calls"])'; }
hot_calls() {
  local label=$1 hot_leased
  hot_leased=$(issue_key "$leased_port" load "$2")
  taskset -c "$load_cpu" wrk -t1 -c"$hot_conns" -d2s -H "authorization: Bearer $hot_leased" "http://127.0.0.1:$leased_port/documents/1" >/dev/null
  local before after out answered non2xx
  before=$(object_calls)
  out=$(taskset -c "$load_cpu" wrk -t1 -c"$hot_conns" -d"${secs}s" -H "authorization: Bearer $hot_leased" "http://127.0.0.1:$leased_port/documents/1")
  after=$(object_calls)
  answered=$(awk '/requests in/ {print $1}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  awk -v l="$label" -v c=$((after - before)) -v n="$answered" -v k="$hot_conns" -v e="${non2xx:-0}" \
    'BEGIN { printf "leased, one hot key %s, %d connections: %d admitted, %d object calls: %.1f per 1,000 requests (non-2xx: %s)\n", l, k, n, c, c * 1000 / n, e }'
}
hot_calls "with a rate limit" \
  "{\"name\": \"hot\", \"scopes\": [\"documents.read\"], \"rate_limits\": [{\"name\": \"total\", \"limit\": $limit, \"window\": \"366d\"}]}"
hot_calls "with credits" \
  "{\"name\": \"hot\", \"scopes\": [\"documents.read\"], \"rate_limits\": [], \"credits\": {\"remaining\": 1000000000000}}"

# KV hiding every write for 30 s, as in a location KV has not reached yet: what a
# KV miss costs in object calls (the key locator, within its per-isolate bound).
lag_port=$(free_port)
KW_BENCH_ADMIN_TOKEN=$token start_worker "$state/lagging.log" node bench/serve.mjs keyward-lagging "$lag_port" "$origin" "$state/lagging"
lag_calls() { curl -s "http://127.0.0.1:$lag_port/_test/object-calls" | python3 -c 'import json, sys; print(sum(json.load(sys.stdin)["calls"].values()))'; }
lag_row() {
  local label=$1 before after out answered
  before=$(lag_calls)
  out=$(taskset -c "$load_cpu" wrk -t1 -c"$conns" -d"${secs}s" "${@:2}")
  after=$(lag_calls)
  answered=$(awk '/requests in/ {print $1}' <<<"$out")
  awk -v l="$label" -v c=$((after - before)) -v n="$answered" -v s="$secs" \
    -v r="$(awk '/Non-2xx/ {print $NF}' <<<"$out")" \
    'BEGIN { printf "under a 30 s KV lag, %s: %d requests in %d s (non-2xx: %s), %d object calls: %.1f per 1,000 requests\n", l, n, s, r, c, c * 1000 / n }'
}
madeup=$(node bench/madeup-keys.mjs 1)
lag_row "one made-up key" -H "authorization: Bearer $madeup" "http://127.0.0.1:$lag_port/documents/1"
lua="$state/madeup.lua"
{
  echo "keys = {"; node bench/madeup-keys.mjs 10000 | sed 's/.*/  "&",/'; echo "}"
  echo 'i = 0'
  echo 'request = function() i = i % #keys + 1; return wrk.format("GET", "/documents/1", {["authorization"] = "Bearer " .. keys[i]}) end'
} >"$lua"
lag_row "10,000 made-up keys" -s "$lua" "http://127.0.0.1:$lag_port"
lag_key=$(issue_key "$lag_port" bench "$reader")
lag_row "a key issued 0 s before" -H "authorization: Bearer $lag_key" "http://127.0.0.1:$lag_port/documents/1"
