//! Cloudflare's six simultaneous open connections per request, end to end: a real daemon, a
//! jailed Loader worker, real servers on 127.0.0.1. A 7th `connect()` waits (its `opened`
//! neither resolves nor rejects) while six sockets are open and opens once one is closed; 7
//! `fetch()`es to a server that holds its answers' bodies open reach it at most 6 at once and
//! all complete once it lets one end (an 8th, aborted while it waits, is never sent); a
//! `connect()` still waiting when its request ends (its wall limit) is dropped, never reaching
//! the server, and the next request gets its six; an outbound WebSocket holds its place until it
//! is closed.
mod common;
#[path = "common/tcp_servers.rs"]
mod tcp_servers;

use std::io::BufRead;
use std::sync::Arc;

use common::*;
use tcp_servers::*;
use tokio::io::AsyncWriteExt;

/// Echoes every byte, noting `accept` when a connection comes and `eof` when it ends.
fn echo_server(seen: &Seen) -> u16 {
    let seen = Arc::clone(seen);
    listen(move |mut stream| {
        let seen = Arc::clone(&seen);
        async move {
            seen.lock().expect("seen").push("accept".into());
            let (mut r, mut w) = stream.split();
            let _ = tokio::io::copy(&mut r, &mut w).await;
            let _ = w.shutdown().await;
            seen.lock().expect("seen").push("eof".into());
        }
    })
}

/// A WebSocket server (tokio-tungstenite) answering a close with a close, and the text
/// `arrived?` with `arrived <n>`, the requests `hold` has seen, once it has seen one or 2 s
/// passed (the time a fetch not held back has to arrive).
fn ws_server(hold: &Arc<HoldServer>) -> u16 {
    use futures_util::{SinkExt, StreamExt};
    let hold = Arc::clone(hold);
    listen(move |stream| {
        let hold = Arc::clone(&hold);
        async move {
            let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            while let Some(Ok(message)) = ws.next().await {
                if !message.is_text() {
                    continue;
                }
                for _ in 0..100 {
                    if !hold.seen().0.is_empty() {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                let answer = format!("arrived {}", hold.seen().0.len());
                if ws.send(answer.into()).await.is_err() {
                    break;
                }
            }
        }
    })
}

fn count(seen: &Seen, line: &str) -> usize {
    seen.lock()
        .expect("seen")
        .iter()
        .filter(|l| *l == line)
        .count()
}

const WORKER: &str = r#"
import { connect } from "cloudflare:sockets";
const enc = new TextEncoder();
const dec = new TextDecoder();
const message = (e) => `${e.constructor.name}: ${e.message}`;
async function echo(socket, text) {
  const writer = socket.writable.getWriter();
  await writer.write(enc.encode(text));
  writer.releaseLock();
  const reader = socket.readable.getReader();
  let got = "";
  while (got.length < text.length) {
    const { value, done } = await reader.read();
    if (done) break;
    got += dec.decode(value);
  }
  reader.releaseLock();
  return got;
}
async function sixOpen(port) {
  const six = [];
  for (let i = 0; i < 6; i++) {
    const socket = connect(`127.0.0.1:${port}`);
    await socket.opened;
    six.push(socket);
  }
  return six;
}
const scenarios = {
  // The 7th socket waits while six are open, and opens once the first is closed.
  async sockets(port) {
    const six = await sixOpen(port);
    const order = [];
    const seventh = connect(`127.0.0.1:${port}`);
    let state = "pending";
    seventh.opened.then(() => { state = "opened"; order.push("seventh opened"); },
      (e) => { state = message(e); });
    // A round trip on the sixth socket: the 7th's connect, sent before it, was handled meanwhile.
    const back = await echo(six[5], "ping");
    const whileSixOpen = state;
    order.push("closing the first");
    await six[0].close();
    await seventh.opened;
    const seventhEchoes = await echo(seventh, "seven");
    for (const socket of [...six.slice(1), seventh]) await socket.close();
    return { back, whileSixOpen, order, seventhEchoes };
  },
  // Six sockets, then a 7th that waits for one of them until the request's wall limit ends it.
  async stall(port) {
    await sixOpen(port);
    await connect(`127.0.0.1:${port}`).opened;
    return "the seventh opened";
  },
};
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    const name = url.pathname.split("/").pop();
    const port = Number(url.searchParams.get("port"));
    if (name === "fetches") {
      // Seven fetches at once to a server that holds each answer's body open: what the first six
      // answered, then every body once the server lets them end, streamed as it happens.
      const { readable, writable } = new TransformStream();
      const writer = writable.getWriter();
      ctx.waitUntil((async () => {
        try {
          const all = Array.from({ length: 7 }, (_, i) => fetch(`http://127.0.0.1:${port}/hold/${i}`));
          let seventh = "pending";
          all[6].then(() => { seventh = "answered"; }, (e) => { seventh = message(e); });
          // An eighth, aborted while it waits behind the seventh.
          const ctrl = new AbortController();
          const eighth = fetch(`http://127.0.0.1:${port}/hold/7`, { signal: ctrl.signal })
            .then(() => "answered", (e) => e.name);
          const six = await Promise.all(all.slice(0, 6));
          ctrl.abort();
          await writer.write(enc.encode(`six answered, the seventh ${seventh}, the eighth ${await eighth}\n`));
          const texts = await Promise.all([...six.map((r) => r.text()), all[6].then((r) => r.text())]);
          await writer.write(enc.encode(JSON.stringify(texts) + "\n"));
        } catch (e) {
          await writer.write(enc.encode(`threw ${message(e)}\n`));
        }
        await writer.close();
      })());
      return new Response(readable);
    }
    try {
      return Response.json(await scenarios[name](port));
    } catch (e) {
      return Response.json({ threw: message(e) });
    }
  },
};
"#;

/// A worker of tenant t0 with `limits`.
fn worker(d: &Daemon, limits: serde_json::Value) -> String {
    let (status, created) = create_worker(
        d,
        &tenant_token(0),
        &serde_json::json!({
            "mainModule": "main.js",
            "modules": { "main.js": WORKER },
            "limits": limits,
        }),
    );
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().expect("id").to_owned()
}

/// (a) A 7th `connect()` is queued, not refused: its `opened` is still pending after a round trip
/// on an open socket, and resolves only after the first socket's `close()` began; it then carries
/// bytes. The server saw seven connections.
#[test]
fn the_seventh_socket_waits_for_one_of_six_to_close_then_opens() {
    let seen = Seen::default();
    let port = echo_server(&seen);
    let d = daemon("open-conns-sockets", &[port], true, None);
    let id = worker(&d, serde_json::json!({}));
    let got = fetch_json(&d, &tenant_token(0), &id, &format!("sockets?port={port}"));
    assert_eq!(
        got,
        serde_json::json!({
            "back": "ping",
            "whileSixOpen": "pending",
            "order": ["closing the first", "seventh opened"],
            "seventhEchoes": "seven",
        }),
    );
    assert_eq!(
        count(&seen, "accept"),
        7,
        "{:?}",
        seen.lock().expect("seen")
    );
}

/// (b) Seven fetches at once: the first six reach the server and are answered while the 7th
/// waits (not sent: the server saw six); once the server ends one body, the 7th goes, and all
/// seven complete. The server never held more than six open at once. An 8th, aborted while it
/// waits, is never sent: the gateway audits it as aborted, without a status.
#[test]
fn seven_fetches_reach_the_server_at_most_six_at_once_and_all_complete() {
    let server = HoldServer::start();
    let d = daemon("open-conns-fetch", &[server.port], true, None);
    let id = worker(&d, serde_json::json!({}));
    let response = client()
        .get(format!(
            "{}/v1/workers/{id}/fetch/fetches?port={}",
            d.base, server.port
        ))
        .bearer_auth(tenant_token(0))
        .send()
        .expect("fetch");
    assert_eq!(response.status(), 200);
    let mut lines = std::io::BufReader::new(response);
    let mut line = String::new();
    lines.read_line(&mut line).expect("first line");
    assert_eq!(
        line,
        "six answered, the seventh pending, the eighth AbortError\n"
    );
    let (arrived, open, _) = server.seen();
    let mut six: Vec<String> = (0..6).map(|i| format!("/hold/{i}")).collect();
    let mut sorted = arrived.clone();
    sorted.sort();
    assert_eq!(sorted, six, "only the first six were sent: {arrived:?}");
    assert_eq!(open, 6);
    // The abort ended the 8th's wait there and then (audited, never sent), while all six places
    // are still taken.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut eighth = audited(&d, "/hold/7");
    while eighth.is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
        eighth = audited(&d, "/hold/7");
    }
    assert_eq!(eighth.len(), 1, "{eighth:?}");
    assert_eq!(eighth[0]["reason"], "the fetch was aborted", "{eighth:?}");
    assert!(eighth[0]["status"].is_null(), "{eighth:?}");
    assert_eq!(server.seen().1, 6, "six still open");
    // One body ends: its place goes to the 7th.
    server.release(1);
    let (arrived, _, _) = server.wait_arrived(7);
    assert_eq!(arrived.len(), 7, "{arrived:?}");
    assert_eq!(arrived[6], "/hold/6", "{arrived:?}");
    server.release(6);
    line.clear();
    lines.read_line(&mut line).expect("second line");
    six.push("/hold/6".into());
    let texts: Vec<String> = six.iter().map(|p| format!("{p} done")).collect();
    let got: serde_json::Value =
        serde_json::from_str(line.trim()).unwrap_or_else(|_| panic!("not JSON: {line}"));
    assert_eq!(got, serde_json::json!(texts));
    let (arrived, open, most) = server.seen();
    assert_eq!((open, most), (0, 6), "at most six at once");
    assert!(!arrived.contains(&"/hold/7".to_owned()), "{arrived:?}");
    let eighth = audited(&d, "/hold/7");
    assert_eq!(eighth.len(), 1, "{eighth:?}");
}

/// The audit records of t0's hops to `path`.
fn audited(d: &Daemon, path: &str) -> Vec<serde_json::Value> {
    let (status, audit) = get_json(d, Some(OPERATOR), "/v1/admin/egress?tenant=t0&limit=100");
    assert_eq!(status, 200, "{audit}");
    audit["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter(|r| r["path"] == path)
        .cloned()
        .collect()
}

/// (c) A `connect()` waiting for a place when its request ends (the worker's 3 s wall limit) is
/// dropped: it never reaches the server, and the next request has its own six (and a 7th that
/// waits and opens).
#[test]
fn a_connect_waiting_when_its_request_ends_is_dropped_and_leaks_no_place() {
    let seen = Seen::default();
    let port = echo_server(&seen);
    let d = daemon("open-conns-stall", &[port], true, None);
    let id = worker(&d, serde_json::json!({ "wallMs": 3000 }));
    let response = client()
        .get(format!(
            "{}/v1/workers/{id}/fetch/stall?port={port}",
            d.base
        ))
        .bearer_auth(tenant_token(0))
        .send()
        .expect("fetch");
    let status = response.status().as_u16();
    let text = response.text().expect("text");
    assert_ne!(status, 200, "{text}");
    assert!(text.to_lowercase().contains("wall"), "{status} {text}");
    // The request's end closed its six sockets; the waiting 7th never connected.
    let lines = wait_for_count(&seen, "eof", 6);
    assert_eq!(count(&seen, "accept"), 6, "{lines:?}");
    let got = fetch_json(&d, &tenant_token(0), &id, &format!("sockets?port={port}"));
    assert_eq!(got["whileSixOpen"], "pending", "{got}");
    assert_eq!(got["seventhEchoes"], "seven", "{got}");
    // Six and seven: the stalled request's 7th is not among them.
    assert_eq!(
        count(&seen, "accept"),
        13,
        "{:?}",
        seen.lock().expect("seen")
    );
}

/// Waits (20 s at most) until `seen` holds `n` lines `line`; all its lines then.
fn wait_for_count(seen: &Seen, line: &str, n: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while count(seen, line) < n && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    seen.lock().expect("seen").clone()
}

/// (d) An outbound WebSocket is one of the request's open connections until it is closed: with
/// six open, a `fetch()` waits (not sent: its server, asked over the sixth socket, has seen
/// nothing), and is sent once the first socket is closed.
#[test]
fn an_open_websocket_holds_its_place_until_it_is_closed() {
    let server = Arc::new(HoldServer::start());
    let hold = server.port;
    let ws = ws_server(&server);
    let d = daemon("open-conns-ws", &[ws, hold], true, None);
    let code = format!(
        r#"export default async () => {{
  const sockets = [];
  for (let i = 0; i < 6; i++) {{
    const r = await fetch('ws://127.0.0.1:{ws}/', {{ headers: {{ Upgrade: 'websocket' }} }});
    r.webSocket.accept();
    sockets.push(r.webSocket);
  }}
  let state = 'pending';
  const answered = fetch('http://127.0.0.1:{hold}/hold/after-ws').then((r) => {{ state = 'answered'; return r; }});
  // What the fetch's server saw, asked on the sixth socket after the fetch was made.
  const echoed = await new Promise((resolve) => {{
    sockets[5].addEventListener('message', (e) => resolve(e.data), {{ once: true }});
    sockets[5].send('arrived?');
  }});
  const whileSixOpen = state;
  sockets[0].close(1000, 'done');
  const r = await answered;
  for (const s of sockets.slice(1)) s.close(1000, 'done');
  await r.body.cancel();
  return {{ echoed, whileSixOpen, status: r.status }};
}};"#
    );
    let (status, got) = run(&d, &tenant_token(0), &code);
    assert_eq!(status, 200, "{got}");
    assert_eq!(
        got["result"],
        serde_json::json!({ "echoed": "arrived 0", "whileSixOpen": "pending", "status": 200 }),
        "{got}"
    );
    assert_eq!(server.seen().0, vec!["/hold/after-ws".to_owned()]);
    server.release(1);
}
