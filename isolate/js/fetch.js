// ---- fetch.js: Headers, Request, Response (Fetch standard subset). -------------
// Bodies (fetch-body.js) are streams made lazily over known bytes, host sources or tenant streams;
// Blob, FormData (multipart) and URLSearchParams bodies set the default Content-Type, and
// blob()/formData() read it back. Internal byte arrays never reach tenant code; consumers get
// copies. A Request's signal follows init.signal (or its input's); fetch() (fetch-outbound.js)
// follows the signal. Headers guards: "none" or "immutable" (Response.error/redirect); there are
// no forbidden header names, as in server-side runtimes.

const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const HTTP_WHITESPACE_EDGES = /^[\t\n\r ]+|[\t\n\r ]+$/g;

function headerName(name) {
  const n = toByteString(name, "Headers");
  if (!HTTP_TOKEN.test(n)) throw new TypeError(`Headers: ${JSONStringify(n)} is not a valid header name`);
  return n.toLowerCase();
}

function headerValue(value) {
  const v = toByteString(value, "Headers").replace(HTTP_WHITESPACE_EDGES, "");
  if (/[\0\r\n]/.test(v)) throw new TypeError(`Headers: ${JSONStringify(v)} is not a valid header value`);
  return v;
}

const headersIterator = iteratorFactory("Headers Iterator");
let isHeaders; // (v) -> boolean
let headersList; // (headers) -> [name, value][]: the internal list, insertion order
let headersPairs; // (headers) -> [name, value][]: sorted and combined (what iteration yields)
let newHeadersWithGuard; // (list, immutable) -> Headers
let newHeadersFromHost; // (flat [n0, v0, ...], names and values as append() leaves them) -> Headers

class Headers {
  #list = []; // [lower-case name, normalized value], in insertion order
  #immutable = false;
  #sorted = null; // cache of sort-and-combine, dropped on mutation
  constructor(init = undefined) {
    if (init === undefined) return;
    if (init === null || (typeof init !== "object" && typeof init !== "function")) {
      throw new TypeError("Headers: init must be a sequence of pairs or a record");
    }
    const method = init[SymbolIterator];
    // Another Headers is copied directly, unless its iterator was replaced (then it is a sequence).
    if (#list in init && method === headersEntries) {
      this.#list = init.#list.map((p) => [p[0], p[1]]);
      return;
    }
    if (method !== undefined && method !== null) {
      if (typeof method !== "function") throw new TypeError("Headers: init[Symbol.iterator] is not a function");
      for (const pair of ReflectApply(method, init, [])) {
        const items = pair !== null && typeof pair === "object" ? [...pair] : [];
        if (items.length !== 2) throw new TypeError("Headers: each init pair must have exactly two items");
        this.#list.push([headerName(items[0]), headerValue(items[1])]);
      }
      return;
    }
    for (const key of ReflectOwnKeys(init)) {
      const d = ObjectGetOwnPropertyDescriptor(init, key);
      if (d === undefined || !d.enumerable) continue;
      this.#list.push([headerName(key), headerValue(init[key])]);
    }
  }
  #mutable() {
    if (this.#immutable) throw new TypeError("Headers: these headers are immutable");
    this.#sorted = null;
  }
  #pairs() {
    if (this.#sorted !== null) return this.#sorted;
    const names = [...new Set(this.#list.map((p) => p[0]))].sort();
    const out = [];
    for (const name of names) {
      const values = this.#list.filter((p) => p[0] === name).map((p) => p[1]);
      if (name === "set-cookie") for (const v of values) out.push([name, v]);
      else out.push([name, values.join(", ")]);
    }
    return (this.#sorted = out);
  }
  append(name, value) {
    requireArgs(arguments.length, 2, "Headers.append");
    const pair = [headerName(name), headerValue(value)];
    this.#mutable();
    this.#list.push(pair);
  }
  delete(name) {
    requireArgs(arguments.length, 1, "Headers.delete");
    const n = headerName(name);
    this.#mutable();
    this.#list = this.#list.filter((p) => p[0] !== n);
  }
  get(name) {
    requireArgs(arguments.length, 1, "Headers.get");
    const n = headerName(name);
    const values = this.#list.filter((p) => p[0] === n).map((p) => p[1]);
    return values.length === 0 ? null : values.join(", ");
  }
  getSetCookie() {
    return this.#list.filter((p) => p[0] === "set-cookie").map((p) => p[1]);
  }
  /** workerd's older form of getSetCookie (no standard has it): for Set-Cookie only. */
  getAll(name) {
    requireArgs(arguments.length, 1, "Headers.getAll");
    if (headerName(name) !== "set-cookie") {
      throw new TypeError('Headers.getAll: only the header name "Set-Cookie" is supported');
    }
    return this.getSetCookie();
  }
  has(name) {
    requireArgs(arguments.length, 1, "Headers.has");
    const n = headerName(name);
    return this.#list.some((p) => p[0] === n);
  }
  set(name, value) {
    requireArgs(arguments.length, 2, "Headers.set");
    const n = headerName(name);
    const v = headerValue(value);
    this.#mutable();
    const i = this.#list.findIndex((p) => p[0] === n);
    if (i === -1) {
      this.#list.push([n, v]);
      return;
    }
    this.#list = this.#list.filter((p, j) => j <= i || p[0] !== n);
    this.#list[i] = [n, v];
  }
  forEach(callback, thisArg = undefined) {
    if (typeof callback !== "function") throw new TypeError("Headers.forEach: callback is not a function");
    for (let i = 0; i < this.#pairs().length; i++) {
      const pair = this.#pairs()[i];
      ReflectApply(callback, thisArg, [pair[1], pair[0], this]);
    }
  }
  keys() { return headersIterator(() => this.#pairs(), 0); }
  values() { return headersIterator(() => this.#pairs(), 1); }
  entries() { return headersIterator(() => this.#pairs(), 2); }
  static {
    isHeaders = (v) => v !== null && typeof v === "object" && #list in v;
    headersList = (h) => h.#list;
    headersPairs = (h) => h.#pairs();
    newHeadersFromHost = (flat) => {
      const h = new Headers();
      const list = [];
      for (let i = 0; i + 1 < flat.length; i += 2) list[i >> 1] = [`${flat[i]}`, `${flat[i + 1]}`];
      h.#list = list;
      return h;
    };
    newHeadersWithGuard = (list, immutable) => {
      const h = new Headers();
      h.#list = list.map((p) => [p[0], p[1]]);
      h.#immutable = immutable;
      return h;
    };
    platformBrands.push(isHeaders);
  }
}
const headersEntries = Headers.prototype.entries;
ObjectDefineProperty(Headers.prototype, SymbolIterator, {
  value: headersEntries, writable: true, enumerable: false, configurable: true,
});
setTag(Headers.prototype, "Headers");
inspectHooks.set(Headers.prototype, (h) => [headersPairs(h), false]);
defineGlobal("Headers", Headers);

// ---- Request ------------------------------------------------------------------------------------
const NORMALIZED_METHODS = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"];
const REDIRECT_MODES = ["follow", "error", "manual"];
// RequestCache. Stockade keeps no HTTP cache between fetch() and the network, so every mode but
// "only-if-cached" goes to the network; "no-store", "reload" and "no-cache" add the request
// headers the Fetch Standard's HTTP-network-or-cache fetch adds (fetch-outbound.js), as workerd
// does for the one mode it accepts ("no-store").
const CACHE_MODES = ["default", "no-store", "reload", "no-cache", "force-cache", "only-if-cached"];

function normalizeMethod(method) {
  const m = toByteString(method, "Request");
  if (!HTTP_TOKEN.test(m)) throw new TypeError(`Request: ${JSONStringify(m)} is not a valid HTTP method`);
  const upper = m.toUpperCase();
  if (upper === "CONNECT" || upper === "TRACE" || upper === "TRACK") {
    throw new TypeError(`Request: the ${upper} method is forbidden`);
  }
  return NORMALIZED_METHODS.includes(upper) ? upper : m;
}

function parseRequestURL(input) {
  const record = parseURL(toUSVString(input), null);
  if (record === null) throw new TypeError(`Request: invalid URL ${JSONStringify(`${input}`.slice(0, 200))}`);
  if (includesCredentials(record)) throw new TypeError("Request: URLs with credentials are not allowed");
  return serializeURL(record, false);
}

let requestBody; // (v) -> BodyState | null, throwing unless v is a Request
let newRequestFromHost; // (method, url, flatHeaders, body) -> Request
let requestForFetch; // (request) -> { method, url, headers: [name, value][], body: BodyState | null, redirect, signal, encodeResponseBody, cache }
let requestHeaders; // (request) -> Headers
let isRequest; // (v) -> boolean

class Request {
  #method = "GET";
  #url;
  #headers;
  #redirect = "follow";
  #cache = "default";
  #keepalive = false;
  #sameOrigin = false; // the standard's mode is "same-origin" (kept for "only-if-cached" alone)
  #body = null; // BodyState | null
  #signal;
  #cf = undefined; // Cloudflare's request.cf: the host's incomingCf(), init.cf, or the input's
  // Cloudflare's RequestInit.encodeResponseBody: "manual" asks fetch() for the answer's body as
  // the upstream sent it. As in workerd: kept by clone() and taken from an init that is a Request,
  // not from an input Request (so `new Request(req)` and `fetch(req)` are "automatic" again).
  #encodeResponseBody = "automatic";
  constructor(input, init = undefined) {
    requireArgs(arguments.length, 1, "Request");
    const source = input !== null && typeof input === "object" && #url in input ? input : null;
    let signal = null;
    if (source === null) {
      this.#url = parseRequestURL(input);
    } else {
      this.#url = source.#url;
      this.#method = source.#method;
      this.#redirect = source.#redirect;
      this.#cache = source.#cache;
      this.#keepalive = source.#keepalive;
      this.#sameOrigin = source.#sameOrigin;
      this.#cf = source.#cf;
      signal = source.#signal;
    }
    // RequestInit's members are read in lexicographic order, before any is validated.
    const initBody = dictGet(init, "body");
    const initCache = dictGet(init, "cache");
    const initCf = dictGet(init, "cf");
    const initDuplex = dictGet(init, "duplex");
    const initEncode = init !== null && typeof init === "object" && #url in init
      ? init.#encodeResponseBody : dictGet(init, "encodeResponseBody");
    const initHeaders = dictGet(init, "headers");
    const initIntegrity = dictGet(init, "integrity");
    const initKeepalive = dictGet(init, "keepalive");
    const initMethod = dictGet(init, "method");
    // Read for "only-if-cached" alone (a Request has no `mode`; one given as init lends its own).
    const initMode = init !== null && typeof init === "object" && #url in init
      ? (init.#sameOrigin ? "same-origin" : undefined) : dictGet(init, "mode");
    const initRedirect = dictGet(init, "redirect");
    const initSignal = dictGet(init, "signal");
    if (initCache !== undefined) {
      const mode = `${initCache}`;
      if (!CACHE_MODES.includes(mode)) throw new TypeError(`Request: invalid cache mode ${mode.slice(0, 40)}`);
      this.#cache = mode;
    }
    if (initMode !== undefined) this.#sameOrigin = `${initMode}` === "same-origin";
    // The standard's check, on the request as made (its mode may come from the input Request).
    if (this.#cache === "only-if-cached" && !this.#sameOrigin) {
      throw new TypeError("Request: cache mode 'only-if-cached' needs request mode 'same-origin'");
    }
    if (initCf !== undefined && initCf !== null && typeof initCf !== "object") throw new TypeError("Request: init.cf must be an object");
    if (initCf !== undefined) this.#cf = initCf ?? undefined;
    if (initDuplex !== undefined && `${initDuplex}` !== "half") throw new TypeError(`Request: invalid duplex mode ${initDuplex}`);
    if (initEncode !== undefined) {
      const mode = `${initEncode}`;
      if (mode !== "automatic" && mode !== "manual") throw new TypeError(`encodeResponseBody: unexpected value: ${mode.slice(0, 40)}`);
      this.#encodeResponseBody = mode;
    }
    // Subresource integrity is not checked: a digest given would be a check that never runs, so
    // it is refused (as workerd does) rather than ignored.
    if (initIntegrity !== undefined && `${initIntegrity}` !== "") {
      throw new TypeError("Request: integrity checking is not implemented; init.integrity must be undefined or empty");
    }
    if (initKeepalive !== undefined) this.#keepalive = !!initKeepalive;
    if (initMethod !== undefined) this.#method = normalizeMethod(initMethod);
    if (initRedirect !== undefined) {
      if (!REDIRECT_MODES.includes(`${initRedirect}`)) throw new TypeError(`Request: invalid redirect mode ${initRedirect}`);
      this.#redirect = `${initRedirect}`;
    }
    if (initSignal !== undefined) {
      if (initSignal !== null && !isAbortSignal(initSignal)) throw new TypeError("Request: init.signal is not an AbortSignal");
      signal = initSignal;
    }
    // The request's own signal follows the given one (aborted at once if it already is).
    this.#signal = signal === null ? newAbortSignal() : createDependentAbortSignal([signal]);
    this.#headers = initHeaders !== undefined ? new Headers(initHeaders)
      : newHeadersWithGuard(source === null ? [] : headersList(source.#headers), false);
    const inputBody = source === null ? null : source.#body;
    const hasInitBody = initBody !== undefined && initBody !== null;
    if ((hasInitBody || inputBody !== null) && (this.#method === "GET" || this.#method === "HEAD")) {
      throw new TypeError("Request: a request with a GET or HEAD method cannot have a body");
    }
    let body = null;
    if (hasInitBody) {
      const { body: extracted, type } = extractBody(initBody);
      // The standard's "extract a body" with keepalive: a stream has no length known up front.
      if (this.#keepalive && extracted.fromStream) throw new TypeError("Request: a keepalive request cannot have a stream body");
      body = extracted;
      if (type !== null && !this.#headers.has("content-type")) this.#headers.append("content-type", type);
      // The Fetch Standard wants `duplex: "half"` with a stream body; workerd does not ask for it
      // (a proxy's `fetch(upstream, { method: "POST", body: request.body })`), and neither do we.
    } else if (inputBody !== null) {
      if (bodyUnusable(inputBody)) throw new TypeError("Request: the input request's body has already been used");
      body = proxyBody(inputBody); // the new request takes over the input's body
    }
    this.#body = body;
  }
  get method() { return this.#method; }
  get url() { return this.#url; }
  get headers() { return this.#headers; }
  get redirect() { return this.#redirect; }
  get cache() { return this.#cache; }
  get integrity() {
    if (!isRequest(this)) throw new TypeError("Illegal invocation");
    return "";
  }
  // A request's work outlives its handler through ctx.waitUntil here, so keepalive changes
  // nothing; it is kept as given, as the standard's getter reports it.
  get keepalive() { return this.#keepalive; }
  get duplex() { return "half"; }
  get signal() { return this.#signal; }
  get cf() { return this.#cf; }
  clone() {
    if (bodyUnusable(this.#body)) throw new TypeError("Request.clone: the body has already been used");
    const copy = new Request(this.#url);
    copy.#method = this.#method;
    copy.#redirect = this.#redirect;
    copy.#cache = this.#cache;
    copy.#keepalive = this.#keepalive;
    copy.#sameOrigin = this.#sameOrigin;
    copy.#cf = this.#cf;
    copy.#encodeResponseBody = this.#encodeResponseBody;
    copy.#signal = createDependentAbortSignal([this.#signal]);
    copy.#headers = newHeadersWithGuard(headersList(this.#headers), false);
    copy.#body = cloneBody(this.#body);
    return copy;
  }
  static {
    requestHeaders = (r) => r.#headers;
    isRequest = (v) => v !== null && typeof v === "object" && #url in v;
    requestForFetch = (r) => {
      const headers = [];
      const pairs = headersPairs(r.#headers);
      for (let i = 0; i < pairs.length; i++) headers.push([pairs[i][0], pairs[i][1]]);
      // A null-prototype record: its fields are own properties no tenant getter can intercept.
      return { __proto__: null, method: r.#method, url: r.#url, headers, body: r.#body, redirect: r.#redirect, signal: r.#signal, encodeResponseBody: r.#encodeResponseBody, cache: r.#cache };
    };
    newRequestFromHost = (method, url, flatHeaders, body) => {
      const r = new Request(url);
      r.#method = normalizeMethod(method);
      // The host checked and normalized them as append() would (isolate/src/tasks/head.rs).
      r.#headers = newHeadersFromHost(flatHeaders);
      r.#body = bodyFromHost(body);
      let acceptEncoding = "";
      for (let i = 0; i + 1 < flatHeaders.length; i += 2) {
        if (flatHeaders[i] === "accept-encoding") acceptEncoding = flatHeaders[i + 1];
      }
      r.#cf = incomingCf(acceptEncoding);
      return r;
    };
    requestBody = (v) => {
      if (!isObject(v) || !(#url in v)) throw new TypeError("Illegal invocation");
      return v.#body;
    };
    platformBrands.push((v) => v !== null && typeof v === "object" && #url in v);
  }
}
installBody(Request.prototype, (v) => requestBody(v), (r) => requestHeaders(r));
setTag(Request.prototype, "Request");
inspectThroughGetters(Request, ["method", "url", "headers", "redirect", "signal", "bodyUsed"]);
defineGlobal("Request", Request);

// ---- Response -----------------------------------------------------------------------------------
const NULL_BODY_STATUSES = [101, 103, 204, 205, 304];
const REDIRECT_STATUSES = [301, 302, 303, 307, 308];
let readResponseForHost; // (value, encode) -> [status, statusText, flatHeaders, body: null | Uint8Array | reader, length, socket link | null]

let newResponseFromHost; // (status, statusText, flatHeaders, bytes, url, redirected, manual = false, webSocket = null) -> Response
let responseBody; // (v) -> BodyState | null, throwing unless v is a Response
let responseHeaders; // (response) -> Headers
let responseBodyOf; // (response) -> BodyState | null (no brand check)
let responseForCache; // (value) -> [status, statusText, Headers, BodyState | null] | null (not a Response)
let responseFacts; // (value) -> { status, headers, body: BodyState | null, url, redirected } | null (not a Response)

class Response {
  #type = "default";
  #url = "";
  #redirected = false;
  #status = 200;
  #statusText = "";
  #headers;
  #body = null; // BodyState | null
  #encodeBody = "automatic"; // Cloudflare's ResponseInit.encodeBody: "manual" sends the body as is
  #webSocket = null; // Cloudflare's ResponseInit.webSocket (websocket.js), only with status 101
  constructor(body = null, init = undefined) {
    this.#initialize(init, extractBody(body));
  }
  /** The spec's "initialize a response" with an extracted body { body, type }. */
  #initialize(init, extracted) {
    let { body, type } = extracted;
    const initHeaders = dictGet(init, "headers");
    const initStatus = dictGet(init, "status");
    const initStatusText = dictGet(init, "statusText");
    const initEncodeBody = dictGet(init, "encodeBody");
    if (initEncodeBody !== undefined) {
      const mode = `${initEncodeBody}`;
      if (mode !== "automatic" && mode !== "manual") {
        throw new TypeError(`Response: encodeBody must be "automatic" or "manual", not ${JSONStringify(mode.slice(0, 40))}`);
      }
      this.#encodeBody = mode;
    }
    if (initStatus !== undefined) this.#status = Number(initStatus) & 0xffff;
    const initWebSocket = dictGet(init, "webSocket");
    if (initWebSocket !== undefined && initWebSocket !== null) {
      if (!lazyInternals("websocket").isWebSocket(initWebSocket)) throw new TypeError("Response: webSocket must be a WebSocket");
      if (this.#status !== 101) throw new TypeError("Response: a response with a webSocket must have the status 101");
      this.#webSocket = initWebSocket;
    } else if (this.#status === 101) {
      throw new RangeError("Response: the status 101 is only for a response with a webSocket (new Response(null, { status: 101, webSocket }))");
    }
    if (this.#status !== 101 && (this.#status < 200 || this.#status > 599)) {
      throw new RangeError(`Response: status ${this.#status} is outside the range [200, 599]`);
    }
    if (initStatusText !== undefined) {
      this.#statusText = toByteString(initStatusText, "Response");
      if (!/^[\t\x20-\x7e\x80-\xff]*$/.test(this.#statusText)) throw new TypeError("Response: invalid statusText");
    }
    this.#headers = new Headers(initHeaders);
    if (body !== null && NULL_BODY_STATUSES.includes(this.#status)) {
      // As workerd (the standard throws here): an empty body of known length is no body, so the
      // common `new Response("", { status: 204 })` works; a stream or a non-empty body throws.
      if (body.bytes === null || typedArrayLength(body.bytes) !== 0) {
        throw new TypeError(`Response: a response with status ${this.#status} cannot have a body`);
      }
      body = null;
      type = null;
    }
    if (type !== null && !this.#headers.has("content-type")) this.#headers.append("content-type", type);
    this.#body = body;
  }
  static error() {
    const r = new Response();
    r.#type = "error";
    r.#status = 0;
    r.#headers = newHeadersWithGuard([], true);
    return r;
  }
  static redirect(url, status = 302) {
    requireArgs(arguments.length, 1, "Response.redirect");
    const record = parseURL(toUSVString(url), null);
    if (record === null) throw new TypeError(`Response.redirect: invalid URL ${JSONStringify(`${url}`.slice(0, 200))}`);
    const code = Number(status) & 0xffff;
    if (!REDIRECT_STATUSES.includes(code)) throw new RangeError(`Response.redirect: invalid status ${code}`);
    const r = new Response(null, { status: code });
    r.#headers = newHeadersWithGuard([["location", serializeURL(record, false)]], true);
    return r;
  }
  static json(data, init = undefined) {
    requireArgs(arguments.length, 1, "Response.json");
    const text = JSONStringify(data);
    if (text === undefined) throw new TypeError("Response.json: the data is not JSON serializable");
    const r = new Response();
    r.#initialize(init, { body: bodyFromBytes(utf8Encode(text)), type: "application/json" });
    return r;
  }
  get type() { return this.#type; }
  get url() { return this.#url; }
  get redirected() { return this.#redirected; }
  get status() { return this.#status; }
  get ok() { return this.#status >= 200 && this.#status <= 299; }
  get statusText() { return this.#statusText; }
  get headers() { return this.#headers; }
  get webSocket() { return this.#webSocket; }
  clone() {
    if (this.#webSocket !== null) throw new TypeError("Response.clone: a response with a webSocket cannot be cloned");
    if (bodyUnusable(this.#body)) throw new TypeError("Response.clone: the body has already been used");
    const copy = new Response();
    copy.#type = this.#type;
    copy.#status = this.#status;
    copy.#statusText = this.#statusText;
    copy.#url = this.#url;
    copy.#redirected = this.#redirected;
    copy.#encodeBody = this.#encodeBody;
    copy.#headers = newHeadersWithGuard(headersList(this.#headers), this.#type === "error");
    copy.#body = cloneBody(this.#body);
    return copy;
  }
  static {
    responseHeaders = (r) => r.#headers;
    // `manual`: an outbound fetch's answer asked with encodeResponseBody: "manual", which (as in
    // workerd) is returned to a client as it is (encodeBody: "manual"), not encoded again.
    newResponseFromHost = (status, statusText, flatHeaders, bytes, url, redirected, manual = false, webSocket = null) => {
      const r = new Response();
      r.#type = "basic";
      r.#status = status;
      r.#statusText = statusText;
      const pairs = [];
      for (let i = 0; i + 1 < flatHeaders.length; i += 2) pairs.push([flatHeaders[i], flatHeaders[i + 1]]);
      r.#headers = newHeadersWithGuard(pairs, true);
      r.#url = url;
      r.#redirected = redirected;
      if (manual === true) r.#encodeBody = "manual";
      r.#webSocket = webSocket; // an outbound fetch's 101 (fetch-outbound.js), else null
      // `bytes`: the whole body, or a { pull, cancel } source for one that streams.
      r.#body = NULL_BODY_STATUSES.includes(status) ? null : bodyFromHost(bytes);
      return r;
    };
    readResponseForHost = (value, encode) => {
      if (value === null || typeof value !== "object" || !(#status in value)) {
        throw new TypeError("the handler did not return a Response");
      }
      if (bodyUnusable(value.#body)) throw new TypeError("the handler returned a Response whose body is already used or locked");
      const pairs = headersPairs(value.#headers);
      // For a client, a body is encoded as its Content-Encoding says (gzip or br), unless the
      // handler said it already is (encodeBody: "manual"); its length is then unknown.
      let format = -1;
      if (encode && value.#body !== null && value.#encodeBody === "automatic") {
        for (let i = 0; i < pairs.length; i++) {
          if (pairs[i][0] === "content-encoding") format = responseEncodingFormat(pairs[i][1]);
        }
      }
      const flat = [];
      for (let i = 0; i < pairs.length; i++) {
        if (format >= 0 && pairs[i][0] === "content-length") continue;
        flat.push(pairs[i][0], pairs[i][1]);
      }
      // A FixedLengthStream's readable as the body: its length, which the stream enforces (an
      // encoded body's length is another).
      const stream = value.#body === null ? null : value.#body.stream;
      const length = format < 0 && stream !== null && stream.expectedLength !== undefined ? Number(stream.expectedLength) : undefined;
      // A webSocket goes to the client: its peer is then driven through the host (websocket.js).
      const socket = value.#webSocket === null ? null : lazyInternals("websocket").webSocketForResponse(value.#webSocket);
      const body = bodyForHost(value.#body);
      return [value.#status, value.#statusText, flat, format >= 0 ? encodedBodyForHost(body, format) : body, length, socket];
    };
    responseBodyOf = (r) => r.#body;
    responseForCache = (v) => (v !== null && typeof v === "object" && #status in v ? [v.#status, v.#statusText, v.#headers, v.#body] : null);
    responseFacts = (v) => (v !== null && typeof v === "object" && #status in v
      ? { __proto__: null, status: v.#status, headers: v.#headers, body: v.#body, url: v.#url, redirected: v.#redirected }
      : null);
    responseBody = (v) => {
      if (!isObject(v) || !(#status in v)) throw new TypeError("Illegal invocation");
      return v.#body;
    };
    platformBrands.push((v) => v !== null && typeof v === "object" && #status in v);
  }
}
installBody(Response.prototype, (v) => responseBody(v), (r) => responseHeaders(r));
setTag(Response.prototype, "Response");
inspectThroughGetters(Response, ["status", "statusText", "ok", "headers", "type", "url", "redirected", "bodyUsed", "webSocket"]);
defineGlobal("Response", Response);
