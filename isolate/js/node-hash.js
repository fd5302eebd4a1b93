// ---- node-hash.js: node:crypto's Hash and Hmac on the native digest ops, and LazyTransform. -----
// createHash/createHmac/hash are incremental native digests (ops/src/crypto/hash.rs Hasher through
// DigestNew/DigestUpdate/DigestFinish, DigestCopy for Hash.copy(); HmacNew/Update/Finish in
// ops/src/crypto/node/digest.rs): MD5, SHA-1, SHA-224, SHA-256, SHA-384, SHA-512, SHA-512/224 and
// SHA-512/256 under Node's names and aliases. A Hash or Hmac holds one native handle, freed by
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
};
const NODE_HASH_NAMES = ["md5", "rsa-md5", "rsa-sha1", "rsa-sha224", "rsa-sha256", "rsa-sha384", "rsa-sha512",
  "rsa-sha512/224", "rsa-sha512/256", "sha1", "sha224", "sha256", "sha384", "sha512", "sha512-224", "sha512-256"];
const NODE_HASH_LENGTH = { __proto__: null, 1: 20, 2: 32, 3: 48, 4: 64, 5: 16, 9: 28, 10: 28, 11: 32 };

/** The native number of digest `name`, or undefined. */
function nodeDigestId(name) {
  return typeof name === "string" ? NODE_DIGESTS[StringToLowerCase(name)] : undefined;
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
    constructor(algorithm, options) {
      lazyTransformOptions(this, algorithm === INTERNAL ? undefined : options);
      if (algorithm === INTERNAL) {
        this.#handle = options;
      } else {
        if (typeof algorithm !== "string") throw invalidArgType("algorithm", "of type string", algorithm);
        const id = nodeDigestId(algorithm);
        if (id === undefined) throw new Error("Digest method not supported");
        this.#handle = handleOf(callOp(NODE_OP.digestNew, [id]));
      }
      trackNative(this, this.#handle);
    }
    update(data, encoding) {
      if (this.#done || this.#flushed !== undefined) throw finalized();
      callOp(NODE_OP.digestUpdate, [this.#handle, h.bytesOf(data, encoding, "data")]);
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
      return new Hash(INTERNAL, handleOf(callOp(NODE_OP.digestCopy, [this.#handle])));
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
      if (id === undefined) throw nodeError(TypeError, "ERR_CRYPTO_INVALID_DIGEST", `Invalid digest: ${hmac}`);
      const k = h.secretBytes(key, options?.encoding, "key");
      lazyTransformOptions(this, options);
      this.#handle = handleOf(callOp(NODE_OP.hmacNew, [id, k]));
      trackNative(this, this.#handle);
    }
    update(data, encoding) {
      if (this.#done) throw finalized();
      callOp(NODE_OP.hmacUpdate, [this.#handle, h.bytesOf(data, encoding, "data")]);
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
