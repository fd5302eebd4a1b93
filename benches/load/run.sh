#!/usr/bin/env bash
# Load figures for `stockade serve` with a real load tool (wrk) on loopback.
#
#   [TENANTS=n] [MIN_PROCESSES=m] bash benches/load/run.sh [seconds-per-run]
#
# Builds the release binary (in $CARGO_TARGET_DIR if set), starts a daemon on 127.0.0.1 with
# jailed workers (one warm spare per core) and TENANTS tenants (default 1), then measures, at
# concurrency 1 and 8:
#   fetch  - a hello-world fetch handler on a reused isolate (Loader API, cached worker; one
#            worker per tenant);
#   run    - POST /v1/run, a fresh isolate for every request (Code Mode);
# printing requests/s, p50 and p99 for each, and the workers' RSS before and after the
# sustained fresh-isolate load. With several tenants, wrk rotates through them request by
# request (each request carries the next tenant's token, and for fetch its worker's path), so
# the daemon's placement of tenants over processes is what is measured. MIN_PROCESSES sets
# `[cordon] standard_min_processes` (default: the daemon's, one per core; 1 stacks every tenant
# in one process, the placement before spreading). Bounded: every run lasts the given seconds
# (default 10).
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-10}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release -q -p stockade
bin="${CARGO_TARGET_DIR:-target}/release/stockade"
tenants="${TENANTS:-1}"
[[ "$tenants" =~ ^[1-9][0-9]*$ ]] || { echo "TENANTS must be a positive integer" >&2; exit 2; }
port=$((20000 + RANDOM % 20000))
token="load-bench-token-0123456789"
workers="$(nproc)"
cfg="$(mktemp)"
printf 'listen = "127.0.0.1:%s"\nworkers = %s\noperator_token = "%s"\n[limits]\ncpu_ms = 1000\n' \
  "$port" "$workers" "$token" > "$cfg"
if [[ -n "${MIN_PROCESSES:-}" ]]; then
  [[ "$MIN_PROCESSES" =~ ^[1-9][0-9]*$ ]] || { echo "MIN_PROCESSES must be a positive integer" >&2; exit 2; }
  printf '[cordon]\nstandard_min_processes = %s\n' "$MIN_PROCESSES" >> "$cfg"
fi
tokens=()
for i in $(seq 0 $((tenants - 1))); do
  if ((i == 0)); then t="$token"; else t="$token-$i"; fi
  tokens+=("$t")
  if ((i == 0)); then name=bench; else name="bench-$i"; fi
  printf '[[tenants]]\nid = "%s"\ntoken = "%s"\n' "$name" "$t" >> "$cfg"
done
"$bin" serve --config "$cfg" 2>/tmp/stockade-load.log &
daemon=$!
lua="" fetch_lua=""
trap 'kill $daemon 2>/dev/null; wait $daemon 2>/dev/null; rm -f "$cfg" "$lua" "$fetch_lua"' EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -sf -o /dev/null -H "Authorization: Bearer $token" "$base/v1/admin/workers" && break; sleep 0.1; done
sleep 1
fetch_lua="$(mktemp --suffix=.lua)"
lua="$(mktemp --suffix=.lua)"
# Lua tables of every tenant's token and of its worker's fetch path, for wrk to rotate over.
lua_tokens="tokens = {"
lua_paths="paths = {"
for t in "${tokens[@]}"; do
  id=$(curl -sf -H "Authorization: Bearer $t" -X POST "$base/v1/workers" \
    -d '{"mainModule":"main.js","modules":{"main.js":"export default { fetch() { return new Response(\"hello\"); } };"}}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  curl -sf -o /dev/null -H "Authorization: Bearer $t" "$base/v1/workers/$id/fetch/"
  lua_tokens+="\"Bearer $t\","
  lua_paths+="\"/v1/workers/$id/fetch/\","
done
lua_tokens+="}"
lua_paths+="}"
common_lua='
next_tenant = 0
done = function(summary, latency, requests)
  io.write(string.format("non-2xx or errors: %d\n", summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end'
cat > "$fetch_lua" <<LUA
$lua_tokens
$lua_paths
$common_lua
request = function()
  next_tenant = next_tenant % #tokens + 1
  return wrk.format("GET", paths[next_tenant], { ["Authorization"] = tokens[next_tenant] })
end
LUA
cat > "$lua" <<LUA
$lua_tokens
$common_lua
wrk.method = "POST"
wrk.body = '{"code":"export default (a) => ({ hello: a.name })","arg":{"name":"bench"}}'
wrk.headers["Content-Type"] = "application/json"
request = function()
  next_tenant = next_tenant % #tokens + 1
  wrk.headers["Authorization"] = tokens[next_tenant]
  return wrk.format()
end
LUA
rss() { curl -sf -H "Authorization: Bearer $token" "$base/v1/admin/workers" | python3 -c 'import json,sys; print(sum(w["rssBytes"] for w in json.load(sys.stdin)["workers"]) // 1048576)'; }
report() { # name, wrk output
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$2")
  p50=$(awk '$1=="50%" {print $2}' <<<"$2")
  p99=$(awk '$1=="99%" {print $2}' <<<"$2")
  printf '%-28s %10s req/s   p50 %8s   p99 %8s   %s\n' "$1" "$rps" "$p50" "$p99" "$(grep -o 'non-2xx.*' <<<"$2" || true)"
}
echo "stockade load figures: $tenants tenant(s), $workers warm spare processes, standard_min_processes ${MIN_PROCESSES:-default}, ${secs}s per run, $(nproc) cores"
for c in 1 8; do
  out=$(wrk -t1 -c"$c" -d"${secs}s" --latency -s "$fetch_lua" "$base/")
  report "fetch, reused isolate, c$c" "$out"
done
before=$(rss)
for c in 1 8; do
  out=$(wrk -t1 -c"$c" -d"${secs}s" --latency -s "$lua" "$base/v1/run")
  report "run, fresh isolate, c$c" "$out"
done
after=$(rss)
processes=$(curl -sf -H "Authorization: Bearer $token" "$base/v1/admin/workers" \
  | python3 -c 'import json,sys; w=json.load(sys.stdin)["workers"]; print(len(w), "processes,", sum(1 for x in w if x.get("tier")), "bound to a tier")')
echo "worker RSS (sum over $processes): ${before} MiB before fresh-isolate load, ${after} MiB after"
