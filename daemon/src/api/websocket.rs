//! The data plane's WebSockets: the handshake (RFC 6455 over hyper: the 101 is hyper's answer,
//! after which the HTTP loop, `http.rs`, hands the connection to the relay this module left in
//! the connection's [`UpgradeSlot`]) and the relay of frames (tokio-tungstenite) between the
//! client and the worker's end (`supervisor/websocket.rs`).
//!
//! Guarantees:
//! - only a `GET` with `Upgrade: websocket`, `Connection: upgrade`, `Sec-WebSocket-Version: 13`
//!   and a `Sec-WebSocket-Key` counts as asking for a WebSocket ([`asked`]);
//! - the relay (`supervisor::websocket_relay`) keeps its guarantees: the client's pings
//!   answered, its messages in order with backpressure, 1009 over `websocket::MAX_MESSAGE`, 1006 for a
//!   client gone without a close, the worker's request ending without a close a 1011 to the
//!   client, and the connection (not under hyper's timeouts once upgraded) ended at most
//!   `websocket_relay::CLOSE_WAIT` after the request did;
//! - an open socket counts against its tenant's concurrency quota until the relay ends (the
//!   edge's permit is held by the relay, [`UpgradeSlot::hold`]).
//!
//! Trusts: tungstenite's frame parser and its size caps.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::supervisor::websocket::ClientEnd;
use crate::supervisor::websocket_relay;

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

/// Relays frames between the client and the worker's `end` (`supervisor::websocket_relay`, in
/// the server role; the request ending without a close is a 1011 to the client).
async fn relay(io: Box<dyn Io>, read: Bytes, end: ClientEnd) {
    websocket_relay::relay(Prefixed { read, io }, Role::Server, end, 1011, |m| m).await;
}
