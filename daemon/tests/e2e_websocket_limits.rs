//! WebSockets against the daemon's limits, end to end (a real daemon, a jailed worker, clients
//! over loopback): an open socket is a request being served (it holds its place under the
//! tenant's `max_concurrent_requests` until it closes), and an upgraded connection, which
//! hyper's timeouts no longer watch, is dropped once the worker's request has ended (its wall
//! limit), whether its client never answers the close or never reads at all.
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const WORKER: &str = r#"
export default { fetch(req) {
  if (req.headers.get('Upgrade') !== 'websocket') return new Response('plain');
  const [client, server] = Object.values(new WebSocketPair());
  server.accept();
  server.addEventListener('message', (e) => {
    if (e.data === 'flood') {
      // As much as the queues take (the runtime's refuses past 16 MiB).
      const big = new Uint8Array(512 * 1024);
      try { for (;;) server.send(big); } catch (err) { console.log(`flood ${err.name}`); }
      return;
    }
    server.send(`echo ${e.data}`);
  });
  server.addEventListener('close', (e) => { if (e.wasClean) server.close(e.code, e.reason); });
  return new Response(null, { status: 101, webSocket: client });
} }
"#;

type Client =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Setup {
    d: Daemon,
    id: String,
}

/// A daemon whose tenant t0 may have `concurrency` requests served at once, `limits` added.
fn setup(tag: &str, concurrency: u32, limits: &str) -> Setup {
    let d = Daemon::start_raw(
        tag,
        1,
        &format!(
            "{limits}\n[[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n[tenants.quotas]\nmax_concurrent_requests = {concurrency}\n",
            tenant_token(0)
        ),
        &[],
    );
    let id = load_code(
        &d,
        &tenant_token(0),
        &json!({ "mainModule": "main.js", "modules": { "main.js": WORKER } }),
    );
    Setup { d, id }
}

impl Setup {
    fn path(&self) -> String {
        format!("/v1/workers/{}/fetch/", self.id)
    }

    async fn connect(&self) -> Client {
        let url = format!(
            "{}{}",
            self.d.base.replacen("http://", "ws://", 1),
            self.path()
        );
        let mut request = url.into_client_request().expect("request");
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {}", tenant_token(0))
                .parse()
                .expect("header"),
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

    /// A plain request to the worker (no upgrade): its status and body.
    async fn plain(&self) -> (u16, String) {
        let url = format!("{}{}", self.d.base, self.path());
        tokio::task::spawn_blocking(move || {
            let r = client()
                .get(url)
                .bearer_auth(tenant_token(0))
                .send()
                .expect("answered");
            (r.status().as_u16(), r.text().expect("text"))
        })
        .await
        .expect("request thread")
    }

    /// Plain requests until one is served (60 s at most): its answer.
    async fn plain_until_served(&self) -> (u16, String) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let answer = self.plain().await;
            if answer.0 != 429 || Instant::now() > deadline {
                return answer;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A connection that asked for a WebSocket by hand and got its 101 (the head read).
    fn raw_socket(&self) -> TcpStream {
        let addr = self.d.base.trim_start_matches("http://").to_string();
        let mut tcp = TcpStream::connect(&addr).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        let head = format!(
            "GET {} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Authorization: Bearer {}\r\n\r\n",
            self.path(),
            tenant_token(0)
        );
        tcp.write_all(head.as_bytes()).expect("head sent");
        let mut got = Vec::new();
        let mut byte = [0u8; 1];
        while !got.ends_with(b"\r\n\r\n") {
            assert_eq!(tcp.read(&mut byte).expect("the 101's head"), 1, "{got:?}");
            got.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&got);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        tcp
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Everything the server sends until it closes the connection (60 s at most).
fn read_to_end(tcp: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tcp.read(&mut buf) {
            Ok(0) => return all,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return all,
            Err(e) => panic!("the server never closed the connection: {e}"),
        }
    }
}

#[test]
fn open_sockets_count_against_the_tenants_concurrency_until_they_close() {
    let s = setup("ws-quota", 2, "");
    runtime().block_on(async {
        let mut a = s.connect().await;
        let mut b = s.connect().await;
        for ws in [&mut a, &mut b] {
            ws.send(Message::text("hi")).await.expect("sent");
            let echo = tokio::time::timeout(Duration::from_secs(20), ws.next()).await;
            assert_eq!(
                echo.expect("in time").expect("open").expect("a message"),
                Message::text("echo hi")
            );
        }
        // Two open sockets are the tenant's two requests being served.
        let (status, body) = s.plain().await;
        assert_eq!(status, 429, "{body}");
        assert!(body.contains("too_many_concurrent_requests"), "{body}");
        // One closes: its place is free again, the other stays open.
        a.close(None).await.expect("closed");
        while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::from_secs(20), a.next()).await {}
        assert_eq!(s.plain_until_served().await, (200, "plain".to_string()));
        b.send(Message::text("still")).await.expect("sent");
        let echo = tokio::time::timeout(Duration::from_secs(20), b.next()).await;
        assert_eq!(
            echo.expect("in time").expect("open").expect("a message"),
            Message::text("echo still")
        );
        let (status, body) = s.plain().await;
        assert_eq!(status, 200, "{body}");
    });
}

#[test]
fn a_client_that_never_answers_the_close_is_dropped() {
    let s = setup("ws-no-answer", 0, "[limits]\nwall_ms = 2000\n");
    let mut tcp = s.raw_socket();
    // Nothing sent, ever: the wall limit ends the request, the relay closes with 1011 and,
    // unanswered, drops the connection.
    let got = read_to_end(&mut tcp);
    assert!(got.len() >= 4, "{got:?}");
    assert_eq!(got[0], 0x88, "a close frame first: {got:?}");
    assert_eq!(u16::from_be_bytes([got[2], got[3]]), 1011, "{got:?}");
}

#[test]
fn a_client_that_never_reads_is_dropped_and_frees_its_place() {
    // A wall limit of 5 s: the plain request below must find the socket's request still
    // running on a loaded machine (2 s left a small margin).
    let s = setup("ws-no-read", 1, "[limits]\nwall_ms = 5000\ncpu_ms = 1500\n");
    let mut tcp = s.raw_socket();
    // `flood`, masked with a zero key; then nothing read: the relay's send waits for ever.
    tcp.write_all(&[0x81, 0x85, 0, 0, 0, 0, b'f', b'l', b'o', b'o', b'd'])
        .expect("sent");
    runtime().block_on(async {
        let (status, body) = s.plain().await;
        assert_eq!(status, 429, "the socket holds the only place: {body}");
        // The request's wall limit ends it; the connection goes soon after, still unread.
        assert_eq!(s.plain_until_served().await, (200, "plain".to_string()));
    });
    let got = read_to_end(&mut tcp);
    let (_, logs) = get_json(
        &s.d,
        Some(&tenant_token(0)),
        &format!("/v1/workers/{}/logs", s.id),
    );
    assert!(
        got.len() > 1 << 20,
        "the flood reached the connection: {} {:?} {logs}",
        got.len(),
        &got[..got.len().min(64)]
    );
}
