// bindings.js against a fake host that answers kv.* and ws.* from memory: env building, the wire
// format both ways, value types, typed errors, and nothing of the host reachable from env.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadPrelude } from "./load-prelude.mjs";

function unframe(u8) {
  const n = u8[0] | (u8[1] << 8) | (u8[2] << 16) | (u8[3] << 24);
  return [JSON.parse(Buffer.from(u8.subarray(4, 4 + n)).toString()), u8.slice(4 + n)];
}

function frame(head, bytes = new Uint8Array(0)) {
  const h = Buffer.from(JSON.stringify(head));
  const out = new Uint8Array(4 + h.length + bytes.length);
  new DataView(out.buffer).setUint32(0, h.length, true);
  out.set(h, 4);
  out.set(bytes, 4 + h.length);
  return out;
}

function fakeStore() {
  const kv = new Map();
  const calls = [];
  return {
    calls,
    call(name, payload) {
      const [head, bytes] = unframe(payload);
      calls.push([name, head]);
      if (name === "kv.put") {
        if (head.key === "") return Promise.resolve(frame({ error: { name: "TypeError", message: "empty key" } }));
        kv.set(head.key, [bytes, head.metadata ?? null]);
        return Promise.resolve(frame({}));
      }
      if (name === "kv.get") {
        const e = kv.get(head.key);
        return Promise.resolve(e ? frame({ found: true, metadata: e[1] }, e[0]) : frame({ found: false }));
      }
      if (name === "ws.readFile") return Promise.resolve(frame({ error: { name: "NotFoundError", message: "no such file" } }));
      if (name === "ws.replace") return Promise.resolve(frame({ count: 1 }));
      if (name === "ws.glob") return Promise.resolve(frame(head.pathsOnly ? { paths: ["a/b.rs"] } : { entries: [] }));
      return Promise.reject(new Error(`refused ${name}`));
    },
  };
}

test("makeEnv keeps plain values and turns bindings into capabilities", () => {
  const { exports, run } = loadPrelude();
  const env = exports.makeEnv({ S: "s", N: 1, O: { a: [1] }, A: [{ binding: "kv" }], KV: { binding: "kv", namespace: "n" }, WS: { binding: "workspace", name: "w" } });
  assert.equal(env.S, "s");
  assert.equal(env.N, 1);
  assert.equal(JSON.stringify([env.O, env.A]), '[{"a":[1]},[{"binding":"kv"}]]');
  assert.equal(Object.prototype.toString.call(env.KV), "[object KVNamespace]");
  assert.equal(Object.prototype.toString.call(env.WS), "[object Workspace]");
  assert.deepEqual(Object.keys(env.KV), [], "no own state to read or patch");
  assert.throws(() => new env.KV.constructor(undefined, "X"), (e) => e.name === "TypeError");
  assert.equal(run("typeof KVNamespace + typeof Workspace + typeof __stockade_host"), "undefinedundefinedundefined");
  assert.deepEqual(Object.keys(exports.makeEnv(null)), []);
});

test("KV calls carry the binding's env name and values cross as bytes", async () => {
  const fake = fakeStore();
  const { exports, realm } = loadPrelude({ call: (n, p) => fake.call(n, p) });
  const env = exports.makeEnv({ MY_KV: { binding: "kv", namespace: "real-name" } });
  await env.MY_KV.put("k", "välue", { metadata: { m: 1 } });
  assert.deepEqual(fake.calls[0], ["kv.put", { binding: "MY_KV", key: "k", metadata: { m: 1 } }]);
  assert.equal(await env.MY_KV.get("k"), "välue");
  assert.equal(new Uint8Array(await env.MY_KV.get("k", "arrayBuffer")).length, 6);
  await env.MY_KV.put("j", new Uint8Array([123, 125]));
  assert.equal(JSON.stringify(await env.MY_KV.get("j", { type: "json" })), "{}");
  const { value, metadata } = await env.MY_KV.getWithMetadata("k");
  assert.equal(JSON.stringify([value, metadata]), '["välue",{"m":1}]');
  assert.equal(await env.MY_KV.get("missing"), null);
  await assert.rejects(env.MY_KV.put("", "v"), realm.TypeError);
  await assert.rejects(env.MY_KV.get("k", "yaml"), realm.TypeError);
  await assert.rejects(env.MY_KV.put("k", 42), realm.TypeError);
  await assert.rejects(env.MY_KV.delete("k"), (e) => e.name === "OperationError" && /refused kv.delete/.test(e.message));
});

test("a host call past the request's queue of waiting calls is a RangeError naming the bound", async () => {
  // The bridge rejects such a call with a RangeError of the isolate's realm (host_functions.cc).
  const why = "more than 10000 host calls waiting in this request (at most 64 are in flight at once)";
  let realm;
  const loaded = loadPrelude({ call: () => Promise.reject(new realm.RangeError(why)) });
  realm = loaded.realm;
  const env = loaded.exports.makeEnv({ MY_KV: { binding: "kv", namespace: "n" } });
  await assert.rejects(env.MY_KV.get("k"), (e) => e instanceof realm.RangeError && e.message === `kv.get: ${why}`);
});

test("workspace errors are DOMExceptions of the host's name", async () => {
  const fake = fakeStore();
  const { exports } = loadPrelude({ call: (n, p) => fake.call(n, p) });
  const env = exports.makeEnv({ WS: { binding: "workspace", name: "w" } });
  await assert.rejects(env.WS.readFile("nope"), (e) => e.name === "NotFoundError" && e.message === "no such file");
  assert.deepEqual(fake.calls.at(-1), ["ws.readFile", { path: "nope", binding: "WS" }]);
});

test("a capability's methods are cap.call host calls with structured-clone arguments and named errors", async () => {
  const calls = [];
  const call = (name, payload) => {
    const [head] = unframe(payload);
    calls.push([name, head]);
    if (head.method === "fail") return Promise.resolve(frame({ error: { name: "ValidationError", message: "bad" } }));
    if (head.method === "range") return Promise.resolve(frame({ error: { name: "RangeError", message: "too big" } }));
    if (head.method === "odd") return Promise.resolve(frame({ result: { $: "zz" } }));
    if (head.method === "echo") return Promise.resolve(frame({ result: head.args }));
    return Promise.resolve(frame({ result: { got: head.args } }));
  };
  const { exports, run } = loadPrelude({ call });
  const realm = run("({ Error, TypeError, RangeError, DOMException, Map, Set, Date, Uint8Array, ArrayBuffer })");
  const env = exports.makeEnv(run('({ C: { binding: "capability", name: "calc" } })'));
  // Plain JSON crosses as itself; what JSON cannot carry is tagged.
  const [obj, arr] = run('[{ d: new Date(0), u: undefined, s: "x", n: [1.5, true, null], o: { $: 1 } }, [undefined, NaN]]');
  await env.C.add(1, obj, arr);
  assert.equal(JSON.stringify(calls[0][1].args), JSON.stringify([1,
    { d: { $: "d", v: 0 }, u: { $: "u" }, s: "x", n: [1.5, true, null], o: { $: "o", v: { $: 1 } } },
    [{ $: "u" }, { $: "n", v: "NaN" }]]));
  assert.deepEqual(calls[0][0], "cap.call");
  assert.equal(calls[0][1].binding, "C", "named by its env key");
  assert.equal(calls[0][1].method, "add");
  // A round trip through a capability that echoes its arguments back.
  const sent = run(`[new Map([[1, "a"], ["k", new Set([2n])]]), new Date(86400000), new Uint8Array([0, 255]),
    new Uint8Array([7]).buffer, 12345678901234567890n, undefined, NaN, -0, { $: "d", v: 1 }, "plain"]`);
  const back = await env.C.echo(...sent);
  assert.ok(back[0] instanceof realm.Map && back[0].get(1) === "a" && back[0].get("k") instanceof realm.Set);
  assert.equal([...back[0].get("k")][0], 2n);
  assert.ok(back[1] instanceof realm.Date && back[1].getTime() === 86400000);
  assert.ok(back[2] instanceof realm.Uint8Array && back[2].join() === "0,255");
  assert.ok(back[3] instanceof realm.ArrayBuffer && new Uint8Array(back[3])[0] === 7);
  assert.equal(back[4], 12345678901234567890n);
  assert.ok(back.length === 10 && 5 in back && back[5] === undefined);
  assert.ok(Number.isNaN(back[6]) && Object.is(back[7], -0));
  assert.deepEqual(JSON.stringify(back[8]), '{"$":"d","v":1}', "an object owning $ stays an object");
  assert.equal(back[9], "plain");
  assert.equal(env.C.add, env.C.add, "a method is made once");
  assert.equal(env.C.then, undefined, "awaiting the object does not call it");
  assert.deepEqual(Object.keys(env.C), []);
  await assert.rejects(env.C.fail(), (e) => e instanceof realm.Error && e.name === "ValidationError" && e.message === "bad");
  await assert.rejects(env.C.range(), (e) => e instanceof realm.RangeError && e.message === "too big");
  await assert.rejects(env.C.odd(), (e) => e instanceof realm.TypeError && e.message.startsWith("calc.odd: ") === false && e.message.startsWith("C.odd: "));
  const before = calls.length;
  for (const bad of ["() => 1", "Symbol()", "new (class X {})()", "(() => { const a = []; a.push(a); return a; })()", "new Int16Array(1)"]) {
    await assert.rejects(env.C.add(run(`(${bad})`)), (e) => e instanceof realm.DOMException && e.name === "DataCloneError" && e.message.startsWith("C.add: "), bad);
  }
  assert.equal(calls.length, before, "nothing that cannot be cloned reached the host");
});

test("replace keeps a RegExp's ignoreCase; glob asks for paths only", async () => {
  const fake = fakeStore();
  const { exports, run } = loadPrelude({ call: (n, p) => fake.call(n, p) });
  const env = exports.makeEnv({ WS: { binding: "workspace", name: "w" } });
  const [anyCase, exact] = run("[/HELLO/i, /HELLO/]");
  await env.WS.replace("f", anyCase, "yo");
  await env.WS.replace("f", exact, "yo");
  await env.WS.replace("f", "HELLO", "yo", { limit: 1 });
  assert.deepEqual(fake.calls.map(([, head]) => [head.search, head.regex, head.ignoreCase]),
    [["HELLO", true, true], ["HELLO", true, undefined], ["HELLO", false, undefined]]);
  assert.deepEqual([...await env.WS.glob("**/*.rs")], ["a/b.rs"]);
  assert.deepEqual(fake.calls.at(-1), ["ws.glob", { pattern: "**/*.rs", pathsOnly: true, binding: "WS" }]);
});

test("arguments over the host's limits are TypeErrors naming them, and nothing is sent", async () => {
  const fake = fakeStore();
  const { exports, run, realm } = loadPrelude({ call: (n, p) => fake.call(n, p) });
  const env = exports.makeEnv({ KV: { binding: "kv", namespace: "n" }, WS: { binding: "workspace", name: "w" } });
  const value = 15 * 1024 * 1024, head = 1024 * 1024;
  const refused = (what, limit) => (e) => e instanceof realm.TypeError && e.message.startsWith(`${what}: `) && e.message.includes(`${limit} bytes`);
  await assert.rejects(env.KV.put("k", new Uint8Array(16 << 20)), refused("KVNamespace.put", value));
  await assert.rejects(env.KV.put("k", run(`new ArrayBuffer(${value + 1})`)), refused("KVNamespace.put", value));
  await assert.rejects(env.KV.put("k", "x".repeat(value + 1)), refused("KVNamespace.put", value));
  await assert.rejects(env.KV.put("k", "\u00e9".repeat(value / 2 + 1)), refused("KVNamespace.put", value), "UTF-8 bytes count");
  await assert.rejects(env.WS.writeFile("f", new Uint8Array(16 << 20)), refused("Workspace.writeFile", value));
  await assert.rejects(env.WS.diff("f", { text: "x".repeat(16 << 20) }), refused("Workspace.diff", value));
  await assert.rejects(env.WS.replace("f", "abc", "x".repeat(2 << 20)), refused("Workspace.replace", head));
  await assert.rejects(env.WS.search("x".repeat(2 << 20)), refused("Workspace.search", head));
  await assert.rejects(env.KV.put("k".repeat(2 << 20), "v"), refused("KVNamespace.put", head));
  // A stream is read only until it passes the limit, then cancelled.
  const stream = run(`(() => {
    globalThis.pulled = 0;
    return new ReadableStream({
      pull(c) { if (globalThis.pulled++ < 64) c.enqueue(new Uint8Array(1024 * 1024)); else c.close(); },
      cancel(reason) { globalThis.cancelled = reason; },
    });
  })()`);
  await assert.rejects(env.KV.put("k", stream), refused("KVNamespace.put", value));
  assert.equal(run("globalThis.pulled"), 16);
  assert.ok(run("globalThis.cancelled") instanceof realm.TypeError);
  assert.equal(fake.calls.length, 0, "nothing reached the host");
  // The limits themselves pass.
  await env.KV.put("k", new Uint8Array(value));
  const last = run(`new ReadableStream({ start(c) { c.enqueue(new Uint8Array(${value})); c.close(); } })`);
  await env.KV.put("s", last);
  assert.equal(fake.calls.length, 2);
});
