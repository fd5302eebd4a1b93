//! A Durable Object's timers outlive the call that armed them, end to end (a real daemon,
//! jailed workers), as Cloudflare keeps an object's `setTimeout` while the object is in memory:
//! a method answers and its timer writes storage and logs later; the object is not evicted as
//! idle while the timer is pending (an `idle_ms` far below the timer's delay) and is evicted
//! once it fired; a `setInterval` ends at the wall limit of the call that armed it, and the
//! object still answers after; a WebSocket message handler's timer sends on the socket. A plain
//! worker's timer after its response still never fires (Cloudflare's rule for stateless
//! requests).
mod common;
#[path = "common/ws_client.rs"]
mod ws_client;

use std::time::{Duration, Instant};

use common::*;
use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use ws_client::{connect, next};

const WORKER: &str = r#"
import { DurableObject } from "cloudflare:workers";
export class Timed extends DurableObject {
  constructor(ctx, env) { super(ctx, env); this.born = crypto.randomUUID(); }
  later(ms, key) {
    setTimeout(async () => {
      await this.ctx.storage.put(key, this.born);
      console.log(`fired ${key}`);
    }, ms);
    return this.born;
  }
  ticks(every) {
    let n = 0;
    setInterval(() => this.ctx.storage.put("ticks", ++n), every);
    return this.born;
  }
  async read(key) { return (await this.ctx.storage.get(key)) ?? "missing"; }
  whoami() { return this.born; }
  fetch(req) {
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    return new Response(null, { status: 101, webSocket: client });
  }
  webSocketMessage(ws, msg) { setTimeout(() => ws.send(`later:${msg}`), 200); }
}
export default { async fetch(req, env) {
  const url = new URL(req.url);
  const op = url.pathname.split("/").pop();
  if (op === "plain") {
    // Not an object: a timer left after the response is dropped with the request.
    setTimeout(() => console.log("plain timer fired"), 100);
    return new Response("answered");
  }
  const o = env.NS.getByName(url.searchParams.get("name") ?? "a");
  if (req.headers.get("Upgrade") === "websocket") return o.fetch(req);
  const args = JSON.parse(url.searchParams.get("args") ?? "[]");
  return Response.json(await o[op](...args));
} };
"#;

fn daemon(tag: &str) -> (Daemon, String, String) {
    let tenants = format!(
        "[limits]\ncpu_ms = 2000\n[durable_objects]\nidle_ms = 200\n[[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n",
        tenant_token(0)
    );
    let d = Daemon::start_raw(tag, 1, &tenants, &[]);
    let t = tenant_token(0);
    let body = json!({
        "mainModule": "main.js",
        "modules": { "main.js": WORKER },
        "env": { "NS": { "binding": "durable_object_namespace", "class_name": "Timed" } },
        "limits": { "wallMs": 3000 },
    });
    let (status, v) = create_worker(&d, &t, &body);
    assert_eq!(status, 201, "{v}");
    let w = v["id"].as_str().expect("id").to_owned();
    (d, t, w)
}

fn call(d: &Daemon, t: &str, w: &str, name: &str, op: &str, args: Value) -> Value {
    let args = urlencode(&args.to_string());
    fetch_json(d, t, w, &format!("{op}?name={name}&args={args}"))
}

/// The worker's logs as text, polled every 100 ms until `what` is in them, for up to 30 s.
fn wait_for_log(d: &Daemon, t: &str, w: &str, what: &str) -> String {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        let (_, logs) = get_json(d, Some(t), &format!("/v1/workers/{w}/logs"));
        let text = logs.to_string();
        if text.contains(what) {
            return text;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no log line with {what} within 30 s");
}

#[test]
fn an_objects_timers_fire_after_its_call_and_keep_it_from_idle_eviction() {
    let (d, t, w) = daemon("do-timers");

    // Armed 1.5 s ahead by a call that answers at once. The daemon evicts an object idle for
    // 200 ms: the pending timer keeps it, and it fires in the incarnation that armed it.
    let born = call(&d, &t, &w, "a", "later", json!([1500, "k1"]));
    wait_for_log(&d, &t, &w, "fired k1");
    assert_eq!(call(&d, &t, &w, "a", "read", json!(["k1"])), born);

    // Once its timers are gone, it is idle again and evicted: a later call meets a new
    // incarnation (within 30 s; each probe waits longer than idle_ms).
    let start = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(700));
        if call(&d, &t, &w, "a", "whoami", json!([])) != born {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the object was never evicted after its timer fired"
        );
    }

    // A setInterval lives as long as the call that armed it may (its wallMs, 3 s), then stops;
    // the object still answers.
    let ticker = call(&d, &t, &w, "b", "ticks", json!([100]));
    std::thread::sleep(Duration::from_millis(4500));
    let first = call(&d, &t, &w, "b", "read", json!(["ticks"]));
    let n = first.as_u64().unwrap_or_else(|| panic!("ticks: {first}"));
    assert!(
        (2..=30).contains(&n),
        "the interval ticked {n} times in a 3 s wall"
    );
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(
        call(&d, &t, &w, "b", "read", json!(["ticks"])),
        first,
        "the interval went on past the wall limit of the call that armed it"
    );
    let _ = ticker;
    // The logs say why it stopped.
    let logs = wait_for_log(&d, &t, &w, "the work left after the answer was cut short");
    assert!(logs.contains("wall"), "{logs}");

    // A stateless request's timer left after its response never fires.
    let (status, body) = {
        let r = client()
            .get(format!("{}/v1/workers/{w}/fetch/plain", d.base()))
            .bearer_auth(&t)
            .send()
            .expect("plain");
        (r.status().as_u16(), r.text().expect("text"))
    };
    assert_eq!((status, body.as_str()), (200, "answered"));
    std::thread::sleep(Duration::from_millis(1000));
    let (_, logs) = get_json(&d, Some(&t), &format!("/v1/workers/{w}/logs"));
    assert!(
        !logs.to_string().contains("plain timer fired"),
        "a stateless request's timer fired after its response: {logs}"
    );
}

#[test]
fn a_websocket_handlers_timer_sends_on_the_socket() {
    let (d, t, w) = daemon("do-timers-ws");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut ws = connect(&d, &t, &w, "name=ws").await;
        ws.send(Message::text("one")).await.expect("send");
        assert_eq!(next(&mut ws).await, Message::text("later:one"));
        ws.send(Message::text("two")).await.expect("send");
        assert_eq!(next(&mut ws).await, Message::text("later:two"));
    });
}
