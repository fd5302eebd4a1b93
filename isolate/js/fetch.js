// ---- fetch.js (part 13 of 14): Headers, Request, Response (Fetch standard subset), fetch. ----------
// Bodies are fully buffered byte arrays (no streams): a body is extracted (and copied) once at
// construction and can be consumed once. Internal byte arrays never reach tenant code; consumers
// get copies. Headers guards: "none" or "immutable" (Response.error/redirect); there are no
// forbidden header names, as in server-side runtimes.

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

class Headers {
  #list = []; // [lower-case name, normalized value], in insertion order
  #immutable = false;
  #sorted = null; // cache of sort-and-combine, dropped on mutation
  constructor(init = undefined) {
    if (init === undefined) return;
    if (init === null || (typeof init !== "object" && typeof init !== "function")) {
      throw new TypeError("Headers: init must be a sequence of pairs or a record");
    }
    if (#list in init) {
      this.#list = init.#list.map((p) => [p[0], p[1]]);
      return;
    }
    const method = init[SymbolIterator];
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
    newHeadersWithGuard = (list, immutable) => {
      const h = new Headers();
      h.#list = list.map((p) => [p[0], p[1]]);
      h.#immutable = immutable;
      return h;
    };
    platformBrands.push(isHeaders);
  }
}
ObjectDefineProperty(Headers.prototype, SymbolIterator, {
  value: Headers.prototype.entries, writable: true, enumerable: false, configurable: true,
});
setTag(Headers.prototype, "Headers");
inspectHooks.set(Headers.prototype, (h) => [headersPairs(h), false]);
defineGlobal("Headers", Headers);

// ---- bodies -------------------------------------------------------------------------------------
const bodies = new WeakMap(); // Request | Response -> { bytes: Uint8Array | null, used: boolean }
const searchParamsToString = uncurry(URLSearchParams.prototype.toString);
const isURLSearchParams = (v) => { try { searchParamsToString(v); return true; } catch { return false; } };

/** Extracts a body: { bytes: Uint8Array (private copy) | null, type: default Content-Type | null }. */
function extractBody(init) {
  if (init === null || init === undefined) return { bytes: null, type: null };
  if (isArrayBuffer(init) || typedArrayName(init) !== undefined || isDataView(init)) {
    return { bytes: bufferSourceBytes(init, "body").slice(), type: null };
  }
  if (typeof init === "object" && isURLSearchParams(init)) {
    return { bytes: utf8Encode(searchParamsToString(init)), type: "application/x-www-form-urlencoded;charset=UTF-8" };
  }
  return { bytes: utf8Encode(toUSVString(init)), type: "text/plain;charset=UTF-8" };
}

/** Takes the bytes of a body for consumption, enforcing single use. */
function takeBody(self) {
  const body = bodies.get(self);
  if (body === undefined) throw new TypeError("Illegal invocation");
  if (body.used) throw new TypeError("Body has already been consumed.");
  if (body.bytes === null) return new Uint8Array(0);
  body.used = true;
  return body.bytes;
}

function utf8DecodeStripBOM(bytes) {
  const s = utf8Decode(bytes);
  return s.charCodeAt(0) === 0xfeff ? s.slice(1) : s;
}

/** Installs the Body mixin on a prototype. */
function installBody(proto) {
  const methods = {
    get bodyUsed() {
      const body = bodies.get(this);
      if (body === undefined) throw new TypeError("Illegal invocation");
      return body.used;
    },
    async arrayBuffer() { return takeBody(this).slice().buffer; },
    async bytes() { return takeBody(this).slice(); },
    async text() { return utf8DecodeStripBOM(takeBody(this)); },
    async json() { return JSON.parse(utf8DecodeStripBOM(takeBody(this))); },
    async blob() { takeBody(this); throw new TypeError("Blob bodies are not supported in this runtime"); },
    async formData() { takeBody(this); throw new TypeError("FormData bodies are not supported in this runtime"); },
  };
  for (const key of ReflectOwnKeys(methods)) {
    const d = ObjectGetOwnPropertyDescriptor(methods, key);
    d.enumerable = false;
    ObjectDefineProperty(proto, key, d);
  }
}

/** Copies a body state for clone(); the bytes are immutable, so sharing them is safe. */
function cloneBody(self) {
  const body = bodies.get(self);
  if (body.used) throw new TypeError("clone: the body has already been consumed");
  return { bytes: body.bytes, used: false };
}

// ---- Request ------------------------------------------------------------------------------------
const NORMALIZED_METHODS = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"];
const REDIRECT_MODES = ["follow", "error", "manual"];

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

let newRequestFromHost; // (method, url, flatHeaders, bytes | null) -> Request

let readRequestForFetch; // (request) -> [method, url, flatHeaders, bytes | null, redirect]

class Request {
  #method = "GET";
  #url;
  #headers;
  #redirect = "follow";
  constructor(input, init = undefined) {
    requireArgs(arguments.length, 1, "Request");
    const source = input !== null && typeof input === "object" && #url in input ? input : null;
    let body = null;
    if (source === null) {
      this.#url = parseRequestURL(input);
    } else {
      this.#url = source.#url;
      this.#method = source.#method;
      this.#redirect = source.#redirect;
    }
    const initHeaders = dictGet(init, "headers");
    const initBody = dictGet(init, "body");
    const initMethod = dictGet(init, "method");
    const initRedirect = dictGet(init, "redirect");
    if (initMethod !== undefined) this.#method = normalizeMethod(initMethod);
    if (initRedirect !== undefined) {
      if (!REDIRECT_MODES.includes(`${initRedirect}`)) throw new TypeError(`Request: invalid redirect mode ${initRedirect}`);
      this.#redirect = `${initRedirect}`;
    }
    this.#headers = initHeaders !== undefined ? new Headers(initHeaders)
      : newHeadersWithGuard(source === null ? [] : headersList(source.#headers), false);
    const hasBody = (initBody !== undefined && initBody !== null) || (source !== null && bodies.get(source).bytes !== null);
    if (hasBody && (this.#method === "GET" || this.#method === "HEAD")) {
      throw new TypeError("Request: a request with a GET or HEAD method cannot have a body");
    }
    if (initBody !== undefined && initBody !== null) {
      const { bytes, type } = extractBody(initBody);
      body = bytes;
      if (type !== null && !this.#headers.has("content-type")) this.#headers.append("content-type", type);
    } else if (source !== null && bodies.get(source).bytes !== null) {
      body = takeBody(source); // the new request takes over the source's body
    }
    bodies.set(this, { bytes: body, used: false });
  }
  get method() { return this.#method; }
  get url() { return this.#url; }
  get headers() { return this.#headers; }
  get redirect() { return this.#redirect; }
  clone() {
    const body = cloneBody(this);
    const copy = new Request(this.#url);
    copy.#method = this.#method;
    copy.#redirect = this.#redirect;
    copy.#headers = newHeadersWithGuard(headersList(this.#headers), false);
    bodies.set(copy, body);
    return copy;
  }
  static {
    readRequestForFetch = (r) => {
      const flat = [];
      for (const [name, v] of headersPairs(r.#headers)) flat.push(name, v);
      const bytes = bodies.get(r).bytes === null ? null : takeBody(r);
      return [r.#method, r.#url, flat, bytes, r.#redirect];
    };
    newRequestFromHost = (method, url, flatHeaders, bytes) => {
      const r = new Request(parseRequestURL(url));
      r.#method = normalizeMethod(method);
      for (let i = 0; i + 1 < flatHeaders.length; i += 2) r.#headers.append(flatHeaders[i], flatHeaders[i + 1]);
      bodies.set(r, { bytes: bytes === null ? null : new Uint8Array(bytes), used: false });
      return r;
    };
    platformBrands.push((v) => v !== null && typeof v === "object" && #url in v);
  }
}
installBody(Request.prototype);
setTag(Request.prototype, "Request");
inspectThroughGetters(Request, ["method", "url", "headers", "redirect", "bodyUsed"]);
defineGlobal("Request", Request);

// ---- Response -----------------------------------------------------------------------------------
const NULL_BODY_STATUSES = [101, 103, 204, 205, 304];
const REDIRECT_STATUSES = [301, 302, 303, 307, 308];
let readResponseForHost; // (value) -> [status, statusText, flatHeaders, bytes | null]

let newResponseFromHost; // (status, statusText, flatHeaders, bytes, url, redirected) -> Response

class Response {
  #type = "default";
  #url = "";
  #redirected = false;
  #status = 200;
  #statusText = "";
  #headers;
  constructor(body = null, init = undefined) {
    this.#initialize(init, extractBody(body));
  }
  /** The spec's "initialize a response" with an extracted body { bytes, type }. */
  #initialize(init, { bytes, type }) {
    const initHeaders = dictGet(init, "headers");
    const initStatus = dictGet(init, "status");
    const initStatusText = dictGet(init, "statusText");
    if (initStatus !== undefined) this.#status = Number(initStatus) & 0xffff;
    if (this.#status < 200 || this.#status > 599) {
      throw new RangeError(`Response: status ${this.#status} is outside the range [200, 599]`);
    }
    if (initStatusText !== undefined) {
      this.#statusText = toByteString(initStatusText, "Response");
      if (!/^[\t\x20-\x7e\x80-\xff]*$/.test(this.#statusText)) throw new TypeError("Response: invalid statusText");
    }
    this.#headers = new Headers(initHeaders);
    if (bytes !== null && NULL_BODY_STATUSES.includes(this.#status)) {
      throw new TypeError(`Response: a response with status ${this.#status} cannot have a body`);
    }
    if (type !== null && !this.#headers.has("content-type")) this.#headers.append("content-type", type);
    bodies.set(this, { bytes, used: false });
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
    r.#initialize(init, { bytes: utf8Encode(text), type: "application/json" });
    return r;
  }
  get type() { return this.#type; }
  get url() { return this.#url; }
  get redirected() { return this.#redirected; }
  get status() { return this.#status; }
  get ok() { return this.#status >= 200 && this.#status <= 299; }
  get statusText() { return this.#statusText; }
  get headers() { return this.#headers; }
  clone() {
    const body = cloneBody(this);
    const copy = new Response();
    copy.#type = this.#type;
    copy.#status = this.#status;
    copy.#statusText = this.#statusText;
    copy.#url = this.#url;
    copy.#redirected = this.#redirected;
    copy.#headers = newHeadersWithGuard(headersList(this.#headers), this.#type === "error");
    bodies.set(copy, body);
    return copy;
  }
  static {
    newResponseFromHost = (status, statusText, flatHeaders, bytes, url, redirected) => {
      const r = new Response();
      r.#type = "basic";
      r.#status = status;
      r.#statusText = statusText;
      const pairs = [];
      for (let i = 0; i + 1 < flatHeaders.length; i += 2) pairs.push([flatHeaders[i], flatHeaders[i + 1]]);
      r.#headers = newHeadersWithGuard(pairs, true);
      r.#url = url;
      r.#redirected = redirected;
      bodies.set(r, { bytes: NULL_BODY_STATUSES.includes(status) ? null : bytes, used: false });
      return r;
    };
    readResponseForHost = (value) => {
      if (value === null || typeof value !== "object" || !(#status in value)) {
        throw new TypeError("the handler did not return a Response");
      }
      const flat = [];
      for (const [name, v] of headersPairs(value.#headers)) flat.push(name, v);
      const bytes = bodies.get(value).bytes === null ? null : takeBody(value);
      return [value.#status, value.#statusText, flat, bytes];
    };
    platformBrands.push((v) => v !== null && typeof v === "object" && #status in v);
  }
}
installBody(Response.prototype);
setTag(Response.prototype, "Response");
inspectThroughGetters(Response, ["status", "statusText", "ok", "headers", "type", "url", "redirected", "bodyUsed"]);
defineGlobal("Response", Response);

// fetch(): every outbound request leaves the isolate as the host call `fetch`; the supervisor's
// egress gateway decides, adds credentials tenant code never holds, and answers. Wire format
// (both ways): u32 LE length of a JSON head, the head, then the body bytes.
const JSONParse = JSON.parse;
const ArrayBufferIsView = ArrayBuffer.isView;
const PromiseCtor = Promise;
const PromiseThen = Promise.prototype.then;

function frameForHost(head, bytes) {
  const headBytes = utf8Encode(JSONStringify(head));
  const bodyLength = bytes === null ? 0 : bytes.length;
  const out = new Uint8Array(4 + headBytes.length + bodyLength);
  const n = headBytes.length;
  out[0] = n & 0xff; out[1] = (n >>> 8) & 0xff; out[2] = (n >>> 16) & 0xff; out[3] = (n >>> 24) & 0xff;
  out.set(headBytes, 4);
  if (bytes !== null) out.set(bytes, 4 + n);
  return out;
}

function responseFromHost(reply) {
  if (!ArrayBufferIsView(reply) || reply.length < 4) throw new TypeError("fetch: malformed answer from the host");
  const n = (reply[0] | (reply[1] << 8) | (reply[2] << 16) | (reply[3] << 24)) >>> 0;
  if (4 + n > reply.length) throw new TypeError("fetch: malformed answer from the host");
  const head = JSONParse(utf8DecodeStripBOM(reply.subarray(4, 4 + n)));
  const flat = [];
  for (const [name, value] of head.headers) flat.push(`${name}`, `${value}`);
  const body = reply.slice(4 + n);
  return newResponseFromHost(head.status | 0, `${head.statusText}`, flat, body, `${head.url}`, head.redirected === true);
}

defineGlobal("fetch", function fetch(input, init = undefined) {
  return new PromiseCtor((resolve, reject) => {
    const request = new Request(input, init); // a throw here rejects, as the spec says
    const [method, url, flat, bytes, redirect] = readRequestForFetch(request);
    const headers = [];
    for (let i = 0; i + 1 < flat.length; i += 2) headers.push([flat[i], flat[i + 1]]);
    const payload = frameForHost({ method, url, headers, redirect }, bytes);
    ReflectApply(PromiseThen, hostCall("fetch", payload), [
      (reply) => {
        try { resolve(responseFromHost(reply)); } catch (e) { reject(e); }
      },
      (e) => reject(new TypeError(`fetch failed: ${e && e.message}`)),
    ]);
  });
});
