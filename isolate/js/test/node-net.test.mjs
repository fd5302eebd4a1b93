// node:net (node-net.js over sockets.js) in the harness, against Node 20's own node:net: a fake
// host answers the tcp.* host calls with real sockets of this process (as the supervisor's
// daemon/src/egress/tcp.rs does: a number per socket, a read at most 64 KiB, empty at EOF), and
// each scenario runs once with the prelude's module and once with Node's, against the same real
// servers on 127.0.0.1; both must record the same events. The proof through the real gateway and
// jailed workers is daemon/tests/e2e_node_net.rs.
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { loadPrelude } from "./load-prelude.mjs";

/** A server on 127.0.0.1: `serve(socket)` per connection; its port. */
async function listen(serve) {
  const server = net.createServer({ allowHalfOpen: true }, serve);
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  server.unref();
  return server.address().port;
}

/** Echoes, and ends its side at the client's EOF. */
const echo = await listen((s) => {
  s.on("data", (d) => s.write(d));
  s.on("end", () => s.end());
});
/** Sends "hi", ends its side, and keeps reading: the client may write after the server's FIN. */
const halfClose = await listen((s) => {
  let got = "";
  s.end("hi");
  s.on("data", (d) => { got += d; });
  s.on("end", () => { s.destroy(); halfCloseSeen.push(got); });
});
const halfCloseSeen = [];
/** A port nothing listens on. */
const closed = await (async () => {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
})();

/** A fake host whose tcp.* calls use real sockets (`refuse` names ports it refuses). */
function tcpHost(realmBytes) {
  const sockets = new Map();
  let next = 0;
  const idOf = (p) => p[0] | (p[1] << 8) | (p[2] << 16) | (p[3] << 24);
  return async (name, payload) => {
    if (name === "tcp.connect") {
      const head = JSON.parse(Buffer.from(payload).toString());
      if (head.port === closed) throw new Error(`egress to ${head.hostname}:${head.port} denied: host not allowed`);
      const socket = net.connect({ host: head.hostname, port: head.port, allowHalfOpen: true });
      await new Promise((resolve, reject) => { socket.once("connect", resolve); socket.once("error", reject); });
      const state = { socket, chunks: [], ended: false, waiting: null };
      socket.on("data", (d) => { state.chunks.push(d); socket.pause(); state.waiting?.(); });
      socket.on("end", () => { state.ended = true; state.waiting?.(); });
      sockets.set(++next, state);
      return realmBytes(Buffer.from(JSON.stringify({ socket: next })));
    }
    const state = sockets.get(idOf(payload));
    if (state === undefined) throw new Error("no such socket");
    if (name === "tcp.read") {
      while (state.chunks.length === 0 && !state.ended) await new Promise((r) => { state.waiting = r; });
      state.waiting = null;
      if (state.chunks.length === 0) return realmBytes(new Uint8Array(0));
      const chunk = state.chunks.shift();
      if (state.chunks.length === 0) state.socket.resume();
      return realmBytes(chunk);
    }
    if (name === "tcp.write") {
      await new Promise((resolve) => state.socket.write(payload.subarray(4), resolve));
      return realmBytes(new Uint8Array(0));
    }
    if (name === "tcp.shutdown") {
      state.socket.end();
      return realmBytes(new Uint8Array(0));
    }
    if (name === "tcp.close") {
      state.socket.destroy();
      sockets.delete(idOf(payload));
      return realmBytes(new Uint8Array(0));
    }
    throw new Error(`the host refused the call \`${name}\``);
  };
}

/** Each scenario: an async function of (net, ports) answering what JSON can hold. */
const SCENARIOS = {
  echo: `async (net, ports) => {
    const log = [];
    const s = net.connect(ports.echo, "127.0.0.1");
    log.push("pending:" + s.pending + ":" + s.readyState);
    for (const e of ["connect", "ready", "end", "finish"]) s.on(e, () => log.push(e + ":" + s.readyState));
    s.on("data", (d) => { log.push("data:" + d + ":" + Buffer.isBuffer(d)); s.end(); });
    s.write("hello");
    await new Promise((resolve) => s.on("close", (hadError) => { log.push("close:" + hadError); resolve(); }));
    log.push("bytes:" + s.bytesRead + ":" + s.bytesWritten + ":" + s.remotePort + ":" + s.remoteAddress);
    return log;
  }`,
  halfOpen: `async (net, ports) => {
    const log = [];
    const s = new net.Socket({ allowHalfOpen: true });
    s.connect({ port: ports.halfClose, host: "127.0.0.1" }, () => log.push("cb"));
    s.on("data", (d) => log.push("data:" + d));
    s.on("end", () => {
      log.push("end:" + s.writable + ":" + s.readyState);
      s.write("after", () => { log.push("written"); s.end(); });
    });
    await new Promise((resolve) => s.on("close", (hadError) => { log.push("close:" + hadError); resolve(); }));
    return log;
  }`,
  notHalfOpen: `async (net, ports) => {
    const log = [];
    const s = net.createConnection({ port: ports.halfClose, host: "127.0.0.1" });
    s.on("data", (d) => log.push("data:" + d));
    s.on("end", () => log.push("end:" + s.writable));
    s.on("finish", () => log.push("finish"));
    s.resume();
    await new Promise((resolve) => s.on("close", (hadError) => { log.push("close:" + hadError); resolve(); }));
    return log;
  }`,
  refused: `async (net, ports) => {
    const log = [];
    const s = net.connect(ports.closed, "127.0.0.1");
    s.on("connect", () => log.push("connect"));
    s.on("error", (e) => log.push("error:" + (e instanceof Error)));
    await new Promise((resolve) => s.on("close", (hadError) => { log.push("close:" + hadError + ":" + s.destroyed); resolve(); }));
    return log;
  }`,
  argumentErrors: `async (net) => {
    const out = [];
    for (const f of [() => net.connect({ port: 70000 }), () => net.connect({}), () => new net.Socket({ objectMode: true }),
      () => new net.Socket().setTimeout(-1), () => new net.Socket().setTimeout("1")]) {
      try { f(); out.push("no error"); } catch (e) { out.push(e.code ?? e.message); }
    }
    out.push(net.isIP("::1"), net.isIP("10.0.0.1"), net.isIP("x"), net.isIPv4("1.2.3"), net.isIPv6("fe80::1%eth0"));
    const s = new net.Socket();
    out.push(s.readyState, s.pending, s.connecting, String(s.remoteAddress), s.bytesRead, JSON.stringify(s.address()));
    return out;
  }`,
};
// The harness's refused port is one a listener held then closed: Node gets ECONNREFUSED, the
// fake host the gateway's denial; both are an `error` then `close(true)`.

async function runPrelude(code) {
  let host;
  const p = loadPrelude({ call: (name, payload) => host(name, payload) });
  const RealmU8 = p.run("Uint8Array");
  host = tcpHost((bytes) => { const r = new RealmU8(bytes.length); r.set(bytes); return r; });
  p.exports.configure({ nodejs: true, nodeGlobals: true, env: {} });
  const stockadeNet = p.exports.builtinExports("node:net");
  const scenario = p.run(`(${code})`);
  return JSON.parse(JSON.stringify(await scenario(stockadeNet, { echo, halfClose, closed })));
}

async function runNode(code) {
  // eslint-disable-next-line no-new-func
  const scenario = new Function(`return (${code})`)();
  return scenario(net, { echo, halfClose, closed });
}

for (const [name, code] of Object.entries(SCENARIOS)) {
  test(`node:net ${name} as Node's`, async () => {
    const ours = await runPrelude(code);
    const nodes = await runNode(code);
    assert.deepEqual(ours, nodes);
  });
}

test("the half-closing server got the client's write after its own FIN", () => {
  // halfOpen (ours, Node's) wrote after the server's FIN; notHalfOpen (ours, Node's) only ended.
  assert.deepEqual(halfCloseSeen, ["after", "after", "", ""]);
});

test("what node:net does not do throws as workerd's", async () => {
  let host;
  const p = loadPrelude({ call: (name, payload) => host(name, payload) });
  const RealmU8 = p.run("Uint8Array");
  host = tcpHost((bytes) => { const r = new RealmU8(bytes.length); r.set(bytes); return r; });
  const stockadeNet = p.exports.builtinExports("node:net");
  const out = [];
  for (const f of [() => stockadeNet.createServer(), () => new stockadeNet.Server(), () => new stockadeNet.BlockList(),
    () => new stockadeNet.SocketAddress(), () => new stockadeNet.Socket({ fd: 3 }), () => stockadeNet.connect({ path: "/x" })]) {
    try { f(); out.push("no error"); } catch (e) { out.push(e.code ?? e.message); }
  }
  assert.deepEqual(out, ["createServer() is not implemented", "Server is not implemented", "BlockList is not implemented",
    "SocketAddress is not implemented", "ERR_OPTION_NOT_IMPLEMENTED", "ERR_INVALID_ARG_VALUE"]);
  // A tenant replacing the stream's and the socket's prototypes does not reach the connection.
  const log = await p.run(`(async (net, port) => {
    const s = net.connect(port, "127.0.0.1");
    ReadableStream.prototype.getReader = () => { throw new Error("tampered"); };
    WritableStream.prototype.getWriter = () => { throw new Error("tampered"); };
    Object.prototype.then = undefined;
    s.write("x");
    const got = await new Promise((resolve) => s.on("data", (d) => resolve(String(d))));
    s.destroy();
    return got;
  })`)(stockadeNet, echo);
  assert.equal(log, "x");
});
