// ---- url-parser.js: the WHATWG basic URL parser and serializer. ------------------
// A straight port of https://url.spec.whatwg.org/#concept-basic-url-parser (including state
// overrides for the URL setters and the file: states). Percent-encode sets follow the edition Node
// 20 implements ('^' is not encoded in paths). Hosts are parsed by url-host.js.
// A URL record is { scheme, username, password, host: string|null (serialized), port: number|null,
// path: string[] | string (opaque), query: string|null, fragment: string|null }.

const SPECIAL_PORTS = { __proto__: null, ftp: 21, file: null, http: 80, https: 443, ws: 80, wss: 443 };
const isSpecialScheme = (scheme) => scheme in SPECIAL_PORTS;

// Percent-encode sets, as bits in a lazily built table over printable ASCII. C0 controls,
// DEL and non-ASCII are always encoded.
const PE_FRAGMENT = 1, PE_QUERY = 2, PE_SPECIAL_QUERY = 4, PE_PATH = 8, PE_USERINFO = 16,
  PE_COMPONENT = 32, PE_FORM = 64, PE_C0 = 128;
let percentEncodeTable = null;
function buildPercentEncodeTable() {
  const t = new Uint8Array(128);
  const add = (chars, bits) => { for (const ch of chars) t[ch.charCodeAt(0)] |= bits; };
  add(' "<>`', PE_FRAGMENT);
  add(' "#<>', PE_QUERY | PE_SPECIAL_QUERY | PE_PATH | PE_USERINFO | PE_COMPONENT | PE_FORM);
  add("'", PE_SPECIAL_QUERY | PE_FORM);
  add("?^`{}", PE_PATH | PE_USERINFO | PE_COMPONENT | PE_FORM);
  add("/:;=@[\\]|", PE_USERINFO | PE_COMPONENT | PE_FORM);
  add("$%&+,", PE_COMPONENT | PE_FORM);
  add("!()~", PE_FORM);
  return t;
}

/** UTF-8 percent-encodes every code point of `s` that is in `set`. */
function percentEncode(s, set) {
  if (percentEncodeTable === null) percentEncodeTable = buildPercentEncodeTable();
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c < 0x7f && (percentEncodeTable[c] & set) === 0) { out += s[i]; continue; }
    const end = c >= 0xd800 && c <= 0xdbff && i + 1 < s.length ? i + 2 : i + 1;
    const bytes = utf8Encode(s.slice(i, end));
    for (let j = 0; j < bytes.length; j++) out += `%${bytes[j] < 16 ? "0" : ""}${bytes[j].toString(16).toUpperCase()}`;
    i = end - 1;
  }
  return out;
}

/** Percent-decodes a string into bytes (the spec's "percent-decode" of its UTF-8 encoding). */
function percentDecode(s) {
  const bytes = utf8Encode(s);
  const out = new Uint8Array(bytes.length);
  let w = 0;
  const hex = (b) => (b >= 48 && b <= 57 ? b - 48 : b >= 65 && b <= 70 ? b - 55 : b >= 97 && b <= 102 ? b - 87 : -1);
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 37 && i + 2 < bytes.length && hex(bytes[i + 1]) >= 0 && hex(bytes[i + 2]) >= 0) {
      out[w++] = hex(bytes[i + 1]) * 16 + hex(bytes[i + 2]);
      i += 2;
    } else out[w++] = b;
  }
  return out.subarray(0, w);
}

const isAlpha = (c) => c !== undefined && ((c >= "a" && c <= "z") || (c >= "A" && c <= "Z"));
const isDigit = (c) => c !== undefined && c >= "0" && c <= "9";
const isHexDigit = (c) => isDigit(c) || (c !== undefined && ((c >= "a" && c <= "f") || (c >= "A" && c <= "F")));
const isWindowsDriveLetter = (s) => s.length === 2 && isAlpha(s[0]) && (s[1] === ":" || s[1] === "|");
const isNormalizedWindowsDriveLetter = (s) => s.length === 2 && isAlpha(s[0]) && s[1] === ":";
const isSingleDot = (s) => s === "." || s.toLowerCase() === "%2e";
const isDoubleDot = (s) => /^(\.|%2e)(\.|%2e)$/i.test(s);

function startsWithWindowsDriveLetter(cps, p) {
  if (cps.length - p < 2 || !isWindowsDriveLetter(cps[p] + cps[p + 1])) return false;
  const third = cps[p + 2];
  return cps.length - p === 2 || third === "/" || third === "\\" || third === "?" || third === "#";
}

const S_SCHEME_START = 1, S_SCHEME = 2, S_NO_SCHEME = 3, S_SPECIAL_RELATIVE_OR_AUTHORITY = 4,
  S_PATH_OR_AUTHORITY = 5, S_RELATIVE = 6, S_RELATIVE_SLASH = 7, S_SPECIAL_AUTHORITY_SLASHES = 8,
  S_SPECIAL_AUTHORITY_IGNORE_SLASHES = 9, S_AUTHORITY = 10, S_HOST = 11, S_HOSTNAME = 12, S_PORT = 13,
  S_FILE = 14, S_FILE_SLASH = 15, S_FILE_HOST = 16, S_PATH_START = 17, S_PATH = 18, S_OPAQUE_PATH = 19,
  S_QUERY = 20, S_FRAGMENT = 21;

function newURLRecord() {
  return { scheme: "", username: "", password: "", host: null, port: null, path: [], query: null, fragment: null };
}

function shortenPath(url) {
  const path = url.path;
  if (url.scheme === "file" && path.length === 1 && isNormalizedWindowsDriveLetter(path[0])) return;
  path.pop();
}

const includesCredentials = (url) => url.username !== "" || url.password !== "";
const isPathEnd = (c, special) => c === undefined || c === "/" || c === "?" || c === "#" || (special && c === "\\");

/** The basic URL parser. Without `url`, returns a new record or null. With `url` and `override`
 *  (a setter), mutates `url`; the return value is then irrelevant. */
function parseURL(input, base, url, override) {
  if (url === undefined) {
    url = newURLRecord();
    input = input.replace(/^[\0-\x20]+|[\0-\x20]+$/g, "");
  }
  const cps = [...input.replace(/[\t\n\r]/g, "")];
  let state = override || S_SCHEME_START;
  let buffer = "";
  let atSignSeen = false;
  let insideBrackets = false;
  let passwordTokenSeen = false;
  for (let p = 0; p <= cps.length; p++) {
    const c = cps[p];
    const special = isSpecialScheme(url.scheme);
    switch (state) {
      case S_SCHEME_START:
        if (isAlpha(c)) { buffer += c.toLowerCase(); state = S_SCHEME; }
        else if (!override) { state = S_NO_SCHEME; p--; }
        else return null;
        break;
      case S_SCHEME:
        if (isAlpha(c) || isDigit(c) || c === "+" || c === "-" || c === ".") buffer += c.toLowerCase();
        else if (c === ":") {
          if (override) {
            if (special !== isSpecialScheme(buffer)) return null;
            if ((includesCredentials(url) || url.port !== null) && buffer === "file") return null;
            if (url.scheme === "file" && url.host === "") return null;
          }
          url.scheme = buffer;
          if (override) {
            if (url.port === SPECIAL_PORTS[url.scheme]) url.port = null;
            return url;
          }
          buffer = "";
          if (url.scheme === "file") state = S_FILE;
          else if (isSpecialScheme(url.scheme) && base !== null && base.scheme === url.scheme) state = S_SPECIAL_RELATIVE_OR_AUTHORITY;
          else if (isSpecialScheme(url.scheme)) state = S_SPECIAL_AUTHORITY_SLASHES;
          else if (cps[p + 1] === "/") { state = S_PATH_OR_AUTHORITY; p++; }
          else { url.path = ""; state = S_OPAQUE_PATH; }
        } else if (!override) { buffer = ""; state = S_NO_SCHEME; p = -1; }
        else return null;
        break;
      case S_NO_SCHEME:
        if (base === null || (typeof base.path === "string" && c !== "#")) return null;
        if (typeof base.path === "string") {
          url.scheme = base.scheme; url.path = base.path; url.query = base.query; url.fragment = "";
          state = S_FRAGMENT;
        } else { state = base.scheme !== "file" ? S_RELATIVE : S_FILE; p--; }
        break;
      case S_SPECIAL_RELATIVE_OR_AUTHORITY:
        if (c === "/" && cps[p + 1] === "/") { state = S_SPECIAL_AUTHORITY_IGNORE_SLASHES; p++; }
        else { state = S_RELATIVE; p--; }
        break;
      case S_PATH_OR_AUTHORITY:
        if (c === "/") state = S_AUTHORITY;
        else { state = S_PATH; p--; }
        break;
      case S_RELATIVE:
        url.scheme = base.scheme;
        if (c === "/" || (isSpecialScheme(url.scheme) && c === "\\")) state = S_RELATIVE_SLASH;
        else {
          url.username = base.username; url.password = base.password; url.host = base.host;
          url.port = base.port; url.path = base.path.slice(); url.query = base.query;
          if (c === "?") { url.query = ""; state = S_QUERY; }
          else if (c === "#") { url.fragment = ""; state = S_FRAGMENT; }
          else if (c !== undefined) { url.query = null; shortenPath(url); state = S_PATH; p--; }
        }
        break;
      case S_RELATIVE_SLASH:
        if (special && (c === "/" || c === "\\")) state = S_SPECIAL_AUTHORITY_IGNORE_SLASHES;
        else if (c === "/") state = S_AUTHORITY;
        else {
          url.username = base.username; url.password = base.password; url.host = base.host; url.port = base.port;
          state = S_PATH; p--;
        }
        break;
      case S_SPECIAL_AUTHORITY_SLASHES:
        state = S_SPECIAL_AUTHORITY_IGNORE_SLASHES;
        if (c === "/" && cps[p + 1] === "/") p++;
        else p--;
        break;
      case S_SPECIAL_AUTHORITY_IGNORE_SLASHES:
        if (c !== "/" && c !== "\\") { state = S_AUTHORITY; p--; }
        break;
      case S_AUTHORITY:
        if (c === "@") {
          if (atSignSeen) buffer = `%40${buffer}`;
          atSignSeen = true;
          for (const ch of buffer) {
            if (ch === ":" && !passwordTokenSeen) { passwordTokenSeen = true; continue; }
            if (passwordTokenSeen) url.password += percentEncode(ch, PE_USERINFO);
            else url.username += percentEncode(ch, PE_USERINFO);
          }
          buffer = "";
        } else if (isPathEnd(c, special)) {
          if (atSignSeen && buffer === "") return null;
          p -= [...buffer].length + 1;
          buffer = "";
          state = S_HOST;
        } else buffer += c;
        break;
      case S_HOST:
      case S_HOSTNAME:
        if (override && url.scheme === "file") { p--; state = S_FILE_HOST; }
        else if (c === ":" && !insideBrackets) {
          if (buffer === "" || override === S_HOSTNAME) return null;
          const host = parseHost(buffer, !special);
          if (host === null) return null;
          url.host = host; buffer = ""; state = S_PORT;
        } else if (isPathEnd(c, special)) {
          p--;
          if (special && buffer === "") return null;
          if (override && buffer === "" && (includesCredentials(url) || url.port !== null)) return null;
          const host = parseHost(buffer, !special);
          if (host === null) return null;
          url.host = host; buffer = ""; state = S_PATH_START;
          if (override) return url;
        } else {
          if (c === "[") insideBrackets = true;
          if (c === "]") insideBrackets = false;
          buffer += c;
        }
        break;
      case S_PORT:
        if (isDigit(c)) buffer += c;
        else if (isPathEnd(c, special) || override) {
          if (buffer !== "") {
            const port = parseInt(buffer, 10);
            if (port > 65535) return null;
            url.port = port === SPECIAL_PORTS[url.scheme] ? null : port;
            buffer = "";
          }
          if (override) return url;
          state = S_PATH_START; p--;
        } else return null;
        break;
      case S_FILE:
        url.scheme = "file";
        url.host = "";
        if (c === "/" || c === "\\") state = S_FILE_SLASH;
        else if (base !== null && base.scheme === "file") {
          url.host = base.host; url.path = base.path.slice(); url.query = base.query;
          if (c === "?") { url.query = ""; state = S_QUERY; }
          else if (c === "#") { url.fragment = ""; state = S_FRAGMENT; }
          else if (c !== undefined) {
            url.query = null;
            if (!startsWithWindowsDriveLetter(cps, p)) shortenPath(url);
            else url.path = [];
            state = S_PATH; p--;
          }
        } else { state = S_PATH; p--; }
        break;
      case S_FILE_SLASH:
        if (c === "/" || c === "\\") state = S_FILE_HOST;
        else {
          if (base !== null && base.scheme === "file") {
            url.host = base.host;
            if (!startsWithWindowsDriveLetter(cps, p) && isNormalizedWindowsDriveLetter(base.path[0] ?? "")) {
              url.path.push(base.path[0]);
            }
          }
          state = S_PATH; p--;
        }
        break;
      case S_FILE_HOST:
        if (c === undefined || c === "/" || c === "\\" || c === "?" || c === "#") {
          p--;
          if (!override && isWindowsDriveLetter(buffer)) state = S_PATH;
          else if (buffer === "") {
            url.host = "";
            if (override) return url;
            state = S_PATH_START;
          } else {
            let host = parseHost(buffer, !special);
            if (host === null) return null;
            if (host === "localhost") host = "";
            url.host = host;
            if (override) return url;
            buffer = ""; state = S_PATH_START;
          }
        } else buffer += c;
        break;
      case S_PATH_START:
        if (special) { state = S_PATH; if (c !== "/" && c !== "\\") p--; }
        else if (!override && c === "?") { url.query = ""; state = S_QUERY; }
        else if (!override && c === "#") { url.fragment = ""; state = S_FRAGMENT; }
        else if (c !== undefined) { state = S_PATH; if (c !== "/") p--; }
        else if (override && url.host === null) url.path.push("");
        break;
      case S_PATH:
        if (c === undefined || c === "/" || (special && c === "\\") || (!override && (c === "?" || c === "#"))) {
          const slash = c === "/" || (special && c === "\\");
          if (isDoubleDot(buffer)) {
            shortenPath(url);
            if (!slash) url.path.push("");
          } else if (isSingleDot(buffer) && !slash) url.path.push("");
          else if (!isSingleDot(buffer)) {
            if (url.scheme === "file" && url.path.length === 0 && isWindowsDriveLetter(buffer)) buffer = `${buffer[0]}:`;
            url.path.push(buffer);
          }
          buffer = "";
          if (c === "?") { url.query = ""; state = S_QUERY; }
          if (c === "#") { url.fragment = ""; state = S_FRAGMENT; }
        } else buffer += percentEncode(c, PE_PATH);
        break;
      case S_OPAQUE_PATH:
        if (c === "?") { url.query = ""; state = S_QUERY; }
        else if (c === "#") { url.fragment = ""; state = S_FRAGMENT; }
        // A space right before the query or fragment is written %20, so removing either later
        // leaves no trailing space to strip (the URL Standard since 2025).
        else if (c === " ") url.path += cps[p + 1] === "?" || cps[p + 1] === "#" ? "%20" : " ";
        else if (c !== undefined) url.path += percentEncode(c, PE_C0);
        break;
      case S_QUERY:
        if ((!override && c === "#") || c === undefined) {
          url.query += percentEncode(buffer, special ? PE_SPECIAL_QUERY : PE_QUERY);
          buffer = "";
          if (c === "#") { url.fragment = ""; state = S_FRAGMENT; }
        } else buffer += c;
        break;
      case S_FRAGMENT:
        if (c !== undefined) url.fragment += percentEncode(c, PE_FRAGMENT);
        break;
    }
  }
  return url;
}

function serializePath(url) {
  return typeof url.path === "string" ? url.path : url.path.length ? `/${url.path.join("/")}` : "";
}

function serializeURL(url, excludeFragment) {
  let out = `${url.scheme}:`;
  if (url.host !== null) {
    out += "//";
    if (includesCredentials(url)) out += `${url.username}${url.password !== "" ? `:${url.password}` : ""}@`;
    out += url.host;
    if (url.port !== null) out += `:${url.port}`;
  } else if (typeof url.path !== "string" && url.path.length > 1 && url.path[0] === "") out += "/.";
  out += serializePath(url);
  if (url.query !== null) out += `?${url.query}`;
  if (!excludeFragment && url.fragment !== null) out += `#${url.fragment}`;
  return out;
}
