// ---- websocket-link.js: a WebSocket's road to the host (the socket.* host calls). ----------
// One link per WebSocket whose other side is outside the isolate: the server end of a pair whose
// client end went to a client in a 101 Response (socket 0, the request's own), or an outbound
// socket (a fetch() upgrade or new WebSocket(url): the number the gateway's answer gave,
// daemon/src/egress/websocket.rs). Every socket.* payload starts with that number (u32 LE).
// Outgoing frames are sent one `socket.send`/`socket.close` at a time, in order, each answered
// once the supervisor queued it (backpressure); incoming ones are pulled with `socket.recv` by
// `run(task)` until the peer's close or its going away. Frames (daemon/src/supervisor/websocket.rs
// has the same): a message is its kind (WS_TEXT, WS_BINARY) then its bytes; the peer's close is
// WS_CLOSE, clean (0/1), code (u16 LE), reason; our close is code (u16 LE) and reason, or nothing.
// Runtime state lives in closures and captured operations only (bytesView, bytesCopy,
// typedArraySet, typedArrayLength): a tenant's replaced prototypes or globals never reach it.

const WS_MAX_MESSAGE = 1 << 20;
// Messages (and their bytes) a socket may have waiting for the host to take them: its sends are
// answered once the supervisor queued them, so these fill only when the peer reads slower than
// the worker sends.
const WS_MAX_QUEUED = 1024;
const WS_MAX_QUEUED_BYTES = 16 << 20;
const WS_TEXT = 1, WS_BINARY = 2, WS_CLOSE = 3;
// Inbox items of a WebSocket: [kind, a, b, c, done?].
const WS_EVENT_MESSAGE = 0, WS_EVENT_CLOSE = 1, WS_EVENT_ERROR = 2;
const WS_DISCONNECTED = "WebSocket disconnected without sending Close frame.";

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

/** A socket.* payload: socket `id` (u32 LE), then `kind` (unless -1), then `bytes` (or none). */
function wsFrame(id, kind, bytes) {
  const head = kind === -1 ? 4 : 5;
  const out = new ByteArray(head + (bytes === null ? 0 : typedArrayLength(bytes)));
  out[0] = id & 0xff; out[1] = (id >>> 8) & 0xff; out[2] = (id >>> 16) & 0xff; out[3] = (id >>> 24) & 0xff;
  if (kind !== -1) out[4] = kind;
  if (bytes !== null) typedArraySet(out, bytes, head);
  return out;
}

/** The close payload: u16 LE code and the reason's UTF-8, or nothing for no code (1005). */
function wsCloseFrame(id, code, reason) {
  if (code === 1005) return wsFrame(id, -1, null);
  const text = utf8Encode(reason);
  const body = new ByteArray(2 + typedArrayLength(text));
  body[0] = code & 255;
  body[1] = code >>> 8;
  typedArraySet(body, text, 2);
  return wsFrame(id, -1, body);
}

/** The link of socket `id`: its outgoing frames and, once `run(task)` (task undefined: the one
 *  running, an outbound socket's), the loop that pulls the peer's with `socket.recv`.
 *  `deliver(item)` hands an event to the WebSocket, `accepted()` says whether it was accepted,
 *  `stopped()` that the peer is gone (what is left to send is dropped). */
function newHostLink(id, deliver, accepted, stopped) {
  const out = newWsQueue();
  const recvFrame = wsFrame(id, -1, null);
  let lastEvent; // resolves once the peer's close (or the failure) was dispatched
  let task; // known once run() is called; frames wait until then
  let started = false;
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
          aborted = true; // the peer went away: what is left is dropped
          out.items = [];
          out.head = 0;
          out.bytes = 0;
          stopped();
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
  const enqueue = (frame, isClose) => {
    if (aborted || closing) return;
    const n = typedArrayLength(frame);
    if (wsQueueLength(out) >= WS_MAX_QUEUED || out.bytes + n > WS_MAX_QUEUED_BYTES) {
      throw new RangeError(`WebSocket.send: more than ${WS_MAX_QUEUED} messages or ${WS_MAX_QUEUED_BYTES} bytes wait to be sent`);
    }
    if (isClose) closing = true;
    out.bytes += n;
    wsQueuePush(out, [isClose, frame]);
    if (started && !pumping) pump();
  };
  // Sends what is queued, and what will be, in task `taskId` (undefined: the one running).
  const begin = (taskId) => {
    task = taskId;
    started = true;
    if (!pumping && wsQueueLength(out) > 0) pump();
  };
  return {
    __proto__: null,
    /** Queues a message (a string, or bytes of at most WS_MAX_MESSAGE). */
    message(data) {
      const text = typeof data === "string";
      const bytes = text ? utf8Encode(data) : data;
      const n = typedArrayLength(bytes);
      if (n > WS_MAX_MESSAGE) {
        throw new RangeError(`WebSocket.send: the message is ${n} bytes; a WebSocket message is at most ${WS_MAX_MESSAGE} bytes`);
      }
      enqueue(wsFrame(id, text ? WS_TEXT : WS_BINARY, bytes), false);
    },
    /** Queues the close frame; nothing goes out after it. */
    close(code, reason) {
      enqueue(wsCloseFrame(id, code, reason), true);
    },
    handle: ObjectFreeze({
      __proto__: null,
      // Runs until the peer's close (or its going away) was delivered and the frames queued
      // went out; the request's task stays alive meanwhile if it waits for this (within its
      // wall limit).
      begin,
      async run(taskId) {
        begin(taskId);
        for (;;) {
          let frame;
          try {
            frame = await hostCall("socket.recv", recvFrame, task);
          } catch (e) {
            const error = new TypeError(`the WebSocket failed: ${e !== null && typeof e === "object" ? e.message : e}`);
            lastEvent = new TimerPromise((resolve) => deliver([WS_EVENT_ERROR, error, undefined, undefined, resolve]));
            aborted = true;
            stopped();
            break;
          }
          const n = typedArrayLength(frame);
          const kind = n > 0 ? frame[0] : 0;
          if (kind === WS_TEXT) {
            deliver([WS_EVENT_MESSAGE, utf8Decode(bytesView(frame, 1, n))]);
          } else if (kind === WS_BINARY) {
            deliver([WS_EVENT_MESSAGE, typedArrayBuffer(bytesCopy(frame, 1, n))]);
          } else {
            // [WS_CLOSE, clean, code u16 LE, reason]; anything else is the peer gone.
            const ok = kind === WS_CLOSE && n >= 4;
            const clean = ok && frame[1] === 1;
            const code = ok ? frame[2] | (frame[3] << 8) : 1006;
            const reason = ok ? utf8Decode(bytesView(frame, 4, n)) : WS_DISCONNECTED;
            lastEvent = new TimerPromise((resolve) => deliver([WS_EVENT_CLOSE, code, reason, clean, resolve]));
            if (!clean) {
              aborted = true;
              stopped();
            }
            break;
          }
        }
        // The close event's listener may answer with close(): wait for its dispatch (unless the
        // socket was never accepted, which then never sees it), then for what it queued.
        if (accepted()) await lastEvent;
        while (pumping) {
          if (idle === null) idle = new TimerPromise((resolve) => { idleResolve = resolve; });
          await idle;
        }
      },
    }),
  };
}
