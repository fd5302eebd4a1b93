// node:querystring (node-querystring.js), node:punycode (node-punycode.js) and
// node:diagnostics_channel (node-diagnostics-channel.js) in the prelude's vm context, checked
// against what Node 20's own modules answer for the same calls. The proof in real isolates is
// isolate/tests/node_qs_punycode_dc.rs.
import { test } from "node:test";
import assert from "node:assert/strict";
import nodeQs from "node:querystring";
import nodePunycode from "node:punycode";
import nodeDc from "node:diagnostics_channel";
import { loadPrelude } from "./load-prelude.mjs";

function configured() {
  const p = loadPrelude();
  p.exports.configure({ nodejs: true, nodeGlobals: true, asyncHooks: true, populateProcessEnv: false, env: {} });
  return p;
}

/** A result (or the error thrown) as plain data, comparable across realms. */
function outcome(fn) {
  try {
    const v = fn();
    if (v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Uint8Array) && typeof v.length !== "number") {
      return ["ok", Object.getPrototypeOf(v) === null ? "null-proto" : "proto", JSON.stringify(Object.entries(v))];
    }
    return ["ok", v instanceof Uint8Array || (v && v.constructor && v.constructor.name === "Buffer") ? [...v] : JSON.stringify(v)];
  } catch (e) {
    return ["err", e.name, e.code, quotes(e.message)];
  }
}

/** Node's ERR_INVALID_ARG_TYPE shows a received string in single quotes (util.inspect), the
 *  runtime's shared describeReceived (builtins.js) in double quotes: the same otherwise. */
const quotes = (message) => message.replace(/\('(.*)'\)$/, '("$1")');

/** deepEqual across realms (the prelude's arrays are not this realm's). */
const same = (actual, expected, message) =>
  assert.deepEqual(JSON.parse(JSON.stringify(actual) ?? "null"), JSON.parse(JSON.stringify(expected) ?? "null"), message);

test("the export lists match the values", () => {
  const p = configured();
  for (const name of ["node:querystring", "node:punycode", "node:diagnostics_channel"]) {
    const value = p.exports.builtinExports(name);
    for (const n of p.exports.builtinNames(name)) assert.ok(n in value, `${name} lacks ${n}`);
  }
  same(p.exports.builtinNames("node:querystring").sort(), Object.keys(nodeQs).sort());
  same(p.exports.builtinNames("node:punycode").sort(), Object.keys(nodePunycode).sort());
  same(p.exports.builtinNames("node:diagnostics_channel").sort(), Object.keys(nodeDc).sort());
});

const PARSE_CASES = [
  ["a=1&b=2"], ["a=1&a=2&a=3&b"], ["a"], ["=x"], ["&&a=1&&"], ["a=b=c"], ["a+b=c+d%20e"],
  ["%E4%bd%A0=%E5%A5%BD"], ["a=%ZZ&b=%E4&c=%"], ["a=%2&b=%%41"], ["k%3Dv=1"], ["__proto__=1&constructor=2"],
  ["toString=x&hasOwnProperty=y"], [""], [42], ["a:1;b:2", ";", ":"], ["a=>1&&b=>2", "&&", "=>"],
  ["a==1", "&", "=="], ["a=1", "", ""], ["a=1&b=2", null, null, { maxKeys: 1 }],
  ["a&b&c&d", null, null, { maxKeys: 2 }], ["&&&&a=1", null, null, { maxKeys: 2 }],
  ["a=1&b=2", null, null, { maxKeys: 0 }], ["a=1&b=2", null, null, { maxKeys: -5 }],
  [Array.from({ length: 1200 }, (_, i) => `k${i}=${i}`).join("&")],
  ["a=%41+b", null, null, { decodeURIComponent: (s) => s.toUpperCase() }],
  ["a=%E4", null, null, { decodeURIComponent: (s) => { throw new Error(`no ${s}`); } }],
  ["a=1&b=2", 5, 6], ["a[]=1&a[]=2&a[b]=3"], ["\uD800=\uDC00"], ["a=%F0%9F%98%80+%C3%A9"],
];

test("parse answers what Node's does", () => {
  const qs = configured().exports.builtinExports("node:querystring");
  for (const args of PARSE_CASES) {
    assert.deepEqual(outcome(() => qs.parse(...args)), outcome(() => nodeQs.parse(...args)), JSON.stringify(args).slice(0, 200));
    assert.deepEqual(outcome(() => qs.decode(...args)), outcome(() => nodeQs.decode(...args)));
  }
  const many = qs.parse(PARSE_CASES[24][0]);
  assert.equal(Object.keys(many).length, 1000); // maxKeys' default
});

const STRINGIFY_CASES = [
  [{ a: 1, b: "x y", c: true, d: false }], [{ a: [1, 2, 3], b: [], c: "z" }], [{ a: [], b: [] }],
  [{ n: NaN, i: Infinity, u: undefined, nl: null, o: {}, f() {}, big: 10n, neg: -0, e: 1e21, e2: -1e21, s: 1e-7 }],
  [{ "ключ": "значение", "😀": "é", "a b": "!'()*-._~" }], [{ a: 1, b: 2 }, ";", ":"], [{ a: 1 }, "", ""],
  [{ a: "x y" }, null, null, { encodeURIComponent: (s) => `<${s}>` }], [{ a: [1n, 2] }, null, null, { encodeURIComponent: (s) => s }],
  ["not an object"], [null], [[1, 2]], [{ bad: "\uD800" }], [{ pair: "\uD83D\uDE00", trail: "a\uDBFFb" }],
];

test("stringify, escape, unescape and unescapeBuffer answer what Node's do", () => {
  const qs = configured().exports.builtinExports("node:querystring");
  for (const args of STRINGIFY_CASES) {
    assert.deepEqual(outcome(() => qs.stringify(...args)), outcome(() => nodeQs.stringify(...args)), JSON.stringify(String(args[0])));
    assert.deepEqual(outcome(() => qs.encode(...args)), outcome(() => nodeQs.encode(...args)));
  }
  for (const s of ["a b&c=d/é😀", "", 12, { toString: () => "o b" }, true, "\uD800", "x\uD800", "~!*()'-_."]) {
    assert.deepEqual(outcome(() => qs.escape(s)), outcome(() => nodeQs.escape(s)), String(s));
  }
  for (const s of ["a%20b", "%E4%bd%A0", "%E4", "%", "%4", "%ZZa", "a+b", "%F0%9F%98%80%"]) {
    assert.deepEqual(outcome(() => qs.unescape(s)), outcome(() => nodeQs.unescape(s)), s);
    assert.deepEqual(outcome(() => qs.unescape(s, true)), outcome(() => nodeQs.unescape(s, true)), s);
    assert.deepEqual(outcome(() => qs.unescapeBuffer(s, true)), outcome(() => nodeQs.unescapeBuffer(s, true)), s);
    assert.deepEqual(outcome(() => qs.unescapeBuffer(s)), outcome(() => nodeQs.unescapeBuffer(s)), s);
  }
});

test("stringify and parse call the module's own escape and unescape, as Node's do", () => {
  const qs = configured().exports.builtinExports("node:querystring");
  const replaced = (m) => {
    const escape = m.escape;
    const unescape = m.unescape;
    try {
      m.escape = (s) => `[${s}]`;
      m.unescape = (s) => `(${s})`;
      return [m.stringify({ a: "b", n: 1, big: 2n }), { ...m.parse("a=%41&b+c=d") }];
    } finally {
      m.escape = escape;
      m.unescape = unescape;
    }
  };
  const mine = replaced(qs);
  same(mine, replaced(nodeQs));
  assert.equal(mine[0], "[a]=[b]&[n]=[1]&[big]=[2]");
  assert.equal(qs.stringify({ a: "b" }), "a=b");
});

test("punycode answers what Node's does", () => {
  const pc = configured().exports.builtinExports("node:punycode");
  assert.equal(pc.version, nodePunycode.version);
  const labels = ["mañana", "bücher", "ü", "abc", "", "-", "a-b-ü", "他们为什么不说中文", "😀", "\uD800x", "MAÑANA", "Pročprostěnemluvíčesky"];
  for (const l of labels) {
    assert.deepEqual(outcome(() => pc.encode(l)), outcome(() => nodePunycode.encode(l)), l);
    const enc = nodePunycode.encode(l);
    assert.deepEqual(outcome(() => pc.decode(enc)), outcome(() => nodePunycode.decode(enc)), enc);
  }
  for (const bad of ["ü-abc", "abc-!", "99999999", "zzzzzzzzzz", "a-", "-a", "ihqwcrb4cv8a8dqg056pqjye", "\u212Aa"]) {
    assert.deepEqual(outcome(() => pc.decode(bad)), outcome(() => nodePunycode.decode(bad)), bad);
  }
  const domains = ["mañana.com", "MAÑANA.com", "bücher.example。de", "a．b｡c", "user@mañana.com", "a@b@ü.c",
    "xn--maana-pta.com", "XN--maana-pta.com", "xn--MAANA-PTA.com", "already.ascii", "", ".", "..ü..",
    "xn--", "xn--ü", "user@xn--bcher-kva.example", "\u212Aa.xn--\u212Aa", "😀.ws"];
  for (const d of domains) {
    assert.deepEqual(outcome(() => pc.toASCII(d)), outcome(() => nodePunycode.toASCII(d)), `toASCII ${d}`);
    assert.deepEqual(outcome(() => pc.toUnicode(d)), outcome(() => nodePunycode.toUnicode(d)), `toUnicode ${d}`);
  }
  for (const s of ["a😀b", "\uD800", "\uDC00\uD800", "\uD83D\uDE00\uD83D", ""]) {
    same(pc.ucs2.decode(s), nodePunycode.ucs2.decode(s), s);
    assert.equal(pc.ucs2.encode(nodePunycode.ucs2.decode(s)), s);
  }
  assert.deepEqual(outcome(() => pc.ucs2.encode([0x110000])), outcome(() => nodePunycode.ucs2.encode([0x110000])));
});

/** Runs the same diagnostics_channel scenario on `dc`, returning what it saw. */
function channelScenario(dc, Err) {
  const seen = [];
  const a = dc.channel("scenario:a");
  const sym = Symbol("s");
  const onA = (msg, name) => seen.push(["a1", msg, String(name)]);
  const onA2 = (msg) => seen.push(["a2", msg]);
  seen.push(["same", dc.channel("scenario:a") === a, a instanceof dc.Channel, a.name]);
  seen.push(["before", a.hasSubscribers, dc.hasSubscribers("scenario:a"), dc.hasSubscribers("never")]);
  a.publish("nobody");
  a.subscribe(onA);
  dc.subscribe("scenario:a", onA2);
  seen.push(["after", a.hasSubscribers, dc.hasSubscribers("scenario:a")]);
  a.publish({ n: 1 });
  seen.push(["unsub", a.unsubscribe(onA), a.unsubscribe(onA), dc.unsubscribe("scenario:a", onA2)]);
  seen.push(["empty", a.hasSubscribers]);
  a.publish("gone");
  dc.subscribe(sym, (m, n) => seen.push(["sym", m, n === sym]));
  dc.channel(sym).publish(7);
  // Subscribing during publish does not reach the running publish.
  const b = dc.channel("scenario:b");
  const late = () => seen.push(["late"]);
  b.subscribe(() => { seen.push(["b1"]); b.subscribe(late); });
  b.publish(1);
  seen.push(["errors", ...[() => dc.channel(5), () => a.subscribe("x"), () => dc.tracingChannel(5),
    () => dc.tracingChannel({ start: 1 })].map((f) => { try { f(); return "none"; } catch (e) { return [e.name, e.code, quotes(e.message)]; } })]);
  // A throwing subscriber: the others still run, the error comes later (Node's test runner
  // takes Node's uncaught exception for its own: Err is null there; `node -e` shows the same).
  const c = dc.channel("scenario:c");
  if (Err !== null) c.subscribe(() => { throw new Err("boom"); });
  c.subscribe((m) => seen.push(["c2", m]));
  c.publish("x");
  return seen;
}

test("channels behave as Node's", async () => {
  const p = configured();
  const dc = p.exports.builtinExports("node:diagnostics_channel");
  const mine = channelScenario(dc, p.realm.Error);
  await p.advance(0);
  const errors = p.logs.filter(([level]) => level === 3).map(([, text]) => text);
  assert.ok(errors.some((t) => t.includes("boom")), JSON.stringify(p.logs));
  same(mine, channelScenario(nodeDc, null));
});

/** A tracing scenario: traceSync, tracePromise and traceCallback, with and without errors. */
async function tracingScenario(dc, prefix) {
  const seen = [];
  const tc = dc.tracingChannel(`${prefix}:op`);
  seen.push(["idle", tc.hasSubscribers, tc.traceSync((x) => x * 2, {}, null, 4)]);
  const handlers = {};
  for (const ev of ["start", "end", "asyncStart", "asyncEnd", "error"]) {
    handlers[ev] = (ctx, name) => seen.push([ev, String(name), ctx.tag, "result" in ctx ? ctx.result : "-", ctx.error ? ctx.error.message : "-"]);
  }
  tc.subscribe(handlers);
  seen.push(["subscribed", tc.hasSubscribers, tc.start.name, dc.hasSubscribers(`tracing:${prefix}:op:start`)]);
  seen.push(["sync", tc.traceSync(function (a, b) { return [this.k, a + b]; }, { tag: "s" }, { k: "this" }, 1, 2)]);
  try { tc.traceSync(() => { throw new Error("sync fail"); }, { tag: "sf" }); } catch (e) { seen.push(["caught", e.message]); }
  seen.push(["promise", await tc.tracePromise(async (v) => v + 1, { tag: "p" }, null, 41)]);
  seen.push(["plain value", await tc.tracePromise(() => "not a promise", { tag: "pv" })]);
  try { await tc.tracePromise(async () => { throw new Error("async fail"); }, { tag: "pf" }); } catch (e) { seen.push(["rejected", e.message]); }
  await new Promise((resolve) => {
    tc.traceCallback((x, cb) => { seen.push(["called", x]); Promise.resolve().then(() => cb(null, x * 3)); }, -1, { tag: "cb" }, null, 5,
      function (err, res) { seen.push(["callback", err, res]); resolve(); });
  });
  await new Promise((resolve) => {
    tc.traceCallback((cb) => cb(new Error("cb fail")), 0, { tag: "cbf" }, null, (err) => { seen.push(["callback err", err.message]); resolve(); });
  });
  try { tc.traceCallback(() => {}, 0, {}, null, "not a function"); } catch (e) { seen.push(["bad callback", e.name, e.code, quotes(e.message)]); }
  seen.push(["unsubscribe", tc.unsubscribe(handlers), tc.unsubscribe(handlers), tc.hasSubscribers]);
  const explicit = dc.tracingChannel({ start: dc.channel("s"), end: dc.channel("e"), asyncStart: dc.channel("as"), asyncEnd: dc.channel("ae"), error: dc.channel("er") });
  seen.push(["explicit", explicit.end.name]);
  return seen;
}

test("tracing channels behave as Node's", async () => {
  const p = configured();
  const dc = p.exports.builtinExports("node:diagnostics_channel");
  const mine = tracingScenario(dc, "t");
  await p.advance(0);
  await p.advance(0);
  const theirs = await tracingScenario(nodeDc, "t");
  same(await mine, theirs);
});

/** bindStore/runStores on `dc` with `AsyncLocalStorage` (synchronous use only: the harness's
 *  fake host does not carry the context through promise reactions). */
function storesScenario(dc, AsyncLocalStorage, Err) {
  const store = new AsyncLocalStorage();
  const other = new AsyncLocalStorage();
  const ch = dc.channel("stores");
  const seen = [];
  const sub = (m) => seen.push(["sub", m, store.getStore(), other.getStore()]);
  ch.bindStore(store, (m) => `store:${m}`);
  seen.push(["bound only", ch.hasSubscribers, dc.hasSubscribers("stores")]);
  ch.subscribe(sub);
  ch.bindStore(other);
  const result = ch.runStores("msg", function (x) { seen.push(["fn", this.t, x, store.getStore(), other.getStore()]); return "ret"; }, { t: "this" }, "arg");
  seen.push(["after", result, store.getStore() ?? "none", other.getStore() ?? "none"]);
  seen.push(["unbind", ch.unbindStore(store), ch.unbindStore(store), ch.unbindStore(other), ch.hasSubscribers]);
  // A transform that throws: fn runs without that store, the error is uncaught later (null for
  // Node, whose test runner would take the error; a transform answering undefined looks the same).
  ch.bindStore(store, () => { if (Err !== null) throw new Err("transform fail"); });
  seen.push(["failing transform", ch.runStores("m2", () => store.getStore() ?? "none")]);
  ch.unsubscribe(sub);
  ch.unbindStore(store);
  seen.push(["idle", ch.hasSubscribers, ch.runStores("m3", (a) => a, null, "plain")]);
  return seen;
}

test("bindStore enters an AsyncLocalStorage around runStores, with its transform, as Node's", async () => {
  const p = configured();
  const dc = p.exports.builtinExports("node:diagnostics_channel");
  const { AsyncLocalStorage } = p.exports.builtinExports("node:async_hooks");
  const mine = storesScenario(dc, AsyncLocalStorage, p.realm.Error);
  await p.advance(0);
  assert.ok(p.logs.some(([level, text]) => level === 3 && text.includes("transform fail")), JSON.stringify(p.logs));
  const { AsyncLocalStorage: NodeAls } = await import("node:async_hooks");
  same(mine, storesScenario(nodeDc, NodeAls, null));
  assert.equal(mine[1][0], "sub");
  assert.equal(mine[1][2], "store:msg");
});
