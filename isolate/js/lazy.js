// ---- lazy.js: parts built on first use (the host's lazy groups, isolate/src/lazy.rs). ---------
// The host may keep some parts out of the snapshot: in their place it appends, before
// prelude-end.js, one `lazyPart(...)` call per group, made while the snapshot is taken. The
// group's source stays outside the V8 heap until first use, when `compileLazy(index)` (a host
// primitive only this scope holds) compiles it natively into a function whose parameters are the
// names it uses from outside: the prelude's bindings (passed by the stub's `call`, which names
// them) and the globals (`captured` while the snapshot was taken, before any tenant code). First
// use is a read of one of its globals (a lazy data property: it looks like the plain global it
// becomes, writable, configurable, not enumerable) or the first import of one of its built-in
// modules (their export names are registered now). Building runs in the request that needs it,
// under its limits; it calls only captured operations (tenant code may have replaced any method).
// Without lazy groups (e.g. the Node test harness), every part is evaluated in place and nothing
// here runs.

// What the lazy parts' top level would capture (it may run after tenant code; see lazy.rs).
const regExpExec = uncurry(RegExp.prototype.exec); // urlpattern.js
const headersDelete = uncurry(Headers.prototype.delete); // rewriter.js
const rpcWeakGet = uncurry(WeakMap.prototype.get); // rpc*.js
const rpcWeakSet = uncurry(WeakMap.prototype.set); // rpc*.js
const rpcDateTime = uncurry(Date.prototype.getTime); // rpc*.js
const rpcBigIntString = uncurry(BigInt.prototype.toString); // rpc*.js
const rpcNumberIsFinite = Number.isFinite; // rpc*.js
const RpcPromiseFinally = Promise.prototype.finally; // rpc*.js
const rpcIsPrototypeOf = uncurry(Object.prototype.isPrototypeOf); // rpc*.js
const rpcIsStub = uncurry(WeakSet.prototype.has); // rpc*.js
const rpcAddStub = uncurry(WeakSet.prototype.add); // rpc*.js
const stringIncludes = uncurry(String.prototype.includes); // kv.js

/** Registers lazy group `index`: its `globals`, its `builtins` ([name, exportNames] pairs), the
 *  globals it uses (`captured` now), and `call(f, captured, defineGlobal, defineBuiltin,
 *  exposeInterface)`, which calls the compiled group with every parameter (the three helpers in
 *  the group's own versions). Only the host's stubs call it. */
function lazyPart(index, name, globals, builtins, captured, call) {
  const part = { __proto__: null, index, globals, captured, call, state: 0, values: { __proto__: null } };
  lazyPartsByName[name] = part;
  for (let i = 0; i < globals.length; i++) {
    const name = globals[i];
    hostLazyGlobal(name, () => {
      buildLazyPart(part);
      return part.values[name];
    });
  }
  for (let i = 0; i < builtins.length; i++) {
    MapSet(builtinModules, builtins[i][0], new BuiltinEntry(builtins[i][1], null, part));
  }
}

/** The lazy groups by name (see lazyInternals). */
const lazyPartsByName = { __proto__: null };

/** The internals a part shares (prelude.js's shareInternals), building its group first if it is
 *  lazy and not built yet. Called from function bodies only, so after this part ran. */
function lazyInternals(name) {
  if (sharedInternals[name] === undefined) {
    const part = lazyPartsByName[name];
    if (part !== undefined) buildLazyPart(part);
  }
  const internals = sharedInternals[name];
  if (internals === undefined) throw new Error(`stockade: the runtime's ${name} internals are missing`);
  return internals;
}

/** Builds `part` once: compiles and runs its group, which records its globals and factories. */
function buildLazyPart(part) {
  if (part.state === 2) return;
  if (part.state === 1) throw new Error("stockade: a lazily built part of the runtime used itself while being built");
  part.state = 1;
  const recordGlobal = (name, value) => {
    if (part.state !== 1) return defineGlobal(name, value); // a later call from a function body
    part.values[name] = value;
  };
  const recordBuiltin = (name, names, factory) => {
    const entry = MapGet(builtinModules, name);
    if (entry === undefined || entry.part !== part) throw new Error(`stockade: built-in module ${name} was not registered`);
    entry.factory = factory;
  };
  try {
    const expose = (Class, tag) => exposeInterface(Class, tag, recordGlobal);
    part.call(hostCompileLazy(part.index), part.captured, recordGlobal, recordBuiltin, expose);
  } catch (e) {
    part.state = 0;
    throw e;
  }
  part.state = 2;
}
