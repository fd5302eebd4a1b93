// ---- queue.js: Queues, the producer binding and the consumer's queue handler -------------------
// Producer: `{"binding": "queue", "queue": "q"}` in env becomes an object with Cloudflare's
// `send(body, {contentType, delaySeconds})` and `sendBatch([{body, contentType, delaySeconds}],
// {delaySeconds})` (bindings.js's makeEnv, through lazyInternals("queue")). A body is encoded here
// by its contentType ("v8", the default as on Cloudflare: a structured clone, kept in rpc.js's
// tagged encoding; "json": JSON text; "text": a string; "bytes": an ArrayBuffer or view; an
// undefined body is a TypeError) and must be at most 128 KB (128,000 bytes: Cloudflare counts
// 1 KB as 1,000 bytes); a batch at most 100 messages and 256 KB; a delay 0 to 43200 s. One host
// call, queue.send
// ({binding, messages: [{contentType, delaySeconds, length}]} + the bodies back to back),
// resolves once the supervisor has stored the messages (daemon/src/queues/producer.rs, which
// checks all of it again).
// Consumer (STK_INVOKE_QUEUE, runtime.js): the default export's `queue(batch, env, ctx)`, a
// WorkerEntrypoint class's `queue(batch)` (constructed with (ctx, env)), or, in service-worker
// syntax, the global scope's "queue" listeners (the event has `queue`, `messages`, `ackAll`,
// `retryAll`, `waitUntil`). `batch.messages[i]` has id, timestamp (a Date), body, attempts,
// ack(), retry({delaySeconds}); the batch ackAll() and retryAll({delaySeconds}). The first call
// that concerns a message wins, in the order made, as workerd's: ackAll()/retryAll() decide every
// message without a call of its own yet, after which ack() does nothing, and retry() only
// changes the delay of a message the batch's retryAll() retries. The answer says each message's
// fate: "ack", "retry" (with its delay) or "none"
// (the supervisor acks those when the handler succeeded and retries them when it threw).
// Guarantees: the answer is built from the runtime's own records with captured primordials; what
// tenant code replaces (Array.prototype, JSON, Date) cannot change which messages are acked.
// Trusts: the host's payload {queue, messages: [{id, timestamp, attempts, contentType, body:
// [offset, length]}], env} and the bodies.

const QUEUE_MAX_BODY = 128000;
const QUEUE_MAX_BATCH = 100;
const QUEUE_MAX_BATCH_BYTES = 256000;
const QUEUE_MAX_DELAY = 43200;
const QUEUE_TO = { __proto__: null, where: "Queue.send", to: "a queue" };

/** `delaySeconds` of `options` (`what` names the call): undefined when absent. */
function queueDelay(options, what) {
  const v = dictGet(options, "delaySeconds");
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !NumberIsInteger(v) || v < 0 || v > QUEUE_MAX_DELAY) {
    throw new RangeError(`${what}: delaySeconds must be an integer from 0 to ${QUEUE_MAX_DELAY}`);
  }
  return v;
}

/** One message's body as [contentType, bytes]. */
function queueEncode(body, contentType, what) {
  if (body === undefined) throw new TypeError(`${what}: the message body cannot be undefined`);
  const type = contentType === undefined ? "v8" : `${contentType}`;
  let bytes;
  if (type === "json") {
    const text = JSONStringify(body);
    if (typeof text !== "string") throw new TypeError(`${what}: the body has no JSON form`);
    bytes = utf8Encode(text);
  } else if (type === "text") {
    if (typeof body !== "string") throw new TypeError(`${what}: a "text" body must be a string`);
    bytes = utf8Encode(body);
  } else if (type === "bytes") {
    let view;
    try {
      view = bufferSourceBytes(body, what);
    } catch {
      throw new TypeError(`${what}: a "bytes" body must be an ArrayBuffer or ArrayBufferView`);
    }
    bytes = bytesCopy(view);
  } else if (type === "v8") {
    bytes = utf8Encode(JSONStringify(lazyInternals("rpc").rpcEncode(body, QUEUE_TO)));
  } else {
    throw new TypeError(`${what}: contentType must be "json", "text", "bytes" or "v8"`);
  }
  if (typedArrayLength(bytes) > QUEUE_MAX_BODY) {
    throw new RangeError(`${what}: a message is at most ${QUEUE_MAX_BODY} bytes (this one is ${typedArrayLength(bytes)})`);
  }
  return [type, bytes];
}

/** Sends `list` ([contentType, bytes, delaySeconds] each) in one queue.send call. */
async function queueSend(binding, list, what) {
  let total = 0;
  for (let i = 0; i < list.length; i++) total += typedArrayLength(list[i][1]);
  if (total > QUEUE_MAX_BATCH_BYTES) {
    throw new RangeError(`${what}: a batch is at most ${QUEUE_MAX_BATCH_BYTES} bytes (this one is ${total})`);
  }
  const all = new ByteArray(total);
  const messages = [];
  let at = 0;
  for (let i = 0; i < list.length; i++) {
    const n = typedArrayLength(list[i][1]);
    typedArraySet(all, list[i][1], at);
    at += n;
    ObjectDefineProperty(messages, i, {
      __proto__: null,
      value: { contentType: list[i][0], delaySeconds: list[i][2], length: n },
      writable: true, enumerable: true, configurable: true,
    });
  }
  await bindingCall("queue.send", { binding, messages }, all, bindingError, what);
}

/** A Queue producer binding (Cloudflare's `Queue`). */
class WorkerQueue {
  #binding;
  constructor(key, binding) {
    if (key !== INTERNAL) throw new TypeError("Illegal constructor");
    this.#binding = binding;
  }
  async send(body, options = undefined) {
    const what = "Queue.send";
    const delay = queueDelay(options, what) ?? 0;
    const [type, bytes] = queueEncode(body, dictGet(options, "contentType"), what);
    await queueSend(this.#binding, [[type, bytes, delay]], what);
  }
  async sendBatch(messages, options = undefined) {
    const what = "Queue.sendBatch";
    const batchDelay = queueDelay(options, what) ?? 0;
    if (messages === null || typeof messages !== "object") throw new TypeError(`${what}: give an iterable of messages`);
    const list = [];
    let n = 0;
    for (const m of messages) {
      if (n === QUEUE_MAX_BATCH) throw new RangeError(`${what}: a batch is at most ${QUEUE_MAX_BATCH} messages`);
      if (m === null || typeof m !== "object") throw new TypeError(`${what}: each message is an object {body, contentType?, delaySeconds?}`);
      const delay = queueDelay(m, what) ?? batchDelay;
      const [type, bytes] = queueEncode(m.body, dictGet(m, "contentType"), what);
      ObjectDefineProperty(list, n++, { __proto__: null, value: [type, bytes, delay], writable: true, enumerable: true, configurable: true });
    }
    if (n === 0) throw new TypeError(`${what}: the batch is empty`);
    await queueSend(this.#binding, list, what);
  }
}
webidlEnumerable(WorkerQueue);
setTag(WorkerQueue.prototype, "WorkerQueue");

// ---- the consumer ----

/** A message's fate: null (no call yet) or [action, delaySeconds, set by the batch]. */
let queueMessageFate; // (message) -> null | [action, delay, byBatch]
let queueBatchDecides; // (message, action, delay) -> gives a message without a fate the batch's
let queueMessageId; // (message) -> its id, whatever its prototype's getters became

/** One delivered message. */
class QueueMessage {
  #id;
  #timestamp;
  #body;
  #attempts;
  #fate = null;
  constructor(key, id, timestamp, body, attempts) {
    if (key !== INTERNAL) throw new TypeError("Illegal constructor");
    this.#id = id;
    this.#timestamp = timestamp;
    this.#body = body;
    this.#attempts = attempts;
  }
  get id() { return this.#id; }
  get timestamp() { return new Date(this.#timestamp); }
  get body() { return this.#body; }
  get attempts() { return this.#attempts; }
  /** Acknowledged, whatever the handler does next (the first call on a message wins). */
  ack() {
    if (this.#fate === null) this.#fate = ["ack", 0, false];
  }
  /** Delivered again later (after `delaySeconds`, else the batch's retryAll delay, else the
   *  consumer's retry_delay). After the batch's retryAll(), it sets this message's delay. */
  retry(options = undefined) {
    const delay = queueDelay(options, "Message.retry");
    const fate = this.#fate;
    if (fate === null) this.#fate = ["retry", delay, false];
    else if (fate[0] === "retry" && fate[2] && delay !== undefined) this.#fate = ["retry", delay, false];
  }
  static {
    queueMessageFate = (m) => m.#fate;
    queueBatchDecides = (m, action, delay) => {
      if (m.#fate === null) m.#fate = [action, delay, true];
    };
    queueMessageId = (m) => m.#id;
  }
}
webidlEnumerable(QueueMessage);
setTag(QueueMessage.prototype, "Message");
inspectThroughGetters(QueueMessage, ["id", "timestamp", "body", "attempts"]);

/** What `queue(batch, env, ctx)` gets. */
class MessageBatch {
  #queue;
  #messages;
  #records; // the runtime's own list of the messages (tenant code cannot change it)
  #decided = false;
  constructor(key, queue, messages, records) {
    if (key !== INTERNAL) throw new TypeError("Illegal constructor");
    this.#queue = queue;
    this.#messages = messages;
    this.#records = records;
  }
  get queue() { return this.#queue; }
  get messages() { return this.#messages; }
  #decide(action, delay) {
    if (this.#decided) return; // the first of ackAll/retryAll wins
    this.#decided = true;
    for (let i = 0; i < this.#records.length; i++) queueBatchDecides(this.#records[i], action, delay);
  }
  /** Every message without a call of its own yet is acknowledged. */
  ackAll() {
    this.#decide("ack", 0);
  }
  /** Every message without a call of its own yet is delivered again later. */
  retryAll(options = undefined) {
    const delay = queueDelay(options, "MessageBatch.retryAll");
    this.#decide("retry", delay);
  }
}
webidlEnumerable(MessageBatch);
setTag(MessageBatch.prototype, "MessageBatch");
inspectThroughGetters(MessageBatch, ["queue", "messages"]);

/** A message's body from its stored bytes. */
function queueDecode(type, bytes) {
  if (type === "bytes") return typedArrayBuffer(bytesCopy(bytes));
  const text = utf8Decode(bytes);
  if (type === "text") return text;
  if (type === "v8") return lazyInternals("rpc").rpcDecode(JSONParse(text));
  return JSONParse(text);
}

/** Delivers one batch to module namespace `ns`: JSON text of each message's fate, once the
 *  handler and its waitUntil work are over. */
async function queueInvoke(ns, payload, bodies) {
  const call = JSONParse(payload);
  const queue = `${call.queue}`;
  const list = call.messages;
  const messages = [];
  const records = { __proto__: null, length: 0 };
  for (let i = 0; i < list.length; i++) {
    const m = list[i];
    const off = m.body[0];
    const len = m.body[1];
    const body = queueDecode(`${m.contentType}`, u8Subarray(bodies, off, off + len));
    const message = new QueueMessage(INTERNAL, `${m.id}`, +m.timestamp, body, +m.attempts);
    records[records.length++] = message;
    ObjectDefineProperty(messages, i, { __proto__: null, value: message, writable: false, enumerable: true, configurable: false });
  }
  ObjectFreeze(messages);
  const batch = new MessageBatch(INTERNAL, queue, messages, records);
  const run = eventRun(ns, "queue", call.env);
  const { ctx, env, handler } = run;
  let thrown = null;
  if (run.shape !== null) {
    try {
      if (run.shape === "class") await new handler(ctx, env).queue(batch);
      else await handler.queue(batch, env, ctx);
    } catch (e) {
      thrown = { __proto__: null, error: e };
    }
  } else if (globalListenersOf("queue").length > 0) {
    const event = new Event("queue");
    ObjectDefineProperty(event, "queue", { __proto__: null, value: queue, enumerable: true });
    ObjectDefineProperty(event, "messages", { __proto__: null, value: messages, enumerable: true });
    ObjectDefineProperty(event, "ackAll", { __proto__: null, value: () => batch.ackAll() });
    ObjectDefineProperty(event, "retryAll", { __proto__: null, value: (o) => batch.retryAll(o) });
    ObjectDefineProperty(event, "waitUntil", { __proto__: null, value: (p) => run.waitUntil(p) });
    thrown = dispatchToGlobalListeners("queue", event, env);
  } else {
    return JSONStringify({
      outcome: "noHandler",
      error: {
        name: "TypeError",
        message: "the worker has no queue handler (export default { queue(batch, env, ctx) {} }, " +
          "a class with a queue(batch) method, or a \"queue\" event listener)",
      },
      messages: [],
    });
  }
  if (thrown !== null) reportException(thrown.error);
  const rejected = await run.settle(); // the waitUntil work, awaited whatever the handler did
  const failed = thrown ?? rejected;
  // The answer's text is put together from strings: no object of the tenant's realm (whose
  // prototypes may have a toJSON or setters by now) goes through JSONStringify.
  let text = "";
  for (let i = 0; i < records.length; i++) {
    const m = records[i];
    const fate = queueMessageFate(m);
    text += `${i === 0 ? "" : ","}{"id":${JSONStringify(queueMessageId(m))},"action":"${fate === null ? "none" : fate[0]}"`;
    if (fate !== null && fate[1] !== undefined) text += `,"delaySeconds":${fate[1]}`;
    text += "}";
  }
  let error = "";
  if (failed !== null) {
    const summary = errorSummary(failed.error);
    error = `,"error":{"name":${JSONStringify(`${summary.name}`)},"message":${JSONStringify(`${summary.message}`)}}`;
  }
  return `{"outcome":"${failed !== null ? "exception" : "ok"}"${error},"messages":[${text}]}`;
}

shareInternals("queue", ObjectFreeze({
  __proto__: null,
  invoke: queueInvoke,
  makeQueue: (binding) => new WorkerQueue(INTERNAL, binding),
}));
