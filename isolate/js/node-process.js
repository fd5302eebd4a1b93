// ---- node-process.js: node:process and node:async_hooks. ----------------------------------------
// process: an EventEmitter with `env` (the worker's string bindings when the compatibility date
// or flags say so, see stockade_source::compat; otherwise empty), nextTick (a microtask: it runs
// before timers but, unlike Node, among promise reactions rather than before them), version,
// versions, platform "linux", cwd() "/", hrtime from the frozen monotonic clock; exit(),
// chdir() and the like throw, there being no process to end or directory to change.
//
// AsyncLocalStorage keeps its stores in V8's continuation-preserved embedder data (the bridge's
// getContext/setContext): every promise reaction captures the current frame when it is created
// and runs inside it, so a store follows `await`, `.then`, queueMicrotask, and (timers.js
// captures it when a timer is armed) setTimeout/setInterval; the runtime starts every
// invocation with an empty frame. What it does not follow, as in Node: an EventEmitter's
// listeners run in the frame of whoever emits, not the one they were added in (unless bound with
// AsyncResource.bind / AsyncLocalStorage.bind).

const NODE_VERSION = "22.14.0";

function processModule() {
  const EventEmitter = builtinExports("node:events");
  const proc = new EventEmitter();
  const env = ObjectCreate(Object.prototype);
  if (workerConfig.populateProcessEnv && workerConfig.env !== null) {
    for (const key of ObjectKeys(workerConfig.env)) {
      const value = workerConfig.env[key];
      if (typeof value === "string") env[key] = value;
    }
  }
  const refuse = (what) => () => {
    throw nodeError(Error, "ERR_METHOD_NOT_IMPLEMENTED", `process.${what}() is not supported by Stockade`);
  };
  const hrtime = (previous) => {
    const ms = hostNow();
    let s = MathFloor(ms / 1000);
    let ns = MathFloor((ms % 1000) * 1e6);
    if (ArrayIsArray(previous)) {
      s -= previous[0];
      ns -= previous[1];
      if (ns < 0) { s--; ns += 1e9; }
    }
    return [s, ns];
  };
  hrtime.bigint = () => BigInt(MathFloor(hostNow() * 1e6));
  const writer = (level) => ({
    write(chunk) {
      const text = typeof chunk === "string" ? chunk : utf8Decode(bufferSourceBytes(chunk, "write"));
      hostLog(level, text.endsWith("\n") ? text.slice(0, -1) : text);
      return true;
    },
    isTTY: false,
  });
  const members = {
    env,
    argv: ["node"], argv0: "node", execArgv: [], execPath: "/usr/bin/node",
    title: "node", pid: 1, ppid: 0, platform: "linux", arch: "x64",
    version: `v${NODE_VERSION}`,
    versions: { node: NODE_VERSION, v8: "13.6" },
    release: { name: "node" },
    features: { inspector: false, ipv6: true, tls: false },
    config: { variables: {} },
    exitCode: undefined,
    browser: false,
    cwd: () => "/",
    chdir: refuse("chdir"),
    exit: refuse("exit"),
    abort: refuse("abort"),
    kill: refuse("kill"),
    umask: () => 0o22,
    uptime: () => hostNow() / 1000,
    hrtime,
    memoryUsage: () => ({ rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 }),
    cpuUsage: () => ({ user: 0, system: 0 }),
    nextTick(callback, ...args) {
      validateFunction(callback, "callback");
      queueMicrotask(() => ReflectApply(callback, undefined, args));
    },
    emitWarning(warning, type) {
      const text = warning instanceof Error ? `${warning.name}: ${warning.message}` : `${type ?? "Warning"}: ${warning}`;
      hostLog(2, text);
    },
    getBuiltinModule: (id) => {
      const name = `${id}`.startsWith("node:") ? `${id}` : `node:${id}`;
      return MapHas(builtinModules, name) ? builtinExports(name) : undefined;
    },
    stdout: writer(1),
    stderr: writer(3),
    stdin: undefined,
  };
  for (const k of ObjectKeys(members)) proc[k] = members[k];
  return proc;
}

defineBuiltin("node:process", ["env", "argv", "argv0", "execArgv", "execPath", "title", "pid", "ppid",
  "platform", "arch", "version", "versions", "release", "features", "config", "exitCode", "browser", "cwd",
  "chdir", "exit", "abort", "kill", "umask", "uptime", "hrtime", "memoryUsage", "cpuUsage", "nextTick",
  "emitWarning", "getBuiltinModule", "stdout", "stderr", "stdin"], processModule);

// ---- node:async_hooks ----
// The frame is an immutable Map from AsyncLocalStorage instance to its store (copied on write),
// or undefined for none.

/** Runs `fn` with `frame` as the current async context, restoring the previous one after. */
function runInFrame(frame, fn, thisArg, args) {
  const previous = hostGetContext();
  hostSetContext(frame);
  try {
    return ReflectApply(fn, thisArg, args);
  } finally {
    hostSetContext(previous);
  }
}

function frameWith(storage, store) {
  const current = hostGetContext();
  const next = current instanceof MapCtor ? new MapCtor(current) : new MapCtor();
  MapSet(next, storage, store);
  return next;
}

defineBuiltin("node:async_hooks", ["AsyncLocalStorage", "AsyncResource", "executionAsyncId",
  "triggerAsyncId", "executionAsyncResource", "createHook"], () => {
  class AsyncLocalStorage {
    #enabled = true;
    static bind(fn) {
      return AsyncResource.bind(fn);
    }
    static snapshot() {
      const frame = hostGetContext();
      return (fn, ...args) => runInFrame(frame, fn, undefined, args);
    }
    getStore() {
      const frame = hostGetContext();
      return this.#enabled && frame instanceof MapCtor ? MapGet(frame, this) : undefined;
    }
    run(store, callback, ...args) {
      validateFunction(callback, "callback");
      this.#enabled = true;
      return runInFrame(frameWith(this, store), callback, undefined, args);
    }
    exit(callback, ...args) {
      validateFunction(callback, "callback");
      const current = hostGetContext();
      if (!(current instanceof MapCtor) || !MapHas(current, this)) return ReflectApply(callback, undefined, args);
      const next = new MapCtor(current);
      MapDelete(next, this);
      return runInFrame(next, callback, undefined, args);
    }
    enterWith(store) {
      this.#enabled = true;
      hostSetContext(frameWith(this, store));
    }
    disable() {
      this.#enabled = false;
      const current = hostGetContext();
      if (current instanceof MapCtor && MapHas(current, this)) {
        const next = new MapCtor(current);
        MapDelete(next, this);
        hostSetContext(next);
      }
    }
    get name() { return ""; }
  }
  class AsyncResource {
    #frame = hostGetContext();
    constructor(type) {
      this.type = `${type}`;
    }
    runInAsyncScope(fn, thisArg, ...args) {
      return runInFrame(this.#frame, fn, thisArg, args);
    }
    bind(fn, thisArg) {
      validateFunction(fn, "fn");
      const frame = this.#frame;
      const bound = function (...args) { return runInFrame(frame, fn, thisArg === undefined ? this : thisArg, args); };
      ObjectDefineProperty(bound, "length", { value: fn.length, configurable: true });
      return bound;
    }
    emitDestroy() { return this; }
    asyncId() { return 0; }
    triggerAsyncId() { return 0; }
    static bind(fn, type, thisArg) {
      return new AsyncResource(type ?? fn.name ?? "bound-anonymous-fn").bind(fn, thisArg);
    }
  }
  return {
    AsyncLocalStorage, AsyncResource,
    executionAsyncId: () => 0, triggerAsyncId: () => 0, executionAsyncResource: () => ({}),
    createHook: () => ({ enable() { return this; }, disable() { return this; } }),
  };
});
