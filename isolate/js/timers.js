// ---- timers.js: setTimeout & co, queueMicrotask, performance. --------------------
// Timer ids are positive int32s shared by timeouts and intervals (clearTimeout clears an interval,
// as on the web) and never reused. The host owns the clock and the loop; see the contract in
// prelude.js. An interval re-arms before its callback runs, so a throwing callback keeps its
// schedule and clearInterval from inside the callback wins; what a callback throws is reported
// (workers.js, reportUncaughtException), not the request's failure.

const timerTable = new Map(); // id -> { callback, args, delay, repeat }
let lastTimerId = 0;

/** WebIDL `long` conversion of a delay, clamped to >= 0 (2**31 wraps to a negative, hence 0). */
function timerDelay(delay) {
  const ms = Number(delay) | 0;
  return ms < 0 ? 0 : ms;
}

function armTimer(callback, delay, args, repeat, internal = false) {
  if (typeof callback !== "function") {
    throw new TypeError("The callback must be a function (string callbacks would need eval)");
  }
  if (lastTimerId >= 0x7fffffff) throw new RangeError("timer ids exhausted in this context");
  const id = ++lastTimerId;
  let ms = timerDelay(delay);
  if (repeat && ms < 1) ms = 1; // a 0 ms interval would spin the host loop
  const dropped = hostSetTimer(id, ms); // may throw (host timer quota); then nothing is recorded
  // The async context (AsyncLocalStorage's frame) current now is the one the callback runs in.
  MapSet(timerTable, id, { callback, args, delay: ms, repeat, internal, context: hostGetContext() });
  forgetDroppedTimers(dropped);
  return id;
}

/** Forgets the timers the host says will never fire (their request ended first; possibly the
 *  one just armed): setTimer's answer, an array of ids or undefined. */
function forgetDroppedTimers(dropped) {
  if (dropped === undefined) return;
  for (let i = 0; i < dropped.length; i++) MapDelete(timerTable, dropped[i]);
}

/** A one-shot timer of the prelude itself (e.g. AbortSignal.timeout): `ms` is clamped to the
 *  host's int32 range, and tenant code cannot clear it with clearTimeout (ids are guessable).
 *  Returns the id for disarmInternalTimer. */
function armInternalTimer(callback, ms) {
  return armTimer(callback, ms > 0x7fffffff ? 0x7fffffff : ms, [], false, true);
}

function disarmTimer(id) {
  const key = Number(id);
  const timer = MapGet(timerTable, key);
  if (timer === undefined || timer.internal) return;
  MapDelete(timerTable, key);
  hostClearTimer(key);
}

function disarmInternalTimer(id) {
  if (MapDelete(timerTable, id)) hostClearTimer(id);
}

function dispatchTimer(id) {
  const timer = MapGet(timerTable, id);
  if (timer === undefined) return;
  if (timer.repeat) forgetDroppedTimers(hostSetTimer(id, timer.delay));
  else MapDelete(timerTable, id);
  const previous = hostGetContext();
  hostSetContext(timer.context);
  try {
    ReflectApply(timer.callback, globalThis, timer.args);
  } catch (e) {
    // As on the web and in Workers: reported (an "error" event, the logs), and the request goes
    // on. A limit's termination is no exception and is not caught here.
    reportUncaughtException(e);
  } finally {
    hostSetContext(previous);
  }
}
// The host keeps both: the timers' dispatch, and the promise rejections' (workers.js, a later
// part: its function is hoisted, its classes are used only when a rejection is dispatched).
hostOnTimer(dispatchTimer, dispatchRejectionForHost);

defineGlobal("setTimeout", function setTimeout(callback, delay = 0, ...args) {
  return armTimer(callback, delay, args, false);
});
// `util.promisify(setTimeout)` is Node's `timers/promises` setTimeout, as in Node and workerd.
const TimerPromise = Promise; // captured while the prelude runs, before any tenant code
ObjectDefineProperty(globalThis.setTimeout, Symbol.for("nodejs.util.promisify.custom"), {
  value: function setTimeout(delay = 0, value = undefined) {
    return new TimerPromise((resolve) => { armTimer(resolve, delay, [value], false); });
  },
  writable: false,
  enumerable: false,
  configurable: true,
});
defineGlobal("setInterval", function setInterval(callback, delay = 0, ...args) {
  return armTimer(callback, delay, args, true);
});
defineGlobal("clearTimeout", function clearTimeout(id = 0) { disarmTimer(id); });
defineGlobal("clearInterval", function clearInterval(id = 0) { disarmTimer(id); });

const resolvedPromise = Promise.resolve();
const PromisePrototypeThen = Promise.prototype.then;
defineGlobal("queueMicrotask", function queueMicrotask(callback) {
  if (typeof callback !== "function") throw new TypeError("queueMicrotask: callback is not a function");
  // What the callback throws is reported as HTML and workerd do (an "error" event, the logs),
  // never an unhandled rejection of this internal promise.
  ReflectApply(PromisePrototypeThen, resolvedPromise, [() => {
    try {
      ReflectApply(callback, undefined, []);
    } catch (e) {
      reportUncaughtException(e);
    }
  }]);
});

// Computed on first use, never at prelude time: the host may evaluate the prelude once into a
// startup snapshot, and a value computed then would be shared by every isolate made from it.
let timeOrigin = null;
const getTimeOrigin = () => (timeOrigin ??= Date.now() - hostNow());
class Performance {
  constructor(key) {
    if (key !== INTERNAL) throw new TypeError("Illegal constructor");
  }
  get timeOrigin() { return getTimeOrigin(); }
  now() { return hostNow(); }
  toJSON() { return { timeOrigin: getTimeOrigin() }; }
}
setTag(Performance.prototype, "Performance");
defineGlobal("Performance", Performance);
// node:perf_hooks' `performance` is this very object.
const performanceObject = new Performance(INTERNAL);
defineGlobal("performance", performanceObject);
