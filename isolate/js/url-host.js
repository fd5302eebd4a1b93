// ---- url-host.js (part 6 of 42): the WHATWG host parser (domains, IPv4, IPv6, opaque hosts). ----
// IPv4 and IPv6 follow the spec exactly. Domains get a best-effort UTS#46 "domain to ASCII": ASCII
// is lower-cased; otherwise NFKC + lower case + Punycode, and code points UTS#46 never allows are
// rejected. There is no mapping table and "xn--" labels are not validated, so a few exotic
// internationalised names differ from a full IDNA implementation.

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
  // Percent-decoding then UTF-8 decoding is the identity on ASCII without '%': skip it.
  const domain = /[^\0-\x24\x26-\x7f]/.test(input) ? utf8Decode(percentDecode(input)) : input;
  const ascii = domainToASCII(domain);
  if (ascii === null || FORBIDDEN_DOMAIN.test(ascii)) return null;
  return endsInANumber(ascii) ? parseIPv4(ascii) : ascii;
}
