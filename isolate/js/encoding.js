// ---- encoding.js: UTF-8 codec, TextEncoder, TextDecoder, atob, btoa. -------------
// Other encodings than UTF-8 decode natively (encoding_rs, ops/src/encoding.rs) through `legacyDecodeChunk`.
// The UTF-8 decoder is the WHATWG "UTF-8 decoder" state machine, so invalid input yields exactly the
// spec's U+FFFD sequence (one per maximal subpart) and streaming is exact across chunk boundaries.

// Private byte arrays (a Blob's, a body's) only meet these: views and copies made from internal
// slots, never through a typed array's (patchable) prototype, species or length getter.
const ByteArray = Uint8Array; // tenant code may replace the global
const WordArray = Uint16Array;
const typedArraySet = uncurry(TypedArrayPrototype.set);
/** A view of src[from, to). */
function bytesView(src, from, to) {
  return new ByteArray(typedArrayBuffer(src), typedArrayByteOffset(src) + from, to - from);
}
/** A fresh copy of src[from, to) (the whole array by default). */
function bytesCopy(src, from = 0, to = typedArrayLength(src)) {
  const out = new ByteArray(to - from);
  typedArraySet(out, bytesView(src, from, to));
  return out;
}

const StringIndexOf = uncurry(String.prototype.indexOf);
const StringSlice = uncurry(String.prototype.slice);
const StringIsWellFormed = uncurry(String.prototype.isWellFormed);

/** JSON text as JSON.stringify wrote it, every lone surrogate in it (which JSON.stringify writes as
 *  a `\udXXX` escape, and which UTF-8 cannot carry) replaced by U+FFFD, as `utf8Encode` replaces
 *  one in a plain string: for JSON the host parses (a host call's head, a result), which would
 *  otherwise refuse the whole text. */
function wellFormedJson(text) {
  if (StringIndexOf(text, "\\ud") === -1) return text;
  const n = text.length;
  let out = "";
  let from = 0;
  for (let i = 0; i < n; i++) {
    if (StringCharCodeAt(text, i) !== 0x5c) continue; // a backslash starts an escape
    const h = StringCharCodeAt(text, i + 3); // \ud8XX to \udfXX are surrogates
    if (StringCharCodeAt(text, i + 1) === 0x75 && StringCharCodeAt(text, i + 2) === 0x64 &&
        (h === 0x38 || h === 0x39 || (h >= 0x61 && h <= 0x66))) {
      out += `${StringSlice(text, from, i)}\\ufffd`;
      from = i + 6;
      i += 5;
    } else {
      i += 1; // the escaped character (the JSON text \\ud800 is a backslash, then "ud800")
    }
  }
  return out + StringSlice(text, from);
}

/** UTF-8 bytes of a string; lone surrogates encode as U+FFFD. Returns an exactly sized array. */
function utf8Encode(input) {
  const s = `${input}`;
  const n = s.length;
  const out = new ByteArray(n * 3);
  let w = 0;
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) { out[w++] = c; continue; }
    if (c < 0x800) { out[w++] = 0xc0 | (c >> 6); out[w++] = 0x80 | (c & 63); continue; }
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < n ? s.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
        out[w++] = 0xf0 | (c >> 18); out[w++] = 0x80 | ((c >> 12) & 63);
        out[w++] = 0x80 | ((c >> 6) & 63); out[w++] = 0x80 | (c & 63);
        continue;
      }
      c = 0xfffd;
    }
    out[w++] = 0xe0 | (c >> 12); out[w++] = 0x80 | ((c >> 6) & 63); out[w++] = 0x80 | (c & 63);
  }
  return w === n * 3 ? out : bytesCopy(out, 0, w);
}

/** Decoder state carried between stream chunks (spec: bytes needed/seen, code point, bounds). */
function newUtf8State() {
  return { needed: 0, seen: 0, cp: 0, lower: 0x80, upper: 0xbf };
}

/** String from the code units in a Uint16Array (or Latin-1 bytes in a Uint8Array), chunked to
 *  stay under argument-count limits. */
function unitsToString(units, length) {
  const wide = typedArrayName(units) === "Uint16Array"; // the decoder's own scratch array
  let s = "";
  for (let i = 0; i < length; i += 8192) {
    const end = i + 8192 < length ? i + 8192 : length;
    // apply() reads the chunk's length: it gets a copy, never a view of private bytes.
    const chunk = wide ? new WordArray(typedArrayBuffer(units), typedArrayByteOffset(units) + 2 * i, end - i) : bytesCopy(units, i, end);
    s += ReflectApply(StringFromCharCode, null, chunk);
  }
  return s;
}

/** Decodes `bytes` (a Uint8Array) continuing `st`; `flush` ends the stream. `fatal` throws on
 *  the first error. */
function utf8DecodeChunk(bytes, st, fatal, flush) {
  const n = typedArrayLength(bytes);
  let { needed, seen, cp, lower, upper } = st;
  // Fast path: pure ASCII with no sequence in progress.
  if (needed === 0) {
    let i = 0;
    while (i < n && bytes[i] < 0x80) i++;
    if (i === n) return unitsToString(bytes, n);
  }
  const units = new WordArray(n + 2);
  let w = 0;
  for (let i = 0; i < n; i++) {
    const b = bytes[i];
    if (needed === 0) {
      if (b < 0x80) { units[w++] = b; continue; }
      if (b >= 0xc2 && b <= 0xdf) { needed = 1; cp = b & 0x1f; continue; }
      if (b >= 0xe0 && b <= 0xef) {
        if (b === 0xe0) lower = 0xa0;
        else if (b === 0xed) upper = 0x9f;
        needed = 2; cp = b & 0xf;
        continue;
      }
      if (b >= 0xf0 && b <= 0xf4) {
        if (b === 0xf0) lower = 0x90;
        else if (b === 0xf4) upper = 0x8f;
        needed = 3; cp = b & 0x7;
        continue;
      }
      if (fatal) throw new TypeError("The encoded data was not valid UTF-8");
      units[w++] = 0xfffd;
      continue;
    }
    if (b < lower || b > upper) {
      needed = seen = cp = 0; lower = 0x80; upper = 0xbf;
      if (fatal) throw new TypeError("The encoded data was not valid UTF-8");
      units[w++] = 0xfffd;
      i--; // reprocess this byte
      continue;
    }
    lower = 0x80; upper = 0xbf;
    cp = (cp << 6) | (b & 0x3f);
    if (++seen !== needed) continue;
    if (cp < 0x10000) units[w++] = cp;
    else { units[w++] = 0xd800 + ((cp - 0x10000) >> 10); units[w++] = 0xdc00 + ((cp - 0x10000) & 0x3ff); }
    needed = seen = cp = 0;
  }
  if (flush && needed !== 0) {
    needed = seen = cp = 0; lower = 0x80; upper = 0xbf;
    if (fatal) throw new TypeError("The encoded data was not valid UTF-8");
    units[w++] = 0xfffd;
  }
  st.needed = needed; st.seen = seen; st.cp = cp; st.lower = lower; st.upper = upper;
  return unitsToString(units, w);
}

/** One-shot UTF-8 decode with replacement, BOM kept (the URL and form parsers' "UTF-8 decode
 *  without BOM"). */
function utf8Decode(bytes) {
  return utf8DecodeChunk(bytes, newUtf8State(), false, true);
}

/** Bytes of an ArrayBuffer or view, as a Uint8Array view (no copy). */
function bufferSourceBytes(input, what) {
  if (typedArrayName(input) !== undefined) {
    return new ByteArray(typedArrayBuffer(input), typedArrayByteOffset(input), typedArrayByteLength(input));
  }
  if (isDataView(input)) return new ByteArray(dataViewBuffer(input), dataViewByteOffset(input), dataViewByteLength(input));
  if (isArrayBuffer(input)) return new ByteArray(input);
  if (typeof SharedArrayBuffer === "function" && input instanceof SharedArrayBuffer) return new ByteArray(input);
  throw new TypeError(`${what}: argument is not an ArrayBuffer or ArrayBufferView`);
}

class TextEncoder {
  get encoding() { return "utf-8"; }
  encode(input = "") { return utf8Encode(toUSVString(input)); }
  encodeInto(source, destination) {
    if (!(typeof destination === "object" && typedArrayName(destination) === "Uint8Array")) {
      throw new TypeError("TextEncoder.encodeInto: destination must be a Uint8Array");
    }
    const s = toUSVString(source);
    const cap = destination.length;
    let read = 0;
    let written = 0;
    for (; read < s.length; read++) {
      let c = s.charCodeAt(read);
      const size = c < 0x80 ? 1 : c < 0x800 ? 2 : c >= 0xd800 && c <= 0xdbff ? 4 : 3;
      if (written + size > cap) break;
      if (size === 1) { destination[written++] = c; continue; }
      if (size === 2) {
        destination[written++] = 0xc0 | (c >> 6); destination[written++] = 0x80 | (c & 63);
        continue;
      }
      if (size === 4) {
        c = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(++read) - 0xdc00);
        destination[written++] = 0xf0 | (c >> 18); destination[written++] = 0x80 | ((c >> 12) & 63);
        destination[written++] = 0x80 | ((c >> 6) & 63); destination[written++] = 0x80 | (c & 63);
        continue;
      }
      destination[written++] = 0xe0 | (c >> 12); destination[written++] = 0x80 | ((c >> 6) & 63);
      destination[written++] = 0x80 | (c & 63);
    }
    return { read, written };
  }
  #brand = true;
  static {
    platformBrands.push((v) => v !== null && typeof v === "object" && #brand in v);
  }
}
setTag(TextEncoder.prototype, "TextEncoder");
defineGlobal("TextEncoder", TextEncoder);

const UTF8_LABELS = ["unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "utf-8", "utf8", "x-unicode20utf8"];

// ---- Legacy encodings: decoded natively (ops/src/encoding.rs, encoding_rs) -----------------------
const ENCODING_OP = { label: 0x0301, decode: 0x0302 };
const DECODE_PIECE = 1 << 20;

/** An op answer's 4-byte little-endian field as a number. */
function fieldU32(b) {
  return (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;
}

/** The encoding `label` names, lower-case ("utf-8" for UTF-8's labels); a RangeError otherwise. */
function encodingForLabel(label, what) {
  const name = `${label}`.replace(/^[\t\n\f\r ]+|[\t\n\f\r ]+$/g, "").toLowerCase();
  if (UTF8_LABELS.includes(name)) return "utf-8";
  try {
    return utf8Decode(callOp(ENCODING_OP.label, [utf8Encode(toUSVString(label))]));
  } catch (e) {
    if (e instanceof RangeError) throw new RangeError(`${what}: the encoding "${label}" is not supported`);
    throw e;
  }
}

/** Decodes `bytes` in legacy encoding `name` with the native decoder `handle` (0: a fresh one);
 *  `stream` keeps the decoder. Returns [handle (0 unless kept), text]. A fatal error frees it. */
function legacyDecodeChunk(name, fatal, handle, bytes, stream) {
  const nameBytes = utf8Encode(name);
  const total = typedArrayByteLength(bytes);
  let text = "";
  let off = 0;
  do {
    const end = off + DECODE_PIECE < total ? off + DECODE_PIECE : total;
    const keep = stream || end < total ? 1 : 0;
    const answer = unpackFields(callOp(ENCODING_OP.decode, [nameBytes, fatal ? 1 : 0, handle, bytesView(bytes, off, end), keep]));
    handle = fieldU32(answer[0]);
    const units = answer[1];
    const n = typedArrayByteLength(units) >>> 1;
    if (n > 0) text += unitsToString(new WordArray(typedArrayBuffer(units), typedArrayByteOffset(units), n), n);
    off = end;
  } while (off < total);
  return [handle, text];
}

/** The spec's BOM handling applies to UTF-8 and UTF-16 only. */
const bomEncoding = (name) => name === "utf-8" || name === "utf-16le" || name === "utf-16be";

class TextDecoder {
  #fatal;
  #ignoreBOM;
  #encoding = "utf-8";
  #state = newUtf8State();
  #handle = 0; // the native decoder kept between streamed legacy chunks
  #bomSeen = false;
  constructor(label = "utf-8", options = undefined) {
    const labelString = `${label}`;
    this.#fatal = !!dictGet(options, "fatal");
    this.#ignoreBOM = !!dictGet(options, "ignoreBOM");
    this.#encoding = encodingForLabel(labelString, "TextDecoder");
  }
  get encoding() { return this.#encoding; }
  get fatal() { return this.#fatal; }
  get ignoreBOM() { return this.#ignoreBOM; }
  decode(input = undefined, options = undefined) {
    const bytes = input === undefined ? new ByteArray(0) : bufferSourceBytes(input, "TextDecoder.decode");
    const stream = !!dictGet(options, "stream");
    let text;
    try {
      if (this.#encoding === "utf-8") {
        text = utf8DecodeChunk(bytes, this.#state, this.#fatal, !stream);
      } else {
        const handle = this.#handle;
        this.#handle = 0;
        let r;
        try {
          r = legacyDecodeChunk(this.#encoding, this.#fatal, handle, bytes, stream);
        } finally {
          if (handle !== 0 && (r === undefined || r[0] !== handle)) untrackNative(this);
        }
        this.#handle = r[0];
        if (r[0] !== 0 && r[0] !== handle) trackNative(this, r[0]);
        text = r[1];
      }
    } catch (e) {
      this.#state = newUtf8State();
      this.#bomSeen = false;
      throw e;
    }
    if (!this.#ignoreBOM && !this.#bomSeen && text.length > 0 && bomEncoding(this.#encoding)) {
      this.#bomSeen = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (!stream) this.#bomSeen = false;
    return text;
  }
  static {
    platformBrands.push((v) => v !== null && typeof v === "object" && #fatal in v);
  }
}
setTag(TextDecoder.prototype, "TextDecoder");
defineGlobal("TextDecoder", TextDecoder);

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
let base64Values = null; // char code -> sextet, built on first atob

defineGlobal("btoa", function btoa(data) {
  if (arguments.length === 0) throw new TypeError("btoa: 1 argument required");
  const s = `${data}`;
  let out = "";
  for (let i = 0; i < s.length; i += 3) {
    const a = s.charCodeAt(i);
    const b = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
    const c = i + 2 < s.length ? s.charCodeAt(i + 2) : 0;
    if (a > 0xff || b > 0xff || c > 0xff) {
      throw new DOMException("btoa: the string contains characters outside of the Latin1 range", "InvalidCharacterError");
    }
    out += BASE64[a >> 2] + BASE64[((a & 3) << 4) | (b >> 4)];
    out += i + 1 < s.length ? BASE64[((b & 15) << 2) | (c >> 6)] : "=";
    out += i + 2 < s.length ? BASE64[c & 63] : "=";
  }
  return out;
});

defineGlobal("atob", function atob(data) {
  if (arguments.length === 0) throw new TypeError("atob: 1 argument required");
  // Forgiving-base64 decode (WHATWG Infra).
  let s = `${data}`.replace(/[\t\n\f\r ]/g, "");
  if (s.length % 4 === 0) s = s.replace(/==?$/, "");
  if (s.length % 4 === 1 || /[^A-Za-z0-9+/]/.test(s)) {
    throw new DOMException("atob: the string to be decoded is not correctly encoded", "InvalidCharacterError");
  }
  if (base64Values === null) {
    base64Values = new Uint8Array(128);
    for (let i = 0; i < 64; i++) base64Values[BASE64.charCodeAt(i)] = i;
  }
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    buffer = (buffer << 6) | base64Values[s.charCodeAt(i)];
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += StringFromCharCode((buffer >> bits) & 0xff);
    }
  }
  return out;
});
