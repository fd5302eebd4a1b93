//! Requests, Responses, Headers and ReadableStreams as RPC values between workers, end to end (a
//! real daemon, jailed workers), as Cloudflare's Workers RPC carries them: a service binding's
//! method takes a Request and answers a Response, the caller's own incoming request (its body
//! streamed in) passes on, a stream goes either way, they nest in objects, and their bodies
//! arrive whole; an `RpcTarget`'s `fetch` is a method taking one. A used body is a TypeError
//! before anything is sent. Bodies stream through pipes (`daemon/src/api/rpc_pipes.rs`): past
//! the message's 16 MiB, and chunk by chunk (a chunk reaches the client before the next exists).
//! The message itself past 16 MiB is a DataCloneError.
mod common;
#[path = "common/tcp_servers.rs"]
mod tcp_servers;

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
  try { out.big = (await (await env.S.big(17 * 1024 * 1024)).text()).length; } catch (e) { out.big = `${e.name}: ${e.message}`; }
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
  // A stream fed from a later call's answer on the same stub: the first call goes out with its
  // pipe, the later one is answered while the first waits for its body.
  const o2 = env.LOG.getByName("two");
  let feed;
  const fed = new ReadableStream({ start(c) { feed = c; } });
  const pending = o2.note("fed", new Response(fed));
  const seen = await o2.log();
  feed.enqueue(new TextEncoder().encode(JSON.stringify(seen)));
  feed.close();
  await pending;
  out.fed = await o2.log();
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
    let status = r.status().as_u16();
    let text = r.text().expect("text");
    assert_eq!(status, 200, "{text}");
    let got: Value = serde_json::from_str(&text).expect("json");
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
    assert_eq!(got["fed"], json!(["fed [\"fed\"]"]), "{got}");
    assert_eq!(got["big"], 17 << 20, "a 17 MiB body streams: {got}");
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

const STREAMS: &str = r#"
import { WorkerEntrypoint } from "cloudflare:workers";
const MIB = 1 << 20;
export default class extends WorkerEntrypoint {
  // n MiB, made as they are read (never whole in either isolate).
  produce(n) {
    let left = n;
    return new ReadableStream({ pull(c) { if (left-- > 0) c.enqueue(new Uint8Array(MIB).fill(left & 0xff)); else c.close(); } });
  }
  // The bytes, and whether each chunk starts and ends with `fill` (however it was cut).
  async count(stream, fill = 1) {
    let bytes = 0, same = true;
    for await (const chunk of stream) { bytes += chunk.length; same &&= chunk[0] === fill && chunk[chunk.length - 1] === fill; }
    return [bytes, same];
  }
  async countRequest(req) { return [req.method, (await this.count(req.body))[0]]; }
  // The held server's answer: its first chunk at once, its end when the test releases it.
  async relay(url) { return (await fetch(url)).body; }
  failing() {
    let sent = false;
    return new ReadableStream({ pull(c) { if (!sent) { sent = true; c.enqueue(new Uint8Array(8)); } else c.error(new RangeError("the source broke")); } });
  }
  async cancelAfterOne(stream) { const r = stream.getReader(); const first = await r.read(); await r.cancel("enough"); return first.value.length; }
  async countAll(streams) { let n = 0; for (const s of streams) n += (await this.count(s))[0]; return n; }
}
"#;

const STREAMS_CALLER: &str = r#"
const MIB = 1 << 20;
export default { async fetch(req, env) {
  const path = new URL(req.url).pathname;
  if (path.endsWith("/relay")) return new Response(await env.S.relay(req.headers.get("x-hold")));
  const out = {};
  // 40 MiB from the callee, counted as it arrives.
  let bytes = 0;
  for await (const chunk of await env.S.produce(40)) bytes += chunk.length;
  out.produced = bytes;
  // 24 MiB to the callee, made as it reads them; and as a Request's body.
  let left = 24;
  out.counted = await env.S.count(new ReadableStream({ pull(c) { if (left-- > 0) c.enqueue(new Uint8Array(MIB).fill(1)); else c.close(); } }));
  let parts = 20;
  const body = new ReadableStream({ pull(c) { if (parts-- > 0) c.enqueue(new Uint8Array(MIB)); else c.close(); } });
  out.request = await env.S.countRequest(new Request("https://x.test/up", { method: "PUT", body, duplex: "half" }));
  // A stream that fails after a chunk: the error reaches the reader.
  try { for await (const chunk of await env.S.failing()) {} out.failing = "ended"; } catch (e) { out.failing = `${e.name}: ${e.message}`; }
  // A reader that lets go after one chunk: the sender's source is cancelled.
  let cancelled = null;
  let made = 0;
  const endless = new ReadableStream({ pull(c) { made++; c.enqueue(new Uint8Array(1024)); }, cancel(reason) { cancelled = `${reason}`; } });
  out.first = await env.S.cancelAfterOne(endless);
  for (let i = 0; i < 500 && cancelled === null; i++) await new Promise((r) => setTimeout(r, 20));
  out.cancelled = cancelled !== null;
  out.made = made < 50;
  // A message that cannot go after its pipes opened (too large): its sources are cancelled.
  let dropped = null;
  const unsent = new ReadableStream({ pull(c) { c.enqueue(new Uint8Array(1024)); }, cancel(reason) { dropped = reason?.name ?? `${reason}`; } });
  try { await env.S.count([unsent, "\u20ac".repeat(6 << 20)]); out.unsent = "sent"; } catch (e) { out.unsent = e.name; }
  out.unsentCancelled = dropped;
  // 64 streams in one call, read one after the other, each a 1 MiB chunk: each pipe's writes
  // take no place among the request's 64 host calls in flight, and the 64 writes waiting
  // (256 KiB each) stay within the request's share of host-call memory.
  const many = Array.from({ length: 64 }, () => { let left = 1; return new ReadableStream({ pull(c) { if (left-- > 0) c.enqueue(new Uint8Array(1 << 20)); else c.close(); } }); });
  out.many = await env.S.countAll(many);
  return Response.json(out);
} };
"#;

/// A held HTTP server, a daemon whose tenant t0 may reach it, and t0's caller of the
/// `STREAMS` worker (`env.S`).
fn streams(tag: &str) -> (tcp_servers::HoldServer, Daemon, String) {
    let server = tcp_servers::HoldServer::start();
    let config = format!(
        "[limits]\ncpu_ms = 20000\nwall_ms = 120000\n[egress]\nallow_private = [\"127.0.0.0/8\"]\n\
         [[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n[[tenants.egress]]\nhost = \"127.0.0.1\"\nports = [{}]\n",
        tenant_token(0),
        server.port
    );
    let d = Daemon::start_raw(tag, 1, &config, &[]);
    let t = tenant_token(0);
    let callee = load(&d, &t, STREAMS);
    let caller = load_with_env(
        &d,
        &t,
        STREAMS_CALLER,
        json!({ "S": { "binding": "service", "worker": callee } }),
    );
    (server, d, caller)
}

/// Streams cross in pipes: 40 MiB one way and 24 MiB the other (each past the message's 16 MiB,
/// made only as they are read), a Request's body, a source's error, a reader's cancel reaching
/// the sender's source.
#[test]
fn bodies_stream_over_rpc_past_16_mib_with_errors_and_cancels() {
    let (_server, d, caller) = streams("rpc-streams");
    let t = tenant_token(0);
    let (status, text) = fetch(&d, &t, &caller);
    assert_eq!(status, 200, "{text}");
    let got: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(got["produced"], 40 << 20, "{got}");
    assert_eq!(got["counted"], json!([24 << 20, true]), "{got}");
    assert_eq!(got["request"], json!(["PUT", 20 << 20]), "{got}");
    assert_eq!(
        got["failing"], "OperationError: pipe.read: RangeError: the source broke",
        "{got}"
    );
    // What the first read took: one 1 KiB chunk, or a few that waited together.
    let first = got["first"].as_u64().unwrap_or(0);
    assert!(first > 0 && first.is_multiple_of(1024), "{got}");
    assert_eq!(
        got["cancelled"], true,
        "the sender's source heard the cancel: {got}"
    );
    assert_eq!(got["made"], true, "nothing read ahead without end: {got}");
    assert_eq!(got["unsent"], "DataCloneError", "{got}");
    assert_eq!(
        got["unsentCancelled"], "DataCloneError",
        "the source hears why: {got}"
    );
    assert_eq!(got["many"], 64 << 20, "{got}");
}

/// A stream crosses chunk by chunk: the callee relays a held HTTP answer whose first chunk comes
/// at once and whose end only when the test releases it; the caller answers its client with the
/// stream, and the client reads the first chunk while the rest does not exist yet. (A body read
/// whole before its message went would never arrive before the release.)
#[test]
fn a_stream_over_rpc_reaches_the_client_chunk_by_chunk() {
    use std::io::Read;
    let (server, d, caller) = streams("rpc-streams-relay");
    let t = tenant_token(0);
    let mut r = client()
        .get(format!("{}/v1/workers/{caller}/fetch/relay", d.base))
        .bearer_auth(&t)
        .header("x-hold", format!("http://127.0.0.1:{}/held", server.port))
        .send()
        .expect("fetch");
    assert_eq!(r.status().as_u16(), 200);
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    while !got.ends_with(b"/held ") {
        let n = r
            .read(&mut buf)
            .expect("the first chunk, before the release");
        assert!(n > 0, "ended early: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(server.seen().1, 1, "the held answer is still open");
    server.release(1);
    r.read_to_end(&mut got).expect("the rest");
    assert_eq!(String::from_utf8_lossy(&got), "/held done");
}

/// A binding host call from tenant code (debug builds' test hook): its answer head's JSON, or
/// `refused: why`.
const ASK: &str = "const frame = (head) => { const h = new TextEncoder().encode(JSON.stringify(head)); const out = new Uint8Array(4 + h.length); new DataView(out.buffer).setUint32(0, h.length, true); out.set(h, 4); return out; };
const ask = (name, head) => __stockadeTestHostCall(name, frame(head)).then((b) => { const n = new DataView(b.buffer, b.byteOffset).getUint32(0, true); const h = JSON.parse(new TextDecoder().decode(b.subarray(4, 4 + n))); return h && h.error ? 'refused: ' + h.error.message : h; }, (e) => 'refused: ' + e.message);";

/// A pipe's read end is reached by its key, by its own tenant, once: another tenant's request
/// holding the key, a made-up key, a second take and pipe numbers the request does not hold are
/// all refused (forged with the debug builds' host-call hook), while the opener's request is
/// alive (it streams its answer: the key first, its end 20 s later or when the client goes).
#[test]
fn a_pipe_is_taken_only_by_its_key_its_tenant_and_once() {
    use std::io::{BufRead, BufReader};
    let d = Daemon::start_with("rpc-pipes-forged", &["normal"; 2], 1, "", TEST_HOOKS);
    let opener = load(
        &d,
        &tenant_token(0),
        &format!(
            "{ASK}
export default {{ async fetch() {{
  const opened = await ask('pipe.open', {{}});
  let ctl;
  const body = new ReadableStream({{ start(c) {{ ctl = c; }} }});
  ctl.enqueue(new TextEncoder().encode(`${{opened.key}}\n`));
  setTimeout(() => ctl.close(), 20000);
  return new Response(body);
}} }};"
        ),
    );
    let r = client()
        .get(format!("{}/v1/workers/{opener}/fetch/", d.base))
        .bearer_auth(tenant_token(0))
        .send()
        .expect("fetch");
    assert_eq!(r.status().as_u16(), 200);
    let mut opened = BufReader::new(r);
    let mut key = String::new();
    opened.read_line(&mut key).expect("the key");
    let key = key.trim().to_owned();
    assert_eq!(key.len(), 32, "{key}");
    let taker = format!(
        "{ASK}
export default {{ async fetch(req) {{
  const key = req.headers.get('x-key');
  const out = {{}};
  // Numbers this request holds none of.
  out.forged = [];
  for (let pipe = 1; pipe <= 3; pipe++) {{
    for (const name of ['pipe.write', 'pipe.close', 'pipe.read', 'pipe.cancel']) out.forged.push(await ask(name, {{ pipe }}));
  }}
  out.madeUp = await ask('pipe.take', {{ key: '0'.repeat(32) }});
  out.take = await ask('pipe.take', {{ key }});
  out.again = await ask('pipe.take', {{ key }});
  return Response.json(out);
}} }};"
    );
    let take = |tenant: usize| -> Value {
        let id = load(&d, &tenant_token(tenant), &taker);
        let r = client()
            .get(format!("{}/v1/workers/{id}/fetch/", d.base))
            .bearer_auth(tenant_token(tenant))
            .header("x-key", &key)
            .send()
            .expect("fetch");
        assert_eq!(r.status().as_u16(), 200);
        r.json().expect("json")
    };
    let refused = |v: &Value| v.as_str().is_some_and(|s| s.starts_with("refused"));
    // Another tenant with the key: refused, and the pipe still waits for its own tenant.
    let other = take(1);
    assert!(refused(&other["take"]), "{other}");
    assert!(refused(&other["madeUp"]), "{other}");
    for (i, forged) in other["forged"]
        .as_array()
        .expect("forged")
        .iter()
        .enumerate()
    {
        // `pipe.cancel` of a number the request does not hold does nothing: answered.
        assert!(refused(forged) || i % 4 == 3, "{other}");
    }
    let own = take(0);
    assert!(own["take"]["pipe"].as_u64().is_some(), "{own}");
    assert!(refused(&own["again"]), "taken once: {own}");
    assert!(refused(&own["madeUp"]), "{own}");
    drop(opened);
}
