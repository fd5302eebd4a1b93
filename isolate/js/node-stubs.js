// ---- node-stubs.js: the Node.js modules a Worker may import but cannot use much of, as workerd
// offers them (source/src/node_dated.rs says which come by compatibility date): node:tty,
// node:worker_threads, node:child_process, node:perf_hooks, node:module, node:console,
// node:constants, node:sys, node:vm, node:v8, node:readline, node:repl, node:http2, node:dgram,
// node:cluster, node:domain, node:inspector, node:trace_events, node:wasi, node:sqlite. Each has
// workerd's export names; what can be true in an isolate is (tty.isatty is false, the thread is
// the main one, perf_hooks.performance is the global one, createRequire's require gives the
// built-in modules the worker may import), and what cannot (a process, a thread, a socket, code
// from a string) throws Node's ERR_METHOD_NOT_IMPLEMENTED naming it, so that npm code importing
// one of them at its top level loads, and fails clearly only where it uses one.
// Runs only inside the factories (first import), after tenant code may have run: nothing here
// reads a global or a method of an outer object but through the prelude's captured bindings.

/** A function that throws ERR_METHOD_NOT_IMPLEMENTED for `module`'s `name`. */
function stubMethod(module, name) {
  return { [name]: function () {
    throw nodeError(Error, "ERR_METHOD_NOT_IMPLEMENTED", `The ${module}.${name} method is not implemented`);
  } }[name];
}

/** A class (extending `Base` when given) whose construction throws ERR_METHOD_NOT_IMPLEMENTED. */
function stubClass(module, name, Base = null) {
  const fail = () => nodeError(Error, "ERR_METHOD_NOT_IMPLEMENTED", `The ${module}.${name} class is not implemented`);
  if (Base === null) return { [name]: class { constructor() { throw fail(); } } }[name];
  return { [name]: class extends Base { constructor() { throw fail(); } } }[name];
}

/** `target` with a stub method for each of `names`. */
function stubMethods(target, module, names) {
  for (let i = 0; i < names.length; i++) target[names[i]] = stubMethod(module, names[i]);
  return target;
}

function ttyModule() {
  return {
    isatty: function isatty(fd) { return false; },
    ReadStream: stubClass("tty", "ReadStream"),
    WriteStream: stubClass("tty", "WriteStream"),
  };
}
defineBuiltin("node:tty", ["isatty", "ReadStream", "WriteStream"], ttyModule);

function workerThreadsModule() {
  const environment = new MapCtor();
  return {
    isMainThread: true,
    isInternalThread: false,
    parentPort: null,
    threadId: 0,
    workerData: null,
    resourceLimits: {},
    SHARE_ENV: SymbolFor("nodejs.worker_threads.SHARE_ENV"),
    Worker: stubClass("worker_threads", "Worker", builtinExports("node:events")),
    BroadcastChannel: stubClass("worker_threads", "BroadcastChannel"),
    MessageChannel,
    MessagePort,
    getEnvironmentData: function getEnvironmentData(key) { return MapGet(environment, key); },
    setEnvironmentData: function setEnvironmentData(key, value) {
      if (value === undefined) MapDelete(environment, key); else MapSet(environment, key, value);
    },
    markAsUntransferable: function markAsUntransferable() {},
    isMarkedAsUntransferable: function isMarkedAsUntransferable() { return false; },
    markAsUncloneable: function markAsUncloneable() {},
    moveMessagePortToContext: stubMethod("worker_threads", "moveMessagePortToContext"),
    receiveMessageOnPort: function receiveMessageOnPort() { return undefined; },
    postMessageToThread: stubMethod("worker_threads", "postMessageToThread"),
  };
}
defineBuiltin("node:worker_threads", ["isMainThread", "isInternalThread", "parentPort", "threadId",
  "workerData", "resourceLimits", "SHARE_ENV", "Worker", "BroadcastChannel", "MessageChannel", "MessagePort",
  "getEnvironmentData", "setEnvironmentData", "markAsUntransferable", "isMarkedAsUntransferable",
  "markAsUncloneable", "moveMessagePortToContext", "receiveMessageOnPort", "postMessageToThread"],
  workerThreadsModule);

const CHILD_PROCESS_NAMES = ["exec", "execFile", "execFileSync", "execSync", "fork", "spawn", "spawnSync", "_forkChild"];
function childProcessModule() {
  const m = stubMethods({}, "child_process", CHILD_PROCESS_NAMES);
  m.ChildProcess = stubClass("child_process", "ChildProcess", builtinExports("node:events"));
  return m;
}
defineBuiltin("node:child_process", ["ChildProcess", "exec", "execFile", "execFileSync", "execSync", "fork",
  "spawn", "spawnSync", "_forkChild"], childProcessModule);

function perfHooksModule() {
  return {
    performance: performanceObject,
    Performance,
    PerformanceEntry: stubClass("perf_hooks", "PerformanceEntry"),
    PerformanceMark: stubClass("perf_hooks", "PerformanceMark"),
    PerformanceMeasure: stubClass("perf_hooks", "PerformanceMeasure"),
    PerformanceObserver: stubClass("perf_hooks", "PerformanceObserver"),
    PerformanceObserverEntryList: stubClass("perf_hooks", "PerformanceObserverEntryList"),
    PerformanceResourceTiming: stubClass("perf_hooks", "PerformanceResourceTiming"),
    constants: ObjectFreeze({
      __proto__: null, NODE_PERFORMANCE_GC_MAJOR: 4, NODE_PERFORMANCE_GC_MINOR: 1,
      NODE_PERFORMANCE_GC_INCREMENTAL: 8, NODE_PERFORMANCE_GC_WEAKCB: 16, NODE_PERFORMANCE_GC_FLAGS_NO: 0,
      NODE_PERFORMANCE_GC_FLAGS_CONSTRUCT_RETAINED: 2, NODE_PERFORMANCE_GC_FLAGS_FORCED: 4,
      NODE_PERFORMANCE_GC_FLAGS_SYNCHRONOUS_PHANTOM_PROCESSING: 8, NODE_PERFORMANCE_GC_FLAGS_ALL_AVAILABLE_GARBAGE: 16,
      NODE_PERFORMANCE_GC_FLAGS_ALL_EXTERNAL_MEMORY: 32, NODE_PERFORMANCE_GC_FLAGS_SCHEDULE_IDLE: 64,
    }),
    createHistogram: stubMethod("perf_hooks", "createHistogram"),
    monitorEventLoopDelay: stubMethod("perf_hooks", "monitorEventLoopDelay"),
    eventLoopUtilization: function eventLoopUtilization() { return { idle: 0, active: 0, utilization: 0 }; },
    timerify: function timerify(fn) {
      validateFunction(fn, "fn");
      return fn;
    },
  };
}
defineBuiltin("node:perf_hooks", ["performance", "Performance", "PerformanceEntry", "PerformanceMark",
  "PerformanceMeasure", "PerformanceObserver", "PerformanceObserverEntryList", "PerformanceResourceTiming",
  "constants", "createHistogram", "monitorEventLoopDelay", "eventLoopUtilization", "timerify"], perfHooksModule);

/** Whether `s` starts with `node:`. */
const isNodePrefixed = (s) => StringSlice(s, 0, 5) === "node:";

/** The canonical name of the Node.js built-in module `id` (`node:` or not) names, if this
 *  worker may import it; else null. */
function nodeBuiltinName(id) {
  if (typeof id !== "string") return null;
  const name = isNodePrefixed(id) ? id : `node:${id}`;
  const withheld = workerConfig.withheld;
  const known = MapGet(builtinModules, name) !== undefined && withheld !== null;
  return known && !stubListHas(withheld, name) ? name : null;
}

/** Whether `id` names a Node.js built-in module this worker may import (`node:` or not). */
function isNodeBuiltin(id) {
  return nodeBuiltinName(id) !== null;
}

/** Whether `list` (an array) holds `value`. */
function stubListHas(list, value) {
  for (let i = 0; i < list.length; i++) if (list[i] === value) return true;
  return false;
}

function moduleModule() {
  const names = [];
  MapForEach(builtinModules, (_, key) => {
    if (isNodeBuiltin(key)) names[names.length] = StringSlice(key, 5);
  });
  /** createRequire(from): a require() of the built-in modules this worker may import (its own
   *  modules are imported, not required: a CommonJS module's require() is resolved when loaded). */
  function createRequire(from) {
    const isUrl = from !== null && typeof from === "object" && typeof from.href === "string";
    const isPath = typeof from === "string" && (StringSlice(from, 0, 1) === "/" || StringSlice(from, 0, 5) === "file:");
    if (!isPath && !isUrl) {
      throw nodeError(TypeError, "ERR_INVALID_ARG_VALUE",
        `The argument 'filename' must be a file URL object, file URL string, or absolute path string.${describeReceived(from)}`);
    }
    const builtinOf = (id) => {
      if (typeof id !== "string") throw invalidArgType("id", "of type string", id);
      return nodeBuiltinName(id);
    };
    const notFound = (id) => nodeError(Error, "MODULE_NOT_FOUND",
      `Cannot find module '${id}': createRequire's require() finds the built-in modules this worker may import; import the worker's own modules instead`);
    function require(id) {
      const name = builtinOf(id);
      if (name === null) throw notFound(id);
      return builtinExports(name);
    }
    require.resolve = function resolve(id) {
      const name = builtinOf(id);
      if (name === null) throw notFound(id);
      return name;
    };
    require.cache = { __proto__: null };
    return require;
  }
  const m = stubMethods({}, "module", ["_debug", "_findPath", "_initPaths", "_load", "_nodeModulePaths",
    "_preloadModules", "_resolveFilename", "_resolveLookupPaths", "findPackageJSON", "findSourceMap", "register",
    "registerHooks", "runMain", "setSourceMapsSupport", "stripTypeScriptTypes", "syncBuiltinESMExports", "wrap"]);
  m.Module = stubClass("module", "Module");
  m.SourceMap = stubClass("module", "SourceMap");
  m.builtinModules = names;
  m.isBuiltin = isNodeBuiltin;
  m.createRequire = createRequire;
  m._cache = { __proto__: null };
  m._pathCache = { __proto__: null };
  m._extensions = { __proto__: null };
  m.globalPaths = [];
  m.constants = ObjectFreeze({ __proto__: null, compileCacheStatus: ObjectFreeze({ __proto__: null, FAILED: 0, ENABLED: 1, ALREADY_ENABLED: 2, DISABLED: 3 }) });
  m.enableCompileCache = function enableCompileCache() { return { status: 3, message: "Stockade has no compile cache to enable" }; };
  m.flushCompileCache = function flushCompileCache() {};
  m.getCompileCacheDir = function getCompileCacheDir() { return undefined; };
  m.getSourceMapsSupport = function getSourceMapsSupport() { return { enabled: false, nodeModules: false, generatedCode: false }; };
  return m;
}
defineBuiltin("node:module", ["Module", "SourceMap", "builtinModules", "isBuiltin", "createRequire", "_cache",
  "_pathCache", "_extensions", "globalPaths", "constants", "enableCompileCache", "flushCompileCache",
  "getCompileCacheDir", "getSourceMapsSupport", "_debug", "_findPath", "_initPaths", "_load", "_nodeModulePaths",
  "_preloadModules", "_resolveFilename", "_resolveLookupPaths", "findPackageJSON", "findSourceMap", "register",
  "registerHooks", "runMain", "setSourceMapsSupport", "stripTypeScriptTypes", "syncBuiltinESMExports", "wrap"],
  moduleModule);

const CONSOLE_NAMES = ["assert", "clear", "count", "countReset", "debug", "dir", "dirxml", "error", "group",
  "groupCollapsed", "groupEnd", "info", "log", "table", "time", "timeEnd", "timeLog", "trace", "warn"];
function consoleModule() {
  const m = {};
  for (let i = 0; i < CONSOLE_NAMES.length; i++) m[CONSOLE_NAMES[i]] = consoleMethods[CONSOLE_NAMES[i]];
  m.profile = function profile() {};
  m.profileEnd = function profileEnd() {};
  m.timeStamp = function timeStamp() {};
  m.context = stubMethod("Console", "context");
  m.createTask = stubMethod("Console", "createTask");
  m.Console = stubClass("console", "Console");
  return m;
}
defineBuiltin("node:console", ["assert", "clear", "count", "countReset", "debug", "dir", "dirxml", "error",
  "group", "groupCollapsed", "groupEnd", "info", "log", "table", "time", "timeEnd", "timeLog", "trace", "warn",
  "profile", "profileEnd", "timeStamp", "context", "createTask", "Console"], consoleModule);

/** Node's old node:constants: os.constants' dlopen, errno, priority and signals, fs.constants
 *  and crypto.constants in one object, each name also a named export. */
function constantsGroups() {
  const os = builtinExports("node:os").constants;
  return [os.dlopen, os.errno, os.priority, os.signals, NODE_FS_CONSTANTS, builtinExports("node:crypto").constants];
}
function constantsModule() {
  const out = {};
  const groups = constantsGroups();
  for (let g = 0; g < groups.length; g++) {
    const keys = ObjectKeys(groups[g]);
    for (let i = 0; i < keys.length; i++) out[keys[i]] = groups[g][keys[i]];
  }
  return out;
}
// Its names are those of the tables it merges, listed at its first import (the arrow is copied
// into the eager prelude: it may use only the prelude's bindings).
defineBuiltin("node:constants", () => ObjectKeys(builtinExports("node:constants")), constantsModule);

// node:sys is node:util under its old name.
defineBuiltin("node:sys", UTIL_NAMES, () => builtinExports("node:util"));

function vmModule() {
  const contexts = new WeakSetCtor();
  const m = stubMethods({}, "vm", ["runInThisContext", "runInNewContext", "compileFunction", "measureMemory"]);
  m.Script = stubClass("vm", "Script");
  m.createScript = stubMethod("vm", "createScript");
  m.createContext = function createContext(object = {}) {
    if (object === null || typeof object !== "object") throw invalidArgType("contextObject", "of type object", object);
    WeakSetAdd(contexts, object);
    return object;
  };
  m.isContext = function isContext(object) {
    if (object === null || typeof object !== "object") throw invalidArgType("object", "of type object", object);
    return WeakSetHas(contexts, object);
  };
  // Code from a string never runs in a Worker (no eval), in any context.
  m.runInContext = stubMethod("vm", "runInContext");
  m.constants = ObjectFreeze({
    __proto__: null,
    USE_MAIN_CONTEXT_DEFAULT_LOADER: SymbolFor("nodejs.vm.useMainContextDefaultLoader"),
    DONT_CONTEXTIFY: SymbolFor("nodejs.vm.dontContextify"),
  });
  return m;
}
defineBuiltin("node:vm", ["Script", "createScript", "createContext", "isContext", "runInContext",
  "runInNewContext", "runInThisContext", "compileFunction", "measureMemory", "constants"], vmModule);

function v8Module() {
  const zeros = (names) => {
    const o = {};
    for (let i = 0; i < names.length; i++) o[names[i]] = 0;
    return o;
  };
  const m = stubMethods({}, "v8", ["serialize", "deserialize", "getHeapSnapshot", "writeHeapSnapshot",
    "takeCoverage", "stopCoverage", "queryObjects"]);
  const classes = ["Serializer", "Deserializer", "DefaultSerializer", "DefaultDeserializer", "GCProfiler"];
  for (let i = 0; i < classes.length; i++) m[classes[i]] = stubClass("v8", classes[i]);
  m.cachedDataVersionTag = function cachedDataVersionTag() { return 0; };
  m.getHeapStatistics = function getHeapStatistics() {
    return zeros(["total_heap_size", "total_heap_size_executable", "total_physical_size", "total_available_size",
      "used_heap_size", "heap_size_limit", "malloced_memory", "peak_malloced_memory", "does_zap_garbage",
      "number_of_native_contexts", "number_of_detached_contexts", "total_global_handles_size",
      "used_global_handles_size", "external_memory"]);
  };
  m.getHeapSpaceStatistics = function getHeapSpaceStatistics() { return []; };
  m.getHeapCodeStatistics = function getHeapCodeStatistics() {
    return zeros(["code_and_metadata_size", "bytecode_and_metadata_size", "external_script_source_size",
      "cpu_profiler_metadata_size"]);
  };
  m.setFlagsFromString = function setFlagsFromString(flags) {
    if (typeof flags !== "string") throw invalidArgType("flags", "of type string", flags);
  };
  m.setHeapSnapshotNearHeapLimit = function setHeapSnapshotNearHeapLimit(limit) {
    validateInteger(limit, "limit", 1);
  };
  m.isStringOneByteRepresentation = function isStringOneByteRepresentation(content) {
    if (typeof content !== "string") throw invalidArgType("content", "of type string", content);
    for (let i = 0; i < content.length; i++) if (StringCharCodeAt(content, i) > 0xff) return false;
    return true;
  };
  const noHook = () => function stop() {};
  m.promiseHooks = { onInit: noHook, onBefore: noHook, onAfter: noHook, onSettled: noHook, createHook: noHook };
  m.startupSnapshot = {
    isBuildingSnapshot: function isBuildingSnapshot() { return false; },
    addSerializeCallback: stubMethod("v8.startupSnapshot", "addSerializeCallback"),
    addDeserializeCallback: stubMethod("v8.startupSnapshot", "addDeserializeCallback"),
    setDeserializeMainFunction: stubMethod("v8.startupSnapshot", "setDeserializeMainFunction"),
  };
  return m;
}
defineBuiltin("node:v8", ["serialize", "deserialize", "getHeapSnapshot", "writeHeapSnapshot", "takeCoverage",
  "stopCoverage", "queryObjects", "Serializer", "Deserializer", "DefaultSerializer", "DefaultDeserializer",
  "GCProfiler", "cachedDataVersionTag", "getHeapStatistics", "getHeapSpaceStatistics", "getHeapCodeStatistics",
  "setFlagsFromString", "setHeapSnapshotNearHeapLimit", "isStringOneByteRepresentation", "promiseHooks",
  "startupSnapshot"], v8Module);

function readlinePromisesModule() {
  const EventEmitter = builtinExports("node:events");
  return {
    Interface: stubClass("readline", "Interface", EventEmitter),
    Readline: stubClass("readline", "Readline"),
    createInterface: stubMethod("readline", "createInterface"),
  };
}
defineBuiltin("node:readline/promises", ["Interface", "Readline", "createInterface"], readlinePromisesModule);

function readlineModule() {
  // No terminal: a cursor move does nothing and says the stream was not written (false).
  const noTerminal = (name) => ({ [name]: function (stream, a, b, callback) {
    const cb = typeof a === "function" ? a : typeof b === "function" ? b : callback;
    if (typeof cb === "function") uponPromise(resolvedUndefined(), () => cb());
    return false;
  } })[name];
  const promises = builtinExports("node:readline/promises");
  return {
    Interface: promises.Interface,
    createInterface: promises.createInterface,
    clearLine: noTerminal("clearLine"),
    clearScreenDown: noTerminal("clearScreenDown"),
    cursorTo: noTerminal("cursorTo"),
    moveCursor: noTerminal("moveCursor"),
    emitKeypressEvents: function emitKeypressEvents() {},
    promises,
  };
}
defineBuiltin("node:readline", ["Interface", "createInterface", "clearLine", "clearScreenDown", "cursorTo",
  "moveCursor", "emitKeypressEvents", "promises"], readlineModule);

function replModule() {
  const names = builtinExports("node:module").builtinModules;
  return {
    start: stubMethod("repl", "start"),
    writer: stubMethod("repl", "writer"),
    REPLServer: stubClass("repl", "REPLServer"),
    Recoverable: stubClass("repl", "Recoverable"),
    REPL_MODE_SLOPPY: SymbolFor("repl-sloppy"),
    REPL_MODE_STRICT: SymbolFor("repl-strict"),
    builtinModules: names,
    _builtinLibs: names,
  };
}
defineBuiltin("node:repl", ["start", "writer", "REPLServer", "Recoverable", "REPL_MODE_SLOPPY",
  "REPL_MODE_STRICT", "builtinModules", "_builtinLibs"], replModule);

function http2Module() {
  const m = stubMethods({}, "http2", ["connect", "createServer", "createSecureServer", "performServerHandshake"]);
  m.Http2ServerRequest = stubClass("http2", "Http2ServerRequest");
  m.Http2ServerResponse = stubClass("http2", "Http2ServerResponse");
  m.sensitiveHeaders = SymbolFor("nodejs.http2.sensitiveHeaders");
  m.getDefaultSettings = function getDefaultSettings() { return {}; };
  m.getPackedSettings = function getPackedSettings() { return builtinExports("node:buffer").Buffer.alloc(0); };
  m.getUnpackedSettings = function getUnpackedSettings() { return {}; };
  m.constants = ObjectFreeze({
    __proto__: null, NGHTTP2_SESSION_SERVER: 0, NGHTTP2_SESSION_CLIENT: 1, NGHTTP2_NO_ERROR: 0,
    NGHTTP2_PROTOCOL_ERROR: 1, NGHTTP2_INTERNAL_ERROR: 2, NGHTTP2_CANCEL: 8, DEFAULT_SETTINGS_HEADER_TABLE_SIZE: 4096,
    DEFAULT_SETTINGS_ENABLE_PUSH: 1, DEFAULT_SETTINGS_INITIAL_WINDOW_SIZE: 65535, DEFAULT_SETTINGS_MAX_FRAME_SIZE: 16384,
    HTTP2_HEADER_STATUS: ":status", HTTP2_HEADER_METHOD: ":method", HTTP2_HEADER_AUTHORITY: ":authority",
    HTTP2_HEADER_SCHEME: ":scheme", HTTP2_HEADER_PATH: ":path", HTTP2_HEADER_CONTENT_TYPE: "content-type",
    HTTP2_METHOD_GET: "GET", HTTP2_METHOD_POST: "POST", HTTP_STATUS_OK: 200, HTTP_STATUS_NOT_FOUND: 404,
  });
  return m;
}
defineBuiltin("node:http2", ["connect", "createServer", "createSecureServer", "performServerHandshake",
  "Http2ServerRequest", "Http2ServerResponse", "sensitiveHeaders", "getDefaultSettings", "getPackedSettings",
  "getUnpackedSettings", "constants"], http2Module);

function dgramModule() {
  return {
    createSocket: stubMethod("dgram", "createSocket"),
    Socket: stubClass("dgram", "Socket", builtinExports("node:events")),
  };
}
defineBuiltin("node:dgram", ["createSocket", "Socket"], dgramModule);

function clusterModule() {
  const EventEmitter = builtinExports("node:events");
  // As Node's primary process: no workers, and none can be forked.
  const cluster = new EventEmitter();
  cluster.isPrimary = true;
  cluster.isMaster = true;
  cluster.isWorker = false;
  cluster.workers = {};
  cluster.settings = {};
  cluster.SCHED_NONE = 1;
  cluster.SCHED_RR = 2;
  cluster.schedulingPolicy = 2;
  stubMethods(cluster, "cluster", ["fork", "disconnect", "setupPrimary", "setupMaster"]);
  cluster.Worker = stubClass("cluster", "Worker", EventEmitter);
  return cluster;
}
defineBuiltin("node:cluster", ["isPrimary", "isMaster", "isWorker", "workers", "settings", "SCHED_NONE",
  "SCHED_RR", "schedulingPolicy", "fork", "disconnect", "setupPrimary", "setupMaster", "Worker"], clusterModule);

function domainModule() {
  const EventEmitter = builtinExports("node:events");
  // Node's deprecated domains, without their error routing: run() calls its function.
  class Domain extends EventEmitter {
    constructor() {
      super();
      this.members = [];
    }
    run(fn, ...args) {
      validateFunction(fn, "fn");
      return ReflectApply(fn, this, args);
    }
    add(emitter) { this.members[this.members.length] = emitter; }
    remove(emitter) {
      const kept = [];
      for (let i = 0; i < this.members.length; i++) if (this.members[i] !== emitter) kept[kept.length] = this.members[i];
      this.members = kept;
    }
    bind(fn) { validateFunction(fn, "fn"); return fn; }
    intercept(fn) { validateFunction(fn, "fn"); return fn; }
    enter() {}
    exit() {}
    dispose() {}
  }
  const create = () => new Domain();
  return { Domain, active: null, create, createDomain: create };
}
defineBuiltin("node:domain", ["Domain", "active", "create", "createDomain"], domainModule);

/** node:inspector's Network events (no inspector listens: each does nothing). */
function inspectorNetwork() {
  const network = {};
  const names = ["requestWillBeSent", "dataReceived", "dataSent", "responseReceived", "loadingFinished",
    "loadingFailed", "webSocketCreated", "webSocketHandshakeResponseReceived", "webSocketClosed"];
  for (let i = 0; i < names.length; i++) network[names[i]] = function () {};
  return network;
}

function inspectorModule() {
  return {
    Session: stubClass("inspector", "Session", builtinExports("node:events")),
    open: function open() {
      const session = {};
      if (SymbolDisposeWellKnown !== undefined) session[SymbolDisposeWellKnown] = function () {};
      return session;
    },
    close: function close() {},
    url: function url() { return undefined; },
    waitForDebugger: function waitForDebugger() {},
    console: consoleObject,
    Network: inspectorNetwork(),
  };
}
defineBuiltin("node:inspector", ["Session", "open", "close", "url", "waitForDebugger", "console", "Network"],
  inspectorModule);

function inspectorPromisesModule() {
  const m = stubMethods({}, "Inspector", ["open", "close", "url", "waitForDebugger"]);
  m.Session = builtinExports("node:inspector").Session;
  m.console = consoleObject;
  m.Network = inspectorNetwork();
  return m;
}
defineBuiltin("node:inspector/promises", ["Session", "open", "close", "url", "waitForDebugger", "console",
  "Network"], inspectorPromisesModule);

function traceEventsModule() {
  return {
    createTracing: function createTracing(options) {
      if (options === null || typeof options !== "object") throw invalidArgType("options", "of type object", options);
      return { enabled: false, categories: "", enable() {}, disable() {} };
    },
    getEnabledCategories: function getEnabledCategories() { return undefined; },
  };
}
defineBuiltin("node:trace_events", ["createTracing", "getEnabledCategories"], traceEventsModule);

defineBuiltin("node:wasi", ["WASI"], () => ({ WASI: stubClass("wasi", "WASI") }));

function sqliteModule() {
  return {
    DatabaseSync: stubClass("sqlite", "DatabaseSync"),
    StatementSync: stubClass("sqlite", "StatementSync"),
    backup: stubMethod("sqlite", "backup"),
    constants: ObjectFreeze({
      __proto__: null, SQLITE_CHANGESET_OMIT: 0, SQLITE_CHANGESET_REPLACE: 1, SQLITE_CHANGESET_ABORT: 2,
      SQLITE_CHANGESET_DATA: 1, SQLITE_CHANGESET_NOTFOUND: 2, SQLITE_CHANGESET_CONFLICT: 3,
      SQLITE_CHANGESET_CONSTRAINT: 4, SQLITE_CHANGESET_FOREIGN_KEY: 5,
    }),
  };
}
defineBuiltin("node:sqlite", ["DatabaseSync", "StatementSync", "backup", "constants"], sqliteModule);
