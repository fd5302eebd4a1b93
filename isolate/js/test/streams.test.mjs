// The Streams standard parts and stream bodies, checked against Node's own (WHATWG) streams where
// the behaviour is specified, plus the host contract's streamed request bodies and body readers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadPrelude } from "./load-prelude.mjs";

const plain = (v) => JSON.parse(JSON.stringify(v));
/** Runs `body` as an async function in a fresh prelude context (or `p`) and returns its result. */
// `flush()` lets pending promise jobs run (the prelude's timers only fire when a test advances them).
const FLUSH = "const flush = async () => { for (let i = 0; i < 50; i++) await null; };";
const inPrelude = async (body, p = loadPrelude()) => plain(await p.run(`(async () => { ${FLUSH} ${body} })()`));
/** Runs the same async `body` against Node's globals (a vm-free async function). */
const inNode = async (body) => plain(await new Function(`return (async () => { ${FLUSH} ${body} })()`)());
const same = async (body, what) => assert.deepEqual(await inPrelude(body), await inNode(body), what ?? body);

test("a ReadableStream piped through a TransformStream, as Node does it", async () => {
  await same(`
    const log = [];
    const rs = new ReadableStream({ start(c) { for (const s of ["a", "b", "c"]) c.enqueue(s); c.close(); } });
    const ts = new TransformStream({
      transform(chunk, c) { log.push("t:" + chunk); c.enqueue(chunk.toUpperCase()); c.enqueue(chunk); },
      flush(c) { log.push("flush"); c.enqueue("!"); },
    });
    const out = [];
    for await (const x of rs.pipeThrough(ts)) out.push(x);
    return [out, log, rs.locked];
  `);
});

test("default streams: desiredSize, backpressure, pull timing and errors match Node", async () => {
  await same(`
    const log = [];
    let ctl;
    const rs = new ReadableStream({
      start(c) { ctl = c; log.push("start " + c.desiredSize); },
      pull(c) { log.push("pull " + c.desiredSize); c.enqueue(log.length); },
    }, { highWaterMark: 2 });
    await flush();
    log.push("after start " + ctl.desiredSize);
    const r = rs.getReader();
    log.push(JSON.stringify(await r.read()));
    await flush();
    ctl.error(new RangeError("boom"));
    try { await r.read(); } catch (e) { log.push(e.name + " " + e.message); }
    log.push(ctl.desiredSize);
    try { ctl.enqueue(1); } catch (e) { log.push(e.name); }
    return log;
  `);
  await same(`
    const out = [];
    for (const hwm of [0, 1, 3, Infinity, -1, NaN]) {
      try { const rs = new ReadableStream({}, { highWaterMark: hwm }); out.push(["ok", hwm]); } catch (e) { out.push([e.name, String(hwm)]); }
    }
    const sized = new ReadableStream({ start(c) { c.enqueue("abcd"); out.push(c.desiredSize); } }, { highWaterMark: 10, size: (x) => x.length });
    const bad = new ReadableStream({ start(c) { try { c.enqueue("x"); } catch (e) { out.push(e.name); } } }, { size: () => -1 });
    out.push(new CountQueuingStrategy({ highWaterMark: 3 }).highWaterMark, new ByteLengthQueuingStrategy({ highWaterMark: 5 }).size(new Uint8Array(7)));
    return out;
  `);
});

test("byte streams: BYOB reads, respondWithNewView, autoAllocateChunkSize and min match Node", async () => {
  await same(`
    const out = [];
    let n = 0;
    const rs = new ReadableStream({
      type: "bytes",
      pull(c) {
        const v = c.byobRequest.view;
        for (let i = 0; i < 3; i++) v[i] = ++n;
        c.byobRequest.respond(3);
        if (n >= 9) c.close();
      },
    });
    const r = rs.getReader({ mode: "byob" });
    let buf = new Uint8Array(8);
    for (;;) {
      const { value, done } = await r.read(buf);
      out.push([Array.from(value), done, buf.byteLength]);
      if (done) break;
      buf = new Uint8Array(value.buffer);
    }
    return out;
  `);
  await same(`
    const rs = new ReadableStream({ type: "bytes", autoAllocateChunkSize: 4, pull(c) {
      const v = c.byobRequest.view; v[0] = 42; c.byobRequest.respondWithNewView(new Uint8Array(v.buffer, v.byteOffset, 1)); c.close();
    } });
    const r = rs.getReader();
    const a = await r.read();
    const b = await r.read();
    return [Array.from(a.value), a.value.buffer.byteLength, b.done];
  `);
  await same(`
    const rs = new ReadableStream({ type: "bytes", start(c) { c.enqueue(new Uint8Array([1, 2, 3, 4, 5])); c.close(); } });
    const r = rs.getReader({ mode: "byob" });
    const a = await r.read(new Uint16Array(2), { min: 2 });
    const b = await r.read(new Uint16Array(2)).catch((e) => e.name);
    return [a.value.constructor.name, a.value.length, b];
  `);
  await same(`
    const chunk = new Uint8Array([1, 2]);
    const rs = new ReadableStream({ type: "bytes", start(c) { c.enqueue(chunk); } });
    const errs = [];
    for (const bad of [new Uint8Array(0), "x"]) {
      try { new ReadableStream({ type: "bytes", start(c) { c.enqueue(bad); } }); } catch (e) { errs.push(e.name); }
    }
    return [chunk.byteLength, errs];
  `);
});

test("tee() of default and byte streams; cancel reasons compose", async () => {
  await same(`
    const reasons = [];
    const rs = new ReadableStream({ start(c) { c.enqueue({ k: 1 }); c.close(); }, cancel(r) { reasons.push(r); } });
    const [a, b] = rs.tee();
    const ra = a.getReader();
    const x = await ra.read();
    const [c1, c2] = new ReadableStream({ cancel(r) { reasons.push(r); } }).tee();
    await Promise.all([c1.cancel("one"), c2.cancel("two")]);
    return [x, (await b.getReader().read()).value, reasons];
  `);
  await same(`
    const rs = new ReadableStream({ type: "bytes", start(c) { c.enqueue(new Uint8Array([9, 8, 7])); c.close(); } });
    const [a, b] = rs.tee();
    const ra = a.getReader({ mode: "byob" });
    const x = await ra.read(new Uint8Array(2));
    const y = await b.getReader().read();
    return [Array.from(x.value), Array.from(y.value), y.value.buffer !== x.value.buffer];
  `);
});

test("pipeTo: close, error and cancel propagate both ways, prevent* options hold", async () => {
  await same(`
    const out = [];
    const sink = (tag) => ({ write(c) { out.push(tag + ":" + c); }, close() { out.push(tag + ":close"); }, abort(r) { out.push(tag + ":abort:" + r); } });
    await new ReadableStream({ start(c) { c.enqueue(1); c.enqueue(2); c.close(); } }).pipeTo(new WritableStream(sink("a")));
    await new ReadableStream({ start(c) { c.enqueue(1); c.close(); } }).pipeTo(new WritableStream(sink("b")), { preventClose: true });
    try { await new ReadableStream({ start(c) { c.error("E"); } }).pipeTo(new WritableStream(sink("c"))); } catch (e) { out.push("c rejected " + e); }
    try { await new ReadableStream({ start(c) { c.error("E"); } }).pipeTo(new WritableStream(sink("d")), { preventAbort: true }); } catch (e) { out.push("d rejected " + e); }
    const ws = new WritableStream({ write() { throw "W"; } });
    try { await new ReadableStream({ start(c) { c.enqueue(1); }, cancel(r) { out.push("e cancel " + r); } }).pipeTo(ws); } catch (e) { out.push("e rejected " + e); }
    return out;
  `);
});

test("WritableStream: backpressure, ready, close, abort and the controller's signal", async () => {
  await same(`
    const log = [];
    let release;
    const ws = new WritableStream({
      write(c) { log.push("write " + c); return new Promise((r) => { release = r; }); },
      close() { log.push("close"); },
    }, { highWaterMark: 2 });
    const w = ws.getWriter();
    log.push(w.desiredSize);
    const p1 = w.write("a");
    const p2 = w.write("b");
    log.push(w.desiredSize);
    await flush();
    release(); await p1; await flush();
    release(); await p2;
    log.push(w.desiredSize);
    await w.close();
    log.push(ws.locked);
    w.releaseLock();
    log.push(ws.locked);
    try { await w.write("late"); } catch (e) { log.push(e.name); }
    return log;
  `);
  await same(`
    let signal;
    const ws = new WritableStream({ start(c) { signal = c.signal; }, write() { return new Promise(() => {}); } });
    const w = ws.getWriter();
    w.write("x");
    await flush();
    const aborted = [];
    signal.addEventListener("abort", () => aborted.push("event"));
    const p = w.abort("reason");
    return [signal.aborted, signal.reason, aborted];
  `);
});

test("TextEncoderStream and TextDecoderStream keep characters split across chunks", async () => {
  await same(`
    const enc = new TextEncoderStream();
    const w = enc.writable.getWriter();
    w.write("a\\uD83D"); w.write("\\uDE00b"); w.write("\\uD800"); w.close();
    const bytes = [];
    for await (const c of enc.readable) bytes.push(...c);
    const dec = new TextDecoderStream("utf-8", { fatal: false });
    const dw = dec.writable.getWriter();
    dw.write(new Uint8Array([0xEF, 0xBB, 0xBF, 0xF0, 0x9F])); dw.write(new Uint8Array([0x98, 0x80, 0xE2])); dw.close();
    let text = "";
    for await (const s of dec.readable) text += s;
    return [bytes, text, enc.encoding, dec.fatal, dec.ignoreBOM];
  `);
});

test("ReadableStream.from and async iteration (return, preventCancel) match Node", async () => {
  await same(`
    const out = [];
    for await (const x of ReadableStream.from([1, Promise.resolve(2), 3])) out.push(x);
    async function* gen() { try { yield "a"; yield "b"; } finally { out.push("gen closed"); } }
    for await (const x of ReadableStream.from(gen())) { out.push(x); break; }
    let canceled = 0;
    const rs = new ReadableStream({ start(c) { c.enqueue(1); c.enqueue(2); }, cancel() { canceled++; } });
    for await (const x of rs.values({ preventCancel: true })) { out.push(x); break; }
    out.push(canceled, rs.locked);
    for await (const x of rs) { out.push(x); break; }
    out.push(canceled);
    try { ReadableStream.from(5); } catch (e) { out.push(e.name); }
    return out;
  `);
});

test("brand checks, illegal constructors, spec error types, Web IDL shape", async () => {
  const p = loadPrelude();
  const r = await inPrelude(`
    const out = [];
    const tryIt = (f) => { try { f(); out.push("ok"); } catch (e) { out.push(e.constructor.name); } };
    tryIt(() => new ReadableStreamDefaultController());
    tryIt(() => new ReadableByteStreamController());
    tryIt(() => new ReadableStreamBYOBRequest());
    tryIt(() => new WritableStreamDefaultController());
    tryIt(() => new TransformStreamDefaultController());
    tryIt(() => new ReadableStream(null));
    tryIt(() => new ReadableStream({ type: "nope" }));
    tryIt(() => new ReadableStream({ type: "bytes" }, { size() { return 1; } }));
    tryIt(() => new WritableStream({ type: "x" }));
    tryIt(() => new TransformStream({ readableType: "bytes" }));
    tryIt(() => ReadableStream.prototype.getReader.call({}));
    tryIt(() => Object.getOwnPropertyDescriptor(ReadableStream.prototype, "locked").get.call({}));
    tryIt(() => new ReadableStream().getReader({ mode: "byob" }));
    tryIt(() => new ReadableStream({ type: "bytes", autoAllocateChunkSize: 0 }));
    out.push(await ReadableStream.prototype.cancel.call({}).catch((e) => e.name));
    out.push(await new ReadableStream().pipeTo({}).catch((e) => e.name));
    const d = Object.getOwnPropertyDescriptor(globalThis, "ReadableStream");
    out.push(d.enumerable, d.writable, Object.getOwnPropertyDescriptor(ReadableStream.prototype, "getReader").enumerable);
    out.push(ReadableStream.prototype[Symbol.asyncIterator] === ReadableStream.prototype.values);
    out.push(Object.getPrototypeOf(Object.getPrototypeOf(new ReadableStream().values())) === Object.getPrototypeOf(Object.getPrototypeOf((async function* () {})()).constructor.prototype) || "proto");
    return out;
  `, p);
  assert.deepEqual(r.slice(0, 18), [
    "TypeError", "TypeError", "TypeError", "TypeError", "TypeError", "TypeError", "TypeError", "RangeError",
    "RangeError", "RangeError", "TypeError", "TypeError", "TypeError", "TypeError", "TypeError", "TypeError",
    false, true,
  ]);
  assert.equal(r[18], true, "Web IDL operations are enumerable");
  assert.equal(r[19], true);
});

test("internal reads survive tampered prototypes (reader.read, Object.prototype.then, Array.prototype.push)", async () => {
  const p = loadPrelude();
  const r = await inPrelude(`
    ReadableStreamDefaultReader.prototype.read = () => { throw new Error("patched read"); };
    ReadableStream.prototype.getReader = () => { throw new Error("patched getReader"); };
    WritableStreamDefaultWriter.prototype.write = () => { throw new Error("patched write"); };
    Array.prototype.push = () => { throw new Error("patched push"); };
    const src = () => new ReadableStream({ start(c) { c.enqueue(new Uint8Array([104, 105])); c.close(); } });
    const text = await new Response(src()).text();
    const got = [];
    await src().pipeTo(new WritableStream({ write(c) { got[got.length] = c.length; } }));
    const [a, b] = src().tee();
    const teeText = await new Response(a).text() + await new Response(b).text();
    Object.prototype.then = function () { throw new Error("then intercepted"); };
    const piped = [];
    await src().pipeTo(new WritableStream({ write(c) { piped[piped.length] = c.length; } })).catch((e) => { piped[piped.length] = String(e); });
    delete Object.prototype.then;
    return [text, got, teeText, piped];
  `, p);
  assert.deepEqual(r, ["hi", [2], "hihi", [2]]);
});

test("Response bodies: .body is a byte stream, bodyUsed follows it, new Response(res.body, res) keeps the body", async () => {
  const p = loadPrelude();
  const r = await inPrelude(`
    const res = new Response("hello", { status: 201, headers: { "x-a": "1" } });
    const b = res.body;
    const same = res.body === b;
    const copy = new Response(res.body, res);
    copy.headers.set("x-b", "2");
    const out = [same, b.locked, res.bodyUsed, copy.status, await copy.text(), [...copy.headers], res.bodyUsed, b.locked];
    let err;
    try { await res.text(); } catch (e) { err = e.name; }
    out.push(err);
    const reader = new Response(new Uint8Array([1, 2, 3])).body.getReader({ mode: "byob" });
    const part = await reader.read(new Uint8Array(2));
    out.push(Array.from(part.value), new Response(null).body, new Response("").body instanceof ReadableStream);
    const used = new Response("x");
    await used.text();
    out.push(used.bodyUsed, used.body.locked);
    const rs = new ReadableStream({ start(c) { c.enqueue(new Uint8Array([1])); c.close(); } });
    const r2 = new Response(rs);
    out.push(r2.body === rs);
    try { new Response(rs); } catch (e) { out.push("locked? " + rs.locked + " " + e.name); }
    await rs.getReader().read().catch(() => {});
    return out;
  `, p);
  assert.deepEqual(r.slice(0, 9), [true, false, false, 201, "hello", [["content-type", "text/plain;charset=UTF-8"], ["x-a", "1"], ["x-b", "2"]], true, true, "TypeError"]);
  assert.deepEqual(r.slice(9, 12), [[1, 2], null, true]);
  assert.deepEqual(r.slice(12, 15), [true, true, true]);
});

test("clone() tees: both copies read the whole body, whether or not .body was touched", async () => {
  const r = await inPrelude(`
    const a = new Response("body-a");
    const a2 = a.clone();
    const b = new Response("body-b");
    b.body;
    const b2 = b.clone();
    const s = new Response(new ReadableStream({ start(c) { c.enqueue(new Uint8Array([65])); c.enqueue(new Uint8Array([66])); c.close(); } }));
    const s2 = s.clone();
    const req = new Request("https://x.test/", { method: "POST", body: "r" });
    const req2 = req.clone();
    const out = [await a.text(), await a2.text(), await b2.text(), await b.text(), await s.text(), await s2.text(), await req2.text(), await req.text()];
    try { a.clone(); } catch (e) { out.push(e.name); }
    return out;
  `);
  assert.deepEqual(r, ["body-a", "body-a", "body-b", "body-b", "AB", "AB", "r", "r", "TypeError"]);
});

test("the host's request body source is pulled only on demand, chunk by chunk, never after its end", async () => {
  const p = loadPrelude();
  const U8 = p.run("Uint8Array");
  const calls = [];
  const chunks = [[104, 101], [108, 108, 111]];
  const source = {
    pull() {
      calls.push("pull");
      const next = chunks.shift();
      return Promise.resolve(next === undefined ? null : new U8(next));
    },
    cancel(reason) { calls.push(`cancel ${reason}`); },
  };
  const req = p.exports.newRequest("POST", "https://worker.test/", ["content-type", "text/plain"], source);
  await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(calls, [], "nothing is pulled before a read");
  p.context.req = req;
  const seen = plain(await p.run(`(async () => {
    const reader = req.body.getReader();
    const out = [];
    for (;;) { const { value, done } = await reader.read(); if (done) break; out.push(Array.from(value)); }
    return out;
  })()`));
  assert.deepEqual(seen, [[104, 101], [108, 108, 111]]);
  assert.deepEqual(calls, ["pull", "pull", "pull"], "one pull per read, none after null");
  // A cancelled body tells the source once; a rejecting source errors the stream.
  const cancels = [];
  p.context.req2 = p.exports.newRequest("POST", "https://worker.test/", [], { pull: () => new Promise(() => {}), cancel: (r) => cancels.push(r) });
  await p.run("req2.body.cancel('stop')");
  assert.deepEqual(cancels, ["stop"]);
  p.context.req3 = p.exports.newRequest("POST", "https://worker.test/", [], { pull: () => Promise.reject(new p.realm.Error("network")), cancel() {} });
  assert.equal(await p.run("req3.text().catch((e) => e.message)"), "network");
  p.context.req4 = p.exports.newRequest("POST", "https://worker.test/", [], new U8([111, 107]));
  assert.equal(await p.run("req4.text()"), "ok");
  assert.throws(() => p.exports.newRequest("POST", "https://worker.test/", [], "nope"), p.realm.TypeError);
});

test("readResponse: known bytes directly, a reader for streams, TypeErrors for misuse", async () => {
  const p = loadPrelude();
  const { readResponse } = p.exports;
  const [status, , headers, bytes] = readResponse(p.run(`(() => { const r = new Response("xyz", { status: 202 }); return new Response(r.body, r); })()`));
  assert.equal(status, 202);
  assert.deepEqual(plain(headers), ["content-type", "text/plain;charset=UTF-8"]);
  assert.deepEqual([...bytes], [120, 121, 122]);
  const [, , , reader] = readResponse(p.run(`new Response(new ReadableStream({ start(c) { c.enqueue(new Uint8Array([1])); c.enqueue(new Uint8Array([2, 3])); c.close(); } }))`));
  assert.equal(Object.getPrototypeOf(reader), null);
  assert.deepEqual([...await reader.read()], [1]);
  assert.deepEqual([...await reader.read()], [2, 3]);
  assert.equal(await reader.read(), null);
  const [, , , bad] = readResponse(p.run(`new Response(new ReadableStream({ start(c) { c.enqueue("text"); } }))`));
  await assert.rejects(bad.read(), (e) => e instanceof p.realm.TypeError && /not a Uint8Array/.test(e.message));
  const [, , , erroring] = readResponse(p.run(`new Response(new ReadableStream({ pull(c) { c.error(new RangeError("gone")); } }))`));
  await assert.rejects(erroring.read(), p.realm.RangeError);
  p.context.used = p.run("new Response('a')");
  await p.run("used.text()");
  assert.throws(() => readResponse(p.context.used), p.realm.TypeError);
  p.context.locked = p.run("new Response('a')");
  p.run("locked.body.getReader()");
  assert.throws(() => readResponse(p.context.locked), p.realm.TypeError);
  assert.throws(() => readResponse({}), p.realm.TypeError);
  const once = p.run("new Response('once')");
  readResponse(once);
  assert.throws(() => readResponse(once), p.realm.TypeError, "marks it used");
  assert.equal(readResponse(p.run("new Response(null)"))[3], null);
});
