# Shared by bench/run.sh, bench/perf.sh and bench/profile.sh (sourced after
# scripts/setup.sh): the load generator, a state directory, processes started in
# their own process groups and stopped by `stop_all`, core pinning (workerd alone on
# core 0; the load, the origin and Miniflare's own Node.js process on core 1 when
# there are two), free ports, keys for the keyward setups and the peers.

# wrk, Debian's package, installed on first use like setup's own packages.
if ! command -v wrk >/dev/null; then
  log "apt-get install wrk (the benchmark's load generator)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi

state=$(mktemp -d /tmp/keyward-bench.XXXXXX)
pids=()
stop_all() {
  for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
  sleep 1
  for p in "${pids[@]}"; do kill -KILL -- "-$p" 2>/dev/null || true; done
  rm -rf "$state"
}

cores=$(nproc)
worker_cpu=0 load_cpu=$(( cores > 1 ? 1 : 0 ))
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Starts "$@" on core $1 in its own process group, logging to $2; waits (at most
# 60 s) for a line starting with `ready` or `listening`.
start_on() {
  local cpu=$1 log=$2; shift 2
  setsid taskset -c "$cpu" "$@" >"$log" 2>&1 &
  pids+=($!)
  for _ in $(seq 600); do
    grep -qE '^(ready|listening)' "$log" && return 0
    sleep 0.1
  done
  echo "did not start: $*" >&2; cat "$log" >&2; exit 1
}

# The workerd process below the process group leader $1 (Miniflare starts it a
# moment after its own process).
workerd_of() {
  local kids
  for _ in $(seq 20); do
    kids=$(pgrep -g "$1" workerd || true)
    [ -n "$kids" ] && { echo "$kids" | head -1; return; }
    sleep 0.5
  done
  echo "no workerd below process group $1" >&2
  exit 1
}

# Starts a worker setup (`node bench/serve.mjs ...`, logging to $1) and sets
# $last_workerd. Only workerd runs on the worker's core: Miniflare's Node.js process,
# which relays each line the worker logs (about 40 µs of its own CPU per line),
# runs with the load, as a deployed worker's log pipeline runs elsewhere too.
start_worker() {
  start_on "$load_cpu" "$@"
  last_workerd=$(workerd_of "${pids[-1]}")
  taskset -a -p -c "$worker_cpu" "$last_workerd" >/dev/null
}

# The admin token the keyward setups are served with (KW_BENCH_ADMIN_TOKEN).
token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')

# Issues a key through the admin API of the keyward setup on port $1, for team $2,
# with the JSON body $3; prints its plaintext.
issue_key() {
  curl -sf -X POST -H "authorization: Bearer $token" -d "$3" \
    "http://127.0.0.1:$1/_keyward/v1/teams/$2/keys" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])'
}

# Gives the JavaScript peer on port $1 the key $2 (as its SHA-256), for team $3, with
# the route's scope and a limit far above any load.
seed_peer() {
  local hash
  hash=$(printf '%s' "$2" | sha256sum | cut -d' ' -f1)
  curl -sf -X POST -d "{\"hash\": \"$hash\", \"record\": {\"id\": \"key_$3\", \"team\": \"$3\", \"scopes\": [\"documents.read\"], \"limit\": 1000000000}}" \
    "http://127.0.0.1:$1/_peer/seed" >/dev/null
}
