#!/usr/bin/env bash
# Slow unauthenticated connections against a legitimate tenant's latency, with hey on loopback.
#
#   [SLOW=1000] [CONCURRENCY=4] [BIN=path/to/stockade] bash benches/load/slow_connections.sh [seconds]
#
# Starts a daemon (the release build unless BIN names another) with one tenant and a
# hello-world Loader worker, measures the tenant's fetch latency with hey for the given seconds
# (default 10) at CONCURRENCY (default 4), then opens SLOW (default 1000) connections that each
# send half a request head and wait, reopening any the daemon closes (its header-read timeout)
# so that SLOW stay open or pending the whole time, and measures again. Prints both runs and the
# ratio of the p99s; exits 1 when the p99 under slow connections is more than twice the
# baseline's (the bar of issue 14). Bounded: two runs of the given seconds plus setup.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-10}"
slow="${SLOW:-1000}"
c="${CONCURRENCY:-4}"
source benches/load/lib.sh
stockade_binary
start_daemon slow 2
id=$(curl -sf -H "Authorization: Bearer $token" -X POST "$base/v1/workers" \
  -d '{"mainModule":"main.js","modules":{"main.js":"export default { fetch() { return new Response(\"hello\"); } };"}}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
url="$base/v1/workers/$id/fetch/"
curl -sf -o /dev/null -H "Authorization: Bearer $token" "$url"
measure() {
  hey -z "${secs}s" -c "$c" -H "Authorization: Bearer $token" "$url" | python3 -c '
import re, sys
text = sys.stdin.read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p50 = float(re.search(r"50% in ([\d.]+) secs", text).group(1))
p99 = float(re.search(r"99% in ([\d.]+) secs", text).group(1))
bad = sum(int(n) for code, n in re.findall(r"\[(\d+)\]\s+(\d+) responses", text) if not code.startswith("2"))
print(f"{rps:.0f} {p50*1000:.2f} {p99*1000:.2f} {bad}")'
}
read -r rps0 p50_0 p99_0 bad0 < <(measure)
echo "baseline:               ${rps0} req/s   p50 ${p50_0} ms   p99 ${p99_0} ms   non-2xx: ${bad0}"
python3 - "$port" "$slow" <<'PY' &
import asyncio, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
async def one():
    while True:
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(b"POST /v1/run HTTP/1.1\r\nHost: x\r\nContent-Le")
            await w.drain()
            await r.read()  # until the daemon closes it
            w.close()
        except OSError:
            await asyncio.sleep(0.05)
async def main():
    await asyncio.gather(*(one() for _ in range(n)))
asyncio.run(main())
PY
bench_children+=($!)
# Wait until the daemon holds them (its own gauge), at most 20 s.
for _ in $(seq 200); do
  open=$(curl -sf -H "Authorization: Bearer $token" "$base/metrics" | awk '/^stockade_http_connections /{print $2}')
  [[ "${open%.*}" -ge "$slow" ]] && break
  sleep 0.1
done
echo "slow connections open:  ${open}"
read -r rps1 p50_1 p99_1 bad1 < <(measure)
echo "with ${slow} slow:       ${rps1} req/s   p50 ${p50_1} ms   p99 ${p99_1} ms   non-2xx: ${bad1}"
timed_out=$(curl -sf -H "Authorization: Bearer $token" "$base/metrics" | awk '/^stockade_http_connections_timed_out_total /{print $2}')
echo "connections the daemon closed for a late head or idleness: ${timed_out}"
python3 -c "
import sys
r = $p99_1 / $p99_0
print(f'p99 ratio: {r:.2f} (bar: 2.00)')
sys.exit(0 if r <= 2.0 and $bad1 == 0 else 1)"
