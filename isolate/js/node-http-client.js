// ---- node-http-client.js: node:http/node:https's client, over the runtime's fetch. ------------
// As workerd's src/node/internal/internal_http_client.ts: `request(url | options[, options][,
// cb])` and `get` make a ClientRequest (an OutgoingMessage, so a node:stream Writable) that
// becomes one fetch() through the egress gateway (its rules, address checks, secrets, audit and
// the request's subrequest cap), with `redirect: "manual"` as Node follows none. A body given
// whole (`end(data)` with nothing written before) goes up in the call; a body written in parts
// goes up as a stream as it is written, each write's callback called once the gateway took the
// chunk (backpressure). The answer becomes an IncomingMessage whose body is the response's
// stream read chunk by chunk. Events in Node 20's order (checked against Node by the same client
// code, daemon/tests/e2e_node_http.rs): `finish`, `response`, the response's `data`/`end`/
// `close`, then the request's `close` (Node's order when the server closes the connection); a
// failed fetch (a host no rule names, a refused connection) is `error` then `close`; `destroy()` before the answer is `error` (ECONNRESET,
// "socket hang up") then `close`, and `abort()` the same after an `abort` event. `setTimeout(ms)` emits `timeout` if no
// answer (or no end of it) came within ms, and aborts nothing, as Node.
// Differences: no `socket`/`upgrade`/`connect`/`information` events (no socket: workerd's too),
// a `Host` header is not sent as given (the URL's host is), header names arrive lower-case.
// Trusts: the fetch and Headers captured before tenant code ran (isolate/src/lazy/mod.rs: a lazy
// group's globals are the snapshot's), fetch.js's responseFacts/headersList/bodyStream.

const HTTP_HOP_HEADERS = {
  __proto__: null, host: true, connection: true, "keep-alive": true, "transfer-encoding": true,
  "content-length": true, "proxy-connection": true, upgrade: true, te: true, trailer: true,
};
const HTTP_UNESCAPED_PATH_RE = /[\u0000-\u0020]/;

/** Node's urlToHttpOptions. */
function httpUrlOptions(url) {
  const hostname = url.hostname;
  const options = {
    __proto__: null,
    protocol: url.protocol,
    hostname: hostname[0] === "[" ? StringSlice(hostname, 1, hostname.length - 1) : hostname,
    hash: url.hash, search: url.search, pathname: url.pathname,
    path: `${url.pathname || ""}${url.search || ""}`, href: url.href,
  };
  if (url.port !== "") options.port = +url.port;
  if (url.username || url.password) {
    options.auth = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  }
  return options;
}

/** The client's module (node:http's or node:https's), built once per isolate per protocol. */
const httpClientHolder = { __proto__: null, "http:": undefined, "https:": undefined };

function httpClient(secure) {
  const which = secure ? "https:" : "http:";
  if (httpClientHolder[which] !== undefined) return httpClientHolder[which];
  const base = httpClientClasses();
  const defaultAgent = secure ? base.classes.httpsGlobalAgent : base.classes.globalAgent;
  function request(input, options, cb) {
    return new base.ClientRequest(input, options, cb, defaultAgent);
  }
  function get(input, options, cb) {
    const req = request(input, options, cb);
    req.end();
    return req;
  }
  httpClientHolder[which] = { __proto__: null, request, get, agent: defaultAgent };
  return httpClientHolder[which];
}

const httpClientClassesHolder = { __proto__: null, value: undefined };

function httpClientClasses() {
  if (httpClientClassesHolder.value !== undefined) return httpClientClassesHolder.value;
  const classes = httpClasses();
  const { OutgoingMessage, IncomingMessage, fillIncoming, outgoingPairs, chunkBytes, Buffer } = classes;
  const streams = streamsInternals();

  class ClientRequest extends OutgoingMessage {
    #st;
    constructor(input, options, cb, defaultAgent) {
      super({ __proto__: null, emitClose: false, autoDestroy: false });
      if (typeof input === "string") {
        input = httpUrlOptions(new URL(input));
      } else if (input !== null && typeof input === "object" && input.href != null && input.protocol != null && input.auth === undefined && input.path === undefined) {
        // Node's isURL: a URL-like object (and not options that happen to have an href).
        input = httpUrlOptions(input);
      } else {
        cb = options;
        options = input;
        input = null;
      }
      if (typeof options === "function") {
        cb = options;
        options = input === null ? { __proto__: null } : input;
      } else {
        options = { __proto__: null, ...input, ...options };
      }
      let agent = options.agent;
      if (agent === false || agent === undefined || agent === null) agent = defaultAgent;
      const expected = (typeof agent.protocol === "string" && agent.protocol) || defaultAgent.protocol;
      const protocol = options.protocol || expected;
      if (protocol !== expected) {
        throw nodeError(TypeError, "ERR_INVALID_PROTOCOL", `Protocol "${protocol}" not supported. Expected "${expected}"`);
      }
      const defaultPort = options.defaultPort || (agent && agent.defaultPort) || (protocol === "https:" ? 443 : 80);
      const port = options.port || defaultPort;
      let host = `${options.hostname || options.host || "localhost"}`;
      const path = options.path === undefined || options.path === null ? "/" : `${options.path}`;
      if (RegExpTest(HTTP_UNESCAPED_PATH_RE, path)) {
        throw nodeError(TypeError, "ERR_UNESCAPED_CHARACTERS", "Request path contains unescaped characters");
      }
      const method = options.method === undefined || options.method === null ? "GET" : options.method;
      if (!httpIsToken(method)) httpValidateHeaderName(method, "Method");
      this.method = StringToUpperCase(method);
      this.path = path;
      this.host = host;
      this.protocol = protocol;
      this.agent = agent;
      this.aborted = false;
      this.reusedSocket = false;
      this.maxHeadersCount = null;
      this.res = null;
      if (StringIndexOf(host, ":") !== -1 && host[0] !== "[") host = `[${host}]`;
      const headers = options.headers;
      if (ArrayIsArray(headers)) {
        for (let i = 0; i + 1 < headers.length; i += 2) this.appendHeader(headers[i], headers[i + 1]);
      } else if (headers !== null && typeof headers === "object") {
        const keys = ObjectKeys(headers);
        for (let i = 0; i < keys.length; i++) if (headers[keys[i]] !== undefined) this.setHeader(keys[i], headers[keys[i]]);
      }
      if (options.auth && !this.hasHeader("authorization")) {
        this.setHeader("Authorization", `Basic ${Buffer.from(`${options.auth}`).toString("base64")}`);
      }
      this.#st = {
        __proto__: null,
        url: `${protocol}//${host}${+port === defaultPort ? "" : `:${port}`}${path}`,
        started: false, ending: false, whole: [], upload: null, wanted: false, pending: null,
        controller: new AbortController(), timer: 0, timeoutMs: 0, closed: false, answered: false,
      };
      if (typeof cb === "function") this.once("response", cb);
      if (options.timeout !== undefined) this.setTimeout(options.timeout);
      const signal = options.signal;
      if (signal !== undefined && signal !== null) {
        if (signal.aborted) queueMicrotask(() => this.destroy(signal.reason));
        else signal.addEventListener("abort", () => this.destroy(signal.reason), { __proto__: null, once: true });
      }
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
      if (!st.started && st.ending) {
        st.whole[st.whole.length] = bytes;
        callback();
        return;
      }
      if (!st.started) this.#start(true);
      if (st.upload === null || st.upload.state !== "readable") {
        callback(nodeError(Error, "ERR_STREAM_DESTROYED", "Cannot call write after a stream was destroyed"));
        return;
      }
      if (typedArrayLength(bytes) > 0) streams.ReadableByteStreamControllerEnqueue(st.upload.controller, bytes);
      if (st.wanted) {
        st.wanted = false;
        callback();
      } else {
        st.pending = callback;
      }
    }
    _final(callback) {
      const st = this.#st;
      if (!st.started) {
        this.#start(false);
      } else if (st.upload !== null && st.upload.state === "readable") {
        closeByteStream(st.upload.controller);
      }
      callback();
    }
    _destroy(err, callback) {
      const st = this.#st;
      this.#disarm();
      if (!st.answered) {
        st.answered = true;
        st.controller.abort(err === null ? undefined : err);
        if (err === null) err = nodeError(Error, "ECONNRESET", "socket hang up");
      } else if (this.res !== null && !this.res.complete && !this.res.destroyed) {
        this.res.destroy(err === null ? nodeError(Error, "ECONNRESET", "aborted") : err);
      }
      callback(err);
      queueMicrotask(() => this.#close());
    }
    abort() {
      if (this.aborted) return;
      this.aborted = true;
      queueMicrotask(() => this.emit("abort"));
      this.destroy();
    }
    setTimeout(msecs, callback) {
      if (typeof msecs !== "number") throw invalidArgType("msecs", "of type number", msecs);
      if (typeof callback === "function") this.once("timeout", callback);
      this.#disarm();
      this.#st.timeoutMs = msecs;
      if (msecs > 0 && !this.#st.closed) this.#arm();
      return this;
    }
    setNoDelay() {}
    setSocketKeepAlive() {}
    #arm() {
      const st = this.#st;
      st.timer = armInternalTimer(() => {
        st.timer = 0;
        this.emit("timeout");
      }, st.timeoutMs);
    }
    #disarm() {
      if (this.#st.timer !== 0) disarmInternalTimer(this.#st.timer);
      this.#st.timer = 0;
    }
    #close() {
      const st = this.#st;
      if (st.closed) return;
      st.closed = true;
      this.#disarm();
      this.emit("close");
    }
    /** Sends the request: its body a stream written as it comes (`streamed`), else st.whole. */
    #start(streamed) {
      const st = this.#st;
      st.started = true;
      this.headersSent = true;
      const headers = new Headers();
      const pairs = outgoingPairs(this);
      for (let i = 0; i < pairs.length; i++) {
        if (HTTP_HOP_HEADERS[StringToLowerCase(pairs[i][0])] !== true) headers.append(pairs[i][0], pairs[i][1]);
      }
      let body = null;
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
      } else if (st.whole.length > 0) {
        body = st.whole.length === 1 ? st.whole[0] : bytesCopy(Buffer.concat(st.whole));
      }
      st.whole = [];
      const init = {
        __proto__: null, method: this.method, headers, body, redirect: "manual", signal: st.controller.signal,
        duplex: "half",
      };
      let promise;
      try {
        promise = fetch(st.url, init);
      } catch (e) {
        promise = promiseRejectedWith(e);
      }
      uponPromise(promise, (response) => this.#answered(response), (e) => {
        if (st.answered) return;
        st.answered = true;
        if (!this.destroyed) this.destroy(e);
      });
    }
    #answered(response) {
      const st = this.#st;
      if (st.answered) return;
      st.answered = true;
      const facts = responseFacts(response);
      const res = new IncomingMessage(null);
      res.req = this;
      res.statusCode = facts.status;
      const text = response.statusText;
      res.statusMessage = text || HTTP_STATUS_CODES[facts.status] || "";
      fillIncoming(res, headersList(facts.headers), facts.body === null ? null : bodyStream(facts.body));
      this.res = res;
      if (st.timer !== 0) {
        this.#disarm();
        this.#arm();
      }
      res.on("end", () => this.#disarm());
      res.on("close", () => {
        this.#disarm();
        if (this.destroyed) this.#close();
        else this.destroy();
      });
      res.on("error", () => {
        if (!this.destroyed) this.destroy();
      });
      if (!this.emit("response", res)) res.resume();
    }
  }

  httpClientClassesHolder.value = { __proto__: null, classes, ClientRequest };
  return httpClientClassesHolder.value;
}
