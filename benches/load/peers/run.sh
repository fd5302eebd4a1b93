#!/usr/bin/env bash
# Load figures for Stockade's peer sandboxes, to set beside benches/load/run.sh's.
#
#   bash benches/load/peers/run.sh [seconds-per-run]      (default 10)
#
# Peers (see README.md beside this file):
#   workerd static          - hello.capnp, one long-lived isolate answering 'hello'
#   workerd loader fixed    - loader.capnp GET /fixed: Worker Loader, one cached dynamic Worker
#   workerd loader fresh    - loader.capnp GET /fresh: Worker Loader, a fresh id (new isolate)
#                             per request
#   workerd loader anon     - loader.capnp GET /anon: LOADER.load(), unnamed dynamic Worker per
#                             request
#   isolated-vm fresh       - ivm-server.js POST with Stockade's /v1/run body: a fresh
#                             isolated-vm Isolate per request
# For each peer and each concurrency (1 and 8) it starts the server afresh on a random loopback
# port, checks its answer, warms it up (200 requests), runs hey for the given seconds and
# prints requests/s, p50, p99, the count of non-2xx answers or errors, and the server's RSS
# after the run. Every run is bounded (hey -z, under `timeout`); the server is killed on exit.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
secs="${1:-10}"
[[ "$secs" =~ ^[1-9][0-9]*$ ]] || { echo "seconds must be a positive integer" >&2; exit 2; }

source "$here/lib.sh"
peers_install

run_body='{"code":"export default (a) => ({ hello: a.name })","arg":{"name":"bench"}}'
out="$(mktemp)"
trap 'peer_stop; rm -f "$out"' EXIT
trap 'exit 130' INT TERM

# bench NAME KIND PATH METHOD EXPECT CONCURRENCY
bench() {
  local name=$1 kind=$2 path=$3 method=$4 expect=$5 c=$6
  local port=$((20000 + RANDOM % 20000))
  peer_start "$kind" "$port"
  local url="http://127.0.0.1:$port$path" args=() got=""
  [[ $method == POST ]] && args=(-m POST -T application/json -d "$run_body")
  for _ in $(seq 100); do
    if [[ $method == POST ]]; then
      got=$(curl -sf -X POST -H 'content-type: application/json' -d "$run_body" "$url" 2>/dev/null) && break
    else
      got=$(curl -sf "$url" 2>/dev/null) && break
    fi
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
  done
  if [[ "$got" != "$expect" ]]; then
    echo "$name: server answered '${got}' instead of '$expect' (see /tmp/peers-*.log)" >&2
    peer_stop
    return 1
  fi
  timeout 60 hey -n 200 -c 8 "${args[@]}" "$url" >/dev/null
  timeout $((secs + 30)) hey -z "${secs}s" -c "$c" "${args[@]}" "$url" > "$out"
  local rss
  rss=$(awk '/^VmRSS:/ {print int($2 / 1024)}' "/proc/$server/status" 2>/dev/null || echo "?")
  peer_stop
  python3 - "$name, c$c" "$out" "$rss" <<'PY'
import re, sys
name, path, rss = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(path).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
m50, m99 = re.search(r"50% in ([\d.]+) secs", text), re.search(r"99% in ([\d.]+) secs", text)
p50 = float(m50.group(1)) if m50 else float("nan")
p99 = float(m99.group(1)) if m99 else float("nan")
bad = sum(int(n) for code, n in re.findall(r"\[(\d+)\]\s+(\d+) responses", text) if not code.startswith("2"))
if "Error distribution:" in text:
    bad += sum(int(n) for n in re.findall(r"\[(\d+)\]", text.split("Error distribution:")[1]))
print(f"{name:<28} {rps:10.0f} req/s   p50 {p50*1000:7.2f} ms   p99 {p99*1000:7.2f} ms"
      f"   non-2xx or errors: {bad}   server RSS after: {rss} MiB")
PY
}

echo "peer load figures: ${secs}s per run, $(nproc) cores, $("$workerd" --version)," \
  "node $(env -u NODE_EXTRA_CA_CERTS node --version)," \
  "isolated-vm $(env -u NODE_EXTRA_CA_CERTS node -p "require('./node_modules/isolated-vm/package.json').version")"
status=0
for c in 1 8; do bench "workerd static" static / GET hello "$c" || status=1; done
for c in 1 8; do bench "workerd loader fixed" loader /fixed GET hello "$c" || status=1; done
for c in 1 8; do bench "workerd loader fresh" loader /fresh GET hello "$c" || status=1; done
for c in 1 8; do bench "workerd loader anon" loader /anon GET hello "$c" || status=1; done
for c in 1 8; do bench "isolated-vm fresh" ivm / POST '{"hello":"bench"}' "$c" || status=1; done
exit "$status"
