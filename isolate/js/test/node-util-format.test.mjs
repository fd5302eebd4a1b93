// node:util's format() and inspect() against Node 20's on generated calls: format strings made of every
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

test("util.inspect answers as Node's on 5,000 generated values (nesting, line breaks, grouping; depth, breakLength, compact, sorted, maxArrayLength, maxStringLength)", () => {
  let seed = 0x1a5c;
  const rand = (n) => { seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff; return Math.floor((seed / 0x80000000) * n); };
  const pick = (list) => list[rand(list.length)];
  // Source text of a value: primitives, strings that need quoting or escapes, functions and
  // classes, long and numeric arrays, objects with odd keys and symbols, Maps, Sets, typed
  // arrays, empty containers, cycles, getters.
  function gen(d) {
    const k = d > 3 ? rand(5) : rand(14);
    switch (k) {
      case 0: return pick(["0", "-0", "1.5", "123456789", "NaN", "-1e21", "1n", "true", "null", "undefined"]);
      case 1: return pick(["'a'", "''", "'it\\'s'", "'x'.repeat(" + rand(120) + ")", "'line\\nbreak'", "'é\\u0001'", "'\"q\"'", "`b${'`'}`", "'ab\\n'.repeat(" + rand(40) + ")", "'\\x85\\x9f\\ud800x\\udc00\\ud83d\\ude00'", "'q\\n'.repeat(30) + \"it's\"", "'y'.repeat(10005)"]);
      case 2: return pick(["Symbol('s')", "Symbol()", "Symbol.iterator"]);
      case 3: return pick(["(function f() {})", "(() => {})", "(class A {})", "(async function g() {})", "Math.max"]);
      case 4: return pick(["new Date(0)", "/x/gi", "new Error('e')".replace("new Error('e')", "(() => { const e = new RangeError('r'); e.stack = 'RangeError: r'; return e; })()")]);
      case 5: case 6: { const n = rand(d === 0 ? 30 : 8); const it = []; for (let i = 0; i < n; i++) it.push(gen(d + 1)); return `[${it.join(", ")}]`; }
      case 7: case 8: { const n = rand(6); const it = []; for (let i = 0; i < n; i++) it.push(`${pick(["a", "bb", "'c-d'", "ccccccccccccccc", "1", "'x y'", "[Symbol.for('k')]"])}${i}: ${gen(d + 1)}`.replace(/^'(.*)'(\d+):/, "'$1$2':").replace(/^\[Symbol\.for\('k'\)\](\d+)/, "[Symbol.for('k$1')]")); return `({ ${it.join(", ")} })`; }
      case 9: return `new Map([${Array.from({ length: rand(4) }, () => `[${gen(d + 1)}, ${gen(d + 1)}]`).join(", ")}])`;
      case 10: return `new Set([${Array.from({ length: rand(5) }, () => gen(d + 1)).join(", ")}])`;
      case 11: return `new ${pick(["Uint8Array", "Float64Array", "Int16Array"])}([${Array.from({ length: rand(30) }, () => rand(300) - 100).join(", ")}])`;
      case 12: return `Array.from({ length: ${rand(130)} }, (_, i) => ${pick(["i", "i * 1000", "'s' + i", "i % 2 === 0", "i / 3"])})`;
      default: return pick(["Object.create(null)", "new (class Foo { constructor() { this.x = 1; } })()", "(() => { const o = { a: 1 }; o.self = o; return o; })()", "[ , 1, , ]", "new Number(3)", "new String('ab')", "new ArrayBuffer(4)", "Object.assign([1, 2], { extra: 'x' })", "({ get g() { return 1; }, set s(v) {} })",
      // (No Blob: Node's is a custom inspect that lays out its fields as if at the left margin
      // and one level down, "Blob [Object]" at the depth limit; here it is laid out in place.)
      "new DataView(new ArrayBuffer(4), 1, 2)", "[[{ v: [1] }, { w: 2 }]]"]);
    }
  }
  for (let i = 0; i < 5000; i++) {
    const source = gen(0);
    const depth = pick([undefined, 0, 1, 2, 4, null]);
    let options = depth === undefined ? undefined : { depth };
    // Two calls in three with layout options too (`compact: true` is not Node's legacy layout here).
    if (rand(3) > 0) {
      options = options ?? {};
      if (rand(2)) options.breakLength = pick([20, 40, 80, 120, Infinity]);
      if (rand(2)) options.compact = pick([false, 0, 1, 2, 3, 5]);
      if (rand(3) === 0) options.sorted = true;
      if (rand(3) === 0) options.maxArrayLength = pick([0, 1, 2, 10, null]);
      if (rand(3) === 0) options.maxStringLength = pick([0, 5, 100, null]);
    }
    const ours = util.inspect(p.run(`(${source})`), options);
    assert.equal(ours, nodeUtil.inspect((0, eval)(`(${source})`), options), `${source} ${JSON.stringify(options)}`);
  }
});

test("util.stripVTControlCharacters answers as Node's on 10,000 generated strings", () => {
  let seed = 0x7e5c;
  const rand = (n) => { seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff; return Math.floor((seed / 0x80000000) * n); };
  // CSI (ESC [ and its C1 form), private modes, charset designations, OSC ended by BEL, ESC \ or ST.
  const atoms = ["a", "\x1b[31m", "\x1b[0m", "\x1b]8;;http://x\x07", "\x1b", "[", "m", "\x9b1m", "\x1b[?25l", "é", "\ud800",
    "\x1b[38;5;1m", "\x1b(B", ";", "1", "\x1b]0;t\x1b\\", "\x9c"];
  for (let i = 0; i < 10000; i++) {
    let s = "";
    for (let k = rand(8); k > 0; k--) s += atoms[rand(atoms.length)];
    assert.equal(util.stripVTControlCharacters(s), nodeUtil.stripVTControlCharacters(s), JSON.stringify(s));
  }
  assert.throws(() => util.stripVTControlCharacters(5), { code: "ERR_INVALID_ARG_TYPE" });
});
