// The scenarios of isolate/tests/tampered_prototypes.rs, by group; `setup` runs untampered,
// `run` with one tampering installed, `check` (untampered) turns run's answer into JSON.
const SCENARIOS = {
  clone: [
    {
      name: "structuredClone nested",
      setup() {
        const inner = { n: 1 };
        const cyc = { name: "c" };
        cyc.self = cyc;
        const buf = new ArrayBuffer(4);
        new Uint8Array(buf).set([1, 2, 3, 4]);
        const value = {
          a: [1, "two", inner, inner], m: new Map([[1, inner], ["k", [2]]]), s: new Set([1, inner]),
          d: new Date(5), re: /a.b/gsy, rv: /[\p{L}]/v, buf, u8: new Uint8Array(buf, 1, 2), dv: new DataView(buf, 2),
          err: new RangeError("boom", { cause: inner }), dom: new DOMException("m", "DataCloneError"),
          box: Object(7), str: Object("s"), cyc, big: 10n, neg: -0, holes: [1, , 3], numeric: { 0: "zero", 1: "one" },
        };
        return { value };
      },
      run({ value }) { return structuredClone(value); },
      check(o, { value }) {
        const inner = o.a[2];
        return {
          a: [o.a[0], o.a[1], inner.n, o.a[2] === o.a[3], inner !== value.a[2]],
          m: [o.m instanceof Map, o.m.size, o.m.get(1) === inner, o.m.get("k")],
          s: [o.s instanceof Set, o.s.has(1), o.s.has(inner)],
          d: [o.d instanceof Date, o.d.getTime()], re: [o.re.source, o.re.flags, o.re.lastIndex], rv: o.rv.flags,
          buf: [o.buf !== value.buf, [...new Uint8Array(o.buf)], o.u8.buffer === o.buf, [...o.u8], o.dv.buffer === o.buf, o.dv.byteOffset],
          err: [o.err instanceof RangeError, o.err.message, o.err.cause === inner, typeof o.err.stack],
          dom: [o.dom instanceof DOMException, o.dom.name, o.dom.message, o.dom.code],
          box: [typeof o.box, o.box.valueOf(), o.str.valueOf()], cyc: o.cyc.self === o.cyc, big: typeof o.big,
          neg: Object.is(o.neg, -0), holes: [o.holes.length, 1 in o.holes], numeric: o.numeric,
        };
      },
    },
    {
      name: "structuredClone transfer",
      setup() {
        const buf = new ArrayBuffer(8);
        new Uint8Array(buf)[0] = 9;
        const { port1, port2 } = new MessageChannel();
        return { buf, u8: new Uint8Array(buf), port1, port2, options: mark({ transfer: seq(buf, port1) }) };
      },
      async run({ u8, port1, options }) {
        const out = structuredClone({ u8, port: port1 }, options);
        return mark(out);
      },
      async check(o, { buf, port1, port2 }) {
        const got = [];
        o.port.onmessage = (e) => got.push(e.data);
        port2.postMessage("via the copy");
        port1.postMessage("lost");
        await tick(5);
        return [buf.byteLength, o.u8[0], o.u8.byteLength, o.port instanceof MessagePort, o.port !== port1, got];
      },
    },
    {
      name: "structuredClone refusals",
      setup() { return { h: new Headers(), f: () => 1, w: new WeakMap(), e: new Event("x"), s: Symbol("q"), blob: new Blob(["ab"]) }; },
      run(i) {
        const out = mark([]);
        const keys = "hfwes";
        for (let j = 0; j < keys.length; j++) {
          try { structuredClone(i[keys[j]]); out[out.length] = "cloned"; } catch (e) { out[out.length] = e; }
        }
        out[out.length] = structuredClone(i.blob);
        return out;
      },
      async check(out) {
        return [...out.slice(0, 5).map((e) => (typeof e === "string" ? e : `${e.name} ${e.message}`)), out[5].size, await out[5].text()];
      },
    },
    {
      name: "crypto",
      setup() { return { a: new Uint32Array(4) }; },
      run({ a }) { return [crypto.getRandomValues(a) === a, crypto.randomUUID()]; },
      check([same, uuid]) { return [same, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(uuid)]; },
    },
  ],
  messaging: [
    {
      name: "MessageChannel delivery",
      setup() {
        const { port1, port2 } = new MessageChannel();
        const got = mark([]);
        const listener = mark((e) => { append(got, mark([e.type, e.data, e.ports.length, e.isTrusted])); });
        return { port1, port2, got, listener, data: { x: [1, { y: 2 }], m: new Map([[1, 2]]) } };
      },
      async run({ port1, port2, got, listener, data }) {
        port2.onmessage = listener;
        port1.postMessage(data);
        port1.postMessage("second");
        port2.postMessage("back");
        // Both messages, however loaded the machine (each is delivered after the one before).
        for (let i = 0; i < 200 && got.length < 2; i++) await tick(5);
        await tick(5);
        return mark(got);
      },
      check(got) { return got.map(([t, d, n, trusted]) => [t, d instanceof Object && d.m ? [d.x, [...d.m]] : d, n, trusted]); },
    },
    {
      name: "MessagePort transfer and start",
      setup() {
        const a = new MessageChannel(), b = new MessageChannel();
        const got = mark([]);
        const buf = new ArrayBuffer(3);
        return { a, b, got, buf, list: seq(b.port1, buf), l1: mark((e) => {
          append(got, mark(["a", e.ports.length, e.data.buf.byteLength]));
          e.ports[0].postMessage("through the moved port");
        }), l2: mark((e) => { append(got, mark(["b", e.data])); }) };
      },
      async run({ a, b, got, buf, list, l1, l2 }) {
        a.port2.addEventListener("message", l1);
        a.port2.start();
        b.port2.addEventListener("message", l2);
        b.port2.start();
        a.port1.postMessage({ buf }, list);
        await tick(5);
        a.port1.close();
        a.port1.postMessage("nowhere");
        await tick(5);
        return mark([got, buf.byteLength]);
      },
      check(v) { return v; },
    },
  ],
  events: [
    {
      name: "EventTarget",
      setup() {
        const t = new EventTarget();
        const log = mark([]);
        const l = (s) => mark(function (e) { append(log, `${s}:${e.eventPhase}:${e.type}:${this === t}`); });
        const obj = mark({ handleEvent(e) { append(log, `obj:${this === obj}`); e.preventDefault(); } });
        const ac = new AbortController();
        const ac2 = new AbortController();
        return { t, log, a: l("a"), cap: l("cap"), once: l("once"), sig: l("sig"), obj, ac, ac2, onabort: l("onabort"),
          g: l("global"), opts: { cap: mark({ capture: true }), once: mark({ once: true }), sig: mark({ signal: ac.signal }),
            init: mark({ cancelable: true }), detail: mark({ detail: 5 }) } };
      },
      run({ t, log, a, cap, once, sig, obj, ac, ac2, onabort, g, opts }) {
        t.addEventListener("x", a);
        t.addEventListener("x", a);
        t.addEventListener("x", cap, opts.cap);
        t.addEventListener("x", once, opts.once);
        t.addEventListener("x", obj);
        t.addEventListener("x", sig, opts.sig);
        const r1 = t.dispatchEvent(new Event("x", opts.init));
        ac.abort();
        t.removeEventListener("x", a);
        const r2 = t.dispatchEvent(new CustomEvent("x", opts.detail));
        ac2.signal.onabort = onabort;
        ac2.abort();
        globalThis.addEventListener("y", g);
        dispatchEvent(new Event("y"));
        removeEventListener("y", g);
        dispatchEvent(new Event("y"));
        return [log, r1, r2];
      },
      check(v) { return v; },
    },
  ],
  node: [
    {
      name: "EventEmitter",
      async setup() { const { EventEmitter } = await import("node:events"); return { e: new EventEmitter(), log: mark([]), bad: new TypeError("bad") }; },
      run({ e, log, bad }) {
        const f = mark((...args) => append(log, `f${args.length}`));
        e.on("newListener", mark((t) => append(log, `new:${StringC(t)}`)));
        e.on("removeListener", mark((t) => append(log, `removed:${StringC(t)}`)));
        e.on("x", f);
        e.once("x", mark((v) => append(log, `once:${v}`)));
        e.prependListener("x", mark(() => append(log, "pre")));
        e.prependOnceListener("x", mark(() => append(log, "preonce")));
        const c1 = e.listenerCount("x");
        const names = e.eventNames();
        const r1 = e.emit("x", 1, 2);
        e.emit("x", 3);
        e.off("x", f);
        const listeners = e.listeners("x");
        const raw = e.rawListeners("x");
        const r3 = e.emit("nothing");
        let err = null;
        try { e.emit("error", bad); } catch (x) { err = x; }
        e.setMaxListeners(1);
        e.on("y", f);
        e.on("y", f);
        e.removeAllListeners("y");
        e.removeAllListeners();
        return { c1, names, r1, r3, n: listeners, raw, err, after: e.listenerCount("x"), log };
      },
      check(v) { return { ...v, n: v.n.length, raw: v.raw.length, err: v.err && v.err.message }; },
    },
    {
      name: "events.once and events.on",
      async setup() { const m = await import("node:events"); return { m, e: new m.EventEmitter(), t: new EventTarget(), ac: new AbortController(), failure: new Error("failed"), ping: new Event("ping") }; },
      async run({ m, e, t, ac, failure, ping }) {
        const p1 = m.once(e, "ready");
        e.emit("ready", 1, 2);
        const v1 = await p1;
        const p2 = m.once(t, "ping");
        t.dispatchEvent(ping);
        const v2 = await p2;
        const p3 = m.once(e, "never", mark({ signal: ac.signal }));
        ac.abort();
        let aborted = null;
        try { await p3; } catch (x) { aborted = x; }
        const p4 = m.once(e, "fail");
        e.emit("error", failure);
        let failed = null;
        try { await p4; } catch (x) { failed = x; }
        const it = m.on(e, "d");
        e.emit("d", 1);
        e.emit("d", 2);
        const r1 = await it.next();
        const r2 = await it.next();
        const p5 = it.next();
        e.emit("d", 3);
        const r3 = await p5;
        const r4 = await it.return();
        return mark({ v1, v2, aborted, failed, r: [r1, r2, r3, r4], left: e.listenerCount("d") + e.listenerCount("error") });
      },
      check(v) {
        // Resolved values and iterator results are the tenant's (resolving reads their `then`).
        for (const x of [v.v1, v.v2, ...v.r]) mark(x);
        return { v1: v.v1, v2: [v.v2.length, v.v2[0].type], aborted: v.aborted && v.aborted.name, failed: v.failed && v.failed.message,
          r: v.r.map((x) => [x.value, x.done]), left: v.left };
      },
    },
  ],
};
