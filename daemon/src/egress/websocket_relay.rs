//! The relay of an outbound WebSocket (`gateway`'s `websocket.rs` made the handshake): frames
//! between the upstream server's upgraded connection (tokio-tungstenite, client role) and the
//! worker's end (`supervisor/websocket.rs`).
//!
//! Guarantees:
//! - the server's pings are answered by tungstenite (the worker never sees them); its messages
//!   and its close (code, reason) reach the worker in order, each scrubbed of every value the
//!   handshake injected (as a fetch's answer is, `scrub`), at most `websocket::QUEUE` waiting: a
//!   worker that reads slowly stops the relay reading from the server. A message over
//!   [`MAX_MESSAGE`] closes the connection with 1009 and the worker sees a close with 1009;
//! - the server going away (no close frame) is a close with 1006 for the worker; the worker's
//!   close is sent as given; the worker's request ending (every clone of its end dropped)
//!   closes the connection with 1001 ("going away");
//! - the connection ends at most [`CLOSE_WAIT`] after the worker's request did, however the
//!   server behaves (one that never answers a close, or never reads, is dropped).
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

use super::scrub::{scrub, scrub_str};
use crate::config::SecretValue;
use crate::supervisor::websocket::{ClientEnd, Incoming, Outgoing, MAX_MESSAGE};

/// How long the relay waits for the server's answer to a close it did not start, and at most
/// after the worker's request ended.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Relays frames between `io` (upgraded, after a 101) and the worker's end `peer` until both
/// sides are done, and at most [`CLOSE_WAIT`] after the worker's request ended.
pub async fn relay<S>(io: S, peer: ClientEnd, injected: Vec<SecretValue>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let mut ws = WebSocketStream::from_raw_socket(io, Role::Client, Some(config)).await;
    let ClientEnd {
        to_client: mut from_worker,
        from_client: to_worker,
    } = peer;
    let worker_gone = async {
        // Resolves once every clone of the worker's end is dropped (its request ended).
        to_worker.closed().await;
        tokio::time::sleep(CLOSE_WAIT).await;
    };
    let finished = tokio::select! {
        () = frames(&mut ws, &mut from_worker, &to_worker, &injected) => true,
        () = worker_gone => false,
    };
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
    injected: &[SecretValue],
) where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    // A message of the server's waiting for room towards the worker.
    let mut held: Option<Incoming> = None;
    let mut server_done = false;
    let mut worker_done = false;
    let mut closing_since: Option<tokio::time::Instant> = None;
    while !(server_done && worker_done) {
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
                Err(_) => { held = None; server_done = true; }
            },
            next = ws.next(), if held.is_none() && !server_done => match next {
                Some(Ok(Message::Text(text))) => {
                    held = Some(Incoming::Text(scrub_str(text.as_str(), injected)));
                }
                Some(Ok(Message::Binary(bytes))) => {
                    held = Some(Incoming::Binary(scrub(&bytes, injected)));
                }
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame.map_or((1005, String::new()), |f| {
                        (u16::from(f.code), scrub_str(f.reason.as_str(), injected))
                    });
                    held = Some(Incoming::Close { code, reason, clean: true });
                    // tungstenite queued its answer (the same close, or the worker's if that
                    // went first): out it goes, and the connection is done both ways.
                    let _ = ws.flush().await;
                    server_done = true;
                    worker_done = true;
                }
                Some(Ok(_)) => {} // ping, pong, a raw frame: tungstenite answers pings itself
                Some(Err(WsError::Capacity(CapacityError::MessageTooLong { .. }))) => {
                    let reason = format!("a message is at most {MAX_MESSAGE} bytes");
                    let _ = ws.send(close(1009, &reason)).await;
                    held = Some(Incoming::Close { code: 1009, reason, clean: false });
                    server_done = true;
                    worker_done = true;
                }
                Some(Err(_)) | None => {
                    // Gone without a close frame: the worker's recv answers a 1006 when it
                    // finds this side dropped.
                    server_done = true;
                    worker_done = true;
                }
            },
            out = from_worker.recv(), if !worker_done => match out {
                Some(Outgoing::Text(text)) => {
                    if ws.send(Message::text(text)).await.is_err() { server_done = true; worker_done = true; }
                }
                Some(Outgoing::Binary(bytes)) => {
                    if ws.send(Message::binary(bytes)).await.is_err() { server_done = true; worker_done = true; }
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
                    // The worker's request ended without closing: the connection goes away.
                    let _ = ws.send(close(1001, "the worker's request ended")).await;
                    worker_done = true;
                }
            },
        }
        if server_done && held.is_some() {
            // Deliver the server's last word (its close) before the relay lets go.
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
