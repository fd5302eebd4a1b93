// Stockade runtime: how the host calls into a tenant's worker. The host evaluates, as ONE classic
// script in a fresh context:
//   (function (__stockade_host) { <this file> })(globalThis.__stockade_host);
//   <the prelude files, concatenated; the prelude deletes globalThis.__stockade_host>
// then hands the prelude's exports (the script's completion value) to `attach` below.
// Guarantees: the host calls the tenant only through `invoke`; results leave as JSON text or as a
// clear TypeError naming what could not be serialised; requests and responses cross through the
// prelude's private exports, never through globals the tenant may have replaced.
const stringify = JSON.stringify;
const parse = JSON.parse;
const PromiseResolve = Promise.resolve.bind(Promise);
const isView = ArrayBuffer.isView;
const isArray = Array.isArray;
const UInt8ArrayCtor = Uint8Array;
// Bytes the host hands in or takes out only meet these captured getters and the captured
// constructor: never a typed array's prototype methods, getters or species lookup (tenant code may
// replace them and would then see the bytes).
const typedArrayGetter = (name) =>
  Function.prototype.call.bind(Object.getOwnPropertyDescriptor(Object.getPrototypeOf(UInt8ArrayCtor.prototype), name).get);
const byteLength = typedArrayGetter("length"); // of Uint8Arrays
const byteBuffer = typedArrayGetter("buffer");
const byteOffset = typedArrayGetter("byteOffset");
const charCodeAt = Function.prototype.call.bind(String.prototype.charCodeAt);
const objectKeys = Object.keys;
const defineProperty = Object.defineProperty;
const hasOwn = Object.hasOwn;
// The largest chunk one `body.write` carries (bigger chunks are split).
const WRITE_CHUNK = 1 << 20;
// How many `body.write`s a response body has in flight at once: the next chunk is read and sent
// while the host still queues the previous ones (it queues them in order).
const WRITE_WINDOW = 4;
// The largest body known whole that crosses with its answer (an answer carries 16 MiB); a larger
// one streams.
const INLINE_BODY_MAX = 8 << 20;

// A reader over bytes known whole: them, then the end.
function wholeBodyReader(bytes) {
  let left = bytes;
  return {
    async read() {
      const chunk = left;
      left = null;
      return chunk;
    },
    async cancel() {
      left = null;
    },
  };
}
let web = null; // the prelude's exports: newRequest, readResponse
// hostCall(name, Uint8Array?, task?) -> Promise<Uint8Array>: the one road from an isolate to its host
// (see bridge.h, stk_host.host_call). Captured here; tenants never see the host object.
const hostCall = __stockade_host.call;
// hostCallSync(name, Uint8Array?) -> Uint8Array: the same road, answered inside the call (only the
// test hook below uses it here; the prelude captures its own).
const hostCallSync = __stockade_host.callSync;
// Every invocation starts in an empty async context (AsyncLocalStorage; see node-process.js).
const setAsyncContext = __stockade_host.setContext;

delete globalThis.SharedArrayBuffer;
if (typeof Atomics === "object") delete Atomics.wait;

function describe(key) {
  return key === "" ? "the result" : `the result (at key ${stringify(String(key))})`;
}

// The most UTF-16 units of strings a result may hold: each is at least one byte of JSON, and a
// result is at most 16 MiB (stockade_ipc::limits::MAX_RESULT_JSON_LEN).
const MAX_RESULT_UNITS = 16 * 1024 * 1024;
// Thrown out of JSON.stringify once a result holds more: it cannot fit.
const TOO_LARGE = Object.freeze({ __proto__: null });

// JSON text of `value`; undefined at the top level is `null`, anything JSON cannot carry is an error;
// a lone surrogate in a string becomes U+FFFD (the host's JSON is UTF-8). `false` (the bridge's
// STK_TOO_LARGE) when its strings alone exceed the most a result may be: found before V8 writes
// them, since writing a huge string is an operation V8 does not interrupt.
function toJson(value) {
  if (value === undefined) return "null";
  let units = 0;
  try {
    return web.wellFormedJson(stringify(value, function (key, v) {
      if (!isArray(this)) units += key.length; // an array's indices are not written
      if (typeof v === "string") units += v.length;
      if (units > MAX_RESULT_UNITS) throw TOO_LARGE;
      return checked(key, v);
    }));
  } catch (e) {
    if (e === TOO_LARGE) return false;
    throw e;
  }
}

// `v`, found at `key` of the result, if JSON can carry it.
function checked(key, v) {
  switch (typeof v) {
    case "function":
      throw new TypeError(`${describe(key)} is a function, which is not JSON`);
    case "symbol":
      throw new TypeError(`${describe(key)} is a symbol, which is not JSON`);
    case "bigint":
      throw new TypeError(`${describe(key)} is a BigInt, which is not JSON`);
    case "undefined":
      throw new TypeError(`${describe(key)} is undefined, which is not JSON`);
    default:
      return v;
  }
}

// One ctx.waitUntil promise, settled: a rejection is reported as workerd reports it (an
// "Uncaught (in promise)" error line in the request's logs) and does not stop the others.
// async/await, not .then: tenant code may have replaced Promise.prototype.then.
async function settledWork(p) {
  try {
    await p;
  } catch (e) {
    web.reportRejection(e);
  }
}

// ctx.waitUntil: the promises a request leaves running after its response. The host keeps the
// request alive (timers included, within its wall limit) until they have all settled.
function backgroundWork() {
  const tasks = { __proto__: null };
  let count = 0;
  let draining = false;
  return {
    waitUntil(p) {
      tasks[count++] = settledWork(p);
    },
    // A promise that settles once every task so far, and any a task adds, has settled; undefined
    // when there are none.
    drain() {
      if (count === 0 || draining) return undefined;
      draining = true;
      return (async () => {
        for (let i = 0; i < count; i++) await tasks[i];
      })();
    },
  };
}

// A message as bytes for `body.end` (ASCII; anything else becomes "?").
function asciiBytes(text) {
  const s = `${text}`.slice(0, 1000);
  const out = new UInt8ArrayCtor(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = charCodeAt(s, i);
    out[i] = c < 0x80 ? c : 0x3f;
  }
  return out;
}

// The request body the host streams: its first bytes (`inline`, possibly empty), then one
// `body.read` host call per chunk the handler asks for (an empty answer is the end).
// Its host calls name `task`: a neighbour's request may be the one that resumes the stream.
function streamedBody(inline, task) {
  let first = isView(inline) && byteLength(inline) > 0 ? inline : null;
  let ended = false;
  return {
    // async/await, not .then: tenant code may have replaced Promise.prototype.then.
    async pull() {
      if (first !== null) {
        const chunk = first;
        first = null;
        return chunk;
      }
      if (ended) return null;
      const chunk = await hostCall("body.read", undefined, task);
      if (byteLength(chunk) > 0) return chunk;
      ended = true;
      return null;
    },
    cancel() {
      first = null;
      ended = true;
    },
  };
}

// Microtask turns a streamed response waits to see whether its body fails at once: a stream
// that errors in start() or in its first pull rejects its first read within a few.
const EARLY_FAILURE_TURNS = 32;

// Notes in `box` when `p` settles: state 1 fulfilled, 2 rejected (with its error).
async function watchFirst(p, box) {
  try {
    await p;
    box.state = 1;
  } catch (e) {
    box.error = e;
    box.state = 2;
  }
}

// One `body.write`, settled with null or {error}: never rejected, so that a write waiting in the
// window fails nothing before its turn comes.
async function writeBody(bytes, task) {
  try {
    await hostCall("body.write", bytes, task);
    return null;
  } catch (error) {
    return { error };
  }
}

// Streams a response body to the host: one `body.write` per chunk, at most WRITE_WINDOW of them
// waiting for the host (each answered once the host queued it for the client: backpressure),
// then `body.end` once all are answered; a failing stream or write ends the body with its error,
// which cuts the client's response.
// Its host calls name `task`, for the same reason as streamedBody's.
// `first` is the promise of the reader's first read, made already.
async function pumpBody(reader, task, first) {
  // The writes waiting, a ring of WRITE_WINDOW slots (oldest..next) in an object no prototype
  // reaches (tenant code may have put setters on Array.prototype's indices).
  const waiting = { __proto__: null };
  let oldest = 0;
  let next = 0;
  const settleOldest = async () => {
    const slot = oldest % WRITE_WINDOW;
    const written = await waiting[slot];
    waiting[slot] = undefined;
    oldest++;
    if (written !== null) throw written.error;
  };
  try {
    let read = first;
    for (;;) {
      const chunk = await read;
      if (chunk === null) break;
      const length = byteLength(chunk);
      for (let at = 0; at < length; at += WRITE_CHUNK) {
        const n = length - at < WRITE_CHUNK ? length - at : WRITE_CHUNK;
        while (next - oldest >= WRITE_WINDOW) await settleOldest();
        waiting[next % WRITE_WINDOW] = writeBody(new UInt8ArrayCtor(byteBuffer(chunk), byteOffset(chunk) + at, n), task);
        next++;
      }
      read = reader.read();
    }
    while (next > oldest) await settleOldest();
  } catch (e) {
    try { await reader.cancel(e); } catch {}
    const why = e !== null && typeof e === "object" && typeof e.message === "string" ? e.message : e;
    await hostCall("body.end", asciiBytes(`the response body failed: ${why}`), task);
    return;
  }
  await hostCall("body.end", undefined, task);
}

// A class default export (`export default class extends WorkerEntrypoint { fetch(request) {} }`):
// constructed with (ctx, env) for each request, as Cloudflare does, and its fetch(request) called.
function isEntrypointClass(handler) {
  if (typeof handler !== "function") return false;
  const proto = handler.prototype;
  return proto !== null && typeof proto === "object" && typeof proto.fetch === "function";
}

// Service-worker syntax has no `env` argument: as on Workers, each binding is a global variable
// (defined at the first request; a global the code defined itself is left alone).
function exposeEnv(env) {
  const names = objectKeys(env);
  for (let i = 0; i < names.length; i++) {
    if (hasOwn(globalThis, names[i])) continue;
    defineProperty(globalThis, names[i], { value: env[names[i]], writable: true, enumerable: false, configurable: true });
  }
}

// Calls the module's `export default { fetch }` (or a WorkerEntrypoint class's), or, in a module
// without one that listens for "fetch" events at the global scope (service-worker syntax),
// dispatches a FetchEvent.
async function invokeFetch(ns, payload, body, task) {
  const req = parse(payload);
  // A service binding's `entrypoint` names an export of its own (never a listener's).
  const named = typeof req.entrypoint === "string";
  const handler = named ? ns[req.entrypoint] : ns.default;
  const isClass = isEntrypointClass(handler);
  const moduleSyntax = isClass || (handler !== null && typeof handler === "object" && typeof handler.fetch === "function");
  if (named && !moduleSyntax) {
    throw new TypeError(`the entrypoint ${req.entrypoint} is not an export with a fetch(request) method ` +
      "(a WorkerEntrypoint class, or an object with fetch)");
  }
  if (!moduleSyntax && !web.hasFetchListener()) {
    throw new TypeError("the main module's default export has no fetch(request, env, ctx) method " +
      "(export default { fetch() {} }, or a class with a fetch(request) method), and no \"fetch\" event listener was added");
  }
  // req.headers: flat [n0, v0, n1, v1, ...], checked and normalized by the host.
  const request = web.newRequest(req.method, req.url, req.headers, req.streamed === true ? streamedBody(body, task) : body);
  const background = backgroundWork();
  // A configured worker's env is one object, the same `env` cloudflare:workers exports.
  // Plain env values as given; binding objects become capabilities (bindings.js).
  const env = web.workerEnv() ?? web.makeEnv(req.env);
  const ctx = {
    waitUntil(p) { background.waitUntil(p); },
    passThroughOnException() {},
    // What the service binding the request came through carries (ctx.exports' props, say).
    props: req.props !== null && typeof req.props === "object" ? req.props : {},
    // Loopback stubs of this worker's own entrypoints (rpc.js), made at the first use.
    get exports() { return web.ctxExports(ns, env); },
  };
  if (!moduleSyntax) exposeEnv(env);
  // A Durable Object's class: its one instance, behind its gates (js/durable.js).
  const object = named ? web.durableObjectOf(req.entrypoint) : null;
  const response = object !== null
    ? await web.deliverToObject(object, handler, env, ctx, (instance) => instance.fetch(request))
    : isClass
    ? await new handler(ctx, env).fetch(request)
    : moduleSyntax
      ? await handler.fetch(request, env, ctx)
      : await web.dispatchFetch(request, ctx.waitUntil, ctx.passThroughOnException);
  // Indexed, not destructured: a patched array iterator must never see the body.
  // For a client (req.encode), the body is encoded as its Content-Encoding says.
  const answer = web.readResponse(response, req.encode === true);
  const status = answer[0];
  const headers = answer[2];
  let out = answer[3];
  const length = answer[4]; // a FixedLengthStream body's, for a streamed answer
  const socket = answer[5]; // a 101's WebSocket link (js/websocket.js), or null
  if (socket !== null) {
    // The task lives on while the socket is open (within its wall limit): the link's host
    // calls (socket.recv, socket.send, socket.close) carry its messages.
    const rest = (async () => {
      await socket.run(task);
      await background.drain();
    })();
    return [stringify({ status, headers, webSocket: true }), null, rest];
  }
  // [head, body, background]: read by the bridge (stk_poll), never by tenant code. The head's
  // headers are flat [n0, v0, n1, v1, ...] (isolate/src/tasks/settle.rs). The body is a
  // Uint8Array when the prelude knows it whole, null, or a reader the body streams from. A
  // whole body larger than an answer carries streams like any other (in WRITE_CHUNK pieces).
  if (out !== null && isView(out) && byteLength(out) > INLINE_BODY_MAX) out = wholeBodyReader(out);
  if (out === null || isView(out)) {
    return [stringify({ status, headers }), out, background.drain()];
  }
  // A body that fails at once (its stream errors in start() or in its first pull) fails the
  // request, whose head has not gone out: the client gets a typed error rather than a cut
  // answer. Waiting for that costs a few microtask turns, never a timer or the host: a stream
  // whose first chunk takes real time is answered at once, as before.
  const first = out.read();
  const early = { __proto__: null, state: 0, error: undefined };
  watchFirst(first, early);
  for (let turn = 0; turn < EARLY_FAILURE_TURNS && early.state === 0; turn++) await undefined;
  if (early.state === 2) {
    try { await out.cancel(early.error); } catch {}
    throw early.error;
  }
  const pump = pumpBody(out, task, first);
  const rest = (async () => {
    await pump;
    await background.drain();
  })();
  return [stringify({ status, headers, streamed: true, length }), null, rest];
}

async function invokeDefault(ns, payload) {
  const entry = ns.default;
  if (typeof entry !== "function") {
    throw new TypeError("the main module's default export is not a function");
  }
  // The second argument is the worker's env (a Code Mode snippet run with `env`, or a Loader
  // worker's), else an empty one.
  return toJson(await entry(parse(payload), web.workerEnv() ?? web.makeEnv(null)));
}

// An RPC call from another worker (a service or Loader binding): the method runs with a ctx whose
// waitUntil keeps the request alive, as a fetch's does; the answer is JSON text (js/rpc.js).
async function invokeRpc(ns, payload) {
  const background = backgroundWork();
  const ctx = {
    waitUntil(p) { background.waitUntil(p); },
    passThroughOnException() {},
  };
  const answer = await web.invokeRpc(ns, payload, ctx);
  // [answer, no body, background]: the bridge (stk_poll) reads the first as the call's value.
  return [answer, null, background.drain()];
}

function dispatch(ns, kind, payload, body, task) {
  if (kind === 6) return invokeRpc(ns, payload);
  // A cron trigger's event (js/scheduled.js): JSON text once the handler and its waitUntil
  // work are over.
  if (kind === 7) return web.invokeScheduled(ns, payload);
  // A queue's batch (js/queue.js): JSON text of each message's fate once the handler and its
  // waitUntil work are over; the bodies are ranges of `body`.
  if (kind === 8) return web.invokeQueue(ns, payload, body);
  return kind === 1 ? invokeFetch(ns, payload, body, task) : invokeDefault(ns, payload);
}

__stockade_host.setInvoker(
  function invoke(ns, kind, payload, body, task) {
    if (kind === 2) {
      // Debug builds only (STOCKADE_TEST_HOST_CALLS, see engine.rs), and only in an isolate the
      // host asks for it (stk_install_test_hooks): lets tests prove the host-call road end to end.
      if (STOCKADE_TEST_HOST_CALLS) {
        Object.defineProperty(globalThis, "__stockadeTestHostCall", {
          value: (name, payload) => hostCall(name, payload),
          configurable: true,
        });
        // The synchronous road (isolate/src/host.rs allows only a Durable Object's storage calls).
        Object.defineProperty(globalThis, "__stockadeTestHostCallSync", {
          value: (name, payload) => hostCallSync(name, payload),
          configurable: true,
        });
      }
      return PromiseResolve();
    }
    // Synchronous calls from the bridge: stk_configure (3), stk_module_builtin (4), the first
    // evaluation of a built-in module (5). Never tenant-initiated.
    if (kind === 3) return web.configure(parse(payload));
    if (kind === 4) return web.builtinNames(payload);
    if (kind === 5) return web.builtinExports(payload);
    // An empty context, or (once node:fs is in use) one carrying this request's /tmp, released
    // when the request is over (node-fs-scope.js).
    const context = web.requestContext();
    setAsyncContext(context);
    const result = dispatch(ns, kind, payload, body, task);
    return context === undefined ? result : web.releaseAfter(context, result);
  },
  function attach(exports) {
    web = exports;
  },
);
