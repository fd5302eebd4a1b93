// ---- builtins.js: the runtime's built-in modules (cloudflare:workers, node:*), the worker's
// configuration (compatibility features, env) and the nodejs_compat globals. -------------------
// The host creates one synthetic module per built-in the worker's compatibility flags allow
// (isolate/src/configure.rs, stk_module_builtin): it asks for the export names first
// (`builtinNames`, no tenant code runs) and for the values on first import (`builtinExports`, which runs
// the module's factory once per isolate). Factories run after the snapshot, never during it.
// The modules' code lives in the node-*.js parts; every factory returns the module's default
// export, whose own properties are its named exports (as Node's `module.exports`).

// Primordials the node-*.js parts share (captured before any tenant code runs; the node-*.js
// parts may be built lazily, after tenant code, so their own top level captures nothing).
const NumberIsInteger = Number.isInteger;
const NumberMIN_SAFE_INTEGER = Number.MIN_SAFE_INTEGER;
const NumberMAX_SAFE_INTEGER = Number.MAX_SAFE_INTEGER;
const NumberParseInt = Number.parseInt;
const NumberParseFloat = Number.parseFloat;
const NumberIsSafeInteger = Number.isSafeInteger;
const FunctionBind = Function.prototype.bind;
const SymbolFor = Symbol.for;
const SymbolHasInstance = Symbol.hasInstance;
const SymbolToPrimitive = Symbol.toPrimitive;
const ReflectConstruct = Reflect.construct;
const ObjectPrototypeToString = uncurry(Object.prototype.toString);
const PromiseResolveFn = (v) => Promise.resolve(v);
const BigIntAsIntN = BigInt.asIntN;
const BigIntAsUintN = BigInt.asUintN;
const typedArrayFill = uncurry(TypedArrayPrototype.fill);
const ObjectPrototypeIsPrototypeOf = (proto, v) => ReflectApply(Object.prototype.isPrototypeOf, proto, [v]);
const RegExpTest = uncurry(RegExp.prototype.test);
const ObjectFromEntries = Object.fromEntries;
const ObjectHasOwn = Object.hasOwn;
const ErrorIsError = Error.isError;
const MapCtor = Map;
const StringToWellFormed = uncurry(String.prototype.toWellFormed); // util.parseEnv
const ArraySort = uncurry(Array.prototype.sort);
const WeakMapCtor = WeakMap; // node:events' EventEmitterAsyncResource
const WeakMapGet = uncurry(WeakMap.prototype.get);
const WeakMapSet = uncurry(WeakMap.prototype.set);
const MapEntries = uncurry(Map.prototype.entries); // node:util's MIMEParams
const MapKeys = uncurry(Map.prototype.keys);
const ArraySplice = uncurry(Array.prototype.splice); // node:assert's deep equality
const MapValues = uncurry(Map.prototype.values);
const hashSin = Math.sin;
const hashAbs = Math.abs;
const cryptoRandomUUID = Crypto.prototype.randomUUID;
const cryptoGetRandomValues = Crypto.prototype.getRandomValues;
const StringFromCodePoint = String.fromCodePoint; // node:punycode
const StringToLowerCase = uncurry(String.prototype.toLowerCase); // node:punycode
const WeakSetHas = uncurry(WeakSet.prototype.has); // node:vm
const SymbolDisposeWellKnown = Symbol.dispose; // node:inspector (undefined without it)

// node:fs's constants (Linux's values), also node:constants' (node-stubs.js), which has them
// without building node:fs.
const NODE_FS_CONSTANTS = ObjectFreeze({
  __proto__: null,
  F_OK: 0, R_OK: 4, W_OK: 2, X_OK: 1, O_RDONLY: 0, O_WRONLY: 1, O_RDWR: 2, O_CREAT: 64, O_EXCL: 128,
  O_NOCTTY: 256, O_TRUNC: 512, O_APPEND: 1024, O_DIRECTORY: 65536, O_NOFOLLOW: 131072, O_SYNC: 1052672,
  O_DSYNC: 4096, O_NONBLOCK: 2048, S_IFMT: 0o170000, S_IFREG: 0o100000, S_IFDIR: 0o040000,
  S_IFCHR: 0o020000, S_IFBLK: 0o060000, S_IFIFO: 0o010000, S_IFLNK: 0o120000, S_IFSOCK: 0o140000,
  S_IRWXU: 0o700, S_IRUSR: 0o400, S_IWUSR: 0o200, S_IXUSR: 0o100, S_IRWXG: 0o70, S_IRGRP: 0o40,
  S_IWGRP: 0o20, S_IXGRP: 0o10, S_IRWXO: 0o7, S_IROTH: 0o4, S_IWOTH: 0o2, S_IXOTH: 0o1,
  COPYFILE_EXCL: 1, COPYFILE_FICLONE: 2, COPYFILE_FICLONE_FORCE: 4, UV_FS_COPYFILE_EXCL: 1,
});

const builtinModules = new Map(); // name -> a BuiltinEntry

/** A built-in module's record: its export names, the factory building them (null until its lazy
 *  part, when it has one, is built and registers it), that part (lazy.js) or null, and the module's
 *  namespace once built. One shape for all (a null-prototype literal each would be an object in
 *  dictionary mode, several times larger, deserialised by every isolate); every field is an own
 *  data property, so nothing on Object.prototype is ever consulted, and no tenant code sees one. */
class BuiltinEntry {
  constructor(names, factory, part) {
    this.names = names;
    this.factory = factory;
    this.part = part;
    this.built = false;
    this.value = undefined;
  }
}
ObjectSetPrototypeOf(BuiltinEntry.prototype, null);

/** Registers built-in module `name` with its export names and the factory building them. */
function defineBuiltin(name, names, factory) {
  MapSet(builtinModules, name, new BuiltinEntry(names, factory, null));
}

function builtinEntry(name) {
  const entry = MapGet(builtinModules, `${name}`);
  if (entry === undefined) throw new Error(`stockade: no built-in module ${name}`);
  return entry;
}

/** The export names of built-in `name`, as registered (the bridge only reads them, by index):
 *  never copied, since this runs inside an import() after tenant code, which may have replaced
 *  the array iterator. A module whose names are those of tables other modules build
 *  (node:constants) registers a function that lists them from those tables, once. */
function builtinNames(name) {
  const entry = builtinEntry(name);
  if (typeof entry.names === "function") entry.names = entry.names();
  return entry.names;
}

/** The default export of built-in `name`, built on first use. */
function builtinExports(name) {
  const entry = builtinEntry(name);
  if (entry.factory === null) buildLazyPart(entry.part); // a lazy group's module (lazy.js)
  if (!entry.built) {
    entry.value = entry.factory();
    entry.built = true;
  }
  return entry.value;
}

/** The worker's configuration (the host's stk_configure, before any tenant module runs). */
const workerConfig = {
  configured: false, nodejs: false, nodeGlobals: false, asyncHooks: false, populateProcessEnv: false,
  compatibilityDate: null, compatibilityFlags: [], env: null,
  // The Node.js modules (canonical names) the worker may not import, with nodejs_compat (else
  // null: none may be).
  withheld: null,
  // A Durable Object's isolate: which object ({class, id, name}; the supervisor's, see
  // daemon/src/objects/directory.rs), else null.
  object: null,
};

/** The env key under which the supervisor names the object an isolate is (never a tenant's). */
const OBJECT_ENV_KEY = "\u0000stockade:object";

/** The object this isolate is, if the call goes to its class `name`; else null. */
function durableObjectOf(name) {
  const object = workerConfig.object;
  return object !== null && object.class === name ? object : null;
}

/** A global whose value is built on first read (so a worker that never touches it never pays
 *  for it); writing it replaces it like any global. */
function defineLazyGlobal(name, build) {
  ObjectDefineProperty(globalThis, name, {
    get() {
      const value = build();
      defineGlobal(name, value);
      return value;
    },
    set(value) { defineGlobal(name, value); },
    enumerable: false,
    configurable: true,
  });
}

function configureWorker(config) {
  // Refused before anything changes: the snapshot's warm-up (bridge/snapshot.cc) calls this with
  // null so that V8 compiles it there, not in every fresh isolate.
  if (config === null || typeof config !== "object") throw new TypeError("stockade: the worker's configuration must be an object");
  if (workerConfig.configured) throw new Error("stockade: the worker is configured already");
  workerConfig.configured = true;
  adoptFloat16Array(globalThis.Float16Array);
  workerConfig.nodejs = config.nodejs === true;
  workerConfig.nodeGlobals = config.nodeGlobals === true;
  workerConfig.asyncHooks = config.asyncHooks === true;
  workerConfig.populateProcessEnv = config.populateProcessEnv === true;
  workerConfig.compatibilityDate = typeof config.compatibilityDate === "string" ? config.compatibilityDate : null;
  workerConfig.compatibilityFlags = ArrayIsArray(config.compatibilityFlags) ? config.compatibilityFlags : [];
  workerConfig.withheld = ArrayIsArray(config.withheld) ? config.withheld : null;
  const rawEnv = config.env !== null && typeof config.env === "object" ? config.env : null;
  const object = rawEnv === null ? undefined : ObjectGetOwnPropertyDescriptor(rawEnv, OBJECT_ENV_KEY);
  if (object !== undefined) {
    const o = object.value;
    workerConfig.object = { __proto__: null, class: `${o?.class}`, id: `${o?.id}`, name: typeof o?.name === "string" ? o.name : undefined };
    delete rawEnv[OBJECT_ENV_KEY];
  }
  // Plain values as given; binding objects become capabilities (makeEnv, bindings.js).
  workerConfig.env = rawEnv !== null ? makeEnv(rawEnv) : null;
  if (workerConfig.nodeGlobals) {
    defineLazyGlobal("Buffer", () => builtinExports("node:buffer").Buffer);
    defineLazyGlobal("process", () => builtinExports("node:process"));
    // Node's other globals that npm code reaches for (workerd has them under nodejs_compat).
    defineLazyGlobal("global", () => globalThis);
    // On the runtime's own timers (timers.js), never the tenant-replaceable globals.
    defineLazyGlobal("setImmediate", () => {
      const setImmediate = function setImmediate(callback, ...args) {
        return armTimer(callback, 0, args, false);
      };
      // `util.promisify(setImmediate)` is timers/promises' setImmediate, as in Node.
      ObjectDefineProperty(setImmediate, SymbolFor("nodejs.util.promisify.custom"), {
        __proto__: null,
        get() { return builtinExports("node:timers/promises").setImmediate; },
        enumerable: false,
        configurable: true,
      });
      return setImmediate;
    });
    defineLazyGlobal("clearImmediate", () => function clearImmediate(id) {
      disarmTimer(id);
    });
  }
}

/** The env object every request of a worker loaded with one gets (null: none was given, each
 *  request brings its own). */
function workerEnv() {
  return workerConfig.env;
}

// ---- Errors the way Node reports them: a TypeError/RangeError/Error with a `code`. ----
function nodeError(Ctor, code, message) {
  const e = new Ctor(message);
  ObjectDefineProperty(e, "code", { value: code, writable: true, enumerable: true, configurable: true });
  return e;
}

function describeReceived(value) {
  if (value === null || value === undefined) return ` Received ${value}`;
  if (typeof value === "function") return ` Received function ${value.name || "<anonymous>"}`;
  if (typeof value === "object") {
    const ctor = value.constructor;
    return typeof ctor === "function" && ctor.name ? ` Received an instance of ${ctor.name}` : " Received an object";
  }
  let shown = typeof value === "string" ? JSONStringify(value.length > 28 ? `${value.slice(0, 25)}...` : value) : `${value}`;
  if (typeof value === "bigint") shown += "n";
  return ` Received type ${typeof value} (${shown})`;
}

function invalidArgType(name, expected, value) {
  // Node's wording: a dotted name is an options object's property.
  const what = StringIncludesForInspect(name, ".") ? "property" : "argument";
  return nodeError(TypeError, "ERR_INVALID_ARG_TYPE",
    `The "${name}" ${what} must be ${expected}.${describeReceived(value)}`);
}

function outOfRange(name, range, value) {
  return nodeError(RangeError, "ERR_OUT_OF_RANGE",
    `The value of "${name}" is out of range. It must be ${range}. Received ${typeof value === "bigint" ? `${value}n` : `${value}`}`);
}

/** Node's validateInteger: a number, an integer, within [min, max]. */
function validateInteger(value, name, min = NumberMIN_SAFE_INTEGER, max = NumberMAX_SAFE_INTEGER) {
  if (typeof value !== "number") throw invalidArgType(name, "of type number", value);
  if (!NumberIsInteger(value)) throw outOfRange(name, "an integer", value);
  if (value < min || value > max) throw outOfRange(name, `>= ${min} && <= ${max}`, value);
  return value;
}

function validateFunction(value, name) {
  if (typeof value !== "function") throw invalidArgType(name, "of type function", value);
  return value;
}


// ---- cloudflare:workers ----
function featureNotSupported(what) {
  return new Error(`${what} is not supported by Stockade (no Workflows); ` +
    "see the README's compatibility table");
}

/** cloudflare:workers' RpcTarget: an instance in an RPC method's result crosses as a stub
 *  (rpc-targets.js). Here, not in the lazily built RPC group, so that importing it builds
 *  nothing. */
class RpcTargetBase {}
setTag(RpcTargetBase.prototype, "RpcTarget");

defineBuiltin("cloudflare:workers",
  ["WorkerEntrypoint", "DurableObject", "RpcTarget", "RpcStub", "WorkflowEntrypoint", "env", "waitUntil"],
  () => {
    /** The base class of a class-based worker: the runtime constructs the default export with
     *  (ctx, env) for every request and calls its fetch(request), as Cloudflare does. */
    class WorkerEntrypoint {
      constructor(ctx, env) {
        this.ctx = ctx;
        this.env = env;
      }
    }
    /** The base class of a Durable Object: constructed once per object with (ctx, env)
     *  (durable.js). */
    class DurableObject {
      constructor(ctx, env) {
        this.ctx = ctx;
        this.env = env;
      }
    }
    // An instance in an RPC method's result crosses as a stub (rpc.js).
    const RpcTarget = RpcTargetBase;
    // A stub of a local RpcTarget or function (or a dup of a stub), as Cloudflare's: it may be
    // passed over RPC, and disposed (rpc-targets.js's rpcLocalStub).
    class RpcStub {
      constructor(value) { return lazyInternals("rpc").rpcLocalStub(value); }
      // No stub exists before the RPC group is built (and shares its internals), so this
      // answers without building it.
      static [SymbolHasInstance](v) {
        if ((typeof v !== "object" && typeof v !== "function") || v === null) return false;
        const rpc = sharedInternals.rpc;
        return rpc !== undefined && rpc.isStub(v);
      }
    }
    class WorkflowEntrypoint {
      constructor() { throw featureNotSupported("WorkflowEntrypoint"); }
    }
    return {
      __proto__: null,
      WorkerEntrypoint, DurableObject, RpcTarget, RpcStub, WorkflowEntrypoint,
      env: workerEnv() ?? {},
      waitUntil() { throw featureNotSupported("waitUntil from cloudflare:workers (use ctx.waitUntil)"); },
    };
  });
