// util.isDeepStrictEqual and assert's deepEqual / deepStrictEqual / notDeepStrictEqual against
// Node 20's on generated pairs: a value and a copy of it with small changes here and there
// (primitives that are loosely equal, a key more, a hole for an undefined), nested arrays, objects,
// Maps (object and NaN keys), Sets, Dates, RegExps, typed arrays, boxed primitives, errors and
// cycles, each made in its own realm from the same source text.
import { test } from "node:test";
import assert from "node:assert/strict";
import nodeUtil from "node:util";
import nodeAssert from "node:assert";
import { loadPrelude } from "./load-prelude.mjs";

const p = loadPrelude();
p.exports.configure({ nodejs: true, nodeGlobals: true });
const util = p.exports.builtinExports("node:util");
const sandboxAssert = p.exports.builtinExports("node:assert");

test("deep equality answers as Node's on 20,000 generated pairs", () => {
  let seed = 0xd33b;
  const rand = (n) => { seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff; return Math.floor((seed / 0x80000000) * n); };
  const pick = (list) => list[rand(list.length)];
  // The changes draw from a stream of their own, so that a changed copy keeps the same shape.
  let mseed = 7;
  // Source text of a value; `mut` is the chance of a small change at each place that has one.
  function gen(depth, mut) {
    const m = () => { mseed = (Math.imul(mseed, 1103515245) + 12345) & 0x7fffffff; return mseed / 0x80000000 < mut; };
    const k = depth > 2 ? rand(6) : rand(17);
    switch (k) {
      case 0: return pick(["0", "-0", "1", "NaN", "1.5", "'1'", "''", "true", "false", "null", "undefined", "1n", "Symbol.for('a')"]);
      case 1: return m() ? pick(["0", "-0", "'0'", "false"]) : "0";
      case 2: return m() ? "'x'" : "'y'";
      case 3: return "NaN";
      case 4: return m() ? "undefined" : "null";
      case 5: return "-0";
      case 6: { const n = rand(4); const items = []; for (let i = 0; i < n; i++) items.push(gen(depth + 1, mut)); if (m()) items.push("1"); return `[${items.join(", ")}]`; }
      case 7: { const n = rand(3); const items = []; for (let i = 0; i < n; i++) items.push(`${pick(["a", "b", "c"])}${i}: ${gen(depth + 1, mut)}`); if (m()) items.push("z: undefined"); return `({ ${items.join(", ")} })`; }
      case 8: return `new Map([[${gen(depth + 1, mut)}, ${gen(depth + 1, mut)}]${m() ? ", [1, 1]" : ""}])`;
      case 9: return `new Set([${gen(depth + 1, mut)}${m() ? ", 2" : ""}, ${m() ? pick(["'1'", "null", "undefined", "1n", "[]"]) : pick(["1", "'1'", "{}", "[]", "NaN", "undefined"])}])`;
      case 10: return m() ? "new Date(1)" : "new Date(0)";
      case 11: return pick(["/a/g", "/a/i", "/a/g"]);
      case 12: return `new ${pick(["Uint8Array", "Int8Array", "Float64Array"])}([${m() ? "1, 2" : "1, 3"}])`;
      case 13: return pick(["new Number(1)", "new String('a')", "new Boolean(false)", "Object(1n)", "new Number(-0)", "new Number(0)"]);
      case 14: return `Object.assign(Object.create(null), { a: ${gen(depth + 1, mut)} })`;
      case 15: return m() ? "[1, , 3]" : "[1, undefined, 3]";
      default: return pick(["new Error('a')", "new TypeError('a')", "Object.assign(new Error('a'), { code: 1 })", "(() => { const a = [1]; a.x = 1; return a; })()",
        "(() => { const o = { a: 1 }; o.self = o; return o; })()", "(() => { const o = { a: 1 }; o.self = { a: 1, self: o }; return o; })()",
        "({ [Symbol.for('s')]: 1 })", "({ [Symbol.for('s')]: 2 })", "new WeakMap()", "Promise.resolve()", "(function () { return arguments; })(1)", "[1]"]);
    }
  }
  
  const unequal = { strict: 0, loose: 0 };
  for (let i = 0; i < 20000; i++) {
    const from = seed;
    const a = gen(0, 0);
    const next = seed;
    seed = from;
    const b = gen(0, [0, 0.05, 0.4][i % 3]);
    const run = (u, as, evaluate) => {
      const x = evaluate(`(${a})`);
      const y = evaluate(`(${b})`);
      const t = (f) => { try { return f(); } catch (e) { return e.code ?? e.name; } };
      return JSON.stringify([u.isDeepStrictEqual(x, y), t(() => { as.deepEqual(x, y); return true; }),
        t(() => { as.deepStrictEqual(x, y); return true; }), t(() => { as.notDeepStrictEqual(x, y); return true; })]);
    };
    const node = run(nodeUtil, nodeAssert, (source) => (0, eval)(source));
    assert.equal(run(util, sandboxAssert, p.run), node, `${a}\n${b}`);
    if (node.startsWith("[false")) unequal.strict++;
    if (node.startsWith("[false,\"ERR")) unequal.loose++;
    seed = next + i;
  }
  // The changed copies reach both answers, strictly and loosely.
  assert.ok(unequal.strict > 1000 && unequal.loose > 500 && unequal.strict < 19000, JSON.stringify(unequal));
});
