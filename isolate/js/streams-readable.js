// ---- streams-readable.js: ReadableStream, its default reader and controller.
// The spec's abstract operations work on internal records (ReadableStreamState, ReaderState,
// DefaultControllerState); the public objects hold their record in a private field and every
// method starts with a brand check. Byte controllers and BYOB readers are in streams-byte.js,
// tee/pipeTo/from in streams-pipe.js. Guarantees: tenant code reaches a stream only through the
// public methods; internal reads (tee, pipes, Request/Response bodies, the host) use read
// requests, never promises or prototypes a tenant could patch.

const STREAM_INTERNAL = {}; // constructor token of internally created streams

const ReadableStreamState = internalClass(class ReadableStreamState {
  pub = null; // the ReadableStream object
  state = "readable";
  reader = undefined; // ReaderState
  storedError = undefined;
  disturbed = false;
  controller = undefined; // DefaultControllerState | ByteControllerState
  // Fetch: the bytes a prelude-made body stream was made over (see fetch.js), else null. Valid
  // only while the stream is untouched (not disturbed, not locked).
  source = null;
  // The readable side of a FixedLengthStream: the bytes it will carry in all (workerd's
  // `expectedLength`, which becomes a body's Content-Length), else undefined.
  expectedLength = undefined;
});

const ReaderState = internalClass(class ReaderState {
  pub = null; // the reader object, or null for internal readers
  stream = undefined; // ReadableStreamState
  closed = null; // Deferred
  isByob = false;
  requests = new List(); // read requests or read-into requests
});

const DefaultControllerState = internalClass(class DefaultControllerState {
  pub = null;
  isByte = false;
  stream = null;
  queue = null;
  queueTotalSize = 0;
  started = false;
  closeRequested = false;
  pullAgain = false;
  pulling = false;
  strategyHWM = 1;
  strategySizeAlgorithm = undefined;
  pullAlgorithm = undefined;
  cancelAlgorithm = undefined;
});

/** A read request whose steps settle a promise with a ReadableStreamReadResult. */
const PromiseReadRequest = internalClass(class PromiseReadRequest {
  d = new Deferred();
  chunkSteps(chunk) { this.d.resolve({ value: chunk, done: false }); }
  closeSteps(chunk) { this.d.resolve({ value: chunk, done: true }); }
  errorSteps(e) { this.d.reject(e); }
});

let streamRecord; // (v) -> ReadableStreamState | undefined
let newStreamObject; // () -> ReadableStream with a fresh, controller-less record

class ReadableStream {
  #s;
  constructor(underlyingSource = undefined, strategy = undefined) {
    const rec = new ReadableStreamState();
    rec.pub = this;
    this.#s = rec;
    if (underlyingSource === STREAM_INTERNAL) return;
    const source = toOptionalObject(underlyingSource, "ReadableStream: underlyingSource");
    const strat = convertQueuingStrategy(strategy, "ReadableStream: strategy");
    const dict = convertUnderlyingSource(source);
    if (dict.type === "bytes") {
      if (strat.size !== undefined) throw new RangeError("ReadableStream: a byte stream's strategy cannot have a size function");
      const hwm = ExtractHighWaterMark(strat, 0);
      SetUpReadableByteStreamControllerFromUnderlyingSource(rec, source ?? null, dict, hwm);
    } else {
      const sizeAlgorithm = ExtractSizeAlgorithm(strat);
      const hwm = ExtractHighWaterMark(strat, 1);
      SetUpReadableStreamDefaultControllerFromUnderlyingSource(rec, source ?? null, dict, hwm, sizeAlgorithm);
    }
  }
  static from(asyncIterable) {
    requireArgs(arguments.length, 1, "ReadableStream.from");
    return ReadableStreamFromIterable(asyncIterable).pub;
  }
  get locked() {
    return IsReadableStreamLocked(thisStream(this, "locked"));
  }
  cancel(reason = undefined) {
    const s = streamRecord(this);
    if (s === undefined) return rejectType("ReadableStream.cancel: Illegal invocation");
    if (IsReadableStreamLocked(s)) return rejectType("ReadableStream.cancel: the stream is locked to a reader");
    return ReadableStreamCancel(s, reason);
  }
  getReader(options = undefined) {
    const s = thisStream(this, "getReader");
    const dict = toDictionary(options, "ReadableStream.getReader: options");
    let mode = dict === undefined ? undefined : dict.mode;
    if (mode !== undefined) {
      mode = `${mode}`;
      if (mode !== "byob") throw new TypeError(`ReadableStream.getReader: "${mode}" is not a valid reader mode`);
      return AcquireReadableStreamBYOBReader(s, true).pub;
    }
    return AcquireReadableStreamDefaultReader(s, true).pub;
  }
  pipeThrough(transform, options = undefined) {
    const s = thisStream(this, "pipeThrough");
    requireArgs(arguments.length, 1, "ReadableStream.pipeThrough");
    const pair = toDictionary(transform, "ReadableStream.pipeThrough: transform");
    const readable = pair === undefined ? undefined : pair.readable;
    if (readable === undefined) throw new TypeError("ReadableStream.pipeThrough: transform.readable is required");
    if (streamRecord(readable) === undefined) throw new TypeError("ReadableStream.pipeThrough: transform.readable must be a ReadableStream");
    const writable = pair.writable;
    if (writable === undefined) throw new TypeError("ReadableStream.pipeThrough: transform.writable is required");
    const dest = writableRecord(writable);
    if (dest === undefined) throw new TypeError("ReadableStream.pipeThrough: transform.writable must be a WritableStream");
    const opts = convertPipeOptions(options);
    if (IsReadableStreamLocked(s)) throw new TypeError("ReadableStream.pipeThrough: the stream is locked");
    if (IsWritableStreamLocked(dest)) throw new TypeError("ReadableStream.pipeThrough: the writable side is locked");
    const promise = ReadableStreamPipeTo(s, dest, opts.preventClose, opts.preventAbort, opts.preventCancel, opts.signal);
    setHandled(promise);
    return readable;
  }
  pipeTo(destination, options = undefined) {
    const s = streamRecord(this);
    if (s === undefined) return rejectType("ReadableStream.pipeTo: Illegal invocation");
    const dest = writableRecord(destination);
    if (dest === undefined) return rejectType("ReadableStream.pipeTo: the destination must be a WritableStream");
    let opts;
    try {
      opts = convertPipeOptions(options);
    } catch (e) {
      return promiseRejectedWith(e);
    }
    if (IsReadableStreamLocked(s)) return rejectType("ReadableStream.pipeTo: the stream is locked");
    if (IsWritableStreamLocked(dest)) return rejectType("ReadableStream.pipeTo: the destination is locked");
    return ReadableStreamPipeTo(s, dest, opts.preventClose, opts.preventAbort, opts.preventCancel, opts.signal);
  }
  tee() {
    // Indexed, not destructured: a patched array iterator must never see the internal records.
    const branches = ReadableStreamTee(thisStream(this, "tee"), false);
    return [branches[0].pub, branches[1].pub];
  }
  values(options = undefined) {
    const s = thisStream(this, "values");
    const dict = toDictionary(options, "ReadableStream.values: options");
    const preventCancel = dict === undefined ? false : !!dict.preventCancel;
    return newStreamAsyncIterator(AcquireReadableStreamDefaultReader(s, false), preventCancel);
  }
  static {
    streamRecord = (v) => (isObject(v) && #s in v ? v.#s : undefined);
    newStreamObject = () => new ReadableStream(STREAM_INTERNAL).#s;
    addPlatformBrand((v) => isObject(v) && #s in v);
  }
}
ObjectDefineProperty(ReadableStream.prototype, SymbolAsyncIterator, {
  __proto__: null,
  value: ReadableStream.prototype.values, writable: true, enumerable: false, configurable: true,
});
exposeInterface(ReadableStream, "ReadableStream");
inspectThroughGetters(ReadableStream, ["locked"]);

function thisStream(self, what) {
  const s = streamRecord(self);
  if (s === undefined) throw new TypeError(`ReadableStream.${what}: Illegal invocation`);
  return s;
}

function convertUnderlyingSource(source) {
  if (source === undefined || source === null) {
    return { autoAllocateChunkSize: undefined, cancel: undefined, pull: undefined, start: undefined, type: undefined };
  }
  const size = source.autoAllocateChunkSize;
  const autoAllocateChunkSize = size === undefined ? undefined : toEnforcedULL(size, "underlyingSource.autoAllocateChunkSize");
  const cancel = toCallback(source.cancel, "underlyingSource.cancel");
  const pull = toCallback(source.pull, "underlyingSource.pull");
  const start = toCallback(source.start, "underlyingSource.start");
  let type = source.type;
  if (type !== undefined) {
    type = `${type}`;
    if (type !== "bytes") throw new TypeError(`ReadableStream: "${type}" is not a valid underlyingSource.type`);
  }
  return { autoAllocateChunkSize, cancel, pull, start, type };
}

function convertPipeOptions(options) {
  const dict = toDictionary(options, "pipe options");
  if (dict === undefined) return { preventAbort: false, preventCancel: false, preventClose: false, signal: undefined };
  const preventAbort = !!dict.preventAbort;
  const preventCancel = !!dict.preventCancel;
  const preventClose = !!dict.preventClose;
  const signal = toPipeSignal(dict.signal);
  return { preventAbort, preventCancel, preventClose, signal };
}

// ---- readers -----------------------------------------------------------------------------------
let readerRecord; // (v) -> ReaderState | undefined (default readers only)

class ReadableStreamDefaultReader {
  #r;
  constructor(stream) {
    requireArgs(arguments.length, 1, "ReadableStreamDefaultReader");
    const s = streamRecord(stream);
    if (s === undefined) throw new TypeError("ReadableStreamDefaultReader: the argument must be a ReadableStream");
    const r = new ReaderState();
    r.pub = this;
    this.#r = r;
    SetUpReadableStreamDefaultReader(r, s);
  }
  get closed() {
    const r = readerRecord(this);
    if (r === undefined) return rejectType("ReadableStreamDefaultReader.closed: Illegal invocation");
    return r.closed.promise;
  }
  cancel(reason = undefined) {
    const r = readerRecord(this);
    if (r === undefined) return rejectType("ReadableStreamDefaultReader.cancel: Illegal invocation");
    if (r.stream === undefined) return rejectType("ReadableStreamDefaultReader.cancel: the reader has been released");
    return ReadableStreamReaderGenericCancel(r, reason);
  }
  read() {
    const r = readerRecord(this);
    if (r === undefined) return rejectType("ReadableStreamDefaultReader.read: Illegal invocation");
    if (r.stream === undefined) return rejectType("ReadableStreamDefaultReader.read: the reader has been released");
    const request = new PromiseReadRequest();
    ReadableStreamDefaultReaderRead(r, request);
    return request.d.promise;
  }
  releaseLock() {
    const r = readerRecord(this);
    if (r === undefined) throw new TypeError("ReadableStreamDefaultReader.releaseLock: Illegal invocation");
    if (r.stream === undefined) return;
    ReadableStreamDefaultReaderRelease(r);
  }
  static {
    readerRecord = (v) => (isObject(v) && #r in v ? v.#r : undefined);
    addPlatformBrand((v) => isObject(v) && #r in v);
  }
}
exposeInterface(ReadableStreamDefaultReader, "ReadableStreamDefaultReader");

/** AcquireReadableStreamDefaultReader; `exposed` readers get a public object. */
function AcquireReadableStreamDefaultReader(stream, exposed) {
  if (exposed) return readerRecord(new ReadableStreamDefaultReader(stream.pub));
  const r = new ReaderState();
  SetUpReadableStreamDefaultReader(r, stream);
  return r;
}

function IsReadableStreamLocked(stream) {
  return stream.reader !== undefined;
}

function ReadableStreamReaderGenericCancel(reader, reason) {
  return ReadableStreamCancel(reader.stream, reason);
}

function ReadableStreamReaderGenericInitialize(reader, stream) {
  reader.stream = stream;
  stream.reader = reader;
  reader.closed = new Deferred();
  if (stream.state === "closed") {
    reader.closed.resolve(undefined);
  } else if (stream.state === "errored") {
    reader.closed.reject(stream.storedError);
    setHandled(reader.closed.promise);
  }
}

function ReadableStreamReaderGenericRelease(reader) {
  const stream = reader.stream;
  const e = new TypeError("The reader's lock on the stream was released");
  if (stream.state === "readable") {
    reader.closed.reject(e);
  } else {
    reader.closed = new Deferred();
    reader.closed.reject(e);
  }
  setHandled(reader.closed.promise);
  ControllerReleaseSteps(stream.controller);
  stream.reader = undefined;
  reader.stream = undefined;
}

function ReadableStreamDefaultReaderErrorReadRequests(reader, e) {
  const requests = reader.requests;
  reader.requests = new List();
  while (requests.length > 0) requests.shift().errorSteps(e);
}

function ReadableStreamDefaultReaderRead(reader, request) {
  const stream = reader.stream;
  stream.disturbed = true;
  if (stream.state === "closed") request.closeSteps(undefined);
  else if (stream.state === "errored") request.errorSteps(stream.storedError);
  else ControllerPullSteps(stream.controller, request);
}

function ReadableStreamDefaultReaderRelease(reader) {
  ReadableStreamReaderGenericRelease(reader);
  ReadableStreamDefaultReaderErrorReadRequests(reader, new TypeError("The reader's lock on the stream was released"));
}

function SetUpReadableStreamDefaultReader(reader, stream) {
  if (IsReadableStreamLocked(stream)) throw new TypeError("The ReadableStream is locked to a reader");
  ReadableStreamReaderGenericInitialize(reader, stream);
  reader.requests = new List();
}

// ---- stream abstract operations ----------------------------------------------------------------
function CreateReadableStream(startAlgorithm, pullAlgorithm, cancelAlgorithm, highWaterMark = 1, sizeAlgorithm = sizeOne) {
  const stream = newStreamObject();
  const controller = newDefaultController();
  SetUpReadableStreamDefaultController(stream, controller, startAlgorithm, pullAlgorithm, cancelAlgorithm, highWaterMark, sizeAlgorithm);
  return stream;
}

function ReadableStreamCancel(stream, reason) {
  stream.disturbed = true;
  if (stream.state === "closed") return resolvedUndefined();
  if (stream.state === "errored") return promiseRejectedWith(stream.storedError);
  ReadableStreamClose(stream);
  const reader = stream.reader;
  if (reader !== undefined && reader.isByob) {
    const requests = reader.requests;
    reader.requests = new List();
    while (requests.length > 0) requests.shift().closeSteps(undefined);
  }
  const sourceCancelPromise = ControllerCancelSteps(stream.controller, reason);
  return promiseThen(sourceCancelPromise, noop, undefined);
}

function ReadableStreamClose(stream) {
  stream.state = "closed";
  const reader = stream.reader;
  if (reader === undefined) return;
  reader.closed.resolve(undefined);
  if (!reader.isByob) {
    const requests = reader.requests;
    reader.requests = new List();
    while (requests.length > 0) requests.shift().closeSteps(undefined);
  }
}

function ReadableStreamError(stream, e) {
  stream.state = "errored";
  stream.storedError = e;
  const reader = stream.reader;
  if (reader === undefined) return;
  reader.closed.reject(e);
  setHandled(reader.closed.promise);
  if (!reader.isByob) ReadableStreamDefaultReaderErrorReadRequests(reader, e);
  else ReadableStreamBYOBReaderErrorReadIntoRequests(reader, e);
}

function ReadableStreamAddReadRequest(stream, request) {
  stream.reader.requests.push(request);
}

function ReadableStreamFulfillReadRequest(stream, chunk, done) {
  const request = stream.reader.requests.shift();
  if (done) request.closeSteps(undefined);
  else request.chunkSteps(chunk);
}

function ReadableStreamGetNumReadRequests(stream) {
  return stream.reader.requests.length;
}

function ReadableStreamHasDefaultReader(stream) {
  return stream.reader !== undefined && !stream.reader.isByob;
}

// Polymorphic controller internal methods.
function ControllerCancelSteps(c, reason) {
  return c.isByte ? ReadableByteStreamControllerCancelSteps(c, reason) : ReadableStreamDefaultControllerCancelSteps(c, reason);
}
function ControllerPullSteps(c, request) {
  if (c.isByte) ReadableByteStreamControllerPullSteps(c, request);
  else ReadableStreamDefaultControllerPullSteps(c, request);
}
function ControllerReleaseSteps(c) {
  if (c.isByte) ReadableByteStreamControllerReleaseSteps(c);
}

// ---- ReadableStreamDefaultController ----------------------------------------------------------
let defaultControllerRecord; // (v) -> DefaultControllerState | undefined
let newDefaultController; // () -> DefaultControllerState with its public object

class ReadableStreamDefaultController {
  #c;
  constructor(key = undefined) {
    if (key !== INTERNAL) throw new TypeError("Illegal constructor");
  }
  get desiredSize() {
    return ReadableStreamDefaultControllerGetDesiredSize(thisDefaultController(this, "desiredSize"));
  }
  close() {
    const c = thisDefaultController(this, "close");
    if (!ReadableStreamDefaultControllerCanCloseOrEnqueue(c)) throw new TypeError("ReadableStreamDefaultController.close: the stream is not in a state that permits close");
    ReadableStreamDefaultControllerClose(c);
  }
  enqueue(chunk = undefined) {
    const c = thisDefaultController(this, "enqueue");
    if (!ReadableStreamDefaultControllerCanCloseOrEnqueue(c)) throw new TypeError("ReadableStreamDefaultController.enqueue: the stream is not in a state that permits enqueue");
    ReadableStreamDefaultControllerEnqueue(c, chunk);
  }
  error(e = undefined) {
    ReadableStreamDefaultControllerError(thisDefaultController(this, "error"), e);
  }
  static {
    defaultControllerRecord = (v) => (isObject(v) && #c in v ? v.#c : undefined);
    newDefaultController = () => {
      const c = new DefaultControllerState();
      const pub = new ReadableStreamDefaultController(INTERNAL);
      pub.#c = c;
      c.pub = pub;
      return c;
    };
    addPlatformBrand((v) => isObject(v) && #c in v);
  }
}
exposeInterface(ReadableStreamDefaultController, "ReadableStreamDefaultController");

function thisDefaultController(self, what) {
  const c = defaultControllerRecord(self);
  if (c === undefined) throw new TypeError(`ReadableStreamDefaultController.${what}: Illegal invocation`);
  return c;
}

function ReadableStreamDefaultControllerCancelSteps(c, reason) {
  ResetQueue(c);
  const result = c.cancelAlgorithm(reason);
  ReadableStreamDefaultControllerClearAlgorithms(c);
  return result;
}

function ReadableStreamDefaultControllerPullSteps(c, request) {
  const stream = c.stream;
  if (c.queue.length > 0) {
    const chunk = DequeueValue(c);
    if (c.closeRequested && c.queue.length === 0) {
      ReadableStreamDefaultControllerClearAlgorithms(c);
      ReadableStreamClose(stream);
    } else {
      ReadableStreamDefaultControllerCallPullIfNeeded(c);
    }
    request.chunkSteps(chunk);
  } else {
    ReadableStreamAddReadRequest(stream, request);
    ReadableStreamDefaultControllerCallPullIfNeeded(c);
  }
}

function ReadableStreamDefaultControllerCallPullIfNeeded(c) {
  if (!ReadableStreamDefaultControllerShouldCallPull(c)) return;
  if (c.pulling) {
    c.pullAgain = true;
    return;
  }
  c.pulling = true;
  uponPromise(c.pullAlgorithm(), () => {
    c.pulling = false;
    if (c.pullAgain) {
      c.pullAgain = false;
      ReadableStreamDefaultControllerCallPullIfNeeded(c);
    }
  }, (e) => {
    ReadableStreamDefaultControllerError(c, e);
  });
}

function ReadableStreamDefaultControllerShouldCallPull(c) {
  const stream = c.stream;
  if (!ReadableStreamDefaultControllerCanCloseOrEnqueue(c)) return false;
  if (!c.started) return false;
  if (IsReadableStreamLocked(stream) && ReadableStreamGetNumReadRequests(stream) > 0) return true;
  return ReadableStreamDefaultControllerGetDesiredSize(c) > 0;
}

function ReadableStreamDefaultControllerClearAlgorithms(c) {
  c.pullAlgorithm = undefined;
  c.cancelAlgorithm = undefined;
  c.strategySizeAlgorithm = undefined;
}

function ReadableStreamDefaultControllerClose(c) {
  if (!ReadableStreamDefaultControllerCanCloseOrEnqueue(c)) return;
  c.closeRequested = true;
  if (c.queue.length === 0) {
    ReadableStreamDefaultControllerClearAlgorithms(c);
    ReadableStreamClose(c.stream);
  }
}

function ReadableStreamDefaultControllerEnqueue(c, chunk) {
  if (!ReadableStreamDefaultControllerCanCloseOrEnqueue(c)) return;
  const stream = c.stream;
  if (IsReadableStreamLocked(stream) && ReadableStreamGetNumReadRequests(stream) > 0) {
    ReadableStreamFulfillReadRequest(stream, chunk, false);
  } else {
    let chunkSize;
    try {
      chunkSize = c.strategySizeAlgorithm(chunk);
    } catch (e) {
      ReadableStreamDefaultControllerError(c, e);
      throw e;
    }
    try {
      EnqueueValueWithSize(c, chunk, chunkSize);
    } catch (e) {
      ReadableStreamDefaultControllerError(c, e);
      throw e;
    }
  }
  ReadableStreamDefaultControllerCallPullIfNeeded(c);
}

function ReadableStreamDefaultControllerError(c, e) {
  const stream = c.stream;
  if (stream.state !== "readable") return;
  ResetQueue(c);
  ReadableStreamDefaultControllerClearAlgorithms(c);
  ReadableStreamError(stream, e);
}

function ReadableStreamDefaultControllerGetDesiredSize(c) {
  const state = c.stream.state;
  if (state === "errored") return null;
  if (state === "closed") return 0;
  return c.strategyHWM - c.queueTotalSize;
}

function ReadableStreamDefaultControllerHasBackpressure(c) {
  return !ReadableStreamDefaultControllerShouldCallPull(c);
}

function ReadableStreamDefaultControllerCanCloseOrEnqueue(c) {
  return !c.closeRequested && c.stream.state === "readable";
}

function SetUpReadableStreamDefaultController(stream, c, startAlgorithm, pullAlgorithm, cancelAlgorithm, highWaterMark, sizeAlgorithm) {
  c.stream = stream;
  ResetQueue(c);
  c.started = c.closeRequested = c.pullAgain = c.pulling = false;
  c.strategySizeAlgorithm = sizeAlgorithm;
  c.strategyHWM = highWaterMark;
  c.pullAlgorithm = pullAlgorithm;
  c.cancelAlgorithm = cancelAlgorithm;
  stream.controller = c;
  const startResult = startAlgorithm();
  uponPromise(promiseResolvedWith(startResult), () => {
    c.started = true;
    ReadableStreamDefaultControllerCallPullIfNeeded(c);
  }, (r) => {
    ReadableStreamDefaultControllerError(c, r);
  });
}

function SetUpReadableStreamDefaultControllerFromUnderlyingSource(stream, source, dict, highWaterMark, sizeAlgorithm) {
  const c = newDefaultController();
  const { start, pull, cancel } = dict;
  const startAlgorithm = start === undefined ? noop : () => ReflectApply(start, source, [c.pub]);
  const pullAlgorithm = pull === undefined ? resolvedUndefined : () => promiseCall(pull, source, [c.pub]);
  const cancelAlgorithm = cancel === undefined ? resolvedUndefined : (reason) => promiseCall(cancel, source, [reason]);
  SetUpReadableStreamDefaultController(stream, c, startAlgorithm, pullAlgorithm, cancelAlgorithm, highWaterMark, sizeAlgorithm);
}

// ---- async iteration (Web IDL default asynchronous iterator) ----------------------------------
const END_OF_ITERATION = {};
let newStreamAsyncIterator; // (reader: ReaderState, preventCancel) -> iterator

class ReadableStreamAsyncIterator {
  #reader;
  #preventCancel;
  #ongoing = null;
  #finished = false;
  constructor(reader, preventCancel) {
    this.#reader = reader;
    this.#preventCancel = preventCancel;
  }
  #nextSteps() {
    if (this.#finished) return promiseResolvedWith({ value: undefined, done: true });
    const reader = this.#reader;
    const d = new Deferred();
    ReadableStreamDefaultReaderRead(reader, {
      chunkSteps: (chunk) => d.resolve(chunk),
      closeSteps: () => {
        ReadableStreamDefaultReaderRelease(reader);
        d.resolve(END_OF_ITERATION);
      },
      errorSteps: (e) => {
        ReadableStreamDefaultReaderRelease(reader);
        d.reject(e);
      },
    });
    return promiseThen(d.promise, (next) => {
      this.#ongoing = null;
      if (next === END_OF_ITERATION) {
        this.#finished = true;
        return { value: undefined, done: true };
      }
      return { value: next, done: false };
    }, (reason) => {
      this.#ongoing = null;
      this.#finished = true;
      throw reason;
    });
  }
  #returnSteps(value) {
    if (this.#finished) return promiseResolvedWith({ value, done: true });
    this.#finished = true;
    const reader = this.#reader;
    if (!this.#preventCancel) {
      const result = ReadableStreamReaderGenericCancel(reader, value);
      ReadableStreamDefaultReaderRelease(reader);
      return result;
    }
    ReadableStreamDefaultReaderRelease(reader);
    return resolvedUndefined();
  }
  next() {
    if (!isObject(this) || !(#reader in this)) return rejectType("next: Illegal invocation");
    const ongoing = this.#ongoing;
    const steps = () => this.#nextSteps();
    this.#ongoing = ongoing !== null ? promiseThen(ongoing, steps, steps) : steps();
    return this.#ongoing;
  }
  return(value) { // one declared parameter: WebIDL's `return(optional any value)` has length 1
    if (!isObject(this) || !(#reader in this)) return rejectType("return: Illegal invocation");
    const ongoing = this.#ongoing;
    const steps = () => this.#returnSteps(value);
    this.#ongoing = ongoing !== null ? promiseThen(ongoing, steps, steps) : steps();
    return promiseThen(this.#ongoing, () => ({ value, done: true }), undefined);
  }
  static {
    newStreamAsyncIterator = (reader, preventCancel) => new ReadableStreamAsyncIterator(reader, preventCancel);
  }
}
{
  const proto = ReadableStreamAsyncIterator.prototype;
  delete proto.constructor;
  ObjectSetPrototypeOf(proto, AsyncIteratorPrototype);
  // Indexed, on a null-prototype descriptor: the streams are built lazily (lazy.js), possibly
  // after tenant code replaced the array iterator or put setters on Object.prototype.
  const keys = ["next", "return"];
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    const d = ObjectGetOwnPropertyDescriptor(proto, key);
    ObjectSetPrototypeOf(d, null);
    d.enumerable = true;
    ObjectDefineProperty(proto, key, d);
  }
  setTag(proto, "ReadableStream AsyncIterator");
}
