# The peers' installation and start-up, shared by run.sh here and ../cost.sh: sourced under
# `set -euo pipefail` with the working directory anywhere; defines variables and functions only.
#
#   peers_install
#       Installs hey and curl if missing, and workerd and isolated-vm into node_modules/ here.
#   peer_start KIND PORT
#       Starts one peer server on 127.0.0.1:PORT in the background (KIND: static, loader or
#       ivm; see README.md), its pid in $server, its log in /tmp/peers-*.log.
#   peer_stop
#       Stops the server peer_start started, if any (idempotent).

peers_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
workerd="$peers_dir/node_modules/.bin/workerd"
# NODE_EXTRA_CA_CERTS adds ~85 ms to every node start and plays no part in serving loopback.
node_cmd=(env -u NODE_EXTRA_CA_CERTS node --no-node-snapshot)
server=""

peers_install() {
  command -v hey >/dev/null || { apt-get update -qq && apt-get install -y -qq hey; }
  command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl; }
  if [[ ! -x "$workerd" || ! -f "$peers_dir/node_modules/isolated-vm/out/isolated_vm.node" ]]; then
    # isolated-vm has no prebuilt binary reachable here: it builds against the local Node headers
    # (/usr/include/node), hence nodedir=/usr. The registry client keeps NODE_EXTRA_CA_CERTS.
    npm_config_nodedir=/usr npm install --prefix "$peers_dir" --no-audit --no-fund >/dev/null
  fi
}

peer_start() {
  local kind=$1 port=$2
  case "$kind" in
    static) (cd "$peers_dir" && exec "$workerd" serve hello.capnp --socket-addr "http=127.0.0.1:$port") 2>/tmp/peers-workerd.log & ;;
    loader) (cd "$peers_dir" && exec "$workerd" serve --experimental loader.capnp --socket-addr "http=127.0.0.1:$port") 2>/tmp/peers-workerd.log & ;;
    ivm) (cd "$peers_dir" && PORT="$port" exec "${node_cmd[@]}" ivm-server.js) 2>/tmp/peers-ivm.log & ;;
    *) echo "peer_start: unknown kind $kind" >&2; return 2 ;;
  esac
  server=$!
}

peer_stop() {
  if [[ -n "$server" ]]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=""
  fi
}
