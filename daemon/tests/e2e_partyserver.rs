//! PartyServer (npm `partyserver`, Cloudflare's Durable Object WebSocket server library) running
//! unchanged, end to end: `daemon/tests/frameworks/party-app.js` (a chat room `Server` that
//! hibernates, and one with partyserver's default in-memory connections) bundled as Wrangler
//! bundles it, loaded through the Loader API with its Durable Object namespaces bound under the
//! names `routePartykitRequest` looks for (`Chat` -> `/parties/chat/:room`), and driven by real
//! WebSocket clients and HTTP requests over loopback (a real daemon, jailed workers). Checked:
//! the welcome names the room (`this.name`, from `ctx.id.name`), a message reaches the room's
//! other clients and not its sender nor another room, `onRequest` counts the room's connections,
//! and after the object was evicted (`idle_ms`) without traffic the object constructed again
//! still broadcasts to both clients and finds each connection's `setState` state.
mod common;
#[path = "frameworks/bundle.rs"]
mod frameworks;
#[path = "common/ws_client.rs"]
mod ws_client;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use ws_client::{connect_path as connect, Client};

/// Loads the PartyServer app with both namespaces bound under their class names; the worker id.
fn load_party(d: &Daemon, token: &str) -> String {
    load_code(
        d,
        token,
        &json!({
            "mainModule": "app.mjs",
            "modules": { "app.mjs": frameworks::bundle("party-app.js") },
            "limits": { "cpuMs": 5000, "wallMs": 30000 },
            "env": {
                "Chat": { "binding": "durable_object_namespace", "class_name": "Chat" },
                "Echo": { "binding": "durable_object_namespace", "class_name": "Echo" },
            },
        }),
    )
}

/// Generous CPU (a Durable Object's storage calls count as CPU time, and a loaded machine makes
/// SQLite's fsync slow); `extra` config after it.
fn start(tag: &str, extra: &str) -> Daemon {
    Daemon::start(tag, 1, 1, &format!("[limits]\ncpu_ms = 5000\n{extra}"))
}

/// The next text frame (a guard of 20 s against a hang: none is a failure).
async fn next_text(ws: &mut Client) -> String {
    let frame = tokio::time::timeout(Duration::from_secs(20), ws.next())
        .await
        .expect("a frame in time")
        .expect("open")
        .expect("a frame");
    match frame {
        Message::Text(t) => t.as_str().to_owned(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

async fn next_json(ws: &mut Client) -> Value {
    let text = next_text(ws).await;
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Closes `ws` with 1000 and reads until the server's answering close (partyserver reciprocates
/// a close that has a code), so that the server has seen it.
async fn close(ws: &mut Client) {
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    };
    ws.close(Some(frame)).await.expect("closed");
    loop {
        match tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("the close answered in time")
        {
            Some(Ok(Message::Close(answer))) => {
                assert_eq!(answer.map(|f| f.code), Some(CloseCode::Normal));
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return,
        }
    }
}

async fn say(ws: &mut Client, text: &str) {
    ws.send(Message::text(text)).await.expect("sent");
}

/// A plain HTTP request to the worker's `path`: (status, body).
async fn http(d: &Daemon, token: &str, id: &str, path: &str) -> (u16, String) {
    http_get(d, token, &format!("/v1/workers/{id}/fetch{path}")).await
}

/// `GET path` of the daemon as `token`: (status, body).
async fn http_get(d: &Daemon, token: &str, path: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .get(format!("{}{path}", d.base))
        .bearer_auth(token)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

async fn http_json(d: &Daemon, token: &str, id: &str, path: &str) -> Value {
    let (status, body) = http(d, token, id, path).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn a_partyserver_chat_room_broadcasts_and_survives_hibernation() {
    let d = start("partyserver", "[durable_objects]\nidle_ms = 300\n");
    let token = tenant_token(0);
    let id = load_party(&d, &token);
    runtime().block_on(async {
        // The router: outside `/parties/...` it answers null (the app's 404); an unknown party
        // is partyserver's 400.
        assert_eq!(http(&d, &token, &id, "/elsewhere").await.0, 404);
        assert_eq!(http(&d, &token, &id, "/parties/nope/lobby").await.0, 400);
        let empty = http_json(&d, &token, &id, "/parties/chat/lobby").await;
        assert_eq!(empty["room"], "lobby");
        assert_eq!(empty["connections"], 0);

        // Each welcome names its room (this.name) and carries the connection's state.
        let mut ann = connect(&d, &token, &id, "/parties/chat/lobby?who=ann").await;
        let welcome = next_json(&mut ann).await;
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        assert_eq!(welcome["room"], "lobby");
        assert_eq!(welcome["who"], "ann");
        let ann_id = welcome["id"].as_str().expect("a connection id").to_owned();
        let mut bob = connect(&d, &token, &id, "/parties/chat/lobby?who=bob").await;
        assert_eq!(next_json(&mut bob).await["room"], "lobby");
        let mut cat = connect(&d, &token, &id, "/parties/chat/den?who=cat").await;
        let welcome = next_json(&mut cat).await;
        assert_eq!(
            (&welcome["room"], &welcome["who"]),
            (&json!("den"), &json!("cat"))
        );

        // A message reaches the room's other client, not its sender: ann's next frame is bob's
        // answer, not her own message.
        say(&mut ann, "hi").await;
        assert_eq!(
            next_json(&mut bob).await,
            json!({ "type": "say", "from": "ann", "text": "hi", "n": 1 })
        );
        say(&mut bob, "hello ann").await;
        assert_eq!(
            next_json(&mut ann).await,
            json!({ "type": "say", "from": "bob", "text": "hello ann", "n": 1 })
        );
        // Nor another room: cat's next frame is the answer to her own question.
        say(&mut cat, "who").await;
        let who = next_json(&mut cat).await;
        assert_eq!(
            (&who["type"], &who["list"]),
            (&json!("who"), &json!(["cat=1"]))
        );

        // onRequest over HTTP counts each room's connections.
        let lobby = http_json(&d, &token, &id, "/parties/chat/lobby").await;
        assert_eq!(
            lobby,
            json!({ "room": "lobby", "method": "GET", "connections": 2, "messages": 2 })
        );
        let den = http_json(&d, &token, &id, "/parties/chat/den").await;
        assert_eq!(
            (&den["room"], &den["connections"]),
            (&json!("den"), &json!(1))
        );

        say(&mut ann, "who").await;
        let who = next_json(&mut ann).await;
        assert_eq!(who["list"], json!(["ann=2", "bob=1"]), "{who}");
        let starts = who["starts"].as_u64().expect("starts");

        // No traffic past idle_ms: the object is evicted while the supervisor keeps its sockets.
        tokio::time::sleep(Duration::from_millis(2000)).await;
        // The next message constructs it again (onStart once more); partyserver finds both
        // connections (getWebSockets, its attachments) and each one's state.
        say(&mut bob, "still here").await;
        assert_eq!(
            next_json(&mut ann).await,
            json!({ "type": "say", "from": "bob", "text": "still here", "n": 2 })
        );
        say(&mut ann, "who").await;
        let who = next_json(&mut ann).await;
        assert_eq!(who["list"], json!(["ann=3", "bob=2"]), "{who}");
        assert_eq!(who["room"], "lobby", "{who}");
        assert!(
            who["starts"].as_u64().expect("starts") > starts,
            "the object was not constructed again: {who}"
        );
        let lobby = http_json(&d, &token, &id, "/parties/chat/lobby").await;
        assert_eq!(
            (&lobby["connections"], &lobby["messages"]),
            (&json!(2), &json!(3))
        );
        // getConnection(id): the tag partyserver gave the socket, kept through the eviction.
        say(&mut bob, &format!("to:{ann_id}:psst")).await;
        assert_eq!(
            next_json(&mut ann).await,
            json!({ "type": "dm", "from": "bob", "text": "psst" })
        );
        say(&mut bob, "to:nobody-here:x").await;
        assert_eq!(next_json(&mut bob).await["type"], "nobody");

        // A client's close reaches onClose, which tells the other.
        close(&mut ann).await;
        assert_eq!(
            next_json(&mut bob).await,
            json!({ "type": "left", "who": "ann" })
        );
        let lobby = http_json(&d, &token, &id, "/parties/chat/lobby").await;
        assert_eq!(lobby["connections"], 1, "{lobby}");

        // partyserver logs what it swallows (an exception in a handler, a socket error): the
        // only line is the unknown party's.
        let (status, logs) = http_get(&d, &token, &format!("/v1/workers/{id}/logs")).await;
        assert_eq!(status, 200, "{logs}");
        let logs: Value = serde_json::from_str(&logs).expect("logs");
        let lines = logs["logs"].as_array().expect("lines");
        assert!(
            lines.iter().all(|l| l["message"]
                .as_str()
                .is_some_and(|m| m.contains(r#"namespace "nope""#))),
            "{logs}"
        );
    });
}

/// partyserver's default mode (no hibernation) `accept()`s the socket in the object and keeps
/// its connections in memory: the object's request drives each socket itself, bridged to its
/// client. Two clients of one room: each is welcomed, a broadcast reaches both, the room's HTTP
/// answer counts both, and a close reaches `onClose` (which tells the other) and leaves one.
#[test]
fn a_partyserver_room_without_hibernation_carries_its_own_sockets() {
    let d = start("partyserver-mem", "");
    let token = tenant_token(0);
    let id = load_party(&d, &token);
    runtime().block_on(async {
        assert_eq!(
            http(&d, &token, &id, "/parties/echo/room1").await,
            (200, "room1 has 0".to_string())
        );
        let mut a = connect(&d, &token, &id, "/parties/echo/room1?_pk=c1").await;
        assert_eq!(next_text(&mut a).await, "hello room1 true");
        let mut b = connect(&d, &token, &id, "/parties/echo/room1?_pk=c2").await;
        assert_eq!(next_text(&mut b).await, "hello room1 true");
        say(&mut a, "one").await;
        assert_eq!(next_text(&mut a).await, "room1: one");
        assert_eq!(next_text(&mut b).await, "room1: one");
        assert_eq!(
            http(&d, &token, &id, "/parties/echo/room1").await,
            (200, "room1 has 2".to_string())
        );
        // The relay answers a client's close at once; the object hears it on its own time,
        // and its onClose tells the room, so the count below comes after it.
        close(&mut a).await;
        assert_eq!(next_text(&mut b).await, "room1: c1 left");
        say(&mut b, "two").await;
        assert_eq!(next_text(&mut b).await, "room1: two");
        assert_eq!(
            http(&d, &token, &id, "/parties/echo/room1").await,
            (200, "room1 has 1".to_string())
        );
    });
}
