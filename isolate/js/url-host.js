// ---- url-host.js: the WHATWG host parser (domains, IPv4, IPv6, opaque hosts). ----
// IPv4 and IPv6 follow the spec exactly. Domains go through the spec's "domain to ASCII": ASCII
// without an "xn--" label is lower-cased here, the rest is UTS #46 natively (ops/src/domain.rs).

const FORBIDDEN_HOST = /[\0\t\n\r #/:<>?@[\\\]^|]/;
const FORBIDDEN_DOMAIN = /[\0-\x20#%/:<>?@[\\\]^|\x7f]/;

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

const URL_HOST_OP = { toAscii: 0x0701, toUnicode: 0x0702 };
// What the fast path does not cover: a non-ASCII code point, or a label starting "xn--".
const NOT_FAST_DOMAIN = /[^\0-\x7f]|(?:^|\.)xn--/i;

/** The URL Standard's "domain to ASCII" (beStrict false); null on failure. Its fast path (ASCII
 *  with no label starting "xn--": lower-cased) stays here; the rest is UTS #46 in
 *  ops/src/domain.rs (the `idna` crate). */
function domainToASCII(domain) {
  let d;
  if (NOT_FAST_DOMAIN.test(domain)) {
    try {
      d = utf8Decode(callOp(URL_HOST_OP.toAscii, [utf8Encode(domain)]));
    } catch {
      return null;
    }
  } else d = domain.toLowerCase();
  return d === "" ? null : d;
}

/** node:url's domainToUnicode of a host the host parser gave (an IP address as it is); "" when
 *  UTS #46 refuses it. */
function domainToUnicode(host) {
  if (host === "" || host[0] === "[" || !NOT_FAST_DOMAIN.test(host)) return host;
  try {
    return utf8Decode(callOp(URL_HOST_OP.toUnicode, [utf8Encode(host)]));
  } catch {
    return "";
  }
}

/** The host parser; returns the serialized host or null on failure. */
function parseHost(input, isOpaque) {
  if (input[0] === "[") {
    if (input[input.length - 1] !== "]") return null;
    const v6 = parseIPv6(input.slice(1, -1));
    return v6 === null ? null : `[${v6}]`;
  }
  if (isOpaque) return FORBIDDEN_HOST.test(input) ? null : percentEncode(input, PE_C0);
  // Percent-decoding then UTF-8 decoding is the identity on ASCII without '%': skip it.
  const domain = /[^\0-\x24\x26-\x7f]/.test(input) ? utf8Decode(percentDecode(input)) : input;
  const ascii = domainToASCII(domain);
  if (ascii === null || FORBIDDEN_DOMAIN.test(ascii)) return null;
  return endsInANumber(ascii) ? parseIPv4(ascii) : ascii;
}
