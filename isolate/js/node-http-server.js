// ---- node-http-server.js: node:http's Server and ServerResponse, served by Workers fetch. -------
// As workerd's src/node/internal/internal_http_server.ts: `createServer([options][, handler])`
// makes a Server (an EventEmitter) that no socket reaches; `listen(port)` registers it by port in
// this isolate (a second server on a taken port gets EADDRINUSE), and cloudflare:node's
// `httpServerHandler` (cloudflare-node.js) turns each Workers `Request` into an IncomingMessage
// (method, `url` as path and query, the request's headers, its body stream read chunk by chunk)
// and the handler's ServerResponse into a `Response`: answered once the head is final (the first
// write, `flushHeaders`, or `end`), whole when `end(data)` came first, else a streamed body that
// each later write feeds (its callback once the client side took it: backpressure). The socket
// a handler sees (`req.socket`, `res.socket`) is an EventEmitter standing for the connection:
// `remoteAddress` from `CF-Connecting-IP` when present, `encrypted` for an https: URL. A request
// with a body that names no framing gets the header it had on the wire (Content-Length when the
// body's size is known, else `Transfer-Encoding: chunked`), as Node's parser would show it.
// Guarantees: writeHead/setHeader/statusCode behave as Node's (ERR_HTTP_HEADERS_SENT after the
// head went, Node's header validation, an invalid status is ERR_HTTP_INVALID_STATUS_CODE); a body
// on HEAD or a 204/205/304 answer is dropped, as Node sends none; hop-by-hop headers
// (Connection, Transfer-Encoding, Keep-Alive, Content-Length) are left to the runtime.
// Trusts: the Response and Headers captured before tenant code ran, fetch.js's requestForFetch/
// requestHeaders/headersList/bodyStream, the streams group's internals.

const HTTP_NO_BODY_STATUSES = { __proto__: null, 101: true, 204: true, 205: true, 304: true };

/** Servers listening, by port (this isolate's; a Loader worker's isolate lives across requests). */
const httpServersByPort = new Map();

const httpServerClassesHolder = { __proto__: null, value: undefined };

function httpServerClasses() {
  if (httpServerClassesHolder.value !== undefined) return httpServerClassesHolder.value;
  const classes = httpClasses();
  const { OutgoingMessage, IncomingMessage, fillIncoming, outgoingPairs, chunkBytes } = classes;
  const { EventEmitter } = builtinExports("node:events");
  const streams = streamsInternals();

  class ServerResponse extends OutgoingMessage {
    #st;
    constructor(req, answer = null) {
      super({ __proto__: null, emitClose: true, autoDestroy: false });
      this.req = req;
      this.statusCode = 200;
      this.statusMessage = undefined;
      this.sendDate = true;
      this.socket = req !== null && req !== undefined ? req.socket : null;
      this.#st = {
        __proto__: null, answer, answered: false, ending: false, whole: [], upload: null, wanted: false,
        pending: null, head: req !== null && req !== undefined && req.method === "HEAD",
      };
    }
    writeHead(statusCode, reason, headers) {
      if (this.headersSent) throw httpHeadersSentError("write");
      if (typeof reason !== "string") {
        headers = reason;
        reason = undefined;
      }
      const code = statusCode | 0;
      if (code < 100 || code > 999) {
        throw nodeError(RangeError, "ERR_HTTP_INVALID_STATUS_CODE", `Invalid status code: ${statusCode}`);
      }
      this.statusCode = code;
      if (reason !== undefined) this.statusMessage = reason;
      if (ArrayIsArray(headers)) {
        if (headers.length > 0 && ArrayIsArray(headers[0])) {
          for (let i = 0; i < headers.length; i++) this.appendHeader(headers[i][0], headers[i][1]);
        } else {
          for (let i = 0; i + 1 < headers.length; i += 2) this.appendHeader(headers[i], headers[i + 1]);
        }
      } else if (headers !== null && typeof headers === "object") {
        const keys = ObjectKeys(headers);
        for (let i = 0; i < keys.length; i++) if (headers[keys[i]] !== undefined) this.setHeader(keys[i], headers[keys[i]]);
      }
      this.headersSent = true; // Node's writeHead fixes the head
      return this;
    }
    writeContinue() {}
    writeProcessing() {}
    writeEarlyHints() {}
    addTrailers() {}
    assignSocket() {}
    detachSocket() {}
    flushHeaders() {
      if (!this.#st.answered) this.#answer(true);
    }
    end(chunk, encoding, callback) {
      this.#st.ending = true;
      return ReflectApply(OutgoingMessage.prototype.end, this, [chunk, encoding, callback]);
    }
    _write(chunk, encoding, callback) {
      const st = this.#st;
      let bytes;
      try {
        bytes = chunkBytes(chunk, encoding);
      } catch (e) {
        callback(e);
        return;
      }
      if (!st.answered && st.ending) {
        st.whole[st.whole.length] = bytes;
        callback();
        return;
      }
      if (!st.answered) this.#answer(true);
      const upload = st.upload;
      if (upload === null) { // no body for this answer: Node drops what is written
        callback();
        return;
      }
      if (upload.state !== "readable") {
        callback(nodeError(Error, "ERR_STREAM_DESTROYED", "Cannot call write after a stream was destroyed"));
        return;
      }
      if (typedArrayLength(bytes) > 0) streams.ReadableByteStreamControllerEnqueue(upload.controller, bytes);
      if (st.wanted) {
        st.wanted = false;
        callback();
      } else {
        st.pending = callback;
      }
    }
    _final(callback) {
      const st = this.#st;
      if (!st.answered) this.#answer(false);
      else if (st.upload !== null && st.upload.state === "readable") closeByteStream(st.upload.controller);
      callback();
      queueMicrotask(() => {
        if (!this.destroyed) this.destroy();
      });
    }
    _destroy(err, callback) {
      const st = this.#st;
      if (!st.answered) {
        st.answered = true;
        if (st.answer !== null) st.answer.reject(err === null ? new Error("node:http: the response was destroyed before it was sent") : err);
      } else if (st.upload !== null && st.upload.state === "readable" && !this.writableFinished) {
        streams.ReadableByteStreamControllerError(st.upload.controller, err === null ? new Error("node:http: the response was destroyed") : err);
      }
      callback(err);
    }
    /** Hands the Response to the waiting fetch handler: a streamed body, or st.whole. */
    #answer(streamed) {
      const st = this.#st;
      st.answered = true;
      this.headersSent = true;
      const status = this.statusCode | 0;
      if (status < 100 || status > 999) {
        const e = nodeError(RangeError, "ERR_HTTP_INVALID_STATUS_CODE", `Invalid status code: ${this.statusCode}`);
        if (st.answer !== null) st.answer.reject(e);
        return;
      }
      const headers = new Headers();
      const pairs = outgoingPairs(this);
      for (let i = 0; i < pairs.length; i++) {
        if (HTTP_HOP_HEADERS[StringToLowerCase(pairs[i][0])] !== true) headers.append(pairs[i][0], pairs[i][1]);
      }
      let body = null;
      if (!st.head && HTTP_NO_BODY_STATUSES[status] !== true) {
        if (streamed) {
          const upload = streams.CreateReadableByteStream(noop, () => {
            const pending = st.pending;
            st.pending = null;
            if (pending !== null) pending();
            else st.wanted = true;
            return resolvedUndefined();
          }, (reason) => {
            if (!this.destroyed) this.destroy(reason instanceof Error ? reason : undefined);
            return resolvedUndefined();
          });
          st.upload = upload;
          body = upload.pub;
        } else if (st.whole.length === 1) {
          body = st.whole[0];
        } else if (st.whole.length > 1) {
          body = bytesCopy(classes.Buffer.concat(st.whole));
        }
      }
      st.whole = [];
      const statusText = this.statusMessage === undefined ? HTTP_STATUS_CODES[status] || "" : `${this.statusMessage}`;
      if (st.answer === null) return;
      let response;
      try {
        response = new Response(body, { __proto__: null, status, statusText, headers });
      } catch (e) {
        st.answer.reject(e);
        return;
      }
      st.answer.resolve(response);
    }
  }

  /** The connection a handler sees. */
  function connection(url, headers) {
    const socket = new EventEmitter();
    const ip = headers["cf-connecting-ip"];
    socket.remoteAddress = typeof ip === "string" ? ip : "127.0.0.1";
    socket.remotePort = 0;
    socket.remoteFamily = typeof ip === "string" && StringIndexOf(ip, ":") !== -1 ? "IPv6" : "IPv4";
    socket.localAddress = "127.0.0.1";
    socket.localPort = url.port === "" ? (url.protocol === "https:" ? 443 : 80) : +url.port;
    socket.encrypted = url.protocol === "https:";
    socket.readable = true;
    socket.writable = true;
    socket.destroyed = false;
    socket.setTimeout = () => socket;
    socket.setNoDelay = () => socket;
    socket.setKeepAlive = () => socket;
    socket.destroy = () => socket;
    socket.end = () => socket;
    socket.ref = () => socket;
    socket.unref = () => socket;
    socket.address = () => ({ port: socket.localPort, family: "IPv4", address: socket.localAddress });
    return socket;
  }

  class Server extends EventEmitter {
    #port = null;
    constructor(options, handler) {
      super();
      if (typeof options === "function") handler = options;
      if (typeof handler === "function") this.on("request", handler);
      this.listening = false;
      this.timeout = 0;
      this.keepAliveTimeout = 5000;
      this.headersTimeout = 60000;
      this.requestTimeout = 300000;
      this.maxHeadersCount = null;
      this.maxRequestsPerSocket = 0;
    }
    listen(...args) {
      let port = 0;
      let callback = null;
      for (let i = 0; i < args.length; i++) {
        const a = args[i];
        if (typeof a === "function") callback = a;
        else if (i === 0 && a !== null && typeof a === "object") port = a.port === undefined ? 0 : a.port;
        else if (i === 0 && (typeof a === "number" || typeof a === "string")) port = a;
      }
      port = +port;
      if (!NumberIsInteger(port) || port < 0 || port > 65535) {
        throw nodeError(RangeError, "ERR_SOCKET_BAD_PORT", `options.port should be >= 0 and < 65536. Received ${port}.`);
      }
      if (this.listening) throw nodeError(Error, "ERR_SERVER_ALREADY_LISTEN", "Listen method has been called more than once without closing.");
      if (callback !== null) this.once("listening", callback);
      if (port === 0) {
        port = 8080; // as workerd: no port was asked for; the next free one from 8080 on
        while (MapHas(httpServersByPort, port)) port++;
      }
      if (MapHas(httpServersByPort, port)) {
        const e = nodeError(Error, "EADDRINUSE", `listen EADDRINUSE: address already in use :::${port}`);
        e.port = port;
        queueMicrotask(() => this.emit("error", e));
        return this;
      }
      MapSet(httpServersByPort, port, this);
      this.#port = port;
      this.listening = true;
      queueMicrotask(() => this.emit("listening"));
      return this;
    }
    address() {
      return this.#port === null ? null : { port: this.#port, family: "IPv4", address: "127.0.0.1" };
    }
    close(callback) {
      if (typeof callback === "function") {
        if (!this.listening) queueMicrotask(() => callback(nodeError(Error, "ERR_SERVER_NOT_RUNNING", "Server is not running.")));
        else this.once("close", callback);
      }
      if (this.#port !== null && MapGet(httpServersByPort, this.#port) === this) MapDelete(httpServersByPort, this.#port);
      const was = this.listening;
      this.#port = null;
      this.listening = false;
      if (was) queueMicrotask(() => this.emit("close"));
      return this;
    }
    closeAllConnections() {}
    closeIdleConnections() {}
    setTimeout(msecs, callback) {
      if (typeof callback === "function") this.on("timeout", callback);
      this.timeout = msecs;
      return this;
    }
    ref() { return this; }
    unref() { return this; }
  }

  /** Serves `request` (a Workers Request) with `server`: a promise of its Response. */
  function serve(server, request) {
    return new PromiseCtor((resolve, reject) => {
      const facts = requestForFetch(request);
      const url = new URL(facts.url);
      const list = httpFramedHeaders(headersList(requestHeaders(request)), facts.body);
      const req = new IncomingMessage(null);
      fillIncoming(req, list, facts.body === null ? null : bodyStream(facts.body));
      req.socket = connection(url, req.headers);
      req.method = facts.method;
      req.url = `${url.pathname}${url.search}`;
      const res = new ServerResponse(req, { __proto__: null, resolve, reject });
      try {
        server.emit("request", req, res);
      } catch (e) {
        if (!res.headersSent) reject(e);
        else res.destroy(e);
      }
    });
  }

  httpServerClassesHolder.value = { __proto__: null, Server, ServerResponse, serve };
  return httpServerClassesHolder.value;
}

/** `list` with the framing a request with a body has on the wire when it names none (body-parser
 *  and others look for one): its Content-Length when the body's bytes are known, else chunked. */
function httpFramedHeaders(list, body) {
  if (body === null) return list;
  for (let i = 0; i < list.length; i++) {
    const name = StringToLowerCase(list[i][0]);
    if (name === "content-length" || name === "transfer-encoding") return list;
  }
  const out = [];
  for (let i = 0; i < list.length; i++) out[i] = list[i];
  out[out.length] = body.stream === null && body.bytes !== null
    ? ["content-length", `${typedArrayLength(body.bytes)}`]
    : ["transfer-encoding", "chunked"];
  return out;
}

/** The server listening on `port` in this isolate, or undefined. */
function httpServerOnPort(port) {
  return MapGet(httpServersByPort, port);
}
