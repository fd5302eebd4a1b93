// ---- url.js: URL and URLSearchParams (WHATWG URL standard API). ------------------
// A URL owns its record privately; its searchParams object is created on first access and stays
// live-linked both ways (mutating the params rewrites the query; setting search/href replaces the
// params' list).

function requireArgs(got, n, what) {
  if (got < n) throw new TypeError(`${what}: ${n} argument${n > 1 ? "s" : ""} required, but only ${got} present`);
}

/** application/x-www-form-urlencoded parser: a string in, [name, value] pairs out. */
function parseFormURLEncoded(input) {
  const list = [];
  for (const sequence of input.split("&")) {
    if (sequence === "") continue;
    const eq = sequence.indexOf("=");
    const name = eq === -1 ? sequence : sequence.slice(0, eq);
    const value = eq === -1 ? "" : sequence.slice(eq + 1);
    list.push([
      utf8Decode(percentDecode(name.replace(/\+/g, " "))),
      utf8Decode(percentDecode(value.replace(/\+/g, " "))),
    ]);
  }
  return list;
}

const formEncode = (s) => percentEncode(s, PE_FORM).replace(/%20/g, "+");

function serializeFormURLEncoded(list) {
  let out = "";
  for (let i = 0; i < list.length; i++) {
    out += `${i ? "&" : ""}${formEncode(list[i][0])}=${formEncode(list[i][1])}`;
  }
  return out;
}

const searchParamsIterator = iteratorFactory("URLSearchParams Iterator");
let linkSearchParams; // (list, onUpdate) -> URLSearchParams, bound to the URL that owns it
let urlHrefOf; // (v) -> the href of a URL object, or undefined for anything else (node:assert)
let replaceSearchParamsList; // (params, list) -> undefined

class URLSearchParams {
  #list = [];
  #onUpdate = null;
  constructor(init = "") {
    if (init !== null && (typeof init === "object" || typeof init === "function")) {
      const method = init[SymbolIterator];
      if (method !== undefined && method !== null) {
        if (typeof method !== "function") throw new TypeError("URLSearchParams: init[Symbol.iterator] is not a function");
        for (const pair of ReflectApply(method, init, [])) {
          if (pair === null || (typeof pair !== "object" && typeof pair !== "function")) {
            throw new TypeError("URLSearchParams: each init pair must be an iterable of two strings");
          }
          const items = [...pair];
          if (items.length !== 2) throw new TypeError("URLSearchParams: each init pair must have exactly two items");
          this.#list.push([toUSVString(items[0]), toUSVString(items[1])]);
        }
      } else {
        // A record: keys equal after USVString conversion collapse into the first one's place,
        // with the last value (WebIDL's record conversion).
        const at = { __proto__: null };
        for (const key of ReflectOwnKeys(init)) {
          const d = ObjectGetOwnPropertyDescriptor(init, key);
          if (d === undefined || !d.enumerable) continue;
          const name = toUSVString(key);
          const value = toUSVString(init[key]);
          if (at[name] !== undefined) this.#list[at[name]][1] = value;
          else at[name] = this.#list.push([name, value]) - 1;
        }
      }
    } else {
      const s = toUSVString(init);
      this.#list = parseFormURLEncoded(s[0] === "?" ? s.slice(1) : s);
    }
  }
  #update() {
    if (this.#onUpdate !== null) this.#onUpdate(serializeFormURLEncoded(this.#list));
  }
  get size() { return this.#list.length; }
  append(name, value) {
    requireArgs(arguments.length, 2, "URLSearchParams.append");
    this.#list.push([toUSVString(name), toUSVString(value)]);
    this.#update();
  }
  delete(name, value = undefined) {
    requireArgs(arguments.length, 1, "URLSearchParams.delete");
    const n = toUSVString(name);
    const v = value === undefined ? undefined : toUSVString(value);
    this.#list = this.#list.filter((p) => p[0] !== n || (v !== undefined && p[1] !== v));
    this.#update();
  }
  get(name) {
    requireArgs(arguments.length, 1, "URLSearchParams.get");
    const n = toUSVString(name);
    const pair = this.#list.find((p) => p[0] === n);
    return pair === undefined ? null : pair[1];
  }
  getAll(name) {
    requireArgs(arguments.length, 1, "URLSearchParams.getAll");
    const n = toUSVString(name);
    return this.#list.filter((p) => p[0] === n).map((p) => p[1]);
  }
  has(name, value = undefined) {
    requireArgs(arguments.length, 1, "URLSearchParams.has");
    const n = toUSVString(name);
    const v = value === undefined ? undefined : toUSVString(value);
    return this.#list.some((p) => p[0] === n && (v === undefined || p[1] === v));
  }
  set(name, value) {
    requireArgs(arguments.length, 2, "URLSearchParams.set");
    const n = toUSVString(name);
    const v = toUSVString(value);
    const i = this.#list.findIndex((p) => p[0] === n);
    if (i === -1) this.#list.push([n, v]);
    else {
      this.#list[i][1] = v;
      this.#list = this.#list.filter((p, j) => j <= i || p[0] !== n);
    }
    this.#update();
  }
  sort() {
    this.#list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    this.#update();
  }
  forEach(callback, thisArg = undefined) {
    if (typeof callback !== "function") throw new TypeError("URLSearchParams.forEach: callback is not a function");
    for (let i = 0; i < this.#list.length; i++) {
      ReflectApply(callback, thisArg, [this.#list[i][1], this.#list[i][0], this]);
    }
  }
  keys() { return searchParamsIterator(() => this.#list, 0); }
  values() { return searchParamsIterator(() => this.#list, 1); }
  entries() { return searchParamsIterator(() => this.#list, 2); }
  toString() { return serializeFormURLEncoded(this.#list); }
  static {
    linkSearchParams = (list, onUpdate) => {
      const params = new URLSearchParams();
      params.#list = list;
      params.#onUpdate = onUpdate;
      return params;
    };
    replaceSearchParamsList = (params, list) => { params.#list = list; };
    platformBrands.push((v) => v !== null && typeof v === "object" && #list in v);
  }
}
ObjectDefineProperty(URLSearchParams.prototype, SymbolIterator, {
  value: URLSearchParams.prototype.entries, writable: true, enumerable: false, configurable: true,
});
setTag(URLSearchParams.prototype, "URLSearchParams");
{
  const entriesOf = uncurry(URLSearchParams.prototype.entries);
  inspectHooks.set(URLSearchParams.prototype, (p) => [[...entriesOf(p)], true]);
}
defineGlobal("URLSearchParams", URLSearchParams);

/** Parses `url` against optional `base` (both tenant values); returns a record or null. */
function parseWithBase(url, base) {
  let baseRecord = null;
  if (base !== undefined) {
    baseRecord = parseURL(toUSVString(base), null);
    if (baseRecord === null) return null;
  }
  return parseURL(toUSVString(url), baseRecord);
}

const cannotHaveCredentialsOrPort = (u) => u.host === null || u.host === "" || u.scheme === "file";

class URL {
  #url;
  #params = null;
  constructor(url, base = undefined) {
    requireArgs(arguments.length, 1, "URL");
    const record = parseWithBase(url, base);
    if (record === null) throw new TypeError(`Invalid URL: ${JSONStringify(`${url}`.slice(0, 200))}`);
    this.#url = record;
  }
  static canParse(url, base = undefined) {
    requireArgs(arguments.length, 1, "URL.canParse");
    return parseWithBase(url, base) !== null;
  }
  static parse(url, base = undefined) {
    requireArgs(arguments.length, 1, "URL.parse");
    return parseWithBase(url, base) === null ? null : new URL(url, base);
  }
  /** After the query changed through the URL, refresh the params' list. */
  #queryChanged() {
    if (this.#params !== null) replaceSearchParamsList(this.#params, parseFormURLEncoded(this.#url.query ?? ""));
  }
  get href() { return serializeURL(this.#url, false); }
  set href(value) {
    const record = parseURL(toUSVString(value), null);
    if (record === null) throw new TypeError(`Invalid URL: ${JSONStringify(`${value}`.slice(0, 200))}`);
    this.#url = record;
    this.#queryChanged();
  }
  get origin() {
    const u = this.#url;
    if (u.scheme === "blob") {
      const inner = parseURL(serializePath(u), null);
      return inner !== null && (inner.scheme === "http" || inner.scheme === "https")
        ? `${inner.scheme}://${inner.host}${inner.port === null ? "" : `:${inner.port}`}` : "null";
    }
    if (!isSpecialScheme(u.scheme) || u.scheme === "file") return "null";
    return `${u.scheme}://${u.host}${u.port === null ? "" : `:${u.port}`}`;
  }
  get protocol() { return `${this.#url.scheme}:`; }
  set protocol(value) { parseURL(`${toUSVString(value)}:`, null, this.#url, S_SCHEME_START); }
  get username() { return this.#url.username; }
  set username(value) {
    if (!cannotHaveCredentialsOrPort(this.#url)) this.#url.username = percentEncode(toUSVString(value), PE_USERINFO);
  }
  get password() { return this.#url.password; }
  set password(value) {
    if (!cannotHaveCredentialsOrPort(this.#url)) this.#url.password = percentEncode(toUSVString(value), PE_USERINFO);
  }
  get host() {
    const u = this.#url;
    return u.host === null ? "" : u.port === null ? u.host : `${u.host}:${u.port}`;
  }
  set host(value) {
    if (typeof this.#url.path !== "string") parseURL(toUSVString(value), null, this.#url, S_HOST);
  }
  get hostname() { return this.#url.host ?? ""; }
  set hostname(value) {
    if (typeof this.#url.path !== "string") parseURL(toUSVString(value), null, this.#url, S_HOSTNAME);
  }
  get port() { return this.#url.port === null ? "" : `${this.#url.port}`; }
  set port(value) {
    if (cannotHaveCredentialsOrPort(this.#url)) return;
    const s = toUSVString(value);
    if (s === "") this.#url.port = null;
    else parseURL(s, null, this.#url, S_PORT);
  }
  get pathname() { return serializePath(this.#url); }
  set pathname(value) {
    if (typeof this.#url.path === "string") return;
    this.#url.path = [];
    parseURL(toUSVString(value), null, this.#url, S_PATH_START);
  }
  get search() { const q = this.#url.query; return q === null || q === "" ? "" : `?${q}`; }
  set search(value) {
    const s = toUSVString(value);
    if (s === "") {
      this.#url.query = null;
    } else {
      this.#url.query = "";
      parseURL(s[0] === "?" ? s.slice(1) : s, null, this.#url, S_QUERY);
    }
    this.#queryChanged();
  }
  get searchParams() {
    if (this.#params === null) {
      this.#params = linkSearchParams(parseFormURLEncoded(this.#url.query ?? ""), (serialized) => {
        this.#url.query = serialized === "" ? null : serialized;
      });
    }
    return this.#params;
  }
  get hash() { const f = this.#url.fragment; return f === null || f === "" ? "" : `#${f}`; }
  set hash(value) {
    const s = toUSVString(value);
    if (s === "") {
      this.#url.fragment = null;
      return;
    }
    this.#url.fragment = "";
    parseURL(s[0] === "#" ? s.slice(1) : s, null, this.#url, S_FRAGMENT);
  }
  toString() { return serializeURL(this.#url, false); }
  toJSON() { return serializeURL(this.#url, false); }
  static {
    platformBrands.push((v) => v !== null && typeof v === "object" && #url in v);
    urlHrefOf = (v) => (v !== null && typeof v === "object" && #url in v ? serializeURL(v.#url, false) : undefined);
  }
}
setTag(URL.prototype, "URL");
inspectThroughGetters(URL, ["href", "origin", "protocol", "username", "password", "host", "hostname",
  "port", "pathname", "search", "searchParams", "hash"]);
defineGlobal("URL", URL);
