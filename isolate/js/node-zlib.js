// ---- node-zlib.js: node:zlib. -----------------------------------------------------------------
// The one-shot forms over the runtime's native compressors (ops/src/compression, shared with
// CompressionStream through plumbing.js's nativeCodec): gzip, gunzip, deflate, inflate,
// deflateRaw, inflateRaw, unzip (gzip or zlib, by its header), brotliCompress and
// brotliDecompress, each as `xSync(buffer[, options])`, `x(buffer[, options], callback)` (called
// back on a later task, so `util.promisify` works); `crc32(data[, value])`; `constants`; and the
// stream classes (`createGzip`, `Gzip`, ...: node-zlib-streams.js, on node:stream). Guarantees:
// one-shot decompression answers at most `options.maxOutputLength` bytes (default
// buffer.kMaxLength) and a bomb ends at the isolate's memory limit, as a DecompressionStream
// does; corrupt input is an Error with Node's `code` "Z_DATA_ERROR" (errno -3), a truncated
// stream "Z_BUF_ERROR" (-5). Compression is at
// zlib's default level 6 (brotli: quality 5) whatever `options.level` says (the output differs
// from Node's bytes, never in what it decodes to).

function zlibModule() {
  const { Buffer, kMaxLength } = builtinExports("node:buffer");
  const toBuffer = (u8) => Buffer.from(typedArrayBuffer(u8), typedArrayByteOffset(u8), typedArrayByteLength(u8));
  // The native formats (compression.js's numbers; 3: brotli).
  const DEFLATE = 0, DEFLATE_RAW = 1, GZIP = 2, BROTLI = 3, UNZIP = -1;

  function inputBytes(data) {
    if (typeof data === "string") return utf8Encode(data);
    if (data !== null && typeof data === "object" && (typedArrayName(data) !== undefined || isDataView(data) || isArrayBuffer(data))) {
      return bufferSourceBytes(data, "buffer");
    }
    throw invalidArgType("buffer", "of type string or an instance of Buffer, TypedArray, DataView, or ArrayBuffer", data);
  }

  /** Node's checkRangesOrGetDefault: undefined or NaN is `fallback`; another number, finite and
   *  within [lower, upper] (a fraction passes); anything else Node's error. */
  function checkRange(value, name, lower, upper, fallback) {
    if (value === undefined || (typeof value === "number" && value !== value)) return fallback;
    if (typeof value !== "number") throw invalidArgType(name, "of type number", value);
    if (!NumberIsFinite(value)) throw nodeError(RangeError, "ERR_OUT_OF_RANGE", `The value of "${name}" is out of range. It must be a finite number. Received ${value}`);
    if (value < lower || value > upper) {
      throw nodeError(RangeError, "ERR_OUT_OF_RANGE", `The value of "${name}" is out of range. It must be >= ${lower} and <= ${upper}. Received ${value}`);
    }
    return value;
  }

  /** Node's checks of a zlib or brotli object's options (its Zlib or Brotli constructor, then
   *  ZlibBase), in Node's order. Their values do not change the output here (see above), but a
   *  value Node refuses is refused. `inflating`: a zlib decompressor (inflate, gunzip, unzip),
   *  for which a windowBits of null or 0 means "from the header". */
  function checkOptions(options, compress, format, inflating) {
    if (!options) return;
    if (format !== BROTLI) {
      if (!(inflating && (options.windowBits == null || options.windowBits === 0))) { // eslint-disable-line eqeqeq
        checkRange(options.windowBits, "options.windowBits", format === GZIP && compress ? 9 : 8, 15, 15);
      }
      checkRange(options.level, "options.level", -1, 9, -1);
      checkRange(options.memLevel, "options.memLevel", 1, 9, 8);
      checkRange(options.strategy, "options.strategy", 0, 4, 0);
      const dictionary = options.dictionary;
      if (dictionary !== undefined && typedArrayName(dictionary) === undefined && !isDataView(dictionary) && !isArrayBuffer(dictionary)) {
        throw invalidArgType("options.dictionary", "an instance of Buffer, TypedArray, DataView, or ArrayBuffer", dictionary);
      }
    } else if (options.params) {
      const keys = ObjectKeys(options.params);
      for (let i = 0; i < keys.length; i++) {
        const key = +keys[i];
        // Node's check: a parameter number up to the largest (BROTLI_PARAM_NDIRECT, 8); a decoder
        // then knows only 0 and 1 (its native init fails on another).
        if (key !== key || key < 0 || key > 8) {
          throw nodeError(RangeError, "ERR_BROTLI_INVALID_PARAM", `${keys[i]} is not a valid Brotli parameter`);
        }
        const value = options.params[keys[i]];
        if (typeof value !== "number" && typeof value !== "boolean") throw invalidArgType("options.params[key]", "of type number", value);
        if (!compress && key > 1) throw nodeError(Error, "ERR_ZLIB_INITIALIZATION_FAILED", "Initialization failed");
      }
    }
    const chunkSize = options.chunkSize;
    if (chunkSize !== undefined && !(typeof chunkSize === "number" && chunkSize !== chunkSize)) {
      if (typeof chunkSize !== "number") throw invalidArgType("options.chunkSize", "of type number", chunkSize);
      if (!NumberIsFinite(chunkSize)) throw nodeError(RangeError, "ERR_OUT_OF_RANGE", `The value of "options.chunkSize" is out of range. It must be a finite number. Received ${chunkSize}`);
      if (chunkSize < 64) throw nodeError(RangeError, "ERR_OUT_OF_RANGE", `The value of "options.chunkSize" is out of range. It must be >= 64. Received ${chunkSize}`);
    }
    const flushes = format === BROTLI ? 3 : 5;
    checkRange(options.flush, "options.flush", 0, flushes, 0);
    checkRange(options.finishFlush, "options.finishFlush", 0, flushes, 0);
  }

  function maxOutput(options) {
    const max = options !== null && typeof options === "object" ? options.maxOutputLength : undefined;
    if (max === undefined) return kMaxLength;
    if (typeof max !== "number" || !(max >= 1 && max <= kMaxLength) || max % 1 !== 0) {
      throw nodeError(RangeError, "ERR_OUT_OF_RANGE",
        `The value of "options.maxOutputLength" is out of range. It must be >= 1 && <= ${kMaxLength}. Received ${max}`);
    }
    return max;
  }

  /** Runs `bytes` through one native codec and joins what it emits. */
  function run(compress, format, bytes, options) {
    checkOptions(options, compress, format, !compress && format !== DEFLATE_RAW);
    const limit = compress ? kMaxLength : maxOutput(options);
    if (format === UNZIP) format = bytes[0] === 0x1f && bytes[1] === 0x8b ? GZIP : DEFLATE;
    const codec = compress
      ? nativeCodec(NATIVE.compressNew, NATIVE.compressWrite, format)
      : nativeCodec(NATIVE.decompressNew, NATIVE.decompressWrite, format, CODEC_AFTER_NODE);
    const pieces = [];
    let total = 0;
    try {
      codec.write(bytes, CODEC_FINISH, (piece) => {
        total += typedArrayByteLength(piece);
        if (total > limit) {
          throw nodeError(RangeError, "ERR_BUFFER_TOO_LARGE", `Cannot create a Buffer larger than ${limit} bytes`);
        }
        pieces[pieces.length] = piece;
      });
    } catch (e) {
      codec.close();
      throw zlibError(e);
    }
    return toBuffer(joinBytes(pieces, total));
  }

  const exports = { __proto__: null };
  // Index loops, not for-of over arrays: the module may be built after tenant code replaced the
  // array iterator.
  const ONE_SHOT = [
    ["gzip", true, GZIP], ["gunzip", false, GZIP], ["deflate", true, DEFLATE], ["inflate", false, DEFLATE],
    ["deflateRaw", true, DEFLATE_RAW], ["inflateRaw", false, DEFLATE_RAW], ["unzip", false, UNZIP],
    ["brotliCompress", true, BROTLI], ["brotliDecompress", false, BROTLI],
  ];
  for (let i = 0; i < ONE_SHOT.length; i++) {
    const name = ONE_SHOT[i][0], compress = ONE_SHOT[i][1], format = ONE_SHOT[i][2];
    const sync = (buffer, options) => run(compress, format, inputBytes(buffer), options);
    exports[`${name}Sync`] = sync;
    exports[name] = (buffer, options, callback) => {
      if (typeof options === "function") {
        callback = options;
        options = undefined;
      }
      if (typeof callback !== "function") throw invalidArgType("callback", "of type function", callback);
      let result, error = null;
      try {
        result = sync(buffer, options);
      } catch (e) {
        error = e;
      }
      // Node answers from its thread pool, on a later turn of the event loop.
      armInternalTimer(() => (error !== null ? callback(error) : callback(null, result)), 0);
    };
  }

  const classes = zlibStreamClasses({ __proto__: null, GZIP, BROTLI, UNZIP, DEFLATE_RAW, checkOptions });
  const CLASSES = ["Gzip", "Gunzip", "Deflate", "Inflate", "DeflateRaw", "InflateRaw", "Unzip", "BrotliCompress", "BrotliDecompress"];
  for (let i = 0; i < CLASSES.length; i++) {
    const name = CLASSES[i];
    exports[`create${name}`] = classes[`create${name}`];
    exports[name] = classes[name];
  }

  // CRC-32 (IEEE, as zlib's crc32), continuing from `value`.
  let table = null;
  exports.crc32 = (data, value = 0) => {
    const bytes = inputBytes(data);
    if (typeof value !== "number" || !(value >= 0 && value <= 0xffffffff) || value % 1 !== 0) {
      throw invalidArgType("value", "of type number (an unsigned 32-bit integer)", value);
    }
    if (table === null) {
      table = [];
      for (let n = 0; n < 256; n++) {
        let c = n;
        for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
        table[n] = c >>> 0;
      }
    }
    let crc = (value ^ 0xffffffff) >>> 0;
    const n = typedArrayByteLength(bytes);
    for (let i = 0; i < n; i++) crc = (table[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8)) >>> 0;
    return (crc ^ 0xffffffff) >>> 0;
  };

  exports.constants = ObjectFreeze({
    __proto__: null,
    Z_NO_FLUSH: 0, Z_PARTIAL_FLUSH: 1, Z_SYNC_FLUSH: 2, Z_FULL_FLUSH: 3, Z_FINISH: 4, Z_BLOCK: 5,
    Z_OK: 0, Z_STREAM_END: 1, Z_NEED_DICT: 2, Z_ERRNO: -1, Z_STREAM_ERROR: -2, Z_DATA_ERROR: -3,
    Z_MEM_ERROR: -4, Z_BUF_ERROR: -5, Z_VERSION_ERROR: -6,
    Z_NO_COMPRESSION: 0, Z_BEST_SPEED: 1, Z_BEST_COMPRESSION: 9, Z_DEFAULT_COMPRESSION: -1,
    Z_FILTERED: 1, Z_HUFFMAN_ONLY: 2, Z_RLE: 3, Z_FIXED: 4, Z_DEFAULT_STRATEGY: 0,
    DEFLATE: 1, INFLATE: 2, GZIP: 3, GUNZIP: 4, DEFLATERAW: 5, INFLATERAW: 6, UNZIP: 7,
    BROTLI_DECODE: 8, BROTLI_ENCODE: 9,
    BROTLI_OPERATION_PROCESS: 0, BROTLI_OPERATION_FLUSH: 1, BROTLI_OPERATION_FINISH: 2,
    BROTLI_PARAM_MODE: 0, BROTLI_PARAM_QUALITY: 1, BROTLI_PARAM_LGWIN: 2, BROTLI_PARAM_SIZE_HINT: 5,
    BROTLI_MIN_QUALITY: 0, BROTLI_MAX_QUALITY: 11, BROTLI_DEFAULT_QUALITY: 11,
  });
  // Node's legacy aliases: every constant but Brotli's on the module itself, not enumerable;
  // `codes`, the result codes both ways.
  const names = ObjectKeys(exports.constants);
  const codes = { __proto__: null };
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    if (RegExpTest(/^BROTLI/, name)) continue;
    ObjectDefineProperty(exports, name, { __proto__: null, value: exports.constants[name], enumerable: false, writable: false, configurable: false });
  }
  const results = ["Z_OK", "Z_STREAM_END", "Z_NEED_DICT", "Z_ERRNO", "Z_STREAM_ERROR", "Z_DATA_ERROR", "Z_MEM_ERROR", "Z_BUF_ERROR", "Z_VERSION_ERROR"];
  for (let i = 0; i < results.length; i++) {
    codes[results[i]] = exports.constants[results[i]];
    codes[exports.constants[results[i]]] = results[i];
  }
  exports.codes = ObjectFreeze(ObjectSetPrototypeOf(codes, ObjectGetPrototypeOf({})));
  return exports;
}

const ZLIB_NAMES = [
  "gzip", "gzipSync", "gunzip", "gunzipSync", "deflate", "deflateSync", "inflate", "inflateSync",
  "deflateRaw", "deflateRawSync", "inflateRaw", "inflateRawSync", "unzip", "unzipSync",
  "brotliCompress", "brotliCompressSync", "brotliDecompress", "brotliDecompressSync", "crc32", "constants", "codes",
  "createGzip", "createGunzip", "createDeflate", "createInflate", "createDeflateRaw", "createInflateRaw",
  "createUnzip", "createBrotliCompress", "createBrotliDecompress",
  "Gzip", "Gunzip", "Deflate", "Inflate", "DeflateRaw", "InflateRaw", "Unzip", "BrotliCompress", "BrotliDecompress",
];
defineBuiltin("node:zlib", ZLIB_NAMES, zlibModule);
