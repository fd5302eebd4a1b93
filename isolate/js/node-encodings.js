// ---- node-encodings.js: the string encodings of node:buffer (utf8, hex, base64, base64url,
// latin1/binary, ascii, utf16le/ucs2), shared by node:buffer, node:string_decoder and node:crypto.
// Node's rules: hex decoding stops at the first pair that is not hex; base64 decoding accepts both
// alphabets, skips whitespace and other junk and ends at '=' (reading each code unit's low byte);
// ascii decoding drops the high bit.

const NODE_ENCODINGS = {
  __proto__: null, utf8: "utf8", "utf-8": "utf8", hex: "hex", base64: "base64", base64url: "base64url",
  latin1: "latin1", binary: "latin1", ascii: "ascii", ucs2: "utf16le", "ucs-2": "utf16le",
  utf16le: "utf16le", "utf-16le": "utf16le",
};

/** The canonical name of encoding `enc`, or undefined. */
function normalizeEncoding(enc) {
  if (enc === undefined || enc === null || enc === "") return "utf8";
  return NODE_ENCODINGS[`${enc}`.toLowerCase()];
}

function encodingOrThrow(enc) {
  const e = normalizeEncoding(enc);
  if (e === undefined) throw nodeError(TypeError, "ERR_UNKNOWN_ENCODING", `Unknown encoding: ${enc}`);
  return e;
}

const NODE_HEX = "0123456789abcdef";
const NODE_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const NODE_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
let nodeB64Lookup = null; // char code -> sextet (both alphabets), -1 otherwise; built on first use

function hexValue(c) {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Bytes of `str` in encoding `enc` (canonical), as a Uint8Array. */
function encodeString(str, enc) {
  const n = str.length;
  switch (enc) {
    case "utf8": return utf8Encode(str);
    case "latin1": case "ascii": {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = str.charCodeAt(i) & 255;
      return out;
    }
    case "utf16le": {
      const out = new Uint8Array(n * 2);
      for (let i = 0; i < n; i++) { const c = str.charCodeAt(i); out[2 * i] = c & 255; out[2 * i + 1] = c >> 8; }
      return out;
    }
    case "hex": {
      const out = new Uint8Array(n >>> 1);
      let w = 0;
      for (; w < out.length; w++) {
        const hi = hexValue(str.charCodeAt(2 * w) & 255); // a code unit's low byte, as Node reads it
        const lo = hexValue(str.charCodeAt(2 * w + 1) & 255);
        if (hi < 0 || lo < 0) break; // Node stops at the first pair that is not hex
        out[w] = (hi << 4) | lo;
      }
      return w === out.length ? out : out.slice(0, w);
    }
    default: { // base64, base64url: both alphabets, whitespace and junk skipped, '=' ends it
      if (nodeB64Lookup === null) {
        nodeB64Lookup = new Int8Array(128).fill(-1);
        for (let i = 0; i < 64; i++) { nodeB64Lookup[NODE_B64.charCodeAt(i)] = i; nodeB64Lookup[NODE_B64URL.charCodeAt(i)] = i; }
      }
      const out = new Uint8Array((n * 3) >>> 2);
      let w = 0, acc = 0, bits = 0;
      for (let i = 0; i < n; i++) {
        // As Node's decoder (nbytes' base64_decode_group_slow): a UTF-16 code unit is read as its
        // low byte, so U+013D ends the input as '=' does and U+0141 is an 'A'.
        const c = str.charCodeAt(i) & 255;
        if (c === 61) break;
        const v = c < 128 ? nodeB64Lookup[c] : -1;
        if (v < 0) continue;
        acc = ((acc << 6) | v) & 0xffffff;
        bits += 6;
        if (bits >= 8) { bits -= 8; out[w++] = (acc >> bits) & 255; }
      }
      return w === out.length ? out : out.slice(0, w);
    }
  }
}

/** Bytes [start, end) of `u8` decoded from encoding `enc` (canonical). */
function decodeBytes(u8, enc, start, end) {
  const bytes = new Uint8Array(typedArrayBuffer(u8), typedArrayByteOffset(u8) + start, end - start);
  const n = bytes.length;
  switch (enc) {
    case "utf8": return utf8Decode(bytes);
    case "latin1": case "ascii": {
      const units = new Uint16Array(n);
      if (enc === "ascii") for (let i = 0; i < n; i++) units[i] = bytes[i] & 127;
      else for (let i = 0; i < n; i++) units[i] = bytes[i];
      return unitsToString(units, n);
    }
    case "utf16le": {
      const m = n >>> 1;
      const units = new Uint16Array(m);
      for (let i = 0; i < m; i++) units[i] = bytes[2 * i] | (bytes[2 * i + 1] << 8);
      return unitsToString(units, m);
    }
    case "hex": {
      let s = "";
      for (let i = 0; i < n; i++) s += NODE_HEX[bytes[i] >> 4] + NODE_HEX[bytes[i] & 15];
      return s;
    }
    default: {
      const alphabet = enc === "base64url" ? NODE_B64URL : NODE_B64;
      let s = "";
      let i = 0;
      for (; i + 2 < n; i += 3) {
        const v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
        s += alphabet[v >> 18] + alphabet[(v >> 12) & 63] + alphabet[(v >> 6) & 63] + alphabet[v & 63];
      }
      if (i < n) {
        const v = (bytes[i] << 16) | (i + 1 < n ? bytes[i + 1] << 8 : 0);
        s += alphabet[v >> 18] + alphabet[(v >> 12) & 63];
        if (i + 1 < n) s += alphabet[(v >> 6) & 63];
        if (enc === "base64") s += i + 1 < n ? "=" : "==";
      }
      return s;
    }
  }
}

/** The byte length of `str` in `enc` without encoding it (base64 as Node estimates it). */
function stringByteLength(str, enc) {
  const n = str.length;
  switch (enc) {
    case "utf8": {
      let len = 0;
      for (let i = 0; i < n; i++) {
        const c = str.charCodeAt(i);
        if (c < 0x80) len += 1;
        else if (c < 0x800) len += 2;
        else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n && (str.charCodeAt(i + 1) & 0xfc00) === 0xdc00) { len += 4; i++; }
        else len += 3;
      }
      return len;
    }
    case "latin1": case "ascii": return n;
    case "utf16le": return n * 2;
    case "hex": return n >>> 1;
    default: {
      let m = n;
      if (m > 0 && str.charCodeAt(m - 1) === 61) m--;
      if (m > 1 && str.charCodeAt(m - 1) === 61) m--;
      return (m * 3) >>> 2;
    }
  }
}

