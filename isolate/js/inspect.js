// ---- inspect.js: the value formatter behind console. -----------------------------
// inspect() never invokes tenant getters, never throws and never recurses deeper than INSPECT_MAX_DEPTH
// (INSPECT_DEPTH unless asked).
// Builtin types are recognised by builtinKind() (prototype chain + brand check) instead of reading
// Symbol.toStringTag, so no tenant code runs except Proxy traps; anything that throws while being
// formatted prints as "[object]".

const INSPECT_DEPTH = 4;
/** The deepest `util.inspect` goes, whatever its `depth` option says (`null` and `Infinity` too). */
const INSPECT_MAX_DEPTH = 32;
const INSPECT_MAX_ITEMS = 100;
const INSPECT_MAX_STRING = 10000;
const INSPECT_BREAK = 80;

const brandOf = (fn) => (v) => { try { fn(v); return true; } catch { return false; } };
const uncurry = (fn) => (self, ...args) => ReflectApply(fn, self, args);
// Captured for the crypto group (lazy, isolate/src/lazy), whose top level uses them when built.
const StringToUpperCase = uncurry(String.prototype.toUpperCase);
const StringCharCodeAt = uncurry(String.prototype.charCodeAt);
const NumberIsFinite = Number.isFinite;
const mapSize = uncurry(ObjectGetOwnPropertyDescriptor(Map.prototype, "size").get);
const setSize = uncurry(ObjectGetOwnPropertyDescriptor(Set.prototype, "size").get);
const arrayBufferByteLength = uncurry(ObjectGetOwnPropertyDescriptor(ArrayBuffer.prototype, "byteLength").get);
const TypedArrayPrototype = ObjectGetPrototypeOf(Uint8Array.prototype);
const typedArrayName = uncurry(ObjectGetOwnPropertyDescriptor(TypedArrayPrototype, SymbolToStringTag).get);
const typedArrayGetter = (name) => uncurry(ObjectGetOwnPropertyDescriptor(TypedArrayPrototype, name).get);
const typedArrayLength = typedArrayGetter("length");
const typedArrayBuffer = typedArrayGetter("buffer");
const typedArrayByteOffset = typedArrayGetter("byteOffset");
const typedArrayByteLength = typedArrayGetter("byteLength");
const dataViewByteLength = uncurry(ObjectGetOwnPropertyDescriptor(DataView.prototype, "byteLength").get);
const dataViewBuffer = uncurry(ObjectGetOwnPropertyDescriptor(DataView.prototype, "buffer").get);
const dataViewByteOffset = uncurry(ObjectGetOwnPropertyDescriptor(DataView.prototype, "byteOffset").get);
const regExpSource = uncurry(ObjectGetOwnPropertyDescriptor(RegExp.prototype, "source").get);
const regExpFlags = (re) => {
  let f = "";
  for (const [flag, name] of [["d", "hasIndices"], ["g", "global"], ["i", "ignoreCase"], ["m", "multiline"],
    ["s", "dotAll"], ["u", "unicode"], ["y", "sticky"]]) {
    const d = ObjectGetOwnPropertyDescriptor(RegExp.prototype, name);
    if (d !== undefined && ReflectApply(d.get, re, [])) f += flag;
  }
  return f;
};
const FunctionToString = uncurry(Function.prototype.toString);

// Builtin kinds. builtinKind() walks the prototype chain once to the nearest builtin prototype,
// then confirms with a brand check (a builtin that throws on a wrong receiver), so an ordinary
// object costs no exception and an impostor such as Object.create(Date.prototype) is not taken
// for a Date. Errors and Promises have no side-effect-free brand check: their prototype decides.
const K_PLAIN = 0, K_DATE = 1, K_REGEXP = 2, K_ERROR = 3, K_MAP = 4, K_SET = 5, K_WEAK = 6,
  K_ARRAYBUFFER = 7, K_DATAVIEW = 8, K_PROMISE = 9, K_BOX = 10;
const BOXES = [
  ["Number", uncurry(Number.prototype.valueOf)], ["String", uncurry(String.prototype.valueOf)],
  ["Boolean", uncurry(Boolean.prototype.valueOf)], ["Symbol", uncurry(Symbol.prototype.valueOf)],
  ["BigInt", uncurry(BigInt.prototype.valueOf)],
];
const BUILTIN_PROTOTYPES = new Map([
  [Date.prototype, [K_DATE, brandOf(uncurry(Date.prototype.getTime))]],
  [RegExp.prototype, [K_REGEXP, brandOf(regExpSource)]],
  [Error.prototype, [K_ERROR, null]],
  [Map.prototype, [K_MAP, brandOf((v) => ReflectApply(Map.prototype.has, v, [0]))]],
  [Set.prototype, [K_SET, brandOf((v) => ReflectApply(Set.prototype.has, v, [0]))]],
  [WeakMap.prototype, [K_WEAK, brandOf((v) => ReflectApply(WeakMap.prototype.has, v, [{}]))]],
  [WeakSet.prototype, [K_WEAK, brandOf((v) => ReflectApply(WeakSet.prototype.has, v, [{}]))]],
  [ArrayBuffer.prototype, [K_ARRAYBUFFER, brandOf(arrayBufferByteLength)]],
  [DataView.prototype, [K_DATAVIEW, brandOf(dataViewByteLength)]],
  [Promise.prototype, [K_PROMISE, null]],
  ...BOXES.map(([name, valueOf], i) => [globalThis[name].prototype, [K_BOX + i, brandOf(valueOf)]]),
]);

/** The builtin kind of an object (K_*; a boxed primitive is K_BOX + its index in BOXES). */
function builtinKind(obj) {
  for (let p = ObjectGetPrototypeOf(obj), hops = 0; p !== null && hops < 100; p = ObjectGetPrototypeOf(p), hops++) {
    const entry = BUILTIN_PROTOTYPES.get(p);
    if (entry === undefined) continue;
    return entry[1] === null || entry[1](obj) ? entry[0] : K_PLAIN;
  }
  return K_PLAIN;
}
const isObject = (v) => v !== null && typeof v === "object";
const isArrayBuffer = (v) => isObject(v) && builtinKind(v) === K_ARRAYBUFFER;
const isDataView = (v) => isObject(v) && builtinKind(v) === K_DATAVIEW;
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** Platform classes' display: prototype -> (obj) => [entries: [key, value][], arrow: boolean]. */
const inspectHooks = new Map();
const inspectHooksSet = uncurry(Map.prototype.set);
/** Classes shown as one string instead (node:buffer's `<Buffer 68 69>`): prototype -> (obj) => string. */
const inspectReplacers = new Map();
/** Displays instances of `Class` through its ORIGINAL getters (captured now, so later patching of
 *  the prototype cannot run tenant code inside console.log). */
function inspectThroughGetters(Class, names) {
  // Indexed, with captured operations only: a lazily built part (lazy.js) calls this after tenant
  // code, which may have replaced Array.prototype.map, Map.prototype.set or the array iterator.
  const getters = [];
  for (let i = 0; i < names.length; i++) {
    const n = names[i];
    let get;
    for (let o = Class.prototype; o !== null; o = ObjectGetPrototypeOf(o)) {
      const d = ObjectGetOwnPropertyDescriptor(o, n);
      if (d !== undefined) {
        ObjectSetPrototypeOf(d, null);
        get = d.get;
        break;
      }
    }
    ObjectDefineProperty(getters, i, { __proto__: null, value: [n, uncurry(get)], writable: true, enumerable: true, configurable: true });
  }
  inspectHooksSet(inspectHooks, Class.prototype, (obj) => [getters.map(([n, get]) => [n, get(obj)]), false]);
}

function quoteString(s) {
  if (s.length > INSPECT_MAX_STRING) {
    return `${quoteString(s.slice(0, INSPECT_MAX_STRING))}... ${s.length - INSPECT_MAX_STRING} more characters`;
  }
  const q = s.includes("'") ? (s.includes('"') ? (s.includes("`") ? "'" : "`") : '"') : "'";
  let out = q;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ch = s[i];
    if (ch === q || ch === "\\") out += `\\${ch}`;
    else if (c === 10) out += "\\n";
    else if (c === 9) out += "\\t";
    else if (c === 13) out += "\\r";
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, "0").toUpperCase()}`;
    else out += ch;
  }
  return out + q;
}

function formatKey(key) {
  if (typeof key === "symbol") return `[${String(key)}]`;
  return IDENTIFIER.test(key) ? key : quoteString(key);
}

function formatPrimitive(v, nested) {
  switch (typeof v) {
    case "string": return nested ? quoteString(v) : v;
    case "number": return ObjectIs(v, -0) ? "-0" : `${v}`;
    case "bigint": return `${v}n`;
    case "symbol": return String(v);
    default: return `${v}`; // undefined, boolean, null
  }
}

/** Name of the nearest constructor on the prototype chain, read without invoking getters. */
function constructorName(obj) {
  for (let p = obj, hops = 0; p !== null && hops < 100; p = ObjectGetPrototypeOf(p), hops++) {
    const d = ObjectGetOwnPropertyDescriptor(p, "constructor");
    if (d !== undefined && typeof d.value === "function") {
      const n = ObjectGetOwnPropertyDescriptor(d.value, "name");
      if (n !== undefined && typeof n.value === "string" && n.value !== "") return n.value;
    }
  }
  return null;
}

function formatFunction(fn) {
  const n = ObjectGetOwnPropertyDescriptor(fn, "name");
  const name = n !== undefined && typeof n.value === "string" && n.value !== "" ? n.value : null;
  let isClass = false;
  try { isClass = /^class\b/.test(FunctionToString(fn)); } catch { /* Proxy of a function */ }
  if (isClass) return name === null ? "[class (anonymous)]" : `[class ${name}]`;
  return name === null ? "[Function (anonymous)]" : `[Function: ${name}]`;
}

function formatError(err) {
  const sd = ObjectGetOwnPropertyDescriptor(err, "stack");
  if (sd !== undefined && typeof sd.value === "string" && sd.value !== "") return sd.value;
  let name = "Error";
  let message = "";
  try {
    name = `${err.name}`;
    message = `${err.message}`;
  } catch { /* hostile getter: keep defaults */ }
  return message === "" ? name : `${name}: ${message}`;
}

/** Joins entries Node-style (util.inspect's reduceToSingleString with compact = 3): one line when
 *  it fits in 80 columns and the object holds at most 3 levels of nesting below its last entry,
 *  otherwise one entry per line. (Node's column grouping of long arrays is not replicated.) */
function joinEntries(prefix, open, close, entries, indent, singleLineAllowed) {
  if (entries.length === 0) return `${prefix}${open}${close}`;
  let total = prefix.length + open.length + entries.length + indent.length + 10;
  let fits = singleLineAllowed;
  for (let i = 0; fits && i < entries.length; i++) {
    total += entries[i].length + 1;
    if (total > INSPECT_BREAK || entries[i].includes("\n")) fits = false;
  }
  if (fits) return `${prefix}${open} ${entries.join(", ")} ${close}`;
  const nl = `\n${indent}  `;
  return `${prefix}${open}${nl}${entries.join(`,${nl}`)}\n${indent}${close}`;
}

function inspectValue(value, depth, ctx, indent) {
  if (value === null || (typeof value !== "object" && typeof value !== "function")) {
    return formatPrimitive(value, true);
  }
  try {
    return inspectObject(value, depth, ctx, indent);
  } catch {
    return "[object]";
  }
}

function propertyEntries(obj, keys, depth, ctx, indent, out) {
  let shown = 0;
  for (const key of keys) {
    const d = ObjectGetOwnPropertyDescriptor(obj, key);
    if (d === undefined || !d.enumerable) continue;
    if (shown++ >= INSPECT_MAX_ITEMS) { out.push("..."); break; }
    let text;
    if ("value" in d) text = inspectValue(d.value, depth + 1, ctx, `${indent}  `);
    else text = d.get !== undefined ? (d.set !== undefined ? "[Getter/Setter]" : "[Getter]") : "[Setter]";
    out.push(`${formatKey(key)}: ${text}`);
  }
}

function inspectObject(obj, depth, ctx, indent) {
  if (typeof obj === "function") return formatFunction(obj);
  const ci = ctx.stack.indexOf(obj);
  if (ci !== -1) {
    let ref = ctx.refs.get(obj);
    if (ref === undefined) ctx.refs.set(obj, ref = ctx.refs.size + 1);
    return `[Circular *${ref}]`;
  }
  const replacer = inspectReplacers.get(ObjectGetPrototypeOf(obj));
  if (replacer !== undefined) return replacer(obj);
  const kind = builtinKind(obj);
  if (kind === K_DATE) {
    const t = ReflectApply(Date.prototype.getTime, obj, []);
    return t === t ? ReflectApply(Date.prototype.toISOString, obj, []) : "Invalid Date";
  }
  if (kind === K_REGEXP) return `/${regExpSource(obj)}/${regExpFlags(obj)}`;
  if (kind === K_ERROR) return formatError(obj);
  if (kind >= K_BOX) {
    const [name, valueOf] = BOXES[kind - K_BOX];
    return `[${name}: ${formatPrimitive(valueOf(obj), true)}]`;
  }
  const ctor = constructorName(obj);
  const isArray = ArrayIsArray(obj);
  const taName = typedArrayName(obj);
  if (depth > ctx.maxDepth) {
    return `[${isArray ? "Array" : taName ?? ctor ?? "Object"}]`;
  }
  ctx.currentDepth = depth;
  if (kind === K_WEAK) return `${ctor ?? "Weak"} { <items unknown> }`;
  const hook = inspectHooks.get(ObjectGetPrototypeOf(obj));
  let shown = null;
  if (hook !== undefined) {
    try { shown = hook(obj); } catch { /* not a genuine instance: format generically */ }
  }
  ctx.stack.push(obj);
  const entries = [];
  let prefix = ctor === null ? "[Object: null prototype] " : ctor === "Object" ? "" : `${ctor} `;
  let open = "{";
  let close = "}";
  const inner = `${indent}  `;
  let keys;
  if (shown !== null) {
    prefix = `${ctor} `;
    keys = [];
    for (const [k, v] of shown[0]) {
      const text = inspectValue(v, depth + 1, ctx, inner);
      entries.push(shown[1] ? `${inspectValue(k, depth + 1, ctx, inner)} => ${text}` : `${formatKey(k)}: ${text}`);
    }
  } else if (isArray || taName !== undefined) {
    open = "[";
    close = "]";
    const length = isArray ? obj.length : typedArrayLength(obj);
    prefix = isArray ? (ctor === "Array" ? "" : prefix) : `${taName}(${length}) `;
    const limit = length < INSPECT_MAX_ITEMS ? length : INSPECT_MAX_ITEMS;
    let holes = 0;
    for (let i = 0; i < limit; i++) {
      const d = ObjectGetOwnPropertyDescriptor(obj, i);
      if (d === undefined) { holes++; continue; }
      if (holes > 0) { entries.push(`<${holes} empty item${holes > 1 ? "s" : ""}>`); holes = 0; }
      entries.push("value" in d ? inspectValue(d.value, depth + 1, ctx, inner) : "[Getter/Setter]");
    }
    if (holes > 0) entries.push(`<${holes} empty item${holes > 1 ? "s" : ""}>`);
    if (length > limit) entries.push(`... ${length - limit} more item${length - limit > 1 ? "s" : ""}`);
    // Extra (non-index) properties are listed only for short arrays: ownKeys is O(length).
    keys = length > INSPECT_MAX_ITEMS || !isArray ? []
      : ReflectOwnKeys(obj).filter((k) => typeof k !== "string" || (!/^(0|[1-9]\d*)$/.test(k) && k !== "length"));
  } else if (kind === K_MAP) {
    prefix = `${ctor ?? "Map"}(${mapSize(obj)}) `;
    let n = 0;
    for (const [k, v] of ReflectApply(Map.prototype.entries, obj, [])) {
      if (n++ >= INSPECT_MAX_ITEMS) { entries.push("..."); break; }
      entries.push(`${inspectValue(k, depth + 1, ctx, inner)} => ${inspectValue(v, depth + 1, ctx, inner)}`);
    }
  } else if (kind === K_SET) {
    prefix = `${ctor ?? "Set"}(${setSize(obj)}) `;
    let n = 0;
    for (const v of ReflectApply(Set.prototype.values, obj, [])) {
      if (n++ >= INSPECT_MAX_ITEMS) { entries.push("..."); break; }
      entries.push(inspectValue(v, depth + 1, ctx, inner));
    }
  } else if (kind === K_ARRAYBUFFER) {
    const len = arrayBufferByteLength(obj);
    const bytes = new Uint8Array(obj, 0, len < 50 ? len : 50);
    let hex = "";
    for (let i = 0; i < bytes.length; i++) hex += `${i ? " " : ""}${bytes[i].toString(16).padStart(2, "0")}`;
    if (len > 50) hex += ` ... ${len - 50} more bytes`;
    entries.push(`[Uint8Contents]: <${hex}>`, `byteLength: ${len}`);
  } else if (kind === K_DATAVIEW) {
    entries.push(`byteLength: ${dataViewByteLength(obj)}`);
  } else if (kind === K_PROMISE) {
    entries.push("<unknown>");
  }
  propertyEntries(obj, keys ?? ReflectOwnKeys(obj), depth, ctx, indent, entries);
  ctx.stack.pop();
  const text = joinEntries(prefix, open, close, entries, indent, ctx.currentDepth - depth < 3);
  const ref = ctx.refs.get(obj);
  return ref === undefined ? text : `<ref *${ref}> ${text}`;
}

/** Formats any value; never throws. Strings at top level are returned unquoted by formatArgs only.
 *  Objects nested deeper than `maxDepth` (0: the value's own entries only; at most
 *  INSPECT_MAX_DEPTH) are shown as `[Object]`. */
function inspect(value, maxDepth = INSPECT_DEPTH) {
  const limit = maxDepth > INSPECT_MAX_DEPTH ? INSPECT_MAX_DEPTH : maxDepth < 0 ? 0 : maxDepth;
  try {
    return inspectValue(value, 0, { stack: [], refs: new Map(), currentDepth: 0, maxDepth: limit }, "");
  } catch {
    return "[object]";
  }
}
