// ---- url-parser.js (part 5 of 9): the WHATWG basic URL parser, host parser and serializer. -------
// A straight port of https://url.spec.whatwg.org/#concept-basic-url-parser (including state
// overrides for the URL setters and the file: states). Percent-encode sets follow the edition Node
// 20 implements ('^' is not encoded in paths). Hosts: IPv4 and IPv6 exactly per spec; domains get a
// best-effort UTS#46 (NFKC + lower case + Punycode; no mapping table and no "xn--" validation).
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
  add("?`{}", PE_PATH | PE_USERINFO | PE_COMPONENT | PE_FORM);
  add("/:;=@[\\]^|", PE_USERINFO | PE_COMPONENT | PE_FORM);
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
const FORBIDDEN_HOST = /[\0\t\n\r #/:<>?@[\\\]^|]/;
const FORBIDDEN_DOMAIN = /[\0-\x20#%/:<>?@[\\\]^|\x7f]/;

function startsWithWindowsDriveLetter(cps, p) {
  if (cps.length - p < 2 || !isWindowsDriveLetter(cps[p] + cps[p + 1])) return false;
  const third = cps[p + 2];
  return cps.length - p === 2 || third === "/" || third === "\\" || third === "?" || third === "#";
}

function parseIPv4Number(s) {
  if (s === "") return NaN;
  let radix = 10;
  if (s.length >= 2 && (s.startsWith("0x") || s.startsWith("0X"))) { s = s.slice(2); radix = 16; }
  else if (s.length >= 2 && s[0] === "0") { s = s.slice(1); radix = 8; }
  if (s === "") return 0;
  const valid = radix === 10 ? /^[0-9]+$/ : radix === 16 ? /^[0-9a-fA-F]+$/ : /^[0-7]+$/;
  return valid.test(s) ? parseInt(s, radix) : NaN;
}

function endsInANumber(s) {
  const parts = s.split(".");
  if (parts[parts.length - 1] === "") {
    if (parts.length === 1) return false;
    parts.pop();
  }
  const last = parts[parts.length - 1];
  return (last !== "" && /^[0-9]+$/.test(last)) || parseIPv4Number(last) === parseIPv4Number(last);
}

/** Returns the dotted serialization, or null on failure. */
function parseIPv4(s) {
  const parts = s.split(".");
  if (parts[parts.length - 1] === "" && parts.length > 1) parts.pop();
  if (parts.length > 4) return null;
  const nums = parts.map(parseIPv4Number);
  for (let i = 0; i < nums.length; i++) {
    if (nums[i] !== nums[i]) return null;
    if (nums[i] > 255 && i !== nums.length - 1) return null;
  }
  let ipv4 = nums[nums.length - 1];
  if (ipv4 >= 256 ** (5 - nums.length)) return null;
  for (let i = 0; i < nums.length - 1; i++) ipv4 += nums[i] * 256 ** (3 - i);
  return `${MathFloor(ipv4 / 16777216)}.${MathFloor(ipv4 / 65536) % 256}.${MathFloor(ipv4 / 256) % 256}.${ipv4 % 256}`;
}

/** Returns the compressed serialization (without brackets), or null on failure. */
function parseIPv6(input) {
  const a = [0, 0, 0, 0, 0, 0, 0, 0];
  const cps = [...input];
  let piece = 0;
  let compress = null;
  let p = 0;
  if (cps[p] === ":") {
    if (cps[p + 1] !== ":") return null;
    p += 2;
    compress = ++piece;
  }
  while (cps[p] !== undefined) {
    if (piece === 8) return null;
    if (cps[p] === ":") {
      if (compress !== null) return null;
      p++;
      compress = ++piece;
      continue;
    }
    let value = 0;
    let length = 0;
    while (length < 4 && isHexDigit(cps[p])) { value = value * 16 + parseInt(cps[p], 16); p++; length++; }
    if (cps[p] === ".") {
      if (length === 0) return null;
      p -= length;
      if (piece > 6) return null;
      let numbersSeen = 0;
      while (cps[p] !== undefined) {
        let v4 = null;
        if (numbersSeen > 0) {
          if (cps[p] === "." && numbersSeen < 4) p++;
          else return null;
        }
        if (!isDigit(cps[p])) return null;
        while (isDigit(cps[p])) {
          const n = +cps[p];
          if (v4 === null) v4 = n;
          else if (v4 === 0) return null;
          else v4 = v4 * 10 + n;
          if (v4 > 255) return null;
          p++;
        }
        a[piece] = a[piece] * 0x100 + v4;
        numbersSeen++;
        if (numbersSeen === 2 || numbersSeen === 4) piece++;
      }
      if (numbersSeen !== 4) return null;
      break;
    } else if (cps[p] === ":") {
      p++;
      if (cps[p] === undefined) return null;
    } else if (cps[p] !== undefined) return null;
    a[piece++] = value;
  }
  if (compress !== null) {
    let swaps = piece - compress;
    piece = 7;
    while (piece !== 0 && swaps > 0) {
      const t = a[piece]; a[piece] = a[compress + swaps - 1]; a[compress + swaps - 1] = t;
      piece--; swaps--;
    }
  } else if (piece !== 8) return null;
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && a[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j === i ? i + 1 : j;
  }
  let out = "";
  for (let i = 0; i < 8; i++) {
    if (i === best) { out += i === 0 ? "::" : ":"; i += bestLen - 1; continue; }
    out += a[i].toString(16);
    if (i !== 7) out += ":";
  }
  return out;
}

/** RFC 3492 Punycode encoding of one label. */
function punycodeEncode(label) {
  const cps = [];
  for (const ch of label) cps.push(ch.codePointAt(0));
  const digit = (d) => StringFromCharCode(d < 26 ? 97 + d : 22 + d);
  const adapt = (delta, numPoints, first) => {
    delta = first ? MathFloor(delta / 700) : delta >> 1;
    delta += MathFloor(delta / numPoints);
    let k = 0;
    for (; delta > 455; k += 36) delta = MathFloor(delta / 35);
    return k + MathFloor((36 * delta) / (delta + 38));
  };
  let out = "";
  for (const c of cps) if (c < 128) out += StringFromCharCode(c);
  const basic = out.length;
  let handled = basic;
  if (basic > 0) out += "-";
  let n = 128;
  let delta = 0;
  let bias = 72;
  while (handled < cps.length) {
    let m = Infinity;
    for (const c of cps) if (c >= n && c < m) m = c;
    delta += (m - n) * (handled + 1);
    n = m;
    for (const c of cps) {
      if (c < n) delta++;
      if (c !== n) continue;
      let q = delta;
      for (let k = 36; ; k += 36) {
        const t = k <= bias ? 1 : k >= bias + 26 ? 26 : k - bias;
        if (q < t) break;
        out += digit(t + ((q - t) % (36 - t)));
        q = MathFloor((q - t) / (36 - t));
      }
      out += digit(q);
      bias = adapt(delta, handled + 1, handled === basic);
      delta = 0;
      handled++;
    }
    delta++;
    n++;
  }
  return out;
}

// Code points UTS#46 never allows (controls, surrogates, private use, unassigned, separators,
// U+FFFD). Built lazily with the RegExp constructor: \p{} needs ICU, and a literal would make the
// whole prelude a SyntaxError on an engine without it.
let idnaDisallowed = null;

/** Best-effort "domain to ASCII"; returns null on failure. */
function domainToASCII(domain) {
  let d = domain;
  if (/[^\0-\x7f]/.test(d)) {
    if (idnaDisallowed === null) {
      try { idnaDisallowed = new RegExp("[\\p{Cc}\\p{Cs}\\p{Co}\\p{Cn}\\p{Z}\\uFFFD]", "u"); } catch { idnaDisallowed = /[\uD800-\uDFFF\uFFFD]/; }
    }
    try { d = d.normalize("NFKC"); } catch { /* engine without normalization tables */ }
    if (idnaDisallowed.test(d)) return null;
    d = d.toLowerCase().replace(/[\u3002\uff0e\uff61]/g, ".");
    d = d.split(".").map((l) => (/[^\0-\x7f]/.test(l) ? `xn--${punycodeEncode(l)}` : l)).join(".");
  } else d = d.toLowerCase();
  return d === "" ? null : d;
}

/** The host parser; returns the serialized host or null on failure. */
function parseHost(input, isOpaque) {
  if (input[0] === "[") {
    if (input[input.length - 1] !== "]") return null;
    const v6 = parseIPv6(input.slice(1, -1));
    return v6 === null ? null : `[${v6}]`;
  }
  if (isOpaque) return FORBIDDEN_HOST.test(input) ? null : percentEncode(input, PE_C0);
  const ascii = domainToASCII(utf8Decode(percentDecode(input)));
  if (ascii === null || FORBIDDEN_DOMAIN.test(ascii)) return null;
  return endsInANumber(ascii) ? parseIPv4(ascii) : ascii;
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
