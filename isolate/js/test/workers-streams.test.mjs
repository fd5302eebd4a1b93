// Cloudflare Workers' stream extensions in the Node harness: IdentityTransformStream and
// FixedLengthStream (pure JavaScript; their pacing compared with Node's own TransformStream, which
// an identity stream must match), and crypto.DigestStream over a stand-in for the native hasher
// (Node's createHash behind the same op codes and fields as ops/src/crypto/hash.rs; the real
// hasher is tested in isolate/tests/workers_crypto_streams.rs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { loadPrelude } from "./load-prelude.mjs";
import { fakeOps } from "./native-fake.mjs";

const plain = (v) => JSON.parse(JSON.stringify(v));
const FLUSH = "const flush = async () => { for (let i = 0; i < 50; i++) await null; };";
const HELPERS = `${FLUSH} const enc = (s) => new TextEncoder().encode(s);
  const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, "0")).join("");
  const name = async (p) => { try { await p; return "resolved"; } catch (e) { return e.name; } };`;

const ALGORITHMS = { 1: "sha1", 2: "sha256", 3: "sha384", 4: "sha512", 5: "md5" };
const OP = { free: 0x0001, digest: 0x0101, create: 0x0104, update: 0x0105, finish: 0x0106 };

function unpack(bytes) {
  const out = [];
  for (let o = 0; o + 4 <= bytes.length;) {
    const n = new DataView(bytes.buffer, bytes.byteOffset + o, 4).getUint32(0, true);
    out.push(bytes.subarray(o + 4, o + 4 + n));
    o += 4 + n;
  }
  return out;
}
const u32 = (b) => new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);

/** A prelude whose native ops include the incremental digest (Node's hashes), and which records
 *  the handles it holds; other ops go to the harness's usual stand-in. */
function preludeWithDigests() {
  const hashers = new Map();
  let next = 1000;
  let toRealm = null;
  const fallback = fakeOps((u8) => toRealm(u8));
  const op = (code, input) => {
    const f = unpack(new Uint8Array(input));
    const fail = (message) => { throw Object.assign(new Error(message), { kind: 7 }); };
    switch (code) {
      case OP.digest: return toRealm(createHash(ALGORITHMS[u32(f[0])]).update(f[1]).digest());
      case OP.create: {
        const h = ++next;
        hashers.set(h, createHash(ALGORITHMS[u32(f[0])]));
        const out = new Uint8Array(4);
        new DataView(out.buffer).setUint32(0, h, true);
        return toRealm(out);
      }
      case OP.update: {
        const h = hashers.get(u32(f[0])) ?? fail("the native object is closed");
        h.update(f[1]);
        return toRealm(new Uint8Array(0));
      }
      case OP.finish: {
        const h = hashers.get(u32(f[0])) ?? fail("the native object is closed");
        hashers.delete(u32(f[0]));
        return toRealm(h.digest());
      }
      case OP.free:
        hashers.delete(u32(f[0]));
        return fallback(code, input);
      default:
        return fallback(code, input);
    }
  };
  const p = loadPrelude({ op });
  const RealmU8 = p.run("Uint8Array");
  toRealm = (u8) => { const r = new RealmU8(u8.length); r.set(u8); return r; };
  p.hashers = hashers;
  return p;
}

const inPrelude = async (body, p = loadPrelude()) => plain(await p.run(`(async () => { ${HELPERS} ${body} })()`));
const inNode = async (body) => plain(await new Function(`return (async () => { ${HELPERS} ${body} })()`)());

test("an IdentityTransformStream paces writers and readers as new TransformStream() does", async () => {
  // The same interleaving of writes, reads and closes, logged as each promise settles.
  const body = (make) => `
    const log = [];
    const ts = ${make};
    const w = ts.writable.getWriter();
    const r = ts.readable.getReader();
    log.push("ready " + w.desiredSize);
    const w1 = w.write(enc("a")).then(() => log.push("w1"));
    const w2 = w.write(enc("bc")).then(() => log.push("w2"));
    await flush();
    log.push("before read " + w.desiredSize);
    const r1 = r.read().then((x) => log.push("r1 " + new TextDecoder().decode(x.value)));
    await flush();
    const r2 = r.read().then((x) => log.push("r2 " + new TextDecoder().decode(x.value)));
    const r3 = r.read().then((x) => log.push("r3 " + x.done));
    const c = w.close().then(() => log.push("closed"));
    await Promise.all([w1, w2, r1, r2, r3, c]);
    return log;`;
  const ours = await inPrelude(body("new IdentityTransformStream()"));
  const node = await inNode(body("new TransformStream()"));
  assert.deepEqual(ours, node);
});

test("IdentityTransformStream: bytes, strings and empty chunks; copies, never detaches", async () => {
  assert.deepEqual(await inPrelude(`
    const its = new IdentityTransformStream();
    const w = its.writable.getWriter();
    const src = new Uint8Array([1, 2, 3, 4]);
    const out = [];
    const all = new Response(its.readable).arrayBuffer();
    await w.write(src.subarray(1, 3));
    src[1] = 99; // after the write: the stream holds its own copy
    await w.write(new DataView(src.buffer, 3, 1));
    await w.write(new Uint16Array([0x0605]).buffer);
    await w.write("é");
    await w.write("");
    await w.write(new ArrayBuffer(0));
    await w.close();
    out.push(Array.from(new Uint8Array(await all)), src.buffer.detached, src.byteLength);
    out.push(Object.prototype.toString.call(its), its instanceof TransformStream,
      Object.getPrototypeOf(IdentityTransformStream) === TransformStream,
      Object.getPrototypeOf(FixedLengthStream) === IdentityTransformStream);
    // Not bytes: the write rejects, both sides error.
    for (const bad of [42, null, undefined, {}, [1, 2], new Blob(["x"])]) {
      const s = new IdentityTransformStream();
      const sw = s.writable.getWriter();
      out.push([await name(sw.write(bad)), await name(s.readable.getReader().read())]);
    }
    return out;
  `), [[2, 3, 4, 5, 6, 195, 169], false, 4, "[object IdentityTransformStream]", true, true, true,
    ["TypeError", "TypeError"], ["TypeError", "TypeError"], ["TypeError", "TypeError"],
    ["TypeError", "TypeError"], ["TypeError", "TypeError"], ["TypeError", "TypeError"]]);
});

test("IdentityTransformStream's readable is a byte stream: BYOB reads take parts of a chunk", async () => {
  assert.deepEqual(await inPrelude(`
    const its = new IdentityTransformStream();
    const w = its.writable.getWriter();
    const r = its.readable.getReader({ mode: "byob" });
    const out = [];
    const first = r.read(new Uint8Array(3));
    const written = w.write(enc("abcdefgh"));
    out.push(new TextDecoder().decode((await first).value));
    out.push(new TextDecoder().decode((await r.read(new Uint8Array(100))).value));
    await written;
    const last = r.read(new Uint8Array(4));
    await w.close();
    const end = await last;
    out.push(end.done, end.value.byteLength);
    return out;
  `), ["abc", "defgh", true, 0]);
});

test("FixedLengthStream: its length is held on write and on close, as TypeErrors", async () => {
  assert.deepEqual(await inPrelude(`
    const out = [];
    const ok = new FixedLengthStream(5);
    const text = new Response(ok.readable).text();
    const w = ok.writable.getWriter();
    await w.write("ab");
    await w.write(enc("cde"));
    await w.close();
    out.push(await text);
    const over = new FixedLengthStream(2);
    const ow = over.writable.getWriter();
    const overRead = over.readable.getReader().read();
    out.push(await name(ow.write(enc("abc"))), await name(overRead), await name(ow.closed));
    // Exactly full, then one more byte.
    const full = new FixedLengthStream(2);
    const fw = full.writable.getWriter();
    const fr = full.readable.getReader();
    const got = fr.read();
    await fw.write(enc("ab"));
    out.push(Array.from((await got).value), await name(fw.write("c")));
    const under = new FixedLengthStream(3);
    const uw = under.writable.getWriter();
    const underRead = new Response(under.readable).text();
    const partial = uw.write("a");
    out.push(await name(uw.close()), await name(underRead), await name(partial));
    try { new FixedLengthStream(-5); } catch (e) { out.push(e.name, e.message); }
    out.push(new FixedLengthStream(7, { highWaterMark: 3 }).writable.getWriter().desiredSize);
    out.push(new FixedLengthStream(2, { highWaterMark: 3 }).writable.getWriter().desiredSize);
    return out;
  `), ["abcde", "TypeError", "TypeError", "TypeError", [97, 98], "TypeError", "TypeError", "TypeError", "resolved",
    "TypeError", "FixedLengthStream requires an integer expected length from 0 to 2^53 - 1", 3, 2]);
});

test("crypto.DigestStream: chunks hashed as written, one native hasher freed at the end", async () => {
  const p = preludeWithDigests();
  const parts = ["The quick brown ", "fox jumps over ", "the lazy dog"];
  const whole = parts.join("");
  const expected = Object.fromEntries(["sha1", "sha256", "sha384", "sha512", "md5"]
    .map((a) => [a, createHash(a).update(whole).digest("hex")]));
  const got = await inPrelude(`
    const out = {};
    for (const [alg, key] of [["SHA-1", "sha1"], ["sha-256", "sha256"], [{ name: "SHA-384" }, "sha384"], ["SHA-512", "sha512"], ["md5", "md5"]]) {
      const ds = new crypto.DigestStream(alg);
      const w = ds.getWriter();
      for (const [i, part] of ${JSON.stringify(parts)}.entries()) await w.write(i % 2 ? part : enc(part));
      await w.close();
      out[key] = hex(await ds.digest);
    }
    return out;
  `, p);
  assert.deepEqual(got, expected);
  assert.equal(p.hashers.size, 0, "every hasher was finished");
  // An aborted stream frees its hasher too, and its digest rejects with the reason.
  assert.deepEqual(await inPrelude(`
    const ds = new crypto.DigestStream("SHA-256");
    const w = ds.getWriter();
    await w.write(enc("x"));
    await w.abort(new RangeError("stop"));
    return [await name(ds.digest), typeof ds.bytesWritten, Number(ds.bytesWritten)];
  `, p), ["RangeError", "bigint", 1]);
  assert.equal(p.hashers.size, 0, "the aborted hasher was freed");
});
