// The nodejs_compat built-in modules (builtins.js, node-*.js) against Node's own modules: the same
// inputs must give the same outputs. The proof inside real isolates is isolate/tests/node.rs.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as nodeBuffer from "node:buffer";
import * as nodeCrypto from "node:crypto";
import nodePath from "node:path";
import * as nodeUrl from "node:url";
import { StringDecoder as NodeStringDecoder } from "node:string_decoder";
import nodeUtil from "node:util";
import { loadPrelude } from "./load-prelude.mjs";

function configured(config = {}) {
  const p = loadPrelude();
  p.exports.configure({ nodejs: true, nodeGlobals: true, asyncHooks: true, populateProcessEnv: true, env: { KEY: "v" }, ...config });
  return p;
}
const p = configured();
const mod = (name) => p.exports.builtinExports(name);
const { Buffer } = mod("node:buffer");
const NB = nodeBuffer.Buffer;
const bytes = (b) => Array.from(b);

test("every listed export exists, and the lists match the values", () => {
  for (const name of ["node:buffer", "node:events", "node:util", "node:util/types", "node:assert", "node:assert/strict",
    "node:path", "node:path/posix", "node:url", "node:string_decoder", "node:async_hooks", "node:process",
    "node:crypto", "cloudflare:workers"]) {
    const value = Object(mod(name));
    for (const n of p.exports.builtinNames(name)) assert.ok(n in value, `${name} lacks ${n}`);
  }
});

test("Buffer's own enumerable statics are Node's, in Node's order", () => {
  assert.deepEqual(Object.keys(Buffer), Object.keys(NB));
  const copied = {};
  for (const key in Buffer) copied[key] = Buffer[key];
  assert.equal(copied.isBuffer(Buffer.alloc(1)), true);
});

test("Buffer encodes and decodes like Node's", () => {
  const samples = ["", "hello", "héllo wörld €", "\u{1F600} emoji", "a\uD800b", "\x00\xff\x7f"];
  for (const enc of ["utf8", "hex", "base64", "base64url", "latin1", "binary", "ascii", "utf16le", "ucs2"]) {
    for (const s of samples) {
      // (Node's base64 and hex decoders are not specified for non-ASCII input.)
      if (!/^(hex|base64|base64url)$/.test(enc) || /^[\x00-\x7f]*$/.test(s)) {
        assert.deepEqual(bytes(Buffer.from(s, enc)), bytes(NB.from(s, enc)), `${enc} ${s}`);
      }
      const b = NB.from(s);
      assert.equal(Buffer.from(b).toString(enc), b.toString(enc), `${enc} decode ${s}`);
      assert.equal(Buffer.byteLength(s, enc), NB.byteLength(s, enc), `${enc} byteLength ${s}`);
    }
  }
  for (const [s, enc] of [["abz1", "hex"], ["0102030", "hex"], ["aGVs bG8=\n", "base64"], ["aGVsbG8", "base64"],
    ["-_-_", "base64url"], ["+/+/", "base64url"], ["aGk=junk", "base64"]]) {
    assert.deepEqual(bytes(Buffer.from(s, enc)), bytes(NB.from(s, enc)), `${enc} ${s}`);
  }
});

test("Buffer construction, comparison, search, slicing and writing follow Node", () => {
  const a = Buffer.from([1, 2, 3, 4, 5]);
  assert.ok(Buffer.isBuffer(a) && a instanceof p.run("Uint8Array") && a instanceof Buffer);
  assert.ok(!Buffer.isBuffer(new Uint8Array(2)));
  const s = a.slice(1, 3);
  s[0] = 9;
  assert.equal(a[1], 9, "slice shares memory");
  assert.ok(Buffer.isBuffer(a.subarray(1)) && Buffer.isBuffer(a.map((x) => x)));
  assert.deepEqual(bytes(a.slice(-2)), [4, 5]);
  assert.equal(Buffer.compare(Buffer.from("a"), Buffer.from("b")), -1);
  assert.equal(Buffer.concat([Buffer.from("ab"), new Uint8Array([99])]).toString(), "abc");
  assert.equal(Buffer.concat([Buffer.from("abcd")], 2).toString(), "ab");
  assert.equal(Buffer.alloc(5, "ab").toString(), "ababa");
  assert.equal(Buffer.alloc(4, 0x41).toString(), "AAAA");
  const h = Buffer.from("hello world hello");
  const nh = NB.from("hello world hello");
  for (const args of [["world"], ["hello", 1], ["o"], [111], ["xyz"], [Buffer.from("lo")], ["hello", -5]]) {
    assert.equal(h.indexOf(...args), nh.indexOf(...args), `indexOf ${args}`);
    assert.equal(h.lastIndexOf(...args), nh.lastIndexOf(...args), `lastIndexOf ${args}`);
  }
  assert.ok(h.includes("world") && !h.includes("mars"));
  const w = Buffer.alloc(6), nw = NB.alloc(6);
  assert.equal(w.write("€uro", 1), nw.write("€uro", 1));
  assert.deepEqual(bytes(w), bytes(nw));
  assert.equal(Buffer.alloc(2).write("€"), 0, "no partial characters");
  assert.equal(JSON.stringify(Buffer.from("hi")), JSON.stringify(NB.from("hi")));
  assert.ok(Buffer.from("abc").equals(NB.from("abc")));
  const c = Buffer.alloc(3);
  assert.equal(Buffer.from("xyz").copy(c, 1), 2);
  assert.equal(c.toString("latin1"), "\0xy");
  assert.equal(Buffer.from(Buffer.from("ab").buffer).length, Buffer.from("ab").buffer.byteLength);
  assert.throws(() => Buffer.from(5), { code: "ERR_INVALID_ARG_TYPE", name: "TypeError" });
  assert.throws(() => Buffer.alloc(-1), { code: "ERR_OUT_OF_RANGE", name: "RangeError" });
  assert.throws(() => Buffer.from("x", "klingon"), { code: "ERR_UNKNOWN_ENCODING" });
  assert.equal(p.exports.inspect(Buffer.from("hi")), "<Buffer 68 69>");
});

test("Buffer numbers read and write like Node's", () => {
  const src = NB.from([0x80, 1, 2, 3, 4, 5, 6, 0xff, 0x7f, 0x40, 0x49, 0x0f, 0xdb, 0, 0, 0]);
  const ours = Buffer.from(src);
  for (const m of ["readUInt8", "readInt8", "readUInt16LE", "readUInt16BE", "readInt16LE", "readInt16BE",
    "readUInt32LE", "readUInt32BE", "readInt32LE", "readInt32BE", "readFloatLE", "readFloatBE", "readDoubleLE",
    "readDoubleBE", "readBigUInt64LE", "readBigInt64BE", "readUint16LE"]) {
    for (const o of [0, 1, 7]) assert.deepEqual(ours[m](o), src[m](o), `${m}(${o})`);
  }
  for (const n of [1, 3, 6]) {
    assert.equal(ours.readUIntBE(1, n), src.readUIntBE(1, n));
    assert.equal(ours.readIntLE(0, n), src.readIntLE(0, n));
  }
  for (const [m, v] of [["writeUInt16LE", 0xbeef], ["writeInt32BE", -123456], ["writeFloatLE", 1.5], ["writeDoubleBE", -Math.PI],
    ["writeBigInt64LE", -5n], ["writeBigUInt64BE", 2n ** 63n], ["writeUIntLE", 0x123456], ["writeIntBE", -2]]) {
    const a = Buffer.alloc(10), b = NB.alloc(10);
    const extra = m.endsWith("IntLE") || m.endsWith("IntBE") ? [3] : [];
    assert.equal(a[m](v, 1, ...extra), b[m](v, 1, ...extra), m);
    assert.deepEqual(bytes(a), bytes(b), m);
  }
  assert.throws(() => Buffer.alloc(2).readUInt32LE(0), { code: "ERR_BUFFER_OUT_OF_BOUNDS" });
  assert.throws(() => Buffer.alloc(4).readUInt8(4), { code: "ERR_OUT_OF_RANGE" });
  assert.throws(() => Buffer.alloc(4).writeUInt8(256), { code: "ERR_OUT_OF_RANGE" });
  assert.deepEqual(bytes(Buffer.from([1, 2, 3, 4]).swap16()), [2, 1, 4, 3]);
});

test("events: order, once, errors, removal while emitting", async () => {
  const EventEmitter = mod("node:events");
  const e = new EventEmitter();
  const seen = [];
  const second = () => seen.push("second");
  e.on("x", (v) => { seen.push(`first ${v}`); e.off("x", second); });
  e.on("x", second);
  e.once("x", () => seen.push("once"));
  assert.equal(e.emit("x", 1), true);
  e.emit("x", 2);
  assert.deepEqual(seen, ["first 1", "second", "once", "first 2"]);
  assert.equal(e.listenerCount("x"), 1);
  assert.throws(() => e.emit("error", new p.realm.RangeError("boom")), p.realm.RangeError);
  assert.throws(() => e.emit("error", "text"), { code: "ERR_UNHANDLED_ERROR" });
  const later = EventEmitter.once(e, "ready");
  e.emit("ready", 1, 2);
  assert.deepEqual([...await later], [1, 2]);
  class Sub extends EventEmitter {}
  const s = new Sub();
  const got = [];
  s.prependListener("y", () => got.push(1));
  s.prependListener("y", () => got.push(2));
  s.emit("y");
  assert.deepEqual(got, [2, 1]);
  assert.deepEqual([...s.eventNames()], ["y"]);
});

test("events.once with a signal rejects as Node's does when it aborts, before or while waiting", async () => {
  const nodeEvents = await import("node:events");
  const run = async (EE, AC, events) => {
    const out = [];
    for (const when of ["before", "while"]) {
      const e = new EE();
      const c = new AC();
      if (when === "before") c.abort("early");
      const waiting = events.once(e, "ready", { signal: c.signal });
      if (when === "while") c.abort("late");
      try {
        await waiting;
        out.push("resolved");
      } catch (err) {
        out.push([err.name, err.code, String(err.cause), e.listenerCount("ready"), e.listenerCount("error")]);
      }
    }
    const e = new EE();
    const c = new AC();
    const got = events.once(e, "ready", { signal: c.signal });
    e.emit("ready", 7);
    c.abort();
    out.push([...await got]);
    return out;
  };
  const EventEmitter = mod("node:events");
  const ours = await run(EventEmitter, p.run("AbortController"), EventEmitter);
  const theirs = await run(nodeEvents.EventEmitter, AbortController, nodeEvents);
  assert.deepEqual(JSON.parse(JSON.stringify(ours)), theirs);
  await assert.rejects(EventEmitter.once(new EventEmitter(), "x", { signal: {} }), { code: "ERR_INVALID_ARG_TYPE" });
});

test("events.on: a signal, close events, the water marks, errors and EventTargets as Node's", async () => {
  const nodeEvents = await import("node:events");
  const run = async (events, AC, ET, Ev) => {
    const EE = events.EventEmitter;
    const out = [];
    const collect = async (iterator, limit = 10) => {
      const got = [];
      try {
        for await (const args of iterator) { got.push(args.length === 1 && typeof args[0] !== "object" ? args[0] : args[0]?.type ?? args); if (got.length >= limit) break; }
        got.push("end");
      } catch (err) { got.push([err.name, err.code ?? null, err.message]); }
      return got;
    };
    // Aborted while waiting: the waiting read rejects with AbortError, the listeners go.
    let e = new EE();
    let c = new AC();
    setTimeout(() => { e.emit("z", 1); c.abort(); }, 1);
    out.push(await collect(events.on(e, "z", { signal: c.signal })), e.listenerCount("z"), e.listenerCount("error"));
    // Aborted before: thrown at once.
    c = new AC();
    c.abort();
    try { events.on(new EE(), "z", { signal: c.signal }); out.push("no throw"); } catch (err) { out.push([err.name, err.code]); }
    // Close events end it; what was queued is still read.
    e = new EE();
    const closing = events.on(e, "z", { close: ["end", "finish"] });
    e.emit("z", 1); e.emit("z", 2); e.emit("finish"); e.emit("z", 3);
    out.push(await collect(closing), e.listenerCount("finish"));
    // An error after queued events: those first, then the error, then done.
    e = new EE();
    const failing = events.on(e, "z");
    e.emit("z", 1); e.emit("error", new Error("boom"));
    out.push(await collect(failing), await failing.next());
    // High and low water marks pause and resume the emitter.
    e = new EE();
    const log = [];
    e.pause = () => log.push("pause");
    e.resume = () => log.push("resume");
    const marked = events.on(e, "z", { highWaterMark: 2, lowWaterMark: 1 });
    for (let i = 0; i < 5; i++) e.emit("z", i);
    for (let i = 0; i < 5; i++) log.push((await marked.next()).value[0]);
    await marked.return();
    out.push(log);
    // An EventTarget.
    const t = new ET();
    const fromTarget = events.on(t, "ping");
    t.dispatchEvent(new Ev("ping"));
    out.push((await fromTarget.next()).value[0].type);
    await fromTarget.return();
    return out;
  };
  const EventEmitter = mod("node:events");
  const ours = await run(EventEmitter, p.run("AbortController"), p.run("EventTarget"), p.run("Event"));
  const theirs = await run(nodeEvents, AbortController, EventTarget, Event);
  assert.deepEqual(JSON.parse(JSON.stringify(ours)), JSON.parse(JSON.stringify(theirs)));
});

test("events' helpers take EventTargets, and its aliases are one function, as Node's", async () => {
  const nodeEvents = await import("node:events");
  const run = async (events, ET, AC) => {
    const t = new ET();
    const f = () => {};
    const g = () => {};
    t.addEventListener("x", f);
    t.addEventListener("x", g);
    t.addEventListener("y", f);
    t.removeEventListener("x", g);
    const listeners = events.getEventListeners(t, "x").map((l) => (l === f ? "f" : "other"));
    events.setMaxListeners(5, t);
    const e = new events.EventEmitter();
    events.setMaxListeners(3, e);
    const p = events.EventEmitter.prototype;
    const ac = new AC();
    const log = [];
    const disposable = events.addAbortListener(ac.signal, () => log.push("aborted"));
    ac.abort();
    const done = new AC();
    done.abort();
    events.addAbortListener(done.signal, () => log.push("already"));
    await null;
    await null;
    return [listeners, events.getMaxListeners(t), events.getMaxListeners(e), p.off === p.removeListener,
      p.addListener === p.on, typeof disposable, log];
  };
  const EventEmitter = mod("node:events");
  const ours = await run(EventEmitter, p.run("EventTarget"), p.run("AbortController"));
  const theirs = await run(nodeEvents, EventTarget, AbortController);
  assert.deepEqual(JSON.parse(JSON.stringify(ours)), JSON.parse(JSON.stringify(theirs)));
});

test("util.format, inspect, promisify, types, inherits and deepStrictEqual", async () => {
  const util = mod("node:util");
  class Named { toString() { return "named!"; } }
  for (const args of [["%s=%d", "a", 42], ["%i %f %j", "3.7", "1.5", { a: 1 }], ["100%% %s", "x", "extra"], ["%c%s", "css", "y"], [1, "two"],
    ["%s %s", Symbol("x"), -0], ["%s|%s|%s", { a: 1 }, new Named(), [1, 2]], ["%s", Object.assign({}, { toString: () => "own" })]]) {
    assert.equal(util.format(...args), nodeUtil.format(...args), JSON.stringify(args));
  }
  const fn = (a, cb) => cb(null, a * 2);
  assert.equal(await util.promisify(fn)(21), 42);
  // More than one value: the first, as Node's.
  assert.equal(await util.promisify((cb) => cb(null, 1, 2))(), await nodeUtil.promisify((cb) => cb(null, 1, 2))());
  for (const args of [["%d", -0], ["%s", { a: { b: 1 } }], ["%s", [[1, [2]]]]]) {
    assert.equal(util.format(...args), nodeUtil.format(...args), JSON.stringify(args));
  }
  // util.types' generator and arguments checks; isBuffer, _extend, getSystemErrorName.
  for (const [name, code] of [["isGeneratorObject", "(async function* () {})()"], ["isGeneratorObject", "(function* () {})()"],
    ["isArgumentsObject", "(function () { return arguments; })(1)"], ["isArgumentsObject", "[1]"]]) {
    assert.equal(util.types[name](p.run(code)), nodeUtil.types[name]((0, eval)(code)), `${name}(${code})`);
  }
  assert.equal(util.isBuffer(Buffer.alloc(1)), true);
  assert.equal(util.isBuffer(new Uint8Array(1)), false);
  assert.deepEqual({ ...util._extend({ a: 1 }, { b: 2, a: 3 }) }, nodeUtil._extend({ a: 1 }, { b: 2, a: 3 }));
  for (const n of [-2, -13, -11, -95, -4095, -99999]) assert.equal(util.getSystemErrorName(n), nodeUtil.getSystemErrorName(n), n);
  assert.throws(() => util.getSystemErrorName(1), { code: "ERR_OUT_OF_RANGE" });
  // A formatter gets Node's options (stylize too); an accessor named like a descriptor field on
  // Object.prototype is never run by inspect (it used to be read for every accessor property).
  class Box { constructor(v) { this.v = v; } [util.inspect.custom](depth, options, inspect) { return `Box< ${options.stylize(String(this.v), "number")} >`; } }
  assert.equal(util.inspect(new Box(5)), nodeUtil.inspect(new Box(5)));
  const OP = p.run("Object.prototype");
  const withAccessors = [p.run("({ get a() { return 1; } })"),
    p.run("Object.defineProperty({}, Symbol.for('nodejs.util.inspect.custom'), { get() { return 1; } })")];
  let ran = 0;
  Object.defineProperty(OP, "value", { get() { ran++; return () => "FROM-GETTER"; }, configurable: true });
  try {
    for (const v of withAccessors) util.inspect(v);
  } finally {
    delete OP.value;
  }
  assert.equal(ran, 0);
  // util.inspect.custom, and the older inspect(value, showHidden, depth) form.
  const custom = util.inspect.custom;
  assert.equal(custom, nodeUtil.inspect.custom);
  for (const [v, ...rest] of [[{ [custom]: () => "X" }], [{ a: { b: { c: {} } } }, false, 0], [{ x: { [custom]: (d) => ({ y: d }) } }],
    [{ a: { [custom]: (d, o, inspect) => `<${inspect({ q: 1 })}>` } }]]) {
    assert.equal(util.inspect(v, ...rest), nodeUtil.inspect(v, ...rest));
  }
  assert.ok(util.types.isDate(p.run("new Date()")) && util.types.isUint8Array(p.run("new Uint8Array(1)")) && !util.types.isPromise({}));
  assert.ok(util.types.isPromise(p.run("Promise.resolve()")) && util.types.isAsyncFunction(p.run("(async () => {})")));
  function A() {}
  function B() {}
  util.inherits(A, B);
  assert.ok(new A() instanceof B);
  assert.ok(util.isDeepStrictEqual({ a: [1, new Map([[1, { b: 2 }]])] }, { a: [1, new Map([[1, { b: 2 }]])] }));
  assert.ok(!util.isDeepStrictEqual({ a: 1 }, { a: "1" }));
  assert.ok(!util.isDeepStrictEqual([1], { 0: 1, length: 1 }));
  // URLs by their hrefs; errors by their cause and an AggregateError's errors too (as Node 20).
  const U = p.run("URL");
  for (const [x, y] of [[new U("http://a/"), new U("http://b/")], [new U("http://a/"), new U("http://a/")],
    [p.run("new Error('e', { cause: 1 })"), p.run("new Error('e', { cause: 2 })")], [p.run("new Error('e', { cause: 1 })"), p.run("new Error('e', { cause: 1 })")],
    [p.run("new Error('e', { cause: 1 })"), p.run("new Error('e')")],
    [p.run("new AggregateError([1], 'a')"), p.run("new AggregateError([2], 'a')")], [p.run("new AggregateError([1], 'a')"), p.run("new AggregateError([1], 'a')")]]) {
    const nodeX = x instanceof U ? new URL(x.href) : x, nodeY = y instanceof U ? new URL(y.href) : y;
    assert.equal(util.isDeepStrictEqual(x, y), nodeUtil.isDeepStrictEqual(nodeX, nodeY), `${x} ${y}`);
  }
});

test("Buffer searches and compares from any offset as Node", () => {
  const run = (B) => {
    const out = [];
    const b = B.from("abcabc");
    for (const needle of ["abc", "", "c", 99, "bca", B.from("ab")]) {
      for (const offset of [undefined, null, 0, 1, 2.7, -1, -1.5, -3, -100, 5, 6, 100, NaN, "x", [], {}]) {
        const t = (f) => { try { return f(); } catch (e) { return e.code; } };
        out.push([t(() => b.indexOf(needle, offset)), t(() => b.lastIndexOf(needle, offset)), t(() => b.includes(needle, offset))]);
      }
    }
    const w = B.from([0, 0x61, 0, 0x61, 0]);
    out.push(w.indexOf("a", "ucs2"), w.lastIndexOf("a", "ucs2"), B.from("a\u0000b\u0000a\u0000").indexOf("a", 1, "ucs2"));
    const t = B.from("abc");
    for (const args of [[t, 5], [t, 0, 1, 4], [t, 0, 3, 0, 3], [B.from("abd"), 1, 3, 1]]) out.push(B.from("abc").compare(...args));
    const sub = B.from("abcdef").subarray(2);
    out.push(sub.offset === sub.byteOffset, sub.parent === sub.buffer, Object.keys(Object.getOwnPropertyDescriptors(B.prototype)).includes("parent"));
    return out;
  };
  assert.deepEqual(run(Buffer), run(NB));
});

test("Buffer writes NaN as 0, fills with anything, and transcodes as Node", () => {
  const run = (B, transcode) => {
    const out = [];
    for (const v of [null, {}, undefined, [1, 2], new Uint16Array([0x0102]), 3.7, -1, true]) out.push([...B.alloc(4, 9).fill(v)]);
    const b = B.alloc(8, 7);
    out.push(b.writeUInt8(NaN, 0), b.writeInt32LE(undefined, 1), b.writeIntLE(NaN, 5, 3), [...b]);
    for (const [a, z] of [["utf8", "latin1"], ["utf8", "ascii"], ["utf8", "ucs2"], ["latin1", "utf8"], ["ucs2", "utf8"], ["utf8", "hex"], ["ascii", "utf8"], ["binary", "utf16le"], ["ascii", "ucs2"]]) {
      try { out.push([...transcode(B.from("h€é\u{1F600}"), a, z)]); } catch (e) { out.push(e.code); }
    }
    return out;
  };
  const ours = run(Buffer, mod("node:buffer").transcode);
  const theirs = run(NB, nodeBuffer.transcode);
  assert.deepEqual(JSON.parse(JSON.stringify(ours)), theirs);
});

test("node:zlib's legacy constants and codes are Node's", async () => {
  const zlib = mod("node:zlib");
  const nodeZlib = await import("node:zlib");
  for (const name of ["Z_SYNC_FLUSH", "Z_BEST_COMPRESSION", "Z_DATA_ERROR", "DEFLATE", "UNZIP", "Z_DEFAULT_STRATEGY"]) {
    assert.equal(zlib[name], nodeZlib.default[name], name);
    assert.equal(Object.getOwnPropertyDescriptor(zlib, name).enumerable, false, name);
  }
  assert.equal(zlib.BROTLI_MAX_QUALITY, nodeZlib.default.BROTLI_MAX_QUALITY);
  assert.deepEqual({ ...zlib.codes }, { ...nodeZlib.codes });
  assert.equal(Object.isFrozen(zlib.codes), true);
});

test("assert throws AssertionError like Node's", async () => {
  const a = mod("node:assert");
  a.deepStrictEqual({ x: new Set([1, { y: 2 }]) }, { x: new Set([{ y: 2 }, 1]) });
  a.deepEqual({ x: 1 }, { x: "1" });
  assert.throws(() => a.deepStrictEqual({ x: 1 }, { x: "1" }), (e) => e.name === "AssertionError" && e.code === "ERR_ASSERTION" && e.operator === "deepStrictEqual");
  assert.throws(() => a.strictEqual(1, 2, "custom"), { message: "custom" });
  assert.throws(() => a(false), { name: "AssertionError" });
  a.throws(() => { throw new TypeError("t"); }, TypeError);
  a.throws(() => { throw new Error("abc"); }, p.run("/ab/"));
  a.throws(() => { throw new Error("abc"); }, { message: "abc" });
  await a.rejects(Promise.reject(new Error("r")), Error);
  assert.throws(() => a.throws(() => {}), { code: "ERR_ASSERTION" });
  assert.equal(mod("node:assert/strict").equal, mod("node:assert/strict").strictEqual);
  assert.throws(() => mod("node:assert/strict").equal(1, "1"));
  // The throws/rejects family's verdicts and error codes, as Node 20's (values made in each realm).
  const nodeAssert = (await import("node:assert")).default;
  const verdicts = async (A, make) => {
    const out = [];
    const t = async (f) => { try { await f(); return "passes"; } catch (e) { return [e.code ?? e.name, e.name === "AssertionError" ? e.message.split("\n")[0] : e.message]; } };
    const E = make("Error"), TE = make("TypeError"), RE = make("RangeError");
    out.push(await t(() => A.throws(() => { throw new E("e"); }, new E("f"))));
    out.push(await t(() => A.throws(() => { throw new E("e"); }, { x: undefined })));
    out.push(await t(() => A.throws(() => { throw null; }, { a: 1 })));
    out.push(await t(() => A.throws(() => { throw new E("e"); }, null)));
    out.push(await t(() => A.throws(() => { throw new E("e"); }, 5)));
    out.push(await t(() => A.throws(() => { throw new E("e"); }, {})));
    out.push(await t(() => A.throws(() => { throw new E("e"); }, "e")));
    out.push(await t(() => A.throws(() => {}, TE, "why")));
    out.push(await t(() => A.doesNotThrow(() => { throw new TE("x"); }, RE)));
    out.push(await t(() => A.doesNotThrow(() => { throw new TE("x"); }, TE)));
    out.push(await t(() => A.doesNotReject(() => Promise.reject(new TE("x")), RE)));
    out.push(await t(() => A.ifError(new E("x"))));
    out.push(await t(() => A.rejects(() => { throw new E("sync"); })));
    out.push(await t(() => A.rejects(() => 5)));
    out.push(await t(() => A.rejects(5)));
    out.push(await t(() => A.doesNotReject(() => 5)));
    out.push(await t(() => A.fail(1, 2)));
    out.push(await t(() => A.fail("m")));
    out.push(await t(() => A.fail()));
    out.push(await t(() => A.throws(() => { throw Symbol("x"); }, make("/x/"))));
    out.push(await t(() => A.rejects(Promise.reject(Symbol("s")), make("/s/"))));
    return out;
  };
  const ours = await verdicts(a, (name) => p.run(name));
  const theirs = await verdicts(nodeAssert, (name) => (0, eval)(name));
  assert.deepEqual(ours, theirs);
});

test("path, url and string_decoder match Node's", () => {
  const path = mod("node:path");
  const cases = [["/a/b/../c/./d"], ["a//b/"], [""], ["../../x"], ["/.."], ["./"]];
  for (const [x] of cases) assert.equal(path.normalize(x), nodePath.posix.normalize(x), `normalize ${x}`);
  for (const args of [["/a", "b", "../c"], ["a", "", "b/"], [], ["/x", "/y"]]) assert.equal(path.join(...args), nodePath.posix.join(...args));
  for (const args of [["a/b", "../c"], ["/a", "b"], ["/a", "/b", "c"]]) {
    assert.equal(path.resolve(...args), nodePath.posix.resolve("/", ...args));
  }
  for (const x of ["/a/b.txt", "a", "/a/", "/", ".bashrc", "a.b.c", "/a//", "x/..", ""]) {
    assert.equal(path.dirname(x), nodePath.posix.dirname(x), `dirname ${x}`);
    assert.equal(path.basename(x), nodePath.posix.basename(x), `basename ${x}`);
    assert.equal(path.extname(x), nodePath.posix.extname(x), `extname ${x}`);
    assert.deepEqual({ ...path.parse(x) }, nodePath.posix.parse(x), `parse ${x}`);
  }
  assert.equal(path.basename("/a/b.txt", ".txt"), "b");
  assert.equal(path.relative("/a/b/c", "/a/d"), nodePath.posix.relative("/a/b/c", "/a/d"));
  assert.equal(path.format({ dir: "/x", name: "f", ext: "js" }), nodePath.posix.format({ dir: "/x", name: "f", ext: "js" }));
  const url = mod("node:url");
  for (const d of ["xn--mnchen-3ya.de", "MÜNCHEN.de", "example.com", "xn--", "a b", "1.2.3.4", "[::1]", "0x7f.1", "a/b", ""]) {
    assert.equal(url.domainToASCII(d), nodeUrl.domainToASCII(d), d);
    assert.equal(url.domainToUnicode(d), nodeUrl.domainToUnicode(d), d);
  }
  for (const href of ["http://xn--mnchen-3ya.de/p?q#f", "https://u:p@xn--bcher-kva.example:81/", "http://1.2.3.4/", "foo:bar"]) {
    for (const unicode of [true, false]) {
      assert.equal(url.format(new url.URL(href), { unicode }), nodeUrl.format(new URL(href), { unicode }), href);
    }
  }
  assert.equal(url.fileURLToPath("file:///tmp/a%20b"), nodeUrl.fileURLToPath("file:///tmp/a%20b"));
  // A byte that starts no UTF-8 sequence is replaced at once, not held for the next write.
  for (const bytes of [[0xff], [0xf8, 0x41], [0xf0, 0x9f], [0xc3]]) {
    const { StringDecoder } = mod("node:string_decoder");
    assert.equal(new StringDecoder("utf8").write(Buffer.from(bytes)), new NodeStringDecoder("utf8").write(NB.from(bytes)), JSON.stringify(bytes));
  }
  assert.equal(url.pathToFileURL("/tmp/a b#?").href, nodeUrl.pathToFileURL("/tmp/a b#?").href);
  assert.equal(url.format({ protocol: "https", hostname: "x.test", pathname: "/p", query: { a: "1" } }),
    nodeUrl.format({ protocol: "https", hostname: "x.test", pathname: "/p", query: { a: "1" } }));
  const parsed = url.parse("https://u:p@x.test:8080/p/a?q=1#h", true);
  assert.equal(parsed.hostname, "x.test");
  assert.equal(parsed.port, "8080");
  assert.equal(parsed.query.q, "1");
  const { StringDecoder } = mod("node:string_decoder");
  const euro = NB.from("€ and \u{1F600}");
  for (const enc of ["utf8", "utf16le", "base64", "hex"]) {
    const raw = enc === "utf8" ? euro : NB.from(euro.toString(enc === "utf16le" ? "utf8" : "utf8"), enc === "utf16le" ? "utf16le" : "utf8");
    const ours = new StringDecoder(enc), theirs = new NodeStringDecoder(enc);
    let a = "", b = "";
    for (let i = 0; i < raw.length; i++) { a += ours.write(Buffer.from(raw.subarray(i, i + 1))); b += theirs.write(raw.subarray(i, i + 1)); }
    assert.equal(a + ours.end(), b + theirs.end(), enc);
  }
});

// node:crypto's hashes, KDFs, keys, signatures and ciphers run on native ops the harness does not
// have: isolate/tests/node_crypto_*.rs compare them with Node in real isolates.
test("crypto helpers match Node's", () => {
  const c = mod("node:crypto");
  assert.equal(c.randomBytes(16).length, 16);
  assert.ok(Buffer.isBuffer(c.randomBytes(4)));
  assert.ok(c.timingSafeEqual(Buffer.from("ab"), Buffer.from("ab")) && !c.timingSafeEqual(Buffer.from("ab"), Buffer.from("ac")));
  assert.throws(() => c.timingSafeEqual(Buffer.from("a"), Buffer.from("ab")), { code: "ERR_CRYPTO_TIMING_SAFE_EQUAL_LENGTH" });
  for (let i = 0; i < 50; i++) { const n = c.randomInt(3, 7); assert.ok(n >= 3 && n < 7); }
  assert.match(c.randomUUID(), /^[0-9a-f]{8}-[0-9a-f]{4}-4/);
  assert.throws(() => c.createHash("sha3-999"), { message: "Digest method not supported" });
  assert.throws(() => c.checkPrimeSync(7n), { code: "ERR_METHOD_NOT_IMPLEMENTED" });
});

test("process and the nodejs_compat globals", () => {
  assert.equal(p.run("typeof Buffer === 'function' && Buffer.from('x').toString('hex')"), "78");
  assert.equal(p.run("process.env.KEY + process.platform + process.cwd()"), "vlinux/");
  assert.equal(p.run("process.version.startsWith('v') && typeof process.versions.node"), "string");
  const plain = loadPrelude();
  assert.equal(plain.run("typeof Buffer + typeof process"), "undefinedundefined");
  const noEnv = configured({ populateProcessEnv: false });
  assert.equal(noEnv.run("Object.keys(process.env).length"), 0);
  const v1 = configured({ nodeGlobals: false });
  assert.equal(v1.run("typeof Buffer"), "undefined");
});

test("AsyncLocalStorage runs, exits and nests synchronously (propagation needs real isolates)", () => {
  const { AsyncLocalStorage, AsyncResource } = mod("node:async_hooks");
  const als = new AsyncLocalStorage();
  assert.equal(als.getStore(), undefined);
  const seen = als.run({ id: 1 }, () => [als.getStore().id, als.run(2, () => als.getStore()), als.getStore().id,
    als.exit(() => als.getStore())]);
  assert.deepEqual(seen, [1, 2, 1, undefined]);
  assert.equal(als.getStore(), undefined);
  const bound = als.run("bound", () => AsyncResource.bind(() => als.getStore()));
  assert.equal(bound(), "bound");
});

test("util.MIMEType and util.MIMEParams answer as Node's on generated strings", () => {
  const util = mod("node:util");
  const describe = (MIMEType) => (input) => {
    try {
      const m = new MIMEType(input);
      const entries = [];
      for (const [k, v] of m.params) entries.push([k, v]);
      return [m.type, m.subtype, m.essence, String(m), JSON.stringify({ m }), entries, m.params.toString()];
    } catch (e) {
      return [e.name, e.code, e.message];
    }
  };
  const ours = describe(util.MIMEType);
  const theirs = describe(nodeUtil.MIMEType);
  const fixed = ["text/html", " Text/HTML ; Charset=\"utf-8\" ;a=b", "text/plain;a=\"x\\\"y\";b=\"\\\\\"", "te xt/html", "text/",
    "/html", "text", "", "text/html;", "text/html;=x", "text/html;a", "text/html;a=", "text/html;a=\"\"", "text/html;a=\"b\"cd=e",
    "text/html;a=\"unterminated", "text/html;a=\"end\\", "text/html;A=1;a=2", "text/html;a=é", "text/html;a=\u0100",
    "text/html \t\r\n", "\r\n text/html", "text/html ;  a = b ", "x/y;a=\"q\" ;b=c", "text/html;a=b;;;c=d", "a/b;c=\"d;e\";f=g",
    "image/svg+xml", "APPLICATION/JSON; charset=UTF-8", "a/b;\u00e9=1", "a/b;a=\"\ud83d\ude00\"", "a/b;a=\"\\\ud83d\ude00\""];
  for (const input of fixed) assert.deepEqual(ours(input), theirs(input), JSON.stringify(input));
  // Generated: short strings over the characters that steer the parser.
  const alphabet = ["a", "B", "/", ";", "=", "\"", "\\", " ", "\t", "\n", "é", "\u0100", "+", "x", "ud83d"];
  let seed = 12345;
  const rand = (n) => { seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff; return Math.floor((seed / 0x80000000) * n); };
  for (let round = 0; round < 20000; round++) {
    let input = rand(2) ? "t/s" : "";
    const length = rand(14);
    for (let i = 0; i < length; i++) {
      const c = alphabet[rand(alphabet.length)];
      input += c === "ud83d" ? "\ud83d" : c;
    }
    assert.deepEqual(ours(input), theirs(input), JSON.stringify(input));
  }
  // The setters and MIMEParams' own methods, each answer compared.
  const session = (util) => {
    const log = [];
    const step = (f) => { try { log.push(f()); } catch (e) { log.push([e.name, e.code, e.message]); } };
    const m = new util.MIMEType("text/html;charset=utf-8;q=1");
    step(() => { m.type = "Application"; return String(m); });
    step(() => { m.type = "bad type"; });
    step(() => { m.type = ""; });
    step(() => { m.subtype = "JSON "; });
    step(() => { m.subtype = "Vnd.X+json"; return [m.essence, String(m)]; });
    step(() => { m.params.set("Charset", "latin1"); return String(m); });
    step(() => { m.params.set("a b", "x"); });
    step(() => { m.params.set("n", "line\nbreak"); });
    step(() => { m.params.set("n", "needs \"quotes\""); return [String(m), m.params.get("n")]; });
    step(() => { m.params.set("e", ""); return String(m); });
    step(() => [m.params.has("q"), m.params.get("missing"), m.params.has(undefined)]);
    step(() => { m.params.delete("q"); return [String(m), [...m.params.keys()], [...m.params.values()]]; });
    step(() => { const p = new util.MIMEParams(); p.set("k", "v"); return [p.toString(), JSON.stringify(p), [...p.entries()]]; });
    step(() => [typeof m.params.entries().next, Object.getOwnPropertyNames(util.MIMEType.prototype), Object.getOwnPropertyNames(util.MIMEParams.prototype)]);
    step(() => [util.inspect(m), util.inspect(m.params), Object.prototype.toString.call(m)]);
    step(() => m.params === m.params);
    return log;
  };
  assert.deepEqual(JSON.parse(JSON.stringify(session(util))), JSON.parse(JSON.stringify(session(nodeUtil))));
});

test("util.inspect and console print the same after tenant code replaced the builtins' methods and globals they could use", () => {
  const fresh = configured();
  const inspect = fresh.exports.builtinExports("node:util").inspect;
  const values = fresh.run(`[
    "x".repeat(10010), "it's \\"quoted\\" and \`ticked\`", "ctl\\u0001\\u007f\\n\\t",
    { [Symbol("s")]: 1, "not an id": 2, $ok_1: 3, "1bad": 4 }, Symbol("v"),
    class Klass {}, class extends Array {}, function classy() {}, { m: ["line\\nbreak", { deep: { deeper: {} } }] },
    new Uint8Array([1, 171, 255]).buffer, Array.from({ length: 30 }, (_, i) => "item" + i),
  ]`);
  const before = [];
  for (let i = 0; i < values.length; i++) before.push(inspect(values[i]));
  const consoleSession = `
    console.log("%s has %d items (%i, %f) %o %j %%", "list", "3", 2.7, "1.5x", { a: 1 }, { b: 2 });
    console.log("plain", 1, Symbol("t"));
    console.assert(false, { why: 1 });
    console.assert(false, "said %s", "so");
    console.count(); console.count(); console.countReset(); console.count("other");
    console.time("t"); console.timeLog("t", "extra", 1); console.timeEnd("t"); console.timeLog("t");
    console.trace("where");
    console.countReset("other");
  `;
  const at = fresh.logs.length;
  fresh.run(consoleSession);
  const logged = fresh.logs.slice(at).map(([level, text]) => [level, text.replace(/\d+(\.\d+)?ms/, "Nms").replace(/\n[\s\S]*/, "")]);
  fresh.run(`
    const boom = () => { throw new Error("tenant's replacement ran"); };
    for (const name of ["includes", "slice", "charCodeAt", "padStart", "padEnd", "toUpperCase", "indexOf", "replaceAll", "split"]) String.prototype[name] = boom;
    for (const name of ["join", "slice", "unshift", "push", "map"]) Array.prototype[name] = boom;
    for (const name of ["get", "set", "delete", "has"]) Map.prototype[name] = boom;
    Number.prototype.toString = boom;
    Symbol.prototype.toString = boom;
    RegExp.prototype.exec = boom;
    RegExp.prototype.test = boom;
    Math.trunc = boom;
    for (const name of ["String", "Uint8Array", "Number", "parseFloat", "Map"]) globalThis[name] = boom;
    Array.prototype[Symbol.iterator] = boom;
  `);
  const after = [];
  for (let i = 0; i < before.length; i++) after.push(inspect(values[i])); // values' own methods are poisoned
  assert.deepEqual(after, before);
  const at2 = fresh.logs.length;
  fresh.run(consoleSession);
  const loggedAfter = fresh.logs.slice(at2).map(([level, text]) => [level, text.replace(/\d+(\.\d+)?ms/, "Nms").replace(/\n[\s\S]*/, "")]);
  assert.deepEqual(loggedAfter, logged);
  assert.equal(logged.length, 11, JSON.stringify(logged));
  assert.ok(before[3].includes("'not an id': 2") && before[3].includes("$ok_1: 3") && before[3].includes("'1bad': 4"), before[3]);
  assert.ok(before[5].startsWith("[class Klass]") && before[7].startsWith("[Function: classy]"), `${before[5]} ${before[7]}`);
  assert.ok(before[9].includes("<01 ab ff>"), before[9]);
  assert.ok(before[2].includes("\\x01\\x7F"), before[2]);
});

test("events.EventEmitterAsyncResource runs its listeners in the context it was made in, as Node's", async () => {
  const nodeEvents = await import("node:events");
  const nodeHooks = await import("node:async_hooks");
  const session = (events, hooks) => {
    const log = [];
    const step = (f) => { try { log.push(f()); } catch (e) { log.push([e.name, e.code, e.message]); } };
    const E = events.EventEmitterAsyncResource;
    const als = new hooks.AsyncLocalStorage();
    step(() => new E());
    step(() => new E({ name: 5 }));
    const e = als.run("made", () => new E({ name: "named" }));
    e.on("tick", (v) => log.push(["heard", v, als.getStore()]));
    step(() => als.run("emitting", () => [e.emit("tick", 1), e.emit("none")]));
    step(() => [e instanceof events.EventEmitter, e.asyncResource.eventEmitter === e, typeof e.asyncId, typeof e.triggerAsyncId]);
    class Sub extends E {}
    step(() => { const s = new Sub(); s.on("x", () => log.push(["sub", als.getStore()])); return s.emit("x"); });
    step(() => { const s = new E("by string"); return s.listenerCount("x"); });
    step(() => Object.getOwnPropertyNames(E.prototype));
    for (const name of ["asyncId", "triggerAsyncId", "asyncResource"]) step(() => Object.getOwnPropertyDescriptor(E.prototype, name).get.call({}));
    step(() => E.prototype.emit.call({}, "x"));
    step(() => { e.emitDestroy(); return "destroyed"; });
    return log;
  };
  const ours = session(mod("node:events"), mod("node:async_hooks"));
  const theirs = session(nodeEvents, nodeHooks);
  assert.deepEqual(JSON.parse(JSON.stringify(ours)), JSON.parse(JSON.stringify(theirs)));
});

test("util.getSystemErrorMap and getSystemErrorName answer as Node's (libuv's codes, names and messages)", () => {
  const util = mod("node:util");
  assert.deepEqual(JSON.parse(JSON.stringify([...util.getSystemErrorMap()])), JSON.parse(JSON.stringify([...nodeUtil.getSystemErrorMap()])));
  assert.notEqual(util.getSystemErrorMap(), util.getSystemErrorMap(), "a new Map each call");
  for (let code = -1; code >= -4100; code--) assert.equal(util.getSystemErrorName(code), nodeUtil.getSystemErrorName(code), code);
});

test("util.parseEnv answers as Node's dotenv parser on fixed and generated text", () => {
  const util = mod("node:util");
  const entries = (f, text) => { try { return JSON.stringify(Object.entries(f(text))); } catch (e) { return `${e.name} ${e.code}`; } };
  const fixed = ["A=1", " A = 1 ", "export A=1", "export  A=1", "A='x y'", 'A="a\\nb"', "A='a\\nb'", 'A="multi\nline"', "A=x # c",
    "A=x#y", "# A=1\nB=2", "A", "A=", "=1\nB=2", "A=1\nA=2", 'A="unterminated\nB=2', 'A="a"b', "A=1\r\nB=2\rC=3", "A: 1",
    "A=1\n  # c\nB=2", "#A=1", "A='x", 'export \\"="A=A', "__proto__=x\nb=1", "Z=1\na=2\n\u00e9=3\n\ud83d\ude00=4\n\ue000=5\nA=6",
    "A=\ud800x", "A=`q`r\nB=\"s\"  \n  C = 't' # u", "A=1\n = y\nB=2", "#c\n = y\nB=2", "A=1\n =\n", 'A="x"\n  #c\nB=1', "A='x'\n  #c\nB=1", 1, null];
  for (const text of fixed) assert.equal(entries(util.parseEnv, text), entries(nodeUtil.parseEnv, text), JSON.stringify(text));
  const alphabet = ["A", "b", "=", " ", "\n", "\r", "#", "'", "\"", "`", "\\", "n", "export ", "\t", "é", "\ud83d", "\ud83d\ude00", "\ue000"];
  let seed = 2024;
  const rand = (n) => { seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff; return Math.floor((seed / 0x80000000) * n); };
  for (let round = 0; round < 50000; round++) {
    let text = "";
    const length = rand(24);
    for (let i = 0; i < length; i++) text += alphabet[rand(alphabet.length)];
    assert.equal(entries(util.parseEnv, text), entries(nodeUtil.parseEnv, text), JSON.stringify(text));
  }
});
