// ---- cache.js: the Cache API (caches.default, caches.open), as on Workers. ------
// A Cache's match/put/delete are the host calls cache.match / cache.put / cache.delete (framed
// like the bindings': u32 LE head length, JSON head, bytes). The supervisor keeps entries per
// tenant in memory, bounded by the tenant's cache_bytes, fresh as the response's Cache-Control or
// Expires says; a response marked no-store/private or with Set-Cookie is accepted and not kept.
// Keys are GET requests by URL without its fragment; `caches.default` and each named cache are
// separate. Trust: the host checks every call natively; internal state is private (#fields) and
// no method tenant code can patch is called on the way.

const CACHE_DEFAULT = "";

/** The cache key of `request` (a Request or a URL string): [method, url without fragment]. */
function cacheKeyOf(request, what) {
  let method = "GET";
  let url;
  if (isRequest(request)) {
    const r = requestForFetch(request);
    method = r.method;
    url = r.url;
  } else {
    url = toUSVString(request);
  }
  const record = parseURL(url, null);
  if (record === null) throw new TypeError(`${what}: invalid URL ${JSONStringify(`${url}`.slice(0, 200))}`);
  return [method, serializeURL(record, true)];
}

class Cache {
  #name;
  constructor(token, name) {
    if (token !== INTERNAL) throw new TypeError("Illegal constructor");
    this.#name = name;
  }
  async match(request, options = undefined) {
    requireArgs(arguments.length, 1, "Cache.match");
    const [method, url] = cacheKeyOf(request, "Cache.match");
    if (method !== "GET" && dictGet(options, "ignoreMethod") !== true) return undefined;
    const [head, bytes] = await bindingCall("cache.match", { cache: this.#name, url });
    if (head.hit !== true) return undefined;
    const flat = [];
    const pairs = head.headers;
    for (let i = 0; i < pairs.length; i++) flat.push(`${pairs[i][0]}`, `${pairs[i][1]}`);
    return newResponseFromHost(head.status | 0, `${head.statusText}`, flat, bytes, "", false);
  }
  async put(request, response) {
    requireArgs(arguments.length, 2, "Cache.put");
    const [method, url] = cacheKeyOf(request, "Cache.put");
    if (method !== "GET") throw new TypeError("Cache.put: only GET requests can be cached");
    const parts = responseForCache(response);
    if (parts === null) throw new TypeError("Cache.put: the second argument must be a Response");
    const [status, statusText, headers, body] = parts;
    if (status === 206) throw new TypeError("Cache.put: a partial response (206) cannot be cached");
    const flat = [];
    const pairs = headersPairs(headers);
    for (let i = 0; i < pairs.length; i++) {
      const name = pairs[i][0];
      const value = pairs[i][1];
      if (name === "vary" && value.trim() === "*") throw new TypeError("Cache.put: a response with Vary: * cannot be cached");
      flat.push([name, value]);
    }
    if (bodyUnusable(body)) throw new TypeError("Cache.put: the response body has already been used");
    const bytes = body === null ? EMPTY_BYTES : await bodyBytes(body);
    await bindingCall("cache.put", { cache: this.#name, url, status, statusText, headers: flat }, bytes);
    return undefined;
  }
  async delete(request, options = undefined) {
    requireArgs(arguments.length, 1, "Cache.delete");
    const [method, url] = cacheKeyOf(request, "Cache.delete");
    if (method !== "GET" && dictGet(options, "ignoreMethod") !== true) return false;
    const [head] = await bindingCall("cache.delete", { cache: this.#name, url });
    return head.deleted === true;
  }
}
setTag(Cache.prototype, "Cache");

class CacheStorage {
  #default;
  constructor(token) {
    if (token !== INTERNAL) throw new TypeError("Illegal constructor");
    this.#default = new Cache(INTERNAL, CACHE_DEFAULT);
  }
  /** Workers' shared default cache. */
  get default() {
    return this.#default;
  }
  /** A named cache (its own key space, apart from `default`). */
  async open(name) {
    requireArgs(arguments.length, 1, "CacheStorage.open");
    return new Cache(INTERNAL, `/${toUSVString(name)}`);
  }
}
setTag(CacheStorage.prototype, "CacheStorage");
defineGlobal("Cache", Cache);
defineGlobal("CacheStorage", CacheStorage);
defineGlobal("caches", new CacheStorage(INTERNAL));
