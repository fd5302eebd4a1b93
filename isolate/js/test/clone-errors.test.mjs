// structuredClone of errors (clone.js) against Node 20's (V8's ValueSerializer): name (read with
// [[Get]], made a string, a native error name or Error), message (own data property only), stack
// (read with [[Get]]: V8 13.6, the engine's, installs it on each error as an own accessor, which
// the cases below imitate), cause (own data property only). Compared by the V8 serialization of
// both clones plus their stack, which that serialization leaves out. The proof in real isolates
// is isolate/tests/clone_errors.rs.
import { test } from "node:test";
import assert from "node:assert/strict";
import v8 from "node:v8";
import { loadPrelude } from "./load-prelude.mjs";

const { context, run, advance } = loadPrelude();

/** Makes `e.stack` an own accessor, as V8 13.6 has it (Node 20's V8 has a data property). */
const ACCESSOR = `const accessor = (e) => { const s = e.stack; Object.defineProperty(e, 'stack', { get() { return s; }, set(v) {}, configurable: true }); return e; };`;

const CASES = {
  accessorStack: "accessor(new Error('m'))",
  accessorSubtypes: "[accessor(new TypeError('t')), accessor(new RangeError('r')), accessor(new SyntaxError('s')), accessor(new URIError('u')), accessor(new EvalError('e')), accessor(new ReferenceError('f'))]",
  accessorCause: "accessor(new Error('outer', { cause: accessor(new TypeError('inner')) }))",
  dataStack: "new Error('plain')",
  storedStack: "(() => { const e = new Error('s'); e.stack = 'custom stack'; return e; })()",
  stackNotString: "(() => { const e = new Error('s'); Object.defineProperty(e, 'stack', { value: 5, configurable: true }); return e; })()",
  protoStack: "(() => { const e = new Error('p'); delete e.stack; Object.setPrototypeOf(e, Object.create(Error.prototype, { stack: { get() { return 'from proto'; } } })); return e; })()",
  noMessage: "accessor(new Error())",
  numberMessage: "(() => { const e = accessor(new Error()); e.message = 42; return e; })()",
  messageGetter: "(() => { const e = accessor(new Error('x')); Object.defineProperty(e, 'message', { get() { return 'got'; } }); return e; })()",
  nameString: "Object.assign(accessor(new Error('x')), { name: 'TypeError' })",
  nameObject: "(() => { const e = accessor(new Error('x')); e.name = { toString() { return 'RangeError'; } }; return e; })()",
  nameUnknown: "(() => { const e = accessor(new TypeError('x')); e.name = 'Foo'; return e; })()",
  aggregate: "accessor(new AggregateError([1], 'agg'))",
  subclass: "accessor(new (class MyErr extends RangeError {})('sub'))",
  causeUndefined: "accessor(new Error('u', { cause: undefined }))",
  causeGetter: "(() => { const e = accessor(new Error('g')); Object.defineProperty(e, 'cause', { get() { return 'no'; } }); return e; })()",
  extraProps: "Object.assign(accessor(new Error('e')), { code: 'E_X' })",
  shared: "(() => { const e = accessor(new Error('twice')); return [e, { e }]; })()",
};

/** The stacks of an error (or of the errors in an array/object, one level deep). */
function stacks(v) {
  if (v !== null && typeof v === "object" && !Array.isArray(v)) return [v.stack, v.cause?.stack, v.e?.stack];
  if (Array.isArray(v)) return Array.from(v, stacks);
  return null;
}

test("structuredClone of errors is Node's, stack included", () => {
  for (const [name, source] of Object.entries(CASES)) {
    const input = run(`(() => { ${ACCESSOR} return ${source}; })()`);
    const mine = context.structuredClone(input);
    const node = structuredClone(input);
    assert.deepEqual(v8.serialize(mine), v8.serialize(node), name);
    assert.deepEqual(stacks(mine), stacks(node), `${name}: stack`);
    assert.deepEqual([...Object.getOwnPropertyNames(mine)], Object.getOwnPropertyNames(node), `${name}: own names`);
  }
  const kept = context.structuredClone(run(`(() => { ${ACCESSOR} return accessor(new TypeError('kept')); })()`));
  assert.match(kept.stack, /^TypeError: kept\n/);
  assert.equal(Object.getOwnPropertyDescriptor(kept, "stack").enumerable, false);
});

test("an error whose name is a Symbol throws TypeError, as in Node", () => {
  const input = run("(() => { const e = new Error('s'); e.name = Symbol('n'); return e; })()");
  assert.throws(() => structuredClone(input), TypeError);
  assert.throws(() => context.structuredClone(input), (e) => e.name === "TypeError");
});

test("a MessagePort carries an error's stack too", async () => {
  const pending = run(`(() => {
    ${ACCESSOR}
    const { port1, port2 } = new MessageChannel();
    return new Promise((resolve) => {
      port2.onmessage = (ev) => resolve([ev.data.stack, ev.data.cause.stack, ev.data instanceof RangeError]);
      port1.postMessage(accessor(new RangeError('sent', { cause: accessor(new Error('why')) })));
    });
  })()`);
  await advance(1);
  const got = await pending;
  assert.match(got[0], /^RangeError: sent\n/);
  assert.match(got[1], /^Error: why\n/);
  assert.equal(got[2], true);
});
