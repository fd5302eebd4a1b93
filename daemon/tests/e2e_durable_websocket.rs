//! A Durable Object's accepted WebSockets end to end (a real daemon, jailed workers, real
//! WebSocket clients over loopback): a chat room whose worker forwards the upgrade to the object
//! (`stub.fetch(request)`), which accepts the server end with tags (`ctx.acceptWebSocket`) and
//! answers each message in `webSocketMessage` by broadcasting through `getWebSockets()`. The
//! sockets outlive the worker's wall limit (2 s; messages exchanged 4.5 s later, each answer
//! synchronising the next step), tags select, attachments persist between messages, an
//! auto-response is answered, a client's close reaches `webSocketClose` (seen by the other
//! client), and after the object was evicted (idle_ms) the next message constructs it again and
//! `getWebSockets()` still lists both clients with their tags and attachments.
mod common;
#[path = "common/ws_client.rs"]
mod ws_client;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use ws_client::{connect, next, Client};

const WORKER: &str = r#"
import { DurableObject } from "cloudflare:workers";
export class Room extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.incarnation = (ctx.storage.kv.get("made") ?? 0) + 1;
    ctx.storage.kv.put("made", this.incarnation);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }
  async fetch(req) {
    const who = new URL(req.url).searchParams.get("who");
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server, [who, "all"]);
    server.serializeAttachment({ who, count: 0 });
    return new Response(null, { status: 101, webSocket: client });
  }
  webSocketMessage(ws, message) {
    const a = ws.deserializeAttachment();
    a.count++;
    ws.serializeAttachment(a);
    const [cmd, arg] = String(message).split(" ");
    if (cmd === "say") {
      for (const peer of this.ctx.getWebSockets()) peer.send(`${a.who}: ${arg}`);
    } else if (cmd === "to") {
      for (const peer of this.ctx.getWebSockets(arg)) peer.send(`${a.who} to ${arg}`);
    } else if (cmd === "who") {
      const list = this.ctx.getWebSockets().map((w) => `${this.ctx.getTags(w).join("+")}=${w.deserializeAttachment().count}`);
      ws.send(`${list.join(",")} new=${this.incarnation > 1} auto=${this.ctx.getWebSocketAutoResponse()?.response}`);
    } else if (cmd === "bad") {
      const errors = [];
      try { this.ctx.acceptWebSocket(new WebSocketPair()[1], Array(11).fill("t")); } catch (e) { errors.push(e.name); }
      try { this.ctx.acceptWebSocket(new WebSocketPair()[1], ["x".repeat(257)]); } catch (e) { errors.push(e.name); }
      try { ws.serializeAttachment("x".repeat(3000)); } catch (e) { errors.push(e.name); }
      try { this.ctx.acceptWebSocket(ws); } catch (e) { errors.push(e.name); }
      ws.send(errors.join(","));
    } else if (message instanceof ArrayBuffer) {
      ws.send(new Uint8Array(message).reverse());
    }
  }
  webSocketClose(ws, code, reason, wasClean) {
    const a = ws.deserializeAttachment();
    for (const peer of this.ctx.getWebSockets()) peer.send(`left ${a.who} ${code} ${reason} ${wasClean}`);
  }
}
export default { fetch(req, env) {
  if (req.headers.get("Upgrade") !== "websocket") return new Response("plain");
  return env.ROOMS.getByName("lobby").fetch(req);
} }
"#;

async fn say(ws: &mut Client, text: &str) {
    ws.send(Message::text(text)).await.expect("sent");
}

fn text(m: Message) -> String {
    match m {
        Message::Text(t) => t.as_str().to_owned(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

#[test]
fn a_chat_room_object_holds_its_clients_past_the_wall_limit_and_its_eviction() {
    let d = Daemon::start(
        "do-ws",
        1,
        1,
        // CPU enough for the constructor's storage on a loaded disk (a wait past the allowance
        // counts as CPU); idle time long enough that the first steps find one instance.
        "[limits]\ncpu_ms = 2000\nwall_ms = 2000\n[durable_objects]\nidle_ms = 1500\n",
    );
    let token = tenant_token(0);
    let id = load_code(
        &d,
        &token,
        &json!({
            "mainModule": "main.js",
            "modules": { "main.js": WORKER },
            "env": { "ROOMS": { "binding": "durable_object_namespace", "class_name": "Room" } },
        }),
    );
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let mut ann = connect(&d, &token, &id, "who=ann").await;
            let mut bob = connect(&d, &token, &id, "who=bob").await;
            // A broadcast reaches both clients.
            say(&mut ann, "say hi").await;
            let first = tokio::time::timeout(Duration::from_secs(20), ann.next()).await;
            let Ok(Some(Ok(first))) = first else {
                let path = format!("/v1/workers/{id}/logs");
                let logs = std::thread::scope(|s| {
                    s.spawn(|| get_json(&d, Some(&token), &path).1)
                        .join()
                        .expect("logs")
                });
                panic!("no broadcast ({first:?}); the worker's logs: {logs}");
            };
            assert_eq!(text(first), "ann: hi");
            assert_eq!(text(next(&mut bob).await), "ann: hi");
            // Tags select.
            say(&mut bob, "to ann").await;
            assert_eq!(text(next(&mut ann).await), "bob to ann");
            // Binary messages arrive as an ArrayBuffer.
            ann.send(Message::binary(vec![1u8, 2, 3]))
                .await
                .expect("sent");
            assert_eq!(next(&mut ann).await, Message::binary(vec![3u8, 2, 1]));
            // The auto-response, answered by the supervisor (no call: it counts no message).
            say(&mut ann, "ping").await;
            assert_eq!(text(next(&mut ann).await), "pong");
            // Refusals are typed errors, thrown where Cloudflare throws them.
            say(&mut ann, "bad").await;
            assert_eq!(
                text(next(&mut ann).await),
                "TypeError,TypeError,RangeError,TypeError"
            );
            // Attachments persist between messages: ann's 3 counted, bob's 1 and this one.
            say(&mut bob, "who").await;
            let who = text(next(&mut bob).await);
            assert_eq!(who, "ann+all=3,bob+all=2 new=false auto=pong", "{who}");
            // Past the wall limit (2 s) of the requests that carried the handshakes, and past
            // idle_ms, which evicts the object while the supervisor keeps its sockets: both
            // clients still talk, and the object constructed again sees both, with their tags
            // and attachments.
            tokio::time::sleep(Duration::from_millis(4500)).await;
            say(&mut bob, "say late").await;
            assert_eq!(text(next(&mut ann).await), "bob: late");
            assert_eq!(text(next(&mut bob).await), "bob: late");
            say(&mut ann, "who").await;
            let who = text(next(&mut ann).await);
            assert_eq!(who, "ann+all=4,bob+all=3 new=true auto=pong", "{who}");
            // A client's close reaches webSocketClose, which tells the other.
            ann.close(None).await.expect("closed");
            assert_eq!(text(next(&mut bob).await), "left ann 1005  true");
            say(&mut bob, "who").await;
            let who = text(next(&mut bob).await);
            assert!(who.starts_with("bob+all=4 "), "{who}");
        });
}
