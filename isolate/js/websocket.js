// ---- websocket.js: WebSocketPair, WebSocket, CloseEvent (server-side WebSockets, as workerd). ----
// A WebSocketPair is two entangled WebSockets (0: the client end, 1: the server end). Each end
// takes part only once accepted (accept(); idempotent): sending needs it, and what its peer sent
// before waits at it and is delivered, in order, after it (each event in a microtask of its own
// turn, never synchronously inside send/close). Within one isolate a pair needs no host.
// Returning an end in `new Response(null, { status: 101, webSocket })` (fetch.js) releases it:
// `webSocketForResponse` couples its peer to the host, and the request's task then runs the link
// (`run(task)`: `socket.recv` pulls the client's next message or close, `socket.send` and
// `socket.close` carry the server end's, one at a time: backpressure) until the socket closed
// both ways or the client went away. Semantics follow workerd's src/workerd/api/web-socket.c++:
// send() after close() throws, after the peer went away it is silently dropped; close() twice is
// a no-op; close codes are 1000-4999 but 1004, 1005, 1006 and 1015; readyState is OPEN from the
// start (CLOSING once a close was sent or received, CLOSED both); no "open" event for an
// accepted socket; url null, protocol and extensions "". `new WebSocket(url)` (an outbound
// client) is not supported yet and says so. A message to the client is at most 1 MiB (Workers'
// limit; a larger send throws), a client's larger one closes the socket with 1009 (the
// supervisor, daemon/src/api/websocket.rs). Runtime state lives in private fields and captured
// operations only: a tenant's replaced prototypes or globals never reach it.

const WS_MAX_MESSAGE = 1 << 20;
// Messages (and their bytes) the server end may have waiting for the host to take them: a
// socket's sends are answered once the supervisor queued them, so these fill only when the
// client reads slower than the handler sends.
const WS_MAX_QUEUED = 1024;
const WS_MAX_QUEUED_BYTES = 16 << 20;
// Frames of the socket.* host calls (daemon/src/supervisor/websocket.rs has the same).
const WS_TEXT = 1, WS_BINARY = 2, WS_CLOSE = 3;
// Inbox items.
const WS_EVENT_MESSAGE = 0, WS_EVENT_CLOSE = 1, WS_EVENT_ERROR = 2;
const WS_NO_PORTS = ObjectFreeze([]);
const WS_DISCONNECTED = "WebSocket disconnected without sending Close frame.";

let isWebSocket; // (v) -> boolean
let webSocketForResponse; // (ws) -> a frozen link { run(task) -> Promise<void> }, or throws
let newCloseEvent; // (code, reason, wasClean) -> a trusted "close" CloseEvent
let entangleWebSockets; // (a, b) -> undefined: a pair's two ends

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

/** A FIFO walked by index (never Array.prototype methods). */
const newWsQueue = () => ({ __proto__: null, items: [], head: 0, bytes: 0 });
function wsQueuePush(queue, item) {
  ObjectDefineProperty(queue.items, queue.items.length, { __proto__: null, value: item, writable: true, enumerable: true, configurable: true });
}
function wsQueueShift(queue) {
  const item = queue.items[queue.head];
  queue.items[queue.head++] = undefined;
  if (queue.head === queue.items.length) {
    queue.items = [];
    queue.head = 0;
  }
  return item;
}
const wsQueueLength = (queue) => queue.items.length - queue.head;

/** A message as send() takes it: a string (USVString), or a private copy of its bytes. */
function wsMessageData(message) {
  if (isArrayBuffer(message) || typedArrayName(message) !== undefined || isDataView(message)) {
    return bytesCopy(bufferSourceBytes(message, "WebSocket.send"));
  }
  return toUSVString(message);
}

/** A frame of a socket.* host call: `kind`, then `bytes`. */
function wsFrame(kind, bytes) {
  const out = new ByteArray(1 + typedArrayLength(bytes));
  out[0] = kind;
  typedArraySet(out, bytes, 1);
  return out;
}

/** The close frame: u16 LE code and the reason's UTF-8, or nothing for no code (1005). */
function wsCloseFrame(code, reason) {
  if (code === 1005) return new ByteArray(0);
  const text = utf8Encode(reason);
  const out = new ByteArray(2 + typedArrayLength(text));
  out[0] = code & 255;
  out[1] = code >>> 8;
  typedArraySet(out, text, 2);
  return out;
}

class WebSocket extends EventTarget {
  #state = 0; // 0 awaiting accept() or a response, 1 accepted, 2 released (used in a response)
  #peer = null; // the other end of its pair in this isolate, or null
  #link = null; // the host link once its peer went to a client
  #inbox = newWsQueue(); // [kind, a, b, c] waiting for accept() or for delivery
  #delivering = false;
  #closedOutgoing = false;
  #closedIncoming = false;
  #outgoingAborted = false;
  #errored = false;
  constructor(url = undefined, protocols = undefined) {
    if (url !== INTERNAL) {
      throw new TypeError("new WebSocket(url) (an outbound WebSocket client) is not supported yet; " +
        "a worker accepts WebSockets with new WebSocketPair() and a 101 Response's webSocket");
    }
    super();
  }
  accept() {
    if (!isWebSocket(this)) throw new TypeError("Illegal invocation");
    if (this.#state === 2) throw new TypeError("Can't accept() WebSocket that was already used in a response.");
    if (this.#state === 1) return;
    this.#state = 1;
    this.#deliverSoon();
  }
  send(message) {
    if (!isWebSocket(this)) throw new TypeError("Illegal invocation");
    requireArgs(arguments.length, 1, "WebSocket.send");
    if (this.#closedOutgoing) throw new TypeError("Can't call WebSocket send() after close().");
    if (this.#outgoingAborted || this.#state === 2) return; // the peer went away: dropped, as the spec says
    if (this.#state !== 1) {
      throw new TypeError("You must call one of accept() or state.acceptWebSocket() on this WebSocket before sending messages.");
    }
    const data = wsMessageData(message);
    const link = this.#link;
    if (link !== null) {
      const bytes = typeof data === "string" ? utf8Encode(data) : data;
      const n = typedArrayLength(bytes);
      if (n > WS_MAX_MESSAGE) {
        throw new RangeError(`WebSocket.send: the message is ${n} bytes; a WebSocket message is at most ${WS_MAX_MESSAGE} bytes`);
      }
      link.enqueue(wsFrame(typeof data === "string" ? WS_TEXT : WS_BINARY, bytes), false);
      return;
    }
    const peer = this.#peer;
    if (peer !== null) peer.#receive([WS_EVENT_MESSAGE, typeof data === "string" ? data : typedArrayBuffer(data)]);
  }
  close(code = undefined, reason = undefined) {
    if (!isWebSocket(this)) throw new TypeError("Illegal invocation");
    if (this.#closedOutgoing || this.#outgoingAborted || this.#state === 2) return;
    if (this.#state !== 1) {
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
    const link = this.#link;
    if (link !== null) {
      link.enqueue(wsCloseFrame(c, text), true);
      return;
    }
    const peer = this.#peer;
    if (peer !== null) peer.#receive([WS_EVENT_CLOSE, c, text, true]);
  }
  get readyState() {
    if (!isWebSocket(this)) throw new TypeError("Illegal invocation");
    if ((this.#closedIncoming && this.#closedOutgoing) || this.#errored) return 3;
    if (this.#closedIncoming || this.#closedOutgoing) return 2;
    return 1;
  }
  get url() {
    if (!isWebSocket(this)) throw new TypeError("Illegal invocation");
    return null;
  }
  get protocol() {
    if (!isWebSocket(this)) throw new TypeError("Illegal invocation");
    return "";
  }
  get extensions() {
    if (!isWebSocket(this)) throw new TypeError("Illegal invocation");
    return "";
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
      dispatchInternal(this, newMessageEvent(item[1], WS_NO_PORTS));
    } else if (kind === WS_EVENT_CLOSE) {
      this.#closedIncoming = true;
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
    webSocketForResponse = (ws) => {
      if (!isWebSocket(ws)) throw new TypeError("Response: webSocket must be a WebSocket");
      if (ws.#state === 1) throw new TypeError("Can't return WebSocket in a Response after calling accept().");
      const server = ws.#peer;
      if (ws.#state === 2 || server === null) throw new TypeError("Can't return WebSocket that was already used in a response.");
      ws.#state = 2;
      ws.#peer = null;
      server.#peer = null;
      const link = newHostLink((item) => server.#receive(item), () => server.#state === 1, () => {
        server.#outgoingAborted = true;
      });
      server.#link = link;
      // What the server end sent before the handoff waits at this end: it goes out first.
      while (wsQueueLength(ws.#inbox) > 0) {
        const item = wsQueueShift(ws.#inbox);
        if (item[0] === WS_EVENT_MESSAGE) {
          const data = item[1];
          const text = typeof data === "string";
          link.enqueue(wsFrame(text ? WS_TEXT : WS_BINARY, text ? utf8Encode(data) : new ByteArray(data)), false);
        } else if (item[0] === WS_EVENT_CLOSE) {
          link.enqueue(wsCloseFrame(item[1], item[2]), true);
        }
      }
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
inspectThroughGetters(WebSocket, ["readyState", "url", "protocol", "extensions"]);
defineGlobal("WebSocket", WebSocket);

/** The host side of a server end whose peer went to a client: its outgoing frames (sent one
 *  `socket.send`/`socket.close` at a time) and, once `run(task)`, the loop that pulls the
 *  client's messages with `socket.recv`. `deliver(item)` hands an event to the server end,
 *  `accepted()` says whether it was accepted, `stopped(true)` that the client is gone. */
function newHostLink(deliver, accepted, stopped) {
  const out = newWsQueue();
  let lastEvent; // resolves once the client's close (or the failure) was dispatched
  let task = -1; // known once run() is called; frames wait until then
  let pumping = false;
  let closing = false; // a close frame is queued: nothing more goes out after it
  let aborted = false;
  let idle = null; // resolves when the pump stops
  let idleResolve = null;
  const pump = async () => {
    pumping = true;
    try {
      while (wsQueueLength(out) > 0) {
        const item = wsQueueShift(out);
        out.bytes -= typedArrayLength(item[1]);
        try {
          await hostCall(item[0] ? "socket.close" : "socket.send", item[1], task);
        } catch {
          aborted = true; // the client went away: what is left is dropped
          out.items = [];
          out.head = 0;
          out.bytes = 0;
          stopped(true);
        }
      }
    } finally {
      pumping = false;
      if (idleResolve !== null) {
        const resolve = idleResolve;
        idleResolve = null;
        idle = null;
        resolve();
      }
    }
  };
  const link = {
    __proto__: null,
    enqueue(frame, isClose) {
      if (aborted || closing) return;
      const n = typedArrayLength(frame);
      if (wsQueueLength(out) >= WS_MAX_QUEUED || out.bytes + n > WS_MAX_QUEUED_BYTES) {
        throw new RangeError(`WebSocket.send: more than ${WS_MAX_QUEUED} messages or ${WS_MAX_QUEUED_BYTES} bytes wait to be sent to the client`);
      }
      if (isClose) closing = true;
      out.bytes += n;
      wsQueuePush(out, [isClose, frame]);
      if (task !== -1 && !pumping) pump();
    },
    handle: ObjectFreeze({
      __proto__: null,
      // Runs until the client's close (or its going away) was delivered and the server end's
      // frames went out; the request's task stays alive meanwhile (within its wall limit).
      async run(taskId) {
        task = taskId;
        if (!pumping && wsQueueLength(out) > 0) pump();
        for (;;) {
          let frame;
          try {
            frame = await hostCall("socket.recv", undefined, task);
          } catch (e) {
            const error = new TypeError(`the WebSocket failed: ${e !== null && typeof e === "object" ? e.message : e}`);
            lastEvent = new TimerPromise((resolve) => deliver([WS_EVENT_ERROR, error, undefined, undefined, resolve]));
            aborted = true;
            stopped(true);
            break;
          }
          const n = typedArrayLength(frame);
          const kind = n > 0 ? frame[0] : 0;
          if (kind === WS_TEXT) {
            deliver([WS_EVENT_MESSAGE, utf8Decode(bytesView(frame, 1, n))]);
          } else if (kind === WS_BINARY) {
            deliver([WS_EVENT_MESSAGE, typedArrayBuffer(bytesCopy(frame, 1, n))]);
          } else {
            // [WS_CLOSE, clean, code u16 LE, reason]; anything else is the client gone.
            const ok = kind === WS_CLOSE && n >= 4;
            const clean = ok && frame[1] === 1;
            const code = ok ? frame[2] | (frame[3] << 8) : 1006;
            const reason = ok ? utf8Decode(bytesView(frame, 4, n)) : WS_DISCONNECTED;
            lastEvent = new TimerPromise((resolve) => deliver([WS_EVENT_CLOSE, code, reason, clean, resolve]));
            if (!clean) {
              aborted = true;
              stopped(true);
            }
            break;
          }
        }
        // The close event's listener may answer with close(): wait for its dispatch (unless the
        // server end was never accepted, which then never sees it), then for what it queued.
        if (accepted()) await lastEvent;
        while (pumping) {
          if (idle === null) idle = new TimerPromise((resolve) => { idleResolve = resolve; });
          await idle;
        }
      },
    }),
  };
  return link;
}

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
shareInternals("websocket", ObjectFreeze({ __proto__: null, isWebSocket, webSocketForResponse }));
