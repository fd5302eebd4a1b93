// ---- node-crypto-cipher.js: node:crypto's createCipheriv/createDecipheriv. ---------------------
// AES-128/192/256 in CBC and ECB (PKCS#7 padding, setAutoPadding), CTR and GCM, and
// chacha20-poly1305 (the AEADs: setAAD, getAuthTag/setAuthTag, authTagLength), as native streams
// (ops/src/crypto/node/cipher.rs, gcm.rs, chacha.rs), and getCipherInfo: each
// update() hands its bytes to the native cipher and returns what comes out at once; final()
// ends it. A cipher holds one native handle, freed by final() or, if the tenant drops it, when it
// is collected (trackNative). String output keeps back an incomplete base64 group or UTF-8
// sequence between calls, as Node's StringDecoder does. Errors are Node's (codes and messages).
// Ciphers are stream.Transforms, as Node's (LazyTransform, node-hash.js).
// Not supported: CCM, OCB, the legacy createCipher (no IV).
// Trusts: the native ops; node-crypto.js's helpers `h`.

const NODE_CIPHERS = {
  __proto__: null,
  "aes-128-cbc": [1, 16, 16], "aes-192-cbc": [1, 24, 16], "aes-256-cbc": [1, 32, 16],
  "aes-128-ctr": [2, 16, 16], "aes-192-ctr": [2, 24, 16], "aes-256-ctr": [2, 32, 16],
  "aes-128-ecb": [3, 16, 0], "aes-192-ecb": [3, 24, 0], "aes-256-ecb": [3, 32, 0],
  "aes-128-gcm": [4, 16, 12], "aes-192-gcm": [4, 24, 12], "aes-256-gcm": [4, 32, 12],
  aes128: [1, 16, 16], aes192: [1, 24, 16], aes256: [1, 32, 16],
  "id-aes128-gcm": [4, 16, 12], "id-aes192-gcm": [4, 24, 12], "id-aes256-gcm": [4, 32, 12],
  "chacha20-poly1305": [5, 32, 12],
};
/** getCipherInfo's answers: name -> [OpenSSL's name, nid, blockSize]; mode, key and IV lengths
 *  come from NODE_CIPHERS. */
const NODE_CIPHER_INFO = {
  __proto__: null,
  "aes-128-cbc": ["aes-128-cbc", 419, 16], "aes-192-cbc": ["aes-192-cbc", 423, 16], "aes-256-cbc": ["aes-256-cbc", 427, 16],
  "aes-128-ecb": ["aes-128-ecb", 418, 16], "aes-192-ecb": ["aes-192-ecb", 422, 16], "aes-256-ecb": ["aes-256-ecb", 426, 16],
  "aes-128-ctr": ["aes-128-ctr", 904, 1], "aes-192-ctr": ["aes-192-ctr", 905, 1], "aes-256-ctr": ["aes-256-ctr", 906, 1],
  "aes-128-gcm": ["id-aes128-gcm", 895, 1], "aes-192-gcm": ["id-aes192-gcm", 898, 1], "aes-256-gcm": ["id-aes256-gcm", 901, 1],
  aes128: ["aes-128-cbc", 419, 16], aes192: ["aes-192-cbc", 423, 16], aes256: ["aes-256-cbc", 427, 16],
  "id-aes128-gcm": ["id-aes128-gcm", 895, 1], "id-aes192-gcm": ["id-aes192-gcm", 898, 1], "id-aes256-gcm": ["id-aes256-gcm", 901, 1],
  "chacha20-poly1305": ["chacha20-poly1305", 1018, 0],
};
const NODE_CIPHER_MODE = { __proto__: null, 1: "cbc", 2: "ctr", 3: "ecb", 4: "gcm", 5: "stream" };
const NODE_CIPHER_NAMES = ["aes-128-cbc", "aes-128-ctr", "aes-128-ecb", "aes-128-gcm", "aes-192-cbc", "aes-192-ctr",
  "aes-192-ecb", "aes-192-gcm", "aes-256-cbc", "aes-256-ctr", "aes-256-ecb", "aes-256-gcm", "aes128", "aes192", "aes256",
  "chacha20-poly1305", "id-aes128-gcm", "id-aes192-gcm", "id-aes256-gcm"];

function nodeCipher(h, keys) {
  const invalidState = (op) => nodeError(Error, "ERR_CRYPTO_INVALID_STATE", `Invalid state for operation ${op}`);
  const validTag = (n) => n === 4 || n === 8 || (n >= 12 && n <= 16);
  const AEAD = (mode) => mode === 4 || mode === 5;
  /** A tag length the cipher takes: GCM's, or 1 to 16 bytes for ChaCha20-Poly1305. */
  const tagFits = (mode, n) => (mode === 5 ? n >= 1 && n <= 16 : validTag(n));

  /** Bytes -> text in `encoding` through one node:string_decoder per cipher, as Node's update and
   *  final do (what cannot be decoded yet waits; `last` ends it). No encoding, "" and "buffer" give
   *  a Buffer; another encoding than the first is Node's internal assertion. */
  function textOut(state, bytes, encoding, last) {
    if (!encoding || encoding === "buffer") return h.toBuffer(bytes);
    if (state.decoder === undefined) {
      state.decoder = new (builtinExports("node:string_decoder").StringDecoder)(encoding);
    } else if (state.decoder.encoding !== normalizeEncoding(encoding)) {
      throw nodeError(Error, "ERR_INTERNAL_ASSERTION", "Cannot change encoding");
    }
    return last ? state.decoder.end(h.toBuffer(bytes)) : state.decoder.write(h.toBuffer(bytes));
  }

  class CipherBase {
    #handle = 0;
    #encrypt;
    #mode;
    #tagLength;
    #tag = undefined;
    #done = false;
    #text = { decoder: undefined };
    constructor(encrypt, cipher, key, iv, options) {
      // In Node's order: the name's type, the key and IV as bytes (a null IV is none), the tag
      // length's type, then the cipher's name, its IV, its tag length and last its key length.
      if (typeof cipher !== "string") throw invalidArgType("cipher", "of type string", cipher);
      const k = h.secretBytes(key, undefined, "key");
      const v = iv === null ? new U8(0) : h.bytesLike(iv, "iv");
      const askedTag = options !== null && options !== undefined ? options.authTagLength : undefined;
      if (askedTag !== undefined && !(typeof askedTag === "number" && askedTag >>> 0 === askedTag)) {
        throw nodeError(TypeError, "ERR_INVALID_ARG_VALUE", `The property 'options.authTagLength' is invalid. Received ${inspect(askedTag)}`);
      }
      const spec = NODE_CIPHERS[StringToLowerCase(cipher)];
      if (spec === undefined) throw nodeError(Error, "ERR_CRYPTO_UNKNOWN_CIPHER", "Unknown cipher");
      const ivLength = typedArrayByteLength(v);
      if (spec[0] === 4 ? ivLength === 0 : ivLength !== spec[2]) throw nodeError(TypeError, "ERR_CRYPTO_INVALID_IV", "Invalid initialization vector");
      let tagLength = 16;
      // A tag length for a cipher without one is ignored, as Node does.
      if (askedTag !== undefined && AEAD(spec[0])) {
        tagLength = askedTag;
        if (!tagFits(spec[0], tagLength)) throw nodeError(TypeError, "ERR_CRYPTO_INVALID_AUTH_TAG", `Invalid authentication tag length: ${tagLength}`);
      }
      if (typedArrayByteLength(k) !== spec[1]) throw nodeError(RangeError, "ERR_CRYPTO_INVALID_KEYLEN", "Invalid key length");
      lazyTransformOptions(this, options);
      this.#encrypt = encrypt;
      this.#mode = spec[0];
      // ChaCha20-Poly1305 checks a tag of exactly its length (16 unless authTagLength says).
      this.#tagLength = spec[0] === 5 ? tagLength : AEAD(spec[0]) ? askedTag : undefined;
      this.#handle = fieldU32(callOp(NODE_OP.cipherNew, [spec[0], encrypt ? 1 : 0, k, v, tagLength]));
      trackNative(this, this.#handle);
    }
    update(data, inputEncoding, outputEncoding) {
      if (this.#done) throw invalidState("update");
      const bytes = typeof data === "string" ? h.updateBytes(data, inputEncoding ?? "utf8", "data") : h.bytesLike(data, "data");
      return textOut(this.#text, callOp(NODE_OP.cipherUpdate, [this.#handle, bytes]), outputEncoding, false);
    }
    final(outputEncoding) {
      if (this.#done) throw invalidState("final");
      this.#done = true;
      untrackNative(this);
      let answer;
      try {
        answer = unpackFields(callOp(NODE_OP.cipherFinal, [this.#handle, this.#tag ?? new U8(0)]));
      } catch (e) {
        const m = e?.message;
        if (m === "bad decrypt") throw nodeError(Error, "ERR_OSSL_BAD_DECRYPT", "error:1C800064:Provider routines::bad decrypt");
        if (m === "wrong final block length") throw nodeError(Error, "ERR_OSSL_WRONG_FINAL_BLOCK_LENGTH", "error:1C80006B:Provider routines::wrong final block length");
        if (m === "Unsupported state or unable to authenticate data") throw new Error(m);
        throw e;
      }
      if (this.#encrypt && AEAD(this.#mode)) this.#tag = bytesCopy(answer[1]);
      return textOut(this.#text, answer[0], outputEncoding, true);
    }
    setAutoPadding(autoPadding = true) {
      if (this.#done) throw invalidState("setAutoPadding");
      callOp(NODE_OP.cipherPadding, [this.#handle, autoPadding ? 1 : 0]);
      return this;
    }
    setAAD(buffer, options) {
      if (this.#done || !AEAD(this.#mode)) throw invalidState("setAAD");
      callOp(NODE_OP.cipherAad, [this.#handle, h.bytesLike(buffer, "buffer")]);
      return this;
    }
    getAuthTag() {
      if (!this.#encrypt || !AEAD(this.#mode) || !this.#done || this.#tag === undefined) throw invalidState("getAuthTag");
      return h.toBuffer(bytesCopy(this.#tag));
    }
    setAuthTag(tagbuf, encoding) {
      if (this.#encrypt || !AEAD(this.#mode) || this.#done || this.#tag !== undefined) throw invalidState("setAuthTag");
      const tag = bytesCopy(typeof tagbuf === "string" ? encodeString(tagbuf, encodingOrThrow(encoding ?? "utf8")) : h.bytesLike(tagbuf, "buffer"));
      const n = typedArrayByteLength(tag);
      if (!tagFits(this.#mode, n) || (this.#tagLength !== undefined && n !== this.#tagLength)) {
        throw nodeError(TypeError, "ERR_CRYPTO_INVALID_AUTH_TAG", `Invalid authentication tag length: ${n}`);
      }
      this.#tag = tag;
      return this;
    }
    // As a stream (Node's): what update() answers for each chunk, final()'s at the end.
    _transform(chunk, encoding, callback) {
      try {
        this.push(this.update(chunk, typeof chunk === "string" && encoding !== "buffer" ? encoding : undefined));
      } catch (e) {
        return callback(e);
      }
      return callback();
    }
    _flush(callback) {
      try {
        this.push(this.final());
      } catch (e) {
        callback(e);
        return;
      }
      callback();
    }
  }
  ObjectSetPrototypeOf(CipherBase.prototype, lazyTransformPrototype());
  class Cipheriv extends CipherBase {
    constructor(cipher, key, iv, options) { super(true, cipher, key, iv, options); }
  }
  class Decipheriv extends CipherBase {
    constructor(cipher, key, iv, options) { super(false, cipher, key, iv, options); }
  }
  /** Node's getCipherInfo: its arguments checked first (a name or an int32 nid, int32 lengths),
   *  then the cipher looked up; undefined for one it does not know or lengths it does not take. */
  function getCipherInfo(nameOrNid, options) {
    if (typeof nameOrNid !== "string" && typeof nameOrNid !== "number") {
      throw invalidArgType("nameOrNid", "of type string or number", nameOrNid);
    }
    if (typeof nameOrNid === "number") validateInteger(nameOrNid, "nameOrNid", -2147483648, 2147483647);
    let keyLength;
    let iv;
    if (options !== undefined) {
      if (options === null || typeof options !== "object") throw invalidArgType("options", "of type object", options);
      ({ keyLength, ivLength: iv } = options);
      if (keyLength !== undefined) validateInteger(keyLength, "options.keyLength", -2147483648, 2147483647);
      if (iv !== undefined) validateInteger(iv, "options.ivLength", -2147483648, 2147483647);
    }
    let key;
    if (typeof nameOrNid === "number") {
      const names = ObjectKeys(NODE_CIPHER_INFO);
      for (let i = 0; i < names.length && key === undefined; i++) if (NODE_CIPHER_INFO[names[i]][1] === nameOrNid) key = names[i];
    } else key = StringToLowerCase(nameOrNid);
    const info = key === undefined ? undefined : NODE_CIPHER_INFO[key];
    if (info === undefined) return undefined;
    const spec = NODE_CIPHERS[key];
    let ivLength = spec[2];
    if (keyLength !== undefined && keyLength !== spec[1]) return undefined;
    if (iv !== undefined) {
      // GCM takes IVs of other lengths; the other modes only their own.
      if (spec[0] === 4 ? !(iv >= 1 && iv < 256) : iv !== spec[2]) return undefined;
      ivLength = iv;
    }
    const out = { mode: NODE_CIPHER_MODE[spec[0]], name: info[0], nid: info[1] };
    if (info[2] !== 0) out.blockSize = info[2];
    if (spec[2] !== 0) out.ivLength = ivLength;
    out.keyLength = spec[1];
    return out;
  }
  return {
    Cipheriv, Decipheriv, getCipherInfo,
    createCipheriv: (cipher, key, iv, options) => new Cipheriv(cipher, key, iv, options),
    createDecipheriv: (cipher, key, iv, options) => new Decipheriv(cipher, key, iv, options),
  };
}
