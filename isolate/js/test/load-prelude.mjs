// Loads the Stockade prelude into a fresh, eval-free vm context with a fake host built from Node's
// crypto and a manual timer queue. Shared by the *.test.mjs files and bench-eval.mjs.
import { readFileSync } from "node:fs";
import { randomFillSync } from "node:crypto";
import vm from "node:vm";

/** Evaluation order; must match the header of prelude.js and what the host concatenates. */
export const PARTS = [
  "prelude.js", "inspect.js", "timers.js", "encoding.js", "url-parser.js",
  "url.js", "clone.js", "fetch.js", "prelude-end.js",
];

const dir = new URL("../", import.meta.url);
export const SOURCE = PARTS.map((p) => readFileSync(new URL(p, dir), "utf8")).join("");

export function newContext() {
  return vm.createContext({}, { codeGeneration: { strings: false, wasm: false } });
}

/** A fresh context with the prelude evaluated. */
export function loadPrelude() {
  const logs = [];
  const armed = new Map(); // id -> deadline
  const randomFillCalls = [];
  let dispatch = null;
  let clock = 0;
  const host = {
    log(level, text) {
      if (typeof level !== "number" || typeof text !== "string") throw new TypeError("bad log call");
      logs.push([level, text]);
    },
    randomFill(u8) {
      if (Object.prototype.toString.call(u8) !== "[object Uint8Array]" || u8.byteLength > 65536) {
        throw new TypeError("bad randomFill call");
      }
      randomFillCalls.push(u8.byteLength);
      randomFillSync(u8);
    },
    setTimer(id, ms) {
      if (!Number.isInteger(id) || id <= 0 || !Number.isInteger(ms) || ms < 0) throw new TypeError("bad setTimer");
      armed.set(id, clock + ms);
    },
    clearTimer(id) { armed.delete(id); },
    onTimer(fn) {
      if (dispatch !== null) throw new Error("onTimer called twice");
      dispatch = fn;
    },
    now() { return clock; },
  };
  const context = newContext();
  context.__stockade_host = host;
  const exports = vm.runInContext(SOURCE, context, { filename: "prelude.js" });
  const run = (code) => vm.runInContext(code, context);
  const uncaught = [];
  /** Advances the fake clock by `ms`, firing due timers in deadline order, draining microtasks
   *  after each one (as the host does). */
  async function advance(ms) {
    const end = clock + ms;
    for (;;) {
      let next = null;
      for (const [id, t] of armed) if (t <= end && (next === null || t < next[1] || (t === next[1] && id < next[0]))) next = [id, t];
      if (next === null) break;
      armed.delete(next[0]);
      clock = next[1];
      try { dispatch(next[0]); } catch (e) { uncaught.push(e); }
      await new Promise((r) => setImmediate(r));
    }
    clock = end;
  }
  return { context, exports, host, logs, armed, run, advance, uncaught, randomFillCalls, getDispatch: () => dispatch };
}
