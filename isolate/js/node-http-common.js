// ---- node-http-common.js: what node:http's client and server share (nodejs_compat). ----------
// As workerd's src/node/internal/internal_http*.ts: STATUS_CODES and METHODS (Node 20's lists),
// validateHeaderName/validateHeaderValue (Node's codes and messages), Agent/globalAgent (accepted
// and kept, as workerd: there are no sockets to pool), OutgoingMessage (a node:stream Writable
// with Node's header methods, the base of ClientRequest and ServerResponse) and IncomingMessage
// (a Readable over a web body stream: `headers` joined as Node joins them, `rawHeaders`,
// `headersDistinct`, `statusCode`/`statusMessage`, `method`/`url`, `httpVersion` "1.1").
// Guarantees: an IncomingMessage reads its body only through the streams group's internal reader
// (tenant code replacing ReadableStream methods does not reach it), one chunk per `_read`, each
// a Buffer of its own; headers tenant code sets are validated as Node does before anything is
// sent. The classes are built once per isolate, on first import of node:http/node:https or
// cloudflare:node (httpClasses), after tenant code may have run: like node:net's, their methods
// call the runtime's readable-stream, whose prototypes tenant code may change for its own objects.
// Trusts: the streams group (streams-*.js) and fetch.js's headersList/bodyStream.

const HTTP_TOKEN_RE = /^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$/;
const HTTP_INVALID_VALUE_RE = /[^\t\x20-\x7e\x80-\xff]/;

const HTTP_STATUS_CODES = {
  __proto__: null,
  100: "Continue", 101: "Switching Protocols", 102: "Processing", 103: "Early Hints", 200: "OK", 201: "Created",
  202: "Accepted", 203: "Non-Authoritative Information", 204: "No Content", 205: "Reset Content",
  206: "Partial Content", 207: "Multi-Status", 208: "Already Reported", 226: "IM Used", 300: "Multiple Choices",
  301: "Moved Permanently", 302: "Found", 303: "See Other", 304: "Not Modified", 305: "Use Proxy",
  307: "Temporary Redirect", 308: "Permanent Redirect", 400: "Bad Request", 401: "Unauthorized",
  402: "Payment Required", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
  407: "Proxy Authentication Required", 408: "Request Timeout", 409: "Conflict", 410: "Gone",
  411: "Length Required", 412: "Precondition Failed", 413: "Payload Too Large", 414: "URI Too Long",
  415: "Unsupported Media Type", 416: "Range Not Satisfiable", 417: "Expectation Failed", 418: "I'm a Teapot",
  421: "Misdirected Request", 422: "Unprocessable Entity", 423: "Locked", 424: "Failed Dependency",
  425: "Too Early", 426: "Upgrade Required", 428: "Precondition Required", 429: "Too Many Requests",
  431: "Request Header Fields Too Large", 451: "Unavailable For Legal Reasons", 500: "Internal Server Error",
  501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
  505: "HTTP Version Not Supported", 506: "Variant Also Negotiates", 507: "Insufficient Storage",
  508: "Loop Detected", 509: "Bandwidth Limit Exceeded", 510: "Not Extended", 511: "Network Authentication Required",
};

const HTTP_METHODS = [
  "ACL", "BIND", "CHECKOUT", "CONNECT", "COPY", "DELETE", "GET", "HEAD", "LINK", "LOCK", "M-SEARCH", "MERGE",
  "MKACTIVITY", "MKCALENDAR", "MKCOL", "MOVE", "NOTIFY", "OPTIONS", "PATCH", "POST", "PROPFIND", "PROPPATCH",
  "PURGE", "PUT", "QUERY", "REBIND", "REPORT", "SEARCH", "SOURCE", "SUBSCRIBE", "TRACE", "UNBIND", "UNLINK",
  "UNLOCK", "UNSUBSCRIBE",
];

/** Headers Node keeps the first of when a message repeats them (IncomingMessage#_addHeaderLine). */
const HTTP_SINGLE_HEADERS = {
  __proto__: null,
  "content-type": true, "content-length": true, "user-agent": true, referer: true, host: true,
  authorization: true, "proxy-authorization": true, "if-modified-since": true, "if-unmodified-since": true,
  from: true, location: true, "max-forwards": true, "retry-after": true, etag: true, "last-modified": true,
  server: true, age: true, expires: true,
};

const HTTP_MAX_HEADER_SIZE = 16384;

function httpIsToken(value) {
  return typeof value === "string" && RegExpTest(HTTP_TOKEN_RE, value);
}

/** Node's validateHeaderName (ERR_INVALID_HTTP_TOKEN). */
function httpValidateHeaderName(name, label = "Header name") {
  if (typeof name !== "string" || !name || !RegExpTest(HTTP_TOKEN_RE, name)) {
    throw nodeError(TypeError, "ERR_INVALID_HTTP_TOKEN", `${label} must be a valid HTTP token ["${name}"]`);
  }
}

/** Node's validateHeaderValue (ERR_HTTP_INVALID_HEADER_VALUE, ERR_INVALID_CHAR). */
function httpValidateHeaderValue(name, value) {
  if (value === undefined) {
    throw nodeError(TypeError, "ERR_HTTP_INVALID_HEADER_VALUE", `Invalid value "${value}" for header "${name}"`);
  }
  const values = ArrayIsArray(value) ? value : [value];
  for (let i = 0; i < values.length; i++) {
    if (RegExpTest(HTTP_INVALID_VALUE_RE, `${values[i]}`)) {
      throw nodeError(TypeError, "ERR_INVALID_CHAR", `Invalid character in header content ["${name}"]`);
    }
  }
}

function httpHeadersSentError(what) {
  return nodeError(Error, "ERR_HTTP_HEADERS_SENT", `Cannot ${what} headers after they are sent to the client`);
}

/** Node's IncomingMessage header fields from `list` ([name, value] in arrival order). */
function httpIncomingHeaders(list) {
  const headers = { __proto__: null };
  const distinct = { __proto__: null };
  const raw = [];
  for (let i = 0; i < list.length; i++) {
    const name = `${list[i][0]}`;
    const value = `${list[i][1]}`;
    raw[raw.length] = name;
    raw[raw.length] = value;
    const key = StringToLowerCase(name);
    const seen = distinct[key];
    if (seen === undefined) distinct[key] = [value];
    else seen[seen.length] = value;
    const current = headers[key];
    if (key === "set-cookie") {
      if (current === undefined) headers[key] = [value];
      else current[current.length] = value;
    } else if (current === undefined) {
      headers[key] = value;
    } else if (HTTP_SINGLE_HEADERS[key] !== true) {
      headers[key] = `${current}${key === "cookie" ? "; " : ", "}${value}`;
    }
  }
  // Node's objects have Object.prototype (libraries call headers.hasOwnProperty).
  ObjectSetPrototypeOf(headers, ObjectPrototype);
  ObjectSetPrototypeOf(distinct, ObjectPrototype);
  return { __proto__: null, headers, distinct, raw };
}

/** node:http's shared classes, built once per isolate. */
const httpClassesHolder = { __proto__: null, classes: undefined };

function httpClasses() {
  if (httpClassesHolder.classes !== undefined) return httpClassesHolder.classes;
  const { Readable, Writable } = lazyInternals("nodestream").library();
  const { EventEmitter } = builtinExports("node:events");
  const { Buffer } = builtinExports("node:buffer");
  const bufferProto = Buffer.prototype; // non-writable, non-configurable
  const streams = streamsInternals();

  class Agent extends EventEmitter {
    constructor(options) {
      super();
      this.options = { __proto__: null, ...options };
      this.defaultPort = this.options.defaultPort || 80;
      this.protocol = this.options.protocol || "http:";
      this.keepAlive = !!this.options.keepAlive;
      this.keepAliveMsecs = this.options.keepAliveMsecs || 1000;
      this.maxSockets = this.options.maxSockets || Infinity;
      this.maxFreeSockets = this.options.maxFreeSockets || 256;
      this.maxTotalSockets = this.options.maxTotalSockets || Infinity;
      this.requests = { __proto__: null };
      this.sockets = { __proto__: null };
      this.freeSockets = { __proto__: null };
    }
    destroy() {}
    getName(options = { __proto__: null }) {
      let name = options.host || "localhost";
      name += ":";
      if (options.port) name += options.port;
      name += ":";
      if (options.localAddress) name += options.localAddress;
      if (options.family === 4 || options.family === 6) name += `:${options.family}`;
      return name;
    }
  }

  /** Chunks of a web byte stream (a stream record), pushed one per _read. */
  class IncomingMessage extends Readable {
    #record = null;
    #reader = null;
    #reading = false;
    constructor(socket = null) {
      super({ __proto__: null });
      this.socket = socket;
      this.httpVersionMajor = 1;
      this.httpVersionMinor = 1;
      this.httpVersion = "1.1";
      this.complete = false;
      this.rawHeaders = [];
      this.rawTrailers = [];
      this.headers = {};
      this.headersDistinct = {};
      this.trailers = {};
      this.trailersDistinct = {};
      this.aborted = false;
      this.upgrade = false;
      this.url = "";
      this.method = null;
      this.statusCode = null;
      this.statusMessage = null;
    }
    get connection() { return this.socket; }
    setTimeout(msecs, callback) {
      if (typeof callback === "function") this.once("timeout", callback);
      return this;
    }
    _read() {
      if (this.#reading) return;
      if (this.#record === null) {
        this.complete = true;
        this.push(null);
        return;
      }
      if (this.#reader === null) this.#reader = streams.AcquireReadableStreamDefaultReader(this.#record, false);
      this.#reading = true;
      streams.ReadableStreamDefaultReaderRead(this.#reader, {
        __proto__: null,
        chunkSteps: (chunk) => {
          this.#reading = false;
          if (this.destroyed) return;
          if (!isUint8Array(chunk)) {
            this.destroy(new TypeError("node:http: the body produced a chunk that is not a Uint8Array"));
            return;
          }
          ObjectSetPrototypeOf(chunk, bufferProto); // a fresh Uint8Array of the stream's: now a Buffer
          this.push(chunk);
        },
        closeSteps: () => {
          this.#reading = false;
          this.#record = null;
          this.complete = true;
          if (!this.destroyed) this.push(null);
        },
        errorSteps: (e) => {
          this.#reading = false;
          this.#record = null;
          if (!this.destroyed) this.destroy(e);
        },
      });
    }
    _destroy(err, cb) {
      const record = this.#record;
      this.#record = null;
      if (record !== null && !this.complete) {
        if (!this.readableEnded) this.aborted = true;
        uponPromise(streams.ReadableStreamCancel(record, err === null ? undefined : err), undefined, noop);
      }
      cb(err);
    }
    /** Sets the fields from `list` and the body from `record` (a stream record or null). */
    static fill(message, list, record) {
      const h = httpIncomingHeaders(list);
      message.headers = h.headers;
      message.headersDistinct = h.distinct;
      message.rawHeaders = h.raw;
      message.#record = record;
    }
  }
  const fillIncoming = IncomingMessage.fill;
  delete IncomingMessage.fill;

  /** Header bookkeeping (Node's OutgoingMessage): names kept as given, keyed lower-case. */
  class OutgoingMessage extends Writable {
    #headers = { __proto__: null };
    constructor(options) {
      super({ __proto__: null, decodeStrings: false, ...options });
      this.headersSent = false;
      this.sendDate = false;
      this.chunkedEncoding = false;
      this.useChunkedEncodingByDefault = true;
      this.socket = null;
    }
    get connection() { return this.socket; }
    get finished() { return this.writableEnded; }
    setHeader(name, value) {
      if (this.headersSent) throw httpHeadersSentError("set");
      httpValidateHeaderName(name);
      httpValidateHeaderValue(name, value);
      this.#headers[StringToLowerCase(name)] = [name, value];
      return this;
    }
    appendHeader(name, value) {
      if (this.headersSent) throw httpHeadersSentError("append");
      httpValidateHeaderName(name);
      httpValidateHeaderValue(name, value);
      const key = StringToLowerCase(name);
      const old = this.#headers[key];
      if (old === undefined) {
        this.#headers[key] = [name, value];
      } else {
        const list = [];
        const had = ArrayIsArray(old[1]) ? old[1] : [old[1]];
        for (let i = 0; i < had.length; i++) list[list.length] = had[i];
        const more = ArrayIsArray(value) ? value : [value];
        for (let i = 0; i < more.length; i++) list[list.length] = more[i];
        this.#headers[key] = [old[0], list];
      }
      return this;
    }
    getHeader(name) {
      if (typeof name !== "string") throw invalidArgType("name", "of type string", name);
      const entry = this.#headers[StringToLowerCase(name)];
      return entry === undefined ? undefined : entry[1];
    }
    getHeaders() {
      const out = { __proto__: null };
      const keys = ObjectKeys(this.#headers);
      for (let i = 0; i < keys.length; i++) out[keys[i]] = this.#headers[keys[i]][1];
      return out;
    }
    getHeaderNames() {
      return ObjectKeys(this.#headers);
    }
    getRawHeaderNames() {
      const keys = ObjectKeys(this.#headers);
      const out = [];
      for (let i = 0; i < keys.length; i++) out[i] = this.#headers[keys[i]][0];
      return out;
    }
    hasHeader(name) {
      if (typeof name !== "string") throw invalidArgType("name", "of type string", name);
      return this.#headers[StringToLowerCase(name)] !== undefined;
    }
    removeHeader(name) {
      if (typeof name !== "string") throw invalidArgType("name", "of type string", name);
      if (this.headersSent) throw httpHeadersSentError("remove");
      delete this.#headers[StringToLowerCase(name)];
    }
    flushHeaders() {}
    setTimeout(msecs, callback) {
      if (typeof callback === "function") this.once("timeout", callback);
      return this;
    }
    /** The headers as [name, value] pairs, arrays spread, for a fetch Headers. */
    static pairs(message) {
      const out = [];
      const keys = ObjectKeys(message.#headers);
      for (let i = 0; i < keys.length; i++) {
        const entry = message.#headers[keys[i]];
        const name = entry[0], value = entry[1];
        if (ArrayIsArray(value)) for (let j = 0; j < value.length; j++) out[out.length] = [name, `${value[j]}`];
        else out[out.length] = [name, `${value}`];
      }
      return out;
    }
  }
  const outgoingPairs = OutgoingMessage.pairs;
  delete OutgoingMessage.pairs;

  /** The bytes of a write's `chunk` (a string in `encoding`, or a Buffer/Uint8Array): a copy. */
  function chunkBytes(chunk, encoding) {
    if (typeof chunk === "string") {
      if (encoding === undefined || encoding === null || encoding === "utf8" || encoding === "utf-8" || encoding === "buffer") {
        return utf8Encode(chunk);
      }
      return bytesCopy(Buffer.from(chunk, encoding));
    }
    if (isUint8Array(chunk)) return bytesCopy(chunk);
    if (ArrayBufferIsView(chunk)) return bytesCopy(new ByteArray(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    throw invalidArgType("chunk", "of type string or an instance of Buffer or Uint8Array", chunk);
  }

  const globalAgent = new Agent({ __proto__: null, keepAlive: true, scheduling: "lifo", timeout: 5000 });
  const httpsGlobalAgent = new Agent({ __proto__: null, keepAlive: true, defaultPort: 443, protocol: "https:" });
  httpClassesHolder.classes = {
    __proto__: null,
    Agent, IncomingMessage, OutgoingMessage, fillIncoming, outgoingPairs, chunkBytes, globalAgent, httpsGlobalAgent,
    Buffer, Readable, Writable,
  };
  return httpClassesHolder.classes;
}
