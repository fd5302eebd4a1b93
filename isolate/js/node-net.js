// ---- node-net.js: node:net, Node's TCP client over cloudflare:sockets (nodejs_compat). --------
// As workerd's (src/node/internal/internal_net.ts): net.Socket is a stream.Duplex (the runtime's
// node:stream) over one cloudflare:sockets connection, opened through the egress gateway (the
// rules, the address checks and the per-request cap are the supervisor's, daemon/src/egress/).
// Guarantees: Node's events in Node's order: `connect` then `ready` once the connection opened,
// `data` per chunk read, `end` at the server's EOF (without allowHalfOpen the writable side then
// ends too, and a later write fails with EPIPE), `error` (if any) then `close(hadError)` once the
// connection is let go of. `setTimeout` arms `timeout`, re-armed by reads and writes, which never
// closes the socket; setNoDelay/setKeepAlive/ref/unref are accepted and do nothing (workerd's
// too). No servers: createServer, Server, BlockList and SocketAddress throw as workerd's. The
// connection is opened with secureTransport "starttls" so that node:tls (node-tls.js) can
// upgrade it, or "on" for a TLSSocket of its own.
// Trusts: the runtime's readable-stream (node-stream.js), whose methods tenant code may replace
// for its own streams; the connection itself is reached only through the sockets group's shared
// operations (sockets.js) and the streams' internals, and each socket's runtime state sits in a
// private field stamped onto it (NetState), out of reach of tenant code.

/** The timeout timer, re-armed (activity) if one is armed. */
function netTouch(st) {
  if (st.timer === 0) return;
  disarmInternalTimer(st.timer);
  netArm(st);
}

function netArm(st) {
  const socket = st.socket;
  st.timer = armInternalTimer(() => {
    st.timer = 0;
    socket.emit("timeout");
  }, st.timeoutMs);
}

function netDisarm(st) {
  if (st.timer !== 0) disarmInternalTimer(st.timer);
  st.timer = 0;
}

/** Reads while the stream wants more: each chunk a Buffer, pushed; null at the server's EOF. */
function netReadStart(st) {
  if (st.reading || st.s === null || st.upgraded) return;
  const streams = streamsInternals();
  if (st.reader === null) {
    if (st.s.readable.state !== "readable" || streams.IsReadableStreamLocked(st.s.readable)) return;
    st.reader = streams.AcquireReadableStreamDefaultReader(st.s.readable, false);
  }
  const reader = st.reader;
  const socket = st.socket;
  let inRead = false;
  let again = false;
  const mine = () => st.reader === reader && !st.upgraded && !socket.destroyed;
  const request = {
    __proto__: null,
    chunkSteps: (chunk) => {
      if (!mine()) return void (st.reading = false);
      st.bytesRead += typedArrayLength(chunk);
      netTouch(st);
      ObjectSetPrototypeOf(chunk, st.bufferProto); // a fresh Uint8Array of our own: now a Buffer
      if (socket.push(chunk) && mine()) {
        if (inRead) again = true;
        else loop();
      } else {
        st.reading = false;
      }
    },
    closeSteps: () => {
      st.reading = false;
      if (!mine()) return;
      netTouch(st);
      socket.push(null);
    },
    errorSteps: (e) => {
      st.reading = false;
      if (mine()) socket.destroy(e);
    },
  };
  const loop = () => {
    do {
      again = false;
      inRead = true;
      streams.ReadableStreamDefaultReaderRead(reader, request);
      inRead = false;
    } while (again && mine());
  };
  st.reading = true;
  loop();
}

/** The connection opened: `connect`, `ready`, and reading starts unless the stream was paused. */
function netOpened(st, cf) {
  const socket = st.socket;
  if (socket.destroyed || st.cf !== cf) return;
  socket.connecting = false;
  netTouch(st);
  if (st.onOpened !== null) {
    st.onOpened();
    return;
  }
  socket.emit("connect");
  socket.emit("ready");
  if (!socket.isPaused()) netReadStart(st);
}

/** Adopts `cf` (a cloudflare:sockets Socket) as `st`'s connection. */
function netAttach(st, cf) {
  const sockets = lazyInternals("sockets");
  st.cf = cf;
  st.s = sockets.stateOf(cf);
  st.reader = null;
  st.reading = false;
  const fail = (e) => {
    if (st.cf === cf && !st.upgraded) st.socket.destroy(e);
  };
  uponPromise(st.s.opened.promise, () => netOpened(st, cf), fail);
  uponPromise(st.s.closed.promise, noop, fail);
}

/** Starts connecting `socket` (a net.Socket) to `options`; TLS from the start when st.secure. */
function netConnect(socket, st, options) {
  if (options.path !== undefined && options.path !== null) {
    throw netErrors.invalidArgValue("path", options.path, "is not supported");
  }
  const host = options.host === undefined || options.host === null ? "localhost" : `${options.host}`;
  const port = options.port;
  if (typeof port !== "number" && typeof port !== "string") {
    throw invalidArgType("options.port", "one of type number or string", port);
  }
  const number = netPort(port);
  const lookup = options.lookup;
  if (lookup !== undefined && lookup !== null) validateFunction(lookup, "options.lookup");
  socket.connecting = true;
  netTouch(st);
  const open = (address, family) => {
    st.host = address;
    st.port = number;
    st.family = family === 4 || family === "IPv4" ? "IPv4" : family === 6 || family === "IPv6" ? "IPv6" : undefined;
    socket._host = address;
    const target = st.family === "IPv6" ? `[${address}]:${number}` : `${address}:${number}`;
    const sockets = lazyInternals("sockets");
    try {
      const servername = st.servername;
      if (st.secure && servername !== null && servername !== address) {
        // TLS verified against another name than the one connected to: upgrade at once.
        const plain = sockets.connect(target, { __proto__: null, allowHalfOpen: true, secureTransport: "starttls" });
        netAttach(st, sockets.startTls(plain, { __proto__: null, expectedServerHostname: servername }));
      } else {
        netAttach(st, sockets.connect(target, {
          __proto__: null, allowHalfOpen: true, secureTransport: st.secure ? "on" : "starttls",
        }));
      }
    } catch (e) {
      socket.destroy(e);
    }
  };
  const family = netIsIP(host);
  if (family === 0 && lookup !== undefined && lookup !== null) {
    ReflectApply(lookup, undefined, [host, { __proto__: null, family: options.family || 0, hints: options.hints }, (err, address, fam) => {
      socket.emit("lookup", err, address, fam, host);
      if (err) socket.destroy(err);
      else if (netIsIP(address) === 0) socket.destroy(nodeError(TypeError, "ERR_INVALID_IP_ADDRESS", `Invalid IP address: ${address}`));
      else open(`${address}`, fam);
    }]);
  } else {
    open(host, family);
  }
}

/** A socket's _destroy: the stream's callback at once (its `error` event follows), then the
 *  connection is let go of (unless node:tls took it over), then `close(hadError)`. */
function netDestroy(st, exception, cb) {
  const socket = st.socket;
  socket.connecting = false;
  netDisarm(st);
  const hadError = !!exception;
  const cf = st.cf;
  st.reader = null;
  cb(exception);
  const emitClose = () => queueMicrotask(() => socket.emit("close", hadError));
  if (cf !== null && !st.upgraded) uponPromise(lazyInternals("sockets").close(cf), emitClose, emitClose);
  else emitClose();
}

/** Bytes of a chunk the stream hands _write (decodeStrings is false: strings come as they are). */
function netChunkBytes(chunk, encoding, Buffer) {
  if (typeof chunk !== "string") return chunk;
  if (encoding === undefined || encoding === "utf8" || encoding === "utf-8" || encoding === "buffer") return utf8Encode(chunk);
  return Buffer.from(chunk, encoding);
}

/** node:net, built on first import. */
const nodeNetHolder = { __proto__: null, module: undefined };
function nodeNetModule() {
  if (nodeNetHolder.module !== undefined) return nodeNetHolder.module;
  const { Duplex } = lazyInternals("nodestream").library();
  const { Buffer } = builtinExports("node:buffer");
  const bufferProto = Buffer.prototype; // non-writable, non-configurable
  const sockets = lazyInternals("sockets");
  const streams = streamsInternals();
  const stateOf = (socket) => {
    const st = NetState.of(socket);
    if (st === undefined) throw new TypeError("Illegal invocation: not a net.Socket");
    return st;
  };

  function writeAfterFIN(chunk, encoding, cb) {
    if (!this.writableEnded) return ReflectApply(Duplex.prototype.write, this, [chunk, encoding, cb]);
    if (typeof encoding === "function") cb = encoding;
    const er = netErrors.epipe();
    if (typeof cb === "function") queueMicrotask(() => cb(er));
    this.destroy(er);
    return false;
  }
  function onEnd() {
    if (!this.allowHalfOpen) this.write = writeAfterFIN;
  }

  function Socket(options) {
    if (!(this instanceof Socket)) return new Socket(options);
    if (typeof options === "number") throw netErrors.optionNotImplemented("options.fd");
    const opts = options !== null && typeof options === "object" ? options : { __proto__: null };
    if (opts.objectMode) throw netErrors.invalidArgValue("options.objectMode", opts.objectMode, "is not supported");
    if (opts.readableObjectMode || opts.writableObjectMode) {
      const name = opts.readableObjectMode ? "readableObjectMode" : "writableObjectMode";
      throw netErrors.invalidArgValue(`options.${name}`, opts[name], "is not supported");
    }
    if (opts.fd !== undefined) throw netErrors.optionNotImplemented("options.fd");
    if (opts.handle !== undefined && opts.handle !== null) throw netErrors.optionNotImplemented("options.handle");
    ReflectApply(Duplex, this, [{
      __proto__: null,
      allowHalfOpen: !!opts.allowHalfOpen, emitClose: false, autoDestroy: true, decodeStrings: false,
      highWaterMark: opts.highWaterMark, signal: opts.signal,
    }]);
    // eslint-disable-next-line no-new
    new NetState(this, {
      __proto__: null, socket: this, bufferProto, cf: null, s: null, reader: null, reading: false,
      upgraded: false, secure: false, servername: null, onOpened: null, parent: null, host: undefined, port: undefined,
      family: undefined, bytesRead: 0, bytesWritten: 0, timer: 0, timeoutMs: 0,
    });
    this.connecting = false;
    this._host = null;
    this.on("end", onEnd);
  }
  ObjectSetPrototypeOf(Socket.prototype, Duplex.prototype);
  ObjectSetPrototypeOf(Socket, Duplex);
  const proto = Socket.prototype;
  const method = (name, fn) => ObjectDefineProperty(proto, name, { __proto__: null, value: fn, writable: true, enumerable: false, configurable: true });
  const getter = (name, get) => ObjectDefineProperty(proto, name, { __proto__: null, get, enumerable: false, configurable: true });

  method("connect", function connect(...args) {
    const st = stateOf(this);
    const normalized = args.length === 1 && ArrayIsArray(args[0]) ? args[0] : netNormalizeArgs(args);
    const options = normalized[0];
    const cb = normalized[1];
    if (this.connecting) throw netErrors.connecting();
    if (cb !== null && cb !== undefined) this.once("connect", cb);
    if (options.port === undefined && (options.path === undefined || options.path === null)) throw netErrors.missingArgs();
    if (st.cf !== null) {
      // Connecting again: the old connection goes.
      const old = st.cf;
      st.cf = null;
      st.s = null;
      setHandled(sockets.close(old));
      this._undestroy();
    }
    st.bytesRead = 0;
    st.bytesWritten = 0;
    netConnect(this, st, options);
    return this;
  });
  method("_read", function _read(n) {
    const st = stateOf(this);
    if (this.connecting || st.s === null) this.once("connect", () => this._read(n));
    else netReadStart(st);
  });
  method("_write", function _write(chunk, encoding, cb) {
    const st = stateOf(this);
    if (this.connecting) {
      const onClose = () => cb(netErrors.closedBeforeConnection());
      this.once("connect", () => {
        this.off("close", onClose);
        this._write(chunk, encoding, cb);
      });
      this.once("close", onClose);
      return;
    }
    if (st.s === null || st.upgraded) {
      cb(netErrors.socketClosed());
      return;
    }
    let bytes;
    try {
      bytes = netChunkBytes(chunk, encoding, Buffer);
    } catch (e) {
      cb(e);
      return;
    }
    netTouch(st);
    const n = typedArrayLength(bytes);
    uponPromise(sockets.write(st.s, bytes), () => {
      st.bytesWritten += n;
      netTouch(st);
      cb();
    }, (e) => cb(e));
  });
  method("_final", function _final(cb) {
    const st = stateOf(this);
    if (this.connecting) {
      this.once("connect", () => this._final(cb));
      return;
    }
    const w = st.s === null || st.upgraded ? null : st.s.writable;
    if (w === null || w.state !== "writable" || streams.WritableStreamCloseQueuedOrInFlight(w)) {
      cb();
      return;
    }
    uponPromise(streams.WritableStreamClose(w), () => cb(), (e) => cb(e));
  });
  method("_destroy", function _destroy(exception, cb) {
    netDestroy(stateOf(this), exception, cb);
  });
  method("setTimeout", function setTimeout(msecs, callback) {
    const st = stateOf(this);
    if (this.destroyed) return this;
    this.timeout = msecs;
    const ms = netTimerDuration(msecs, "msecs");
    netDisarm(st);
    if (ms === 0) {
      if (callback !== undefined) {
        validateFunction(callback, "callback");
        this.removeListener("timeout", callback);
      }
    } else {
      st.timeoutMs = ms;
      netArm(st);
      if (callback !== undefined) {
        validateFunction(callback, "callback");
        this.once("timeout", callback);
      }
    }
    return this;
  });
  method("setNoDelay", function setNoDelay() { return this; });
  method("setKeepAlive", function setKeepAlive() { return this; });
  method("ref", function ref() { return this; });
  method("unref", function unref() { return this; });
  method("address", function address() {
    return stateOf(this).cf === null ? {} : { address: "0.0.0.0", family: "IPv4", port: 0 };
  });
  method("resetAndDestroy", function resetAndDestroy() {
    if (stateOf(this).cf === null) this.destroy(netErrors.socketClosed());
    else this.destroy();
    return this;
  });
  method("destroySoon", function destroySoon() {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once("finish", () => this.destroy());
  });
  getter("pending", function pending() { return stateOf(this).cf === null || this.connecting; });
  getter("_connecting", function _connecting() { return this.connecting; });
  getter("readyState", function readyState() {
    if (this.connecting) return "opening";
    if (this.readable && this.writable) return "open";
    if (this.readable && !this.writable) return "readOnly";
    if (!this.readable && this.writable) return "writeOnly";
    return "closed";
  });
  getter("bufferSize", function bufferSize() { return stateOf(this).cf === null ? undefined : this.writableLength; });
  getter("bytesRead", function bytesRead() { return stateOf(this).bytesRead; });
  getter("bytesWritten", function bytesWritten() { return stateOf(this).bytesWritten + (this.writableLength || 0); });
  // The peer, as Node's: known from connecting until destroyed.
  const peer = (socket, key) => {
    const st = stateOf(socket);
    return st.cf === null || socket.destroyed ? undefined : st[key];
  };
  getter("remoteAddress", function remoteAddress() { return peer(this, "host"); });
  getter("remotePort", function remotePort() { return peer(this, "port"); });
  getter("remoteFamily", function remoteFamily() { return peer(this, "family"); });
  getter("localAddress", function localAddress() { return stateOf(this).cf === null ? undefined : "0.0.0.0"; });
  getter("localPort", function localPort() { return stateOf(this).cf === null ? undefined : 0; });
  getter("localFamily", function localFamily() { return stateOf(this).cf === null ? undefined : "IPv4"; });

  function connect(...args) {
    const normalized = netNormalizeArgs(args);
    const socket = new Socket(normalized[0]);
    if (normalized[0].timeout) socket.setTimeout(normalized[0].timeout);
    if (socket.destroyed) return socket;
    return socket.connect(normalized);
  }
  const notImplemented = (what) => function () { throw new Error(`${what} is not implemented`); };
  let attemptTimeout = 10;
  const module = {
    __proto__: null,
    Socket, Stream: Socket, connect, createConnection: connect,
    createServer: notImplemented("createServer()"), Server: notImplemented("Server"),
    BlockList: notImplemented("BlockList"), SocketAddress: notImplemented("SocketAddress"),
    isIP: netIsIP, isIPv4: netIsIPv4, isIPv6: netIsIPv6, _normalizeArgs: netNormalizeArgs,
    getDefaultAutoSelectFamily: () => false,
    setDefaultAutoSelectFamily(value) {
      if (value) throw netErrors.invalidArgValue("val", value, "is invalid");
    },
    getDefaultAutoSelectFamilyAttemptTimeout: () => attemptTimeout,
    setDefaultAutoSelectFamilyAttemptTimeout(value) {
      validateInteger(value, "val", 1, 0x7fffffff);
      attemptTimeout = value < 10 ? 10 : value;
    },
  };
  nodeNetHolder.module = module;
  return module;
}

/** What node-tls.js needs of a net.Socket: its state, and netConnect. */
const nodeNetInternals = {
  __proto__: null, stateOf: (socket) => NetState.of(socket), attach: netAttach, readStart: netReadStart, destroy: netDestroy,
};

defineBuiltin("node:net", [
  "Socket", "Stream", "connect", "createConnection", "createServer", "Server", "BlockList", "SocketAddress",
  "isIP", "isIPv4", "isIPv6", "_normalizeArgs", "getDefaultAutoSelectFamily", "setDefaultAutoSelectFamily",
  "getDefaultAutoSelectFamilyAttemptTimeout", "setDefaultAutoSelectFamilyAttemptTimeout",
], nodeNetModule);
