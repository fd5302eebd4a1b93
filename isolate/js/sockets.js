// ---- sockets.js: cloudflare:sockets, outbound TCP (and TLS) through the egress gateway. ------
// `connect(address, options)` returns a Socket at once; the host call `tcp.connect` opens the
// connection in the supervisor (daemon/src/egress/tcp.rs: the tenant's egress rules, the address
// checks, port 25 refused, at most 6 per request, every socket closed when the request ends) and
// names it by a number the other `tcp.*` calls carry first (u32 LE). The readable side is a byte
// stream pulled on demand, one `tcp.read` (at most 64 KiB, empty at the server's EOF) per pull,
// nothing read ahead; the writable side sends each chunk in `tcp.write`s of at most 64 KiB, a
// write resolving once the supervisor queued its bytes (backpressure: its queue is bounded), and
// its close is `tcp.shutdown` (FIN; the readable goes on: half-close). Without allowHalfOpen the
// server's EOF closes the writable side too, as Cloudflare does; `closed` resolves once both
// sides are done (or on close()), and rejects when the connection fails (a connect refused, a
// reset seen by a read or a write). `startTls()` (secureTransport "starttls") waits for the write
// in flight, makes the old socket's streams unusable and resolves its `closed`, and returns a new
// Socket over the same connection once `tcp.starttls` secured it (the host's TLS: its roots,
// `expectedServerHostname` or the connected name). Errors carry Cloudflare's messages where it
// has one. Runtime state lives in records behind a private field, and bytes meet captured
// operations only (bytesView, bytesCopy, typedArraySet, typedArrayLength): tenant code that
// replaced globals or prototypes never reaches them.

const TCP_CHUNK = 65536;
const SOCKET_CONSTRUCT = { __proto__: null };

/** A tcp.* payload: socket `id` (u32 LE), then bytes[from, to) when given. */
function tcpFrame(id, bytes, from, to) {
  const n = bytes === null ? 0 : to - from;
  const out = new ByteArray(4 + n);
  out[0] = id & 0xff; out[1] = (id >>> 8) & 0xff; out[2] = (id >>> 16) & 0xff; out[3] = (id >>> 24) & 0xff;
  if (n > 0) typedArraySet(out, bytesView(bytes, from, to), 4);
  return out;
}

/** What a failed host call tells tenant code: an Error with the host's message. */
function socketError(e) {
  return new Error(e !== null && typeof e === "object" ? `${e.message}` : `${e}`);
}

/** Whether `host` holds only what a host and port may (workerd's isValidHost). */
function socketHostValid(host) {
  if (host.length === 0 || host.length > 255) return false;
  for (let i = 0; i < host.length; i++) {
    const c = StringCharCodeAt(host, i);
    const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) ||
      c === 0x2d || c === 0x2e || c === 0x5f || c === 0x5b || c === 0x5d || c === 0x3a;
    if (!ok) return false;
  }
  return true;
}

/** `port` as a number, if it is one a socket may name (1..65535); else -1. */
function socketPort(port) {
  const n = typeof port === "number" ? port : typeof port === "string" && port !== "" ? +port : NaN;
  return NumberIsInteger(n) && n >= 1 && n <= 65535 ? n : -1;
}

/** "host:port" or {hostname, port}: [address, hostname, port]; TypeErrors as workerd's. */
function socketAddress(address) {
  let hostname;
  let port;
  if (typeof address === "string") {
    const bracket = address[0] === "[" ? StringIndexOf(address, "]") : -1;
    const colon = bracket !== -1 ? (address[bracket + 1] === ":" ? bracket + 1 : -1) : StringIndexOf(address, ":");
    if (bracket === -1 && colon !== -1 && StringIndexOf(address, ":", colon + 1) !== -1) {
      throw new TypeError("Specified address could not be parsed.");
    }
    hostname = colon === -1 ? (bracket === -1 ? address : StringSlice(address, 0, bracket + 1)) : StringSlice(address, 0, colon);
    port = colon === -1 ? "" : StringSlice(address, colon + 1);
    if (hostname === "") throw new TypeError("Specified address is missing hostname.");
    if (port === "") throw new TypeError("Specified address is missing port.");
  } else if (address !== null && typeof address === "object") {
    hostname = `${address.hostname}`;
    port = address.port;
  } else {
    throw new TypeError("connect: the address must be a string \"host:port\" or an object {hostname, port}");
  }
  const text = `${hostname}:${port}`;
  if (!socketHostValid(text)) {
    throw new TypeError("Specified address is empty string, contains unsupported characters or is too long.");
  }
  const number = socketPort(port);
  if (number === -1) throw new TypeError(`connect: the port must be an integer from 1 to 65535, not ${port}`);
  if (hostname[0] === "[" && hostname[hostname.length - 1] === "]") hostname = StringSlice(hostname, 1, hostname.length - 1);
  return [text, hostname, number];
}

/** A socket's state; `ready` resolves with the host's number for it. */
function newSocketState(address, hostname, secureTransport, allowHalfOpen) {
  return {
    __proto__: null,
    address, hostname, secureTransport, allowHalfOpen,
    id: 0, ready: null, opened: new Deferred(), closed: new Deferred(),
    readable: null, writable: null, inFlight: null,
    readDone: false, writeDone: false, closing: false, upgraded: false, tlsStarted: false, failed: false,
    // The number `fetch.abort` names its connect by (0: none), and whether close() came first.
    call: 0, abandoned: false,
  };
}

/** The connection failed with `error`: both promises reject, both streams error, the host lets
 *  go of it. */
function socketFail(s, error) {
  if (s.failed) return;
  s.failed = true;
  s.opened.reject(error);
  s.closed.reject(error);
  if (s.readable.state === "readable") streamsInternals().ReadableByteStreamControllerError(s.readable.controller, error);
  streamsInternals().WritableStreamDefaultControllerErrorIfNeeded(s.writable.controller, error);
  if (s.id !== 0) uponPromise(hostCall("tcp.close", tcpFrame(s.id, null)), undefined, noop);
}

/** Both sides are done: `closed` resolves and the host lets go of the connection. */
function socketMaybeClosed(s) {
  if (!s.readDone || !s.writeDone || s.failed || s.closed.state !== 0) return;
  s.closed.resolve(undefined);
  if (s.id !== 0) uponPromise(hostCall("tcp.close", tcpFrame(s.id, null)), undefined, noop);
}

/** The server's EOF: the readable closes; without allowHalfOpen, the writable side too. */
function socketReadEnded(s) {
  s.readDone = true;
  const c = s.readable.controller;
  if (s.readable.state === "readable" && !c.closeRequested) closeByteStream(c);
  const w = s.writable;
  if (!s.allowHalfOpen && w.state === "writable" && !streamsInternals().WritableStreamCloseQueuedOrInFlight(w)) {
    setHandled(streamsInternals().WritableStreamClose(w));
  }
  socketMaybeClosed(s);
}

function socketPull(s) {
  return promiseThen(s.ready, (id) => promiseThen(hostCall("tcp.read", tcpFrame(id, null)), (chunk) => {
    if (s.readable.state !== "readable" || s.upgraded) return;
    if (typedArrayLength(chunk) === 0) {
      socketReadEnded(s);
      return;
    }
    streamsInternals().ReadableByteStreamControllerEnqueue(s.readable.controller, chunk);
  }, (e) => {
    if (!s.upgraded && !s.closing) socketFail(s, socketError(e));
  }), noop);
}

function socketWrite(s, chunk) {
  let data;
  try {
    data = bytesCopy(bufferSourceBytes(chunk, "Socket.writable"));
  } catch {
    return promiseRejectedWith(new TypeError("Socket.writable: a chunk must be an ArrayBuffer or an ArrayBufferView"));
  }
  const total = typedArrayLength(data);
  const step = (id, at) => {
    if (at >= total) return undefined;
    const end = MathMin(at + TCP_CHUNK, total);
    return promiseThen(hostCallFreeing("tcp.write", tcpFrame(id, data, at, end)), () => step(id, end));
  };
  const written = promiseThen(s.ready, (id) => step(id, 0), (e) => { throw e; });
  s.inFlight = promiseThen(written, (v) => v, (e) => {
    const error = e instanceof Error ? e : socketError(e);
    if (!s.upgraded) socketFail(s, error);
    throw error;
  });
  return s.inFlight;
}

function socketShutdown(s) {
  return promiseThen(s.ready, (id) => promiseThen(hostCall("tcp.shutdown", tcpFrame(id, null)), () => {
    s.writeDone = true;
    socketMaybeClosed(s);
  }, (e) => {
    const error = socketError(e);
    socketFail(s, error);
    throw error;
  }));
}

/** Opens the socket's streams; `numbered` resolves with the host's number for it. */
function socketAttach(s, numbered) {
  s.ready = promiseThen(numbered, (reply) => {
    const answer = JSONParse(utf8Decode(reply));
    s.id = answer.socket >>> 0;
    if (s.abandoned) {
      // Connected before the abort reached the host: let go of it at once (close() settled the
      // socket's promises already).
      uponPromise(hostCall("tcp.close", tcpFrame(s.id, null)), undefined, noop);
      throw new Error("the socket was closed before it connected");
    }
    s.opened.resolve({ remoteAddress: s.address, localAddress: undefined });
    return s.id;
  }, (e) => {
    const error = socketError(e);
    socketFail(s, error);
    throw error;
  });
  setHandled(s.ready);
  setHandled(s.opened.promise);
  setHandled(s.closed.promise);
  const streams = streamsInternals();
  s.readable = streams.CreateReadableByteStream(noop, () => socketPull(s), () => {
    s.readDone = true;
    socketMaybeClosed(s);
    return resolvedUndefined();
  });
  s.writable = streams.CreateWritableStream(noop, (chunk) => socketWrite(s, chunk), () => socketShutdown(s),
    () => promiseThen(socketShutdown(s), noop, noop), 1, () => 1);
}

class Socket {
  #s;
  constructor(key, state) {
    if (key !== SOCKET_CONSTRUCT) throw new TypeError("Illegal constructor");
    this.#s = state;
  }
  get readable() { return this.#s.readable.pub; }
  get writable() { return this.#s.writable.pub; }
  get opened() { return this.#s.opened.promise; }
  get closed() { return this.#s.closed.promise; }
  get upgraded() { return this.#s.upgraded; }
  get secureTransport() { return this.#s.secureTransport; }
  /** Flushes the writable side, then closes both; resolves once closed. */
  close() {
    const s = this.#s;
    if (s.closing) return promiseThen(s.closed.promise, noop, noop);
    s.closing = true;
    const streams = streamsInternals();
    const finish = () => {
      if (s.readable.state === "readable") setHandled(streams.ReadableStreamCancel(s.readable, undefined));
      streams.WritableStreamDefaultControllerErrorIfNeeded(s.writable.controller, new TypeError("socket is closed"));
      s.readDone = true;
      s.writeDone = true;
      if (!s.failed) s.closed.resolve(undefined);
      return s.id === 0 ? undefined : promiseThen(hostCall("tcp.close", tcpFrame(s.id, null)), noop, noop);
    };
    if (s.id === 0 && !s.failed && s.call !== 0) {
      // Not connected yet (waiting for one of the request's six places, or connecting): the
      // connect is abandoned, never made, and the socket is closed now.
      s.abandoned = true;
      uponPromise(hostCall("fetch.abort", tcpFrame(s.call, null)), undefined, noop);
      finish();
      // Settled here, whichever way the connect's answer comes (an error once the abort reached
      // the host, or a connection made just before, which the answer's handler closes).
      s.failed = true;
      s.opened.reject(new Error("the socket was closed before it connected"));
      return resolvedUndefined();
    }
    return promiseThen(s.ready, () => {
      const w = s.writable;
      const flushed = w.state === "writable" && !streams.WritableStreamCloseQueuedOrInFlight(w)
        ? streams.WritableStreamClose(w) : resolvedUndefined();
      return promiseThen(flushed, finish, finish);
    }, noop);
  }
  /** A TLS Socket over this one's connection (secureTransport "starttls"); this one is done. */
  startTls(options = undefined) {
    const s = this.#s;
    if (s.secureTransport === "on") throw new TypeError("Cannot startTls on a TLS socket.");
    if (s.tlsStarted) throw new TypeError("startTls can only be called once.");
    if (s.secureTransport !== "starttls") {
      throw new TypeError("The `secureTransport` socket option must be set to 'starttls' for startTls to be used.");
    }
    s.tlsStarted = true;
    const expected = options !== undefined && options !== null ? options.expectedServerHostname : undefined;
    const hostname = expected === undefined ? s.hostname : `${expected}`;
    const t = newSocketState(s.address, s.hostname, "on", s.allowHalfOpen);
    const flushed = s.inFlight === null ? s.ready : promiseThen(s.inFlight, () => s.ready, () => s.ready);
    const numbered = promiseThen(flushed, (id) => {
      s.upgraded = true;
      const gone = new TypeError("the socket was upgraded to TLS: use the Socket startTls() returned");
      if (s.readable.state === "readable") streamsInternals().ReadableByteStreamControllerError(s.readable.controller, gone);
      streamsInternals().WritableStreamDefaultControllerErrorIfNeeded(s.writable.controller, gone);
      s.closed.resolve(undefined);
      const head = utf8Encode(JSONStringify({ hostname }));
      return hostCall("tcp.starttls", tcpFrame(id, head, 0, typedArrayLength(head)));
    });
    socketAttach(t, numbered);
    return new Socket(SOCKET_CONSTRUCT, t);
  }
  /** A Socket's state record (node-net.js's road to it; deleted below, never tenant-visible). */
  static stateOf(socket) {
    return socket.#s;
  }
}
const socketStateOf = Socket.stateOf;
delete Socket.stateOf;
const socketClose = Socket.prototype.close;
const socketStartTls = Socket.prototype.startTls;

/** cloudflare:sockets' connect(): a Socket at once, its connection opened by the host. */
function connect(address, options = undefined) {
  const parsed = socketAddress(address);
  const opts = options !== undefined && options !== null ? options : { __proto__: null };
  const given = opts.secureTransport;
  const secureTransport = given === undefined ? "off" : `${given}`;
  if (secureTransport !== "off" && secureTransport !== "on" && secureTransport !== "starttls") {
    throw new TypeError(`Unsupported value in secureTransport socket option: ${secureTransport}`);
  }
  const s = newSocketState(parsed[0], parsed[1], secureTransport, !!opts.allowHalfOpen);
  s.call = nextFetchCall();
  const head = JSONStringify({ hostname: parsed[1], port: parsed[2], secureTransport, call: s.call });
  socketAttach(s, hostCall("tcp.connect", utf8Encode(head)));
  return new Socket(SOCKET_CONSTRUCT, s);
}

defineBuiltin("cloudflare:sockets", ["connect"], () => ({ __proto__: null, connect }));

// node:net and node:tls (node-net.js) drive a Socket through these captured operations, never
// through its tenant-replaceable methods: its state record, a write of bytes on its connection
// (as its writable's sink does), close() and startTls().
shareInternals("sockets", ObjectFreeze({
  __proto__: null,
  connect,
  stateOf: socketStateOf,
  write: socketWrite,
  close: (socket) => ReflectApply(socketClose, socket, []),
  startTls: (socket, options) => ReflectApply(socketStartTls, socket, [options]),
}));
