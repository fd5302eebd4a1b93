# workerd config (b): a front Worker that loads a dynamic hello Worker through the Worker
# Loader binding and forwards each request to it (see loader-front.js for the paths).
# Worker Loader bindings are experimental:
#   node_modules/.bin/workerd serve --experimental loader.capnp --socket-addr http=127.0.0.1:PORT
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "front", worker = .frontWorker) ],
  sockets = [ (name = "http", address = "127.0.0.1:8788", http = (), service = "front") ],
);

const frontWorker :Workerd.Worker = (
  modules = [ (name = "loader-front.js", esModule = embed "loader-front.js") ],
  compatibilityDate = "2025-01-01",
  bindings = [ (name = "LOADER", workerLoader = ()) ],
);
