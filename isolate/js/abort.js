// ---- abort.js (part 14 of 42): AbortController, AbortSignal (DOM standard). ---------------------
// A signal's state and its abort algorithms are private; the rest of the prelude (streams, fetch)
// uses the hooks below, never the tenant-patchable methods:
//   isAbortSignal(v), abortSignalAborted(s), abortSignalReason(s),
//   addAbortAlgorithm(s, fn) / removeAbortAlgorithm(s, fn) (fn runs once, when s aborts; adding the
//   same fn twice keeps one), signalAbort(s, reason), newAbortSignal(),
//   createDependentAbortSignal(signals) (AbortSignal.any's algorithm, e.g. for a Request's signal).
// AbortSignal.any keeps the DOM's dependency rules: a dependent signal follows the non-dependent
// sources behind its inputs, is marked aborted (with the reason) before any abort event fires, and
// never follows an already aborted input. A source refers to its dependents weakly, and strongly
// only to those with something to run when they abort (an abort listener or algorithm), as the
// spec's garbage-collection rule asks: long-lived controllers do not pin every signal made from them.
// AbortSignal.timeout arms a prelude timer (tenant clearTimeout cannot disarm it); like every timer
// it belongs to the request that armed it and dies with it, so it never keeps a request alive past
// its own delay.

const WeakRefCtor = WeakRef;
const weakRefDeref = uncurry(WeakRef.prototype.deref);
// Internal sets (abort algorithms, dependents) only meet captured Set operations: a patched
// Set.prototype never sees the prelude's algorithms, and a replaced global Set is never used.
const SetCtor = Set;
const setAdd = uncurry(Set.prototype.add);
const setDelete = uncurry(Set.prototype.delete);
const setClear = uncurry(Set.prototype.clear);
const setForEach = uncurry(Set.prototype.forEach); // setSize: inspect.js
/** The members of a set as an array (a snapshot), without the set's iterator. */
const setItems = (set) => {
  const out = [];
  setForEach(set, (v) => listAppend(out, v));
  return out;
};

let isAbortSignal; // (v) -> boolean
let abortSignalAborted; // (signal) -> boolean
let abortSignalReason; // (signal) -> any
let addAbortAlgorithm; // (signal, fn) -> undefined
let removeAbortAlgorithm; // (signal, fn) -> undefined
let signalAbort; // (signal, reason) -> undefined; undefined reason = an AbortError DOMException
let newAbortSignal; // () -> AbortSignal
let createDependentAbortSignal; // (signals: AbortSignal[]) -> AbortSignal

const abortError = () => new DOMException("This operation was aborted", "AbortError");

/** WebIDL [EnforceRange] unsigned long long. */
function enforceRangeULongLong(value, what) {
  const x = Number(value);
  if (x !== x || x === Infinity || x === -Infinity) throw new TypeError(`${what}: ${x} is not a finite number`);
  const n = x < 0 ? -MathFloor(-x) : MathFloor(x);
  if (n < 0 || n > Number.MAX_SAFE_INTEGER) throw new TypeError(`${what}: ${x} is outside the range of an unsigned long long`);
  return n;
}

class AbortSignal extends EventTarget {
  #aborted = false;
  #reason = undefined;
  #algorithms = new SetCtor();
  #dependent = false;
  #sources = null; // AbortSignal[]: the non-dependent signals a dependent one follows
  #dependents = null; // Set<WeakRef<AbortSignal>>
  #pinned = null; // Set<AbortSignal>: dependents with something to run when they abort
  #pruneAt = 64;
  constructor(key = undefined) {
    if (key !== INTERNAL) throw new TypeError("Illegal constructor");
    super();
  }
  static abort(reason = undefined) {
    const signal = new AbortSignal(INTERNAL);
    signal.#aborted = true;
    signal.#reason = reason === undefined ? abortError() : reason;
    return signal;
  }
  static timeout(milliseconds) {
    requireArgs(arguments.length, 1, "AbortSignal.timeout");
    const ms = enforceRangeULongLong(milliseconds, "AbortSignal.timeout");
    const signal = new AbortSignal(INTERNAL);
    armInternalTimer(() => {
      signalAbort(signal, new DOMException("The operation timed out.", "TimeoutError"));
    }, ms);
    return signal;
  }
  static any(signals) {
    requireArgs(arguments.length, 1, "AbortSignal.any");
    if (signals === null || typeof signals !== "object") {
      throw new TypeError("AbortSignal.any: the argument must be a sequence of AbortSignals");
    }
    const list = [];
    for (const s of signals) { // WebIDL sequence<AbortSignal>: the argument's own iteration
      if (!isAbortSignal(s)) throw new TypeError("AbortSignal.any: every item must be an AbortSignal");
      listAppend(list, s);
    }
    return createDependentAbortSignal(list);
  }
  get aborted() { return this.#aborted; }
  get reason() { return this.#reason; }
  throwIfAborted() {
    if (this.#aborted) throw this.#reason;
  }
  get onabort() { return eventHandlerGet(this, "abort"); }
  set onabort(value) { eventHandlerSet(this, "abort", value); }

  /** Makes the sources of this dependent signal hold it strongly (it has work to do on abort). */
  #pin() {
    if (!this.#dependent || this.#aborted) return;
    const sources = this.#sources;
    for (let i = 0; i < sources.length; i++) setAdd(sources[i].#pinned ??= new SetCtor(), this);
  }
  #follow(source) {
    const sources = this.#sources;
    for (let i = 0; i < sources.length; i++) if (sources[i] === source) return;
    listAppend(sources, source);
    const dependents = source.#dependents ??= new SetCtor();
    if (setSize(dependents) >= source.#pruneAt) {
      const refs = setItems(dependents);
      for (let i = 0; i < refs.length; i++) if (weakRefDeref(refs[i]) === undefined) setDelete(dependents, refs[i]);
      source.#pruneAt = setSize(dependents) * 2 + 64;
    }
    setAdd(dependents, new WeakRefCtor(this));
  }
  #runAbortSteps() {
    const algorithms = setItems(this.#algorithms);
    setClear(this.#algorithms);
    for (let i = 0; i < algorithms.length; i++) {
      const fn = algorithms[i];
      try {
        fn();
      } catch (e) {
        reportException(e);
      }
    }
    fireEvent(this, "abort");
  }
  static {
    isAbortSignal = (v) => v !== null && typeof v === "object" && #aborted in v;
    abortSignalAborted = (s) => s.#aborted;
    abortSignalReason = (s) => s.#reason;
    addAbortAlgorithm = (s, fn) => {
      if (s.#aborted) return;
      setAdd(s.#algorithms, fn);
      s.#pin();
    };
    removeAbortAlgorithm = (s, fn) => { setDelete(s.#algorithms, fn); };
    newAbortSignal = () => new AbortSignal(INTERNAL);
    signalAbort = (s, reason) => {
      if (s.#aborted) return;
      s.#aborted = true;
      s.#reason = reason === undefined ? abortError() : reason;
      const toAbort = [];
      if (s.#dependents !== null) {
        const refs = setItems(s.#dependents);
        for (let i = 0; i < refs.length; i++) {
          const d = weakRefDeref(refs[i]);
          if (d === undefined || d.#aborted) continue;
          d.#aborted = true;
          d.#reason = s.#reason;
          listAppend(toAbort, d);
        }
      }
      s.#dependents = null;
      s.#pinned = null;
      s.#runAbortSteps();
      for (let i = 0; i < toAbort.length; i++) toAbort[i].#runAbortSteps();
    };
    createDependentAbortSignal = (signals) => {
      const result = new AbortSignal(INTERNAL);
      for (let i = 0; i < signals.length; i++) {
        const s = signals[i];
        if (s.#aborted) {
          result.#aborted = true;
          result.#reason = s.#reason;
          return result;
        }
      }
      result.#dependent = true;
      result.#sources = [];
      for (let i = 0; i < signals.length; i++) {
        const s = signals[i];
        if (!s.#dependent) result.#follow(s);
        else for (let j = 0; j < s.#sources.length; j++) result.#follow(s.#sources[j]);
      }
      return result;
    };
    listenerAddedHook = (target, type) => {
      if (type === "abort" && isAbortSignal(target)) target.#pin();
    };
  }
}
webidlEnumerable(AbortSignal);
setTag(AbortSignal.prototype, "AbortSignal");
inspectThroughGetters(AbortSignal, ["aborted", "reason"]);
defineGlobal("AbortSignal", AbortSignal);

class AbortController {
  #signal = new AbortSignal(INTERNAL);
  constructor() {}
  get signal() { return this.#signal; }
  abort(reason = undefined) {
    signalAbort(this.#signal, reason);
  }
  static {
    platformBrands.push((v) => v !== null && typeof v === "object" && #signal in v);
  }
}
webidlEnumerable(AbortController);
setTag(AbortController.prototype, "AbortController");
inspectThroughGetters(AbortController, ["signal"]);
defineGlobal("AbortController", AbortController);
