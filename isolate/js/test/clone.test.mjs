// structuredClone, checked against Node's (V8 ValueSerializer based) by comparing the V8
// serialization of both clones byte for byte (that encodes types, values, shared references and
// cycles); plus the DataCloneError cases and crypto.
import { test } from "node:test";
import assert from "node:assert/strict";
import v8 from "node:v8";
import vm from "node:vm";
import { loadPrelude } from "./load-prelude.mjs";

const { context, realm, run, randomFillCalls } = loadPrelude();

const CASES = {
  primitives: "[1, -0, NaN, Infinity, 's', true, null, undefined, 10n, '\\uD800']",
  nested: "({ a: 1, b: [1, , 3], c: { d: new Date(0), e: new Date(NaN) }, 2: 'two', 1: 'one' })",
  cycle: "(() => { const o = { x: 1 }; o.self = o; o.list = [o, [o]]; return o; })()",
  shared: "(() => { const a = { k: 1 }; return [a, a, { a }]; })()",
  arrayCycle: "(() => { const a = [1]; a.push(a); a.extra = 'prop'; return a; })()",
  sparse: "(() => { const a = []; a[5] = 1; a.length = 10; return a; })()",
  mapSet: "(() => { const k = { key: true }; const m = new Map([[k, new Set([k, 1])], ['s', m2()]]); function m2() { return new Map([[1, 2]]); } m.set('self', m); return [m, k]; })()",
  regexp: "(() => { const r = /a[b]+/gimsuy; r.lastIndex = 3; return [r, /x/d]; })()",
  buffers: "(() => { const ab = new ArrayBuffer(16); const u8 = new Uint8Array(ab, 4, 8); u8[0] = 255; const f = new Float64Array(ab, 8, 1); f[0] = 1.5; return { ab, u8, f, dv: new DataView(ab, 2, 3), alone: new BigUint64Array([2n ** 64n - 1n]), clamped: new Uint8ClampedArray([300]) }; })()",
  boxes: "[new Number(3), new String('s'), new Boolean(false), Object(10n), new Number(-0)]",
  errors: "[new TypeError('m'), new RangeError(), new Error('with cause', { cause: { deep: [1] } }), Object.assign(new Error('x'), { name: 'Custom' }), new (class MyErr extends URIError {})('sub'), new EvalError('e'), new SyntaxError('s'), new ReferenceError('r')]",
  classInstance: "new (class P { #secret = 1; visible = 2; get g() { return 3; } })()",
  descriptors: "(() => { const o = { get g() { return 'got'; }, v: 1 }; Object.defineProperty(o, 'hidden', { value: 1, enumerable: false }); o[Symbol('s')] = 1; return o; })()",
  nullProto: "Object.assign(Object.create(null), { a: 1 })",
  deep: "(() => { let o = {}; const root = o; for (let i = 0; i < 500; i++) { o.next = {}; o = o.next; } return root; })()",
};

test("structuredClone produces exactly what Node's produces (V8 serialization compared)", () => {
  for (const [name, source] of Object.entries(CASES)) {
    const input = run(source);
    const mine = context.structuredClone(input);
    const node = structuredClone(input);
    assert.deepEqual(v8.serialize(mine), v8.serialize(node), name);
    assert.notEqual(mine, input);
  }
});

test("structuredClone keeps identity inside the clone and copies buffers", () => {
  const out = run(`(() => {
    const ab = new ArrayBuffer(8); const a = new Uint8Array(ab); const b = new Uint16Array(ab, 2, 1);
    const input = { a, b, o: {} }; input.o2 = input.o;
    const c = structuredClone(input);
    c.a[2] = 7;
    return [c.a.buffer === c.b.buffer, c.b[0] === 7, a[2] === 0, c.o === c.o2, c.o !== input.o, c.a.buffer !== ab];
  })()`);
  assert.deepEqual([...out], [true, true, true, true, true, true]);
  const err = run("structuredClone(new TypeError('m'))");
  assert.ok(err instanceof realm.TypeError);
  assert.equal(err.message, "m");
  const dom = run("structuredClone(new DOMException('msg', 'AbortError'))");
  assert.equal(dom.name, "AbortError");
  assert.equal(dom.code, 20);
  assert.equal(run("structuredClone(new (class { #x = 1; y = 2 })()).constructor === Object"), true);
});

test("structuredClone throws DataCloneError where browsers do", () => {
  const uncloneable = [
    "() => {}", "Symbol('s')", "({ f() {} })", "new WeakMap()", "new WeakSet()", "Promise.resolve()", "[Object(Symbol())]",
    "new URL('http://h/')", "new URLSearchParams('a=1')", "new Headers()", "new Request('http://h/')", "new Response('x')",
    "new TextEncoder()", "new TextDecoder()", "crypto", "({ nested: { deep: [new URL('http://h/')] } })",
  ];
  for (const source of uncloneable) {
    const e = run(`(() => { try { structuredClone(${source}); return null; } catch (e) { return e; } })()`);
    assert.ok(e !== null, `${source} should not clone`);
    assert.equal(e.name, "DataCloneError", source);
    assert.equal(e.code, 25, source);
    assert.ok(e instanceof context.DOMException);
  }
  // HTML's StructuredSerializeWithTransfer: DataCloneError for what is not transferable, listed
  // twice or detached (Node 20 throws a TypeError for the first and accepts the last).
  for (const source of ["[{}]", "[new Uint8Array(1)]", "(() => { const b = new ArrayBuffer(1); return [b, b]; })()",
    "(() => { const b = new ArrayBuffer(1); b.transfer(); return [b]; })()"]) {
    assert.throws(() => run(`structuredClone(1, { transfer: ${source} })`), (e) => e.name === "DataCloneError", source);
  }
  assert.throws(() => run("structuredClone(1, { transfer: [1] })"), realm.TypeError);
  assert.throws(() => run("structuredClone(1, { transfer: 1 })"), realm.TypeError);
  assert.throws(() => run("structuredClone()"), realm.TypeError);
  // A throwing getter propagates, like in browsers.
  assert.throws(() => run("structuredClone({ get x() { throw new RangeError('from getter'); } })"), realm.RangeError);
});

test("crypto.getRandomValues: integer typed arrays only, quota, returns its argument", () => {
  const before = randomFillCalls.length;
  for (const type of ["Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array", "Int32Array", "Uint32Array", "BigInt64Array", "BigUint64Array"]) {
    const same = run(`(() => { const a = new ${type}(64); return crypto.getRandomValues(a) === a && a.some((x) => x != 0); })()`);
    assert.equal(same, true, type);
  }
  assert.equal(randomFillCalls.length - before, 9, "every fill went to the host");
  for (const bad of ["new Float32Array(4)", "new Float64Array(4)", "new DataView(new ArrayBuffer(4))", "new ArrayBuffer(4)", "[1, 2]", "null"]) {
    const e = run(`(() => { try { crypto.getRandomValues(${bad}); } catch (e) { return e; } })()`);
    assert.equal(e.name, "TypeMismatchError", bad);
  }
  assert.equal(run("crypto.getRandomValues(new Uint8Array(65536)).length"), 65536);
  const quota = run("(() => { try { crypto.getRandomValues(new Uint32Array(16385)); } catch (e) { return e; } })()");
  assert.equal(quota.name, "QuotaExceededError");
  assert.equal(quota.code, 22);
  // A view into a larger buffer: only the view's bytes are filled.
  const view = run("(() => { const b = new Uint8Array(32); crypto.getRandomValues(new Uint8Array(b.buffer, 8, 16)); return b; })()");
  assert.ok(view.subarray(0, 8).every((x) => x === 0) && view.subarray(24).every((x) => x === 0));
  // Shadowing byteLength on the instance cannot bypass the quota.
  const spoof = run(`(() => { const a = new Uint8Array(70000); Object.defineProperty(a, "byteLength", { value: 4 });
    try { crypto.getRandomValues(a); } catch (e) { return e.name; } })()`);
  assert.equal(spoof, "QuotaExceededError");
});

test("crypto.randomUUID is RFC 4122 v4 and unique; Crypto is not constructible", () => {
  const ids = run("Array.from({ length: 2000 }, () => crypto.randomUUID())");
  for (const id of ids) assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(new Set(ids).size, ids.length);
  assert.throws(() => run("new Crypto()"), realm.TypeError);
  assert.equal(run("Object.prototype.toString.call(crypto)"), "[object Crypto]");
  assert.equal(run("Object.prototype.toString.call(crypto.subtle)"), "[object SubtleCrypto]");
  assert.equal(run("crypto.subtle === crypto.subtle"), true);
  assert.throws(() => run("new SubtleCrypto()"), realm.TypeError);
  assert.throws(() => run("new CryptoKey()"), realm.TypeError);
});

test("structuredClone transfer: the listed ArrayBuffers move (detached after), views keep their place, like Node", () => {
  const source = `(() => {
    const buf = new ArrayBuffer(8); new Uint8Array(buf).set([1, 2, 3, 4, 5, 6, 7, 8]);
    const other = new ArrayBuffer(4);
    const view = new Uint16Array(buf, 2, 2);
    const out = structuredClone({ buf, view, again: buf }, { transfer: [buf, other] });
    return JSON.stringify({
      detached: [buf.detached, other.detached, buf.byteLength, view.length],
      bytes: [...new Uint8Array(out.buf)], shared: out.view.buffer === out.buf && out.again === out.buf,
      view: [out.view.byteOffset, out.view.length, out.view[0]],
    });
  })()`;
  assert.equal(run(source), vm.runInNewContext(source, { structuredClone }));
  // A failed clone moves nothing.
  assert.equal(run("(() => { const b = new ArrayBuffer(2); try { structuredClone([b, () => 1], { transfer: [b] }); } catch {} return b.detached; })()"), false);
});
