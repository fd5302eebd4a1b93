// Measures how long the prelude takes to evaluate in a fresh, eval-free vm context.
// Usage: node isolate/js/bench/eval-time.mjs [runs=200]. Prints medians; asserts nothing.
//   compile+run (cold): a source V8 has never seen (a unique trailing comment defeats the
//                        per-isolate compilation cache) — the worst case, a brand-new isolate;
//   run (precompiled):  one vm.Script run in each fresh context — what an isolate pays when the
//                        host reuses the compiled script (or a V8 code cache).
//   with code cache:    compile from V8 code-cache bytes + run — a new isolate fed cached data.
import vm from "node:vm";
import { SOURCE } from "../test/load-prelude.mjs";

const runs = Number(process.argv[2] ?? 200);
const host = () => ({ log() {}, randomFill() {}, setTimer() {}, clearTimer() {}, onTimer() {}, now: () => 0 });
const fresh = () => {
  const ctx = vm.createContext({}, { codeGeneration: { strings: false, wasm: false } });
  ctx.__stockade_host = host();
  return ctx;
};
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };
const time = (fn) => { const t = process.hrtime.bigint(); fn(); return Number(process.hrtime.bigint() - t) / 1e6; };

const cached = new vm.Script(SOURCE, { filename: "prelude.js" });
const cacheBytes = cached.createCachedData();
for (let i = 0; i < 20; i++) cached.runInContext(fresh()); // warm up Node's vm machinery

const contextOnly = [];
const cold = [];
const warm = [];
const withCache = [];
for (let i = 0; i < runs; i++) {
  contextOnly.push(time(() => fresh()));
  let ctx = fresh();
  cold.push(time(() => new vm.Script(`${SOURCE}//${i}-${Math.random()}`, { filename: "prelude.js" }).runInContext(ctx)));
  ctx = fresh();
  warm.push(time(() => cached.runInContext(ctx)));
  ctx = fresh();
  withCache.push(time(() => {
    const s = new vm.Script(`${SOURCE}`, { filename: `prelude-${i}.js`, cachedData: cacheBytes });
    s.runInContext(ctx);
  }));
}
const fmt = (xs) => `${median(xs).toFixed(3)} ms`;
console.log(`prelude: ${SOURCE.length} chars, ${SOURCE.split("\n").length} lines; ${runs} runs, medians:`);
console.log(`  vm.createContext alone (not included below): ${fmt(contextOnly)}`);
console.log(`  compile + run, cold source:                   ${fmt(cold)}`);
console.log(`  run of a precompiled script:                  ${fmt(warm)}`);
console.log(`  compile from code cache + run:                ${fmt(withCache)}  (cache ${cacheBytes.length} bytes)`);
