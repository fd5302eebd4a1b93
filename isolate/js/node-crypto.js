// ---- node-crypto.js: node:crypto. ---------------------------------------------------------------
// randomBytes/randomFill(Sync)/randomInt/randomUUID/getRandomValues draw from the host's CSPRNG
// (the same primitive as crypto.getRandomValues); timingSafeEqual compares without an early exit;
// webcrypto is the global `crypto`. The rest is on the native ops, one part each: hashes and HMAC
// (node-hash.js), pbkdf2/hkdf/scrypt (node-crypto-kdf.js), KeyObject and key making
// (node-crypto-keys.js), signatures, RSA encryption and diffieHellman (node-crypto-sign.js),
// ciphers (node-crypto-cipher.js), createECDH and finite-field Diffie-Hellman (node-crypto-dh.js),
// X509Certificate (node-crypto-x509.js); this part gives them their shared helpers (`h`) and
// assembles the module. The prime functions (checkPrime, generatePrime) throw
// ERR_METHOD_NOT_IMPLEMENTED naming the function.

function cryptoModule() {
  const { Buffer } = builtinExports("node:buffer");
  const toBuffer = (u8) => Buffer.from(typedArrayBuffer(u8), typedArrayByteOffset(u8), typedArrayByteLength(u8));

  /** The bytes of `data`: a string in `encoding` (utf8 by default), or a BufferSource. */
  /** An update()'s data (Hash, Hmac, Sign, Verify, Cipheriv): a string in hex must be of even
   *  length (Node's validateEncoding), then as bytesOf. */
  function updateBytes(data, encoding, name) {
    if (typeof data === "string" && data.length % 2 !== 0 && normalizeEncoding(encoding) === "hex") {
      throw nodeError(TypeError, "ERR_INVALID_ARG_VALUE", `The argument 'encoding' is invalid for data of length ${data.length}. Received '${encoding}'`);
    }
    return bytesOf(data, encoding, name);
  }
  function bytesOf(data, encoding, name) {
    if (typeof data === "string") return encodeString(data, encodingOrThrow(encoding));
    if (data !== null && typeof data === "object" && (typedArrayName(data) !== undefined || isDataView(data) || isArrayBuffer(data))) {
      return bufferSourceBytes(data, name);
    }
    throw invalidArgType(name, "of type string or an instance of Buffer, TypedArray, or DataView", data);
  }
  /** Node's "ArrayBuffer, Buffer, TypedArray, DataView or string" arguments (password, salt, iv). */
  function bytesLike(data, name, encoding) {
    if (typeof data === "string") return encodeString(data, encodingOrThrow(encoding ?? "utf8"));
    if (data !== null && typeof data === "object" && (typedArrayName(data) !== undefined || isDataView(data) || isArrayBuffer(data))) {
      return bufferSourceBytes(data, name);
    }
    throw invalidArgType(name, "of type string or an instance of ArrayBuffer, Buffer, TypedArray, or DataView", data);
  }
  function output(bytes, encoding) {
    if (encoding === undefined || encoding === "buffer") return toBuffer(bytes);
    return decodeBytes(bytes, encodingOrThrow(encoding), 0, typedArrayByteLength(bytes));
  }
  // Node's assertOffset and assertSize (internal/crypto/random): a number, times the element's
  // size, within bounds (a fraction is cut: `>>> 0`).
  const kMaxPossibleLength = 2 ** 31 - 1;
  function assertOffset(offset, elementSize, length) {
    if (typeof offset !== "number") throw invalidArgType("offset", "of type number", offset);
    offset *= elementSize;
    const maxLength = length < kMaxPossibleLength ? length : kMaxPossibleLength;
    if (offset !== offset || offset > maxLength || offset < 0) throw outOfRange("offset", `>= 0 && <= ${maxLength}`, offset);
    return offset >>> 0;
  }
  function assertSize(size, elementSize, offset, length) {
    if (typeof size !== "number") throw invalidArgType("size", "of type number", size);
    size *= elementSize;
    if (size !== size || size > kMaxPossibleLength || size < 0) throw outOfRange("size", `>= 0 && <= ${kMaxPossibleLength}`, size);
    if (size + offset > length) throw outOfRange("size + offset", `<= ${length}`, size + offset);
    return size >>> 0;
  }
  function randomFillSync(buf, offset = 0, size) {
    if (!(typedArrayName(buf) !== undefined || isDataView(buf) || isArrayBuffer(buf))) {
      throw invalidArgType("buf", "an instance of ArrayBuffer or ArrayBufferView", buf);
    }
    const bytes = bufferSourceBytes(buf, "buf");
    const elem = typedArrayName(buf) !== undefined ? typedArrayByteLength(buf) / (typedArrayLength(buf) || 1) || 1 : 1;
    const start = assertOffset(offset, elem, bytes.length);
    const end = size === undefined ? bytes.length : start + assertSize(size, elem, start, bytes.length);
    for (let at = start; at < end; at += 65536) {
      hostRandomFill(new Uint8Array(typedArrayBuffer(bytes), typedArrayByteOffset(bytes) + at, end - at < 65536 ? end - at : 65536));
    }
    return buf;
  }
  const h = {
    Buffer, toBuffer, bytesOf, updateBytes, bytesLike, output,
    randomBytes: (n) => randomFillSync(new U8(n)),
    /** A secret: a secret KeyObject's bytes, or bytesOf (createHmac's key, hkdf's ikm, a cipher key). */
    secretBytes(key, encoding, name) {
      const st = keys.keyState(key);
      if (st !== undefined) {
        if (st.type !== "secret") throw keys.invalidType(st.type, "secret");
        return st.der;
      }
      return bytesOf(key, encoding, name);
    },
  };
  const keys = nodeKeys(h);
  const { Hash, Hmac, hash } = nodeHashClasses(h);

  function randomBytes(size, callback) {
    size = assertSize(size, 1, 0, Infinity);
    if (callback !== undefined) validateFunction(callback, "callback");
    const buf = randomFillSync(Buffer.alloc(size));
    if (callback === undefined) return buf;
    queueMicrotask(() => callback(null, buf));
    return undefined;
  }
  function randomInt(min, max, callback) {
    // Node's: randomInt(max[, callback]) when `max` is missing or a function; the callback, then
    // safe integers, then a range of 1 to 2**48 - 1.
    const minMissing = max === undefined || typeof max === "function";
    if (minMissing) { callback = max; max = min; min = 0; }
    if (callback !== undefined) validateFunction(callback, "callback");
    if (!NumberIsSafeInteger(min)) throw invalidArgType("min", "a safe integer", min);
    if (!NumberIsSafeInteger(max)) throw invalidArgType("max", "a safe integer", max);
    if (max <= min) throw outOfRange("max", `greater than the value of "min" (${min})`, max);
    const range = max - min;
    if (!(range <= 2 ** 48 - 1)) throw outOfRange(`max${minMissing ? "" : " - min"}`, `<= ${2 ** 48 - 1}`, range);
    // Rejection sampling over 48 random bits: uniform.
    const limit = 2 ** 48 - (2 ** 48 % range);
    const six = new Uint8Array(6);
    let x;
    do {
      hostRandomFill(six);
      x = ((six[0] * 256 + six[1]) * 256 + six[2]) * 2 ** 24 + ((six[3] * 256 + six[4]) * 256 + six[5]);
    } while (x >= limit);
    const n = min + (x % range);
    if (callback === undefined) return n;
    queueMicrotask(() => callback(null, n));
    return undefined;
  }
  function timingSafeEqual(a, b) {
    const x = bytesOf(a, undefined, "buf1"), y = bytesOf(b, undefined, "buf2");
    if (typeof a === "string" || typeof b === "string") throw invalidArgType("buf1", "an instance of ArrayBuffer, Buffer, TypedArray, or DataView", a);
    if (x.length !== y.length) throw nodeError(RangeError, "ERR_CRYPTO_TIMING_SAFE_EQUAL_LENGTH", "Input buffers must have the same byte length");
    let diff = 0;
    for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
    return diff === 0;
  }
  const listCopy = (list) => {
    const out = [];
    for (let i = 0; i < list.length; i++) out[i] = list[i];
    return out;
  };
  const notImplemented = (name) => () => {
    throw nodeError(Error, "ERR_METHOD_NOT_IMPLEMENTED", `The ${name} method is not implemented by Stockade's node:crypto`);
  };
  const webcrypto = cryptoObject; // the global's value at startup, whatever the tenant did since
  const exports = {
    createHash: (algorithm, options) => new Hash(algorithm, options),
    createHmac: (hmac, key, options) => new Hmac(hmac, key, options),
    hash,
    getHashes: () => listCopy(NODE_HASH_NAMES),
    getCiphers: () => listCopy(NODE_CIPHER_NAMES),
    getCurves: () => ["prime256v1", "secp384r1", "secp521r1"],
    randomBytes, pseudoRandomBytes: randomBytes, randomFillSync,
    randomFill(buf, offset, size, callback) {
      if (typeof offset === "function") { callback = offset; offset = 0; size = undefined; }
      else if (typeof size === "function") { callback = size; size = undefined; }
      validateFunction(callback, "callback");
      randomFillSync(buf, offset, size);
      queueMicrotask(() => callback(null, buf));
    },
    randomInt,
    randomUUID: () => ReflectApply(cryptoRandomUUID, webcrypto, []),
    getRandomValues: (array) => ReflectApply(cryptoGetRandomValues, webcrypto, [array]),
    timingSafeEqual,
    webcrypto,
    subtle: webcrypto.subtle,
    Hash, Hmac,
    // No FIPS provider, no secure heap, no OpenSSL engines: answered as Node without them.
    getFips: () => 0,
    secureHeapUsed: () => ({ total: 0, used: 0, utilization: 0, min: 0 }),
    setEngine(id, flags) {
      if (typeof id !== "string") throw invalidArgType("id", "of type string", id);
      if (flags !== undefined && typeof flags !== "number") throw invalidArgType("flags", "of type number", flags);
      throw nodeError(Error, "ERR_CRYPTO_ENGINE_UNKNOWN", `Engine "${id}" was not found`);
    },
    constants: ObjectFreeze({
      // Node's crypto constants but the TLS/SSL and engine ones (Stockade has no TLS API here).
      __proto__: null, DH_CHECK_P_NOT_SAFE_PRIME: 2, DH_CHECK_P_NOT_PRIME: 1, DH_UNABLE_TO_CHECK_GENERATOR: 4,
      DH_NOT_SUITABLE_GENERATOR: 8, RSA_PKCS1_PADDING: 1, RSA_NO_PADDING: 3, RSA_PKCS1_OAEP_PADDING: 4,
      RSA_X931_PADDING: 5, RSA_PKCS1_PSS_PADDING: 6, RSA_PSS_SALTLEN_DIGEST: -1, RSA_PSS_SALTLEN_MAX_SIGN: -2,
      RSA_PSS_SALTLEN_AUTO: -2, POINT_CONVERSION_COMPRESSED: 2, POINT_CONVERSION_UNCOMPRESSED: 4, POINT_CONVERSION_HYBRID: 6,
    }),
  };
  const parts = [keys.exports, nodeKdf(h), nodeSign(h, keys), nodeCipher(h, keys), nodeDh(h), nodeX509(h, keys)];
  for (let i = 0; i < parts.length; i++) {
    const names = ObjectKeys(parts[i]);
    for (let j = 0; j < names.length; j++) exports[names[j]] = parts[i][names[j]];
  }
  const missing = ["checkPrime", "checkPrimeSync", "generatePrime", "generatePrimeSync"];
  for (let i = 0; i < missing.length; i++) exports[missing[i]] = notImplemented(missing[i]);
  return exports;
}

defineBuiltin("node:crypto", ["createHash", "createHmac", "hash", "getHashes", "getCiphers", "getCurves",
  "randomBytes", "pseudoRandomBytes", "randomFillSync", "randomFill", "randomInt", "randomUUID", "getRandomValues",
  "timingSafeEqual", "webcrypto", "subtle", "Hash", "Hmac", "constants", "createCipheriv", "createDecipheriv",
  "createSign", "createVerify", "sign", "verify", "createPublicKey", "createPrivateKey", "createSecretKey",
  "generateKeyPair", "generateKeyPairSync", "generateKey", "generateKeySync", "pbkdf2", "pbkdf2Sync", "hkdf",
  "hkdfSync", "scrypt", "scryptSync", "createDiffieHellman", "createECDH", "diffieHellman", "publicEncrypt",
  "privateDecrypt", "privateEncrypt", "publicDecrypt", "checkPrime", "checkPrimeSync", "generatePrime",
  "generatePrimeSync", "KeyObject", "Sign", "Verify", "Cipheriv", "Decipheriv", "getCipherInfo", "ECDH",
  "DiffieHellman", "DiffieHellmanGroup", "getDiffieHellman", "createDiffieHellmanGroup", "X509Certificate",
  "getFips", "secureHeapUsed", "setEngine"], cryptoModule);
