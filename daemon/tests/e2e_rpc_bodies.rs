//! Requests, Responses, Headers and ReadableStreams as RPC values between workers, end to end (a
//! real daemon, jailed workers), as Cloudflare's Workers RPC carries them: a service binding's
//! method takes a Request and answers a Response, the caller's own incoming request (its body
//! streamed in) passes on, a stream goes either way, they nest in objects, and their bodies
//! arrive whole; an `RpcTarget`'s `fetch` is a method taking one. A used body is a TypeError before anything is sent; a body past the message's
//! 16 MiB is a DataCloneError.
mod common;

use common::*;
use serde_json::{json, Value};

const CALLEE: &str = r#"
import { WorkerEntrypoint, RpcTarget } from "cloudflare:workers";
const bytes = (s) => new TextEncoder().encode(s);
// An RpcTarget's fetch is one of its methods (an entrypoint's is its HTTP handler).
class Site extends RpcTarget {
  async fetch(req) { return new Response(`site ${req.method} ${new URL(req.url).pathname} ${await req.text()}`); }
}
export default class extends WorkerEntrypoint {
  site() { return new Site(); }
  async echo(req) {
    const text = `${req.method} ${new URL(req.url).pathname} ${req.headers.get("x-a")} ${await req.text()}`;
    return new Response(text, { status: 201, statusText: "Made", headers: { "x-b": "2" } });
  }
  headers(h) { h.append("x-c", "3"); return h; }
  stream(s) { return new Response(s).text(); }
  produce() {
    return new ReadableStream({ start(c) { c.enqueue(bytes("ab")); c.enqueue(bytes("cd")); c.close(); } });
  }
  async nested(x) { return { url: x.req.url, body: await x.res.text(), h: x.h.get("k"), kinds: [x.req instanceof Request, x.res instanceof Response] }; }
  big(n) { return new Response("x".repeat(n)); }
  length(s) { return s.length; }
  wide(n) { return "\u20ac".repeat(n); }
}
"#;

const CALLER: &str = r#"
import { DurableObject } from "cloudflare:workers";
export class Log extends DurableObject {
  constructor(ctx, env) { super(ctx, env); this.seen = []; }
  // Noted as it arrives, then its body once read.
  async note(tag, body) { const i = this.seen.push(tag) - 1; if (body !== undefined) this.seen[i] = `${tag} ${await body.text()}`; }
  log() { return this.seen; }
}
export default { async fetch(req, env) {
  const out = {};
  const r = await env.S.echo(new Request("https://example.com/p?q", { method: "POST", headers: { "x-a": "1" }, body: "hello" }));
  out.echo = [r.status, r.statusText, r.headers.get("x-b"), await r.text(), r instanceof Response];
  // This request itself, its body streamed in from the client.
  out.incoming = await (await env.S.echo(req)).text();
  out.headers = [...(await env.S.headers(new Headers({ "x-d": "4" })))];
  out.stream = await env.S.stream(new ReadableStream({ pull(c) { c.enqueue(new TextEncoder().encode("streamed")); c.close(); } }));
  out.produced = await new Response(await env.S.produce()).text();
  out.nested = await env.S.nested({ req: new Request("https://x.test/a"), res: new Response("r"), h: new Headers({ k: "v" }) });
  const used = new Request("https://x.test/", { method: "POST", body: "a" });
  await used.text();
  try { await env.S.echo(used); out.used = "sent"; } catch (e) { out.used = e.name; }
  try { await env.S.big(17 * 1024 * 1024); out.big = "arrived"; } catch (e) { out.big = `${e.name}: ${e.message}`; }
  // 6 Mi characters of 3 UTF-8 bytes each: within 16 Mi UTF-16 units, 18 MiB as sent.
  try { out.wideArgument = await env.S.length("\u20ac".repeat(6 << 20)); } catch (e) { out.wideArgument = `${e.name}: ${e.message}`; }
  try { out.wideResult = (await env.S.wide(6 << 20)).length; } catch (e) { out.wideResult = `${e.name}: ${e.message}`; }
  out.afterWide = await env.S.length("\u20ac".repeat(5 << 20));
  // One body twice in a message: the same Request, or a Response over its stream.
  const twice = new Request("https://x.test/", { method: "POST", body: "once" });
  try { await env.S.echo([twice, twice]); out.twice = "sent"; } catch (e) { out.twice = e.name; }
  const shared = new Request("https://x.test/", { method: "POST", body: "once" });
  try { await env.S.nested({ req: shared, res: new Response(shared.body), h: new Headers() }); out.shared = "sent"; } catch (e) { out.shared = `${e.name}: ${e.message}`; }
  out.unused = [twice.bodyUsed, shared.bodyUsed];
  try { await env.S.stream(Response.error()); out.error = "sent"; } catch (e) { out.error = e.name; }
  // Calls on one stub go out in the order made, a body read first or not.
  const o = env.LOG.getByName("one");
  await Promise.all([o.note("a", new Request("https://x.test/", { method: "POST", body: "payload" })), o.note("b"), o.note("c", new Response("r"))]);
  out.order = await o.log();
  const site = await env.S.site();
  out.site = await (await site.fetch(new Request("https://site.test/page", { method: "PUT", body: "b" }))).text();
  site[Symbol.dispose]();
  return Response.json(out);
} };
"#;

#[test]
fn requests_responses_headers_and_streams_cross_between_workers() {
    let d = Daemon::start("rpc-bodies", 1, 1, "[limits]\ncpu_ms = 5000\n");
    let t = tenant_token(0);
    let callee = load(&d, &t, CALLEE);
    let caller = load_with_env(
        &d,
        &t,
        CALLER,
        json!({ "S": { "binding": "service", "worker": callee },
                "LOG": { "binding": "durable_object_namespace", "class_name": "Log" } }),
    );
    let r = client()
        .post(format!("{}/v1/workers/{caller}/fetch/in", d.base))
        .bearer_auth(&t)
        .header("x-a", "from the client")
        .body("uploaded")
        .send()
        .expect("fetch");
    assert_eq!(r.status().as_u16(), 200);
    let got: Value = r.json().expect("json");
    assert_eq!(
        got["echo"],
        json!([201, "Made", "2", "POST /p 1 hello", true]),
        "{got}"
    );
    assert_eq!(
        got["incoming"], "POST /in from the client uploaded",
        "{got}"
    );
    assert_eq!(got["headers"], json!([["x-c", "3"], ["x-d", "4"]]), "{got}");
    assert_eq!(got["stream"], "streamed", "{got}");
    assert_eq!(got["produced"], "abcd", "{got}");
    assert_eq!(
        got["nested"],
        json!({ "url": "https://x.test/a", "body": "r", "h": "v", "kinds": [true, true] }),
        "{got}"
    );
    assert_eq!(got["used"], "TypeError", "{got}");
    assert_eq!(got["site"], "site PUT /page b", "{got}");
    assert_eq!(
        got["twice"], "TypeError",
        "one body twice in a message: {got}"
    );
    assert!(
        got["shared"]
            .as_str()
            .is_some_and(|m| m.contains("twice in one message")),
        "{got}"
    );
    assert_eq!(
        got["unused"],
        json!([false, false]),
        "refused before a read: {got}"
    );
    assert_eq!(got["error"], "DataCloneError", "Response.error(): {got}");
    assert_eq!(got["order"], json!(["a payload", "b", "c r"]), "{got}");
    let big = got["big"].as_str().unwrap_or("");
    assert!(big.contains("16 MiB"), "{got}");
    // Counted in bytes as sent, not in UTF-16 units: still the DataCloneError (it was a
    // TypeError naming the host call, and a result ended the callee's isolate).
    for wide in ["wideArgument", "wideResult"] {
        let m = got[wide].as_str().unwrap_or("");
        assert!(
            m.starts_with("DataCloneError") && m.contains("16 MiB"),
            "{wide}: {got}"
        );
    }
    assert_eq!(got["afterWide"], 5 << 20, "15 MiB fits: {got}");
}
