// ---- websocket.js: WebSocketPair, WebSocket, CloseEvent (as workerd). -------------------
// A WebSocketPair is two entangled WebSockets (0: the client end, 1: the server end). Each end
// takes part only once accepted (accept(); idempotent): sending needs it, and what its peer sent
// before waits at it and is delivered, in order, after it (each event in a microtask of its own
// turn, never synchronously inside send/close). Within one isolate a pair needs no host.
// Returning an end in `new Response(null, { status: 101, webSocket })` (fetch.js) releases it:
// `webSocketForResponse` couples its peer to the host (websocket-link.js, socket 0), and the
// request's task then runs the link until the socket closed both ways or the client went away.
// Outbound sockets: a fetch() with `Upgrade: websocket` (fetch-outbound.js) whose handshake the
// server accepted answers a 101 Response whose webSocket (`outboundWebSocket`) is coupled to the
// gateway's socket (daemon/src/egress/websocket.rs); it too must be accept()ed, and its messages
// are pulled from then on. `new WebSocket(url, protocols?)` is the standard client: CONNECTING
// while the same handshake goes out (a subrequest, through the egress gateway), then OPEN with
// an `open` event (or an `error` and a `close` with 1006 when it fails), accepted on its own;
// `url` (ws:/wss:), `protocol` (the server's pick, which must be one offered), `binaryType`
// ("arraybuffer", or "blob"). Semantics follow workerd's src/workerd/api/web-socket.c++: send()
// after close() throws, after the peer went away it is silently dropped; close() twice is a
// no-op; close codes are 1000-4999 but 1004, 1005, 1006 and 1015; readyState is OPEN from the
// start for a pair's end and a fetch's socket (CLOSING once a close was sent or received, CLOSED
// both); no "open" event but the standard client's; url null but the standard client's. A
// message is at most 1 MiB each way (a larger send throws; a larger incoming one closes the
// socket with 1009, in the supervisor). The on<event> attributes (onopen, onmessage, onclose,
// onerror) are the events' handlers. Runtime state lives in private fields and captured
// operations only: a tenant's replaced prototypes or globals never reach it.
// A Durable Object's accepted socket (ctx.acceptWebSocket, durable-websocket.js) is a pair's end
// whose link is the object's (its record holds its tags and attachment); returning its peer in a
// 101 names it to the host (an ADOPT frame on socket 0), and the caller's runtime, given that
// 101 as an outbound socket, hands its own client's socket over to it when it returns the 101 in
// turn (SPLICE_TOKEN, SPLICE; daemon/src/supervisor/websocket.rs): the socket is then the
// object's, not any request's.

const WS_NO_PORTS = ObjectFreeze([]);

let isWebSocket; // (v) -> boolean
let webSocketForResponse; // (ws) -> a frozen link { run(task) -> Promise<void> }, or throws
let newCloseEvent; // (code, reason, wasClean) -> a trusted "close" CloseEvent
let entangleWebSockets; // (a, b) -> undefined: a pair's two ends
let outboundWebSocket; // (socket, protocol) -> a fetch()'s WebSocket, coupled to outbound socket `socket`
let objectAccept; // (ws, record, link) -> undefined: a pair's end becomes a Durable Object's
let objectSocket; // (record, link) -> a Durable Object's accepted WebSocket, made again
let objectOf; // (ws) -> its Durable Object record, or null
let objectClosed; // (ws) -> undefined: its client closed (or went away)
let objectReceive; // (ws, kind, a, b, c) -> a promise, settled once the event ("message" with its
// data, or "close" with code, reason, wasClean) was dispatched to its listeners
const WS_SPLICE_TOKEN = 4, WS_SPLICE = 5, WS_ADOPT = 6;

/** Sends what waits in `inbox` (a pair's end's, what its peer sent before a handoff) on `link`. */
function wsFlushInto(inbox, link) {
  while (wsQueueLength(inbox) > 0) {
    const item = wsQueueShift(inbox);
    if (item[0] === WS_EVENT_MESSAGE) {
      const data = item[1];
      link.message(typeof data === "string" ? data : new ByteArray(data));
    } else if (item[0] === WS_EVENT_CLOSE) {
      link.close(item[1], item[2]);
    }
  }
}

/** The handle of a WebSocket returned in a 101 that the host, not the task, carries on: `first`
 *  then `second` (host calls of the returning request's task), and on failure its client is
 *  closed with 1011. */
function wsHandOver(first) {
  return ObjectFreeze({
    __proto__: null,
    async run(task) {
      try {
        await first(task);
      } catch {
        const reason = utf8Encode("the WebSocket could not be handed over");
        const body = new ByteArray(2 + typedArrayLength(reason));
        body[0] = 1011 & 255;
        body[1] = 1011 >>> 8;
        typedArraySet(body, reason, 2);
        try { await hostCall("socket.close", wsFrame(0, -1, body), task); } catch {}
      }
    },
  });
}

class CloseEvent extends Event {
  #code = 0;
  #reason = "";
  #wasClean = false;
  constructor(type, init = undefined) {
    requireArgs(arguments.length, 1, "CloseEvent");
    super(type, init);
    const code = dictGet(init, "code");
    const reason = dictGet(init, "reason");
    const wasClean = dictGet(init, "wasClean");
    this.#code = code === undefined ? 0 : code & 0xffff;
    this.#reason = reason === undefined ? "" : toUSVString(reason);
    this.#wasClean = wasClean === undefined ? false : !!wasClean;
  }
  get code() { return this.#code; }
  get reason() { return this.#reason; }
  get wasClean() { return this.#wasClean; }
  static {
    newCloseEvent = (code, reason, wasClean) => {
      const event = new CloseEvent("close");
      event.#code = code;
      event.#reason = reason;
      event.#wasClean = wasClean;
      eventSetTrusted(event, true);
      return event;
    };
  }
}
webidlEnumerable(CloseEvent);
setTag(CloseEvent.prototype, "CloseEvent");
inspectThroughGetters(CloseEvent, ["type", "code", "reason", "wasClean"]);
defineGlobal("CloseEvent", CloseEvent);

/** A message as send() takes it: a string (USVString), or a private copy of its bytes. */
function wsMessageData(message) {
  if (isArrayBuffer(message) || typedArrayName(message) !== undefined || isDataView(message)) {
    return bytesCopy(bufferSourceBytes(message, "WebSocket.send"));
  }
  return toUSVString(message);
}

/** A standard client's URL: [the URL as `url` says it (ws:/wss:), the URL the gateway gets
 *  (http:/https:)]; a SyntaxError DOMException for anything else, as the standard says. */
function wsClientURL(input) {
  const record = parseURL(toUSVString(input), null);
  if (record === null) throw new DOMException(`WebSocket: invalid URL ${JSONStringify(toUSVString(input))}`, "SyntaxError");
  const scheme = record.scheme;
  if (scheme !== "ws" && scheme !== "wss" && scheme !== "http" && scheme !== "https") {
    throw new DOMException(`WebSocket: the URL's scheme must be ws:, wss:, http: or https:, not ${scheme}:`, "SyntaxError");
  }
  if (record.fragment !== null) throw new DOMException("WebSocket: the URL has a fragment", "SyntaxError");
  const secure = scheme === "wss" || scheme === "https";
  record.scheme = secure ? "wss" : "ws";
  const ws = serializeURL(record, false);
  record.scheme = secure ? "https" : "http";
  return [ws, serializeURL(record, false)];
}

/** The subprotocols a standard client offers: tokens, no duplicates (a SyntaxError else). */
function wsProtocols(protocols) {
  const list = [];
  if (protocols === undefined) return list;
  const push = (p) => {
    const token = toUSVString(p);
    let ok = token.length > 0;
    for (let i = 0; ok && i < token.length; i++) {
      const c = token[i];
      ok = c > " " && c < "\x7f";
      for (let j = 0; ok && j < WS_SEPARATORS.length; j++) ok = WS_SEPARATORS[j] !== c;
    }
    if (!ok) throw new DOMException(`WebSocket: ${JSONStringify(token)} is not a valid subprotocol`, "SyntaxError");
    for (let i = 0; i < list.length; i++) {
      if (list[i] === token) throw new DOMException(`WebSocket: the subprotocol ${JSONStringify(token)} is given twice`, "SyntaxError");
    }
    ObjectDefineProperty(list, list.length, { __proto__: null, value: token, writable: true, enumerable: true, configurable: true });
  };
  if (protocols === null || typeof protocols !== "object") push(protocols);
  else if (ArrayIsArray(protocols)) for (let i = 0; i < protocols.length; i++) push(protocols[i]);
  else for (const p of protocols) push(p); // the tenant's own iterable
  return list;
}
const WS_SEPARATORS = "()<>@,;:\\\"/[]?={}";

class WebSocket extends EventTarget {
  #state = 0; // 0 awaiting accept() or a response, 1 accepted, 2 released (used in a response)
  #kind = 0; // 0 an end of a pair, 1 a fetch()'s outbound socket, 2 a standard client
  #peer = null; // the other end of its pair in this isolate, or null
  #link = null; // the host link (its pair's peer went to a client, or an outbound socket)
  #inbox = newWsQueue(); // [kind, a, b, c, done?] waiting for accept() or for delivery
  #delivering = false;
  #connecting = false; // a standard client until its handshake is over
  #closedOutgoing = false;
  #closedIncoming = false;
  #outgoingAborted = false;
  #errored = false;
  #url = null;
  #protocol = "";
  #binaryType = "arraybuffer";
  #number = -1; // an outbound socket's number
  #object = null; // a Durable Object's record (durable-websocket.js), once accepted by it
  constructor(url = undefined, protocols = undefined) {
    if (url === INTERNAL) {
      super();
      return;
    }
    requireArgs(arguments.length, 1, "WebSocket");
    const urls = wsClientURL(url);
    const offered = wsProtocols(protocols);
    super();
    this.#kind = 2;
    this.#connecting = true;
    this.#url = urls[0];
    this.#connect(urls[1], offered);
  }
  accept() {
    if (!isWebSocket(this)) throw new TypeError("Illegal invocation");
    if (this.#kind === 2) throw new TypeError("accept() is for a WebSocket from a WebSocketPair or a fetch(); new WebSocket() needs none");
    if (this.#state === 2) throw new TypeError("Can't accept() WebSocket that was already used in a response.");
    if (this.#state === 1) return;
    this.#state = 1;
    if (this.#kind === 1) this.#runLink();
    this.#deliverSoon();
  }
  send(message) {
    if (!isWebSocket(this)) throw new TypeError("Illegal invocation");
    requireArgs(arguments.length, 1, "WebSocket.send");
    if (this.#connecting) throw new DOMException("WebSocket.send: the WebSocket is still CONNECTING", "InvalidStateError");
    if (this.#closedOutgoing) throw new TypeError("Can't call WebSocket send() after close().");
    if (this.#outgoingAborted || this.#state === 2) return; // the peer went away: dropped, as the spec says
    if (this.#state !== 1) {
      throw new TypeError("You must call one of accept() or state.acceptWebSocket() on this WebSocket before sending messages.");
    }
    const data = wsMessageData(message);
    const link = this.#link;
    if (link !== null) {
      link.message(data);
      return;
    }
    const peer = this.#peer;
    if (peer !== null) peer.#receive([WS_EVENT_MESSAGE, typeof data === "string" ? data : typedArrayBuffer(data)]);
  }
  close(code = undefined, reason = undefined) {
    if (!isWebSocket(this)) throw new TypeError("Illegal invocation");
    if (this.#closedOutgoing || this.#outgoingAborted || this.#state === 2) return;
    if (this.#state !== 1 && !this.#connecting) {
      throw new TypeError("You must call one of accept() or state.acceptWebSocket() on this WebSocket before sending messages.");
    }
    let c = 1005;
    if (code !== undefined) {
      c = MathTrunc(Number(code));
      if (!(c >= 1000 && c < 5000) || c === 1004 || c === 1005 || c === 1006 || c === 1015) {
        throw new TypeError(`Invalid WebSocket close code: ${code}.`);
      }
    }
    let text = "";
    if (reason !== undefined) {
      if (code === undefined) throw new TypeError("If you specify a WebSocket close reason, you must also specify a code.");
      text = toUSVString(reason);
      const n = typedArrayLength(utf8Encode(text));
      if (n > 123) throw new DOMException(`WebSocket.close: the reason is ${n} bytes of UTF-8; at most 123`, "SyntaxError");
    }
    this.#closedOutgoing = true;
    if (this.#connecting) return; // the handshake's end fails the connection (#opened)
    const link = this.#link;
    if (link !== null) {
      link.close(c, text);
      return;
    }
    const peer = this.#peer;
    if (peer !== null) peer.#receive([WS_EVENT_CLOSE, c, text, true]);
  }
  /** A Durable Object's accepted socket's attachment (durable-websocket.js keeps it). */
  serializeAttachment(value) {
    if (!isWebSocket(this)) throw new TypeError("Illegal invocation");
    requireArgs(arguments.length, 1, "WebSocket.serializeAttachment");
    const record = this.#object;
    if (record === null) throw new TypeError("serializeAttachment() is for a WebSocket accepted with ctx.acceptWebSocket()");
    record.serialize(value);
  }
  deserializeAttachment() {
    if (!isWebSocket(this)) throw new TypeError("Illegal invocation");
    const record = this.#object;
    return record === null ? null : record.deserialize();
  }
  get readyState() {
    if (!isWebSocket(this)) throw new TypeError("Illegal invocation");
    if (this.#connecting) return this.#closedOutgoing ? 2 : 0;
    if ((this.#closedIncoming && this.#closedOutgoing) || this.#errored) return 3;
    if (this.#closedIncoming || this.#closedOutgoing) return 2;
    return 1;
  }
  get url() {
    if (!isWebSocket(this)) throw new TypeError("Illegal invocation");
    return this.#url;
  }
  get protocol() {
    if (!isWebSocket(this)) throw new TypeError("Illegal invocation");
    return this.#protocol;
  }
  get extensions() {
    if (!isWebSocket(this)) throw new TypeError("Illegal invocation");
    return "";
  }
  get binaryType() {
    if (!isWebSocket(this)) throw new TypeError("Illegal invocation");
    return this.#binaryType;
  }
  set binaryType(value) {
    if (!isWebSocket(this)) throw new TypeError("Illegal invocation");
    const type = `${value}`;
    if (type === "arraybuffer" || type === "blob") this.#binaryType = type; // else ignored (WebIDL)
  }
  get onopen() { return this.#handler("open"); }
  set onopen(value) { this.#setHandler("open", value); }
  get onmessage() { return this.#handler("message"); }
  set onmessage(value) { this.#setHandler("message", value); }
  get onclose() { return this.#handler("close"); }
  set onclose(value) { this.#setHandler("close", value); }
  get onerror() { return this.#handler("error"); }
  set onerror(value) { this.#setHandler("error", value); }
  #handler(type) {
    if (!isWebSocket(this)) throw new TypeError("Illegal invocation");
    return eventHandlerGet(this, type);
  }
  #setHandler(type, value) {
    if (!isWebSocket(this)) throw new TypeError("Illegal invocation");
    eventHandlerSet(this, type, value);
  }
  /** A standard client's handshake: the `fetch` host call of a GET with `websocket` (a
   *  subrequest, through the egress gateway), never the global fetch. */
  #connect(url, offered) {
    const headers = [];
    if (offered.length > 0) {
      let joined = offered[0];
      for (let i = 1; i < offered.length; i++) joined = `${joined}, ${offered[i]}`;
      headers[0] = ["sec-websocket-protocol", joined];
    }
    const head = { __proto__: null, method: "GET", url, headers, redirect: "manual", websocket: true, call: nextFetchCall() };
    uponPromise(hostCall("fetch", frameForHost(head, null)), (reply) => this.#opened(reply, offered), (e) => {
      this.#fail(new TypeError(`WebSocket: the connection failed: ${e !== null && typeof e === "object" ? e.message : e}`));
    });
  }
  /** The handshake's answer: the socket's number and the server's subprotocol, or a failure. */
  #opened(reply, offered) {
    let answer;
    try {
      answer = hostAnswerHead(reply);
    } catch (e) {
      this.#fail(e);
      return;
    }
    const socket = answer[2];
    if (socket === -1) {
      dropLateAnswer(reply, undefined); // its body, if it streams, is let go of
      this.#fail(new TypeError(`WebSocket: the server answered ${answer[0]}, not 101 Switching Protocols`));
      return;
    }
    const protocol = answer[1];
    let known = protocol === "";
    for (let i = 0; !known && i < offered.length; i++) known = offered[i] === protocol;
    this.#link = this.#newLink(socket);
    if (!known || this.#closedOutgoing) {
      // Failed: a subprotocol never offered, or close() while CONNECTING. The server is told.
      this.#link.close(known ? 1000 : 1002, known ? "" : "the server chose a subprotocol not offered");
      this.#link.handle.begin(undefined);
      this.#fail(new TypeError(known ? "WebSocket: closed before it opened" : `WebSocket: the server chose the subprotocol ${JSONStringify(protocol)}, which was not offered`));
      return;
    }
    this.#connecting = false;
    this.#protocol = protocol;
    this.#state = 1;
    const open = new Event("open");
    eventSetTrusted(open, true);
    dispatchInternal(this, open);
    this.#runLink();
  }
  /** Fails a standard client's connection: an "error" event, then a "close" with 1006. */
  #fail(error) {
    this.#connecting = false;
    this.#closedOutgoing = true;
    this.#outgoingAborted = true;
    this.#state = 1;
    this.#receive([WS_EVENT_ERROR, error]);
  }
  #newLink(socket) {
    return newHostLink(socket, (item) => this.#receive(item), () => this.#state === 1, () => {
      this.#outgoingAborted = true;
    });
  }
  /** Pulls an outbound socket's messages, in the running request's task. */
  #runLink() {
    const link = this.#link;
    if (link !== null) uponPromise(link.handle.run(undefined), undefined, noop);
  }
  /** Queues an event for this end; delivered once it is accepted. */
  #receive(item) {
    wsQueuePush(this.#inbox, item);
    if (this.#state === 1) this.#deliverSoon();
  }
  /** Delivers the inbox in later microtasks, one event per turn, while accepted. */
  async #deliverSoon() {
    if (this.#delivering) return;
    this.#delivering = true;
    try {
      while (this.#state === 1 && wsQueueLength(this.#inbox) > 0) {
        await undefined; // never inside send()/close(), as a socket's events come from the event loop
        if (wsQueueLength(this.#inbox) === 0) break;
        this.#dispatch(wsQueueShift(this.#inbox));
      }
    } finally {
      this.#delivering = false;
    }
  }
  #dispatch(item) {
    const kind = item[0];
    if (kind === WS_EVENT_MESSAGE) {
      try {
        let data = item[1];
        if (typeof data !== "string" && this.#binaryType === "blob") data = newBlobFromBytes(new ByteArray(data), "");
        dispatchInternal(this, newMessageEvent(data, WS_NO_PORTS));
      } finally {
        if (item[4] !== undefined) item[4]();
      }
    } else if (kind === WS_EVENT_CLOSE) {
      this.#closedIncoming = true;
      // A standard client's close is answered by the host (the relay): it is over both ways.
      if (this.#kind === 2) this.#closedOutgoing = true;
      try {
        dispatchInternal(this, newCloseEvent(item[1], item[2], item[3]));
      } finally {
        if (item[4] !== undefined) item[4]();
      }
    } else {
      this.#closedIncoming = true;
      this.#errored = true;
      const error = item[1];
      try {
        const event = new ErrorEvent("error", { message: error.message, error });
        eventSetTrusted(event, true);
        dispatchInternal(this, event);
        // A standard client's failure is followed by its close (1006), as the standard says.
        if (this.#kind === 2) dispatchInternal(this, newCloseEvent(1006, "", false));
      } finally {
        if (item[4] !== undefined) item[4]();
      }
    }
  }
  static {
    isWebSocket = (v) => v !== null && typeof v === "object" && #state in v;
    addPlatformBrand(isWebSocket);
    entangleWebSockets = (a, b) => {
      a.#peer = b;
      b.#peer = a;
    };
    outboundWebSocket = (socket, protocol) => {
      const ws = new WebSocket(INTERNAL);
      ws.#kind = 1;
      ws.#protocol = protocol;
      ws.#number = socket;
      ws.#link = ws.#newLink(socket);
      return ws;
    };
    objectAccept = (ws, record, link) => {
      if (!isWebSocket(ws) || ws.#kind !== 0 || ws.#peer === null) throw new TypeError("acceptWebSocket: give the server end of a new WebSocketPair");
      if (ws.#object !== null) throw new TypeError("acceptWebSocket: this WebSocket was accepted already");
      if (ws.#state !== 0) throw new TypeError("acceptWebSocket: this WebSocket was accept()ed or used in a response already");
      ws.#object = record;
      ws.#link = link;
      ws.#state = 1;
    };
    objectSocket = (record, link) => {
      const ws = new WebSocket(INTERNAL);
      ws.#object = record;
      ws.#link = link;
      ws.#state = 1;
      return ws;
    };
    objectOf = (ws) => (isWebSocket(ws) ? ws.#object : null);
    objectClosed = (ws) => {
      ws.#closedIncoming = true;
      ws.#closedOutgoing = true;
    };
    objectReceive = (ws, kind, a, b, c) => new PromiseCtor((resolve) => {
      // Literal items: no index set walks a prototype the tenant may have given setters.
      if (kind === "message") ws.#receive([WS_EVENT_MESSAGE, a, undefined, undefined, resolve]);
      else ws.#receive([WS_EVENT_CLOSE, a, b, c, resolve]);
    });
    webSocketForResponse = (ws) => {
      if (!isWebSocket(ws)) throw new TypeError("Response: webSocket must be a WebSocket");
      if (ws.#kind === 1 && ws.#state === 0 && ws.#number > 0) {
        // A Durable Object's 101, passed on: the client's socket goes to the object's.
        const number = ws.#number;
        ws.#state = 2;
        return wsHandOver(async (task) => {
          const token = await hostCall("socket.send", wsFrame(number, WS_SPLICE_TOKEN, null), task);
          await hostCall("socket.send", wsFrame(0, WS_SPLICE, token), task);
        });
      }
      if (ws.#kind !== 0) throw new TypeError("Response: only a WebSocketPair's end can be returned in a Response (an outbound WebSocket cannot, yet)");
      if (ws.#state === 1) throw new TypeError("Can't return WebSocket in a Response after calling accept().");
      const server = ws.#peer;
      if (ws.#state === 2 || server === null) throw new TypeError("Can't return WebSocket that was already used in a response.");
      ws.#state = 2;
      ws.#peer = null;
      server.#peer = null;
      let sent = null; // what must reach the host before the ADOPT
      if (server.#object === null && server.#state === 1 && workerConfig.object !== null) {
        // A Durable Object's accept()ed socket: the supervisor holds it as it holds one accepted
        // with ctx.acceptWebSocket, and each of its events is a call of the object's own,
        // dispatched to its listeners (durable-websocket.js), so it outlives the request that
        // answered it. What the server end sent before goes out first, and its LISTEN entry
        // reaches the host before the ADOPT that names it.
        const durable = lazyInternals("durable");
        const listening = durable.listen(server);
        server.#object = listening[0];
        server.#link = listening[1];
        wsFlushInto(ws.#inbox, listening[1]);
        sent = durable.sent();
      }
      if (server.#object !== null) {
        // Accepted by a Durable Object: the host learns which of its sockets this 101 carries.
        const id = server.#object.id;
        const n = new ByteArray(4);
        n[0] = id & 0xff; n[1] = (id >>> 8) & 0xff; n[2] = (id >>> 16) & 0xff; n[3] = (id >>> 24) & 0xff;
        return wsHandOver(async (task) => {
          if (sent !== null) await sent;
          await hostCall("socket.send", wsFrame(0, WS_ADOPT, n), task);
        });
      }
      const link = server.#newLink(0);
      server.#link = link;
      // What the server end sent before the handoff waits at this end: it goes out first.
      wsFlushInto(ws.#inbox, link);
      return link.handle;
    };
  }
}
webidlEnumerable(WebSocket);
// Written out, not looped: a lazy part's top level iterates nothing (tenant code may have
// replaced the array iterator by the time it is built).
webidlConstant(WebSocket, "READY_STATE_CONNECTING", 0);
webidlConstant(WebSocket, "CONNECTING", 0);
webidlConstant(WebSocket, "READY_STATE_OPEN", 1);
webidlConstant(WebSocket, "OPEN", 1);
webidlConstant(WebSocket, "READY_STATE_CLOSING", 2);
webidlConstant(WebSocket, "CLOSING", 2);
webidlConstant(WebSocket, "READY_STATE_CLOSED", 3);
webidlConstant(WebSocket, "CLOSED", 3);
setTag(WebSocket.prototype, "WebSocket");
inspectThroughGetters(WebSocket, ["readyState", "url", "protocol", "extensions", "binaryType"]);
defineGlobal("WebSocket", WebSocket);

class WebSocketPair {
  #first;
  #second;
  constructor() {
    const client = new WebSocket(INTERNAL);
    const server = new WebSocket(INTERNAL);
    entangleWebSockets(client, server);
    this.#first = client;
    this.#second = server;
    ObjectDefineProperty(this, 0, { __proto__: null, value: client, writable: false, enumerable: true, configurable: false });
    ObjectDefineProperty(this, 1, { __proto__: null, value: server, writable: false, enumerable: true, configurable: false });
  }
  *entries() {
    if (!(#first in this)) throw new TypeError("Illegal invocation");
    yield this.#first;
    yield this.#second;
  }
  static {
    addPlatformBrand((v) => v !== null && typeof v === "object" && #first in v);
  }
}
ObjectDefineProperty(WebSocketPair.prototype, SymbolIterator, { __proto__: null, value: WebSocketPair.prototype.entries, writable: true, enumerable: false, configurable: true });
webidlEnumerable(WebSocketPair);
setTag(WebSocketPair.prototype, "WebSocketPair");
defineGlobal("WebSocketPair", WebSocketPair);
// Eager code (fetch.js's Response) reaches these through lazyInternals("websocket"): this part is
// built on first use (isolate/src/lazy/mod.rs), which a Response carrying a webSocket implies.
shareInternals("websocket", ObjectFreeze({
  __proto__: null, isWebSocket, webSocketForResponse, outboundWebSocket, objectAccept, objectSocket, objectOf, objectClosed,
  objectReceive,
}));
