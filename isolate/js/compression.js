// ---- compression.js: CompressionStream, DecompressionStream. -------------------
// The Compression Streams standard over the native compressor (ops/src/compression/): each stream
// is a TransformStream whose transform hands its chunk to the native side in pieces of at most
// 1 MiB and enqueues what comes back (at most 1 MiB per answer, in the isolate's memory arena, so
// a decompression bomb ends at the tenant's memory limit as a RangeError). The native object is
// made on the first chunk and freed when the stream ends, errors or is cancelled (else with the
// isolate); its handle lives in this closure only.

const CODEC_PIECE = 1 << 20;
const CODEC_MORE = 1;

/** The format's number for the native side; a TypeError for anything but the three formats. */
function compressionFormat(format, what) {
  const f = `${format}`;
  switch (f) {
    case "deflate": return 0;
    case "deflate-raw": return 1;
    case "gzip": return 2;
    default:
      throw new TypeError(`${what}: "${f}" is not a supported format (deflate, deflate-raw, gzip)`);
  }
}

/** The native codec of one stream: `write(bytes, finish, emit)` and `close()`. */
function nativeCodec(newOp, writeOp, format) {
  let handle = 0; // 0: not made yet; -1: closed
  const owner = {};
  const close = () => {
    if (handle > 0) {
      untrackNative(owner);
      callOp(NATIVE.free, [handle]);
    }
    handle = -1;
  };
  const write = (bytes, finish, emit) => {
    if (handle < 0) throw new TypeError("The compression stream is closed");
    try {
      if (handle === 0) {
        handle = fieldU32(callOp(newOp, [format]));
        trackNative(owner, handle);
      }
      const total = typedArrayByteLength(bytes);
      let off = 0;
      do {
        const end = off + CODEC_PIECE < total ? off + CODEC_PIECE : total;
        const last = finish && end === total ? 1 : 0;
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
    if (finish) close();
  };
  return { write, close, owner };
}

/** A TransformStream record whose transform feeds `codec`; `what` names the class in errors. */
function codecTransformStream(codec, what) {
  let rec;
  const emit = (chunk) => TransformStreamDefaultControllerEnqueue(rec.controller, chunk);
  rec = CreateTransformStream((chunk) => {
    try {
      codec.write(bufferSourceBytes(chunk, what), false, emit);
    } catch (e) {
      return promiseRejectedWith(e);
    }
    return resolvedUndefined();
  }, () => {
    try {
      codec.write(new ByteArray(0), true, emit);
    } catch (e) {
      return promiseRejectedWith(e);
    }
    return resolvedUndefined();
  }, () => {
    codec.close();
    return resolvedUndefined();
  });
  return rec;
}

let compressionStreamRecord; // (v) -> TransformStreamState | undefined
let decompressionStreamRecord; // (v) -> TransformStreamState | undefined

class CompressionStream {
  #t;
  constructor(format) {
    if (arguments.length < 1) throw new TypeError("CompressionStream: a format is required");
    const f = compressionFormat(format, "CompressionStream");
    this.#t = codecTransformStream(nativeCodec(NATIVE.compressNew, NATIVE.compressWrite, f), "CompressionStream");
  }
  get readable() { return thisCompressionStream(this, compressionStreamRecord, "CompressionStream").readable.pub; }
  get writable() { return thisCompressionStream(this, compressionStreamRecord, "CompressionStream").writable.pub; }
  static {
    compressionStreamRecord = (v) => (isObject(v) && #t in v ? v.#t : undefined);
    addPlatformBrand((v) => isObject(v) && #t in v);
  }
}
exposeInterface(CompressionStream, "CompressionStream");

class DecompressionStream {
  #t;
  constructor(format) {
    if (arguments.length < 1) throw new TypeError("DecompressionStream: a format is required");
    const f = compressionFormat(format, "DecompressionStream");
    this.#t = codecTransformStream(nativeCodec(NATIVE.decompressNew, NATIVE.decompressWrite, f), "DecompressionStream");
  }
  get readable() { return thisCompressionStream(this, decompressionStreamRecord, "DecompressionStream").readable.pub; }
  get writable() { return thisCompressionStream(this, decompressionStreamRecord, "DecompressionStream").writable.pub; }
  static {
    decompressionStreamRecord = (v) => (isObject(v) && #t in v ? v.#t : undefined);
    addPlatformBrand((v) => isObject(v) && #t in v);
  }
}
exposeInterface(DecompressionStream, "DecompressionStream");

function thisCompressionStream(self, record, what) {
  const t = record(self);
  if (t === undefined) throw new TypeError(`${what}: Illegal invocation`);
  return t;
}
