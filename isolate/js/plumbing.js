// ---- plumbing.js: promise plumbing, internal lists and native handles the runtime shares. ----
// What the streams (a lazy group, isolate/src/lazy) and the eager parts both use: captured
// primordials, promises chained through them, an internal FIFO list, the Web IDL interface
// exposure, ArrayBuffer transfer, and the owners of native handles. Also the one road from eager
// code into the streams: `streamsInternals()` builds the group on first use (a fresh isolate whose
// request never touches a stream does not pay for it; measured in the README, session 14) and
// `streamRecordOf(v)` answers without building it (no stream can exist before it is built).
// Guarantees: internal state lives in records of classes whose prototypes tenant code never sees
// (null prototypes); promises are chained through captured primordials, never through methods a
// tenant can replace. Trusts: the primordials captured here at prelude evaluation.

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

const isObjectLike = (v) => (typeof v === "object" && v !== null) || typeof v === "function";
const isUint8Array = (v) => isObject(v) && typedArrayName(v) === "Uint8Array";
const appendToArray = (array, value) => {
  ObjectDefineProperty(array, array.length, { value, writable: true, enumerable: true, configurable: true });
};
const VIEW_CONSTRUCTORS = { __proto__: null, ...TYPED_ARRAYS }; // Float16Array included where it exists

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

// ---- native handles ----------------------------------------------------------------------------
const NATIVE = {
  free: 0x0001, compressNew: 0x0201, compressWrite: 0x0202, decompressNew: 0x0203, decompressWrite: 0x0204,
};

// Native objects a tenant abandons (a stream never finished nor cancelled, a streaming decoder
// never flushed) are freed when their JavaScript owner is collected: best effort, on top of the
// per-isolate cap (ops/src/state.rs). The registry is made on first use (not in the snapshot).
const FinalizationRegistryCtor = FinalizationRegistry;
const registryRegister = uncurry(FinalizationRegistry.prototype.register);
const registryUnregister = uncurry(FinalizationRegistry.prototype.unregister);
let nativeRegistry = null;
/** Frees native `handle` once `owner` is collected, unless `untrackNative(owner)` comes first. */
function trackNative(owner, handle) {
  if (nativeRegistry === null) {
    nativeRegistry = new FinalizationRegistryCtor((h) => {
      try { callOp(NATIVE.free, [h]); } catch { /* the isolate is going */ }
    });
  }
  registryRegister(nativeRegistry, owner, handle, owner);
}
function untrackNative(owner) {
  if (nativeRegistry !== null) registryUnregister(nativeRegistry, owner);
}

const CODEC_PIECE = 1 << 20;
const CODEC_MORE = 1;
// What a codec write does after its bytes (ops/src/compression `Flush`): nothing more, end the
// stream, or (a compressor) make all written so far decodable.
const CODEC_NONE = 0;
const CODEC_FINISH = 1;
const CODEC_SYNC = 2;
// What a decompressor does after its stream's end (ops/src/compression After): refuse more bytes
// (0, DecompressionStream's rule) or read them as Node's zlib (gzip members, dropped trailers).
const CODEC_AFTER_NODE = 1;

/** The native (de)compressor of one stream (`format`: compression.js's numbers, 3 for brotli;
 *  `after`, a decompressor's CODEC_AFTER_ policy, 0 by default):
 *  `write(bytes, flush, emit)` hands `bytes` over in pieces of at most CODEC_PIECE, the last with
 *  `flush` (a CODEC_ mode), and emits what comes back; `close()`. CompressionStream,
 *  DecompressionStream and the response encoder (fetch-body.js) use it. */
function nativeCodec(newOp, writeOp, format, after = 0) {
  let handle = 0; // 0: not made yet; -1: closed
  const owner = {};
  const close = () => {
    if (handle > 0) {
      untrackNative(owner);
      callOp(NATIVE.free, [handle]);
    }
    handle = -1;
  };
  const write = (bytes, flush, emit) => {
    if (handle < 0) throw new TypeError("The compression stream is closed");
    try {
      if (handle === 0) {
        handle = fieldU32(callOp(newOp, after === 0 ? [format] : [format, after]));
        trackNative(owner, handle);
      }
      const total = typedArrayByteLength(bytes);
      let off = 0;
      do {
        const end = off + CODEC_PIECE < total ? off + CODEC_PIECE : total;
        const last = end === total ? flush : CODEC_NONE;
        let rest = bytesView(bytes, off, end);
        for (;;) {
          const answer = unpackFields(callOp(writeOp, [handle, rest, last]));
          const consumed = fieldU32(answer[0]);
          const flags = fieldU32(answer[1]);
          const out = answer[2];
          if (typedArrayByteLength(out) > 0) emit(bytesCopy(out));
          rest = bytesView(rest, consumed, typedArrayByteLength(rest));
          if ((flags & CODEC_MORE) === 0 && typedArrayByteLength(rest) === 0) break;
        }
        off = end;
      } while (off < total);
    } catch (e) {
      close();
      throw e;
    }
    if (flush === CODEC_FINISH) close();
  };
  return { write, close, owner };
}

// ---- the streams' internals -------------------------------------------------------------------
/** The streams group's internals (streams-transform.js shares them), built on first use. */
function streamsInternals() {
  return lazyInternals("streams");
}
/** A ReadableStream's internal record, or undefined for anything else; never builds the streams. */
function streamRecordOf(value) {
  const streams = sharedInternals.streams;
  return streams === undefined ? undefined : streams.streamRecord(value);
}
