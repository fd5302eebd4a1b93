// ---- node-crypto-sign.js: node:crypto's signatures, RSA encryption and key agreement. ----------
// sign/verify (one-shot, optional callback), createSign/createVerify, publicEncrypt/privateDecrypt,
// privateEncrypt/publicDecrypt and diffieHellman, on WebCrypto's native family ops: RSASSA-PKCS1-v1_5 and RSA-PSS (`padding`,
// `saltLength`: RSA_PSS_SALTLEN_MAX_SIGN by default when signing; when verifying, AUTO reads the
// salt's length from the signature, as OpenSSL does) with SHA-1/256/384/512, ECDSA (DER by
// default, `dsaEncoding: 'ieee-p1363'`), Ed25519 (algorithm null), RSA-OAEP (Node's default
// padding, SHA-1 unless `oaepHash`), RSA_PKCS1_PADDING and RSA_NO_PADDING (ops/src/crypto/node/
// rsa_raw.rs; privateDecrypt refuses RSA_PKCS1_PADDING as Node 20 does, CVE-2023-46809), ECDH and
// X25519.
// Trusts: the native ops; node-crypto.js's helpers `h` and node-crypto-keys.js's `keys`.

const NODE_RSA = { __proto__: null, PKCS1: 1, NO: 3, OAEP: 4, PSS: 6, SALT_DIGEST: -1, SALT_MAX: -2, SALT_AUTO: -2 };
/** Native digests a signature or OAEP may use (ops/src/crypto/hash.rs Hash). */
const NODE_KEY_HASHES = { __proto__: null, 1: 1, 2: 2, 3: 3, 4: 4 };
// OpenSSL's reason codes for a PKCS#1 v1.5 type 1 block that does not unpad (ops' rsa_raw.rs
// names the reason; Node's error code and message are made from it).
const RSA_PADDING_REASONS = {
  __proto__: null, "invalid padding": "8A", "block type is not 01": "6A", "bad fixed header decrypt": "66",
  "null before block missing": "71", "bad pad byte count": "67",
};

function nodeSign(h, keys) {
  const opFailed = (m) => nodeError(Error, "ERR_OSSL_EVP_OPERATION_NOT_SUPPORTED_FOR_THIS_KEYTYPE",
    `error:03000096:digital envelope routines::operation not supported for this keytype${m === undefined ? "" : ` (${m})`}`);

  function hashOf(algorithm) {
    const id = nodeDigestId(algorithm);
    if (id === undefined) throw nodeError(TypeError, "ERR_CRYPTO_INVALID_DIGEST", `Invalid digest: ${algorithm}`);
    if (NODE_KEY_HASHES[id] === undefined) throw opFailed(`digest ${algorithm} with a key`);
    return id;
  }
  /** The key and the options that came with it ({key, padding, saltLength, dsaEncoding}). */
  function keyAndOptions(key, isPublic) {
    // Node reads the options before the key: padding and saltLength int32s, a known dsaEncoding.
    if (key !== null && typeof key === "object") {
      for (const name of ["padding", "saltLength"]) {
        const v = key[name];
        if (v !== undefined && v !== v >> 0) {
          throw nodeError(TypeError, "ERR_INVALID_ARG_VALUE", `The property 'options.${name}' is invalid. Received ${nodeCryptoShown(v)}`);
        }
      }
      dsaEncoding(key);
    }
    const k = keys.asymmetricKey(key, isPublic);
    const o = key !== null && typeof key === "object" && keys.keyState(key) === undefined && typedArrayName(key) === undefined ? key : {};
    return [k, o];
  }
  function rsaSaltMax(st, hashId) {
    return MathFloor((st.bits - 1 + 7) / 8) - NODE_HASH_LENGTH[hashId] - 2;
  }
  function dsaEncoding(o) {
    const e = o.dsaEncoding ?? "der";
    if (e !== "der" && e !== "ieee-p1363") throw nodeError(TypeError, "ERR_INVALID_ARG_VALUE", `The property 'options.dsaEncoding' is invalid. Received ${nodeCryptoShown(e)}`);
    return e;
  }

  /** An RSA signature's padding other than PKCS#1 v1.5 and PSS: OpenSSL's errors, as Node gives
   *  them (X9.31, 5, which Node signs with, is one of them here). */
  const badPadding = (padding) => (padding === 3
    ? nodeError(Error, "ERR_OSSL_INVALID_PADDING_MODE", "error:1C8000A8:Provider routines::invalid padding mode")
    : nodeError(Error, "ERR_OSSL_ILLEGAL_OR_UNSUPPORTED_PADDING_MODE", "error:1C8000A5:Provider routines::illegal or unsupported padding mode"));

  /** Ed25519 given a digest: Node's errors, which differ between sign() and a Sign object. */
  const edDigest = (viaObject) => (viaObject
    ? nodeError(Error, "ERR_CRYPTO_UNSUPPORTED_OPERATION", "Unsupported crypto operation")
    : nodeError(Error, "ERR_OSSL_INVALID_DIGEST", "error:1C80007A:Provider routines::invalid digest"));

  function signWith(algorithm, data, key, viaObject = false) {
    const [k, o] = keyAndOptions(key, false);
    const st = keys.keyState(k);
    if (st.type !== "private") throw keys.invalidType(st.type, "private");
    if (st.family === 3) {
      if (algorithm !== null && algorithm !== undefined) throw edDigest(viaObject);
      return h.toBuffer(callOp(NODE_OP.ed25519Sign, [st.der, data]));
    }
    if (st.family === 4) throw opFailed();
    const hashId = hashOf(algorithm ?? "sha256");
    if (st.family === 5) {
      const padding = o.padding ?? NODE_RSA.PKCS1;
      if (padding === NODE_RSA.PSS) {
        let salt = o.saltLength ?? NODE_RSA.SALT_MAX;
        if (salt === NODE_RSA.SALT_DIGEST) salt = NODE_HASH_LENGTH[hashId];
        else if (salt === NODE_RSA.SALT_MAX) salt = rsaSaltMax(st, hashId);
        validateInteger(salt, "saltLength", 0, 2147483647);
        if (salt > rsaSaltMax(st, hashId)) {
          throw nodeError(Error, "ERR_OSSL_RSA_DATA_TOO_LARGE_FOR_KEY_SIZE", "error:0200006E:rsa routines::data too large for key size");
        }
        return h.toBuffer(callOp(NODE_OP.rsaSign, [1, hashId, st.der, salt, data]));
      }
      if (padding !== NODE_RSA.PKCS1) throw badPadding(padding);
      return h.toBuffer(callOp(NODE_OP.rsaSign, [0, hashId, st.der, 0, data]));
    }
    const raw = callOp(NODE_OP.ecdsaSign, [st.family, hashId, st.der, data]);
    return h.toBuffer(dsaEncoding(o) === "der" ? p1363ToDer(raw) : raw);
  }

  function verifyWith(algorithm, data, key, signature, viaObject = false) {
    const [k, o] = keyAndOptions(key, true);
    const st = keys.keyState(keys.publicOf(k));
    const sig = h.bytesLike(signature, "signature");
    const yes = (r) => r[0] === 1;
    if (st.family === 3) {
      if (algorithm !== null && algorithm !== undefined) throw edDigest(viaObject);
      return yes(callOp(NODE_OP.ed25519Verify, [st.der, data, sig]));
    }
    if (st.family === 4) throw opFailed();
    const hashId = hashOf(algorithm ?? "sha256");
    if (st.family === 5) {
      const padding = o.padding ?? NODE_RSA.PKCS1;
      if (padding === NODE_RSA.PSS) {
        const salt = o.saltLength ?? NODE_RSA.SALT_AUTO;
        // AUTO: the salt's length is read from the signature (scheme 2, ops/src/crypto/rsa.rs).
        if (salt === NODE_RSA.SALT_AUTO) return yes(callOp(NODE_OP.rsaVerify, [2, hashId, st.der, 0, data, sig]));
        const length = salt === NODE_RSA.SALT_DIGEST ? NODE_HASH_LENGTH[hashId] : validateInteger(salt, "saltLength", 0, 2147483647);
        return yes(callOp(NODE_OP.rsaVerify, [1, hashId, st.der, length, data, sig]));
      }
      if (padding !== NODE_RSA.PKCS1) throw badPadding(padding);
      return yes(callOp(NODE_OP.rsaVerify, [0, hashId, st.der, 0, data, sig]));
    }
    let raw = sig;
    if (dsaEncoding(o) === "der") {
      raw = derToP1363(sig, st.family === 1 ? 32 : st.family === 2 ? 48 : 66);
      if (raw === undefined) return false;
    }
    return yes(callOp(NODE_OP.ecdsaVerify, [st.family, hashId, st.der, data, raw]));
  }

  function dataArg(data) {
    return h.bytesLike(data, "data");
  }
  function sign(algorithm, data, key, callback) {
    if (algorithm !== null && algorithm !== undefined && typeof algorithm !== "string") throw invalidArgType("algorithm", "of type string", algorithm);
    const out = signWith(algorithm, dataArg(data), key);
    if (callback === undefined) return out;
    validateFunction(callback, "callback");
    queueMicrotask(() => callback(null, out));
  }
  function verify(algorithm, data, key, signature, callback) {
    if (algorithm !== null && algorithm !== undefined && typeof algorithm !== "string") throw invalidArgType("algorithm", "of type string", algorithm);
    const out = verifyWith(algorithm, dataArg(data), key, signature);
    if (callback === undefined) return out;
    validateFunction(callback, "callback");
    queueMicrotask(() => callback(null, out));
  }

  /** createSign/createVerify: the data is collected (one native call signs it at the end). */
  function collector(algorithm) {
    if (typeof algorithm !== "string") throw invalidArgType("algorithm", "of type string", algorithm);
    // (Node's message names no digest here, unlike sign()'s.)
    if (nodeDigestId(algorithm) === undefined) throw nodeError(TypeError, "ERR_CRYPTO_INVALID_DIGEST", "Invalid digest");
    const chunks = [];
    let size = 0;
    return {
      add(data, encoding) {
        const b = bytesCopy(h.updateBytes(data, encoding, "data"));
        chunks[chunks.length] = b;
        size += typedArrayByteLength(b);
      },
      all() {
        const out = new U8(size);
        let o = 0;
        for (let i = 0; i < chunks.length; i++) { typedArraySet(out, chunks[i], o); o += typedArrayByteLength(chunks[i]); }
        return out;
      },
    };
  }
  class Sign {
    #alg; #data;
    constructor(algorithm, options) { this.#alg = algorithm; this.#data = collector(algorithm); }
    update(data, encoding) { this.#data.add(data, encoding); return this; }
    sign(privateKey, outputEncoding) { return h.output(signWith(this.#alg, this.#data.all(), privateKey, true), outputEncoding); }
  }
  class Verify {
    #alg; #data;
    constructor(algorithm, options) { this.#alg = algorithm; this.#data = collector(algorithm); }
    update(data, encoding) { this.#data.add(data, encoding); return this; }
    verify(object, signature, signatureEncoding) {
      const sig = typeof signature === "string" ? encodeString(signature, encodingOrThrow(signatureEncoding ?? "utf8")) : signature;
      return verifyWith(this.#alg, this.#data.all(), object, sig, true);
    }
  }

  /** publicEncrypt (0), privateDecrypt (1), privateEncrypt (2), publicDecrypt (3). */
  function rsaCrypt(op, key, buffer) {
    const usesPublic = op === 0 || op === 3;
    const [k, o] = keyAndOptions(key, usesPublic);
    let st = keys.keyState(k);
    if (usesPublic) st = keys.keyState(keys.publicOf(k));
    else if (st.type !== "private") throw keys.invalidType(st.type, "private");
    if (st.family !== 5) throw opFailed();
    const padding = o.padding ?? (op < 2 ? NODE_RSA.OAEP : NODE_RSA.PKCS1);
    const data = h.bytesLike(buffer, "buffer");
    if (padding === NODE_RSA.OAEP && op < 2) {
      const hashId = hashOf(o.oaepHash ?? "sha1");
      const label = o.oaepLabel === undefined ? new U8(0) : h.bytesLike(o.oaepLabel, "oaepLabel");
      try {
        return h.toBuffer(callOp(op === 0 ? NODE_OP.oaepEncrypt : NODE_OP.oaepDecrypt, [hashId, st.der, label, data]));
      } catch (e) {
        if (e instanceof DOMException) throw nodeError(Error, op === 0 ? "ERR_OSSL_RSA_DATA_TOO_LARGE_FOR_KEY_SIZE" : "ERR_OSSL_RSA_OAEP_DECODING_ERROR", e.message);
        throw e;
      }
    }
    if (padding === NODE_RSA.PKCS1 && op === 1) {
      // Node 20 refuses PKCS#1 v1.5 decryption (CVE-2023-46809, the Marvin attack) unless run with
      // --security-revert, which Stockade has no way to set.
      throw nodeError(TypeError, "ERR_INVALID_ARG_VALUE", "RSA_PKCS1_PADDING is no longer supported for private decryption, this can be reverted with --security-revert=CVE-2023-46809");
    }
    if (padding !== NODE_RSA.PKCS1 && padding !== NODE_RSA.NO) {
      throw nodeError(Error, "ERR_OSSL_RSA_UNKNOWN_PADDING_TYPE", "error:0200008F:rsa routines::unknown padding type");
    }
    try {
      return h.toBuffer(callOp(NODE_OP_EXT.rsaRaw, [op, padding, st.der, data]));
    } catch (e) {
      const m = e?.message;
      if (m === "data too large for key size") throw nodeError(Error, "ERR_OSSL_RSA_DATA_TOO_LARGE_FOR_KEY_SIZE", "error:0200006E:rsa routines::data too large for key size");
      if (m === "data too small for key size") throw nodeError(Error, "ERR_OSSL_RSA_DATA_TOO_SMALL_FOR_KEY_SIZE", "error:0200006F:rsa routines::data too small for key size");
      if (m === "data too large for modulus") throw nodeError(Error, "ERR_OSSL_RSA_DATA_TOO_LARGE_FOR_MODULUS", "error:02000084:rsa routines::data too large for modulus");
      const reason = RSA_PADDING_REASONS[m];
      if (reason !== undefined) throw nodeError(Error, `ERR_OSSL_RSA_${m.toUpperCase().replaceAll(" ", "_")}`, `error:020000${reason}:rsa routines::${m}`);
      throw e;
    }
  }

  function diffieHellman(options) {
    if (options === null || typeof options !== "object") throw invalidArgType("options", "of type object", options);
    const a = keys.keyState(options.privateKey), b = keys.keyState(options.publicKey);
    if (a === undefined) throw invalidArgType("options.privateKey", "an instance of KeyObject", options.privateKey);
    if (b === undefined) throw invalidArgType("options.publicKey", "an instance of KeyObject", options.publicKey);
    if (a.type !== "private") throw keys.invalidType(a.type, "private");
    if (b.type === "secret") throw keys.invalidType(b.type, "public or private");
    if (a.family !== b.family || a.family === 3 || a.family === 5) {
      throw nodeError(Error, "ERR_CRYPTO_INCOMPATIBLE_KEY", `Incompatible key types for Diffie-Hellman: ${NODE_FAMILY_TYPE[a.family]} and ${NODE_FAMILY_TYPE[b.family]}`);
    }
    const peer = keys.keyState(keys.publicOf(options.publicKey));
    return h.toBuffer(a.family === 4 ? callOp(NODE_OP.x25519, [a.der, peer.der]) : callOp(NODE_OP.ecdh, [a.family, a.der, peer.der]));
  }

  return {
    sign, verify, Sign, Verify, diffieHellman,
    createSign: (algorithm, options) => new Sign(algorithm, options),
    createVerify: (algorithm, options) => new Verify(algorithm, options),
    publicEncrypt: (key, buffer) => rsaCrypt(0, key, buffer),
    privateDecrypt: (key, buffer) => rsaCrypt(1, key, buffer),
    privateEncrypt: (key, buffer) => rsaCrypt(2, key, buffer),
    publicDecrypt: (key, buffer) => rsaCrypt(3, key, buffer),
  };
}

/** ECDSA r || s (each `n` bytes) as a DER SEQUENCE of two INTEGERs. */
function p1363ToDer(raw) {
  const n = typedArrayByteLength(raw) / 2;
  const int = (from) => {
    let i = from;
    while (i < from + n - 1 && raw[i] === 0) i++;
    const pad = raw[i] >= 0x80 ? 1 : 0;
    const len = from + n - i + pad;
    const out = new U8(2 + len);
    out[0] = 2; out[1] = len;
    typedArraySet(out, bytesView(raw, i, from + n), 2 + pad);
    return out;
  };
  const r = int(0), s = int(n);
  const body = typedArrayByteLength(r) + typedArrayByteLength(s);
  const head = body < 128 ? [0x30, body] : [0x30, 0x81, body];
  const out = new U8(head.length + body);
  for (let i = 0; i < head.length; i++) out[i] = head[i];
  typedArraySet(out, r, head.length);
  typedArraySet(out, s, head.length + typedArrayByteLength(r));
  return out;
}

/** A DER ECDSA signature as r || s of `n` bytes each, or undefined if it is not one. */
function derToP1363(der, n) {
  const len = typedArrayByteLength(der);
  let o = 0;
  const length = () => {
    if (o >= len) return -1;
    let l = der[o++];
    if (l === 0x81) { if (o >= len) return -1; l = der[o++]; if (l < 128) return -1; }
    else if (l > 0x80) return -1;
    return l;
  };
  if (der[o++] !== 0x30) return undefined;
  const total = length();
  if (total < 0 || o + total !== len) return undefined;
  const out = new U8(2 * n);
  for (let k = 0; k < 2; k++) {
    if (o >= len || der[o++] !== 2) return undefined;
    let l = length();
    if (l <= 0 || o + l > len) return undefined;
    if (der[o] & 0x80) return undefined; // negative
    if (l > 1 && der[o] === 0 && !(der[o + 1] & 0x80)) return undefined; // not minimal
    let from = o;
    const end = o + l;
    while (from < end && der[from] === 0) from++;
    if (end - from > n) return undefined;
    typedArraySet(out, bytesView(der, from, end), k * n + n - (end - from));
    o = end;
  }
  return o === len ? out : undefined;
}
