#!/usr/bin/env bash
# Where a request's CPU goes: Stockade and its peers under the same c8 loads, in one run (issue 9).
#
#   [BIN=path/to/stockade] bash benches/load/cost.sh [seconds-per-run]     (default 10)
#
# For each load it runs `hey -z <seconds>s -c 8` and divides by the requests served: the CPU of
# the server's processes (Stockade: the supervisor, and its worker processes together), hey's own
# CPU (`/usr/bin/time`), and the time the machine's CPUs sat idle (/proc/stat). Loads:
#   stockade reused      - GET of a cached Loader worker answering 'hello' (as run.sh's fetch)
#   workerd static       - the peers' hello.capnp (as peers/run.sh)
#   stockade fresh       - POST /v1/run, a fresh isolate per request (as run.sh's run)
#   isolated-vm fresh    - the peers' ivm-server.js, a fresh isolated-vm Isolate per request
#   workerd loader fresh - the peers' loader.capnp /fresh, a fresh dynamic Worker per request
# Then V8 13.6 alone (benches/v8-repro/run.sh --floor: isolate + context + a hello script +
# dispose, nothing of Stockade, one thread), and what issue 9's ratio goals leave per request:
# at 2.5x isolated-vm's fresh rate, the machine's CPUs give each request cores/rate; less hey's
# part (the smaller of its two fresh-load figures), that is what a server may spend on a fresh
# isolate's whole request. CPU times are in
# clock ticks (10 ms): runs of a few seconds give about 1 % of resolution.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-10}"
[[ "$secs" =~ ^[1-9][0-9]*$ ]] || { echo "seconds must be a positive integer" >&2; exit 2; }
source benches/load/lib.sh
source benches/load/peers/lib.sh
stockade_binary
peers_install
start_daemon cost "$(nproc)" $'[limits]\ncpu_ms = 1000\n'
cores=$(nproc)
run_body='{"code":"export default (a) => ({ hello: a.name })","arg":{"name":"bench"}}'
id=$(curl -sf -H "Authorization: Bearer $token" -X POST "$base/v1/workers" \
  -d '{"mainModule":"main.js","modules":{"main.js":"export default { fetch() { return new Response(\"hello\"); } };"}}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

idle_ticks() { awk '/^cpu /{print $5 + $6}' /proc/stat; }

# measure NAME URL GET|POST GROUP=PIDS...: one timed run; a group's CPU is that of its listed
# processes (space-separated) and everything below them, or, for GROUP=@PID, of PID alone; read
# before and after the run.
results="$(mktemp)"
trap 'peer_stop; stop_daemon; rm -f "$results"' EXIT
measure() {
  local name=$1 url=$2 method=$3; shift 3
  local args=(-H "Authorization: Bearer $token")
  [[ $method == POST ]] && args+=(-m POST -T application/json -d "$run_body")
  timeout 60 hey -n 300 -c 8 "${args[@]}" "$url" >/dev/null
  local groups=() pids=() before=() g
  for g in "$@"; do
    groups+=("${g%%=*}")
    local all="" p
    if [[ ${g#*=} == @* ]]; then
      all=${g#*=@}
    else
      for p in ${g#*=}; do all="$all $(descendants "$p" | tr '\n' ' ')"; done
    fi
    pids+=("$all")
    # shellcheck disable=SC2086
    before+=("$(ticks $all)")
  done
  local idle0 out timing
  idle0=$(idle_ticks)
  out=$(mktemp); timing=$(mktemp)
  /usr/bin/time -f '%U %S' -o "$timing" timeout $((secs + 30)) hey -z "${secs}s" -c 8 "${args[@]}" "$url" > "$out"
  local idle1 split="" i
  idle1=$(idle_ticks)
  for i in "${!groups[@]}"; do
    # shellcheck disable=SC2086
    split="$split ${groups[$i]}=$(( $(ticks ${pids[$i]}) - ${before[$i]} ))"
  done
  python3 - "$name" "$out" "$timing" "$((idle1 - idle0))" "$cores" "$secs" $split >> "$results" <<'PY'
import os, re, sys
name, out, timing, idle, cores, secs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
tick = 1e6 / os.sysconf("SC_CLK_TCK")  # microseconds
text = open(out).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
n = rps * secs
bad = sum(int(k) for c, k in re.findall(r"\[(\d+)\]\s+(\d+) responses", text) if not c.startswith("2"))
user, system = (float(x) for x in open(timing).read().split()[-2:])
groups = [(g.split("=")[0], int(g.split("=")[1]) * tick / n) for g in sys.argv[7:]]
server = sum(us for _, us in groups)
parts = " + ".join(f"{g} {us:,.1f}" for g, us in groups) if len(groups) > 1 else ""
print(f"{name:<22} {rps:9,.0f} req/s   server {server:9,.1f} us/req{' (' + parts + ')' if parts else ''}"
      f"   hey {(user + system) * 1e6 / n:7,.1f}   idle {idle * tick / n:7,.1f}   non-2xx: {bad}")
PY
  rm -f "$out" "$timing"
}

measure "stockade reused c8" "$base/v1/workers/$id/fetch/" GET supervisor="@$daemon" \
  workers="$(ps -o pid= --ppid "$daemon" | tr '\n' ' ')"
measure "stockade fresh c8" "$base/v1/run" POST supervisor="@$daemon" \
  workers="$(ps -o pid= --ppid "$daemon" | tr '\n' ' ')"
stop_daemon
trap 'peer_stop; rm -f "$results"' EXIT
for peer in "workerd static c8|static|/|GET" "isolated-vm fresh c8|ivm|/|POST" \
  "workerd loader fresh c8|loader|/fresh|GET"; do
  IFS='|' read -r name kind path method <<<"$peer"
  port=$((20000 + RANDOM % 20000))
  peer_start "$kind" "$port"
  check=(-X GET)
  [[ $method == POST ]] && check=(-X POST -d "$run_body")
  for _ in $(seq 100); do
    curl -sf -o /dev/null "${check[@]}" "http://127.0.0.1:$port$path" && break
    sleep 0.1
  done
  measure "$name" "http://127.0.0.1:$port$path" "$method" server="$server"
  peer_stop
done
floor=$(bash benches/v8-repro/run.sh --floor 2>&1 | sed -n 's/.*cold .* median \([0-9]*\) us.*/\1/p')

echo "cost per request, ${secs}s per run, c8, ${cores} cores (server, hey and idle in us of CPU per request)"
cat "$results"
python3 - "$results" "$cores" "$floor" <<'PY'
import re, sys
rows = {}
for line in open(sys.argv[1]):
    m = re.match(r"(.+?c8)\s+([\d,]+) req/s\s+server\s+([\d,.]+).*?hey\s+([\d,.]+)", line)
    if m:
        rows[m.group(1)] = (float(m.group(2).replace(",", "")), float(m.group(3).replace(",", "")), float(m.group(4).replace(",", "")))
cores, floor = int(sys.argv[2]), sys.argv[3]
print(f"V8 13.6 alone, one thread (isolate + context + hello + dispose): median {floor or '?'} us")
if "isolated-vm fresh c8" in rows and "stockade fresh c8" in rows:
    goal = 2.5 * rows["isolated-vm fresh c8"][0]
    per = cores * 1e6 / goal
    # The smaller of hey's two costs on the fresh loads: the budget most generous to the goal.
    hey = min(rows["stockade fresh c8"][2], rows["isolated-vm fresh c8"][2])
    print(f"2.5x isolated-vm fresh = {goal:,.0f} req/s: {per:,.0f} us of CPU per request on {cores} cores,"
          f" {per - hey:,.0f} us once hey has its {hey:,.0f}; Stockade's server spends {rows['stockade fresh c8'][1]:,.0f}")
if "workerd static c8" in rows and "stockade reused c8" in rows:
    s, w = rows["stockade reused c8"], rows["workerd static c8"]
    print(f"reused: Stockade {s[0] / w[0]:.2f}x workerd static's rate, server CPU {s[1]:,.1f} vs {w[1]:,.1f} us per request")
PY
