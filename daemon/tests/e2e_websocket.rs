//! Server-side WebSockets end to end: a real client (tokio-tungstenite) over loopback, a real
//! daemon and a jailed worker whose fetch handler accepts a `WebSocketPair` and answers a 101
//! with its client end. Echo of text and binary, messages the server starts (setInterval), close
//! codes and reasons both ways, a client that drops its connection ends the handler (its close
//! event, 1006, in the worker's logs), a message over 1 MiB closes with 1009, a 101 to a request
//! that did not ask for a WebSocket is a clear error, and other requests are unaffected.
mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

const WORKER: &str = r#"
export default { fetch(req) {
  if (new URL(req.url).pathname === '/always') {
    const [c, s] = Object.values(new WebSocketPair());
    s.accept();
    return new Response(null, { status: 101, webSocket: c });
  }
  if (req.headers.get('Upgrade') !== 'websocket') return new Response('expected ws', { status: 426 });
  const [client, server] = Object.values(new WebSocketPair());
  server.accept();
  let timer = 0;
  server.addEventListener('message', (e) => {
    if (e.data === 'close-me') return server.close(4002, 'done');
    if (e.data === 'tick') { let n = 0; timer = setInterval(() => server.send(`tick ${++n}`), 5); return; }
    if (e.data === 'stop') { clearInterval(timer); return server.send('stopped'); }
    if (e.data === 'huge') {
      try { server.send('x'.repeat((1 << 20) + 1)); return server.send('sent huge'); }
      catch (err) { return server.send(`threw ${err.name}`); }
    }
    server.send(typeof e.data === 'string' ? `echo ${e.data}` : e.data);
  });
  server.addEventListener('close', (e) => {
    clearInterval(timer);
    console.log(`close ${e.code} ${e.reason} ${e.wasClean}`);
    if (e.wasClean) server.close(e.code, e.reason);
  });
  return new Response(null, { status: 101, webSocket: client });
} }
"#;

type Client =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Setup {
    d: Daemon,
    token: String,
    id: String,
}

fn setup(tag: &str) -> Setup {
    setup_with(tag, "")
}

fn setup_with(tag: &str, extra: &str) -> Setup {
    let d = Daemon::start(tag, 1, 1, extra);
    let token = tenant_token(0);
    let id = load_code(
        &d,
        &token,
        &json!({ "mainModule": "main.js", "modules": { "main.js": WORKER } }),
    );
    Setup { d, token, id }
}

impl Setup {
    async fn connect(&self) -> Client {
        let url = format!(
            "{}/v1/workers/{}/fetch/",
            self.d.base.replacen("http://", "ws://", 1),
            self.id
        );
        let mut request = url.into_client_request().expect("request");
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {}", self.token).parse().expect("header"),
        );
        let (ws, response) = tokio::time::timeout(
            Duration::from_secs(30),
            tokio_tungstenite::connect_async(request),
        )
        .await
        .expect("handshake in time")
        .expect("handshake");
        assert_eq!(response.status().as_u16(), 101);
        ws
    }

    /// The worker's log lines that start with `close`, once one matches `want` (20 s at most).
    fn close_logs(&self, want: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (status, v) = get_json(
                &self.d,
                Some(&self.token),
                &format!("/v1/workers/{}/logs", self.id),
            );
            assert_eq!(status, 200, "{v}");
            let lines: Vec<String> = v["logs"]
                .as_array()
                .expect("logs")
                .iter()
                .filter_map(|l| l["message"].as_str())
                .filter(|m| m.starts_with("close"))
                .map(String::from)
                .collect();
            if lines.iter().any(|l| l.contains(want)) || Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

async fn next(ws: &mut Client) -> Message {
    tokio::time::timeout(Duration::from_secs(20), ws.next())
        .await
        .expect("a message in time")
        .expect("open")
        .expect("a message")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn echo_server_messages_and_closes_both_ways() {
    let s = setup("ws-echo");
    runtime().block_on(async {
        let mut ws = s.connect().await;
        ws.send(Message::text("hello")).await.expect("sent");
        assert_eq!(next(&mut ws).await, Message::text("echo hello"));
        ws.send(Message::binary(vec![0u8, 1, 255]))
            .await
            .expect("sent");
        assert_eq!(next(&mut ws).await, Message::binary(vec![0u8, 1, 255]));
        // Messages the server starts on its own.
        ws.send(Message::text("tick")).await.expect("sent");
        for n in 1..=3 {
            assert_eq!(next(&mut ws).await, Message::text(format!("tick {n}")));
        }
        ws.send(Message::text("stop")).await.expect("sent");
        loop {
            match next(&mut ws).await {
                Message::Text(t) if t.starts_with("tick") => continue,
                other => {
                    assert_eq!(other, Message::text("stopped"));
                    break;
                }
            }
        }
        // The client closes: the worker's close event has its code and reason.
        ws.close(Some(CloseFrame {
            code: CloseCode::from(4001),
            reason: "bye".into(),
        }))
        .await
        .expect("closed");
        match next(&mut ws).await {
            Message::Close(Some(f)) => assert_eq!(u16::from(f.code), 4001),
            other => panic!("expected the close echoed, got {other:?}"),
        }
    });
    assert!(
        s.close_logs("close 4001 bye true")
            .contains(&"close 4001 bye true".to_string()),
        "{:?}",
        s.close_logs("")
    );
    runtime().block_on(async {
        // The server closes: the client gets its code and reason.
        let mut ws = s.connect().await;
        ws.send(Message::text("close-me")).await.expect("sent");
        match next(&mut ws).await {
            Message::Close(Some(f)) => {
                assert_eq!((u16::from(f.code), f.reason.as_str()), (4002, "done"))
            }
            other => panic!("expected the server's close, got {other:?}"),
        }
    });
    // Other requests are unaffected: no upgrade asked, the handler's own answer.
    let r = client()
        .get(format!("{}/v1/workers/{}/fetch/", s.d.base, s.id))
        .bearer_auth(&s.token)
        .send()
        .expect("answered");
    assert_eq!(r.status().as_u16(), 426);
    assert_eq!(r.text().expect("text"), "expected ws");
}

#[test]
fn a_client_that_drops_its_connection_ends_the_handler() {
    let s = setup("ws-drop");
    runtime().block_on(async {
        let mut ws = s.connect().await;
        ws.send(Message::text("tick")).await.expect("sent");
        assert_eq!(next(&mut ws).await, Message::text("tick 1"));
        drop(ws); // the TCP connection closes, no close frame
    });
    let lines = s.close_logs("close 1006");
    assert!(
        lines
            .iter()
            .any(|l| l == "close 1006 WebSocket disconnected without sending Close frame. false"),
        "{lines:?}"
    );
}

#[test]
fn an_oversize_message_closes_with_1009() {
    let s = setup("ws-big");
    runtime().block_on(async {
        let mut ws = s.connect().await;
        ws.send(Message::binary(vec![7u8; (1 << 20) + 1]))
            .await
            .expect("sent");
        match next(&mut ws).await {
            Message::Close(Some(f)) => assert_eq!(u16::from(f.code), 1009, "{f:?}"),
            other => panic!("expected a 1009 close, got {other:?}"),
        }
    });
    let lines = s.close_logs("close 1009");
    assert!(
        lines.iter().any(|l| l.starts_with("close 1009 ")),
        "{lines:?}"
    );
}

#[test]
fn a_101_to_a_request_that_did_not_ask_is_a_clear_error() {
    let s = setup("ws-unasked");
    let r = client()
        .get(format!("{}/v1/workers/{}/fetch/always", s.d.base, s.id))
        .bearer_auth(&s.token)
        .send()
        .expect("answered");
    let status = r.status().as_u16();
    let text = r.text().expect("text");
    assert!(status >= 500, "{status} {text}");
    assert!(text.contains("did not ask for one"), "{text}");
}

#[test]
fn the_wall_limit_ends_an_open_socket_with_1011_and_a_send_over_1_mib_throws() {
    let s = setup_with("ws-wall", "[limits]\nwall_ms = 2000\n");
    runtime().block_on(async {
        let mut ws = s.connect().await;
        ws.send(Message::text("huge")).await.expect("sent");
        assert_eq!(next(&mut ws).await, Message::text("threw RangeError"));
        ws.send(Message::text("hello")).await.expect("sent");
        assert_eq!(next(&mut ws).await, Message::text("echo hello"));
        // Nothing more from the client: the request's wall limit ends it, and the socket.
        match next(&mut ws).await {
            Message::Close(Some(f)) => assert_eq!(u16::from(f.code), 1011, "{f:?}"),
            other => panic!("expected a 1011 close, got {other:?}"),
        }
    });
}
