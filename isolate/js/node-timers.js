// ---- node-timers.js: node:timers and node:timers/promises. --------------------------------------
// Built on the runtime's own timers (timers.js: armTimer, disarmTimer and the internal timers
// tenant code cannot clear), never on the tenant-replaceable globals. As in workerd, node:timers'
// setTimeout/setInterval return a Timeout object (ref/unref/hasRef are bookkeeping only: a
// request's timers always die with it; refresh() re-arms; Number(timeout) is the timer's id, so
// the global clearTimeout takes one too) while the globals keep returning numbers. setImmediate is
// a 0 ms timer (there is no I/O phase to run after), its Immediate object cleared by
// clearImmediate. timers/promises' setTimeout, setImmediate, setInterval (an async iterator) and
// scheduler.wait/yield follow Node: arguments checked with Node's ERR_INVALID_ARG_TYPE errors (as
// rejections), and an abort rejects with Node's AbortError (`name` "AbortError", `code`
// "ABORT_ERR", the signal's reason as `cause`). Signals are followed through abort.js's private
// algorithms, not the tenant-patchable addEventListener.

/** Node's AbortError (internal/errors.js), as timers/promises rejects with it. */
const NodeAbortError = class AbortError extends Error {
  constructor(message = "The operation was aborted", options = undefined) {
    super(message, options);
    this.code = "ABORT_ERR";
    this.name = "AbortError";
  }
};

function timersAbortError(signal) {
  return new NodeAbortError(undefined, { cause: abortSignalReason(signal) });
}

/** Node's ERR_INVALID_ARG_TYPE for a property of an options object. */
function invalidPropertyType(name, expected, value) {
  return nodeError(TypeError, "ERR_INVALID_ARG_TYPE",
    `The "${name}" property must be ${expected}.${describeReceived(value)}`);
}

/** The `signal` and `ref` of timers/promises' options, checked as Node checks them. */
function timerPromiseOptions(options) {
  if (options === null || typeof options !== "object" || ArrayIsArray(options)) {
    throw invalidArgType("options", "of type object", options);
  }
  const signal = options.signal;
  const ref = options.ref;
  if (signal !== undefined && !isAbortSignal(signal)) {
    throw invalidPropertyType("options.signal", "an instance of AbortSignal", signal);
  }
  if (ref !== undefined && typeof ref !== "boolean") {
    throw invalidPropertyType("options.ref", "of type boolean", ref);
  }
  return signal;
}

function checkTimerDelay(delay) {
  if (delay !== undefined && typeof delay !== "number") throw invalidArgType("delay", "of type number", delay);
}

/** Node's delay rule: not a number in [1, 2**31 - 1] is 1 ms. */
function nodeTimerDelay(delay) {
  const ms = delay * 1;
  return ms >= 1 && ms <= 0x7fffffff ? ms : 1;
}

function timersModule() {
  const SymbolDispose = Symbol.dispose;
  const disposable = (proto, dispose) => {
    if (typeof SymbolDispose === "symbol") {
      ObjectDefineProperty(proto, SymbolDispose, { value: dispose, writable: true, enumerable: false, configurable: true });
    }
  };

  class Timeout {
    #id = 0;
    #callback;
    #delay;
    #args;
    #repeat;
    #refed = true;
    constructor(callback, delay, args, repeat, key) {
      if (key !== INTERNAL) throw new TypeError("Illegal constructor");
      this.#callback = callback;
      this.#delay = delay;
      this.#args = args;
      this.#repeat = repeat;
      this.#arm();
    }
    #arm() {
      this.#id = armTimer(this.#callback, this.#delay, this.#args, this.#repeat);
    }
    static clear(timeout) {
      disarmTimer(timeout.#id);
    }
    static is(value) {
      return value !== null && typeof value === "object" && #id in value;
    }
    refresh() {
      disarmTimer(this.#id);
      this.#arm();
      return this;
    }
    ref() { this.#refed = true; return this; }
    unref() { this.#refed = false; return this; }
    hasRef() { return this.#refed; }
    close() { disarmTimer(this.#id); return this; }
    [SymbolToPrimitive]() { return this.#id; }
  }
  disposable(Timeout.prototype, function dispose() { Timeout.clear(this); });

  class Immediate {
    #id = 0;
    #refed = true;
    constructor(callback, args, key) {
      if (key !== INTERNAL) throw new TypeError("Illegal constructor");
      this.#id = armTimer(callback, 0, args, false);
    }
    static clear(immediate) {
      disarmTimer(immediate.#id);
    }
    static is(value) {
      return value !== null && typeof value === "object" && #id in value;
    }
    ref() { this.#refed = true; return this; }
    unref() { this.#refed = false; return this; }
    hasRef() { return this.#refed; }
    [SymbolToPrimitive]() { return this.#id; }
  }
  disposable(Immediate.prototype, function dispose() { Immediate.clear(this); });

  /** clearTimeout & co: a Timeout/Immediate object, or a timer id (a number or its string). */
  const clear = (timer) => {
    if (Timeout.is(timer)) Timeout.clear(timer);
    else if (Immediate.is(timer)) Immediate.clear(timer);
    else if (typeof timer === "number" || typeof timer === "string") disarmTimer(timer);
  };

  const exports = {
    setTimeout: function setTimeout(callback, delay = undefined, ...args) {
      validateFunction(callback, "callback");
      return new Timeout(callback, nodeTimerDelay(delay), args, false, INTERNAL);
    },
    clearTimeout: function clearTimeout(timer) { clear(timer); },
    setInterval: function setInterval(callback, delay = undefined, ...args) {
      validateFunction(callback, "callback");
      return new Timeout(callback, nodeTimerDelay(delay), args, true, INTERNAL);
    },
    clearInterval: function clearInterval(timer) { clear(timer); },
    setImmediate: function setImmediate(callback, ...args) {
      validateFunction(callback, "callback");
      return new Immediate(callback, args, INTERNAL);
    },
    clearImmediate: function clearImmediate(immediate) { clear(immediate); },
    /** @deprecated in Node: timeout.refresh(). */
    active: function active(timer) {
      if (Timeout.is(timer)) timer.refresh();
    },
    /** @deprecated in Node: clearTimeout. */
    unenroll: function unenroll(timer) { clear(timer); },
    /** @deprecated in Node, and not implemented (as in workerd). */
    enroll: function enroll() {
      throw new Error("Not implemented. Please use setTimeout() instead.");
    },
    Timeout,
    Immediate,
    promises: builtinExports("node:timers/promises"),
  };
  // `util.promisify` of these is timers/promises' own, as in Node.
  const custom = (fn, promised) => ObjectDefineProperty(fn, SymbolFor("nodejs.util.promisify.custom"), {
    __proto__: null, value: promised, enumerable: false, writable: false, configurable: true,
  });
  custom(exports.setTimeout, exports.promises.setTimeout);
  custom(exports.setImmediate, exports.promises.setImmediate);
  return exports;
}

function timersPromisesModule() {
  /** A promise settled by a one-shot internal timer of `ms`, rejected with Node's AbortError when
   *  `signal` aborts first. */
  const wait = (ms, value, signal) => {
    if (signal !== undefined && abortSignalAborted(signal)) return promiseRejectedWith(timersAbortError(signal));
    return new PromiseCtor((resolve, reject) => {
      let onAbort = null;
      const id = armInternalTimer(() => {
        if (onAbort !== null) removeAbortAlgorithm(signal, onAbort);
        resolve(value);
      }, ms);
      if (signal !== undefined) {
        onAbort = () => {
          disarmInternalTimer(id);
          reject(timersAbortError(signal));
        };
        addAbortAlgorithm(signal, onAbort);
      }
    });
  };

  function setTimeout(delay = undefined, value = undefined, options = {}) {
    let signal;
    try {
      checkTimerDelay(delay);
      signal = timerPromiseOptions(options);
    } catch (e) {
      return promiseRejectedWith(e);
    }
    return wait(nodeTimerDelay(delay), value, signal);
  }

  function setImmediate(value = undefined, options = {}) {
    let signal;
    try {
      signal = timerPromiseOptions(options);
    } catch (e) {
      return promiseRejectedWith(e);
    }
    return wait(0, value, signal);
  }

  async function* setInterval(delay = undefined, value = undefined, options = {}) {
    checkTimerDelay(delay);
    const signal = timerPromiseOptions(options);
    if (signal !== undefined && abortSignalAborted(signal)) throw timersAbortError(signal);
    let due = 0; // ticks not yielded yet
    let wake = null; // resolves the pending wait for the next tick
    let onAbort = null;
    const id = armTimer(() => {
      due++;
      if (wake !== null) {
        const w = wake;
        wake = null;
        w();
      }
    }, nodeTimerDelay(delay), [], true, true);
    try {
      if (signal !== undefined) {
        onAbort = () => {
          disarmInternalTimer(id);
          if (wake !== null) {
            const w = wake;
            wake = null;
            w();
          }
        };
        addAbortAlgorithm(signal, onAbort);
      }
      while (signal === undefined || !abortSignalAborted(signal)) {
        if (due === 0) await new PromiseCtor((resolve) => { wake = resolve; });
        for (; due > 0 && (signal === undefined || !abortSignalAborted(signal)); due--) yield value;
      }
      throw timersAbortError(signal);
    } finally {
      disarmInternalTimer(id);
      if (onAbort !== null) removeAbortAlgorithm(signal, onAbort);
    }
  }

  class Scheduler {
    #brand = true;
    constructor(key) {
      if (key !== INTERNAL) throw new TypeError("Illegal constructor");
    }
    static check(value) {
      if (value === null || typeof value !== "object" || !(#brand in value)) {
        throw nodeError(TypeError, "ERR_INVALID_THIS", "Value of \"this\" must be of type Scheduler");
      }
    }
    /** timers/promises' setImmediate(). */
    yield() {
      Scheduler.check(this);
      return setImmediate();
    }
    /** timers/promises' setTimeout(delay, undefined, options). */
    wait(delay, options = {}) {
      Scheduler.check(this);
      return setTimeout(delay, undefined, options);
    }
  }

  return { setTimeout, setImmediate, setInterval, scheduler: new Scheduler(INTERNAL) };
}

defineBuiltin("node:timers", ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "setImmediate",
  "clearImmediate", "active", "unenroll", "enroll", "Timeout", "Immediate", "promises"], timersModule);
defineBuiltin("node:timers/promises", ["setTimeout", "setImmediate", "setInterval", "scheduler"],
  timersPromisesModule);
