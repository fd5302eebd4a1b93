// ---- d1.js: a D1Database (Cloudflare D1's client API) over the d1.* host calls. -------------
// `{"binding": "d1", "database": "db"}` in env becomes a D1Database (bindings.js's makeEnv, through
// lazyInternals("d1"): this part is built on first use, isolate/src/lazy/mod.rs). The supervisor
// runs the SQL on the tenant's own SQLite file (daemon/src/storage/d1*.rs); shapes as on D1:
//   prepare(sql) -> D1PreparedStatement; bind(...values) -> a new statement (null, number,
//   string, boolean as 1/0, ArrayBuffer / a view / an Array of bytes as a BLOB; anything else is
//   D1_TYPE_ERROR at bind); first(column?), all(), run() -> { success, meta, results }, raw(
//   { columnNames }); batch([stmt...]) -> one transaction; exec(sql) -> { count, duration };
//   dump() -> ArrayBuffer (the database file); withSession(constraintOrBookmark?) ->
//   D1DatabaseSession (prepare, batch, getBookmark(): the latest bookmark its answers carried,
//   the one it started from, or null; with one copy every read is consistent, so a bookmark
//   only has to be well formed).
//   A BLOB comes back as an Array of numbers, as D1 returns it. Errors are Errors whose message
//   starts D1_ERROR / D1_EXEC_ERROR / D1_TYPE_ERROR / D1_COLUMN_NOTFOUND / D1_SESSION_ERROR,
//   with `cause`.
// Wire (d1_calls.rs): params in the JSON head; a BLOB, and a text longer than D1_INLINE_TEXT,
// as {"b"|"t": [offset, length]} into the bytes after it; a BLOB cell of an answer likewise.
// Trust: the supervisor resolves the binding name against the stored definition; state is
// private (#fields) and only captured operations run (tenant code may have replaced any).

const D1_INLINE_TEXT = 4096;

/** Whether `s` is a bookmark as the supervisor makes them: 16 hex digits, '-', 16 more. */
function d1IsBookmark(s) {
  if (typeof s !== "string" || s.length !== 33) return false;
  for (let i = 0; i < 33; i++) {
    const c = StringCharCodeAt(s, i);
    if (i === 16 ? c !== 0x2d : !((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

/** Keeps the latest bookmark a session's answers carried (they compare as strings). */
function d1Track(tracker, answer) {
  if (tracker === null) return;
  const bookmark = answer.bookmark;
  if (typeof bookmark === "string" && (tracker.bookmark === null || bookmark > tracker.bookmark)) tracker.bookmark = bookmark;
}

function d1Error(prefix, message) {
  return new Error(`${prefix}: ${message}`, { cause: new Error(message) });
}

function d1AnswerError(prefix) {
  return (e) => {
    const name = `${e?.name}`;
    const message = `${e?.message}`;
    if (name === "TypeError") return new TypeError(message);
    return d1Error(prefix, message);
  };
}

function d1Describe(value) {
  try {
    return `${value}`;
  } catch {
    return typeof value;
  }
}

/** A value `bind` takes, checked and normalised: [kind, value] (kind 0 plain, 1 bytes). */
function d1Bindable(value) {
  const type = typeof value;
  if (type === "number" || type === "string") return [0, value];
  if (type === "boolean") return [0, value ? 1 : 0];
  if (value === null) return [0, null];
  if (type === "object") {
    if (ArrayIsArray(value)) {
      const n = value.length;
      const bytes = new ByteArray(n);
      for (let i = 0; i < n; i++) {
        const b = value[i];
        if (typeof b !== "number" || !(b >= 0 && b < 256)) return undefined;
        bytes[i] = b;
      }
      return [1, bytes];
    }
    let view;
    try {
      view = bufferSourceBytes(value, "D1PreparedStatement.bind");
    } catch {
      return undefined;
    }
    return [1, bytesCopy(view)];
  }
  return undefined;
}

/** The head's params and the bytes they point into, appended to `chunks` from `offset`. */
function d1EncodeParams(values, chunks, state) {
  const params = [];
  for (let i = 0; i < values.length; i++) {
    const kind = values[i][0];
    const value = values[i][1];
    let bytes = null;
    let tag;
    if (kind === 1) { bytes = value; tag = "b"; }
    else if (typeof value === "string" && value.length > D1_INLINE_TEXT) { bytes = utf8Encode(value); tag = "t"; }
    if (bytes === null) { appendEntry(params, value); continue; }
    const length = typedArrayLength(bytes);
    appendEntry(params, { [tag]: [state.offset, length] });
    appendEntry(chunks, bytes);
    state.offset += length;
  }
  return params;
}

function d1Concat(chunks, total) {
  if (chunks.length === 0) return null;
  const out = new ByteArray(total);
  let at = 0;
  for (let i = 0; i < chunks.length; i++) {
    typedArraySet(out, chunks[i], at);
    at += typedArrayLength(chunks[i]);
  }
  return out;
}

/** One answer's rows as arrays, its BLOB cells as Arrays of numbers. */
function d1Rows(answer, bytes) {
  const rows = answer.rows;
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r];
    for (let c = 0; c < row.length; c++) {
      const cell = row[c];
      if (cell === null || typeof cell !== "object") continue;
      const offset = cell.b[0];
      const length = cell.b[1];
      const out = [];
      for (let i = 0; i < length; i++) appendEntry(out, bytes[offset + i]);
      row[c] = out;
    }
  }
  return rows;
}

/** Rows as objects keyed by column (a later column of the same name wins, as on D1). */
function d1Objects(columns, rows) {
  const out = [];
  for (let r = 0; r < rows.length; r++) {
    const object = {};
    for (let c = 0; c < columns.length; c++) {
      ObjectDefineProperty(object, columns[c], { __proto__: null, value: rows[r][c], writable: true, enumerable: true, configurable: true });
    }
    appendEntry(out, object);
  }
  return out;
}

function d1Result(answer, bytes) {
  return { success: true, meta: answer.meta, results: d1Objects(answer.columns, d1Rows(answer, bytes)) };
}

class D1PreparedStatement {
  #binding;
  #sql;
  #values;
  #session; // the bookmark tracker of the session that prepared it, or null
  constructor(token, binding, sql, values, session = null) {
    if (token !== INTERNAL) throw new TypeError("Illegal constructor");
    this.#binding = binding;
    this.#sql = sql;
    this.#values = values;
    this.#session = session;
  }
  static isStatement(value) {
    return value !== null && typeof value === "object" && #sql in value;
  }
  /** {sql, params} of `statement` for a request, its bytes added to `chunks`. */
  static encode(statement, chunks, state) {
    return { sql: statement.#sql, params: d1EncodeParams(statement.#values, chunks, state) };
  }
  static bindingOf(statement) {
    return statement.#binding;
  }
  bind(...values) {
    const checked = [];
    for (let i = 0; i < values.length; i++) {
      const value = values[i];
      const entry = d1Bindable(value);
      if (entry === undefined) throw d1Error("D1_TYPE_ERROR", `Type '${typeof value}' not supported for value '${d1Describe(value)}'`);
      appendEntry(checked, entry);
    }
    return new D1PreparedStatement(INTERNAL, this.#binding, this.#sql, checked, this.#session);
  }
  async #query(what) {
    const chunks = [];
    const state = { offset: 0 };
    const encoded = D1PreparedStatement.encode(this, chunks, state);
    const head = { binding: this.#binding, sql: encoded.sql, params: encoded.params };
    const reply = await bindingCall("d1.query", head, d1Concat(chunks, state.offset), d1AnswerError("D1_ERROR"), `D1PreparedStatement.${what}`);
    d1Track(this.#session, reply[0]);
    return reply;
  }
  async first(column = undefined) {
    const reply = await this.#query("first");
    const answer = reply[0], bytes = reply[1];
    const results = d1Result(answer, bytes).results;
    if (results.length === 0) return null;
    if (column === undefined) return results[0];
    const name = `${column}`;
    const own = ObjectGetOwnPropertyDescriptor(results[0], name);
    if (own === undefined) throw d1Error("D1_COLUMN_NOTFOUND", `Column not found (${name})`);
    return own.value;
  }
  async all() {
    const reply = await this.#query("all");
    const answer = reply[0], bytes = reply[1];
    return d1Result(answer, bytes);
  }
  async run() {
    const reply = await this.#query("run");
    const answer = reply[0], bytes = reply[1];
    return d1Result(answer, bytes);
  }
  async raw(options = undefined) {
    const reply = await this.#query("raw");
    const answer = reply[0], bytes = reply[1];
    const rows = d1Rows(answer, bytes);
    if (!dictGet(options, "columnNames")) return rows;
    const out = [answer.columns];
    for (let i = 0; i < rows.length; i++) appendEntry(out, rows[i]);
    return out;
  }
}
setTag(D1PreparedStatement.prototype, "D1PreparedStatement");

/** `statements` (of `binding`) run as one transaction: their results. */
async function d1Batch(binding, statements, session, what) {
  if (!ArrayIsArray(statements)) throw new TypeError(`${what}: give an array of prepared statements`);
  const chunks = [];
  const state = { offset: 0 };
  const encoded = [];
  for (let i = 0; i < statements.length; i++) {
    const s = statements[i];
    if (!D1PreparedStatement.isStatement(s)) throw new TypeError(`${what}: statements[${i}] is not a D1PreparedStatement`);
    if (D1PreparedStatement.bindingOf(s) !== binding) throw new TypeError(`${what}: statements[${i}] was prepared on another database`);
    appendEntry(encoded, D1PreparedStatement.encode(s, chunks, state));
  }
  if (encoded.length === 0) return [];
  const head = { binding, statements: encoded };
  const reply = await bindingCall("d1.batch", head, d1Concat(chunks, state.offset), d1AnswerError("D1_ERROR"), what);
  const answer = reply[0], bytes = reply[1];
  d1Track(session, answer);
  const out = [];
  for (let i = 0; i < answer.results.length; i++) appendEntry(out, d1Result(answer.results[i], bytes));
  return out;
}

class D1DatabaseSession {
  #binding;
  #tracker;
  constructor(token, binding, bookmark) {
    if (token !== INTERNAL) throw new TypeError("Illegal constructor");
    this.#binding = binding;
    this.#tracker = { __proto__: null, bookmark };
  }
  prepare(query) {
    return new D1PreparedStatement(INTERNAL, this.#binding, `${query}`, [], this.#tracker);
  }
  async batch(statements) {
    return d1Batch(this.#binding, statements, this.#tracker, "D1DatabaseSession.batch");
  }
  getBookmark() {
    return this.#tracker.bookmark;
  }
}
setTag(D1DatabaseSession.prototype, "D1DatabaseSession");

class D1Database {
  #binding;
  constructor(token, binding) {
    if (token !== INTERNAL) throw new TypeError("Illegal constructor");
    this.#binding = binding;
  }
  prepare(query) {
    return new D1PreparedStatement(INTERNAL, this.#binding, `${query}`, []);
  }
  async batch(statements) {
    return d1Batch(this.#binding, statements, null, "D1Database.batch");
  }
  withSession(constraintOrBookmark = "first-unconstrained") {
    const c = constraintOrBookmark;
    if (c === "first-unconstrained" || c === "first-primary") return new D1DatabaseSession(INTERNAL, this.#binding, null);
    if (d1IsBookmark(c)) return new D1DatabaseSession(INTERNAL, this.#binding, c);
    throw d1Error("D1_SESSION_ERROR", `invalid bookmark or constraint provided: give "first-primary", "first-unconstrained" or a bookmark from getBookmark(), not ${typeof c === "string" && c.length <= 80 ? JSONStringify(c) : typeof c}`);
  }
  async dump() {
    const reply = await bindingCall("d1.dump", { binding: this.#binding }, null, d1AnswerError("D1_DUMP_ERROR"), "D1Database.dump");
    return typedArrayBuffer(reply[1]);
  }
  async exec(query) {
    const head = { binding: this.#binding, sql: `${query}` };
    const answer = (await bindingCall("d1.exec", head, null, d1AnswerError("D1_EXEC_ERROR"), "D1Database.exec"))[0];
    return { count: answer.count, duration: answer.duration };
  }
}
setTag(D1Database.prototype, "D1Database");

/** `values` checked and encoded as d1.query's params: {params, bytes} (a Durable Object's
 *  sql.exec shares the wire, durable.js). */
function d1EncodeValues(values, what) {
  const checked = [];
  for (let i = 0; i < values.length; i++) {
    const entry = d1Bindable(values[i]);
    if (entry === undefined) throw new TypeError(`${what}: Type '${typeof values[i]}' not supported for value '${d1Describe(values[i])}'`);
    appendEntry(checked, entry);
  }
  const chunks = [];
  const state = { offset: 0 };
  const params = d1EncodeParams(checked, chunks, state);
  return { params, bytes: d1Concat(chunks, state.offset) };
}

shareInternals("d1", ObjectFreeze({
  __proto__: null,
  makeD1Database: (binding) => new D1Database(INTERNAL, binding),
  encodeParams: d1EncodeValues,
}));
