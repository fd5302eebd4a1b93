#!/usr/bin/env bash
# Worker RSS under sustained fresh-isolate load (issue 9): `POST /v1/run` (Code Mode, a fresh
# isolate per request) with hey for the given seconds, sampling every worker process's RSS
# (`GET /v1/admin/workers`, `rssBytes`) every SAMPLE seconds (default 30).
#
#   [BIN=path/to/stockade] [C=8] [SAMPLE=30] [RENEW_AFTER=n] bash benches/load/rss.sh [--loader] [seconds]
#
# BIN defaults to this checkout's release build (built first); pass another build to compare.
# Without --loader only Code Mode runs: no Loader worker is created, so no isolate outlives its
# request in the worker processes, which renew V8's shared heap by themselves. With --loader a
# Loader worker of the same tenant is loaded first and fetched once a second throughout, so its
# isolate lives in the process the load runs in: that process cannot renew, and is recycled
# (replaced) once it is twice `worker_renew_after` (RENEW_AFTER, default 20000) overdue. Each
# sample then also prints the sum of the RSS of the tenant's tier's processes (their pids change
# when one is recycled), and the end prints the Loader fetches that failed and
# `stockade_worker_recycles_total`. RENEW_AFTER=1000000 keeps a 10-minute run from recycling:
# the process grows as it did before recycling existed. Bounded: hey stops after the given
# seconds (default 600).
set -euo pipefail
cd "$(dirname "$0")/../.."
loader=0
if [[ "${1:-}" == "--loader" ]]; then
  loader=1
  shift
fi
secs="${1:-600}"
sample="${SAMPLE:-30}"
source benches/load/lib.sh
stockade_binary
start_daemon rss "$(nproc)" "worker_renew_after = ${RENEW_AFTER:-20000}"$'\n[limits]\ncpu_ms = 1000\n'
body='{"code":"export default (a) => ({ hello: a.name })","arg":{"name":"bench"}}'
workers() {
  curl -sf -H "Authorization: Bearer $token" "$base/v1/admin/workers" | python3 -c '
import json, sys
ws = json.load(sys.stdin)["workers"]
line = "  ".join("pid %s %.1f MiB%s" % (w.get("pid"), w["rssBytes"] / 1048576,
                  " (recycling)" if w.get("recycling") else "") for w in ws)
if sys.argv[1] == "1":
    tier = [w for w in ws if w.get("tier") == "standard"]
    line = "standard tier %.1f MiB over %d  |  %s" % (
        sum(w["rssBytes"] for w in tier) / 1048576, len(tier), line)
print(line)' "$loader"
}
fails=/tmp/stockade-rss-loader-fails.txt
: > "$fails"
if [[ $loader == 1 ]]; then
  worker=$(curl -sf -H "Authorization: Bearer $token" -H 'content-type: application/json' \
    -d '{"mainModule":"main.js","modules":{"main.js":"let n = 0; export default { fetch() { n += 1; return new Response(String(n)); } };"}}' \
    "$base/v1/workers" | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
  curl -sf -o /dev/null -H "Authorization: Bearer $token" "$base/v1/workers/$worker/fetch/"
  (
    while true; do
      curl -s -o /dev/null -w '%{http_code}\n' -H "Authorization: Bearer $token" \
        "$base/v1/workers/$worker/fetch/" | grep -v '^200$' >> "$fails" || true
      sleep 1
    done
  ) &
  bench_children+=($!)
fi
echo "$(date -u +%T) start ($(nproc) cores, load average $(cut -d' ' -f1 /proc/loadavg)): $(workers)"
hey -z "${secs}s" -c "${C:-8}" -m POST -T application/json -d "$body" \
  -H "Authorization: Bearer $token" "$base/v1/run" > /tmp/stockade-rss-hey.txt &
load=$!
start=$SECONDS
while kill -0 $load 2>/dev/null; do
  sleep "$sample"
  kill -0 $load 2>/dev/null || break
  echo "$(date -u +%T) +$((SECONDS - start))s: $(workers)"
done
wait $load
grep -E "Requests/sec|responses" /tmp/stockade-rss-hey.txt | sed 's/^ */  /'
echo "$(date -u +%T) after: $(workers)"
if [[ $loader == 1 ]]; then
  echo "  Loader fetches failed: $(wc -l < "$fails")"
  curl -sf -H "Authorization: Bearer $token" "$base/metrics" | grep -E '^stockade_worker_(recycles|reloads)_total' | sed 's/^/  /'
fi
