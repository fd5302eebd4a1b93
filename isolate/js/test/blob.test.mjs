// Blob / File / FormData checked against Node's native implementations (which follow the File API
// and XHR standards here), plus structuredClone of Blobs and the multipart encoder's output.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadPrelude } from "./load-prelude.mjs";

const plain = (v) => JSON.parse(JSON.stringify(v));

/** Runs an async function source taking the globals object, in the prelude and in Node. */
async function both(p, body) {
  const mine = plain(await p.run(`(${body})(globalThis)`));
  const node = plain(await new Function("return " + body)()(globalThis));
  return [mine, node];
}

test("Blob: parts, types, endings, size, text/arrayBuffer/bytes match Node", async () => {
  const p = loadPrelude();
  const body = `async (g) => {
    const out = [];
    const cases = [
      [[]], [["a", "é", "\\u{1F600}", "\\ud800"]], [[new Uint8Array([1, 2, 3]).buffer, new Uint8Array([0, 4, 5, 0]).subarray(1, 3)]],
      [[new DataView(new Uint8Array([6, 7]).buffer)]], [[{ toString() { return "obj"; } }, 42, null, undefined]],
      [["a\\r\\nb"], { endings: "transparent" }],
      [["x"], { type: "Text/HTML;Charset=UTF-8" }], [["x"], { type: "caf\\u00e9" }], [["x"], { type: "a\\x7fb" }],
      [[new g.Blob(["inner"]), "outer"]],
    ];
    for (const args of cases) {
      const b = new g.Blob(...args);
      out.push([b.size, b.type, await b.text(), Array.from(new Uint8Array(await b.arrayBuffer()))]);
    }
    for (const bad of [5, "str", { length: 1 }, null]) { try { new g.Blob(bad); out.push("no throw"); } catch (e) { out.push(e.name); } }
    try { new g.Blob([], { endings: "weird" }); } catch (e) { out.push(e.name); }
    const bom = new g.Blob([new Uint8Array([0xef, 0xbb, 0xbf, 0x68, 0x69])]);
    out.push(await bom.text());
    out.push(Object.prototype.toString.call(new g.Blob()), g.Blob.length, g.Blob.prototype.slice.length);
    return out;
  }`;
  const [mine, node] = await both(p, body);
  assert.deepEqual(mine, node);
  // Native endings turn CRLF and lone CR into LF (File API "convert line endings to native";
  // Node leaves lone CRs alone).
  assert.equal(await p.run(`new Blob(["a\\r\\nb\\rc\\nd", new Blob(["\\r"])], { endings: "native" }).text()`), "a\nb\nc\nd\r");
});

test("Blob.slice: negative and overflowing bounds, [Clamp] rounding, content type, slices of slices", async () => {
  // Expected values from the File API's slice algorithm (Node's own Blob aborts the process on
  // several of these arguments, so it cannot be the reference here).
  const p = loadPrelude();
  const r = await p.run(`(async () => {
    const b = new Blob(["0123456789"], { type: "text/plain" });
    const out = [];
    const args = [[], [2], [-3], [2, 5], [5, 2], [-100, 100], [3, -3], [-Infinity, 4], [0, 10, "X/Y"], [0, 1, "\\u00ff"],
      [undefined, 5], [2 ** 60, 2 ** 61], [-(2 ** 60), 2 ** 70], [1.5, 8.5], [2.5, 3.5], [NaN, Infinity], ["2", "4"], [-2.5, -0.5]];
    for (const a of args) { const s = b.slice(...a); out.push([s.size, s.type, await s.text()]); }
    out.push(await b.slice(2, 8).slice(1, -1).slice(-2).text());
    return out;
  })()`);
  assert.deepEqual(plain(r), [
    [10, "", "0123456789"], [8, "", "23456789"], [3, "", "789"], [3, "", "234"], [0, "", ""], [10, "", "0123456789"],
    [4, "", "3456"], [4, "", "0123"], [10, "x/y", "0123456789"], [1, "", "0"], [5, "", "01234"], [0, "", ""],
    [10, "", "0123456789"], [6, "", "234567"], [2, "", "23"], [10, "", "0123456789"], [2, "", "23"], [0, "", ""],
    "56",
  ]);
});

test("File: name, lastModified, type, inheritance match Node", async () => {
  const p = loadPrelude();
  const body = `async (g) => {
    const out = [];
    const f = new g.File(["ab", new Uint8Array([99])], "dir/na\\ud800me.txt", { type: "TEXT/Plain", lastModified: 1234 });
    out.push(f.name, f.size, f.type, f.lastModified, await f.text(), f instanceof g.Blob, Object.prototype.toString.call(f));
    const now = new g.File([], "x");
    out.push(typeof now.lastModified, Math.abs(now.lastModified - Date.now()) < 60000);
    out.push(new g.File([], "n", { lastModified: -5 }).lastModified, new g.File([], "n", { lastModified: "12" }).lastModified);
    try { new g.File(["x"]); } catch (e) { out.push(e.name); }
    out.push(g.File.length, f.slice(0, 1) instanceof g.File);
    return out;
  }`;
  const [mine, node] = await both(p, body);
  assert.deepEqual(mine, node);
  // lastModified is a WebIDL long long (Node keeps the fraction).
  assert.equal(p.run(`new File([], "n", { lastModified: 1234.9 }).lastModified`), 1234);
});

test("FormData: append/set/get/getAll/has/delete, Blob entries as Files, filenames, iteration match Node", async () => {
  const p = loadPrelude();
  const body = `async (g) => {
    const out = [];
    const fd = new g.FormData();
    const file = new g.File(["f"], "orig.txt", { type: "text/x", lastModified: 5 });
    fd.append("a", "1");
    fd.append("b", new g.Blob(["blob-bytes"], { type: "application/x-y" }));
    fd.append("a", "2");
    fd.append("c", file);
    fd.append("d", file, "renamed.bin");
    fd.append("e", new g.Blob(["z"]), "named");
    fd.append("s", { toString() { return "str"; } });
    fd.append("lone\\ud800", "v\\udc00");
    const show = (v) => typeof v === "string" ? v : [Object.prototype.toString.call(v), v.name, v.type, v.size];
    out.push(fd.get("a"), fd.getAll("a"), fd.has("a"), fd.has("zz"), fd.get("zz"), show(fd.get("b")), fd.get("c") === file);
    out.push(show(fd.get("d")), fd.get("d").lastModified, show(fd.get("e")), fd.get("s"), [...fd.keys()].pop(), fd.get("lone\\ud800"));
    fd.set("a", "3");
    out.push(fd.getAll("a"), [...fd.keys()]);
    fd.delete("a");
    out.push([...fd.keys()]);
    const seen = [];
    fd.forEach((v, k, o) => seen.push(k + "=" + show(v) + (o === fd)));
    out.push(seen, [...fd.entries()].length, [...fd.values()].length, [...fd].map(([k]) => k));
    try { fd.append("x", "y", "z"); } catch (e) { out.push(e.name); }
    try { fd.append("x"); } catch (e) { out.push(e.name); }
    try { new g.FormData(null); } catch (e) { out.push(e.name); }
    // Iteration is live.
    const live = new g.FormData(); live.append("1", "a"); const it = live.keys(); live.append("2", "b");
    out.push([...it], Object.prototype.toString.call(it));
    return out;
  }`;
  const [mine, node] = await both(p, body);
  assert.deepEqual(mine, node);
});

test("FormData: an undefined filename counts as not given; three arguments need a Blob", () => {
  // (Node names such a File "undefined"; WebIDL treats an undefined optional argument as missing.)
  const p = loadPrelude();
  const r = p.run(`(() => {
    const f = new File(["x"], "keep.txt"); const fd = new FormData();
    fd.append("a", f, undefined); fd.append("b", new Blob(["y"]), undefined);
    let e; try { fd.append("c", "str", undefined); } catch (x) { e = x.name; }
    return [fd.get("a") === f, fd.get("b").name, e];
  })()`);
  assert.deepEqual(plain(r), [true, "blob", "TypeError"]);
});

test("structuredClone copies Blobs and Files; FormData cannot be cloned", async () => {
  const p = loadPrelude();
  const r = await p.run(`(async () => {
    const f = new File(["data"], "f.txt", { type: "text/plain", lastModified: 77 });
    const { a, b } = structuredClone({ a: f, b: new Blob(["x"], { type: "a/b" }) });
    let fd; try { structuredClone(new FormData()); } catch (e) { fd = e.name; }
    return [a !== f, a instanceof File, a.name, a.type, a.lastModified, await a.text(), b instanceof File, b.type, await b.text(), fd];
  })()`);
  assert.deepEqual(plain(r), [true, true, "f.txt", "text/plain", 77, "data", false, "a/b", "x", "DataCloneError"]);
});

test("patched typed-array methods and getters never see a Blob's private bytes", async () => {
  const p = loadPrelude();
  const r = await p.run(`(async () => {
    const seen = [];
    const TA = Object.getPrototypeOf(Uint8Array.prototype);
    const originals = {};
    for (const name of ["slice", "subarray", "set", "fill", "map"]) {
      const original = originals[name] = TA[name];
      TA[name] = function (...args) { seen.push(this, ...args.filter((a) => ArrayBuffer.isView(a))); return original.apply(this, args); };
    }
    // Getters too: length, byteLength, buffer, and the species lookup through constructor.
    const getters = {};
    for (const name of ["length", "byteLength", "byteOffset", "buffer"]) {
      const d = getters[name] = Object.getOwnPropertyDescriptor(TA, name);
      Object.defineProperty(TA, name, { get() { seen.push(this); return d.get.call(this); }, configurable: true });
    }
    const ctor = Object.getOwnPropertyDescriptor(Uint8Array.prototype, "constructor");
    Object.defineProperty(Uint8Array.prototype, "constructor", { get() { seen.push(this); return Uint8Array; }, configurable: true });
    const b = new Blob(["secret", new Uint8Array([1, 2])]);
    const fd = new FormData(); fd.append("f", b, "f.bin");
    b.size; b.slice(1, 4); await b.slice(2).text(); await b.bytes(); await b.arrayBuffer();
    const body = new Response(fd);
    await (await body.formData()).get("f").bytes();
    structuredClone(b);
    Object.assign(TA, originals);
    for (const name of Object.keys(getters)) Object.defineProperty(TA, name, getters[name]);
    Object.defineProperty(Uint8Array.prototype, "constructor", ctor);
    for (const v of seen) { try { new Uint8Array(v.buffer, v.byteOffset, v.byteLength).fill(0); } catch {} }
    return [await b.text(), Array.from(await fd.get("f").bytes())];
  })()`);
  const secret = [...new TextEncoder().encode("secret"), 1, 2];
  assert.deepEqual(plain(r), [new TextDecoder().decode(new Uint8Array(secret)), secret]);
});
