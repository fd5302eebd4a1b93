// ---- node-events.js: node:events (EventEmitter, once, on, listenerCount, ...). -----------------
// Node's semantics: listeners run synchronously in registration order (a copy of the list, so
// removing one while emitting does not skip the next); 'newListener' fires before a listener is
// added and 'removeListener' after one is removed; emitting 'error' without a listener throws
// the error (or an ERR_UNHANDLED_ERROR for a non-Error); more listeners than the maximum only
// warn, once per event name. `_events` holds one listener as itself and more as an array, as
// Node's (code reads it); with captureRejections, a listener's rejected promise goes to the
// emitter's [captureRejectionSymbol](err, type, ...args), else to its 'error' event.
// Tenant code may have replaced Array.prototype's methods, the array iterator, Promise's statics,
// Function.prototype.call or put accessors on Object.prototype before this group is built or
// used: listener lists are grown, copied and shrunk by index with null-prototype descriptors,
// promises made through plumbing.js's captures, and internal records have null prototypes.

function eventsModule() {
  // kRejection is Node's public captureRejectionSymbol: an emitter's own handler for a rejected
  // listener; kCapture, private, whether the emitter captures rejections at all.
  const kRejection = SymbolFor("nodejs.rejection");
  const kCapture = Symbol("kCapture");
  const errorMonitor = SymbolFor("events.errorMonitor");
  let defaultMaxListeners = 10;

  /** Defines `obj[key]` as an ordinary data property (what an assignment would make). */
  const put = (obj, key, value) => {
    ObjectDefineProperty(obj, key, { __proto__: null, value, writable: true, enumerable: true, configurable: true });
  };
  const append = (list, value) => put(list, list.length, value);
  /** A copy of `list` (Node's arrayClone). */
  const arrayClone = (list) => {
    const out = [];
    for (let i = 0; i < list.length; i++) put(out, i, list[i]);
    return out;
  };
  /** Removes `list[index]` (Node's spliceOne). */
  const spliceOne = (list, index) => {
    for (let i = index; i + 1 < list.length; i++) list[i] = list[i + 1];
    list.length--;
  };

  function listenersOf(emitter) {
    let events = emitter._events;
    if (events === undefined || events === null) {
      events = ObjectCreate(null);
      emitter._events = events;
      emitter._eventsCount = 0;
    }
    return events;
  }

  function EventEmitter(opts) {
    ReflectApply(EventEmitter.init, this, [opts]);
  }
  EventEmitter.init = function init(opts) {
    if (this._events === undefined || this._events === ObjectGetPrototypeOf(this)._events) {
      this._events = ObjectCreate(null);
      this._eventsCount = 0;
    }
    this._maxListeners = this._maxListeners || undefined;
    if (opts?.captureRejections) {
      if (typeof opts.captureRejections !== "boolean") throw invalidArgType("options.captureRejections", "of type boolean", opts.captureRejections);
      this[kCapture] = true;
    } else this[kCapture] = EventEmitter.captureRejections === true;
  };
  const proto = EventEmitter.prototype;
  proto._events = undefined;
  proto._eventsCount = 0;
  proto._maxListeners = undefined;

  function addListener(target, type, listener, prepend) {
    validateFunction(listener, "listener");
    let events = listenersOf(target);
    if (events.newListener !== undefined) {
      target.emit("newListener", type, listener.listener ?? listener);
      // A 'newListener' handler may have removed every listener (a fresh `_events`): the new one
      // goes there, as in Node.
      events = listenersOf(target);
    }
    let existing = events[type];
    if (existing === undefined) {
      // One listener is kept as itself, more as an array (Node's `_events`, which code reads).
      put(events, type, listener);
      target._eventsCount++;
    } else {
      if (typeof existing === "function") {
        existing = prepend ? [listener, existing] : [existing, listener];
        put(events, type, existing);
      } else if (prepend) {
        put(existing, existing.length, undefined);
        for (let i = existing.length - 1; i > 0; i--) existing[i] = existing[i - 1];
        existing[0] = listener;
      } else append(existing, listener);
      const max = target.getMaxListeners();
      if (max > 0 && existing.length > max && ObjectGetOwnPropertyDescriptor(existing, "warned") === undefined) {
        put(existing, "warned", true);
        console.warn(`MaxListenersExceededWarning: Possible EventEmitter memory leak detected. ${existing.length} ` +
          `${String(type)} listeners added. Use emitter.setMaxListeners() to increase limit`);
      }
    }
    return target;
  }

  /** The listeners an `_events` entry holds: none, one function, or an array. */
  const listOf = (entry) => (entry === undefined ? [] : typeof entry === "function" ? [entry] : entry);

  /** A captured listener's rejection (Node's emitUnhandledRejectionOrErr): the emitter's own
   *  [captureRejectionSymbol](err, type, ...args), else an 'error' event, not captured itself. */
  function rejected(emitter, err, type, args) {
    const handler = emitter[kRejection];
    if (typeof handler === "function") {
      ReflectApply(handler, emitter, [err, type, ...args]);
      return;
    }
    const previous = emitter[kCapture];
    try {
      emitter[kCapture] = false;
      ReflectApply(methods.emit, emitter, ["error", err]);
    } finally {
      emitter[kCapture] = previous;
    }
  }

  /** Node's onceWrapper, bound to its state: removed first (its 'removeListener' sees the
   *  wrapper, as Node's does), then run once. */
  function onceWrapperCall(...args) {
    if (this.fired) return undefined;
    this.target.removeListener(this.type, this.wrapFn);
    this.fired = true;
    return ReflectApply(this.listener, this.target, args);
  }
  function onceWrapper(target, type, listener) {
    const state = { __proto__: null, fired: false, wrapFn: undefined, target, type, listener };
    // A bound function, as Node's: `String(wrapper)` shows no source, its name is "bound onceWrapper".
    const wrapped = ReflectApply(FunctionBind, onceWrapperCall, [state]);
    ObjectDefineProperty(wrapped, "name", { __proto__: null, value: "bound onceWrapper", configurable: true });
    put(wrapped, "listener", listener);
    state.wrapFn = wrapped;
    return wrapped;
  }

  const methods = {
    setMaxListeners(n) {
      if (typeof n !== "number" || n < 0 || n !== n) throw outOfRange("n", "a non-negative number", n);
      this._maxListeners = n;
      return this;
    },
    getMaxListeners() {
      return this._maxListeners === undefined ? defaultMaxListeners : this._maxListeners;
    },
    emit(type, ...args) {
      const events = this._events;
      if (type === "error" && events !== undefined && events[errorMonitor] !== undefined) {
        const monitorArgs = [errorMonitor];
        for (let i = 0; i < args.length; i++) append(monitorArgs, args[i]);
        ReflectApply(methods.emit, this, monitorArgs);
      }
      const handlers = events === undefined ? undefined : events[type];
      if (handlers === undefined) {
        if (type === "error") {
          const er = args[0];
          if (er instanceof Error) throw er;
          throw nodeError(Error, "ERR_UNHANDLED_ERROR", `Unhandled error. (${inspect(er)})`);
        }
        return false;
      }
      const list = typeof handlers === "function" ? [handlers] : arrayClone(handlers);
      for (let i = 0; i < list.length; i++) {
        const result = ReflectApply(list[i], this, args);
        if (this[kCapture] === true && result !== undefined && result !== null) {
          const then = result.then; // the listener's thenable: its own `then`, as Node reads it
          if (typeof then === "function") {
            ReflectApply(then, result, [undefined, (err) => queueMicrotask(() => rejected(this, err, type, args))]);
          }
        }
      }
      return true;
    },
    addListener(type, listener) { return addListener(this, type, listener, false); },
    on(type, listener) { return addListener(this, type, listener, false); },
    prependListener(type, listener) { return addListener(this, type, listener, true); },
    // Through the emitter's own on/prependListener, as Node's: a subclass's override runs (a
    // Readable's on("data") starts it flowing, so once("data") does too).
    once(type, listener) {
      validateFunction(listener, "listener");
      this.on(type, onceWrapper(this, type, listener));
      return this;
    },
    prependOnceListener(type, listener) {
      validateFunction(listener, "listener");
      this.prependListener(type, onceWrapper(this, type, listener));
      return this;
    },
    removeListener(type, listener) {
      validateFunction(listener, "listener");
      const events = this._events;
      const list = events === undefined ? undefined : events[type];
      if (list === undefined) return this;
      if (typeof list === "function") {
        if (list === listener || list.listener === listener) {
          delete events[type];
          this._eventsCount--;
          if (events.removeListener !== undefined) this.emit("removeListener", type, list.listener ?? list);
        }
        return this;
      }
      for (let i = list.length - 1; i >= 0; i--) {
        if (list[i] === listener || list[i].listener === listener) {
          spliceOne(list, i);
          if (list.length === 0) {
            delete events[type];
            this._eventsCount--;
          } else if (list.length === 1) put(events, type, list[0]);
          // The listener as passed (a once wrapper that fired passes itself), as Node's does.
          if (events.removeListener !== undefined) this.emit("removeListener", type, listener);
          break;
        }
      }
      return this;
    },
    removeAllListeners(type) {
      const events = this._events;
      if (events === undefined) return this;
      if (type === undefined) {
        const keys = ReflectOwnKeys(events);
        for (let i = 0; i < keys.length; i++) if (keys[i] !== "removeListener") this.removeAllListeners(keys[i]);
        this.removeAllListeners("removeListener");
        this._events = ObjectCreate(null);
        this._eventsCount = 0;
        return this;
      }
      const list = listOf(events[type]);
      for (let i = list.length - 1; i >= 0; i--) this.removeListener(type, list[i]);
      return this;
    },
    listeners(type) {
      const list = listOf(this._events === undefined ? undefined : this._events[type]);
      const out = [];
      for (let i = 0; i < list.length; i++) append(out, list[i].listener ?? list[i]);
      return out;
    },
    rawListeners(type) {
      return arrayClone(listOf(this._events === undefined ? undefined : this._events[type]));
    },
    listenerCount(type, listener) {
      const list = listOf(this._events === undefined ? undefined : this._events[type]);
      if (listener === undefined) return list.length;
      let n = 0;
      for (let i = 0; i < list.length; i++) if (list[i] === listener || list[i].listener === listener) n++;
      return n;
    },
    eventNames() {
      return this._events === undefined || this._eventsCount === 0 ? [] : ReflectOwnKeys(this._events);
    },
  };
  // One function under two names, as Node's (EventEmitter.prototype.off === removeListener).
  methods.addListener = methods.on;
  methods.off = methods.removeListener;
  const names = ObjectKeys(methods);
  for (let i = 0; i < names.length; i++) {
    ObjectDefineProperty(proto, names[i], { __proto__: null, value: methods[names[i]], writable: true, enumerable: false, configurable: true });
  }

  /** A promise of the arguments of the next `name` event (rejected by an 'error' event first,
   *  or by Node's AbortError when `options.signal` aborts, before or while it waits: followed
   *  through abort.js's private algorithms, as node-timers.js does). */
  function once(emitter, name, options) {
    const signal = options?.signal;
    if (signal !== undefined && !isAbortSignal(signal)) {
      return promiseRejectedWith(invalidArgType("options.signal", "an instance of AbortSignal", signal));
    }
    return new Promise((resolve, reject) => {
      if (signal !== undefined && abortSignalAborted(signal)) {
        reject(timersAbortError(signal));
        return;
      }
      let onAbort = null;
      let stop = () => {};
      const settle = (f, value) => {
        if (onAbort !== null) removeAbortAlgorithm(signal, onAbort);
        f(value);
      };
      if (typeof emitter.addEventListener === "function" && typeof emitter.on !== "function") {
        const listener = (...args) => settle(resolve, args);
        emitter.addEventListener(name, listener, { __proto__: null, once: true });
        stop = () => emitter.removeEventListener(name, listener);
      } else {
        const onError = (err) => {
          emitter.removeListener(name, onEvent);
          settle(reject, err);
        };
        const onEvent = (...args) => {
          if (name !== "error") emitter.removeListener("error", onError);
          settle(resolve, args);
        };
        emitter.once(name, onEvent);
        if (name !== "error") emitter.once("error", onError);
        stop = () => {
          emitter.removeListener(name, onEvent);
          if (name !== "error") emitter.removeListener("error", onError);
        };
      }
      if (signal !== undefined) {
        onAbort = () => {
          onAbort = null;
          stop();
          reject(timersAbortError(signal));
        };
        addAbortAlgorithm(signal, onAbort);
      }
    });
  }

  /** An async iterator of the arguments of every `name` event, as Node 20's: an 'error' event
   *  (an emitter's) rejects the first read waiting, or the next, and ends it; `options.signal`
   *  ends it the same way with Node's AbortError (thrown at once when already aborted);
   *  `options.close` names events that end it (reads waiting resolve done, events queued are
   *  still read); with `options.highWaterMark` the emitter is paused while more events than
   *  that wait unread, and resumed below `options.lowWaterMark` (1). EventTargets too. */
  function on(emitter, name, options) {
    const signal = options?.signal;
    if (signal !== undefined && !isAbortSignal(signal)) {
      throw invalidArgType("options.signal", "an instance of AbortSignal", signal);
    }
    if (signal !== undefined && abortSignalAborted(signal)) throw timersAbortError(signal);
    const high = options?.highWaterMark ?? options?.highWatermark ?? NumberMAX_SAFE_INTEGER;
    const low = options?.lowWaterMark ?? options?.lowWatermark ?? 1;
    const close = options?.close;
    // Internal FIFOs (plumbing.js): events not read yet, and reads waiting for one.
    const queue = new List();
    const waiting = new List();
    let error = null;
    let done = false;
    let paused = false;
    const removers = new List();
    const listen = (event, handler) => {
      if (typeof emitter.on === "function") {
        emitter.on(event, handler);
        removers.push(() => emitter.removeListener(event, handler));
      } else {
        emitter.addEventListener(event, handler);
        removers.push(() => emitter.removeEventListener(event, handler));
      }
    };
    const finish = () => {
      if (done) return;
      done = true;
      while (removers.length > 0) removers.shift()();
      if (onAbort !== null) removeAbortAlgorithm(signal, onAbort);
      while (waiting.length > 0) waiting.shift().resolve({ value: undefined, done: true });
    };
    const fail = (err) => {
      if (waiting.length > 0) waiting.shift().reject(err);
      else error = err;
      finish();
    };
    listen(name, (...args) => {
      if (waiting.length > 0) {
        waiting.shift().resolve({ value: args, done: false });
        return;
      }
      queue.push(args);
      if (queue.length > high && !paused && typeof emitter.pause === "function") {
        paused = true;
        emitter.pause();
      }
    });
    if (name !== "error" && typeof emitter.on === "function") listen("error", fail);
    if (close != null) for (let i = 0; i < close.length; i++) listen(close[i], finish);
    let onAbort = null;
    if (signal !== undefined) {
      onAbort = () => {
        onAbort = null;
        fail(timersAbortError(signal));
      };
      addAbortAlgorithm(signal, onAbort);
    }
    return {
      next() {
        if (queue.length > 0) {
          const value = queue.shift();
          if (paused && queue.length < low && typeof emitter.resume === "function") {
            paused = false;
            emitter.resume();
          }
          return promiseResolvedWith({ value, done: false });
        }
        if (error !== null) { const e = error; error = null; return promiseRejectedWith(e); }
        if (done) return promiseResolvedWith({ value: undefined, done: true });
        return new Promise((resolve, reject) => waiting.push({ __proto__: null, resolve, reject }));
      },
      return() { finish(); return promiseResolvedWith({ value: undefined, done: true }); },
      throw(err) { finish(); return promiseRejectedWith(err); },
      [SymbolAsyncIterator]() { return this; },
    };
  }

  ObjectDefineProperty(EventEmitter, "defaultMaxListeners", {
    __proto__: null,
    get() { return defaultMaxListeners; },
    set(n) {
      if (typeof n !== "number" || n < 0 || n !== n) throw outOfRange("defaultMaxListeners", "a non-negative number", n);
      defaultMaxListeners = n;
    },
    enumerable: true,
    configurable: true,
  });
  EventEmitter.EventEmitter = EventEmitter;
  EventEmitter.once = once;
  EventEmitter.on = on;
  EventEmitter.errorMonitor = errorMonitor;
  EventEmitter.captureRejectionSymbol = kRejection;
  EventEmitter.captureRejections = false;
  EventEmitter.usingDomains = false;
  EventEmitter.listenerCount = (emitter, type) => emitter.listenerCount(type);
  // EventTargets as Node's helpers take them: their listeners (not the runtime's own), and a
  // maximum kept beside them (no warning is printed for an EventTarget).
  let targetMax = null; // made at the first use (this module may be built after tenant code)
  EventEmitter.getEventListeners = (emitter, type) => {
    if (!isEventTarget(emitter)) return emitter.listeners(type);
    const t = `${type}`;
    const records = targetState(emitter).listeners;
    const out = new List();
    for (let i = 0; i < records.length; i++) {
      const r = records[i];
      if (r.type === t && !r.removed && r.internal === null) out.push(r.callback);
    }
    return out.drain();
  };
  EventEmitter.setMaxListeners = (n = defaultMaxListeners, ...targets) => {
    if (typeof n !== "number" || n < 0 || n !== n) throw outOfRange("n", "a non-negative number", n);
    if (targets.length === 0) defaultMaxListeners = n;
    for (let i = 0; i < targets.length; i++) {
      if (isEventTarget(targets[i])) (targetMax ??= new WeakMap()).set(targets[i], n);
      else if (typeof targets[i]?.setMaxListeners === "function") targets[i].setMaxListeners(n);
      else throw invalidArgType("eventTargets", "an instance of EventEmitter or EventTarget", targets[i]);
    }
  };
  EventEmitter.getMaxListeners = (emitterOrTarget) => {
    if (typeof emitterOrTarget?.getMaxListeners === "function") return emitterOrTarget.getMaxListeners();
    if (isEventTarget(emitterOrTarget)) return targetMax?.get(emitterOrTarget) ?? defaultMaxListeners;
    throw invalidArgType("emitter", "an instance of EventEmitter or EventTarget", emitterOrTarget);
  };
  /** Node's addAbortListener: `listener` once when `signal` aborts (at once, on a microtask, when
   *  it already has); the answer's [Symbol.dispose] removes it. */
  EventEmitter.addAbortListener = (signal, listener) => {
    if (!isAbortSignal(signal)) throw invalidArgType("signal", "an instance of AbortSignal", signal);
    validateFunction(listener, "listener");
    let remove = null;
    if (abortSignalAborted(signal)) {
      queueMicrotask(() => listener());
    } else {
      signal.addEventListener("abort", listener, { __proto__: null, once: true });
      remove = () => signal.removeEventListener("abort", listener);
    }
    const answer = { __proto__: null };
    if (SymbolDisposeWellKnown !== undefined) answer[SymbolDisposeWellKnown] = () => { if (remove !== null) remove(); };
    return answer;
  };
  EventEmitter.EventTarget = globalThis.EventTarget;
  EventEmitter.Event = globalThis.Event;
  EventEmitter.EventEmitterAsyncResource = eventEmitterAsyncResource(EventEmitter);
  return EventEmitter;
}

/** Node's EventEmitterAsyncResource: an EventEmitter whose listeners run in the async context
 *  (AsyncLocalStorage stores) it was made in, through an AsyncResource (node:async_hooks, whose
 *  ids are 0 here: there are no async hooks). */
function eventEmitterAsyncResource(EventEmitter) {
  let Referencing = null; // the AsyncResource subclass, made at first use (node:async_hooks is lazy)
  const resources = new WeakMapCtor();
  const resourceOf = (self) => {
    const resource = self !== null && typeof self === "object" ? WeakMapGet(resources, self) : undefined;
    if (resource === undefined) {
      throw nodeError(TypeError, "ERR_INVALID_THIS", "Value of \"this\" must be of type EventEmitterAsyncResource");
    }
    return resource;
  };
  class EventEmitterAsyncResource extends EventEmitter {
    constructor(options = undefined) {
      let name;
      if (typeof options === "string") {
        name = options;
        options = undefined;
      } else {
        if (new.target === EventEmitterAsyncResource && typeof options?.name !== "string") {
          throw invalidArgType("options.name", "of type string", options?.name);
        }
        name = options?.name || new.target.name;
      }
      super(options);
      if (Referencing === null) {
        const { AsyncResource } = builtinExports("node:async_hooks");
        const emitters = new WeakMapCtor();
        Referencing = class EventEmitterReferencingAsyncResource extends AsyncResource {
          constructor(emitter, type) {
            super(type);
            WeakMapSet(emitters, this, emitter);
          }
          get eventEmitter() {
            const emitter = WeakMapGet(emitters, this);
            if (emitter === undefined) {
              throw nodeError(TypeError, "ERR_INVALID_THIS", "Value of \"this\" must be of type EventEmitterReferencingAsyncResource");
            }
            return emitter;
          }
        };
      }
      WeakMapSet(resources, this, new Referencing(this, name));
    }
    emit(event, ...args) {
      const resource = resourceOf(this);
      const call = [super.emit, this, event];
      for (let i = 0; i < args.length; i++) appendEntry(call, args[i]);
      return ReflectApply(resource.runInAsyncScope, resource, call);
    }
    emitDestroy() {
      resourceOf(this).emitDestroy();
    }
    get asyncId() {
      return resourceOf(this).asyncId();
    }
    get triggerAsyncId() {
      return resourceOf(this).triggerAsyncId();
    }
    get asyncResource() {
      return resourceOf(this);
    }
  }
  return EventEmitterAsyncResource;
}


defineBuiltin("node:events", ["EventEmitter", "once", "on", "errorMonitor", "captureRejectionSymbol",
  "defaultMaxListeners", "listenerCount", "getEventListeners", "setMaxListeners", "getMaxListeners", "addAbortListener", "usingDomains",
  "EventTarget", "Event", "EventEmitterAsyncResource"], eventsModule);
