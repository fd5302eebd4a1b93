// ---- node-util.js: node:util and node:util/types. ---------------------------------------------
// inspect() is the console's formatter (of its options only `depth` counts, also in the older
// inspect(value, showHidden, depth) form; a value's [inspect.custom] is honoured); format() follows Node's %s %d %i %f
// %j %o %O %c %%; promisify honours util.promisify.custom; types.* are brand checks that never
// run tenant code (isProxy asks V8: hostIsProxy).

function utilTypes() {
  const tag = (v) => (v !== null && (typeof v === "object" || typeof v === "function") ? builtinKind(v) : -1);
  const typedArray = (name) => (v) => v !== null && typeof v === "object" && typedArrayName(v) === name;
  const proto = (v) => (v !== null && typeof v === "object" ? ObjectGetPrototypeOf(v) : null);
  const AsyncFunctionPrototype = ObjectGetPrototypeOf(async function () {});
  const GeneratorFunctionPrototype = ObjectGetPrototypeOf(function* () {});
  const AsyncGeneratorFunctionPrototype = ObjectGetPrototypeOf(async function* () {});
  // V8's own answer (hostPromiseState reads the promise's slots: undefined for anything else), so
  // that an object made from Promise.prototype is not a promise, as in Node.
  const isPromise = (v) => tag(v) === K_PROMISE && hostPromiseState(v) !== undefined;
  const errorIsError = typeof ErrorIsError === "function" ? ErrorIsError : Error.isError;
  return {
    isPromise,
    isDate: (v) => tag(v) === K_DATE,
    isRegExp: (v) => tag(v) === K_REGEXP,
    // Error.isError (V8 13.6) is the brand check Node's answer rests on: an object made from
    // Error.prototype is not an error.
    // (Captured by builtins.js, or else read when node:util is built: the startup snapshot is made
    // before V8 installs Error.isError, so the prelude's capture finds none.)
    isNativeError: (v) => tag(v) === K_ERROR && (typeof errorIsError !== "function" || errorIsError(v)),
    isMap: (v) => tag(v) === K_MAP,
    isSet: (v) => tag(v) === K_SET,
    isWeakMap: (v) => tag(v) === K_WEAK && v instanceof WeakMap,
    isWeakSet: (v) => tag(v) === K_WEAK && v instanceof WeakSet,
    isArrayBuffer: isArrayBuffer,
    isAnyArrayBuffer: isArrayBuffer,
    isSharedArrayBuffer: () => false,
    isDataView: isDataView,
    isArrayBufferView: (v) => ArrayBuffer.isView(v),
    isTypedArray: (v) => v !== null && typeof v === "object" && typedArrayName(v) !== undefined,
    isUint8Array: typedArray("Uint8Array"),
    isUint8ClampedArray: typedArray("Uint8ClampedArray"),
    isUint16Array: typedArray("Uint16Array"),
    isUint32Array: typedArray("Uint32Array"),
    isInt8Array: typedArray("Int8Array"),
    isInt16Array: typedArray("Int16Array"),
    isInt32Array: typedArray("Int32Array"),
    isFloat32Array: typedArray("Float32Array"),
    isFloat64Array: typedArray("Float64Array"),
    isBigInt64Array: typedArray("BigInt64Array"),
    isBigUint64Array: typedArray("BigUint64Array"),
    isBoxedPrimitive: (v) => tag(v) >= K_BOX,
    isNumberObject: (v) => tag(v) >= K_BOX && BOXES[tag(v) - K_BOX][0] === "Number",
    isStringObject: (v) => tag(v) >= K_BOX && BOXES[tag(v) - K_BOX][0] === "String",
    isBooleanObject: (v) => tag(v) >= K_BOX && BOXES[tag(v) - K_BOX][0] === "Boolean",
    isBigIntObject: (v) => tag(v) >= K_BOX && BOXES[tag(v) - K_BOX][0] === "BigInt",
    isSymbolObject: (v) => tag(v) >= K_BOX && BOXES[tag(v) - K_BOX][0] === "Symbol",
    isAsyncFunction: (v) => typeof v === "function" &&
      (ObjectGetPrototypeOf(v) === AsyncFunctionPrototype || ObjectGetPrototypeOf(v) === AsyncGeneratorFunctionPrototype),
    isGeneratorFunction: (v) => typeof v === "function" &&
      (ObjectGetPrototypeOf(v) === GeneratorFunctionPrototype || ObjectGetPrototypeOf(v) === AsyncGeneratorFunctionPrototype),
    isGeneratorObject: (v) => proto(v) !== null && (ObjectGetPrototypeOf(proto(v)) === GeneratorFunctionPrototype.prototype ||
      ObjectGetPrototypeOf(proto(v)) === AsyncGeneratorFunctionPrototype.prototype),
    isArgumentsObject: (v) => v !== null && typeof v === "object" && ObjectPrototypeToString(v) === "[object Arguments]",
    isMapIterator: (v) => ObjectPrototypeToString(v) === "[object Map Iterator]",
    isSetIterator: (v) => ObjectPrototypeToString(v) === "[object Set Iterator]",
    isModuleNamespaceObject: (v) => ObjectPrototypeToString(v) === "[object Module]",
    isProxy: (v) => hostIsProxy(v),
    isExternal: () => false,
    isKeyObject: () => false,
    isCryptoKey: (v) => typeof globalThis.CryptoKey === "function" && v instanceof globalThis.CryptoKey,
  };
}

// Node 20.20's ansi pattern (a literal: the global RegExp may be the tenant's by the time this
// part is built).
const ANSI_SEQUENCES = /[\u001B\u009B][[\]()#;?]*(?:(?:(?:(?:;[-a-zA-Z\d\/#&.:=?%@~_]+)*|[a-zA-Z\d]+(?:;[-a-zA-Z\d\/#&.:=?%@~_]*)*)?(?:\u0007|\u001B\u005C|\u009C))|(?:(?:\d{1,4}(?:;\d{0,4})*)?[\dA-PR-TZcf-nq-uy=><~]))/g;

function utilModule() {
  const customInspect = SymbolFor("nodejs.util.inspect.custom");
  const customPromisify = SymbolFor("nodejs.util.promisify.custom");

  // Node's options: `depth` (default 2; `null` or `Infinity` as deep as inspect goes),
  // `breakLength` (80), `compact` (3; false puts each entry on a line of its own; true joins as
  // much as fits, though a long object then breaks one entry per line, not Node's legacy layout),
  // `sorted` (true or a comparator of the entries' text), `maxArrayLength` (100) and
  // `maxStringLength` (10000; null: no limit), each defaulting to util.inspect.defaultOptions.
  // `showHidden`, `colors`, `getters`, `showProxy` and `numericSeparator` are accepted and not
  // followed.
  const defaultOptions = {
    showHidden: false, depth: 2, colors: false, customInspect: true, showProxy: false, maxArrayLength: 100,
    maxStringLength: 10000, breakLength: 80, compact: 3, sorted: false, getters: false, numericSeparator: false,
  };
  const limitOption = (v, fallback) => (v === null ? Infinity : typeof v === "number" && v === v ? (v < 0 ? 0 : v) : fallback);
  function utilInspect(value, options, ...legacy) {
    const defaults = utilInspect.defaultOptions ?? defaultOptions;
    let asked = { __proto__: null };
    if (options !== null && typeof options === "object") {
      asked = options;
    } else if (legacy.length > 0) {
      asked = { __proto__: null, depth: legacy[0] }; // inspect(value, showHidden, depth): Node's older form
    }
    const pick = (name) => (name in asked ? asked[name] : defaults[name]);
    const depthAsked = pick("depth");
    const depth = depthAsked === null ? Infinity : typeof depthAsked === "number" && depthAsked === depthAsked ? depthAsked : 2;
    const compact = pick("compact");
    const sorted = pick("sorted");
    const breakLength = pick("breakLength");
    return inspect(value, depth, {
      breakLength: typeof breakLength === "number" && breakLength === breakLength ? breakLength : 80,
      compact: compact === true ? Infinity : compact === false ? 0 : typeof compact === "number" && compact === compact ? compact : 3,
      sorted: typeof sorted === "function" ? sorted : !!sorted,
      maxArrayLength: limitOption(pick("maxArrayLength"), 100),
      maxStringLength: limitOption(pick("maxStringLength"), 10000),
    });
  }
  utilInspect.custom = customInspect;
  utilInspect.defaultOptions = defaultOptions;

  const BUILT_IN_NAME = /^[A-Z][a-zA-Z0-9]+$/;
  /** Whether `%s` shows an object through inspect (its `toString` is a built-in's) or as
   *  `String(value)` (its class or itself defines one), as Node decides. */
  function hasBuiltInToString(value) {
    // Node's, step for step (20.20: a Symbol.toPrimitive counts as a toString does). A Proxy
    // counts as built in: its traps are not run.
    if (hostIsProxy(value)) return true;
    let ownToString = ObjectHasOwn;
    let ownToPrimitive = ObjectHasOwn;
    if (typeof value.toString !== "function") {
      if (typeof value[SymbolToPrimitive] !== "function") return true;
      if (ObjectHasOwn(value, SymbolToPrimitive)) return false;
      ownToString = () => false;
    } else if (ObjectHasOwn(value, "toString")) {
      return false;
    } else if (typeof value[SymbolToPrimitive] !== "function") {
      ownToPrimitive = () => false;
    } else if (ObjectHasOwn(value, SymbolToPrimitive)) {
      return false;
    }
    let pointer = value;
    do pointer = ObjectGetPrototypeOf(pointer);
    while (pointer !== null && !ownToString(pointer, "toString") && !ownToPrimitive(pointer, SymbolToPrimitive));
    if (pointer === null) return true;
    const ctor = ObjectGetOwnPropertyDescriptor(pointer, "constructor")?.value;
    return typeof ctor === "function" && RegExpTest(BUILT_IN_NAME, ctor.name) && typeof globalThis[ctor.name] === "function";
  }

  /** `%s`: strings as they are, `-0`, bigints with `n`, symbols by String(); objects inspected
   *  unless they have a `toString` of their own. */
  function formatString(a) {
    if (typeof a === "string") return a;
    if (typeof a === "number") return formatNumber(a);
    if (typeof a === "bigint") return `${a}n`;
    if (typeof a !== "object" || a === null || !hasBuiltInToString(a)) return String(a);
    return inspect(a, 0); // Node shows one level for %s
  }

  const formatNumber = (n) => (ObjectIs(n, -0) ? "-0" : `${n}`);

  /** %j: JSON text; a cycle is "[Circular]", any other error (a BigInt's) is thrown, as Node's
   *  tryStringify does. */
  function stringifyOrCircular(value) {
    try {
      return JSONStringify(value);
    } catch (e) {
      if (isCycleError(e)) return "[Circular]";
      throw e;
    }
  }
  let cycleMessage;
  function isCycleError(e) {
    if (cycleMessage === undefined) {
      const o = {};
      o.o = o;
      try { JSONStringify(o); } catch (c) { cycleMessage = firstLine(c); }
    }
    return e instanceof TypeError && firstLine(e) === cycleMessage;
  }
  const firstLine = (e) => { const m = `${e.message}`; const nl = m.indexOf("\n"); return nl === -1 ? m : m.slice(0, nl); };

  /** Node's formatWithOptionsInternal, step for step: a placeholder takes a value only while
   *  one is left (else it stays as written), "%%" is "%" only then too, and the values a format
   *  string did not take follow it, strings as they are, others inspected. Depths are Node's: 2
   *  (util.inspect's default) for %O and the values after the format, 4 for %o (its showHidden
   *  is not followed: no `[length]` entries). */
  function format(...args) {
    const first = args[0];
    let a = 0;
    let out = "";
    let join = "";
    if (typeof first === "string") {
      if (args.length === 1) return first;
      let last = 0;
      for (let p = 0; p < first.length - 1; p++) {
        if (first.charCodeAt(p) !== 37) continue; // '%'
        const c = first.charCodeAt(++p);
        if (a + 1 !== args.length) {
          let text;
          switch (c) {
            case 115: text = formatString(args[++a]); break; // s
            case 106: text = stringifyOrCircular(args[++a]); break; // j
            case 100: { // d
              const v = args[++a];
              text = typeof v === "bigint" ? `${v}n` : typeof v === "symbol" ? "NaN" : formatNumber(Number(v));
              break;
            }
            case 79: text = inspect(args[++a], 2); break; // O
            case 111: text = inspect(args[++a], 4); break; // o
            case 105: { // i
              const v = args[++a];
              text = typeof v === "bigint" ? `${v}n` : typeof v === "symbol" ? "NaN" : formatNumber(NumberParseInt(v));
              break;
            }
            case 102: { // f
              const v = args[++a];
              text = typeof v === "symbol" ? "NaN" : formatNumber(NumberParseFloat(v));
              break;
            }
            case 99: a += 1; text = ""; break; // c
            case 37: out += first.slice(last, p); last = p + 1; continue; // %%
            default: continue;
          }
          if (last !== p - 1) out += first.slice(last, p - 1);
          out += text;
          last = p + 1;
        } else if (c === 37) {
          out += first.slice(last, p);
          last = p + 1;
        }
      }
      if (last !== 0) {
        a++;
        join = " ";
        if (last < first.length) out += first.slice(last);
      }
    }
    for (; a < args.length; a++) {
      const v = args[a];
      out += join + (typeof v === "string" ? v : inspect(v, 2));
      join = " ";
    }
    return out;
  }

  function promisify(original) {
    validateFunction(original, "original");
    if (typeof original[customPromisify] === "function") return original[customPromisify];
    function promisified(...args) {
      return new Promise((resolve, reject) => {
        ReflectApply(original, this, [...args, (err, ...values) => {
          if (err) reject(err);
          else resolve(values[0]); // Node's: the first value (a function needing more has a custom form)
        }]);
      });
    }
    ObjectSetPrototypeOf(promisified, ObjectGetPrototypeOf(original));
    ObjectDefineProperty(promisified, customPromisify, { value: promisified, enumerable: false, writable: false, configurable: true });
    return promisified;
  }
  promisify.custom = customPromisify;

  function callbackify(original) {
    validateFunction(original, "original");
    return function (...args) {
      const callback = validateFunction(args.pop(), "last argument");
      PromiseResolveFn(ReflectApply(original, this, args)).then(
        (value) => queueMicrotask(() => callback(null, value)),
        (reason) => {
          const err = reason || nodeError(Error, "ERR_FALSY_VALUE_REJECTION", "Promise was rejected with falsy value");
          if (!reason) err.reason = reason;
          queueMicrotask(() => callback(err));
        });
    };
  }

  function inherits(ctor, superCtor) {
    if (typeof ctor !== "function") throw invalidArgType("ctor", "of type function", ctor);
    if (typeof superCtor !== "function") throw invalidArgType("superCtor", "of type function", superCtor);
    if (superCtor.prototype === undefined) throw invalidArgType("superCtor.prototype", "of type object", superCtor.prototype);
    ObjectDefineProperty(ctor, "super_", { value: superCtor, writable: true, configurable: true });
    ObjectSetPrototypeOf(ctor.prototype, superCtor.prototype);
  }

  const warned = new Set();
  function deprecate(fn, message, code) {
    validateFunction(fn, "fn");
    return function deprecated(...args) {
      const key = code ?? message;
      if (!warned.has(key)) {
        warned.add(key);
        console.warn(`${code ? `[${code}] ` : ""}DeprecationWarning: ${message}`);
      }
      return new.target ? ReflectConstruct(fn, args, new.target) : ReflectApply(fn, this, args);
    };
  }

  const types = builtinExports("node:util/types");
  /** libuv's name of a negative errno, as Node's util.getSystemErrorName. */
  function getSystemErrorName(err) {
    if (typeof err !== "number") throw invalidArgType("err", "of type number", err);
    if (err >= 0 || !NumberIsInteger(err) || err < NumberMIN_SAFE_INTEGER) throw outOfRange("err", "a negative integer", err);
    for (let i = 0; i < UV_ERRORS.length; i++) if (UV_ERRORS[i][0] === err) return UV_ERRORS[i][1];
    return `Unknown system error ${err}`;
  }
  /** A new Map of libuv's codes to [name, message], as Node's util.getSystemErrorMap. */
  function getSystemErrorMap() {
    const map = new MapCtor();
    for (let i = 0; i < UV_ERRORS.length; i++) MapSet(map, UV_ERRORS[i][0], [UV_ERRORS[i][1], UV_ERRORS[i][2]]);
    return map;
  }
  return {
    parseEnv,
    inspect: utilInspect, format,
    formatWithOptions: (options, ...args) => format(...args),
    promisify, callbackify, inherits, deprecate, types, parseArgs,
    isDeepStrictEqual: (a, b) => nodeDeepEqual(a, b, true),
    TextEncoder: globalThis.TextEncoder, TextDecoder: globalThis.TextDecoder,
    isArray: ArrayIsArray,
    isBoolean: (v) => typeof v === "boolean",
    isNull: (v) => v === null,
    isNullOrUndefined: (v) => v === null || v === undefined,
    isNumber: (v) => typeof v === "number",
    isString: (v) => typeof v === "string",
    isSymbol: (v) => typeof v === "symbol",
    isUndefined: (v) => v === undefined,
    isRegExp: types.isRegExp,
    isObject: (v) => v !== null && typeof v === "object",
    isDate: types.isDate,
    isError: (v) => types.isNativeError(v) || v instanceof Error,
    isFunction: (v) => typeof v === "function",
    isPrimitive: (v) => v === null || (typeof v !== "object" && typeof v !== "function"),
    isBuffer: (v) => builtinExports("node:buffer").Buffer.isBuffer(v),
    _extend(target, source) {
      if (source === null || typeof source !== "object") return target;
      const keys = ObjectKeys(source);
      for (let i = keys.length - 1; i >= 0; i--) target[keys[i]] = source[keys[i]];
      return target;
    },
    getSystemErrorName,
    getSystemErrorMap,
    // Node's helpers for native bindings' errors, which npm code calls too.
    _errnoException(err, syscall, original) {
      const code = getSystemErrorName(err);
      const e = new Error(original ? `${syscall} ${code} ${original}` : `${syscall} ${code}`);
      e.errno = err;
      e.code = code;
      e.syscall = syscall;
      return e;
    },
    _exceptionWithHostPort(err, syscall, address, port, additional) {
      const code = getSystemErrorName(err);
      let details = port && port > 0 ? ` ${address}:${port}` : address ? ` ${address}` : "";
      if (additional) details += ` - Local (${additional})`;
      const e = new Error(`${syscall} ${code}${details}`);
      e.errno = err;
      e.code = code;
      e.syscall = syscall;
      e.address = address;
      if (port) e.port = port;
      return e;
    },
    // Signals cross to another isolate only as RPC allows; these are the plain ones.
    MIMEType,
    MIMEParams,
    transferableAbortController: () => new AbortController(),
    transferableAbortSignal(signal) {
      if (!isAbortSignal(signal)) throw invalidArgType("signal", "an instance of AbortSignal", signal);
      return signal;
    },
    debuglog: () => { const log = () => {}; log.enabled = false; return log; },
    debug: () => { const log = () => {}; log.enabled = false; return log; },
    toUSVString: (s) => toUSVString(s),
    // Node 20.20's pattern (ansi-regex): CSI and OSC sequences, ESC and its C1 form, BEL, ESC \\
    // or ST ending an OSC; a string is required, as in Node.
    stripVTControlCharacters: (s) => {
      if (typeof s !== "string") throw invalidArgType("str", "of type string", s);
      return StringReplaceAll(s, ANSI_SEQUENCES, "");
    },
    styleText: (format, text) => `${text}`,
    aborted: (signal) => new Promise((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener("abort", () => resolve(), { once: true });
    }),
  };
}


defineBuiltin("node:util/types", [
  "isPromise", "isDate", "isRegExp", "isNativeError", "isMap", "isSet", "isWeakMap", "isWeakSet",
  "isArrayBuffer", "isAnyArrayBuffer", "isSharedArrayBuffer", "isDataView", "isArrayBufferView",
  "isTypedArray", "isUint8Array", "isUint8ClampedArray", "isUint16Array", "isUint32Array",
  "isInt8Array", "isInt16Array", "isInt32Array", "isFloat32Array", "isFloat64Array",
  "isBigInt64Array", "isBigUint64Array", "isBoxedPrimitive", "isNumberObject", "isStringObject",
  "isBooleanObject", "isBigIntObject", "isSymbolObject", "isAsyncFunction", "isGeneratorFunction",
  "isGeneratorObject", "isArgumentsObject", "isMapIterator", "isSetIterator", "isModuleNamespaceObject", "isProxy",
  "isExternal", "isKeyObject", "isCryptoKey",
], utilTypes);
// Also node:sys's (node-stubs.js).
const UTIL_NAMES = ["inspect", "format", "formatWithOptions", "promisify", "callbackify", "inherits",
  "deprecate", "types", "isDeepStrictEqual", "TextEncoder", "TextDecoder", "isArray", "isBoolean", "isNull",
  "isNullOrUndefined", "isNumber", "isString", "isSymbol", "isUndefined", "isRegExp", "isObject", "isDate",
  "isError", "isFunction", "isPrimitive", "debuglog", "debug", "toUSVString", "stripVTControlCharacters",
  "styleText", "aborted", "parseArgs", "isBuffer", "_extend", "getSystemErrorName", "_errnoException",
  "_exceptionWithHostPort", "transferableAbortController", "transferableAbortSignal", "MIMEType", "MIMEParams", "getSystemErrorMap", "parseEnv"];
defineBuiltin("node:util", UTIL_NAMES, utilModule);

/** Node 20's util.parseEnv: its dotenv parser (node_dotenv.cc) as it answers, quirks included (a
 *  key is what precedes "=" once spaces are trimmed, so a comment line indented after a value
 *  joins the next key; "export " is dropped once; only double-quoted values expand "\\n"; an
 *  unterminated quote is the line as it is, or on the last line a key read from the quote on; an
 *  empty key ends the parse). Every "\r" is dropped first, lone surrogates are U+FFFD (the UTF-8
 *  Node parses), and the keys come in code point order (Node's std::map). Linear: each scan
 *  resumes where the last stopped. */
function parseEnv(content) {
  if (typeof content !== "string") throw invalidArgType("content", "of type string", content);
  const s = StringReplaceAll(StringToWellFormed(content), "\r", "");
  const store = new MapCtor();
  let a = 0;
  let b = s.length;
  const trim = () => {
    while (a < b && s[a] === " ") a++;
    while (b > a && s[b - 1] === " ") b--;
  };
  const find = (ch, from) => {
    const at = StringIndexOf(s, ch, from);
    return at !== -1 && at < b ? at : -1;
  };
  const trimSpaces = (v) => {
    let i = 0;
    let j = v.length;
    while (i < j && v[i] === " ") i++;
    while (j > i && v[j - 1] === " ") j--;
    return StringSlice(v, i, j);
  };
  trim();
  while (a < b) {
    if (s[a] === "\n" || s[a] === "#") {
      const nl = find("\n", a);
      if (nl !== -1) {
        a = nl + 1;
        continue;
      }
    }
    const eq = find("=", a);
    if (eq === -1) break;
    const raw = StringSlice(s, a, eq);
    let key = trimSpaces(raw);
    // A key of spaces alone: Node's C++ trims it by stepping back before it (undefined behaviour
    // there, which in Node 20.20 answers the character before: the line's "\n"), so the key is
    // that character and the parse goes on; Node's answer is the contract.
    if (key === "" && raw !== "" && a > 0) key = s[a - 1];
    a = eq + 1;
    if (key === "") break;
    if (StringSlice(key, 0, 7) === "export ") key = StringSlice(key, 7);
    if (a >= b || s[a] === "\n") {
      MapSet(store, key, "");
      continue;
    }
    trim();
    if (a >= b) {
      MapSet(store, key, "");
      break;
    }
    const quote = s[a];
    if (quote === '"' || quote === "'" || quote === "`") {
      const close = find(quote, a + 1);
      if (close === -1) {
        // The line as it is; on the last line, nothing, and the parse reads on from the quote.
        const nl = find("\n", a);
        if (nl !== -1) {
          MapSet(store, key, StringSlice(s, a, nl));
          a = nl;
        }
      } else {
        let value = StringSlice(s, a + 1, close);
        if (quote === '"') {
          let expanded = "";
          for (let from = 0; from < value.length;) {
            const at = StringIndexOf(value, "\\n", from);
            expanded += StringSlice(value, from, at === -1 ? value.length : at) + (at === -1 ? "" : "\n");
            from = at === -1 ? value.length : at + 2;
          }
          value = expanded;
        }
        MapSet(store, key, value);
        const nl = find("\n", close + 1);
        if (quote === '"') {
          a = nl !== -1 ? nl + 1 : b; // past the line's end, with no trim (Node's order)
          continue;
        }
        a = nl !== -1 ? nl : b;
      }
    } else {
      const nl = find("\n", a);
      let value = StringSlice(s, a, nl !== -1 ? nl : b);
      const hash = StringIndexOf(value, "#");
      if (hash !== -1) value = StringSlice(value, 0, hash);
      MapSet(store, key, trimSpaces(value));
      a = nl !== -1 ? nl : b;
    }
    trim();
  }
  const keys = [];
  for (const key of MapKeys(store)) appendEntry(keys, key);
  ArraySort(keys, compareCodePoints);
  const out = {};
  for (let i = 0; i < keys.length; i++) {
    // Node sets each key on a plain object: "__proto__" lands on its setter, which ignores a string.
    if (keys[i] !== "__proto__") ObjectDefineProperty(out, keys[i], { value: MapGet(store, keys[i]), writable: true, enumerable: true, configurable: true });
  }
  return out;
}

/** Orders strings by code point (UTF-8 byte order), not UTF-16 code unit. */
function compareCodePoints(x, y) {
  const n = x.length < y.length ? x.length : y.length;
  for (let i = 0; i < n; i++) {
    const cx = StringCharCodeAt(x, i);
    const cy = StringCharCodeAt(y, i);
    if (cx === cy) continue;
    // A surrogate (a code point past U+FFFF) sorts after every other UTF-16 unit.
    const hx = cx >= 0xd800 && cx <= 0xdfff;
    const hy = cy >= 0xd800 && cy <= 0xdfff;
    if (hx !== hy) return hx ? 1 : -1;
    return cx < cy ? -1 : 1;
  }
  return x.length - y.length;
}
