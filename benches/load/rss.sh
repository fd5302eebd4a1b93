#!/usr/bin/env bash
# Worker RSS under sustained fresh-isolate load (issue 9): `POST /v1/run` (Code Mode, a fresh
# isolate per request) with hey for the given seconds, sampling every worker process's RSS
# (`GET /v1/admin/workers`, `rssBytes`) every SAMPLE seconds (default 30).
#
#   [BIN=path/to/stockade] [C=8] [SAMPLE=30] bash benches/load/rss.sh [seconds]
#
# BIN defaults to this checkout's release build (built first); pass another build to compare.
# Only Code Mode runs: no Loader worker is created, so no isolate outlives its request in the
# worker processes. Bounded: hey stops after the given seconds (default 600).
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-600}"
sample="${SAMPLE:-30}"
source benches/load/lib.sh
stockade_binary
start_daemon rss "$(nproc)" $'[limits]\ncpu_ms = 1000\n'
body='{"code":"export default (a) => ({ hello: a.name })","arg":{"name":"bench"}}'
workers() {
  curl -sf -H "Authorization: Bearer $token" "$base/v1/admin/workers" | python3 -c '
import json, sys
ws = json.load(sys.stdin)["workers"]
print("  ".join("pid %s %.1f MiB" % (w.get("pid"), w["rssBytes"] / 1048576) for w in ws))'
}
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
