# workerd config for benches/load/rpc_stream.sh: a caller Worker with a service binding to a
# callee WorkerEntrypoint, streams crossing between them over RPC.
#   node_modules/.bin/workerd serve rpc-stream.capnp --socket-addr http=127.0.0.1:PORT
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "caller", worker = .caller), (name = "callee", worker = .callee) ],
  sockets = [ (name = "http", address = "127.0.0.1:8787", http = (), service = "caller") ],
);

const caller :Workerd.Worker = (
  modules = [ (name = "caller.js", esModule = embed "rpc-stream-caller.js") ],
  bindings = [ (name = "S", service = "callee") ],
  compatibilityDate = "2025-01-01",
);

const callee :Workerd.Worker = (
  modules = [ (name = "callee.js", esModule = embed "rpc-stream-callee.js") ],
  compatibilityDate = "2025-01-01",
);
