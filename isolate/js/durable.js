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
// but a new call is held (the input gate) while blockConcurrencyWhile's callback runs or a
// storage operation is pending, and a call answers only once the writes it left pending are
// committed (the output gate).
// Storage (daemon/src/objects/): values in rpc.js's tagged encoding (what RPC carries: a class
// instance or a function is a DataCloneError); sql.exec(query, ...bindings) is async here (the
// SQL runs in the supervisor): it returns a Promise of the cursor. One alarm per object
// (setAlarm/getAlarm/deleteAlarm, writes as puts are): the supervisor fires it as a call of the
// class's alarm({retryCount, isRetry}) (daemon/src/api/object_alarms.rs).
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
    return rpcStub({ binding: this.#binding, worker: null, entrypoint: null, object, props: { __proto__: null, id, name } });
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
  blockers: 0, // blockConcurrencyWhile callbacks running
  pending: 0, // storage operations sent and not answered
  waiters: { __proto__: null, head: 0, tail: 0 }, // calls held by the input gate, in order
  waking: false,
  lastWrite: null, // the promise of the last write sent (writes run in order)
  calls: { __proto__: null, head: 0, tail: 0 }, // the running calls' ctx (for waitUntil)
};

function doGateClosed() {
  return doLive.blockers > 0 || doLive.pending > 0;
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

/** Runs `send()` (a storage host call) as one operation of the gates; `write` for a write. */
async function doOperation(send, write) {
  doLive.pending++;
  const sent = send();
  if (write) doLive.lastWrite = (async () => { try { await sent; } catch {} })();
  try {
    return await sent;
  } finally {
    doLive.pending--;
    doReleased();
  }
}

function doStorageCall(call, head, bytes, write) {
  return doOperation(() => bindingCall(call, head, bytes, bindingError, `DurableObjectStorage (${call})`), write);
}

function doEncodeValue(value) {
  if (value === undefined) throw new TypeError("DurableObjectStorage.put: a value cannot be undefined");
  return utf8Encode(JSONStringify(rpcEncode(value, DO_TO_STORAGE)));
}

function doKeys(keys, what) {
  if (!ArrayIsArray(keys)) return null;
  if (keys.length > 128) throw new RangeError(`${what}: at most 128 keys at once`);
  const out = [];
  for (let i = 0; i < keys.length; i++) appendEntry(out, `${keys[i]}`);
  return out;
}

/** The entries of a get or list answer, as a Map in the answer's order. */
function doEntries(answer, bytes) {
  const out = new RpcMap();
  let at = 0;
  for (let i = 0; i < answer.keys.length; i++) {
    const n = answer.lengths[i];
    MapSet(out, answer.keys[i], rpcDecode(JSONParse(utf8DecodeStripBOM(bytesView(bytes, at, at + n)))));
    at += n;
  }
  return out;
}

class SqlStorageCursor {
  #columns;
  #rows;
  #at = 0;
  #read;
  #written;
  constructor(token, answer, bytes) {
    if (token !== INTERNAL) throw new TypeError("Illegal constructor");
    const rows = answer.rows;
    for (let r = 0; r < rows.length; r++) {
      for (let c = 0; c < rows[r].length; c++) {
        const cell = rows[r][c];
        if (cell !== null && typeof cell === "object") rows[r][c] = typedArrayBuffer(bytesCopy(bytesView(bytes, cell.b[0], cell.b[0] + cell.b[1])));
      }
    }
    this.#columns = answer.columns;
    this.#rows = rows;
    this.#read = answer.meta.rows_read;
    this.#written = answer.meta.rows_written;
  }
  #object(row) {
    const out = {};
    for (let c = 0; c < this.#columns.length; c++) {
      ObjectDefineProperty(out, this.#columns[c], { __proto__: null, value: row[c], writable: true, enumerable: true, configurable: true });
    }
    return out;
  }
  next() {
    if (this.#at >= this.#rows.length) return { done: true, value: undefined };
    return { done: false, value: this.#object(this.#rows[this.#at++]) };
  }
  toArray() {
    const out = [];
    while (this.#at < this.#rows.length) appendEntry(out, this.#object(this.#rows[this.#at++]));
    return out;
  }
  one() {
    const left = this.#rows.length - this.#at;
    if (left === 0) throw new Error("Expected exactly one result from SQL query, but got no results.");
    if (left > 1) throw new Error("Expected exactly one result from SQL query, but got multiple results.");
    return this.next().value;
  }
  raw() {
    const cursor = this;
    const rows = this.#rows;
    const step = () => (cursor.#at >= rows.length ? { done: true, value: undefined } : { done: false, value: rows[cursor.#at++] });
    const iterator = {
      next: step,
      toArray() {
        const out = [];
        for (let r = step(); !r.done; r = step()) appendEntry(out, r.value);
        return out;
      },
      [SymbolIterator]() { return iterator; },
    };
    return iterator;
  }
  get columnNames() { return this.#columns; }
  get rowsRead() { return this.#read; }
  get rowsWritten() { return this.#written; }
  [SymbolIterator]() { return this; }
}
setTag(SqlStorageCursor.prototype, "SqlStorageCursor");

class SqlStorage {
  constructor(token) {
    if (token !== INTERNAL) throw new TypeError("Illegal constructor");
  }
  /** The cursor of one statement's result (a Promise here: the SQL runs in the supervisor). */
  async exec(query, ...bindings) {
    const d1 = lazyInternals("d1");
    const encoded = d1.encodeParams(bindings, "SqlStorage.exec");
    const head = { sql: `${query}`, params: encoded.params };
    const reply = await doStorageCall("do.sql", head, encoded.bytes, true);
    return new SqlStorageCursor(INTERNAL, reply[0], reply[1]);
  }
}
setTag(SqlStorage.prototype, "SqlStorage");

/** An alarm's time: ms since the epoch, from a number or a Date. */
function doAlarmTime(scheduledTime) {
  let t = scheduledTime;
  if (typeof t !== "number") {
    try {
      t = cloneDateGetTime(t);
    } catch {
      throw new TypeError("DurableObjectStorage.setAlarm: give a time in milliseconds since the epoch or a Date");
    }
  }
  if (!NumberIsFinite(t)) throw new TypeError("DurableObjectStorage.setAlarm: the time is not a finite number");
  return t;
}

class DurableObjectStorage {
  #sql = new SqlStorage(INTERNAL);
  constructor(token) {
    if (token !== INTERNAL) throw new TypeError("Illegal constructor");
  }
  get sql() { return this.#sql; }
  async get(keys) {
    const many = doKeys(keys, "DurableObjectStorage.get");
    const reply = await doStorageCall("do.get", { keys: many ?? [`${keys}`] }, null, false);
    const found = doEntries(reply[0], reply[1]);
    return many !== null ? found : MapGet(found, `${keys}`);
  }
  async put(keyOrEntries, value = undefined) {
    const keys = [];
    const values = [];
    if (typeof keyOrEntries === "string") {
      appendEntry(keys, keyOrEntries);
      appendEntry(values, doEncodeValue(value));
    } else if (keyOrEntries !== null && typeof keyOrEntries === "object") {
      const names = ObjectKeys(keyOrEntries);
      if (names.length > 128) throw new RangeError("DurableObjectStorage.put: at most 128 entries at once");
      for (let i = 0; i < names.length; i++) {
        appendEntry(keys, names[i]);
        appendEntry(values, doEncodeValue(keyOrEntries[names[i]]));
      }
    } else {
      throw new TypeError("DurableObjectStorage.put: give a key and a value, or an object of entries");
    }
    const lengths = [];
    let total = 0;
    for (let i = 0; i < values.length; i++) {
      appendEntry(lengths, typedArrayLength(values[i]));
      total += typedArrayLength(values[i]);
    }
    const bytes = new ByteArray(total);
    for (let i = 0, at = 0; i < values.length; at += typedArrayLength(values[i]), i++) typedArraySet(bytes, values[i], at);
    await doStorageCall("do.put", { keys, lengths }, bytes, true);
  }
  async delete(keys) {
    const many = doKeys(keys, "DurableObjectStorage.delete");
    const reply = await doStorageCall("do.delete", { keys: many ?? [`${keys}`] }, null, true);
    return many !== null ? reply[0].count : reply[0].count > 0;
  }
  async deleteAll() {
    await doStorageCall("do.deleteAll", {}, null, true);
  }
  async list(options = undefined) {
    const head = {};
    const names = ["start", "startAfter", "end", "prefix"];
    for (let i = 0; i < names.length; i++) {
      const name = names[i];
      const v = dictGet(options, name);
      if (v !== undefined && v !== null) head[name] = `${v}`;
    }
    if (dictGet(options, "reverse") === true) head.reverse = true;
    const limit = dictGet(options, "limit");
    if (limit !== undefined && limit !== null) {
      const n = +limit;
      if (!(n >= 1) || n !== (n | 0)) throw new TypeError("DurableObjectStorage.list: limit must be a positive integer");
      head.limit = n;
    }
    const reply = await doStorageCall("do.list", head, null, false);
    return doEntries(reply[0], reply[1]);
  }
  /** Resolves once every write sent so far is committed. */
  async sync() {
    if (doLive.lastWrite !== null) await doLive.lastWrite;
  }
  transactionSync() {
    throw new Error("DurableObjectStorage.transactionSync is not supported by Stockade (storage calls are asynchronous here)");
  }
  /** The alarm's time (ms since the epoch), or null. */
  async getAlarm() {
    const reply = await doStorageCall("do.getAlarm", {}, null, false);
    return reply[0].time;
  }
  /** Sets the object's one alarm (a time past fires as soon as possible); the supervisor calls
   *  the class's alarm({retryCount, isRetry}) then. */
  async setAlarm(scheduledTime) {
    const time = doAlarmTime(scheduledTime);
    const Class = doLive.Class;
    if (Class === null || typeof Class.prototype?.alarm !== "function") {
      throw new TypeError("Your Durable Object class must have an alarm() handler in order to call setAlarm()");
    }
    await doStorageCall("do.setAlarm", { time }, null, true);
  }
  async deleteAlarm() {
    await doStorageCall("do.deleteAlarm", {}, null, true);
  }
}
setTag(DurableObjectStorage.prototype, "DurableObjectStorage");

class DurableObjectState {
  #id;
  #storage = new DurableObjectStorage(INTERNAL);
  constructor(token, id) {
    if (token !== INTERNAL) throw new TypeError("Illegal constructor");
    this.#id = id;
  }
  get id() { return this.#id; }
  get storage() { return this.#storage; }
  /** Keeps the call that is running (the latest still running) alive until `p` settles. */
  waitUntil(p) {
    const calls = doLive.calls;
    for (let i = calls.tail - 1; i >= calls.head; i--) {
      if (calls[i] !== undefined) return calls[i].waitUntil(p);
    }
    uponPromise(p, undefined, (e) => reportCaughtRejection(e));
  }
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
 *  on the first, waits for the input gate, runs `run(instance)`, then waits for the writes. */
async function doDeliver(object, Class, env, ctx, run) {
  if (typeof Class !== "function") throw new TypeError(`the worker exports no class ${object.class} (its Durable Object namespace's class_name)`);
  const calls = doLive.calls;
  const slot = calls.tail++;
  calls[slot] = ctx;
  try {
    if (doLive.constructing === null) {
      doLive.constructing = (async () => {
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
    const result = await run(doLive.instance);
    if (doLive.lastWrite !== null) await doLive.lastWrite;
    return result;
  } finally {
    delete calls[slot];
    while (calls.head < calls.tail && calls[calls.head] === undefined) calls.head++;
  }
}

shareInternals("durable", ObjectFreeze({
  __proto__: null,
  makeNamespace: (binding, className) => new DurableObjectNamespace(INTERNAL, binding, className),
  deliver: doDeliver,
}));
