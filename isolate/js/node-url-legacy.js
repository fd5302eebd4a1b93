// ---- node-url-legacy.js: node:url's legacy parse, format and resolve (the Url objects). ---------
// npm code written before the WHATWG URL (connection strings, proxies, older HTTP clients) reads
// what Node's own legacy parser gives: `port` kept as written, `auth` decoded (a password alone
// too), an IPv6 `hostname` without its brackets, `slashesDenoteHost`, the query as written or
// parsed by node:querystring, unsafe characters escaped rather than percent-encoded the WHATWG
// way; url.resolve and resolveObject as Node's (a relative base stays relative). This is that
// algorithm, written for this runtime from Node's documented behaviour and
// checked against Node 20 input by input (isolate/js/test/node-url-legacy.test.mjs). Hostnames
// with a non-ASCII code point or an `xn--` label go through the URL parser's UTS #46 op, as Node
// sends them through its IDNA; one it refuses is ERR_INVALID_URL, as in Node.
// Lazy (the node group): the top level below defines functions and regular expressions only.

/** Node's `Url`: every field null until parse() sets it. */
function Url() {
  this.protocol = null;
  this.slashes = null;
  this.auth = null;
  this.host = null;
  this.port = null;
  this.hostname = null;
  this.hash = null;
  this.search = null;
  this.query = null;
  this.pathname = null;
  this.path = null;
  this.href = null;
}

const LEGACY_PROTOCOL = /^[a-z0-9.+-]+:/i;
const LEGACY_PORT = /:[0-9]*$/;
const LEGACY_HOST = /^\/\/[^@/]+@[^@/]+/;
const LEGACY_SIMPLE_PATH = /^(\/\/?(?!\/)[^?\s]*)(\?[^\s]*)?$/;
// Characters Node refuses in a hostname after IDNA (spoofing), and in an IPv6 one.
const LEGACY_FORBIDDEN_HOST = /[\0\t\n\r #%/:<>?@[\\\]^|]/;
const LEGACY_FORBIDDEN_HOST_IPV6 = /[\0\t\n\r #%/<>?@\\^|]/;
const LEGACY_HOSTNAME_MAX = 255;

function legacySlashed(protocol) {
  switch (protocol) {
    case "http": case "http:": case "https": case "https:": case "ftp": case "ftp:": case "gopher":
    case "gopher:": case "file": case "file:": case "ws": case "ws:": case "wss": case "wss:":
      return true;
    default:
      return false;
  }
}
const legacyHostless = (protocol) => protocol === "javascript" || protocol === "javascript:";

/** Whitespace url.parse trims from both ends: space, tab, CR, LF, FF, NBSP, BOM. */
function legacyIsSpace(code) {
  return code === 32 || code === 9 || code === 13 || code === 10 || code === 12 || code === 0xa0 || code === 0xfeff;
}

/** The delimiters and "unwise" characters of RFC 2396 (and quotes) Node escapes in a path. */
function legacyEscape(code) {
  switch (code) {
    case 9: return "%09";
    case 10: return "%0A";
    case 13: return "%0D";
    case 32: return "%20";
    case 34: return "%22";
    case 39: return "%27";
    case 60: return "%3C";
    case 62: return "%3E";
    case 92: return "%5C";
    case 94: return "%5E";
    case 96: return "%60";
    case 123: return "%7B";
    case 124: return "%7C";
    case 125: return "%7D";
    default: return "";
  }
}

function legacyAutoEscape(rest) {
  let out = "";
  let last = 0;
  for (let i = 0; i < rest.length; i++) {
    const escaped = legacyEscape(rest.charCodeAt(i));
    if (escaped !== "") {
      out += rest.slice(last, i) + escaped;
      last = i + 1;
    }
  }
  return last === 0 ? rest : out + rest.slice(last);
}

/** Whether a character in the host part is never a hostname's (RFC 2396), and so ends it. */
function legacyNonHost(code) {
  switch (code) {
    case 32: case 34: case 37: case 39: case 59: case 60: case 62: case 92: case 94: case 96: case 123: case 124: case 125:
      return true;
    default:
      return false;
  }
}

const legacyIsIpv6 = (hostname) => hostname.charCodeAt(0) === 91 && hostname.charCodeAt(hostname.length - 1) === 93;

/** url.parse's hostname to ASCII: an ASCII hostname with no `xn--` label as it is (already
 *  lower-cased), any other through UTS #46 ("" when refused). */
function legacyToASCII(hostname) {
  if (!NOT_FAST_DOMAIN.test(hostname)) return hostname;
  try {
    return utf8Decode(callOp(URL_HOST_OP.toAscii, [utf8Encode(hostname)]));
  } catch {
    return "";
  }
}

function invalidUrl(input) {
  const e = nodeError(TypeError, "ERR_INVALID_URL", "Invalid URL");
  e.input = input;
  return e;
}

/** Node's Url.prototype.parse, on a fresh Url. */
function legacyParse(self, url, parseQueryString, slashesDenoteHost) {
  // Trim; backslashes before the first '?' or '#' become slashes (as browsers read them).
  let hasHash = false;
  let hasAt = false;
  let start = -1;
  let end = -1;
  let rest = "";
  let lastPos = 0;
  for (let i = 0, inSpace = false, split = false; i < url.length; i++) {
    const code = url.charCodeAt(i);
    const space = legacyIsSpace(code);
    if (start === -1) {
      if (space) continue;
      lastPos = start = i;
    } else if (inSpace) {
      if (!space) { end = -1; inSpace = false; }
    } else if (space) {
      end = i;
      inSpace = true;
    }
    if (!split) {
      if (code === 64) hasAt = true;
      else if (code === 35) { hasHash = true; split = true; }
      else if (code === 63) split = true;
      else if (code === 92) {
        if (i - lastPos > 0) rest += url.slice(lastPos, i);
        rest += "/";
        lastPos = i + 1;
      }
    } else if (!hasHash && code === 35) {
      hasHash = true;
    }
  }
  if (start !== -1) {
    if (lastPos === start) rest = end === -1 ? url.slice(start) : url.slice(start, end);
    else if (end === -1 && lastPos < url.length) rest += url.slice(lastPos);
    else if (end !== -1 && lastPos < end) rest += url.slice(lastPos, end);
  }

  if (!slashesDenoteHost && !hasHash && !hasAt) {
    const simple = LEGACY_SIMPLE_PATH.exec(rest);
    if (simple) {
      self.path = rest;
      self.href = rest;
      self.pathname = simple[1];
      if (simple[2]) {
        self.search = simple[2];
        self.query = parseQueryString ? builtinExports("node:querystring").parse(self.search.slice(1)) : self.search.slice(1);
      } else if (parseQueryString) {
        self.search = null;
        self.query = { __proto__: null };
      }
      return self;
    }
  }

  let proto = LEGACY_PROTOCOL.exec(rest);
  let lowerProto;
  if (proto) {
    proto = proto[0];
    lowerProto = proto.toLowerCase();
    self.protocol = lowerProto;
    rest = rest.slice(proto.length);
  }

  // user@server is always a host; "//x" is one with slashesDenoteHost or a protocol.
  let slashes = false;
  if (slashesDenoteHost || proto || LEGACY_HOST.test(rest)) {
    slashes = rest.charCodeAt(0) === 47 && rest.charCodeAt(1) === 47;
    if (slashes && !(proto && legacyHostless(lowerProto))) {
      rest = rest.slice(2);
      self.slashes = true;
    }
  }

  if (!legacyHostless(lowerProto) && (slashes || (proto && !legacySlashed(proto)))) {
    // The host ends at the first '/', '?' or '#'; characters never in a hostname end it too,
    // unless an '@' after them makes them part of the auth (the last '@' decides). Tabs, line
    // feeds and carriage returns up to the host's end are dropped, as the WHATWG parser does
    // (Node 20.20).
    let hostEnd = -1;
    let atSign = -1;
    let nonHost = -1;
    for (let i = 0; i < rest.length && hostEnd === -1; i++) {
      const code = rest.charCodeAt(i);
      if (code === 9 || code === 10 || code === 13) {
        rest = rest.slice(0, i) + rest.slice(i + 1);
        i--;
      } else if (code === 35 || code === 47 || code === 63) {
        if (nonHost === -1) nonHost = i;
        hostEnd = i;
      } else if (code === 64) {
        atSign = i;
        nonHost = -1;
      } else if (legacyNonHost(code) && nonHost === -1) {
        nonHost = i;
      }
    }
    let from = 0;
    if (atSign !== -1) {
      self.auth = decodeURIComponent(rest.slice(0, atSign));
      from = atSign + 1;
    }
    if (nonHost === -1) {
      self.host = rest.slice(from);
      rest = "";
    } else {
      self.host = rest.slice(from, nonHost);
      rest = rest.slice(nonHost);
    }
    legacyParseHost(self);
    if (typeof self.hostname !== "string") self.hostname = "";
    const hostname = self.hostname;
    const ipv6 = legacyIsIpv6(hostname);
    if (!ipv6) {
      // A '/', '\\', '#', '?' or ':' left in the hostname starts the path.
      for (let i = 0; i < hostname.length; i++) {
        const code = hostname.charCodeAt(i);
        if (code === 47 || code === 92 || code === 35 || code === 63 || code === 58) {
          self.hostname = hostname.slice(0, i);
          rest = `/${hostname.slice(i)}${rest}`;
          break;
        }
      }
    }
    self.hostname = self.hostname.length > LEGACY_HOSTNAME_MAX ? "" : self.hostname.toLowerCase();
    if (self.hostname !== "") {
      if (ipv6) {
        if (LEGACY_FORBIDDEN_HOST_IPV6.test(self.hostname)) throw invalidUrl(url);
      } else {
        self.hostname = legacyToASCII(self.hostname);
        if (self.hostname === "" || LEGACY_FORBIDDEN_HOST.test(self.hostname)) throw invalidUrl(url);
      }
    }
    self.host = `${self.hostname || ""}${self.port ? `:${self.port}` : ""}`;
    if (ipv6) {
      self.hostname = self.hostname.slice(1, -1);
      if (rest[0] !== "/") rest = `/${rest}`;
    }
  }

  if (lowerProto !== "javascript" && lowerProto !== "javascript:") rest = legacyAutoEscape(rest);

  let question = -1;
  let hash = -1;
  for (let i = 0; i < rest.length; i++) {
    const code = rest.charCodeAt(i);
    if (code === 35) {
      self.hash = rest.slice(i);
      hash = i;
      break;
    }
    if (code === 63 && question === -1) question = i;
  }
  if (question !== -1) {
    self.search = hash === -1 ? rest.slice(question) : rest.slice(question, hash);
    self.query = hash === -1 ? rest.slice(question + 1) : rest.slice(question + 1, hash);
    if (parseQueryString) self.query = builtinExports("node:querystring").parse(self.query);
  } else if (parseQueryString) {
    self.search = null;
    self.query = { __proto__: null };
  }
  const first = question !== -1 && (hash === -1 || question < hash) ? question : hash;
  if (first === -1) {
    if (rest.length > 0) self.pathname = rest;
  } else if (first > 0) {
    self.pathname = rest.slice(0, first);
  }
  if (legacySlashed(lowerProto) && self.hostname && !self.pathname) self.pathname = "/";
  if (self.pathname || self.search) self.path = `${self.pathname || ""}${self.search || ""}`;
  self.href = legacyFormat(self);
  return self;
}

/** Url.prototype.parseHost: a trailing ":digits" is the port (":" alone is dropped). */
function legacyParseHost(self) {
  let host = self.host;
  const port = LEGACY_PORT.exec(host);
  if (port) {
    if (port[0] !== ":") self.port = port[0].slice(1);
    host = host.slice(0, host.length - port[0].length);
  }
  if (host) self.hostname = host;
}

/** Node's Url.prototype.format, of a Url or any object of its shape. */
function legacyFormat(self) {
  let auth = self.auth || "";
  if (auth) {
    try {
      auth = `${encodeURIComponent(auth).replace(/%3A/gi, ":")}@`;
    } catch (e) {
      // A lone surrogate: Node's encodeStr says so with a code.
      if (e instanceof URIError) throw nodeError(URIError, "ERR_INVALID_URI", "URI malformed");
      throw e;
    }
  }
  let protocol = self.protocol || "";
  let pathname = self.pathname || "";
  let hash = self.hash || "";
  let host = "";
  let query = "";
  if (self.host) {
    host = auth + self.host;
  } else if (self.hostname) {
    const h = self.hostname;
    host = auth + (h.includes(":") && !legacyIsIpv6(h) ? `[${h}]` : h);
    if (self.port) host += `:${self.port}`;
  }
  if (self.query !== null && typeof self.query === "object") query = builtinExports("node:querystring").stringify(self.query);
  let search = self.search || (query && `?${query}`) || "";
  if (protocol && protocol.charCodeAt(protocol.length - 1) !== 58) protocol += ":";
  // Node escapes "#" and "?" in a string pathname; another value (a number) is used as it is.
  if (typeof pathname === "string") pathname = pathname.replace(/[#?]/g, (c) => (c === "#" ? "%23" : "%3F"));
  // Only the slashed protocols get "//" (not mailto:, xmpp:...), unless they had them.
  if (self.slashes || legacySlashed(protocol)) {
    if (self.slashes || host) {
      if (pathname && pathname.charCodeAt(0) !== 47) pathname = `/${pathname}`;
      host = `//${host}`;
    } else if (protocol.length >= 4 && protocol.startsWith("file")) {
      host = "//";
    }
  }
  search = search.replace(/#/g, "%23");
  if (hash && hash.charCodeAt(0) !== 35) hash = `#${hash}`;
  if (search && search.charCodeAt(0) !== 63) search = `?${search}`;
  return protocol + host + pathname + search + hash;
}

Url.prototype.parse = function parse(url, parseQueryString, slashesDenoteHost) {
  if (typeof url !== "string") throw invalidArgType("url", "of type string", url);
  return legacyParse(this, url, parseQueryString, slashesDenoteHost);
};
Url.prototype.format = function format() { return legacyFormat(this); };
Url.prototype.parseHost = function parseHost() { legacyParseHost(this); };

/** Removes `list[i]` in place. */
function legacyRemoveAt(list, i) {
  for (let k = i; k + 1 < list.length; k++) list[k] = list[k + 1];
  list.length--;
}

/** The path `result.path` is: pathname then search, when either is set. */
function legacySetPath(result) {
  if (result.pathname !== null || result.search !== null) {
    result.path = (result.pathname ? result.pathname : "") + (result.search ? result.search : "");
  }
}

/** After a hostless scheme's path gave the host back: "user@host" splits into auth and host. */
function legacyAuthFromHost(result) {
  const at = result.host && result.host.indexOf("@") > 0 ? result.host.split("@") : false;
  if (at) {
    result.auth = at.shift();
    result.host = result.hostname = at.shift();
  }
}

/** Node's Url.prototype.resolveObject: `relative` (a string or a Url) against `self`, RFC
 *  1808's way with Node's particulars (a relative base stays relative, dots above the root are
 *  kept for a relative result, a scheme without "//" carries its host in its path). */
function legacyResolveObject(self, relative) {
  if (typeof relative === "string") relative = legacyParse(new Url(), relative, false, true);
  const result = new Url();
  const own = ObjectKeys(self);
  for (let i = 0; i < own.length; i++) result[own[i]] = self[own[i]];
  // The fragment always comes from the relative reference, even an empty one.
  result.hash = relative.hash;
  if (relative.href === "") {
    result.href = legacyFormat(result);
    return result;
  }
  // "//host/path": everything but the scheme comes from the relative reference.
  if (relative.slashes && !relative.protocol) {
    const keys = ObjectKeys(relative);
    for (let i = 0; i < keys.length; i++) if (keys[i] !== "protocol") result[keys[i]] = relative[keys[i]];
    if (legacySlashed(result.protocol) && result.hostname && !result.pathname) result.path = result.pathname = "/";
    result.href = legacyFormat(result);
    return result;
  }
  if (relative.protocol && relative.protocol !== result.protocol) {
    // Another scheme: a non-special one is taken whole; a special one keeps only what it has.
    if (!legacySlashed(relative.protocol)) {
      const keys = ObjectKeys(relative);
      for (let i = 0; i < keys.length; i++) result[keys[i]] = relative[keys[i]];
      result.href = legacyFormat(result);
      return result;
    }
    result.protocol = relative.protocol;
    if (!relative.host && !/^file:?$/.test(relative.protocol) && !legacyHostless(relative.protocol)) {
      // "http:path": its first path segment is the host.
      const relPath = (relative.pathname || "").split("/");
      while (relPath.length && !(relative.host = relPath.shift()));
      if (!relative.host) relative.host = "";
      if (!relative.hostname) relative.hostname = "";
      if (relPath[0] !== "") relPath.unshift("");
      if (relPath.length < 2) relPath.unshift("");
      result.pathname = relPath.join("/");
    } else {
      result.pathname = relative.pathname;
    }
    result.search = relative.search;
    result.query = relative.query;
    result.host = relative.host || "";
    result.auth = relative.auth;
    result.hostname = relative.hostname || relative.host;
    result.port = relative.port;
    if (result.pathname || result.search) result.path = (result.pathname || "") + (result.search || "");
    result.slashes = result.slashes || relative.slashes;
    result.href = legacyFormat(result);
    return result;
  }
  const isSourceAbs = result.pathname && result.pathname.charAt(0) === "/";
  const isRelAbs = relative.host || (relative.pathname && relative.pathname.charAt(0) === "/");
  let mustEndAbs = isRelAbs || isSourceAbs || (result.host && relative.pathname);
  const removeAllDots = mustEndAbs;
  let srcPath = (result.pathname && result.pathname.split("/")) || [];
  const relPath = (relative.pathname && relative.pathname.split("/")) || [];
  // A scheme without "//" (mailto:, ...) keeps its "host" as the first path segment.
  const noLeadingSlashes = result.protocol && !legacySlashed(result.protocol);
  if (noLeadingSlashes) {
    result.hostname = "";
    result.port = null;
    if (result.host) {
      if (srcPath[0] === "") srcPath[0] = result.host;
      else srcPath.unshift(result.host);
    }
    result.host = "";
    if (relative.protocol) {
      relative.hostname = null;
      relative.port = null;
      result.auth = null;
      if (relative.host) {
        if (relPath[0] === "") relPath[0] = relative.host;
        else relPath.unshift(relative.host);
      }
      relative.host = null;
    }
    mustEndAbs = mustEndAbs && (relPath[0] === "" || srcPath[0] === "");
  }
  if (isRelAbs) {
    // "/path" or a host: the relative reference's path, and its host when it has one.
    if (relative.host || relative.host === "") {
      if (result.host !== relative.host) result.auth = null;
      result.host = relative.host;
      result.port = relative.port;
    }
    if (relative.hostname || relative.hostname === "") {
      if (result.hostname !== relative.hostname) result.auth = null;
      result.hostname = relative.hostname;
    }
    result.search = relative.search;
    result.query = relative.query;
    srcPath = relPath;
  } else if (relPath.length) {
    // A relative path replaces the base's last segment.
    srcPath.pop();
    srcPath = srcPath.concat(relPath);
    result.search = relative.search;
    result.query = relative.query;
  } else if (relative.search !== null && relative.search !== undefined) {
    // Only a query: the base's path with it.
    if (noLeadingSlashes) {
      result.hostname = result.host = srcPath.shift();
      legacyAuthFromHost(result);
    }
    result.search = relative.search;
    result.query = relative.query;
    legacySetPath(result);
    result.href = legacyFormat(result);
    return result;
  }
  if (!srcPath.length) {
    result.pathname = null;
    result.path = result.search ? `/${result.search}` : null;
    result.href = legacyFormat(result);
    return result;
  }
  // Dots: "." goes, ".." takes the segment before it; above the root, kept only when the result
  // may stay relative.
  let last = srcPath.slice(-1)[0];
  const hasTrailingSlash = ((result.host || relative.host || srcPath.length > 1) && (last === "." || last === "..")) || last === "";
  let up = 0;
  for (let i = srcPath.length - 1; i >= 0; i--) {
    last = srcPath[i];
    if (last === ".") {
      legacyRemoveAt(srcPath, i);
    } else if (last === "..") {
      legacyRemoveAt(srcPath, i);
      up++;
    } else if (up) {
      legacyRemoveAt(srcPath, i);
      up--;
    }
  }
  if (!mustEndAbs && !removeAllDots) while (up--) srcPath.unshift("..");
  if (mustEndAbs && srcPath[0] !== "" && (!srcPath[0] || srcPath[0].charAt(0) !== "/")) srcPath.unshift("");
  if (hasTrailingSlash && srcPath.join("/").slice(-1) !== "/") srcPath.push("");
  const isAbsolute = srcPath[0] === "" || (srcPath[0] && srcPath[0].charAt(0) === "/");
  if (noLeadingSlashes) {
    result.hostname = result.host = isAbsolute ? "" : srcPath.length ? srcPath.shift() : "";
    legacyAuthFromHost(result);
  }
  mustEndAbs = mustEndAbs || (result.host && srcPath.length);
  if (mustEndAbs && !isAbsolute) srcPath.unshift("");
  if (!srcPath.length) {
    result.pathname = null;
    result.path = null;
  } else {
    result.pathname = srcPath.join("/");
  }
  legacySetPath(result);
  result.auth = relative.auth || result.auth;
  result.slashes = result.slashes || relative.slashes;
  result.href = legacyFormat(result);
  return result;
}

Url.prototype.resolveObject = function resolveObject(relative) { return legacyResolveObject(this, relative); };
Url.prototype.resolve = function resolve(relative) {
  return legacyFormat(legacyResolveObject(this, legacyUrlParse(relative, false, true)));
};

/** url.resolve(from, to) and url.resolveObject(source, relative), as Node's. */
function legacyUrlResolve(from, to) {
  return legacyUrlParse(from, false, true).resolve(to);
}
function legacyUrlResolveObject(source, relative) {
  if (!source) return relative;
  return legacyUrlParse(source, false, true).resolveObject(relative);
}

/** url.parse(input, parseQueryString, slashesDenoteHost). */
function legacyUrlParse(url, parseQueryString, slashesDenoteHost) {
  if (url instanceof Url) return url;
  if (typeof url !== "string") throw invalidArgType("url", "of type string", url);
  return legacyParse(new Url(), url, parseQueryString, slashesDenoteHost);
}
