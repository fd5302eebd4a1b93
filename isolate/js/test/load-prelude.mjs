// Loads the Stockade prelude into a fresh, eval-free vm context with a fake host built from Node's
// crypto and a manual timer queue. Shared by the *.test.mjs files and bench-eval.mjs.
import { readFileSync } from "node:fs";
import { randomFillSync } from "node:crypto";
import vm from "node:vm";
import { types as nodeTypes } from "node:util";
import v8 from "node:v8";
import { fakeOps } from "./native-fake.mjs";

// V8 13.6 (the engine's) ships ArrayBuffer.prototype.transfer; Node 20's V8 has it behind a flag.
// Contexts created after this call get it, which the streams parts need.
v8.setFlagsFromString("--harmony-rab-gsab-transfer");

/** Evaluation order; must match the header of prelude.js and what the host concatenates. */
export const PARTS = [
  "prelude.js", "inspect.js", "console.js", "timers.js", "encoding.js", "url-host.js",
  "url-parser.js", "url.js", "clone.js", "crypto-keys.js", "crypto-import.js", "crypto-subtle.js",
  "events.js", "abort.js", "plumbing.js", "streams-core.js",
  "streams-readable.js", "streams-byte.js", "streams-pipe.js", "streams-writable.js",
  "streams-transform.js", "streams-workers.js", "blob.js", "formdata.js", "multipart.js", "fetch-body.js", "fetch.js",
  "fetch-outbound.js", "compression.js", "workers.js", "messaging.js", "websocket-link.js", "websocket.js", "eventsource.js", "builtins.js", "lazy.js", "node-encodings.js", "node-buffer.js", "node-buffer-rw.js",
  "node-events.js", "node-util.js", "node-parse-args.js", "node-util-mime.js", "node-uv-errors.js", "node-assert.js", "node-url-legacy.js", "node-path-win32.js", "node-path.js", "node-process.js", "node-hash.js",
  "node-crypto-keys.js", "node-crypto-kdf.js", "node-crypto-sign.js", "node-crypto-cipher.js",
  "node-crypto-dh.js", "node-crypto-x509.js", "node-crypto.js", "node-timers.js", "node-zlib.js", "node-zlib-streams.js", "vendor/readable-stream.js", "node-stream-web.js", "node-stream.js", "node-querystring.js", "node-punycode.js",
  "node-diagnostics-channel.js", "node-stubs.js", "node-dns.js", "node-fs-scope.js", "node-fs-vfs.js", "node-fs.js", "node-fs-streams.js", "node-fs-api.js", "bindings.js", "kv.js", "rpc.js", "rpc-targets.js", "rpc-bodies.js", "cache.js", "d1.js", "r2.js", "r2-upload.js", "durable.js", "durable-storage.js", "durable-websocket.js", "urlpattern.js", "rewriter.js", "scheduled.js", "queue.js", "sockets.js", "node-net-args.js", "node-net.js", "node-tls.js", "node-http-common.js", "node-http-client.js", "node-http-server.js", "cloudflare-node.js", "prelude-end.js",
];

const dir = new URL("../", import.meta.url);
export const SOURCE = PARTS.map((p) => readFileSync(new URL(p, dir), "utf8")).join("");

export function newContext() {
  return vm.createContext({}, { codeGeneration: { strings: false, wasm: false } });
}

/** Installs `globalThis.__stockade_host` in `context`. Like the real host's native functions, the
 *  primitives are functions OF THE SANDBOX REALM (strict wrappers around `impl`), so a tenant who
 *  patches Function.prototype.call would see them if the prelude ever invoked them through it. */
export function installHost(context, impl) {
  const wrap = vm.runInContext(`"use strict"; (impl) => ({
    log: function log(level, text) { return impl.log(level, text); },
    randomFill: function randomFill(u8) { return impl.randomFill(u8); },
    setTimer: function setTimer(id, ms) { return impl.setTimer(id, ms); },
    clearTimer: function clearTimer(id) { return impl.clearTimer(id); },
    onTimer: function onTimer(fn) { return impl.onTimer(fn); },
    now: function now() { return impl.now(); },
    call: function call(name, payload) { return impl.call(name, payload); },
    callSync: function callSync(name, payload) {
      if (typeof impl.callSync !== "function") throw new TypeError("the host refused the call " + name);
      return impl.callSync(name, payload);
    },
    op: function op(code, input) { return impl.op(code, input); },
    getContext: function getContext() { return impl.getContext(); },
    setContext: function setContext(value) { return impl.setContext(value); },
    task: function task() { return impl.task(); },
    // Node has no public way to read a promise's state: the harness answers -1 for a promise
    // (shown "<unknown>"; the real states are tested in isolate/tests/node_compare.rs) and, as the
    // host does, undefined for anything else.
    promiseState: function promiseState(v) { return impl.isPromise(v) ? -1 : undefined; },
    // Node's util.types.isProxy answers for the harness.
    isProxy: function isProxy(v) { return impl.isProxy(v); },
    compileLazy: function compileLazy() { throw new Error("every part is evaluated in place"); },
    lazyGlobal: function lazyGlobal() { throw new Error("every part is evaluated in place"); },
  })`, context);
  const host = wrap(impl);
  context.__stockade_host = host;
  return host;
}

/** A fresh context with the prelude evaluated. `overrides` replace fake-host implementations. */
export function loadPrelude(overrides = {}) {
  const logs = [];
  const armed = new Map(); // id -> deadline; re-arming moves an id to the end (ties fire in arming order)
  const randomFillCalls = [];
  let dispatch = null;
  let clock = 0;
  let asyncContext;
  const impl = {
    isProxy: (v) => nodeTypes.isProxy(v),
    isPromise: (v) => nodeTypes.isPromise(v),
    log(level, text) {
      if (typeof level !== "number" || typeof text !== "string") throw new TypeError("bad log call");
      logs.push([level, text]);
    },
    randomFill(u8) {
      if (Object.prototype.toString.call(u8) !== "[object Uint8Array]" || u8.byteLength > 65536) {
        throw new TypeError("bad randomFill call");
      }
      randomFillCalls.push(u8.byteLength);
      randomFillSync(u8);
    },
    setTimer(id, ms) {
      if (!Number.isInteger(id) || id <= 0 || !Number.isInteger(ms) || ms < 0) throw new TypeError("bad setTimer");
      armed.delete(id);
      armed.set(id, clock + ms);
    },
    clearTimer(id) { armed.delete(id); },
    onTimer(fn) {
      if (dispatch !== null) throw new Error("onTimer called twice");
      dispatch = fn;
    },
    now() { return clock; },
    // V8's continuation-preserved embedder data, without the propagation through promise
    // reactions (Node's vm has no hook for it): synchronous AsyncLocalStorage only.
    getContext() { return asyncContext; },
    setContext(value) { asyncContext = value; },
    // One task: the harness runs no two requests' code.
    task() { return 1; },
    // A host without an egress gateway: every call is refused, as the real host refuses one it
    // cannot route.
    call(name) { return Promise.reject(new Error(`the host refused the call \`${name}\``)); },
    // Native ops are Rust code (ops/); the Node harness imitates the legacy encodings with Node's
    // TextDecoder (native-fake.mjs); every other op fails as an OperationError would (crypto.subtle
    // and the compression streams are tested in real isolates, isolate/tests/).
    op(code, input) { return nativeOp(code, input); },
    ...overrides,
  };
  const context = newContext();
  const RealmU8 = vm.runInContext("Uint8Array", context);
  const nativeOp = fakeOps((u8) => { const r = new RealmU8(u8.length); r.set(u8); return r; });
  const host = installHost(context, impl);
  const exports = vm.runInContext(SOURCE, context, { filename: "prelude.js" });
  const run = (code) => vm.runInContext(code, context);
  const uncaught = [];
  /** Advances the fake clock by `ms`, firing due timers in deadline order (ties in arming order),
   *  draining microtasks after each one (as the host does). */
  async function advance(ms) {
    const end = clock + ms;
    for (;;) {
      let next = null;
      for (const [id, t] of armed) if (t <= end && (next === null || t < next[1])) next = [id, t];
      if (next === null) break;
      armed.delete(next[0]);
      clock = next[1];
      try { dispatch(next[0]); } catch (e) { uncaught.push(e); }
      await new Promise((r) => setImmediate(r));
    }
    clock = end;
  }
  // The sandbox realm's own error constructors (vm does not mirror builtins onto `context`).
  const realm = run("({ Error, TypeError, RangeError, SyntaxError })");
  return { context, realm, exports, host, logs, armed, run, advance, uncaught, randomFillCalls, getDispatch: () => dispatch };
}
