// stockade-wpt's main module: a worker-like global for one WPT test file, then the test.
// The host prepends one line, `const CONFIG = {...};` (href, title, bundle), and loads it with
// every other module of the test (src/bundle.rs). Then it calls the default export:
//   "run"      imports the bundle (testharness.js, reporter.js, the META includes and the test,
//              one module each, statically imported in that order, so they evaluate in one job
//              as importScripts() would), then calls done(), and answers the results once the
//              harness completes;
//   "results"  answers what has been reported so far (after the run was cut short).
// Completion follows WPT's dedicated-worker wrapper (`importScripts(test); done();`, with the
// harness waiting for that done() as in a dedicated worker): reporter.js calls
// setup({explicit_done: true}) and the run calls done() once the scripts have evaluated, or
// reports the exception that stopped them to the harness (which then calls done() itself). One
// departure: a file that asks for setup({single_test: true}) ends itself with its own done()
// (WPT's worker wrapper would end it at once, before its timers ran).
// How each classic script becomes a module, and what that changes, is in src/script.rs.
// Unhandled promise rejections are not reported to the harness (the engine has no hook for them;
// a browser would make them a harness error).
// Trusts: the test not to tamper with the few builtins the reporter calls later (WPT files do
// not; the reporter holds its own copies of the globals it needs); the state below is
// module-private and the answer is built from it.

const defineProperty = Object.defineProperty;
const getOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
const ReflectConstruct = Reflect.construct;
const StringReplace = String.prototype.replace;
const ReflectApply = Reflect.apply;
const StringCtor = String;
const URLCtor = URL;
const NativeRequest = globalThis.Request;
const NativeFetch = globalThis.fetch;
const PromiseReject = Promise.reject.bind(Promise);

// ---- the global a dedicated worker's test would see ------------------------------------------

const value = (name, v, enumerable = false) =>
  defineProperty(globalThis, name, { value: v, writable: true, enumerable, configurable: true });

value("self", globalThis, true);

// WorkerLocation: the test file's URL on a made-up origin; `search` is empty, so the subset
// helpers (common/subset-tests.js) run every subtest in one go.
class WorkerLocation {
  #url;
  constructor(href) { this.#url = new URLCtor(href); }
  get href() { return this.#url.href; }
  get origin() { return this.#url.origin; }
  get protocol() { return this.#url.protocol; }
  get host() { return this.#url.host; }
  get hostname() { return this.#url.hostname; }
  get port() { return this.#url.port; }
  get pathname() { return this.#url.pathname; }
  get search() { return this.#url.search; }
  get hash() { return this.#url.hash; }
  toString() { return this.#url.href; }
}
defineProperty(WorkerLocation.prototype, Symbol.toStringTag, { value: "WorkerLocation", configurable: true });
const location = new WorkerLocation(CONFIG.href);
defineProperty(globalThis, "location", { get: () => location, enumerable: true, configurable: true });

if (CONFIG.title !== null) value("META_TITLE", CONFIG.title, true);

// What WPT's wrapper for a dedicated worker defines (no collected test reads it today).
value("GLOBAL", {
  isWindow() { return false; },
  isWorker() { return true; },
  isShadowRealm() { return false; },
}, true);

// The base URL: in a worker, relative URLs given to Request and fetch() resolve against the
// worker's location. Stockade's Request has no base URL (a Cloudflare-style worker has none), so
// the runner resolves string inputs first; everything else is the prelude's own Request/fetch.
// A Proxy keeps Request's name, length, prototype and instanceof.
function resolveInput(input) {
  if (typeof input === "object" && input !== null && input instanceof NativeRequest) return input;
  return new URLCtor(`${input}`, location.href).href;
}
if (typeof NativeRequest === "function") {
  const RequestWithBase = new Proxy(NativeRequest, {
    construct(target, args, newTarget) {
      if (args.length > 0) args[0] = resolveInput(args[0]);
      return ReflectConstruct(target, args, newTarget === RequestWithBase ? target : newTarget);
    },
  });
  value("Request", RequestWithBase);
}
if (typeof NativeFetch === "function") {
  value("fetch", {
    fetch(input, init = undefined) {
      let resolved;
      try {
        resolved = resolveInput(input);
      } catch (e) {
        return PromiseReject(e);
      }
      return NativeFetch(resolved, init);
    },
  }.fetch);
}

// Called by each script's prologue (src/script.rs): mirrors its top-level bindings on globalThis
// and creates the globals it assigns without declaring.
value(CONFIG.globalsHook, function (bindings, implicit) {
  for (const name of implicit) {
    if (!(name in globalThis)) value(name, undefined, true);
  }
  for (const [name, get, set] of bindings) {
    try {
      defineProperty(globalThis, name, { get, set, enumerable: true, configurable: true });
    } catch {
      // A non-configurable global (undefined, NaN, ...): the script keeps its own binding.
    }
  }
});

// ---- the reporter --------------------------------------------------------------------------

// testharness.js registers "error" / "unhandledrejection" listeners when the global has
// addEventListener; this global lends it one while testharness.js evaluates (reporter.js takes it
// back), so an exception a script throws at its top level reaches the harness as in a browser.
const listeners = { __proto__: null, error: [], unhandledrejection: [] };
const savedAddEventListener = getOwnPropertyDescriptor(globalThis, "addEventListener");
function lendAddEventListener() {
  value("addEventListener", function addEventListener(type, listener) {
    if (type in listeners && typeof listener === "function") listeners[type].push(listener);
  });
}
function restoreAddEventListener() {
  if (savedAddEventListener) defineProperty(globalThis, "addEventListener", savedAddEventListener);
  else delete globalThis.addEventListener;
}

// Lone surrogates would not survive the JSON the host reads: they become visible escapes.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
function text(v) {
  if (v === undefined || v === null) return null;
  let s;
  try {
    s = StringCtor(v);
  } catch {
    s = "(a value String() cannot convert)";
  }
  return ReflectApply(StringReplace, s, [LONE_SURROGATE, (c) => `\\u${c.charCodeAt(0).toString(16)}`]);
}

const results = [];
let harness = null; // { status, message } once the harness completed
let earlyError = null; // an error before testharness.js could take it
let harnessDone = null; // testharness.js's done(), taken before the test could replace it
let singleTest = false; // the file called setup({single_test: true})
let completed;
const completion = new Promise((resolve) => { completed = resolve; });

// reporter.js, right after testharness.js: takes the listeners back and registers the callbacks.
export function installReporter() {
  restoreAddEventListener();
  const { add_result_callback, add_completion_callback, add_start_callback, setup, done } = globalThis;
  harnessDone = done;
  add_start_callback((properties) => {
    singleTest = properties !== null && typeof properties === "object" && properties.single_test === true;
  });
  add_result_callback((t) => {
    results[results.length] = { name: text(t.name), status: t.status, message: text(t.message) };
  });
  add_completion_callback((tests, status) => {
    harness = { status: status.status, message: text(status.message) };
    completed();
  });
  setup({ explicit_done: true });
}

// An exception in a callback the runtime runs (a timer's) is reported as on the web: an "error"
// event at the global scope, which reaches the harness's listeners like a top-level throw.
const globalAddEventListener = globalThis.addEventListener; // own or inherited, before any lending
if (typeof globalAddEventListener === "function") {
  globalAddEventListener.call(globalThis, "error", (event) => uncaught(event.error));
}

function uncaught(error) {
  const message = `Uncaught ${text(error)}`;
  if (listeners.error.length === 0) {
    earlyError ??= message;
    return;
  }
  const event = { type: "error", message, error, filename: CONFIG.href, lineno: 0, colno: 0 };
  for (const listener of listeners.error) listener(event);
}

function answer() {
  return { harness: harness ?? (earlyError === null ? null : { status: 1, message: earlyError }), results };
}

export default async function (what) {
  if (what === "results") return answer();
  lendAddEventListener();
  let threw = false;
  try {
    await import(CONFIG.bundle);
  } catch (e) {
    threw = true;
    uncaught(e);
  } finally {
    if (listeners.error.length === 0) restoreAddEventListener();
  }
  if (harnessDone === null || earlyError !== null) {
    // testharness.js itself (or the reporter) did not load: nothing will complete.
    earlyError ??= "testharness.js did not load";
    return answer();
  }
  if (!threw && !singleTest) harnessDone();
  await completion;
  return answer();
}
