#!/usr/bin/env bash
# Load figures for `stockade serve` with a real load tool (hey: its latency percentiles are
# exact, wrk's p99 is not on this kind of machine) on loopback.
#
#   [TENANTS=n] [MIN_PROCESSES=m] bash benches/load/run.sh [seconds-per-run]
#
# Builds the release binary (in $CARGO_TARGET_DIR if set), starts a daemon on 127.0.0.1 with
# jailed workers (one warm spare per core) and TENANTS tenants (default 1), then measures, at
# concurrency 1 and 8:
#   fetch  - a hello-world fetch handler on a reused isolate (Loader API, cached worker; one
#            worker per tenant);
#   run    - POST /v1/run, a fresh isolate for every request (Code Mode);
# printing requests/s, p50 and p99 for each, and the workers' RSS before and after the
# sustained fresh-isolate load. With several tenants, one hey per tenant runs at once (the
# concurrency split between them; requests/s summed, the worst p50/p99 shown), so the daemon's
# placement of tenants over processes is what is measured. MIN_PROCESSES sets
# `[cordon] standard_min_processes` (default: the daemon's, one per core; 1 stacks every tenant
# in one process, the placement before spreading). Bounded: every run lasts the given seconds
# (default 10).
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-10}"
command -v hey >/dev/null || { apt-get update -qq && apt-get install -y -qq hey; }
cargo build --release -q -p stockade
bin="${CARGO_TARGET_DIR:-target}/release/stockade"
tenants="${TENANTS:-1}"
[[ "$tenants" =~ ^[1-9][0-9]*$ ]] || { echo "TENANTS must be a positive integer" >&2; exit 2; }
port=$((20000 + RANDOM % 20000))
token="load-bench-token-0123456789"
workers="$(nproc)"
cfg="$(mktemp)"
# The first tenant is also the operator (its token polls /v1/admin/workers below).
printf 'listen = "127.0.0.1:%s"\nworkers = %s\n[limits]\ncpu_ms = 1000\n' \
  "$port" "$workers" > "$cfg"
if [[ -n "${MIN_PROCESSES:-}" ]]; then
  [[ "$MIN_PROCESSES" =~ ^[1-9][0-9]*$ ]] || { echo "MIN_PROCESSES must be a positive integer" >&2; exit 2; }
  printf '[cordon]\nstandard_min_processes = %s\n' "$MIN_PROCESSES" >> "$cfg"
fi
# The bench measures the daemon, not the default per-tenant quotas (1000 requests/s).
printf '[quotas]\nrequests_per_second = 0\nmax_concurrent_requests = 0\n' >> "$cfg"
tokens=()
for i in $(seq 0 $((tenants - 1))); do
  if ((i == 0)); then t="$token"; else t="$token-$i"; fi
  tokens+=("$t")
  if ((i == 0)); then name=bench; else name="bench-$i"; fi
  printf '[[tenants]]\nid = "%s"\ntoken = "%s"\n' "$name" "$t" >> "$cfg"
  if ((i == 0)); then printf 'operator = true\n' >> "$cfg"; fi
done
"$bin" serve --config "$cfg" 2>/tmp/stockade-load.log &
daemon=$!
out_dir="$(mktemp -d)"
trap 'kill $daemon 2>/dev/null; wait $daemon 2>/dev/null; rm -rf "$cfg" "$out_dir"' EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -sf -o /dev/null -H "Authorization: Bearer $token" "$base/v1/admin/workers" && break; sleep 0.1; done
sleep 1
paths=()
for t in "${tokens[@]}"; do
  id=$(curl -sf -H "Authorization: Bearer $t" -X POST "$base/v1/workers" \
    -d '{"mainModule":"main.js","modules":{"main.js":"export default { fetch() { return new Response(\"hello\"); } };"}}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  curl -sf -o /dev/null -H "Authorization: Bearer $t" "$base/v1/workers/$id/fetch/"
  paths+=("/v1/workers/$id/fetch/")
done
run_body='{"code":"export default (a) => ({ hello: a.name })","arg":{"name":"bench"}}'
rss() { curl -sf -H "Authorization: Bearer $token" "$base/v1/admin/workers" | python3 -c 'import json,sys; print(sum(w["rssBytes"] for w in json.load(sys.stdin)["workers"]) // 1048576)'; }
# load NAME KIND CONCURRENCY: one hey per tenant at once, KIND fetch or run.
load() {
  local name=$1 kind=$2 c=$3 i=0 pids=()
  local per=$(( c / tenants )); ((per < 1)) && per=1
  for t in "${tokens[@]}"; do
    if [[ $kind == fetch ]]; then
      hey -z "${secs}s" -c "$per" -H "Authorization: Bearer $t" "$base${paths[$i]}" > "$out_dir/$i" &
    else
      hey -z "${secs}s" -c "$per" -m POST -T application/json -d "$run_body" \
        -H "Authorization: Bearer $t" "$base/v1/run" > "$out_dir/$i" &
    fi
    pids+=($!); i=$((i + 1))
  done
  wait "${pids[@]}"
  python3 - "$name" "$out_dir" "$tenants" <<'PY'
import re, sys
name, folder, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rps, p50, p99, bad = 0.0, 0.0, 0.0, 0
for i in range(n):
    text = open(f"{folder}/{i}").read()
    rps += float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    p50 = max(p50, float(re.search(r"50% in ([\d.]+) secs", text).group(1)))
    p99 = max(p99, float(re.search(r"99% in ([\d.]+) secs", text).group(1)))
    for code, count in re.findall(r"\[(\d+)\]\s+(\d+) responses", text):
        if not code.startswith("2"):
            bad += int(count)
    if "Error distribution:" in text:
        bad += sum(int(c) for c in re.findall(r"\[(\d+)\]", text.split("Error distribution:")[1]))
print(f"{name:<28} {rps:10.0f} req/s   p50 {p50*1000:7.2f} ms   p99 {p99*1000:7.2f} ms   non-2xx or errors: {bad}")
PY
}
echo "stockade load figures: $tenants tenant(s), $workers warm spare processes, standard_min_processes ${MIN_PROCESSES:-default}, ${secs}s per run, $(nproc) cores"
for c in 1 8; do load "fetch, reused isolate, c$c" fetch "$c"; done
before=$(rss)
for c in 1 8; do load "run, fresh isolate, c$c" run "$c"; done
after=$(rss)
processes=$(curl -sf -H "Authorization: Bearer $token" "$base/v1/admin/workers" \
  | python3 -c 'import json,sys; w=json.load(sys.stdin)["workers"]; print(len(w), "processes,", sum(1 for x in w if x.get("tier")), "bound to a tier")')
echo "worker RSS (sum over $processes): ${before} MiB before fresh-isolate load, ${after} MiB after"
