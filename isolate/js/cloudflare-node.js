// ---- cloudflare-node.js: the node:http and node:https modules, and cloudflare:node. -----------
// node:http: the client (node-http-client.js), the server side (node-http-server.js) and what
// they share (node-http-common.js); node:https: the same with https: and port 443 (its
// createServer is node:http's, as workerd: TLS ends before the worker). cloudflare:node, as
// workerd's src/cloudflare/node.ts: `httpServerHandler(port | { port } | server)` returns a
// Workers handler object whose `fetch(request)` serves the request with the server listening on
// that port in this isolate (or the server given), and `handleAsNodeRequest(port, request)`
// serves one request that way. A port no server listens on is a clear error, at the request.
// Trusts: the three node-http parts.

/** Which server `target` names at request time: a Server (has `address`), else a port. */
function httpServerTarget(target) {
  if (target !== null && (typeof target === "object" || typeof target === "function") && typeof target.address === "function" &&
      typeof target.emit === "function") {
    return { __proto__: null, server: target, port: null };
  }
  let port = target;
  if (target !== null && typeof target === "object") port = target.port;
  if (typeof port !== "number" || !NumberIsInteger(port) || port < 0 || port > 65535) {
    throw nodeError(TypeError, "ERR_INVALID_ARG_VALUE",
      "httpServerHandler: expected a port number, { port }, or a node:http Server");
  }
  return { __proto__: null, server: null, port };
}

function httpServeAt(target, request) {
  const server = target.server !== null ? target.server : httpServerOnPort(target.port);
  if (server === undefined) {
    return promiseRejectedWith(new Error(`cloudflare:node: no node:http server is listening on port ${target.port} (call server.listen(${target.port}) first)`));
  }
  if (!isRequest(request)) return promiseRejectedWith(new TypeError("cloudflare:node: expected a Request"));
  return httpServerClasses().serve(server, request);
}

function httpCopyMethods() {
  const out = [];
  for (let i = 0; i < HTTP_METHODS.length; i++) out[i] = HTTP_METHODS[i];
  return out;
}

function httpCopyStatusCodes() {
  const out = {};
  const keys = ObjectKeys(HTTP_STATUS_CODES);
  for (let i = 0; i < keys.length; i++) out[keys[i]] = HTTP_STATUS_CODES[keys[i]];
  return out;
}

function httpModule(secure) {
  const common = httpClasses();
  const client = httpClient(secure);
  const serverSide = httpServerClasses();
  const createServer = (options, handler) => new serverSide.Server(options, handler);
  return {
    __proto__: null,
    Agent: common.Agent,
    ClientRequest: httpClientClasses().ClientRequest,
    IncomingMessage: common.IncomingMessage,
    OutgoingMessage: common.OutgoingMessage,
    Server: serverSide.Server,
    ServerResponse: serverSide.ServerResponse,
    METHODS: httpCopyMethods(),
    STATUS_CODES: httpCopyStatusCodes(),
    createServer,
    get: client.get,
    request: client.request,
    globalAgent: client.agent,
    maxHeaderSize: HTTP_MAX_HEADER_SIZE,
    validateHeaderName: (name, label) => httpValidateHeaderName(name, label),
    validateHeaderValue: (name, value) => httpValidateHeaderValue(name, value),
    setMaxIdleHTTPParsers: () => {},
  };
}

const HTTP_NAMES = [
  "Agent", "ClientRequest", "IncomingMessage", "OutgoingMessage", "Server", "ServerResponse", "METHODS",
  "STATUS_CODES", "createServer", "get", "request", "globalAgent", "maxHeaderSize", "validateHeaderName",
  "validateHeaderValue", "setMaxIdleHTTPParsers",
];

defineBuiltin("node:http", HTTP_NAMES, () => httpModule(false));
defineBuiltin("node:https", ["Agent", "Server", "createServer", "get", "request", "globalAgent"], () => {
  const m = httpModule(true);
  return {
    __proto__: null, Agent: m.Agent, Server: m.Server, createServer: m.createServer, get: m.get, request: m.request,
    globalAgent: m.globalAgent,
  };
});
defineBuiltin("cloudflare:node", ["httpServerHandler", "handleAsNodeRequest"], () => ({
  __proto__: null,
  httpServerHandler(target) {
    const at = httpServerTarget(target);
    return {
      fetch(request) {
        return httpServeAt(at, request);
      },
    };
  },
  handleAsNodeRequest(port, request) {
    return httpServeAt(httpServerTarget(port), request);
  },
}));
