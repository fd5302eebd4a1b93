// ---- node-zlib-streams.js: node:zlib's stream classes (Gzip, Gunzip, Deflate, Inflate, ---------
// DeflateRaw, InflateRaw, Unzip, BrotliCompress, BrotliDecompress), node:stream Transforms fed
// incrementally through the runtime's native (de)compressors (ops/src/compression), one handle
// per stream, freed when the stream ends, is destroyed or reset (or its owner is collected).
// Guarantees: bounded memory whatever the input: a native call answers at most 1 MiB, and a
// stream whose readable side is full (`push` answered false) stops calling until it is read
// (`_read`), as Node's does, so a decompression bomb read slowly holds about highWaterMark + 1 MiB,
// and read eagerly ends at the isolate's memory limit; corrupt input is an Error with code
// "Z_DATA_ERROR" (errno -3; a truncated stream: "Z_BUF_ERROR", -5, as Node's), after the
// output that preceded it. `flush(kind, callback)` makes
// everything written so far decodable (a sync flush whatever the kind); `params(level, strategy,
// callback)` flushes and keeps the level (Stockade compresses at zlib's level 6, brotli's 5).
// After a stream's end, bytes are read as Node's zlib does (ops/src/compression After::Node):
// further gzip members are decoded, trailing zeros and anything after a deflate or brotli stream
// dropped. Differences from Node: no dictionary, windowBits or memLevel.
// Trusts: the native codec ops; the runtime's captured helpers (callOp, the field readers).

/** A native codec's TypeError as Node's zlib reports it: "unexpected end of file" (Z_BUF_ERROR,
 *  errno -5) for a truncated stream, else Z_DATA_ERROR (errno -3; "incorrect header check" for
 *  what is not gzip); anything else as it is. */
function zlibError(e) {
  if (!isObject(e) || e.name !== "TypeError" || typeof e.message !== "string" || e.code !== undefined) return e;
  const truncated = StringIndexOf(e.message, "truncated") !== -1;
  const notGzip = StringIndexOf(e.message, "bad magic number") !== -1;
  const err = new Error(truncated ? "unexpected end of file" : notGzip ? "incorrect header check" : e.message);
  err.code = truncated ? "Z_BUF_ERROR" : "Z_DATA_ERROR";
  err.errno = truncated ? -5 : -3;
  return err;
}

function zlibStreamClasses(formats) {
  const { Transform } = lazyInternals("nodestream").library();
  const { Buffer } = builtinExports("node:buffer");
  const { GZIP, BROTLI, UNZIP, DEFLATE_RAW, checkOptions } = formats;
  const toBuffer = (u8) => Buffer.from(typedArrayBuffer(u8), typedArrayByteOffset(u8), typedArrayByteLength(u8));
  const EMPTY = new Uint8Array(0);
  const Z_SYNC_FLUSH = 2, Z_FULL_FLUSH = 3;

  const chunkBytes = (chunk) => {
    if (typedArrayName(chunk) !== undefined || isDataView(chunk) || isArrayBuffer(chunk)) return bufferSourceBytes(chunk, "chunk");
    throw invalidArgType("chunk", "of type string or an instance of Buffer, TypedArray, DataView, or ArrayBuffer", chunk);
  };

  class ZlibBase extends Transform {
    #compress;
    #format;
    #handle = 0; // 0: none yet; -1: closed
    #owner = {};
    #rest = EMPTY; // input not yet consumed by the native side
    #flush = CODEC_NONE; // what the last piece of #rest is written with
    #done = null; // the transform callback waiting for #rest
    #waiting = false; // stopped because the readable side is full
    #head = EMPTY; // Unzip: the first bytes, until the format is known
    #flushes = []; // flush() callbacks, in order

    constructor(compress, format, options) {
      if (options !== undefined && (options === null || typeof options !== "object")) {
        throw invalidArgType("options", "of type object", options);
      }
      checkOptions(options, compress, format, !compress && format !== DEFLATE_RAW);
      const chunkSize = options?.chunkSize ?? 16 * 1024;
      super({ autoDestroy: true, ...options,
        readableHighWaterMark: options?.readableHighWaterMark ?? options?.highWaterMark ?? chunkSize });
      this.#compress = compress;
      this.#format = format;
      this.bytesWritten = 0;
      this._finishFlushFlag = CODEC_FINISH;
    }

    get _handle() {
      return this.#handle >= 0 ? this.#owner : null;
    }

    _transform(chunk, encoding, callback) {
      let bytes;
      try {
        bytes = typeof chunk === "string" ? utf8Encode(chunk) : chunkBytes(chunk);
      } catch (e) {
        return callback(e);
      }
      const flushing = this.#flushes.length > 0 && chunk === this.#flushes[0][0];
      this.bytesWritten += typedArrayByteLength(bytes);
      this.#start(bytes, flushing ? CODEC_SYNC : CODEC_NONE, flushing ? () => {
        const waiting = this.#flushes[0];
        const rest = [];
        for (let i = 1; i < this.#flushes.length; i++) rest[i - 1] = this.#flushes[i];
        this.#flushes = rest;
        callback();
        if (waiting[1] !== undefined) waiting[1]();
      } : callback);
    }

    _flush(callback) {
      this.#start(EMPTY, CODEC_FINISH, callback);
    }

    _read(size) {
      if (this.#waiting) {
        this.#waiting = false;
        this.#pump();
        return;
      }
      super._read(size);
    }

    _destroy(error, callback) {
      this.#close();
      callback(error);
    }

    #start(bytes, flush, callback) {
      if (this.#format === UNZIP) {
        // The format is in the first two bytes: gzip's magic number, else zlib.
        this.#head = joinBytes([this.#head, bytes], typedArrayByteLength(this.#head) + typedArrayByteLength(bytes));
        if (typedArrayByteLength(this.#head) < 2 && flush !== CODEC_FINISH) return callback();
        this.#format = this.#head[0] === 0x1f && this.#head[1] === 0x8b ? GZIP : 0;
        bytes = this.#head;
        this.#head = EMPTY;
      }
      this.#rest = bytes;
      this.#flush = flush;
      this.#done = callback;
      this.#pump();
    }

    /** Writes #rest through the native codec, pushing what comes out, until it is consumed or the
     *  readable side is full (then `_read` calls again). */
    #pump() {
      const callback = this.#done;
      try {
        if (this.#handle < 0) throw new Error("zlib binding closed");
        if (this.#handle === 0) {
          this.#handle = fieldU32(this.#compress
            ? callOp(NATIVE.compressNew, [this.#format])
            : callOp(NATIVE.decompressNew, [this.#format, CODEC_AFTER_NODE]));
          trackNative(this.#owner, this.#handle);
        }
        const writeOp = this.#compress ? NATIVE.compressWrite : NATIVE.decompressWrite;
        for (;;) {
          const total = typedArrayByteLength(this.#rest);
          const piece = total > CODEC_PIECE ? CODEC_PIECE : total;
          const last = piece === total ? this.#flush : CODEC_NONE;
          const answer = unpackFields(callOp(writeOp, [this.#handle, bytesView(this.#rest, 0, piece), last]));
          const consumed = fieldU32(answer[0]);
          const more = (fieldU32(answer[1]) & CODEC_MORE) !== 0;
          this.#rest = bytesView(this.#rest, consumed, total);
          const out = answer[2];
          const full = typedArrayByteLength(out) > 0 && !this.push(toBuffer(bytesCopy(out)));
          if (!more && typedArrayByteLength(this.#rest) === 0) break;
          if (full) {
            this.#waiting = true;
            return;
          }
        }
      } catch (e) {
        this.#done = null;
        this.#close();
        return callback(zlibError(e));
      }
      this.#done = null;
      if (this.#flush === CODEC_FINISH) this.#close();
      callback();
    }

    #close() {
      if (this.#handle > 0) {
        untrackNative(this.#owner);
        callOp(NATIVE.free, [this.#handle]);
      }
      this.#handle = -1;
    }

    /** Makes everything written so far decodable, after the writes before it. */
    flush(kind, callback) {
      if (typeof kind === "function" || kind === undefined) {
        callback = kind;
        kind = Z_FULL_FLUSH;
      }
      if (this.writableFinished || this.writableEnded) {
        if (typeof callback === "function") queueMicrotask(callback);
        return;
      }
      const mark = Buffer.alloc(0);
      this.#flushes[this.#flushes.length] = [mark, typeof callback === "function" ? callback : undefined];
      this.write(mark);
    }

    params(level, strategy, callback) {
      this.flush(Z_SYNC_FLUSH, callback);
    }

    close(callback) {
      if (typeof callback === "function") this.once("close", callback);
      this.destroy();
    }

    reset() {
      this.#close();
      this.#handle = 0;
    }
  }

  const classes = { __proto__: null };
  const NAMES = [
    ["Gzip", true, GZIP], ["Gunzip", false, GZIP], ["Deflate", true, 0], ["Inflate", false, 0],
    ["DeflateRaw", true, 1], ["InflateRaw", false, 1], ["Unzip", false, UNZIP],
    ["BrotliCompress", true, BROTLI], ["BrotliDecompress", false, BROTLI],
  ];
  for (let i = 0; i < NAMES.length; i++) {
    const name = NAMES[i][0], compress = NAMES[i][1], format = NAMES[i][2];
    const Class = class extends ZlibBase {
      constructor(options) {
        super(compress, format, options);
      }
    };
    ObjectDefineProperty(Class, "name", { __proto__: null, value: name });
    classes[name] = Class;
    classes[`create${name}`] = (options) => new Class(options);
  }
  return classes;
}
