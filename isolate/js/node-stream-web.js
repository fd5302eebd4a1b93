// ---- node-stream-web.js: node:stream's bridges to the web streams, as Node 20's ----------------
// lib/internal/webstreams/adapters.js: Readable.fromWeb/toWeb, Writable.fromWeb/toWeb,
// Duplex.fromWeb/toWeb. A Node stream made from a web stream reads (writes) through one reader
// (writer) it holds, one chunk per `_read` (each `_write` after the writer is ready), so the
// web stream's backpressure is the Node stream's; a web stream made from a Node stream pauses it
// when its queue is full and resumes it on `pull`. Errors and destruction cross both ways.
// `Duplex.from` of a web stream, a TransformStream or a {readable, writable} pair goes through
// readable-stream's duplexify, which calls these.
// Trusts: the web classes it is given (node-stream.js passes the streams group's own).

function addWebStreamBridges(library, web) {
  const { Readable, Writable, Duplex, finished, destroy } = library;
  const { Buffer } = builtinExports("node:buffer");
  const abortError = (cause) => {
    const e = nodeError(Error, "ABORT_ERR", "The operation was aborted");
    e.name = "AbortError";
    if (cause !== undefined) e.cause = cause;
    return e;
  };
  const deferred = () => {
    const d = { __proto__: null, promise: undefined, resolve: undefined, reject: undefined };
    d.promise = new Promise((resolve, reject) => {
      d.resolve = resolve;
      d.reject = reject;
    });
    return d;
  };
  const later = (f) => queueMicrotask(f);
  const checkObject = (value, name) => {
    if (value === null || typeof value !== "object") throw invalidArgType(name, "of type object", value);
  };

  function readableFromWeb(readableStream, options = {}) {
    if (!(readableStream instanceof web.ReadableStream)) {
      throw invalidArgType("readableStream", "an instance of ReadableStream", readableStream);
    }
    checkObject(options, "options");
    const { highWaterMark, encoding, objectMode = false, signal } = options;
    const reader = readableStream.getReader();
    let closed = false;
    const readable = new Readable({
      objectMode,
      highWaterMark,
      encoding,
      signal,
      read() {
        reader.read().then((chunk) => {
          if (chunk.done) readable.push(null);
          else readable.push(chunk.value);
        }, (error) => destroy(readable, error));
      },
      destroy(error, callback) {
        const done = () => later(() => callback(error));
        if (!closed) {
          reader.cancel(error).then(done, done);
          return;
        }
        done();
      },
    });
    reader.closed.then(() => {
      closed = true;
    }, (error) => {
      closed = true;
      destroy(readable, error);
    });
    return readable;
  }

  function readableToWeb(streamReadable, options = {}) {
    if (typeof streamReadable?._readableState !== "object") {
      throw invalidArgType("streamReadable", "a stream.Readable", streamReadable);
    }
    const objectMode = streamReadable.readableObjectMode;
    const highWaterMark = streamReadable.readableHighWaterMark;
    const strategy = options?.strategy ?? (objectMode
      ? new web.CountQueuingStrategy({ highWaterMark })
      : { highWaterMark, size: (chunk) => chunk.byteLength });
    let controller;
    const onData = (chunk) => {
      if (Buffer.isBuffer(chunk) && !objectMode) chunk = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      controller.enqueue(chunk);
      if (controller.desiredSize <= 0) streamReadable.pause();
    };
    const cleanup = finished(streamReadable, (error) => {
      if (error?.code === "ERR_STREAM_PREMATURE_CLOSE") error = abortError(error);
      cleanup();
      streamReadable.on("error", () => {}); // errors after this one are not this stream's
      if (error) return controller.error(error);
      controller.close();
    });
    streamReadable.on("data", onData);
    streamReadable.pause();
    return new web.ReadableStream({
      start(c) {
        controller = c;
      },
      pull() {
        streamReadable.resume();
      },
      cancel(reason) {
        destroy(streamReadable, reason);
      },
    }, strategy);
  }

  function writableFromWeb(writableStream, options = {}) {
    if (!(writableStream instanceof web.WritableStream)) {
      throw invalidArgType("writableStream", "an instance of WritableStream", writableStream);
    }
    checkObject(options, "options");
    const { highWaterMark, decodeStrings = true, objectMode = false, signal } = options;
    const writer = writableStream.getWriter();
    let closed = false;
    // As Node's: a string still a string here is written as a plain Uint8Array of its bytes;
    // anything else (a Buffer the Writable made of a string, too) as it is.
    const bytes = (chunk, encoding) => {
      if (typeof chunk === "string" && decodeStrings && !objectMode) {
        chunk = Buffer.from(chunk, encoding);
        chunk = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      }
      return chunk;
    };
    const writable = new Writable({
      highWaterMark,
      objectMode,
      decodeStrings,
      signal,
      write(chunk, encoding, callback) {
        writer.ready.then(() => writer.write(bytes(chunk, encoding))).then(() => callback(), (e) => callback(e));
      },
      destroy(error, callback) {
        const done = () => later(() => callback(error));
        if (!closed) {
          if (error != null) writer.abort(error).then(done, done);
          else writer.close().then(done, done);
          return;
        }
        done();
      },
      final(callback) {
        if (!closed) writer.close().then(() => callback(), (e) => callback(e));
        else callback();
      },
    });
    writer.closed.then(() => {
      closed = true;
      if (!writable.writableFinished && !writable.destroyed) {
        destroy(writable, nodeError(Error, "ERR_STREAM_PREMATURE_CLOSE", "Premature close"));
      }
    }, (error) => {
      closed = true;
      destroy(writable, error);
    });
    return writable;
  }

  function writableToWeb(streamWritable) {
    if (typeof streamWritable?._writableState !== "object") {
      throw invalidArgType("streamWritable", "a stream.Writable", streamWritable);
    }
    const highWaterMark = streamWritable.writableHighWaterMark;
    const strategy = streamWritable.writableObjectMode
      ? new web.CountQueuingStrategy({ highWaterMark })
      : { highWaterMark, size: (chunk) => chunk.byteLength };
    let controller, backpressure, closed;
    streamWritable.on("drain", () => {
      if (backpressure !== undefined) backpressure.resolve();
    });
    const cleanup = finished(streamWritable, (error) => {
      if (error?.code === "ERR_STREAM_PREMATURE_CLOSE") error = abortError(error);
      cleanup();
      streamWritable.on("error", () => {});
      if (error != null) {
        if (backpressure !== undefined) backpressure.reject(error);
        if (closed !== undefined) {
          closed.reject(error);
          closed = undefined;
        }
        controller.error(error);
        return;
      }
      if (closed !== undefined) {
        closed.resolve();
        closed = undefined;
        return;
      }
      controller.error(abortError());
    });
    return new web.WritableStream({
      start(c) {
        controller = c;
      },
      write(chunk) {
        if (streamWritable.writableNeedDrain || !streamWritable.write(chunk)) {
          backpressure = deferred();
          return backpressure.promise.finally(() => {
            backpressure = undefined;
          });
        }
      },
      abort(reason) {
        destroy(streamWritable, reason);
      },
      close() {
        if (closed === undefined && !streamWritable.writableEnded) {
          closed = deferred();
          streamWritable.end();
          return closed.promise;
        }
        return undefined;
      },
    }, strategy);
  }

  Readable.fromWeb = readableFromWeb;
  Readable.toWeb = readableToWeb;
  Writable.fromWeb = writableFromWeb;
  Writable.toWeb = writableToWeb;
  Duplex.fromWeb = (pair, options = {}) => {
    checkObject(pair, "pair");
    return Duplex.from({ readable: readableFromWeb(pair.readable, options), writable: writableFromWeb(pair.writable, options) });
  };
  Duplex.toWeb = (duplex) => ({ readable: readableToWeb(duplex), writable: writableToWeb(duplex) });
}
