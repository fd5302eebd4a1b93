#!/usr/bin/env bash
# Builds and runs dispatch_growth.cc against the V8 13.6 runtime root Stockade builds with
# ($STOCKADE_V8_ROOT, else the build's cache folder; see v8root/src/lib.rs), on the root's loader.
#   bash benches/v8-repro/run.sh [N] [--hold] [--no-context]
# With --floor first, builds and runs bare_floor.cc instead (V8 alone: cold cycle and idle
# isolate, the floor under issue 8's goals):
#   bash benches/v8-repro/run.sh --floor [N] [M]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="${STOCKADE_V8_ROOT:-${STOCKADE_V8_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/stockade/v8-13.6}}"
lib="$root/usr/lib/x86_64-linux-gnu"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
source=dispatch_growth
if [[ "${1:-}" == --floor ]]; then
  source=bare_floor
  shift
fi
g++ -O2 -std=c++20 -fno-rtti -isystem "$root/usr/include/node" "$here/$source.cc" \
  -o "$out/$source" -L"$lib" -lnode -Wl,--allow-shlib-undefined -Wl,-rpath-link,"$lib" \
  -Wl,--disable-new-dtags,-rpath,"$lib" -Wl,--dynamic-linker="$lib/ld-linux-x86-64.so.2"
"$out/$source" "$@"
