// node:timers and node:timers/promises (node-timers.js) on the harness's fake clock, checked
// against what Node's own modules do with the same calls, and node:os (node-process.js), workerd's
// stub. The proof in real isolates is isolate/tests/node_timers.rs and isolate/tests/compat_flags.rs.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as nodeTimersPromises from "node:timers/promises";
import { loadPrelude } from "./load-prelude.mjs";

function configured() {
  const p = loadPrelude();
  p.exports.configure({ nodejs: true, nodeGlobals: true, asyncHooks: true, populateProcessEnv: false, env: {} });
  return p;
}

/** What a promise came to: ["ok", value] or ["err", {name, code, message, cause}]. */
async function outcome(promise) {
  try {
    return ["ok", await promise];
  } catch (e) {
    return ["err", { name: e.name, code: e.code, message: e.message, cause: e.cause }];
  }
}

test("the export lists match the values", () => {
  const p = configured();
  for (const name of ["node:timers", "node:timers/promises", "node:os"]) {
    const value = p.exports.builtinExports(name);
    for (const n of p.exports.builtinNames(name)) assert.ok(n in value, `${name} lacks ${n}`);
  }
  const timers = p.exports.builtinExports("node:timers");
  assert.equal(timers.promises, p.exports.builtinExports("node:timers/promises"));
});

test("Timeout objects fire, clear, refresh and stand for their id", async () => {
  const p = configured();
  const timers = p.exports.builtinExports("node:timers");
  const seen = [];
  const t = timers.setTimeout((a, b) => seen.push(`t:${a}${b}`), 10, "x", "y");
  assert.equal(typeof t, "object");
  assert.equal(typeof Number(t), "number");
  assert.ok(Number(t) > 0);
  assert.equal(t.hasRef(), true);
  assert.equal(t.unref(), t);
  assert.equal(t.hasRef(), false);
  const cleared = timers.setTimeout(() => seen.push("cleared"), 5);
  timers.clearTimeout(cleared);
  const byGlobal = timers.setTimeout(() => seen.push("global-cleared"), 5);
  p.run("clearTimeout")(byGlobal); // the global clearTimeout takes a Timeout (its id)
  const i = timers.setInterval(() => { seen.push("i"); if (seen.filter((s) => s === "i").length === 3) timers.clearInterval(i); }, 4);
  const imm = timers.setImmediate((v) => seen.push(`imm:${v}`), 7);
  const immCleared = timers.setImmediate(() => seen.push("imm-cleared"));
  timers.clearImmediate(immCleared);
  assert.equal(typeof imm.ref, "function");
  await p.advance(30);
  assert.deepEqual(seen, ["imm:7", "i", "i", "t:xy", "i"]);
  seen.length = 0;
  const r = timers.setTimeout(() => seen.push("refreshed"), 10);
  await p.advance(8);
  const oldId = Number(r);
  assert.equal(r.refresh(), r);
  assert.notEqual(Number(r), oldId);
  await p.advance(8);
  assert.deepEqual(seen, []);
  await p.advance(2);
  assert.deepEqual(seen, ["refreshed"]);
  assert.throws(() => timers.setTimeout("code", 1), { code: "ERR_INVALID_ARG_TYPE", name: "TypeError" });
  assert.throws(() => timers.enroll({}, 1), /Not implemented/);
});

test("timers/promises setTimeout and setImmediate resolve with their value", async () => {
  const p = configured();
  const tp = p.exports.builtinExports("node:timers/promises");
  const order = [];
  const late = tp.setTimeout(20, "late").then((v) => order.push(v));
  const early = tp.setTimeout(10, "early").then((v) => order.push(v));
  const now = tp.setImmediate("now").then((v) => order.push(v));
  await p.advance(25);
  await Promise.all([late, early, now]);
  assert.deepEqual(order, ["now", "early", "late"]);
});

test("an abort rejects with Node's AbortError, before and while waiting", async () => {
  const p = configured();
  const tp = p.exports.builtinExports("node:timers/promises");
  const controller = p.run("new AbortController()");
  const waiting = outcome(tp.setTimeout(50, "v", { signal: controller.signal }));
  const immediate = outcome(tp.setImmediate("v", { signal: controller.signal }));
  const wait = outcome(tp.scheduler.wait(50, { signal: controller.signal }));
  controller.abort("stop");
  const already = outcome(tp.setTimeout(1, "v", { signal: controller.signal }));
  await p.advance(60);
  const ours = await Promise.all([waiting, immediate, wait, already]);
  // Node itself, the same calls.
  const ac = new AbortController();
  const theirs = Promise.all([
    outcome(nodeTimersPromises.setTimeout(50, "v", { signal: ac.signal })),
    outcome(nodeTimersPromises.setImmediate("v", { signal: ac.signal })),
    outcome(nodeTimersPromises.scheduler.wait(50, { signal: ac.signal })),
  ]);
  ac.abort("stop");
  const node = [...await theirs, await outcome(nodeTimersPromises.setTimeout(1, "v", { signal: ac.signal }))];
  assert.deepEqual(ours, node);
  assert.deepEqual(ours[0], ["err", { name: "AbortError", code: "ABORT_ERR", message: "The operation was aborted", cause: "stop" }]);
  // The aborted timer is gone: nothing is left armed.
  assert.equal(p.armed.size, 0);
});

test("bad arguments are rejections with Node's errors", async () => {
  const p = configured();
  const tp = p.exports.builtinExports("node:timers/promises");
  for (const args of [["1"], [1, "v", null], [1, "v", { signal: {} }], [1, "v", { ref: "yes" }], [1, "v", []]]) {
    const ours = await outcome(tp.setTimeout(...args));
    const node = await outcome(nodeTimersPromises.setTimeout(...args));
    assert.equal(ours[0], "err", JSON.stringify(args));
    assert.equal(ours[1].code, node[1].code, JSON.stringify(args));
    assert.equal(ours[1].name, node[1].name, JSON.stringify(args));
  }
  const it = tp.setInterval("x");
  assert.equal((await outcome(it.next()))[1].code, "ERR_INVALID_ARG_TYPE");
  assert.throws(() => tp.scheduler.wait.call({}, 1), { code: "ERR_INVALID_THIS" });
});

test("setInterval is an async iterator that stops on abort or return", async () => {
  const p = configured();
  const tp = p.exports.builtinExports("node:timers/promises");
  const controller = p.run("new AbortController()");
  const got = [];
  const loop = (async () => {
    try {
      for await (const v of tp.setInterval(10, "tick", { signal: controller.signal })) {
        got.push(v);
        if (got.length === 3) controller.abort();
      }
    } catch (e) {
      return [e.name, e.code];
    }
    return "ended";
  })();
  await p.advance(100);
  assert.deepEqual(await loop, ["AbortError", "ABORT_ERR"]);
  assert.deepEqual(got, ["tick", "tick", "tick"]);
  assert.equal(p.armed.size, 0, "the interval is disarmed");
  const it = tp.setInterval(5, 1);
  const first = it.next();
  await p.advance(5);
  assert.deepEqual({ ...await first }, { value: 1, done: false });
  assert.deepEqual({ ...await it.return() }, { value: undefined, done: true });
  assert.equal(p.armed.size, 0, "return() disarms it");
});

test("node:os is workerd's stub: no host information, Node's constants and errors", () => {
  const p = configured();
  const os = p.exports.builtinExports("node:os");
  assert.equal(os.platform(), "linux");
  assert.equal(os.type(), "Linux");
  assert.equal(os.EOL, "\n");
  assert.deepEqual([...os.cpus()], []);
  assert.equal(os.totalmem(), 0);
  assert.equal(os.hostname(), "localhost");
  assert.equal(os.constants.signals.SIGKILL, 9);
  assert.equal(os.constants.errno.ENOENT, 2);
  assert.ok(Object.isFrozen(os.constants.errno));
  assert.throws(() => os.getPriority("1"), { code: "ERR_INVALID_ARG_TYPE" });
  assert.throws(() => os.userInfo({ encoding: "nope" }), { code: "ERR_INVALID_ARG_VALUE" });
  assert.deepEqual({ ...os.userInfo({ encoding: "utf8" }) }, {});
});

test("the setImmediate global runs on the runtime's timers, whatever the tenant did to setTimeout", async () => {
  const p = configured();
  const seen = [];
  p.context.record = (v) => seen.push(v);
  p.run(`globalThis.setTimeout = () => { throw new Error("replaced"); };
         globalThis.clearTimeout = () => { throw new Error("replaced"); };
         setImmediate((v) => record(v), "ran");
         clearImmediate(setImmediate(() => record("cleared")));`);
  await p.advance(5);
  assert.deepEqual(seen, ["ran"]);
});
