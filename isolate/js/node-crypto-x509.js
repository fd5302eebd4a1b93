// ---- node-crypto-x509.js: node:crypto's X509Certificate. ----------------------------------------
// A certificate from PEM or DER, parsed once by the native op (ops/src/crypto/node/x509.rs, the
// x509-cert crate) into Node's text forms: subject, issuer, validFrom/validTo, serialNumber,
// subjectAltName, infoAccess, keyUsage (the extended key usage OIDs), ca; fingerprint/256/512
// over the DER; publicKey (a KeyObject); raw, toString/toJSON (PEM); verify(publicKey) checks the
// certificate's signature; checkHost/checkEmail/checkIP (OpenSSL's rules and `subject`/`wildcards`
// options); checkIssued (names), checkPrivateKey. Nothing here decides trust: there is no chain
// building (issuerCertificate is undefined, as for a certificate Node did not get from TLS).
// Trusts: the native ops; node-crypto.js's helpers `h`, node-crypto-keys.js's `keys`.

function nodeX509(h, keys) {
  const fingerprint = (der, alg) => {
    const d = callOp(NODE_OP.digest, [alg, der]);
    let out = "";
    for (let i = 0; i < typedArrayByteLength(d); i++) {
      out += (i === 0 ? "" : ":") + StringToUpperCase(hexByte(d[i]));
    }
    return out;
  };
  const text = (b) => decodeBytes(b, "utf8", 0, typedArrayByteLength(b));
  const lines = (s) => {
    const out = [];
    let from = 0;
    for (;;) {
      const at = StringIndexOf(s, "\n", from);
      if (at < 0) { out[out.length] = StringSlice(s, from); return out; }
      out[out.length] = StringSlice(s, from, at);
      from = at + 1;
    }
  };
  let certState;

  class X509Certificate {
    #der; #f; #publicKey;
    constructor(buffer) {
      let der;
      if (typeof buffer === "string" || (buffer !== null && typeof buffer === "object" &&
        (typedArrayName(buffer) !== undefined || isDataView(buffer) || isArrayBuffer(buffer)))) {
        const bytes = h.bytesLike(buffer, "buffer");
        const asText = decodeBytes(bytes, "latin1", 0, typedArrayByteLength(bytes));
        const begin = StringIndexOf(asText, "-----BEGIN CERTIFICATE-----");
        if (begin >= 0) {
          const end = StringIndexOf(asText, "-----END CERTIFICATE-----", begin);
          if (end < 0) throw nodeError(Error, "ERR_OSSL_PEM_NO_START_LINE", "error:0480006C:PEM routines::no start line");
          der = encodeString(StringSlice(asText, begin + 27, end), "base64");
        } else der = bytesCopy(bytes);
      } else {
        throw invalidArgType("buffer", "of type string or an instance of ArrayBuffer, Buffer, TypedArray, or DataView", buffer);
      }
      let r;
      try {
        r = unpackFields(callOp(NODE_OP_EXT.x509Parse, [der]));
      } catch (e) {
        // Node reads PEM first, then DER, and reports the PEM reader's complaint.
        if (e instanceof DOMException) throw nodeError(Error, "ERR_OSSL_PEM_NO_START_LINE", "error:0480006C:PEM routines::no start line");
        throw e;
      }
      this.#der = der;
      this.#f = ObjectFreeze({
        __proto__: null, subject: text(r[0]), issuer: text(r[1]), validFrom: text(r[2]), validTo: text(r[3]),
        serialNumber: text(r[4]), spki: bytesCopy(r[5]), ca: r[6][0] === 1,
        keyUsage: r[7][0] === 1 ? (typedArrayByteLength(r[8]) === 0 ? [] : lines(text(r[8]))) : undefined,
        subjectAltName: typedArrayByteLength(r[9]) === 0 ? undefined : text(r[9]),
        infoAccess: typedArrayByteLength(r[10]) === 0 ? undefined : text(r[10]),
      });
    }
    get subject() { return this.#f.subject; }
    get issuer() { return this.#f.issuer; }
    get subjectAltName() { return this.#f.subjectAltName; }
    get infoAccess() { return this.#f.infoAccess; }
    get issuerCertificate() { return undefined; }
    get validFrom() { return this.#f.validFrom; }
    get validTo() { return this.#f.validTo; }
    get serialNumber() { return this.#f.serialNumber; }
    get ca() { return this.#f.ca; }
    get keyUsage() {
      const k = this.#f.keyUsage;
      if (k === undefined) return undefined;
      const out = [];
      for (let i = 0; i < k.length; i++) out[i] = k[i];
      return out;
    }
    get fingerprint() { return fingerprint(this.#der, 1); }
    get fingerprint256() { return fingerprint(this.#der, 2); }
    get fingerprint512() { return fingerprint(this.#der, 4); }
    get raw() { return h.toBuffer(bytesCopy(this.#der)); }
    get publicKey() {
      this.#publicKey ??= keys.asymmetricKey({ key: this.#f.spki, format: "der", type: "spki" }, true);
      return this.#publicKey;
    }
    toString() {
      const b64 = decodeBytes(this.#der, "base64", 0, typedArrayByteLength(this.#der));
      let out = "-----BEGIN CERTIFICATE-----\n";
      for (let i = 0; i < b64.length; i += 64) out += `${StringSlice(b64, i, i + 64)}\n`;
      return `${out}-----END CERTIFICATE-----\n`;
    }
    toJSON() { return this.toString(); }
    toLegacyObject() {
      return { subject: this.subject, issuer: this.issuer, subjectaltname: this.subjectAltName, infoAccess: this.infoAccess,
        ca: this.ca, valid_from: this.validFrom, valid_to: this.validTo, fingerprint: this.fingerprint,
        fingerprint256: this.fingerprint256, fingerprint512: this.fingerprint512, ext_key_usage: this.keyUsage,
        serialNumber: this.serialNumber, raw: this.raw };
    }
    #check(kind, name, options, what) {
      if (typeof name !== "string") throw invalidArgType(what, "of type string", name);
      let flags = 0;
      if (options !== undefined) {
        if (options === null || typeof options !== "object") throw invalidArgType("options", "of type object", options);
        const subject = options.subject ?? "default";
        if (subject === "always") flags |= 2;
        else if (subject === "never") flags |= 4;
        else if (subject !== "default") throw nodeError(TypeError, "ERR_INVALID_ARG_VALUE", `The property 'options.subject' must be one of: 'default', 'always', 'never'. Received ${nodeCryptoShown(subject)}`);
        if (options.wildcards === false) flags |= 1;
      }
      let found;
      try {
        found = callOp(NODE_OP_EXT.x509Check, [this.#der, kind, encodeString(name, "utf8"), flags]);
      } catch (e) {
        if (kind === 2 && e instanceof TypeError) throw nodeError(TypeError, "ERR_INVALID_ARG_VALUE", "Invalid IP");
        throw e;
      }
      return typedArrayByteLength(found) === 0 ? undefined : text(found);
    }
    checkHost(name, options) { return this.#check(0, name, options, "name"); }
    checkEmail(email, options) { return this.#check(1, email, options, "email"); }
    checkIP(ip) { return this.#check(2, ip, undefined, "ip"); }
    checkIssued(otherCert) {
      const other = certState(otherCert);
      if (other === undefined) throw invalidArgType("otherCert", "an instance of X509Certificate", otherCert);
      return this.#f.issuer === other.subject;
    }
    checkPrivateKey(pkey) {
      const st = keys.keyState(pkey);
      if (st === undefined) throw invalidArgType("pkey", "an instance of KeyObject", pkey);
      if (st.type !== "private") throw keys.invalidType(st.type, "private");
      return keys.publicOf(pkey).equals(this.publicKey);
    }
    verify(pkey) {
      const st = keys.keyState(pkey);
      if (st === undefined) throw invalidArgType("pkey", "an instance of KeyObject", pkey);
      if (st.type !== "public") throw keys.invalidType(st.type, "public");
      return callOp(NODE_OP_EXT.x509Verify, [this.#der, st.der])[0] === 1;
    }
    static {
      certState = (v) => (v !== null && typeof v === "object" && #f in v ? v.#f : undefined);
    }
  }
  return { X509Certificate };
}
