// ---- workers.js: Workers-only globals: navigator, scheduler, request.cf and the -
// service-worker syntax (FetchEvent); uncaught errors and promise rejections at the global scope
// (ErrorEvent, PromiseRejectionEvent); channel messaging is messaging.js. As
// workerd reports them: `navigator.userAgent` is "Cloudflare-Workers" (code that sniffs for
// Workers takes the Workers path) and
// `navigator.hardwareConcurrency` is 1 (one request is one thread of JavaScript, whatever the
// machine has). `scheduler.wait(ms, { signal })` is a promise-returning setTimeout. The
// service-worker syntax: a module without a default `fetch` handler that calls
// `addEventListener("fetch", (event) => event.respondWith(...))` gets each request as a
// FetchEvent dispatched at the global scope (runtime.js asks dispatchFetchForHost).

// ---- navigator ----------------------------------------------------------------------------------
class Navigator {
  constructor(key) {
    if (key !== INTERNAL) throw new TypeError("Illegal constructor");
  }
  get userAgent() { return "Cloudflare-Workers"; }
  get hardwareConcurrency() { return 1; }
  get language() { return "en"; }
  get languages() { return ["en"]; }
}
setTag(Navigator.prototype, "Navigator");
const navigatorObject = new Navigator(INTERNAL);
platformBrands.push((v) => v === navigatorObject);
inspectThroughGetters(Navigator, ["userAgent", "hardwareConcurrency", "language"]);
defineGlobal("Navigator", Navigator);
defineGlobal("navigator", navigatorObject);

// ---- scheduler ----------------------------------------------------------------------------------
class Scheduler {
  constructor(key) {
    if (key !== INTERNAL) throw new TypeError("Illegal constructor");
  }
  /** Resolves with undefined after `delay` ms; rejects with the signal's reason once it aborts. */
  wait(delay = 0, options = undefined) {
    const ms = timerDelay(delay);
    const signal = dictGet(options, "signal");
    if (signal !== undefined && signal !== null && !isAbortSignal(signal)) {
      return promiseRejectedWith(new TypeError("scheduler.wait: options.signal is not an AbortSignal"));
    }
    if (signal != null && abortSignalAborted(signal)) return promiseRejectedWith(abortSignalReason(signal));
    return new PromiseCtor((resolve, reject) => {
      let onAbort = null;
      const id = armInternalTimer(() => {
        if (onAbort !== null) removeAbortAlgorithm(signal, onAbort);
        resolve(undefined);
      }, ms);
      if (signal != null) {
        onAbort = () => {
          disarmInternalTimer(id);
          reject(abortSignalReason(signal));
        };
        addAbortAlgorithm(signal, onAbort);
      }
    });
  }
}
setTag(Scheduler.prototype, "Scheduler");
const schedulerObject = new Scheduler(INTERNAL);
platformBrands.push((v) => v === schedulerObject);
defineGlobal("Scheduler", Scheduler);
defineGlobal("scheduler", schedulerObject);

// ---- request.cf ---------------------------------------------------------------------------------
/** The process's time zone (the worker process's `TZ`), read once while the startup snapshot is
 *  made: ICU's first date formatter costs a fresh process about 20 ms of CPU, and each later
 *  isolate about 1 ms, which every request's `cf` would otherwise pay. */
let processTimezone = null;
try { processTimezone = new Intl.DateTimeFormat().resolvedOptions().timeZone ?? null; } catch {}

/** The `cf` object of a request the host delivers: Cloudflare's IncomingRequestCfProperties as a
 *  self-hosted daemon can fill them. There is no edge: `colo` is "LOCAL", and what only an edge
 *  network knows (geolocation, ASN, bot score, TLS client details) is null. */
function incomingCf(acceptEncoding) {
  return {
    colo: "LOCAL",
    httpProtocol: "HTTP/1.1",
    tlsVersion: "",
    tlsCipher: "",
    clientAcceptEncoding: acceptEncoding,
    requestPriority: "",
    edgeRequestKeepAliveStatus: 1,
    clientTcpRtt: null,
    asn: null,
    asOrganization: null,
    country: null,
    isEUCountry: null,
    city: null,
    continent: null,
    region: null,
    regionCode: null,
    postalCode: null,
    metroCode: null,
    latitude: null,
    longitude: null,
    timezone: processTimezone,
    botManagement: null,
    tlsClientAuth: null,
  };
}

// ---- service-worker syntax: FetchEvent ----------------------------------------------------------
let fetchEventBegin; // (event, waitUntil(p), passThrough()) -> undefined: respondWith allowed
let fetchEventEnd; // (event) -> [responded: boolean, answer: Promise<Response> | undefined]

class FetchEvent extends Event {
  #request;
  #responded = false;
  #answer = undefined;
  #dispatching = false;
  #waitUntil = null;
  #passThrough = null;
  constructor(type, init) {
    requireArgs(arguments.length, 2, "FetchEvent");
    const request = dictGet(init, "request");
    if (!isRequest(request)) throw new TypeError("FetchEvent: init.request must be a Request");
    super(type, init);
    this.#request = request;
  }
  get request() { return this.#request; }
  /** Only while the event is dispatched, once: the Response (or a promise of it) to answer with. */
  respondWith(response) {
    requireArgs(arguments.length, 1, "FetchEvent.respondWith");
    if (!this.#dispatching) {
      throw new DOMException("FetchEvent.respondWith: call it synchronously, from the event listener", "InvalidStateError");
    }
    if (this.#responded) throw new DOMException("FetchEvent.respondWith: already called", "InvalidStateError");
    this.#responded = true;
    eventCancel(this);
    this.#answer = promiseResolvedWith(response);
  }
  waitUntil(promise) {
    requireArgs(arguments.length, 1, "FetchEvent.waitUntil");
    if (this.#waitUntil === null) throw new DOMException("FetchEvent.waitUntil: this event is not the runtime's", "InvalidStateError");
    this.#waitUntil(promise);
  }
  passThroughOnException() {
    if (this.#passThrough !== null) this.#passThrough();
  }
  static {
    fetchEventBegin = (e, waitUntil, passThrough) => {
      e.#waitUntil = waitUntil;
      e.#passThrough = passThrough;
      e.#dispatching = true;
    };
    fetchEventEnd = (e) => {
      e.#dispatching = false;
      return [e.#responded, e.#answer];
    };
  }
}
webidlEnumerable(FetchEvent);
setTag(FetchEvent.prototype, "FetchEvent");
defineGlobal("FetchEvent", FetchEvent);

// ---- Uncaught exceptions: ErrorEvent, reportError ----------------------------------------------
// An exception nothing caught in a callback the runtime ran (a timer's) is reported as the web
// does it: a trusted, cancelable ErrorEvent "error" at the global scope, and, unless a listener
// canceled it, a console line (level error) in the request's logs. The request goes on.

class ErrorEvent extends Event {
  #message;
  #filename;
  #lineno;
  #colno;
  #error;
  constructor(type, init = undefined) {
    requireArgs(arguments.length, 1, "ErrorEvent");
    super(type, init);
    const message = dictGet(init, "message");
    const filename = dictGet(init, "filename");
    const lineno = dictGet(init, "lineno");
    const colno = dictGet(init, "colno");
    this.#message = message === undefined ? "" : `${message}`;
    this.#filename = filename === undefined ? "" : `${filename}`;
    this.#lineno = lineno === undefined ? 0 : lineno >>> 0;
    this.#colno = colno === undefined ? 0 : colno >>> 0;
    this.#error = dictGet(init, "error");
  }
  get message() { return this.#message; }
  get filename() { return this.#filename; }
  get lineno() { return this.#lineno; }
  get colno() { return this.#colno; }
  get error() { return this.#error; }
}
webidlEnumerable(ErrorEvent);
setTag(ErrorEvent.prototype, "ErrorEvent");
defineGlobal("ErrorEvent", ErrorEvent);

/** HTML's "report an exception" at the global scope (see above). */
function reportUncaughtException(error) {
  let message = "uncaught exception";
  try {
    message = error !== null && typeof error === "object" && typeof error.message === "string"
      ? error.message
      : `${error}`;
  } catch {
    // a message that cannot be read is no reason not to report
  }
  const event = new ErrorEvent("error", { message, error, cancelable: true });
  eventSetTrusted(event, true);
  if (dispatchInternal(globalThis, event)) reportException(error);
}

// ---- Promise rejections: unhandledrejection, rejectionhandled -----------------------------------
// As HTML and workerd do: a promise still rejected with no handler once the microtask checkpoint
// that rejected it is over is a trusted, cancelable PromiseRejectionEvent "unhandledrejection" at
// the global scope and, unless a listener canceled it, an "Uncaught (in promise)" console line
// (level error) in the logs of the request whose code rejected it. A handler added to it later
// fires "rejectionhandled" (not cancelable). The host records the rejections (V8's promise-reject
// callback) and calls dispatchRejectionForHost after each checkpoint, in the async context the
// promise was rejected in; a task's own promise (what a handler returned) is never one of them.

class PromiseRejectionEvent extends Event {
  #promise;
  #reason;
  constructor(type, init) {
    requireArgs(arguments.length, 2, "PromiseRejectionEvent");
    if (init === null || (typeof init !== "object" && typeof init !== "function")) {
      throw new TypeError("PromiseRejectionEvent: init must be an object with a promise");
    }
    // Dictionary members in lexicographic order, inherited ones first (bubbles, cancelable,
    // composed, then promise and reason).
    super(type, init);
    const promise = init.promise;
    if (promise === null || (typeof promise !== "object" && typeof promise !== "function")) {
      throw new TypeError("PromiseRejectionEvent: init.promise is required and must be an object");
    }
    this.#promise = promise;
    this.#reason = init.reason;
  }
  get promise() { return this.#promise; }
  get reason() { return this.#reason; }
}
webidlEnumerable(PromiseRejectionEvent);
setTag(PromiseRejectionEvent.prototype, "PromiseRejectionEvent");
inspectThroughGetters(PromiseRejectionEvent, ["type", "promise", "reason", "defaultPrevented", "cancelable", "timeStamp"]);
defineGlobal("PromiseRejectionEvent", PromiseRejectionEvent);

// HTML's "outstanding rejected promises weak set": those an unhandledrejection fired for, which a
// later handler turns into a rejectionhandled. Made per isolate on first use (never in the
// snapshot's evaluation).
let notifiedRejections = null;
const WeakSetCtor = WeakSet;
const WeakSetAdd = uncurry(WeakSet.prototype.add);
const WeakSetDelete = uncurry(WeakSet.prototype.delete);

/** kind 0: `promise` was rejected with `reason` and nothing handled it; kind 1: a handler was
 *  added to `promise` after that; kind 2: `reason` more rejections were not recorded (the host's
 *  cap between two checkpoints). Never throws: listeners' exceptions are reported. */
function dispatchRejectionForHost(kind, promise, reason) {
  if (kind === 2) {
    reportRejectionLine(`${reason} more promise rejections with no handler were not reported`);
    return;
  }
  if (kind === 1) {
    if (notifiedRejections === null || !WeakSetDelete(notifiedRejections, promise)) return;
    const event = new PromiseRejectionEvent("rejectionhandled", { __proto__: null, promise, reason });
    eventSetTrusted(event, true);
    dispatchInternal(globalThis, event);
    return;
  }
  const event = new PromiseRejectionEvent("unhandledrejection", { __proto__: null, promise, reason, cancelable: true });
  eventSetTrusted(event, true);
  const notCanceled = dispatchInternal(globalThis, event);
  (notifiedRejections ??= new WeakSetCtor());
  WeakSetAdd(notifiedRejections, promise);
  if (notCanceled) reportCaughtRejection(reason);
}

/** The error line of a rejection nobody handled, or that the runtime caught for the tenant (a
 *  `ctx.waitUntil` promise's): "Uncaught (in promise) <reason>", as workerd logs both. */
function reportCaughtRejection(reason) {
  let text = "[object]";
  try { text = inspect(reason); } catch { /* keep "[object]" */ }
  reportRejectionLine(`Uncaught (in promise) ${text}`);
}

function reportRejectionLine(text) {
  try {
    hostLog(3, text);
  } catch {
    // the host may refuse output (quota); nothing else can be done
  }
}

defineGlobal("reportError", function reportError(error) {
  requireArgs(arguments.length, 1, "reportError");
  reportUncaughtException(error);
});

/** Whether the global scope has a "fetch" listener (an `onfetch` handler counts). */
function hasFetchListenerForHost() {
  const listeners = targetState(globalThis).listeners;
  for (let i = 0; i < listeners.length; i++) {
    if (listeners[i].type === "fetch" && !listeners[i].removed) return true;
  }
  return false;
}

/** Dispatches a trusted FetchEvent for `request` at the global scope and returns the promise a
 *  listener gave to respondWith (a rejected one when none did). `waitUntil(p)` and
 *  `passThrough()` are the request's ctx. A listener that throws is reported like any uncaught
 *  exception; the request then fails unless another listener responded. */
function dispatchFetchForHost(request, waitUntil, passThrough) {
  const event = new FetchEvent("fetch", { request, cancelable: true });
  eventSetTrusted(event, true);
  fetchEventBegin(event, waitUntil, passThrough);
  let answer;
  try {
    dispatchInternal(globalThis, event);
  } finally {
    answer = fetchEventEnd(event);
  }
  if (!answer[0]) {
    return promiseRejectedWith(new TypeError("no \"fetch\" event listener called event.respondWith()"));
  }
  return answer[1];
}

// ---- Non-fetch events (scheduled.js, queue.js): a run's ctx, handler and global listeners -----
/** One run of a non-fetch event (`method`: "scheduled", "queue") of module namespace `ns`:
 *  `ctx` (`waitUntil`, `passThroughOnException`, `props`, `exports`), `waitUntil(p)` for an event object's own,
 *  `shape` "class" (a WorkerEntrypoint-style class: construct with (ctx, env), call `method`),
 *  "object" (the default export's `method`) or null, the `handler`, the worker's `env`, and
 *  `settle()`: every waitUntil promise awaited, each rejection reported; its answer is the first
 *  rejection as { error } or null. */
function eventRun(ns, method, envJson) {
  const pending = { __proto__: null, length: 0 };
  const failures = { __proto__: null, count: 0, first: undefined };
  const track = async (p) => {
    try {
      await p;
    } catch (e) {
      reportCaughtRejection(e);
      if (failures.count++ === 0) failures.first = e;
    }
  };
  const waitUntil = (p) => { pending[pending.length++] = track(p); };
  const handler = ns.default;
  const isClass = typeof handler === "function" && handler.prototype !== null &&
    typeof handler.prototype === "object" && typeof handler.prototype[method] === "function";
  const isObject = !isClass && handler !== null && typeof handler === "object" && typeof handler[method] === "function";
  const env = workerEnv() ?? makeEnv(envJson);
  return {
    __proto__: null,
    // props: an event comes through no binding; exports: the loopback stubs (rpc.js).
    ctx: {
      waitUntil(p) { waitUntil(p); },
      passThroughOnException() {},
      props: {},
      get exports() { return lazyInternals("rpc").ctxExportsOf(ns, env); }, // rpc.js
    },
    waitUntil,
    handler,
    shape: isClass ? "class" : isObject ? "object" : null,
    env,
    async settle() {
      for (let i = 0; i < pending.length; i++) await pending[i];
      return failures.count > 0 ? { __proto__: null, error: failures.first } : null;
    },
  };
}

/** The global scope's listeners of `type`, in order, as a dispatch would snapshot them (a
 *  null-prototype record, indexed: no setter tenant code put on Array.prototype runs). */
function globalListenersOf(type) {
  const listeners = targetState(globalThis).listeners;
  const out = { __proto__: null, length: 0 };
  for (let i = 0; i < listeners.length; i++) {
    const l = listeners[i];
    if (l.type === type && !l.removed) out[out.length++] = l;
  }
  return out;
}

/** Service-worker syntax for a non-fetch event: the env's bindings become globals (as
 *  runtime.js's exposeEnv does for fetch), then each `type` listener of the global scope is
 *  called with `event` (trusted); a throw is remembered and the others still run. The first
 *  error as { error }, or null. */
function dispatchToGlobalListeners(type, event, env) {
  const names = ObjectKeys(env);
  for (let i = 0; i < names.length; i++) {
    if (ObjectGetOwnPropertyDescriptor(globalThis, names[i]) === undefined) {
      ObjectDefineProperty(globalThis, names[i], { __proto__: null, value: env[names[i]], writable: true, enumerable: false, configurable: true });
    }
  }
  const state = targetState(globalThis);
  const listeners = globalListenersOf(type);
  let failed = null;
  eventSetTrusted(event, true);
  for (let i = 0; i < listeners.length; i++) {
    const l = listeners[i];
    if (l.removed) continue;
    if (l.once) removeListener(state, l);
    try {
      if (l.internal !== null) ReflectApply(l.internal, globalThis, [event]);
      else if (typeof l.callback === "function") ReflectApply(l.callback, globalThis, [event]);
      else {
        const handleEvent = l.callback.handleEvent;
        if (typeof handleEvent !== "function") throw new TypeError("the listener has no handleEvent method");
        ReflectApply(handleEvent, l.callback, [event]);
      }
    } catch (e) {
      if (failed === null) failed = { __proto__: null, error: e };
    }
  }
  return failed;
}

/** A thrown value's {name, message} for an answer to the host, read without letting a throwing
 *  getter escape (rpc.js, scheduled.js and queue.js answer with it). */
function errorSummary(e) {
  let name = "Error";
  let message = "";
  try {
    if (e !== null && typeof e === "object") {
      name = typeof e.name === "string" ? e.name : "Error";
      message = typeof e.message === "string" ? e.message : "";
    } else {
      message = `${e}`;
    }
  } catch {}
  return { name, message };
}
