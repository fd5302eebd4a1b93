//! The relay of one WebSocket connection, either side of a worker: the data plane's (a client
//! that connected to a worker, `api/websocket.rs`, server role) and the egress gateway's (a
//! worker that connected to a server, `egress/websocket.rs`, client role). Frames go between the
//! connection (tokio-tungstenite) and the worker's end of the socket (`websocket.rs`).
//!
//! Guarantees:
//! - the remote side's pings are answered by tungstenite (the worker never sees them); its
//!   messages and its close (code, reason) reach the worker in order, each through the caller's
//!   `inbound` map (the gateway scrubs injected secrets there), at most `websocket::QUEUE`
//!   waiting: a worker that reads slowly stops the relay reading from the connection. A message
//!   over [`MAX_MESSAGE`] closes the connection with 1009 and the worker sees a close with 1009;
//! - the remote side going away (no close frame) is a close with 1006 for the worker (its recv
//!   finds this side dropped); the worker's close is sent as given; the worker's request ending
//!   without one (every clone of its end dropped) closes the connection with the caller's
//!   `ended` code (1011 towards a client, 1001 towards a server);
//! - the connection ends at most [`CLOSE_WAIT`] after the worker's request did, however the
//!   remote side behaves: one that never answers a close, or never reads, is dropped.
//!
//! Trusts: tungstenite's frame parser and its size caps.

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::websocket::{ClientEnd, Incoming, Outgoing, MAX_MESSAGE};

/// How long the relay waits for the remote side's answer to a close it did not start, and at
/// most after the worker's request ended.
pub const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Relays frames between `io` (a connection past its handshake, this side in `role`) and the
/// worker's `end` until both sides are done, and at most [`CLOSE_WAIT`] after the worker's
/// request ended. `inbound` maps each message (and close) from the remote side before the
/// worker sees it; `ended` is the close code sent when the request ends without a close.
pub async fn relay<S>(
    io: S,
    role: Role,
    end: ClientEnd,
    ended: u16,
    inbound: impl Fn(Incoming) -> Incoming + Send,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let mut ws = WebSocketStream::from_raw_socket(io, role, Some(config)).await;
    let ClientEnd {
        to_client: mut from_worker,
        from_client: to_worker,
    } = end;
    let worker_gone = async {
        // Resolves once every clone of the worker's end is dropped (its request ended).
        to_worker.closed().await;
        tokio::time::sleep(CLOSE_WAIT).await;
    };
    let finished = tokio::select! {
        () = frames(&mut ws, &mut from_worker, &to_worker, ended, &inbound) => true,
        () = worker_gone => false,
    };
    // With the worker's end gone the close handshake is over or given up: the connection is
    // dropped as it is, within the bound.
    let flush = finished && !to_worker.is_closed();
    // Dropping the worker's side now: a recv waiting there answers a close.
    drop(to_worker);
    if flush {
        let _ = tokio::time::timeout(CLOSE_WAIT, ws.close(None)).await;
    }
}

/// The relay's loop, until both sides are done.
async fn frames<S>(
    ws: &mut WebSocketStream<S>,
    from_worker: &mut mpsc::Receiver<Outgoing>,
    to_worker: &mpsc::Sender<Incoming>,
    ended: u16,
    inbound: &(impl Fn(Incoming) -> Incoming + Send),
) where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    // A message of the remote side's waiting for room towards the worker.
    let mut held: Option<Incoming> = None;
    let mut remote_done = false;
    let mut worker_done = false;
    let mut closing_since: Option<tokio::time::Instant> = None;
    while !(remote_done && worker_done) {
        if worker_done && closing_since.is_none() {
            closing_since = Some(tokio::time::Instant::now());
        }
        let give_up = closing_since.map_or_else(tokio::time::Instant::now, |t| t + CLOSE_WAIT);
        tokio::select! {
            () = tokio::time::sleep_until(give_up), if closing_since.is_some() => break,
            permit = to_worker.reserve(), if held.is_some() => match permit {
                Ok(permit) => {
                    if let Some(message) = held.take() {
                        permit.send(message);
                    }
                }
                Err(_) => { held = None; remote_done = true; }
            },
            next = ws.next(), if held.is_none() && !remote_done => match next {
                Some(Ok(Message::Text(text))) => held = Some(inbound(Incoming::Text(text.as_str().to_owned()))),
                Some(Ok(Message::Binary(bytes))) => held = Some(inbound(Incoming::Binary(bytes.to_vec()))),
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame.map_or((1005, String::new()), |f| (u16::from(f.code), f.reason.as_str().to_owned()));
                    held = Some(inbound(Incoming::Close { code, reason, clean: true }));
                    // tungstenite queued its answer (the same close, or the worker's if that
                    // went first): out it goes, and the connection is done both ways.
                    let _ = ws.flush().await;
                    remote_done = true;
                    worker_done = true;
                }
                Some(Ok(_)) => {} // ping, pong, a raw frame: tungstenite answers pings itself
                Some(Err(WsError::Capacity(CapacityError::MessageTooLong { .. }))) => {
                    let reason = format!("a message is at most {MAX_MESSAGE} bytes");
                    let _ = ws.send(close(1009, &reason)).await;
                    held = Some(Incoming::Close { code: 1009, reason, clean: false });
                    remote_done = true;
                    worker_done = true;
                }
                Some(Err(_)) | None => {
                    // Gone without a close frame: the worker's recv answers a 1006 when it
                    // finds this side dropped.
                    remote_done = true;
                    worker_done = true;
                }
            },
            out = from_worker.recv(), if !worker_done => match out {
                Some(Outgoing::Text(text)) => {
                    if ws.send(Message::text(text)).await.is_err() { remote_done = true; worker_done = true; }
                }
                Some(Outgoing::Binary(bytes)) => {
                    if ws.send(Message::binary(bytes)).await.is_err() { remote_done = true; worker_done = true; }
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
                    // The worker's request ended without closing: so does the connection.
                    let _ = ws.send(close(ended, "the worker's request ended")).await;
                    worker_done = true;
                }
            },
        }
        if remote_done && held.is_some() {
            // Deliver the remote side's last word (its close) before the relay lets go.
            if let Ok(permit) = to_worker.reserve().await {
                if let Some(message) = held.take() {
                    permit.send(message);
                }
            }
            held = None;
        }
    }
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    }))
}
