// ---- r2-upload.js: an R2 bucket's bytes on their way up, and its multipart uploads. ---------
// Part of the "r2" lazy group, after r2.js (same scope: r2Own, r2Error, r2Key, R2Object, R2_CHUNK).
// r2Value sends a put's or a part's value: a value known whole of at most R2_CHUNK rides in the
// call; any other goes up R2_CHUNK at a time (r2.upload, r2.write) and the call names the upload,
// so neither side holds it whole. R2MultipartUpload is the object createMultipartUpload and
// resumeMultipartUpload give (r2.createMultipart/uploadPart/completeMultipart/abortMultipart; the
// supervisor's daemon/src/storage/r2_multipart.rs checks part numbers, sizes and etags again).
// Trust: state is private (#fields) and only captured operations run on runtime state.

function r2ReadChunk(reader) {
  const d = new Deferred();
  streamsInternals().ReadableStreamDefaultReaderRead(reader, {
    chunkSteps: (chunk) => d.resolve({ __proto__: null, chunk }),
    closeSteps: () => d.resolve({ __proto__: null, chunk: null }),
    errorSteps: (e) => d.reject(e),
  });
  return d.promise;
}

/** Sends what `next()` gives (Uint8Arrays, then null) up as an upload, R2_CHUNK per call. */
async function r2Upload(binding, hash, next, what) {
  const head = { binding };
  if (hash !== null) head.hash = hash;
  const upload = (await bindingCall("r2.upload", head, null, r2Error(what)))[0].upload;
  const buffer = new ByteArray(R2_CHUNK);
  let fill = 0;
  const flush = async () => {
    // bindingCall frames (copies) the bytes before it waits: the buffer is free again after.
    const call = bindingCall("r2.write", { upload }, bytesView(buffer, 0, fill), r2Error(what));
    fill = 0;
    await call;
  };
  try {
    for (;;) {
      const chunk = await next();
      if (chunk === null) break;
      if (!isUint8Array(chunk)) throw new TypeError(`${what}: the stream produced a chunk that is not a Uint8Array`);
      const n = typedArrayLength(chunk);
      for (let at = 0; at < n;) {
        const take = MathMin(R2_CHUNK - fill, n - at);
        typedArraySet(buffer, bytesView(chunk, at, at + take), fill);
        fill += take;
        at += take;
        if (fill === R2_CHUNK) await flush();
      }
    }
    if (fill > 0) await flush();
  } catch (e) {
    uponPromise(bindingCall("r2.abort", { upload }), undefined, noop);
    throw e;
  }
  return upload;
}

/** The call `name` that consumes the upload `head.upload` (if any): a refused one aborts it, so
 *  the upload (and the open connection it holds) goes at once, not with the request. */
async function r2Consume(name, head, body, what) {
  try {
    return await bindingCall(name, head, body, r2Error(what));
  } catch (e) {
    if (head.upload !== undefined) uponPromise(bindingCall("r2.abort", { upload: head.upload }), undefined, noop);
    throw e;
  }
}

/**
 * The bytes of a put's or a part's `value`: returned when known whole and at most R2_CHUNK
 * (they ride in the call), else sent up as an upload named in `head.upload` (null returned).
 */
async function r2Value(binding, value, hash, head, what) {
  let bytes = null;
  let stream;
  if (value === null || value === undefined) bytes = EMPTY_BYTES;
  else if (typeof value === "string") bytes = utf8Encode(value);
  else if (isBlob(value)) bytes = blobBytes(value);
  else if ((stream = streamRecordOf(value)) !== undefined) {
    if (streamsInternals().IsReadableStreamLocked(stream)) throw new TypeError(`${what}: the stream is locked`);
  } else {
    try {
      bytes = bufferSourceBytes(value, what);
    } catch {
      throw new TypeError(`${what}: the value must be a ReadableStream, ArrayBuffer, ArrayBufferView, string, Blob or null`);
    }
  }
  if (bytes === null) {
    const reader = streamsInternals().AcquireReadableStreamDefaultReader(stream, false);
    try {
      head.upload = await r2Upload(binding, hash, async () => (await r2ReadChunk(reader)).chunk, what);
    } catch (e) {
      setHandled(streamsInternals().ReadableStreamCancel(stream, e));
      throw e;
    }
    return null;
  }
  const size = typedArrayLength(bytes);
  if (size <= R2_CHUNK) return bytes;
  let at = 0;
  head.upload = await r2Upload(binding, hash, async () => {
    if (at >= size) return null;
    const end = MathMin(size, at + R2_CHUNK);
    const chunk = bytesView(bytes, at, end);
    at = end;
    return chunk;
  }, what);
  return null;
}

/** An upload under way (nothing is checked until a call: a resumed id may name nothing). */
class R2MultipartUpload {
  #binding;
  constructor(token, binding, key, uploadId) {
    if (token !== INTERNAL) throw new TypeError("Illegal constructor");
    this.#binding = binding;
    r2Own(this, "key", key);
    r2Own(this, "uploadId", uploadId);
  }
  #head() {
    return { binding: this.#binding, key: this.key, uploadId: this.uploadId };
  }
  async uploadPart(partNumber, value) {
    const what = "uploadPart";
    const head = this.#head();
    head.partNumber = +partNumber;
    if (!(head.partNumber >= 1 && head.partNumber <= 10000 && head.partNumber % 1 === 0)) {
      throw new TypeError(`${what}: a part number is an integer from 1 to 10000`);
    }
    const body = await r2Value(this.#binding, value, null, head, what);
    const answer = (await r2Consume("r2.uploadPart", head, body, what))[0];
    return { partNumber: answer.partNumber, etag: answer.etag };
  }
  async abort() {
    await bindingCall("r2.abortMultipart", this.#head(), null, r2Error("abort"));
    return undefined;
  }
  async complete(uploadedParts) {
    const what = "complete";
    if (!ArrayIsArray(uploadedParts)) throw new TypeError(`${what}: give the uploaded parts, an array of {partNumber, etag}`);
    const parts = [];
    for (let i = 0; i < uploadedParts.length; i++) {
      const p = uploadedParts[i];
      if (p === null || typeof p !== "object") throw new TypeError(`${what}: each part is a {partNumber, etag}`);
      appendEntry(parts, { partNumber: +p.partNumber, etag: `${p.etag}` });
    }
    const head = this.#head();
    head.parts = parts;
    const answer = (await bindingCall("r2.completeMultipart", head, null, r2Error(what)))[0];
    return new R2Object(INTERNAL, answer.object);
  }
}
setTag(R2MultipartUpload.prototype, "R2MultipartUpload");
