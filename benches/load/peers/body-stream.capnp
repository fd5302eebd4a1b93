# workerd config for benches/load/body_stream.sh: one Worker streaming bodies to and from the
# client.
#   node_modules/.bin/workerd serve body-stream.capnp --socket-addr http=127.0.0.1:PORT
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "main", worker = .bodyWorker) ],
  sockets = [ (name = "http", address = "127.0.0.1:8787", http = (), service = "main") ],
);

const bodyWorker :Workerd.Worker = (
  modules = [ (name = "body-stream.js", esModule = embed "body-stream.js") ],
  compatibilityDate = "2025-01-01",
);
