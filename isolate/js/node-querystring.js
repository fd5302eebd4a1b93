// ---- node-querystring.js: node:querystring. ----------------------------------------------------
// Node 20's lib/querystring.js, algorithm for algorithm, so that parse and stringify give Node's
// answers byte for byte: parse (alias decode) with custom, multi-character `sep` and `eq`, '+' as
// a space, repeated keys collected into arrays, `maxKeys` (default 1000, 0 or less: no limit),
// `decodeURIComponent` (a malformed escape falls back to unescapeBuffer's lenient decoding), a
// null-prototype result; stringify (alias encode) with arrays, finite numbers, bigints, booleans
// (anything else is ''), `encodeURIComponent`; escape (a lone surrogate is Node's URIError
// ERR_INVALID_URI) and unescape, unescapeBuffer. As in Node, stringify and parse call the
// module's own `escape` / `unescape` properties, so code may replace them. Strings are read
// through the prelude's captured operations; tables are built in the factory (a lazy part's top
// level reads nothing tenant code may have replaced).

function querystringModule() {
  const { Buffer } = builtinExports("node:buffer");
  const HEX = "0123456789ABCDEF";
  const hexTable = [];
  for (let i = 0; i < 256; i++) appendEntry(hexTable, `%${HEX[i >> 4]}${HEX[i & 15]}`);
  /** 0-9 A-F a-f as their value, else -1. */
  const unhex = (c) => (c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 70 ? c - 55 : c >= 97 && c <= 102 ? c - 87 : -1);
  /** What escape leaves as it is: A-Z a-z 0-9 - _ . ! ~ * ' ( ). */
  const noEscape = (c) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) ||
    c === 45 || c === 95 || c === 46 || c === 33 || c === 126 || (c >= 39 && c <= 42);

  /** Node's internal/querystring encodeStr: UTF-8 percent-encoding of what noEscape refuses. */
  function encodeStr(str) {
    const len = str.length;
    if (len === 0) return "";
    let out = "";
    let lastPos = 0;
    for (let i = 0; i < len; i++) {
      let c = StringCharCodeAt(str, i);
      if (c < 0x80) {
        if (noEscape(c)) continue;
        if (lastPos < i) out += StringSlice(str, lastPos, i);
        lastPos = i + 1;
        out += hexTable[c];
        continue;
      }
      if (lastPos < i) out += StringSlice(str, lastPos, i);
      if (c < 0x800) {
        lastPos = i + 1;
        out += hexTable[0xc0 | (c >> 6)] + hexTable[0x80 | (c & 0x3f)];
        continue;
      }
      if (c < 0xd800 || c >= 0xe000) {
        lastPos = i + 1;
        out += hexTable[0xe0 | (c >> 12)] + hexTable[0x80 | ((c >> 6) & 0x3f)] + hexTable[0x80 | (c & 0x3f)];
        continue;
      }
      // A surrogate: the next code unit completes it (whatever it is, as Node does).
      if (++i >= len) throw nodeError(URIError, "ERR_INVALID_URI", "URI malformed");
      const c2 = StringCharCodeAt(str, i) & 0x3ff;
      lastPos = i + 1;
      c = 0x10000 + (((c & 0x3ff) << 10) | c2);
      out += hexTable[0xf0 | (c >> 18)] + hexTable[0x80 | ((c >> 12) & 0x3f)] +
        hexTable[0x80 | ((c >> 6) & 0x3f)] + hexTable[0x80 | (c & 0x3f)];
    }
    if (lastPos === 0) return str;
    return lastPos < len ? out + StringSlice(str, lastPos) : out;
  }

  /** Percent-decodes `s` to bytes, leaving a malformed escape as it is; '+' is a space when asked. */
  function unescapeBuffer(s, decodeSpaces) {
    const out = Buffer.allocUnsafe(s.length);
    let index = 0;
    let outIndex = 0;
    let hasHex = false;
    const maxLength = s.length - 2;
    while (index < s.length) {
      let c = StringCharCodeAt(s, index);
      if (c === 43 && decodeSpaces) {
        out[outIndex++] = 32;
        index++;
        continue;
      }
      if (c === 37 && index < maxLength) {
        c = StringCharCodeAt(s, ++index);
        const high = unhex(c);
        if (high < 0) {
          out[outIndex++] = 37;
          continue;
        }
        const low = unhex(StringCharCodeAt(s, ++index));
        if (low < 0) {
          out[outIndex++] = 37;
          index--;
        } else {
          hasHex = true;
          c = high * 16 + low;
        }
      }
      out[outIndex++] = c;
      index++;
    }
    return hasHex ? out.slice(0, outIndex) : out;
  }

  function qsUnescape(s, decodeSpaces) {
    try {
      return decodeURIComponent(s);
    } catch {
      return QueryString.unescapeBuffer(s, decodeSpaces).toString();
    }
  }

  function qsEscape(str) {
    if (typeof str !== "string") str = typeof str === "object" ? String(str) : `${str}`;
    return encodeStr(str);
  }

  function stringifyPrimitive(v) {
    if (typeof v === "string") return v;
    if ((typeof v === "number" && NumberIsFinite(v)) || typeof v === "bigint") return `${v}`;
    if (typeof v === "boolean") return v ? "true" : "false";
    return "";
  }

  /** With the module's own escape: numbers below 1e21 and bigints need no escaping. */
  function encodeStringified(v, encode) {
    if (typeof v === "string") return v.length ? encode(v) : "";
    if (typeof v === "number" && NumberIsFinite(v)) return (v < 0 ? -v : v) < 1e21 ? `${v}` : encode(`${v}`);
    if (typeof v === "bigint") return `${v}`;
    if (typeof v === "boolean") return v ? "true" : "false";
    return "";
  }

  const encodeStringifiedCustom = (v, encode) => encode(stringifyPrimitive(v));

  function stringify(obj, sep, eq, options) {
    sep = sep || "&";
    eq = eq || "=";
    let encode = QueryString.escape;
    if (options && typeof options.encodeURIComponent === "function") encode = options.encodeURIComponent;
    const convert = encode === qsEscape ? encodeStringified : encodeStringifiedCustom;
    if (obj === null || typeof obj !== "object") return "";
    const keys = ObjectKeys(obj);
    let fields = "";
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      const v = obj[k];
      const ks = convert(k, encode) + eq;
      if (ArrayIsArray(v)) {
        const vlen = v.length;
        if (vlen === 0) continue;
        if (fields) fields += sep;
        for (let j = 0; j < vlen; j++) {
          if (j) fields += sep;
          fields += ks + convert(v[j], encode);
        }
      } else {
        if (fields) fields += sep;
        fields += ks + convert(v, encode);
      }
    }
    return fields;
  }

  function decodeStr(s, decoder) {
    try {
      return decoder(s);
    } catch {
      return QueryString.unescape(s, true);
    }
  }

  function addKeyVal(obj, key, value, keyEncoded, valEncoded, decode) {
    if (key.length > 0 && keyEncoded) key = decodeStr(key, decode);
    if (value.length > 0 && valEncoded) value = decodeStr(value, decode);
    const current = obj[key];
    if (current === undefined) obj[key] = value;
    else if (ArrayIsArray(current)) appendEntry(current, value);
    else obj[key] = [current, value];
  }

  const isHex = (c) => unhex(c) >= 0;

  function parse(qs, sep, eq, options) {
    const obj = { __proto__: null };
    if (typeof qs !== "string" || qs.length === 0) return obj;
    const sepStr = !sep ? "&" : String(sep);
    const eqStr = !eq ? "=" : String(eq);
    const sepLen = sepStr.length;
    const eqLen = eqStr.length;
    // -1 never reaches 0 when decremented: no limit.
    let pairs = 1000;
    if (options && typeof options.maxKeys === "number") pairs = options.maxKeys > 0 ? options.maxKeys : -1;
    let decode = QueryString.unescape;
    if (options && typeof options.decodeURIComponent === "function") decode = options.decodeURIComponent;
    const customDecode = decode !== qsUnescape;

    let lastPos = 0, sepIdx = 0, eqIdx = 0, key = "", value = "";
    let keyEncoded = customDecode, valEncoded = customDecode;
    const plusChar = customDecode ? "%20" : " ";
    let encodeCheck = 0;
    for (let i = 0; i < qs.length; i++) {
      const code = StringCharCodeAt(qs, i);
      // The pair separator ('&').
      if (sepIdx < sepLen && code === StringCharCodeAt(sepStr, sepIdx)) {
        if (++sepIdx === sepLen) {
          const end = i - sepIdx + 1;
          if (eqIdx < eqLen) {
            // No (whole) '=': the substring is the key.
            if (lastPos < end) {
              key += StringSlice(qs, lastPos, end);
            } else if (key.length === 0) {
              // An empty substring between separators.
              if (--pairs === 0) return obj;
              lastPos = i + 1;
              sepIdx = eqIdx = 0;
              continue;
            }
          } else if (lastPos < end) {
            value += StringSlice(qs, lastPos, end);
          }
          addKeyVal(obj, key, value, keyEncoded, valEncoded, decode);
          if (--pairs === 0) return obj;
          keyEncoded = valEncoded = customDecode;
          key = value = "";
          encodeCheck = 0;
          lastPos = i + 1;
          sepIdx = eqIdx = 0;
        }
        continue;
      }
      sepIdx = 0;
      // The key/value separator ('='), until it has been seen.
      if (eqIdx < eqLen) {
        if (code === StringCharCodeAt(eqStr, eqIdx)) {
          if (++eqIdx === eqLen) {
            const end = i - eqIdx + 1;
            if (lastPos < end) key += StringSlice(qs, lastPos, end);
            encodeCheck = 0;
            lastPos = i + 1;
          }
          continue;
        }
        eqIdx = 0;
        if (!keyEncoded) {
          // Notes whether the key holds a valid escape (decoded only then).
          if (code === 37) {
            encodeCheck = 1;
            continue;
          } else if (encodeCheck > 0) {
            if (isHex(code)) {
              if (++encodeCheck === 3) keyEncoded = true;
              continue;
            }
            encodeCheck = 0;
          }
        }
        if (code === 43) {
          if (lastPos < i) key += StringSlice(qs, lastPos, i);
          key += plusChar;
          lastPos = i + 1;
          continue;
        }
      }
      if (code === 43) {
        if (lastPos < i) value += StringSlice(qs, lastPos, i);
        value += plusChar;
        lastPos = i + 1;
      } else if (!valEncoded) {
        if (code === 37) {
          encodeCheck = 1;
        } else if (encodeCheck > 0) {
          if (isHex(code)) {
            if (++encodeCheck === 3) valEncoded = true;
          } else {
            encodeCheck = 0;
          }
        }
      }
    }
    // What is left after the last separator.
    if (lastPos < qs.length) {
      if (eqIdx < eqLen) key += StringSlice(qs, lastPos);
      else if (sepIdx < sepLen) value += StringSlice(qs, lastPos);
    } else if (eqIdx === 0 && key.length === 0) {
      return obj;
    }
    addKeyVal(obj, key, value, keyEncoded, valEncoded, decode);
    return obj;
  }

  const QueryString = {
    unescapeBuffer,
    unescape: qsUnescape,
    escape: qsEscape,
    stringify,
    encode: stringify,
    parse,
    decode: parse,
  };
  return QueryString;
}

defineBuiltin("node:querystring", ["unescapeBuffer", "unescape", "escape", "stringify", "encode", "parse",
  "decode"], querystringModule);
