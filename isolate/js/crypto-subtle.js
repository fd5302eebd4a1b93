// ---- crypto-subtle.js: crypto.subtle, the SubtleCrypto interface. ---------------
// Every method returns a promise: WebIDL argument conversion first (TypeError), then the Web
// Cryptography API's steps (NotSupportedError, SyntaxError, InvalidAccessError, DataError,
// OperationError), as rejections. The work itself runs synchronously in native ops on the
// isolate's thread, charged to the request's CPU budget (isolate/src/ops/mod.rs has the caps).

const KEY_FORMATS = ["raw", "spki", "pkcs8", "jwk"];

/** WebIDL AlgorithmIdentifier: an object, or a string. */
const toAlgId = (v) => (v !== null && (typeof v === "object" || typeof v === "function") ? v : `${v}`);
function toFormat(v) {
  const s = `${v}`;
  if (!has(KEY_FORMATS, s)) throw new TypeError(`"${s}" is not a valid KeyFormat`);
  return s;
}
/** WebIDL BufferSource: a view of its bytes (TypeError for anything else); the operation copies
 *  them after normalizing the algorithm, as the specification orders it. */
function bufferArg(v, what) {
  if (v === null || typeof v !== "object") throw new TypeError(`${what} is not a BufferSource`);
  return bufferSourceBytes(v, what);
}
function keyArg(v, what) {
  const st = keyState(v);
  if (st === undefined) throw new TypeError(`${what} is not a CryptoKey`);
  return st;
}
/** The key may be used for `usage` by algorithm `alg` (InvalidAccessError otherwise). */
function requireUse(st, alg, usage) {
  if (alg.name !== st.alg.name) throw invalidAccess(`the key is a ${st.alg.name} key, not ${alg.name}`);
  if (!has(st.usages, usage)) throw invalidAccess(`the key's usages do not include ${usage}`);
}
function requireType(st, type, what) {
  if (st.type !== type) throw invalidAccess(`${what} needs a ${type} key`);
}
const FAMILY_OF = (st) => (st.alg.namedCurve !== undefined ? FAMILY[st.alg.namedCurve] : FAMILY[st.alg.name]);

function signOp(alg, st, data) {
  switch (alg.name) {
    case "HMAC": return callOp(OP.hmacSign, [HASH_ID[st.alg.hash], st.material, data]);
    case "ECDSA":
      requireType(st, "private", "ECDSA signing");
      return callOp(OP.ecdsaSign, [FAMILY_OF(st), HASH_ID[alg.hash.name], st.material, data]);
    case "Ed25519":
      requireType(st, "private", "Ed25519 signing");
      return callOp(OP.ed25519Sign, [st.material, data]);
    default:
      requireType(st, "private", `${alg.name} signing`);
      return callOp(OP.rsaSign, [alg.name === "RSA-PSS" ? 1 : 0, HASH_ID[st.alg.hash], st.material, alg.saltLength ?? 0, data]);
  }
}

function verifyOp(alg, st, signature, data) {
  let r;
  switch (alg.name) {
    case "HMAC": r = callOp(OP.hmacVerify, [HASH_ID[st.alg.hash], st.material, data, signature]); break;
    case "ECDSA":
      requireType(st, "public", "ECDSA verification");
      r = callOp(OP.ecdsaVerify, [FAMILY_OF(st), HASH_ID[alg.hash.name], st.material, data, signature]);
      break;
    case "Ed25519":
      requireType(st, "public", "Ed25519 verification");
      r = callOp(OP.ed25519Verify, [st.material, data, signature]);
      break;
    default:
      requireType(st, "public", `${alg.name} verification`);
      r = callOp(OP.rsaVerify, [alg.name === "RSA-PSS" ? 1 : 0, HASH_ID[st.alg.hash], st.material, alg.saltLength ?? 0, data, signature]);
  }
  return r[0] === 1;
}

/** AES-GCM's tagLength values, in bits (the spec's encrypt and decrypt operations). */
const GCM_TAG_LENGTHS = [32, 64, 96, 104, 112, 120, 128];

function cipherOp(alg, st, data, encrypt) {
  switch (alg.name) {
    case "AES-CBC":
      if (typedArrayByteLength(alg.iv) !== 16) throw operationError("the AES-CBC iv must be 16 bytes");
      return callOp(encrypt ? OP.cbcEncrypt : OP.cbcDecrypt, [st.material, alg.iv, data]);
    case "AES-CTR":
      if (typedArrayByteLength(alg.counter) !== 16) throw operationError("the AES-CTR counter must be 16 bytes");
      if (alg.length === 0 || alg.length > 128) throw operationError("the AES-CTR length must be between 1 and 128");
      return callOp(OP.ctr, [st.material, alg.counter, alg.length, data]);
    case "AES-GCM": {
      // Any IV length but zero (the spec bounds it only at 2^64 - 1 bytes; GCM needs at least one
      // bit, and workerd refuses an empty one with an OperationError); 96 bits is the usual.
      if (typedArrayByteLength(alg.iv) === 0) throw operationError("the AES-GCM iv must not be empty");
      const tag = alg.tagLength ?? 128;
      if (!has(GCM_TAG_LENGTHS, tag)) throw operationError(`the AES-GCM tagLength must be 32, 64, 96, 104, 112, 120 or 128, not ${tag}`);
      if (!encrypt && typedArrayByteLength(data) < tag / 8) throw operationError("the AES-GCM data is shorter than its tag");
      return callOp(encrypt ? OP.gcmEncrypt : OP.gcmDecrypt, [st.material, alg.iv, alg.additionalData ?? new U8(0), tag, data]);
    }
    default:
      requireType(st, encrypt ? "public" : "private", `RSA-OAEP ${encrypt ? "encryption" : "decryption"}`);
      return callOp(encrypt ? OP.oaepEncrypt : OP.oaepDecrypt, [HASH_ID[st.alg.hash], st.material, alg.label ?? new U8(0), data]);
  }
}

/** The first `length` bits of `secret` (all of it when length is null). */
function truncateBits(secret, length) {
  const bits = typedArrayByteLength(secret) * 8;
  if (length === null) return secret;
  if (length > bits) throw operationError(`cannot derive ${length} bits, only ${bits}`);
  const out = bytesCopy(bytesView(secret, 0, MathFloor((length + 7) / 8)));
  if (length % 8) out[typedArrayByteLength(out) - 1] &= (0xff << (8 - (length % 8))) & 0xff;
  return out;
}

function deriveBitsOp(alg, st, length) {
  switch (alg.name) {
    case "HKDF":
      if (length === null) throw operationError("HKDF needs a length");
      return callOp(OP.hkdf, [HASH_ID[alg.hash.name], st.material, alg.salt, alg.info, length]);
    case "PBKDF2":
      if (length === null) throw operationError("PBKDF2 needs a length");
      return callOp(OP.pbkdf2, [HASH_ID[alg.hash.name], st.material, alg.salt, alg.iterations, length]);
    default: {
      requireType(st, "private", `${alg.name} derivation`);
      const peer = keyState(alg.public);
      if (peer.type !== "public") throw invalidAccess("the public member must be a public key");
      if (peer.alg.name !== st.alg.name) throw invalidAccess("the public key is of another algorithm");
      if (peer.alg.namedCurve !== st.alg.namedCurve) throw invalidAccess("the public key is on another curve");
      const secret = alg.name === "ECDH"
        ? callOp(OP.ecdh, [FAMILY_OF(st), st.material, peer.material])
        : callOp(OP.x25519, [st.material, peer.material]);
      return truncateBits(secret, length);
    }
  }
}

/** The spec's "get key length" of a normalized derived-key algorithm; null for HKDF/PBKDF2. */
function keyLength(alg) {
  if (alg.name === "HMAC") {
    if (alg.length === undefined) return HASH_BLOCK_BITS[alg.hash.name];
    if (alg.length === 0) throw new TypeError("HMAC key length must not be zero");
    return alg.length;
  }
  if (alg.name === "HKDF" || alg.name === "PBKDF2") return null;
  if (alg.length !== 128 && alg.length !== 192 && alg.length !== 256) throw operationError("AES key length must be 128, 192 or 256 bits");
  return alg.length;
}

/** Normalizes for `op`, falling back to `fallback` where the algorithm does not register `op`. */
function normalizeEither(alg, op, fallback) {
  try {
    return normalizeAlgorithm(alg, op);
  } catch (e) {
    if (!isDOMException(e) || e.name !== "NotSupportedError") throw e;
    return normalizeAlgorithm(alg, fallback);
  }
}

function emptyUsageCheck(result, usages) {
  const st = keyState(result);
  if (st !== undefined && (st.type === "secret" || st.type === "private") && usages.length === 0) {
    throw syntaxError("a secret or private key needs at least one usage");
  }
}

let isSubtle;
class SubtleCrypto {
  #brand;
  constructor(token) {
    if (token !== INTERNAL) throw new TypeError("Illegal constructor");
    this.#brand = true;
  }
  static { isSubtle = (v) => v !== null && typeof v === "object" && #brand in v; }

  async digest(algorithm, data) {
    thisCheck(this, arguments.length, 2, "digest");
    const id = toAlgId(algorithm);
    const view = bufferArg(data, "digest: data");
    const alg = normalizeAlgorithm(id, "digest");
    const bytes = bytesCopy(view);
    return typedArrayBuffer(callOp(OP.digest, [HASH_ID[alg.name], bytes]));
  }
  async encrypt(algorithm, key, data) { return crypt(this, arguments.length, algorithm, key, data, true); }
  async decrypt(algorithm, key, data) { return crypt(this, arguments.length, algorithm, key, data, false); }
  async sign(algorithm, key, data) {
    thisCheck(this, arguments.length, 3, "sign");
    const id = toAlgId(algorithm);
    const st = keyArg(key, "sign: key");
    const view = bufferArg(data, "sign: data");
    const alg = normalizeAlgorithm(id, "sign");
    const bytes = bytesCopy(view);
    requireUse(st, alg, "sign");
    return typedArrayBuffer(signOp(alg, st, bytes));
  }
  async verify(algorithm, key, signature, data) {
    thisCheck(this, arguments.length, 4, "verify");
    const id = toAlgId(algorithm);
    const st = keyArg(key, "verify: key");
    const sigView = bufferArg(signature, "verify: signature");
    const view = bufferArg(data, "verify: data");
    const alg = normalizeAlgorithm(id, "verify");
    const sig = bytesCopy(sigView);
    const bytes = bytesCopy(view);
    requireUse(st, alg, "verify");
    return verifyOp(alg, st, sig, bytes);
  }
  async generateKey(algorithm, extractable, keyUsages) {
    thisCheck(this, arguments.length, 3, "generateKey");
    const id = toAlgId(algorithm);
    const usages = toUsages(keyUsages);
    const alg = normalizeAlgorithm(id, "generateKey");
    const result = generateKey(alg, !!extractable, usages);
    if (keyState(result) === undefined) emptyUsageCheck(result.privateKey, usages);
    else emptyUsageCheck(result, usages);
    return result;
  }
  async deriveKey(algorithm, baseKey, derivedKeyType, extractable, keyUsages) {
    thisCheck(this, arguments.length, 5, "deriveKey");
    const id = toAlgId(algorithm);
    const st = keyArg(baseKey, "deriveKey: baseKey");
    const derivedId = toAlgId(derivedKeyType);
    const usages = toUsages(keyUsages);
    const alg = normalizeAlgorithm(id, "deriveBits");
    const importAlg = normalizeAlgorithm(derivedId, "importKey");
    const lengthAlg = normalizeAlgorithm(derivedId, "get key length");
    requireUse(st, alg, "deriveKey");
    const secret = deriveBitsOp(alg, st, keyLength(lengthAlg));
    const result = importKey("raw", bytesCopy(secret), importAlg, !!extractable, usages);
    emptyUsageCheck(result, usages);
    return result;
  }
  async deriveBits(algorithm, baseKey, length = null) {
    thisCheck(this, arguments.length, 2, "deriveBits");
    const id = toAlgId(algorithm);
    const st = keyArg(baseKey, "deriveBits: baseKey");
    // WebIDL `optional unsigned long? length = null`: ToNumber, then modulo 2^32.
    const len = length === null || length === undefined ? null : +length >>> 0;
    const alg = normalizeAlgorithm(id, "deriveBits");
    requireUse(st, alg, "deriveBits");
    return typedArrayBuffer(bytesCopy(deriveBitsOp(alg, st, len)));
  }
  async importKey(format, keyData, algorithm, extractable, keyUsages) {
    thisCheck(this, arguments.length, 5, "importKey");
    const fmt = toFormat(format);
    const data = fmt === "jwk" ? toJwk(keyData) : bufferCopy(keyData, "importKey: keyData");
    const id = toAlgId(algorithm);
    const usages = toUsages(keyUsages);
    const alg = normalizeAlgorithm(id, "importKey");
    const result = importKey(fmt, data, alg, !!extractable, usages);
    emptyUsageCheck(result, usages);
    return result;
  }
  async exportKey(format, key) {
    thisCheck(this, arguments.length, 2, "exportKey");
    const fmt = toFormat(format);
    keyArg(key, "exportKey: key");
    return exportKey(fmt, key);
  }
  async wrapKey(format, key, wrappingKey, wrapAlgorithm) {
    thisCheck(this, arguments.length, 4, "wrapKey");
    const fmt = toFormat(format);
    keyArg(key, "wrapKey: key");
    const wst = keyArg(wrappingKey, "wrapKey: wrappingKey");
    const alg = normalizeEither(toAlgId(wrapAlgorithm), "wrapKey", "encrypt");
    requireUse(wst, alg, "wrapKey");
    const exported = exportKey(fmt, key);
    const bytes = fmt === "jwk" ? utf8Encode(JSONStringify(exported)) : new U8(exported);
    return typedArrayBuffer(alg.name === "AES-KW" ? callOp(OP.kwWrap, [wst.material, bytes]) : cipherOp(alg, wst, bytes, true));
  }
  async unwrapKey(format, wrappedKey, unwrappingKey, unwrapAlgorithm, unwrappedKeyAlgorithm, extractable, keyUsages) {
    thisCheck(this, arguments.length, 7, "unwrapKey");
    const fmt = toFormat(format);
    const wrapped = bufferCopy(wrappedKey, "unwrapKey: wrappedKey");
    const ust = keyArg(unwrappingKey, "unwrapKey: unwrappingKey");
    const unwrapId = toAlgId(unwrapAlgorithm);
    const keyId = toAlgId(unwrappedKeyAlgorithm);
    const usages = toUsages(keyUsages);
    const alg = normalizeEither(unwrapId, "unwrapKey", "decrypt");
    const keyAlg = normalizeAlgorithm(keyId, "importKey");
    requireUse(ust, alg, "unwrapKey");
    const bytes = alg.name === "AES-KW" ? callOp(OP.kwUnwrap, [ust.material, wrapped]) : cipherOp(alg, ust, wrapped, false);
    let data = bytes;
    if (fmt === "jwk") {
      let parsed;
      try {
        parsed = JSONParse(utf8Decode(bytes));
      } catch {
        throw dataError("the unwrapped key is not a JSON Web Key");
      }
      data = toJwk(parsed);
    }
    const result = importKey(fmt, data, keyAlg, !!extractable, usages);
    emptyUsageCheck(result, usages);
    return result;
  }
  /** Cloudflare Workers' extension (after Node's crypto.timingSafeEqual): whether two buffers of
   *  the same length hold the same bytes, in time that depends on the length only. Synchronous;
   *  a TypeError for anything but an ArrayBuffer or view, or for lengths that differ. */
  timingSafeEqual(a, b) {
    thisCheck(this, arguments.length, 2, "timingSafeEqual");
    const x = bufferArg(a, "timingSafeEqual: a");
    const y = bufferArg(b, "timingSafeEqual: b");
    const n = typedArrayByteLength(x);
    if (n !== typedArrayByteLength(y)) throw new TypeError("timingSafeEqual: the input buffers must have the same byte length");
    // No early exit: every byte pair is looked at, and only their accumulated difference decides.
    let diff = 0;
    for (let i = 0; i < n; i++) diff |= x[i] ^ y[i];
    return diff === 0;
  }
}
enumerableMembers(SubtleCrypto.prototype);
setTag(SubtleCrypto.prototype, "SubtleCrypto");
const subtleObject = new SubtleCrypto(INTERNAL);
addPlatformBrand((v) => v === subtleObject);
defineGlobal("SubtleCrypto", SubtleCrypto);
// crypto.subtle (clone.js) is this object, reached through lazyInternals("crypto").
shareInternals("crypto", ObjectFreeze({ __proto__: null, subtle: subtleObject }));

function thisCheck(self, got, needed, what) {
  if (!isSubtle(self)) throw new TypeError(`SubtleCrypto.${what} called on an object that is not a SubtleCrypto`);
  requireArgs(got, needed, `SubtleCrypto.${what}`);
}

function crypt(self, got, algorithm, key, data, encrypt) {
  const what = encrypt ? "encrypt" : "decrypt";
  thisCheck(self, got, 3, what);
  const id = toAlgId(algorithm);
  const st = keyArg(key, `${what}: key`);
  const view = bufferArg(data, `${what}: data`);
  const alg = normalizeAlgorithm(id, what);
  const bytes = bytesCopy(view);
  requireUse(st, alg, what);
  return typedArrayBuffer(cipherOp(alg, st, bytes, encrypt));
}
