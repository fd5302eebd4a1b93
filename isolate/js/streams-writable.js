// ---- streams-writable.js: WritableStream, its default writer and controller.
// Same structure as the readable side: spec operations on internal records, public objects with
// private fields and brand checks. The controller's `signal` comes from newStreamAbortController
// (streams-core.js).

const WritableStreamState = internalClass(class WritableStreamState {
  pub = null;
  state = "writable";
  storedError = undefined;
  writer = undefined; // WriterState
  controller = undefined; // WritableControllerState
  inFlightWriteRequest = undefined; // Deferred
  closeRequest = undefined; // Deferred
  inFlightCloseRequest = undefined; // Deferred
  pendingAbortRequest = undefined; // { promise: Deferred, reason, wasAlreadyErroring }
  writeRequests = new List(); // Deferred
  backpressure = false;
});

const WriterState = internalClass(class WriterState {
  pub = null;
  stream = undefined;
  closed = null; // Deferred
  ready = null; // Deferred
});

const WritableControllerState = internalClass(class WritableControllerState {
  pub = null;
  stream = null;
  queue = null;
  queueTotalSize = 0;
  abortController = null;
  started = false;
  strategyHWM = 1;
  strategySizeAlgorithm = undefined;
  writeAlgorithm = undefined;
  closeAlgorithm = undefined;
  abortAlgorithm = undefined;
});

const CLOSE_SENTINEL = {};
let writableRecord; // (v) -> WritableStreamState | undefined
let newWritableObject; // () -> WritableStreamState with its public object

class WritableStream {
  #s;
  constructor(underlyingSink = undefined, strategy = undefined) {
    const rec = new WritableStreamState();
    rec.pub = this;
    this.#s = rec;
    if (underlyingSink === STREAM_INTERNAL) return;
    const sink = toOptionalObject(underlyingSink, "WritableStream: underlyingSink");
    const strat = convertQueuingStrategy(strategy, "WritableStream: strategy");
    let dict = { abort: undefined, close: undefined, start: undefined, type: undefined, write: undefined };
    if (sink !== undefined) {
      dict = {
        abort: toCallback(sink.abort, "underlyingSink.abort"),
        close: toCallback(sink.close, "underlyingSink.close"),
        start: toCallback(sink.start, "underlyingSink.start"),
        type: sink.type,
        write: toCallback(sink.write, "underlyingSink.write"),
      };
    }
    if (dict.type !== undefined) throw new RangeError("WritableStream: underlyingSink.type is reserved and must be undefined");
    const sizeAlgorithm = ExtractSizeAlgorithm(strat);
    const hwm = ExtractHighWaterMark(strat, 1);
    SetUpWritableStreamDefaultControllerFromUnderlyingSink(rec, sink ?? null, dict, hwm, sizeAlgorithm);
  }
  get locked() {
    return IsWritableStreamLocked(thisWritable(this, "locked"));
  }
  abort(reason = undefined) {
    const s = writableRecord(this);
    if (s === undefined) return rejectType("WritableStream.abort: Illegal invocation");
    if (IsWritableStreamLocked(s)) return rejectType("WritableStream.abort: the stream is locked to a writer");
    return WritableStreamAbort(s, reason);
  }
  close() {
    const s = writableRecord(this);
    if (s === undefined) return rejectType("WritableStream.close: Illegal invocation");
    if (IsWritableStreamLocked(s)) return rejectType("WritableStream.close: the stream is locked to a writer");
    if (WritableStreamCloseQueuedOrInFlight(s)) return rejectType("WritableStream.close: the stream is already closing");
    return WritableStreamClose(s);
  }
  getWriter() {
    return AcquireWritableStreamDefaultWriter(thisWritable(this, "getWriter"), true).pub;
  }
  static {
    writableRecord = (v) => (isObject(v) && #s in v ? v.#s : undefined);
    newWritableObject = () => new WritableStream(STREAM_INTERNAL).#s;
    addPlatformBrand((v) => isObject(v) && #s in v);
  }
}
exposeInterface(WritableStream, "WritableStream");
inspectThroughGetters(WritableStream, ["locked"]);

function thisWritable(self, what) {
  const s = writableRecord(self);
  if (s === undefined) throw new TypeError(`WritableStream.${what}: Illegal invocation`);
  return s;
}

// ---- writer ------------------------------------------------------------------------------------
let writerRecord; // (v) -> WriterState | undefined

class WritableStreamDefaultWriter {
  #w;
  constructor(stream) {
    requireArgs(arguments.length, 1, "WritableStreamDefaultWriter");
    const s = writableRecord(stream);
    if (s === undefined) throw new TypeError("WritableStreamDefaultWriter: the argument must be a WritableStream");
    const w = new WriterState();
    w.pub = this;
    this.#w = w;
    SetUpWritableStreamDefaultWriter(w, s);
  }
  get closed() {
    const w = writerRecord(this);
    if (w === undefined) return rejectType("WritableStreamDefaultWriter.closed: Illegal invocation");
    return w.closed.promise;
  }
  get desiredSize() {
    const w = writerRecord(this);
    if (w === undefined) throw new TypeError("WritableStreamDefaultWriter.desiredSize: Illegal invocation");
    if (w.stream === undefined) throw new TypeError("WritableStreamDefaultWriter.desiredSize: the writer has been released");
    return WritableStreamDefaultWriterGetDesiredSize(w);
  }
  get ready() {
    const w = writerRecord(this);
    if (w === undefined) return rejectType("WritableStreamDefaultWriter.ready: Illegal invocation");
    return w.ready.promise;
  }
  abort(reason = undefined) {
    const w = writerRecord(this);
    if (w === undefined) return rejectType("WritableStreamDefaultWriter.abort: Illegal invocation");
    if (w.stream === undefined) return rejectType("WritableStreamDefaultWriter.abort: the writer has been released");
    return WritableStreamAbort(w.stream, reason);
  }
  close() {
    const w = writerRecord(this);
    if (w === undefined) return rejectType("WritableStreamDefaultWriter.close: Illegal invocation");
    const stream = w.stream;
    if (stream === undefined) return rejectType("WritableStreamDefaultWriter.close: the writer has been released");
    if (WritableStreamCloseQueuedOrInFlight(stream)) return rejectType("WritableStreamDefaultWriter.close: the stream is already closing");
    return WritableStreamClose(stream);
  }
  releaseLock() {
    const w = writerRecord(this);
    if (w === undefined) throw new TypeError("WritableStreamDefaultWriter.releaseLock: Illegal invocation");
    if (w.stream === undefined) return;
    WritableStreamDefaultWriterRelease(w);
  }
  write(chunk = undefined) {
    const w = writerRecord(this);
    if (w === undefined) return rejectType("WritableStreamDefaultWriter.write: Illegal invocation");
    if (w.stream === undefined) return rejectType("WritableStreamDefaultWriter.write: the writer has been released");
    return WritableStreamDefaultWriterWrite(w, chunk);
  }
  static {
    writerRecord = (v) => (isObject(v) && #w in v ? v.#w : undefined);
    addPlatformBrand((v) => isObject(v) && #w in v);
  }
}
exposeInterface(WritableStreamDefaultWriter, "WritableStreamDefaultWriter");

function AcquireWritableStreamDefaultWriter(stream, exposed) {
  if (exposed) return writerRecord(new WritableStreamDefaultWriter(stream.pub));
  const w = new WriterState();
  SetUpWritableStreamDefaultWriter(w, stream);
  return w;
}

function rejectedDeferred(reason) {
  const d = new Deferred();
  d.reject(reason);
  setHandled(d.promise);
  return d;
}
function resolvedDeferred() {
  const d = new Deferred();
  d.resolve(undefined);
  return d;
}

function SetUpWritableStreamDefaultWriter(writer, stream) {
  if (IsWritableStreamLocked(stream)) throw new TypeError("The WritableStream is locked to a writer");
  writer.stream = stream;
  stream.writer = writer;
  const state = stream.state;
  if (state === "writable") {
    writer.ready = !WritableStreamCloseQueuedOrInFlight(stream) && stream.backpressure ? new Deferred() : resolvedDeferred();
    writer.closed = new Deferred();
  } else if (state === "erroring") {
    writer.ready = rejectedDeferred(stream.storedError);
    writer.closed = new Deferred();
  } else if (state === "closed") {
    writer.ready = resolvedDeferred();
    writer.closed = resolvedDeferred();
  } else {
    writer.ready = rejectedDeferred(stream.storedError);
    writer.closed = rejectedDeferred(stream.storedError);
  }
}

function IsWritableStreamLocked(stream) {
  return stream.writer !== undefined;
}

function WritableStreamAbort(stream, reason) {
  if (stream.state === "closed" || stream.state === "errored") return resolvedUndefined();
  stream.controller.abortController.abort(reason);
  const state = stream.state;
  if (state === "closed" || state === "errored") return resolvedUndefined();
  if (stream.pendingAbortRequest !== undefined) return stream.pendingAbortRequest.promise.promise;
  let wasAlreadyErroring = false;
  if (state === "erroring") {
    wasAlreadyErroring = true;
    reason = undefined;
  }
  const promise = new Deferred();
  stream.pendingAbortRequest = { promise, reason, wasAlreadyErroring };
  if (!wasAlreadyErroring) WritableStreamStartErroring(stream, reason);
  return promise.promise;
}

function WritableStreamClose(stream) {
  const state = stream.state;
  if (state === "closed" || state === "errored") return rejectType("The WritableStream is closed or errored");
  const promise = new Deferred();
  stream.closeRequest = promise;
  const writer = stream.writer;
  if (writer !== undefined && stream.backpressure && state === "writable") writer.ready.resolve(undefined);
  WritableStreamDefaultControllerClose(stream.controller);
  return promise.promise;
}

function WritableStreamAddWriteRequest(stream) {
  const promise = new Deferred();
  stream.writeRequests.push(promise);
  return promise.promise;
}

function WritableStreamCloseQueuedOrInFlight(stream) {
  return stream.closeRequest !== undefined || stream.inFlightCloseRequest !== undefined;
}

function WritableStreamDealWithRejection(stream, error) {
  if (stream.state === "writable") {
    WritableStreamStartErroring(stream, error);
    return;
  }
  WritableStreamFinishErroring(stream);
}

function WritableStreamFinishErroring(stream) {
  stream.state = "errored";
  ResetQueue(stream.controller); // [[ErrorSteps]]
  const storedError = stream.storedError;
  const requests = stream.writeRequests;
  stream.writeRequests = new List();
  while (requests.length > 0) requests.shift().reject(storedError);
  if (stream.pendingAbortRequest === undefined) {
    WritableStreamRejectCloseAndClosedPromiseIfNeeded(stream);
    return;
  }
  const abortRequest = stream.pendingAbortRequest;
  stream.pendingAbortRequest = undefined;
  if (abortRequest.wasAlreadyErroring) {
    abortRequest.promise.reject(storedError);
    WritableStreamRejectCloseAndClosedPromiseIfNeeded(stream);
    return;
  }
  const promise = WritableStreamDefaultControllerAbortSteps(stream.controller, abortRequest.reason);
  uponPromise(promise, () => {
    abortRequest.promise.resolve(undefined);
    WritableStreamRejectCloseAndClosedPromiseIfNeeded(stream);
  }, (reason) => {
    abortRequest.promise.reject(reason);
    WritableStreamRejectCloseAndClosedPromiseIfNeeded(stream);
  });
}

function WritableStreamFinishInFlightClose(stream) {
  stream.inFlightCloseRequest.resolve(undefined);
  stream.inFlightCloseRequest = undefined;
  if (stream.state === "erroring") {
    stream.storedError = undefined;
    if (stream.pendingAbortRequest !== undefined) {
      stream.pendingAbortRequest.promise.resolve(undefined);
      stream.pendingAbortRequest = undefined;
    }
  }
  stream.state = "closed";
  const writer = stream.writer;
  if (writer !== undefined) writer.closed.resolve(undefined);
}

function WritableStreamFinishInFlightCloseWithError(stream, error) {
  stream.inFlightCloseRequest.reject(error);
  stream.inFlightCloseRequest = undefined;
  if (stream.pendingAbortRequest !== undefined) {
    stream.pendingAbortRequest.promise.reject(error);
    stream.pendingAbortRequest = undefined;
  }
  WritableStreamDealWithRejection(stream, error);
}

function WritableStreamFinishInFlightWrite(stream) {
  stream.inFlightWriteRequest.resolve(undefined);
  stream.inFlightWriteRequest = undefined;
}

function WritableStreamFinishInFlightWriteWithError(stream, error) {
  stream.inFlightWriteRequest.reject(error);
  stream.inFlightWriteRequest = undefined;
  WritableStreamDealWithRejection(stream, error);
}

function WritableStreamHasOperationMarkedInFlight(stream) {
  return stream.inFlightWriteRequest !== undefined || stream.inFlightCloseRequest !== undefined;
}

function WritableStreamMarkCloseRequestInFlight(stream) {
  stream.inFlightCloseRequest = stream.closeRequest;
  stream.closeRequest = undefined;
}

function WritableStreamMarkFirstWriteRequestInFlight(stream) {
  stream.inFlightWriteRequest = stream.writeRequests.shift();
}

function WritableStreamRejectCloseAndClosedPromiseIfNeeded(stream) {
  if (stream.closeRequest !== undefined) {
    stream.closeRequest.reject(stream.storedError);
    stream.closeRequest = undefined;
  }
  const writer = stream.writer;
  if (writer !== undefined) {
    writer.closed.reject(stream.storedError);
    setHandled(writer.closed.promise);
  }
}

function WritableStreamStartErroring(stream, reason) {
  const controller = stream.controller;
  stream.state = "erroring";
  stream.storedError = reason;
  const writer = stream.writer;
  if (writer !== undefined) WritableStreamDefaultWriterEnsureReadyPromiseRejected(writer, reason);
  if (!WritableStreamHasOperationMarkedInFlight(stream) && controller.started) WritableStreamFinishErroring(stream);
}

function WritableStreamUpdateBackpressure(stream, backpressure) {
  const writer = stream.writer;
  if (writer !== undefined && backpressure !== stream.backpressure) {
    if (backpressure) writer.ready = new Deferred();
    else writer.ready.resolve(undefined);
  }
  stream.backpressure = backpressure;
}

function WritableStreamDefaultWriterCloseWithErrorPropagation(writer) {
  const stream = writer.stream;
  const state = stream.state;
  if (WritableStreamCloseQueuedOrInFlight(stream) || state === "closed") return resolvedUndefined();
  if (state === "errored") return promiseRejectedWith(stream.storedError);
  return WritableStreamClose(stream);
}

function WritableStreamDefaultWriterEnsureClosedPromiseRejected(writer, error) {
  if (writer.closed.state === 0) writer.closed.reject(error);
  else writer.closed = rejectedDeferred(error);
  setHandled(writer.closed.promise);
}

function WritableStreamDefaultWriterEnsureReadyPromiseRejected(writer, error) {
  if (writer.ready.state === 0) writer.ready.reject(error);
  else writer.ready = rejectedDeferred(error);
  setHandled(writer.ready.promise);
}

function WritableStreamDefaultWriterGetDesiredSize(writer) {
  const stream = writer.stream;
  const state = stream.state;
  if (state === "errored" || state === "erroring") return null;
  if (state === "closed") return 0;
  return WritableStreamDefaultControllerGetDesiredSize(stream.controller);
}

function WritableStreamDefaultWriterRelease(writer) {
  const stream = writer.stream;
  const releasedError = new TypeError("The writer's lock on the stream was released");
  WritableStreamDefaultWriterEnsureReadyPromiseRejected(writer, releasedError);
  WritableStreamDefaultWriterEnsureClosedPromiseRejected(writer, releasedError);
  stream.writer = undefined;
  writer.stream = undefined;
}

function WritableStreamDefaultWriterWrite(writer, chunk) {
  const stream = writer.stream;
  const controller = stream.controller;
  const chunkSize = WritableStreamDefaultControllerGetChunkSize(controller, chunk);
  if (stream !== writer.stream) return rejectType("The writer's lock was released while sizing the chunk");
  const state = stream.state;
  if (state === "errored") return promiseRejectedWith(stream.storedError);
  if (WritableStreamCloseQueuedOrInFlight(stream) || state === "closed") return rejectType("The WritableStream is closing or closed");
  if (state === "erroring") return promiseRejectedWith(stream.storedError);
  const promise = WritableStreamAddWriteRequest(stream);
  WritableStreamDefaultControllerWrite(controller, chunk, chunkSize);
  return promise;
}

// ---- WritableStreamDefaultController ----------------------------------------------------------
let writableControllerRecord; // (v) -> WritableControllerState | undefined
let newWritableController; // () -> WritableControllerState with its public object

class WritableStreamDefaultController {
  #c;
  constructor(key = undefined) {
    if (key !== INTERNAL) throw new TypeError("Illegal constructor");
  }
  get signal() {
    return thisWritableController(this, "signal").abortController.signal;
  }
  error(e = undefined) {
    const c = thisWritableController(this, "error");
    if (c.stream.state !== "writable") return;
    WritableStreamDefaultControllerError(c, e);
  }
  static {
    writableControllerRecord = (v) => (isObject(v) && #c in v ? v.#c : undefined);
    newWritableController = () => {
      const c = new WritableControllerState();
      const pub = new WritableStreamDefaultController(INTERNAL);
      pub.#c = c;
      c.pub = pub;
      return c;
    };
    addPlatformBrand((v) => isObject(v) && #c in v);
  }
}
exposeInterface(WritableStreamDefaultController, "WritableStreamDefaultController");

function thisWritableController(self, what) {
  const c = writableControllerRecord(self);
  if (c === undefined) throw new TypeError(`WritableStreamDefaultController.${what}: Illegal invocation`);
  return c;
}

function WritableStreamDefaultControllerAbortSteps(c, reason) {
  const result = c.abortAlgorithm(reason);
  WritableStreamDefaultControllerClearAlgorithms(c);
  return result;
}

function CreateWritableStream(startAlgorithm, writeAlgorithm, closeAlgorithm, abortAlgorithm, highWaterMark, sizeAlgorithm) {
  const stream = newWritableObject();
  SetUpWritableStreamDefaultController(stream, newWritableController(), startAlgorithm, writeAlgorithm, closeAlgorithm, abortAlgorithm, highWaterMark, sizeAlgorithm);
  return stream;
}

function SetUpWritableStreamDefaultController(stream, c, startAlgorithm, writeAlgorithm, closeAlgorithm, abortAlgorithm, highWaterMark, sizeAlgorithm) {
  c.stream = stream;
  stream.controller = c;
  ResetQueue(c);
  c.abortController = newStreamAbortController();
  c.started = false;
  c.strategySizeAlgorithm = sizeAlgorithm;
  c.strategyHWM = highWaterMark;
  c.writeAlgorithm = writeAlgorithm;
  c.closeAlgorithm = closeAlgorithm;
  c.abortAlgorithm = abortAlgorithm;
  WritableStreamUpdateBackpressure(stream, WritableStreamDefaultControllerGetBackpressure(c));
  const startResult = startAlgorithm();
  uponPromise(promiseResolvedWith(startResult), () => {
    c.started = true;
    WritableStreamDefaultControllerAdvanceQueueIfNeeded(c);
  }, (r) => {
    c.started = true;
    WritableStreamDealWithRejection(stream, r);
  });
}

function SetUpWritableStreamDefaultControllerFromUnderlyingSink(stream, sink, dict, highWaterMark, sizeAlgorithm) {
  const c = newWritableController();
  const { start, write, close, abort } = dict;
  const startAlgorithm = start === undefined ? noop : () => ReflectApply(start, sink, [c.pub]);
  const writeAlgorithm = write === undefined ? resolvedUndefined : (chunk) => promiseCall(write, sink, [chunk, c.pub]);
  const closeAlgorithm = close === undefined ? resolvedUndefined : () => promiseCall(close, sink, []);
  const abortAlgorithm = abort === undefined ? resolvedUndefined : (reason) => promiseCall(abort, sink, [reason]);
  SetUpWritableStreamDefaultController(stream, c, startAlgorithm, writeAlgorithm, closeAlgorithm, abortAlgorithm, highWaterMark, sizeAlgorithm);
}

function WritableStreamDefaultControllerAdvanceQueueIfNeeded(c) {
  const stream = c.stream;
  if (!c.started) return;
  if (stream.inFlightWriteRequest !== undefined) return;
  if (stream.state === "erroring") {
    WritableStreamFinishErroring(stream);
    return;
  }
  if (c.queue.length === 0) return;
  const value = PeekQueueValue(c);
  if (value === CLOSE_SENTINEL) WritableStreamDefaultControllerProcessClose(c);
  else WritableStreamDefaultControllerProcessWrite(c, value);
}

function WritableStreamDefaultControllerClearAlgorithms(c) {
  c.writeAlgorithm = undefined;
  c.closeAlgorithm = undefined;
  c.abortAlgorithm = undefined;
  c.strategySizeAlgorithm = undefined;
}

function WritableStreamDefaultControllerClose(c) {
  EnqueueValueWithSize(c, CLOSE_SENTINEL, 0);
  WritableStreamDefaultControllerAdvanceQueueIfNeeded(c);
}

function WritableStreamDefaultControllerError(c, error) {
  WritableStreamDefaultControllerClearAlgorithms(c);
  WritableStreamStartErroring(c.stream, error);
}

function WritableStreamDefaultControllerErrorIfNeeded(c, error) {
  if (c.stream.state === "writable") WritableStreamDefaultControllerError(c, error);
}

function WritableStreamDefaultControllerGetBackpressure(c) {
  return WritableStreamDefaultControllerGetDesiredSize(c) <= 0;
}

function WritableStreamDefaultControllerGetChunkSize(c, chunk) {
  if (c.strategySizeAlgorithm === undefined) return 1;
  try {
    return c.strategySizeAlgorithm(chunk);
  } catch (e) {
    WritableStreamDefaultControllerErrorIfNeeded(c, e);
    return 1;
  }
}

function WritableStreamDefaultControllerGetDesiredSize(c) {
  return c.strategyHWM - c.queueTotalSize;
}

function WritableStreamDefaultControllerProcessClose(c) {
  const stream = c.stream;
  WritableStreamMarkCloseRequestInFlight(stream);
  DequeueValue(c);
  const sinkClosePromise = c.closeAlgorithm();
  WritableStreamDefaultControllerClearAlgorithms(c);
  uponPromise(sinkClosePromise, () => {
    WritableStreamFinishInFlightClose(stream);
  }, (reason) => {
    WritableStreamFinishInFlightCloseWithError(stream, reason);
  });
}

function WritableStreamDefaultControllerProcessWrite(c, chunk) {
  const stream = c.stream;
  WritableStreamMarkFirstWriteRequestInFlight(stream);
  uponPromise(c.writeAlgorithm(chunk), () => {
    WritableStreamFinishInFlightWrite(stream);
    const state = stream.state;
    DequeueValue(c);
    if (!WritableStreamCloseQueuedOrInFlight(stream) && state === "writable") {
      WritableStreamUpdateBackpressure(stream, WritableStreamDefaultControllerGetBackpressure(c));
    }
    WritableStreamDefaultControllerAdvanceQueueIfNeeded(c);
  }, (reason) => {
    if (stream.state === "writable") WritableStreamDefaultControllerClearAlgorithms(c);
    WritableStreamFinishInFlightWriteWithError(stream, reason);
  });
}

function WritableStreamDefaultControllerWrite(c, chunk, chunkSize) {
  try {
    EnqueueValueWithSize(c, chunk, chunkSize);
  } catch (e) {
    WritableStreamDefaultControllerErrorIfNeeded(c, e);
    return;
  }
  const stream = c.stream;
  if (!WritableStreamCloseQueuedOrInFlight(stream) && stream.state === "writable") {
    WritableStreamUpdateBackpressure(stream, WritableStreamDefaultControllerGetBackpressure(c));
  }
  WritableStreamDefaultControllerAdvanceQueueIfNeeded(c);
}
