// ---- inspect.js: the value formatter behind console. -----------------------------
// inspect() never invokes tenant getters, never throws and never recurses deeper than INSPECT_MAX_DEPTH
// (INSPECT_DEPTH unless asked). The tenant code it calls is a value's own formatter, Node's
// `[util.inspect.custom](depth, options, inspect)` (its string is shown as it is), and a `sorted`
// comparator util.inspect's caller passed.
// Its layout is Node's util.inspect (reduceToSingleString, groupArrayElements; compact 3 and
// breakLength 80 unless util.inspect is told otherwise; checked against Node 20 in
// isolate/tests/node_compare.rs and node-util-format.test.mjs); a promise's state is read
// natively (hostPromiseState), no tenant code run.
// Builtin types are recognised by builtinKind() (prototype chain + brand check) instead of reading
// Symbol.toStringTag, so no tenant code runs except Proxy traps; anything that throws while being
// formatted prints as "[object]". The builtins' methods it uses are captured while the prelude
// runs, and it tests characters without RegExps, so a tenant that replaced String.prototype's
// methods, a RegExp's `exec` or a global such as `String` prints as before (node.test.mjs).

const INSPECT_DEPTH = 4;
// Node's `util.inspect.custom`: an object's own formatter, looked up as data properties only (a
// getter is not run) and never on Object.prototype.
const InspectCustom = Symbol.for("nodejs.util.inspect.custom");
const ObjectPrototypeForInspect = Object.prototype;
/** An own property's descriptor with a null prototype, or undefined: a field the descriptor lacks
 *  (`value` of an accessor, `get` of a data property) reads as undefined, never through an
 *  accessor tenant code put on Object.prototype. */
function inspectDescriptor(o, key) {
  const d = ObjectGetOwnPropertyDescriptor(o, key);
  if (d !== undefined) ObjectSetPrototypeOf(d, null);
  return d;
}
/** The deepest `util.inspect` goes, whatever its `depth` option says (`null` and `Infinity` too). */
const INSPECT_MAX_DEPTH = 32;
const INSPECT_MAX_ITEMS = 100;
const INSPECT_MAX_STRING = 10000;
const INSPECT_BREAK = 80;

const brandOf = (fn) => (v) => { try { fn(v); return true; } catch { return false; } };
// `uncurry(f)(self, ...args)` calls f with `self` as this: `Function.prototype.call` bound to f,
// with call and bind captured now. A bound function, not an arrow with a rest parameter: no array
// is made per call, and the snapshot holds no closure (with its function's dispatch entry) per
// captured method.
const FunctionPrototypeBind = Function.prototype.bind;
const FunctionPrototypeCall = Function.prototype.call;
const uncurry = (fn) => ReflectApply(FunctionPrototypeBind, FunctionPrototypeCall, [fn]);
// Map's methods for the runtime's own maps (timers.js's table, builtins.js's modules, ...): tenant
// code may replace Map.prototype's, and must never be handed a runtime record through them.
const MapGet = uncurry(Map.prototype.get);
const MapSet = uncurry(Map.prototype.set);
const MapDelete = uncurry(Map.prototype.delete);
const MapHas = uncurry(Map.prototype.has);
const InspectMapCtor = Map; // a tenant may replace the global
const MapForEach = uncurry(Map.prototype.forEach);
const SetAdd = uncurry(Set.prototype.add);
const SetHas = uncurry(Set.prototype.has);
const SetDelete = uncurry(Set.prototype.delete);
const SetForEach = uncurry(Set.prototype.forEach);
const ArrayJoin = uncurry(Array.prototype.join);
const StringReplaceAll = uncurry(String.prototype.replaceAll);
const ArrayIndexOf = uncurry(Array.prototype.indexOf);
const InspectArraySlice = uncurry(Array.prototype.slice);
const InspectArraySort = uncurry(Array.prototype.sort);
/** Appends `value` to the runtime's own array `list` as a data property: never through
 *  Array.prototype.push or an index setter a tenant may have defined on Array.prototype. */
function appendEntry(list, value) {
  ObjectDefineProperty(list, list.length, { __proto__: null, value, writable: true, enumerable: true, configurable: true });
}
// Captured for the crypto group (lazy, isolate/src/lazy), whose top level uses them when built.
const StringToUpperCase = uncurry(String.prototype.toUpperCase);
const StringCharCodeAt = uncurry(String.prototype.charCodeAt);
const NumberIsFinite = Number.isFinite;
const mapSize = uncurry(inspectDescriptor(Map.prototype, "size").get);
const setSize = uncurry(inspectDescriptor(Set.prototype, "size").get);
const arrayBufferByteLength = uncurry(inspectDescriptor(ArrayBuffer.prototype, "byteLength").get);
const TypedArrayPrototype = ObjectGetPrototypeOf(Uint8Array.prototype);
const typedArrayName = uncurry(inspectDescriptor(TypedArrayPrototype, SymbolToStringTag).get);
const typedArrayGetter = (name) => uncurry(inspectDescriptor(TypedArrayPrototype, name).get);
const typedArrayLength = typedArrayGetter("length");
const typedArrayBuffer = typedArrayGetter("buffer");
const typedArrayByteOffset = typedArrayGetter("byteOffset");
const typedArrayByteLength = typedArrayGetter("byteLength");
const dataViewByteLength = uncurry(inspectDescriptor(DataView.prototype, "byteLength").get);
const dataViewBuffer = uncurry(inspectDescriptor(DataView.prototype, "buffer").get);
const dataViewByteOffset = uncurry(inspectDescriptor(DataView.prototype, "byteOffset").get);
const regExpSource = uncurry(inspectDescriptor(RegExp.prototype, "source").get);
// The flag getters, captured now (in the order RegExp.prototype.flags lists them), as
// [flag, getter] pairs read by index: a tenant may replace them or the array iterator.
const REGEXP_FLAG_GETTERS = [];
{
  const names = [["d", "hasIndices"], ["g", "global"], ["i", "ignoreCase"], ["m", "multiline"],
    ["s", "dotAll"], ["u", "unicode"], ["v", "unicodeSets"], ["y", "sticky"]];
  for (let i = 0; i < names.length; i++) {
    const d = inspectDescriptor(RegExp.prototype, names[i][1]);
    if (d !== undefined) REGEXP_FLAG_GETTERS[REGEXP_FLAG_GETTERS.length] = [names[i][0], d.get];
  }
}
const regExpFlags = (re) => {
  let f = "";
  for (let i = 0; i < REGEXP_FLAG_GETTERS.length; i++) {
    if (ReflectApply(REGEXP_FLAG_GETTERS[i][1], re, [])) f += REGEXP_FLAG_GETTERS[i][0];
  }
  return f;
};
const FunctionToString = uncurry(Function.prototype.toString);
const StringPadStart = uncurry(String.prototype.padStart);
const StringIndexOfForInspect = uncurry(String.prototype.indexOf);
const StringPadEnd = uncurry(String.prototype.padEnd);
const StringIncludesForInspect = uncurry(String.prototype.includes);
const StringSliceForInspect = uncurry(String.prototype.slice);
const SymbolToStringForInspect = uncurry(Symbol.prototype.toString);
const HEX_DIGITS = "0123456789abcdef";
/** A byte as two lower-case hex digits. */
const hexByte = (c) => HEX_DIGITS[(c >> 4) & 15] + HEX_DIGITS[c & 15];
/** Whether code `c` is in `\w` (ASCII letters, digits, `_`). */
const isWordCode = (c) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const { sqrt: MathSqrt, round: MathRound, max: MathMax } = Math;
const FunctionPrototypeForInspect = Function.prototype;
// The prototypes of the function kinds Node names: `[AsyncFunction: f]`, `[GeneratorFunction: g]`.
const FUNCTION_KINDS = [
  [ObjectGetPrototypeOf(async function () {}), "AsyncFunction"],
  [ObjectGetPrototypeOf(function* () {}), "GeneratorFunction"],
  [ObjectGetPrototypeOf(async function* () {}), "AsyncGeneratorFunction"],
];

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
/** A brand check through `Class.prototype.has`, captured now (a tenant may replace it). */
function uncurryHas(Class) {
  const has = Class.prototype.has;
  return (v) => ReflectApply(has, v, [Class === Set ? 0 : {}]);
}
const BUILTIN_PROTOTYPES = new Map([
  [Date.prototype, [K_DATE, brandOf(uncurry(Date.prototype.getTime))]],
  [RegExp.prototype, [K_REGEXP, brandOf(regExpSource)]],
  [Error.prototype, [K_ERROR, null]],
  [Map.prototype, [K_MAP, brandOf((v) => MapHas(v, 0))]],
  [Set.prototype, [K_SET, brandOf(uncurryHas(Set))]],
  [WeakMap.prototype, [K_WEAK, brandOf(uncurryHas(WeakMap))]],
  [WeakSet.prototype, [K_WEAK, brandOf(uncurryHas(WeakSet))]],
  [ArrayBuffer.prototype, [K_ARRAYBUFFER, brandOf(arrayBufferByteLength)]],
  [DataView.prototype, [K_DATAVIEW, brandOf(dataViewByteLength)]],
  [Promise.prototype, [K_PROMISE, null]],
  ...BOXES.map(([name, valueOf], i) => [globalThis[name].prototype, [K_BOX + i, brandOf(valueOf)]]),
]);

/** The builtin kind of an object (K_*; a boxed primitive is K_BOX + its index in BOXES). */
function builtinKind(obj) {
  for (let p = ObjectGetPrototypeOf(obj), hops = 0; p !== null && hops < 100; p = ObjectGetPrototypeOf(p), hops++) {
    const entry = MapGet(BUILTIN_PROTOTYPES, p);
    if (entry === undefined) continue;
    return entry[1] === null || entry[1](obj) ? entry[0] : K_PLAIN;
  }
  return K_PLAIN;
}
const isObject = (v) => v !== null && typeof v === "object";
const isArrayBuffer = (v) => isObject(v) && builtinKind(v) === K_ARRAYBUFFER;
const isDataView = (v) => isObject(v) && builtinKind(v) === K_DATAVIEW;
/** Whether `key` is `^(0|[1-9]\d*)$` (an array index's spelling), tested without a RegExp. */
function isIndexKey(key) {
  if (key.length === 0 || (key.length > 1 && StringCharCodeAt(key, 0) === 48)) return false;
  for (let i = 0; i < key.length; i++) {
    const c = StringCharCodeAt(key, i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** Whether `key` prints unquoted: `^[A-Za-z_$][\w$]*$`, tested without a RegExp (whose `exec`
 *  a tenant may have replaced). */
function isIdentifier(key) {
  if (key.length === 0) return false;
  for (let i = 0; i < key.length; i++) {
    const c = StringCharCodeAt(key, i);
    if (!(isWordCode(c) || c === 36) || (i === 0 && c >= 48 && c <= 57)) return false;
  }
  return true;
}

/** Platform classes' display: prototype -> (obj) => [entries: [key, value][], arrow: boolean]. */
const inspectHooks = new Map();
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
      const d = inspectDescriptor(o, n);
      if (d !== undefined) {
        ObjectSetPrototypeOf(d, null);
        get = d.get;
        break;
      }
    }
    ObjectDefineProperty(getters, i, { __proto__: null, value: [n, uncurry(get)], writable: true, enumerable: true, configurable: true });
  }
  MapSet(inspectHooks, Class.prototype, (obj) => {
    const entries = [];
    for (let i = 0; i < getters.length; i++) {
      ObjectDefineProperty(entries, i, { __proto__: null, value: [getters[i][0], getters[i][1](obj)], writable: true, enumerable: true, configurable: true });
    }
    return [entries, false];
  });
}

/** A string as util.inspect shows it, `indent` being where it stands: at most maxStringLength
 *  characters (then "... n more characters"), and one longer than the line has room for cut after
 *  each line feed into quoted pieces joined by " +" (Node's formatPrimitive). */
function formatString(s, indent, ctx) {
  let trailer = "";
  if (s.length > ctx.maxStringLength) {
    const rest = s.length - ctx.maxStringLength;
    s = StringSliceForInspect(s, 0, ctx.maxStringLength);
    trailer = `... ${rest} more character${rest > 1 ? "s" : ""}`;
  }
  if (s.length > 16 && s.length > ctx.breakLength - indent.length - 4) {
    const pieces = [];
    let start = 0;
    for (let i = 0; i < s.length; i++) {
      if (StringCharCodeAt(s, i) === 10) {
        appendEntry(pieces, quoteString(StringSliceForInspect(s, start, i + 1)));
        start = i + 1;
      }
    }
    if (start < s.length || pieces.length === 0) appendEntry(pieces, quoteString(StringSliceForInspect(s, start)));
    return ArrayJoin(pieces, ` +\n${indent}  `) + trailer;
  }
  return quoteString(s) + trailer;
}

/** `s` quoted as Node's strEscape does: the quote it holds least of, C0 and C1 controls as \xNN,
 *  lone surrogates as \uXXXX. */
function quoteString(s) {
  const has = (c) => StringIncludesForInspect(s, c);
  const q = has("'") ? (has('"') ? (has("`") ? "'" : "`") : '"') : "'";
  let out = q;
  for (let i = 0; i < s.length; i++) {
    const c = StringCharCodeAt(s, i);
    const ch = s[i];
    if (ch === q || ch === "\\") out += `\\${ch}`;
    else if (c === 10) out += "\\n";
    else if (c === 9) out += "\\t";
    else if (c === 13) out += "\\r";
    else if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) out += `\\x${StringToUpperCase(hexByte(c))}`;
    else if (c >= 0xd800 && c <= 0xdfff) {
      const paired = c <= 0xdbff
        ? i + 1 < s.length && (StringCharCodeAt(s, i + 1) & 0xfc00) === 0xdc00
        : i > 0 && (StringCharCodeAt(s, i - 1) & 0xfc00) === 0xd800;
      out += paired ? ch : `\\u${hexByte(c >> 8)}${hexByte(c & 255)}`;
    } else out += ch;
  }
  return out + q;
}

function formatKey(key) {
  if (typeof key === "symbol") return `[${SymbolToStringForInspect(key)}]`;
  return isIdentifier(key) ? key : quoteString(key);
}

function formatPrimitive(v, nested) {
  switch (typeof v) {
    case "string": return nested ? quoteString(v) : v;
    case "number": return ObjectIs(v, -0) ? "-0" : `${v}`;
    case "bigint": return `${v}n`;
    case "symbol": return SymbolToStringForInspect(v);
    default: return `${v}`; // undefined, boolean, null
  }
}

/** Name of the nearest constructor on the prototype chain, read without invoking getters. */
function constructorName(obj) {
  for (let p = obj, hops = 0; p !== null && hops < 100; p = ObjectGetPrototypeOf(p), hops++) {
    const d = inspectDescriptor(p, "constructor");
    if (d !== undefined && typeof d.value === "function") {
      const n = inspectDescriptor(d.value, "name");
      if (n !== undefined && typeof n.value === "string" && n.value !== "") return n.value;
    }
  }
  return null;
}

/** A function's own `name` (a data property), or null. */
function functionName(fn) {
  const n = inspectDescriptor(fn, "name");
  return n !== undefined && typeof n.value === "string" && n.value !== "" ? n.value : null;
}

/** `[Function: f]`, `[AsyncFunction: f]`, `[class B extends A]`, ... as Node's. */
function formatFunction(fn) {
  const name = functionName(fn);
  let isClass = false;
  try {
    const source = FunctionToString(fn);
    isClass = StringSliceForInspect(source, 0, 5) === "class" &&
      (source.length === 5 || !isWordCode(StringCharCodeAt(source, 5)));
  } catch { /* Proxy of a function */ }
  const proto = ObjectGetPrototypeOf(fn);
  if (isClass) {
    let base = `class ${name ?? "(anonymous)"}`;
    if (proto === null) base += " extends [null prototype]";
    else if (proto !== FunctionPrototypeForInspect && typeof proto === "function") {
      const superName = functionName(proto);
      if (superName !== null) base += ` extends ${superName}`;
    }
    return `[${base}]`;
  }
  let kind = "Function";
  for (let i = 0; i < FUNCTION_KINDS.length; i++) if (proto === FUNCTION_KINDS[i][0]) kind = FUNCTION_KINDS[i][1];
  return name === null ? `[${kind} (anonymous)]` : `[${kind}: ${name}]`;
}

// V8's own accessor for an error's `stack` (13.6 installs it on each error), captured while the
// prelude runs: formatError calls it, and never a getter tenant code put there.
const ERROR_STACK_GETTER = (() => {
  const d = inspectDescriptor(new Error("probe"), "stack");
  return d !== undefined && typeof d.get === "function" ? d.get : undefined;
})();

/** An error as Node and workerd show it: its stack (V8's, or a string the code stored), else
 *  "name: message". */
function formatError(err) {
  const sd = inspectDescriptor(err, "stack");
  if (sd !== undefined && typeof sd.value === "string" && sd.value !== "") return sd.value;
  if (sd !== undefined && sd.get !== undefined && sd.get === ERROR_STACK_GETTER) {
    try {
      const stack = ReflectApply(ERROR_STACK_GETTER, err, []);
      if (typeof stack === "string" && stack !== "") return stack;
    } catch { /* fall back to name and message */ }
  }
  let name = "Error";
  let message = "";
  try {
    name = `${err.name}`;
    message = `${err.message}`;
  } catch { /* hostile getter: keep defaults */ }
  return message === "" ? name : `${name}: ${message}`;
}

/** An error with its stack (in brackets when it has no frames), nested lines indented to where
 *  it stands (as Node's util.inspect), then its own enumerable properties but `stack` and
 *  `message`, and its own `cause` and an AggregateError's `errors` (as `[cause]`, `[errors]`), in
 *  braces. */
function formatErrorObject(err, depth, ctx, indent) {
  let text = formatError(err);
  if (StringIndexOfForInspect(text, "\n    at") === -1) text = `[${text}]`;
  if (indent !== "") text = StringReplaceAll(text, "\n", `\n${indent}`);
  const keys = ReflectOwnKeys(err);
  const own = [];
  for (let i = 0; i < keys.length; i++) {
    if (keys[i] !== "stack" && keys[i] !== "message") appendEntry(own, keys[i]);
  }
  const hidden = [];
  const cause = inspectDescriptor(err, "cause");
  if (cause !== undefined && !cause.enumerable && "value" in cause) appendEntry(hidden, ["cause", cause.value]);
  const errors = inspectDescriptor(err, "errors");
  if (errors !== undefined && !errors.enumerable && ArrayIsArray(errors.value)) appendEntry(hidden, ["errors", errors.value]);
  if ((own.length === 0 && hidden.length === 0) || depth > ctx.maxDepth) return text;
  appendEntry(ctx.stack, err);
  const entries = [];
  propertyEntries(err, own, depth, ctx, indent, entries);
  for (let i = 0; i < hidden.length; i++) {
    appendEntry(entries, `[${hidden[i][0]}]: ${inspectValue(hidden[i][1], depth + 1, ctx, `${indent}  `)}`);
  }
  ctx.stack.length = ctx.stack.length - 1;
  if (entries.length === 0) return text;
  return joinEntries("", "{", "}", entries, indent, ctx, depth, null, text);
}

/** Node's groupArrayElements (util.inspect, compact = 3): more than six short entries of an array
 *  set in aligned columns (numbers to the right), rows of at most 15 and 80 columns; `more`: the
 *  last entry is "... n more items", kept on its own. Answers `entries` itself when they do not
 *  group. */
function groupEntries(entries, indent, numeric, more, breakLength, compact) {
  const count = more ? entries.length - 1 : entries.length;
  const separatorSpace = 2;
  const lengths = [];
  let totalLength = 0;
  let maxLength = 0;
  for (let i = 0; i < count; i++) {
    const len = entries[i].length;
    lengths[i] = len;
    totalLength += len + separatorSpace;
    if (maxLength < len) maxLength = len;
  }
  const actualMax = maxLength + separatorSpace;
  if (!(actualMax * 3 + indent.length < breakLength && (totalLength / actualMax > 5 || maxLength <= 6))) return entries;
  const averageBias = MathSqrt(actualMax - totalLength / entries.length);
  const biasedMax = MathMax(actualMax - 3 - averageBias, 1);
  const columns = MathMin(
    MathRound(MathSqrt(2.5 * biasedMax * count) / biasedMax),
    MathFloor((breakLength - indent.length) / actualMax),
    compact * 4, // fewer columns for a smaller `compact`
    15,
  );
  if (columns <= 1) return entries;
  const maxLineLength = [];
  for (let i = 0; i < columns; i++) {
    let lineLength = 0;
    for (let j = i; j < entries.length; j += columns) if (lengths[j] > lineLength) lineLength = lengths[j];
    maxLineLength[i] = lineLength + separatorSpace;
  }
  const rows = [];
  for (let i = 0; i < count; i += columns) {
    const max = MathMin(i + columns, count);
    let row = "";
    let j = i;
    for (; j < max - 1; j++) {
      row += numeric ? StringPadStart(`${entries[j]}, `, maxLineLength[j - i], " ") : StringPadEnd(`${entries[j]}, `, maxLineLength[j - i], " ");
    }
    row += numeric ? StringPadStart(entries[j], maxLineLength[j - i] - separatorSpace, " ") : entries[j];
    appendEntry(rows, row);
  }
  if (more) appendEntry(rows, entries[count]);
  return rows;
}

const moreItems = (n) => `... ${n} more item${n > 1 ? "s" : ""}`;

/** Whether `obj` (an array, a typed array, a Map, a Set or an ordinary object) has no items and
 *  no own enumerable property. */
function holdsNothing(obj, kind, isArray, taName) {
  if (isArray) {
    if (obj.length !== 0) return false;
  } else if (taName !== undefined) {
    if (typedArrayLength(obj) !== 0) return false;
  } else if (kind === K_MAP) {
    if (mapSize(obj) !== 0) return false;
  } else if (kind === K_SET) {
    if (setSize(obj) !== 0) return false;
  } else if (kind !== K_PLAIN) {
    return false;
  }
  const keys = ReflectOwnKeys(obj);
  for (let i = 0; i < keys.length; i++) {
    if (inspectDescriptor(obj, keys[i])?.enumerable) return false;
  }
  return true;
}

/** Joins entries Node-style (util.inspect's reduceToSingleString with compact = 3): an array's
 *  entries grouped in columns when there are more than six (`group`: [numeric, more], see
 *  groupEntries) and no longer one per line; else one line when it fits in 80 columns and the
 *  object holds at most 3 levels of nesting below its last entry, otherwise one entry per line. */
function joinEntries(prefix, open, close, entries, indent, ctx, depth, group = null, base = "") {
  // `base` (Node's: a reference "<ref *1>", an error's text) stands before the braces, a space
  // apart, and counts toward the line without that space.
  if (base !== "") prefix = `${base} ${prefix}`;
  if (entries.length === 0) return `${prefix}${open}${close}`;
  // compact: 0 (false) puts every entry on a line of its own; n joins on one line an object with
  // at most n levels of nesting below its last entry (Node's reduceToSingleString).
  if (ctx.compact < 1) {
    const nl = `\n${indent}  `;
    return `${prefix}${open}${nl}${ArrayJoin(entries, `,${nl}`)}\n${indent}${close}`;
  }
  const singleLineAllowed = StringIndexOfForInspect(base, "\n") === -1 && ctx.currentDepth - depth < ctx.compact;
  if (group !== null && entries.length > 6) {
    const grouped = groupEntries(entries, indent, group[0], group[1], ctx.breakLength, ctx.compact);
    if (grouped !== entries) {
      const nl = `\n${indent}  `;
      return `${prefix}${open}${nl}${ArrayJoin(grouped, `,${nl}`)}\n${indent}${close}`;
    }
  }
  let total = prefix.length - (base !== "" ? 1 : 0) + open.length + entries.length + indent.length + 10;
  let fits = singleLineAllowed;
  for (let i = 0; fits && i < entries.length; i++) {
    total += entries[i].length + 1;
    if (total > ctx.breakLength || StringIncludesForInspect(entries[i], "\n")) fits = false;
  }
  if (fits) return `${prefix}${open} ${ArrayJoin(entries, ", ")} ${close}`;
  const nl = `\n${indent}  `;
  return `${prefix}${open}${nl}${ArrayJoin(entries, `,${nl}`)}\n${indent}${close}`;
}

function inspectValue(value, depth, ctx, indent) {
  if (typeof value === "string") return formatString(value, indent, ctx);
  if (value === null || (typeof value !== "object" && typeof value !== "function")) {
    return formatPrimitive(value, true);
  }
  try {
    return inspectObject(value, depth, ctx, indent);
  } catch {
    return "[object]";
  }
}

/** An array's own keys other than its indices and `length` (strings and symbols). */
function extraArrayKeys(keys) {
  const out = [];
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    if (typeof k !== "string" || (!isIndexKey(k) && k !== "length")) appendEntry(out, k);
  }
  return out;
}

function propertyEntries(obj, keys, depth, ctx, indent, out) {
  let shown = 0;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    const d = inspectDescriptor(obj, key);
    if (d === undefined || !d.enumerable) continue;
    if (shown++ >= INSPECT_MAX_ITEMS) { appendEntry(out, "..."); break; }
    let text;
    if ("value" in d) text = inspectValue(d.value, depth + 1, ctx, `${indent}  `);
    else text = d.get !== undefined ? (d.set !== undefined ? "[Getter/Setter]" : "[Getter]") : "[Setter]";
    appendEntry(out, `${formatKey(key)}: ${text}`);
  }
}

/** The `[util.inspect.custom]` function of `obj` (a data property of it or of a prototype other
 *  than Object.prototype; none on a class's own prototype object), or undefined. */
function customInspector(obj) {
  let o = obj;
  for (let i = 0; i < 64 && o !== null && o !== ObjectPrototypeForInspect; i++) {
    const d = inspectDescriptor(o, InspectCustom);
    if (d !== undefined) {
      if (typeof d.value !== "function") return undefined;
      const c = inspectDescriptor(obj, "constructor");
      const isPrototype = c !== undefined && typeof c.value === "function" &&
        inspectDescriptor(c.value, "prototype")?.value === obj;
      return isPrototype ? undefined : d.value;
    }
    o = ObjectGetPrototypeOf(o);
  }
  return undefined;
}

function inspectObject(obj, depth, ctx, indent) {
  const custom = customInspector(obj);
  if (custom !== undefined) {
    // A formatter whose result has a formatter of its own, and so on, stops at the depth bound.
    if (ctx.customs >= INSPECT_MAX_DEPTH) return "[object]";
    const left = ctx.maxDepth - depth;
    const options = { __proto__: null, depth: left, stylize: (text) => `${text}` };
    const ret = ReflectApply(custom, obj, [left, options, (v, o) => inspect(v, o?.depth ?? INSPECT_DEPTH)]);
    if (ret !== obj) {
      if (typeof ret === "string") return ret;
      ctx.customs++;
      try { return inspectValue(ret, depth, ctx, indent); } finally { ctx.customs--; }
    }
  }
  if (typeof obj === "function") return formatFunction(obj);
  const ci = ArrayIndexOf(ctx.stack, obj);
  if (ci !== -1) {
    let ref = MapGet(ctx.refs, obj);
    if (ref === undefined) MapSet(ctx.refs, obj, ref = mapSize(ctx.refs) + 1);
    return `[Circular *${ref}]`;
  }
  const replacer = MapGet(inspectReplacers, ObjectGetPrototypeOf(obj));
  if (replacer !== undefined) return replacer(obj);
  const kind = builtinKind(obj);
  if (kind === K_DATE) {
    const t = ReflectApply(Date.prototype.getTime, obj, []);
    return t === t ? ReflectApply(Date.prototype.toISOString, obj, []) : "Invalid Date";
  }
  if (kind === K_REGEXP) return `/${regExpSource(obj)}/${regExpFlags(obj)}`;
  if (kind === K_ERROR) return formatErrorObject(obj, depth, ctx, indent);
  if (kind >= K_BOX) {
    const [name, valueOf] = BOXES[kind - K_BOX];
    const v = valueOf(obj);
    return `[${name}: ${typeof v === "string" ? formatString(v, indent, ctx) : formatPrimitive(v, true)}]`;
  }
  const ctor = constructorName(obj);
  const isArray = ArrayIsArray(obj);
  const taName = typedArrayName(obj);
  // Past the depth, a container shows as its type, unless it holds nothing: then it is shown
  // whole (`[]`, `{}`, `Map(0) {}`, `[Object: null prototype] {}`), as Node's formatRaw does.
  // An empty one does not count as the deepest object entered either (Node returns it before
  // setting currentDepth), so its parents may still join on one line.
  const hook = MapGet(inspectHooks, ObjectGetPrototypeOf(obj));
  const empty = holdsNothing(obj, kind, isArray, taName) && hook === undefined;
  if (depth > ctx.maxDepth && !empty) return `[${isArray ? "Array" : taName ?? ctor ?? "Object"}]`;
  // A platform object shown by its hook is Node's custom inspect: it lays itself out on its own,
  // and the objects inside it are not the deepest its parents see.
  const outerDepth = ctx.currentDepth;
  if (!empty) ctx.currentDepth = depth;
  if (kind === K_WEAK) return `${ctor ?? "Weak"} { <items unknown> }`;
  let shown = null;
  if (hook !== undefined) {
    try { shown = hook(obj); } catch { /* not a genuine instance: format generically */ }
  }
  appendEntry(ctx.stack, obj);
  const entries = [];
  let prefix = ctor === null ? "[Object: null prototype] " : ctor === "Object" ? "" : `${ctor} `;
  let open = "{";
  let close = "}";
  const inner = `${indent}  `;
  let keys;
  let group = null; // an array's: [numeric, more] (joinEntries)
  if (shown !== null) {
    prefix = `${ctor} `;
    keys = [];
    for (let i = 0; i < shown[0].length; i++) {
      const k = shown[0][i][0], v = shown[0][i][1];
      const text = inspectValue(v, depth + 1, ctx, inner);
      appendEntry(entries, shown[1] ? `${inspectValue(k, depth + 1, ctx, inner)} => ${text}` : `${formatKey(k)}: ${text}`);
    }
  } else if (isArray || taName !== undefined) {
    open = "[";
    close = "]";
    const length = isArray ? obj.length : typedArrayLength(obj);
    prefix = isArray ? (ctor === "Array" ? "" : prefix) : `${taName}(${length}) `;
    const limit = length < ctx.maxArrayLength ? length : ctx.maxArrayLength;
    let holes = 0;
    let numeric = true;
    for (let i = 0; i < limit; i++) {
      const d = inspectDescriptor(obj, i);
      if (d === undefined) { holes++; numeric = false; continue; }
      if (holes > 0) { appendEntry(entries, `<${holes} empty item${holes > 1 ? "s" : ""}>`); holes = 0; }
      if (!("value" in d) || (typeof d.value !== "number" && typeof d.value !== "bigint")) numeric = false;
      appendEntry(entries, "value" in d ? inspectValue(d.value, depth + 1, ctx, inner) : "[Getter/Setter]");
    }
    if (holes > 0) appendEntry(entries, `<${holes} empty item${holes > 1 ? "s" : ""}>`);
    if (length > limit) appendEntry(entries, moreItems(length - limit));
    group = [numeric, length > limit];
    // Extra (non-index) properties are listed, shown items or not, but not looked for past
    // 100,000 items: ownKeys is O(length).
    keys = length > 100000 || !isArray ? [] : extraArrayKeys(ReflectOwnKeys(obj));
  } else if (kind === K_MAP) {
    prefix = `${ctor ?? "Map"}(${mapSize(obj)}) `;
    let n = 0;
    MapForEach(obj, (v, k) => {
      if (n++ < ctx.maxArrayLength) appendEntry(entries, `${inspectValue(k, depth + 1, ctx, inner)} => ${inspectValue(v, depth + 1, ctx, inner)}`);
    });
    if (n > ctx.maxArrayLength) appendEntry(entries, moreItems(n - ctx.maxArrayLength));
  } else if (kind === K_SET) {
    prefix = `${ctor ?? "Set"}(${setSize(obj)}) `;
    let n = 0;
    SetForEach(obj, (v) => {
      if (n++ < ctx.maxArrayLength) appendEntry(entries, inspectValue(v, depth + 1, ctx, inner));
    });
    if (n > ctx.maxArrayLength) appendEntry(entries, moreItems(n - ctx.maxArrayLength));
  } else if (kind === K_ARRAYBUFFER) {
    const len = arrayBufferByteLength(obj);
    const shown = len < ctx.maxArrayLength ? len : ctx.maxArrayLength;
    const bytes = new U8(obj, 0, shown);
    let hex = "";
    for (let i = 0; i < bytes.length; i++) hex += `${i ? " " : ""}${hexByte(bytes[i])}`;
    if (len > shown) hex += ` ... ${len - shown} more byte${len - shown > 1 ? "s" : ""}`;
    appendEntry(entries, `[Uint8Contents]: <${hex}>`);
    appendEntry(entries, `byteLength: ${len}`);
  } else if (kind === K_DATAVIEW) {
    // Node's: its length, its offset, then its buffer.
    appendEntry(entries, `byteLength: ${dataViewByteLength(obj)}`);
    appendEntry(entries, `byteOffset: ${dataViewByteOffset(obj)}`);
    appendEntry(entries, `buffer: ${inspectValue(dataViewBuffer(obj), depth + 1, ctx, inner)}`);
  } else if (kind === K_PROMISE) {
    const state = hostPromiseState(obj);
    if (state === 0) appendEntry(entries, "<pending>");
    else if (ArrayIsArray(state)) {
      const shown = inspectValue(state[1], depth + 1, ctx, inner);
      appendEntry(entries, state[0] === 2 ? `<rejected> ${shown}` : shown);
    } else appendEntry(entries, "<unknown>");
  }
  const before = entries.length;
  propertyEntries(obj, keys ?? ReflectOwnKeys(obj), depth, ctx, indent, entries);
  // An array with other properties listed after its items is not grouped (they would be).
  if (entries.length !== before) group = null;
  // `sorted`: an object's, a Map's or a Set's entries as text, an array's other properties only.
  if (ctx.sorted !== false) {
    const from = isArray || taName !== undefined ? before : 0;
    if (entries.length - from > 1) {
      const part = InspectArraySlice(entries, from);
      InspectArraySort(part, ctx.sorted === true ? undefined : ctx.sorted);
      for (let i = 0; i < part.length; i++) entries[from + i] = part[i];
    }
  }
  ctx.stack.length = ctx.stack.length - 1;
  // A reference found among the entries (a cycle back to this object) counts toward the line.
  const ref = MapGet(ctx.refs, obj);
  if (shown !== null) ctx.currentDepth = depth;
  const text = joinEntries(prefix, open, close, entries, indent, ctx, depth, group, ref === undefined ? "" : `<ref *${ref}>`);
  if (shown !== null) ctx.currentDepth = outerDepth;
  return text;
}

/** Formats any value; never throws. Strings at top level are returned unquoted by formatArgs only.
 *  Objects nested deeper than `maxDepth` (0: the value's own entries only; at most
 *  INSPECT_MAX_DEPTH) are shown as `[Object]`. */
function inspect(value, maxDepth = INSPECT_DEPTH, options = undefined) {
  const limit = maxDepth > INSPECT_MAX_DEPTH ? INSPECT_MAX_DEPTH : maxDepth < 0 ? 0 : maxDepth;
  const ctx = {
    stack: [], refs: new InspectMapCtor(), currentDepth: 0, maxDepth: limit, customs: 0,
    breakLength: INSPECT_BREAK, compact: 3, sorted: false, maxArrayLength: INSPECT_MAX_ITEMS, maxStringLength: INSPECT_MAX_STRING,
  };
  if (options !== undefined) {
    ctx.breakLength = options.breakLength;
    ctx.compact = options.compact;
    ctx.sorted = options.sorted;
    ctx.maxArrayLength = options.maxArrayLength;
    ctx.maxStringLength = options.maxStringLength;
  }
  try {
    return inspectValue(value, 0, ctx, "");
  } catch {
    return "[object]";
  }
}
