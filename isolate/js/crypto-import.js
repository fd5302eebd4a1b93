// ---- crypto-import.js (part 11 of 42): WebCrypto's generateKey, importKey and exportKey. ---------
// Per algorithm, in the Web Cryptography API's order of checks: usages (SyntaxError), format
// (NotSupportedError), the data (DataError). Secret keys are generated from the host's CSPRNG
// (the same source as crypto.getRandomValues); asymmetric keys by native ops, which also decode,
// check and canonicalize every imported key (isolate/src/ops/crypto/keys.rs).

const AES_NAMES = ["AES-CTR", "AES-CBC", "AES-GCM", "AES-KW"];
const RSA_NAMES = ["RSASSA-PKCS1-v1_5", "RSA-PSS", "RSA-OAEP"];
const AES_JWK = { __proto__: null, "AES-CTR": "CTR", "AES-CBC": "CBC", "AES-GCM": "GCM", "AES-KW": "KW" };
const HASH_SUFFIX = { __proto__: null, "SHA-1": "1", "SHA-256": "256", "SHA-384": "384", "SHA-512": "512" };
const RSA_JWK_ALG = {
  __proto__: null,
  "RSASSA-PKCS1-v1_5": (h) => `RS${HASH_SUFFIX[h]}`,
  "RSA-PSS": (h) => `PS${HASH_SUFFIX[h]}`,
  "RSA-OAEP": (h) => (h === "SHA-1" ? "RSA-OAEP" : `RSA-OAEP-${HASH_SUFFIX[h]}`),
};
const EC_JWK_ALG = { __proto__: null, "P-256": "ES256", "P-384": "ES384", "P-521": "ES512" };

/** Usages a key of `name` may have: [for a secret/private key, for a public key]. */
function keyUsages(name) {
  switch (name) {
    case "AES-KW": return [["wrapKey", "unwrapKey"], []];
    case "AES-CTR": case "AES-CBC": case "AES-GCM": return [["encrypt", "decrypt", "wrapKey", "unwrapKey"], []];
    case "HMAC": return [["sign", "verify"], []];
    case "HKDF": case "PBKDF2": return [["deriveKey", "deriveBits"], []];
    case "ECDSA": case "Ed25519": case "RSASSA-PKCS1-v1_5": case "RSA-PSS": return [["sign"], ["verify"]];
    case "ECDH": case "X25519": return [["deriveKey", "deriveBits"], []];
    case "RSA-OAEP": return [["decrypt", "unwrapKey"], ["encrypt", "wrapKey"]];
  }
  return [[], []];
}
/** A fresh array of the items of internal arrays (never iterates through a patchable method). */
function listOf(...lists) {
  const out = [];
  for (let i = 0; i < lists.length; i++) for (let j = 0; j < lists[i].length; j++) out[out.length] = lists[i][j];
  return out;
}
const allUsages = (name) => { const u = keyUsages(name); return listOf(u[0], u[1]); };

function randomBytes(n) {
  if (n > 65536) throw operationError("keys of more than 65536 bytes are not supported");
  const b = new U8(n);
  hostRandomFill(b);
  return b;
}

function curveOf(alg) {
  const c = alg.namedCurve;
  if (c !== "P-256" && c !== "P-384" && c !== "P-521") throw notSupported(`the curve ${c} is not supported`);
  return c;
}

// ---- generateKey ----
function generateKey(alg, extractable, usages) {
  const name = alg.name;
  if (has(AES_NAMES, name)) {
    checkUsages(usages, allUsages(name), name);
    if (alg.length !== 128 && alg.length !== 192 && alg.length !== 256) throw operationError("AES key length must be 128, 192 or 256 bits");
    return newKey("secret", extractable, { name, length: alg.length }, usages, randomBytes(alg.length / 8));
  }
  if (name === "HMAC") {
    checkUsages(usages, allUsages(name), name);
    const length = alg.length === undefined ? HASH_BLOCK_BITS[alg.hash.name] : alg.length;
    if (length === 0) throw operationError("HMAC key length must not be zero");
    return newKey("secret", extractable, { name, hash: alg.hash.name, length }, usages, randomBytes(MathFloor((length + 7) / 8)));
  }
  checkUsages(usages, allUsages(name), name);
  let parts, kalg;
  if (name === "ECDSA" || name === "ECDH") {
    const curve = curveOf(alg);
    parts = unpackFields(callOp(OP.ecGenerate, [FAMILY[curve]]));
    kalg = { name, namedCurve: curve };
  } else if (name === "Ed25519" || name === "X25519") {
    parts = unpackFields(callOp(OP.okpGenerate, [FAMILY[name]]));
    kalg = { name };
  } else {
    parts = unpackFields(callOp(OP.rsaGenerate, [alg.modulusLength, alg.publicExponent]));
    kalg = { name, modulusLength: alg.modulusLength, publicExponent: alg.publicExponent, hash: alg.hash.name };
  }
  const uses = keyUsages(name);
  const privateKey = newKey("private", extractable, kalg, intersect(usages, uses[0]), bytesCopy(parts[0]));
  const publicKey = newKey("public", true, kalg, intersect(usages, uses[1]), bytesCopy(parts[1]));
  return { publicKey, privateKey };
}

// ---- importKey ----
/** The WebIDL JsonWebKey dictionary. */
function toJwk(value) {
  if (value === null || typeof value !== "object") throw new TypeError("importKey: a jwk key must be an object");
  const out = ObjectCreate(null);
  const strings = ["alg", "crv", "d", "dp", "dq", "e", "ext", "k", "key_ops", "kty", "n", "oth", "p", "q", "qi", "use", "x", "y"];
  for (let i = 0; i < strings.length; i++) {
    const k = strings[i];
    const v = value[k];
    if (v === undefined) continue;
    if (k === "ext") out.ext = !!v;
    else if (k === "key_ops") {
      const ops = [];
      for (const op of v) ops[ops.length] = `${op}`;
      out.key_ops = ops;
    } else if (k !== "oth") out[k] = `${v}`;
  }
  return out;
}

/** The checks every JWK import makes: kty, use, key_ops, ext. */
function checkJwk(jwk, kty, use, extractable, usages) {
  if (jwk.kty !== kty) throw dataError(`the JWK's kty must be "${kty}"`);
  if (usages.length !== 0 && jwk.use !== undefined && jwk.use !== use) throw dataError(`the JWK's use must be "${use}"`);
  if (jwk.key_ops !== undefined) {
    for (let i = 0; i < jwk.key_ops.length; i++) {
      for (let j = 0; j < i; j++) if (jwk.key_ops[i] === jwk.key_ops[j]) throw dataError("the JWK's key_ops has duplicates");
    }
    for (let i = 0; i < usages.length; i++) {
      if (!has(jwk.key_ops, usages[i])) throw dataError(`the JWK's key_ops does not allow ${usages[i]}`);
    }
  }
  if (jwk.ext === false && extractable) throw dataError("the JWK is not extractable");
}
const jwkBytes = (jwk, member) => (jwk[member] === undefined ? new U8(0) : base64urlDecode(jwk[member], `the JWK's ${member}`));
const jwkRequired = (jwk, member) => {
  if (jwk[member] === undefined) throw dataError(`the JWK lacks ${member}`);
  return base64urlDecode(jwk[member], `the JWK's ${member}`);
};

/** A native import: [type, DER, modulus bits, public exponent]. */
function nativeImport(family, format, parts) {
  const r = unpackFields(callOp(OP.keyImport, listOf([family, FORMAT_ID[format]], parts)));
  return { type: r[0][0] === 1 ? "private" : "public", der: bytesCopy(r[1]), bits: (r[2][0] | (r[2][1] << 8) | (r[2][2] << 16) | (r[2][3] << 24)) >>> 0, exponent: bytesCopy(r[3]) };
}

function importKey(format, data, alg, extractable, usages) {
  const name = alg.name;
  const uses = keyUsages(name);
  const privateUses = uses[0], publicUses = uses[1];
  if (has(AES_NAMES, name) || name === "HMAC") {
    checkUsages(usages, privateUses, name);
    let bytes;
    if (format === "raw") bytes = data;
    else if (format === "jwk") {
      checkJwk(data, "oct", name === "HMAC" ? "sig" : "enc", extractable, usages);
      bytes = jwkRequired(data, "k");
    } else throw notSupported(`${name} keys cannot be imported as ${format}`);
    const bits = typedArrayByteLength(bytes) * 8;
    if (name === "HMAC") {
      if (bits === 0) throw dataError("an HMAC key must not be empty");
      let length = bits;
      if (alg.length !== undefined) {
        if (alg.length > bits || alg.length <= bits - 8) throw dataError("the HMAC length does not match the key data");
        length = alg.length;
      }
      const hash = alg.hash.name;
      if (format === "jwk" && data.alg !== undefined && data.alg !== `HS${HASH_SUFFIX[hash]}`) throw dataError("the JWK's alg does not match the hash");
      return newKey("secret", extractable, { name, hash, length }, usages, bytesCopy(bytes));
    }
    if (bits !== 128 && bits !== 192 && bits !== 256) throw dataError("AES keys must be 128, 192 or 256 bits");
    if (format === "jwk" && data.alg !== undefined && data.alg !== `A${bits}${AES_JWK[name]}`) throw dataError("the JWK's alg does not match the key");
    return newKey("secret", extractable, { name, length: bits }, usages, bytesCopy(bytes));
  }
  if (name === "HKDF" || name === "PBKDF2") {
    if (format !== "raw") throw notSupported(`${name} keys can only be imported as raw`);
    checkUsages(usages, privateUses, name);
    if (extractable) throw syntaxError(`${name} keys cannot be extractable`);
    return newKey("secret", false, { name }, usages, bytesCopy(data));
  }
  const isRsa = has(RSA_NAMES, name);
  const okp = name === "Ed25519" || name === "X25519";
  if (isRsa && format === "raw") throw notSupported(`${name} keys cannot be imported as raw`);
  let wantPrivate;
  if (format === "pkcs8") wantPrivate = true;
  else if (format === "jwk") wantPrivate = data.d !== undefined;
  else wantPrivate = false;
  checkUsages(usages, wantPrivate ? privateUses : publicUses, name);
  let family, kalg, parts;
  if (isRsa) {
    family = FAMILY.RSA;
    kalg = { name, hash: alg.hash.name };
  } else if (okp) {
    family = FAMILY[name];
    kalg = { name };
  } else {
    kalg = { name, namedCurve: curveOf(alg) };
    family = FAMILY[kalg.namedCurve];
  }
  if (format === "jwk") {
    const kty = isRsa ? "RSA" : okp ? "OKP" : "EC";
    checkJwk(data, kty, name === "RSA-OAEP" || name === "ECDH" || name === "X25519" ? "enc" : "sig", extractable, usages);
    if (isRsa) {
      if (data.alg !== undefined && data.alg !== RSA_JWK_ALG[name](kalg.hash)) throw dataError("the JWK's alg does not match the algorithm");
      const members = ["n", "e", "d", "p", "q", "dp", "dq", "qi"];
      parts = [];
      for (let i = 0; i < members.length; i++) parts[i] = i < 2 ? jwkRequired(data, members[i]) : jwkBytes(data, members[i]);
    } else if (okp) {
      if (data.crv !== name) throw dataError(`the JWK's crv must be ${name}`);
      if (name === "Ed25519" && data.alg !== undefined && data.alg !== "Ed25519" && data.alg !== "EdDSA") throw dataError("the JWK's alg must be Ed25519 or EdDSA");
      parts = [jwkRequired(data, "x"), jwkBytes(data, "d")];
    } else {
      if (data.crv !== kalg.namedCurve) throw dataError(`the JWK's crv must be ${kalg.namedCurve}`);
      if (name === "ECDSA" && data.alg !== undefined && data.alg !== EC_JWK_ALG[kalg.namedCurve]) throw dataError("the JWK's alg does not match the curve");
      parts = [jwkRequired(data, "x"), jwkRequired(data, "y"), jwkBytes(data, "d")];
    }
  } else if (format === "raw" || format === "spki" || format === "pkcs8") {
    parts = [data];
  } else throw notSupported(`${name} keys cannot be imported as ${format}`);
  const r = nativeImport(family, format, parts);
  if (isRsa) {
    kalg.modulusLength = r.bits;
    kalg.publicExponent = r.exponent;
  }
  return newKey(r.type, extractable, kalg, usages, r.der);
}

// ---- exportKey ----
const toArrayBuffer = (u8) => typedArrayBuffer(bytesCopy(u8));

function exportKey(format, key) {
  const st = keyState(key);
  const name = st.alg.name;
  if (!st.extractable) throw invalidAccess("the key is not extractable");
  if (st.type === "secret") {
    if (name === "HKDF" || name === "PBKDF2") throw notSupported(`${name} keys cannot be exported`);
    if (format === "raw") return toArrayBuffer(st.material);
    if (format !== "jwk") throw notSupported(`secret keys cannot be exported as ${format}`);
    const jwk = { kty: "oct", k: base64urlEncode(st.material) };
    jwk.alg = name === "HMAC" ? `HS${HASH_SUFFIX[st.alg.hash]}` : `A${st.alg.length}${AES_JWK[name]}`;
    jwk.key_ops = listOf(st.usages);
    jwk.ext = st.extractable;
    return jwk;
  }
  const isRsa = has(RSA_NAMES, name);
  const okp = name === "Ed25519" || name === "X25519";
  const family = isRsa ? FAMILY.RSA : okp ? FAMILY[name] : FAMILY[st.alg.namedCurve];
  const isPrivate = st.type === "private" ? 1 : 0;
  if (format === "raw" && isRsa) throw notSupported("RSA keys cannot be exported as raw");
  if ((format === "raw" || format === "spki") && isPrivate) throw invalidAccess(`a private key cannot be exported as ${format}`);
  if (format === "pkcs8" && !isPrivate) throw invalidAccess("a public key cannot be exported as pkcs8");
  if (format !== "jwk") {
    if (format !== "raw" && format !== "spki" && format !== "pkcs8") throw notSupported(`unknown format ${format}`);
    return toArrayBuffer(callOp(OP.keyExport, [family, FORMAT_ID[format], isPrivate, st.material]));
  }
  const m = unpackFields(callOp(OP.keyExport, [family, FORMAT_ID.jwk, isPrivate, st.material]));
  const jwk = {};
  if (isRsa) {
    jwk.kty = "RSA";
    jwk.alg = RSA_JWK_ALG[name](st.alg.hash);
    const members = ["n", "e", "d", "p", "q", "dp", "dq", "qi"];
    for (let i = 0; i < m.length; i++) jwk[members[i]] = base64urlEncode(m[i]);
  } else if (okp) {
    jwk.kty = "OKP";
    jwk.crv = name;
    if (name === "Ed25519") jwk.alg = "Ed25519";
    jwk.x = base64urlEncode(m[0]);
    if (isPrivate) jwk.d = base64urlEncode(m[1]);
  } else {
    jwk.kty = "EC";
    jwk.crv = st.alg.namedCurve;
    jwk.x = base64urlEncode(m[0]);
    jwk.y = base64urlEncode(m[1]);
    if (isPrivate) jwk.d = base64urlEncode(m[2]);
  }
  jwk.key_ops = listOf(st.usages);
  jwk.ext = st.extractable;
  return jwk;
}
