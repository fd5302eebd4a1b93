// ---- streams-core.js: shared machinery of the Streams standard. ------------
// Promise plumbing, internal queues, queuing strategies, ArrayBuffer transfer and the Web IDL
// conversions the stream constructors share. Guarantees: internal state lives in records of
// classes whose prototypes tenant code never sees (null prototypes), reached through private
// fields of the public objects; promises are chained through captured primordials, never through
// methods a tenant can replace. Trusts: the primordials captured here at prelude evaluation.

const PromiseCtor = Promise;
const PromiseResolveStatic = Promise.resolve;
const PromiseRejectStatic = Promise.reject;
const ArrayBufferCtor = ArrayBuffer;
const Uint8ArrayCtor = Uint8Array;
const DataViewCtor = DataView;
const NumberIsNaN = Number.isNaN;
const MathMin = Math.min;
const SymbolAsyncIterator = Symbol.asyncIterator;
const ArrayBufferIsView = ArrayBuffer.isView;
// V8 13.6 ships ArrayBuffer.prototype.transfer and the `detached` / `resizable` getters.
const ArrayBufferTransfer = uncurry(ArrayBuffer.prototype.transfer);
const arrayBufferDetached = uncurry(ObjectGetOwnPropertyDescriptor(ArrayBuffer.prototype, "detached").get);
const arrayBufferResizable = uncurry(ObjectGetOwnPropertyDescriptor(ArrayBuffer.prototype, "resizable").get);
const Uint8ArraySet = uncurry(Uint8Array.prototype.set);
const AsyncIteratorPrototype = ObjectGetPrototypeOf(ObjectGetPrototypeOf(async function* () {}).prototype);
const noop = () => {};

/** Makes a class's prototype (and, through it, every instance's lookups) unreachable. */
const internalClass = (C) => { ObjectSetPrototypeOf(C.prototype, null); return C; };

/** A promise with its resolving functions and a state the spec's "is pending" checks read. */
const Deferred = internalClass(class Deferred {
  promise;
  state = 0; // 0 pending, 1 resolved, 2 rejected
  #resolve;
  #reject;
  constructor() {
    this.promise = new PromiseCtor((resolve, reject) => { this.#resolve = resolve; this.#reject = reject; });
  }
  resolve(value) {
    if (this.state !== 0) return;
    this.state = 1;
    this.#resolve(value);
  }
  reject(reason) {
    if (this.state !== 0) return;
    this.state = 2;
    this.#reject(reason);
  }
});

const promiseResolvedWith = (v) => ReflectApply(PromiseResolveStatic, PromiseCtor, [v]);
const promiseRejectedWith = (e) => ReflectApply(PromiseRejectStatic, PromiseCtor, [e]);
/** The spec's "react to" / "upon": PerformPromiseThen through the captured `then`. */
const promiseThen = (p, onFulfilled, onRejected) => ReflectApply(PromisePrototypeThen, p, [onFulfilled, onRejected]);
/** "upon" steps whose derived promise nobody reads: a missing rejection step swallows. */
const uponPromise = (p, onFulfilled, onRejected = noop) => { promiseThen(p, onFulfilled, onRejected); };
/** Sets [[PromiseIsHandled]]. */
const setHandled = (p) => { promiseThen(p, undefined, noop); };
const resolvedUndefined = () => promiseResolvedWith(undefined);
/** A rejected promise with a fresh TypeError. */
const rejectType = (message) => promiseRejectedWith(new TypeError(message));

/** Runs `fn` and turns a throw into a rejected promise (Web IDL: promise-returning operations). */
function promiseCall(fn, self, args) {
  try {
    return promiseResolvedWith(ReflectApply(fn, self, args));
  } catch (e) {
    return promiseRejectedWith(e);
  }
}

/** A FIFO list (singly linked) whose nodes carry a value and, for queues-with-sizes, a size. */
const QueueNode = internalClass(class QueueNode {
  value;
  size;
  next = null;
  constructor(value, size) { this.value = value; this.size = size; }
});
const List = internalClass(class List {
  head = null;
  tail = null;
  length = 0;
  push(value, size = 0) {
    const node = new QueueNode(value, size);
    if (this.tail === null) this.head = node;
    else this.tail.next = node;
    this.tail = node;
    this.length++;
  }
  shift() {
    const node = this.head;
    this.head = node.next;
    if (this.head === null) this.tail = null;
    this.length--;
    return node.value;
  }
  peek() { return this.head.value; }
  clear() { this.head = this.tail = null; this.length = 0; }
  /** Removes every item and returns them as a plain array, in order. */
  drain() {
    const out = [];
    for (let n = this.head; n !== null; n = n.next) ObjectDefineProperty(out, out.length, { value: n.value, writable: true, enumerable: true, configurable: true });
    this.clear();
    return out;
  }
});

// ---- queue-with-sizes (containers have `queue: List` and `queueTotalSize: number`) ------------
function DequeueValue(container) {
  const node = container.queue.head;
  container.queue.shift();
  container.queueTotalSize -= node.size;
  if (container.queueTotalSize < 0) container.queueTotalSize = 0;
  return node.value;
}
function EnqueueValueWithSize(container, value, size) {
  if (typeof size !== "number" || NumberIsNaN(size) || size < 0) {
    throw new RangeError("The chunk size must be a finite, non-negative number");
  }
  if (size === Infinity) throw new RangeError("The chunk size must be a finite, non-negative number");
  container.queue.push(value, size);
  container.queueTotalSize += size;
}
function PeekQueueValue(container) { return container.queue.peek(); }
function ResetQueue(container) {
  container.queue = new List();
  container.queueTotalSize = 0;
}

// ---- Web IDL conversions ----------------------------------------------------------------------
const isObjectLike = (v) => (typeof v === "object" && v !== null) || typeof v === "function";

/** An `object` argument (optional: undefined passes as undefined). */
function toOptionalObject(value, what) {
  if (value === undefined) return undefined;
  if (!isObjectLike(value)) throw new TypeError(`${what} must be an object`);
  return value;
}
/** A dictionary argument: undefined/null are empty, other primitives a TypeError. */
function toDictionary(value, what) {
  if (value === undefined || value === null) return undefined;
  if (!isObjectLike(value)) throw new TypeError(`${what} must be an object`);
  return value;
}
/** A callback-function member (undefined when absent). */
function toCallback(value, what) {
  if (value === undefined) return undefined;
  if (typeof value !== "function") throw new TypeError(`${what} must be a function`);
  return value;
}
/** [EnforceRange] unsigned long long. */
function toEnforcedULL(value, what) {
  let n = +value;
  if (NumberIsNaN(n) || n === Infinity || n === -Infinity) throw new TypeError(`${what} must be a finite number`);
  n = MathTrunc(n);
  if (n < 0 || n > 9007199254740991) throw new TypeError(`${what} is outside the accepted range`);
  return n === 0 ? 0 : n; // -0 becomes +0
}
/** An ArrayBufferView argument (no shared or resizable buffers, as Web IDL requires). */
function toArrayBufferView(value, what) {
  if (!ArrayBufferIsView(value)) throw new TypeError(`${what} must be an ArrayBufferView`);
  if (!isArrayBuffer(viewBuffer(value)) || arrayBufferResizable(viewBuffer(value))) {
    throw new TypeError(`${what} must be backed by a fixed-length ArrayBuffer`);
  }
  return value;
}

// ---- ArrayBufferView helpers ------------------------------------------------------------------
const viewBuffer = (v) => (typedArrayName(v) !== undefined ? typedArrayBuffer(v) : dataViewBuffer(v));
const viewByteOffset = (v) => (typedArrayName(v) !== undefined ? typedArrayByteOffset(v) : dataViewByteOffset(v));
const viewByteLength = (v) => (typedArrayName(v) !== undefined ? typedArrayByteLength(v) : dataViewByteLength(v));
const isUint8Array = (v) => isObject(v) && typedArrayName(v) === "Uint8Array";
const IsDetachedBuffer = (buffer) => arrayBufferDetached(buffer);
/** TransferArrayBuffer: detaches `buffer`, returning a new ArrayBuffer over the same memory. */
const TransferArrayBuffer = (buffer) => ArrayBufferTransfer(buffer);
const CanTransferArrayBuffer = (buffer) => !IsDetachedBuffer(buffer);
/** A new ArrayBuffer holding a copy of `length` bytes of `buffer` from `offset`. */
const CloneArrayBuffer = (buffer, offset, length) => ArrayBufferSlice(buffer, offset, offset + length);
function CloneAsUint8Array(view) {
  return new Uint8ArrayCtor(CloneArrayBuffer(viewBuffer(view), viewByteOffset(view), viewByteLength(view)));
}
function copyBytes(toBuffer, toIndex, fromBuffer, fromIndex, count) {
  Uint8ArraySet(new Uint8ArrayCtor(toBuffer, toIndex, count), new Uint8ArrayCtor(fromBuffer, fromIndex, count));
}
const ELEMENT_SIZES = {
  __proto__: null, Int8Array: 1, Uint8Array: 1, Uint8ClampedArray: 1, Int16Array: 2, Uint16Array: 2,
  Int32Array: 4, Uint32Array: 4, Float16Array: 2, Float32Array: 4, Float64Array: 8, BigInt64Array: 8,
  BigUint64Array: 8,
};
const VIEW_CONSTRUCTORS = { __proto__: null, ...TYPED_ARRAYS }; // Float16Array included where it exists

// ---- queuing strategies -----------------------------------------------------------------------
/** Reads a QueuingStrategy dictionary (members in Web IDL order: highWaterMark, size). */
function convertQueuingStrategy(strategy, what) {
  const dict = toDictionary(strategy, what);
  if (dict === undefined) return { highWaterMark: undefined, size: undefined };
  const hwm = dict.highWaterMark;
  const highWaterMark = hwm === undefined ? undefined : +hwm;
  const size = toCallback(dict.size, `${what}.size`);
  return { highWaterMark, size };
}
function ExtractHighWaterMark(strategy, defaultHWM) {
  if (strategy.highWaterMark === undefined) return defaultHWM;
  const hwm = strategy.highWaterMark;
  if (NumberIsNaN(hwm) || hwm < 0) throw new RangeError("The highWaterMark must be a non-negative number");
  return hwm;
}
const sizeOne = () => 1;
function ExtractSizeAlgorithm(strategy) {
  const size = strategy.size;
  if (size === undefined) return sizeOne;
  return (chunk) => ReflectApply(size, undefined, [chunk]);
}

/** Web IDL interface objects: operations and attributes are enumerable; a class string. `define`
 *  installs the global (a lazily built part records it instead, lazy.js). */
function exposeInterface(Class, tag, define = defineGlobal) {
  // Indexed, on a null-prototype descriptor: a lazily built part (lazy.js) calls this after
  // tenant code, which may have replaced the array iterator or put setters on Object.prototype.
  const proto = Class.prototype;
  const keys = ReflectOwnKeys(proto);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    if (key === "constructor" || typeof key === "symbol") continue;
    const d = ObjectGetOwnPropertyDescriptor(proto, key);
    ObjectSetPrototypeOf(d, null);
    d.enumerable = true;
    ObjectDefineProperty(proto, key, d);
  }
  setTag(proto, tag);
  define(tag, Class);
}

// The two queuing strategies' size functions: one per global, plain functions (not methods).
const byteLengthSizeFunction = { size(chunk) { return chunk.byteLength; } }.size;
const countSizeFunction = { size() { return 1; } }.size;

function queuingStrategyInit(init, what) {
  const dict = toDictionary(init, what);
  const hwm = dict === undefined ? undefined : dict.highWaterMark;
  if (hwm === undefined) throw new TypeError(`${what}: the highWaterMark member is required`);
  return +hwm;
}

class ByteLengthQueuingStrategy {
  #highWaterMark;
  constructor(init) {
    requireArgs(arguments.length, 1, "ByteLengthQueuingStrategy");
    this.#highWaterMark = queuingStrategyInit(init, "ByteLengthQueuingStrategy");
  }
  get highWaterMark() {
    if (!isObject(this) || !(#highWaterMark in this)) throw new TypeError("Illegal invocation");
    return this.#highWaterMark;
  }
  get size() {
    if (!isObject(this) || !(#highWaterMark in this)) throw new TypeError("Illegal invocation");
    return byteLengthSizeFunction;
  }
  static {
    platformBrands.push((v) => isObject(v) && #highWaterMark in v);
  }
}
exposeInterface(ByteLengthQueuingStrategy, "ByteLengthQueuingStrategy");

class CountQueuingStrategy {
  #highWaterMark;
  constructor(init) {
    requireArgs(arguments.length, 1, "CountQueuingStrategy");
    this.#highWaterMark = queuingStrategyInit(init, "CountQueuingStrategy");
  }
  get highWaterMark() {
    if (!isObject(this) || !(#highWaterMark in this)) throw new TypeError("Illegal invocation");
    return this.#highWaterMark;
  }
  get size() {
    if (!isObject(this) || !(#highWaterMark in this)) throw new TypeError("Illegal invocation");
    return countSizeFunction;
  }
  static {
    platformBrands.push((v) => isObject(v) && #highWaterMark in v);
  }
}
exposeInterface(CountQueuingStrategy, "CountQueuingStrategy");

// ---- abort signals ----------------------------------------------------------------------------
// WritableStreamDefaultController.signal is a real AbortSignal (abort.js): the controller holds
// { signal, abort(reason) }, and abort is "signal abort" through the internal hook, never through
// a method tenant code can replace.
function newStreamAbortController() {
  const signal = newAbortSignal();
  return { __proto__: null, signal, abort: (reason) => signalAbort(signal, reason) };
}

/** StreamPipeOptions.signal: an AbortSignal or undefined. */
function toPipeSignal(signal) {
  if (signal === undefined) return undefined;
  if (!isAbortSignal(signal)) throw new TypeError("pipeTo: options.signal must be an AbortSignal");
  return signal;
}
