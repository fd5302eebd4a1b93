// node:events' EventEmitter against Node 20's on generated sequences of operations: listeners
// added, prepended, once, removed, all removed, counted and listed, 'newListener' and
// 'removeListener' listeners among them, and listeners that themselves run an operation or throw
// while being called. Both sides must log the same calls (with the arguments each listener got)
// and the same answers. The hand-written cases are in node.test.mjs.
import { test } from "node:test";
import assert from "node:assert/strict";
import NodeEventEmitter from "node:events";
import { loadPrelude } from "./load-prelude.mjs";

const p = loadPrelude();
p.exports.configure({ nodejs: true, nodeGlobals: true });
const EventEmitter = p.exports.builtinExports("node:events");

test("EventEmitter answers as Node's on 3,000 generated sequences of operations", () => {
  let seed = 0xe7e7;
  const rand = (n) => { seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff; return Math.floor((seed / 0x80000000) * n); };
  const pick = (list) => list[rand(list.length)];
  const names = ["a", "b", "error", "newListener", "removeListener", Symbol.for("s")];
  for (let round = 0; round < 3000; round++) {
    const from = seed;
    const run = (Emitter) => {
      seed = from;
      const log = [];
      const e = new Emitter();
      // Listeners named by index; a once wrapper shows as its listener with "w".
      const fns = [];
      const shown = (x) => (typeof x === "function" ? `f${fns.indexOf(x.listener ?? x)}${x.listener ? "w" : ""}` : String(x));
      for (let k = 0; k < 4; k++) {
        const id = k;
        fns.push(function (...args) {
          log.push(["call", id, args.map(shown), this === e]);
          if (rand(6) === 0) operations(1);
          if (rand(10) === 0) throw new Error(`thrown by ${id}`);
        });
      }
      const operations = (count) => {
        for (let k = 0; k < count; k++) {
          const op = rand(13);
          const name = pick(names);
          const f = pick(fns);
          const at = [String(name), fns.indexOf(f)];
          try {
            switch (op) {
              case 0: case 1: log.push(["on", ...at, e.on(name, f) === e]); break;
              case 2: log.push(["once", ...at, e.once(name, f) === e]); break;
              case 3: log.push(["prepend", ...at, e.prependListener(name, f) === e]); break;
              case 4: log.push(["prependOnce", ...at, e.prependOnceListener(name, f) === e]); break;
              case 5: log.push(["off", ...at, e.off(name, f) === e]); break;
              case 6: case 7: log.push(["emit", String(name), e.emit(name, 1, "x")]); break;
              case 8: {
                const named = rand(2) === 1;
                log.push(["removeAll", named ? String(name) : "-", e.removeAllListeners(...(named ? [name] : [])) === e]);
                break;
              }
              case 9: log.push(["count", e.listenerCount(name), e.listenerCount(name, f)]); break;
              case 10: log.push(["names", e.eventNames().map(String)]); break;
              case 11: log.push(["raw", e.rawListeners(name).map(shown), e.listeners(name).map(shown)]); break;
              default: log.push(["max", e.setMaxListeners(rand(3) + 10) === e, e.getMaxListeners()]); break;
            }
          } catch (err) {
            log.push(["throws", err.code ?? err.message]);
          }
        }
      };
      operations(12);
      return JSON.stringify(log);
    };
    assert.equal(run(EventEmitter), run(NodeEventEmitter), `round ${round}`);
  }
});

test("EventEmitter: a once wrapper is a bound function that 'removeListener' sees when it fires", () => {
  const run = (Emitter) => {
    const e = new Emitter();
    const seen = [];
    const f = () => {};
    e.on("removeListener", (type, listener) => seen.push([type, listener === f, typeof listener.listener]));
    e.once("x", f);
    e.on("x", () => {});
    const wrapper = e.rawListeners("x")[0];
    e.emit("x");
    return [seen, wrapper.name, String(wrapper), wrapper.listener === f];
  };
  assert.deepEqual(run(EventEmitter), run(NodeEventEmitter));
});
