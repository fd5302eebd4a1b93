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
source benches/load/stream_lib.sh
stockade_binary
peers_install
results="$(mktemp)"
trap 'peer_stop; stop_daemon; rm -f "$results"' EXIT

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
  stream_timed "stockade $what" "$base/v1/workers/$caller/fetch/$what/$mib" text "${auth[@]}"
done
stop_daemon

port=$((20000 + RANDOM % 20000))
(cd benches/load/peers && exec "$workerd" serve rpc-stream.capnp --socket-addr "http=127.0.0.1:$port") 2>/tmp/peers-workerd.log &
server=$!
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/produce/1" && break; sleep 0.1; done
for what in produce count; do
  stream_timed "workerd $what" "http://127.0.0.1:$port/$what/$mib" text
done
peer_stop

echo "${mib} MiB over Workers RPC, one request at a time, median of ${rounds} rounds"
cat "$results"
stream_ratios produce count
