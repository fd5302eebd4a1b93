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
const u8 = Uint8Array;
let web = null; // the prelude's exports: newRequest, readResponse
// The prelude's atob/btoa, captured before tenant code runs (tenants may replace the globals).
let btoa = null;
let atob = null;

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

function bytesToBase64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

function base64ToBytes(b64) {
  const s = atob(b64);
  const out = new u8(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

async function invokeFetch(ns, payload) {
  const handler = ns.default;
  if (handler === null || typeof handler !== "object" || typeof handler.fetch !== "function") {
    throw new TypeError("the main module's default export has no fetch(request, env, ctx) method");
  }
  const req = parse(payload);
  const flat = [];
  for (const [name, value] of req.headers) flat.push(name, value);
  const body = req.body === null ? null : base64ToBytes(req.body);
  const request = web.newRequest(req.method, req.url, flat, body);
  const ctx = {
    waitUntil(p) { PromiseResolve(p).catch(() => {}); },
    passThroughOnException() {},
  };
  const response = await handler.fetch(request, req.env || {}, ctx);
  const [status, , headers, bytes] = web.readResponse(response);
  const pairs = [];
  for (let i = 0; i + 1 < headers.length; i += 2) pairs.push([headers[i], headers[i + 1]]);
  // readResponse hands the body as a Uint8Array, or a promise of one for streamed bodies.
  const data = await bytes;
  return stringify({ status, headers: pairs, body: data ? bytesToBase64(data) : "" });
}

async function invokeDefault(ns, payload) {
  const entry = ns.default;
  if (typeof entry !== "function") {
    throw new TypeError("the main module's default export is not a function");
  }
  return toJson(await entry(parse(payload)));
}

__stockade_host.setInvoker(
  function invoke(ns, kind, payload) {
    return kind === 1 ? invokeFetch(ns, payload) : invokeDefault(ns, payload);
  },
  function attach(exports) {
    web = exports;
    btoa = globalThis.btoa;
    atob = globalThis.atob;
  },
);
