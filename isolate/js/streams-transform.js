// ---- streams-transform.js: TransformStream, TextEncoderStream, TextDecoderStream.
// The encoding streams wrap the UTF-8 codec of encoding.js (same state machine as TextDecoder, so
// chunk boundaries are exact). Same record/brand structure as the other stream files.

const TransformStreamState = internalClass(class TransformStreamState {
  pub = null;
  readable = null; // ReadableStreamState
  writable = null; // WritableStreamState
  backpressure = undefined;
  backpressureChangePromise = undefined; // Deferred
  controller = undefined; // TransformControllerState
});

const TransformControllerState = internalClass(class TransformControllerState {
  pub = null;
  stream = null;
  transformAlgorithm = undefined;
  flushAlgorithm = undefined;
  cancelAlgorithm = undefined;
  finishPromise = undefined; // Deferred
});

let transformRecord; // (v) -> TransformStreamState | undefined
let newTransformObject; // () -> TransformStreamState with its public object

class TransformStream {
  #t;
  constructor(transformer = undefined, writableStrategy = undefined, readableStrategy = undefined) {
    const rec = new TransformStreamState();
    rec.pub = this;
    this.#t = rec;
    if (transformer === STREAM_INTERNAL) return;
    const t = toOptionalObject(transformer, "TransformStream: transformer");
    const ws = convertQueuingStrategy(writableStrategy, "TransformStream: writableStrategy");
    const rs = convertQueuingStrategy(readableStrategy, "TransformStream: readableStrategy");
    let dict = { cancel: undefined, flush: undefined, readableType: undefined, start: undefined, transform: undefined, writableType: undefined };
    if (t !== undefined) {
      dict = {
        cancel: toCallback(t.cancel, "transformer.cancel"),
        flush: toCallback(t.flush, "transformer.flush"),
        readableType: t.readableType,
        start: toCallback(t.start, "transformer.start"),
        transform: toCallback(t.transform, "transformer.transform"),
        writableType: t.writableType,
      };
    }
    if (dict.readableType !== undefined) throw new RangeError("TransformStream: transformer.readableType is reserved and must be undefined");
    if (dict.writableType !== undefined) throw new RangeError("TransformStream: transformer.writableType is reserved and must be undefined");
    const readableHighWaterMark = ExtractHighWaterMark(rs, 0);
    const readableSizeAlgorithm = ExtractSizeAlgorithm(rs);
    const writableHighWaterMark = ExtractHighWaterMark(ws, 1);
    const writableSizeAlgorithm = ExtractSizeAlgorithm(ws);
    const startPromise = new Deferred();
    InitializeTransformStream(rec, startPromise.promise, writableHighWaterMark, writableSizeAlgorithm, readableHighWaterMark, readableSizeAlgorithm);
    SetUpTransformStreamDefaultControllerFromTransformer(rec, t ?? null, dict);
    if (dict.start !== undefined) startPromise.resolve(ReflectApply(dict.start, t, [rec.controller.pub]));
    else startPromise.resolve(undefined);
  }
  get readable() {
    return thisTransform(this, "readable").readable.pub;
  }
  get writable() {
    return thisTransform(this, "writable").writable.pub;
  }
  static {
    transformRecord = (v) => (isObject(v) && #t in v ? v.#t : undefined);
    newTransformObject = () => new TransformStream(STREAM_INTERNAL).#t;
    addPlatformBrand((v) => isObject(v) && #t in v);
  }
}
exposeInterface(TransformStream, "TransformStream");

function thisTransform(self, what) {
  const t = transformRecord(self);
  if (t === undefined) throw new TypeError(`TransformStream.${what}: Illegal invocation`);
  return t;
}

let transformControllerRecord; // (v) -> TransformControllerState | undefined
let newTransformController; // () -> TransformControllerState with its public object

class TransformStreamDefaultController {
  #c;
  constructor(key = undefined) {
    if (key !== INTERNAL) throw new TypeError("Illegal constructor");
  }
  get desiredSize() {
    const c = thisTransformController(this, "desiredSize");
    return ReadableStreamDefaultControllerGetDesiredSize(c.stream.readable.controller);
  }
  enqueue(chunk = undefined) {
    TransformStreamDefaultControllerEnqueue(thisTransformController(this, "enqueue"), chunk);
  }
  error(reason = undefined) {
    TransformStreamError(thisTransformController(this, "error").stream, reason);
  }
  terminate() {
    TransformStreamDefaultControllerTerminate(thisTransformController(this, "terminate"));
  }
  static {
    transformControllerRecord = (v) => (isObject(v) && #c in v ? v.#c : undefined);
    newTransformController = () => {
      const c = new TransformControllerState();
      const pub = new TransformStreamDefaultController(INTERNAL);
      pub.#c = c;
      c.pub = pub;
      return c;
    };
    addPlatformBrand((v) => isObject(v) && #c in v);
  }
}
exposeInterface(TransformStreamDefaultController, "TransformStreamDefaultController");

function thisTransformController(self, what) {
  const c = transformControllerRecord(self);
  if (c === undefined) throw new TypeError(`TransformStreamDefaultController.${what}: Illegal invocation`);
  return c;
}

function InitializeTransformStream(stream, startPromise, writableHighWaterMark, writableSizeAlgorithm, readableHighWaterMark, readableSizeAlgorithm) {
  // Web IDL's "a promise resolved with" a promise is a new promise that adopts it, two jobs
  // later (a thenable job, then its reaction); the set-up steps wait on that. Two captured
  // identity reactions give the same order without looking `then` up on an internal promise.
  const identity = (v) => v;
  const startAlgorithm = () => promiseThen(promiseThen(startPromise, identity, undefined), identity, undefined);
  stream.writable = CreateWritableStream(startAlgorithm,
    (chunk) => TransformStreamDefaultSinkWriteAlgorithm(stream, chunk),
    () => TransformStreamDefaultSinkCloseAlgorithm(stream),
    (reason) => TransformStreamDefaultSinkAbortAlgorithm(stream, reason),
    writableHighWaterMark, writableSizeAlgorithm);
  stream.readable = CreateReadableStream(startAlgorithm,
    () => TransformStreamDefaultSourcePullAlgorithm(stream),
    (reason) => TransformStreamDefaultSourceCancelAlgorithm(stream, reason),
    readableHighWaterMark, readableSizeAlgorithm);
  stream.backpressure = undefined;
  stream.backpressureChangePromise = undefined;
  TransformStreamSetBackpressure(stream, true);
  stream.controller = undefined;
}

function TransformStreamError(stream, e) {
  ReadableStreamDefaultControllerError(stream.readable.controller, e);
  TransformStreamErrorWritableAndUnblockWrite(stream, e);
}

function TransformStreamErrorWritableAndUnblockWrite(stream, e) {
  TransformStreamDefaultControllerClearAlgorithms(stream.controller);
  WritableStreamDefaultControllerErrorIfNeeded(stream.writable.controller, e);
  TransformStreamUnblockWrite(stream);
}

function TransformStreamSetBackpressure(stream, backpressure) {
  if (stream.backpressureChangePromise !== undefined) stream.backpressureChangePromise.resolve(undefined);
  stream.backpressureChangePromise = new Deferred();
  stream.backpressure = backpressure;
}

function TransformStreamUnblockWrite(stream) {
  if (stream.backpressure === true) TransformStreamSetBackpressure(stream, false);
}

function SetUpTransformStreamDefaultController(stream, c, transformAlgorithm, flushAlgorithm, cancelAlgorithm) {
  c.stream = stream;
  stream.controller = c;
  c.transformAlgorithm = transformAlgorithm;
  c.flushAlgorithm = flushAlgorithm;
  c.cancelAlgorithm = cancelAlgorithm;
}

function SetUpTransformStreamDefaultControllerFromTransformer(stream, transformer, dict) {
  const c = newTransformController();
  let transformAlgorithm = (chunk) => {
    try {
      TransformStreamDefaultControllerEnqueue(c, chunk);
    } catch (e) {
      return promiseRejectedWith(e);
    }
    return resolvedUndefined();
  };
  let flushAlgorithm = resolvedUndefined;
  let cancelAlgorithm = resolvedUndefined;
  const { transform, flush, cancel } = dict;
  if (transform !== undefined) transformAlgorithm = (chunk) => promiseCall(transform, transformer, [chunk, c.pub]);
  if (flush !== undefined) flushAlgorithm = () => promiseCall(flush, transformer, [c.pub]);
  if (cancel !== undefined) cancelAlgorithm = (reason) => promiseCall(cancel, transformer, [reason]);
  SetUpTransformStreamDefaultController(stream, c, transformAlgorithm, flushAlgorithm, cancelAlgorithm);
}

function TransformStreamDefaultControllerClearAlgorithms(c) {
  c.transformAlgorithm = undefined;
  c.flushAlgorithm = undefined;
  c.cancelAlgorithm = undefined;
}

function TransformStreamDefaultControllerEnqueue(c, chunk) {
  const stream = c.stream;
  const readableController = stream.readable.controller;
  if (!ReadableStreamDefaultControllerCanCloseOrEnqueue(readableController)) {
    throw new TypeError("TransformStreamDefaultController.enqueue: the readable side is not in a state that permits enqueue");
  }
  try {
    ReadableStreamDefaultControllerEnqueue(readableController, chunk);
  } catch (e) {
    TransformStreamErrorWritableAndUnblockWrite(stream, e);
    throw stream.readable.storedError;
  }
  const backpressure = ReadableStreamDefaultControllerHasBackpressure(readableController);
  if (backpressure !== stream.backpressure) TransformStreamSetBackpressure(stream, true);
}

function TransformStreamDefaultControllerPerformTransform(c, chunk) {
  return promiseThen(c.transformAlgorithm(chunk), undefined, (r) => {
    TransformStreamError(c.stream, r);
    throw r;
  });
}

function TransformStreamDefaultControllerTerminate(c) {
  const stream = c.stream;
  ReadableStreamDefaultControllerClose(stream.readable.controller);
  TransformStreamErrorWritableAndUnblockWrite(stream, new TypeError("The TransformStream has been terminated"));
}

function TransformStreamDefaultSinkWriteAlgorithm(stream, chunk) {
  const c = stream.controller;
  if (stream.backpressure) {
    return promiseThen(stream.backpressureChangePromise.promise, () => {
      const writable = stream.writable;
      if (writable.state === "erroring") throw writable.storedError;
      return TransformStreamDefaultControllerPerformTransform(c, chunk);
    }, undefined);
  }
  return TransformStreamDefaultControllerPerformTransform(c, chunk);
}

function TransformStreamDefaultSinkAbortAlgorithm(stream, reason) {
  const c = stream.controller;
  if (c.finishPromise !== undefined) return c.finishPromise.promise;
  const readable = stream.readable;
  c.finishPromise = new Deferred();
  const cancelPromise = c.cancelAlgorithm(reason);
  TransformStreamDefaultControllerClearAlgorithms(c);
  uponPromise(cancelPromise, () => {
    if (readable.state === "errored") {
      c.finishPromise.reject(readable.storedError);
    } else {
      ReadableStreamDefaultControllerError(readable.controller, reason);
      c.finishPromise.resolve(undefined);
    }
  }, (r) => {
    ReadableStreamDefaultControllerError(readable.controller, r);
    c.finishPromise.reject(r);
  });
  return c.finishPromise.promise;
}

function TransformStreamDefaultSinkCloseAlgorithm(stream) {
  const c = stream.controller;
  if (c.finishPromise !== undefined) return c.finishPromise.promise;
  const readable = stream.readable;
  c.finishPromise = new Deferred();
  const flushPromise = c.flushAlgorithm();
  TransformStreamDefaultControllerClearAlgorithms(c);
  uponPromise(flushPromise, () => {
    if (readable.state === "errored") {
      c.finishPromise.reject(readable.storedError);
    } else {
      ReadableStreamDefaultControllerClose(readable.controller);
      c.finishPromise.resolve(undefined);
    }
  }, (r) => {
    ReadableStreamDefaultControllerError(readable.controller, r);
    c.finishPromise.reject(r);
  });
  return c.finishPromise.promise;
}

function TransformStreamDefaultSourceCancelAlgorithm(stream, reason) {
  const c = stream.controller;
  if (c.finishPromise !== undefined) return c.finishPromise.promise;
  const writable = stream.writable;
  c.finishPromise = new Deferred();
  const cancelPromise = c.cancelAlgorithm(reason);
  TransformStreamDefaultControllerClearAlgorithms(c);
  uponPromise(cancelPromise, () => {
    if (writable.state === "errored") {
      c.finishPromise.reject(writable.storedError);
    } else {
      WritableStreamDefaultControllerErrorIfNeeded(writable.controller, reason);
      TransformStreamUnblockWrite(stream);
      c.finishPromise.resolve(undefined);
    }
  }, (r) => {
    WritableStreamDefaultControllerErrorIfNeeded(writable.controller, r);
    TransformStreamUnblockWrite(stream);
    c.finishPromise.reject(r);
  });
  return c.finishPromise.promise;
}

function TransformStreamDefaultSourcePullAlgorithm(stream) {
  TransformStreamSetBackpressure(stream, false);
  return stream.backpressureChangePromise.promise;
}

/** A TransformStream driven by internal algorithms (the encoding streams, Request/Response). */
function CreateTransformStream(transformAlgorithm, flushAlgorithm, cancelAlgorithm = resolvedUndefined,
  readableHighWaterMark = 0, readableSize = sizeOne) {
  const rec = newTransformObject();
  const startPromise = resolvedUndefined();
  InitializeTransformStream(rec, startPromise, 1, sizeOne, readableHighWaterMark, readableSize);
  SetUpTransformStreamDefaultController(rec, newTransformController(), transformAlgorithm, flushAlgorithm, cancelAlgorithm);
  return rec;
}

// The codec streams (TextEncoderStream, TextDecoderStream, CompressionStream, DecompressionStream)
// hold up to this much output, in bytes or UTF-16 code units, before a write waits for a reader:
// workerd's take writes with no reader yet, and Workers code does `await writer.write(x); await
// writer.close();` and only then reads (the standard's TransformStream, holding nothing, would wait
// forever there). Beyond it, writes wait for reads as the standard's do.
const CODEC_STREAM_BUFFER = 1 << 20;
const codecChunkSize = (chunk) => (typeof chunk === "string" ? chunk.length : typedArrayByteLength(chunk));

/** CreateTransformStream for a codec stream: its readable side holds CODEC_STREAM_BUFFER. */
function CreateCodecTransformStream(transformAlgorithm, flushAlgorithm, cancelAlgorithm = resolvedUndefined) {
  return CreateTransformStream(transformAlgorithm, flushAlgorithm, cancelAlgorithm, CODEC_STREAM_BUFFER, codecChunkSize);
}

// ---- TextEncoderStream / TextDecoderStream ------------------------------------------------------
const REPLACEMENT_BYTES = [0xef, 0xbf, 0xbd];
let encoderStreamRecord; // (v) -> TransformStreamState | undefined
let decoderStreamRecord; // (v) -> TransformStreamState | undefined

class TextEncoderStream {
  #t;
  constructor() {
    let pendingHighSurrogate = null; // a lead surrogate left at the end of the previous chunk
    const t = CreateCodecTransformStream((chunk) => {
      try {
        let s = `${chunk}`;
        if (pendingHighSurrogate !== null) {
          s = pendingHighSurrogate + s;
          pendingHighSurrogate = null;
        }
        const last = s.length > 0 ? s.charCodeAt(s.length - 1) : 0;
        if (last >= 0xd800 && last <= 0xdbff) {
          pendingHighSurrogate = s[s.length - 1];
          s = s.slice(0, -1);
        }
        if (s.length > 0) TransformStreamDefaultControllerEnqueue(t.controller, utf8Encode(s));
      } catch (e) {
        return promiseRejectedWith(e);
      }
      return resolvedUndefined();
    }, () => {
      if (pendingHighSurrogate !== null) {
        pendingHighSurrogate = null;
        TransformStreamDefaultControllerEnqueue(t.controller, new Uint8ArrayCtor(REPLACEMENT_BYTES));
      }
      return resolvedUndefined();
    });
    this.#t = t;
  }
  get encoding() { thisCodecStream(this); return "utf-8"; }
  get readable() { return thisCodecStream(this).readable.pub; }
  get writable() { return thisCodecStream(this).writable.pub; }
  static {
    encoderStreamRecord = (v) => (isObject(v) && #t in v ? v.#t : undefined);
    addPlatformBrand((v) => isObject(v) && #t in v);
  }
}
exposeInterface(TextEncoderStream, "TextEncoderStream");

class TextDecoderStream {
  #t;
  #encoding;
  #fatal;
  #ignoreBOM;
  constructor(label = "utf-8", options = undefined) {
    const labelString = `${label}`;
    const dict = toDictionary(options, "TextDecoderStream: options");
    const fatal = dict === undefined ? false : !!dict.fatal;
    const ignoreBOM = dict === undefined ? false : !!dict.ignoreBOM;
    const encoding = encodingForLabel(labelString, "TextDecoderStream");
    this.#encoding = encoding;
    this.#fatal = fatal;
    this.#ignoreBOM = ignoreBOM;
    const state = newUtf8State();
    let handle = 0; // a legacy encoding's native decoder (encoding.js)
    const owner = {}; // collected with the stream: frees an abandoned decoder (compression.js)
    let bomSeen = ignoreBOM || !bomEncoding(encoding);
    const decode = (bytes, flush) => {
      if (encoding === "utf-8") return utf8DecodeChunk(bytes, state, fatal, flush);
      const h = handle;
      handle = 0;
      let r;
      try {
        r = legacyDecodeChunk(encoding, fatal, h, bytes, !flush);
      } finally {
        if (h !== 0 && (r === undefined || r[0] !== h)) untrackNative(owner);
      }
      handle = r[0];
      if (handle !== 0 && handle !== h) trackNative(owner, handle);
      return r[1];
    };
    const emit = (text) => {
      if (!bomSeen && text.length > 0) {
        bomSeen = true;
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      }
      if (text.length > 0) TransformStreamDefaultControllerEnqueue(t.controller, text);
    };
    const t = CreateCodecTransformStream((chunk) => {
      try {
        if (!isArrayBuffer(chunk) && !ArrayBufferIsView(chunk)) {
          throw new TypeError("TextDecoderStream: chunks must be ArrayBuffers or ArrayBufferViews");
        }
        emit(decode(bufferSourceBytes(chunk, "TextDecoderStream"), false));
      } catch (e) {
        return promiseRejectedWith(e);
      }
      return resolvedUndefined();
    }, () => {
      try {
        emit(decode(new Uint8ArrayCtor(0), true));
      } catch (e) {
        return promiseRejectedWith(e);
      }
      return resolvedUndefined();
    }, () => {
      if (handle !== 0) {
        untrackNative(owner);
        callOp(NATIVE.free, [handle]);
      }
      handle = 0;
      return resolvedUndefined();
    });
    this.#t = t;
  }
  get encoding() { thisDecoderStream(this); return this.#encoding; }
  get fatal() { thisDecoderStream(this); return this.#fatal; }
  get ignoreBOM() { thisDecoderStream(this); return this.#ignoreBOM; }
  get readable() { return thisDecoderStream(this).readable.pub; }
  get writable() { return thisDecoderStream(this).writable.pub; }
  static {
    decoderStreamRecord = (v) => (isObject(v) && #t in v ? v.#t : undefined);
    addPlatformBrand((v) => isObject(v) && #t in v);
  }
}
exposeInterface(TextDecoderStream, "TextDecoderStream");

function thisCodecStream(self) {
  const t = encoderStreamRecord(self);
  if (t === undefined) throw new TypeError("TextEncoderStream: Illegal invocation");
  return t;
}
function thisDecoderStream(self) {
  const t = decoderStreamRecord(self);
  if (t === undefined) throw new TypeError("TextDecoderStream: Illegal invocation");
  return t;
}
