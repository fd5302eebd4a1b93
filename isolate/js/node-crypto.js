// ---- node-crypto.js: node:crypto. ---------------------------------------------------------------
// randomBytes/randomFill(Sync)/randomInt/randomUUID/getRandomValues draw from the host's CSPRNG
// (the same primitive as crypto.getRandomValues); createHash/createHmac/hash support md5, sha1,
// sha224, sha256, sha384 and sha512 (node-hash.js: in JavaScript until the native op road lands,
// see there); timingSafeEqual compares without an early exit; webcrypto is the global `crypto`,
// and `subtle` is whatever the global `crypto.subtle` is (WebCrypto arrives with branch `crypto`;
// until then it is undefined). Keys, ciphers, signatures, key derivation and Diffie-Hellman are
// not implemented: they throw ERR_METHOD_NOT_IMPLEMENTED naming the function.

function cryptoModule() {
  const { Buffer } = builtinExports("node:buffer");
  const toBuffer = (u8) => Buffer.from(typedArrayBuffer(u8), typedArrayByteOffset(u8), typedArrayByteLength(u8));

  /** The bytes of `data`: a string in `encoding` (utf8 by default), or a BufferSource. */
  function bytesOf(data, encoding, name) {
    if (typeof data === "string") return encodeString(data, encodingOrThrow(encoding));
    if (data !== null && typeof data === "object" && (typedArrayName(data) !== undefined || isDataView(data) || isArrayBuffer(data))) {
      return bufferSourceBytes(data, name);
    }
    throw invalidArgType(name, "of type string or an instance of Buffer, TypedArray, or DataView", data);
  }
  function algorithm(name) {
    const key = `${name}`.toLowerCase();
    const canonical = HASH_ALIASES[key] ?? key;
    if (newHashState(canonical) === undefined) throw nodeError(Error, "ERR_CRYPTO_INVALID_DIGEST", `Invalid digest: ${name}`);
    return canonical;
  }
  function output(bytes, encoding) {
    if (encoding === undefined || encoding === "buffer") return toBuffer(bytes);
    return decodeBytes(bytes, encodingOrThrow(encoding), 0, bytes.length);
  }

  class Hash {
    #state;
    #done = false;
    constructor(name, state) {
      this.#state = state ?? newHashState(algorithm(name));
    }
    update(data, encoding) {
      if (this.#done) throw nodeError(Error, "ERR_CRYPTO_HASH_FINALIZED", "Digest already called");
      hashUpdate(this.#state, bytesOf(data, encoding, "data"));
      return this;
    }
    digest(encoding) {
      if (this.#done) throw nodeError(Error, "ERR_CRYPTO_HASH_FINALIZED", "Digest already called");
      this.#done = true;
      return output(hashFinal(this.#state), encoding);
    }
    copy() {
      if (this.#done) throw nodeError(Error, "ERR_CRYPTO_HASH_FINALIZED", "Digest already called");
      return new Hash(undefined, hashCopy(this.#state));
    }
  }

  class Hmac {
    #inner;
    #outer;
    #done = false;
    constructor(name, key, options) {
      const alg = algorithm(name);
      let k = bytesOf(key, options?.encoding, "key");
      const block = HASH_SPECS[alg].block;
      if (k.length > block) {
        const st = newHashState(alg);
        hashUpdate(st, k);
        k = hashFinal(st);
      }
      const ipad = new Uint8Array(block).fill(0x36);
      const opad = new Uint8Array(block).fill(0x5c);
      for (let i = 0; i < k.length; i++) { ipad[i] ^= k[i]; opad[i] ^= k[i]; }
      this.#inner = newHashState(alg);
      hashUpdate(this.#inner, ipad);
      this.#outer = newHashState(alg);
      hashUpdate(this.#outer, opad);
    }
    update(data, encoding) {
      if (this.#done) throw nodeError(Error, "ERR_CRYPTO_HASH_FINALIZED", "Digest already called");
      hashUpdate(this.#inner, bytesOf(data, encoding, "data"));
      return this;
    }
    digest(encoding) {
      if (this.#done) return output(new Uint8Array(0), encoding);
      this.#done = true;
      hashUpdate(this.#outer, hashFinal(this.#inner));
      return output(hashFinal(this.#outer), encoding);
    }
  }

  function randomFillSync(buf, offset = 0, size) {
    if (!(typedArrayName(buf) !== undefined || isDataView(buf) || isArrayBuffer(buf))) {
      throw invalidArgType("buf", "an instance of ArrayBuffer or ArrayBufferView", buf);
    }
    const bytes = bufferSourceBytes(buf, "buf");
    const elem = typedArrayName(buf) !== undefined ? typedArrayByteLength(buf) / (typedArrayLength(buf) || 1) || 1 : 1;
    const start = validateInteger(offset, "offset", 0, bytes.length) * elem;
    const end = size === undefined ? bytes.length : start + validateInteger(size, "size", 0, bytes.length) * elem;
    if (end > bytes.length) throw outOfRange("size + offset", `<= ${bytes.length}`, end);
    for (let at = start; at < end; at += 65536) {
      hostRandomFill(new Uint8Array(typedArrayBuffer(bytes), typedArrayByteOffset(bytes) + at, end - at < 65536 ? end - at : 65536));
    }
    return buf;
  }
  function randomBytes(size, callback) {
    validateInteger(size, "size", 0, 2 ** 31 - 1);
    const buf = randomFillSync(Buffer.alloc(size));
    if (callback === undefined) return buf;
    validateFunction(callback, "callback");
    queueMicrotask(() => callback(null, buf));
    return undefined;
  }
  function randomInt(min, max, callback) {
    if (typeof max !== "number") { callback = max; max = min; min = 0; }
    validateInteger(min, "min", NumberMIN_SAFE_INTEGER, NumberMAX_SAFE_INTEGER);
    validateInteger(max, "max", NumberMIN_SAFE_INTEGER, NumberMAX_SAFE_INTEGER);
    const range = max - min;
    if (!(range > 0 && range <= 2 ** 48)) throw outOfRange("max", `greater than the value of "min" (${min}) and at most 2**48 above it`, max);
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
    validateFunction(callback, "callback");
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
  const notImplemented = (name) => () => {
    throw nodeError(Error, "ERR_METHOD_NOT_IMPLEMENTED", `The ${name} method is not implemented by Stockade's node:crypto`);
  };
  const webcrypto = globalThis.crypto;
  const exports = {
    createHash: (name, options) => new Hash(name),
    createHmac: (name, key, options) => new Hmac(name, key, options),
    hash: (name, data, encoding = "hex") => output((() => { const st = newHashState(algorithm(name)); hashUpdate(st, bytesOf(data, undefined, "data")); return hashFinal(st); })(), encoding),
    getHashes: () => ["md5", "sha1", "sha224", "sha256", "sha384", "sha512"],
    getCiphers: () => [], getCurves: () => [],
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
    constants: {},
  };
  for (const name of ["createCipheriv", "createDecipheriv", "createSign", "createVerify", "sign", "verify",
    "createPublicKey", "createPrivateKey", "createSecretKey", "generateKeyPair", "generateKeyPairSync",
    "generateKey", "generateKeySync", "pbkdf2", "pbkdf2Sync", "hkdf", "hkdfSync", "scrypt", "scryptSync",
    "createDiffieHellman", "createECDH", "diffieHellman", "publicEncrypt", "privateDecrypt", "privateEncrypt",
    "publicDecrypt", "checkPrime", "checkPrimeSync", "generatePrime", "generatePrimeSync"]) {
    exports[name] = notImplemented(name);
  }
  return exports;
}


defineBuiltin("node:crypto", ["createHash", "createHmac", "hash", "getHashes", "getCiphers", "getCurves",
  "randomBytes", "pseudoRandomBytes", "randomFillSync", "randomFill", "randomInt", "randomUUID", "getRandomValues",
  "timingSafeEqual", "webcrypto", "subtle", "Hash", "Hmac", "constants", "createCipheriv", "createDecipheriv",
  "createSign", "createVerify", "sign", "verify", "createPublicKey", "createPrivateKey", "createSecretKey",
  "generateKeyPair", "generateKeyPairSync", "generateKey", "generateKeySync", "pbkdf2", "pbkdf2Sync", "hkdf",
  "hkdfSync", "scrypt", "scryptSync", "createDiffieHellman", "createECDH", "diffieHellman", "publicEncrypt",
  "privateDecrypt", "privateEncrypt", "publicDecrypt", "checkPrime", "checkPrimeSync", "generatePrime",
  "generatePrimeSync"], cryptoModule);
