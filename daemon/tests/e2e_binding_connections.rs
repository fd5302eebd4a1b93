//! The binding calls Cloudflare counts among a request's six simultaneous open connections (KV,
//! Cache, R2, Queues), end to end: a real daemon, a jailed Loader worker with KV and R2 bindings,
//! an HTTP server on 127.0.0.1 that holds its answers until the test lets them go. With six
//! fetches waiting for their answers, a KV get, a Cache match and an R2 get wait: they read what
//! another request wrote after they were made, and all complete once one fetch is answered. An
//! R2 body that streams on after its `get` answered holds no place (as a fetch's body holds
//! none). A KV put still waiting when its request ends (its wall limit) never runs, not even once
//! the request's connections are closed. A queue send waits its turn as the others do. A
//! streamed R2 put holds its place from its upload's first call to its end.
//!
//! Order and value proofs only (no timing): a call that did not wait would have read the store
//! before the other request wrote it (that request starts after this one's call was sent).
mod common;
#[path = "common/tcp_servers.rs"]
mod tcp_servers;

use std::io::BufRead;

use common::*;
use serde_json::json;
use tcp_servers::*;

const WORKER: &str = r#"
const enc = new TextEncoder();
const CACHED = "https://cache.test/c";
const message = (e) => `${e.constructor.name}: ${e.message}`;
// Signals between requests by name (the loaded worker's isolate serves them all).
const signals = new Map();
function signal(name) {
  let s = signals.get(name);
  if (s === undefined) {
    s = {};
    s.promise = new Promise((resolve) => { s.resolve = resolve; });
    signals.set(name, s);
  }
  return s;
}
/** `n` fetches to a server that holds their answers; they are all sent once `go` is signalled. */
async function fetching(port, tag, n, go, line) {
  const answers = Array.from({ length: n }, (_, i) =>
    fetch(`http://127.0.0.1:${port}/${tag}/${i}`).then((r) => r.text()));
  await line(`${n} fetching`);
  await signal(go).promise;
  return Promise.all(answers);
}
const scenarios = {
  // Six fetches waiting for their answers: a KV get, a Cache match and an R2 get wait for one.
  async gated(env, port, go, line) {
    const answered = fetching(port, "gated", 6, go, line);
    await signal(go).promise;
    const order = [];
    const kv = env.KV.get("k").then((v) => { order.push("kv"); return v; });
    const cached = caches.default.match(CACHED)
      .then(async (r) => { order.push("cache"); return r === undefined ? null : await r.text(); });
    const r2 = env.B.get("o")
      .then(async (o) => { order.push("r2"); return o === null ? null : await o.text(); });
    await line(`calls made, ${order.length} answered`);
    const got = { kv: await kv, cache: await cached, r2: await r2, answered: order.sort() };
    await line(JSON.stringify(got));
    await line(JSON.stringify(await answered));
  },
  // Five fetches waiting and an R2 body streaming on, unread: a KV get goes at once.
  async stream(env, port, go, line) {
    await env.B.put("big", new Uint8Array(1536 * 1024).fill(7));
    const answered = fetching(port, "stream", 5, go, line);
    await signal(go).promise;
    const big = await env.B.get("big");
    const kv = await env.KV.get("k2");
    await line(JSON.stringify({ kv, bodyUsed: big.bodyUsed }));
    await big.body.cancel();
    await line(JSON.stringify((await answered).length));
  },
  // Five fetches waiting and a streamed R2 put whose body is still coming (its upload holds the
  // sixth place from its first bytes sent on): a KV get waits until the put has ended.
  async upload(env, port, go, line) {
    // Pulled only when read (highWaterMark 0): a first chunk of 1 MiB (the isolate sends an
    // upload 1 MiB at a time), then nothing until the test says so. The second read comes once
    // the first MiB was written, so the upload holds its place before the fetches take theirs.
    let reads = 0, written;
    const second = new Promise((r) => { written = r; });
    const body = new ReadableStream({
      pull(c) {
        if (reads++ === 0) {
          c.enqueue(new Uint8Array(1 << 20).fill(1));
          return undefined;
        }
        return new Promise((resolve) => written(() => {
          c.enqueue(new Uint8Array(5).fill(2));
          c.close();
          resolve();
        }));
      },
    }, { highWaterMark: 0 });
    const put = env.B.put("streamed", body);
    const finish = await second;
    const answered = fetching(port, "upload", 5, go, line);
    await signal(go).promise;
    const kv = env.KV.get("k");
    await line("get made");
    await signal(`${go}-end`).promise;
    finish();
    const object = await put;
    await line(JSON.stringify({ kv: await kv, size: object.size }));
    await line(JSON.stringify((await answered).length));
    // Eight streamed puts at once: six uploads hold the six places, and their puts need no
    // seventh (a put that took one more would wait for ever).
    const streamed = (i) => new ReadableStream({
      start(c) { c.enqueue(new Uint8Array(i + 1).fill(i)); c.close(); },
    });
    const sizes = await Promise.all(
      Array.from({ length: 8 }, (_, i) => env.B.put(`s${i}`, streamed(i)).then((o) => o.size)));
    await line(JSON.stringify(sizes));
    // Seven streamed parts of an upload that does not exist, each refused after its first MiB
    // went up: none keeps its place (a KV get still goes at once).
    let refused = 0;
    for (let i = 0; i < 7; i++) {
      const part = new ReadableStream({
        start(c) { c.enqueue(new Uint8Array(1 << 20)); c.enqueue(new Uint8Array(1)); c.close(); },
      });
      try {
        await env.B.resumeMultipartUpload("k", "no-such-upload").uploadPart(1, part);
      } catch {
        refused++;
      }
    }
    await line(JSON.stringify({ refused, kv: await env.KV.get("k") }));
  },
  // Six fetches waiting: a queue send waits for one of their places.
  async queued(env, port, go, line) {
    const answered = fetching(port, "queued", 6, go, line);
    await signal(go).promise;
    await env.Q.send("waited");
    await line("sent");
    await line(JSON.stringify((await answered).length));
  },
  // Six fetches waiting, then a KV put that waits until the wall limit ends the request.
  async stall(env, port, go, line) {
    fetching(port, "stall", 6, go, line);
    await signal(go).promise;
    await env.KV.put("leak", "written");
    await line("the put ran");
  },
};
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    const name = url.pathname.split("/").pop();
    const port = Number(url.searchParams.get("port"));
    const go = url.searchParams.get("go");
    if (name === "go") {
      signal(go).resolve();
      return Response.json("went");
    }
    if (name === "late") {
      // Another request, with its own six: writes what the waiting calls read.
      await env.KV.put("k", "late");
      await caches.default.put(CACHED,
        new Response("late", { headers: { "cache-control": "max-age=600" } }));
      await env.B.put("o", "late");
      return Response.json("written");
    }
    if (name === "peek") return Response.json({ leak: await env.KV.get("leak") });
    const { readable, writable } = new TransformStream();
    const writer = writable.getWriter();
    const line = (text) => writer.write(enc.encode(text + "\n"));
    ctx.waitUntil((async () => {
      try {
        await scenarios[name](env, port, go, line);
      } catch (e) {
        await line(`threw ${message(e)}`);
      }
      await writer.close();
    })());
    return new Response(readable);
  },
};
"#;

/// A worker of tenant t0 with a KV namespace and an R2 bucket, and `limits`.
fn worker(d: &Daemon, limits: serde_json::Value) -> String {
    let (status, created) = create_worker(
        d,
        &tenant_token(0),
        &json!({
            "mainModule": "main.js",
            "modules": { "main.js": WORKER },
            "env": {
                "KV": { "binding": "kv", "namespace": "n" },
                "B": { "binding": "r2", "bucket": "b" },
                "Q": { "binding": "queue", "queue": "jobs" },
            },
            "limits": limits,
        }),
    );
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().expect("id").to_owned()
}

/// The lines of a streamed answer of worker `id` at `path`, as they come ("" at its end or cut).
fn lines(d: &Daemon, id: &str, path: &str) -> impl FnMut() -> String {
    let response = client()
        .get(format!("{}/v1/workers/{id}/fetch/{path}", d.base))
        .bearer_auth(tenant_token(0))
        .send()
        .expect("fetch");
    assert_eq!(response.status(), 200);
    let mut reader = std::io::BufReader::new(response);
    move || {
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        line.trim_end().to_owned()
    }
}

/// Once `server` has `n` requests (each holding one of the request's places while it waits for
/// its answer), signals `go` to the scenario that sent them.
fn go_once_arrived(d: &Daemon, id: &str, server: &HoldServer, n: usize, go: &str) {
    assert_eq!(server.wait_arrived(n).0.len(), n, "{n} fetches sent");
    let went = fetch_json(d, &tenant_token(0), id, &format!("go?go={go}"));
    assert_eq!(went, json!("went"));
}

/// With six fetches waiting for their answers, a KV get, a Cache match and an R2 get wait: each
/// reads the value another request wrote after they were made (without the gate they read
/// nothing), and once one fetch is answered they complete (one after the other, through the place
/// it freed).
fn six_open_then_binding_calls_wait(d: &Daemon, id: &str, server: &HoldServer, go: &str) {
    let mut next = lines(d, id, &format!("gated?port={}&go={go}", server.port));
    assert_eq!(next(), "6 fetching");
    go_once_arrived(d, id, server, 6, go);
    assert_eq!(next(), "calls made, 0 answered");
    assert_eq!(
        fetch_json(d, &tenant_token(0), id, "late"),
        json!("written")
    );
    server.release(1);
    let got: serde_json::Value = serde_json::from_str(&next()).expect("JSON");
    assert_eq!(
        got,
        json!({ "kv": "late", "cache": "late", "r2": "late", "answered": ["cache", "kv", "r2"] }),
    );
    server.release(5);
    let bodies: Vec<String> = (0..6).map(|i| format!("/gated/{i} done")).collect();
    assert_eq!(next(), serde_json::to_string(&bodies).expect("JSON"));
}

#[test]
fn binding_calls_wait_while_six_connections_are_open() {
    let server = HoldServer::start_heads();
    let d = daemon("binding-conns-gated", &[server.port], true, None);
    let id = worker(&d, json!({}));
    six_open_then_binding_calls_wait(&d, &id, &server, "gated");
}

/// With six fetches waiting for their answers, a Queues `send` waits for a place: the daemon's
/// gauge shows one connection waiting and the queue holds nothing; once one fetch is answered the
/// message is stored.
#[test]
fn a_queue_send_waits_while_six_connections_are_open() {
    let server = HoldServer::start_heads();
    let d = daemon("binding-conns-queue", &[server.port], true, None);
    let id = worker(&d, json!({}));
    let mut next = lines(&d, &id, &format!("queued?port={}&go=queued", server.port));
    assert_eq!(next(), "6 fetching");
    go_once_arrived(&d, &id, &server, 6, "queued");
    let waiting = || {
        d.metrics()
            .lines()
            .find_map(|l| l.strip_prefix("stockade_egress_connections_waiting "))
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    let start = std::time::Instant::now();
    while waiting() != Some(1.0) {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "the send never waited for a place: {:?}",
            waiting()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let backlog = || get_json(&d, Some(&tenant_token(0)), "/v1/queues/jobs").1["backlog"].clone();
    assert_eq!(backlog(), json!(0), "nothing stored while the send waits");
    server.release(1);
    assert_eq!(next(), "sent");
    assert_eq!(backlog(), json!(1));
    server.release(5);
    assert_eq!(next(), "6");
}

/// An R2 body that streams on after its `get` answered (more than the 1 MiB the answer carries)
/// holds no place: with five fetches waiting besides it, a KV get completes while it is unread.
#[test]
fn a_streaming_r2_body_holds_no_place_once_answered() {
    let server = HoldServer::start_heads();
    let d = daemon("binding-conns-stream", &[server.port], true, None);
    let id = worker(&d, json!({}));
    let mut next = lines(&d, &id, &format!("stream?port={}&go=stream", server.port));
    assert_eq!(next(), "5 fetching");
    go_once_arrived(&d, &id, &server, 5, "stream");
    assert_eq!(next(), r#"{"kv":null,"bodyUsed":false}"#);
    server.release(5);
    assert_eq!(next(), "5");
}

/// A streamed R2 put is one of its request's open connections from its first bytes sent: with five
/// fetches waiting besides it, a KV get waits until the put has ended (it reads what another
/// request wrote after it was made), and the put itself never waits for a seventh place (eight
/// streamed puts at once all complete), and a refused one gives its place back at once.
#[test]
fn a_streamed_r2_put_holds_a_place_from_its_first_byte() {
    let server = HoldServer::start_heads();
    let d = daemon("binding-conns-upload", &[server.port], true, None);
    let id = worker(&d, json!({}));
    let mut next = lines(&d, &id, &format!("upload?port={}&go=upload", server.port));
    assert_eq!(next(), "5 fetching");
    go_once_arrived(&d, &id, &server, 5, "upload");
    assert_eq!(next(), "get made");
    assert_eq!(
        fetch_json(&d, &tenant_token(0), &id, "late"),
        json!("written")
    );
    let ended = fetch_json(&d, &tenant_token(0), &id, "go?go=upload-end");
    assert_eq!(ended, json!("went"));
    assert_eq!(next(), r#"{"kv":"late","size":1048581}"#);
    server.release(5);
    assert_eq!(next(), "5");
    assert_eq!(next(), "[1,2,3,4,5,6,7,8]");
    assert_eq!(next(), r#"{"refused":7,"kv":"late"}"#);
}

/// A KV put waiting for a place when its request ends (the worker's 3 s wall limit) is dropped:
/// it never runs, not even once the request's end closed its six connections; the next requests
/// have their own six, and their binding calls wait and complete as before.
#[test]
fn a_binding_call_waiting_when_its_request_ends_never_runs() {
    let stalled = HoldServer::start_heads();
    let server = HoldServer::start_heads();
    let d = daemon(
        "binding-conns-stall",
        &[stalled.port, server.port],
        true,
        None,
    );
    let id = worker(&d, json!({ "wallMs": 3000 }));
    let mut next = lines(&d, &id, &format!("stall?port={}&go=stall", stalled.port));
    assert_eq!(next(), "6 fetching");
    go_once_arrived(&d, &id, &stalled, 6, "stall");
    // The wall limit cuts the answer before the put's line.
    let mut rest = Vec::new();
    loop {
        let line = next();
        if line.is_empty() {
            break;
        }
        rest.push(line);
    }
    assert!(rest.is_empty(), "{rest:?}");
    let peek = || fetch_json(&d, &tenant_token(0), &id, "peek");
    assert_eq!(peek(), json!({ "leak": null }));
    six_open_then_binding_calls_wait(&d, &id, &server, "after-stall");
    assert_eq!(peek(), json!({ "leak": null }), "the dropped put never ran");
    stalled.release(6);
}
