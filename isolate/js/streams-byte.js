// ---- streams-byte.js: readable byte streams (byte controller, BYOB readers). -
// Chunks move between producer and consumer by transferring their ArrayBuffers
// (ArrayBuffer.prototype.transfer detaches the original), exactly where the spec transfers.
// Guarantees: a view handed to a consumer never aliases memory the producer still holds, except
// a BYOB request's view, which is the consumer's own buffer by design.

const PullIntoDescriptor = internalClass(class PullIntoDescriptor {
  buffer;
  bufferByteLength;
  byteOffset;
  byteLength;
  bytesFilled = 0;
  minimumFill;
  elementSize;
  viewConstructor;
  readerType;
  constructor(buffer, bufferByteLength, byteOffset, byteLength, minimumFill, elementSize, viewConstructor, readerType) {
    this.buffer = buffer;
    this.bufferByteLength = bufferByteLength;
    this.byteOffset = byteOffset;
    this.byteLength = byteLength;
    this.minimumFill = minimumFill;
    this.elementSize = elementSize;
    this.viewConstructor = viewConstructor;
    this.readerType = readerType;
  }
});

const ByteQueueEntry = internalClass(class ByteQueueEntry {
  buffer;
  byteOffset;
  byteLength;
  constructor(buffer, byteOffset, byteLength) {
    this.buffer = buffer;
    this.byteOffset = byteOffset;
    this.byteLength = byteLength;
  }
});

const ByteControllerState = internalClass(class ByteControllerState {
  pub = null;
  isByte = true;
  stream = null;
  autoAllocateChunkSize = undefined;
  byobRequest = null; // BYOBRequestState
  cancelAlgorithm = undefined;
  closeRequested = false;
  pullAgain = false;
  pullAlgorithm = undefined;
  pulling = false;
  pendingPullIntos = new List();
  queue = new List();
  queueTotalSize = 0;
  started = false;
  strategyHWM = 0;
});

const BYOBRequestState = internalClass(class BYOBRequestState {
  pub = null;
  controller = undefined;
  view = null;
});

let byteControllerRecord; // (v) -> ByteControllerState | undefined
let newByteController; // () -> ByteControllerState with its public object

class ReadableByteStreamController {
  #c;
  constructor(key = undefined) {
    if (key !== INTERNAL) throw new TypeError("Illegal constructor");
  }
  get byobRequest() {
    const request = ReadableByteStreamControllerGetBYOBRequest(thisByteController(this, "byobRequest"));
    return request === null ? null : request.pub;
  }
  get desiredSize() {
    return ReadableByteStreamControllerGetDesiredSize(thisByteController(this, "desiredSize"));
  }
  close() {
    const c = thisByteController(this, "close");
    if (c.closeRequested) throw new TypeError("ReadableByteStreamController.close: the stream is already closing");
    if (c.stream.state !== "readable") throw new TypeError("ReadableByteStreamController.close: the stream is not readable");
    ReadableByteStreamControllerClose(c);
  }
  enqueue(chunk) {
    const c = thisByteController(this, "enqueue");
    requireArgs(arguments.length, 1, "ReadableByteStreamController.enqueue");
    toArrayBufferView(chunk, "ReadableByteStreamController.enqueue: chunk");
    if (viewByteLength(chunk) === 0) throw new TypeError("ReadableByteStreamController.enqueue: the chunk is empty");
    if (arrayBufferByteLength(viewBuffer(chunk)) === 0) throw new TypeError("ReadableByteStreamController.enqueue: the chunk's buffer is empty");
    if (c.closeRequested) throw new TypeError("ReadableByteStreamController.enqueue: the stream is closing");
    if (c.stream.state !== "readable") throw new TypeError("ReadableByteStreamController.enqueue: the stream is not readable");
    ReadableByteStreamControllerEnqueue(c, chunk);
  }
  error(e = undefined) {
    ReadableByteStreamControllerError(thisByteController(this, "error"), e);
  }
  static {
    byteControllerRecord = (v) => (isObject(v) && #c in v ? v.#c : undefined);
    newByteController = () => {
      const c = new ByteControllerState();
      const pub = new ReadableByteStreamController(INTERNAL);
      pub.#c = c;
      c.pub = pub;
      return c;
    };
    addPlatformBrand((v) => isObject(v) && #c in v);
  }
}
exposeInterface(ReadableByteStreamController, "ReadableByteStreamController");

function thisByteController(self, what) {
  const c = byteControllerRecord(self);
  if (c === undefined) throw new TypeError(`ReadableByteStreamController.${what}: Illegal invocation`);
  return c;
}

let byobRequestRecord; // (v) -> BYOBRequestState | undefined
let newBYOBRequest; // (controller, view) -> BYOBRequestState

class ReadableStreamBYOBRequest {
  #q;
  constructor(key = undefined) {
    if (key !== INTERNAL) throw new TypeError("Illegal constructor");
  }
  get view() {
    return thisBYOBRequest(this, "view").view;
  }
  respond(bytesWritten) {
    const q = thisBYOBRequest(this, "respond");
    requireArgs(arguments.length, 1, "ReadableStreamBYOBRequest.respond");
    const n = toEnforcedULL(bytesWritten, "ReadableStreamBYOBRequest.respond: bytesWritten");
    if (q.controller === undefined) throw new TypeError("ReadableStreamBYOBRequest.respond: the request is no longer valid");
    if (IsDetachedBuffer(typedArrayBuffer(q.view))) throw new TypeError("ReadableStreamBYOBRequest.respond: the view's buffer is detached");
    ReadableByteStreamControllerRespond(q.controller, n);
  }
  respondWithNewView(view) {
    const q = thisBYOBRequest(this, "respondWithNewView");
    requireArgs(arguments.length, 1, "ReadableStreamBYOBRequest.respondWithNewView");
    toArrayBufferView(view, "ReadableStreamBYOBRequest.respondWithNewView: view");
    if (q.controller === undefined) throw new TypeError("ReadableStreamBYOBRequest.respondWithNewView: the request is no longer valid");
    if (IsDetachedBuffer(viewBuffer(view))) throw new TypeError("ReadableStreamBYOBRequest.respondWithNewView: the view's buffer is detached");
    ReadableByteStreamControllerRespondWithNewView(q.controller, view);
  }
  static {
    byobRequestRecord = (v) => (isObject(v) && #q in v ? v.#q : undefined);
    newBYOBRequest = (controller, view) => {
      const q = new BYOBRequestState();
      const pub = new ReadableStreamBYOBRequest(INTERNAL);
      pub.#q = q;
      q.pub = pub;
      q.controller = controller;
      q.view = view;
      return q;
    };
    addPlatformBrand((v) => isObject(v) && #q in v);
  }
}
exposeInterface(ReadableStreamBYOBRequest, "ReadableStreamBYOBRequest");

function thisBYOBRequest(self, what) {
  const q = byobRequestRecord(self);
  if (q === undefined) throw new TypeError(`ReadableStreamBYOBRequest.${what}: Illegal invocation`);
  return q;
}

// ---- BYOB reader -------------------------------------------------------------------------------
let byobReaderRecord; // (v) -> ReaderState | undefined

class ReadableStreamBYOBReader {
  #r;
  constructor(stream) {
    requireArgs(arguments.length, 1, "ReadableStreamBYOBReader");
    const s = streamRecord(stream);
    if (s === undefined) throw new TypeError("ReadableStreamBYOBReader: the argument must be a ReadableStream");
    const r = new ReaderState();
    r.pub = this;
    r.isByob = true;
    this.#r = r;
    SetUpReadableStreamBYOBReader(r, s);
  }
  get closed() {
    const r = byobReaderRecord(this);
    if (r === undefined) return rejectType("ReadableStreamBYOBReader.closed: Illegal invocation");
    return r.closed.promise;
  }
  cancel(reason = undefined) {
    const r = byobReaderRecord(this);
    if (r === undefined) return rejectType("ReadableStreamBYOBReader.cancel: Illegal invocation");
    if (r.stream === undefined) return rejectType("ReadableStreamBYOBReader.cancel: the reader has been released");
    return ReadableStreamReaderGenericCancel(r, reason);
  }
  read(view, options = undefined) {
    const r = byobReaderRecord(this);
    if (r === undefined) return rejectType("ReadableStreamBYOBReader.read: Illegal invocation");
    let min;
    try {
      requireArgs(arguments.length, 1, "ReadableStreamBYOBReader.read");
      toArrayBufferView(view, "ReadableStreamBYOBReader.read: view");
      const dict = toDictionary(options, "ReadableStreamBYOBReader.read: options");
      const m = dict === undefined ? undefined : dict.min;
      min = m === undefined ? 1 : toEnforcedULL(m, "ReadableStreamBYOBReader.read: options.min");
    } catch (e) {
      return promiseRejectedWith(e);
    }
    if (viewByteLength(view) === 0) return rejectType("ReadableStreamBYOBReader.read: the view is empty");
    const buffer = viewBuffer(view);
    if (arrayBufferByteLength(buffer) === 0) return rejectType("ReadableStreamBYOBReader.read: the view's buffer is empty");
    if (IsDetachedBuffer(buffer)) return rejectType("ReadableStreamBYOBReader.read: the view's buffer is detached");
    if (min === 0) return rejectType("ReadableStreamBYOBReader.read: options.min must be positive");
    const limit = typedArrayName(view) !== undefined ? typedArrayLength(view) : dataViewByteLength(view);
    if (min > limit) return promiseRejectedWith(new RangeError("ReadableStreamBYOBReader.read: options.min exceeds the view's length"));
    if (r.stream === undefined) return rejectType("ReadableStreamBYOBReader.read: the reader has been released");
    const request = new PromiseReadRequest();
    ReadableStreamBYOBReaderRead(r, view, min, request);
    return request.d.promise;
  }
  /** workerd's: read() until at least `minBytes` bytes fill `view` (the end of the stream
   *  excepted); the standard's `read(view, { min })` counts elements instead. */
  readAtLeast(minBytes, view) {
    const name = isObject(view) ? typedArrayName(view) : undefined;
    const size = name !== undefined ? ELEMENT_SIZES[name] : 1;
    const bytes = +minBytes;
    if (!(bytes >= 1)) return rejectType("ReadableStreamBYOBReader.readAtLeast: minBytes must be positive");
    return this.read(view, { __proto__: null, min: -MathFloor(-bytes / size) });
  }
  releaseLock() {
    const r = byobReaderRecord(this);
    if (r === undefined) throw new TypeError("ReadableStreamBYOBReader.releaseLock: Illegal invocation");
    if (r.stream === undefined) return;
    ReadableStreamBYOBReaderRelease(r);
  }
  static {
    byobReaderRecord = (v) => (isObject(v) && #r in v ? v.#r : undefined);
    addPlatformBrand((v) => isObject(v) && #r in v);
  }
}
exposeInterface(ReadableStreamBYOBReader, "ReadableStreamBYOBReader");

function AcquireReadableStreamBYOBReader(stream, exposed) {
  if (exposed) return byobReaderRecord(new ReadableStreamBYOBReader(stream.pub));
  const r = new ReaderState();
  r.isByob = true;
  SetUpReadableStreamBYOBReader(r, stream);
  return r;
}

function SetUpReadableStreamBYOBReader(reader, stream) {
  if (IsReadableStreamLocked(stream)) throw new TypeError("The ReadableStream is locked to a reader");
  if (!stream.controller.isByte) throw new TypeError("A BYOB reader needs a readable byte stream");
  ReadableStreamReaderGenericInitialize(reader, stream);
  reader.requests = new List();
}

function ReadableStreamBYOBReaderErrorReadIntoRequests(reader, e) {
  const requests = reader.requests;
  reader.requests = new List();
  while (requests.length > 0) requests.shift().errorSteps(e);
}

function ReadableStreamBYOBReaderRead(reader, view, min, request) {
  const stream = reader.stream;
  stream.disturbed = true;
  if (stream.state === "errored") request.errorSteps(stream.storedError);
  else ReadableByteStreamControllerPullInto(stream.controller, view, min, request);
}

function ReadableStreamBYOBReaderRelease(reader) {
  ReadableStreamReaderGenericRelease(reader);
  ReadableStreamBYOBReaderErrorReadIntoRequests(reader, new TypeError("The reader's lock on the stream was released"));
}

function ReadableStreamAddReadIntoRequest(stream, request) {
  stream.reader.requests.push(request);
}

function ReadableStreamFulfillReadIntoRequest(stream, chunk, done) {
  const request = stream.reader.requests.shift();
  if (done) request.closeSteps(chunk);
  else request.chunkSteps(chunk);
}

function ReadableStreamGetNumReadIntoRequests(stream) {
  return stream.reader.requests.length;
}

function ReadableStreamHasBYOBReader(stream) {
  return stream.reader !== undefined && stream.reader.isByob;
}

// ---- byte stream controller operations ---------------------------------------------------------
function ReadableByteStreamControllerCancelSteps(c, reason) {
  ReadableByteStreamControllerClearPendingPullIntos(c);
  ResetQueue(c);
  const result = c.cancelAlgorithm(reason);
  ReadableByteStreamControllerClearAlgorithms(c);
  return result;
}

function ReadableByteStreamControllerPullSteps(c, request) {
  const stream = c.stream;
  if (c.queueTotalSize > 0) {
    ReadableByteStreamControllerFillReadRequestFromQueue(c, request);
    return;
  }
  const size = c.autoAllocateChunkSize;
  if (size !== undefined) {
    let buffer;
    try {
      buffer = new ArrayBufferCtor(size);
    } catch (e) {
      request.errorSteps(e);
      return;
    }
    c.pendingPullIntos.push(new PullIntoDescriptor(buffer, size, 0, size, 1, 1, Uint8ArrayCtor, "default"));
  }
  ReadableStreamAddReadRequest(stream, request);
  ReadableByteStreamControllerCallPullIfNeeded(c);
}

function ReadableByteStreamControllerReleaseSteps(c) {
  if (c.pendingPullIntos.length > 0) {
    const first = c.pendingPullIntos.peek();
    first.readerType = "none";
    c.pendingPullIntos = new List();
    c.pendingPullIntos.push(first);
  }
}

function ReadableByteStreamControllerCallPullIfNeeded(c) {
  if (!ReadableByteStreamControllerShouldCallPull(c)) return;
  if (c.pulling) {
    c.pullAgain = true;
    return;
  }
  c.pulling = true;
  uponPromise(c.pullAlgorithm(), () => {
    c.pulling = false;
    if (c.pullAgain) {
      c.pullAgain = false;
      ReadableByteStreamControllerCallPullIfNeeded(c);
    }
  }, (e) => {
    ReadableByteStreamControllerError(c, e);
  });
}

function ReadableByteStreamControllerClearAlgorithms(c) {
  c.pullAlgorithm = undefined;
  c.cancelAlgorithm = undefined;
}

function ReadableByteStreamControllerClearPendingPullIntos(c) {
  ReadableByteStreamControllerInvalidateBYOBRequest(c);
  c.pendingPullIntos = new List();
}

function ReadableByteStreamControllerClose(c) {
  const stream = c.stream;
  if (c.closeRequested || stream.state !== "readable") return;
  if (c.queueTotalSize > 0) {
    c.closeRequested = true;
    return;
  }
  if (c.pendingPullIntos.length > 0) {
    const first = c.pendingPullIntos.peek();
    if (first.bytesFilled % first.elementSize !== 0) {
      const e = new TypeError("The stream closed with a partial element left in the BYOB request");
      ReadableByteStreamControllerError(c, e);
      throw e;
    }
  }
  ReadableByteStreamControllerClearAlgorithms(c);
  ReadableStreamClose(stream);
}

function ReadableByteStreamControllerCommitPullIntoDescriptor(stream, desc) {
  const done = stream.state === "closed";
  const filledView = ReadableByteStreamControllerConvertPullIntoDescriptor(desc);
  if (desc.readerType === "default") ReadableStreamFulfillReadRequest(stream, filledView, done);
  else ReadableStreamFulfillReadIntoRequest(stream, filledView, done);
}

function ReadableByteStreamControllerConvertPullIntoDescriptor(desc) {
  const buffer = TransferArrayBuffer(desc.buffer);
  return new desc.viewConstructor(buffer, desc.byteOffset, desc.bytesFilled / desc.elementSize);
}

function ReadableByteStreamControllerEnqueue(c, chunk) {
  const stream = c.stream;
  if (c.closeRequested || stream.state !== "readable") return;
  const buffer = viewBuffer(chunk);
  const byteOffset = viewByteOffset(chunk);
  const byteLength = viewByteLength(chunk);
  if (IsDetachedBuffer(buffer)) throw new TypeError("The chunk's buffer is detached");
  const transferred = TransferArrayBuffer(buffer);
  if (c.pendingPullIntos.length > 0) {
    const first = c.pendingPullIntos.peek();
    if (IsDetachedBuffer(first.buffer)) throw new TypeError("The BYOB request's buffer is detached");
    ReadableByteStreamControllerInvalidateBYOBRequest(c);
    first.buffer = TransferArrayBuffer(first.buffer);
    if (first.readerType === "none") ReadableByteStreamControllerEnqueueDetachedPullIntoToQueue(c, first);
  }
  if (ReadableStreamHasDefaultReader(stream)) {
    ReadableByteStreamControllerProcessReadRequestsUsingQueue(c);
    if (ReadableStreamGetNumReadRequests(stream) === 0) {
      ReadableByteStreamControllerEnqueueChunkToQueue(c, transferred, byteOffset, byteLength);
    } else {
      if (c.pendingPullIntos.length > 0) ReadableByteStreamControllerShiftPendingPullInto(c);
      ReadableStreamFulfillReadRequest(stream, new Uint8ArrayCtor(transferred, byteOffset, byteLength), false);
    }
  } else if (ReadableStreamHasBYOBReader(stream)) {
    ReadableByteStreamControllerEnqueueChunkToQueue(c, transferred, byteOffset, byteLength);
    const filled = ReadableByteStreamControllerProcessPullIntoDescriptorsUsingQueue(c);
    for (let i = 0; i < filled.length; i++) ReadableByteStreamControllerCommitPullIntoDescriptor(stream, filled[i]);
  } else {
    ReadableByteStreamControllerEnqueueChunkToQueue(c, transferred, byteOffset, byteLength);
  }
  ReadableByteStreamControllerCallPullIfNeeded(c);
}

function ReadableByteStreamControllerEnqueueChunkToQueue(c, buffer, byteOffset, byteLength) {
  c.queue.push(new ByteQueueEntry(buffer, byteOffset, byteLength));
  c.queueTotalSize += byteLength;
}

function ReadableByteStreamControllerEnqueueClonedChunkToQueue(c, buffer, byteOffset, byteLength) {
  let clone;
  try {
    clone = CloneArrayBuffer(buffer, byteOffset, byteLength);
  } catch (e) {
    ReadableByteStreamControllerError(c, e);
    throw e;
  }
  ReadableByteStreamControllerEnqueueChunkToQueue(c, clone, 0, byteLength);
}

function ReadableByteStreamControllerEnqueueDetachedPullIntoToQueue(c, desc) {
  if (desc.bytesFilled > 0) ReadableByteStreamControllerEnqueueClonedChunkToQueue(c, desc.buffer, desc.byteOffset, desc.bytesFilled);
  ReadableByteStreamControllerShiftPendingPullInto(c);
}

function ReadableByteStreamControllerError(c, e) {
  const stream = c.stream;
  if (stream.state !== "readable") return;
  ReadableByteStreamControllerClearPendingPullIntos(c);
  ResetQueue(c);
  ReadableByteStreamControllerClearAlgorithms(c);
  ReadableStreamError(stream, e);
}

function ReadableByteStreamControllerFillHeadPullIntoDescriptor(c, size, desc) {
  desc.bytesFilled += size;
}

function ReadableByteStreamControllerFillPullIntoDescriptorFromQueue(c, desc) {
  const maxBytesToCopy = MathMin(c.queueTotalSize, desc.byteLength - desc.bytesFilled);
  const maxBytesFilled = desc.bytesFilled + maxBytesToCopy;
  let totalBytesToCopyRemaining = maxBytesToCopy;
  let ready = false;
  const remainderBytes = maxBytesFilled % desc.elementSize;
  const maxAlignedBytes = maxBytesFilled - remainderBytes;
  if (maxAlignedBytes >= desc.minimumFill) {
    totalBytesToCopyRemaining = maxAlignedBytes - desc.bytesFilled;
    ready = true;
  }
  const queue = c.queue;
  while (totalBytesToCopyRemaining > 0) {
    const head = queue.peek();
    const bytesToCopy = MathMin(totalBytesToCopyRemaining, head.byteLength);
    const destStart = desc.byteOffset + desc.bytesFilled;
    if (head.buffer === desc.buffer || IsDetachedBuffer(desc.buffer) || IsDetachedBuffer(head.buffer) ||
        destStart + bytesToCopy > arrayBufferByteLength(desc.buffer) ||
        head.byteOffset + bytesToCopy > arrayBufferByteLength(head.buffer)) {
      throw new TypeError("stockade streams: internal invariant broken (CanCopyDataBlockBytes)");
    }
    copyBytes(desc.buffer, destStart, head.buffer, head.byteOffset, bytesToCopy);
    if (head.byteLength === bytesToCopy) {
      queue.shift();
    } else {
      head.byteOffset += bytesToCopy;
      head.byteLength -= bytesToCopy;
    }
    c.queueTotalSize -= bytesToCopy;
    ReadableByteStreamControllerFillHeadPullIntoDescriptor(c, bytesToCopy, desc);
    totalBytesToCopyRemaining -= bytesToCopy;
  }
  return ready;
}

function ReadableByteStreamControllerFillReadRequestFromQueue(c, request) {
  const entry = c.queue.shift();
  c.queueTotalSize -= entry.byteLength;
  ReadableByteStreamControllerHandleQueueDrain(c);
  request.chunkSteps(new Uint8ArrayCtor(entry.buffer, entry.byteOffset, entry.byteLength));
}

function ReadableByteStreamControllerGetBYOBRequest(c) {
  if (c.byobRequest === null && c.pendingPullIntos.length > 0) {
    const first = c.pendingPullIntos.peek();
    const view = new Uint8ArrayCtor(first.buffer, first.byteOffset + first.bytesFilled, first.byteLength - first.bytesFilled);
    c.byobRequest = newBYOBRequest(c, view);
  }
  return c.byobRequest;
}

function ReadableByteStreamControllerGetDesiredSize(c) {
  const state = c.stream.state;
  if (state === "errored") return null;
  if (state === "closed") return 0;
  return c.strategyHWM - c.queueTotalSize;
}

function ReadableByteStreamControllerHandleQueueDrain(c) {
  if (c.queueTotalSize === 0 && c.closeRequested) {
    ReadableByteStreamControllerClearAlgorithms(c);
    ReadableStreamClose(c.stream);
  } else {
    ReadableByteStreamControllerCallPullIfNeeded(c);
  }
}

function ReadableByteStreamControllerInvalidateBYOBRequest(c) {
  if (c.byobRequest === null) return;
  c.byobRequest.controller = undefined;
  c.byobRequest.view = null;
  c.byobRequest = null;
}

function ReadableByteStreamControllerProcessPullIntoDescriptorsUsingQueue(c) {
  const filled = [];
  while (c.pendingPullIntos.length > 0) {
    if (c.queueTotalSize === 0) break;
    const desc = c.pendingPullIntos.peek();
    if (ReadableByteStreamControllerFillPullIntoDescriptorFromQueue(c, desc)) {
      ReadableByteStreamControllerShiftPendingPullInto(c);
      ObjectDefineProperty(filled, filled.length, { value: desc, writable: true, enumerable: true, configurable: true });
    }
  }
  return filled;
}

function ReadableByteStreamControllerProcessReadRequestsUsingQueue(c) {
  const reader = c.stream.reader;
  while (reader.requests.length > 0) {
    if (c.queueTotalSize === 0) return;
    ReadableByteStreamControllerFillReadRequestFromQueue(c, reader.requests.shift());
  }
}

function ReadableByteStreamControllerPullInto(c, view, min, request) {
  const stream = c.stream;
  let elementSize = 1;
  let ctor = DataViewCtor;
  const name = typedArrayName(view);
  if (name !== undefined) {
    elementSize = ELEMENT_SIZES[name];
    ctor = VIEW_CONSTRUCTORS[name];
  }
  const minimumFill = min * elementSize;
  const byteOffset = viewByteOffset(view);
  const byteLength = viewByteLength(view);
  let buffer;
  try {
    buffer = TransferArrayBuffer(viewBuffer(view));
  } catch (e) {
    request.errorSteps(e);
    return;
  }
  const desc = new PullIntoDescriptor(buffer, arrayBufferByteLength(buffer), byteOffset, byteLength, minimumFill, elementSize, ctor, "byob");
  if (c.pendingPullIntos.length > 0) {
    c.pendingPullIntos.push(desc);
    ReadableStreamAddReadIntoRequest(stream, request);
    return;
  }
  if (stream.state === "closed") {
    request.closeSteps(new ctor(desc.buffer, desc.byteOffset, 0));
    return;
  }
  if (c.queueTotalSize > 0) {
    if (ReadableByteStreamControllerFillPullIntoDescriptorFromQueue(c, desc)) {
      const filledView = ReadableByteStreamControllerConvertPullIntoDescriptor(desc);
      ReadableByteStreamControllerHandleQueueDrain(c);
      request.chunkSteps(filledView);
      return;
    }
    if (c.closeRequested) {
      const e = new TypeError("The stream closed before the BYOB request could be filled");
      ReadableByteStreamControllerError(c, e);
      request.errorSteps(e);
      return;
    }
  }
  c.pendingPullIntos.push(desc);
  ReadableStreamAddReadIntoRequest(stream, request);
  ReadableByteStreamControllerCallPullIfNeeded(c);
}

function ReadableByteStreamControllerRespond(c, bytesWritten) {
  const first = c.pendingPullIntos.peek();
  const state = c.stream.state;
  if (state === "closed") {
    if (bytesWritten !== 0) throw new TypeError("respond: bytesWritten must be 0 once the stream is closed");
  } else {
    if (bytesWritten === 0) throw new TypeError("respond: bytesWritten must be positive while the stream is readable");
    if (first.bytesFilled + bytesWritten > first.byteLength) throw new RangeError("respond: bytesWritten exceeds the view's length");
  }
  first.buffer = TransferArrayBuffer(first.buffer);
  ReadableByteStreamControllerRespondInternal(c, bytesWritten);
}

function ReadableByteStreamControllerRespondInClosedState(c, first) {
  if (first.readerType === "none") ReadableByteStreamControllerShiftPendingPullInto(c);
  const stream = c.stream;
  if (ReadableStreamHasBYOBReader(stream)) {
    const filled = [];
    while (filled.length < ReadableStreamGetNumReadIntoRequests(stream)) {
      ObjectDefineProperty(filled, filled.length, { value: ReadableByteStreamControllerShiftPendingPullInto(c), writable: true, enumerable: true, configurable: true });
    }
    for (let i = 0; i < filled.length; i++) ReadableByteStreamControllerCommitPullIntoDescriptor(stream, filled[i]);
  }
}

function ReadableByteStreamControllerRespondInReadableState(c, bytesWritten, desc) {
  ReadableByteStreamControllerFillHeadPullIntoDescriptor(c, bytesWritten, desc);
  if (desc.readerType === "none") {
    ReadableByteStreamControllerEnqueueDetachedPullIntoToQueue(c, desc);
    const filled = ReadableByteStreamControllerProcessPullIntoDescriptorsUsingQueue(c);
    for (let i = 0; i < filled.length; i++) ReadableByteStreamControllerCommitPullIntoDescriptor(c.stream, filled[i]);
    return;
  }
  if (desc.bytesFilled < desc.minimumFill) return;
  ReadableByteStreamControllerShiftPendingPullInto(c);
  const remainderSize = desc.bytesFilled % desc.elementSize;
  if (remainderSize > 0) {
    const end = desc.byteOffset + desc.bytesFilled;
    ReadableByteStreamControllerEnqueueClonedChunkToQueue(c, desc.buffer, end - remainderSize, remainderSize);
  }
  desc.bytesFilled -= remainderSize;
  const filled = ReadableByteStreamControllerProcessPullIntoDescriptorsUsingQueue(c);
  ReadableByteStreamControllerCommitPullIntoDescriptor(c.stream, desc);
  for (let i = 0; i < filled.length; i++) ReadableByteStreamControllerCommitPullIntoDescriptor(c.stream, filled[i]);
}

function ReadableByteStreamControllerRespondInternal(c, bytesWritten) {
  const first = c.pendingPullIntos.peek();
  ReadableByteStreamControllerInvalidateBYOBRequest(c);
  if (c.stream.state === "closed") ReadableByteStreamControllerRespondInClosedState(c, first);
  else ReadableByteStreamControllerRespondInReadableState(c, bytesWritten, first);
  ReadableByteStreamControllerCallPullIfNeeded(c);
}

function ReadableByteStreamControllerRespondWithNewView(c, view) {
  const first = c.pendingPullIntos.peek();
  const state = c.stream.state;
  const byteLength = viewByteLength(view);
  if (state === "closed") {
    if (byteLength !== 0) throw new TypeError("respondWithNewView: the view must be empty once the stream is closed");
  } else if (byteLength === 0) {
    throw new TypeError("respondWithNewView: the view must not be empty while the stream is readable");
  }
  if (first.byteOffset + first.bytesFilled !== viewByteOffset(view)) throw new RangeError("respondWithNewView: the view's offset does not match the request");
  if (first.bufferByteLength !== arrayBufferByteLength(viewBuffer(view))) throw new RangeError("respondWithNewView: the view's buffer length does not match the request");
  if (first.bytesFilled + byteLength > first.byteLength) throw new RangeError("respondWithNewView: the view is larger than the request");
  first.buffer = TransferArrayBuffer(viewBuffer(view));
  ReadableByteStreamControllerRespondInternal(c, byteLength);
}

function ReadableByteStreamControllerShiftPendingPullInto(c) {
  return c.pendingPullIntos.shift();
}

function ReadableByteStreamControllerShouldCallPull(c) {
  const stream = c.stream;
  if (stream.state !== "readable" || c.closeRequested || !c.started) return false;
  if (ReadableStreamHasDefaultReader(stream) && ReadableStreamGetNumReadRequests(stream) > 0) return true;
  if (ReadableStreamHasBYOBReader(stream) && ReadableStreamGetNumReadIntoRequests(stream) > 0) return true;
  return ReadableByteStreamControllerGetDesiredSize(c) > 0;
}

function SetUpReadableByteStreamController(stream, c, startAlgorithm, pullAlgorithm, cancelAlgorithm, highWaterMark, autoAllocateChunkSize) {
  c.stream = stream;
  c.pullAgain = c.pulling = false;
  c.byobRequest = null;
  ResetQueue(c);
  c.closeRequested = c.started = false;
  c.strategyHWM = highWaterMark;
  c.pullAlgorithm = pullAlgorithm;
  c.cancelAlgorithm = cancelAlgorithm;
  c.autoAllocateChunkSize = autoAllocateChunkSize;
  c.pendingPullIntos = new List();
  stream.controller = c;
  const startResult = startAlgorithm();
  uponPromise(promiseResolvedWith(startResult), () => {
    c.started = true;
    ReadableByteStreamControllerCallPullIfNeeded(c);
  }, (r) => {
    ReadableByteStreamControllerError(c, r);
  });
}

function SetUpReadableByteStreamControllerFromUnderlyingSource(stream, source, dict, highWaterMark) {
  const c = newByteController();
  const { start, pull, cancel } = dict;
  const startAlgorithm = start === undefined ? noop : () => ReflectApply(start, source, [c.pub]);
  const pullAlgorithm = pull === undefined ? resolvedUndefined : () => promiseCall(pull, source, [c.pub]);
  const cancelAlgorithm = cancel === undefined ? resolvedUndefined : (reason) => promiseCall(cancel, source, [reason]);
  if (dict.autoAllocateChunkSize === 0) throw new TypeError("ReadableStream: autoAllocateChunkSize must be positive");
  SetUpReadableByteStreamController(stream, c, startAlgorithm, pullAlgorithm, cancelAlgorithm, highWaterMark, dict.autoAllocateChunkSize);
}

/** CreateReadableByteStream (high-water mark 0, no auto-allocation). */
function CreateReadableByteStream(startAlgorithm, pullAlgorithm, cancelAlgorithm) {
  const stream = newStreamObject();
  SetUpReadableByteStreamController(stream, newByteController(), startAlgorithm, pullAlgorithm, cancelAlgorithm, 0, undefined);
  return stream;
}
