//! A Durable Object's `ctx.id.name` in the incarnations events construct, end to end (a real
//! daemon, jailed workers): an object addressed with `getByName("room-7")` sets an alarm and is
//! evicted; the alarm constructs it again and both its constructor and `alarm()` see the name;
//! a `newUniqueId` object's alarm sees none; a WebSocket message after eviction constructs the
//! object with its name (an object that never touched its storage); a forged host call cannot
//! give an object a name that did not make its id; an object reached by its id alone
//! (`idFromString`) after eviction is constructed with the name its file keeps; and an alarm set
//! before `kill -9` runs after the restart with the name.
mod common;
#[path = "common/ws_client.rs"]
mod ws_client;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use ws_client::{connect, next};

const WORKER: &str = r#"
import { DurableObject } from "cloudflare:workers";
export class Named extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.born = crypto.randomUUID();
    this.birth = String(ctx.id.name);
  }
  async arm(ms, label) {
    await this.ctx.storage.put({ label, armedBy: this.born });
    await this.ctx.storage.setAlarm(Date.now() + ms);
    return this.whoami();
  }
  async alarm() {
    const s = this.ctx.storage;
    const fresh = (await s.get("armedBy")) !== this.born;
    console.log(`alarm[${await s.get("label")}] name=${String(this.ctx.id.name)} birth=${this.birth} fresh=${fresh}`);
  }
  whoami() { return { name: String(this.ctx.id.name), birth: this.birth, born: this.born }; }
  touch() { this.ctx.storage.kv.put("touched", true); return this.whoami(); }
  fetch(req) {
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    return new Response(null, { status: 101, webSocket: client });
  }
  webSocketMessage(ws) { ws.send(JSON.stringify(this.whoami())); }
}
export default { async fetch(req, env) {
  const url = new URL(req.url);
  const name = url.searchParams.get("name");
  if (req.headers.get("Upgrade") === "websocket") return env.NS.getByName(name).fetch(req);
  const args = JSON.parse(url.searchParams.get("args") ?? "[]");
  const op = url.pathname.split("/").pop();
  if (op === "byid") {
    // The object by its id's hex alone, as a stub made from a stored id reaches it.
    const id = env.NS.idFromString(env.NS.idFromName(name).toString());
    return Response.json(await env.NS.get(id).whoami());
  }
  if (op === "unique") return Response.json(await env.NS.get(env.NS.newUniqueId()).arm(...args));
  if (op === "forge") {
    // A name that did not make the id, in a raw do.call: the object must not take it.
    const id = env.NS.newUniqueId().toString();
    const forged = await ask("do.call", { binding: "NS", id, name: "room-7", method: "whoami" });
    const seen = await env.NS.get(env.NS.idFromString(id)).whoami();
    return Response.json({ forged, seen });
  }
  return Response.json(await env.NS.getByName(name)[op](...args));
} };
"#;

/// Polls the worker's logs every 100 ms until a line contains `what`, for up to 60 s: that line.
fn log_line(d: &Daemon, token: &str, worker: &str, what: &str) -> String {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        let (_, logs) = get_json(d, Some(token), &format!("/v1/workers/{worker}/logs"));
        let text = logs.to_string();
        if let Some(at) = text.find(what) {
            let line = &text[at..];
            return line[..line.find('"').unwrap_or(line.len())].to_owned();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no log line with {what} within 60 s");
}

#[test]
fn events_construct_a_named_object_with_its_name_also_after_kill_9() {
    let tenants = format!(
        "[limits]\ncpu_ms = 2000\n[durable_objects]\nidle_ms = 300\n[[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n",
        tenant_token(0)
    );
    let d = Daemon::start_raw("do-name", 1, &tenants, TEST_HOOKS);
    let t = tenant_token(0);
    let code = [DIRECT_HOST_CALL, WORKER].concat();
    let env = json!({ "NS": { "binding": "durable_object_namespace", "class_name": "Named" } });
    let w = load_with_env(&d, &t, &code, env);
    let args = |v: Value| urlencode(&v.to_string());

    // Armed 2 s ahead by a named call, then evicted (idle 300 ms; no call meanwhile): the alarm
    // constructs it again, and the constructor and alarm() both see the name.
    let armed = fetch_json(
        &d,
        &t,
        &w,
        &format!("arm?name=room-7&args={}", args(json!([2000, "room-7"]))),
    );
    assert_eq!(armed["name"], "room-7", "{armed}");
    // A newUniqueId object: no name, in the call or the alarm.
    let unique = fetch_json(
        &d,
        &t,
        &w,
        &format!("unique?args={}", args(json!([2000, "unique"]))),
    );
    assert_eq!(unique["name"], "undefined", "{unique}");
    let line = log_line(&d, &t, &w, "alarm[room-7]");
    assert_eq!(
        line, "alarm[room-7] name=room-7 birth=room-7 fresh=true",
        "constructed by its alarm, named"
    );
    let line = log_line(&d, &t, &w, "alarm[unique]");
    assert_eq!(
        line,
        "alarm[unique] name=undefined birth=undefined fresh=true"
    );

    // A forged name (not the one that made the id) is not the object's.
    let forge = fetch_json(&d, &t, &w, "forge");
    assert_eq!(forge["seen"]["name"], "undefined", "{forge}");

    // Reached by its id alone (`idFromString`) after eviction: constructed with the name its
    // file keeps (a named call's storage write kept it).
    let touched = fetch_json(&d, &t, &w, "touch?name=desk-4");
    assert_eq!(touched["name"], "desk-4", "{touched}");
    let start = Instant::now();
    let by_id = loop {
        std::thread::sleep(Duration::from_millis(600));
        let seen = fetch_json(&d, &t, &w, "byid?name=desk-4");
        if seen["born"] != touched["born"] {
            break seen;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "never evicted");
    };
    assert_eq!(
        (&by_id["name"], &by_id["birth"]),
        (&json!("desk-4"), &json!("desk-4")),
        "{by_id}"
    );

    // A WebSocket message after eviction constructs the object with its name (the object never
    // touched its storage: the accept kept the name).
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let mut ws = connect(&d, &t, &w, "name=lobby-3").await;
            ws_say(&mut ws).await;
            let first: Value = serde_json::from_str(&ws_text(next(&mut ws).await)).expect("json");
            assert_eq!(first["name"], "lobby-3", "{first}");
            tokio::time::sleep(Duration::from_millis(2000)).await;
            ws_say(&mut ws).await;
            let later: Value = serde_json::from_str(&ws_text(next(&mut ws).await)).expect("json");
            assert_ne!(later["born"], first["born"], "evicted, constructed again");
            assert_eq!(
                (&later["name"], &later["birth"]),
                (&json!("lobby-3"), &json!("lobby-3")),
                "{later}"
            );
        });

    // Set, then kill -9 at once: after the restart the alarm constructs it with its name.
    let armed = fetch_json(
        &d,
        &t,
        &w,
        &format!("arm?name=room-9&args={}", args(json!([2500, "room-9"]))),
    );
    assert_eq!(armed["name"], "room-9", "{armed}");
    let dir = d.kill9();
    let d = Daemon::start_in(dir, 1, &tenants, &[]);
    let line = log_line(&d, &t, &w, "alarm[room-9]");
    assert_eq!(line, "alarm[room-9] name=room-9 birth=room-9 fresh=true");
}

async fn ws_say(ws: &mut ws_client::Client) {
    use futures_util::SinkExt;
    ws.send(Message::text("who")).await.expect("sent");
}

fn ws_text(m: Message) -> String {
    match m {
        Message::Text(t) => t.as_str().to_owned(),
        other => panic!("expected a text message, got {other:?}"),
    }
}
