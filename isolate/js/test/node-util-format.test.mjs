// node:util's format() against Node 20's on generated calls: format strings made of every
// placeholder, "%%", a lone "%", unknown ones and plain text, with values of every kind (each made
// in its own realm, so that inspect sees its own builtins), must give the same text, or throw
// alike. %o is left out: Node's shows hidden properties (`[length]`), which this inspect does not.
import { test } from "node:test";
import assert from "node:assert/strict";
import nodeUtil from "node:util";
import { loadPrelude } from "./load-prelude.mjs";

const p = loadPrelude();
p.exports.configure({ nodejs: true, nodeGlobals: true });
const util = p.exports.builtinExports("node:util");

const PIECES = ["%s", "%d", "%i", "%f", "%j", "%O", "%c", "%%", "%", "a", " ", "%x", "%s%s", "\n", "é"];
// Source text, evaluated in each realm.
const VALUES = [
  "0", "-0", "1.5", "-1", "NaN", "Infinity", "1e21", "2 ** 53", "123456789", "''", "'a'", "'%s'", "'é\\n'", "'x y'",
  "\"'q'\"", "'\"dq\"'", "'\\u001b[31m'", "1n", "-5n", "12345678901234567890n", "null", "undefined", "true", "false",
  "Symbol('s')", "Symbol()", "Symbol.iterator", "Symbol.for('x')", "[1, 'a', [2, [3, [4, [5]]]]]", "[]", "[undefined, , 3]",
  "[1.5, -0]", "({ a: 1, b: 'x', c: [1, 2], d: { e: { f: { g: 1 } } } })", "({})", "Object.create(null)",
  "({ a: undefined, 'b-c': null })", "({ toString() { return 'TS'; } })", "({ [Symbol.toPrimitive]() { return 7; } })",
  "({ valueOf() { return 3; } })", "Object.assign(Object.create({ inherited: 1 }), { own: 2 })",
  "(() => { const e = new Error('boom'); e.stack = 'Error: boom\\n    at x (y.js:1:1)'; return e; })()",
  "(() => { const e = new TypeError('m', { cause: 1 }); e.stack = 'TypeError: m'; return e; })()",
  "(() => { const o = {}; o.self = o; return o; })()",
  "new Map([[1, 2]])", "new Set(['a'])", "new Date(0)", "/re/g", "(function named() {})", "(() => 1)", "(class K {})",
  "new Uint8Array([1, 2])", "new ArrayBuffer(3)", "new Number(3)", "new String('s')", "'a'.repeat(30)", "42", "'str'", "3.25",
];

test("util.format answers as Node's on 20,000 generated calls", () => {
  let seed = 0xf0a7;
  const rand = (n) => { seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff; return Math.floor((seed / 0x80000000) * n); };
  const pick = (list) => list[rand(list.length)];
  for (let i = 0; i < 20000; i++) {
    const from = seed;
    const shown = [];
    const run = (format, evaluate) => {
      seed = from;
      let f = "";
      for (let k = rand(4); k > 0; k--) f += pick(PIECES);
      const args = [];
      shown.length = 0;
      for (let k = rand(4); k > 0; k--) {
        const source = pick(VALUES);
        shown.push(source);
        args.push(evaluate(`(${source})`));
      }
      try {
        return rand(2) ? format(f, ...args) : format(...args);
      } catch (e) {
        return `throws ${e.code ?? e.name}`;
      }
    };
    const ours = run(util.format, p.run);
    const node = run(nodeUtil.format, (source) => (0, eval)(source));
    assert.equal(ours, node, `format(${shown.join(", ")}) after ${i} calls`);
  }
});

test("util.format: no arguments, BigInts under %j, toPrimitive under %s, depth 2 after the format", () => {
  const run = (format, evaluate) => {
    const t = (f) => { try { return f(); } catch (e) { return `throws ${e.name}`; } };
    return [
      t(() => format()), t(() => format("%j", 1n)), t(() => format("%j", evaluate("(() => { const o = {}; o.o = o; return o; })()"))),
      t(() => format("%s", evaluate("({ [Symbol.toPrimitive]() { return 7; } })"))), t(() => format("%s", evaluate("new Date(0)"))),
      t(() => format("", evaluate("({ a: { b: { c: { d: 1 } } } })"))), t(() => format("%O", evaluate("[[[[1]]]]"))),
      t(() => format("%i", "-0")), t(() => format("%s %s", "a")), t(() => format("%%", 1)), t(() => format("%", 1)),
    ];
  };
  assert.deepEqual(run(util.format, p.run), run(nodeUtil.format, (source) => (0, eval)(`(${source})`)));
});
