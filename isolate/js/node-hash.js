// ---- node-hash.js: node:crypto's Hash and Hmac on the native digest ops, and LazyTransform. -----
// createHash/createHmac/hash are incremental native digests (ops/src/crypto/hash.rs Hasher through
// DigestNew/DigestUpdate/DigestFinish, DigestCopy for Hash.copy(); HmacNew/Update/Finish in
// ops/src/crypto/node/digest.rs): MD5, SHA-1, SHA-224, SHA-256, SHA-384, SHA-512, SHA-512/224,
// SHA-512/256, SHA3-224/256/384/512, SHAKE128/256 (with `outputLength`), RIPEMD-160, BLAKE2b-512
// and BLAKE2s-256 under Node's names and aliases (a signature's digest is one its key op knows:
// NODE_KEY_HASHES in node-crypto-sign.js). A Hash or Hmac holds one native handle, freed by
// digest() or, if the tenant drops it unfinished, when it is collected (trackNative); the
// isolate's handle caps bound what is open at once. Errors are Node's (codes and messages).
// Hash, Hmac, Cipheriv and Decipheriv are stream.Transforms, as Node's (`pipe` a file into a hash,
// `pipeline(source, cipher, sink)`), through Node's LazyTransform: node:stream (readable-stream,
// whose making costs about as much as node:crypto's) is built only when one of them is first used
// as a stream (or the tenant imports node:stream), and an instance gets its stream state at its
// own first stream use.
// Trusts: the native ops; the captured helpers of the prelude (callOp, the field readers).

/** node:crypto's native ops (ops/src/lib.rs OpCode). */
const NODE_OP = ObjectFreeze({
  __proto__: null,
  free: 0x0001, digestNew: 0x0104, digestUpdate: 0x0105, digestFinish: 0x0106,
  digest: 0x0101, digestCopy: 0x0601, hmacNew: 0x0602, hmacUpdate: 0x0603, hmacFinish: 0x0604,
  pbkdf2: 0x0610, hkdf: 0x0611, scrypt: 0x0612,
  keyParse: 0x0620, keyPublicOf: 0x0621, keyEncode: 0x0622, keyImport: 0x0160, keyExport: 0x0161,
  ecGenerate: 0x0130, ecdsaSign: 0x0131, ecdsaVerify: 0x0132, ecdh: 0x0133,
  okpGenerate: 0x0140, ed25519Sign: 0x0141, ed25519Verify: 0x0142, x25519: 0x0143,
  rsaGenerate: 0x0150, rsaSign: 0x0151, rsaVerify: 0x0152, oaepEncrypt: 0x0153, oaepDecrypt: 0x0154,
  cipherNew: 0x0630, cipherUpdate: 0x0631, cipherFinal: 0x0632, cipherAad: 0x0633, cipherPadding: 0x0634,
});

/** Node digest names (lower case) -> native digest numbers (hash.rs). */
const NODE_DIGESTS = {
  __proto__: null,
  md5: 5, sha1: 1, sha224: 9, sha256: 2, sha384: 3, sha512: 4, "sha512-224": 10, "sha512-256": 11,
  "rsa-md5": 5, "rsa-sha1": 1, "rsa-sha224": 9, "rsa-sha256": 2, "rsa-sha384": 3, "rsa-sha512": 4,
  "sha-1": 1, "sha-224": 9, "sha-256": 2, "sha-384": 3, "sha-512": 4, "sha-512/224": 10, "sha-512/256": 11,
  "sha512/224": 10, "sha512/256": 11, "rsa-sha512/224": 10, "rsa-sha512/256": 11,
  sha1withrsaencryption: 1, sha224withrsaencryption: 9, sha256withrsaencryption: 2,
  sha384withrsaencryption: 3, sha512withrsaencryption: 4, md5withrsaencryption: 5,
  // Node's (OpenSSL's) other digests: SHA-3, SHAKE, RIPEMD-160, BLAKE2.
  "sha3-224": 12, "sha3-256": 13, "sha3-384": 14, "sha3-512": 15,
  "rsa-sha3-224": 12, "rsa-sha3-256": 13, "rsa-sha3-384": 14, "rsa-sha3-512": 15,
  "id-rsassa-pkcs1-v1_5-with-sha3-224": 12, "id-rsassa-pkcs1-v1_5-with-sha3-256": 13,
  "id-rsassa-pkcs1-v1_5-with-sha3-384": 14, "id-rsassa-pkcs1-v1_5-with-sha3-512": 15,
  shake128: 16, shake256: 17,
  ripemd160: 18, ripemd: 18, rmd160: 18, "rsa-ripemd160": 18, ripemd160withrsa: 18,
  blake2b512: 19, blake2s256: 20,
};
/** The SHAKE functions, whose output length a Hash may be given (`outputLength`). */
const NODE_XOF = { __proto__: null, 16: true, 17: true };
// getHashes(): the names Node 20 lists that name a digest here (in its order and spelling).
const NODE_HASH_NAMES = ["RSA-MD5", "RSA-RIPEMD160", "RSA-SHA1", "RSA-SHA224", "RSA-SHA256", "RSA-SHA3-224",
  "RSA-SHA3-256", "RSA-SHA3-384", "RSA-SHA3-512", "RSA-SHA384", "RSA-SHA512", "RSA-SHA512/224", "RSA-SHA512/256",
  "blake2b512", "blake2s256", "id-rsassa-pkcs1-v1_5-with-sha3-224", "id-rsassa-pkcs1-v1_5-with-sha3-256",
  "id-rsassa-pkcs1-v1_5-with-sha3-384", "id-rsassa-pkcs1-v1_5-with-sha3-512", "md5", "md5WithRSAEncryption",
  "ripemd", "ripemd160", "ripemd160WithRSA", "rmd160", "sha1", "sha1WithRSAEncryption", "sha224",
  "sha224WithRSAEncryption", "sha256", "sha256WithRSAEncryption", "sha3-224", "sha3-256", "sha3-384", "sha3-512",
  "sha384", "sha384WithRSAEncryption", "sha512", "sha512-224", "sha512-256", "sha512WithRSAEncryption",
  "shake128", "shake256"];
const NODE_HASH_LENGTH = {
  __proto__: null, 1: 20, 2: 32, 3: 48, 4: 64, 5: 16, 9: 28, 10: 28, 11: 32,
  12: 28, 13: 32, 14: 48, 15: 64, 16: 16, 17: 32, 18: 20, 19: 64, 20: 32,
};

/** The native number of digest `name`, or undefined. */
function nodeDigestId(name) {
  return typeof name === "string" ? NODE_DIGESTS[StringToLowerCase(name)] : undefined;
}

/** A Hash's `outputLength` option: undefined, or a uint32 a SHAKE takes and another digest only
 *  when it is its own length (Node's OpenSSL error otherwise). */
function nodeOutputLength(id, options) {
  const n = options?.outputLength;
  if (n === undefined) return undefined;
  validateInteger(n, "options.outputLength", 0, 4294967295);
  if (NODE_XOF[id] !== true && n !== NODE_HASH_LENGTH[id]) {
    throw nodeError(Error, "ERR_OSSL_EVP_NOT_XOF_OR_INVALID_LENGTH", "error:030000B2:digital envelope routines::not XOF or invalid length");
  }
  return NODE_XOF[id] === true ? n : undefined;
}

const lazyTransformHolder = { __proto__: null, proto: undefined, Transform: undefined };
/** Keys whose lookup on a LazyTransform does not build node:stream: what Object.prototype has, and
 *  what a value is asked when awaited, printed or converted (none of them a stream's). */
const LAZY_TRANSFORM_QUIET = ["then", "toJSON", Symbol.toPrimitive, SymbolToStringTag];

/** Gives the LazyTransform prototype node:stream's Transform.prototype (and so every stream
 *  method and accessor); once. */
function adoptLazyTransform(Transform) {
  const proto = lazyTransformPrototype();
  if (lazyTransformHolder.Transform !== undefined) return;
  lazyTransformHolder.Transform = Transform;
  ObjectSetPrototypeOf(proto, Transform.prototype);
}

/** Node's LazyTransform.prototype (lib/internal/streams/lazy_transform.js): the prototype of
 *  Hash.prototype, Hmac.prototype and the ciphers'. Until node:stream is built, what it does not
 *  hold itself is looked up through a proxy that builds node:stream and answers from
 *  Transform.prototype (the keys Object.prototype answers, and LAZY_TRANSFORM_QUIET, excepted);
 *  then the proxy leaves the chain. `_readableState`, `_writableState` and `_transformState` are
 *  accessors that run Transform's constructor on the instance at its first stream use (with the
 *  options its constructor got, its `_options`) and then are its own data properties. */
function lazyTransformPrototype() {
  if (lazyTransformHolder.proto !== undefined) return lazyTransformHolder.proto;
  const quiet = (key) => {
    for (let i = 0; i < LAZY_TRANSFORM_QUIET.length; i++) if (LAZY_TRANSFORM_QUIET[i] === key) return true;
    return ReflectHas(ObjectPrototype, key);
  };
  const streams = () => {
    if (lazyTransformHolder.Transform === undefined) adoptLazyTransform(lazyInternals("nodestream").library().Transform);
    return lazyTransformHolder.Transform.prototype;
  };
  const before = new ProxyConstructor(ObjectCreate(ObjectPrototype), {
    __proto__: null,
    get: (target, key, receiver) => ReflectGet(quiet(key) ? ObjectPrototype : streams(), key, receiver),
    has: (target, key) => ReflectHas(quiet(key) ? ObjectPrototype : streams(), key),
    set: (target, key, value, receiver) => ReflectSet(quiet(key) ? ObjectPrototype : streams(), key, value, receiver),
  });
  const proto = ObjectCreate(before);
  const own = (object, key, value) => ObjectDefineProperty(object, key, { __proto__: null, value, writable: true, enumerable: true, configurable: true });
  const names = ["_readableState", "_writableState", "_transformState"];
  for (let i = 0; i < names.length; i++) {
    const key = names[i];
    ObjectDefineProperty(proto, key, {
      __proto__: null,
      configurable: true,
      enumerable: true,
      get() {
        streams();
        const options = this._options;
        ReflectApply(lazyTransformHolder.Transform, this, [options]);
        // As Node's: strings reach _transform as written, with their encoding ("buffer" unless
        // the options name one).
        this._writableState.decodeStrings = false;
        if (!options || !options.defaultEncoding) this._writableState.defaultEncoding = "buffer";
        return this[key];
      },
      set(value) { own(this, key, value); },
    });
  }
  lazyTransformHolder.proto = proto;
  return proto;
}

/** Keeps `options` as the instance's own `_options`, as Node's LazyTransform does (defined, not
 *  assigned: an assignment would reach the proxy and build node:stream). */
function lazyTransformOptions(self, options) {
  ObjectDefineProperty(self, "_options", { __proto__: null, value: options, writable: true, enumerable: true, configurable: true });
}
shareInternals("lazytransform", ObjectFreeze({ __proto__: null, adopt: adoptLazyTransform }));

/** A LazyTransform's `_transform` for a digest: the chunk to update() (a string in its encoding,
 *  "buffer" meaning UTF-8), an error to the callback. */
function lazyTransformWrite(self, chunk, encoding, callback) {
  try {
    self.update(chunk, typeof chunk === "string" && encoding !== "buffer" ? encoding : undefined);
  } catch (e) {
    return callback(e);
  }
  return callback();
}

/** Hash and Hmac; `h` holds the module's helpers (node-crypto.js: bytesOf, output, secretBytes). */
function nodeHashClasses(h) {
  const finalized = () => nodeError(Error, "ERR_CRYPTO_HASH_FINALIZED", "Digest already called");
  const handleOf = (answer) => fieldU32(answer);

  class Hash {
    #handle = 0;
    #done = false;
    #flushed = undefined; // the digest the stream's end pushed: digest() answers it once, as Node
    #digested = undefined; // digest()'s bytes: a stream ended after it pushes them, as Node
    #id = 0; // the digest's number, for copy()'s outputLength
    constructor(algorithm, options, id = 0) {
      lazyTransformOptions(this, algorithm === INTERNAL ? undefined : options);
      if (algorithm === INTERNAL) {
        this.#handle = options;
        this.#id = id;
      } else {
        if (typeof algorithm !== "string") throw invalidArgType("algorithm", "of type string", algorithm);
        const id = nodeDigestId(algorithm);
        if (id === undefined) throw new Error("Digest method not supported");
        const length = nodeOutputLength(id, options);
        this.#handle = handleOf(callOp(NODE_OP.digestNew, length === undefined ? [id] : [id, length]));
        this.#id = id;
      }
      trackNative(this, this.#handle);
    }
    update(data, encoding) {
      if (this.#done || this.#flushed !== undefined) throw finalized();
      callOp(NODE_OP.digestUpdate, [this.#handle, h.updateBytes(data, encoding, "data")]);
      return this;
    }
    digest(encoding) {
      if (this.#done) throw finalized();
      this.#done = true;
      if (this.#flushed !== undefined) return h.output(this.#flushed, encoding);
      untrackNative(this);
      this.#digested = callOp(NODE_OP.digestFinish, [this.#handle]);
      return h.output(this.#digested, encoding);
    }
    copy(options) {
      if (this.#done || this.#flushed !== undefined) throw finalized();
      const length = nodeOutputLength(this.#id, options);
      const args = length === undefined ? [this.#handle] : [this.#handle, length];
      return new Hash(INTERNAL, handleOf(callOp(NODE_OP.digestCopy, args)), this.#id);
    }
    _transform(chunk, encoding, callback) {
      lazyTransformWrite(this, chunk, encoding, callback);
    }
    _flush(callback) {
      if (this.#done) {
        this.push(h.output(this.#digested)); // digest() came first: Node pushes it again
        return callback();
      }
      if (this.#flushed !== undefined) return callback(finalized());
      untrackNative(this);
      this.#flushed = callOp(NODE_OP.digestFinish, [this.#handle]);
      this.push(h.output(this.#flushed));
      return callback();
    }
  }

  class Hmac {
    #handle;
    #done = false;
    constructor(hmac, key, options) {
      if (typeof hmac !== "string") throw invalidArgType("hmac", "of type string", hmac);
      const id = nodeDigestId(hmac);
      // SHAKE has no HMAC (Node's OpenSSL fails it with an error of no meaning).
      if (id === undefined || NODE_XOF[id] === true) throw nodeError(TypeError, "ERR_CRYPTO_INVALID_DIGEST", `Invalid digest: ${hmac}`);
      const k = h.secretBytes(key, options?.encoding, "key");
      lazyTransformOptions(this, options);
      this.#handle = handleOf(callOp(NODE_OP.hmacNew, [id, k]));
      trackNative(this, this.#handle);
    }
    update(data, encoding) {
      if (this.#done) throw finalized();
      callOp(NODE_OP.hmacUpdate, [this.#handle, h.updateBytes(data, encoding, "data")]);
      return this;
    }
    digest(encoding) {
      if (this.#done) return h.output(new U8(0), encoding);
      this.#done = true;
      untrackNative(this);
      return h.output(callOp(NODE_OP.hmacFinish, [this.#handle]), encoding);
    }
    _transform(chunk, encoding, callback) {
      lazyTransformWrite(this, chunk, encoding, callback);
    }
    _flush(callback) {
      this.push(this.digest());
      callback();
    }
  }
  ObjectSetPrototypeOf(Hash.prototype, lazyTransformPrototype());
  ObjectSetPrototypeOf(Hmac.prototype, lazyTransformPrototype());

  /** crypto.hash(algorithm, data[, outputEncoding]): one-shot. */
  function hash(algorithm, data, outputEncoding = "hex") {
    if (typeof algorithm !== "string") throw invalidArgType("algorithm", "of type string", algorithm);
    if (typeof data !== "string" && !(data !== null && typeof data === "object" && typedArrayName(data) !== undefined)) {
      throw invalidArgType("data", "of type string or an instance of Buffer, TypedArray, or DataView", data);
    }
    const id = nodeDigestId(algorithm);
    if (id === undefined) throw new Error("Digest method not supported");
    return h.output(callOp(NODE_OP.digest, [id, h.bytesOf(data, undefined, "data")]), outputEncoding);
  }

  return { Hash, Hmac, hash };
}
