// ---- node-crypto-dh.js: node:crypto's createECDH and finite-field Diffie-Hellman. ---------------
// ECDH (createECDH for prime256v1, secp384r1 and secp521r1: generateKeys, computeSecret,
// get/setPrivateKey, getPublicKey in the uncompressed, compressed or hybrid form, setPublicKey,
// ECDH.convertKey) on ops/src/crypto/node/ecdh.rs; DiffieHellman and DiffieHellmanGroup
// (createDiffieHellman from a prime, or a prime length for a fresh safe prime, getDiffieHellman /
// createDiffieHellmanGroup for modp1, 2, 5 and 14-18: generateKeys, computeSecret, get/set of the
// keys, getPrime, getGenerator, verifyError) on ops/src/crypto/node/dh.rs, whose exponentiations
// and prime searches end as the request's CPU limit when its budget is spent. Key state lives in
// private fields; errors are Node's (codes and messages).
// Not supported: other curves (secp256k1 and the rest: ERR_CRYPTO_INVALID_CURVE).
// Trusts: the native ops; node-crypto.js's helpers `h`.

/** createECDH's curve names -> family numbers (ops/src/crypto/mod.rs); OpenSSL's names only. */
const NODE_ECDH_CURVES = { __proto__: null, prime256v1: 1, secp384r1: 2, secp521r1: 6 };
const NODE_ECDH_FORMS = { __proto__: null, uncompressed: 0, compressed: 1, hybrid: 2 };
/** getDiffieHellman's groups, in ops/src/crypto/node/dh_groups.rs's order. */
const NODE_DH_GROUPS = { __proto__: null, modp1: 0, modp2: 1, modp5: 2, modp14: 3, modp15: 4, modp16: 5, modp17: 6, modp18: 7 };

function nodeDh(h) {
  const failed = (m) => nodeError(Error, "ERR_CRYPTO_OPERATION_FAILED", m);
  const invalidCurve = () => nodeError(TypeError, "ERR_CRYPTO_INVALID_CURVE", "Invalid EC curve name");
  const keyIn = (key, encoding, name) => bytesCopy(h.bytesOf(key, encoding, name));
  function form(format) {
    if (format === undefined) return 0;
    const f = NODE_ECDH_FORMS[format];
    if (f === undefined) throw nodeError(TypeError, "ERR_CRYPTO_ECDH_INVALID_FORMAT", `Invalid ECDH format: ${format}`);
    return f;
  }
  function curveOf(name) {
    if (typeof name !== "string") throw invalidArgType("curve", "of type string", name);
    const family = NODE_ECDH_CURVES[name];
    if (family === undefined) throw invalidCurve();
    return family;
  }
  /** The op's DataError as Node's error `make()`. */
  function call(code, parts, make) {
    try {
      return callOp(code, parts);
    } catch (e) {
      if (e instanceof DOMException && e.name === "DataError") throw make(e.message);
      throw e;
    }
  }

  class ECDH {
    #family; #priv; #pub;
    constructor(curve) {
      this.#family = curveOf(curve);
    }
    static convertKey(key, curve, inputEncoding, outputEncoding, format) {
      const family = curveOf(curve);
      const point = call(NODE_OP_EXT.ecdhPoint, [family, keyIn(key, inputEncoding, "key"), form(format)], failed);
      return h.output(point, outputEncoding);
    }
    #set(scalar) {
      const r = unpackFields(call(NODE_OP_EXT.ecdhKeys, [this.#family, scalar],
        (m) => nodeError(RangeError, "ERR_CRYPTO_INVALID_KEYTYPE", m)));
      this.#priv = bytesCopy(r[0]);
      this.#pub = bytesCopy(r[1]);
    }
    generateKeys(encoding, format) {
      this.#set(new U8(0));
      return this.getPublicKey(encoding, format);
    }
    computeSecret(key, inputEncoding, outputEncoding) {
      const peer = keyIn(key, inputEncoding, "key");
      if (this.#priv === undefined) throw nodeError(RangeError, "ERR_CRYPTO_INVALID_KEYPAIR", "Invalid key pair");
      const secret = call(NODE_OP_EXT.ecdhCompute, [this.#family, this.#priv, peer],
        () => nodeError(Error, "ERR_CRYPTO_ECDH_INVALID_PUBLIC_KEY", "Public key is not valid for specified curve"));
      return h.output(secret, outputEncoding);
    }
    getPrivateKey(encoding) {
      if (this.#priv === undefined) throw failed("Failed to get ECDH private key");
      // The scalar's minimal big-endian bytes, as OpenSSL's BN_bn2bin gives them.
      return h.output(trim(this.#priv), encoding);
    }
    getPublicKey(encoding, format) {
      const f = form(format);
      if (this.#pub === undefined) throw failed("Failed to get ECDH public key");
      return h.output(f === 0 ? bytesCopy(this.#pub) : callOp(NODE_OP_EXT.ecdhPoint, [this.#family, this.#pub, f]), encoding);
    }
    setPrivateKey(key, encoding) {
      this.#set(keyIn(key, encoding, "key"));
      return this;
    }
    setPublicKey(key, encoding) {
      this.#pub = bytesCopy(call(NODE_OP_EXT.ecdhPoint, [this.#family, keyIn(key, encoding, "key"), 0], failed));
      return this;
    }
  }

  const trim = (b) => {
    let i = 0;
    const n = typedArrayByteLength(b);
    while (i < n - 1 && b[i] === 0) i++;
    return bytesCopy(b, i, n);
  };
  const dhCall = (code, parts) => {
    try {
      return callOp(code, parts);
    } catch (e) {
      const m = e?.message;
      if (m === "Supplied key is too small" || m === "Supplied key is too large") throw nodeError(RangeError, "ERR_CRYPTO_INVALID_KEYLEN", m);
      if (m === "modulus too small") throw nodeError(Error, "ERR_OSSL_DH_MODULUS_TOO_SMALL", "error:0280007E:Diffie-Hellman routines::modulus too small");
      if (m === "modulus too large") throw nodeError(Error, "ERR_OSSL_DH_MODULUS_TOO_LARGE", "error:0280007C:Diffie-Hellman routines::modulus too large");
      if (m === "bits too small") throw nodeError(Error, "ERR_OSSL_BN_BITS_TOO_SMALL", "error:01800076:bignum routines::bits too small");
      throw e;
    }
  };
  class DiffieHellmanBase {
    #p; #g; #priv; #pub; #check;
    constructor(internal, p, g, check) {
      if (internal !== INTERNAL) throw new TypeError("Illegal constructor");
      this.#p = p; this.#g = g; this.#check = check;
    }
    get verifyError() { return this.#check; }
    generateKeys(encoding) {
      const r = unpackFields(dhCall(NODE_OP_EXT.dhKeys, [this.#p, this.#g, this.#priv ?? new U8(0)]));
      this.#priv = bytesCopy(r[0]);
      this.#pub = bytesCopy(r[1]);
      return this.getPublicKey(encoding);
    }
    computeSecret(key, inputEncoding, outputEncoding) {
      const peer = keyIn(key, inputEncoding, "key");
      if (this.#priv === undefined) throw nodeError(Error, "ERR_CRYPTO_INVALID_STATE", "No private key - did you forget to generate one?");
      return h.output(dhCall(NODE_OP_EXT.dhCompute, [this.#p, this.#priv, peer]), outputEncoding);
    }
    getPrime(encoding) { return h.output(bytesCopy(this.#p), encoding); }
    getGenerator(encoding) { return h.output(bytesCopy(this.#g), encoding); }
    getPublicKey(encoding) {
      if (this.#pub === undefined) throw nodeError(Error, "ERR_CRYPTO_INVALID_STATE", "No public key - did you forget to generate one?");
      return h.output(bytesCopy(this.#pub), encoding);
    }
    getPrivateKey(encoding) {
      if (this.#priv === undefined) throw nodeError(Error, "ERR_CRYPTO_INVALID_STATE", "No private key - did you forget to generate one?");
      return h.output(bytesCopy(this.#priv), encoding);
    }
    setPublicKey(key, encoding) { this.#pub = keyIn(key, encoding, "key"); return this; }
    setPrivateKey(key, encoding) { this.#priv = keyIn(key, encoding, "key"); return this; }
  }
  class DiffieHellman extends DiffieHellmanBase {
    constructor(sizeOrKey, keyEncoding, generator, genEncoding) {
      if (typeof sizeOrKey === "number") {
        validateInteger(sizeOrKey, "sizeOrKey", 0, 2147483647);
        if (sizeOrKey < 512) throw nodeError(Error, "ERR_OSSL_DH_MODULUS_TOO_SMALL", "error:0280007E:Diffie-Hellman routines::modulus too small");
      } else if (typeof sizeOrKey !== "string" && !(sizeOrKey !== null && typeof sizeOrKey === "object" &&
        (typedArrayName(sizeOrKey) !== undefined || isDataView(sizeOrKey) || isArrayBuffer(sizeOrKey)))) {
        throw invalidArgType("sizeOrKey", "of type number or string or an instance of ArrayBuffer, Buffer, TypedArray, or DataView", sizeOrKey);
      }
      if (typeof keyEncoding === "number") { genEncoding = generator; generator = keyEncoding; keyEncoding = undefined; }
      else if (keyEncoding !== undefined && keyEncoding !== "buffer" && typeof keyEncoding !== "string") {
        generator = keyEncoding; keyEncoding = undefined;
      }
      let g;
      if (generator === undefined) g = new U8([2]);
      else if (typeof generator === "number") {
        validateInteger(generator, "generator", -2147483648, 2147483647);
        if (generator < 2) throw nodeError(Error, "ERR_OSSL_DH_BAD_GENERATOR", "error:02800065:Diffie-Hellman routines::bad generator");
        g = new U8([generator >>> 24, (generator >>> 16) & 255, (generator >>> 8) & 255, generator & 255]);
      } else g = keyIn(generator, genEncoding, "generator");
      g = trim(g);
      if (typedArrayByteLength(g) === 1 && g[0] < 2) throw nodeError(Error, "ERR_OSSL_DH_BAD_GENERATOR", "error:02800065:Diffie-Hellman routines::bad generator");
      const p = typeof sizeOrKey === "number" ? bytesCopy(dhCall(NODE_OP_EXT.dhPrime, [sizeOrKey])) : trim(keyIn(sizeOrKey, keyEncoding, "sizeOrKey"));
      const check = fieldU32(dhCall(NODE_OP_EXT.dhCheck, [p, g]));
      super(INTERNAL, p, g, check);
    }
  }
  class DiffieHellmanGroup extends DiffieHellmanBase {
    constructor(name) {
      if (typeof name !== "string") throw invalidArgType("name", "of type string", name);
      const index = NODE_DH_GROUPS[name];
      if (index === undefined) throw nodeError(Error, "ERR_CRYPTO_UNKNOWN_DH_GROUP", "Unknown DH group");
      super(INTERNAL, bytesCopy(callOp(NODE_OP_EXT.dhGroup, [index])), new U8([2]), 0);
    }
  }
  // The group's own methods: a DiffieHellmanGroup has no setters (as Node's).
  ObjectDefineProperty(DiffieHellmanGroup.prototype, "setPublicKey", { value: undefined });
  ObjectDefineProperty(DiffieHellmanGroup.prototype, "setPrivateKey", { value: undefined });
  return {
    ECDH, DiffieHellman, DiffieHellmanGroup,
    createECDH: (curve) => new ECDH(curve),
    createDiffieHellman: (sizeOrKey, keyEncoding, generator, genEncoding) => new DiffieHellman(sizeOrKey, keyEncoding, generator, genEncoding),
    getDiffieHellman: (name) => new DiffieHellmanGroup(name),
    createDiffieHellmanGroup: (name) => new DiffieHellmanGroup(name),
  };
}
