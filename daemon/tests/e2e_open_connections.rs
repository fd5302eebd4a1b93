//! Cloudflare's six simultaneous open connections per request, end to end: a real daemon, a
//! jailed Loader worker, real servers on 127.0.0.1. A 7th `connect()` waits (its `opened`
//! neither resolves nor rejects) while six sockets are open and opens once one is closed; 7
//! `fetch()`es to a server that holds its answers, heads included, reach it at most 6 at once
//! (the 7th waits, seen waiting on `/metrics`) and all complete once it lets one answer (an 8th,
//! aborted at once, is never sent); an answer whose head came holds no place, so ten fetches
//! whose bodies are held all answer (Cloudflare's rule since April 2026; before it, six unread
//! bodies stalled a 7th fetch); a `connect()` still waiting when its request ends (its wall
//! limit) is dropped, never reaching the server, and the next request gets its six; an outbound
//! WebSocket holds no place once its handshake is done.
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
/// `arrived?` with `arrived <n>`, the requests `hold` has seen, once it has seen one or 20 s
/// passed (a hang guard: the fetch it waits for is not held back).
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
                for _ in 0..1000 {
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
      // Seven fetches at once to a server that holds its answers, heads included, and an eighth
      // aborted at once: a line once all are made, then every body, streamed as it happens.
      const { readable, writable } = new TransformStream();
      const writer = writable.getWriter();
      ctx.waitUntil((async () => {
        try {
          const all = Array.from({ length: 7 }, (_, i) => fetch(`http://127.0.0.1:${port}/hold/${i}`));
          const ctrl = new AbortController();
          const eighth = fetch(`http://127.0.0.1:${port}/hold/7`, { signal: ctrl.signal })
            .then(() => "answered", (e) => e.name);
          ctrl.abort();
          await writer.write(enc.encode(`made, the eighth ${await eighth}\n`));
          const texts = await Promise.all(all.map((p) => p.then((r) => r.text())));
          await writer.write(enc.encode(JSON.stringify(texts) + "\n"));
        } catch (e) {
          await writer.write(enc.encode(`threw ${message(e)}\n`));
        }
        await writer.close();
      })());
      return new Response(readable);
    }
    if (name === "unread") {
      // Ten fetches at once to a server that answers heads at once and holds the bodies: a line
      // once all ten answered (no body read yet), then every body.
      const { readable, writable } = new TransformStream();
      const writer = writable.getWriter();
      ctx.waitUntil((async () => {
        try {
          const answers = await Promise.all(
            Array.from({ length: 10 }, (_, i) => fetch(`http://127.0.0.1:${port}/body/${i}`)));
          await writer.write(enc.encode("ten answered\n"));
          const texts = await Promise.all(answers.map((r) => r.text()));
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

/// A streamed answer of the worker's scenario `name` against `port`, read line by line.
fn lines_of(
    d: &Daemon,
    id: &str,
    name: &str,
    port: u16,
) -> std::io::BufReader<reqwest::blocking::Response> {
    let response = client()
        .get(format!(
            "{}/v1/workers/{id}/fetch/{name}?port={port}",
            d.base
        ))
        .bearer_auth(tenant_token(0))
        .send()
        .expect("fetch");
    assert_eq!(response.status(), 200);
    std::io::BufReader::new(response)
}

fn next_line(lines: &mut std::io::BufReader<reqwest::blocking::Response>) -> String {
    let mut line = String::new();
    lines.read_line(&mut line).expect("a line");
    line
}

/// `stockade_egress_connections_waiting` on `/metrics`: connections waiting for a place now.
fn waiting(d: &Daemon) -> f64 {
    d.metrics()
        .lines()
        .find_map(|l| l.strip_prefix("stockade_egress_connections_waiting "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(-1.0)
}

/// (b) Seven fetches at once to a server that holds its answers, heads included: six reach it,
/// the 7th waits for a place (the daemon's gauge shows one waiting, the server saw six); once the
/// server answers one, the 7th is sent, and all seven complete. The server never had more than
/// six at once, and the 7th's audit record says how long it waited. An 8th, aborted at once, is
/// never sent: the gateway audits it as aborted, without a status.
#[test]
fn seven_fetches_wait_for_heads_at_most_six_at_once_and_all_complete() {
    let server = HoldServer::start_heads();
    let d = daemon("open-conns-fetch", &[server.port], true, None);
    let id = worker(&d, serde_json::json!({}));
    let mut lines = lines_of(&d, &id, "fetches", server.port);
    assert_eq!(next_line(&mut lines), "made, the eighth AbortError\n");
    let (arrived, _, _) = server.wait_arrived(6);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while waiting(&d) != 1.0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(waiting(&d), 1.0, "the 7th waits for a place");
    let mut six: Vec<String> = (0..6).map(|i| format!("/hold/{i}")).collect();
    let (arrived_now, open, _) = server.seen();
    let mut sorted = arrived_now.clone();
    sorted.sort();
    assert_eq!(
        sorted, six,
        "only six were sent: {arrived:?} {arrived_now:?}"
    );
    assert_eq!(open, 6);
    // One head goes out: its place goes to the 7th.
    server.release(1);
    let (arrived, _, _) = server.wait_arrived(7);
    assert_eq!(arrived.len(), 7, "{arrived:?}");
    assert_eq!(arrived[6], "/hold/6", "{arrived:?}");
    server.release(6);
    six.push("/hold/6".into());
    let texts: Vec<String> = six.iter().map(|p| format!("{p} done")).collect();
    let line = next_line(&mut lines);
    let got: serde_json::Value =
        serde_json::from_str(line.trim()).unwrap_or_else(|_| panic!("not JSON: {line}"));
    assert_eq!(got, serde_json::json!(texts));
    let (arrived, open, most) = server.seen();
    assert_eq!((open, most), (0, 6), "at most six at once");
    assert!(!arrived.contains(&"/hold/7".to_owned()), "{arrived:?}");
    assert_eq!(waiting(&d), 0.0);
    let eighth = audited(&d, "/hold/7");
    assert_eq!(eighth.len(), 1, "{eighth:?}");
    assert_eq!(eighth[0]["reason"], "the fetch was aborted", "{eighth:?}");
    assert!(eighth[0]["status"].is_null(), "{eighth:?}");
    // The 7th's record says it waited (it did, across the gauge's reads above), within its time.
    let seventh = audited(&d, "/hold/6");
    assert_eq!(seventh.len(), 1, "{seventh:?}");
    let (queued, ms) = (seventh[0]["queuedMs"].as_u64(), seventh[0]["ms"].as_u64());
    assert!(
        matches!((queued, ms), (Some(q), Some(m)) if q >= 1 && q <= m),
        "{seventh:?}"
    );
}

/// (e) An answer whose head came holds no place: ten fetches to a server that answers heads at
/// once and holds every body all answer while the server holds ten bodies open (with places
/// held until a body's end, the 7th would wait for a body nobody reads until after all ten
/// answered: a stall until the wall limit), then all ten bodies are read.
#[test]
fn answers_whose_heads_came_hold_no_place_so_ten_unread_bodies_do_not_stall() {
    let server = HoldServer::start();
    let d = daemon("open-conns-unread", &[server.port], true, None);
    let id = worker(&d, serde_json::json!({ "wallMs": 20000 }));
    let mut lines = lines_of(&d, &id, "unread", server.port);
    assert_eq!(next_line(&mut lines), "ten answered\n");
    let (arrived, open, _) = server.seen();
    assert_eq!((arrived.len(), open), (10, 10), "{arrived:?}");
    server.release(10);
    let line = next_line(&mut lines);
    let got: serde_json::Value =
        serde_json::from_str(line.trim()).unwrap_or_else(|_| panic!("not JSON: {line}"));
    let texts: Vec<String> = (0..10).map(|i| format!("/body/{i} done")).collect();
    assert_eq!(got, serde_json::json!(texts));
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

/// (d) An outbound WebSocket holds no place once its handshake is done: with six open, a
/// `fetch()` is sent at once (its server, asked over the sixth socket, has seen it).
#[test]
fn an_open_websocket_holds_no_place_once_its_handshake_is_done() {
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
  const answered = fetch('http://127.0.0.1:{hold}/hold/after-ws');
  // What the fetch's server saw, asked on the sixth socket after the fetch was made.
  const echoed = await new Promise((resolve) => {{
    sockets[5].addEventListener('message', (e) => resolve(e.data), {{ once: true }});
    sockets[5].send('arrived?');
  }});
  const r = await answered;
  for (const s of sockets) s.close(1000, 'done');
  await r.body.cancel();
  return {{ echoed, status: r.status }};
}};"#
    );
    let (status, got) = run(&d, &tenant_token(0), &code);
    assert_eq!(status, 200, "{got}");
    assert_eq!(
        got["result"],
        serde_json::json!({ "echoed": "arrived 1", "status": 200 }),
        "{got}"
    );
    assert_eq!(server.seen().0, vec!["/hold/after-ws".to_owned()]);
    server.release(1);
}
