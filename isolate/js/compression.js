// ---- compression.js: CompressionStream, DecompressionStream. -------------------
// The Compression Streams standard over the native compressor (ops/src/compression/): each stream
// is a TransformStream whose transform hands its chunk to the native side in pieces of at most
// 1 MiB and enqueues what comes back (at most 1 MiB per answer, in the isolate's memory arena, so
// a decompression bomb ends at the tenant's memory limit as a RangeError). The native object is
// made on the first chunk and freed when the stream ends, errors or is cancelled (else with the
// isolate); its handle lives in this closure only.

/** The format's number for the native side; a TypeError for anything but the three formats. */
function compressionFormat(format, what) {
  const f = `${format}`;
  switch (f) {
    case "deflate": return 0;
    case "deflate-raw": return 1;
    case "gzip": return 2;
    case "brotli": return 3;
    default:
      throw new TypeError(`${what}: "${f}" is not a supported format (deflate, deflate-raw, gzip, brotli)`);
  }
}

/** A TransformStream record whose transform feeds `codec`; `what` names the class in errors. */
function codecTransformStream(codec, what) {
  let rec;
  const emit = (chunk) => TransformStreamDefaultControllerEnqueue(rec.controller, chunk);
  rec = CreateCodecTransformStream((chunk) => {
    try {
      codec.write(bufferSourceBytes(chunk, what), CODEC_NONE, emit);
    } catch (e) {
      return promiseRejectedWith(e);
    }
    return resolvedUndefined();
  }, () => {
    try {
      codec.write(new ByteArray(0), CODEC_FINISH, emit);
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
