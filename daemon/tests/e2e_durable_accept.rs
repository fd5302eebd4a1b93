//! A WebSocket a Durable Object `accept()`s itself (the API before hibernation), end to end (a
//! real daemon, jailed workers, a real client): its messages cross both ways through the object's
//! request, and that request's wall limit (the worker's `wallMs`) ends it with a close 1011 that
//! says so, as it ends a worker's own socket.
mod common;
#[path = "common/ws_client.rs"]
mod ws_client;

use common::*;
use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use ws_client::{connect, next};

const WORKER: &str = r#"
import { DurableObject } from "cloudflare:workers";
export class Room extends DurableObject {
  fetch() {
    const [client, server] = Object.values(new WebSocketPair());
    server.accept();
    server.send(`hello from ${this.ctx.id.name}`);
    server.addEventListener("message", (e) => server.send(`echo ${e.data}`));
    return new Response(null, { status: 101, webSocket: client });
  }
}
export default { fetch(req, env) { return env.ROOMS.getByName("a").fetch(req); } };
"#;

#[test]
fn an_object_s_own_socket_carries_messages_and_ends_at_its_wall_limit() {
    let d = Daemon::start("do-accept", 1, 1, "");
    let token = tenant_token(0);
    let (status, created) = create_worker(
        &d,
        &token,
        &json!({
            "mainModule": "main.js",
            "modules": { "main.js": WORKER },
            "env": { "ROOMS": { "binding": "durable_object_namespace", "class_name": "Room" } },
            "limits": { "wallMs": 2000 },
        }),
    );
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let mut ws = connect(&d, &token, &id, "").await;
            assert_eq!(next(&mut ws).await, Message::text("hello from a"));
            ws.send(Message::text("one")).await.expect("sent");
            assert_eq!(next(&mut ws).await, Message::text("echo one"));
            // The object's request reaches its 2 s wall limit: the client is closed with 1011.
            match next(&mut ws).await {
                Message::Close(Some(frame)) => {
                    assert_eq!(frame.code, CloseCode::Error, "{frame:?}");
                    assert!(frame.reason.contains("wall"), "{frame:?}");
                }
                other => panic!("expected a close frame 1011, got {other:?}"),
            }
        });
}
