// The prelude as a whole: it evaluates in an eval-free context, the host primitives and the host
// exports are unreachable from tenant code (walked for real, and attacked through stack-trace
// APIs, `caller`, and monkeypatched builtins), globals look like the web's, console formats like
// Node and survives hostile objects, timers and microtasks follow the host contract.
import { test } from "node:test";
import assert from "node:assert/strict";
import util from "node:util";
import vm from "node:vm";
import { spawnSync } from "node:child_process";
import { loadPrelude, newContext, installHost, SOURCE } from "./load-prelude.mjs";

const GLOBALS = ["console", "setTimeout", "clearTimeout", "setInterval", "clearInterval", "queueMicrotask", "URL",
  "URLSearchParams", "TextEncoder", "TextDecoder", "atob", "btoa", "structuredClone", "crypto", "Crypto", "Headers",
  "Request", "Response", "fetch", "DOMException", "performance", "Performance", "Event", "CustomEvent", "EventTarget",
  "AbortController", "AbortSignal", "Blob", "File", "FormData"];

/** Every host-side secret: the host object, its primitives, the dispatcher, the exports. */
function secretsOf(p) {
  const secrets = new Set([p.host, ...Object.values(p.host), p.getDispatch(), p.exports, ...Object.values(p.exports)]);
  assert.equal(typeof p.getDispatch(), "function", "the prelude registered a timer dispatcher");
  return secrets;
}

/** All objects reachable from `roots` through properties (values, getters, setters), prototypes,
 *  and the results of calling every getter and zero-argument method found on the way. */
function reachableFrom(roots) {
  const seen = new Set();
  const stack = [...roots];
  const visit = (v) => { if (v !== null && (typeof v === "object" || typeof v === "function") && !seen.has(v)) stack.push(v); };
  while (stack.length > 0) {
    const o = stack.pop();
    if (seen.has(o)) continue;
    seen.add(o);
    visit(Object.getPrototypeOf(o));
    for (const key of Reflect.ownKeys(o)) {
      const d = Object.getOwnPropertyDescriptor(o, key);
      visit(d.value); visit(d.get); visit(d.set);
      try {
        if (d.get) {
          const got = Reflect.apply(d.get, o, []);
          // Web IDL promise attributes (a stream reader's `closed`) reject on a wrong receiver.
          if (got !== null && typeof got === "object" && typeof got.then === "function") got.then(visit, () => {});
          visit(got);
        }
      } catch { /* wrong receiver */ }
      if (typeof d.value === "function" && key !== "constructor" && d.value.length === 0) {
        try {
          const result = Reflect.apply(d.value, o, []);
          if (result !== null && typeof result === "object" && typeof result.then === "function") result.then(visit, () => {});
          visit(result);
        } catch { /* needs arguments or a receiver */ }
      }
    }
  }
  return seen;
}

test("the prelude evaluates with code generation from strings disabled, and eval stays disabled", () => {
  const p = loadPrelude();
  assert.throws(() => p.run("eval('1')"), (e) => e instanceof p.realm.Error && /Code generation from strings disallowed/.test(e.message));
  assert.throws(() => p.run("new Function('return 1')"), /Code generation from strings disallowed/);
});

test("__stockade_host is gone and no host secret is reachable from globalThis", () => {
  const p = loadPrelude();
  assert.equal(p.run("typeof __stockade_host"), "undefined");
  assert.equal(p.run("'__stockade_host' in globalThis"), false);
  assert.equal(p.run("Object.getOwnPropertyNames(globalThis).includes('__stockade_host')"), false);
  assert.equal("__stockade_host" in p.context, false);
  const secrets = secretsOf(p);
  const instances = p.run(`[globalThis, new URL("http://h/?a=1"), new URLSearchParams("a=1"), new Headers({ a: "1" }),
    new Request("http://h/", { method: "POST", body: "x" }), new Response("x"), Response.error(), new TextEncoder(),
    new TextDecoder(), new DOMException("m"), performance, crypto, console, new Headers().entries()]`);
  const reachable = reachableFrom(instances);
  assert.ok(reachable.size > 300, `walked ${reachable.size} objects`);
  for (const secret of secrets) assert.equal(reachable.has(secret), false, `a host secret is reachable: ${util.inspect(secret)}`);
});

test("evaluation calls no host primitive but onTimer (safe to evaluate into a startup snapshot)", () => {
  const calls = [];
  const spy = (name) => (...args) => { calls.push(name); if (name === "now") return 0; return undefined; };
  const p = loadPrelude({ log: spy("log"), randomFill: spy("randomFill"), setTimer: spy("setTimer"), clearTimer: spy("clearTimer"), now: spy("now") });
  assert.deepEqual(calls, [], "no clock read, no randomness, no timer, no log while evaluating");
  assert.equal(typeof p.getDispatch(), "function");
});

test("the prelude fails closed if the host global cannot be deleted or a primitive is missing", () => {
  const locked = newContext();
  vm.runInContext("Object.defineProperty(globalThis, '__stockade_host', { value: {}, configurable: false })", locked);
  assert.throws(() => vm.runInContext(SOURCE, locked), /host primitive|Cannot delete/);
  const missing = newContext();
  installHost(missing, {});
  vm.runInContext("delete __stockade_host.now", missing);
  assert.throws(() => vm.runInContext(SOURCE, missing), /host primitive \w+ is missing/);
});

test("stack-trace APIs and fn.caller expose no prelude function, receiver or host secret", async () => {
  const p = loadPrelude();
  const secrets = secretsOf(p);
  p.run(`
    globalThis.captured = [];
    Error.prepareStackTrace = (error, frames) => {
      for (const f of frames) captured.push({ file: f.getFileName(), name: f.getFunctionName(), fn: f.getFunction(), self: f.getThis() });
      return "";
    };
    const probe = function () { new Error().stack; captured.push({ caller: probe.caller }); };
    setTimeout(probe, 0);
    setInterval(function tick() { probe(); clearInterval(1); }, 1);
    queueMicrotask(probe);
    console.log(new Proxy({}, { ownKeys() { probe(); return []; }, getPrototypeOf() { probe(); return null; } }));
    console.log("%d", { [Symbol.toPrimitive]() { probe(); return 1; } });
    structuredClone({ get x() { probe(); return 1; } });
    new URLSearchParams({ [Symbol.iterator]: function* () { probe(); } });
    new Headers({ [Symbol.iterator]: function* () { probe(); } });
    new Response({ toString() { probe(); return "x"; } });
    [1].forEach(() => new URL({ toString() { probe(); return "http://h/"; } }));
    new Response("x").text().then(probe);
  `);
  await p.advance(10);
  const captured = p.run("captured");
  assert.ok(captured.length > 20, `captured ${captured.length} frames`);
  for (const c of captured) {
    if ("caller" in c) {
      // null when called from the prelude (strict); a tenant function when a tenant trap called it.
      if (c.caller !== null) {
        assert.equal(SOURCE.includes(Function.prototype.toString.call(c.caller)), false, `caller leaked ${c.caller}`);
        assert.equal(secrets.has(c.caller), false);
      }
      continue;
    }
    if (c.file === "prelude.js") {
      assert.equal(c.fn, undefined, `prelude frame ${c.name} leaked its function`);
      assert.equal(c.self, undefined, `prelude frame ${c.name} leaked its receiver`);
    }
    assert.equal(secrets.has(c.fn) || secrets.has(c.self), false, `frame ${c.name} leaked a host secret`);
  }
});

test("monkeypatched builtins never receive a host secret", async () => {
  const p = loadPrelude();
  const secrets = secretsOf(p);
  p.run(`
    globalThis.seen = [];
    const apply = Reflect.apply;
    const push = Array.prototype.push;
    const define = Object.defineProperty;
    let recording = false;
    const record = (proto, name) => {
      const original = proto[name];
      if (typeof original !== "function") return;
      define(proto, name, { configurable: true, writable: true, value: function (...args) {
        if (!recording) {
          recording = true;
          try { apply(push, seen, [this, ...args]); } finally { recording = false; }
        }
        return apply(original, this, args);
      } });
    };
    for (const name of ["call", "apply", "bind"]) record(Function.prototype, name);
    for (const name of ["push", "map", "filter", "join", "includes", "some", "find", "findIndex", "slice", "sort", "indexOf", "every", "forEach", "reduce"]) record(Array.prototype, name);
    for (const name of ["get", "set", "has", "delete"]) { record(Map.prototype, name); record(WeakMap.prototype, name); }
    record(Promise.prototype, "then");
    for (const name of ["replace", "slice", "toLowerCase", "charCodeAt", "includes", "split"]) record(String.prototype, name);
    record(Object, "defineProperty"); record(Object, "freeze"); record(Reflect, "apply");
  `);
  p.run(`
    console.log("x", { a: [1, new Map([[1, 2]])] }); console.error(new Error("e"));
    const id = setTimeout((a) => a, 0, 1); clearTimeout(id); setTimeout(() => {}, 1); setInterval(() => clearInterval(3), 1);
    queueMicrotask(() => {}); crypto.getRandomValues(new Uint8Array(8)); crypto.randomUUID(); performance.now();
    fetch("http://h/").catch(() => {}); new Response("x").text(); structuredClone({ a: 1 });
    new URL("http://h/a?b#c").searchParams.append("x", "y"); new TextDecoder().decode(new TextEncoder().encode("é"));
  `);
  await p.advance(5);
  const seen = p.run("seen");
  assert.ok(seen.length > 50, `recorded ${seen.length} values`);
  for (const v of seen) assert.equal(secrets.has(v), false, `a patched builtin received ${util.inspect(v)}`);
});

test("globals are web-like: non-enumerable, writable, configurable; classes are branded", () => {
  const p = loadPrelude();
  for (const name of GLOBALS) {
    const d = p.run(`Object.getOwnPropertyDescriptor(globalThis, ${JSON.stringify(name)})`);
    assert.ok(d, name);
    assert.deepEqual([d.enumerable, d.writable, d.configurable], [false, true, true], name);
  }
  const tags = { "new URL('http://h')": "URL", "new URLSearchParams()": "URLSearchParams", "new Headers()": "Headers",
    "new Request('http://h')": "Request", "new Response()": "Response", "new TextEncoder()": "TextEncoder",
    "new TextDecoder()": "TextDecoder", "new DOMException()": "DOMException", performance: "Performance", crypto: "Crypto", console: "console" };
  for (const [source, tag] of Object.entries(tags)) {
    assert.equal(p.run(`Object.prototype.toString.call(${source})`), `[object ${tag}]`, source);
  }
  assert.equal(p.run("new URL('http://h').constructor === URL && URL.name === 'URL'"), true);
  assert.equal(p.run("Object.getPrototypeOf(DOMException.prototype) === Error.prototype"), true);
  assert.equal(p.run("(() => { const e = new DOMException('m', 'NotFoundError'); return JSON.stringify([e.name, e.message, e.code, e instanceof Error, Object.keys(e).length, e.stack.startsWith('NotFoundError: m')]); })()"),
    JSON.stringify(["NotFoundError", "m", 8, true, 0, true]));
  assert.equal(p.run("new DOMException().code"), 0);
  assert.throws(() => p.run("new Performance()"), p.realm.TypeError);
  assert.equal(p.run("Object.keys(globalThis).length"), 0, "nothing enumerable was added to globalThis");
});

test("console formats like Node's util.format (at depth 4) for ordinary values", () => {
  const p = loadPrelude();
  const values = ["1", "'s'", "-0", "10n", "Symbol('x')", "null", "undefined", "[1, 'a', [2, [3]]]", "({ a: 1, 'b-c': 'x', [Symbol('s')]: 2 })",
    "new Map([['k', { v: 1 }]])", "new Set([1, 'two'])", "new Date(0)", "/re/gi", "[1, , 3]", "function named() {}", "class K {}",
    "() => {}", "Object.create(null)", "new (class Point { constructor() { this.x = 1; } })()", "new Uint8Array([1, 2, 3])",
    "{ a: { b: { c: { d: { e: { f: {} } } } } } }", "[[[[[[1]]]]]]", "(() => { const o = { name: 'loop' }; o.self = o; return o; })()", "[new Number(1), new String('s')]",
    "{ get g() { return 1; }, set s(v) {}, get gs() { return 1; }, set gs(v) {} }", "'it\\'s'", "[\"q'\\\"\"]", "new WeakMap()"];
  for (const source of values) {
    const value = p.run(`(${source})`);
    p.logs.length = 0;
    p.run(`console.log((${source}))`);
    assert.equal(p.logs[0][1], util.formatWithOptions({ depth: 4 }, value), source);
  }
  p.logs.length = 0;
  // (%o is treated like %O: Node's %o additionally shows hidden properties.)
  p.run("console.log('%s is %d years, %i, %f, %j %O %%', 'Bob', 42.5, 42.5, '1.5', { a: 1 }, [1], 'extra')");
  assert.equal(p.logs[0][1], util.format("%s is %d years, %i, %f, %j %O %%", "Bob", 42.5, 42.5, "1.5", { a: 1 }, [1], "extra"));
});

test("console: levels, depth limit, truncation, errors, never throws on hostile objects", () => {
  const p = loadPrelude();
  p.run("console.debug('d'); console.log('l'); console.info('i'); console.warn('w'); console.error('e'); console.assert(true, 'no'); console.assert(false, 'yes')");
  assert.deepEqual(p.logs.map(([l, t]) => [l, t]), [[0, "d"], [1, "l"], [4, "i"], [2, "w"], [3, "e"], [3, "Assertion failed: yes"]]);
  p.logs.length = 0;
  p.run("console.log({ l1: { l2: { l3: { l4: { l5: { l6: 1 } } } } } })");
  assert.match(p.logs[0][1], /l5: \[Object\]/);
  p.logs.length = 0;
  p.run("console.log(Array.from({ length: 150 }, (_, i) => i))");
  assert.match(p.logs[0][1], /\.\.\. 50 more items/);
  p.logs.length = 0;
  p.run("console.error(new TypeError('bad thing'))");
  assert.match(p.logs[0][1], /^TypeError: bad thing\n {4}at /);
  p.logs.length = 0;
  p.run("console.trace('here')");
  assert.match(p.logs[0][1], /^Trace: here\n/);

  const hostile = [
    "new Proxy({}, { getPrototypeOf() { throw 1; }, ownKeys() { throw 2; }, get() { throw 3; }, getOwnPropertyDescriptor() { throw 4; } })",
    "new Proxy([], { ownKeys() { throw 1; }, get() { throw 2; } })",
    "new Proxy(function () {}, { get() { throw 1; }, getOwnPropertyDescriptor() { throw 2; } })",
    "(() => { const r = Proxy.revocable({}, {}); r.revoke(); return r.proxy; })()",
    "{ get boom() { throw new Error('getter ran'); } }",
    "{ [Symbol.toStringTag]: 'x', get constructor() { throw 1; } }",
    "(() => { const p = new Proxy({}, { getPrototypeOf() { console.log(p); return null; } }); return p; })()",
    "(() => { let d = {}; for (let i = 0; i < 100000; i++) d = { d }; return d; })()",
    "{ toString() { throw 1; }, [Symbol.toPrimitive]() { throw 2; } }",
  ];
  for (const source of hostile) {
    p.logs.length = 0;
    assert.doesNotThrow(() => p.run(`{ const v = (${source}); console.log(v); console.log('%s %d %i %f %j', v, v, v, v, v); console.dir(v); console.error('x', v); }`), source);
    assert.ok(p.logs.length >= 4, source);
    for (const [, text] of p.logs) assert.equal(typeof text, "string");
  }
  p.logs.length = 0;
  p.run("console.log(new Proxy({}, { getPrototypeOf() { throw 1; } }))");
  assert.equal(p.logs[0][1], "[object]");
  p.logs.length = 0;
  p.run("console.log({ get boom() { throw new Error('getter ran'); } })");
  assert.equal(p.logs[0][1], "{ boom: [Getter] }", "getters are not invoked");
});

test("console survives a host log() that throws", () => {
  let calls = 0;
  const p = loadPrelude({ log() { calls++; throw new Error("host log quota"); } });
  assert.doesNotThrow(() => p.run("console.log('a'); console.error({ b: 1 }); console.warn(new Proxy({}, {}))"));
  assert.equal(calls, 3);
});

test("timers: order, arguments, clearing, intervals, host contract", async () => {
  const p = loadPrelude();
  p.run(`
    globalThis.order = [];
    setTimeout((a, b) => order.push("t10:" + a + b), 10, "x", "y");
    setTimeout(() => order.push("t0"), 0);
    setTimeout(() => order.push("neg"), -5);
    setTimeout(() => order.push("nan"), NaN);
    setTimeout(() => order.push("huge"), 2 ** 31);
    const cancelled = setTimeout(() => order.push("cancelled"), 5);
    clearTimeout(cancelled);
    let n = 0;
    const iv = setInterval(() => { order.push("iv" + ++n); if (n === 3) clearInterval(iv); }, 4);
    setTimeout(() => { order.push("throws"); throw new Error("tenant bug"); }, 1);
    const flaky = setInterval(() => { order.push("flaky"); throw new Error("again"); }, 6);
    setTimeout(() => clearTimeout(flaky), 13);
    clearTimeout("not an id"); clearInterval(undefined); clearTimeout(123456);
  `);
  assert.deepEqual([...p.armed.values()].sort((a, b) => a - b), [0, 0, 0, 0, 1, 4, 6, 10, 13], "delays were clamped: negative, NaN and 2**31 are 0");
  await p.advance(20);
  // At 12 ms both intervals are due; "flaky" was re-armed first (at 6 ms), so it fires first.
  assert.deepEqual([...p.run("order")], ["t0", "neg", "nan", "huge", "throws", "iv1", "flaky", "iv2", "t10:xy", "flaky", "iv3"]);
  assert.equal(p.uncaught.length, 0, "callback exceptions are reported, not thrown to the host");
  assert.deepEqual(
    p.logs.filter(([, text]) => text.startsWith("Uncaught")).map(([level, text]) => [level, text.split("\n")[0]]),
    [[3, "Uncaught Error: tenant bug"], [3, "Uncaught Error: again"], [3, "Uncaught Error: again"]],
    "each one a console error line, in the order they were thrown",
  );
  assert.equal(p.armed.size, 0, "nothing stays armed");
  const ids = p.run("[setTimeout(() => {}), setInterval(() => {}, 0), setTimeout(() => {})]");
  assert.ok(ids.every((id) => Number.isInteger(id) && id > 0) && new Set(ids).size === 3);
  assert.equal(p.armed.get(ids[1]) - p.armed.get(ids[0]), 1, "a 0 ms interval is clamped to 1 ms");
  assert.throws(() => p.run("setTimeout('alert(1)', 0)"), p.realm.TypeError);
  p.getDispatch()(999999); // unknown ids are ignored
  assert.throws(() => p.run("setTimeout(() => {}, Symbol())"), p.realm.TypeError);
});

test("timers: a host timer quota error reaches the caller and leaves nothing registered", () => {
  const p = loadPrelude({ setTimer() { throw new RangeError("timer quota exceeded"); } });
  assert.throws(() => p.run("setTimeout(() => { globalThis.ran = true; }, 0)"), /timer quota exceeded/);
  p.getDispatch()(1);
  assert.equal(p.run("globalThis.ran"), undefined);
});

test("queueMicrotask runs in FIFO order with promise jobs; a throw is reported, not an unhandled rejection", () => {
  // In a child process: the test runner would claim an unhandled rejection for itself.
  const script = `
    import { loadPrelude } from ${JSON.stringify(new URL("./load-prelude.mjs", import.meta.url).href)};
    const p = loadPrelude();
    const rejections = [];
    process.on("unhandledRejection", (reason) => rejections.push(reason));
    p.run(\`
      globalThis.seq = [];
      globalThis.errors = [];
      addEventListener("error", (e) => errors.push([e.constructor.name, e.message]));
      queueMicrotask(() => seq.push(1));
      Promise.resolve().then(() => seq.push(2));
      queueMicrotask(() => { seq.push(3); throw new RangeError("microtask bug"); });
      queueMicrotask(() => seq.push(4));
      seq.push(0);
    \`);
    let typeError = false;
    try { p.run("queueMicrotask('x')"); } catch (e) { typeError = e instanceof p.realm.TypeError; }
    setTimeout(() => console.log(JSON.stringify({
      seq: [...p.run("seq")], typeError, errors: p.run("errors").map((e) => [...e]),
      logs: p.logs.filter(([, text]) => text.includes("microtask bug")).map(([level, text]) => [level, text.split("\\n")[0]]),
      rejections: rejections.length,
    })), 20);`;
  const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
  assert.equal(child.status, 0, child.stderr);
  assert.deepEqual(JSON.parse(child.stdout), {
    seq: [0, 1, 2, 3, 4], typeError: true, errors: [["ErrorEvent", "microtask bug"]],
    logs: [[3, "Uncaught RangeError: microtask bug"]], rejections: 0,
  });
});

test("performance.now follows the host clock; timeOrigin is Date.now() - now() on first use", async () => {
  const p = loadPrelude();
  assert.equal(p.run("performance.now()"), 0);
  await p.advance(100000);
  assert.equal(p.run("performance.now()"), 100000);
  const origin = p.run("performance.timeOrigin");
  assert.ok(Math.abs(origin - (Date.now() - 100000)) < 5000, "origin = wall clock minus the host's now()");
  assert.deepEqual(JSON.parse(p.run("JSON.stringify(performance)")), { timeOrigin: origin });
});

test("the part list covers every prelude file, matches the documented order, and each part ends with a newline", async () => {
  const { readdirSync, readFileSync } = await import("node:fs");
  const { PARTS } = await import("./load-prelude.mjs");
  const dir = new URL("../", import.meta.url);
  // runtime.js and no-shared-memory.js belong to the host bridge (the runtime script before the
  // prelude), not to the prelude.
  const bridgeOwned = ["runtime.js", "no-shared-memory.js"];
  // Vendored packages (vendor/*.js, generated) are parts too.
  const vendored = readdirSync(new URL("vendor/", dir)).filter((f) => f.endsWith(".js")).map((f) => `vendor/${f}`);
  const files = [...readdirSync(dir).filter((f) => f.endsWith(".js") && !bridgeOwned.includes(f)), ...vendored].sort();
  assert.deepEqual([...PARTS].sort(), files);
  const header = readFileSync(new URL("prelude.js", dir), "utf8");
  const documented = [...header.matchAll(/\b(\d+) ([\w/-]+\.js)\b/g)].map((m) => [Number(m[1]), m[2]]);
  assert.deepEqual(documented.map(([, f]) => f), PARTS, "the header's order is the loader's order");
  assert.deepEqual(documented.map(([n]) => n), PARTS.map((_, i) => i + 1));
  for (const part of PARTS) assert.ok(readFileSync(new URL(part, dir), "utf8").endsWith("\n"), part);
  // Each part's opening comment names the part (its position is the header's list above, kept
  // in one place so that adding a part does not renumber every file).
  for (const part of PARTS) {
    const head = readFileSync(new URL(part, dir), "utf8").split("\n", 3).join("\n");
    const expected = part === "prelude.js" ? "Stockade web-platform prelude" : `---- ${part}`;
    assert.ok(head.includes(expected), `${part} does not open with ${expected}`);
  }
});

test("classes expose only their standard members", () => {
  const p = loadPrelude();
  const members = (name) => JSON.parse(p.run(`JSON.stringify([Object.getOwnPropertyNames(${name}).sort(), Object.getOwnPropertyNames(${name}.prototype).sort()])`));
  const legacyCodes = ["ABORT_ERR", "DATA_CLONE_ERR", "DOMSTRING_SIZE_ERR", "HIERARCHY_REQUEST_ERR", "INDEX_SIZE_ERR",
    "INUSE_ATTRIBUTE_ERR", "INVALID_ACCESS_ERR", "INVALID_CHARACTER_ERR", "INVALID_MODIFICATION_ERR", "INVALID_NODE_TYPE_ERR",
    "INVALID_STATE_ERR", "NAMESPACE_ERR", "NETWORK_ERR", "NOT_FOUND_ERR", "NOT_SUPPORTED_ERR", "NO_DATA_ALLOWED_ERR",
    "NO_MODIFICATION_ALLOWED_ERR", "QUOTA_EXCEEDED_ERR", "SECURITY_ERR", "SYNTAX_ERR", "TIMEOUT_ERR", "TYPE_MISMATCH_ERR",
    "URL_MISMATCH_ERR", "VALIDATION_ERR", "WRONG_DOCUMENT_ERR"];
  assert.deepEqual(members("DOMException"), [
    [...legacyCodes, "length", "name", "prototype"].sort(),
    [...legacyCodes, "code", "constructor", "message", "name"].sort(),
  ]);
  assert.deepEqual(members("TextEncoder"), [["length", "name", "prototype"], ["constructor", "encode", "encodeInto", "encoding"]]);
  assert.deepEqual(members("TextDecoder"), [["length", "name", "prototype"], ["constructor", "decode", "encoding", "fatal", "ignoreBOM"]]);
  assert.deepEqual(members("URL")[0], ["canParse", "length", "name", "parse", "prototype"]);
  assert.deepEqual(members("Response")[0], ["error", "json", "length", "name", "prototype", "redirect"]);
  for (const name of ["URLSearchParams", "Headers", "Request", "Crypto", "Performance"]) {
    assert.deepEqual(members(name)[0], ["length", "name", "prototype"], name);
  }
});
