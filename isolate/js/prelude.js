/*
 * Stockade web-platform prelude — first part (head: host contract, IIFE opening, shared helpers).
 *
 * WHAT THIS IS
 *   A classic script (not a module), evaluated once per fresh V8 context before any tenant code.
 *   It installs a subset of the web platform on globalThis: console, timers, queueMicrotask,
 *   performance, URL, URLSearchParams, TextEncoder, TextDecoder, atob, btoa, structuredClone,
 *   crypto (with crypto.subtle, SubtleCrypto, CryptoKey), DOMException, Event, CustomEvent, EventTarget (the global scope, `self`, and
 *   `performance` are EventTargets too), AbortController, AbortSignal, the
 *   Streams standard (ReadableStream and its readers/controllers, WritableStream,
 *   TransformStream, the queuing strategies, TextEncoderStream, TextDecoderStream),
 *   CompressionStream, DecompressionStream, Cloudflare's IdentityTransformStream and
 *   FixedLengthStream (and crypto.DigestStream), URLPattern, HTMLRewriter, Blob, File,
 *   caches (the Cache API),
 *   FormData, Headers, Request (with Cloudflare's `cf`), Response, fetch, and the Workers-only
 *   navigator, scheduler and FetchEvent (service-worker syntax), PromiseRejectionEvent (unhandledrejection,
 *   rejectionhandled), and MessageChannel, MessagePort, MessageEvent (within the isolate), and
 *   WebSocketPair, WebSocket, CloseEvent (server-side WebSockets), EventSource. Globals are non-enumerable, writable
 *   and configurable, like on the web. It never uses eval / new Function (the context refuses
 *   code generation from strings).
 *
 * HOW THE HOST ASSEMBLES IT (the order matters; the files are fragments of ONE function body)
 *   Concatenate, in this order, and compile the result as a single classic script:
 *     1 prelude.js 2 inspect.js 3 console.js 4 timers.js 5 encoding.js 6 url-host.js
 *     7 url-parser.js 8 url.js 9 clone.js 10 crypto-keys.js 11 crypto-import.js 12 crypto-subtle.js
 *     13 events.js 14 abort.js 15 plumbing.js 16 streams-core.js 17 streams-readable.js
 *     18 streams-byte.js 19 streams-pipe.js 20 streams-writable.js 21 streams-transform.js
 *     22 streams-workers.js 23 blob.js 24 formdata.js 25 multipart.js 26 fetch-body.js 27 fetch.js
 *     28 fetch-outbound.js 29 compression.js 30 workers.js 31 messaging.js 32 websocket-link.js
 *     33 websocket.js 34 eventsource.js 35 builtins.js 36 lazy.js 37 node-encodings.js
 *     38 node-buffer.js 39 node-buffer-rw.js 40 node-events.js 41 node-util.js
 *     42 node-parse-args.js 43 node-util-mime.js 44 node-uv-errors.js 45 node-assert.js
 *     46 node-url-legacy.js 47 node-path-win32.js 48 node-path.js 49 node-process.js
 *     50 node-hash.js 51 node-crypto-keys.js 52 node-crypto-kdf.js 53 node-crypto-sign.js
 *     54 node-crypto-cipher.js 55 node-crypto-dh.js 56 node-crypto-x509.js 57 node-crypto.js
 *     58 node-timers.js 59 node-zlib.js 60 node-zlib-streams.js 61 vendor/readable-stream.js
 *     62 node-stream-web.js 63 node-stream.js 64 node-querystring.js 65 node-punycode.js
 *     66 node-diagnostics-channel.js 67 node-stubs.js 68 node-dns.js 69 node-fs-scope.js
 *     70 node-fs-vfs.js 71 node-fs.js 72 node-fs-streams.js 73 node-fs-api.js 74 bindings.js
 *     75 kv.js 76 rpc.js 77 rpc-targets.js 78 rpc-bodies.js 79 cache.js 80 d1.js 81 r2.js
 *     82 r2-upload.js 83 durable.js 84 durable-storage.js 85 durable-websocket.js 86 urlpattern.js
 *     87 rewriter.js 88 scheduled.js 89 queue.js 90 sockets.js 91 node-net-args.js 92 node-net.js
 *     93 node-tls.js 94 node-http-common.js 95 node-http-client.js 96 node-http-server.js
 *     97 cloudflare-node.js 98 prelude-end.js
 *   e.g. in Rust: concat!(include_str!("../js/prelude.js"), include_str!("../js/inspect.js"), ...).
 *   Only the concatenation is valid JavaScript; this file opens a strict-mode IIFE that
 *   prelude-end.js closes (all parts share one function scope). Each part ends with a newline, so
 *   plain concatenation is enough. The script's completion value is the HOST EXPORTS object.
 *   The host may leave parts out and build them on first use instead (lazy.js); evaluated in
 *   place, as above, they behave the same.
 *
 * SNAPSHOT SAFETY — evaluation calls no host primitive except onTimer, reads no clock and draws no
 * randomness (performance.timeOrigin is taken on first use), so the host may evaluate the prelude
 * once into a V8 startup snapshot and start every isolate from it. Per-isolate state (timer table
 * and id counter, console counters, lazily built lookup tables) starts empty in each isolate.
 *
 * HOST PRIMITIVES — the host installs `globalThis.__stockade_host` (configurable, so the prelude can
 * delete it) holding these native functions. The prelude copies them into closure constants and
 * deletes the global before anything else runs; tenant code can never reach them. The receiver
 * (`this`) of every call is unspecified. The host must validate every argument natively: values
 * reaching a primitive may be derived from tenant input.
 *   log(level: number, text: string) -> undefined
 *       level 0 = debug, 1 = log, 2 = warn, 3 = error, 4 = info. `text` is already formatted. The host
 *       may truncate or rate-limit; if it throws, console swallows the exception.
 *   randomFill(u8: Uint8Array) -> undefined
 *       Fill the view with CSPRNG bytes. The prelude only passes a Uint8Array of <= 65536 bytes, but
 *       the host must enforce both (and reject detached / shared buffers).
 *   setTimer(id: number, delayMs: number) -> undefined | number[]
 *       Arm one-shot timer `id` (a positive int32, never reused within the context) to fire after
 *       `delayMs` (an integer >= 0, already clamped). The host must throw (the exception reaches the
 *       tenant's setTimeout call) if its per-context timer limit is exceeded. Re-arming an armed id
 *       replaces its deadline. Intervals are re-armed by the prelude, one firing at a time. The
 *       answer lists timers the prelude armed that will never fire (their invocation ended first;
 *       possibly `id` itself): the prelude forgets their callbacks.
 *   clearTimer(id: number) -> undefined
 *       Disarm `id`; unknown or already-fired ids are a no-op.
 *   onTimer(dispatch: (id: number) => void, rejections: (kind, promise, reason) => void) -> undefined
 *       Called exactly once, during the prelude. The host keeps `dispatch` (a persistent handle) and
 *       calls it, with `this` undefined, each time an armed timer fires, then runs a microtask
 *       checkpoint. Exceptions thrown by `dispatch` are the tenant callback's uncaught exceptions:
 *       report them like any uncaught error. Calls for unknown ids are ignored. The host should
 *       refuse a second onTimer call. The host keeps `rejections` too and calls it after a
 *       microtask checkpoint for each promise V8 reported (its PromiseRejectCallback): kind 0, a
 *       promise rejected with `reason` that no handler took by then (not an invocation's own);
 *       kind 1, a handler added to such a promise later; kind 2, `reason` more kind-0 rejections
 *       the host did not keep (workers.js fires unhandledrejection / rejectionhandled).
 *   compileLazy(index: number) -> Function
 *       Lazy group `index` (lazy.js; the host decides which parts are lazy and appends their stubs
 *       before prelude-end.js), compiled as a strict function of the parameters the host chose.
 *       Throws RangeError for an index the host has no group for.
 *   lazyGlobal(name: string, get: () => unknown) -> undefined
 *       Makes global `name` a lazy data property (writable, configurable, not enumerable): the
 *       first read calls `get` and the property becomes a plain data property holding its result.
 *       Called only while the snapshot is made (by the stubs).
 *   getContext() -> unknown, setContext(value) -> undefined
 *       V8's continuation-preserved embedder data: the value promise reactions capture when they
 *       are created and restore while they run (node:async_hooks' AsyncLocalStorage frame; the
 *       timers restore the one current when a timer was armed). Plain values, no checks needed.
 *   task() -> number
 *       The number of the task (a request's invocation) the running code belongs to, as the
 *       continuation-preserved data above carries it (so a timer's or a continuation's is the
 *       task that armed or awaited it); 0 outside any task's entry. An RPC call's callback stubs
 *       remember theirs and refuse another request's code (Cloudflare's "Cannot perform I/O on
 *       behalf of a different request").
 *   now() -> number
 *       Milliseconds (may be fractional) since the context's time origin, monotonic, and frozen
 *       while JS runs (it only advances between host events). performance.now() returns it;
 *       performance.timeOrigin is Date.now() - now(), taken on first use.
 *   call(name: string, payload?: Uint8Array) -> Promise<Uint8Array>
 *       An asynchronous host call (fetch); see isolate/src/bridge/bridge.h.
 *   op(code: number, input: Uint8Array, callback?: (event: Uint8Array) => Uint8Array) -> Uint8Array
 *       A synchronous native operation (ops/src/lib.rs: WebCrypto, compression, legacy text
 *       encodings, URLPattern, HTMLRewriter; some keep native state behind a handle, freed with op
 *       0x0001). With `callback`, the op may call it back while it runs, synchronously, with a
 *       Uint8Array (HTMLRewriter's events), and reads the Uint8Array it returns; the op then reads
 *       a private copy of `input`. `input` is a list
 *       of fields (packFields below), at most 16 MiB. A failed op throws an Error with an own
 *       `kind` (1 TypeError, 2 RangeError, 3 NotSupportedError, 4 SyntaxError,
 *       5 InvalidAccessError, 6 DataError, 7 OperationError, 8 QuotaExceededError), which callOp
 *       turns into that exception. Runs on the isolate's thread, charged to the request.
 *
 * MICROTASKS — queueMicrotask is built on a resolved promise. An exception thrown by its callback
 * is reported like a timer's (an "error" event at the global scope, then the logs), as in HTML
 * and workerd; a promise left rejected with no handler reaches `rejections` (see onTimer).
 *
 * HOST EXPORTS — the script's completion value (keep it; tenant code never sees it). A frozen,
 * null-prototype object:
 *   newRequest(method: string, url: string, headers: string[] (flat [n0, v0, n1, v1, ...]),
 *              body: null | Uint8Array | { pull(): Promise<Uint8Array | null>, cancel(reason): void })
 *              -> Request
 *       Builds the Request handed to the tenant. The headers must be what Headers.append would
 *       store (lower-case token names, trimmed byte-string values without NUL, CR or LF): the
 *       host checks them (isolate/src/tasks/head.rs) and they are taken as they are. Throws
 *       TypeError on an invalid url/method or body. A Uint8Array is the whole body; the prelude
 *       keeps it without copying (the host must not change it afterwards). A source object is read lazily: request.body is a byte
 *       stream over it, and `pull` is called (with the source as `this`) only when that stream
 *       wants more, i.e. when a read is waiting (no read-ahead beyond one chunk); it resolves with
 *       the next chunk (the prelude takes the chunk's ArrayBuffer: it is detached), or null at the
 *       end of the body, after which it is never called again; a rejection (or a non-Uint8Array
 *       chunk) errors the stream. `cancel(reason)` is called at most once, when the tenant cancels
 *       the stream before its end; its result is ignored.
 *   readResponse(value: unknown, encode: boolean) -> [status: number, statusText: string,
 *              headers: string[] (flat, lower-case names, set-cookie kept separate),
 *              body: null | Uint8Array | reader, length: number | undefined, socket: null | link]
 *       `socket`, for a 101 carrying a `webSocket`, is the link of its peer (websocket.js):
 *       { run(task) -> Promise<void> }, which the task runs while the socket lives.
 *       With `encode` (the answer goes to an HTTP client), a body whose Content-Encoding is
 *       exactly "gzip" or "br" comes compressed so (its Content-Length left out) unless the
 *       Response was made with `encodeBody: "manual"`, as Cloudflare's runtime does.
 *       `length` is the body's length when its stream enforces one (a FixedLengthStream's
 *       readable, not encoded): the HTTP response's Content-Length.
 *       Throws TypeError unless `value` is a genuine Response whose body is neither used nor
 *       locked; marks it used. Read the answer by index, never by destructuring or iterating
 *       it (tenant code may have replaced the array iterator), and read the bytes through
 *       captured operations only (never a typed array's prototype methods or getters). A
 *       Uint8Array is the whole body, known without running tenant code (made from bytes, a
 *       string, URLSearchParams, a Blob or a FormData, or an untouched stream the prelude made
 *       over such bytes, e.g. `new Response(res.body, res)`); it is read-only for the host (it
 *       may be shared with a clone or be a Blob's). Otherwise the body is a frozen reader
 *         { read(): Promise<Uint8Array | null>, cancel(reason): Promise<void> }
 *       that reads the response's stream through the spec's internal operations (never through
 *       methods tenant code can replace): `read` resolves with the next chunk (possibly empty;
 *       copy it out at once, tenant code may still hold it), null at the end, rejects with the
 *       stream's error, or with a TypeError (and cancels the stream) when a chunk is not a
 *       Uint8Array. Because tenant code can install `then` on prototypes, the host must still
 *       check natively that what `read` resolves with is a Uint8Array or null.
 *   inspect(value: unknown) -> string
 *       The console formatter (never throws), for reporting uncaught errors / rejections.
 *   configure(config: { nodejs, nodeGlobals, asyncHooks, populateProcessEnv: boolean,
 *              compatibilityDate: string | null, compatibilityFlags: string[], env: object })
 *       The worker's compatibility features and env, once, before its modules run (builtins.js):
 *       with nodeGlobals, the Buffer and process globals appear.
 *   builtinNames(name: string) -> string[]; builtinExports(name: string) -> unknown
 *       A built-in module's export names (no code runs), and its default export, built on first
 *       use; its named exports are that value's properties (builtins.js).
 *   workerEnv() -> object | null
 *       The env object of a configured worker (what `env` of cloudflare:workers is).
 *   hasFetchListener() -> boolean
 *       Whether the global scope has a "fetch" event listener (service-worker syntax).
 *   dispatchFetch(request: Request, waitUntil(p), passThrough()) -> Promise<unknown>
 *       Dispatches a trusted FetchEvent for `request` at the global scope; resolves with what a
 *       listener passed to respondWith (to be checked with readResponse), rejects with a
 *       TypeError when none called it. `waitUntil` and `passThrough` back the event's methods.
 *   makeEnv(raw: object | null) -> object
 *       A fetch handler's `env` from the worker's env JSON: plain values as they are; binding
 *       objects ({"binding": "kv"|"workspace", ...}) become KVNamespace / Workspace objects whose
 *       methods make the host calls kv.* / ws.* naming the binding by its env key (kv.js);
 *       {"binding": "d1", ...} a D1Database making the host calls d1.* (d1.js);
 *       {"binding": "r2", ...} an R2Bucket making the host calls r2.* (r2.js).
 *       A {"binding": "capability", ...} object becomes a Proxy whose every method makes the host
 *       call cap.call ({binding, method, args}; answered {result} or {error}; args and result
 *       in rpc.js's tagged structured-clone encoding).
 *       "service" and "loader" bindings become RPC stubs and a WorkerLoader (rpc.js: host calls
 *       service.call, service.fetch, loader.get, loader.create; a service fetch's streamed
 *       answer body is read with fetch.read and let go of with fetch.cancel, a waiting one is
 *       ended with fetch.abort, and a streamed request body is fed with fetch.write).
 *   invokeRpc(ns, payload: string, ctx) -> Promise<string>
 *       Runs one RPC call (STK_INVOKE_RPC) of module namespace `ns`: payload {entrypoint, method,
 *       args, env}; the answer is JSON text {"ok": value} or {"error": {name, message}} (rpc.js).
 *   invokeScheduled(ns, payload: string) -> Promise<string>
 *       Runs one scheduled event (STK_INVOKE_SCHEDULED): payload {cron, scheduledTime, env}; the
 *       answer is JSON text {outcome: "ok"|"exception"|"noHandler", noRetry, error?}, once the
 *       handler and its waitUntil work are over (scheduled.js).
 *   invokeQueue(ns, payload: string, bodies: Uint8Array) -> Promise<string>
 *       Delivers one batch (STK_INVOKE_QUEUE): payload {queue, messages, env}, each message's
 *       body a range of `bodies`; the answer is JSON text {outcome, error?, messages: [{id,
 *       action, delaySeconds?}]} once the handler and its waitUntil work are over (queue.js).
 *
 * LIMITS (deliberate): events have no DOM tree (a target's path is itself), streams are not
 * transferable, an aborted fetch() to the network rejects at once but its host call runs on
 * until the hop answers (the answer is dropped; one to a worker or a service is cancelled),
 * structuredClone transfers ArrayBuffers and MessagePorts only and cannot detect Proxies,
 * console.* cannot see a Promise's state.
 */
;(function stockadePrelude() { // the leading ";" guards against a preceding script without one
"use strict";

const {
  create: ObjectCreate, defineProperty: ObjectDefineProperty, freeze: ObjectFreeze,
  getOwnPropertyDescriptor: ObjectGetOwnPropertyDescriptor, getPrototypeOf: ObjectGetPrototypeOf,
  keys: ObjectKeys, is: ObjectIs, setPrototypeOf: ObjectSetPrototypeOf,
} = Object;
const { apply: ReflectApply, ownKeys: ReflectOwnKeys, get: ReflectGet, has: ReflectHas, set: ReflectSet } = Reflect;
const { fromCharCode: StringFromCharCode } = String;
const ArrayIsArray = Array.isArray;
const SymbolIterator = Symbol.iterator;
const SymbolToStringTag = Symbol.toStringTag;
const JSONStringify = JSON.stringify;
const MathFloor = Math.floor;
const MathTrunc = Math.trunc;

// Capture the host primitives, then make them unreachable from globalThis.
const { hostLog, hostRandomFill, hostSetTimer, hostClearTimer, hostOnTimer, hostNow, hostCall, hostCallSync, hostOp, hostGetContext,
  hostSetContext, hostTask, hostCompileLazy, hostLazyGlobal, hostPromiseState, hostIsProxy } = (() => {
  const h = globalThis.__stockade_host;
  if (h === null || typeof h !== "object") throw new TypeError("stockade prelude: __stockade_host is missing");
  const fns = {
    hostLog: h.log, hostRandomFill: h.randomFill, hostSetTimer: h.setTimer,
    hostClearTimer: h.clearTimer, hostOnTimer: h.onTimer, hostNow: h.now, hostCall: h.call,
    hostCallSync: h.callSync, // a Durable Object's storage only (isolate/src/host.rs refuses the rest)
    hostOp: h.op,
    hostGetContext: h.getContext, hostSetContext: h.setContext, hostTask: h.task,
    hostCompileLazy: h.compileLazy, hostLazyGlobal: h.lazyGlobal,
    hostPromiseState: h.promiseState, // util.inspect's view of a promise (inspect.js)
    hostIsProxy: h.isProxy, // structuredClone refuses proxies; util.types.isProxy
  };
  for (const k of ObjectKeys(fns)) {
    if (typeof fns[k] !== "function") throw new TypeError(`stockade prelude: host primitive ${k} is missing`);
  }
  delete globalThis.__stockade_host; // strict mode: throws if the host made it non-configurable
  return fns;
})();

/** Installs `value` as a global the way WebIDL does: writable, configurable, not enumerable. */
function defineGlobal(name, value) {
  ObjectDefineProperty(globalThis, name, { __proto__: null, value, writable: true, enumerable: false, configurable: true });
}

/** Gives a class prototype (or object) a web-style Symbol.toStringTag. */
function setTag(target, tag) {
  ObjectDefineProperty(target, SymbolToStringTag, { __proto__: null, value: tag, writable: false, enumerable: false, configurable: true });
}

// Symbol.metadata, the decorators proposal's well-known symbol, which V8 13.6 lacks: the registered
// symbol that the decorator helpers of swc (isolate/src/typescript/decorators.rs), Babel and esbuild
// fall back to, so metadata written by decorators lowered here and by bundles lowered elsewhere
// meet at one key. Non-writable and non-configurable, like the other well-known symbols.
if (Symbol.metadata === undefined) {
  ObjectDefineProperty(Symbol, "metadata", { value: Symbol.for("Symbol.metadata"), writable: false, enumerable: false, configurable: false });
}

/** Unforgeable token for constructors the web marks "Illegal constructor" (Performance, Crypto). */
const INTERNAL = Symbol("internal");

/** Each part's internals for other parts, by name, once the part ran: a lazy group's when it is
 *  built (lazy.js's lazyInternals builds it on demand), the others' at prelude evaluation. */
const sharedInternals = { __proto__: null };
/** Called by a part's top level: `internals` (a frozen record) become reachable by `name`. */
function shareInternals(name, internals) {
  sharedInternals[name] = internals;
}

/** Brand checks of every platform class; structuredClone refuses their instances. */
const platformBrands = [];

/** Adds a brand check without Array.prototype.push (a lazily built part, lazy.js, adds its own
 *  after tenant code may have replaced it). */
function addPlatformBrand(isBrand) {
  ObjectDefineProperty(platformBrands, platformBrands.length,
    { __proto__: null, value: isBrand, writable: true, enumerable: true, configurable: true });
}

/** WebIDL USVString conversion: ToString, then lone surrogates become U+FFFD. */
function toUSVString(value) {
  const s = `${value}`;
  // Fast path: no surrogates at all (the common case).
  if (!/[\uD800-\uDFFF]/.test(s)) return s;
  return s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD");
}

/** WebIDL ByteString conversion: every code unit must be <= 0xFF. */
function toByteString(value, what) {
  const s = `${value}`;
  if (/[^\x00-\xFF]/.test(s)) throw new TypeError(`${what}: ${JSONStringify(s)} is not a valid ByteString`);
  return s;
}

const DOMEXCEPTION_CODES = {
  __proto__: null, IndexSizeError: 1, HierarchyRequestError: 3, WrongDocumentError: 4,
  InvalidCharacterError: 5, NoModificationAllowedError: 7, NotFoundError: 8, NotSupportedError: 9,
  InvalidStateError: 11, SyntaxError: 12, InvalidModificationError: 13, NamespaceError: 14,
  InvalidAccessError: 15, TypeMismatchError: 17, SecurityError: 18, NetworkError: 19, AbortError: 20,
  URLMismatchError: 21, QuotaExceededError: 22, TimeoutError: 23, InvalidNodeTypeError: 24,
  DataCloneError: 25,
};

let isDOMException; // (v) -> boolean, for structuredClone
class DOMException extends Error {
  #name;
  #message;
  constructor(message = "", name = "Error") {
    // V8 13.6 writes a stack's first line from the message the Error constructor was given, so
    // it is given one; WebIDL's message is the prototype's accessor, so the own copy goes.
    super(`${message}`);
    delete this.message;
    this.#message = `${message}`;
    this.#name = `${name}`;
  }
  get name() { return this.#name; }
  get message() { return this.#message; }
  get code() { return DOMEXCEPTION_CODES[this.#name] ?? 0; }
  static {
    isDOMException = (v) => v !== null && typeof v === "object" && #name in v;
  }
}
setTag(DOMException.prototype, "DOMException");
// WebIDL: attributes are enumerable accessors (brand checked by the private fields), and the
// legacy code constants sit on both the interface object and its prototype.
for (const key of ["name", "message", "code"]) {
  const d = ObjectGetOwnPropertyDescriptor(DOMException.prototype, key);
  d.enumerable = true;
  ObjectDefineProperty(DOMException.prototype, key, d);
}
[
  "INDEX_SIZE_ERR", "DOMSTRING_SIZE_ERR", "HIERARCHY_REQUEST_ERR", "WRONG_DOCUMENT_ERR", "INVALID_CHARACTER_ERR",
  "NO_DATA_ALLOWED_ERR", "NO_MODIFICATION_ALLOWED_ERR", "NOT_FOUND_ERR", "NOT_SUPPORTED_ERR", "INUSE_ATTRIBUTE_ERR",
  "INVALID_STATE_ERR", "SYNTAX_ERR", "INVALID_MODIFICATION_ERR", "NAMESPACE_ERR", "INVALID_ACCESS_ERR",
  "VALIDATION_ERR", "TYPE_MISMATCH_ERR", "SECURITY_ERR", "NETWORK_ERR", "ABORT_ERR", "URL_MISMATCH_ERR",
  "QUOTA_EXCEEDED_ERR", "TIMEOUT_ERR", "INVALID_NODE_TYPE_ERR", "DATA_CLONE_ERR",
].forEach((name, i) => {
  const d = { value: i + 1, writable: false, enumerable: true, configurable: false };
  ObjectDefineProperty(DOMException, name, d);
  ObjectDefineProperty(DOMException.prototype, name, d);
});
defineGlobal("DOMException", DOMException);

/** Creates web-style iterators ("URLSearchParams Iterator", "Headers Iterator", ...).
 *  `source()` returns the current list of [key, value] pairs; iteration is live and index based.
 *  kind: 0 = keys, 1 = values, 2 = entries. */
const IteratorPrototype = ObjectGetPrototypeOf(ObjectGetPrototypeOf([][SymbolIterator]()));
function iteratorFactory(tag) {
  const states = new WeakMap();
  const proto = ObjectCreate(IteratorPrototype);
  ObjectDefineProperty(proto, "next", {
    value: function next() {
      const s = states.get(this);
      if (s === undefined) throw new TypeError(`next called on an object that is not a ${tag}`);
      const pairs = s.source();
      if (s.index >= pairs.length) return { value: undefined, done: true };
      const pair = pairs[s.index++];
      return { value: s.kind === 0 ? pair[0] : s.kind === 1 ? pair[1] : [pair[0], pair[1]], done: false };
    },
    writable: true, enumerable: true, configurable: true,
  });
  setTag(proto, tag);
  return (source, kind) => {
    const it = ObjectCreate(proto);
    states.set(it, { source, kind, index: 0 });
    return it;
  };
}

/** Reads a WebIDL dictionary member: undefined/null mean "empty", other primitives are a
 *  TypeError, objects are read with a plain [[Get]]. */
function dictGet(dict, key) {
  if (dict === undefined || dict === null) return undefined;
  if (typeof dict !== "object" && typeof dict !== "function") {
    throw new TypeError(`the options argument must be an object (reading "${key}")`);
  }
  return dict[key];
}

// ---- Native ops (see `op` above). ----
const U8 = Uint8Array;
// typedArraySet, bytesView and bytesCopy (encoding.js) are the only ways native-op code touches
// bytes: they never consult a typed array's patchable prototype, species or getters.
const OP_ERROR_NAMES = [undefined, "TypeError", "RangeError", "NotSupportedError", "SyntaxError",
  "InvalidAccessError", "DataError", "OperationError", "QuotaExceededError"];

/** Frames `parts` (Uint8Arrays and u32 numbers) as an op's input: [u32 LE length, bytes]... */
function packFields(parts) {
  let total = 0;
  for (let i = 0; i < parts.length; i++) {
    total += 4 + (typeof parts[i] === "number" ? 4 : typedArrayByteLength(parts[i]));
  }
  const out = new U8(total);
  let o = 0;
  const u32 = (n) => { out[o] = n & 255; out[o + 1] = (n >>> 8) & 255; out[o + 2] = (n >>> 16) & 255; out[o + 3] = n >>> 24; o += 4; };
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (typeof p === "number") { u32(4); u32(p >>> 0); continue; }
    const n = typedArrayByteLength(p);
    u32(n);
    typedArraySet(out, p, o);
    o += n;
  }
  return out;
}

/** The fields of an op's framed answer, as views of it. */
function unpackFields(bytes) {
  const list = [];
  const total = typedArrayByteLength(bytes);
  let o = 0;
  while (o + 4 <= total) {
    const n = (bytes[o] | (bytes[o + 1] << 8) | (bytes[o + 2] << 16) | (bytes[o + 3] << 24)) >>> 0;
    o += 4;
    list[list.length] = bytesView(bytes, o, o + n);
    o += n;
  }
  return list;
}

/** Runs native op `code` on `parts` (with `callback`, which the op may call back with bytes and
 *  which answers bytes: HTMLRewriter's handlers); a failed op throws the web's exception. */
function callOp(code, parts, callback = undefined) {
  try {
    return hostOp(code, packFields(parts), callback);
  } catch (e) {
    const kind = e !== null && typeof e === "object" ? ObjectGetOwnPropertyDescriptor(e, "kind") : undefined;
    if (kind === undefined) throw e;
    const d = ObjectGetOwnPropertyDescriptor(e, "message");
    const message = d === undefined ? "" : `${d.value}`;
    const name = OP_ERROR_NAMES[kind.value] ?? "OperationError";
    if (name === "TypeError") throw new TypeError(message);
    if (name === "RangeError") throw new RangeError(message);
    if (name === "QuotaExceededError") throw new QuotaExceededError(message);
    throw new DOMException(message, name);
  }
}
