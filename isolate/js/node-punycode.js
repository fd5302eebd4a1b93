// ---- node-punycode.js: node:punycode. ----------------------------------------------------------
// The module Node 20 bundles (punycode.js 2.1.0, deprecated there, still shipped, as in workerd):
// RFC 3492 encode/decode of one label, toASCII/toUnicode of a domain or e-mail address (labels
// split at '.', U+3002, U+FF0E, U+FF61; only what follows the first '@' is converted), and
// ucs2.decode/encode (a string to its code points and back, lone surrogates kept). Errors are
// Node's RangeErrors ("Overflow: input needs wider integers to process", "Illegal input >= 0x80
// (not a basic code point)", "Invalid input"). No table-based IDNA mapping (as in Node: that is
// url.domainToASCII's work). Strings are read through the prelude's captured operations.

const PUNY_MAX_INT = 0x7fffffff;
const PUNY_ERRORS = {
  __proto__: null,
  overflow: "Overflow: input needs wider integers to process",
  "not-basic": "Illegal input >= 0x80 (not a basic code point)",
  "invalid-input": "Invalid input",
};

function punyError(type) {
  return new RangeError(PUNY_ERRORS[type]);
}

/** A string's code points (a lone surrogate is its own). */
function punyUcs2Decode(string) {
  const output = [];
  const length = string.length;
  let counter = 0;
  while (counter < length) {
    const value = StringCharCodeAt(string, counter++);
    if (value >= 0xd800 && value <= 0xdbff && counter < length) {
      const extra = StringCharCodeAt(string, counter++);
      if ((extra & 0xfc00) === 0xdc00) {
        appendEntry(output, ((value & 0x3ff) << 10) + (extra & 0x3ff) + 0x10000);
      } else {
        appendEntry(output, value);
        counter--;
      }
    } else {
      appendEntry(output, value);
    }
  }
  return output;
}

/** String.fromCodePoint over an array, read by index (a RangeError for an invalid code point). */
function punyUcs2Encode(codePoints) {
  let out = "";
  for (let i = 0; i < codePoints.length; i++) out += StringFromCodePoint(codePoints[i]);
  return out;
}

function punyBasicToDigit(cp) {
  if (cp >= 0x30 && cp < 0x3a) return 26 + (cp - 0x30);
  if (cp >= 0x41 && cp < 0x5b) return cp - 0x41;
  if (cp >= 0x61 && cp < 0x7b) return cp - 0x61;
  return 36;
}

/** A digit's lower-case basic code point. */
const punyDigitToBasic = (digit) => digit + 22 + (digit < 26 ? 75 : 0);

function punyAdapt(delta, numPoints, firstTime) {
  let k = 0;
  delta = firstTime ? MathFloor(delta / 700) : delta >> 1;
  delta += MathFloor(delta / numPoints);
  for (; delta > 455; k += 36) delta = MathFloor(delta / 35);
  return MathFloor(k + (36 * delta) / (delta + 38));
}

/** RFC 3492 decoding of one label's Punycode (without "xn--"). */
function punyDecode(input) {
  input = `${input}`;
  const output = [];
  const inputLength = input.length;
  let i = 0;
  let n = 128;
  let bias = 72;
  let basic = 0;
  for (let j = inputLength - 1; j >= 0; j--) {
    if (StringCharCodeAt(input, j) === 0x2d) { basic = j; break; }
  }
  for (let j = 0; j < basic; j++) {
    if (StringCharCodeAt(input, j) >= 0x80) throw punyError("not-basic");
    appendEntry(output, StringCharCodeAt(input, j));
  }
  for (let index = basic > 0 ? basic + 1 : 0; index < inputLength;) {
    const oldi = i;
    for (let w = 1, k = 36; ; k += 36) {
      if (index >= inputLength) throw punyError("invalid-input");
      const digit = punyBasicToDigit(StringCharCodeAt(input, index++));
      if (digit >= 36) throw punyError("invalid-input");
      if (digit > MathFloor((PUNY_MAX_INT - i) / w)) throw punyError("overflow");
      i += digit * w;
      const t = k <= bias ? 1 : k >= bias + 26 ? 26 : k - bias;
      if (digit < t) break;
      if (w > MathFloor(PUNY_MAX_INT / (36 - t))) throw punyError("overflow");
      w *= 36 - t;
    }
    const out = output.length + 1;
    bias = punyAdapt(i - oldi, out, oldi === 0);
    if (MathFloor(i / out) > PUNY_MAX_INT - n) throw punyError("overflow");
    n += MathFloor(i / out);
    i %= out;
    // Insert n at i (the runtime's own array: no Array.prototype.splice).
    appendEntry(output, 0);
    for (let j = output.length - 1; j > i; j--) output[j] = output[j - 1];
    output[i++] = n;
  }
  return punyUcs2Encode(output);
}

/** RFC 3492 encoding of one label (without "xn--"). */
function punyEncode(input) {
  const cps = punyUcs2Decode(`${input}`);
  const inputLength = cps.length;
  let output = "";
  let n = 128;
  let delta = 0;
  let bias = 72;
  for (let j = 0; j < inputLength; j++) if (cps[j] < 0x80) output += StringFromCharCode(cps[j]);
  const basicLength = output.length;
  let handled = basicLength;
  if (basicLength) output += "-";
  while (handled < inputLength) {
    let m = PUNY_MAX_INT;
    for (let j = 0; j < inputLength; j++) if (cps[j] >= n && cps[j] < m) m = cps[j];
    const handledPlusOne = handled + 1;
    if (m - n > MathFloor((PUNY_MAX_INT - delta) / handledPlusOne)) throw punyError("overflow");
    delta += (m - n) * handledPlusOne;
    n = m;
    for (let j = 0; j < inputLength; j++) {
      const c = cps[j];
      if (c < n && ++delta > PUNY_MAX_INT) throw punyError("overflow");
      if (c !== n) continue;
      let q = delta;
      for (let k = 36; ; k += 36) {
        const t = k <= bias ? 1 : k >= bias + 26 ? 26 : k - bias;
        if (q < t) break;
        output += StringFromCharCode(punyDigitToBasic(t + ((q - t) % (36 - t))));
        q = MathFloor((q - t) / (36 - t));
      }
      output += StringFromCharCode(punyDigitToBasic(q));
      bias = punyAdapt(delta, handledPlusOne, handled === basicLength);
      delta = 0;
      handled++;
    }
    delta++;
    n++;
  }
  return output;
}

/** Converts each label of `input` (after its first '@', if any) with `convert`. */
function punyMapDomain(input, convert) {
  let domain = `${input}`;
  let result = "";
  const at = StringIndexOf(domain, "@");
  if (at !== -1) {
    // As punycode.js's split('@'): what follows a second '@' is dropped.
    result = `${StringSlice(domain, 0, at)}@`;
    const second = StringIndexOf(domain, "@", at + 1);
    domain = StringSlice(domain, at + 1, second === -1 ? domain.length : second);
  }
  let encoded = "";
  let start = 0;
  for (let i = 0; i <= domain.length; i++) {
    const c = i < domain.length ? StringCharCodeAt(domain, i) : -1;
    if (c !== -1 && c !== 0x2e && c !== 0x3002 && c !== 0xff0e && c !== 0xff61) continue;
    encoded += (start === 0 ? "" : ".") + convert(StringSlice(domain, start, i));
    start = i + 1;
  }
  return result + encoded;
}

function punycodeModule() {
  const nonAscii = (s) => {
    for (let i = 0; i < s.length; i++) if (StringCharCodeAt(s, i) >= 0x80) return true;
    return false;
  };
  return {
    version: "2.1.0",
    ucs2: { decode: (string) => punyUcs2Decode(`${string}`), encode: punyUcs2Encode },
    decode: punyDecode,
    encode: punyEncode,
    toASCII: (input) => punyMapDomain(input, (label) => (nonAscii(label) ? `xn--${punyEncode(label)}` : label)),
    toUnicode: (input) => punyMapDomain(input, (label) =>
      (StringSlice(label, 0, 4) === "xn--" ? punyDecode(StringToLowerCase(StringSlice(label, 4))) : label)),
  };
}

defineBuiltin("node:punycode", ["version", "ucs2", "decode", "encode", "toASCII", "toUnicode"], punycodeModule);
