// ---- multipart.js: MIME types and parsing form bodies (Fetch). ------------------
// parseMimeType / serializeMimeType follow the WHATWG algorithms; extractMimeType is Fetch's
// "extract a MIME type" over a header list. formDataFromBody(bytes, mimeType) is the formData()
// step of "package data": multipart/form-data or application/x-www-form-urlencoded, anything else
// (or a malformed body) a TypeError saying what is wrong.
// The multipart parser is linear in the body: every search resumes where the last one stopped, a
// boundary may not contain CR or LF (so candidate matches never overlap), it is at most 70 bytes,
// and a part's header section is bounded (MULTIPART_MAX_HEAD bytes).

const MIME_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const MIME_QUOTED_OK = /^[\t\x20-\x7e\x80-\xff]*$/;
const HTTP_WS = "\t\n\r ";
const MULTIPART_MAX_HEAD = 16384;
const Uint8ArrayIndexOf = uncurry(Uint8Array.prototype.indexOf);

/** "Collect an HTTP quoted string" with the extract-value flag, from s[i] === '"'. */
function collectQuoted(s, i) {
  let value = "";
  i++;
  for (;;) {
    let j = i;
    while (j < s.length && s[j] !== '"' && s[j] !== "\\") j++;
    value += s.slice(i, j);
    if (j >= s.length) return [value, j];
    if (s[j] === "\\") {
      if (j + 1 >= s.length) return [`${value}\\`, j + 1];
      value += s[j + 1];
      i = j + 2;
      continue;
    }
    return [value, j + 1];
  }
}

/** { type, subtype, params: Map } or null. */
function parseMimeType(input) {
  let s = `${input}`;
  let a = 0, b = s.length;
  while (a < b && HTTP_WS.includes(s[a])) a++;
  while (b > a && HTTP_WS.includes(s[b - 1])) b--;
  s = s.slice(a, b);
  const slash = s.indexOf("/");
  if (slash <= 0) return null;
  const type = s.slice(0, slash);
  let i = s.indexOf(";", slash + 1);
  if (i === -1) i = s.length;
  let subtype = s.slice(slash + 1, i);
  let k = subtype.length;
  while (k > 0 && HTTP_WS.includes(subtype[k - 1])) k--;
  subtype = subtype.slice(0, k);
  if (!MIME_TOKEN.test(type) || subtype === "" || !MIME_TOKEN.test(subtype)) return null;
  const params = new Map();
  while (i < s.length) {
    i++; // the ";"
    while (i < s.length && HTTP_WS.includes(s[i])) i++;
    let j = i;
    while (j < s.length && s[j] !== ";" && s[j] !== "=") j++;
    const name = s.slice(i, j).toLowerCase();
    i = j;
    if (i >= s.length) break;
    if (s[i] === ";") continue;
    i++; // the "="
    if (i >= s.length) break;
    let value;
    if (s[i] === '"') {
      [value, i] = collectQuoted(s, i);
      while (i < s.length && s[i] !== ";") i++;
    } else {
      j = i;
      while (j < s.length && s[j] !== ";") j++;
      value = s.slice(i, j);
      i = j;
      let e = value.length;
      while (e > 0 && HTTP_WS.includes(value[e - 1])) e--;
      value = value.slice(0, e);
      if (value === "") continue;
    }
    if (name !== "" && MIME_TOKEN.test(name) && MIME_QUOTED_OK.test(value) && !params.has(name)) {
      params.set(name, value);
    }
  }
  return { type: type.toLowerCase(), subtype: subtype.toLowerCase(), params };
}

function serializeMimeType(m) {
  let out = `${m.type}/${m.subtype}`;
  for (const [name, value] of m.params) {
    const v = value !== "" && MIME_TOKEN.test(value) ? value : `"${value.replace(/["\\]/g, "\\$&")}"`;
    out += `;${name}=${v}`;
  }
  return out;
}

/** Splits a combined header value on commas outside quoted strings ("getting, decoding, and
 *  splitting"), trimming each value. */
function splitHeaderValue(value) {
  const out = [];
  let i = 0;
  for (;;) {
    let current = "";
    for (;;) {
      let j = i;
      while (j < value.length && value[j] !== '"' && value[j] !== ",") j++;
      current += value.slice(i, j);
      i = j;
      if (i < value.length && value[i] === '"') {
        const [, end] = collectQuoted(value, i);
        current += value.slice(i, end);
        i = end;
        if (i < value.length) continue;
      }
      break;
    }
    out.push(current.replace(/^[\t ]+|[\t ]+$/g, ""));
    if (i >= value.length) return out;
    i++; // the ","
  }
}

/** Fetch's "extract a MIME type" from a Content-Type header value (null = failure). */
function extractMimeType(headerValue) {
  if (headerValue === null) return null;
  let charset = null, essence = null, mime = null;
  for (const value of splitHeaderValue(headerValue)) {
    const m = parseMimeType(value);
    if (m === null || (m.type === "*" && m.subtype === "*")) continue;
    mime = m;
    const e = `${m.type}/${m.subtype}`;
    if (e !== essence) {
      charset = m.params.has("charset") ? m.params.get("charset") : null;
      essence = e;
    } else if (!m.params.has("charset") && charset !== null) {
      m.params.set("charset", charset);
    }
  }
  return mime;
}

/** Index of `pattern` in `input` at or after `from`, below `limit`; -1 if absent. */
function indexOfBytes(input, pattern, from, limit) {
  const first = pattern[0];
  const length = typedArrayLength(pattern);
  const last = limit - length;
  for (let i = from; i <= last; i++) {
    i = Uint8ArrayIndexOf(input, first, i);
    if (i === -1 || i > last) return -1;
    let k = 1;
    while (k < length && input[i + k] === pattern[k]) k++;
    if (k === length) return i;
  }
  return -1;
}

const isomorphicDecode = (bytes) => unitsToString(bytes, typedArrayLength(bytes));
const isomorphicEncode = (s) => {
  const out = new ByteArray(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
};
const multipartError = (why) => new TypeError(`formData: malformed multipart/form-data body: ${why}`);
const unescapeMultipartName = (s) => s.replace(/%0A/gi, "\n").replace(/%0D/gi, "\r").replace(/%22/g, '"');

/** Content-Disposition of a part: { name, filename | null }. */
function parseDisposition(value) {
  const semicolon = value.indexOf(";");
  if ((semicolon === -1 ? value : value.slice(0, semicolon)).trim().toLowerCase() !== "form-data") {
    throw multipartError("a part's Content-Disposition is not form-data");
  }
  const params = new Map();
  let i = semicolon === -1 ? value.length : semicolon;
  while (i < value.length) {
    i++; // the ";"
    while (i < value.length && (value[i] === " " || value[i] === "\t")) i++;
    let j = i;
    while (j < value.length && value[j] !== "=" && value[j] !== ";") j++;
    const key = value.slice(i, j).trim().toLowerCase();
    i = j;
    if (i >= value.length || value[i] === ";") continue;
    i++; // the "="
    while (i < value.length && (value[i] === " " || value[i] === "\t")) i++;
    let v;
    if (value[i] === '"') {
      // Browsers percent-encode '"' and write a backslash as it is (a Windows path keeps its
      // backslashes); curl and RFC 7578's quoted-string escape both with a backslash. So `\"`
      // and `\\` are escapes (no browser writes `\"`; a browser filename with two backslashes in a
      // row is the one misread), any other backslash is itself.
      v = "";
      let k = i + 1;
      for (;;) {
        if (k >= value.length) throw multipartError("an unterminated quoted string in Content-Disposition");
        const c = value[k];
        if (c === "\\" && (value[k + 1] === '"' || value[k + 1] === "\\")) {
          v += value[k + 1];
          k += 2;
        } else if (c === '"') {
          break;
        } else {
          v += c;
          k++;
        }
      }
      i = k + 1;
      while (i < value.length && value[i] !== ";") i++;
    } else {
      j = i;
      while (j < value.length && value[j] !== ";") j++;
      v = value.slice(i, j).trim();
      i = j;
    }
    if (!params.has(key)) params.set(key, v);
  }
  if (!params.has("name")) throw multipartError("a part has no name");
  const decode = (s) => unescapeMultipartName(utf8Decode(isomorphicEncode(s)));
  let filename = params.has("filename") ? decode(params.get("filename")) : null;
  const extended = params.get("filename*"); // RFC 5987: UTF-8''percent-encoded
  if (extended !== undefined && /^utf-8'[^']*'/i.test(extended)) {
    filename = utf8Decode(percentDecode(extended.slice(extended.indexOf("'", 6) + 1)));
  }
  return { name: decode(params.get("name")), filename };
}

/** After a line break at `pos` (CRLF or a bare LF): the position past it, or -1. */
function pastLineBreak(input, pos) {
  if (input[pos] === 0x0d && input[pos + 1] === 0x0a) return pos + 2;
  if (input[pos] === 0x0a) return pos + 1;
  return -1;
}

/** The multipart/form-data parser: [name, string | File][] or a TypeError. Lines end with CRLF,
 *  or with a bare LF as some clients write them (workerd and browsers' servers accept both): a
 *  delimiter is found as LF "--" boundary, and a CR before it belongs to the delimiter. */
function parseMultipart(input, boundary) {
  if (!/^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/.test(boundary)) {
    throw new TypeError("formData: the multipart/form-data boundary is missing or invalid");
  }
  const delimiter = isomorphicEncode(`\n--${boundary}`);
  const m = typedArrayLength(delimiter);
  const n = typedArrayLength(input);
  if (n === 0) return []; // an empty form's body
  let pos;
  let k = 1;
  while (k < m && input[k - 1] === delimiter[k]) k++;
  if (k === m) pos = m - 1; // the body opens with "--boundary"
  else {
    const first = indexOfBytes(input, delimiter, 0, n); // after a preamble
    if (first === -1) throw multipartError("no boundary delimiter");
    pos = first + m;
  }
  const entries = [];
  for (;;) {
    if (input[pos] === 0x2d && input[pos + 1] === 0x2d) return entries; // the close delimiter
    while (input[pos] === 0x20 || input[pos] === 0x09) pos++; // transport padding
    pos = pastLineBreak(input, pos);
    if (pos === -1) throw multipartError("a boundary is not followed by a line break");
    let bodyStart = pastLineBreak(input, pos); // no header at all
    let headers = "";
    if (bodyStart === -1) {
      // The header section ends at the first empty line: a line break right after a line break.
      const limit = pos + MULTIPART_MAX_HEAD < n ? pos + MULTIPART_MAX_HEAD : n;
      let at = pos;
      for (;;) {
        const lf = Uint8ArrayIndexOf(input, 0x0a, at);
        if (lf === -1 || lf >= limit) throw multipartError("a part's header section is unterminated or too large");
        bodyStart = pastLineBreak(input, lf + 1);
        if (bodyStart !== -1) {
          headers = isomorphicDecode(bytesView(input, pos, lf));
          break;
        }
        at = lf + 1;
      }
    }
    let disposition = null, contentType = null;
    if (headers !== "") {
      for (let line of headers.split("\n")) {
        if (line.endsWith("\r")) line = line.slice(0, -1);
        const colon = line.indexOf(":");
        if (colon <= 0) throw multipartError("a part has a malformed header line");
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).replace(/^[\t ]+|[\t ]+$/g, "");
        if (name === "content-disposition") disposition = parseDisposition(value);
        else if (name === "content-type") contentType = value;
      }
    }
    if (disposition === null) throw multipartError("a part has no Content-Disposition header");
    const found = indexOfBytes(input, delimiter, bodyStart, n);
    if (found === -1) throw multipartError("the body ends before its closing boundary");
    const bodyEnd = found > bodyStart && input[found - 1] === 0x0d ? found - 1 : found;
    const body = bytesView(input, bodyStart, bodyEnd);
    if (disposition.filename === null) entries.push([disposition.name, utf8Decode(body)]);
    else {
      const type = normalizeBlobType(contentType ?? "text/plain");
      entries.push([disposition.name, newFileFromBytes(bytesCopy(body), disposition.filename, type, ReflectApply(DateNow, Date, []))]);
    }
    pos = found + m;
  }
}

/** formData()'s parsing step: `mime` is extractMimeType's result (null = no usable type);
 *  `bytes` is null for a null body: no multipart form at all (an empty body is an empty form, as
 *  an empty FormData serializes to one). */
function formDataFromBody(bytes, mime) {
  const essence = mime === null ? "" : `${mime.type}/${mime.subtype}`;
  if (essence === "multipart/form-data") {
    const boundary = mime.params.get("boundary");
    if (boundary === undefined) throw new TypeError("formData: the multipart/form-data Content-Type has no boundary");
    if (bytes === null) throw multipartError("there is no body");
    return newFormData(parseMultipart(bytes, boundary));
  }
  if (essence === "application/x-www-form-urlencoded") {
    return newFormData(parseFormURLEncoded(bytes === null ? "" : utf8Decode(bytes)));
  }
  throw new TypeError(`formData: cannot parse a body of type ${JSONStringify(essence || "(none)")} as form data`);
}
