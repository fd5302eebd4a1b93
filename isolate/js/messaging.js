// ---- messaging.js: channel messaging: MessageChannel, MessagePort, MessageEvent. ---------------
// HTML's channel messaging within one isolate (workerd has it too). postMessage clones the message
// at once (clone.js; a transfer list may move ArrayBuffers and MessagePorts, anything else is a
// DataCloneError) and queues it at the entangled port; each message is dispatched there as a task
// of its own (a 0 ms internal timer of the posting request, so it runs in that request's context
// and dies with it), once the port's queue is enabled: start(), or setting onmessage (as HTML
// says; workerd also delivers to addEventListener listeners without start()). close() disentangles
// both ports; what either then posts goes nowhere.

let isMessagePort; // (v) -> boolean
let newMessageEvent; // (data, ports: frozen array) -> a trusted "message" MessageEvent
let newMessageChannelPorts; // () -> [port1, port2], entangled

/** A frozen array of the MessagePorts of `ports` (a WebIDL sequence<MessagePort>). */
function frozenPorts(ports, what) {
  const out = [];
  if (ports !== undefined) {
    if (ports === null || typeof ports !== "object" || typeof ports[SymbolIterator] !== "function") {
      throw new TypeError(`${what}: ports must be a sequence of MessagePorts`);
    }
    for (const port of ports) {
      if (!isMessagePort(port)) throw new TypeError(`${what}: ports must hold MessagePorts only`);
      ObjectDefineProperty(out, out.length, { __proto__: null, value: port, writable: true, enumerable: true, configurable: true });
    }
  }
  return ObjectFreeze(out);
}

class MessageEvent extends Event {
  #data = null;
  #origin = "";
  #lastEventId = "";
  #source = null;
  #ports;
  constructor(type, init = undefined) {
    requireArgs(arguments.length, 1, "MessageEvent");
    super(type, init);
    // Dictionary members in lexicographic order, after the inherited ones.
    const data = dictGet(init, "data");
    const lastEventId = dictGet(init, "lastEventId");
    const origin = dictGet(init, "origin");
    const ports = dictGet(init, "ports");
    const source = dictGet(init, "source");
    this.#data = data === undefined ? null : data;
    this.#lastEventId = lastEventId === undefined ? "" : `${lastEventId}`;
    this.#origin = origin === undefined ? "" : `${origin}`;
    this.#ports = frozenPorts(ports, "MessageEvent");
    if (source !== undefined && source !== null && !isMessagePort(source)) {
      throw new TypeError("MessageEvent: source must be a MessagePort or null");
    }
    this.#source = source ?? null;
  }
  get data() { return this.#data; }
  get origin() { return this.#origin; }
  get lastEventId() { return this.#lastEventId; }
  get source() { return this.#source; }
  get ports() { return this.#ports; }
  initMessageEvent(type, bubbles = false, cancelable = false, data = null, origin = "", lastEventId = "", source = null, ports = []) {
    requireArgs(arguments.length, 1, "MessageEvent.initMessageEvent");
    if (eventDispatching(this)) return;
    ReflectApply(EventInitEvent, this, [type, bubbles, cancelable]);
    if (source !== null && !isMessagePort(source)) throw new TypeError("MessageEvent.initMessageEvent: source must be a MessagePort or null");
    this.#data = data;
    this.#origin = `${origin}`;
    this.#lastEventId = `${lastEventId}`;
    this.#source = source;
    this.#ports = frozenPorts(ports, "MessageEvent.initMessageEvent");
  }
  static {
    newMessageEvent = (data, ports) => {
      const event = new MessageEvent("message");
      event.#data = data;
      event.#ports = ports;
      eventSetTrusted(event, true);
      return event;
    };
  }
}
webidlEnumerable(MessageEvent);
setTag(MessageEvent.prototype, "MessageEvent");
inspectThroughGetters(MessageEvent, ["type", "data", "origin", "lastEventId", "ports"]);
defineGlobal("MessageEvent", MessageEvent);

/** A FIFO of messages [data, ports] walked by index (never Array.prototype methods). */
const newMessageQueue = () => ({ __proto__: null, items: [], head: 0 });

class MessagePort extends EventTarget {
  #peer = null; // the entangled port, or null
  #queue = newMessageQueue(); // messages waiting to be dispatched at this port
  #enabled = false; // start(), or onmessage set
  #detached = false; // closed, or transferred to another port
  #timer = 0; // the delivery timer last armed (0: none)
  #timerAt = -1; // hostNow() when it was armed
  constructor(key) {
    if (key !== INTERNAL) throw new TypeError("Illegal constructor");
    super();
  }
  postMessage(message, options = undefined) {
    requireArgs(arguments.length, 1, "MessagePort.postMessage");
    const target = this.#peer;
    // The overloads: postMessage(message, transfer) and postMessage(message, { transfer }).
    const transfer = options !== null && typeof options === "object" && typeof options[SymbolIterator] === "function"
      ? options
      : dictGet(options, "transfer");
    const list = transferList(transfer, "MessagePort.postMessage");
    let doomed = false;
    for (let i = 0; i < list.length; i++) {
      if (list[i] === this) throw new DOMException("MessagePort.postMessage: a port cannot transfer itself", "DataCloneError");
      if (list[i] === target) doomed = true; // HTML: the message is dropped, the transfer happens
    }
    const cloned = cloneWithTransfer(message, list);
    if (target === null || doomed) return;
    const queue = target.#queue;
    ObjectDefineProperty(queue.items, queue.items.length, { __proto__: null, value: [cloned[0], ObjectFreeze(cloned[1])], writable: true, enumerable: true, configurable: true });
    if (target.#enabled) target.#schedule();
  }
  start() {
    if (this.#enabled) return;
    this.#enabled = true;
    if (this.#queue.head < this.#queue.items.length) this.#schedule();
  }
  close() {
    this.#detached = true;
    this.#queue = newMessageQueue();
    const peer = this.#peer;
    this.#peer = null;
    if (peer !== null) peer.#peer = null;
  }
  get onmessage() {
    if (!isMessagePort(this)) throw new TypeError("Illegal invocation");
    return eventHandlerGet(this, "message");
  }
  set onmessage(value) {
    if (!isMessagePort(this)) throw new TypeError("Illegal invocation");
    eventHandlerSet(this, "message", value);
    this.start();
  }
  get onmessageerror() {
    if (!isMessagePort(this)) throw new TypeError("Illegal invocation");
    return eventHandlerGet(this, "messageerror");
  }
  set onmessageerror(value) {
    if (!isMessagePort(this)) throw new TypeError("Illegal invocation");
    eventHandlerSet(this, "messageerror", value);
  }
  /** Arms a delivery timer unless one armed at this same instant is pending. One the host
   *  dropped (its request ended) is replaced at the next post of a later instant; one fired
   *  twice finds nothing to deliver. */
  #schedule() {
    const now = hostNow();
    if (this.#timer !== 0 && this.#timerAt === now) return;
    this.#timerAt = now;
    this.#timer = armInternalTimer(() => this.#deliver(), 0);
  }
  /** Dispatches the first message waiting here, and arms the next delivery if more wait. */
  #deliver() {
    this.#timer = 0;
    const queue = this.#queue;
    if (!this.#enabled || queue.head >= queue.items.length) return;
    const message = queue.items[queue.head];
    queue.items[queue.head++] = undefined;
    if (queue.head === queue.items.length) this.#queue = newMessageQueue();
    else {
      try {
        this.#schedule();
      } catch {
        // the request's timer quota is spent: the rest waits for the next post
      }
    }
    dispatchInternal(this, newMessageEvent(message[0], message[1]));
  }
  static {
    isMessagePort = (v) => v !== null && typeof v === "object" && #peer in v;
    const entangle = (a, b) => {
      a.#peer = b;
      b.#peer = a;
    };
    newMessageChannelPorts = () => {
      const a = new MessagePort(INTERNAL);
      const b = new MessagePort(INTERNAL);
      entangle(a, b);
      return [a, b];
    };
    // Transferring a port (structuredClone, postMessage): its copy takes over its entanglement
    // and the messages waiting at it (its queue disabled until start() or onmessage), and the
    // original is detached.
    ObjectDefineProperty(transferHooks, transferHooks.length, {
      __proto__: null,
      value: {
        __proto__: null,
        is: isMessagePort,
        detached: (port) => port.#detached,
        prepare: () => new MessagePort(INTERNAL),
        commit: (port, copy) => {
          const peer = port.#peer;
          port.#peer = null;
          port.#detached = true;
          if (peer !== null) entangle(copy, peer);
          copy.#queue = port.#queue;
          port.#queue = newMessageQueue();
        },
      },
      writable: true, enumerable: true, configurable: true,
    });
  }
}
webidlEnumerable(MessagePort);
setTag(MessagePort.prototype, "MessagePort");
defineGlobal("MessagePort", MessagePort);

class MessageChannel {
  #port1;
  #port2;
  constructor() {
    const ports = newMessageChannelPorts();
    this.#port1 = ports[0];
    this.#port2 = ports[1];
  }
  get port1() { return this.#port1; }
  get port2() { return this.#port2; }
  static {
    platformBrands.push((v) => v !== null && typeof v === "object" && #port1 in v);
  }
}
webidlEnumerable(MessageChannel);
setTag(MessageChannel.prototype, "MessageChannel");
defineGlobal("MessageChannel", MessageChannel);
