// ---- events.js: Event, CustomEvent, EventTarget (DOM standard). -----------------
// Targets here are never nodes, so an event's path is its target alone: dispatch runs the target's
// capture listeners, then its other listeners, both at AT_TARGET. Listener lists are snapshotted
// when a dispatch reaches the target (listeners added meanwhile do not run) and removed listeners
// are flagged (they do not run either), as the spec's re-entrancy rules say. Exceptions thrown by
// listeners are reported through the console (level error) and never interrupt the dispatch.
// Internal code dispatches through `dispatchInternal`, never through tenant-patchable methods.
// AbortController / AbortSignal live in abort.js (the next part), which uses the hooks defined here.

/** Makes a WebIDL interface's prototype members enumerable (class syntax defines them not). */
function webidlEnumerable(Class) {
  // Indexed, on null-prototype descriptors: no tenant-replaceable iterator or Object.prototype
  // accessor takes part.
  const keys = ReflectOwnKeys(Class.prototype);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    if (key === "constructor" || typeof key === "symbol") continue;
    const d = ObjectGetOwnPropertyDescriptor(Class.prototype, key);
    ObjectSetPrototypeOf(d, null);
    d.enumerable = true;
    ObjectDefineProperty(Class.prototype, key, d);
  }
}

/** A WebIDL constant on both the interface object and its prototype. */
function webidlConstant(Class, name, value) {
  const d = { __proto__: null, value, writable: false, enumerable: true, configurable: false };
  ObjectDefineProperty(Class, name, d);
  ObjectDefineProperty(Class.prototype, name, d);
}

/** "Report an exception": the host logs it; the dispatch goes on. */
function reportException(error) {
  try {
    hostLog(3, `Uncaught ${inspect(error)}`);
  } catch {
    // the host may refuse output (quota); nothing else can be done
  }
}

const PHASE_NONE = 0, PHASE_CAPTURING = 1, PHASE_AT_TARGET = 2, PHASE_BUBBLING = 3;

let isEvent; // (v) -> boolean
let eventType; // (event) -> string
let eventSetTrusted; // (event, boolean) -> undefined
let eventDispatching; // (event) -> boolean: the dispatch flag
let eventBeginDispatch; // (event, target) -> undefined
let eventCancel; // (event) -> undefined: preventDefault's steps
let eventSetCurrent; // (event, currentTarget, phase) -> undefined
let eventEndDispatch; // (event) -> boolean (true unless canceled)
let eventStopped; // (event) -> boolean: the stop propagation flag
let eventStopImmediate; // (event) -> boolean: the stop immediate propagation flag
let eventSetPassive; // (event, boolean) -> undefined

function isTrustedGetter() {
  if (!isEvent(this)) throw new TypeError("Illegal invocation");
  return eventIsTrusted(this);
}
let eventIsTrusted; // (event) -> boolean

class Event {
  #type = "";
  #target = null;
  #currentTarget = null;
  #phase = PHASE_NONE;
  #bubbles = false;
  #cancelable = false;
  #composed = false;
  #canceled = false;
  #stop = false;
  #stopImmediate = false;
  #passive = false;
  #dispatching = false;
  #trusted = false;
  #timeStamp;
  constructor(type, eventInitDict = undefined) {
    requireArgs(arguments.length, 1, "Event");
    this.#type = `${type}`;
    // Dictionary members are read in lexicographic order, inherited dictionaries first.
    this.#bubbles = !!dictGet(eventInitDict, "bubbles");
    this.#cancelable = !!dictGet(eventInitDict, "cancelable");
    this.#composed = !!dictGet(eventInitDict, "composed");
    this.#timeStamp = hostNow();
    // [LegacyUnforgeable]: an own, non-configurable accessor sharing one getter.
    // A null-prototype descriptor: an Object.prototype "value" or "get" accessor must not answer.
    ObjectDefineProperty(this, "isTrusted", { __proto__: null, get: isTrustedGetter, set: undefined, enumerable: true, configurable: false });
  }
  get type() { return this.#type; }
  get target() { return this.#target; }
  get srcElement() { return this.#target; }
  get currentTarget() { return this.#currentTarget; }
  composedPath() {
    // A non-node target's path is the target alone, visible only while it is being dispatched.
    return this.#currentTarget === null ? [] : [this.#currentTarget];
  }
  get eventPhase() { return this.#phase; }
  stopPropagation() { this.#stop = true; }
  get cancelBubble() { return this.#stop; }
  set cancelBubble(value) { if (value) this.#stop = true; }
  stopImmediatePropagation() { this.#stop = true; this.#stopImmediate = true; }
  get bubbles() { return this.#bubbles; }
  get cancelable() { return this.#cancelable; }
  get returnValue() { return !this.#canceled; }
  set returnValue(value) { if (!value) this.#cancel(); }
  preventDefault() { this.#cancel(); }
  get defaultPrevented() { return this.#canceled; }
  get composed() { return this.#composed; }
  get timeStamp() { return this.#timeStamp; }
  initEvent(type, bubbles = false, cancelable = false) {
    requireArgs(arguments.length, 1, "Event.initEvent");
    if (this.#dispatching) return;
    this.#stop = false;
    this.#stopImmediate = false;
    this.#canceled = false;
    this.#trusted = false;
    this.#target = null;
    this.#type = `${type}`;
    this.#bubbles = !!bubbles;
    this.#cancelable = !!cancelable;
  }
  #cancel() {
    if (this.#cancelable && !this.#passive) this.#canceled = true;
  }
  static {
    isEvent = (v) => v !== null && typeof v === "object" && #type in v;
    eventType = (e) => e.#type;
    eventIsTrusted = (e) => e.#trusted;
    eventSetTrusted = (e, trusted) => { e.#trusted = trusted; };
    eventDispatching = (e) => e.#dispatching;
    eventBeginDispatch = (e, target) => {
      e.#dispatching = true;
      e.#target = target;
    };
    eventCancel = (e) => e.#cancel();
    eventSetCurrent = (e, current, phase) => {
      e.#currentTarget = current;
      e.#phase = phase;
    };
    eventEndDispatch = (e) => {
      e.#phase = PHASE_NONE;
      e.#currentTarget = null;
      e.#dispatching = false;
      e.#stop = false;
      e.#stopImmediate = false;
      return !e.#canceled;
    };
    eventStopped = (e) => e.#stop;
    eventStopImmediate = (e) => e.#stopImmediate;
    eventSetPassive = (e, passive) => { e.#passive = passive; };
    platformBrands.push(isEvent);
  }
}
webidlConstant(Event, "NONE", PHASE_NONE);
webidlConstant(Event, "CAPTURING_PHASE", PHASE_CAPTURING);
webidlConstant(Event, "AT_TARGET", PHASE_AT_TARGET);
webidlConstant(Event, "BUBBLING_PHASE", PHASE_BUBBLING);
webidlEnumerable(Event);
setTag(Event.prototype, "Event");
inspectThroughGetters(Event, ["type", "defaultPrevented", "cancelable", "timeStamp"]);
defineGlobal("Event", Event);

class CustomEvent extends Event {
  #detail;
  constructor(type, eventInitDict = undefined) {
    requireArgs(arguments.length, 1, "CustomEvent");
    super(type, eventInitDict);
    const detail = dictGet(eventInitDict, "detail");
    this.#detail = detail === undefined ? null : detail;
  }
  get detail() { return this.#detail; }
  initCustomEvent(type, bubbles = false, cancelable = false, detail = null) {
    requireArgs(arguments.length, 1, "CustomEvent.initCustomEvent");
    if (eventDispatching(this)) return;
    ReflectApply(EventInitEvent, this, [type, bubbles, cancelable]);
    this.#detail = detail;
  }
}
const EventInitEvent = Event.prototype.initEvent;
webidlEnumerable(CustomEvent);
setTag(CustomEvent.prototype, "CustomEvent");
inspectThroughGetters(CustomEvent, ["type", "detail", "defaultPrevented", "cancelable", "timeStamp"]);
defineGlobal("CustomEvent", CustomEvent);

/** Flattens addEventListener/removeEventListener options to the capture flag. */
function flattenCapture(options) {
  if (typeof options === "boolean") return options;
  if (options === null || (typeof options !== "object" && typeof options !== "function")) return !!options;
  return !!options.capture;
}

let isEventTarget; // (v) -> boolean
let dispatchInternal; // (target, event) -> boolean: dispatches `event` (already initialized) at target
let addInternalListener; // (target, type, fn(event)) -> record: a listener only the prelude can remove
let removeInternalListener; // (target, record) -> undefined
let eventHandlerGet; // (target, type) -> the `on<type>` attribute's value
let eventHandlerSet; // (target, type, value) -> undefined
let listenerAddedHook = null; // (target, type) -> undefined: AbortSignal pins dependent signals

/** Fires a trusted `type` event (no bubbling, not cancelable) at `target`. */
function fireEvent(target, type, event = new Event(type)) {
  eventSetTrusted(event, true);
  return dispatchInternal(target, event);
}

// A target's state: listener records { type, callback, capture, passive, once, removed, internal }
// (`internal` is a function the prelude installed: event handler attributes, internal listeners)
// and its event handler attributes (type -> { value, record }). Null-prototype records and arrays
// walked by index and grown by defineProperty (with null-prototype descriptors): a patched
// Array.prototype (push, iterator, slice, indexOf) or Object.prototype accessor never sees them.
const newTargetState = () => ({ __proto__: null, listeners: [], handlers: null });
const listAppend = (list, value) => {
  ObjectDefineProperty(list, list.length, { __proto__: null, value, writable: true, enumerable: true, configurable: true });
};
const listCopy = (list) => {
  const out = [];
  for (let i = 0; i < list.length; i++) listAppend(out, list[i]);
  return out;
};

// Objects that are EventTargets without being made by its constructor: the global object (as
// Workers runtimes have it: self.addEventListener, service-worker syntax) and `performance`.
// Their state is made in each isolate on first use, never in the snapshot's evaluation.
const adoptedTargets = [{ __proto__: null, target: globalThis, state: null }];
let targetState; // (target) -> its state; a TypeError unless target is an EventTarget
/** WebIDL: an operation called with an undefined or null `this` acts on the global object. */
const receiverOf = (self) => (self === undefined || self === null ? globalThis : self);

class EventTarget {
  #state = newTargetState();
  constructor() {}
  addEventListener(type, callback, options = undefined) {
    const target = receiverOf(this);
    const state = targetState(target);
    requireArgs(arguments.length, 2, "EventTarget.addEventListener");
    const t = `${type}`;
    if (callback !== null && typeof callback !== "object" && typeof callback !== "function") {
      throw new TypeError("EventTarget.addEventListener: the listener must be an object or null");
    }
    let capture = false, once = false, passive = false, signal;
    if (typeof options === "boolean") capture = options;
    else if (options !== null && (typeof options === "object" || typeof options === "function")) {
      capture = !!options.capture;
      once = !!options.once;
      passive = !!options.passive;
      signal = options.signal;
      if (signal !== undefined && !isAbortSignal(signal)) {
        throw new TypeError("EventTarget.addEventListener: options.signal is not an AbortSignal");
      }
    } else if (options !== undefined) capture = !!options;
    if (callback === null) return;
    if (signal !== undefined && abortSignalAborted(signal)) return;
    const listeners = state.listeners;
    for (let i = 0; i < listeners.length; i++) {
      const l = listeners[i];
      if (l.type === t && l.callback === callback && l.capture === capture && l.internal === null) return;
    }
    const record = { __proto__: null, type: t, callback, capture, passive, once, removed: false, internal: null };
    listAppend(listeners, record);
    if (signal !== undefined) addAbortAlgorithm(signal, () => removeListener(state, record));
    if (listenerAddedHook !== null) listenerAddedHook(target, t);
  }
  removeEventListener(type, callback, options = undefined) {
    const state = targetState(receiverOf(this));
    requireArgs(arguments.length, 2, "EventTarget.removeEventListener");
    const t = `${type}`;
    if (callback !== null && typeof callback !== "object" && typeof callback !== "function") {
      throw new TypeError("EventTarget.removeEventListener: the listener must be an object or null");
    }
    const capture = flattenCapture(options);
    const listeners = state.listeners;
    for (let i = 0; i < listeners.length; i++) {
      const l = listeners[i];
      if (l.type === t && l.callback === callback && l.capture === capture && l.internal === null) {
        removeListener(state, l);
        return;
      }
    }
  }
  dispatchEvent(event) {
    const target = receiverOf(this);
    const state = targetState(target);
    requireArgs(arguments.length, 1, "EventTarget.dispatchEvent");
    if (!isEvent(event)) throw new TypeError("EventTarget.dispatchEvent: the argument is not an Event");
    if (eventDispatching(event)) {
      throw new DOMException("The event is already being dispatched.", "InvalidStateError");
    }
    eventSetTrusted(event, false); // events tenant code dispatches are never trusted
    return dispatchAt(target, state, event);
  }
  static {
    isEventTarget = (v) => v !== null && typeof v === "object" && #state in v;
    targetState = (v) => {
      if (v !== null && typeof v === "object" && #state in v) return v.#state;
      for (let i = 0; i < adoptedTargets.length; i++) {
        const a = adoptedTargets[i];
        if (a.target === v) return (a.state ??= newTargetState());
      }
      throw new TypeError("Illegal invocation: not an EventTarget");
    };
    platformBrands.push(isEventTarget);
  }
}
function removeListener(state, record) {
  record.removed = true;
  const kept = [];
  const listeners = state.listeners;
  for (let i = 0; i < listeners.length; i++) if (listeners[i] !== record) listAppend(kept, listeners[i]);
  state.listeners = kept;
}

function dispatchAt(target, state, event) {
  eventBeginDispatch(event, target);
  try {
    // The target is the whole path: capture listeners, then the others, both at AT_TARGET.
    eventSetCurrent(event, target, PHASE_AT_TARGET);
    const listeners = listCopy(state.listeners);
    invokeListeners(target, state, event, listeners, true);
    invokeListeners(target, state, event, listeners, false);
  } finally {
    eventSetCurrent(event, null, PHASE_NONE);
  }
  return eventEndDispatch(event);
}

function invokeListeners(target, state, event, listeners, capturePass) {
  if (eventStopped(event)) return;
  const type = eventType(event);
  for (let i = 0; i < listeners.length; i++) {
    const l = listeners[i];
    if (eventStopImmediate(event)) return;
    if (l.removed || l.capture !== capturePass || l.type !== type) continue;
    if (l.once) removeListener(state, l);
    if (l.passive) eventSetPassive(event, true);
    try {
      if (l.internal !== null) ReflectApply(l.internal, target, [event]);
      else if (typeof l.callback === "function") ReflectApply(l.callback, target, [event]);
      else {
        const handleEvent = l.callback.handleEvent;
        if (typeof handleEvent !== "function") throw new TypeError("the listener has no handleEvent method");
        ReflectApply(handleEvent, l.callback, [event]);
      }
    } catch (e) {
      reportException(e);
    }
    if (l.passive) eventSetPassive(event, false);
  }
}

dispatchInternal = (target, event) => dispatchAt(target, targetState(target), event);
addInternalListener = (target, type, fn) => {
  const record = { __proto__: null, type, callback: null, capture: false, passive: false, once: false, removed: false, internal: fn };
  listAppend(targetState(target).listeners, record);
  if (listenerAddedHook !== null) listenerAddedHook(target, type);
  return record;
};
removeInternalListener = (target, record) => removeListener(targetState(target), record);
eventHandlerGet = (target, type) => {
  const handlers = targetState(target).handlers;
  const h = handlers === null ? undefined : handlers[type];
  return h === undefined ? null : h.value;
};
// WebIDL EventHandler ([LegacyTreatNonObjectAsNull]): non-objects are null. Setting a value keeps
// the listener's place in the list; null removes it (a later value goes to the end).
eventHandlerSet = (target, type, value) => {
  const v = value !== null && (typeof value === "object" || typeof value === "function") ? value : null;
  const state = targetState(target);
  state.handlers ??= { __proto__: null };
  const h = state.handlers[type];
  if (v === null) {
    if (h !== undefined) {
      removeListener(state, h.record);
      delete state.handlers[type];
    }
    return;
  }
  if (h !== undefined) {
    h.value = v;
    return;
  }
  const entry = { __proto__: null, value: v, record: null };
  entry.record = addInternalListener(target, type, function handler(event) {
    if (typeof entry.value !== "function") return;
    const result = ReflectApply(entry.value, this, [event]);
    if (result === false) eventCancel(event);
  });
  state.handlers[type] = entry;
};
webidlEnumerable(EventTarget);
setTag(EventTarget.prototype, "EventTarget");
defineGlobal("EventTarget", EventTarget);

// The global scope is an EventTarget named `self` too, as in Workers runtimes (addEventListener,
// removeEventListener and dispatchEvent through its prototype chain), and so is `performance`
// (Performance extends EventTarget in HR-Time).
ObjectSetPrototypeOf(globalThis, EventTarget.prototype);
defineGlobal("self", globalThis);
ObjectSetPrototypeOf(Performance, EventTarget);
ObjectSetPrototypeOf(Performance.prototype, EventTarget.prototype);
listAppend(adoptedTargets, { __proto__: null, target: globalThis.performance, state: null });

