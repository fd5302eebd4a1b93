// ---- durable-storage.js: a Durable Object's ctx.storage (durable.js's lazy group, after it). --
// Every operation is a synchronous host call (hostCallSync, isolate/src/host.rs: only a Durable
// Object's storage calls may be synchronous): the isolate's thread waits for the supervisor's
// answer inside the entry, the wait counted as the request's CPU time (Cloudflare counts SQL time
// as CPU too). So sql.exec (a SqlStorageCursor), ctx.storage.kv and transactionSync are
// synchronous, as on Cloudflare; the async API (get, put, delete, list, alarms) keeps its
// promises and runs the same operations. A write is committed when its call returns.
// Transactions are savepoints the supervisor holds between calls (daemon/src/objects/txn.rs),
// rolled back there if the request ends with one open.
// Trust: the supervisor decides which object an operation reaches; only captured operations run
// (tenant code may have replaced any global or prototype).

/** One storage host call, synchronous (the isolate's thread waits for the supervisor's answer,
 *  its time counted as the request's CPU time): [answer head, answer bytes]. What the
 *  supervisor refused or SQLite failed with is thrown as bindings.js's binding calls throw it. */
function doCall(call, head, bytes = null) {
  const payload = bindingPayload(head, bytes, `DurableObjectStorage (${call})`);
  let reply;
  try {
    reply = hostCallSync(call, payload);
  } catch (e) {
    throw bindingFailure(call, e);
  } finally {
    releaseBytes(payload);
  }
  return bindingAnswer(call, reply, bindingError);
}

function doEncodeValue(value, where) {
  if (value === undefined) throw new TypeError(`${where}: a value cannot be undefined`);
  return utf8Encode(JSONStringify(lazyInternals("rpc").rpcEncode(value, DO_TO_STORAGE)));
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
  const out = new Map();
  let at = 0;
  for (let i = 0; i < answer.keys.length; i++) {
    const n = answer.lengths[i];
    MapSet(out, answer.keys[i], lazyInternals("rpc").rpcDecode(JSONParse(utf8DecodeStripBOM(bytesView(bytes, at, at + n)))));
    at += n;
  }
  return out;
}

// The key-value operations, synchronous: the async API (ctx.storage.get...) and the sync one
// (ctx.storage.kv) share them, on the same table.
function doGet(keys, what) {
  const many = doKeys(keys, what);
  const reply = doCall("do.get", { keys: many ?? [`${keys}`] });
  const found = doEntries(reply[0], reply[1]);
  return many !== null ? found : MapGet(found, `${keys}`);
}

function doPut(keyOrEntries, value, what) {
  const keys = [];
  const values = [];
  if (typeof keyOrEntries === "string") {
    appendEntry(keys, keyOrEntries);
    appendEntry(values, doEncodeValue(value, what));
  } else if (keyOrEntries !== null && typeof keyOrEntries === "object") {
    const names = ObjectKeys(keyOrEntries);
    if (names.length > 128) throw new RangeError(`${what}: at most 128 entries at once`);
    for (let i = 0; i < names.length; i++) {
      appendEntry(keys, names[i]);
      appendEntry(values, doEncodeValue(keyOrEntries[names[i]], what));
    }
  } else {
    throw new TypeError(`${what}: give a key and a value, or an object of entries`);
  }
  const lengths = [];
  let total = 0;
  for (let i = 0; i < values.length; i++) {
    appendEntry(lengths, typedArrayLength(values[i]));
    total += typedArrayLength(values[i]);
  }
  const bytes = new ByteArray(total);
  for (let i = 0, at = 0; i < values.length; at += typedArrayLength(values[i]), i++) typedArraySet(bytes, values[i], at);
  doCall("do.put", { keys, lengths }, bytes);
}

function doDelete(keys, what) {
  const many = doKeys(keys, what);
  const reply = doCall("do.delete", { keys: many ?? [`${keys}`] });
  return many !== null ? reply[0].count : reply[0].count > 0;
}

function doList(options, what) {
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
    if (!(n >= 1) || n !== (n | 0)) throw new TypeError(`${what}: limit must be a positive integer`);
    head.limit = n;
  }
  const reply = doCall("do.list", head);
  return doEntries(reply[0], reply[1]);
}

/** An iterator over `items` (a list the runtime made), itself iterable. */
function doIterator(items) {
  let at = 0;
  const iterator = {
    next: () => (at >= items.length ? { done: true, value: undefined } : { done: false, value: items[at++] }),
    [SymbolIterator]() { return iterator; },
  };
  return iterator;
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
  /** Runs `query` (statements separated by `;`: the bindings go to the last, whose rows the
   *  cursor holds) at once, synchronously, as on Cloudflare. A cursor is no promise, so
   *  `await sql.exec(...)` is the cursor too. */
  exec(query, ...bindings) {
    const d1 = lazyInternals("d1");
    const encoded = d1.encodeParams(bindings, "SqlStorage.exec");
    const reply = doCall("do.sql", { sql: `${query}`, params: encoded.params }, encoded.bytes);
    return new SqlStorageCursor(INTERNAL, reply[0], reply[1]);
  }
  /** The bytes of the object's database. */
  get databaseSize() {
    return doCall("do.sql", { sql: "SELECT 1", params: [] })[0].meta.size_after;
  }
}
setTag(SqlStorage.prototype, "SqlStorage");

/** ctx.storage.kv: the key-value API, synchronous (the same table as ctx.storage.get/put). */
class SyncKvStorage {
  constructor(token) {
    if (token !== INTERNAL) throw new TypeError("Illegal constructor");
  }
  get(key) { return doGet(`${key}`, "SyncKvStorage.get"); }
  put(key, value) { doPut(`${key}`, value, "SyncKvStorage.put"); }
  delete(key) { return doDelete(`${key}`, "SyncKvStorage.delete"); }
  /** An iterable of [key, value], in key order (reversed with `reverse`). */
  list(options = undefined) {
    const entries = [];
    const found = doList(options, "SyncKvStorage.list");
    MapForEach(found, (value, key) => appendEntry(entries, [key, value]));
    return doIterator(entries);
  }
}
setTag(SyncKvStorage.prototype, "SyncKvStorage");

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

function doTxn(op) {
  doCall("do.txn", { op });
}

/** Rolls back the innermost transaction level, after `fn` threw (its error is what is thrown). */
function doRollBackAfter(error) {
  try {
    doTxn("rollback");
  } catch {}
  throw error;
}

class DurableObjectStorage {
  #sql = new SqlStorage(INTERNAL);
  #kv = new SyncKvStorage(INTERNAL);
  constructor(token) {
    if (token !== INTERNAL) throw new TypeError("Illegal constructor");
  }
  get sql() { return this.#sql; }
  get kv() { return this.#kv; }
  async get(keys) { return doGet(keys, "DurableObjectStorage.get"); }
  async put(keyOrEntries, value = undefined) { doPut(keyOrEntries, value, "DurableObjectStorage.put"); }
  async delete(keys) { return doDelete(keys, "DurableObjectStorage.delete"); }
  async deleteAll() { doCall("do.deleteAll", {}); }
  async list(options = undefined) { return doList(options, "DurableObjectStorage.list"); }
  /** Every write is committed when its call returns. */
  async sync() {}
  /** Runs `fn()`: if it throws, every write it made is rolled back and the error rethrown;
   *  otherwise they are committed together. Nests (savepoints). */
  transactionSync(fn) {
    if (typeof fn !== "function") throw new TypeError("DurableObjectStorage.transactionSync: give a function");
    doTxn("begin");
    let result;
    try {
      result = fn();
    } catch (e) {
      doRollBackAfter(e);
    }
    doTxn("commit");
    return result;
  }
  /** Runs `await closure(txn)` with the input gate closed: its writes are committed together
   *  when it resolves, rolled back when it throws or calls txn.rollback(). One at a time. */
  async transaction(closure) {
    if (typeof closure !== "function") throw new TypeError("DurableObjectStorage.transaction: give a function");
    const before = doLive.transactions;
    let done;
    doLive.transactions = new PromiseCtor((resolve) => { done = resolve; });
    doLive.blockers++;
    try {
      if (before !== null) await before;
      doTxn("begin");
      const txn = new DurableObjectTransaction(INTERNAL, this);
      let result;
      try {
        result = await closure(txn);
      } catch (e) {
        if (!doTxnEnded(txn)) doRollBackAfter(e);
        throw e;
      }
      if (!doTxnEnded(txn)) doTxn("commit");
      return result;
    } finally {
      done();
      doLive.blockers--;
      doReleased();
    }
  }
  /** The alarm's time (ms since the epoch), or null. */
  async getAlarm() {
    return doCall("do.getAlarm", {})[0].time;
  }
  /** Sets the object's one alarm (a time past fires as soon as possible); the supervisor calls
   *  the class's alarm({retryCount, isRetry}) then. */
  async setAlarm(scheduledTime) {
    const time = doAlarmTime(scheduledTime);
    const Class = doLive.Class;
    if (Class === null || typeof Class.prototype?.alarm !== "function") {
      throw new TypeError("Your Durable Object class must have an alarm() handler in order to call setAlarm()");
    }
    doCall("do.setAlarm", { time });
  }
  async deleteAlarm() {
    doCall("do.deleteAlarm", {});
  }
}
setTag(DurableObjectStorage.prototype, "DurableObjectStorage");

let doTxnEnded; // (txn) -> whether rollback() ended it

/** The `txn` of ctx.storage.transaction(closure): the storage's operations, inside the
 *  transaction; rollback() rolls it back at once (later operations through it throw). */
class DurableObjectTransaction {
  #storage;
  #ended = false;
  constructor(token, storage) {
    if (token !== INTERNAL) throw new TypeError("Illegal constructor");
    this.#storage = storage;
  }
  #live() {
    if (this.#ended) throw new Error("DurableObjectTransaction: the transaction was rolled back");
    return this.#storage;
  }
  get(keys) { return this.#live().get(keys); }
  put(keyOrEntries, value = undefined) { return this.#live().put(keyOrEntries, value); }
  delete(keys) { return this.#live().delete(keys); }
  list(options = undefined) { return this.#live().list(options); }
  getAlarm() { return this.#live().getAlarm(); }
  setAlarm(time) { return this.#live().setAlarm(time); }
  deleteAlarm() { return this.#live().deleteAlarm(); }
  rollback() {
    this.#live();
    this.#ended = true;
    doTxn("rollback");
  }
  static {
    doTxnEnded = (txn) => txn.#ended;
  }
}
setTag(DurableObjectTransaction.prototype, "DurableObjectTransaction");

