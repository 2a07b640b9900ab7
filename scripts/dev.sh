#!/usr/bin/env bash
# Starts keyward under `wrangler dev` on 127.0.0.1:8787 in front of the demo echo
# origin (127.0.0.1:8788), then prints the admin token and a curl line with a
# freshly issued demo key. Ctrl-C stops both. KW_PORT and KW_ORIGIN_PORT move them.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$KW_ROOT"

port="${KW_PORT:-8787}"
origin_port="${KW_ORIGIN_PORT:-8788}"
base="http://127.0.0.1:$port"

# The admin token lives in .dev.vars (ignored by git); made once, then reused.
if ! grep -q '^ADMIN_TOKEN=' .dev.vars 2>/dev/null; then
  printf 'ADMIN_TOKEN="%s"\n' "$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')" >>.dev.vars
fi
admin_token="$(sed -n 's/^ADMIN_TOKEN="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' .dev.vars | head -n 1)"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

node demo/origin.mjs --port "$origin_port" >/dev/null &
pids+=($!)

echo "[dev] building and starting wrangler dev on $base (the first build takes a while)"
wrangler dev --ip 127.0.0.1 --port "$port" --persist-to .wrangler/state \
  --var "ORIGIN_URL:http://127.0.0.1:$origin_port" --show-interactive-dev-session=false &
pids+=($!)

for _ in $(seq 1 600); do
  curl -fsS -o /dev/null "$base/_keyward/health" 2>/dev/null && break
  kill -0 "${pids[1]}" 2>/dev/null || { echo "[dev] wrangler dev exited" >&2; exit 1; }
  sleep 0.5
done
curl -fsS -o /dev/null "$base/_keyward/health" || { echo "[dev] keyward did not answer in 5 minutes" >&2; exit 1; }

reply="$(curl -fsS -X POST "$base/_keyward/v1/teams/demo/keys" \
  -H "Authorization: Bearer $admin_token" -H 'content-type: application/json' \
  -d '{"name":"demo key","scopes":["documents.read","documents.write"],"expires_in":"30d"}')"
demo_key="$(printf '%s' "$reply" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).key))')"

cat <<MSG

keyward is running on $base in front of the demo origin on http://127.0.0.1:$origin_port.

  Key console:                   $base/_keyward/console/
  Admin token (from .dev.vars):  $admin_token
  (sign in to the console with it; the team of the demo key is "demo")

  A demo key (team "demo", scopes documents.read and documents.write), shown once:
    curl -i -H "Authorization: Bearer $demo_key" $base/documents/1

  Issue another key:
    curl -s -X POST $base/_keyward/v1/teams/demo/keys -H "Authorization: Bearer $admin_token" \\
      -H 'content-type: application/json' -d '{"name":"my key","scopes":["documents.read"]}'

Press Ctrl-C to stop.
MSG
wait "${pids[1]}"
