//! Outbound WebSockets end to end: a real daemon, a jailed worker whose code connects out
//! (`fetch` with `Upgrade: websocket`, and `new WebSocket(url)`) through the egress gateway to a
//! real tokio-tungstenite server on 127.0.0.1 (allowed with `allow_private` loopback and a rule
//! for its port). Echo of text and binary, the standard client's open/message/close order, a
//! denied host refused as a denied fetch is, a secret injected into the handshake seen by the
//! server and never by the tenant, the server's close code and reason, a message over 1 MiB
//! closing with 1009, the request's end closing the upstream socket (1001), a server answering
//! 200 instead of 101, and the cap on sockets per request.
mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "ws-s3cr3t-value-5e1b";

/// A WebSocket server on 127.0.0.1 that records what happens as lines (`connect /path`,
/// `key <x-api-key>`, `text ...`, `close <code> <reason>`, `end`; `plain`). By path: `/plain`
/// answers 200 (no upgrade); `/headers` sends the `X-Api-Key` it got back (text, binary, a response
/// header and its close reason); `/huge` sends one binary message of 1 MiB + 1; any other echoes,
/// and closes with 4001 "bye" on `close-me`. It picks the subprotocol `chat` when offered.
struct Server {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start() -> Server {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(serve(stream, Arc::clone(&record)));
                }
            });
        });
        Server { port, seen }
    }

    fn lines(&self) -> Vec<String> {
        self.seen.lock().expect("seen").clone()
    }

    /// The lines once one starts with `prefix` (20 s at most).
    fn wait_for(&self, prefix: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let lines = self.lines();
            if lines.iter().any(|l| l.starts_with(prefix)) || Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

async fn serve(mut stream: tokio::net::TcpStream, seen: Arc<Mutex<Vec<String>>>) {
    let log = |line: String| seen.lock().expect("seen").push(line);
    if plain_answered(&mut stream).await {
        log("plain".into());
        return;
    }
    let mut path = String::new();
    let mut key = String::new();
    // The signature tungstenite asks for (its refusal type is large; this server never refuses).
    #[allow(clippy::result_large_err)]
    let callback = |request: &Request, mut response: Response| -> Result<Response, ErrorResponse> {
        path = request.uri().path().to_owned();
        key = request
            .headers()
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let offered = request
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if offered.split(',').any(|p| p.trim() == "chat") {
            response
                .headers_mut()
                .insert("sec-websocket-protocol", "chat".parse().expect("value"));
        }
        if path == "/headers" {
            response
                .headers_mut()
                .insert("x-echo-key", key.parse().expect("value"));
        }
        Ok(response)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        log(format!("refused {path}"));
        return;
    };
    log(format!("connect {path}"));
    log(format!("key {key}"));
    if path == "/headers" {
        let _ = ws.send(Message::text(format!("key={key}"))).await;
        let _ = ws
            .send(Message::binary(format!("key={key}").into_bytes()))
            .await;
        let close = CloseFrame {
            code: CloseCode::from(4001),
            reason: format!("key={key}").into(),
        };
        let _ = ws.send(Message::Close(Some(close))).await;
    }
    if path == "/huge" {
        let _ = ws.send(Message::binary(vec![7u8; (1 << 20) + 1])).await;
    }
    while let Some(next) = ws.next().await {
        match next {
            Ok(Message::Text(text)) if text.as_str() == "close-me" => {
                let close = CloseFrame {
                    code: CloseCode::from(4001),
                    reason: "bye".into(),
                };
                let _ = ws.send(Message::Close(Some(close))).await;
            }
            Ok(Message::Text(text)) => {
                log(format!("text {}", text.as_str()));
                let _ = ws.send(Message::Text(text)).await;
            }
            Ok(Message::Binary(bytes)) => {
                let _ = ws.send(Message::Binary(bytes)).await;
            }
            Ok(Message::Close(frame)) => {
                let (code, reason) = frame.map_or((1005, String::new()), |f| {
                    (u16::from(f.code), f.reason.as_str().to_owned())
                });
                log(format!("close {code} {reason}"));
            }
            Ok(_) => {}
            Err(e) => {
                log(format!("error {e}"));
                break;
            }
        }
    }
    log("end".into());
}

/// Answers a request for `/plain` with a 200 (tungstenite's handshake refuses to write one),
/// after peeking at its head; whether it did.
async fn plain_answered(stream: &mut tokio::net::TcpStream) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 4096];
    let head = loop {
        let Ok(n) = stream.peek(&mut buf).await else {
            return false;
        };
        let seen = &buf[..n];
        if n == 0 || seen.windows(4).any(|w| w == b"\r\n\r\n") || n == buf.len() {
            break String::from_utf8_lossy(seen).into_owned();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    if !head.starts_with("GET /plain ") {
        return false;
    }
    let end = head.find("\r\n\r\n").map_or(head.len(), |i| i + 4);
    let _ = stream.read_exact(&mut buf[..end]).await;
    let body = "not a socket";
    let answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.shutdown().await;
    true
}

/// A daemon whose tenant t0 may reach `port` of 127.0.0.1, with `X-Api-Key` injected there.
fn daemon(tag: &str, port: u16) -> Daemon {
    let config = format!(
        "[egress]\nallow_private = [\"127.0.0.0/8\"]\n[[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n\
         [tenants.secrets]\napi_key = \"{SECRET}\"\n\
         [[tenants.egress]]\nhost = \"127.0.0.1\"\nports = [{port}]\ninject_headers = {{ \"X-Api-Key\" = \"api_key\" }}\n",
        tenant_token(0)
    );
    Daemon::start_raw(tag, 1, &config, &[])
}

/// Runs `code` (a default export) in Code Mode with a wall limit of `wall_ms`: its result.
fn run_code(d: &Daemon, code: &str, wall_ms: u64) -> serde_json::Value {
    let r = client()
        .post(format!("{}/v1/run", d.base))
        .bearer_auth(tenant_token(0))
        .json(&serde_json::json!({ "code": code, "limits": { "wallMs": wall_ms } }))
        .send()
        .expect("run");
    let status = r.status().as_u16();
    let body: serde_json::Value = r.json().expect("json");
    assert_eq!(status, 200, "{body}");
    body["result"].clone()
}

/// JavaScript: a promise of the socket's events as lines, until its close event.
const EVENTS: &str = r#"
const events = (ws, onOpen, onMessage) => new Promise((resolve) => {
  const log = [];
  ws.onopen = () => { log.push(`open ${ws.readyState} ${ws.protocol}`); onOpen && onOpen(); };
  ws.onmessage = (e) => {
    log.push(typeof e.data === 'string' ? `text ${e.data}` : e.data instanceof Blob ? `blob ${e.data.size}` : `binary ${[...new Uint8Array(e.data)]}`);
    onMessage && onMessage(e);
  };
  ws.onerror = (e) => log.push(`error ${e.message}`);
  ws.onclose = (e) => { log.push(`close ${e.code} ${e.reason} ${e.wasClean} ${ws.readyState}`); resolve(log); };
});
"#;

#[test]
fn fetch_upgrade_echoes_text_and_binary_and_sees_the_servers_close() {
    let server = Server::start();
    let p = server.port;
    let d = daemon("ws-out-echo", p);
    let code = format!(
        r#"{EVENTS}
export default async () => {{
  const r = await fetch('ws://127.0.0.1:{p}/echo', {{ headers: {{ Upgrade: 'websocket' }} }});
  const ws = r.webSocket;
  const head = [r.status, ws instanceof WebSocket, ws.readyState];
  let n = 0;
  const done = events(ws, null, () => {{ if (++n === 2) ws.send('close-me'); }});
  ws.accept();
  ws.send('hi');
  ws.send(new Uint8Array([1, 2, 3]));
  return [head, await done];
}};"#
    );
    let got = run_code(&d, &code, 10_000);
    assert_eq!(got[0], serde_json::json!([101, true, 1]), "{got}");
    assert_eq!(
        got[1],
        serde_json::json!(["text hi", "binary 1,2,3", "close 4001 bye true 2"]),
        "{got}"
    );
    let lines = server.wait_for("end");
    assert!(lines.contains(&"text hi".to_owned()), "{lines:?}");
}

#[test]
fn new_websocket_opens_then_messages_then_closes_in_order() {
    let server = Server::start();
    let p = server.port;
    let d = daemon("ws-out-client", p);
    let code = format!(
        r#"{EVENTS}
export default async () => {{
  const ws = new WebSocket('ws://127.0.0.1:{p}/echo', ['chat', 'other']);
  const first = [ws.readyState, ws.url, ws.binaryType];
  try {{ ws.send('early'); first.push('sent'); }} catch (e) {{ first.push(e.name); }}
  const log = await events(ws, () => ws.send('one'), (e) => {{
    if (typeof e.data === 'string') {{ ws.binaryType = 'blob'; ws.send(new Uint8Array([9, 9])); }}
    else ws.close(4000, 'enough');
  }});
  return [first, log];
}};"#
    );
    let got = run_code(&d, &code, 10_000);
    assert_eq!(
        got[0],
        serde_json::json!([
            0,
            format!("ws://127.0.0.1:{p}/echo"),
            "arraybuffer",
            "InvalidStateError"
        ]),
        "{got}"
    );
    assert_eq!(
        got[1],
        serde_json::json!([
            "open 1 chat",
            "text one",
            "blob 2",
            "close 4000 enough true 3"
        ]),
        "{got}"
    );
    let lines = server.wait_for("end");
    assert!(lines.contains(&"close 4000 enough".to_owned()), "{lines:?}");
}

#[test]
fn a_denied_host_is_refused_as_a_denied_fetch_is() {
    let server = Server::start();
    let other = Server::start(); // no rule names its port
    let d = daemon("ws-out-denied", server.port);
    let q = other.port;
    let code = format!(
        r#"{EVENTS}
export default async () => {{
  const message = async (url, init) => {{ try {{ await fetch(url, init); return 'fetched'; }} catch (e) {{ return `${{e.name}}: ${{e.message}}`; }} }};
  const upgrade = await message('ws://127.0.0.1:{q}/echo', {{ headers: {{ Upgrade: 'websocket' }} }});
  const plain = await message('http://127.0.0.1:{q}/echo');
  const log = await events(new WebSocket('ws://127.0.0.1:{q}/echo'));
  return [upgrade, plain, log];
}};"#
    );
    let got = run_code(&d, &code, 10_000);
    let upgrade = got[0].as_str().expect("text");
    assert!(upgrade.contains("port not allowed"), "{got}");
    assert_eq!(got[0], got[1], "the same error as a fetch: {got}");
    let log = got[2].as_array().expect("log");
    assert_eq!(log.len(), 2, "{got}");
    assert!(
        log[0]
            .as_str()
            .is_some_and(|l| l.starts_with("error ") && l.contains("port not allowed")),
        "{got}"
    );
    assert_eq!(log[1], "close 1006  false 3", "{got}");
    assert!(other.lines().is_empty(), "{:?}", other.lines());
}

#[test]
fn a_secret_injected_into_the_handshake_reaches_the_server_and_never_the_tenant() {
    let server = Server::start();
    let p = server.port;
    let d = daemon("ws-out-secret", p);
    let code = format!(
        r#"{EVENTS}
export default async () => {{
  const r = await fetch('ws://127.0.0.1:{p}/headers', {{ headers: {{ Upgrade: 'websocket', 'X-Api-Key': 'mine' }} }});
  const ws = r.webSocket;
  const done = events(ws, null, null);
  ws.accept();
  const log = await done;
  return [r.headers.get('x-echo-key'), log];
}};"#
    );
    let got = run_code(&d, &code, 10_000);
    let lines = server.wait_for("key");
    assert!(lines.contains(&format!("key {SECRET}")), "{lines:?}");
    assert!(!got.to_string().contains(SECRET), "{got}");
    let redacted: Vec<u8> = b"key=[redacted]".to_vec();
    let binary = redacted
        .iter()
        .map(u8::to_string)
        .collect::<Vec<_>>()
        .join(",");
    assert_eq!(
        got,
        serde_json::json!([
            "[redacted]",
            [
                "text key=[redacted]",
                format!("binary {binary}"),
                "close 4001 key=[redacted] true 2"
            ]
        ]),
        "{got}"
    );
}

#[test]
fn a_message_over_1_mib_from_the_server_closes_with_1009() {
    let server = Server::start();
    let p = server.port;
    let d = daemon("ws-out-huge", p);
    let code = format!(
        r#"{EVENTS}
export default async () => {{
  const log = await events(new WebSocket('ws://127.0.0.1:{p}/huge'));
  return log.map((l) => l.slice(0, 40));
}};"#
    );
    let got = run_code(&d, &code, 10_000);
    assert_eq!(got[0], "open 1 ", "{got}");
    assert!(
        got[1]
            .as_str()
            .is_some_and(|l| l.starts_with("close 1009 ")),
        "{got}"
    );
    let lines = server.wait_for("close");
    assert!(
        lines.iter().any(|l| l.starts_with("close 1009")),
        "{lines:?}"
    );
}

#[test]
fn the_requests_end_closes_the_upstream_socket() {
    let server = Server::start();
    let p = server.port;
    let d = daemon("ws-out-end", p);
    // The handler returns with the socket open: the request is over, so is the socket.
    let code = format!(
        r#"export default async () => {{
  const ws = new WebSocket('ws://127.0.0.1:{p}/left-open');
  await new Promise((resolve) => ws.addEventListener('open', resolve));
  ws.send('hello');
  await new Promise((resolve) => ws.addEventListener('message', resolve));
  return ws.readyState;
}};"#
    );
    assert_eq!(run_code(&d, &code, 10_000), 1);
    let lines = server.wait_for("end");
    assert!(lines.contains(&"text hello".to_owned()), "{lines:?}");
    assert!(
        lines.contains(&"close 1001 the worker's request ended".to_owned()),
        "{lines:?}"
    );

    // Its wall limit, too: the handler waits for a message that never comes.
    let waiting = format!(
        r#"export default async () => {{
  const ws = new WebSocket('ws://127.0.0.1:{p}/waits');
  await new Promise(() => {{}});
}};"#
    );
    let r = client()
        .post(format!("{}/v1/run", d.base))
        .bearer_auth(tenant_token(0))
        .json(&serde_json::json!({ "code": waiting, "limits": { "wallMs": 1500 } }))
        .send()
        .expect("run");
    let body: serde_json::Value = r.json().expect("json");
    assert!(body.to_string().contains("wall"), "{body}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.lines().iter().filter(|l| *l == "end").count() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let lines = server.lines();
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("close 1001")).count(),
        2,
        "{lines:?}"
    );
}

#[test]
fn a_server_answering_200_gives_an_ordinary_response() {
    let server = Server::start();
    let p = server.port;
    let d = daemon("ws-out-plain", p);
    let code = format!(
        r#"{EVENTS}
export default async () => {{
  const r = await fetch('http://127.0.0.1:{p}/plain', {{ headers: {{ Upgrade: 'websocket' }} }});
  const plain = [r.status, r.webSocket, await r.text()];
  const log = await events(new WebSocket('ws://127.0.0.1:{p}/plain'));
  return [plain, log];
}};"#
    );
    let got = run_code(&d, &code, 10_000);
    assert_eq!(
        got[0],
        serde_json::json!([200, null, "not a socket"]),
        "{got}"
    );
    assert_eq!(
        got[1],
        serde_json::json!([
            "error WebSocket: the server answered 200, not 101 Switching Protocols",
            "close 1006  false 3"
        ]),
        "{got}"
    );
}

#[test]
fn a_request_opens_at_most_six_sockets_at_once() {
    let server = Server::start();
    let p = server.port;
    let d = daemon("ws-out-cap", p);
    let code = format!(
        r#"export default async () => {{
  const open = [];
  for (let i = 0; i < 7; i++) {{
    try {{
      const r = await fetch('ws://127.0.0.1:{p}/echo', {{ headers: {{ Upgrade: 'websocket' }} }});
      r.webSocket.accept();
      open.push(r.webSocket);
    }} catch (e) {{ return [open.length, e.message]; }}
  }}
  return [open.length, 'no limit'];
}};"#
    );
    let got = run_code(&d, &code, 10_000);
    assert_eq!(got[0], 6, "{got}");
    assert!(
        got[1]
            .as_str()
            .is_some_and(|m| m.contains("outbound WebSockets open already")),
        "{got}"
    );
}
