// fetch()'s encodeResponseBody (Cloudflare's RequestInit option): validated as workerd does, kept
// or dropped by Request as workerd does, sent to the host in the fetch head only when "manual",
// and the answer of a "manual" fetch returned to a client as it is (not encoded again).
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadPrelude } from "./load-prelude.mjs";

/** A prelude whose host answers every `fetch` with `headers` and body "gz", recording the heads. */
function withHost(headers) {
  const heads = [];
  const loaded = loadPrelude({
    call(name, payload) {
      const n = new DataView(payload.buffer, payload.byteOffset).getUint32(0, true);
      heads.push(JSON.parse(Buffer.from(payload.subarray(4, 4 + n)).toString()));
      const head = Buffer.from(JSON.stringify({ status: 200, statusText: "OK", headers, url: "https://h/", redirected: false }));
      const reply = new Uint8Array(4 + head.length + 2);
      new DataView(reply.buffer).setUint32(0, head.length, true);
      reply.set(head, 4);
      reply.set([103, 122], 4 + head.length);
      return Promise.resolve(reply);
    },
  });
  return { ...loaded, heads };
}

test("encodeResponseBody: an invalid value is a TypeError, in fetch() and in new Request()", async () => {
  const { run, realm } = withHost([]);
  for (const bad of ["'Manual'", "'raw'", "null", "1", "''"]) {
    assert.throws(() => run(`new Request('https://h/', { encodeResponseBody: ${bad} })`), (e) => e instanceof realm.TypeError && e.message.startsWith("encodeResponseBody: unexpected value: "), bad);
    await assert.rejects(run(`fetch('https://h/', { encodeResponseBody: ${bad} })`), (e) => e instanceof realm.TypeError, bad);
  }
  assert.throws(() => run("new Request('https://h/', { encodeResponseBody: Symbol() })"), realm.TypeError);
  // Read as a dictionary member: a getter on the init runs once.
  assert.equal(run("{ let n = 0; new Request('https://h/', { get encodeResponseBody() { n++; return 'manual'; } }); n }"), 1);
});

test("encodeResponseBody rides in the fetch head only when manual, and follows Request as workerd", async () => {
  const { run, heads } = withHost([]);
  const manual = [
    "fetch('https://h/', { encodeResponseBody: 'manual' })",
    "fetch(new Request('https://h/', { encodeResponseBody: 'manual' }).clone(), { encodeResponseBody: 'manual' })",
    "fetch('https://h/', new Request('https://h/', { encodeResponseBody: 'manual' }))",
    "fetch(new Request('https://h/'), { encodeResponseBody: 'manual' })",
  ];
  const automatic = [
    "fetch('https://h/')",
    "fetch('https://h/', { encodeResponseBody: 'automatic' })",
    "fetch('https://h/', { encodeResponseBody: undefined })",
    // workerd takes the option from an init that is a Request, never from an input Request:
    "fetch(new Request('https://h/', { encodeResponseBody: 'manual' }))",
    "fetch(new Request(new Request('https://h/', { encodeResponseBody: 'manual' })))",
    "fetch(new Request('https://h/', { encodeResponseBody: 'manual' }), { encodeResponseBody: 'automatic' })",
  ];
  for (const code of [...manual, ...automatic]) await run(code);
  const sent = heads.map((h) => h.encodeResponseBody);
  assert.deepEqual(sent, [...manual.map(() => "manual"), ...automatic.map(() => undefined)]);
  // clone() keeps it: a clone fetched with it given again is manual; with nothing given it is not.
  heads.length = 0;
  await run("{ const r = new Request('https://h/', { encodeResponseBody: 'manual' }); fetch('https://h/', r.clone()) }");
  assert.deepEqual(heads.map((h) => h.encodeResponseBody), ["manual"]);
});

test("a manual fetch's answer goes back to a client as it came; an automatic one is encoded", async () => {
  const { run, exports } = withHost([["content-encoding", "gzip"]]);
  const manual = await run("fetch('https://h/', { encodeResponseBody: 'manual' })");
  assert.equal(manual.headers.get("content-encoding"), "gzip");
  const [, , , body] = exports.readResponse(manual, true);
  assert.ok(body instanceof Uint8Array || Object.prototype.toString.call(body) === "[object Uint8Array]", "the bytes as they are");
  assert.deepEqual([...body], [103, 122]);
  const automatic = await run("fetch('https://h/')");
  // It is encoded again as its Content-Encoding says: the fake host has no compressor, so that
  // fails here (a real isolate's tests hold the compression itself).
  assert.throws(() => exports.readResponse(automatic, true));
});
