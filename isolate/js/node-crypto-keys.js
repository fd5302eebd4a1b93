// ---- node-crypto-keys.js: node:crypto's KeyObject and key making. -------------------------------
// KeyObject (secret, public, private: type, asymmetricKeyType, asymmetricKeyDetails,
// symmetricKeySize, export, equals), createSecretKey, createPublicKey/createPrivateKey from PEM
// (PKCS#8, SPKI, PKCS#1 RSA, SEC1 EC), DER with `type`, and JWK, generateKeyPair(Sync) for rsa,
// ec (P-256, P-384, P-521), ed25519 and x25519, generateKey(Sync) for hmac and aes. Key material
// lives in a private field as canonical PKCS#8 or SPKI DER (secret keys as raw bytes), the same
// form as a CryptoKey's; the native ops (ops/src/crypto/node/keys.rs and WebCrypto's family ops)
// decode, check and re-encode everything that comes in. Encrypted PKCS#8 (`ENCRYPTED PRIVATE KEY`,
// DER with a passphrase) is read and written (`cipher` aes-128/192/256-cbc, `passphrase`;
// ops/src/crypto/node/pkcs8_encrypted.rs). Not supported: the legacy encrypted PEM of PKCS#1 and
// SEC1 keys (Proc-Type), reading a key from a certificate (X509Certificate.publicKey does),
// RSA-PSS, DSA, DH and X448/Ed448 keys.
// Trusts: the native ops; node-crypto.js's helpers `h`.

/** The node:crypto ops after node-hash.js's NODE_OP (ops/src/lib.rs OpCode, 0x06xx). */
const NODE_OP_EXT = ObjectFreeze({
  __proto__: null,
  keyDecrypt: 0x0623, keyEncrypt: 0x0624, ecdhKeys: 0x0640, ecdhPoint: 0x0641, ecdhCompute: 0x0642,
  dhGroup: 0x0648, dhCheck: 0x0649, dhKeys: 0x064a, dhCompute: 0x064b, dhPrime: 0x064c, rsaRaw: 0x0650,
  x509Parse: 0x0660, x509Verify: 0x0661, x509Check: 0x0662,
});
/** Private-key ciphers of export({cipher}) -> KeyEncrypt's numbers. */
const NODE_KEY_CIPHERS = { __proto__: null, "aes-128-cbc": 1, "aes-192-cbc": 2, "aes-256-cbc": 3, aes128: 1, aes192: 2, aes256: 3 };
const NODE_KEY_KIND = { __proto__: null, pkcs8: 0, spki: 1, pkcs1private: 2, pkcs1public: 3, sec1: 4 };
/** Family numbers (ops/src/crypto/mod.rs) -> Node's asymmetricKeyType, and the EC curve names. */
const NODE_FAMILY_TYPE = { __proto__: null, 1: "ec", 2: "ec", 3: "ed25519", 4: "x25519", 5: "rsa", 6: "ec" };
const NODE_CURVE_OF = { __proto__: null, 1: "prime256v1", 2: "secp384r1", 6: "secp521r1" };
const NODE_JWK_CURVE = { __proto__: null, 1: "P-256", 2: "P-384", 6: "P-521", 3: "Ed25519", 4: "X25519" };
const NODE_CURVES = { __proto__: null, "p-256": 1, prime256v1: 1, secp256r1: 1, "p-384": 2, secp384r1: 2, "p-521": 6, secp521r1: 6 };
const NODE_PEM_LABEL = { __proto__: null, "PRIVATE KEY": 0, "PUBLIC KEY": 1, "RSA PRIVATE KEY": 2, "RSA PUBLIC KEY": 3, "EC PRIVATE KEY": 4 };

/** How Node shows a bad option value in ERR_INVALID_ARG_VALUE. */
function nodeCryptoShown(v) {
  return typeof v === "string" ? `'${v}'` : `${v}`;
}

function nodeKeys(h) {
  const { Buffer } = h;
  let keyState;
  const invalidType = (type, expected) => nodeError(TypeError, "ERR_CRYPTO_INVALID_KEY_OBJECT_TYPE",
    `Invalid key object type ${type}, expected ${expected}.`);
  const unsupported = (what) => nodeError(Error, "ERR_FEATURE_UNAVAILABLE_ON_PLATFORM",
    `${what} is not supported by Stockade's node:crypto`);

  class KeyObject {
    #st;
    constructor(type, handle) {
      if (type !== INTERNAL) throw new TypeError("Illegal constructor");
      this.#st = handle;
    }
    static from(key) {
      throw unsupported("KeyObject.from(CryptoKey)");
    }
    get type() { return this.#st.type; }
    get asymmetricKeyType() { return this.#st.type === "secret" ? undefined : NODE_FAMILY_TYPE[this.#st.family]; }
    get asymmetricKeyDetails() {
      const st = this.#st;
      if (st.type === "secret") return undefined;
      if (st.family === 5) {
        let e = 0n;
        for (let i = 0; i < typedArrayByteLength(st.e); i++) e = (e << 8n) | BigInt(st.e[i]);
        return { modulusLength: st.bits, publicExponent: e };
      }
      if (NODE_CURVE_OF[st.family] !== undefined) return { namedCurve: NODE_CURVE_OF[st.family] };
      return {};
    }
    get symmetricKeySize() { return this.#st.type === "secret" ? typedArrayByteLength(this.#st.der) : undefined; }
    equals(other) {
      const o = keyState(other);
      if (o === undefined) throw invalidArgType("otherKeyObject", "an instance of KeyObject", other);
      const a = this.#st;
      if (a.type !== o.type || a.family !== o.family || typedArrayByteLength(a.der) !== typedArrayByteLength(o.der)) return false;
      let diff = 0;
      for (let i = 0; i < typedArrayByteLength(a.der); i++) diff |= a.der[i] ^ o.der[i];
      return diff === 0;
    }
    export(options) {
      const st = this.#st;
      if (st.type === "secret") {
        if (options?.format === "jwk") return { kty: "oct", k: decodeBytes(st.der, "base64url", 0, typedArrayByteLength(st.der)) };
        return h.toBuffer(bytesCopy(st.der));
      }
      if (options === null || typeof options !== "object") throw invalidArgType("options", "of type object", options);
      const format = options.format;
      if (format === "jwk") return exportJwk(st);
      const type = options.type;
      let cipher;
      if (options.cipher !== undefined || options.passphrase !== undefined) {
        if (st.type !== "private") throw nodeError(TypeError, "ERR_CRYPTO_INCOMPATIBLE_KEY_OPTIONS", "The selected key encoding spki does not support encryption.");
        if (typeof options.cipher !== "string") throw nodeError(TypeError, "ERR_INVALID_ARG_VALUE", `The property 'options.cipher' is invalid. Received ${nodeCryptoShown(options.cipher)}`);
        if (options.passphrase === undefined) throw nodeError(TypeError, "ERR_INVALID_ARG_VALUE", "The property 'options.passphrase' is invalid. Received undefined");
        cipher = NODE_KEY_CIPHERS[StringToLowerCase(options.cipher)];
        if (cipher === undefined) {
          if (NODE_CIPHERS[StringToLowerCase(options.cipher)] === undefined) throw nodeError(Error, "ERR_CRYPTO_UNKNOWN_CIPHER", "Unknown cipher");
          throw unsupported(`Encrypting a private key with ${options.cipher}`);
        }
        if (type !== "pkcs8") throw unsupported("Encrypting a PKCS#1 or SEC1 private key (legacy PEM encryption)");
      }
      let der, label;
      if (st.type === "public") {
        if (type === "spki") { der = st.der; label = "PUBLIC KEY"; }
        else if (type === "pkcs1" && st.family === 5) { der = callOp(NODE_OP.keyEncode, [5, NODE_KEY_KIND.pkcs1public, st.der]); label = "RSA PUBLIC KEY"; }
        else throw nodeError(TypeError, "ERR_INVALID_ARG_VALUE", `The property 'options.type' is invalid. Received ${nodeCryptoShown(type)}`);
      } else if (type === "pkcs8") { der = st.der; label = "PRIVATE KEY"; }
      else if (type === "pkcs1" && st.family === 5) { der = callOp(NODE_OP.keyEncode, [5, NODE_KEY_KIND.pkcs1private, st.der]); label = "RSA PRIVATE KEY"; }
      else if (type === "sec1" && NODE_CURVE_OF[st.family] !== undefined) { der = callOp(NODE_OP.keyEncode, [st.family, NODE_KEY_KIND.sec1, st.der]); label = "EC PRIVATE KEY"; }
      else throw nodeError(TypeError, "ERR_INVALID_ARG_VALUE", `The property 'options.type' is invalid. Received ${nodeCryptoShown(type)}`);
      if (cipher !== undefined && (format === "der" || format === "pem")) {
        der = callOp(NODE_OP_EXT.keyEncrypt, [der, cipher, h.bytesLike(options.passphrase, "options.passphrase")]);
        label = "ENCRYPTED PRIVATE KEY";
      }
      if (format === "der") return h.toBuffer(bytesCopy(der));
      if (format === "pem") return pem(label, der);
      throw nodeError(TypeError, "ERR_INVALID_ARG_VALUE", `The property 'options.format' is invalid. Received ${nodeCryptoShown(format)}`);
    }
    static {
      keyState = (v) => (v !== null && typeof v === "object" && #st in v ? v.#st : undefined);
    }
  }
  setTag(KeyObject.prototype, "KeyObject");

  const newKey = (type, family, der, bits = 0, e = undefined) =>
    new KeyObject(INTERNAL, ObjectFreeze({ __proto__: null, type, family, der: bytesCopy(der), bits, e }));

  function pem(label, der) {
    const b64 = decodeBytes(der, "base64", 0, typedArrayByteLength(der));
    let out = `-----BEGIN ${label}-----\n`;
    for (let i = 0; i < b64.length; i += 64) out += `${StringSlice(b64, i, i + 64)}\n`;
    return `${out}-----END ${label}-----\n`;
  }

  function exportJwk(st) {
    const parts = unpackFields(callOp(NODE_OP.keyExport, [st.family, 3, st.type === "private" ? 1 : 0, st.der]));
    const b = (i) => decodeBytes(parts[i], "base64url", 0, typedArrayByteLength(parts[i]));
    if (st.family === 5) {
      const o = { kty: "RSA", n: b(0), e: b(1) };
      if (st.type === "private") { o.d = b(2); o.p = b(3); o.q = b(4); o.dp = b(5); o.dq = b(6); o.qi = b(7); }
      return o;
    }
    if (st.family === 3 || st.family === 4) {
      const o = { crv: NODE_JWK_CURVE[st.family], x: b(0), kty: "OKP" };
      if (st.type === "private") o.d = b(1);
      return o;
    }
    const o = { kty: "EC", x: b(0), y: b(1), crv: NODE_JWK_CURVE[st.family] };
    if (st.type === "private") o.d = b(2);
    return o;
  }

  /** [kind, der] of PEM text, or throws as Node's decoder does; an ENCRYPTED PRIVATE KEY is
   *  decrypted with `passphrase`. */
  function parsePem(text, passphrase) {
    const begin = StringIndexOf(text, "-----BEGIN ");
    if (begin < 0) throw nodeError(Error, "ERR_OSSL_UNSUPPORTED", "error:1E08010C:DECODER routines::unsupported");
    const labelEnd = StringIndexOf(text, "-----", begin + 11);
    const label = StringSlice(text, begin + 11, labelEnd);
    const end = StringIndexOf(text, `-----END ${label}-----`, labelEnd);
    if (labelEnd < 0 || end < 0) throw nodeError(Error, "ERR_OSSL_UNSUPPORTED", "error:1E08010C:DECODER routines::unsupported");
    const body = StringSlice(text, labelEnd + 5, end);
    if (label === "ENCRYPTED PRIVATE KEY") return [0, decryptPkcs8(encodeString(body, "base64"), passphrase)];
    if (StringIndexOf(body, "Proc-Type:") >= 0) throw unsupported("A legacy encrypted PEM key (Proc-Type)");
    if (label === "CERTIFICATE") throw unsupported("Reading a key from a certificate");
    const kind = NODE_PEM_LABEL[label];
    if (kind === undefined) throw nodeError(Error, "ERR_OSSL_UNSUPPORTED", "error:1E08010C:DECODER routines::unsupported");
    return [kind, encodeString(body, "base64")];
  }

  /** The PKCS#8 inside an EncryptedPrivateKeyInfo. */
  function decryptPkcs8(der, passphrase) {
    // OpenSSL asks for a passphrase and is told there is none: Node 20 shows that as cancelled.
    if (passphrase === undefined) throw nodeError(Error, "ERR_OSSL_CRYPTO_INTERRUPTED_OR_CANCELLED", "error:07880109:common libcrypto routines::interrupted or cancelled");
    try {
      return callOp(NODE_OP_EXT.keyDecrypt, [der, passphrase]);
    } catch (e) {
      if (e?.message === "bad decrypt") throw nodeError(Error, "ERR_OSSL_BAD_DECRYPT", "error:1C800064:Provider routines::bad decrypt");
      if (e instanceof DOMException && e.name === "NotSupportedError") throw unsupported(`This private key encryption (${e.message})`);
      if (e instanceof DOMException) throw nodeError(Error, "ERR_OSSL_UNSUPPORTED", "error:1E08010C:DECODER routines::unsupported");
      throw e;
    }
  }

  function fromDer(kind, der) {
    let r;
    try {
      r = unpackFields(callOp(NODE_OP.keyParse, [kind, der]));
    } catch (e) {
      if (e instanceof DOMException && e.name === "NotSupportedError") throw nodeError(Error, "ERR_OSSL_UNSUPPORTED", "error:1E08010C:DECODER routines::unsupported");
      throw nodeError(Error, "ERR_OSSL_ASN1_WRONG_TAG", `error:068000A8:asn1 encoding routines::wrong tag (${e.message})`);
    }
    const family = fieldU32(r[0]);
    return newKey(fieldU32(r[1]) === 1 ? "private" : "public", family, r[2], fieldU32(r[3]), bytesCopy(r[4]));
  }

  function fromJwk(jwk, wantPrivate) {
    if (jwk === null || typeof jwk !== "object") throw invalidArgType("key.key", "of type object", jwk);
    const dec = (v) => (v === undefined ? new U8(0) : encodeString(`${v}`, "base64url"));
    let family, fields;
    if (jwk.kty === "RSA") { family = 5; fields = [jwk.n, jwk.e, jwk.d, jwk.p, jwk.q, jwk.dp, jwk.dq, jwk.qi]; }
    else if (jwk.kty === "EC") { family = NODE_CURVES[StringToLowerCase(`${jwk.crv}`)]; fields = [jwk.x, jwk.y, jwk.d]; }
    else if (jwk.kty === "OKP") { family = jwk.crv === "Ed25519" ? 3 : jwk.crv === "X25519" ? 4 : undefined; fields = [jwk.x, jwk.d]; }
    else throw nodeError(TypeError, "ERR_CRYPTO_INVALID_JWK", "Invalid JWK data");
    if (family === undefined) throw nodeError(TypeError, "ERR_CRYPTO_INVALID_JWK", "Invalid JWK data");
    if (wantPrivate && jwk.d === undefined) throw nodeError(TypeError, "ERR_CRYPTO_INVALID_JWK", "Invalid JWK data");
    // The public half only: the private members are left out.
    if (!wantPrivate) for (let i = family === 5 ? 2 : fields.length - 1; i < fields.length; i++) fields[i] = undefined;
    const parts = [family, 3];
    for (let i = 0; i < fields.length; i++) parts[parts.length] = dec(fields[i]);
    let r;
    try { r = unpackFields(callOp(NODE_OP.keyImport, parts)); } catch (e) { throw nodeError(TypeError, "ERR_CRYPTO_INVALID_JWK", `Invalid JWK data (${e.message})`); }
    return newKey(fieldU32(r[0]) === 1 ? "private" : "public", family, r[1], fieldU32(r[2]), bytesCopy(r[3]));
  }

  /** A KeyObject from createPrivateKey/createPublicKey's `key` argument (`isPublic`: the public
   *  half of a private key is taken). */
  function asymmetricKey(key, isPublic, name = "key") {
    const st = keyState(key);
    if (st !== undefined) {
      if (st.type === "secret") throw invalidType("secret", isPublic ? "private or public" : "private");
      return key;
    }
    let data = key, format = "pem", type, encoding, passphrase;
    if (key !== null && typeof key === "object" && typeof key !== "string" && typedArrayName(key) === undefined && !isArrayBuffer(key)) {
      if (keyState(key.key) !== undefined) return asymmetricKey(key.key, isPublic, name);
      if (key.passphrase !== undefined) passphrase = h.bytesLike(key.passphrase, "key.passphrase");
      data = key.key; format = key.format ?? "pem"; type = key.type; encoding = key.encoding;
      if (format === "jwk") return fromJwk(data, !isPublic);
    }
    if (typeof data === "string" && format === "pem") return fromDerPair(parsePem(data, passphrase));
    const bytes = h.bytesLike(data, name, encoding);
    if (format === "pem") return fromDerPair(parsePem(decodeBytes(bytes, "latin1", 0, typedArrayByteLength(bytes)), passphrase));
    if (format !== "der") throw nodeError(TypeError, "ERR_INVALID_ARG_VALUE", `The property 'key.format' is invalid. Received ${nodeCryptoShown(format)}`);
    let kind;
    if (type === "pkcs8" && passphrase !== undefined && !isPublic) return fromDer(0, decryptPkcs8(bytes, passphrase));
    if (type === "pkcs8") kind = 0;
    else if (type === "spki") kind = 1;
    else if (type === "pkcs1") {
      if (!isPublic) kind = 2;
      else {
        // createPublicKey takes a PKCS#1 public key, or the public half of a private one.
        try { return fromDer(3, bytes); } catch { kind = 2; }
      }
    }
    else if (type === "sec1") kind = 4;
    else throw nodeError(TypeError, "ERR_INVALID_ARG_VALUE", `The property 'key.type' is invalid. Received ${nodeCryptoShown(type)}`);
    return fromDer(kind, bytes);
  }
  const fromDerPair = (pair) => fromDer(pair[0], pair[1]);

  function createPrivateKey(key) {
    const k = asymmetricKey(key, false);
    const type = keyState(k).type;
    if (type === "private") return k;
    // A public key given as PEM or DER is not something OpenSSL's private-key decoder reads.
    if (k !== key && k !== key?.key) throw nodeError(Error, "ERR_OSSL_UNSUPPORTED", "error:1E08010C:DECODER routines::unsupported");
    throw invalidType(type, "private");
  }
  function createPublicKey(key) {
    const k = asymmetricKey(key, true);
    return publicOf(k);
  }
  function publicOf(k) {
    const st = keyState(k);
    if (st.type === "public") return k;
    return newKey("public", st.family, callOp(NODE_OP.keyPublicOf, [st.family, st.der]), st.bits, st.e);
  }
  function createSecretKey(key, encoding) {
    if (typeof key !== "string" && !(key !== null && typeof key === "object" && (typedArrayName(key) !== undefined || isArrayBuffer(key) || isDataView(key)))) {
      throw invalidArgType("key", "of type string or an instance of ArrayBuffer, Buffer, TypedArray, or DataView", key);
    }
    return newKey("secret", 0, h.bytesOf(key, encoding, "key"));
  }

  function encodePair(pub, priv, options) {
    const pe = options?.publicKeyEncoding, se = options?.privateKeyEncoding;
    return [pe === undefined ? pub : pub.export(pe), se === undefined ? priv : priv.export(se)];
  }
  function generateKeyPairSync(type, options) {
    if (typeof type !== "string") throw invalidArgType("type", "of type string", type);
    let parts, family;
    if (type === "rsa") {
      if (options === null || typeof options !== "object") throw invalidArgType("options", "of type object", options);
      validateInteger(options.modulusLength, "options.modulusLength", 0, 4294967295);
      const e = options.publicExponent ?? 65537;
      validateInteger(e, "options.publicExponent", 0, 4294967295);
      const eb = new U8([e >>> 24, (e >>> 16) & 255, (e >>> 8) & 255, e & 255]);
      family = 5;
      parts = unpackFields(callOp(NODE_OP.rsaGenerate, [options.modulusLength, eb]));
    } else if (type === "ec") {
      const curve = options?.namedCurve;
      if (typeof curve !== "string") throw invalidArgType("options.namedCurve", "of type string", curve);
      family = NODE_CURVES[StringToLowerCase(curve)];
      if (family === undefined) throw nodeError(TypeError, "ERR_CRYPTO_INVALID_CURVE", "Invalid EC curve name");
      parts = unpackFields(callOp(NODE_OP.ecGenerate, [family]));
    } else if (type === "ed25519" || type === "x25519") {
      family = type === "ed25519" ? 3 : 4;
      parts = unpackFields(callOp(NODE_OP.okpGenerate, [family]));
    } else {
      throw nodeError(TypeError, "ERR_INVALID_ARG_VALUE", `The argument 'type' must be a supported key type. Received '${type}'`);
    }
    const priv = fromDer(0, parts[0]);
    const pub = fromDer(1, parts[1]);
    const [publicKey, privateKey] = encodePair(pub, priv, options);
    return { publicKey, privateKey };
  }
  function generateKeyPair(type, options, callback) {
    if (typeof options === "function") { callback = options; options = undefined; }
    validateFunction(callback, "callback");
    const { publicKey, privateKey } = generateKeyPairSync(type, options);
    queueMicrotask(() => callback(null, publicKey, privateKey));
  }
  function generateKeySync(type, options) {
    const length = options?.length;
    if (type === "hmac") validateInteger(length, "options.length", 8, 2147483647);
    else if (type === "aes") {
      if (length !== 128 && length !== 192 && length !== 256) throw nodeError(TypeError, "ERR_INVALID_ARG_VALUE", `The property 'options.length' must be one of: 128, 192, 256. Received ${nodeCryptoShown(length)}`);
    } else throw nodeError(TypeError, "ERR_INVALID_ARG_VALUE", `The argument 'type' must be a supported key type. Received '${type}'`);
    return newKey("secret", 0, h.randomBytes(MathFloor(length / 8)));
  }
  function generateKey(type, options, callback) {
    validateFunction(callback, "callback");
    const key = generateKeySync(type, options);
    queueMicrotask(() => callback(null, key));
  }

  return {
    exports: { KeyObject, createSecretKey, createPublicKey, createPrivateKey, generateKeyPair, generateKeyPairSync, generateKey, generateKeySync },
    keyState, asymmetricKey, publicOf, invalidType,
  };
}
