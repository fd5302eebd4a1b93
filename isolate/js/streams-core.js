// ---- streams-core.js: shared machinery of the Streams standard. ------------
// Queues with sizes, queuing strategies, ArrayBuffer views and the Web IDL conversions the stream
// constructors share (the promise plumbing and internal lists are plumbing.js's). The streams
// (these files to streams-transform.js, and compression.js) are the lazy group `streams`
// (isolate/src/lazy): built on first use, a global's read or plumbing.js's `streamsInternals()`.
// Guarantees: internal state lives in records of classes whose prototypes tenant code never sees
// (null prototypes), reached through private fields of the public objects; promises are chained
// through captured primordials, never through methods a tenant can replace; what runs when the
// group is built calls captured operations only (tenant code may have run before).
// Trusts: the primordials plumbing.js captured at prelude evaluation.

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
    addPlatformBrand((v) => isObject(v) && #highWaterMark in v);
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
    addPlatformBrand((v) => isObject(v) && #highWaterMark in v);
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
