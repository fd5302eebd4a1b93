// ---- durable.js: Durable Objects: namespaces, ids and stubs; an object's ctx and storage. ----
// `{"binding": "durable_object_namespace", "class_name": "C"}` becomes a DurableObjectNamespace
// (bindings.js's makeEnv, through lazyInternals("durable"): a lazy part, isolate/src/lazy/mod.rs):
//   idFromName(name) -> a DurableObjectId, 64 hex digits: SHA-256 of the class and the name
//     (the supervisor keys objects by tenant, worker, class and id, so equal ids of two tenants
//     or workers are two objects); newUniqueId() random; idFromString(hex) checked (TypeError);
//   get(id) / getByName(name) -> a stub (rpc.js's rpcStub): fetch() is the host call do.fetch,
//     any other method do.call; `id` and `name` are properties.
// In an object's own isolate (the supervisor loads one per live object and says which object in
// its configuration, builtins.js's workerConfig.object), `deliver` runs every call: the class is
// constructed once with (ctx, env) (ctx: DurableObjectState {id, storage, waitUntil,
// blockConcurrencyWhile}), its fields live as long as the isolate; calls interleave at awaits,
// but a new call is held (the input gate) while blockConcurrencyWhile's callback or a
// transaction() runs.
// Storage (daemon/src/objects/): every operation is a synchronous host call (hostCallSync: the
// isolate's thread waits for the supervisor's answer, the wait counted as the request's CPU
// time), so a write is committed when its call returns (the output gate has nothing to wait
// for) and sql.exec, ctx.storage.kv and transactionSync are synchronous, as on Cloudflare; the
// async API (get, put, ...) keeps its promises. Values in rpc.js's tagged encoding (what RPC
// carries: a class instance or a function is a DataCloneError). Transactions are savepoints the
// supervisor holds between calls (daemon/src/objects/txn.rs). One alarm per object
// (setAlarm/getAlarm/deleteAlarm, writes as puts are): the supervisor fires it as a call of the
// class's alarm({retryCount, isRetry}) (daemon/src/api/object_alarms.rs).
// WebSockets the object accepts (ctx.acceptWebSocket, getWebSockets, ...) are
// durable-websocket.js's: their events are calls of the reserved method DO_WS_EVENT.
// Trust: the supervisor decides which object a call or a storage operation reaches; nothing
// here grants anything. Only captured operations run (tenant code may have replaced any).

const DO_HEX = "0123456789abcdef";
const DO_TO_STORAGE = { __proto__: null, where: "DurableObjectStorage.put", to: "storage" };
// Microtask turns the input gate waits, once nothing holds it, before letting the next call in:
// the call whose storage operation just finished continues first (and may start another).
const DO_GATE_TURNS = 32;

function doHex(bytes) {
  let s = "";
  for (let i = 0; i < typedArrayLength(bytes); i++) s += DO_HEX[bytes[i] >> 4] + DO_HEX[bytes[i] & 15];
  return s;
}

let doIdHex; // (id) -> hex, or undefined for anything else

class DurableObjectId {
  #hex;
  #name;
  constructor(token, hex, name) {
    if (token !== INTERNAL) throw new TypeError("Illegal constructor");
    this.#hex = hex;
    this.#name = name;
  }
  toString() { return this.#hex; }
  toJSON() { return this.#hex; }
  equals(other) { return doIdHex(other) === this.#hex; }
  get name() { return this.#name; }
  static {
    doIdHex = (id) => (id !== null && typeof id === "object" && #hex in id ? id.#hex : undefined);
  }
}
setTag(DurableObjectId.prototype, "DurableObjectId");

class DurableObjectNamespace {
  #binding;
  #class;
  constructor(token, binding, className) {
    if (token !== INTERNAL) throw new TypeError("Illegal constructor");
    this.#binding = binding;
    this.#class = className;
  }
  idFromName(name) {
    const n = `${name}`;
    return new DurableObjectId(INTERNAL, doHex(callOp(0x0101, [2, utf8Encode(`stockade-do\0${this.#class}\0${n}`)])), n);
  }
  newUniqueId() {
    const bytes = new ByteArray(32);
    hostRandomFill(bytes);
    return new DurableObjectId(INTERNAL, doHex(bytes), undefined);
  }
  idFromString(hex) {
    const s = `${hex}`;
    let ok = s.length === 64;
    for (let i = 0; ok && i < 64; i++) {
      const c = s[i];
      ok = (c >= "0" && c <= "9") || (c >= "a" && c <= "f");
    }
    if (!ok) throw new TypeError("DurableObjectNamespace.idFromString: an id is 64 lowercase hex digits");
    return new DurableObjectId(INTERNAL, s, undefined);
  }
  get(id) {
    const hex = doIdHex(id);
    if (hex === undefined) throw new TypeError("DurableObjectNamespace.get: give a DurableObjectId");
    const name = id.name;
    const object = { __proto__: null, id: hex, name };
    return lazyInternals("rpc").rpcStub({ binding: this.#binding, worker: null, entrypoint: null, object, props: { __proto__: null, id, name } });
  }
  getByName(name) {
    return this.get(this.idFromName(name));
  }
}
setTag(DurableObjectNamespace.prototype, "DurableObjectNamespace");

// ---- the object's side ----

const doLive = {
  __proto__: null,
  instance: null, // the constructed object
  Class: null, // its class
  constructing: null, // the promise of its construction
  blockers: 0, // blockConcurrencyWhile callbacks and transactions running
  waiters: { __proto__: null, head: 0, tail: 0 }, // calls held by the input gate, in order
  waking: false,
  transactions: null, // the promise of the last transaction() to end (they run one at a time)
  calls: { __proto__: null, head: 0, tail: 0 }, // the running calls' ctx (for waitUntil)
};

function doGateClosed() {
  return doLive.blockers > 0;
}

// Lets the next held call in once nothing has held the gate for DO_GATE_TURNS turns.
async function doWake() {
  if (doLive.waking || doLive.waiters.head === doLive.waiters.tail) return;
  doLive.waking = true;
  for (let t = 0; t < DO_GATE_TURNS; t++) {
    await undefined;
    if (doGateClosed()) {
      doLive.waking = false;
      return;
    }
  }
  doLive.waking = false;
  const w = doLive.waiters;
  if (w.head === w.tail) return;
  const resolve = w[w.head];
  delete w[w.head++];
  resolve();
}

async function doEnterGate() {
  const w = doLive.waiters;
  if (!doGateClosed() && w.head === w.tail) return;
  await new PromiseCtor((resolve) => { w[w.tail++] = resolve; });
  doWake(); // the next one, once this one has had its turns
}

function doReleased() {
  if (!doGateClosed()) doWake();
}

// The ctx of the latest call still running, if any.
function doRunningCall() {
  const calls = doLive.calls;
  for (let i = calls.tail - 1; i >= calls.head; i--) {
    if (calls[i] !== undefined) return calls[i];
  }
  return undefined;
}

class DurableObjectState {
  #id;
  #storage = new DurableObjectStorage(INTERNAL);
  constructor(token, id) {
    if (token !== INTERNAL) throw new TypeError("Illegal constructor");
    this.#id = id;
  }
  get id() { return this.#id; }
  get storage() { return this.#storage; }
  /** The worker's loopback stubs (rpc.js's ctxExportsOf), as the running call's ctx has them. */
  get exports() {
    return doRunningCall()?.exports;
  }
  /** Keeps the call that is running (the latest still running) alive until `p` settles. */
  waitUntil(p) {
    const call = doRunningCall();
    if (call !== undefined) return call.waitUntil(p);
    uponPromise(p, undefined, (e) => reportCaughtRejection(e));
  }
  acceptWebSocket(ws, tags = undefined) {
    requireArgs(arguments.length, 1, "DurableObjectState.acceptWebSocket");
    doWsAccept(ws, tags);
  }
  getWebSockets(tag = undefined) { return doWsList(tag); }
  getTags(ws) { return doWsGetTags(ws); }
  setWebSocketAutoResponse(pair = undefined) { doWsSetAuto(pair); }
  getWebSocketAutoResponse() { return doWsGetAuto(); }
  getWebSocketAutoResponseTimestamp(ws) { return doWsStamp(ws); }
  /** Holds every other call out until `fn()` settled; its result. */
  async blockConcurrencyWhile(fn) {
    doLive.blockers++;
    try {
      return await fn();
    } finally {
      doLive.blockers--;
      doReleased();
    }
  }
}
setTag(DurableObjectState.prototype, "DurableObjectState");

/** Runs one call of the object `object` ({class, id, name}) whose class is `Class`: constructs it
 *  on the first, waits for the input gate, runs `run(instance)`, then waits for the writes. An
 *  RPC call's `method` DO_WS_EVENT (the supervisor's only) is a WebSocket's event instead. */
async function doDeliver(object, Class, env, ctx, run, method = undefined, args = undefined) {
  if (method === DO_WS_EVENT) run = (instance) => doWsEvent(instance, ArrayIsArray(args) ? args[0] : []);
  if (typeof Class !== "function") throw new TypeError(`the worker exports no class ${object.class} (its Durable Object namespace's class_name)`);
  const calls = doLive.calls;
  const slot = calls.tail++;
  calls[slot] = ctx;
  try {
    if (doLive.constructing === null) {
      doLive.constructing = (async () => {
        await doWsLoad(); // the sockets it holds, which may have outlived an earlier incarnation
        const id = new DurableObjectId(INTERNAL, object.id, object.name ?? undefined);
        doLive.Class = Class;
        doLive.instance = new Class(new DurableObjectState(INTERNAL, id), env);
      })();
    }
    try {
      await doLive.constructing;
    } catch (e) {
      doLive.constructing = null; // the next call tries again
      throw e;
    }
    await doEnterGate();
    try {
      return await run(doLive.instance);
    } finally {
      await doWsSent(); // its WebSocket sends reached the host before the call ends
    }
  } finally {
    delete calls[slot];
    while (calls.head < calls.tail && calls[calls.head] === undefined) calls.head++;
  }
}

shareInternals("durable", ObjectFreeze({
  __proto__: null,
  makeNamespace: (binding, className) => new DurableObjectNamespace(INTERNAL, binding, className),
  deliver: doDeliver,
  listen: doWsListen,
  sent: doWsSent, // a promise: what the object's sockets sent so far reached the host
}));
