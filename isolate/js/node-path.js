// ---- node-path.js: node:path (POSIX; the working directory is "/"; path.win32 is
// node-path-win32.js), node:url's Node-specific
// helpers, and node:string_decoder. ------------------------------------------------------------

function pathModule() {
  const validate = (p, name) => {
    if (typeof p !== "string") throw invalidArgType(name, "of type string", p);
    return p;
  };
  /** Resolves "." and ".." segments of `path` (no leading slash handling). */
  function normalizeString(path, allowAboveRoot) {
    const out = [];
    for (const seg of path.split("/")) {
      if (seg === "" || seg === ".") continue;
      if (seg === "..") {
        if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
        else if (allowAboveRoot) out.push("..");
        continue;
      }
      out.push(seg);
    }
    return out.join("/");
  }
  const isAbsolute = (p) => validate(p, "path").startsWith("/");
  function normalize(p) {
    validate(p, "path");
    if (p.length === 0) return ".";
    const absolute = p.startsWith("/");
    const trailing = p.endsWith("/");
    let out = normalizeString(p, !absolute);
    if (out.length === 0) {
      if (absolute) return "/";
      return trailing ? "./" : ".";
    }
    if (trailing) out += "/";
    return absolute ? `/${out}` : out;
  }
  function join(...parts) {
    let joined;
    for (let i = 0; i < parts.length; i++) {
      const p = validate(parts[i], `paths[${i}]`);
      if (p.length > 0) joined = joined === undefined ? p : `${joined}/${p}`;
    }
    return joined === undefined ? "." : normalize(joined);
  }
  function resolve(...parts) {
    let resolved = "";
    let absolute = false;
    for (let i = parts.length - 1; i >= -1 && !absolute; i--) {
      const p = i >= 0 ? validate(parts[i], `paths[${i}]`) : "/";
      if (p.length === 0) continue;
      resolved = `${p}/${resolved}`;
      absolute = p.startsWith("/");
    }
    const out = normalizeString(resolved, !absolute);
    return absolute ? `/${out}` : out.length > 0 ? out : ".";
  }
  function relative(from, to) {
    validate(from, "from");
    validate(to, "to");
    if (from === to) return "";
    const a = resolve(from).split("/").filter(Boolean);
    const b = resolve(to).split("/").filter(Boolean);
    let i = 0;
    while (i < a.length && i < b.length && a[i] === b[i]) i++;
    return [...a.slice(i).map(() => ".."), ...b.slice(i)].join("/");
  }
  const isSlash = (code) => code === 47;
  function dirname(p) {
    validate(p, "path");
    if (p.length === 0) return ".";
    const hasRoot = p.charCodeAt(0) === 47;
    let end = -1;
    let matchedSlash = true;
    for (let i = p.length - 1; i >= 1; i--) {
      if (p.charCodeAt(i) === 47) {
        if (!matchedSlash) {
          end = i;
          break;
        }
      } else {
        matchedSlash = false;
      }
    }
    if (end === -1) return hasRoot ? "/" : ".";
    if (hasRoot && end === 1) return "//";
    return p.slice(0, end);
  }
  function basename(p, suffix) {
    if (suffix !== undefined) validate(suffix, "suffix");
    return pathBasename(validate(p, "path"), suffix, 0, isSlash);
  }
  function extname(p) {
    const { end, startDot } = pathLastPart(validate(p, "path"), 0, 0, isSlash);
    return startDot === -1 ? "" : p.slice(startDot, end);
  }
  function parse(p) {
    validate(p, "path");
    const ret = { root: "", dir: "", base: "", ext: "", name: "" };
    if (p.length === 0) return ret;
    const absolute = p.charCodeAt(0) === 47;
    if (absolute) ret.root = "/";
    // As Node: the part's start is 0 until a separator is met (so "/.." has the extension ".").
    const { startPart, end, startDot } = pathLastPart(p, absolute ? 1 : 0, 0, isSlash);
    if (end !== -1) pathNameParts(ret, p, startPart === 0 && absolute ? 1 : startPart, end, startDot);
    if (startPart > 0) ret.dir = p.slice(0, startPart - 1);
    else if (absolute) ret.dir = "/";
    return ret;
  }
  const format = (obj) => pathFormat(obj, "/");
  const path = {
    sep: "/", delimiter: ":", normalize, join, resolve, relative, dirname, basename, extname, parse, format,
    isAbsolute, toNamespacedPath: (p) => p, matchesGlob: undefined,
  };
  delete path.matchesGlob;
  path._makeLong = path.toNamespacedPath; // Node's old name, still exported
  path.posix = path;
  path.win32 = pathWin32Module(path);
  return path;
}

const PATH_NAMES = ["sep", "delimiter", "normalize", "join", "resolve", "relative", "dirname", "basename",
  "extname", "parse", "format", "isAbsolute", "toNamespacedPath", "_makeLong", "posix", "win32"];
defineBuiltin("node:path", PATH_NAMES, pathModule);
defineBuiltin("node:path/posix", PATH_NAMES, () => builtinExports("node:path"));
defineBuiltin("node:path/win32", PATH_NAMES, () => builtinExports("node:path").win32);

defineBuiltin("node:url", ["URL", "URLSearchParams", "fileURLToPath", "pathToFileURL", "format", "parse", "Url",
  "resolve", "resolveObject", "domainToASCII", "domainToUnicode", "urlToHttpOptions"], () => {
  const URLCtor = globalThis.URL;
  function fileURLToPath(url) {
    let u = url;
    if (typeof url === "string") {
      // Node's URL refuses with ERR_INVALID_URL (and the input); the web's URL with a bare TypeError.
      try { u = new URLCtor(url); } catch { const e = nodeError(TypeError, "ERR_INVALID_URL", "Invalid URL"); e.input = url; throw e; }
    }
    if (!(u instanceof URLCtor)) throw invalidArgType("path", "of type string or an instance of URL", url);
    if (u.protocol !== "file:") throw nodeError(TypeError, "ERR_INVALID_URL_SCHEME", "The URL must be of scheme file");
    if (u.hostname !== "") throw nodeError(TypeError, "ERR_INVALID_FILE_URL_HOST", 'File URL host must be "localhost" or empty on linux');
    if (/%2f/i.test(u.pathname)) throw nodeError(TypeError, "ERR_INVALID_FILE_URL_PATH", "File URL path must not include encoded / characters");
    return decodeURIComponent(u.pathname);
  }
  // Node 20.20's encodePathChars: what a file URL's path must not hold as written (a posix path:
  // a backslash is a character, not a separator), each as Node escapes it, the rest to the parser.
  const FILE_PATH_ESCAPES = { __proto__: null, "%": "%25", "\t": "%09", "\n": "%0A", "\r": "%0D", " ": "%20",
    "\"": "%22", "#": "%23", "?": "%3F", "[": "%5B", "\\": "%5C", "]": "%5D", "^": "%5E", "|": "%7C", "~": "%7E" };
  function pathToFileURL(path) {
    let resolved = builtinExports("node:path").resolve(path);
    if (path.endsWith("/") && !resolved.endsWith("/")) resolved += "/";
    let encoded = "";
    for (let i = 0; i < resolved.length; i++) encoded += FILE_PATH_ESCAPES[resolved[i]] ?? resolved[i];
    return new URLCtor(`file://${encoded}`);
  }
  /** Node's url.format: a URL, or an object of url.parse's shape (node-url-legacy.js). */
  function format(obj, options) {
    if (typeof obj === "string") obj = legacyUrlParse(obj);
    if (obj instanceof URLCtor) {
      const u = new URLCtor(obj.href);
      if (options?.auth === false) { u.username = ""; u.password = ""; }
      if (options?.search === false) u.search = "";
      if (options?.fragment === false) u.hash = "";
      if (!options?.unicode || u.hostname === "") return u.href;
      // The host in Unicode, where the href has it: after "//" and any userinfo.
      const userinfo = u.username !== "" || u.password !== ""
        ? u.username.length + (u.password !== "" ? 1 + u.password.length : 0) + 1 : 0;
      const at = u.href.indexOf("//") + 2 + userinfo;
      return `${u.href.slice(0, at)}${domainToUnicode(u.hostname)}${u.href.slice(at + u.hostname.length)}`;
    }
    if (obj === null || typeof obj !== "object") throw invalidArgType("urlObject", "of type object or string", obj);
    return legacyFormat(obj);
  }
  /** Node's: the host a URL's hostname setter makes of `d`, "" when it refuses it. */
  function domainToASCII(d) {
    try { return new URLCtor(`ws://${d}`).hostname; } catch { return ""; }
  }
  return {
    URL: URLCtor, URLSearchParams: globalThis.URLSearchParams, fileURLToPath, pathToFileURL, format, parse: legacyUrlParse, Url,
    resolve: legacyUrlResolve,
    resolveObject: legacyUrlResolveObject,
    domainToASCII,
    // As Node's: the host parser first (a URL's hostname setter), then UTS #46 ToUnicode.
    domainToUnicode: (d) => domainToUnicode(domainToASCII(d)),
    urlToHttpOptions: (u) => ({ protocol: u.protocol, hostname: u.hostname, hash: u.hash, search: u.search,
      pathname: u.pathname, path: `${u.pathname}${u.search}`, href: u.href, port: u.port ? +u.port : undefined,
      auth: u.username ? `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}` : undefined }),
  };
});

defineBuiltin("node:string_decoder", ["StringDecoder"], () => {
  /** Node's decoder (src/string_decoder.cc), step for step, so that each write answers the same
   *  text as Node's does, not only the same text in all: a character cut by a write waits in a
   *  4-byte buffer (`lastChar`) for the bytes it lacks (`lastNeed`); utf8, utf16le and base64
   *  keep such a tail, the others decode every byte as it comes. */
  class StringDecoder {
    #tail = new Uint8Array(4);
    #buffered = 0;
    #missing = 0;
    constructor(encoding) {
      this.encoding = encodingOrThrow(encoding);
    }
    write(buf) {
      if (typeof buf === "string") return buf;
      if (typedArrayName(buf) === undefined && !isDataView(buf)) {
        throw invalidArgType("buf", "an instance of Buffer, TypedArray, or DataView", buf);
      }
      const data = bufferSourceBytes(buf, "StringDecoder.write");
      const enc = this.encoding;
      if (enc !== "utf8" && enc !== "utf16le" && enc !== "base64" && enc !== "base64url") {
        return decodeBytes(data, enc, 0, data.length);
      }
      let start = 0;
      let nread = data.length;
      let prepend = "";
      if (this.#missing > 0) {
        if (enc === "utf8") {
          // A byte that should continue the character and does not ends it (its bytes so far
          // decode as V8 decodes them), and starts the rest.
          for (let i = 0; i < nread && i < this.#missing; i++) {
            if ((data[i] & 0xc0) !== 0x80) {
              this.#missing = 0;
              this.#tail.set(data.subarray(0, i), this.#buffered);
              this.#buffered += i;
              start += i;
              nread -= i;
              break;
            }
          }
        }
        const found = nread < this.#missing ? nread : this.#missing;
        this.#tail.set(data.subarray(start, start + found), this.#buffered);
        start += found;
        nread -= found;
        this.#missing -= found;
        this.#buffered += found;
        if (this.#missing === 0) {
          prepend = decodeBytes(this.#tail, enc, 0, this.#buffered);
          this.#buffered = 0;
        }
      }
      if (nread === 0) return prepend;
      const end = start + nread;
      if (enc === "utf8" && data[end - 1] & 0x80) {
        // Back to the byte that starts the last character, if it is cut.
        for (let i = end - 1; ; i--) {
          this.#buffered++;
          if ((data[i] & 0xc0) === 0x80) {
            if (this.#buffered >= 4 || i === start) { this.#buffered = 0; break; }
          } else {
            if ((data[i] & 0xe0) === 0xc0) this.#missing = 2;
            else if ((data[i] & 0xf0) === 0xe0) this.#missing = 3;
            else if ((data[i] & 0xf8) === 0xf0) this.#missing = 4;
            else { this.#buffered = 0; break; }
            if (this.#buffered >= this.#missing) { this.#missing = 0; this.#buffered = 0; }
            this.#missing -= this.#buffered;
            break;
          }
        }
      } else if (enc === "utf16le") {
        // Half a code unit, or a high surrogate that waits for its pair.
        if (nread % 2 === 1) { this.#buffered = 1; this.#missing = 1; }
        else if ((data[end - 1] & 0xfc) === 0xd8) { this.#buffered = 2; this.#missing = 2; }
      } else if (enc === "base64" || enc === "base64url") {
        this.#buffered = nread % 3;
        if (this.#buffered > 0) this.#missing = 3 - this.#buffered;
      }
      const bodyEnd = end - this.#buffered;
      if (this.#buffered > 0) this.#tail.set(data.subarray(bodyEnd, end));
      return prepend + (bodyEnd > start ? decodeBytes(data, enc, start, bodyEnd) : "");
    }
    end(buf) {
      let out = buf === undefined ? "" : this.write(buf);
      if (this.#buffered > 0) {
        // A lone last byte of UTF-16 is dropped, as Node's flush does.
        if (this.encoding === "utf16le" && this.#buffered % 2 === 1) { this.#missing--; this.#buffered--; }
        if (this.#buffered > 0) out += decodeBytes(this.#tail, this.encoding, 0, this.#buffered);
        this.#missing = 0;
        this.#buffered = 0;
      }
      return out;
    }
    /** Node's legacy text(buf, offset): what is held is dropped, then buf from offset written. */
    text(buf, offset) {
      this.#missing = 0;
      this.#buffered = 0;
      return this.write(buf.slice(offset));
    }
    get lastChar() { return builtinExports("node:buffer").Buffer.from(typedArrayBuffer(this.#tail), 0, 4); }
    get lastNeed() { return this.#missing; }
    get lastTotal() { return this.#buffered + this.#missing; }
  }
  return { StringDecoder };
});
