// ---- crypto-keys.js: WebCrypto's algorithm normalization and CryptoKey. ----------
// The Web Cryptography API's "normalize an algorithm" (WebIDL dictionary conversion of each
// algorithm's parameters, members read in the spec's order), the CryptoKey interface, key usages
// and base64url. A CryptoKey's key material (raw secret bytes, PKCS#8 or SPKI DER, made canonical
// by the native side) lives in a private field that tenant code cannot reach; operations hand it
// to native ops (OP, isolate/src/ops/mod.rs) as bytes. The algorithms themselves are in
// crypto-import.js and crypto-subtle.js.

/** Native op codes (isolate/src/ops/mod.rs, OpCode). */
const OP = ObjectFreeze({
  __proto__: null,
  digest: 0x0101, hmacSign: 0x0102, hmacVerify: 0x0103,
  gcmEncrypt: 0x0110, gcmDecrypt: 0x0111, cbcEncrypt: 0x0112, cbcDecrypt: 0x0113, ctr: 0x0114,
  kwWrap: 0x0115, kwUnwrap: 0x0116, pbkdf2: 0x0120, hkdf: 0x0121,
  ecGenerate: 0x0130, ecdsaSign: 0x0131, ecdsaVerify: 0x0132, ecdh: 0x0133,
  okpGenerate: 0x0140, ed25519Sign: 0x0141, ed25519Verify: 0x0142, x25519: 0x0143,
  rsaGenerate: 0x0150, rsaSign: 0x0151, rsaVerify: 0x0152, oaepEncrypt: 0x0153, oaepDecrypt: 0x0154,
  keyImport: 0x0160, keyExport: 0x0161,
});
/** Hash ids and key families of the native side (ops/crypto/hash.rs, ops/crypto/mod.rs). MD5 is
 *  for digest only (a Cloudflare Workers extension): no key operation takes it as its hash. */
const HASH_ID = { __proto__: null, "SHA-1": 1, "SHA-256": 2, "SHA-384": 3, "SHA-512": 4, MD5: 5 };
const HASH_BLOCK_BITS = { __proto__: null, "SHA-1": 512, "SHA-256": 512, "SHA-384": 1024, "SHA-512": 1024 };
const FAMILY = { __proto__: null, "P-256": 1, "P-384": 2, Ed25519: 3, X25519: 4, RSA: 5, "P-521": 6 };
const FORMAT_ID = { __proto__: null, raw: 0, spki: 1, pkcs8: 2, jwk: 3 };


const dataError = (m) => new DOMException(m, "DataError");
const syntaxError = (m) => new DOMException(m, "SyntaxError");
const notSupported = (m) => new DOMException(m, "NotSupportedError");
const invalidAccess = (m) => new DOMException(m, "InvalidAccessError");
const operationError = (m) => new DOMException(m, "OperationError");

// ---- base64url (RFC 4648 section 5, no padding), for JWK. ----
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
function base64urlEncode(bytes) {
  let s = "";
  const n = typedArrayByteLength(bytes);
  for (let i = 0; i < n; i += 3) {
    const b = (bytes[i] << 16) | ((i + 1 < n ? bytes[i + 1] : 0) << 8) | (i + 2 < n ? bytes[i + 2] : 0);
    s += B64URL[(b >> 18) & 63] + B64URL[(b >> 12) & 63];
    if (i + 1 < n) s += B64URL[(b >> 6) & 63];
    if (i + 2 < n) s += B64URL[b & 63];
  }
  return s;
}
function base64urlDecode(text, what) {
  const s = `${text}`;
  if (s.length % 4 === 1) throw dataError(`${what} is not valid base64url`);
  const out = new U8(MathFloor((s.length * 3) / 4));
  let acc = 0, bits = 0, o = 0;
  for (let i = 0; i < s.length; i++) {
    const c = StringCharCodeAt(s, i);
    const v = c >= 65 && c <= 90 ? c - 65 : c >= 97 && c <= 122 ? c - 71 : c >= 48 && c <= 57 ? c + 4
      : c === 45 ? 62 : c === 95 ? 63 : -1;
    if (v < 0) throw dataError(`${what} is not valid base64url`);
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) { bits -= 8; out[o++] = (acc >> bits) & 255; }
  }
  return bytesView(out, 0, o);
}

// ---- WebIDL conversions of algorithm members. ----
/** A private copy of a BufferSource's bytes. */
function bufferCopy(value, what) {
  if (value === null || typeof value !== "object") throw new TypeError(`${what} is not a BufferSource`);
  return bytesCopy(bufferSourceBytes(value, what));
}
/** [EnforceRange] unsigned integer of at most `max`. */
function enforceRange(value, max, what) {
  const n = +value;
  if (!NumberIsFinite(n)) throw new TypeError(`${what} is not a finite number`);
  const t = MathTrunc(n);
  if (t < 0 || t > max) throw new TypeError(`${what} is outside the range 0 to ${max}`);
  return t;
}
/** Reads dictionary member `key` of `dict`; `required` makes a missing one a TypeError. */
function member(dict, key, required, convert, algName) {
  const v = dict[key];
  if (v === undefined) {
    if (required) throw new TypeError(`${algName}: the algorithm's "${key}" member is required`);
    return undefined;
  }
  return convert(v, `${algName}: ${key}`);
}
const asBuffer = (v, what) => bufferCopy(v, what);
const asLong = (v, what) => enforceRange(v, 0xffffffff, what);
const asShort = (v, what) => enforceRange(v, 0xffff, what);
const asOctet = (v, what) => enforceRange(v, 0xff, what);
const asString = (v) => `${v}`;
/** A `hash` member: a digest algorithm, but not MD5, which Workers digests but no key here uses. */
const asHash = (v) => {
  const h = normalizeAlgorithm(v, "digest");
  if (h.name === "MD5") throw notSupported("MD5 is supported by digest only, not as a key's hash");
  return h;
};
const asBigInteger = (v, what) => {
  if (typeof v !== "object" || typedArrayName(v) !== "Uint8Array") throw new TypeError(`${what} is not a Uint8Array`);
  return bytesCopy(v);
};
const asKey = (v, what) => {
  if (keyState(v) === undefined) throw new TypeError(`${what} is not a CryptoKey`);
  return v;
};

/** Dictionary types: [member, required, converter], base dictionaries first, each sorted. */
const DICT = {
  __proto__: null,
  none: [],
  HmacImportParams: [["hash", true, asHash], ["length", false, asLong]],
  AesKeyGenParams: [["length", true, asShort]],
  AesCbcParams: [["iv", true, asBuffer]],
  AesCtrParams: [["counter", true, asBuffer], ["length", true, asOctet]],
  AesGcmParams: [["additionalData", false, asBuffer], ["iv", true, asBuffer], ["tagLength", false, asOctet]],
  EcKeyParams: [["namedCurve", true, asString]],
  EcdsaParams: [["hash", true, asHash]],
  EcdhKeyDeriveParams: [["public", true, asKey]],
  HkdfParams: [["hash", true, asHash], ["info", true, asBuffer], ["salt", true, asBuffer]],
  Pbkdf2Params: [["hash", true, asHash], ["iterations", true, asLong], ["salt", true, asBuffer]],
  RsaHashedKeyGenParams: [["modulusLength", true, asLong], ["publicExponent", true, asBigInteger], ["hash", true, asHash]],
  RsaHashedImportParams: [["hash", true, asHash]],
  RsaPssParams: [["saltLength", true, asLong]],
  RsaOaepParams: [["label", false, asBuffer]],
};

/** The spec's registered algorithms: name -> { operation: dictionary type }. */
const REGISTRY = {
  __proto__: null,
  "RSASSA-PKCS1-v1_5": { __proto__: null, sign: "none", verify: "none", generateKey: "RsaHashedKeyGenParams", importKey: "RsaHashedImportParams" },
  "RSA-PSS": { __proto__: null, sign: "RsaPssParams", verify: "RsaPssParams", generateKey: "RsaHashedKeyGenParams", importKey: "RsaHashedImportParams" },
  "RSA-OAEP": { __proto__: null, encrypt: "RsaOaepParams", decrypt: "RsaOaepParams", generateKey: "RsaHashedKeyGenParams", importKey: "RsaHashedImportParams" },
  ECDSA: { __proto__: null, sign: "EcdsaParams", verify: "EcdsaParams", generateKey: "EcKeyParams", importKey: "EcKeyParams" },
  ECDH: { __proto__: null, deriveBits: "EcdhKeyDeriveParams", generateKey: "EcKeyParams", importKey: "EcKeyParams" },
  Ed25519: { __proto__: null, sign: "none", verify: "none", generateKey: "none", importKey: "none" },
  X25519: { __proto__: null, deriveBits: "EcdhKeyDeriveParams", generateKey: "none", importKey: "none" },
  "AES-CTR": { __proto__: null, encrypt: "AesCtrParams", decrypt: "AesCtrParams", generateKey: "AesKeyGenParams", importKey: "none", "get key length": "AesKeyGenParams" },
  "AES-CBC": { __proto__: null, encrypt: "AesCbcParams", decrypt: "AesCbcParams", generateKey: "AesKeyGenParams", importKey: "none", "get key length": "AesKeyGenParams" },
  "AES-GCM": { __proto__: null, encrypt: "AesGcmParams", decrypt: "AesGcmParams", generateKey: "AesKeyGenParams", importKey: "none", "get key length": "AesKeyGenParams" },
  "AES-KW": { __proto__: null, wrapKey: "none", unwrapKey: "none", generateKey: "AesKeyGenParams", importKey: "none", "get key length": "AesKeyGenParams" },
  HMAC: { __proto__: null, sign: "none", verify: "none", generateKey: "HmacImportParams", importKey: "HmacImportParams", "get key length": "HmacImportParams" },
  "SHA-1": { __proto__: null, digest: "none" }, "SHA-256": { __proto__: null, digest: "none" },
  "SHA-384": { __proto__: null, digest: "none" }, "SHA-512": { __proto__: null, digest: "none" },
  // Not in the Web Cryptography API: Cloudflare Workers digests MD5 (workerd's
  // lookupDigestAlgorithm), and code written for it relies on that.
  MD5: { __proto__: null, digest: "none" },
  HKDF: { __proto__: null, deriveBits: "HkdfParams", importKey: "none", "get key length": "none" },
  PBKDF2: { __proto__: null, deriveBits: "Pbkdf2Params", importKey: "none", "get key length": "none" },
};
/** Upper-cased name -> registered name. */
const CANONICAL = ObjectCreate(null);
// Indexed: the crypto group is built lazily, possibly after tenant code replaced the iterator.
const REGISTERED = ObjectKeys(REGISTRY);
for (let i = 0; i < REGISTERED.length; i++) CANONICAL[StringToUpperCase(REGISTERED[i])] = REGISTERED[i];
// Cloudflare's name for Ed25519 from before the Web Cryptography API had it (Discord's
// interaction signatures are checked with it in Workers code): the same algorithm.
CANONICAL["NODE-ED25519"] = "Ed25519";

/** The spec's "normalize an algorithm" for operation `op`: a null-prototype object with `name`
 *  and the converted members of the operation's dictionary type. */
function normalizeAlgorithm(alg, op) {
  if (typeof alg === "string") return normalizeAlgorithm({ name: alg }, op);
  if (alg === null || (typeof alg !== "object" && typeof alg !== "function")) {
    throw new TypeError("the algorithm must be a string or an object with a name");
  }
  const rawName = alg.name;
  if (rawName === undefined) throw new TypeError("the algorithm's name is required");
  const name = CANONICAL[StringToUpperCase(`${rawName}`)];
  const type = name === undefined ? undefined : REGISTRY[name][op];
  if (type === undefined) throw notSupported(`${rawName} does not support ${op}`);
  const out = ObjectCreate(null);
  out.name = name;
  const members = DICT[type];
  for (let i = 0; i < members.length; i++) {
    const m = members[i];
    const v = member(alg, m[0], m[1], m[2], name);
    if (v !== undefined) out[m[0]] = v;
  }
  return out;
}

// ---- Key usages. ----
/** Whether `list` (an internal array) holds `x`; never calls a patchable method. */
function has(list, x) {
  for (let i = 0; i < list.length; i++) if (list[i] === x) return true;
  return false;
}
const USAGES = ["encrypt", "decrypt", "sign", "verify", "deriveKey", "deriveBits", "wrapKey", "unwrapKey"];
/** WebIDL sequence<KeyUsage>: every entry must be a KeyUsage (TypeError otherwise); returns the
 *  set as a list in the spec's order. */
function toUsages(value) {
  if (value === null || typeof value !== "object" || typeof value[SymbolIterator] !== "function") {
    throw new TypeError("keyUsages must be a sequence of strings");
  }
  const seen = ObjectCreate(null);
  for (const u of value) {
    const s = `${u}`;
    if (!has(USAGES, s)) throw new TypeError(`"${s}" is not a valid key usage`);
    seen[s] = true;
  }
  const list = [];
  for (let i = 0; i < USAGES.length; i++) if (seen[USAGES[i]]) list[list.length] = USAGES[i];
  return list;
}
/** SyntaxError unless every usage is in `allowed`. */
function checkUsages(usages, allowed, what) {
  for (let i = 0; i < usages.length; i++) {
    if (!has(allowed, usages[i])) throw syntaxError(`${what} keys cannot be used to ${usages[i]}`);
  }
}
/** The usages of `usages` that are in `allowed`. */
function intersect(usages, allowed) {
  const list = [];
  for (let i = 0; i < usages.length; i++) if (has(allowed, usages[i])) list[list.length] = usages[i];
  return list;
}

// ---- CryptoKey. ----
let keyState; // (value) -> the key's internal state, or undefined for anything but a CryptoKey
class CryptoKey {
  #state;
  constructor(token, state) {
    if (token !== INTERNAL) throw new TypeError("Illegal constructor");
    this.#state = state;
  }
  get type() { return this.#state.type; }
  get extractable() { return this.#state.extractable; }
  get algorithm() { return this.#state.algorithmObject; }
  get usages() { return this.#state.usagesObject; }
  static {
    keyState = (v) => (v !== null && typeof v === "object" && #state in v ? v.#state : undefined);
  }
}
/** WebIDL makes an interface's attributes and operations enumerable (class syntax does not). */
function enumerableMembers(proto) {
  const keys = ReflectOwnKeys(proto);
  for (let i = 0; i < keys.length; i++) {
    if (keys[i] === "constructor" || typeof keys[i] === "symbol") continue;
    const d = ObjectGetOwnPropertyDescriptor(proto, keys[i]);
    ObjectSetPrototypeOf(d, null); // built lazily: Object.prototype may have tenant getters by now
    d.enumerable = true;
    ObjectDefineProperty(proto, keys[i], d);
  }
}
enumerableMembers(CryptoKey.prototype);
setTag(CryptoKey.prototype, "CryptoKey");
addPlatformBrand((v) => keyState(v) !== undefined);
defineGlobal("CryptoKey", CryptoKey);

/** The tenant-visible algorithm object of a key's internal algorithm (the spec's KeyAlgorithm
 *  dictionaries), built once per key as the spec's [[algorithm_cached]]. */
function algorithmObject(alg) {
  const o = { name: alg.name };
  if (alg.length !== undefined) o.length = alg.length;
  if (alg.namedCurve !== undefined) o.namedCurve = alg.namedCurve;
  if (alg.modulusLength !== undefined) {
    o.modulusLength = alg.modulusLength;
    o.publicExponent = bytesCopy(alg.publicExponent);
  }
  if (alg.hash !== undefined) o.hash = { name: alg.hash };
  return o;
}

/** A new CryptoKey. `alg`: { name, length?, namedCurve?, modulusLength?, publicExponent?, hash? }
 *  (hash as a name); `material`: the key's bytes (raw secret, PKCS#8 or SPKI). */
function newKey(type, extractable, alg, usages, material) {
  const usagesObject = [];
  for (let i = 0; i < usages.length; i++) usagesObject[i] = usages[i];
  return new CryptoKey(INTERNAL, {
    type, extractable, alg, usages, material,
    algorithmObject: algorithmObject(alg), usagesObject,
  });
}
