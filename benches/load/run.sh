#!/usr/bin/env bash
# Load figures for `stockade serve` with a real load tool (wrk) on loopback.
#
#   bash benches/load/run.sh [seconds-per-run]
#
# Builds the release binary, starts a daemon on 127.0.0.1 with jailed workers (one per core),
# then measures, at concurrency 1 and 8:
#   fetch  - a hello-world fetch handler on a reused isolate (Loader API, cached worker);
#   run    - POST /v1/run, a fresh isolate for every request (Code Mode);
# printing requests/s, p50 and p99 for each, and the workers' RSS before and after the
# sustained fresh-isolate load. Bounded: every run lasts the given seconds (default 10).
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-10}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release -q -p stockade
port=$((20000 + RANDOM % 20000))
token="load-bench-token-0123456789"
workers="$(nproc)"
cfg="$(mktemp)"
printf 'listen = "127.0.0.1:%s"\nworkers = %s\noperator_token = "%s"\n[limits]\ncpu_ms = 1000\n[[tenants]]\nid = "bench"\ntoken = "%s"\n' \
  "$port" "$workers" "$token" "$token" > "$cfg"
./target/release/stockade serve --config "$cfg" 2>/tmp/stockade-load.log &
daemon=$!
trap 'kill $daemon 2>/dev/null; wait $daemon 2>/dev/null; rm -f "$cfg" "$lua"' EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -sf -o /dev/null -H "Authorization: Bearer $token" "$base/v1/admin/workers" && break; sleep 0.1; done
sleep 1
id=$(curl -sf -H "Authorization: Bearer $token" -X POST "$base/v1/workers" \
  -d '{"mainModule":"main.js","modules":{"main.js":"export default { fetch() { return new Response(\"hello\"); } };"}}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
lua="$(mktemp --suffix=.lua)"
cat > "$lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"code":"export default (a) => ({ hello: a.name })","arg":{"name":"bench"}}'
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  io.write(string.format("non-2xx or errors: %d\n", summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
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
echo "stockade load figures: $workers jailed worker processes, ${secs}s per run, $(nproc) cores"
curl -sf -o /dev/null -H "Authorization: Bearer $token" "$base/v1/workers/$id/fetch/"
for c in 1 8; do
  out=$(wrk -t1 -c"$c" -d"${secs}s" --latency -H "Authorization: Bearer $token" "$base/v1/workers/$id/fetch/")
  report "fetch, reused isolate, c$c" "$out"
done
before=$(rss)
for c in 1 8; do
  out=$(wrk -t1 -c"$c" -d"${secs}s" --latency -s "$lua" -H "Authorization: Bearer $token" "$base/v1/run")
  report "run, fresh isolate, c$c" "$out"
done
after=$(rss)
echo "worker RSS (sum of $workers processes): ${before} MiB before fresh-isolate load, ${after} MiB after"
