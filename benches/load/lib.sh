# Shared start-up of the single-daemon load scripts (rss.sh, slow_connections.sh, cost.sh, ab.sh):
# sourced from the repository root, under `set -euo pipefail`; defines functions only.
#
#   stockade_binary
#       Installs hey if missing; sets BIN to this checkout's release build (built first) unless
#       BIN already names a build.
#   start_daemon NAME WORKERS [EXTRA_TOML]
#       Writes a config to a temporary file: a random loopback port, WORKERS worker processes,
#       EXTRA_TOML (tables such as `[limits]`), no per-tenant quotas (the scripts measure the
#       daemon, not the default quotas) and one tenant `bench` whose token is also the operator
#       token. Starts `$BIN serve` with its log in /tmp/stockade-NAME.log and waits (at most
#       10 s) for the admin API, then a second. Sets port, token, cfg, base (the daemon's URL)
#       and daemon (its pid). On exit, the processes in bench_children (background jobs the
#       script adds) and the daemon are stopped and the config removed.
#   descendants PID
#       PID and every process below it, one per line.
#   ticks PID...
#       User + system clock ticks (10 ms) these processes (all their threads) have used so far.

stockade_binary() {
  command -v hey >/dev/null || { apt-get update -qq && apt-get install -y -qq hey; }
  if [[ -z "${BIN:-}" ]]; then
    cargo build --release -q -p stockade
    BIN="${CARGO_TARGET_DIR:-target}/release/stockade"
  fi
}

bench_children=()

stop_daemon() {
  local pid
  for pid in ${bench_children[@]+"${bench_children[@]}"}; do kill "$pid" 2>/dev/null || true; done
  kill "$daemon" 2>/dev/null || true
  wait "$daemon" 2>/dev/null || true
  rm -f "$cfg"
}

start_daemon() {
  local name="$1" workers="$2" extra="${3:-}"
  port=$((20000 + RANDOM % 20000))
  token="${name}-bench-token-0123456789"
  cfg="$(mktemp)"
  # The bench tenant is also the operator (its token polls /v1/admin/workers below).
  printf 'listen = "127.0.0.1:%s"\nworkers = %s\n%s' \
    "$port" "$workers" "$extra" > "$cfg"
  printf '[quotas]\nrequests_per_second = 0\nmax_concurrent_requests = 0\n' >> "$cfg"
  printf '[[tenants]]\nid = "bench"\ntoken = "%s"\noperator = true\n' "$token" >> "$cfg"
  "$BIN" serve --config "$cfg" 2>"/tmp/stockade-$name.log" &
  daemon=$!
  trap stop_daemon EXIT
  base="http://127.0.0.1:$port"
  local _
  for _ in $(seq 100); do
    curl -sf -o /dev/null -H "Authorization: Bearer $token" "$base/v1/admin/workers" && break
    sleep 0.1
  done
  sleep 1
}

descendants() {
  local pid=$1 child
  echo "$pid"
  for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do descendants "$child"; done
}

ticks() {
  local sum=0 pid
  for pid in "$@"; do
    if [[ -r /proc/$pid/stat ]]; then
      sum=$((sum + $(sed 's/.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}')))
    fi
  done
  echo "$sum"
}
