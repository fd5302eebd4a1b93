#!/usr/bin/env bash
# Bodies streamed between a client and a Worker, Stockade beside workerd, in one run (the same
# module in both: peers/body-stream.js).
#
#   [BIN=path/to/stockade] bash benches/load/body_stream.sh [rounds] [mib]   (default 7, 100)
#
#   produce - the client reads a response of MIB MiB the Worker makes as it is read
#   echo    - the client uploads MIB MiB and reads them back as the Worker's response
# Each round is one request, timed by curl from its start to its last byte; the figures are the
# rounds' median (and the rate it gives), one request at a time, after one warm-up round each.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds="${1:-7}"
mib="${2:-100}"
[[ "$rounds" =~ ^[1-9][0-9]*$ && "$mib" =~ ^[1-9][0-9]*$ ]] || { echo "usage: body_stream.sh [rounds] [mib]" >&2; exit 2; }
source benches/load/lib.sh
source benches/load/peers/lib.sh
source benches/load/stream_lib.sh
stockade_binary
peers_install
results="$(mktemp)"
upload="$(mktemp)"
trap 'peer_stop; stop_daemon; rm -f "$results" "$upload"' EXIT
head -c "$((mib << 20))" /dev/zero > "$upload"

echo_args=(-X POST -H "Content-Type: application/octet-stream" --data-binary "@$upload")

start_daemon bodystream "$(nproc)" $'[limits]\ncpu_ms = 30000\nwall_ms = 120000\nmax_fetch_body_bytes = 1073741824\n'
auth=(-H "Authorization: Bearer $token")
module_json() { python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$1"; }
id=$(curl -sf "${auth[@]}" -X POST "$base/v1/workers" \
  -d "{\"mainModule\":\"main.js\",\"modules\":{\"main.js\":$(module_json benches/load/peers/body-stream.js)},\"limits\":{\"cpuMs\":30000,\"wallMs\":120000}}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
stream_timed "stockade produce" "$base/v1/workers/$id/fetch/produce/$mib" size "${auth[@]}"
stream_timed "stockade echo" "$base/v1/workers/$id/fetch/echo" size "${auth[@]}" "${echo_args[@]}"
stop_daemon

port=$((20000 + RANDOM % 20000))
(cd benches/load/peers && exec "$workerd" serve body-stream.capnp --socket-addr "http=127.0.0.1:$port") 2>/tmp/peers-workerd.log &
server=$!
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/produce/1" && break; sleep 0.1; done
stream_timed "workerd produce" "http://127.0.0.1:$port/produce/$mib" size
stream_timed "workerd echo" "http://127.0.0.1:$port/echo" size "${echo_args[@]}"
peer_stop

echo "${mib} MiB bodies between a client and a Worker, one request at a time, median of ${rounds} rounds"
cat "$results"
stream_ratios produce echo
