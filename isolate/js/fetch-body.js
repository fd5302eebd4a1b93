// ---- fetch-body.js: the Fetch standard's bodies (a stream and/or its bytes). --
// A body is a BodyState: its ReadableStream (a byte stream, made lazily: nobody pays for a stream
// they never ask for), the bytes it was made from when known, or the host's pull source for
// requests arriving from the host. Guarantees: a body's bytes are private (consumers get copies);
// a stream is read only through internal read requests; once a stream exists it alone decides
// whether the body is used. Fast path: a body whose stream is untouched (or not made yet) and
// whose bytes are known is consumed without running a stream, with the same observable result.
// Private bytes only meet captured operations (encoding.js's bytesView/bytesCopy, typedArraySet,
// typedArrayLength): never a typed array's prototype methods, getters or species, which tenant
// code may replace. Blob bodies share the Blob's immutable bytes; FormData bodies are multipart.

const EMPTY_BYTES = new ByteArray(0);
const searchParamsToString = uncurry(URLSearchParams.prototype.toString);
const isURLSearchParams = (v) => { try { searchParamsToString(v); return true; } catch { return false; } };

const BodyState = internalClass(class BodyState {
  stream = null; // ReadableStreamState, once made
  bytes = null; // Uint8Array: the whole body, known without running a stream (null once a stream exists)
  host = null; // { pull, cancel, self }: the host's source of a request body
  taken = false; // consumed through the fast path before a stream existed
  fromStream = false; // extracted from a ReadableStream (the spec's "source is null")
});

function bodyFromBytes(bytes) {
  const b = new BodyState();
  b.bytes = bytes;
  return b;
}

/** Extracts a body: { body: BodyState | null, type: default Content-Type | null }. */
function extractBody(init) {
  if (init === null || init === undefined) return { body: null, type: null };
  if (isObject(init)) {
    if (isBlob(init)) {
      const type = blobType(init);
      return { body: bodyFromBytes(blobBytes(init)), type: type === "" ? null : type };
    }
    const s = streamRecordOf(init);
    if (s !== undefined) {
      if (s.disturbed || streamsInternals().IsReadableStreamLocked(s)) throw new TypeError("The body stream is disturbed or locked");
      const b = new BodyState();
      b.stream = s;
      b.fromStream = true;
      return { body: b, type: null };
    }
    if (isArrayBuffer(init) || typedArrayName(init) !== undefined || isDataView(init)) {
      return { body: bodyFromBytes(bytesCopy(bufferSourceBytes(init, "body"))), type: null };
    }
    if (isFormData(init)) {
      const { bytes, type } = serializeMultipart(init);
      return { body: bodyFromBytes(bytes), type };
    }
    if (isURLSearchParams(init)) {
      return { body: bodyFromBytes(utf8Encode(searchParamsToString(init))), type: "application/x-www-form-urlencoded;charset=UTF-8" };
    }
  }
  return { body: bodyFromBytes(utf8Encode(toUSVString(init))), type: "text/plain;charset=UTF-8" };
}

/** "Close a ReadableStream" for the prelude's own byte streams. */
function closeByteStream(c) {
  streamsInternals().ReadableByteStreamControllerClose(c);
  if (c.pendingPullIntos.length > 0) streamsInternals().ReadableByteStreamControllerRespond(c, 0);
}

/** A byte stream over `bytes` (never modified; chunks handed out are copies, at most `chunkSize`
 *  bytes each when given: Blob.stream() hands out bounded chunks, bodies one). */
function streamOverBytes(bytes, chunkSize = Infinity) {
  let at = 0;
  const size = typedArrayLength(bytes);
  const stream = streamsInternals().CreateReadableByteStream(noop, () => {
    const c = stream.controller;
    stream.source = null;
    if (at < size) {
      const request = streamsInternals().ReadableByteStreamControllerGetBYOBRequest(c);
      if (request !== null) {
        const view = request.view;
        const n = MathMin(typedArrayLength(view), size - at);
        typedArraySet(view, bytesView(bytes, at, at + n));
        at += n;
        streamsInternals().ReadableByteStreamControllerRespond(c, n);
      } else {
        const end = size - at > chunkSize ? at + chunkSize : size;
        streamsInternals().ReadableByteStreamControllerEnqueue(c, bytesCopy(bytes, at, end));
        at = end;
      }
    }
    if (at >= size && c.stream.state === "readable" && !c.closeRequested) closeByteStream(c);
    return resolvedUndefined();
  }, () => {
    stream.source = null;
    at = size;
    return resolvedUndefined();
  });
  stream.source = bytes;
  return stream;
}

/** A byte stream over the host's pull source: pulled only when a read waits (no read-ahead),
 *  never again after it ended; its chunks' buffers are transferred into the stream. */
function streamOverHostSource(host) {
  let ended = false;
  const pullOnce = () => {
    let p;
    try {
      p = ReflectApply(host.pull, host.self, []);
    } catch (e) {
      return promiseRejectedWith(e);
    }
    return promiseThen(promiseResolvedWith(p), (chunk) => {
      const c = stream.controller;
      if (chunk === null || chunk === undefined) {
        ended = true;
        if (c.stream.state === "readable" && !c.closeRequested) closeByteStream(c);
        return undefined;
      }
      if (!isUint8Array(chunk)) throw new TypeError("the request body source produced a chunk that is not a Uint8Array");
      if (typedArrayByteLength(chunk) === 0) return pullOnce();
      if (c.stream.state === "readable" && !c.closeRequested) streamsInternals().ReadableByteStreamControllerEnqueue(c, chunk);
      return undefined;
    }, undefined);
  };
  const stream = streamsInternals().CreateReadableByteStream(noop, () => (ended ? resolvedUndefined() : pullOnce()), (reason) => {
    if (!ended) {
      ended = true;
      try {
        ReflectApply(host.cancel, host.self, [reason]);
      } catch {}
    }
    return resolvedUndefined();
  });
  return stream;
}

/** The body's stream, made on first need. */
function bodyStream(b) {
  if (b.stream !== null) return b.stream;
  let stream;
  if (b.host !== null) {
    stream = streamOverHostSource(b.host);
    b.host = null;
  } else {
    stream = streamOverBytes(b.taken ? EMPTY_BYTES : b.bytes);
    b.bytes = null;
  }
  if (b.taken) {
    // Consumed before the stream existed: show what reading it fully leaves behind.
    streamsInternals().AcquireReadableStreamDefaultReader(stream, false);
    stream.disturbed = true;
    stream.source = null;
    closeByteStream(stream.controller);
  }
  b.stream = stream;
  return stream;
}

const bodyDisturbed = (b) => (b.stream !== null ? b.stream.disturbed : b.taken);
/** The spec's "unusable": a body whose stream is disturbed or locked. */
const bodyUnusable = (b) => b !== null && (b.stream !== null ? b.stream.disturbed || streamsInternals().IsReadableStreamLocked(b.stream) : b.taken);

/** Fast path: takes the body's bytes when known without running a stream, marking the body used
 *  (as reading it fully would); null when the stream must run. The body must be usable. */
function takeKnownBytes(b) {
  const s = b.stream;
  if (s === null) {
    if (b.host !== null) return null;
    const bytes = b.bytes;
    b.bytes = null;
    b.taken = true;
    return bytes;
  }
  if (s.source === null || s.state !== "readable") return null;
  const bytes = s.source;
  s.source = null;
  streamsInternals().AcquireReadableStreamDefaultReader(s, false);
  s.disturbed = true;
  streamsInternals().ReadableStreamCancel(s, undefined); // the stream's own source: nothing to wait for
  return bytes;
}

/** The spec's "read all bytes" through an internal reader: a promise of one Uint8Array. With
 *  `max`, refused with `tooLarge()` (and the stream cancelled) as soon as the bytes pass it. */
function readAllBytes(stream, max = Infinity, tooLarge = undefined) {
  const reader = streamsInternals().AcquireReadableStreamDefaultReader(stream, false);
  const result = new Deferred();
  const chunks = new List();
  let total = 0;
  let inRead = false;
  let readAgain = false;
  const request = {
    chunkSteps: (chunk) => {
      if (!isUint8Array(chunk)) {
        result.reject(new TypeError("The body stream produced a chunk that is not a Uint8Array"));
        return;
      }
      const n = typedArrayByteLength(chunk);
      total += n;
      if (total > max) {
        const e = tooLarge();
        result.reject(e);
        setHandled(streamsInternals().ReadableStreamCancel(stream, e));
        return;
      }
      chunks.push(n === 0 ? EMPTY_BYTES : bytesCopy(chunk));
      if (inRead) readAgain = true;
      else loop();
    },
    closeSteps: () => {
      const out = new ByteArray(total);
      let offset = 0;
      while (chunks.length > 0) {
        const c = chunks.shift();
        typedArraySet(out, c, offset);
        offset += typedArrayLength(c);
      }
      result.resolve(out);
    },
    errorSteps: (e) => result.reject(e),
  };
  // Iterative read-loop: chunks available synchronously do not grow the stack.
  const loop = () => {
    do {
      readAgain = false;
      inRead = true;
      streamsInternals().ReadableStreamDefaultReaderRead(reader, request);
      inRead = false;
    } while (readAgain);
  };
  loop();
  return result.promise;
}

/** The whole body as bytes (the body must be non-null and usable); marks it used. */
function bodyBytes(b) {
  const bytes = takeKnownBytes(b);
  return bytes !== null ? promiseResolvedWith(bytes) : readAllBytes(bodyStream(b));
}

/** Cancels a request body's stream, if it has one still readable (an aborted fetch). */
function cancelBody(b, reason) {
  if (b !== null && b.stream !== null && b.stream.state === "readable") setHandled(streamsInternals().ReadableStreamCancel(b.stream, reason));
}

/** Errors a response body's stream (made now if need be) unless it already ended (an aborted
 *  fetch whose answer came first). */
function errorBody(b, reason) {
  const s = bodyStream(b);
  if (s.state === "readable") streamsInternals().ReadableByteStreamControllerError(s.controller, reason);
}

/** The spec's "consume body". */
function consumeBody(b, convert) {
  if (b === null) return promiseCall(convert, undefined, [EMPTY_BYTES]);
  if (bodyUnusable(b)) return rejectType("Body has already been consumed.");
  const bytes = takeKnownBytes(b);
  if (bytes !== null) return promiseCall(convert, undefined, [bytes]);
  return promiseThen(readAllBytes(bodyStream(b)), convert, undefined);
}

/** Clones a body for clone() (the caller checked it is usable): tees its stream, or shares its
 *  immutable bytes when no stream exists yet. */
function cloneBody(b) {
  if (b === null) return null;
  if (b.stream === null && b.host === null) {
    const copy = bodyFromBytes(b.bytes);
    return copy;
  }
  const branches = streamsInternals().ReadableStreamTee(bodyStream(b), true);
  b.stream = branches[0];
  const copy = new BodyState();
  copy.stream = branches[1];
  copy.fromStream = b.fromStream;
  return copy;
}

/** Moves a Request's body into a new Request (the spec's proxy of the input body). */
function proxyBody(b) {
  const copy = new BodyState();
  copy.fromStream = b.fromStream;
  if (b.stream === null) {
    copy.bytes = b.bytes;
    copy.host = b.host;
    b.bytes = b.host = null;
    b.taken = true;
    return copy;
  }
  const bytes = takeKnownBytes(b);
  if (bytes !== null) {
    copy.bytes = bytes;
    return copy;
  }
  const identity = streamsInternals().CreateTransformStream((chunk) => {
    streamsInternals().TransformStreamDefaultControllerEnqueue(identity.controller, chunk);
    return resolvedUndefined();
  }, resolvedUndefined);
  setHandled(streamsInternals().ReadableStreamPipeTo(b.stream, identity.writable, false, false, false, undefined));
  copy.stream = identity.readable;
  // The source enforces its length (a FixedLengthStream errors short or long), so the proxy
  // carries it: a Request or Response made from this one keeps its Content-Length.
  copy.stream.expectedLength = b.stream.expectedLength;
  return copy;
}

function utf8DecodeStripBOM(bytes) {
  const s = utf8Decode(bytes);
  return s.charCodeAt(0) === 0xfeff ? s.slice(1) : s;
}
const JSONParse = JSON.parse;

/** The Content-Type of a header list, combined as Headers.get would (null if absent). */
function contentTypeOf(headers) {
  const list = headersList(headers);
  let value = null;
  for (let i = 0; i < list.length; i++) {
    if (list[i][0] === "content-type") value = value === null ? list[i][1] : `${value}, ${list[i][1]}`;
  }
  return value;
}

/** Installs the Body mixin on a prototype; `bodyOf(self)` brand-checks and returns the body,
 *  `headersOf(self)` the private Headers (for blob() and formData()). */
function installBody(proto, bodyOf, headersOf) {
  const methods = {
    get body() {
      const b = bodyOf(this);
      return b === null ? null : bodyStream(b).pub;
    },
    get bodyUsed() {
      const b = bodyOf(this);
      return b !== null && bodyDisturbed(b);
    },
    arrayBuffer() {
      let b;
      try { b = bodyOf(this); } catch (e) { return promiseRejectedWith(e); }
      return consumeBody(b, (bytes) => typedArrayBuffer(bytesCopy(bytes)));
    },
    bytes() {
      let b;
      try { b = bodyOf(this); } catch (e) { return promiseRejectedWith(e); }
      return consumeBody(b, (bytes) => bytesCopy(bytes));
    },
    text() {
      let b;
      try { b = bodyOf(this); } catch (e) { return promiseRejectedWith(e); }
      return consumeBody(b, utf8DecodeStripBOM);
    },
    json() {
      let b;
      try { b = bodyOf(this); } catch (e) { return promiseRejectedWith(e); }
      return consumeBody(b, (bytes) => JSONParse(utf8DecodeStripBOM(bytes)));
    },
    blob() {
      let b;
      try { b = bodyOf(this); } catch (e) { return promiseRejectedWith(e); }
      const self = this;
      return consumeBody(b, (bytes) => {
        const mime = extractMimeType(contentTypeOf(headersOf(self)));
        // The Blob keeps the bytes: they are a private array nobody else holds, or immutable.
        return newBlobFromBytes(bytes, mime === null ? "" : serializeMimeType(mime));
      });
    },
    formData() {
      let b;
      try { b = bodyOf(this); } catch (e) { return promiseRejectedWith(e); }
      const self = this;
      // A null body is no multipart body (it lacks even the closing delimiter); an empty one is
      // an empty form.
      return consumeBody(b, (bytes) => formDataFromBody(b === null ? null : bytes, extractMimeType(contentTypeOf(headersOf(self)))));
    },
  };
  for (const key of ReflectOwnKeys(methods)) {
    const d = ObjectGetOwnPropertyDescriptor(methods, key);
    d.enumerable = true;
    ObjectDefineProperty(proto, key, d);
  }
}

/** The host's view of a response body stream: reads through the internal reader only. */
function hostBodyReader(stream) {
  const reader = streamsInternals().AcquireReadableStreamDefaultReader(stream, false);
  stream.disturbed = true;
  return ObjectFreeze({
    __proto__: null,
    read() {
      if (reader.stream === undefined) return promiseResolvedWith(null);
      const d = new Deferred();
      streamsInternals().ReadableStreamDefaultReaderRead(reader, {
        chunkSteps: (chunk) => {
          if (!isUint8Array(chunk)) {
            const e = new TypeError("The response body stream produced a chunk that is not a Uint8Array");
            setHandled(streamsInternals().ReadableStreamCancel(stream, e));
            d.reject(e);
            return;
          }
          d.resolve(chunk);
        },
        closeSteps: () => d.resolve(null),
        errorSteps: (e) => d.reject(e),
      });
      return d.promise;
    },
    cancel(reason) {
      return streamsInternals().ReadableStreamCancel(stream, reason);
    },
  });
}

/** The host contract's body of a response being answered: null, the whole body, or a reader. */
function bodyForHost(b) {
  if (b === null) return null;
  const bytes = takeKnownBytes(b);
  if (bytes !== null) return bytes;
  return hostBodyReader(bodyStream(b));
}

// ---- a response's Content-Encoding ----------------------------------------------------------
/** The compressor format for a response's combined Content-Encoding value, as Cloudflare's
 *  runtime encodes: exactly "gzip" (2) or "br" (3); -1 for anything else, sent as it is. */
function responseEncodingFormat(value) {
  return value === "gzip" ? 2 : value === "br" ? 3 : -1;
}

/** Pieces a codec emitted, as one Uint8Array. */
function joinPieces(pieces) {
  let total = 0;
  for (let i = 0; i < pieces.length; i++) total += typedArrayByteLength(pieces[i]);
  return joinBytes(pieces, total);
}

/** `body` (bodyForHost's: the whole bytes, or a reader) compressed in `format` on the way to the
 *  client, in this isolate (its CPU is the request's). Whole bytes are compressed at once; a
 *  reader's chunks each go through with a sync flush, so the client can decode every chunk when
 *  it arrives (a server-sent event is not held back in the compressor). */
function encodedBodyForHost(body, format) {
  const codec = nativeCodec(NATIVE.compressNew, NATIVE.compressWrite, format);
  if (isUint8Array(body)) {
    const pieces = [];
    codec.write(body, CODEC_FINISH, (c) => { pieces[pieces.length] = c; });
    return joinPieces(pieces);
  }
  let ended = false;
  return ObjectFreeze({
    __proto__: null,
    // async/await, not .then: tenant code may have replaced Promise.prototype.then.
    async read() {
      while (!ended) {
        let chunk;
        try {
          chunk = await body.read();
        } catch (e) {
          ended = true;
          codec.close();
          throw e;
        }
        const pieces = [];
        const emit = (c) => { pieces[pieces.length] = c; };
        if (chunk === null) {
          ended = true;
          codec.write(new ByteArray(0), CODEC_FINISH, emit);
        } else {
          codec.write(chunk, CODEC_SYNC, emit);
        }
        if (pieces.length > 0) return joinPieces(pieces);
      }
      return null;
    },
    cancel(reason) {
      ended = true;
      codec.close();
      return body.cancel(reason);
    },
  });
}

/** A request body from the host: null, a Uint8Array (kept, not copied) or a pull source. */
function bodyFromHost(body) {
  if (body === null || body === undefined) return null;
  if (isUint8Array(body)) return bodyFromBytes(body);
  if (isObjectLike(body) && typeof body.pull === "function" && typeof body.cancel === "function") {
    const b = new BodyState();
    b.host = { pull: body.pull, cancel: body.cancel, self: body };
    return b;
  }
  throw new TypeError("newRequest: the body must be null, a Uint8Array or a { pull, cancel } source");
}
