// ---- clone.js: structuredClone and crypto. ---------------------------------------
// structuredClone follows the HTML StructuredSerialize/Deserialize rules, fused into one pass, with
// a memory map so shared references and cycles are preserved. Platform objects (URL, Headers, ...)
// and functions, symbols, WeakMap/WeakSet/Promise throw DataCloneError as in browsers. Like V8,
// an ordinary class instance clones as a plain object (own enumerable string keys, prototype lost).
// `transfer` moves ArrayBuffers (they are detached afterwards: ArrayBuffer.prototype.transfer) and
// MessagePorts (workers.js: the copy takes over the port's entanglement and queue); other
// transferables (streams) are refused with DataCloneError. Limit: Proxies are read through their
// traps rather than rejected.

const ERROR_CONSTRUCTORS = {
  __proto__: null, Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError,
};
const TYPED_ARRAYS = {
  __proto__: null, Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array,
  Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array,
};
// Float16Array: see adoptFloat16Array.
const ArrayBufferSlice = uncurry(ArrayBuffer.prototype.slice);
const arrayBufferMaxByteLength = uncurry(ObjectGetOwnPropertyDescriptor(ArrayBuffer.prototype, "maxByteLength").get);
const CloneArrayBufferCtor = ArrayBuffer, CloneUint8Array = Uint8Array;
const cloneBytesSet = uncurry(Uint8Array.prototype.set);

/** V8 installs Float16Array in each context after the snapshot: the worker's configuration
 *  (builtins.js, before any tenant code) hands it over for cloning and stream views. */
function adoptFloat16Array(ctor) {
  if (typeof ctor === "function") TYPED_ARRAYS.Float16Array = VIEW_CONSTRUCTORS.Float16Array = ctor;
}

/** An ArrayBuffer's copy; a resizable one stays resizable, with its maximum (as the HTML
 *  standard's serialization keeps it). */
function cloneArrayBuffer(value) {
  if (!arrayBufferResizable(value)) return ArrayBufferSlice(value, 0);
  const length = arrayBufferByteLength(value);
  const out = new CloneArrayBufferCtor(length, { __proto__: null, maxByteLength: arrayBufferMaxByteLength(value) });
  cloneBytesSet(new CloneUint8Array(out), new CloneUint8Array(value, 0, length));
  return out;
}
// Captured now (tenant code may replace the globals, their prototypes' methods and the array
// iterator before it clones anything): the clone's memory and its Maps and Sets, Dates, RegExps
// and errors are made and read only through these, and inspect.js's builtinKind and
// regExpFlags, which read through captured operations too.
const CloneObject = Object, CloneArray = Array, CloneMap = Map, CloneSet = Set, CloneDate = Date;
const CloneRegExp = RegExp, CloneError = Error, CloneDataView = DataView;
const cloneDateGetTime = uncurry(Date.prototype.getTime);
const cloneSymbolToString = uncurry(Symbol.prototype.toString);
const domExceptionName = uncurry(ObjectGetOwnPropertyDescriptor(DOMException.prototype, "name").get);
const domExceptionMessage = uncurry(ObjectGetOwnPropertyDescriptor(DOMException.prototype, "message").get);
/** An own property's descriptor with a null prototype (so no Object.prototype accessor answers
 *  for its missing fields), or undefined. */
function ownDescriptor(obj, key) {
  const d = ObjectGetOwnPropertyDescriptor(obj, key);
  if (d !== undefined) ObjectSetPrototypeOf(d, null);
  return d;
}
/** Defines `obj[key]` as a writable, configurable data property. */
function cloneDefine(obj, key, value, enumerable) {
  ObjectDefineProperty(obj, key, { __proto__: null, value, writable: true, enumerable, configurable: true });
}

/** Serializable platform classes: [isBrand(v), clone(v)], consulted before platformBrands (whose
 *  instances cannot be cloned). Later parts add theirs (Blob, File). */
const cloneHooks = [];

function dataCloneError(what) {
  return new DOMException(`${what} could not be cloned.`, "DataCloneError");
}

function cloneValue(value, memory) {
  if (value === null || (typeof value !== "object" && typeof value !== "function")) {
    if (typeof value === "symbol") throw dataCloneError(cloneSymbolToString(value));
    return value;
  }
  const seen = MapGet(memory, value);
  if (seen !== undefined) return seen;
  if (typeof value === "function") throw dataCloneError(formatFunction(value));
  // A Proxy is an exotic object: not serializable (HTML's StructuredSerializeInternal), and
  // cloning it would run its traps.
  if (hostIsProxy(value)) throw dataCloneError("#<Object>");
  const kind = builtinKind(value);
  if (kind >= K_BOX) {
    const boxed = BOXES[kind - K_BOX];
    if (boxed[0] === "Symbol") throw dataCloneError("Symbol object");
    const box = CloneObject(boxed[1](value));
    MapSet(memory, value, box);
    return box;
  }
  let out;
  if (kind === K_DATE) out = new CloneDate(cloneDateGetTime(value));
  else if (kind === K_REGEXP) out = new CloneRegExp(regExpSource(value), regExpFlags(value));
  else if (kind === K_ARRAYBUFFER) out = cloneArrayBuffer(value);
  else if (typedArrayName(value) !== undefined || kind === K_DATAVIEW) {
    const name = typedArrayName(value);
    if (name === undefined) {
      out = new CloneDataView(cloneValue(dataViewBuffer(value), memory), dataViewByteOffset(value), dataViewByteLength(value));
    } else {
      const buffer = cloneValue(typedArrayBuffer(value), memory);
      out = new TYPED_ARRAYS[name](buffer, typedArrayByteOffset(value), typedArrayLength(value));
    }
  } else if (kind === K_MAP) {
    out = new CloneMap();
    MapSet(memory, value, out);
    // The entries as they are now (cloning them runs getters, which may change the Map).
    const entries = [];
    MapForEach(value, (v, k) => { cloneDefine(entries, entries.length, k, true); cloneDefine(entries, entries.length, v, true); });
    for (let i = 0; i < entries.length; i += 2) {
      const k = cloneValue(entries[i], memory);
      MapSet(out, k, cloneValue(entries[i + 1], memory));
    }
    return out;
  } else if (kind === K_SET) {
    out = new CloneSet();
    MapSet(memory, value, out);
    const items = [];
    SetForEach(value, (v) => { cloneDefine(items, items.length, v, true); });
    for (let i = 0; i < items.length; i++) SetAdd(out, cloneValue(items[i], memory));
    return out;
  } else if (isDOMException(value)) {
    out = new DOMException(domExceptionMessage(value), domExceptionName(value));
    const stack = ownDescriptor(value, "stack");
    if (stack !== undefined && typeof stack.value === "string") out.stack = stack.value;
  } else if (kind === K_ERROR) {
    // As V8's serializer (Node, Chrome): `name` read with [[Get]] and made a string (a Symbol
    // throws), one of the native error names or Error; `message` only as an own data property;
    // `stack` read with [[Get]], kept when a string (V8 13.6 installs it on each error as an own
    // accessor, so it is never read as a descriptor's value); `cause` as an own data property.
    const name = `${value.name}`;
    const Ctor = ERROR_CONSTRUCTORS[name] ?? CloneError;
    out = new Ctor();
    MapSet(memory, value, out);
    const message = ownDescriptor(value, "message");
    if (message !== undefined && "value" in message) cloneDefine(out, "message", `${message.value}`, false);
    const stack = value.stack;
    cloneDefine(out, "stack", typeof stack === "string" ? stack : undefined, false);
    const cause = ownDescriptor(value, "cause");
    if (cause !== undefined && "value" in cause) cloneDefine(out, "cause", cloneValue(cause.value, memory), false);
    return out;
  } else if (kind === K_WEAK || kind === K_PROMISE) {
    throw dataCloneError(`#<${constructorName(value) ?? "Object"}>`);
  } else {
    // Indexed: Array.prototype.find / some may be the tenant's.
    let hook;
    for (let i = 0; i < cloneHooks.length; i++) {
      if (cloneHooks[i][0](value)) { hook = cloneHooks[i]; break; }
    }
    if (hook !== undefined) out = hook[1](value);
    else {
      for (let i = 0; i < platformBrands.length; i++) {
        if (platformBrands[i](value)) throw dataCloneError(`#<${constructorName(value) ?? "Object"}>`);
      }
    }
  }
  if (out !== undefined) {
    MapSet(memory, value, out);
    return out;
  }
  // Arrays and ordinary objects: own enumerable string-keyed properties, read with [[Get]].
  out = ArrayIsArray(value) ? new CloneArray(value.length) : {};
  MapSet(memory, value, out);
  const keys = ReflectOwnKeys(value);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    if (typeof key !== "string") continue;
    const d = ownDescriptor(value, key);
    if (d === undefined || !d.enumerable) continue;
    cloneDefine(out, key, cloneValue(value[key], memory), true);
  }
  return out;
}

// ArrayBufferTransfer and arrayBufferDetached come from streams-core.js (a later part: used at
// call time only).

/** Transferable platform objects besides ArrayBuffer, as { __proto__: null, is(v), detached(v),
 *  prepare(v) -> its copy, commit(v, copy) }: `prepare` makes the copy the clone refers to,
 *  `commit` (only once the whole value cloned) moves the original's state to it and detaches the
 *  original. A later part adds MessagePort's (workers.js). */
const transferHooks = [];

function transferHookOf(item) {
  for (let i = 0; i < transferHooks.length; i++) if (transferHooks[i].is(item)) return transferHooks[i];
  return null;
}

/** The transfer list (WebIDL sequence<object>), checked as StructuredSerializeWithTransfer does:
 *  ArrayBuffers and the transferHooks' objects only, none twice, none detached. `what` names the
 *  caller in messages. */
function transferList(transfer, what = "structuredClone") {
  if (transfer === undefined) return [];
  if (transfer === null || typeof transfer !== "object" || typeof transfer[SymbolIterator] !== "function") {
    throw new TypeError(`${what}: the transfer list must be a sequence of objects`);
  }
  const list = [];
  for (const item of transfer) {
    if (item === null || (typeof item !== "object" && typeof item !== "function")) {
      throw new TypeError(`${what}: the transfer list must hold objects only`);
    }
    const isBuffer = builtinKind(item) === K_ARRAYBUFFER;
    const hook = isBuffer ? null : transferHookOf(item);
    if (!isBuffer && hook === null) {
      throw new DOMException(`${what}: ${constructorName(item) ?? "this object"} is not transferable`, "DataCloneError");
    }
    for (let i = 0; i < list.length; i++) {
      if (list[i] === item) throw new DOMException(`${what}: an object is listed twice in the transfer list`, "DataCloneError");
    }
    if (isBuffer ? arrayBufferDetached(item) : hook.detached(item)) {
      throw new DOMException(`${what}: a detached ${isBuffer ? "ArrayBuffer" : constructorName(item) ?? "object"} cannot be transferred`, "DataCloneError");
    }
    ObjectDefineProperty(list, list.length, { __proto__: null, value: item, writable: true, enumerable: true, configurable: true });
  }
  return list;
}

/** Clones `value` moving the objects of `transfer` (a checked transferList): the listed
 *  ArrayBuffers are cloned with the value (a view over one keeps its offset and length) and then
 *  detached, the other transferables are moved to their copies, all after the whole value cloned;
 *  if cloning fails, nothing is. Returns [clone, the copies of the non-buffer transferables in
 *  the list's order] (a message's `ports`). */
function cloneWithTransfer(value, transfer) {
  const memory = new CloneMap();
  const moved = [];
  for (let i = 0; i < transfer.length; i++) {
    const hook = builtinKind(transfer[i]) === K_ARRAYBUFFER ? null : transferHookOf(transfer[i]);
    if (hook === null) continue;
    const copy = hook.prepare(transfer[i]);
    MapSet(memory, transfer[i], copy);
    ObjectDefineProperty(moved, moved.length, { __proto__: null, value: [hook, transfer[i], copy], writable: true, enumerable: true, configurable: true });
  }
  const out = cloneValue(value, memory);
  // Detaches each listed buffer (a listed buffer the value does not reach is detached too).
  for (let i = 0; i < transfer.length; i++) {
    if (builtinKind(transfer[i]) === K_ARRAYBUFFER) ArrayBufferTransfer(transfer[i]);
  }
  const copies = [];
  for (let i = 0; i < moved.length; i++) {
    moved[i][0].commit(moved[i][1], moved[i][2]);
    ObjectDefineProperty(copies, i, { __proto__: null, value: moved[i][2], writable: true, enumerable: true, configurable: true });
  }
  return [out, copies];
}

defineGlobal("structuredClone", function structuredClone(value, options = undefined) {
  requireArgs(arguments.length, 1, "structuredClone");
  const transfer = transferList(dictGet(options, "transfer"));
  return cloneWithTransfer(value, transfer)[0];
});

/** WebIDL's QuotaExceededError (a DOMException with the quota and the amount requested). */
class QuotaExceededError extends DOMException {
  #quota;
  #requested;
  constructor(message = "", options = undefined) {
    super(message, "QuotaExceededError");
    const q = dictGet(options, "quota");
    const r = dictGet(options, "requested");
    const quota = q === undefined ? null : +q;
    const requested = r === undefined ? null : +r;
    const bad = (v) => v !== null && (!(v >= 0) || v === Infinity);
    if (bad(quota) || bad(requested)) throw new RangeError("QuotaExceededError: quota and requested must be finite and not negative");
    if (quota !== null && requested !== null && requested < quota) throw new RangeError("QuotaExceededError: requested must not be less than quota");
    this.#quota = quota;
    this.#requested = requested;
  }
  get quota() { return this.#quota; }
  get requested() { return this.#requested; }
}
setTag(QuotaExceededError.prototype, "QuotaExceededError");
defineGlobal("QuotaExceededError", QuotaExceededError);

const INTEGER_ARRAYS = ["Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array",
  "Int32Array", "Uint32Array", "BigInt64Array", "BigUint64Array"];
const requireCrypto = (v) => {
  if (v !== cryptoObject) throw new TypeError("Illegal invocation: crypto's members need crypto as `this`");
};

class Crypto {
  constructor(key) {
    if (key !== INTERNAL) throw new TypeError("Illegal constructor");
  }
  // Its members need `crypto` itself as `this` (WebIDL's check, as in browsers, Node and workerd):
  // `const { getRandomValues } = crypto; getRandomValues(a)` is a TypeError there, so here too.
  get subtle() {
    requireCrypto(this);
    return lazyInternals("crypto").subtle;
  }
  // Cloudflare Workers' crypto.DigestStream (a WritableStream, so in the streams group).
  get DigestStream() {
    requireCrypto(this);
    return lazyInternals("streams").DigestStream;
  }
  getRandomValues(array) {
    requireCrypto(this);
    requireArgs(arguments.length, 1, "crypto.getRandomValues");
    const name = array !== null && typeof array === "object" ? typedArrayName(array) : undefined;
    let integer = false;
    for (let i = 0; i < INTEGER_ARRAYS.length; i++) if (INTEGER_ARRAYS[i] === name) integer = true;
    if (!integer) {
      throw new DOMException("crypto.getRandomValues: the argument must be an integer TypedArray", "TypeMismatchError");
    }
    const byteLength = typedArrayByteLength(array);
    if (byteLength > 65536) {
      throw new QuotaExceededError(`crypto.getRandomValues: ${byteLength} bytes requested, the maximum is 65536`);
    }
    hostRandomFill(new U8(typedArrayBuffer(array), typedArrayByteOffset(array), byteLength));
    return array;
  }
  randomUUID() {
    requireCrypto(this);
    const b = new U8(16);
    hostRandomFill(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let s = "";
    for (let i = 0; i < 16; i++) {
      if (i === 4 || i === 6 || i === 8 || i === 10) s += "-";
      s += hexByte(b[i]);
    }
    return s;
  }
}
setTag(Crypto.prototype, "Crypto");
const cryptoObject = new Crypto(INTERNAL);
platformBrands.push((v) => v === cryptoObject);
defineGlobal("Crypto", Crypto);
defineGlobal("crypto", cryptoObject);
