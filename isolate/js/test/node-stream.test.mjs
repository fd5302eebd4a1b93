// node:stream (node-stream.js over vendor/readable-stream.js) in the harness, against Node 20's
// own node:stream: each scenario below runs once with the prelude's module (in the harness's
// realm) and once with Node's, and both must record the same events, values and errors. The
// scenarios wait on promises and microtasks only (the harness's clock is manual). The proof in
// real isolates, with node:zlib's streams, is isolate/tests/node_stream.rs and node_zlib_streams.rs.
import { test } from "node:test";
import assert from "node:assert/strict";
import vm from "node:vm";
import * as nodeStream from "node:stream";
import * as nodeConsumers from "node:stream/consumers";
import { Buffer as NodeBuffer } from "node:buffer";
import { loadPrelude } from "./load-prelude.mjs";

/** Each scenario: the text of an async function of ({ stream, consumers, Buffer }) answering
 *  something JSON can hold. */
const SCENARIOS = {
  events: `async ({ stream }) => {
    const log = [];
    const r = new stream.Readable({ objectMode: true, read() {} });
    for (const e of ["data", "end", "close", "pause", "resume"]) r.on(e, (x) => log.push(e + (x === undefined ? "" : ":" + x)));
    stream.finished(r, (err) => log.push("finished:" + (err ? err.message : "ok")));
    r.push("a"); r.push("b"); r.push(null);
    await new Promise((resolve) => r.on("close", resolve));
    return log;
  }`,
  onceData: `async ({ stream }) => {
    // once() registers through this.on (a Readable's on("data") starts it flowing), as Node does;
    // prependOnceListener through this.prependListener.
    const log = [];
    const r = new stream.Readable({ objectMode: true, read() {} });
    r.once("data", (x) => log.push("once:" + x));
    r.prependOnceListener("data", (x) => log.push("first:" + x));
    const ended = new Promise((resolve) => r.on("end", resolve));
    r.push("a"); r.push("b"); r.push(null);
    await ended; // never, unless once("data") started the flow
    log.push("flowing:" + r.readableFlowing, "listeners:" + r.listenerCount("data"));
    return log;
  }`,
  backpressure: `async ({ stream }) => {
    const log = [];
    const w = new stream.Writable({ objectMode: true, highWaterMark: 3,
      write(chunk, enc, cb) { log.push("write:" + chunk); Promise.resolve().then(() => cb()); } });
    w.on("drain", () => log.push("drain"));
    for (let i = 0; i < 5; i++) log.push("ret:" + w.write(i) + ":" + w.writableLength);
    await new Promise((resolve) => w.end(resolve));
    log.push("finished:" + w.writableFinished);
    return log;
  }`,
  pipelineError: `async ({ stream }) => {
    const src = stream.Readable.from(["a", "b", "c", "d"]);
    const t = new stream.Transform({ objectMode: true,
      transform(c, e, cb) { c === "c" ? cb(new Error("bad " + c)) : cb(null, c.toUpperCase()); } });
    const got = [];
    const dst = new stream.Writable({ objectMode: true, write(c, e, cb) { got.push(c); cb(); } });
    const err = await new Promise((resolve) => stream.pipeline(src, t, dst, resolve));
    return { message: err.message, got, destroyed: [src.destroyed, t.destroyed, dst.destroyed],
             errored: [stream.isErrored(t), dst.writableFinished] };
  }`,
  iteration: `async ({ stream, Buffer }) => {
    const out = [];
    for await (const x of stream.Readable.from([1, 2, 3])) out.push(x);
    const r = stream.Readable.from(["x", "y", "z"]);
    for await (const x of r) { out.push(x); break; }
    const p = new stream.PassThrough();
    p.end(Buffer.from("bytes"));
    for await (const c of p) out.push(Buffer.isBuffer(c), c.toString());
    const enc = new stream.PassThrough({ encoding: "hex" });
    enc.end(Buffer.from([1, 255]));
    for await (const c of enc) out.push(c);
    return { out, destroyed: r.destroyed };
  }`,
  operators: `async ({ stream }) => {
    const mapped = await stream.Readable.from([1, 2, 3, 4, 5]).map((x) => x * 2).filter((x) => x % 4 === 0).toArray();
    const reduced = await stream.Readable.from([1, 2, 3]).reduce((a, b) => a + b, 0);
    const taken = await stream.Readable.from([1, 2, 3, 4]).drop(1).take(2).toArray();
    const some = await stream.Readable.from([1, 2, 3]).some((x) => x > 2);
    return { mapped, reduced, taken, some };
  }`,
  errorsAndDestroy: `async ({ stream }) => {
    const log = [];
    const r = new stream.Readable({ read() {} });
    r.on("error", (e) => log.push("error:" + e.message));
    r.on("close", () => log.push("close"));
    r.destroy(new Error("gone"));
    log.push("destroyed:" + r.destroyed);
    await new Promise((resolve) => r.on("close", resolve));
    const w = new stream.Writable({ write(c, e, cb) { cb(); } });
    w.end();
    let late = null;
    w.on("error", (e) => { late = e.code; });
    w.write("after end");
    await new Promise((resolve) => w.on("close", resolve));
    let codes = [];
    try { new stream.Readable({ highWaterMark: -1 }); } catch (e) { codes.push(e.code); }
    try { new stream.Writable().write(null); } catch (e) { codes.push(e.code); }
    const empty = stream.Readable.from([]);
    empty.resume();
    const p = await stream.promises.finished(empty).then(() => "finished", (e) => e.code);
    return { log, late, codes, p };
  }`,
  consumers: `async ({ stream, consumers, Buffer }) => ({
    text: await consumers.text(stream.Readable.from(["a", "b"])),
    json: await consumers.json(stream.Readable.from([Buffer.from('{"k":'), Buffer.from("[1]}")])),
    buffer: [...(await consumers.buffer(stream.Readable.from([Buffer.from([1]), Buffer.from([2, 3])])))],
  })`,
  // Node 20.20's duplexPair: each side reads what the other writes, with backpressure.
  duplexPair: `async ({ stream, Buffer }) => {
    const log = [];
    const [a, b] = stream.duplexPair();
    b.on("data", (c) => log.push("b<" + c));
    a.on("data", (c) => log.push("a<" + c));
    log.push("w:" + a.write("one"));
    log.push("w:" + b.write(Buffer.from("two")));
    a.write("", () => log.push("empty-cb"));
    a.end("three");
    await new Promise((resolve) => b.on("end", resolve));
    log.push("b-ended");
    b.end();
    await new Promise((resolve) => a.on("end", resolve));
    await Promise.all([stream.promises.finished(a), stream.promises.finished(b)]);
    log.push(a.writableFinished, b.writableFinished, a.readableEnded, b.readableEnded);
    const [x, y] = stream.duplexPair({ objectMode: true });
    x.write({ k: 1 }); x.write([2]); x.end();
    const objs = await y.toArray();
    const [p, q] = stream.duplexPair({ highWaterMark: 4 });
    const rets = []; for (let i = 0; i < 4; i++) rets.push(p.write("xx"));
    const before = [p.writableLength, q.readableLength];
    const drained = new Promise((resolve) => p.once("drain", resolve));
    const all = [];
    q.on("data", (c) => all.push(c.toString()));
    await drained;
    return { log, objs, rets, before, all, after: [p.writableLength, q.readableLength], names: [typeof stream.duplexPair, stream.duplexPair.length, stream.duplexPair.name] };
  }`,
  // Duplex.from and Duplex.fromWeb over web streams: a {readable, writable} pair, a
  // ReadableStream, a TransformStream, a WritableStream, object mode, a web stream's error.
  duplexFromWeb: `async ({ stream, Buffer }) => {
    const got = [];
    const ws = new WritableStream({ write(c) { got.push([c.constructor.name, Buffer.from(c).toString()]); } });
    const rs = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode("from web")); c.close(); } });
    const d = stream.Duplex.from({ readable: rs, writable: ws });
    d.end("to web");
    const read = [];
    for await (const c of d) read.push([Buffer.isBuffer(c), Buffer.from(c).toString()]);
    await stream.promises.finished(d).catch(e => read.push(e.code));
    const r2 = stream.Duplex.from(new ReadableStream({ start(c) { c.enqueue("s1"); c.enqueue("s2"); c.close(); } }));
    const fromReadable = [r2.readable, r2.writable, r2.readableObjectMode];
    let r2data = ""; for await (const c of r2) r2data += c; // how bytes are cut follows ticks
    const t = stream.Duplex.from(new TransformStream({ transform(chunk, c) { c.enqueue(new Uint8Array([...chunk].reverse())); } }));
    t.end(Buffer.from("abc"));
    const tdata = []; for await (const c of t) tdata.push(Buffer.from(c).toString());
    const w2got = [];
    const w2 = stream.Duplex.from(new WritableStream({ write(c) { w2got.push(Buffer.from(c).toString()); } }));
    const fromWritable = [w2.readable, w2.writable];
    await new Promise((resolve, reject) => w2.end("end-me", (e) => e ? reject(e) : resolve()));
    const obj = stream.Duplex.fromWeb(new TransformStream(), { objectMode: true });
    obj.end({ o: 1 });
    const odata = await obj.toArray();
    const errs = [];
    const bad = stream.Duplex.from({ readable: new ReadableStream({ pull(c) { c.error(new Error("web broke")); } }), writable: new WritableStream() });
    await stream.promises.finished(bad).catch((e) => errs.push(e.message));
    return { got, read, fromReadable, r2data, tdata, w2got, fromWritable, odata, errs };
  }`,
};

async function inHarness(source) {
  const p = loadPrelude();
  p.exports.configure({ nodejs: true, nodeGlobals: false, asyncHooks: false, populateProcessEnv: false, env: {} });
  const modules = {
    stream: p.exports.builtinExports("node:stream"),
    consumers: p.exports.builtinExports("node:stream/consumers"),
    Buffer: p.exports.builtinExports("node:buffer").Buffer,
  };
  const f = vm.runInContext(`(${source})`, p.context);
  return JSON.parse(JSON.stringify(await f(modules)));
}

async function inNode(source) {
  const f = vm.runInThisContext(`(${source})`);
  return JSON.parse(JSON.stringify(await f({ stream: nodeStream, consumers: nodeConsumers, Buffer: NodeBuffer })));
}

for (const [name, source] of Object.entries(SCENARIOS)) {
  test(`node:stream ${name}: as Node 20's`, async () => {
    const node = await inNode(source);
    const ours = await inHarness(source);
    assert.deepEqual(ours, node);
  });
}

test("the export lists match the values and Node's", () => {
  const p = loadPrelude();
  p.exports.configure({ nodejs: true, nodeGlobals: false, asyncHooks: false, populateProcessEnv: false, env: {} });
  const names = p.exports.builtinNames("node:stream");
  const value = p.exports.builtinExports("node:stream");
  for (const n of names) assert.ok(n in value, `node:stream lacks ${n}`);
  // Node 20's.
  assert.deepEqual(Array.from(names).sort(), Object.keys(nodeStream.default).sort());
  for (const name of ["node:stream/promises", "node:stream/web", "node:stream/consumers"]) {
    const v = p.exports.builtinExports(name);
    for (const n of p.exports.builtinNames(name)) assert.ok(v[n] !== undefined, `${name} lacks ${n}`);
  }
});
