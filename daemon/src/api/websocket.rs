//! The data plane's WebSockets: the handshake (RFC 6455 over hyper: the 101 is hyper's answer,
//! after which the HTTP loop, `http.rs`, hands the connection to the relay this module left in
//! the connection's [`UpgradeSlot`]) and the relay of frames (tokio-tungstenite) between the
//! client and the worker's end (`supervisor/websocket.rs`).
//!
//! Guarantees:
//! - only a `GET` with `Upgrade: websocket`, `Connection: upgrade`, `Sec-WebSocket-Version: 13`
//!   and a `Sec-WebSocket-Key` counts as asking for a WebSocket ([`asked`]);
//! - the client's pings are answered by tungstenite (the worker never sees them); its messages
//!   and its close (code, reason) reach the worker in order, at most `websocket::QUEUE` waiting: a
//!   worker that reads slowly stops the relay reading from the client. A message over
//!   [`MAX_MESSAGE`] closes the connection with 1009 and the worker sees a close with 1009;
//! - the client going away (no close frame) is a close with 1006 for the worker, and the relay
//!   ends; the worker's close is sent to the client as given; the worker's request ending
//!   without one (its end dropped) closes the client's connection with 1011;
//! - the connection (not under hyper's timeouts once upgraded) ends at most [`CLOSE_WAIT`] after
//!   the worker's request did (its wall-clock limit bounds that), however the client behaves: one
//!   that never answers a close, or never reads, is dropped;
//! - an open socket counts against its tenant's concurrency quota until the relay ends (the
//!   edge's permit is held by the relay, [`UpgradeSlot::hold`]).
//!
//! Trusts: tungstenite's frame parser and its size caps.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::supervisor::websocket::{ClientEnd, Incoming, Outgoing, MAX_MESSAGE};

/// A connection's byte stream, once hyper let go of it.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// What runs on a connection after its 101: the stream and the bytes hyper read past the head.
pub type Relay =
    Box<dyn FnOnce(Box<dyn Io>, Bytes) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// One per connection (in each request's extensions, see `http.rs`): the relay a 101 left.
#[derive(Clone, Default)]
pub struct UpgradeSlot(Arc<Mutex<Option<Relay>>>);

impl UpgradeSlot {
    /// The relay of the connection's upgrade, if its last response was one.
    pub fn take(&self) -> Option<Relay> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn put(&self, relay: Relay) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(relay);
    }

    /// Keeps `guard` alive while the relay in the slot runs (the edge's quota permit: an open
    /// socket is a request being served), dropping it when the relay ends, or with the slot
    /// when the relay never runs (the 101 was never written). Without a relay, `guard` comes
    /// back.
    pub fn hold<G: Send + 'static>(&self, guard: G) -> Result<(), G> {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let Some(relay) = slot.take() else {
            return Err(guard);
        };
        *slot = Some(Box::new(move |io, read| {
            Box::pin(async move {
                relay(io, read).await;
                drop(guard);
            })
        }));
        Ok(())
    }
}

/// The client's `Sec-WebSocket-Key`, when its request asks for a WebSocket.
pub fn asked(method: &Method, headers: &HeaderMap) -> Option<String> {
    let has_token = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    let key = headers.get(header::SEC_WEBSOCKET_KEY)?.to_str().ok()?;
    let version = headers.get(header::SEC_WEBSOCKET_VERSION)?;
    (method == Method::GET
        && has_token(header::UPGRADE, "websocket")
        && has_token(header::CONNECTION, "upgrade")
        && version == "13"
        && !key.is_empty())
    .then(|| key.to_owned())
}

/// The 101 that completes the handshake; the relay to `end` is left in `slot`, for `http.rs` to
/// run once hyper has written the 101. `headers`: the worker's, already filtered.
pub fn accept(
    slot: &UpgradeSlot,
    key: &str,
    end: ClientEnd,
    headers: Vec<(header::HeaderName, HeaderValue)>,
) -> Response<Body> {
    slot.put(Box::new(move |io, read| Box::pin(relay(io, read, end))));
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    for (name, value) in headers {
        response.headers_mut().append(name, value);
    }
    let h = response.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}

/// Bytes read past the 101's request head, then the connection.
struct Prefixed {
    read: Bytes,
    io: Box<dyn Io>,
}

impl AsyncRead for Prefixed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if !self.read.is_empty() {
            let n = self.read.len().min(buf.remaining());
            buf.put_slice(&self.read.split_to(n));
            return std::task::Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

type Ws = WebSocketStream<Prefixed>;

/// Relays frames until both sides are done (see the module's guarantees), and at most
/// [`CLOSE_WAIT`] after the worker's end has gone, whatever the client does: one that reads
/// nothing leaves a send to it waiting, which the relay's own close wait never sees end.
async fn relay(io: Box<dyn Io>, read: Bytes, end: ClientEnd) {
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let mut ws =
        WebSocketStream::from_raw_socket(Prefixed { read, io }, Role::Server, Some(config)).await;
    let ClientEnd {
        mut to_client,
        from_client,
    } = end;
    let worker_gone = async {
        // Resolves once every clone of the worker's end is dropped (its request ended).
        from_client.closed().await;
        tokio::time::sleep(CLOSE_WAIT).await;
    };
    let finished = tokio::select! {
        () = frames(&mut ws, &mut to_client, &from_client) => true,
        () = worker_gone => false,
    };
    // With the worker's end gone the close handshake is over or given up: the connection is
    // dropped as it is, within the bound.
    let flush = finished && !from_client.is_closed();
    // Drop the worker's side now: a recv waiting there answers the close.
    drop(from_client);
    if flush {
        let _ = tokio::time::timeout(CLOSE_WAIT, ws.close(None)).await;
    }
}

/// The relay's loop, until both sides are done.
async fn frames(
    ws: &mut Ws,
    to_client: &mut mpsc::Receiver<Outgoing>,
    from_client: &mpsc::Sender<Incoming>,
) {
    // A message of the client's waiting for room towards the worker.
    let mut held: Option<Incoming> = None;
    let mut client_done = false;
    let mut worker_done = false;
    let mut closing_since: Option<tokio::time::Instant> = None;
    while !(client_done && worker_done) {
        if worker_done && closing_since.is_none() {
            closing_since = Some(tokio::time::Instant::now());
        }
        let give_up = closing_since.map_or_else(tokio::time::Instant::now, |t| t + CLOSE_WAIT);
        tokio::select! {
            () = tokio::time::sleep_until(give_up), if closing_since.is_some() => break,
            permit = from_client.reserve(), if held.is_some() => match permit {
                Ok(permit) => {
                    if let Some(message) = held.take() {
                        permit.send(message);
                    }
                }
                Err(_) => { held = None; client_done = true; }
            },
            next = ws.next(), if held.is_none() && !client_done => match next {
                Some(Ok(Message::Text(text))) => held = Some(Incoming::Text(text.as_str().to_owned())),
                Some(Ok(Message::Binary(bytes))) => held = Some(Incoming::Binary(bytes.to_vec())),
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame.map_or((1005, String::new()), |f| (u16::from(f.code), f.reason.as_str().to_owned()));
                    held = Some(Incoming::Close { code, reason, clean: true });
                    // tungstenite queued its answer (the same close): out it goes, and the
                    // connection is done both ways; the worker's own answer has nowhere to go.
                    let _ = ws.flush().await;
                    client_done = true;
                    worker_done = true;
                }
                Some(Ok(_)) => {} // ping, pong: tungstenite answers pings itself
                Some(Err(WsError::Capacity(CapacityError::MessageTooLong { .. }))) => {
                    let reason = format!("a message is at most {MAX_MESSAGE} bytes");
                    let _ = ws.send(close(1009, &reason)).await;
                    held = Some(Incoming::Close { code: 1009, reason, clean: false });
                    client_done = true;
                    worker_done = true;
                }
                Some(Err(_)) | None => {
                    // Gone without a close frame: the worker's recv answers a 1006 when it
                    // finds this side dropped.
                    client_done = true;
                    worker_done = true;
                }
            },
            out = to_client.recv(), if !worker_done => match out {
                Some(Outgoing::Text(text)) => {
                    if ws.send(Message::text(text)).await.is_err() { client_done = true; worker_done = true; }
                }
                Some(Outgoing::Binary(bytes)) => {
                    if ws.send(Message::binary(bytes)).await.is_err() { client_done = true; worker_done = true; }
                }
                Some(Outgoing::Close(frame)) => {
                    let message = match frame {
                        Some((code, reason)) => close(code, &reason),
                        None => Message::Close(None),
                    };
                    let _ = ws.send(message).await;
                    worker_done = true;
                }
                None => {
                    // The request ended without closing: so does the connection.
                    let _ = ws.send(close(1011, "the worker's request ended")).await;
                    worker_done = true;
                }
            },
        }
        if client_done && held.is_some() {
            // Deliver the client's last word (its close) before the relay lets go.
            if let Ok(permit) = from_client.reserve().await {
                if let Some(message) = held.take() {
                    permit.send(message);
                }
            }
            held = None;
        }
    }
}

/// How long the relay waits for the client's answer to a close it did not start.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    }))
}
