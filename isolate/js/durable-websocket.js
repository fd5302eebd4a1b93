// ---- durable-websocket.js: a Durable Object's WebSockets (durable.js's lazy group, last). ----
// ctx.acceptWebSocket(server, tags?) makes a WebSocketPair's server end the object's: its
// messages and close come as calls of the class's webSocketMessage(ws, message) and
// webSocketClose(ws, code, reason, wasClean) (webSocketError(ws, error) for a close that was
// not clean but for a client gone, 1006), each through the input gate like any call
// (daemon/src/api/object_sockets.rs delivers them with the reserved RPC method DO_WS_EVENT);
// ws.send()/ws.close() from any call of the object go out in one `do.ws.send` host call per
// microtask turn (daemon/src/objects/sockets.rs applies each at once, in order).
// getWebSockets(tag?), getTags(ws), ws.serializeAttachment(v)/deserializeAttachment() (the
// structured clone as RPC encodes it, at most 2 KiB), setWebSocketAutoResponse(pair) (answered
// by the supervisor without a call), getWebSocketAutoResponse(), and
// getWebSocketAutoResponseTimestamp(ws) (as of the socket's last event delivered) read this
// isolate's table, which the supervisor keeps too: a constructed object asks for it first
// (`do.ws.state`), so an object evicted while its sockets stayed open finds them again.
// A socket the object accept()ed itself and answered in its 101 is held the same way (a LISTEN
// entry, websocket.js's webSocketForResponse): each of its events is a call of its own (its own
// CPU and wall budget) dispatched to the socket's listeners, and the supervisor keeps the object
// in memory while it is open, as Cloudflare does. Such a socket is not hibernatable: it is not
// listed by getWebSockets(), and an instance that finds one it did not accept (its accepting
// instance is gone: evicted, reset or crashed) closes it with 1011.
// Trust: the supervisor decides which object's sockets a call reaches; only captured operations
// run (tenant code may have replaced any global or prototype).

const DO_WS_EVENT = "\u0000stockade:ws";
const DO_WS_TEXT = 1, DO_WS_BINARY = 2, DO_WS_CLOSE = 3, DO_WS_ACCEPT = 4, DO_WS_ATTACH = 5, DO_WS_LISTEN = 6;
const DO_WS_MAX_SOCKETS = 1024;
const DO_WS_MAX_TAGS = 10;
const DO_WS_MAX_TAG = 256;
const DO_WS_MAX_ATTACHMENT = 2048;
const DO_WS_MAX_MESSAGE = 1 << 20;
const DO_WS_MAX_AUTO = 2048;
const DO_WS_BATCH_BYTES = 4 << 20;
const DO_WS_TO_ATTACHMENT = { __proto__: null, where: "WebSocket.serializeAttachment", to: "attachment" };

const doWs = {
  __proto__: null,
  records: { __proto__: null }, // by socket number: {id, tags, attachment, at, ws}
  count: 0,
  next: 1,
  auto: null, // [request, response]
  batch: [], // [id, kind, bytes]
  bytes: 0,
  flushing: false,
  sent: null, // the promise of the last do.ws.send's answer
};

/** Sends what is queued now: one host call of the running task. */
function doWsFlush() {
  const batch = doWs.batch;
  if (batch.length === 0) return;
  doWs.batch = [];
  const out = new ByteArray(doWs.bytes);
  doWs.bytes = 0;
  let at = 0;
  for (let i = 0; i < batch.length; i++) {
    const id = batch[i][0], bytes = batch[i][2], n = typedArrayLength(bytes);
    out[at] = id & 0xff; out[at + 1] = (id >>> 8) & 0xff; out[at + 2] = (id >>> 16) & 0xff; out[at + 3] = (id >>> 24) & 0xff;
    out[at + 4] = batch[i][1];
    out[at + 5] = n & 0xff; out[at + 6] = (n >>> 8) & 0xff; out[at + 7] = (n >>> 16) & 0xff; out[at + 8] = (n >>> 24) & 0xff;
    typedArraySet(out, bytes, at + 9);
    at += 9 + n;
  }
  const sent = bindingCall("do.ws.send", {}, out);
  doWs.sent = new PromiseCtor((resolve) => uponPromise(sent, resolve, (e) => {
    reportCaughtRejection(e);
    resolve();
  }));
}

/** The output gate of a call: what it sent, sent (a task's host calls still unanswered when it
 *  ends are dropped with it). */
async function doWsSent() {
  doWsFlush();
  const sent = doWs.sent;
  if (sent !== null) await sent;
}

async function doWsFlushSoon() {
  if (doWs.flushing) return;
  doWs.flushing = true;
  try {
    await undefined; // the rest of this turn's sends join the same call
  } finally {
    doWs.flushing = false;
  }
  doWsFlush();
}

function doWsPush(id, kind, bytes) {
  appendEntry(doWs.batch, [id, kind, bytes]);
  doWs.bytes += 9 + typedArrayLength(bytes);
  if (doWs.bytes >= DO_WS_BATCH_BYTES) doWsFlush();
  else doWsFlushSoon();
}

/** A socket's record: its number, tags, attachment (its encoding's text), auto-response stamp. */
function doWsRecord(id, tags, attachment, at) {
  const record = { __proto__: null, id, tags, attachment, at, ws: null, listen: false };
  record.serialize = (value) => {
    const text = JSONStringify(lazyInternals("rpc").rpcEncode(value, DO_WS_TO_ATTACHMENT));
    const bytes = utf8Encode(text);
    if (typedArrayLength(bytes) > DO_WS_MAX_ATTACHMENT) {
      throw new RangeError(`serializeAttachment: the attachment is ${typedArrayLength(bytes)} bytes serialized; at most ${DO_WS_MAX_ATTACHMENT}`);
    }
    record.attachment = text;
    if (doWs.records[id] === record) doWsPush(id, DO_WS_ATTACH, bytes);
  };
  record.deserialize = () => (record.attachment === null ? null : lazyInternals("rpc").rpcDecode(JSONParse(record.attachment)));
  return record;
}

/** The link an object's socket sends through (websocket.js calls message/close). */
function doWsLink(record) {
  return {
    __proto__: null,
    message(data) {
      const text = typeof data === "string";
      const bytes = text ? utf8Encode(data) : data;
      const n = typedArrayLength(bytes);
      if (n > DO_WS_MAX_MESSAGE) throw new RangeError(`WebSocket.send: the message is ${n} bytes; a WebSocket message is at most ${DO_WS_MAX_MESSAGE} bytes`);
      if (doWs.records[record.id] === record) doWsPush(record.id, text ? DO_WS_TEXT : DO_WS_BINARY, bytes);
    },
    close(code, reason) {
      let bytes = new ByteArray(0);
      if (code !== 1005) {
        const text = utf8Encode(reason);
        bytes = new ByteArray(2 + typedArrayLength(text));
        bytes[0] = code & 255;
        bytes[1] = code >>> 8;
        typedArraySet(bytes, text, 2);
      }
      if (doWs.records[record.id] === record) doWsPush(record.id, DO_WS_CLOSE, bytes);
    },
  };
}

function doWsOf(record) {
  if (record.ws === null) record.ws = lazyInternals("websocket").objectSocket(record, doWsLink(record));
  return record.ws;
}

/** Before the object is constructed: the sockets the supervisor holds for it. */
async function doWsLoad() {
  const [state] = await bindingCall("do.ws.state", {});
  const records = { __proto__: null };
  let count = 0, next = 1;
  const sockets = state.sockets;
  for (let i = 0; i < sockets.length; i++) {
    const s = sockets[i];
    const id = s.id >>> 0;
    if (id >= next) next = id + 1;
    if (s.listen === true) {
      // Its listeners were the instance's that accepted it, which is gone.
      const why = utf8Encode("the Durable Object's instance that accepted this WebSocket is gone");
      const bytes = new ByteArray(2 + typedArrayLength(why));
      bytes[0] = 1011 & 255;
      bytes[1] = 1011 >>> 8;
      typedArraySet(bytes, why, 2);
      doWsPush(id, DO_WS_CLOSE, bytes);
      continue;
    }
    const tags = [];
    for (let j = 0; j < s.tags.length; j++) appendEntry(tags, `${s.tags[j]}`);
    records[id] = doWsRecord(id, tags, typeof s.attachment === "string" ? s.attachment : null, typeof s.at === "number" ? s.at : null);
    count++;
  }
  doWs.records = records;
  doWs.count = count;
  doWs.next = next;
  doWs.auto = state.auto === null ? null : [`${state.auto[0]}`, `${state.auto[1]}`];
}

function doWsTags(tags) {
  const out = [];
  if (tags === undefined || tags === null) return out;
  if (!ArrayIsArray(tags)) throw new TypeError("acceptWebSocket: the tags are an array of strings");
  if (tags.length > DO_WS_MAX_TAGS) throw new TypeError(`acceptWebSocket: a WebSocket has at most ${DO_WS_MAX_TAGS} tags`);
  for (let i = 0; i < tags.length; i++) {
    const tag = tags[i];
    if (typeof tag !== "string") throw new TypeError("acceptWebSocket: a tag is a string");
    if (tag.length > DO_WS_MAX_TAG) throw new TypeError(`acceptWebSocket: a tag is at most ${DO_WS_MAX_TAG} characters`);
    appendEntry(out, tag);
  }
  return out;
}

function doWsAccept(ws, tags) {
  const list = doWsTags(tags);
  if (doWs.count >= DO_WS_MAX_SOCKETS) throw new RangeError(`acceptWebSocket: a Durable Object has at most ${DO_WS_MAX_SOCKETS} WebSockets`);
  const record = doWsRecord(doWs.next, list, null, null);
  lazyInternals("websocket").objectAccept(ws, record, doWsLink(record)); // throws for anything but a new pair's end
  record.ws = ws;
  doWs.next++;
  doWs.records[record.id] = record;
  doWs.count++;
  doWsPush(record.id, DO_WS_ACCEPT, utf8Encode(JSONStringify(list)));
}

/** A socket `ws` this object accept()ed and answers in a 101: its record and link (websocket.js). */
function doWsListen(ws) {
  if (doWs.count >= DO_WS_MAX_SOCKETS) throw new RangeError(`a Durable Object has at most ${DO_WS_MAX_SOCKETS} WebSockets`);
  const record = doWsRecord(doWs.next, [], null, null);
  record.listen = true;
  record.ws = ws;
  doWs.next++;
  doWs.records[record.id] = record;
  doWs.count++;
  doWsPush(record.id, DO_WS_LISTEN, new ByteArray(0));
  return [record, doWsLink(record)];
}

function doWsList(tag) {
  const out = [];
  const want = tag === undefined ? undefined : `${tag}`;
  const ids = ObjectKeys(doWs.records); // integer keys: in the order they were accepted
  for (let i = 0; i < ids.length; i++) {
    const record = doWs.records[ids[i]];
    if (record.listen) continue; // not hibernatable: not the object's to list
    let take = want === undefined;
    for (let j = 0; !take && j < record.tags.length; j++) take = record.tags[j] === want;
    if (take) appendEntry(out, doWsOf(record));
  }
  return out;
}

function doWsRecordOf(ws, what) {
  const record = lazyInternals("websocket").objectOf(ws);
  if (record === null) throw new TypeError(`${what}: give a WebSocket accepted with ctx.acceptWebSocket()`);
  return record;
}

function doWsGetTags(ws) {
  const record = doWsRecordOf(ws, "getTags");
  const out = [];
  for (let i = 0; i < record.tags.length; i++) appendEntry(out, record.tags[i]);
  return out;
}

let doWsPairOf; // (pair) -> [request, response], or null for anything else

class WebSocketRequestResponsePair {
  #request;
  #response;
  constructor(request, response) {
    requireArgs(arguments.length, 2, "WebSocketRequestResponsePair");
    this.#request = `${request}`;
    this.#response = `${response}`;
    if (this.#request.length > DO_WS_MAX_AUTO || this.#response.length > DO_WS_MAX_AUTO) {
      throw new RangeError(`WebSocketRequestResponsePair: a request or response is at most ${DO_WS_MAX_AUTO} characters`);
    }
  }
  get request() { return this.#request; }
  get response() { return this.#response; }
  static {
    doWsPairOf = (p) => (p !== null && typeof p === "object" && #request in p ? [p.#request, p.#response] : null);
  }
}
setTag(WebSocketRequestResponsePair.prototype, "WebSocketRequestResponsePair");
defineGlobal("WebSocketRequestResponsePair", WebSocketRequestResponsePair);

function doWsSetAuto(pair) {
  let value = null;
  if (pair !== undefined && pair !== null) {
    value = doWsPairOf(pair);
    if (value === null) throw new TypeError("setWebSocketAutoResponse: give a WebSocketRequestResponsePair");
  }
  doWs.auto = value;
  doWsFlush(); // what was sent before goes first
  uponPromise(bindingCall("do.ws.auto", { pair: value }), undefined, (e) => reportCaughtRejection(e));
}

function doWsGetAuto() {
  const auto = doWs.auto;
  return auto === null ? null : new WebSocketRequestResponsePair(auto[0], auto[1]);
}

function doWsStamp(ws) {
  const record = doWsRecordOf(ws, "getWebSocketAutoResponseTimestamp");
  return record.at === null ? null : new Date(record.at);
}

/** A socket's event (the supervisor's call of DO_WS_EVENT): the class's handler, awaited. */
async function doWsEvent(instance, event) {
  const id = event[1] >>> 0;
  const record = doWs.records[id];
  if (record === undefined) return undefined; // closed meanwhile
  const ws = doWsOf(record);
  if (record.listen) {
    // Its own listeners, as the socket's events come on Cloudflare.
    const websocket = lazyInternals("websocket");
    if (event[0] === "message") {
      await websocket.objectReceive(ws, "message", event[2]);
      return undefined;
    }
    delete doWs.records[id];
    doWs.count--;
    await websocket.objectReceive(ws, "close", event[2] | 0, `${event[3]}`, event[4] === true);
    return undefined;
  }
  if (event[0] === "message") {
    if (typeof event[3] === "number") record.at = event[3];
    const handler = instance.webSocketMessage;
    if (typeof handler === "function") await ReflectApply(handler, instance, [ws, event[2]]);
    return undefined;
  }
  delete doWs.records[id];
  doWs.count--;
  lazyInternals("websocket").objectClosed(ws);
  const code = event[2] | 0, reason = `${event[3]}`, clean = event[4] === true;
  const onError = instance.webSocketError;
  if (!clean && code !== 1006 && typeof onError === "function") {
    await ReflectApply(onError, instance, [ws, new TypeError(`the WebSocket failed (${code}): ${reason}`)]);
    return undefined;
  }
  const handler = instance.webSocketClose;
  if (typeof handler === "function") await ReflectApply(handler, instance, [ws, code, reason, clean]);
  return undefined;
}
