// Blob and FormData bodies of Request/Response, blob() and formData(), multipart both ways against
// Node's own (undici) encoder and parser, hostile multipart bodies, Request.signal and abortable
// fetch() over a fake host whose answer we control.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadPrelude } from "./load-prelude.mjs";

const plain = (v) => JSON.parse(JSON.stringify(v));
const ALL_BYTES = "Array.from({ length: 512 }, (_, i) => i % 256).concat([13, 10, 45, 45, 13, 10])";

test("a FormData body is multipart that Node parses back, with a binary file intact", async () => {
  const p = loadPrelude();
  const r = p.run(`(() => {
    const fd = new FormData();
    fd.append("text", "héllo\\nworld\\r");
    fd.append("we\\"ird\\nname", "v");
    fd.append("file", new File([new Uint8Array(${ALL_BYTES})], "pic\\".bin", { type: "image/x-raw" }));
    fd.append("blob", new Blob(["b"]));
    return new Response(fd);
  })()`);
  const type = r.headers.get("content-type");
  assert.match(type, /^multipart\/form-data; boundary=----formdata-stockade-[0-9a-f]{32}$/);
  const bytes = new Uint8Array(await r.arrayBuffer());
  const parsed = await new Response(bytes, { headers: { "content-type": type } }).formData();
  const file = parsed.get("file");
  assert.equal(parsed.get("text"), "héllo\r\nworld\r\n", "newlines normalized to CRLF");
  assert.equal(parsed.get("we\"ird\r\nname"), "v");
  assert.equal(file.name, "pic\".bin");
  assert.equal(file.type, "image/x-raw");
  assert.deepEqual([...new Uint8Array(await file.arrayBuffer())], plain(p.run(ALL_BYTES)));
  assert.equal(parsed.get("blob").name, "blob");
  assert.equal(parsed.get("blob").type, "application/octet-stream");
  // An empty form is an empty body (as browsers send it), which formData() reads back as empty.
  assert.deepEqual(plain(await p.run(`(async () => { const r = new Response(new FormData()); const c = r.clone(); return [await r.text(), [...(await c.formData())].length]; })()`)), ["", 0]);
  // No body at all is no multipart form (a urlencoded one is empty).
  const none = await p.run(`(async () => {
    const multipart = await new Response(null, { headers: { "content-type": "multipart/form-data; boundary=b" } }).formData().then(() => "parsed", (e) => e.name);
    const urlencoded = await new Response(null, { headers: { "content-type": "application/x-www-form-urlencoded" } }).formData();
    return [multipart, [...urlencoded].length];
  })()`);
  assert.deepEqual(plain(none), ["TypeError", 0]);
  // Two serializations use two boundaries.
  assert.notEqual(p.run("new Response(new FormData()).headers.get('content-type')"), type);
});

test("formData() parses Node's multipart (binary file, filename, types) and urlencoded bodies", async () => {
  const p = loadPrelude();
  const fd = new FormData();
  fd.append("a", "1");
  fd.append("a", "ü");
  fd.append("upload", new File([new Uint8Array(plain(p.run(ALL_BYTES)))], "report.pdf", { type: "application/pdf" }));
  fd.append("empty", new File([], "e.bin", { type: "" }));
  const node = new Response(fd);
  const type = node.headers.get("content-type");
  p.context.input = new Uint8Array(await node.arrayBuffer());
  p.context.type = type;
  const out = await p.run(`(async () => {
    const fd = await new Response(input, { headers: { "content-type": type } }).formData();
    const up = fd.get("upload");
    return [fd.getAll("a"), up instanceof File, up.name, up.type, up.size, Array.from(await up.bytes()), fd.get("empty").name, fd.get("empty").size, [...fd.keys()]];
  })()`);
  assert.deepEqual(plain(out), [["1", "ü"], true, "report.pdf", "application/pdf", 518, plain(p.run(ALL_BYTES)), "e.bin", 0, ["a", "a", "upload", "empty"]]);
  const url = await p.run(`(async () => { const fd = await new Response(new URLSearchParams("x=1&y=%C3%A9+z&x=2")).formData(); return [fd.getAll("x"), fd.get("y")]; })()`);
  assert.deepEqual(plain(url), [["1", "2"], "é z"]);
  const req = await p.run(`(async () => { const fd = new FormData(); fd.append("k", "v"); const r = new Request("https://x.test/", { method: "POST", body: fd }); return (await r.formData()).get("k"); })()`);
  assert.equal(req, "v");
});

test("formData() reads curl's backslash escapes in quoted names and keeps a browser's Windows path", async () => {
  const p = loadPrelude();
  const part = (disposition) => `--b\r\nContent-Disposition: form-data; ${disposition}\r\n\r\nx\r\n`;
  p.context.body = part('name="g\\"h"') + part('name="f1"; filename="a\\"b.txt"') +
    part('name="f2"; filename="C:\\\\dir\\\\a.txt"') + part('name="f3"; filename="C:\\dir\\a.txt"') +
    part('name="f4"; filename="q%22.txt"') + "--b--\r\n";
  const out = await p.run(`(async () => {
    const fd = await new Response(body, { headers: { "content-type": "multipart/form-data; boundary=b" } }).formData();
    return [[...fd.keys()], fd.get("f1").name, fd.get("f2").name, fd.get("f3").name, fd.get("f4").name];
  })()`);
  // curl writes name="g\"h" and filename="C:\\dir\\a.txt"; a browser writes C:\dir\a.txt and q%22.txt.
  assert.deepEqual(plain(out), [['g"h', "f1", "f2", "f3", "f4"], 'a"b.txt', "C:\\dir\\a.txt", "C:\\dir\\a.txt", 'q".txt']);
});

test("malformed or unsupported form bodies are clear TypeErrors", async () => {
  const p = loadPrelude();
  const cases = [
    ["text/plain", "a=b"],
    ["multipart/form-data", "--x\r\n\r\n--x--"],
    ["multipart/form-data; boundary=x", "no delimiter here"],
    ["multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated"],
    ["multipart/form-data; boundary=x", "--x\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nv\r\n--x--"],
    ["multipart/form-data; boundary=x", "--x\r\nContent-Type: text/plain\r\n\r\nv\r\n--x--"],
    ["multipart/form-data; boundary=x", "--x\r\nno colon\r\n\r\nv\r\n--x--"],
    ["multipart/form-data; boundary=x", "--xjunk"],
    ["multipart/form-data; boundary=\"a@b\"", "--a@b--"],
    [`multipart/form-data; boundary=${"x".repeat(71)}`, `--${"x".repeat(71)}--`],
  ];
  for (const [type, body] of cases) {
    p.context.args = [type, body];
    const e = await p.run(`new Response(args[1], { headers: { "content-type": args[0] } }).formData().then(() => null, (e) => [e.constructor === TypeError, e.message])`);
    assert.ok(e !== null, `${type} ${JSON.stringify(body)} should fail`);
    assert.equal(e[0], true, e[1]);
    assert.match(e[1], /^formData: /);
  }
  // Accepted: an empty form, a preamble, an epilogue, padding after a boundary, quoted boundaries.
  const ok = await p.run(`(async () => {
    const parse = (type, body) => new Response(body, { headers: { "content-type": type } }).formData().then((fd) => [...fd].map(([k, v]) => k + "=" + v));
    return [
      await parse("multipart/form-data; boundary=x", "--x--\\r\\n"),
      await parse("Multipart/Form-Data; Boundary=\\"a b\\"", "preamble\\r\\n--a b \\t\\r\\ncontent-disposition: FORM-DATA; NAME=n\\r\\n\\r\\nv\\r\\n--a b--epilogue"),
      // Bare LF line breaks, as workerd accepts them, alone and mixed with CRLF.
      await parse("multipart/form-data; boundary=x", "--x\\nContent-Disposition: form-data; name=a\\n\\n1\\n--x\\ncontent-disposition: form-data; name=b\\r\\n\\r\\n2\\r\\n--x--\\n"),
      await parse("multipart/form-data; boundary=x", "pre\\n--x\\nContent-Disposition: form-data; name=c\\nContent-Type: text/plain\\n\\nline\\r\\nnext\\n--x--"),
      await parse("multipart/form-data; boundary=x", "--x\\nContent-Disposition: form-data; name=e\\n\\n\\n--x--"),
    ];
  })()`);
  assert.deepEqual(plain(ok), [[], ["n=v"], ["a=1", "b=2"], ["c=line\r\nnext"], ["e="]]);
});

test("hostile multipart bodies are parsed in linear time", async () => {
  const p = loadPrelude();
  const boundary = "b".repeat(70);
  // Near-miss delimiters everywhere, a long run of the boundary's first byte, and many small parts.
  const nearMiss = `--${boundary}\r\nContent-Disposition: form-data; name="a"\r\n\r\n${`\r\n--${"b".repeat(69)}c`.repeat(40000)}\r\n--${boundary}--`;
  const crRun = `--${boundary}\r\nContent-Disposition: form-data; name="a"\r\n\r\n${"\r".repeat(3_000_000)}\r\n--${boundary}--`;
  const many = `${`--${boundary}\r\nContent-Disposition: form-data; name="k"\r\n\r\nv\r\n`.repeat(20000)}--${boundary}--`;
  const headerFlood = `--${boundary}\r\n${"X: y\r\n".repeat(1_000_000)}\r\nv\r\n--${boundary}--`;
  for (const [name, body, expect] of [["near-miss", nearMiss, 1], ["cr-run", crRun, 1], ["many", many, 20000], ["header-flood", headerFlood, -1]]) {
    p.context.args = [boundary, body];
    const start = performance.now();
    const n = await p.run(`new Response(args[1], { headers: { "content-type": "multipart/form-data; boundary=" + args[0] } }).formData().then((fd) => [...fd.keys()].length, () => -1)`);
    const ms = performance.now() - start;
    assert.equal(n, expect, name);
    assert.ok(ms < 3000, `${name} took ${ms} ms`);
  }
});

test("blob() carries the body's MIME type; Blob and File bodies set Content-Type", async () => {
  const p = loadPrelude();
  const out = await p.run(`(async () => {
    const r1 = new Response("x", { headers: { "Content-Type": "Text/Plain;Charset=UTF-8" } });
    const r2 = new Response("x", { headers: [["Content-Type", "text/html"], ["Content-Type", "text/plain;x=1, */*"]] });
    const r3 = new Response("x", { headers: { "Content-Type": "not a type" } });
    const b = await new Response(new Blob(["abc"], { type: "image/png" })).blob();
    const f = new Request("https://x.test/", { method: "PUT", body: new File(["z"], "z.txt", { type: "text/x" }) });
    const untyped = new Response(new Blob(["q"]));
    r1.headers.set("content-type", "a/b; q=\\"v w\\"");
    return [(await r1.blob()).type, (await r2.blob()).type, (await r3.blob()).type, b.type, await b.text(), b instanceof Blob,
      f.headers.get("content-type"), await f.text(), untyped.headers.get("content-type"), await (await untyped.blob()).text()];
  })()`);
  assert.deepEqual(plain(out), ["a/b;q=\"v w\"", "text/plain;x=1", "", "image/png", "abc", true, "text/x", "z", null, "q"]);
});

test("Request.signal follows init.signal or the input request's; clone follows too", () => {
  const p = loadPrelude();
  const out = p.run(`(() => {
    const c = new AbortController();
    const r = new Request("https://x.test/", { signal: c.signal });
    const copy = new Request(r);
    const overridden = new Request(r, { signal: null });
    const cl = r.clone();
    const plainReq = new Request("https://x.test/");
    const before = [r.signal instanceof AbortSignal, r.signal !== c.signal, r.signal.aborted, plainReq.signal.aborted];
    c.abort("stop");
    let bad; try { new Request("https://x.test/", { signal: {} }); } catch (e) { bad = e.name; }
    return [...before, r.signal.reason, copy.signal.reason, cl.signal.reason, overridden.signal.aborted, bad,
      new Request("https://x.test/", { signal: AbortSignal.abort("pre") }).signal.reason];
  })()`);
  assert.deepEqual(plain(out), [true, true, false, false, "stop", "stop", "stop", false, "TypeError", "pre"]);
});

test("fetch() rejects with the signal's reason before the call and while the host works; a late answer is dropped", async () => {
  let answer;
  const calls = [];
  const p = loadPrelude({
    call(name, payload) {
      calls.push(name);
      return new Promise((resolve) => { answer = resolve; });
    },
  });
  const pre = await p.run(`fetch("https://x.test/", { signal: AbortSignal.abort("early") }).then(() => "resolved", (e) => e)`);
  assert.equal(pre, "early");
  assert.deepEqual(calls, [], "an aborted signal never reaches the host");
  p.run(`globalThis.c = new AbortController(); globalThis.pending = fetch("https://x.test/", { signal: c.signal }).then(() => "resolved", (e) => [e.name, e.message]);`);
  assert.deepEqual(calls, ["fetch"]);
  p.run(`c.abort()`);
  assert.deepEqual(plain(await p.run("pending")), ["AbortError", "This operation was aborted"]);
  // The host's answer arrives after the abort: it is dropped without effect.
  const head = new TextEncoder().encode(JSON.stringify({ status: 200, statusText: "", headers: [], url: "https://x.test/", redirected: false }));
  const reply = new Uint8Array(4 + head.length);
  reply.set([head.length & 255, head.length >> 8, 0, 0]);
  reply.set(head, 4);
  answer(reply);
  await new Promise((r) => setImmediate(r));
  // A timeout signal aborts a waiting fetch with a TimeoutError.
  p.run(`globalThis.timed = fetch("https://x.test/", { signal: AbortSignal.timeout(50) }).then(() => "resolved", (e) => e.name);`);
  await p.advance(50);
  assert.equal(await p.run("timed"), "TimeoutError");
  // Answered in time: the response arrives and a later abort changes nothing.
  p.run(`globalThis.c2 = new AbortController(); globalThis.fine = fetch("https://x.test/", { signal: c2.signal }).then((r) => r.status, (e) => e);`);
  answer(reply);
  assert.equal(await p.run("fine"), 200);
  p.run("c2.abort()");
});
