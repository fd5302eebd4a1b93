// ---- node-tls.js: node:tls, TLS client sockets over cloudflare:sockets (nodejs_compat). -------
// As workerd's (src/node/internal/internal_tls_wrap.ts, internal_tls.ts): tls.connect(options |
// port, host, options, cb) returns a TLSSocket, a net.Socket (node-net.js) whose connection is
// TLS from the start (secureTransport "on"), or, given `options.socket` (a net.Socket), the same
// connection upgraded with startTls (STARTTLS). The handshake and the certificate check are the
// host's (the gateway's roots and `[egress] sockets_extra_roots`), against `servername` (default:
// the host connected to); a certificate it refuses fails the connection, so a socket that
// connects is `authorized`. Events: `connect`, `ready`, then `secureConnect` (workerd's order;
// Node emits no `connect` on a TLSSocket upgrading a connected socket). Options workerd refuses
// (rejectUnauthorized: false, ALPNProtocols, requestCert, pskCallback, ...) throw
// ERR_OPTION_NOT_IMPLEMENTED; no servers (createServer, Server throw); the peer certificate,
// cipher and session are not exposed (getPeerCertificate throws, getCipher & co. return null).
// checkServerIdentity is Node's (its answer: undefined, or the error).
// Trusts: node-net.js's state and operations (same lazy group), never a tenant-replaceable method.

function tlsNotImplemented(what) {
  return function () {
    throw new Error(`${what} is not implemented`);
  };
}

/** Node's checkServerIdentity name check of one pattern (RFC 6125: one wildcard, leftmost label). */
function tlsNameMatches(hostParts, pattern) {
  if (!pattern) return false;
  const parts = tlsSplitHost(pattern);
  if (hostParts.length !== parts.length) return false;
  for (let i = 0; i < parts.length; i++) {
    if (parts[i] === "" || RegExpTest(TLS_BAD_NAME_RE, parts[i])) return false;
  }
  for (let i = hostParts.length - 1; i > 0; i--) {
    if (hostParts[i] !== parts[i]) return false;
  }
  const host = hostParts[0];
  const first = parts[0];
  const star = StringIndexOf(first, "*");
  if (star === -1 || StringIndexOf(first, "xn--") !== -1) return host === first;
  if (StringIndexOf(first, "*", star + 1) !== -1 || parts.length <= 2) return false;
  const prefix = StringSlice(first, 0, star);
  const suffix = StringSlice(first, star + 1);
  return prefix.length + suffix.length <= host.length && StringSlice(host, 0, prefix.length) === prefix &&
    StringSlice(host, host.length - suffix.length) === suffix;
}
const TLS_BAD_NAME_RE = /[^\u0021-\u007F]/u;

function tlsSplitHost(host) {
  const name = host[host.length - 1] === "." ? StringSlice(host, 0, host.length - 1) : host;
  const out = [];
  let from = 0;
  for (;;) {
    const dot = StringIndexOf(name, ".", from);
    out[out.length] = StringToLowerCase(StringSlice(name, from, dot === -1 ? name.length : dot));
    if (dot === -1) return out;
    from = dot + 1;
  }
}

/** Node's tls.checkServerIdentity(hostname, cert): undefined, or an ERR_TLS_CERT_ALTNAME_INVALID
 *  error naming why (workerd builds the error and drops it; Node returns it). */
function tlsCheckServerIdentity(hostname, cert) {
  const subject = cert.subject;
  const altNames = cert.subjectaltname;
  const dnsNames = [];
  const ips = [];
  let host = `${hostname}`;
  if (altNames) {
    const names = `${altNames}`;
    let from = 0;
    for (;;) {
      const sep = StringIndexOf(names, ", ", from);
      const name = StringSlice(names, from, sep === -1 ? names.length : sep);
      if (StringSlice(name, 0, 4) === "DNS:") dnsNames[dnsNames.length] = StringSlice(name, 4);
      else if (StringSlice(name, 0, 11) === "IP Address:") ips[ips.length] = StringToLowerCase(StringSlice(name, 11));
      if (sep === -1) break;
      from = sep + 2;
    }
  }
  if (host[host.length - 1] === ".") host = StringSlice(host, 0, host.length - 1);
  let valid = false;
  let reason = "Unknown reason";
  const includes = (list, value) => {
    for (let i = 0; i < list.length; i++) if (list[i] === value) return true;
    return false;
  };
  if (netIsIP(host)) {
    valid = includes(ips, StringToLowerCase(host));
    if (!valid) {
      let list = "";
      for (let i = 0; i < ips.length; i++) list += i === 0 ? ips[i] : `, ${ips[i]}`;
      reason = `IP: ${host} is not in the cert's list: ${list}`;
    }
  } else if (dnsNames.length > 0 || (subject && subject.CN)) {
    const hostParts = tlsSplitHost(host);
    if (dnsNames.length > 0) {
      for (let i = 0; i < dnsNames.length && !valid; i++) valid = tlsNameMatches(hostParts, dnsNames[i]);
      if (!valid) reason = `Host: ${host}. is not in the cert's altnames: ${altNames}`;
    } else {
      const cn = subject.CN;
      if (ArrayIsArray(cn)) {
        for (let i = 0; i < cn.length && !valid; i++) valid = tlsNameMatches(hostParts, cn[i]);
      } else if (cn) {
        valid = tlsNameMatches(hostParts, cn);
      }
      if (!valid) reason = `Host: ${host}. is not cert's CN: ${cn}`;
    }
  } else {
    reason = "Cert does not contain a DNS name";
  }
  if (valid) return undefined;
  const error = nodeError(Error, "ERR_TLS_CERT_ALTNAME_INVALID", `Hostname/IP does not match certificate's altnames: ${reason}`);
  error.reason = reason;
  error.host = host;
  error.cert = cert;
  return error;
}

/** Node's convertALPNProtocols(protocols, out): the wire form (length-prefixed names). */
function tlsConvertALPNProtocols(protocols, out, Buffer) {
  if (ArrayIsArray(protocols)) {
    let total = 0;
    const encoded = [];
    for (let i = 0; i < protocols.length; i++) {
      const bytes = utf8Encode(`${protocols[i]}`);
      const n = typedArrayLength(bytes);
      if (n > 255) {
        throw nodeError(RangeError, "ERR_OUT_OF_RANGE",
          `The byte length of the protocol at index ${i} exceeds the maximum length. It must be <= 255. Received ${n}`);
      }
      encoded[i] = bytes;
      total += n + 1;
    }
    const wire = Buffer.alloc(total);
    let at = 0;
    for (let i = 0; i < encoded.length; i++) {
      wire[at++] = typedArrayLength(encoded[i]);
      typedArraySet(wire, encoded[i], at);
      at += typedArrayLength(encoded[i]);
    }
    out.ALPNProtocols = wire;
  } else if (ArrayBufferIsView(protocols)) {
    out.ALPNProtocols = Buffer.from(protocols);
  }
}

/** What workerd refuses in TLSSocket's and connect()'s options. */
function tlsRefuseOptions(options, SecureContext) {
  const truthy = ["enableTrace", "isServer", "server", "requestCert", "requestOCSP"];
  for (let i = 0; i < truthy.length; i++) {
    if (options[truthy[i]]) throw netErrors.optionNotImplemented(`options.${truthy[i]}`);
  }
  if (options.rejectUnauthorized === false) throw netErrors.optionNotImplemented("options.rejectUnauthorized");
  const given = ["ALPNProtocols", "SNICallback", "pskCallback"];
  for (let i = 0; i < given.length; i++) {
    if (options[given[i]] !== undefined) throw netErrors.optionNotImplemented(`options.${given[i]}`);
  }
  if (options.minDHSize !== undefined) throw netErrors.optionNotImplemented("options.minDHSize");
  if (options.secureContext !== undefined && !(options.secureContext instanceof SecureContext)) {
    throw nodeError(TypeError, "ERR_TLS_INVALID_CONTEXT", "context must be a SecureContext");
  }
  if (options.checkServerIdentity !== undefined) validateFunction(options.checkServerIdentity, "options.checkServerIdentity");
}

const nodeTlsHolder = { __proto__: null, module: undefined };
function nodeTlsModule() {
  if (nodeTlsHolder.module !== undefined) return nodeTlsHolder.module;
  const net = nodeNetModule();
  const Socket = net.Socket;
  const { Buffer } = builtinExports("node:buffer");
  const sockets = lazyInternals("sockets");

  function SecureContext(options) {
    if (!(this instanceof SecureContext)) return new SecureContext(options);
    this.context = { __proto__: null };
  }

  function TLSSocket(socket, options) {
    if (!(this instanceof TLSSocket)) return new TLSSocket(socket, options);
    const opts = options !== null && typeof options === "object" ? options : { __proto__: null };
    tlsRefuseOptions(opts, SecureContext);
    ReflectApply(Socket, this, [{
      __proto__: null,
      allowHalfOpen: socket ? socket.allowHalfOpen : opts.allowHalfOpen,
      highWaterMark: opts.highWaterMark, signal: opts.signal,
    }]);
    const st = nodeNetInternals.stateOf(this);
    st.secure = true;
    st.servername = typeof opts.servername === "string" && opts.servername !== "" ? opts.servername : null;
    this.encrypted = true;
    this.authorized = false;
    this.authorizationError = null;
    this.alpnProtocol = false;
    this.servername = st.servername;
    this.secureConnecting = true;
    this._parentWrap = socket || null;
    st.onOpened = () => {
      this.emit("connect");
      this.emit("ready");
      this.authorized = true;
      this.secureConnecting = false;
      this.emit("secureConnect");
      if (!this.isPaused()) nodeNetInternals.readStart(st);
    };
  }
  ObjectSetPrototypeOf(TLSSocket.prototype, Socket.prototype);
  ObjectSetPrototypeOf(TLSSocket, Socket);
  const proto = TLSSocket.prototype;
  const method = (name, fn) => ObjectDefineProperty(proto, name, { __proto__: null, value: fn, writable: true, enumerable: false, configurable: true });
  // As Node's: the socket it upgraded (options.socket) closes first.
  method("_destroy", function _destroy(exception, cb) {
    const st = nodeNetInternals.stateOf(this);
    if (st === undefined) throw new TypeError("Illegal invocation: not a tls.TLSSocket");
    const parent = st.parent;
    if (parent !== null && !parent.destroyed) parent.destroy();
    nodeNetInternals.destroy(st, exception, cb);
  });
  method("setServername", function setServername(name) {
    if (typeof name !== "string") throw invalidArgType("name", "of type string", name);
    const st = nodeNetInternals.stateOf(this);
    if (st !== undefined) st.servername = name;
    this.servername = name;
  });
  method("setSession", function setSession() {});
  method("disableRenegotiation", function disableRenegotiation() {});
  method("renegotiate", function renegotiate() { return false; });
  method("setMaxSendFragment", function setMaxSendFragment() { return false; });
  method("getPeerCertificate", tlsNotImplemented("getPeerCertificate"));
  method("getCertificate", tlsNotImplemented("TLSSocket.getCertificate"));
  method("getPeerX509Certificate", tlsNotImplemented("TLSSocket.getPeerX509Certificate"));
  method("getX509Certificate", tlsNotImplemented("TLSSocket.getX509Certificate"));
  method("setKeyCert", tlsNotImplemented("TLSSocket.setKeyCert"));
  method("exportKeyingMaterial", tlsNotImplemented("exportKeyingMaterial"));
  const unsupported = ["getCipher", "getSharedSigalgs", "getEphemeralKeyInfo", "getFinished", "getPeerFinished",
    "getProtocol", "getSession", "getTLSTicket", "isSessionReused", "enableTrace"];
  for (let i = 0; i < unsupported.length; i++) method(unsupported[i], function () { return null; });

  /** STARTTLS: `tls`'s connection is `plain`'s (a net.Socket), upgraded once it is connected. */
  function upgrade(tls, plain) {
    const pst = nodeNetInternals.stateOf(plain);
    const tst = nodeNetInternals.stateOf(tls);
    if (pst === undefined) {
      throw invalidArgType("options.socket", "an instance of net.Socket (Stockade upgrades its own sockets only)", plain);
    }
    tls.connecting = true;
    tst.parent = plain;
    plain.once("close", () => tls.destroy());
    const start = () => {
      if (tls.destroyed) return;
      if (pst.cf === null || pst.upgraded) {
        tls.destroy(netErrors.socketClosed());
        return;
      }
      pst.upgraded = true;
      tst.host = pst.host;
      tst.port = pst.port;
      tst.family = pst.family;
      tls._host = pst.host;
      const name = tst.servername !== null ? tst.servername : pst.host;
      try {
        nodeNetInternals.attach(tst, sockets.startTls(pst.cf, { __proto__: null, expectedServerHostname: name }));
      } catch (e) {
        tls.destroy(e);
      }
    };
    if (plain.connecting || pst.cf === null) plain.once("connect", start);
    else start();
  }

  function connect(...args) {
    const normalized = netNormalizeArgs(args);
    let options = { __proto__: null, ...normalized[0] };
    if (args[1] !== null && typeof args[1] === "object") options = { __proto__: null, ...options, ...args[1] };
    else if (args[2] !== null && typeof args[2] === "object") options = { __proto__: null, ...options, ...args[2] };
    const cb = normalized[1];
    tlsRefuseOptions(options, SecureContext);
    const tls = new TLSSocket(options.socket, {
      __proto__: null,
      allowHalfOpen: options.allowHalfOpen, highWaterMark: options.highWaterMark, signal: options.signal,
      secureContext: options.secureContext, servername: options.servername,
    });
    if (cb !== null) tls.once("secureConnect", cb);
    if (options.socket) {
      upgrade(tls, options.socket);
    } else {
      if (options.timeout) tls.setTimeout(options.timeout);
      tls.connect(options);
    }
    return tls;
  }

  const module = {
    __proto__: null,
    TLSSocket, connect, SecureContext,
    createSecureContext: (options) => new SecureContext(options),
    createServer: tlsNotImplemented("createServer()"), Server: tlsNotImplemented("Server"),
    checkServerIdentity: tlsCheckServerIdentity,
    convertALPNProtocols: (protocols, out) => tlsConvertALPNProtocols(protocols, out, Buffer),
    getCiphers: () => ["tls_aes_128_gcm_sha256", "tls_aes_256_gcm_sha384", "tls_chacha20_poly1305_sha256",
      "ecdhe-ecdsa-aes128-gcm-sha256", "ecdhe-ecdsa-aes256-gcm-sha384", "ecdhe-ecdsa-chacha20-poly1305",
      "ecdhe-rsa-aes128-gcm-sha256", "ecdhe-rsa-aes256-gcm-sha384", "ecdhe-rsa-chacha20-poly1305"],
    CLIENT_RENEG_LIMIT: 3, CLIENT_RENEG_WINDOW: 600, DEFAULT_ECDH_CURVE: "auto",
    DEFAULT_MIN_VERSION: "TLSv1.2", DEFAULT_MAX_VERSION: "TLSv1.3",
    DEFAULT_CIPHERS: "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:" +
      "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:" +
      "ECDHE-ECDSA-AES256-GCM-SHA384",
  };
  nodeTlsHolder.module = module;
  return module;
}

defineBuiltin("node:tls", [
  "TLSSocket", "connect", "SecureContext", "createSecureContext", "createServer", "Server",
  "checkServerIdentity", "convertALPNProtocols", "getCiphers", "CLIENT_RENEG_LIMIT", "CLIENT_RENEG_WINDOW",
  "DEFAULT_ECDH_CURVE", "DEFAULT_MIN_VERSION", "DEFAULT_MAX_VERSION", "DEFAULT_CIPHERS",
], nodeTlsModule);
