#!/usr/bin/env bash
# Two Stockade builds side by side on the cached-worker load (issue 9's reused c8), or with
# LOAD=fresh on the fresh-isolate load (`POST /v1/run`, as cost.sh's): requests/s and the server's
# CPU per request, the supervisor's and the worker processes' apart.
#
#   [LOAD=fresh] bash benches/load/ab.sh A_BIN B_BIN [rounds] [seconds-per-run]   (default 4 rounds, 8 s)
#
# A build is its `stockade` binary with its engine beside it: to keep one, copy
# target/release/stockade and target/release/deps/libstockade_worker.so into one folder. Runs go
# A B B A, B A A B, ... so that a drift of the host's speed within a round (seen here: the second
# of two runs often slower) falls on both builds alike; compare medians, not single runs. CPU
# times are clock ticks (10 ms) of /proc/<pid>/stat: runs of a few seconds give ~1 % resolution.
set -euo pipefail
cd "$(dirname "$0")/../.."
[[ $# -ge 2 ]] || { echo "usage: $0 A_BIN B_BIN [rounds] [seconds]" >&2; exit 2; }
a_bin=$1 b_bin=$2 rounds=${3:-4} secs=${4:-8}
[[ "$rounds" =~ ^[1-9][0-9]*$ && "$secs" =~ ^[1-9][0-9]*$ ]] || { echo "rounds and seconds must be positive integers" >&2; exit 2; }
load=${LOAD:-cached}
[[ $load == cached || $load == fresh ]] || { echo "LOAD must be cached or fresh" >&2; exit 2; }
run_body='{"code":"export default (a) => ({ hello: a.name })","arg":{"name":"bench"}}'
source benches/load/lib.sh
BIN=$a_bin stockade_binary

# run LABEL BIN: one daemon, one cached worker, a warm-up, then `hey -z` at c8.
run() {
  local label=$1
  BIN=$2
  start_daemon ab 2 $'[limits]\ncpu_ms = 1000\n' >/dev/null 2>&1
  local id url
  id=$(curl -sf -H "Authorization: Bearer $token" -X POST "$base/v1/workers" \
    -d '{"mainModule":"main.js","modules":{"main.js":"export default { fetch() { return new Response(\"hello\"); } };"}}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  url="$base/v1/workers/$id/fetch/"
  local args=(-H "Authorization: Bearer $token")
  if [[ $load == fresh ]]; then
    url="$base/v1/run"
    args+=(-m POST -T application/json -d "$run_body")
  fi
  hey -n 2000 -c 8 "${args[@]}" "$url" >/dev/null
  local all s0 w0 out s1 w1
  all=$(descendants "$daemon" | tr '\n' ' ')
  s0=$(ticks "$daemon")
  # shellcheck disable=SC2086
  w0=$(ticks $all)
  out=$(hey -z "${secs}s" -c 8 "${args[@]}" "$url")
  s1=$(ticks "$daemon")
  # shellcheck disable=SC2086
  w1=$(ticks $all)
  stop_daemon
  python3 - "$label" "$out" "$s0" "$s1" "$w0" "$w1" <<'EOF'
import re, sys
label, out, s0, s1, w0, w1 = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
n = sum(int(k) for c, k in re.findall(r"\[(\d+)\]\s+(\d+) responses", out) if c.startswith("2"))
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
sup, total = (s1 - s0) * 1e4 / n, (w1 - w0) * 1e4 / n
print(f"{label}  {rps:8.0f} req/s   server {total:6.1f} us/req (supervisor {sup:5.1f} + workers {total - sup:5.1f})")
EOF
}

for ((r = 0; r < rounds; r++)); do
  if ((r % 2 == 0)); then order=(A B B A); else order=(B A A B); fi
  for x in "${order[@]}"; do
    if [[ $x == A ]]; then run A "$a_bin"; else run B "$b_bin"; fi
  done
done
