// ---- node-crypto-kdf.js: node:crypto's pbkdf2, hkdf and scrypt (sync and callback forms). ------
// The derivations run in native ops (ops/src/crypto/node/digest.rs, scrypt.rs) that check for
// termination as they go: a huge iteration count or scrypt cost ends as the request's CPU limit.
// Node's argument checks and error codes come first (ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE,
// ERR_CRYPTO_INVALID_DIGEST, ERR_CRYPTO_INVALID_KEYLEN, ERR_CRYPTO_INVALID_SCRYPT_PARAMS with
// Node's maxmem rule, 32 MiB by default). A callback form derives in the call and calls back in a
// later task with (null, result); its argument errors throw, as Node's do.
// Trusts: the native ops; node-crypto.js's helpers `h`.

function nodeKdf(h) {
  const later = (callback, ...args) => { queueMicrotask(() => ReflectApply(callback, undefined, args)); };

  function digestArg(digest) {
    if (typeof digest !== "string") throw invalidArgType("digest", "of type string", digest);
    const id = nodeDigestId(digest);
    // SHAKE has no HMAC, so no PBKDF2 or HKDF either.
    if (id === undefined || NODE_XOF[id] === true) throw nodeError(TypeError, "ERR_CRYPTO_INVALID_DIGEST", `Invalid digest: ${digest}`);
    return id;
  }

  // In Node's order: the digest's type, the other arguments, then whether the digest is one.
  function pbkdf2Sync(password, salt, iterations, keylen, digest) {
    if (typeof digest !== "string") throw invalidArgType("digest", "of type string", digest);
    const p = h.bytesLike(password, "password");
    const s = h.bytesLike(salt, "salt");
    validateInteger(iterations, "iterations", 1, 2147483647);
    validateInteger(keylen, "keylen", 0, 2147483647);
    const id = digestArg(digest);
    return h.toBuffer(callOp(NODE_OP.pbkdf2, [id, p, s, iterations, keylen]));
  }
  function pbkdf2(password, salt, iterations, keylen, digest, callback) {
    validateFunction(callback, "callback");
    const out = pbkdf2Sync(password, salt, iterations, keylen, digest);
    later(callback, null, out);
  }

  function hkdfSync(digest, ikm, salt, info, keylen) {
    if (typeof digest !== "string") throw invalidArgType("digest", "of type string", digest);
    const k = h.secretBytes(ikm, undefined, "ikm");
    const s = h.bytesLike(salt, "salt");
    const i = h.bytesLike(info, "info");
    validateInteger(keylen, "length", 0, 2 ** 32); // Node's buffer.constants.MAX_LENGTH
    if (typedArrayByteLength(i) > 1024) throw outOfRange("info", "must not contain more than 1024 bytes", typedArrayByteLength(i));
    const id = digestArg(digest);
    if (keylen > 255 * NODE_HASH_LENGTH[id]) throw nodeError(RangeError, "ERR_CRYPTO_INVALID_KEYLEN", "Invalid key length");
    return typedArrayBuffer(bytesCopy(callOp(NODE_OP.hkdf, [id, k, s, i, keylen])));
  }
  function hkdf(digest, ikm, salt, info, keylen, callback) {
    validateFunction(callback, "callback");
    const out = hkdfSync(digest, ikm, salt, info, keylen);
    later(callback, null, out);
  }

  const invalidScrypt = (detail) => nodeError(RangeError, "ERR_CRYPTO_INVALID_SCRYPT_PARAMS",
    detail === undefined ? "Invalid scrypt params" : `Invalid scrypt params: ${detail}`);
  function scryptSync(password, salt, keylen, options) {
    const p = h.bytesLike(password, "password");
    const s = h.bytesLike(salt, "salt");
    validateInteger(keylen, "keylen", 0, 2147483647);
    let N = 16384, r = 8, par = 1, maxmem = 32 << 20;
    if (options) {
      // Node's check: each option or its long name (not both), a uint32; 0 is the default.
      const pick = (a, b, fallback) => {
        let v = fallback;
        if (options[a] !== undefined) v = validateInteger(options[a], a, 0, 4294967295);
        if (options[b] !== undefined) {
          if (options[a] !== undefined) throw nodeError(Error, "ERR_CRYPTO_SCRYPT_INVALID_PARAMETER", "Invalid scrypt parameter");
          v = validateInteger(options[b], b, 0, 4294967295);
        }
        return v === 0 ? fallback : v;
      };
      N = pick("N", "cost", N);
      r = pick("r", "blockSize", r);
      par = pick("p", "parallelization", par);
      if (options.maxmem !== undefined) maxmem = validateInteger(options.maxmem, "maxmem", 0, NumberMAX_SAFE_INTEGER) || maxmem;
    }
    // OpenSSL's checks (EVP_PBE_scrypt), which Node relies on.
    if (N < 2 || (N & (N - 1)) !== 0 || r < 1 || par < 1 || r * par >= 2 ** 30 || (r < 16 && N >= 2 ** (16 * r))) throw invalidScrypt();
    if (par * 128 * r + 128 * r * (N + 2) > maxmem) throw invalidScrypt("error:030000AC:digital envelope routines::memory limit exceeded");
    try {
      return h.toBuffer(callOp(NODE_OP.scrypt, [p, s, N, r, par, keylen]));
    } catch (e) {
      if (e instanceof RangeError) throw invalidScrypt("error:030000AC:digital envelope routines::memory limit exceeded");
      throw e;
    }
  }
  function scrypt(password, salt, keylen, options, callback) {
    if (typeof options === "function") { callback = options; options = undefined; }
    validateFunction(callback, "callback");
    const out = scryptSync(password, salt, keylen, options);
    later(callback, null, out);
  }

  return { pbkdf2, pbkdf2Sync, hkdf, hkdfSync, scrypt, scryptSync };
}
