// Event / CustomEvent / EventTarget / AbortController / AbortSignal against the DOM standard's
// algorithms (expected values worked out from the spec: Node's own EventTarget predates several
// of its rules, e.g. capture listeners first at the target, AbortSignal.any's dependent signals),
// plus the timer-driven AbortSignal.timeout.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadPrelude } from "./load-prelude.mjs";

const plain = (v) => JSON.parse(JSON.stringify(v));

/** Runs `body` (a function source taking the globals object) in the prelude's context. */
const runIn = (p, body) => plain(p.run(`(${body})(globalThis)`));

test("dispatch order: capture first at the target, listener objects, once, re-entrancy, stopImmediatePropagation", () => {
  const p = loadPrelude();
  const body = `(g) => {
    const t = new g.EventTarget(); const log = [];
    t.addEventListener("x", (e) => {
      log.push("a:" + e.eventPhase + (e.currentTarget === t) + (e.target === t));
      t.addEventListener("x", () => log.push("added-during-dispatch"));
      t.removeEventListener("x", late);
    });
    const late = () => log.push("removed-during-dispatch");
    t.addEventListener("x", { handleEvent(e) { log.push("obj:" + (this !== t)); } });
    t.addEventListener("x", () => log.push("capture"), { capture: true });
    t.addEventListener("x", late);
    const once = () => { log.push("once"); t.dispatchEvent(new g.Event("y")); };
    t.addEventListener("x", once, { once: true });
    t.addEventListener("x", once, { once: true }); // a duplicate is ignored
    t.addEventListener("y", () => log.push("nested"));
    t.dispatchEvent(new g.Event("x"));
    log.push("|");
    t.dispatchEvent(new g.Event("x"));
    log.push("|");
    const s = new g.EventTarget();
    s.addEventListener("z", (e) => { log.push("z1"); e.stopImmediatePropagation(); });
    s.addEventListener("z", () => log.push("z2"));
    const ze = new g.Event("z");
    log.push(s.dispatchEvent(ze), ze.cancelBubble, ze.eventPhase, ze.currentTarget, ze.target === s);
    return log;
  }`;
  assert.deepEqual(runIn(p, body), [
    "capture", "a:2truetrue", "obj:true", "once", "nested", "|",
    "capture", "a:2truetrue", "obj:true", "added-during-dispatch", "|",
    "z1", true, false, 0, null, true,
  ]);
});

test("Event members: flags, preventDefault and passive listeners, returnValue, cancelBubble, initEvent", () => {
  const p = loadPrelude();
  const body = `(g) => {
    const out = [];
    const e = new g.Event("t", { bubbles: true, cancelable: true, composed: true });
    out.push(e.type, e.bubbles, e.cancelable, e.composed, e.defaultPrevented, e.returnValue, e.eventPhase, e.target, e.isTrusted, e.composedPath().length);
    const t = new g.EventTarget();
    t.addEventListener("t", (ev) => { ev.preventDefault(); out.push("passive", ev.defaultPrevented); }, { passive: true });
    t.addEventListener("t", (ev) => { out.push(ev.composedPath().length === 1 && ev.composedPath()[0] === t); ev.returnValue = false; out.push(ev.defaultPrevented); });
    out.push(t.dispatchEvent(e), e.defaultPrevented, e.returnValue, e.composedPath().length);
    const u = new g.Event("u");
    u.preventDefault();
    out.push(u.defaultPrevented);
    u.cancelBubble = true;
    out.push(u.cancelBubble);
    const v = new g.EventTarget(); let ran = false;
    v.addEventListener("u", () => { ran = true; });
    v.dispatchEvent(u); // stopped before dispatch: no listener runs
    out.push(ran, u.cancelBubble);
    u.initEvent("w", true, true);
    out.push(u.type, u.bubbles, u.cancelable, u.defaultPrevented);
    out.push(g.Event.AT_TARGET, g.Event.prototype.BUBBLING_PHASE, Object.prototype.toString.call(e));
    const c = new g.CustomEvent("c", { detail: { k: 1 } });
    out.push(c.detail.k, new g.CustomEvent("c").detail, c instanceof g.Event);
    try { new g.Event(); } catch (x) { out.push(x.constructor === g.TypeError || x.name); }
    try { t.dispatchEvent({}); } catch (x) { out.push(x.name); }
    try { t.addEventListener("x", 5); } catch (x) { out.push(x.name); }
    try { t.addEventListener("x", () => {}, { signal: null }); } catch (x) { out.push(x.name); }
    return out;
  }`;
  assert.deepEqual(runIn(p, body), [
    "t", true, true, true, false, true, 0, null, false, 0,
    "passive", false, true, true, false, true, false, 0,
    false, true, false, false, "w", true, true, false,
    2, 3, "[object Event]", 1, null, true, true, "TypeError", "TypeError", "TypeError",
  ]);
});

test("isTrusted is an unforgeable own accessor: true for events the prelude fires, false after dispatchEvent", () => {
  const p = loadPrelude();
  const r = p.run(`(() => {
    const a = Object.getOwnPropertyDescriptor(new Event("x"), "isTrusted");
    const b = Object.getOwnPropertyDescriptor(new Event("y"), "isTrusted");
    const c = new AbortController(); let trusted; let redispatched;
    c.signal.onabort = (e) => { trusted = e.isTrusted; globalThis.ev = e; };
    c.abort();
    const t = new EventTarget(); t.addEventListener("abort", (e) => { redispatched = e.isTrusted; });
    t.dispatchEvent(ev);
    let redefine;
    try { Object.defineProperty(ev, "isTrusted", { value: true }); } catch (x) { redefine = x.name; }
    return JSON.stringify([typeof a.get, a.get === b.get, a.configurable, a.enumerable, trusted, redispatched, redefine, "isTrusted" in Event.prototype]);
  })()`);
  assert.deepEqual(JSON.parse(r), ["function", true, false, true, true, false, "TypeError", false]);
});

test("listeners' exceptions are reported and do not stop the dispatch", () => {
  const p = loadPrelude();
  assert.equal(p.run(`(() => { const t = new EventTarget(); let after = false; t.addEventListener("x", () => { throw new RangeError("boom"); }); t.addEventListener("x", { handleEvent: 3 }); t.addEventListener("x", () => { after = true; }); t.dispatchEvent(new Event("x")); return after; })()`), true);
  assert.equal(p.logs.length, 2);
  assert.equal(p.logs[0][0], 3);
  assert.match(p.logs[0][1], /Uncaught RangeError: boom/);
  assert.match(p.logs[1][1], /TypeError/);
});

test("AbortController, AbortSignal.abort, onabort, signal option, throwIfAborted match Node", () => {
  const p = loadPrelude();
  const body = `(g) => {
    const out = [];
    const c = new g.AbortController();
    const t = new g.EventTarget();
    t.addEventListener("x", () => out.push("listener"), { signal: c.signal });
    c.signal.onabort = (e) => out.push("onabort:" + e.type + c.signal.aborted);
    c.signal.addEventListener("abort", () => out.push("listener2"));
    out.push(c.signal.aborted, c.signal.reason, typeof c.signal.onabort);
    t.dispatchEvent(new g.Event("x"));
    c.abort("because");
    c.abort("again");
    t.dispatchEvent(new g.Event("x"));
    out.push(c.signal.reason);
    try { c.signal.throwIfAborted(); } catch (x) { out.push("threw:" + x); }
    const d = new g.AbortController(); d.abort();
    out.push(d.signal.reason.name, d.signal.reason.code, d.signal.reason instanceof g.DOMException);
    const s = g.AbortSignal.abort();
    out.push(s.aborted, s.reason.name, g.AbortSignal.abort(7).reason);
    t.addEventListener("x", () => out.push("never"), { signal: s });
    t.dispatchEvent(new g.Event("x"));
    try { new g.AbortSignal(); } catch (x) { out.push(x.name); }
    c.signal.onabort = 5; out.push(c.signal.onabort);
    return out;
  }`;
  assert.deepEqual(runIn(p, body), [
    false, null, "function", "listener", "onabort:aborttrue", "listener2", "because", "threw:because",
    "AbortError", 20, true, true, "AbortError", 7, "TypeError", null,
  ]);
});

test("AbortSignal.any: dependent rules, reasons, flattening, order of abort events", () => {
  const p = loadPrelude();
  const body = `(g) => {
    const out = [];
    const a = new g.AbortController(), b = new g.AbortController();
    const any = g.AbortSignal.any([a.signal, b.signal]);
    const nested = g.AbortSignal.any([any]);
    any.addEventListener("abort", () => out.push("any:" + nested.aborted + ":" + nested.reason));
    nested.addEventListener("abort", () => out.push("nested"));
    a.signal.addEventListener("abort", () => { out.push("a:" + any.aborted); b.abort("b-reason"); });
    out.push(any.aborted);
    a.abort("a-reason");
    out.push(any.reason, nested.reason, b.signal.reason);
    out.push(g.AbortSignal.any([g.AbortSignal.abort("pre"), a.signal]).reason);
    out.push(g.AbortSignal.any([]).aborted);
    try { g.AbortSignal.any([{}]); } catch (x) { out.push(x.name); }
    return out;
  }`;
  // Dependents are marked aborted (with the source's reason) before any abort event fires; b's
  // later abort cannot change them.
  assert.deepEqual(runIn(p, body), [
    false, "a:true", "any:true:a-reason", "nested", "a-reason", "a-reason", "b-reason", "pre", false, "TypeError",
  ]);
});

test("AbortSignal.timeout aborts with a TimeoutError on the host's clock; tenant clearTimeout cannot disarm it", async () => {
  const p = loadPrelude();
  p.run(`globalThis.s = AbortSignal.timeout(100); globalThis.seen = []; s.onabort = () => seen.push(performance.now());
    for (let id = 1; id < 50; id++) clearTimeout(id);
    globalThis.waited = new Promise((resolve) => s.addEventListener("abort", () => resolve(s.reason.name)));`);
  await p.advance(99);
  assert.equal(p.run("s.aborted"), false);
  await p.advance(1);
  assert.equal(p.run("s.aborted"), true);
  assert.deepEqual(plain(p.run("[s.reason.name, s.reason.code, s.reason instanceof DOMException, seen]")), ["TimeoutError", 23, true, [100]]);
  assert.equal(await p.run("waited"), "TimeoutError");
  assert.equal(p.armed.size, 0, "nothing left armed");
  assert.throws(() => p.run("AbortSignal.timeout(-1)"), p.realm.TypeError);
  assert.throws(() => p.run("AbortSignal.timeout(NaN)"), p.realm.TypeError);
  // A huge delay is clamped to the host's int32 range rather than wrapping to 0.
  p.run("globalThis.far = AbortSignal.timeout(2 ** 40)");
  await p.advance(1000);
  assert.equal(p.run("far.aborted"), false);
});

test("dependent signals: a timeout inside any(); a source holds its quiet dependents weakly", async () => {
  const p = loadPrelude();
  p.run(`globalThis.c = new AbortController(); globalThis.dep = AbortSignal.any([c.signal, AbortSignal.timeout(10)]);`);
  await p.advance(10);
  assert.deepEqual(plain(p.run("[dep.aborted, dep.reason.name, c.signal.aborted]")), [true, "TimeoutError", false]);
  // Many throwaway dependents of one long-lived signal do not all stay reachable.
  const ok = p.run(`(() => { const c = new AbortController(); for (let i = 0; i < 1000; i++) AbortSignal.any([c.signal]); const kept = AbortSignal.any([c.signal]); let fired = false; kept.onabort = () => { fired = true; }; c.abort(); return fired; })()`);
  assert.equal(ok, true);
});
