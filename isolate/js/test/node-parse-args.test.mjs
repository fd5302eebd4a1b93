// node:util's parseArgs (node-parse-args.js) against Node 20's own: hand-picked command lines and
// configurations, then 3000 generated ones, comparing values, positionals, tokens and errors
// (code and message).
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseArgs as nodeParseArgs } from "node:util";
import { loadPrelude } from "./load-prelude.mjs";

const p = loadPrelude();
p.exports.configure({ nodejs: true });
const { parseArgs } = p.exports.builtinExports("node:util");

function outcome(parse, config) {
  try {
    const r = parse(config);
    return JSON.parse(JSON.stringify({ values: { ...r.values }, positionals: r.positionals, tokens: r.tokens ?? null }));
  } catch (e) {
    return { code: e.code, name: e.name, message: e.message };
  }
}

const same = (config) => assert.deepEqual(outcome(parseArgs, config), outcome(nodeParseArgs, config), JSON.stringify(config));

const OPTIONS = {
  verbose: { type: "boolean", short: "v" },
  file: { type: "string", short: "f" },
  tag: { type: "string", multiple: true, short: "t" },
  dry: { type: "boolean", multiple: true },
  color: { type: "string", default: "auto" },
  x: { type: "boolean", short: "x", default: false },
};

test("util.parseArgs matches Node's on hand-picked command lines", () => {
  const lines = [
    [], ["-v"], ["--verbose", "a", "b"], ["-f", "x.txt"], ["-fx.txt"], ["--file=x.txt"], ["--file", "-x"],
    ["--file"], ["-vx"], ["-vfFILE"], ["-vf", "FILE"], ["-t", "a", "-t", "b", "--tag=c"], ["--dry", "--dry"],
    ["--", "-v", "--file"], ["--unknown"], ["-z"], ["--verbose=yes"], ["pos"], ["--file=-x"], ["-f-x"],
    ["--color", "never"], ["-"], ["--", "--"], ["-vv"], ["--__proto__"], ["--x"], ["-xvt", "q"], ["--==x"], ["--a=b=c"],
  ];
  for (const args of lines) {
    for (const strict of [true, false]) {
      for (const allowPositionals of [undefined, true, false]) {
        same({ args, options: OPTIONS, strict, allowPositionals, tokens: true });
        same({ args, options: OPTIONS, strict, allowPositionals });
      }
    }
  }
});

test("util.parseArgs validates its configuration as Node's does", () => {
  for (const config of [
    { args: "nope" }, { strict: 1 }, { allowPositionals: "y" }, { tokens: 0 }, { options: [] }, { options: { a: 1 } },
    { options: { a: { type: "number" } } }, { options: { a: { type: "string", short: "ab" } } },
    { options: { a: { type: "string", short: 1 } } }, { options: { a: { type: "string", multiple: "yes" } } },
    { options: { a: { type: "string", default: 1 } } }, { options: { a: { type: "string", multiple: true, default: "x" } } },
    { options: { a: { type: "boolean", multiple: true, default: [true, 1] } } }, { args: [] },
    { args: ["-a"], options: { a: { type: "boolean", multiple: true, default: [true] } } },
  ]) {
    const mine = outcome(parseArgs, config);
    const node = outcome(nodeParseArgs, config);
    assert.equal(mine.code, node.code, JSON.stringify(config));
    if (mine.code === undefined) assert.deepEqual(mine, node, JSON.stringify(config));
  }
});

test("util.parseArgs matches Node's on 3000 generated command lines", () => {
  let seed = 0xa295;
  const rand = (n) => { seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff; return Math.floor((seed / 0x80000000) * n); };
  const words = ["-v", "-f", "-t", "-x", "-z", "-vx", "-vf", "-fv", "-xt", "--verbose", "--file", "--tag", "--dry",
    "--color", "--nope", "--file=a", "--tag=", "--verbose=1", "--", "-", "a", "b", "-ab", "--=x", "---x", "-f=1", "é"];
  for (let i = 0; i < 3000; i++) {
    const args = [];
    const n = rand(7);
    for (let j = 0; j < n; j++) args.push(words[rand(words.length)]);
    same({ args, options: OPTIONS, strict: rand(2) === 0, allowPositionals: [undefined, true, false][rand(3)], tokens: rand(2) === 0 });
  }
});
