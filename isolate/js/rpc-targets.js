// ---- rpc-targets.js: RpcTargets over RPC (the supervisor's `api/rpc_targets.rs`). ----------
// An RPC method's result may hold instances of RpcTarget (cloudflare:workers) and functions,
// tagged "t" {v: number, f: 1 for a function} by rpc.js's encoding when it is given exports. The
// callee then sends its result with `service.export` and serves the caller's calls on them
// (`service.wait` for the next, `service.next` for its answer) until the caller lets go; the
// caller's stubs (rpc.js's method proxy) call `service.target` and, once every stub of the
// session is disposed and no call of it is in flight, `service.release`. A stub passed on (as
// an argument or in a result, to another worker or back to its own) crosses as this worker's own
// target, whose calls go on through it (rpcServeThrough).
// Callbacks: a caller's arguments may hold functions and RpcTargets too (of an RPC call, and of a
// call on a target); the callee's stubs of them call `service.callback`, which the caller's
// waiting call answers as {callback} (rpcCall or rpcTargetCall, through rpcUntilAnswer, runs it
// with rpcCallback at once and sends its answer with `service.reply`, while `service.resume`
// waits for the call's next event), until the call answers.
// Trust: a session is named by its number among the caller's request's resources and a random
// key, checked by the supervisor; target numbers and methods are checked here.

// The most RpcTargets (and functions) one RPC call's session exports.
const RPC_MAX_TARGETS = 1024;
// The most calls on one session's targets served at once (daemon/src/api/rpc_targets.rs's
// MAX_SERVING).
const RPC_MAX_SERVING = 64;
const rpcStubs = new WeakSet();
const RPC_DISPOSE = Symbol.dispose;
const RPC_ASYNC_DISPOSE = Symbol.asyncDispose;

// cloudflare:workers' RpcTarget is builtins.js's RpcTargetBase.
const RPC_TARGET_PROTOTYPE = RpcTargetBase.prototype;

/** What an RPC call's arguments (`lend`: a stub among them is lent for the call, as a dup the
 *  call holds, so the caller may dispose its own meanwhile) or result export: its targets by
 *  number. */
function rpcExports(lend = false) {
  // The map made at the first target (rpcExport).
  return { __proto__: null, list: [], ids: null, lend, lent: null };
}

// `value` (an RpcTarget, a function or a stub) as a target of `exports`, tagged.
function rpcExport(state, value, isFunction) {
  const exports = state.exports;
  if (exports.ids === null) exports.ids = new RpcMap();
  let id = MapGet(exports.ids, value);
  if (id === undefined) {
    if (exports.list.length >= RPC_MAX_TARGETS) throw rpcCloneError(state, `more than ${RPC_MAX_TARGETS} RpcTargets`);
    id = exports.list.length;
    let target = value;
    // Once the call is over (a callback's late result), nothing is lent: the stub goes as it is
    // (its callee, whose stubs of the call died with it, cannot use it).
    if (exports.lend && exports.lent !== RPC_RETURNED && rpcIsStub(rpcStubs, value)) {
      target = value.dup();
      if (exports.lent === null) exports.lent = [];
      rpcAppend(exports.lent, target);
    }
    rpcAppend(exports.list, target);
    MapSet(exports.ids, value, id);
  }
  return { $: "t", v: id, f: isFunction ? 1 : 0 };
}

const RPC_RETURNED = ObjectFreeze([]);

/** The call `exports` went with is over: the stubs it was lent are given back (disposed). */
function rpcReturnLent(exports) {
  if (exports === null) return;
  const lent = exports.lent;
  exports.lent = RPC_RETURNED;
  if (lent === null || lent === RPC_RETURNED) return;
  for (let i = 0; i < lent.length; i++) {
    try { lent[i][RPC_DISPOSE](); } catch {}
  }
}

/** A stub of target `id` of `session`: a function for a function, else an object whose every
 *  string property but the reserved ones is a method. Disposing every stub of a session
 *  releases it (the callee's request ends). */
function rpcTargetStub(session, id, isFunction) {
  session.alive++;
  return rpcMakeStub((method, args) => rpcTargetCall(session, id, method, args), isFunction,
    () => rpcDropSession(session), () => rpcTargetStub(session, id, isFunction));
}

/** A stub whose calls go to `call(method, args)` ("" for a function's), with `[Symbol.dispose]`
 *  (`onDispose()` once; a disposed stub's calls reject) and `dup()` (a new stub of the same
 *  target, disposed on its own), as Cloudflare's stubs have. */
function rpcMakeStub(callTarget, isFunction, onDispose, dup) {
  let disposed = false;
  const dispose = () => {
    if (disposed) return;
    disposed = true;
    onDispose();
  };
  const call = (method, args) => (disposed
    ? promiseRejectedWith(new DOMException("RPC: this stub was disposed", "InvalidStateError"))
    : callTarget(method, args));
  const disposeAsync = async () => dispose();
  if (isFunction) {
    const f = (...args) => rpcPipeline(call("", args));
    const fixed = (value) => ({ __proto__: null, value, writable: false, enumerable: false, configurable: false });
    if (typeof RPC_DISPOSE === "symbol") ObjectDefineProperty(f, RPC_DISPOSE, fixed(dispose));
    if (typeof RPC_ASYNC_DISPOSE === "symbol") ObjectDefineProperty(f, RPC_ASYNC_DISPOSE, fixed(disposeAsync));
    ObjectDefineProperty(f, "dup", fixed(dup));
    rpcAddStub(rpcStubs, f);
    return f;
  }
  const stub = rpcMethodProxy(call, (property) => {
    if (property === RPC_DISPOSE) return dispose;
    if (property === RPC_ASYNC_DISPOSE) return disposeAsync;
    if (property === "dup") return dup;
    return undefined;
  }, null, RPC_TARGET_RESERVED);
  rpcAddStub(rpcStubs, stub);
  return stub;
}

/** `new RpcStub(value)`: a stub of a local RpcTarget or function, whose calls run it here (a
 *  promise, as a remote call's; a property read is `await stub.name`) and which crosses RPC as
 *  that target; disposing its last dup runs the target's own `[Symbol.dispose]`. A stub given
 *  is dup()ed. */
function rpcLocalStub(value) {
  if (rpcIsStub(rpcStubs, value)) return value.dup();
  const isFunction = typeof value === "function";
  if (!isFunction && (value === null || typeof value !== "object" || !rpcIsPrototypeOf(RPC_TARGET_PROTOTYPE, value))) {
    throw new TypeError("RpcStub: the value must be an RpcTarget, a function or a stub");
  }
  let alive = 0;
  const call = async (method, args) => {
    if (isFunction) return ReflectApply(value, undefined, args);
    if (args === RPC_GET) return rpcPropertyOf(value, method, RPC_TARGET_RESERVED);
    return ReflectApply(rpcTargetMethod(value, method), value, args);
  };
  const disposeOne = () => {
    if (--alive > 0 || isFunction) return;
    const own = typeof RPC_DISPOSE === "symbol" ? value[RPC_DISPOSE] : undefined;
    if (typeof own === "function") ReflectApply(own, value, []);
  };
  const make = () => {
    alive++;
    return rpcMakeStub(call, isFunction, disposeOne, make);
  };
  return make();
}

/** The session of the callbacks an RPC call or a call on a target brings: its stubs call back
 *  through that call while it runs, from its own request's code only (the task it runs in). */
function rpcBackSession(call) {
  return { __proto__: null, back: true, alive: 0, released: false, task: hostTask(), call, sending: 0, sent: null };
}

/** One callback of `session` is sent (its host call made) or will never be. */
function rpcCallbackSent(session) {
  if (--session.sending === 0 && session.sent !== null) {
    session.sent.resolve(undefined);
    session.sent = null;
  }
}

/** The call that brought `session`'s callbacks is over: it is let go of once every callback
 *  made so far has been sent, so the call's answer goes after them (awaited or not), as
 *  Cloudflare's calls arrive in the order they were made. */
async function rpcCallbacksOver(session) {
  session.released = true;
  while (session.sending > 0) {
    if (session.sent === null) session.sent = new Deferred();
    await session.sent.promise;
  }
}

/** One hold on `session` let go (a stub disposed, a call over): the last releases it (a
 *  callback session ends with its call instead). */
function rpcDropSession(session) {
  if (--session.alive === 0 && !session.released && session.back !== true) {
    session.released = true;
    uponPromise(bindingCall("service.release", { session: session.number, key: session.key }), undefined, () => {});
  }
}

/** Calls `method` ("" for a function) of target `id` of `session` with `args`. The call holds
 *  the session while it runs, so the stubs its answer brings are not released with the others. */
async function rpcTargetCall(session, id, method, args) {
  if (session.released) {
    // A callback's stub lives as long as the call that brought it.
    if (session.back === true) throw new DOMException("RPC: the callback's caller is gone: its call was answered", "OperationError");
    throw new DOMException("RPC: this RpcTarget's stubs were disposed", "InvalidStateError");
  }
  // Another request's code (through a global, say) would reach the call this request serves:
  // the host routes a callback by the running request.
  if (session.back === true && session.task !== hostTask()) {
    throw new Error("Cannot perform I/O on behalf of a different request: this RPC callback stub belongs to another request's call");
  }
  // A call on a target may pass functions and RpcTargets of its own (callbacks, served while it
  // waits); a callback's arguments are plain data.
  const back = session.back === true;
  const exports = back ? null : rpcExports(true);
  // The call holds the session from when it is made (its arguments' pipes are opened first):
  // the caller's other stubs may be disposed meanwhile.
  session.alive++;
  const turn = rpcTurn(session);
  // A callback's call is counted until its host call is made: the call that brought it answers
  // after that (rpcCallbacksOver).
  let unsent = back;
  if (back) session.sending++;
  let pipes = RPC_NO_PIPES;
  try {
    // A DataCloneError here: nothing was sent.
    let encoded = RPC_GET_JSON;
    if (args !== RPC_GET) [encoded, pipes] = await rpcEncodeForWorker(args, exports);
    // A callback (the caller's argument) goes back through the call; a target to its session.
    // A callback names the call on a target that brought it (none: the RPC call's own).
    const head = back
      ? { target: id, method, call: session.call }
      : { session: session.number, key: session.key, target: id, method };
    const op = back ? "service.callback" : "service.target";
    let sending;
    try {
      const message = rpcMessage(head, encoded);
      [sending] = await rpcAfter(turn, () => rpcSendWith(pipes, () => bindingCall(op, head, message)));
    } catch (e) {
      pipes.stop(e);
      throw e;
    }
    if (unsent) {
      unsent = false;
      rpcCallbackSent(session);
    }
    let bytes;
    try {
      const sent = await sending;
      [, bytes] = back ? sent : await rpcUntilAnswer(exports, sent);
    } catch (e) {
      pipes.stop(e);
      throw e;
    }
    const answer = JSONParse(utf8DecodeStripBOM(bytes));
    if (answer !== null && typeof answer === "object" && answer.error !== undefined) throw rpcThrown(answer.error);
    return rpcDecode(answer?.ok, session);
  } finally {
    if (unsent) rpcCallbackSent(session);
    turn.done();
    rpcReturnLent(exports);
    rpcDropSession(session);
  }
}

/** The answer of an RPC call whose method returned `result`: JSON text {"ok": encoded}. When
 *  the result holds RpcTargets or functions, it goes to the caller with `service.export`, and
 *  the call serves the caller's calls on them until the caller lets go, each run through
 *  `enter` (a Durable Object's: its gates). Once it is over, each target's own
 *  `[Symbol.dispose]` runs. `keep` takes the pumps of the streams its answers carry. */
async function rpcAnswer(result, enter = (run) => run(), keep = null) {
  const exports = rpcExports();
  const [encoded, pipes] = await rpcEncodeForWorker(result, exports, keep);
  if (exports.list.length === 0) {
    let text;
    try {
      text = rpcResultText({ ok: encoded });
    } catch (e) {
      pipes.stop(e);
      throw e;
    }
    // The answer goes with the task's: its pipes are fed from now on.
    pipes.start();
    return text;
  }
  try {
    const message = rpcMessage({}, { ok: encoded });
    await rpcSendWith(pipes, () => bindingCall("service.export", {}, message));
  } catch (e) {
    pipes.stop(e);
    throw new DOMException(`RPC: ${e?.message ?? e}`, "DataCloneError");
  }
  // Calls start in the order they come and run at once (a callback may call the same target
  // again), at most RPC_MAX_SERVING at a time (the host's bound too).
  const serving = { __proto__: null, count: 0, freed: null };
  const over = () => {
    serving.count--;
    const freed = serving.freed;
    serving.freed = null;
    if (freed !== null) freed.resolve(undefined);
  };
  const oneOver = () => {
    serving.freed = new Deferred();
    return serving.freed.promise;
  };
  try {
    for (;;) {
      while (serving.count >= RPC_MAX_SERVING) await oneOver();
      const [call, bytes] = await bindingCall("service.wait", {});
      if (call === null || typeof call !== "object" || call.done === true) break;
      serving.count++;
      uponPromise(rpcServeOne(exports, call, bytes, enter, keep), over, over);
    }
  } finally {
    // The caller let go (or the wait failed): what still runs finishes before the targets are
    // disposed.
    while (serving.count > 0) await oneOver();
    for (let i = 0; i < exports.list.length; i++) {
      const target = exports.list[i];
      try {
        // A function's own dispose only when it is a stub passed on (the result gave it away).
        const disposable = typeof target !== "function" || rpcIsStub(rpcStubs, target);
        const dispose = typeof RPC_DISPOSE === "symbol" && disposable ? target[RPC_DISPOSE] : undefined;
        if (typeof dispose === "function") ReflectApply(dispose, target, []);
      } catch {}
    }
  }
  return JSONStringify({ ok: null });
}

/** Serves the caller's call `call` ({target, method, call}) on one of `exports`' targets and
 *  sends its answer with `service.next`. Never rejects. */
async function rpcServeOne(exports, call, bytes, enter, keep) {
  let answer;
  let pipes = RPC_NO_PIPES;
  try {
    const [encoded, sending] = await rpcEncodeForWorker(await enter(() => rpcServe(exports, call, bytes)), exports, keep);
    answer = { ok: encoded };
    pipes = sending;
  } catch (e) {
    answer = { error: errorSummary(e) };
  }
  const head = { call: call.call };
  try {
    const message = rpcMessage(head, answer);
    await rpcSendWith(pipes, () => bindingCall("service.next", head, message));
  } catch (e) {
    pipes.stop(e);
    // An answer the host refuses (too large, say): the caller gets why, not silence.
    try {
      await bindingCall("service.next", head, utf8Encode(JSONStringify({ error: errorSummary(e) })));
    } catch {}
  }
}

/** The answer ({"ok": encoded} or {"error"}) of the callee's call `call` ({target, method}) of
 *  one of this caller's arguments' targets (`exports`), with the encoded arguments `bytes`, and
 *  its pipes (rpcReply starts them once it went). */
async function rpcCallback(exports, call, bytes) {
  try {
    const [encoded, pipes] = await rpcEncodeForWorker(await rpcServe(exports, call, bytes), exports);
    return [{ ok: encoded }, pipes];
  } catch (e) {
    return [{ error: errorSummary(e) }, RPC_NO_PIPES];
  }
}

/** The call `call` ({target, method}) on `stub`, a stub of another worker's target this worker
 *  passed on, made through it with the decoded arguments of `sent`: what it answers. */
async function rpcServeThrough(stub, call, sent) {
  const name = `${call.method}`;
  if (name in RPC_TARGET_RESERVED) throw new TypeError(`the RpcTarget has no RPC method ${JSONStringify(name)}`);
  const member = stub[name];
  if (rpcIsGet(sent)) return await member;
  const back = rpcBackSession(call.call);
  const args = rpcDecode(sent, back);
  try {
    return await ReflectApply(member, undefined, ArrayIsArray(args) ? args : []);
  } finally {
    await rpcCallbacksOver(back);
  }
}

/** RpcTarget `target`'s RPC method `name`: its class's (not its own fields, as Cloudflare's),
 *  or a TypeError. */
function rpcTargetMethod(target, name) {
  const proto = ObjectGetPrototypeOf(target);
  const method = proto === null ? undefined : rpcMethodOf(proto, name, RPC_TARGET_RESERVED);
  if (method === undefined) throw new TypeError(`the RpcTarget has no RPC method ${JSONStringify(name)}`);
  return method;
}

/** Runs the caller's call `call` ({target, method}) with the encoded arguments `bytes` on one of
 *  `exports`' targets: what it returns. */
async function rpcServe(exports, call, bytes) {
  const index = call.target >>> 0;
  if (index >= exports.list.length) throw new TypeError("RPC: no such RpcTarget");
  const target = exports.list[index];
  const sent = JSONParse(utf8DecodeStripBOM(bytes));
  // A stub this worker passed on: the call goes on through it, to its own worker.
  if (typeof target !== "function" && rpcIsStub(rpcStubs, target)) return rpcServeThrough(target, call, sent);
  // `await stub.name`: a property of the RpcTarget's class (a function's are not offered).
  if (rpcIsGet(sent)) return typeof target === "function" ? undefined : rpcPropertyOf(target, `${call.method}`, RPC_TARGET_RESERVED);
  // The caller's functions and RpcTargets among them: stubs served while this call runs, and
  // released once it is over (a later call of one fails, reaching no other call's).
  const back = rpcBackSession(call.call);
  const args = rpcDecode(sent, back);
  const list = ArrayIsArray(args) ? args : [];
  try {
    if (typeof target === "function") return await ReflectApply(target, undefined, list);
    return await ReflectApply(rpcTargetMethod(target, `${call.method}`), target, list);
  } finally {
    await rpcCallbacksOver(back);
  }
}
