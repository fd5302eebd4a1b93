// ---- scheduled.js: the scheduled handler (cron triggers) ------------------------------------------
// What a cron trigger calls (STK_INVOKE_SCHEDULED, runtime.js): the default export's
// `scheduled(controller, env, ctx)`, a WorkerEntrypoint class's `scheduled(controller)` (the class
// constructed with (ctx, env) per event, as for fetch), or, in service-worker syntax, a trusted
// ScheduledEvent "scheduled" dispatched to the global scope's listeners. The run is over once the
// handler settled and every `waitUntil` promise has: its outcome is "exception" when the handler
// (or a listener) threw or any of those promises rejected, each reported in the request's logs
// ("Uncaught ..."), as workerd reports them; `noRetry()` is remembered either way. A lazy group
// (isolate/src/lazy/): built by the first scheduled event, or the first read of its globals.
// Guarantees: the answer is built from captured primordials only (JSONStringify, ReflectApply);
// what tenant code replaces (Promise.prototype.then, a listener list's prototype) cannot reach
// the outcome. Trusts: the host's payload {cron, scheduledTime, env}.

let scheduledRetryOff; // (controller) -> boolean: noRetry() was called

/** ScheduledController: what `scheduled(controller, env, ctx)` gets. */
class ScheduledController {
  #scheduledTime;
  #cron;
  #noRetry = false;
  constructor(key, scheduledTime, cron) {
    if (key !== INTERNAL) throw new TypeError("Illegal constructor");
    this.#scheduledTime = scheduledTime;
    this.#cron = cron;
  }
  get scheduledTime() { return this.#scheduledTime; }
  get cron() { return this.#cron; }
  get type() { return "scheduled"; }
  /** The run is not retried should it fail (Stockade never retries one; kept for its outcome). */
  noRetry() { this.#noRetry = true; }
  static {
    scheduledRetryOff = (c) => c.#noRetry;
  }
}
webidlEnumerable(ScheduledController);
setTag(ScheduledController.prototype, "ScheduledController");
inspectThroughGetters(ScheduledController, ["scheduledTime", "cron"]);
defineGlobal("ScheduledController", ScheduledController);

let scheduledEventRetryOff; // (event) -> boolean
let scheduledEventBegin; // (event, waitUntil(p)) -> undefined

/** ScheduledEvent: what a "scheduled" listener gets (service-worker syntax). */
class ScheduledEvent extends Event {
  #scheduledTime = 0;
  #cron = "";
  #noRetry = false;
  #waitUntil = null;
  constructor(type, init = undefined) {
    requireArgs(arguments.length, 1, "ScheduledEvent");
    super(type, init);
    const scheduledTime = dictGet(init, "scheduledTime");
    const cron = dictGet(init, "cron");
    this.#scheduledTime = scheduledTime === undefined ? 0 : +scheduledTime;
    this.#cron = cron === undefined ? "" : `${cron}`;
  }
  get scheduledTime() { return this.#scheduledTime; }
  get cron() { return this.#cron; }
  noRetry() { this.#noRetry = true; }
  waitUntil(promise) {
    requireArgs(arguments.length, 1, "ScheduledEvent.waitUntil");
    if (this.#waitUntil === null) throw new DOMException("ScheduledEvent.waitUntil: this event is not the runtime's", "InvalidStateError");
    this.#waitUntil(promise);
  }
  static {
    scheduledEventRetryOff = (e) => e.#noRetry;
    scheduledEventBegin = (e, waitUntil) => { e.#waitUntil = waitUntil; };
  }
}
webidlEnumerable(ScheduledEvent);
setTag(ScheduledEvent.prototype, "ScheduledEvent");
defineGlobal("ScheduledEvent", ScheduledEvent);

/** Runs one scheduled event of module namespace `ns` (payload: {cron, scheduledTime, env}); the
 *  answer is JSON text {outcome, noRetry, error?}, once the handler and its waitUntil work are
 *  over. */
async function scheduledInvoke(ns, payload) {
  const call = JSONParse(payload);
  const cron = `${call.cron}`;
  const scheduledTime = +call.scheduledTime;
  const run = eventRun(ns, "scheduled", call.env);
  const { ctx, env, handler } = run;
  let thrown = null;
  let retryOff;
  if (run.shape !== null) {
    const controller = new ScheduledController(INTERNAL, scheduledTime, cron);
    retryOff = () => scheduledRetryOff(controller);
    try {
      if (run.shape === "class") await new handler(ctx, env).scheduled(controller);
      else await handler.scheduled(controller, env, ctx);
    } catch (e) {
      thrown = { __proto__: null, error: e };
    }
  } else if (globalListenersOf("scheduled").length > 0) {
    // Service-worker syntax: no env argument; the bindings are globals.
    const event = new ScheduledEvent("scheduled", { __proto__: null, scheduledTime, cron });
    scheduledEventBegin(event, run.waitUntil);
    retryOff = () => scheduledEventRetryOff(event);
    thrown = dispatchToGlobalListeners("scheduled", event, env);
  } else {
    return JSONStringify({
      outcome: "noHandler",
      noRetry: false,
      error: {
        name: "TypeError",
        message: "the worker has no scheduled handler (export default { scheduled(controller, env, ctx) {} }, " +
          "a class with a scheduled(controller) method, or a \"scheduled\" event listener)",
      },
    });
  }
  if (thrown !== null) reportException(thrown.error);
  const rejected = await run.settle();
  const failed = thrown ?? rejected;
  const noRetry = retryOff();
  return JSONStringify(failed !== null
    ? { outcome: "exception", noRetry, error: errorSummary(failed.error) }
    : { outcome: "ok", noRetry });
}

shareInternals("scheduled", ObjectFreeze({ __proto__: null, invoke: scheduledInvoke }));
