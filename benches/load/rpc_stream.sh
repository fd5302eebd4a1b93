#!/usr/bin/env bash
# Streams over Workers RPC, Stockade beside workerd, in one run: a caller Worker and a callee
# WorkerEntrypoint bound to it (the same two modules in both: peers/rpc-stream-*.js).
#
#   [BIN=path/to/stockade] bash benches/load/rpc_stream.sh [rounds] [mib]   (default 7, 100)
#
#   produce - the caller reads a stream of MIB MiB the callee returns (made as it is read)
#   count   - the caller hands the callee a stream of MIB MiB it makes as it is read
# Each round is one request, timed by curl from its start to its last byte; the figures are the
# rounds' median (and the rate it gives), one request at a time, after one warm-up round each.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds="${1:-7}"
mib="${2:-100}"
[[ "$rounds" =~ ^[1-9][0-9]*$ && "$mib" =~ ^[1-9][0-9]*$ ]] || { echo "usage: rpc_stream.sh [rounds] [mib]" >&2; exit 2; }
source benches/load/lib.sh
source benches/load/peers/lib.sh
stockade_binary
peers_install
results="$(mktemp)"
trap 'peer_stop; stop_daemon; rm -f "$results"' EXIT

# rounds NAME URL [curl args...]: the median seconds of `rounds` requests (one warm-up first).
timed() {
  local name=$1 url=$2
  shift 2
  local expect=$((mib << 20)) got i
  got=$(curl -sf "$@" "$url")
  [[ "$got" == "$expect" ]] || { echo "$name: answered '$got', not $expect" >&2; return 1; }
  for i in $(seq "$rounds"); do
    curl -sf -o /dev/null -w '%{time_total}\n' "$@" "$url"
  done | python3 -c '
import statistics, sys
name, mib = sys.argv[1], int(sys.argv[2])
times = sorted(float(t) for t in sys.stdin.read().split())
m = statistics.median(times)
print(f"{name:<26} median {m * 1000:8.0f} ms  {mib / m:7.0f} MiB/s  (min {times[0] * 1000:.0f}, max {times[-1] * 1000:.0f})")
' "$name" "$mib" >> "$results"
}

start_daemon rpcstream "$(nproc)" $'[limits]\ncpu_ms = 30000\nwall_ms = 120000\n'
auth=(-H "Authorization: Bearer $token")
module_json() { python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$1"; }
limits='"limits":{"cpuMs":30000,"wallMs":120000}'
callee=$(curl -sf "${auth[@]}" -X POST "$base/v1/workers" \
  -d "{\"mainModule\":\"callee.js\",\"modules\":{\"callee.js\":$(module_json benches/load/peers/rpc-stream-callee.js)},$limits}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
caller=$(curl -sf "${auth[@]}" -X POST "$base/v1/workers" \
  -d "{\"mainModule\":\"caller.js\",\"modules\":{\"caller.js\":$(module_json benches/load/peers/rpc-stream-caller.js)},$limits,\"env\":{\"S\":{\"binding\":\"service\",\"worker\":\"$callee\"}}}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
for what in produce count; do
  timed "stockade $what" "$base/v1/workers/$caller/fetch/$what/$mib" "${auth[@]}"
done
stop_daemon

port=$((20000 + RANDOM % 20000))
(cd benches/load/peers && exec "$workerd" serve rpc-stream.capnp --socket-addr "http=127.0.0.1:$port") 2>/tmp/peers-workerd.log &
server=$!
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/produce/1" && break; sleep 0.1; done
for what in produce count; do
  timed "workerd $what" "http://127.0.0.1:$port/$what/$mib"
done
peer_stop

echo "${mib} MiB over Workers RPC, one request at a time, median of ${rounds} rounds"
cat "$results"
python3 - "$results" <<'PY'
import re, sys
ms = {}
for line in open(sys.argv[1]):
    m = re.match(r"(\w+) (\w+)\s+median\s+(\d+) ms", line)
    if m:
        ms[(m.group(1), m.group(2))] = int(m.group(3))
for what in ("produce", "count"):
    if ("stockade", what) in ms and ("workerd", what) in ms:
        print(f"{what}: Stockade takes {ms[('stockade', what)] / ms[('workerd', what)]:.2f}x workerd's time")
PY
