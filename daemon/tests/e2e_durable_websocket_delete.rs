//! Deleting a worker closes its Durable Objects' accepted WebSockets, end to end (a real daemon,
//! jailed workers, real WebSocket clients over loopback): two clients of two objects of the
//! worker, and one of another worker of the tenant's; after `DELETE /v1/workers/{id}` the first
//! two get a close frame 1001 ("going away") whose reason names the worker's deletion, after
//! what their object sent before; the other worker's client still talks to its object. A socket
//! an object accepts after its worker was deleted (its call was under way) is closed the same way.
mod common;
#[path = "common/ws_client.rs"]
mod ws_client;

use common::*;
use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use ws_client::{connect, next, Client};

/// The object `?room=` accepts the socket and echoes each message; `env.TAG` tells two workers
/// (two definitions, two ids) apart.
const WORKER: &str = r#"
import { DurableObject } from "cloudflare:workers";
export class Room extends DurableObject {
  async fetch(req) {
    if (new URL(req.url).searchParams.has("late")) {
      // Accepts only after a while, in which the test deletes the worker.
      this.ctx.storage.kv.put("waiting", true);
      await new Promise((r) => setTimeout(r, 1500));
    }
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    return new Response(null, { status: 101, webSocket: client });
  }
  webSocketMessage(ws, message) { ws.send(`${this.env.TAG} echo ${message}`); }
  waiting() { return this.ctx.storage.kv.get("waiting") ?? false; }
}
export default { async fetch(req, env) {
  const url = new URL(req.url);
  const room = env.ROOMS.getByName(url.searchParams.get("room") ?? "a");
  if (url.pathname.endsWith("/waiting")) return Response.json(await room.waiting());
  return room.fetch(req);
} }
"#;

async fn echo(ws: &mut Client, text: &str) -> String {
    ws.send(Message::text(text)).await.expect("sent");
    match next(ws).await {
        Message::Text(t) => t.as_str().to_owned(),
        other => panic!("expected the echo, got {other:?}"),
    }
}

fn worker(tag: &str) -> serde_json::Value {
    json!({
        "mainModule": "main.js",
        "modules": { "main.js": WORKER },
        "env": {
            "ROOMS": { "binding": "durable_object_namespace", "class_name": "Room" },
            "TAG": tag,
        },
    })
}

#[test]
fn deleting_a_worker_closes_its_objects_sockets_with_1001() {
    let d = Daemon::start("do-ws-delete", 1, 1, "");
    let token = tenant_token(0);
    let doomed = load_code(&d, &token, &worker("doomed"));
    let kept = load_code(&d, &token, &worker("kept"));
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let mut a = connect(&d, &token, &doomed, "room=a").await;
            let mut b = connect(&d, &token, &doomed, "room=b").await;
            let mut other = connect(&d, &token, &kept, "room=a").await;
            assert_eq!(echo(&mut a, "1").await, "doomed echo 1");
            assert_eq!(echo(&mut b, "2").await, "doomed echo 2");
            assert_eq!(echo(&mut other, "3").await, "kept echo 3");

            // The blocking client, off the runtime's thread.
            let (url, bearer) = (format!("{}/v1/workers/{doomed}", d.base()), token.clone());
            let status = tokio::task::spawn_blocking(move || {
                let r = client().delete(url).bearer_auth(bearer).send();
                r.expect("delete").status().as_u16()
            })
            .await
            .expect("the delete's thread");
            assert_eq!(status, 204);

            for ws in [&mut a, &mut b] {
                match next(ws).await {
                    Message::Close(Some(frame)) => {
                        assert_eq!(frame.code, CloseCode::Away, "{frame:?}");
                        assert!(frame.reason.contains("worker was deleted"), "{frame:?}");
                    }
                    other => panic!("expected a close frame 1001, got {other:?}"),
                }
            }
            // Another worker's object keeps its client.
            assert_eq!(echo(&mut other, "4").await, "kept echo 4");
        });
}

#[test]
fn a_socket_accepted_after_its_worker_was_deleted_is_closed_with_1001() {
    // CPU enough for the object's storage write on a loaded machine (fsync counts as CPU).
    let d = Daemon::start("do-ws-delete-late", 1, 1, "[limits]\ncpu_ms = 2000\n");
    let token = tenant_token(0);
    let doomed = load_code(&d, &token, &worker("doomed"));
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            // The object is inside its fetch, before its accept: delete the worker then.
            let (d3, t3, w3) = (d.handle(), token.clone(), doomed.clone());
            let deleting = tokio::task::spawn_blocking(move || {
                let start = std::time::Instant::now();
                while fetch_json(&d3, &t3, &w3, "waiting?room=l") != json!(true) {
                    assert!(start.elapsed().as_secs() < 20, "the object never waited");
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                let r = client()
                    .delete(format!("{}/v1/workers/{w3}", d3.base()))
                    .bearer_auth(t3)
                    .send();
                assert_eq!(r.expect("delete").status().as_u16(), 204);
            });
            let (mut ws, deleted) =
                tokio::join!(connect(&d, &token, &doomed, "room=l&late=1"), deleting);
            deleted.expect("the delete's thread");
            match next(&mut ws).await {
                Message::Close(Some(frame)) => {
                    assert_eq!(frame.code, CloseCode::Away, "{frame:?}");
                    assert!(frame.reason.contains("worker was deleted"), "{frame:?}");
                }
                other => panic!("expected a close frame 1001, got {other:?}"),
            }
        });
}
