// Where the events parts (AbortSignal, Blob, FormData) meet the streams parts and stream bodies:
// the writable controller's real signal, pipeTo's signal option, Blob.stream(), Blob and FormData
// bodies read through streams, fetch() aborted at each stage, and private body bytes under
// patched typed-array methods and getters. Node's own implementations are the reference where the
// behaviour is specified.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadPrelude } from "./load-prelude.mjs";

const plain = (v) => JSON.parse(JSON.stringify(v));
const FLUSH = "const flush = async () => { for (let i = 0; i < 50; i++) await null; };";
const inPrelude = async (body, p = loadPrelude()) => plain(await p.run(`(async () => { ${FLUSH} ${body} })()`));
const inNode = async (body) => plain(await new Function(`return (async () => { ${FLUSH} ${body} })()`)());
const same = async (body, what) => assert.deepEqual(await inPrelude(body), await inNode(body), what ?? body);

/** A host reply frame for fetch(): u32 LE head length, JSON head, body. */
function reply(status, body = new Uint8Array(0)) {
  const head = new TextEncoder().encode(JSON.stringify({ status, statusText: "", headers: [], url: "https://x.test/", redirected: false }));
  const out = new Uint8Array(4 + head.length + body.length);
  out.set([head.length & 255, head.length >> 8, 0, 0]);
  out.set(head, 4);
  out.set(body, 4 + head.length);
  return out;
}

test("WritableStreamDefaultController.signal is a real AbortSignal; abort() fires it with the reason", async () => {
  await same(`
    let signal;
    const ws = new WritableStream({ start(c) { signal = c.signal; }, write() { return new Promise(() => {}); } });
    const w = ws.getWriter();
    w.write("x");
    await flush();
    const log = [signal instanceof AbortSignal, Object.prototype.toString.call(signal), signal.aborted];
    signal.onabort = (e) => log.push("onabort " + e.type + " " + (e.target === signal));
    signal.addEventListener("abort", () => log.push("listener"));
    w.abort("why");
    log.push(signal.aborted, signal.reason);
    try { signal.throwIfAborted(); } catch (e) { log.push("threw " + e); }
    return log;
  `);
});

test("pipeTo's signal: a brand check, an already aborted signal, an abort mid-pipe", async () => {
  // Node 20 accepts any object with an \`aborted\` property; WebIDL asks for an AbortSignal.
  const fake = await inPrelude(`
    const shaped = { aborted: false, reason: undefined, addEventListener() {}, removeEventListener() {} };
    return new ReadableStream().pipeTo(new WritableStream(), { signal: shaped }).then(() => "resolved", (e) => e.name);
  `);
  assert.equal(fake, "TypeError");
  await same(`
    const out = [];
    const rs = () => new ReadableStream({ pull(c) { c.enqueue("x"); }, cancel(r) { out.push("cancel " + (r && r.name || r)); } }, { highWaterMark: 0 });
    const ws = () => new WritableStream({ write() { return flush(); }, abort(r) { out.push("abort " + (r && r.name || r)); } });
    try { await rs().pipeTo(ws(), { signal: AbortSignal.abort("early") }); } catch (e) { out.push("rejected " + e); }
    const c = new AbortController();
    const p = rs().pipeTo(ws(), { signal: c.signal, preventCancel: true });
    await flush();
    c.abort();
    try { await p; } catch (e) { out.push("rejected " + e.name); }
    return out;
  `);
});

test("a tenant's patched addEventListener or Set.prototype is not how pipeTo listens to its signal", async () => {
  const r = await inPrelude(`
    const c = new AbortController();
    AbortSignal.prototype.addEventListener = EventTarget.prototype.addEventListener = () => { throw new Error("patched"); };
    // The abort algorithms live in a Set: its patched methods never see (or break) them.
    for (const name of ["add", "delete", "clear", "forEach", "has", Symbol.iterator]) Set.prototype[name] = () => { throw new Error("patched Set"); };
    globalThis.Set = function () { throw new Error("patched global Set"); };
    const rs = new ReadableStream({ pull(ctl) { ctl.enqueue(1); } }, { highWaterMark: 0 });
    const p = rs.pipeTo(new WritableStream({ write() {} }), { signal: c.signal });
    await flush();
    c.abort("stop");
    return await p.then(() => "resolved", (e) => e);
  `);
  assert.equal(r, "stop");
});

test("Blob.stream() is a byte stream of bounded copies; a Blob body reads through streams", async () => {
  await same(`
    const bytes = new Uint8Array(200000).map((_, i) => i % 251);
    const blob = new Blob([bytes, "tail"], { type: "Text/Plain" });
    const s = blob.stream();
    const reader = s.getReader({ mode: "byob" });
    const first = await reader.read(new Uint8Array(10));
    reader.releaseLock();
    let total = first.value.length;
    for await (const chunk of s) total += chunk.length;
    const res = new Response(blob);
    const viaBody = [];
    for await (const chunk of res.body) viaBody.push(chunk.length);
    const again = await new Response(new Blob(["abc"]).stream()).text();
    const typed = await new Response(blob).blob();
    return [s instanceof ReadableStream, Array.from(first.value), total, viaBody.reduce((a, b) => a + b, 0), res.headers.get("content-type"), again, typed.type, typed.size];
  `);
});

test("FormData bodies through streams: .body is multipart, a Request round-trips, formData() after clone", async () => {
  const r = await inPrelude(`
    const fd = new FormData();
    fd.append("a", "1");
    fd.append("f", new Blob([new Uint8Array([0, 255, 13, 10])], { type: "application/x-bin" }), "f.bin");
    const req = new Request("https://x.test/", { method: "POST", body: fd });
    const copy = req.clone();
    let text = "";
    const decoder = new TextDecoder("utf-8");
    for await (const chunk of copy.body) text += decoder.decode(chunk, { stream: true });
    const back = await req.formData();
    const none = await new Response(null, { headers: { "content-type": "multipart/form-data; boundary=x" } }).formData().then(() => "resolved", (e) => e.name);
    const empty = [...await new Response("", { headers: { "content-type": "multipart/form-data; boundary=x" } }).formData()].length;
    return [req.headers.get("content-type").startsWith("multipart/form-data; boundary="), text.includes('filename="f.bin"'), back.get("a"), Array.from(await back.get("f").bytes()), back.get("f").type, none, empty];
  `);
  assert.deepEqual(r, [true, true, "1", [0, 255, 13, 10], "application/x-bin", "TypeError", 0]);
});

test("fetch() aborted while a streamed request body goes up, and after the answer (the body errors)", async () => {
  let answer;
  const calls = [];
  const p = loadPrelude({
    call(name) {
      calls.push(name);
      return new Promise((resolve) => { answer = resolve; });
    },
  });
  // A body stream that never ends: the abort rejects the fetch and cancels the stream.
  const r = await p.run(`(async () => {
    const log = [];
    const c = new AbortController();
    const body = new ReadableStream({ start(ctl) { ctl.enqueue(new Uint8Array([1])); }, cancel(r) { log.push("cancelled " + r); } });
    const pending = fetch("https://x.test/", { method: "POST", body, duplex: "half", signal: c.signal }).then(() => "resolved", (e) => "rejected " + e);
    for (let i = 0; i < 20; i++) await null;
    c.abort("stop");
    log.push(await pending);
    return log;
  })()`);
  assert.deepEqual(plain(r), ["cancelled stop", "rejected stop"]);
  // The body streams up as it is produced: the call, then its first chunk (never answered here);
  // the abort tells the host to stop waiting for the answer.
  assert.deepEqual(calls, ["fetch", "fetch.write", "fetch.abort"]);
  calls.length = 0;
  p.run(`globalThis.c = new AbortController(); globalThis.pending = fetch("https://x.test/", { signal: c.signal });`);
  answer(reply(200, new TextEncoder().encode("payload")));
  const out = await p.run(`(async () => {
    const res = await pending;
    c.abort(new DOMException("late", "AbortError"));
    const text = await res.text().then(() => "read", (e) => e.name + " " + e.message);
    return [res.status, text, res.bodyUsed];
  })()`);
  assert.deepEqual(plain(out), [200, "AbortError late", true]);
});

test("patched typed-array methods, getters and the array iterator never see private body bytes", async () => {
  const p = loadPrelude();
  p.context.hostExports = p.exports; // stands for the host reading the response
  const r = await p.run(`(async () => {
    const TA = Object.getPrototypeOf(Uint8Array.prototype);
    const fill = TA.fill;
    const lengthOf = Object.getOwnPropertyDescriptor(TA, "length").get;
    const expected = new Uint8Array(300);
    for (let i = 0; i < 300; i++) expected[i] = (i * 7 + 1) & 255;
    const input = new Uint8Array(expected);
    // A Set, made now: the patched array iterator below would see (and zero) the tenant's own
    // array on its way into the Blob, which is no leak.
    const blobParts = new Set([new Uint8Array(expected)]);
    // Every view a patched operation sees is zeroed: a private array among them corrupts a body.
    let seen = 0;
    const burn = (v) => { if (ArrayBuffer.isView(v)) { seen++; try { Reflect.apply(fill, v, [0]); } catch {} } };
    const saved = [];
    const patch = (target, name, d) => { saved.push([target, name, Object.getOwnPropertyDescriptor(target, name)]); Object.defineProperty(target, name, { ...d, configurable: true }); };
    for (const target of [TA, Uint8Array.prototype]) {
      for (const name of ["slice", "subarray", "set"]) {
        const original = TA[name];
        patch(target, name, { value: function (...args) { burn(this); args.forEach(burn); return Reflect.apply(original, this, args); }, writable: true });
      }
    }
    for (const name of ["buffer", "length", "byteLength", "byteOffset"]) {
      const get = Object.getOwnPropertyDescriptor(TA, name).get;
      patch(TA, name, { get() { burn(this); return Reflect.apply(get, this, []); } });
    }
    patch(Uint8Array.prototype, "constructor", { get() { burn(this); return Uint8Array; } });
    const iterate = Array.prototype[Symbol.iterator];
    patch(Array.prototype, Symbol.iterator, { value: function () { for (let i = 0; i < this.length; i++) burn(this[i]); return Reflect.apply(iterate, this, []); }, writable: true });

    const res = new Response(input);
    Reflect.apply(fill, input, [0xee]); // the body is a copy
    const fromBlob = new Response(new Blob(blobParts));
    const results = [
      new Uint8Array(await res.clone().arrayBuffer()),
      await res.clone().bytes(),
      new Uint8Array(await (await res.clone().blob()).arrayBuffer()),
      await fromBlob.clone().bytes(),
    ];
    const reader = res.clone().body.getReader();
    const streamed = new Uint8Array(300);
    let at = 0;
    for (;;) {
      const step = await reader.read();
      if (step.done) break;
      for (let i = 0; i < Reflect.apply(lengthOf, step.value, []); i++) streamed[at++] = step.value[i];
    }
    results.push(streamed);
    const forHost = hostExports.readResponse(res);
    for (const [target, name, d] of saved.reverse()) { if (d) Object.defineProperty(target, name, d); else delete target[name]; }
    results.push(forHost[3], await fromBlob.bytes());
    const intact = results.map((a) => a.length === 300 && a.every((v, i) => v === expected[i]));
    return [intact, seen];
  })()`);
  assert.deepEqual(plain(r), [[true, true, true, true, true, true, true], 0]);
});

test("the global scope and performance are EventTargets; listener lists ignore a patched Array.prototype", () => {
  const p = loadPrelude();
  const r = p.run(`(() => {
    const log = [];
    const add = (v) => { log[log.length] = v; }; // not push: it is patched below
    addEventListener("ping", function (e) { add(["global", e.target === globalThis, e.currentTarget === globalThis, this === globalThis]); });
    self.addEventListener("ping", { handleEvent(e) { add(["object", e.type]); } }, { once: true });
    removeEventListener("ping", null);
    performance.addEventListener("mark", () => add(["performance"]));
    for (const name of ["push", "slice", "indexOf", "splice", "filter", Symbol.iterator]) {
      Array.prototype[name] = () => { throw new Error("patched " + String(name)); };
    }
    const results = [dispatchEvent(new Event("ping")), self.dispatchEvent(new Event("ping")), performance.dispatchEvent(new Event("mark"))];
    let illegal;
    try { EventTarget.prototype.addEventListener.call({}, "x", null); } catch (e) { illegal = e.name; }
    return [log, results, globalThis instanceof EventTarget, performance instanceof EventTarget, illegal];
  })()`);
  assert.deepEqual(plain(r), [
    [["global", true, true, true], ["object", "ping"], ["global", true, true, true], ["performance"]],
    [true, true, true], true, true, "TypeError",
  ]);
});

test("an aborted upload ends failed at the gateway; a late streamed answer is cancelled there", async () => {
  const calls = [];
  let answerFetch;
  const p = loadPrelude({
    call(name, payload) {
      calls.push([name, Array.from(payload ?? [])]);
      if (name === "fetch") return new Promise((resolve) => { answerFetch = resolve; });
      return Promise.resolve(new Uint8Array(0));
    },
  });
  const r = await p.run(`(async () => {
    const c = new AbortController();
    const body = new ReadableStream({ start(ctl) { ctl.enqueue(new Uint8Array([9, 8])); } });
    const pending = fetch("https://x.test/", { method: "POST", body, duplex: "half", signal: c.signal }).then(() => "resolved", (e) => "rejected " + e);
    for (let i = 0; i < 20; i++) await null;
    c.abort("stop");
    const out = await pending;
    for (let i = 0; i < 20; i++) await null;
    return out;
  })()`);
  assert.equal(r, "rejected stop");
  const head = JSON.parse(new TextDecoder().decode(new Uint8Array(calls[0][1].slice(4))));
  const id = head.upload;
  const frame = (kind, bytes = []) => [id & 255, id >> 8 & 255, 0, 0, kind, ...bytes];
  assert.deepEqual(calls.slice(1), [
    ["fetch.write", frame(0, [9, 8])], ["fetch.abort", [head.call, 0, 0, 0]], ["fetch.write", frame(2)],
  ]);
  // The gateway answers after the abort with a streamed body: the prelude lets it go.
  calls.length = 0;
  const h = new TextEncoder().encode(JSON.stringify({ status: 200, statusText: "", headers: [], url: "https://x.test/", redirected: false, stream: 7 }));
  const reply = new Uint8Array(4 + h.length);
  reply.set([h.length & 255, h.length >> 8, 0, 0]);
  reply.set(h, 4);
  answerFetch(reply);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(calls, [["fetch.cancel", [7, 0, 0, 0]]]);
  // Aborted after a streamed answer came: its body errors and the host lets go of the stream.
  calls.length = 0;
  const out = await p.run(`(async () => {
    const c = new AbortController();
    const pending = fetch("https://x.test/", { signal: c.signal });
    for (let i = 0; i < 20; i++) await null;
    return [pending, c];
  })()`);
  answerFetch(reply);
  const res = await out[0];
  out[1].abort("enough");
  const read = await res.text().then(() => "read", (e) => "errored " + e);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(read, "errored enough");
  assert.deepEqual(calls.map(([name]) => name), ["fetch", "fetch.cancel"]);
  assert.deepEqual(calls[1][1], [7, 0, 0, 0]);
});
