// ---- node-hash.js: the hash functions behind node:crypto's createHash/createHmac (MD5, SHA-1,
// SHA-224, SHA-256, SHA-384, SHA-512), incremental, in JavaScript. ------------------------------
// INTERIM: the native op road (isolate/src/ops, branch `crypto`) hashes with the RustCrypto crates
// and is what WebCrypto's digest uses; once it is merged, createHash for the SHA family should
// call it (one-shot, on digest()) and keep these for MD5 only. Until then every hash here is
// computed by this file, charged to the request's CPU time like any JavaScript.

const SHA256_K = [
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01,
  0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
  0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
  0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08,
  0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];
// SHA-512's 80 constants as [hi, lo] pairs, flattened.
const SHA512_K = [
  0x428a2f98, 0xd728ae22, 0x71374491, 0x23ef65cd, 0xb5c0fbcf, 0xec4d3b2f, 0xe9b5dba5, 0x8189dbbc, 0x3956c25b, 0xf348b538,
  0x59f111f1, 0xb605d019, 0x923f82a4, 0xaf194f9b, 0xab1c5ed5, 0xda6d8118, 0xd807aa98, 0xa3030242, 0x12835b01, 0x45706fbe,
  0x243185be, 0x4ee4b28c, 0x550c7dc3, 0xd5ffb4e2, 0x72be5d74, 0xf27b896f, 0x80deb1fe, 0x3b1696b1, 0x9bdc06a7, 0x25c71235,
  0xc19bf174, 0xcf692694, 0xe49b69c1, 0x9ef14ad2, 0xefbe4786, 0x384f25e3, 0x0fc19dc6, 0x8b8cd5b5, 0x240ca1cc, 0x77ac9c65,
  0x2de92c6f, 0x592b0275, 0x4a7484aa, 0x6ea6e483, 0x5cb0a9dc, 0xbd41fbd4, 0x76f988da, 0x831153b5, 0x983e5152, 0xee66dfab,
  0xa831c66d, 0x2db43210, 0xb00327c8, 0x98fb213f, 0xbf597fc7, 0xbeef0ee4, 0xc6e00bf3, 0x3da88fc2, 0xd5a79147, 0x930aa725,
  0x06ca6351, 0xe003826f, 0x14292967, 0x0a0e6e70, 0x27b70a85, 0x46d22ffc, 0x2e1b2138, 0x5c26c926, 0x4d2c6dfc, 0x5ac42aed,
  0x53380d13, 0x9d95b3df, 0x650a7354, 0x8baf63de, 0x766a0abb, 0x3c77b2a8, 0x81c2c92e, 0x47edaee6, 0x92722c85, 0x1482353b,
  0xa2bfe8a1, 0x4cf10364, 0xa81a664b, 0xbc423001, 0xc24b8b70, 0xd0f89791, 0xc76c51a3, 0x0654be30, 0xd192e819, 0xd6ef5218,
  0xd6990624, 0x5565a910, 0xf40e3585, 0x5771202a, 0x106aa070, 0x32bbd1b8, 0x19a4c116, 0xb8d2d0c8, 0x1e376c08, 0x5141ab53,
  0x2748774c, 0xdf8eeb99, 0x34b0bcb5, 0xe19b48a8, 0x391c0cb3, 0xc5c95a63, 0x4ed8aa4a, 0xe3418acb, 0x5b9cca4f, 0x7763e373,
  0x682e6ff3, 0xd6b2b8a3, 0x748f82ee, 0x5defb2fc, 0x78a5636f, 0x43172f60, 0x84c87814, 0xa1f0ab72, 0x8cc70208, 0x1a6439ec,
  0x90befffa, 0x23631e28, 0xa4506ceb, 0xde82bde9, 0xbef9a3f7, 0xb2c67915, 0xc67178f2, 0xe372532b, 0xca273ece, 0xea26619c,
  0xd186b8c7, 0x21c0c207, 0xeada7dd6, 0xcde0eb1e, 0xf57d4f7f, 0xee6ed178, 0x06f067aa, 0x72176fba, 0x0a637dc5, 0xa2c898a6,
  0x113f9804, 0xbef90dae, 0x1b710b35, 0x131c471b, 0x28db77f5, 0x23047d84, 0x32caab7b, 0x40c72493, 0x3c9ebe0a, 0x15c9bebc,
  0x431d67c4, 0x9c100d4c, 0x4cc5d4be, 0xcb3e42b6, 0x597f299c, 0xfc657e2a, 0x5fcb6fab, 0x3ad6faec, 0x6c44198c, 0x4a475817,
];
const MD5_S = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
let md5T = null; // floor(abs(sin(i + 1)) * 2^32), built on first use

const be32 = (b, o) => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) | 0;
const le32 = (b, o) => (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) | 0;
const rotr = (x, n) => (x >>> n) | (x << (32 - n));
const rotl = (x, n) => (x << n) | (x >>> (32 - n));

function sha1Block(h, b, o, w) {
  for (let i = 0; i < 16; i++) w[i] = be32(b, o + 4 * i);
  for (let i = 16; i < 80; i++) w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  let [a, bb, c, d, e] = h;
  for (let i = 0; i < 80; i++) {
    const f = i < 20 ? (bb & c) | (~bb & d) : i < 40 ? bb ^ c ^ d : i < 60 ? (bb & c) | (bb & d) | (c & d) : bb ^ c ^ d;
    const k = i < 20 ? 0x5a827999 : i < 40 ? 0x6ed9eba1 : i < 60 ? 0x8f1bbcdc : 0xca62c1d6;
    const t = (rotl(a, 5) + f + e + k + w[i]) | 0;
    e = d; d = c; c = rotl(bb, 30); bb = a; a = t;
  }
  h[0] = (h[0] + a) | 0; h[1] = (h[1] + bb) | 0; h[2] = (h[2] + c) | 0; h[3] = (h[3] + d) | 0; h[4] = (h[4] + e) | 0;
}

function sha256Block(h, b, o, w) {
  for (let i = 0; i < 16; i++) w[i] = be32(b, o + 4 * i);
  for (let i = 16; i < 64; i++) {
    const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
    const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
    w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
  }
  let [a, bb, c, d, e, f, g, hh] = h;
  for (let i = 0; i < 64; i++) {
    const t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + SHA256_K[i] + w[i]) | 0;
    const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & bb) ^ (a & c) ^ (bb & c))) | 0;
    hh = g; g = f; f = e; e = (d + t1) | 0; d = c; c = bb; bb = a; a = (t1 + t2) | 0;
  }
  h[0] = (h[0] + a) | 0; h[1] = (h[1] + bb) | 0; h[2] = (h[2] + c) | 0; h[3] = (h[3] + d) | 0;
  h[4] = (h[4] + e) | 0; h[5] = (h[5] + f) | 0; h[6] = (h[6] + g) | 0; h[7] = (h[7] + hh) | 0;
}

// SHA-512 on 32-bit halves: h and w hold [hi, lo] pairs.
function sha512Block(h, b, o, w) {
  for (let i = 0; i < 32; i++) w[i] = be32(b, o + 4 * i);
  for (let i = 16; i < 80; i++) {
    const xh = w[2 * (i - 15)], xl = w[2 * (i - 15) + 1];
    const s0h = ((xh >>> 1) | (xl << 31)) ^ ((xh >>> 8) | (xl << 24)) ^ (xh >>> 7);
    const s0l = ((xl >>> 1) | (xh << 31)) ^ ((xl >>> 8) | (xh << 24)) ^ ((xl >>> 7) | (xh << 25));
    const yh = w[2 * (i - 2)], yl = w[2 * (i - 2) + 1];
    const s1h = ((yh >>> 19) | (yl << 13)) ^ ((yl >>> 29) | (yh << 3)) ^ (yh >>> 6);
    const s1l = ((yl >>> 19) | (yh << 13)) ^ ((yh >>> 29) | (yl << 3)) ^ ((yl >>> 6) | (yh << 26));
    let lo = (s0l >>> 0) + (s1l >>> 0) + (w[2 * (i - 7) + 1] >>> 0) + (w[2 * (i - 16) + 1] >>> 0);
    w[2 * i] = (s0h + s1h + w[2 * (i - 7)] + w[2 * (i - 16)] + ((lo / 0x100000000) | 0)) | 0;
    w[2 * i + 1] = lo | 0;
  }
  const v = h.slice();
  for (let i = 0; i < 80; i++) {
    const [ah, al, bh, bl, ch, cl, dh, dl, eh, el, fh, fl, gh, gl, hh, hl] = v;
    const S1h = ((eh >>> 14) | (el << 18)) ^ ((eh >>> 18) | (el << 14)) ^ ((el >>> 9) | (eh << 23));
    const S1l = ((el >>> 14) | (eh << 18)) ^ ((el >>> 18) | (eh << 14)) ^ ((eh >>> 9) | (el << 23));
    const chh = (eh & fh) ^ (~eh & gh), chl = (el & fl) ^ (~el & gl);
    let lo = (hl >>> 0) + (S1l >>> 0) + (chl >>> 0) + (SHA512_K[2 * i + 1] >>> 0) + (w[2 * i + 1] >>> 0);
    const t1h = (hh + S1h + chh + SHA512_K[2 * i] + w[2 * i] + ((lo / 0x100000000) | 0)) | 0;
    const t1l = lo | 0;
    const S0h = ((ah >>> 28) | (al << 4)) ^ ((al >>> 2) | (ah << 30)) ^ ((al >>> 7) | (ah << 25));
    const S0l = ((al >>> 28) | (ah << 4)) ^ ((ah >>> 2) | (al << 30)) ^ ((ah >>> 7) | (al << 25));
    const mh = (ah & bh) ^ (ah & ch) ^ (bh & ch), ml = (al & bl) ^ (al & cl) ^ (bl & cl);
    lo = (S0l >>> 0) + (ml >>> 0);
    const t2h = (S0h + mh + ((lo / 0x100000000) | 0)) | 0, t2l = lo | 0;
    lo = (dl >>> 0) + (t1l >>> 0);
    const neh = (dh + t1h + ((lo / 0x100000000) | 0)) | 0, nel = lo | 0;
    lo = (t1l >>> 0) + (t2l >>> 0);
    const nah = (t1h + t2h + ((lo / 0x100000000) | 0)) | 0, nal = lo | 0;
    v[14] = gh; v[15] = gl; v[12] = fh; v[13] = fl; v[10] = eh; v[11] = el; v[8] = neh; v[9] = nel;
    v[6] = ch; v[7] = cl; v[4] = bh; v[5] = bl; v[2] = ah; v[3] = al; v[0] = nah; v[1] = nal;
  }
  for (let i = 0; i < 16; i += 2) {
    const lo = (h[i + 1] >>> 0) + (v[i + 1] >>> 0);
    h[i] = (h[i] + v[i] + ((lo / 0x100000000) | 0)) | 0;
    h[i + 1] = lo | 0;
  }
}

function md5Block(h, b, o, w) {
  if (md5T === null) {
    md5T = new Int32Array(64);
    for (let i = 0; i < 64; i++) md5T[i] = (hashAbs(hashSin(i + 1)) * 0x100000000) | 0;
  }
  for (let i = 0; i < 16; i++) w[i] = le32(b, o + 4 * i);
  let [a, bb, c, d] = h;
  for (let i = 0; i < 64; i++) {
    let f, g;
    if (i < 16) { f = (bb & c) | (~bb & d); g = i; }
    else if (i < 32) { f = (d & bb) | (~d & c); g = (5 * i + 1) & 15; }
    else if (i < 48) { f = bb ^ c ^ d; g = (3 * i + 5) & 15; }
    else { f = c ^ (bb | ~d); g = (7 * i) & 15; }
    const t = d;
    d = c;
    c = bb;
    bb = (bb + rotl((a + f + md5T[i] + w[g]) | 0, MD5_S[(i >> 4) * 4 + (i & 3)])) | 0;
    a = t;
  }
  h[0] = (h[0] + a) | 0; h[1] = (h[1] + bb) | 0; h[2] = (h[2] + c) | 0; h[3] = (h[3] + d) | 0;
}

/** Each algorithm: block size, digest length, initial state, compression, byte order. */
const HASH_SPECS = {
  __proto__: null,
  md5: { block: 64, out: 16, le: true, words: 16, fn: md5Block, init: [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476] },
  sha1: { block: 64, out: 20, le: false, words: 80, fn: sha1Block, init: [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0] },
  sha224: { block: 64, out: 28, le: false, words: 64, fn: sha256Block,
    init: [0xc1059ed8, 0x367cd507, 0x3070dd17, 0xf70e5939, 0xffc00b31, 0x68581511, 0x64f98fa7, 0xbefa4fa4] },
  sha256: { block: 64, out: 32, le: false, words: 64, fn: sha256Block,
    init: [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19] },
  sha384: { block: 128, out: 48, le: false, words: 160, fn: sha512Block,
    init: [0xcbbb9d5d, 0xc1059ed8, 0x629a292a, 0x367cd507, 0x9159015a, 0x3070dd17, 0x152fecd8, 0xf70e5939,
      0x67332667, 0xffc00b31, 0x8eb44a87, 0x68581511, 0xdb0c2e0d, 0x64f98fa7, 0x47b5481d, 0xbefa4fa4] },
  sha512: { block: 128, out: 64, le: false, words: 160, fn: sha512Block,
    init: [0x6a09e667, 0xf3bcc908, 0xbb67ae85, 0x84caa73b, 0x3c6ef372, 0xfe94f82b, 0xa54ff53a, 0x5f1d36f1,
      0x510e527f, 0xade682d1, 0x9b05688c, 0x2b3e6c1f, 0x1f83d9ab, 0xfb41bd6b, 0x5be0cd19, 0x137e2179] },
};
const HASH_ALIASES = { __proto__: null, "sha-1": "sha1", "sha-224": "sha224", "sha-256": "sha256", "sha-384": "sha384",
  "sha-512": "sha512", rsa_md5: "md5", "rsa-sha1": "sha1", "rsa-sha256": "sha256", "rsa-sha384": "sha384", "rsa-sha512": "sha512" };

/** An incremental hash state for algorithm `name` (canonical), or undefined when unknown. */
function newHashState(name) {
  const spec = HASH_SPECS[name];
  if (spec === undefined) return undefined;
  return { spec, h: spec.init.map((x) => x | 0), buf: new Uint8Array(spec.block), used: 0, total: 0, w: new Int32Array(spec.words) };
}

function hashCopy(st) {
  return { spec: st.spec, h: st.h.slice(), buf: st.buf.slice(), used: st.used, total: st.total, w: new Int32Array(st.spec.words) };
}

function hashUpdate(st, bytes) {
  const { spec, buf } = st;
  const n = bytes.length;
  st.total += n;
  let i = 0;
  if (st.used > 0) {
    while (i < n && st.used < spec.block) buf[st.used++] = bytes[i++];
    if (st.used < spec.block) return;
    spec.fn(st.h, buf, 0, st.w);
    st.used = 0;
  }
  for (; i + spec.block <= n; i += spec.block) spec.fn(st.h, bytes, i, st.w);
  while (i < n) buf[st.used++] = bytes[i++];
}

function hashFinal(st) {
  const { spec } = st;
  const bits = st.total * 8;
  const lenBytes = spec.block === 128 ? 16 : 8;
  const padLength = (st.used + 1 + lenBytes <= spec.block ? spec.block : 2 * spec.block) - st.used;
  const pad = new Uint8Array(padLength);
  pad[0] = 0x80;
  const hi = MathFloor(bits / 0x100000000), lo = bits >>> 0;
  if (spec.le) {
    for (let i = 0; i < 4; i++) { pad[padLength - 8 + i] = (lo >>> (8 * i)) & 255; pad[padLength - 4 + i] = (hi >>> (8 * i)) & 255; }
  } else {
    for (let i = 0; i < 4; i++) { pad[padLength - 1 - i] = (lo >>> (8 * i)) & 255; pad[padLength - 5 - i] = (hi >>> (8 * i)) & 255; }
  }
  const total = st.total;
  hashUpdate(st, pad);
  st.total = total;
  const out = new Uint8Array(spec.out);
  for (let i = 0; i < spec.out; i++) {
    const word = st.h[i >> 2];
    out[i] = spec.le ? (word >>> (8 * (i & 3))) & 255 : (word >>> (24 - 8 * (i & 3))) & 255;
  }
  return out;
}
