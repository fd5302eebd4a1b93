// ---- streams-workers.js: Cloudflare Workers' IdentityTransformStream, FixedLengthStream and
// crypto.DigestStream, on the standard streams of the files before; and the streams' internals
// that eager parts reach through plumbing.js's streamsInternals() (shared last: they name classes
// of every streams file). A FixedLengthStream's readable records its `expectedLength`, which
// fetch.js's readResponseForHost gives the host as the response's Content-Length.

// ---- Cloudflare Workers' byte streams: IdentityTransformStream, FixedLengthStream, DigestStream.
// Not in the Streams standard; they behave as workerd's do (src/workerd/api/streams/
// identity-transform-stream.c++, internal.c++, crypto/crypto.c++). Their writable sides take bytes:
// an ArrayBuffer or view (copied when written, never detached) or a string (its UTF-8); a
// zero-length chunk is a no-op; anything else is a TypeError that errors the stream.

/** The bytes of `chunk` for a Workers byte stream: a view of an ArrayBuffer's or view's own
 *  memory, or a string's UTF-8; null for an empty chunk. */
function workersChunkBytes(chunk, what) {
  let bytes;
  if (typeof chunk === "string") bytes = utf8Encode(chunk);
  else if (isArrayBuffer(chunk) || ArrayBufferIsView(chunk)) bytes = bufferSourceBytes(chunk, what);
  else {
    // workerd's words, each class's own.
    throw new TypeError(what === "DigestStream"
      ? "DigestStream is a byte stream but received an object of non-ArrayBuffer/ArrayBufferView/string type on its writable side."
      : "This TransformStream is being used as a byte stream, but received an object of non-ArrayBuffer/ArrayBufferView type on its writable side.");
  }
  return typedArrayByteLength(bytes) === 0 ? null : bytes;
}

/** A chunk's size in bytes for the identity streams' writable queue (a string's in UTF-16 code
 *  units: the queue only paces writers, and the real count comes when the chunk is written). */
function workersChunkSize(chunk) {
  if (typeof chunk === "string") return chunk.length;
  if (isArrayBuffer(chunk)) return arrayBufferByteLength(chunk);
  if (ArrayBufferIsView(chunk)) return viewByteLength(chunk);
  return 1;
}

const IDENTITY_INTERNAL = {}; // FixedLengthStream's token for IdentityTransformStream's constructor
const MAX_FIXED_LENGTH = 9007199254740991; // 2^53 - 1, workerd's bound

/** FixedLengthStream's expectedLength: a number or bigint, a whole number of bytes below 2^53. */
function toFixedLength(value) {
  let n;
  if (typeof value === "bigint") n = value >= 0n && value <= BigInt(MAX_FIXED_LENGTH) ? Number(value) : -1;
  else if (typeof value === "number") n = NumberIsInteger(value) && value <= MAX_FIXED_LENGTH ? value : -1;
  else throw new TypeError("FixedLengthStream: the expected length must be a number or a bigint");
  if (n < 0) throw new TypeError("FixedLengthStream requires an integer expected length from 0 to 2^53 - 1");
  return n === 0 ? 0 : n; // -0 becomes +0
}

/** Fills TransformStream record `rec` with the identity streams' two sides: a writable side that
 *  takes bytes and a readable byte stream (BYOB readers work) that hands them on, with the
 *  standard TransformStream's backpressure (a write is taken once a read asks for it: readable
 *  high-water mark 0). `expected`: a FixedLengthStream's byte count, which every write and the
 *  close hold the stream to (TypeErrors, as workerd's); undefined for an IdentityTransformStream.
 *  `strategy`: workerd's `{ highWaterMark }`, counted in bytes, capped at `expected`; without
 *  one the writable side holds one chunk, as a TransformStream's. */
function setUpIdentityTransform(rec, strategy, expected) {
  const what = expected === undefined ? "IdentityTransformStream" : "FixedLengthStream";
  const dict = toDictionary(strategy, `${what}: queuingStrategy`);
  const rawHWM = dict === undefined ? undefined : dict.highWaterMark;
  let hwm = 1;
  let size = sizeOne;
  if (rawHWM !== undefined) {
    hwm = toEnforcedULL(rawHWM, `${what}: queuingStrategy.highWaterMark`);
    if (expected !== undefined && hwm > expected) hwm = expected;
    size = workersChunkSize;
  }
  let remaining = expected; // the bytes a FixedLengthStream still expects
  let backpressure = true;
  let backpressureChange = new Deferred();
  const setBackpressure = (value) => {
    backpressureChange.resolve(undefined);
    backpressureChange = new Deferred();
    backpressure = value;
  };
  let readable;
  let writable;
  const enqueue = (bytes) => {
    const c = readable.controller;
    ReadableByteStreamControllerEnqueue(c, bytes);
    const pressure = !ReadableByteStreamControllerShouldCallPull(c);
    if (pressure !== backpressure) setBackpressure(pressure);
  };
  const write = (chunk) => {
    let bytes;
    try {
      const view = workersChunkBytes(chunk, what);
      if (view === null) return resolvedUndefined();
      const n = typedArrayByteLength(view);
      if (remaining !== undefined) {
        if (n > remaining) throw new TypeError("Attempt to write too many bytes through a FixedLengthStream.");
        remaining -= n;
      }
      bytes = typeof chunk === "string" ? view : bytesCopy(view); // a string's UTF-8 is fresh already
      if (!backpressure) {
        enqueue(bytes);
        return resolvedUndefined();
      }
    } catch (e) {
      ReadableByteStreamControllerError(readable.controller, e);
      return promiseRejectedWith(e);
    }
    return promiseThen(backpressureChange.promise, () => {
      if (writable.state === "erroring") throw writable.storedError;
      enqueue(bytes);
    }, undefined);
  };
  const close = () => {
    try {
      if (remaining !== undefined && remaining > 0) {
        throw new TypeError("FixedLengthStream did not see all expected bytes before close().");
      }
      const c = readable.controller;
      ReadableByteStreamControllerClose(c);
      // A BYOB read still waiting ends now, done (the spec leaves that to the source).
      if (readable.state === "closed" && c.pendingPullIntos.length > 0) ReadableByteStreamControllerRespond(c, 0);
    } catch (e) {
      ReadableByteStreamControllerError(readable.controller, e);
      return promiseRejectedWith(e);
    }
    return resolvedUndefined();
  };
  const abort = (reason) => {
    ReadableByteStreamControllerError(readable.controller, reason);
    return resolvedUndefined();
  };
  const pull = () => {
    setBackpressure(false);
    return backpressureChange.promise;
  };
  const cancel = (reason) => {
    WritableStreamDefaultControllerErrorIfNeeded(writable.controller, reason);
    if (backpressure) setBackpressure(false);
    return resolvedUndefined();
  };
  writable = CreateWritableStream(noop, write, close, abort, hwm, size);
  readable = CreateReadableByteStream(noop, pull, cancel);
  readable.expectedLength = expected;
  rec.readable = readable;
  rec.writable = writable;
}

class IdentityTransformStream extends TransformStream {
  // The second and third parameters are FixedLengthStream's (behind IDENTITY_INTERNAL).
  constructor(queuingStrategy = undefined, expectedLength = undefined, fixedStrategy = undefined) {
    super(STREAM_INTERNAL);
    const fixed = queuingStrategy === IDENTITY_INTERNAL;
    setUpIdentityTransform(transformRecord(this), fixed ? fixedStrategy : queuingStrategy, fixed ? expectedLength : undefined);
  }
}
exposeInterface(IdentityTransformStream, "IdentityTransformStream");

class FixedLengthStream extends IdentityTransformStream {
  constructor(expectedLength, queuingStrategy = undefined) {
    requireArgs(arguments.length, 1, "FixedLengthStream");
    super(IDENTITY_INTERNAL, toFixedLength(expectedLength), queuingStrategy);
  }
}
exposeInterface(FixedLengthStream, "FixedLengthStream");

// crypto.DigestStream: a WritableStream whose bytes are hashed as they are written (natively, an
// incremental hasher kept between writes: ops/src/crypto/hash.rs); `digest` resolves with the
// digest (an ArrayBuffer) when the stream closes, and rejects when it is aborted or fails.
// Algorithms: SHA-1, SHA-256, SHA-384, SHA-512 and MD5 (names case-insensitive), and the
// checksums crc32, crc32c and crc64nvme, as a string or `{ name }`; anything else is a
// NotSupportedError from the constructor. `bytesWritten` is a bigint (workerd's uint64_t).

/** Digest algorithm (upper-cased name) -> the native side's number (ops/src/crypto/hash.rs). */
const DIGEST_STREAM_ALGORITHMS = { __proto__: null, "SHA-1": 1, "SHA-256": 2, "SHA-384": 3, "SHA-512": 4, MD5: 5 };
/** The checksums workerd's DigestStream also computes (names exact, as workerd compares them),
 *  each a big-endian integer: CRC-32 (zlib's), CRC-32C, CRC-64/NVME. */
const DIGEST_STREAM_CHECKSUMS = { __proto__: null, crc32: 6, crc32c: 7, crc64nvme: 8 };
/** The native ops (ops/src/lib.rs, OpCode): one-shot digest, and an incremental one's steps. */
const DIGEST_OP = { __proto__: null, digest: 0x0101, create: 0x0104, update: 0x0105, finish: 0x0106 };
/** The most bytes one update op carries (a chunk is hashed in pieces: each op copies its input). */
const DIGEST_PIECE = 1 << 20;
const SymbolDisposeKey = Symbol.dispose; // explicit resource management; undefined without it

function digestStreamAlgorithm(algorithm) {
  let name;
  if (algorithm !== null && (typeof algorithm === "object" || typeof algorithm === "function")) {
    const n = algorithm.name;
    if (n === undefined) throw new TypeError("DigestStream: the algorithm's name is required");
    name = `${n}`;
  } else {
    name = `${algorithm}`;
  }
  const id = DIGEST_STREAM_CHECKSUMS[name] ?? DIGEST_STREAM_ALGORITHMS[StringToUpperCase(name)];
  if (id === undefined) {
    throw new DOMException(`DigestStream: unrecognized or unimplemented digest algorithm "${name}" (SHA-1, SHA-256, SHA-384, SHA-512, MD5, crc32, crc32c and crc64nvme are supported)`, "NotSupportedError");
  }
  return id;
}

let digestStreamOf; // (v) -> { digest: Deferred, bytes, dispose } | undefined

class DigestStream extends WritableStream {
  #d;
  constructor(algorithm) {
    requireArgs(arguments.length, 1, "DigestStream");
    const alg = digestStreamAlgorithm(algorithm);
    super(STREAM_INTERNAL);
    const result = new Deferred();
    setHandled(result.promise); // an aborted stream whose digest nobody reads is no unhandled rejection
    const d = { __proto__: null, digest: result, bytes: 0, dispose: undefined };
    this.#d = d;
    let handle = 0; // the native hasher: 0 before the first bytes, -1 once finished or released
    const owner = {}; // collected with the stream: frees an abandoned hasher
    const release = () => {
      if (handle > 0) {
        untrackNative(owner);
        try { callOp(NATIVE.free, [handle]); } catch { /* the isolate is going */ }
      }
      handle = -1;
    };
    const fail = (e) => {
      release();
      result.reject(e);
      return promiseRejectedWith(e);
    };
    const write = (chunk) => {
      try {
        if (handle < 0) throw new TypeError("The DigestStream is closed");
        const bytes = workersChunkBytes(chunk, "DigestStream");
        if (bytes === null) return resolvedUndefined();
        if (handle === 0) {
          handle = fieldU32(callOp(DIGEST_OP.create, [alg]));
          trackNative(owner, handle);
        }
        const total = typedArrayByteLength(bytes);
        for (let off = 0; off < total; off += DIGEST_PIECE) {
          callOp(DIGEST_OP.update, [handle, bytesView(bytes, off, MathMin(off + DIGEST_PIECE, total))]);
        }
        d.bytes += total;
      } catch (e) {
        return fail(e);
      }
      return resolvedUndefined();
    };
    const close = () => {
      let out;
      try {
        if (handle < 0) throw new TypeError("The DigestStream is closed");
        if (handle === 0) {
          handle = -1;
          out = callOp(DIGEST_OP.digest, [alg, new Uint8ArrayCtor(0)]);
        } else {
          untrackNative(owner);
          const h = handle;
          handle = -1; // finish frees it, whatever it answers
          out = callOp(DIGEST_OP.finish, [h]);
        }
      } catch (e) {
        return fail(e);
      }
      result.resolve(typedArrayBuffer(bytesCopy(out)));
      return resolvedUndefined();
    };
    const abort = (reason) => {
      release();
      result.reject(reason);
      return resolvedUndefined();
    };
    const rec = writableRecord(this);
    SetUpWritableStreamDefaultController(rec, newWritableController(), noop, write, close, abort, 1, sizeOne);
    // [Symbol.dispose] (workerd's JSG_DISPOSE): the digest rejects and the stream errors, unless
    // it is already closed or errored.
    d.dispose = () => {
      if (result.state !== 0) return;
      const e = new TypeError("The DigestStream was disposed.");
      release();
      result.reject(e);
      WritableStreamDefaultControllerErrorIfNeeded(rec.controller, e);
    };
  }
  get digest() {
    return thisDigestStream(this, "digest").digest.promise;
  }
  get bytesWritten() {
    return BigInt(thisDigestStream(this, "bytesWritten").bytes);
  }
  static {
    digestStreamOf = (v) => (isObject(v) && #d in v ? v.#d : undefined);
  }
}
// An interface of `crypto` (Crypto.prototype.DigestStream, clone.js), not a global: its members
// enumerable and its class string, as exposeInterface would make them.
(() => {
  const proto = DigestStream.prototype;
  const keys = ReflectOwnKeys(proto);
  for (let i = 0; i < keys.length; i++) {
    if (keys[i] === "constructor") continue;
    const desc = ObjectGetOwnPropertyDescriptor(proto, keys[i]);
    ObjectSetPrototypeOf(desc, null);
    desc.enumerable = true;
    ObjectDefineProperty(proto, keys[i], desc);
  }
  setTag(proto, "DigestStream");
  if (typeof SymbolDisposeKey === "symbol") {
    ObjectDefineProperty(proto, SymbolDisposeKey, {
      __proto__: null,
      value: { [SymbolDisposeKey]() { thisDigestStream(this, "[Symbol.dispose]").dispose(); } }[SymbolDisposeKey],
      writable: true, enumerable: false, configurable: true,
    });
  }
})();

function thisDigestStream(self, what) {
  const d = digestStreamOf(self);
  if (d === undefined) throw new TypeError(`DigestStream.${what}: Illegal invocation`);
  return d;
}

// What eager parts (fetch-body.js, bindings.js, fetch-outbound.js) and the rewriter's group use of
// the streams, reached through plumbing.js's streamsInternals().
shareInternals("streams", ObjectFreeze({
  __proto__: null,
  AcquireReadableStreamDefaultReader,
  CreateReadableByteStream,
  CreateTransformStream,
  IsReadableStreamLocked,
  ReadableByteStreamControllerClose,
  ReadableByteStreamControllerEnqueue,
  ReadableByteStreamControllerError,
  ReadableByteStreamControllerGetBYOBRequest,
  ReadableByteStreamControllerRespond,
  ReadableStreamCancel,
  ReadableStreamDefaultReaderRead,
  ReadableStreamPipeTo,
  ReadableStreamTee,
  TransformStreamDefaultControllerEnqueue,
  // cloudflare:sockets' writable side (sockets.js).
  CreateWritableStream,
  WritableStreamClose,
  WritableStreamCloseQueuedOrInFlight,
  WritableStreamDefaultControllerErrorIfNeeded,
  streamRecord,
  // crypto.DigestStream (clone.js's Crypto.prototype.DigestStream).
  DigestStream,
}));
