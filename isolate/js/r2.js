// ---- r2.js: an R2Bucket (Cloudflare R2's Workers API) over the r2.* host calls. -------------
// `{"binding": "r2", "bucket": "b"}` in env becomes an R2Bucket (bindings.js's makeEnv, through
// lazyInternals("r2"): this part is built on first use, isolate/src/lazy/mod.rs). The supervisor
// keeps the objects in the tenant's own files (daemon/src/storage/r2*.rs); shapes as on R2:
//   head(key) -> R2Object | null; get(key, {onlyIf, range}) -> R2ObjectBody | R2Object (onlyIf
//   failed) | null; put(key, value, {httpMetadata, customMetadata, onlyIf, md5..sha512}) ->
//   R2Object | null (onlyIf failed); delete(key | keys); list({prefix, limit, cursor,
//   delimiter, startAfter, include}) -> {objects, truncated, cursor?, delimitedPrefixes}.
//   onlyIf, range and httpMetadata also take a Headers (If-Match..., Range, Content-Type...).
//   Errors: a TypeError for a malformed argument, else an Error "<method>: <what> (<code>)".
//   createMultipartUpload(key, {httpMetadata, customMetadata}) -> R2MultipartUpload {key,
//   uploadId, uploadPart(n, value) -> {partNumber, etag}, abort(), complete(parts) -> R2Object};
//   resumeMultipartUpload(key, uploadId) (no call: a wrong id fails at the first use).
//   Left out: storage classes ("Standard").
// Bytes go up as r2-upload.js's r2Value sends them (which also holds R2MultipartUpload); a body
// comes down R2_CHUNK at a time (its first chunk with r2.get, the rest pulled with r2.read).
// Trust: the supervisor resolves the binding name against the stored definition; state is
// private (#fields) and only captured operations run on runtime state (tenant code may have
// replaced any global or prototype method).

const R2_CHUNK = 1 << 20;
const R2_HTTP_HEADERS = [
  ["content-type", "contentType"], ["content-language", "contentLanguage"],
  ["content-disposition", "contentDisposition"], ["content-encoding", "contentEncoding"],
  ["cache-control", "cacheControl"],
];
const R2_CHECKSUMS = ["md5", "sha1", "sha256", "sha384", "sha512"];

function r2Error(method) {
  return (e) => {
    const name = `${e?.name}`;
    const message = `${e?.message}`;
    const text = StringPrototypeStartsWith(message, `${method}: `) ? message : `${method}: ${message}`;
    if (name === "TypeError") return new TypeError(text);
    return new Error(text);
  };
}

const StringPrototypeStartsWith = (s, prefix) => s.length >= prefix.length && StringSlice(s, 0, prefix.length) === prefix;

function r2Own(object, name, value) {
  ObjectDefineProperty(object, name, { __proto__: null, value, writable: false, enumerable: true, configurable: false });
}

function r2DateMs(value, what) {
  try {
    return cloneDateGetTime(value);
  } catch {
    throw new TypeError(`${what} must be a Date`);
  }
}

function r2Hex(bytes) {
  let out = "";
  for (let i = 0; i < typedArrayLength(bytes); i++) out += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
  return out;
}

function r2Unhex(hex) {
  const n = hex.length >>> 1;
  const out = new ByteArray(n);
  for (let i = 0; i < n; i++) out[i] = parseInt(StringSlice(hex, 2 * i, 2 * i + 2), 16);
  return typedArrayBuffer(out);
}

/** The value of header `name` in `headers` (a Headers), or undefined. */
function r2Header(headers, name) {
  const pairs = headersPairs(headers);
  for (let i = 0; i < pairs.length; i++) if (pairs[i][0] === name) return pairs[i][1];
  return undefined;
}

function r2Conditional(onlyIf, what) {
  if (onlyIf === undefined || onlyIf === null) return null;
  const out = { __proto__: null };
  if (isHeaders(onlyIf)) {
    out.secondsGranularity = true;
    const fields = [["if-match", "etagMatches"], ["if-none-match", "etagDoesNotMatch"],
      ["if-modified-since", "uploadedAfter"], ["if-unmodified-since", "uploadedBefore"]];
    for (let i = 0; i < fields.length; i++) {
      const v = r2Header(onlyIf, fields[i][0]);
      if (v !== undefined) out[fields[i][1]] = v;
    }
    return out;
  }
  if (typeof onlyIf !== "object") throw new TypeError(`${what}: onlyIf must be an object or Headers`);
  const etags = ["etagMatches", "etagDoesNotMatch"];
  for (let i = 0; i < etags.length; i++) {
    const v = onlyIf[etags[i]];
    if (v === undefined || v === null) continue;
    if (ArrayIsArray(v)) {
      const list = [];
      for (let j = 0; j < v.length; j++) appendEntry(list, `${v[j]}`);
      out[etags[i]] = list;
    } else {
      out[etags[i]] = `${v}`;
    }
  }
  const dates = ["uploadedBefore", "uploadedAfter"];
  for (let i = 0; i < dates.length; i++) {
    const v = onlyIf[dates[i]];
    if (v !== undefined && v !== null) out[dates[i]] = r2DateMs(v, `${what}: onlyIf.${dates[i]}`);
  }
  if (onlyIf.secondsGranularity === true) out.secondsGranularity = true;
  return out;
}

function r2RangeOf(range, what) {
  if (range === undefined || range === null) return null;
  if (isHeaders(range)) return r2Header(range, "range") ?? null;
  if (typeof range !== "object") throw new TypeError(`${what}: range must be an object or Headers`);
  const out = { __proto__: null };
  const fields = ["offset", "length", "suffix"];
  for (let i = 0; i < fields.length; i++) {
    const v = range[fields[i]];
    if (v !== undefined) out[fields[i]] = +v;
  }
  return out;
}

function r2HttpMetadata(meta, what) {
  if (meta === undefined || meta === null) return null;
  const out = { __proto__: null };
  if (isHeaders(meta)) {
    for (let i = 0; i < R2_HTTP_HEADERS.length; i++) {
      const v = r2Header(meta, R2_HTTP_HEADERS[i][0]);
      if (v !== undefined) out[R2_HTTP_HEADERS[i][1]] = v;
    }
    const expires = r2Header(meta, "expires");
    if (expires !== undefined) out.cacheExpiry = expires;
    return out;
  }
  if (typeof meta !== "object") throw new TypeError(`${what}: httpMetadata must be an object or Headers`);
  for (let i = 0; i < R2_HTTP_HEADERS.length; i++) {
    const field = R2_HTTP_HEADERS[i][1];
    const v = meta[field];
    if (v !== undefined && v !== null) out[field] = `${v}`;
  }
  const expiry = meta.cacheExpiry;
  if (expiry !== undefined && expiry !== null) out.cacheExpiry = r2DateMs(expiry, `${what}: httpMetadata.cacheExpiry`);
  return out;
}

function r2CustomMetadata(meta, what) {
  if (meta === undefined || meta === null) return null;
  if (typeof meta !== "object") throw new TypeError(`${what}: customMetadata must be an object`);
  const out = { __proto__: null };
  const keys = ObjectKeys(meta);
  for (let i = 0; i < keys.length; i++) out[keys[i]] = `${meta[keys[i]]}`;
  return out;
}

/** The one checksum `options` asks a put to check: null or [name, hex]. */
function r2Checksum(options, what) {
  let found = null;
  for (let i = 0; i < R2_CHECKSUMS.length; i++) {
    const name = R2_CHECKSUMS[i];
    const v = dictGet(options, name);
    if (v === undefined || v === null) continue;
    if (found !== null) throw new TypeError(`${what}: give at most one of md5, sha1, sha256, sha384, sha512`);
    if (typeof v === "string") {
      found = [name, v];
      continue;
    }
    let view;
    try {
      view = bufferSourceBytes(v, what);
    } catch {
      throw new TypeError(`${what}: ${name} must be an ArrayBuffer, a view or a hex string`);
    }
    found = [name, r2Hex(view)];
  }
  return found;
}

/** The body of a get: its first chunk, then r2.read calls until the host says done. */
function r2BodySource(first, stream) {
  let pending = typedArrayLength(first) > 0 ? first : null;
  let ended = typeof stream !== "number";
  return {
    __proto__: null,
    async pull() {
      if (pending !== null) {
        const chunk = pending;
        pending = null;
        return chunk;
      }
      if (ended) return null;
      const reply = await bindingCall("r2.read", { stream }, null, r2Error("get"));
      if (reply[0].done === true) ended = true;
      if (typedArrayLength(reply[1]) > 0) return reply[1];
      ended = true;
      return null;
    },
    cancel() {
      pending = null;
      if (!ended) {
        ended = true;
        uponPromise(bindingCall("r2.cancel", { stream }), undefined, noop);
      }
    },
  };
}

class R2Checksums {
  #hex;
  constructor(token, hex) {
    if (token !== INTERNAL) throw new TypeError("Illegal constructor");
    this.#hex = { __proto__: null };
    for (let i = 0; i < R2_CHECKSUMS.length; i++) {
      const name = R2_CHECKSUMS[i];
      const v = hex[name];
      if (typeof v === "string") {
        this.#hex[name] = v;
        r2Own(this, name, r2Unhex(v));
      }
    }
  }
  toJSON() {
    const out = {};
    for (let i = 0; i < R2_CHECKSUMS.length; i++) {
      const v = this.#hex[R2_CHECKSUMS[i]];
      if (v !== undefined) out[R2_CHECKSUMS[i]] = v;
    }
    return out;
  }
}
setTag(R2Checksums.prototype, "R2Checksums");

class R2Object {
  #http;
  #expires;
  constructor(token, o, include = null) {
    if (token !== INTERNAL) throw new TypeError("Illegal constructor");
    const http = {};
    const h = o.httpMetadata;
    for (let i = 0; i < R2_HTTP_HEADERS.length; i++) {
      const field = R2_HTTP_HEADERS[i][1];
      if (typeof h[field] === "string") http[field] = h[field];
    }
    if (typeof h.cacheExpiry === "number") http.cacheExpiry = new Date(h.cacheExpiry);
    this.#http = http;
    this.#expires = typeof o.expires === "string" ? o.expires : null;
    const custom = {};
    const keys = ObjectKeys(o.customMetadata);
    for (let i = 0; i < keys.length; i++) custom[keys[i]] = `${o.customMetadata[keys[i]]}`;
    r2Own(this, "key", o.key);
    r2Own(this, "version", o.version);
    r2Own(this, "size", o.size);
    r2Own(this, "etag", o.etag);
    r2Own(this, "httpEtag", `"${o.etag}"`);
    r2Own(this, "uploaded", new Date(o.uploaded));
    r2Own(this, "httpMetadata", include === null || include.http ? http : {});
    r2Own(this, "customMetadata", include === null || include.custom ? custom : {});
    r2Own(this, "checksums", new R2Checksums(INTERNAL, o.checksums));
    r2Own(this, "storageClass", "Standard");
    if (o.range !== undefined) r2Own(this, "range", { offset: o.range.offset, length: o.range.length });
  }
  writeHttpMetadata(headers) {
    if (!isHeaders(headers)) throw new TypeError("R2Object.writeHttpMetadata: give a Headers");
    for (let i = 0; i < R2_HTTP_HEADERS.length; i++) {
      const v = this.#http[R2_HTTP_HEADERS[i][1]];
      if (v !== undefined) headers.set(R2_HTTP_HEADERS[i][0], v);
    }
    if (this.#expires !== null) headers.set("expires", this.#expires);
  }
}
setTag(R2Object.prototype, "R2Object");

class R2ObjectBody extends R2Object {
  #stream;
  #type;
  constructor(token, o, first, stream) {
    super(token, o);
    this.#stream = streamOverHostSource(r2BodySource(first, stream));
    const type = o.httpMetadata.contentType;
    this.#type = typeof type === "string" ? type : "";
  }
  get body() {
    return this.#stream.pub;
  }
  get bodyUsed() {
    return this.#stream.disturbed;
  }
  #bytes(what) {
    const s = this.#stream;
    if (s.disturbed || streamsInternals().IsReadableStreamLocked(s)) {
      return promiseRejectedWith(new TypeError(`R2ObjectBody.${what}: the body has already been used`));
    }
    return readAllBytes(s);
  }
  async arrayBuffer() {
    return typedArrayBuffer(await this.#bytes("arrayBuffer"));
  }
  async bytes() {
    return await this.#bytes("bytes");
  }
  async text() {
    return utf8DecodeStripBOM(await this.#bytes("text"));
  }
  async json() {
    return JSONParse(utf8DecodeStripBOM(await this.#bytes("json")));
  }
  async blob() {
    return newBlobFromBytes(await this.#bytes("blob"), this.#type);
  }
}
setTag(R2ObjectBody.prototype, "R2ObjectBody");

const r2Key = (key) => toUSVString(key);


class R2Bucket {
  #binding;
  constructor(token, binding) {
    if (token !== INTERNAL) throw new TypeError("Illegal constructor");
    this.#binding = binding;
  }
  async head(key) {
    const answer = (await bindingCall("r2.head", { binding: this.#binding, key: r2Key(key) }, null, r2Error("head")))[0];
    return answer.object === null ? null : new R2Object(INTERNAL, answer.object);
  }
  async get(key, options = undefined) {
    const head = { binding: this.#binding, key: r2Key(key) };
    const onlyIf = r2Conditional(dictGet(options, "onlyIf"), "get");
    if (onlyIf !== null) head.onlyIf = onlyIf;
    const range = r2RangeOf(dictGet(options, "range"), "get");
    if (range !== null) head.range = range;
    const reply = await bindingCall("r2.get", head, null, r2Error("get"));
    const answer = reply[0];
    if (answer.object === null) return null;
    if (answer.body !== true) return new R2Object(INTERNAL, answer.object);
    return new R2ObjectBody(INTERNAL, answer.object, reply[1], answer.stream);
  }
  async put(key, value, options = undefined) {
    const what = "put";
    const head = { binding: this.#binding, key: r2Key(key) };
    const http = r2HttpMetadata(dictGet(options, "httpMetadata"), what);
    if (http !== null) head.httpMetadata = http;
    const custom = r2CustomMetadata(dictGet(options, "customMetadata"), what);
    if (custom !== null) head.customMetadata = custom;
    const onlyIf = r2Conditional(dictGet(options, "onlyIf"), what);
    if (onlyIf !== null) head.onlyIf = onlyIf;
    const check = r2Checksum(options, what);
    if (check !== null) head.checksums = { [check[0]]: check[1] };
    const body = await r2Value(this.#binding, value, check === null ? null : check[0], head, what);
    const answer = (await r2Consume("r2.put", head, body, "put"))[0];
    return answer.object === null ? null : new R2Object(INTERNAL, answer.object);
  }
  async delete(keys) {
    const list = [];
    if (ArrayIsArray(keys)) for (let i = 0; i < keys.length; i++) appendEntry(list, r2Key(keys[i]));
    else appendEntry(list, r2Key(keys));
    if (list.length === 0) return undefined;
    await bindingCall("r2.delete", { binding: this.#binding, keys: list }, null, r2Error("delete"));
    return undefined;
  }
  async list(options = undefined) {
    const head = { binding: this.#binding };
    const fields = ["prefix", "cursor", "delimiter", "startAfter"];
    for (let i = 0; i < fields.length; i++) {
      const v = dictGet(options, fields[i]);
      if (v !== undefined && v !== null) head[fields[i]] = toUSVString(v);
    }
    const limit = dictGet(options, "limit");
    if (limit !== undefined && limit !== null) head.limit = +limit;
    const include = { http: false, custom: false };
    const asked = dictGet(options, "include");
    if (asked !== undefined && asked !== null) {
      if (!ArrayIsArray(asked)) throw new TypeError("list: include must be an array");
      for (let i = 0; i < asked.length; i++) {
        const v = `${asked[i]}`;
        if (v === "httpMetadata") include.http = true;
        else if (v === "customMetadata") include.custom = true;
        else throw new TypeError(`list: include takes "httpMetadata" and "customMetadata", not ${JSONStringify(v)}`);
      }
    }
    const answer = (await bindingCall("r2.list", head, null, r2Error("list")))[0];
    const objects = [];
    for (let i = 0; i < answer.objects.length; i++) appendEntry(objects, new R2Object(INTERNAL, answer.objects[i], include));
    const prefixes = [];
    for (let i = 0; i < answer.delimitedPrefixes.length; i++) appendEntry(prefixes, answer.delimitedPrefixes[i]);
    if (answer.truncated === true) return { objects, truncated: true, cursor: answer.cursor, delimitedPrefixes: prefixes };
    return { objects, truncated: false, delimitedPrefixes: prefixes };
  }
  async createMultipartUpload(key, options = undefined) {
    const what = "createMultipartUpload";
    const head = { binding: this.#binding, key: r2Key(key) };
    const http = r2HttpMetadata(dictGet(options, "httpMetadata"), what);
    if (http !== null) head.httpMetadata = http;
    const custom = r2CustomMetadata(dictGet(options, "customMetadata"), what);
    if (custom !== null) head.customMetadata = custom;
    const answer = (await bindingCall("r2.createMultipart", head, null, r2Error(what)))[0];
    return new R2MultipartUpload(INTERNAL, this.#binding, head.key, answer.uploadId);
  }
  resumeMultipartUpload(key, uploadId) {
    if (arguments.length < 2) throw new TypeError("resumeMultipartUpload: give a key and an uploadId");
    return new R2MultipartUpload(INTERNAL, this.#binding, r2Key(key), toUSVString(uploadId));
  }
}
setTag(R2Bucket.prototype, "R2Bucket");

shareInternals("r2", ObjectFreeze({ __proto__: null, makeR2Bucket: (binding) => new R2Bucket(INTERNAL, binding) }));
