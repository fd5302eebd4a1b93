// A stand-in for the native ops the Node harness can imitate with Node's own implementations:
// TextDecoder's legacy encodings (ops/src/encoding.rs, encoding_rs in the real host) through
// Node's TextDecoder (ICU), with the same fields and handles, and the URL parser's domain to ASCII
// (ops/src/domain.rs, the idna crate in the real host; WPT's url/ runs that one) through Node's
// url.domainToASCII, and node:url's domain to Unicode through url.domainToUnicode (the real op
// in an isolate: isolate/tests/node.rs). Every other op fails as an
// OperationError would (crypto.subtle and the compression streams are tested in real isolates:
// isolate/tests/crypto.rs, isolate/tests/native.rs).

import { domainToASCII, domainToUnicode } from "node:url";

const OP = { free: 0x0001, encodingLabel: 0x0301, decode: 0x0302, domainToAscii: 0x0701, domainToUnicode: 0x0702 };

function unpack(bytes) {
  const out = [];
  let o = 0;
  while (o + 4 <= bytes.length) {
    const n = bytes[o] | (bytes[o + 1] << 8) | (bytes[o + 2] << 16) | (bytes[o + 3] << 24);
    out.push(bytes.subarray(o + 4, o + 4 + n));
    o += 4 + n;
  }
  return out;
}
function pack(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + 4 + p.length, 0));
  let o = 0;
  for (const p of parts) {
    new DataView(out.buffer).setUint32(o, p.length, true);
    out.set(p, o + 4);
    o += 4 + p.length;
  }
  return out;
}
const u32 = (b) => new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
const le32 = (n) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, n, true); return b; };
const fail = (kind, message) => Object.assign(new Error(message), { kind });

/** Returns a fresh `op(code, input)` with its own handle table; `toRealm(u8)` copies an answer
 *  into the sandbox's Uint8Array. */
export function fakeOps(toRealm) {
  const handles = new Map();
  let next = 0;
  return function op(code, input) {
    const f = unpack(new Uint8Array(input));
    if (code === OP.free) { handles.delete(u32(f[0])); return toRealm(new Uint8Array(0)); }
    if (code === OP.encodingLabel) {
      const label = new TextDecoder().decode(f[0]);
      let name;
      try { name = new TextDecoder(label).encoding; } catch { throw fail(2, `the encoding "${label}" is not supported`); }
      return toRealm(new TextEncoder().encode(name));
    }
    if (code === OP.decode) {
      const name = new TextDecoder().decode(f[0]);
      const fatal = (u32(f[1]) & 1) !== 0;
      let h = u32(f[2]);
      const stream = u32(f[4]) !== 0;
      const d = h === 0 ? new TextDecoder(name, { fatal, ignoreBOM: true }) : handles.get(h);
      if (d === undefined) throw fail(1, "the native object is closed");
      let text;
      try {
        // windows-1252 through the streaming path: Node 20's one-shot decode of it takes a Latin-1
        // shortcut (0x80 stays U+0080, not the euro sign encoding_rs gives).
        if (name === "windows-1252" && !stream) text = d.decode(f[3], { stream: true }) + d.decode();
        else text = d.decode(f[3], { stream });
      } catch {
        handles.delete(h);
        throw fail(1, `The encoded data was not valid ${name}`);
      }
      if (stream && h === 0) { h = ++next; handles.set(h, d); }
      if (!stream) { handles.delete(h); h = 0; }
      const units = new Uint8Array(text.length * 2);
      for (let i = 0; i < text.length; i++) { const c = text.charCodeAt(i); units[2 * i] = c & 255; units[2 * i + 1] = c >> 8; }
      return toRealm(pack([le32(h), units]));
    }
    if (code === OP.domainToAscii) {
      // Label by label: Node's domainToASCII runs the whole host parser, whose IPv4 step turns a
      // domain ending in a number into an address or a failure, while the op is UTS #46 alone
      // (node:url's legacy parse sends "é.1.2" through it). Labels UTS #46 leaves alone (ASCII,
      // not "xn--") stay as they are; a label that maps to digits alone is out of
      // reach here.
      const labels = new TextDecoder().decode(f[0]).split(/[.\u3002\uff0e\uff61]/);
      const ascii = labels.map((l) => (/[^\0-\x7f]|^xn--/i.test(l) ? domainToASCII(l) : l.toLowerCase()));
      // The URL Standard's forbidden domain code points, which the op refuses (AsciiDenyList::URL).
      const forbidden = /[\0-\x20#%/:<>?@[\\\]^|\x7f]/;
      if (ascii.some((l, i) => (l === "" && labels[i] !== "") || forbidden.test(l))) throw fail(1, "the domain is not a valid internationalized domain name");
      return toRealm(new TextEncoder().encode(ascii.join(".")));
    }
    if (code === OP.domainToUnicode) {
      const unicode = domainToUnicode(new TextDecoder().decode(f[0]));
      if (unicode === "") throw fail(1, "the domain is not a valid internationalized domain name");
      return toRealm(new TextEncoder().encode(unicode));
    }
    throw fail(7, "no such native op in the Node harness");
  };
}
