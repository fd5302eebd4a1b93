// Tampering harness for isolate/tests/tampered_prototypes.rs. Each scenario runs once untampered
// (the baseline), then once per tampering: the tampered builtin throws (methods, globals) or
// answers undefined (Object.prototype accessors) when its receiver is not an object the tenant
// made or received (mark), and records the call. A scenario fails when a tampered builtin saw a
// runtime object or its result differs from the baseline.
const RApply = Reflect.apply, RConstruct = Reflect.construct, ODP = Object.defineProperty;
const OGOPD = Object.getOwnPropertyDescriptor, OGPO = Object.getPrototypeOf, ROwnKeys = Reflect.ownKeys;
const JSONs = JSON.stringify, P = Promise, sT = setTimeout, ErrorC = Error, StringC = String;
const wsHas = WeakSet.prototype.has, wsAdd = WeakSet.prototype.add;
const marked = new WeakSet();
const mark = (v) => { RApply(wsAdd, marked, [v]); return v; };
const isMarked = (v) => v !== null && (typeof v === "object" || typeof v === "function") && RApply(wsHas, marked, [v]);
const append = (a, v) => { ODP(a, a.length, { __proto__: null, value: v, writable: true, enumerable: true, configurable: true }); };
/** A tenant sequence (WebIDL iterates it: its iterator is the tenant's, not Array.prototype's). */
const seq = (...items) => mark({
  [Symbol.iterator]() {
    let i = 0;
    return mark({ next: () => (i < items.length ? { value: items[i++], done: false } : { value: undefined, done: true }) });
  },
});
const tick = (ms = 1) => new P((r) => { sT(r, ms); });
let active = null;
const hit = (what, self) => { if (active !== null) append(active, { __proto__: null, what, self }); };

function methodTrap(obj, key, what) {
  const d = OGOPD(obj, key);
  const orig = d.value;
  const trap = function (...args) {
    if (active !== null && !isMarked(this)) { hit(what, this); throw new ErrorC(`tenant ${what} called`); }
    return RApply(orig, this, args);
  };
  return () => {
    ODP(obj, key, { __proto__: null, value: trap, writable: true, enumerable: d.enumerable, configurable: true });
    return () => ODP(obj, key, d);
  };
}
function getterTrap(obj, key, what) {
  const d = OGOPD(obj, key);
  const orig = d.get;
  const trap = function () {
    if (active !== null && !isMarked(this)) { hit(what, this); throw new ErrorC(`tenant ${what} called`); }
    return RApply(orig, this, []);
  };
  return () => {
    ODP(obj, key, { __proto__: null, get: trap, set: d.set, enumerable: d.enumerable, configurable: true });
    return () => ODP(obj, key, d);
  };
}
function globalTrap(name) {
  const d = OGOPD(globalThis, name);
  const orig = d.value;
  const trap = function (...args) {
    if (active !== null) { hit(`global ${name}`, undefined); throw new ErrorC(`tenant global ${name} called`); }
    return new.target === undefined ? RApply(orig, this, args) : RConstruct(orig, args, new.target);
  };
  return () => {
    ODP(globalThis, name, { __proto__: null, value: trap, writable: true, enumerable: false, configurable: true });
    return () => ODP(globalThis, name, d);
  };
}
function accessorTrap(key) {
  return () => {
    ODP(Object.prototype, key, {
      __proto__: null, configurable: true,
      get() { if (active !== null && !isMarked(this)) hit(`get Object.prototype[${StringC(key)}]`, this); return undefined; },
      set(v) {
        if (active !== null && !isMarked(this)) hit(`set Object.prototype[${StringC(key)}]`, this);
        ODP(this, key, { __proto__: null, value: v, writable: true, enumerable: true, configurable: true });
      },
    });
    return () => { delete Object.prototype[key]; };
  };
}
const ArrayIteratorPrototype = OGPO([][Symbol.iterator]());
const MapIteratorPrototype = OGPO(new Map()[Symbol.iterator]());
const SetIteratorPrototype = OGPO(new Set()[Symbol.iterator]());
const TypedArrayPrototype = OGPO(Uint8Array.prototype);
const methods = (obj, name, keys) => keys.map((k) => [`${name}.${StringC(k)}`, methodTrap(obj, k, `${name}.${StringC(k)}`)]);
const TAMPERINGS = [
  ...methods(Array.prototype, "Array.prototype", ["push", "pop", "shift", "unshift", "splice", "slice", "map",
    "filter", "forEach", "find", "findIndex", "some", "every", "includes", "indexOf", "concat", "join", Symbol.iterator]),
  ...methods(ArrayIteratorPrototype, "ArrayIterator", ["next"]),
  ...methods(Map.prototype, "Map.prototype", ["get", "set", "has", "delete", "forEach", "entries", "keys", "values", Symbol.iterator]),
  ...methods(MapIteratorPrototype, "MapIterator", ["next"]),
  ...methods(Set.prototype, "Set.prototype", ["add", "has", "delete", "forEach", "values", Symbol.iterator]),
  ...methods(SetIteratorPrototype, "SetIterator", ["next"]),
  ...methods(WeakMap.prototype, "WeakMap.prototype", ["get", "set", "has"]),
  ...methods(Promise.prototype, "Promise.prototype", ["then", "catch", "finally"]),
  ...methods(Promise, "Promise", ["resolve", "reject"]),
  ...methods(Function.prototype, "Function.prototype", ["call", "apply", "bind"]),
  ...methods(Reflect, "Reflect", ["apply", "ownKeys", "construct", "defineProperty"]),
  ...methods(Object, "Object", ["defineProperty", "freeze", "getOwnPropertyDescriptor", "keys", "create",
    "setPrototypeOf", "getPrototypeOf", "assign"]),
  ...methods(JSON, "JSON", ["stringify", "parse"]),
  ...methods(Date.prototype, "Date.prototype", ["getTime", "valueOf"]),
  ...methods(ArrayBuffer.prototype, "ArrayBuffer.prototype", ["slice", "transfer"]),
  ...["global", "ignoreCase", "multiline", "dotAll", "unicode", "unicodeSets", "sticky", "hasIndices", "flags", "source"]
    .map((k) => [`RegExp.prototype.${k}`, getterTrap(RegExp.prototype, k, `RegExp.prototype.${k}`)]),
  ...["buffer", "byteLength", "byteOffset", "length"]
    .map((k) => [`TypedArray.prototype.${k}`, getterTrap(TypedArrayPrototype, k, `TypedArray.prototype.${k}`)]),
  ...["name", "message"].map((k) => [`DOMException.prototype.${k}`, getterTrap(DOMException.prototype, k, `DOMException.prototype.${k}`)]),
  ...["then", "get", "set", "value", "writable", "enumerable", "configurable", "0", "1", "2", "length", "listener",
    "warned", "fired", "once", "capture", "passive", "signal", "stack", "message", "cause", "constructor", "handleEvent"]
    .map((k) => [`Object.prototype[${k}] accessor`, accessorTrap(k)]),
  ...["Promise", "Map", "Set", "WeakMap", "WeakSet", "Uint8Array", "ArrayBuffer", "DataView", "Date", "RegExp", "Error",
    "TypeError", "RangeError", "Object", "Array", "String", "Symbol", "queueMicrotask", "console",
    "DOMException", "MessageEvent", "MessagePort"]
    .map((n) => [`global ${n}`, globalTrap(n)]),
];

async function runOne(scenario, install) {
  const inputs = await scenario.setup();
  const uninstall = install === null ? null : install();
  const hits = [];
  active = hits;
  let raw;
  try {
    // An async run's answer is marked (resolving its promise reads its `then`); a sync one is
    // not awaited.
    const r = scenario.run(inputs);
    raw = { ok: r instanceof P ? await r : r };
  } catch (e) {
    raw = { threw: e };
  } finally {
    active = null;
    if (uninstall !== null) uninstall();
  }
  let result;
  if ("threw" in raw) {
    const e = raw.threw;
    result = `threw ${e !== null && typeof e === "object" ? `${e.name}: ${e.message}` : StringC(e)}`;
  } else {
    try { result = JSONs(await scenario.check(raw.ok, inputs)); } catch (e) { result = `check threw ${e && e.message}`; }
  }
  // Hits on objects the tenant received (a promise's value, checked in `check`) are the spec's.
  const leaks = hits.filter((h) => !isMarked(h.self)).map((h) => h.what);
  return { result, leaks };
}

async function probe(scenarios, skip = () => false) {
  const failures = [];
  const baselines = [];
  for (const s of scenarios) {
    const base = await runOne(s, null);
    baselines.push([s.name, base.result]);
    for (const [what, install] of TAMPERINGS) {
      if (skip(what, s.name)) continue;
      const r = await runOne(s, install);
      if (r.leaks.length > 0 || r.result !== base.result) {
        failures.push(`${s.name} / ${what}: ${r.leaks.length > 0 ? `saw runtime objects: ${[...new Set(r.leaks)].join(", ")}; ` : ""}` +
          (r.result !== base.result ? `result ${r.result} instead of ${base.result}` : "same result"));
      }
    }
  }
  return { baselines, failures, tamperings: TAMPERINGS.length };
}
