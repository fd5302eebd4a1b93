// ---- node-process.js: node:process, node:async_hooks and node:os. ------------------------------
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

// ---- node:os: workerd's stub (a worker sees no host: no CPUs, memory, interfaces or user). ----
function osModule() {
  const validateNumber = (value, name) => {
    if (typeof value !== "number") throw invalidArgType(name, "of type number", value);
  };
  const frozen = (o) => ObjectFreeze(o);
  const errno = {
    __proto__: null, E2BIG: 7, EACCES: 13, EADDRINUSE: 98, EADDRNOTAVAIL: 99, EAFNOSUPPORT: 97, EAGAIN: 11,
    EALREADY: 114, EBADF: 9, EBADMSG: 74, EBUSY: 16, ECANCELED: 125, ECHILD: 10, ECONNABORTED: 103,
    ECONNREFUSED: 111, ECONNRESET: 104, EDEADLK: 35, EDESTADDRREQ: 89, EDOM: 33, EDQUOT: 122, EEXIST: 17,
    EFAULT: 14, EFBIG: 27, EHOSTUNREACH: 113, EIDRM: 43, EILSEQ: 84, EINPROGRESS: 115, EINTR: 4, EINVAL: 22,
    EIO: 5, EISCONN: 106, EISDIR: 21, ELOOP: 40, EMFILE: 24, EMLINK: 31, EMSGSIZE: 90, EMULTIHOP: 72,
    ENAMETOOLONG: 36, ENETDOWN: 100, ENETRESET: 102, ENETUNREACH: 101, ENFILE: 23, ENOBUFS: 105, ENODATA: 61,
    ENODEV: 19, ENOENT: 2, ENOEXEC: 8, ENOLCK: 37, ENOLINK: 67, ENOMEM: 12, ENOMSG: 42, ENOPROTOOPT: 92,
    ENOSPC: 28, ENOSR: 63, ENOSTR: 60, ENOSYS: 38, ENOTCONN: 107, ENOTDIR: 20, ENOTEMPTY: 39, ENOTSOCK: 88,
    ENOTSUP: 95, ENOTTY: 25, ENXIO: 6, EOPNOTSUPP: 95, EOVERFLOW: 75, EPERM: 1, EPIPE: 32, EPROTO: 71,
    EPROTONOSUPPORT: 93, EPROTOTYPE: 91, ERANGE: 34, EROFS: 30, ESPIPE: 29, ESRCH: 3, ESTALE: 116, ETIME: 62,
    ETIMEDOUT: 110, ETXTBSY: 26, EWOULDBLOCK: 11, EXDEV: 18,
  };
  const signals = {
    __proto__: null, SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGIOT: 6, SIGBUS: 7,
    SIGFPE: 8, SIGKILL: 9, SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15,
    SIGCHLD: 17, SIGSTKFLT: 16, SIGCONT: 18, SIGSTOP: 19, SIGTSTP: 20, SIGTTIN: 21, SIGTTOU: 22, SIGURG: 23,
    SIGXCPU: 24, SIGXFSZ: 25, SIGVTALRM: 26, SIGPROF: 27, SIGWINCH: 28, SIGIO: 29, SIGPOLL: 29, SIGPWR: 30,
    SIGSYS: 31,
  };
  const constants = frozen({
    __proto__: null,
    UV_UDP_REUSEADDR: 4,
    dlopen: frozen({ __proto__: null, RTLD_LAZY: 1, RTLD_NOW: 2, RTLD_GLOBAL: 256, RTLD_LOCAL: 0, RTLD_DEEPBIND: 8 }),
    errno: frozen(errno),
    signals: frozen(signals),
    priority: frozen({
      __proto__: null, PRIORITY_LOW: 19, PRIORITY_BELOW_NORMAL: 10, PRIORITY_NORMAL: 0,
      PRIORITY_ABOVE_NORMAL: -7, PRIORITY_HIGH: -14, PRIORITY_HIGHEST: -20,
    }),
  });
  return {
    EOL: "\n",
    devNull: "/dev/null",
    constants,
    availableParallelism: function availableParallelism() { return 1; },
    arch: function arch() { return "x64"; },
    cpus: function cpus() { return []; },
    endianness: function endianness() { return "LE"; },
    freemem: function freemem() { return 0; },
    getPriority: function getPriority(pid = undefined) {
      if (pid !== undefined) validateNumber(pid, "pid");
      return 0;
    },
    homedir: function homedir() { return "/tmp/"; },
    hostname: function hostname() { return "localhost"; },
    loadavg: function loadavg() { return [0, 0, 0]; },
    machine: function machine() { return "x86_64"; },
    networkInterfaces: function networkInterfaces() { return {}; },
    platform: function platform() { return "linux"; },
    release: function release() { return ""; },
    setPriority: function setPriority(pid, priority) {
      validateNumber(pid, "pid");
      validateNumber(priority, "priority");
    },
    tmpdir: function tmpdir() { return "/tmp/"; },
    totalmem: function totalmem() { return 0; },
    type: function type() { return "Linux"; },
    uptime: function uptime() { return 0; },
    userInfo: function userInfo(options = {}) {
      if (options === null || typeof options !== "object" || ArrayIsArray(options)) {
        throw invalidArgType("options", "of type object", options);
      }
      const encoding = options.encoding ?? null;
      if (encoding !== null && encoding !== "buffer" && !builtinExports("node:buffer").Buffer.isEncoding(encoding)) {
        throw nodeError(TypeError, "ERR_INVALID_ARG_VALUE",
          `The property 'options.encoding' must be a valid encoding. Received ${JSONStringify(`${encoding}`)}`);
      }
      return {};
    },
    version: function version() { return ""; },
  };
}

defineBuiltin("node:os", ["EOL", "devNull", "constants", "availableParallelism", "arch", "cpus", "endianness",
  "freemem", "getPriority", "homedir", "hostname", "loadavg", "machine", "networkInterfaces", "platform",
  "release", "setPriority", "tmpdir", "totalmem", "type", "uptime", "userInfo", "version"], osModule);
