#!/usr/bin/env bash
# What one request's host calls make the supervisor hold: tenant code starts CALLS `fetch()`es
# of one 15 MiB buffer, together, to an upstream on 127.0.0.1 that accepts and never reads, and
# waits; the supervisor's RSS is sampled every 0.5 s for 15 s (README, "What host calls hold in
# the supervisor"; the e2e proof is daemon/tests/e2e_host_call_memory.rs).
#
#   [BIN=path/to/stockade] bash benches/load/host_call_flood.sh [CALLS]     (default 40, at most 50)
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-target/release/stockade}
CALLS=${1:-40}
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
python3 -c '
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1024)
print(s.getsockname()[1], flush=True)
held = []
while True:
    held.append(s.accept()[0])  # never read, never answered
' > "$dir/port" &
for _ in $(seq 50); do [[ -s $dir/port ]] && break; sleep 0.1; done
port=$(cat "$dir/port")
token=flood-token-0123456789abcdef
cat > "$dir/config.toml" <<CONFIG
listen = "127.0.0.1:0"
workers = 1
operator_token = "$token"
data_dir = "$dir/data"
[egress]
allow_private = ["127.0.0.0/8"]
[limits]
cpu_ms = 5000
wall_ms = 15000
[[tenants]]
id = "flood"
token = "$token-t"
[[tenants.egress]]
host = "127.0.0.1"
ports = [$port]
CONFIG
"$BIN" serve --config "$dir/config.toml" --address-file "$dir/address" 2>"$dir/daemon.log" &
daemon=$!
for _ in $(seq 100); do [[ -s $dir/address ]] && break; sleep 0.1; done
base=$(head -1 "$dir/address")
sleep 2
rss() { awk '/VmRSS/{print int($2 / 1024)}' "/proc/$daemon/status"; }
before=$(rss)
code="export default async () => { const body = new Uint8Array(15 << 20); const calls = []; for (let i = 0; i < $CALLS; i++) calls.push(fetch('http://127.0.0.1:$port/', { method: 'POST', body }).then(() => 'answered', (e) => e.message)); return (await Promise.all(calls)).slice(0, 1); }"
body=$(python3 -c 'import json, sys; print(json.dumps({"code": sys.argv[1]}))' "$code")
curl -s -m 30 -H "Authorization: Bearer $token-t" -X POST "$base/v1/run" -d "$body" -o "$dir/out" &
peak=$before
for _ in $(seq 30); do sleep 0.5; now=$(rss); (( now > peak )) && peak=$now; done
echo "supervisor RSS: $before MiB before, $peak MiB at most while one request held $CALLS fetch() calls of 15 MiB"
