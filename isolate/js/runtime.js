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
const U8 = Uint8Array;
const ReflectApply = Reflect.apply;
const typedArrayTag = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(U8.prototype), Symbol.toStringTag).get;
const typedArraySet = U8.prototype.set;
const isUint8Array = (v) => ReflectApply(typedArrayTag, v, []) === "Uint8Array";
let web = null; // the prelude's exports: newRequest, readResponse
// hostCall(name, Uint8Array?) -> Promise<Uint8Array>: the one road from an isolate to its host
// (see bridge.h, stk_host.host_call). Captured here; tenants never see the host object.
const hostCall = __stockade_host.call;

delete globalThis.SharedArrayBuffer;
if (typeof Atomics === "object") delete Atomics.wait;

function describe(key) {
  return key === "" ? "the result" : `the result (at key ${stringify(String(key))})`;
}

// JSON text of `value`; undefined at the top level is `null`, anything JSON cannot carry is an error.
function toJson(value) {
  if (value === undefined) return "null";
  return stringify(value, function (key, v) {
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
  });
}

// ctx.waitUntil: the promises a request leaves running after its response. The host keeps the
// request alive (timers included, within its wall limit) until they have all settled.
function backgroundWork() {
  const tasks = { __proto__: null };
  let count = 0;
  let draining = false;
  return {
    waitUntil(p) {
      tasks[count++] = PromiseResolve(p).then(undefined, () => {});
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

async function invokeFetch(ns, payload, body) {
  const handler = ns.default;
  if (handler === null || typeof handler !== "object" || typeof handler.fetch !== "function") {
    throw new TypeError("the main module's default export has no fetch(request, env, ctx) method");
  }
  const req = parse(payload);
  const flat = [];
  for (const [name, value] of req.headers) flat.push(name, value);
  const request = web.newRequest(req.method, req.url, flat, body);
  const background = backgroundWork();
  const ctx = {
    waitUntil(p) { background.waitUntil(p); },
    passThroughOnException() {},
  };
  const response = await handler.fetch(request, req.env || {}, ctx);
  const [status, , headers, responseBody] = web.readResponse(response);
  const pairs = [];
  for (let i = 0; i + 1 < headers.length; i += 2) pairs.push([headers[i], headers[i + 1]]);
  // readResponse hands the body as null, a Uint8Array, or a reader over the response's stream.
  // Stopgap until the transport streams: a reader is buffered fully before answering.
  const data = responseBody === null || isUint8Array(responseBody) ? responseBody : await readAll(responseBody);
  // [head, body, background]: read by the bridge (stk_poll), never by tenant code.
  return [stringify({ status, headers: pairs }), data || null, background.drain()];
}

// The whole body behind a reader from readResponse, as one Uint8Array.
async function readAll(reader) {
  const chunks = [];
  let total = 0;
  for (;;) {
    const chunk = await reader.read();
    if (chunk === null) break;
    if (!isUint8Array(chunk)) throw new TypeError("the response body produced a chunk that is not a Uint8Array");
    const copy = new U8(chunk);
    chunks[chunks.length] = copy;
    total += copy.length;
  }
  const out = new U8(total);
  let offset = 0;
  for (let i = 0; i < chunks.length; i++) {
    ReflectApply(typedArraySet, out, [chunks[i], offset]);
    offset += chunks[i].length;
  }
  return out;
}

async function invokeDefault(ns, payload) {
  const entry = ns.default;
  if (typeof entry !== "function") {
    throw new TypeError("the main module's default export is not a function");
  }
  return toJson(await entry(parse(payload)));
}

__stockade_host.setInvoker(
  function invoke(ns, kind, payload, body) {
    if (kind === 2) {
      // Debug builds only (STOCKADE_TEST_HOST_CALLS, see engine.rs), and only in an isolate the
      // host asks for it (stk_install_test_hooks): lets tests prove the host-call road end to end.
      if (STOCKADE_TEST_HOST_CALLS) {
        Object.defineProperty(globalThis, "__stockadeTestHostCall", {
          value: (name, payload) => hostCall(name, payload),
          configurable: true,
        });
      }
      return PromiseResolve();
    }
    return kind === 1 ? invokeFetch(ns, payload, body) : invokeDefault(ns, payload);
  },
  function attach(exports) {
    web = exports;
  },
);
