#!/usr/bin/env bash
# Binding-call latency on a busy host: `binding-latency` (bare host call, RPC round trip) while
# the machine does other work, to see what the spinning around host calls costs there
# (`daemon/src/supervisor/link/lookout.rs`, `worker/src/pace.rs`, `ipc/src/pace.rs`).
#
#   bash benches/load/binding-under-load.sh hogs [stockade-binary] [rounds]
#       six CPU-bound shell loops beside it (a host oversubscribed by other processes)
#   bash benches/load/binding-under-load.sh busy [stockade-binary] [rounds]
#       a second daemon serving fresh isolates (POST /v1/run) at c4 with hey beside it; prints
#       that load's requests/s too (what the spinning takes from a busy neighbour)
#
# Run it alternately with another build's binary: on this kind of host only same-run ratios mean
# anything. Bounded: the hogs and the load stop with the script.
set -euo pipefail
cd "$(dirname "$0")/../.."
mode="${1:?hogs or busy}"
bin="${2:-target/release/stockade}"
rounds="${3:-20}"
cargo build --release -q -p stockade -p stockade-benches
command -v hey >/dev/null || { apt-get update -qq && apt-get install -y -qq hey; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
case "$mode" in
  hogs)
    for _ in 1 2 3 4 5 6; do (while :; do :; done) & pids+=($!); done
    sleep 2 ;;
  busy)
    port=$((20000 + RANDOM % 20000)); token="busy-bench-token-0123456789"
    cfg="$(mktemp)"
    printf 'listen = "127.0.0.1:%s"\nworkers = 2\n[quotas]\nrequests_per_second = 0\nmax_concurrent_requests = 0\n[[tenants]]\nid = "busy"\ntoken = "%s"\noperator = true\n' \
      "$port" "$token" > "$cfg"
    "$bin" serve --config "$cfg" 2>/dev/null & pids+=($!)
    for _ in $(seq 100); do curl -sf -o /dev/null -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1/admin/workers" && break; sleep 0.1; done
    out="$(mktemp)"
    hey -z 120s -c 4 -m POST -T application/json \
      -d '{"code":"export default (a) => ({ hello: a.name })","arg":{"name":"x"}}' \
      -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1/run" > "$out" &
    hey_pid=$!
    sleep 2 ;;
  *) echo "mode: hogs or busy" >&2; exit 2 ;;
esac
"${CARGO_TARGET_DIR:-target}/release/binding-latency" "$bin" "$rounds" | grep -E "bare|round trip"
if [[ "$mode" == busy ]]; then
  kill -INT "$hey_pid"; wait "$hey_pid" || true
  grep "Requests/sec" "$out" | sed 's/^ */  the neighbouring load: /'
  rm -f "$cfg" "$out"
fi
