// Headers / Request / Response / fetch, checked against Node's native (undici) classes where the
// behaviour is specified, plus the host-facing exports newRequest/readResponse.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadPrelude } from "./load-prelude.mjs";

const { context, realm, run, exports } = loadPrelude();
const plain = (v) => JSON.parse(JSON.stringify(v));
const outcome = (fn) => { try { return plain(fn()); } catch (e) { return `throws ${e.name}`; } };

test("Headers: init forms, case-insensitivity, combination, iteration order match Node", () => {
  const inits = [
    [["B", "2"], ["a", "1"], ["A", " x "], ["set-cookie", "c1"], ["Set-Cookie", "c2"], ["c", ""]],
    { "Content-Type": "text/plain", "x-y": "\t v \n" },
    [["bad name", "v"]], [["ok", "bad\nvalue"]], [["ok", "nul\0"]], [["é", "v"]], [["ok", "ü"]], [["ok", "\u0100"]],
    [["only-one"]], [["a", "1", "2"]],
  ];
  for (const init of inits) {
    const build = (H) => () => { const h = new H(init); return [...h].concat([["get:a", h.get("A")], ["cookies", h.getSetCookie()]]); };
    assert.deepEqual(outcome(build(context.Headers)), outcome(build(Headers)), JSON.stringify(init));
  }
  const ops = (H) => () => {
    const h = new H({ Accept: "a" });
    h.append("accept", "b");
    h.append("X-Multi", "1");
    h.set("x-multi", "2");
    h.append("Set-Cookie", "s=1");
    h.append("set-cookie", "t=2");
    h.delete("ACCEPT");
    const seen = [];
    h.forEach((v, k) => seen.push(`${k}=${v}`));
    return [h.has("x-MULTI"), h.has("accept"), h.get("nope"), seen, [...h.keys()], [...h.values()]];
  };
  assert.deepEqual(outcome(ops(context.Headers)), outcome(ops(Headers)));
  assert.deepEqual(outcome(() => [...new context.Headers(new context.Headers([["a", "1"], ["a", "2"]]))]), [["a", "1, 2"]]);
  assert.throws(() => new context.Headers("a: b"), realm.TypeError);
  assert.throws(() => new context.Headers().append("a"), realm.TypeError);
  assert.equal(Object.prototype.toString.call(new context.Headers().entries()), "[object Headers Iterator]");
});

test("Headers.getAll, workerd's, answers Set-Cookie only", () => {
  const h = run("new Headers([['Set-Cookie', 'a=1'], ['x', 'y'], ['set-cookie', 'b=2']])");
  assert.deepEqual(plain(h.getAll("set-cookie")), ["a=1", "b=2"]);
  assert.deepEqual(plain(h.getAll("Set-Cookie")), plain(h.getSetCookie()));
  assert.throws(() => h.getAll("x"), realm.TypeError);
});

test("Response: constructor, statics and body consumption match Node", async () => {
  const bodies = ["text", "", null, "{\"a\":1}"];
  for (const body of bodies) {
    for (const init of [undefined, { status: 201, statusText: "Created", headers: { "X-A": "1" } }, { status: 204 }, { status: 600 }, { status: 199 }, { statusText: "bad\n" }]) {
      const describe = (R) => () => { const r = new R(body, init); return [r.status, r.statusText, r.ok, r.type, r.url, r.redirected, r.bodyUsed, [...r.headers]]; };
      // An empty body with status 204 is workerd's (the next test), not the standard's.
      if (body === "" && init?.status === 204) continue;
      assert.deepEqual(outcome(describe(context.Response)), outcome(describe(Response)), `${JSON.stringify(body)} ${JSON.stringify(init)}`);
    }
  }
  const sources = {
    arrayBuffer: "new Uint8Array([104, 105]).buffer", view: "new Uint8Array([0, 104, 105, 0]).subarray(1, 3)",
    dataView: "new DataView(new Uint8Array([104, 105]).buffer)", params: "new URLSearchParams('a=1&b=é')",
    object: "({ toString() { return 'obj'; } })", bom: "new Uint8Array([0xEF, 0xBB, 0xBF, 0x78])", invalid: "new Uint8Array([0xff, 0x61])",
  };
  for (const [name, source] of Object.entries(sources)) {
    const mine = run(`new Response(${source})`);
    // Node only recognises its own realm's URLSearchParams; typed arrays it handles across realms.
    const node = new Response(name === "params" ? new URLSearchParams("a=1&b=é") : run(`${source}`));
    assert.equal(mine.headers.get("content-type"), node.headers.get("content-type"), name);
    assert.equal(await mine.text(), await node.text(), name);
  }
  const r = run("new Response('{\"k\":[1,2]}')");
  assert.deepEqual(plain(await r.json()), { k: [1, 2] });
  assert.equal(r.bodyUsed, true);
  await assert.rejects(r.text(), realm.TypeError);
  await assert.rejects(r.arrayBuffer(), realm.TypeError);
  await assert.rejects(run("new Response('not json').json()"), realm.SyntaxError);
  const empty = run("new Response(null)");
  assert.equal(await empty.text(), "");
  assert.equal(await empty.text(), "", "a null body never becomes used");
  const bytes = run("new Response('abc')");
  const ab = await bytes.arrayBuffer();
  assert.deepEqual([...new Uint8Array(ab)], [97, 98, 99]);
  // The body was copied at construction: later writes to the source do not leak in.
  assert.equal(await run("(() => { const u = new Uint8Array([104, 105]); const r = new Response(u); u[0] = 0; return r.text(); })()"), "hi");

  const json = run("Response.json({ a: 1 }, { status: 202, headers: { 'x': 'y' } })");
  const nodeJson = Response.json({ a: 1 }, { status: 202, headers: { x: "y" } });
  assert.deepEqual(plain([...json.headers]), [...nodeJson.headers]);
  assert.equal(json.status, 202);
  assert.equal(await json.text(), '{"a":1}');
  assert.equal(run("Response.json({}, { headers: { 'content-type': 'text/x' } }).headers.get('content-type')"), "text/x");
  assert.throws(() => run("Response.json(undefined)"), realm.TypeError);
  assert.throws(() => run("Response.json(1n)"), realm.TypeError);

  const redirect = run("Response.redirect('http://h/x y', 301)");
  assert.deepEqual([redirect.status, redirect.headers.get("location")], [301, new URL("http://h/x y").href]);
  assert.throws(() => redirect.headers.set("a", "b"), realm.TypeError, "redirect headers are immutable");
  assert.throws(() => run("Response.redirect('http://h/', 200)"), realm.RangeError);
  assert.throws(() => run("Response.redirect('/relative')"), realm.TypeError);
  const error = run("Response.error()");
  assert.deepEqual([error.type, error.status, error.ok], ["error", 0, false]);
  assert.throws(() => error.headers.append("a", "b"), realm.TypeError);

  const original = run("new Response('twice', { status: 203, headers: { a: '1' } })");
  const clone = original.clone();
  assert.equal(await clone.text(), "twice");
  assert.equal(await original.text(), "twice");
  assert.throws(() => original.clone(), realm.TypeError, "cannot clone a used body");
  assert.equal(Object.prototype.toString.call(original), "[object Response]");
});

test("an empty body with a null-body status is no body, as workerd has it", async () => {
  // workerd 1.20261123.1 answered these same cases: [status, body === null, content-type, text].
  const out = await run(`(async () => {
    const out = [];
    for (const [b, s] of [['', 204], [new Uint8Array(0), 205], ['', 304], [new Blob([]), 204], [new URLSearchParams(''), 204],
                          [new ReadableStream({ start(c) { c.close(); } }), 204], ['x', 204]]) {
      try { const r = new Response(b, { status: s }); out.push([r.status, r.body === null, r.headers.get('content-type'), await r.text()]); }
      catch (e) { out.push(e.name); }
    }
    return out;
  })()`);
  assert.deepEqual(plain(out), [[204, true, null, ""], [205, true, null, ""], [304, true, null, ""], [204, true, null, ""],
    [204, true, null, ""], "TypeError", "TypeError"]);
});

test("Request: URL, method normalisation, body rules, copying a Request, clone", async () => {
  for (const method of ["get", "post", "Patch", "delete", "options", "PUT", "head", "custom", "CONNECT", "trace", "bad method", "é"]) {
    const describe = (R) => () => new R("http://h/a/../b?q#f", { method }).method;
    assert.deepEqual(outcome(describe(context.Request)), outcome(describe(Request)), method);
  }
  for (const url of ["http://h/x y", "HTTP://H:80/", "relative", "http://u:p@h/", "data:,x", "not a url"]) {
    const describe = (R) => () => new R(url).url;
    assert.deepEqual(outcome(describe(context.Request)), outcome(describe(Request)), url);
  }
  assert.throws(() => run("new Request('http://h/', { body: 'x' })"), realm.TypeError, "GET cannot have a body");
  assert.throws(() => run("new Request('http://h/', { method: 'HEAD', body: 'x' })"), realm.TypeError);
  assert.throws(() => run("new Request('http://h/', { redirect: 'bogus' })"), realm.TypeError);
  assert.throws(() => run("new Request('http://h/', 'not a dictionary')"), realm.TypeError);
  assert.throws(() => run("new Response('x', 200)"), realm.TypeError);
  const post = run("new Request('http://h/', { method: 'POST', body: 'payload', headers: { 'X-A': '1' }, redirect: 'manual' })");
  assert.equal(post.headers.get("content-type"), "text/plain;charset=UTF-8");
  const copy = run("(r) => new Request(r, { headers: { 'x-b': '2' } })")(post);
  assert.deepEqual([copy.method, copy.url, copy.redirect, copy.headers.get("x-a"), copy.headers.get("x-b")], ["POST", "http://h/", "manual", null, "2"]);
  assert.equal(post.bodyUsed, true, "the new Request took over the body");
  assert.equal(await copy.text(), "payload");
  assert.throws(() => run("(r) => new Request(r)")(post), realm.TypeError, "a used body cannot be taken again");

  const original = run("new Request('http://h/p', { method: 'PUT', body: 'data', headers: [['a', '1'], ['a', '2']] })");
  const clone = original.clone();
  assert.deepEqual([clone.method, clone.url, clone.headers.get("a")], ["PUT", "http://h/p", "1, 2"]);
  clone.headers.set("a", "changed");
  assert.equal(original.headers.get("a"), "1, 2", "clone() copies the headers");
  assert.equal(await clone.text(), "data");
  assert.equal(await original.text(), "data");
  assert.equal(original.bodyUsed && clone.bodyUsed, true);
  assert.equal(Object.prototype.toString.call(original), "[object Request]");
  // A stream body needs no `duplex: "half"` (workerd asks for none: a proxy's
  // `fetch(upstream, { method: "POST", body: request.body })`); a duplex other than "half" is refused.
  const streamed = run("new Request('http://h/', { method: 'POST', body: new Response('streamed').body })");
  assert.equal(await streamed.text(), "streamed");
  assert.throws(() => run("new Request('http://h/', { method: 'POST', body: 'x', duplex: 'full' })"), realm.TypeError);
});

test("Request: cache and keepalive as Node's undici keeps them; an integrity digest is refused, never ignored", () => {
  for (const cache of [undefined, "default", "no-store", "reload", "no-cache", "force-cache", "only-if-cached", "bogus", "NO-STORE"]) {
    const describe = (R) => () => {
      const r = new R("http://h/", cache === undefined ? {} : { cache });
      const copied = new R(r);
      const overridden = new R(r, { cache: "reload" });
      return [r.cache, copied.cache, r.clone().cache, overridden.cache];
    };
    assert.deepEqual(outcome(describe(context.Request)), outcome(describe(Request)), `${cache}`);
    for (const mode of ["same-origin", "cors", "no-cors"]) {
      const withMode = (R) => () => new R("http://h/", { cache, mode }).cache;
      assert.deepEqual(outcome(withMode(context.Request)), outcome(withMode(Request)), `${cache} ${mode}`);
    }
    // The mode an input Request carries counts, and init's replaces it.
    for (const [first, second] of [["same-origin", undefined], ["same-origin", "cors"], ["cors", "same-origin"]]) {
      const inherited = (R) => () => {
        const r1 = new R("http://h/", { mode: first });
        return new R(r1, second === undefined ? { cache } : { cache, mode: second }).cache;
      };
      assert.deepEqual(outcome(inherited(context.Request)), outcome(inherited(Request)), `${cache} ${first} ${second}`);
    }
  }
  for (const keepalive of [undefined, true, false, 1, 0, "", "yes"]) {
    const describe = (R) => () => {
      const r = new R("http://h/", { keepalive });
      return [r.keepalive, new R(r).keepalive, r.clone().keepalive, new R(r, { keepalive: false }).keepalive];
    };
    assert.deepEqual(outcome(describe(context.Request)), outcome(describe(Request)), `${keepalive}`);
  }
  for (const body of ["text", "stream"]) {
    const describe = (R, RS) => () => new R("http://h/", {
      method: "POST", duplex: "half", keepalive: true, body: body === "text" ? "x" : new RS({ start(c) { c.close(); } }),
    }).keepalive;
    assert.deepEqual(outcome(describe(context.Request, context.ReadableStream)), outcome(describe(Request, ReadableStream)), body);
  }
  for (const integrity of [undefined, ""]) {
    const describe = (R) => () => new R("http://h/", { integrity }).integrity;
    assert.deepEqual(outcome(describe(context.Request)), outcome(describe(Request)), `${integrity}`);
  }
  // Node keeps the digest and checks it on fetch; Stockade checks none, so it refuses one (as
  // workerd does) rather than let a tenant believe its download was verified.
  assert.equal(new Request("http://h/", { integrity: "sha256-abc" }).integrity, "sha256-abc");
  assert.throws(() => run("new Request('http://h/', { integrity: 'sha256-abc' })"), realm.TypeError, "integrity checking is not implemented");
  for (const name of ["cache", "integrity", "keepalive"]) {
    assert.throws(() => Object.getOwnPropertyDescriptor(context.Request.prototype, name).get.call({}), realm.TypeError, name);
  }
});

test("crypto's members need crypto as `this`, as in Node", () => {
  for (const member of ["getRandomValues", "randomUUID"]) {
    const describe = (c) => () => { const f = c[member]; return typeof f(new Uint8Array(4)); };
    assert.deepEqual(outcome(describe(context.crypto)), outcome(describe(globalThis.crypto)), member);
  }
  const subtle = (C, c) => () => [typeof Object.getOwnPropertyDescriptor(C.prototype, "subtle").get.call(c)];
  assert.deepEqual(outcome(subtle(context.Crypto, {})), outcome(subtle(Crypto, {})));
  assert.deepEqual(outcome(subtle(context.Crypto, context.crypto)), outcome(subtle(Crypto, globalThis.crypto)));
  assert.equal(context.crypto.getRandomValues(new Uint8Array(4)).length, 4);
  assert.equal(context.crypto.randomUUID().length, 36);
});

test("fetch adds the Fetch Standard's headers for the cache modes that bypass a cache, unless already set", async () => {
  const sent = [];
  const { run: run2 } = loadPrelude({
    call(name, payload) {
      const n = new DataView(payload.buffer, payload.byteOffset).getUint32(0, true);
      sent.push(JSON.parse(Buffer.from(payload.subarray(4, 4 + n)).toString()).headers);
      return Promise.reject(new Error("refused"));
    },
  });
  const cases = [
    ["{}", []],
    ["{ cache: 'default' }", []],
    ["{ cache: 'force-cache' }", []],
    ["{ cache: 'no-store' }", [["pragma", "no-cache"], ["cache-control", "no-cache"]]],
    ["{ cache: 'reload' }", [["pragma", "no-cache"], ["cache-control", "no-cache"]]],
    ["{ cache: 'no-cache' }", [["cache-control", "max-age=0"]]],
    ["{ cache: 'no-store', headers: { 'Cache-Control': 'max-age=5' } }", [["cache-control", "max-age=5"], ["pragma", "no-cache"]]],
    ["{ cache: 'no-store', headers: { pragma: 'x' } }", [["pragma", "x"], ["cache-control", "no-cache"]]],
    ["{ cache: 'no-cache', headers: { 'cache-control': 'no-transform' } }", [["cache-control", "no-transform"]]],
    ["new Request('https://h/', { cache: 'no-store' })", [["pragma", "no-cache"], ["cache-control", "no-cache"]]],
  ];
  for (const [init, expected] of cases) {
    const call = init.startsWith("new") ? `fetch(${init})` : `fetch('https://h/', ${init})`;
    await assert.rejects(run2(call), (e) => e.name === "TypeError" && e.message === "fetch failed: refused");
    assert.deepEqual(sent.pop(), expected, init);
  }
  await assert.rejects(async () => run2("fetch('https://h/', { cache: 'only-if-cached' })"), (e) => e.name === "TypeError");
  await assert.rejects(async () => run2("fetch('https://h/', { cache: 'only-if-cached', mode: 'same-origin' })"),
    (e) => e.name === "TypeError" && e.message.includes("no cached response"));
  await assert.rejects(async () => run2("fetch('https://h/', { cache: 'only-if-cached', mode: 'same-origin', signal: AbortSignal.abort(new Error('why')) })"),
    (e) => e.message === "why", "an aborted signal's reason comes first");
  assert.equal(sent.length, 0, "a refused cache mode makes no host call");
});

test("fetch frames the request for the host call `fetch` and rejects with a TypeError when refused", async () => {
  const p = run("fetch('https://example.com/')");
  assert.ok(p instanceof run("Promise"));
  await assert.rejects(p, (e) => e instanceof realm.TypeError && e.message === "fetch failed: the host refused the call `fetch`");
  const sent = [];
  const { run: run2 } = loadPrelude({
    call(name, payload) {
      sent.push([name, payload]);
      const head = Buffer.from(JSON.stringify({ status: 200, statusText: "OK", headers: [["x-up", "1"]], url: "https://h/final", redirected: true }));
      const reply = new Uint8Array(4 + head.length + 2);
      new DataView(reply.buffer).setUint32(0, head.length, true);
      reply.set(head, 4);
      reply.set([111, 107], 4 + head.length);
      return Promise.resolve(reply);
    },
  });
  const r = await run2("fetch('https://h/p', { method: 'PUT', body: 'data', redirect: 'manual' })");
  assert.deepEqual([r.status, r.url, r.redirected, r.headers.get("x-up"), await r.text()], [200, "https://h/final", true, "1", "ok"]);
  assert.equal(sent.length, 1);
  const [name, payload] = sent[0];
  const n = new DataView(payload.buffer, payload.byteOffset).getUint32(0, true);
  assert.equal(name, "fetch");
  assert.deepEqual(JSON.parse(Buffer.from(payload.subarray(4, 4 + n)).toString()), {
    method: "PUT", url: "https://h/p", headers: [["content-type", "text/plain;charset=UTF-8"]], redirect: "manual", call: 1,
  });
  assert.equal(Buffer.from(payload.subarray(4 + n)).toString(), "data");
});

test("host exports: newRequest builds a Request, readResponse drains a genuine Response once", async () => {
  assert.equal(Object.isFrozen(exports), true);
  assert.equal(Object.getPrototypeOf(exports), null);
  // The headers come as append() would store them: the host normalizes and checks them
  // (isolate/src/tasks/head.rs, whose tests hold what is refused).
  const req = exports.newRequest("post", "https://h/p?q", ["x-a", "1", "x-a", "2"], new Uint8Array([104, 105]));
  assert.ok(req instanceof context.Request);
  assert.deepEqual([req.method, req.url, req.headers.get("x-a")], ["POST", "https://h/p?q", "1, 2"]);
  assert.equal(await req.text(), "hi");
  const get = exports.newRequest("GET", "https://h/", [], null);
  assert.equal(await get.text(), "");
  assert.throws(() => exports.newRequest("GET", "not a url", [], null), realm.TypeError);

  const res = run("new Response('body', { status: 201, statusText: 'Made', headers: [['Set-Cookie', 'a'], ['set-cookie', 'b'], ['X', '1']] })");
  const [status, statusText, headers, body] = exports.readResponse(res);
  assert.deepEqual([status, statusText, [...headers]], [201, "Made", ["content-type", "text/plain;charset=UTF-8", "set-cookie", "a", "set-cookie", "b", "x", "1"]]);
  assert.equal(Buffer.from(body).toString(), "body");
  assert.equal(res.bodyUsed, true);
  assert.throws(() => exports.readResponse(res), realm.TypeError, "a drained body cannot be read twice");
  assert.deepEqual([...exports.readResponse(run("new Response(null, { status: 204 })"))].slice(0, 2), [204, ""]);
  assert.equal(exports.readResponse(run("new Response(null)"))[3], null);
  for (const fake of ["({ status: 200 })", "Object.create(Response.prototype)", "new Proxy(new Response('x'), {})", "null", "'x'"]) {
    assert.throws(() => exports.readResponse(run(fake)), realm.TypeError, fake);
  }
});
