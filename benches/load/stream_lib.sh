# What rpc_stream.sh and body_stream.sh share: one-request-at-a-time timing of a streamed body
# and the ratios to workerd. Sourced from the repository root under `set -euo pipefail`; defines
# functions only; they read `rounds`, `mib` and `results` (a file) from the script.
#
#   stream_timed NAME URL CHECK [curl args...]
#       One warm-up request whose answer must say MIB MiB (CHECK `text`: its body is the byte
#       count; CHECK `size`: it is MIB MiB long), then `rounds` requests timed by curl from start
#       to last byte; appends NAME's median (and the rate it gives, min, max) to `results`.
#   stream_ratios WHAT...
#       Prints, for each WHAT, Stockade's median time over workerd's from `results`.

stream_timed() {
  local name=$1 url=$2 check=$3
  shift 3
  local expect=$((mib << 20)) got i
  if [[ "$check" == text ]]; then
    got=$(curl -sf "$@" "$url")
  else
    got=$(curl -sf -o /dev/null -w '%{size_download}' "$@" "$url")
  fi
  [[ "$got" == "$expect" ]] || { echo "$name: answered '$got', not $expect bytes" >&2; return 1; }
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

stream_ratios() {
  python3 - "$results" "$@" <<'PY'
import re, sys
ms = {}
for line in open(sys.argv[1]):
    m = re.match(r"(\w+) (\w+)\s+median\s+(\d+) ms", line)
    if m:
        ms[(m.group(1), m.group(2))] = int(m.group(3))
for what in sys.argv[2:]:
    if ("stockade", what) in ms and ("workerd", what) in ms:
        print(f"{what}: Stockade takes {ms[('stockade', what)] / ms[('workerd', what)]:.2f}x workerd's time")
PY
}
