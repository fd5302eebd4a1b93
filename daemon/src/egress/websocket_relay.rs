//! An outbound WebSocket's relay (`gateway`'s `websocket.rs` made the handshake): the shared
//! relay (`supervisor::websocket_relay`) in the client role, with every message and close reason
//! from the server scrubbed of each value the handshake injected (as a fetch's answer is,
//! `scrub`) before the worker sees it, and the worker's request ending without a close sent to
//! the server as 1001 ("going away").
//!
//! Trusts: the shared relay's guarantees.

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::protocol::Role;

use super::scrub::{scrub, scrub_str};
use crate::config::SecretValue;
use crate::supervisor::websocket::{ClientEnd, Incoming};
use crate::supervisor::websocket_relay;

/// Relays frames between `io` (upgraded, after a 101) and the worker's end `peer` until both
/// sides are done, and at most `websocket_relay::CLOSE_WAIT` after the worker's request ended.
pub async fn relay<S>(io: S, peer: ClientEnd, injected: Vec<SecretValue>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let inbound = move |message| match message {
        Incoming::Text(text) => Incoming::Text(scrub_str(&text, &injected)),
        Incoming::Binary(bytes) => Incoming::Binary(scrub(&bytes, &injected)),
        Incoming::Close {
            code,
            reason,
            clean,
        } => Incoming::Close {
            code,
            reason: scrub_str(&reason, &injected),
            clean,
        },
    };
    websocket_relay::relay(io, Role::Client, peer, 1001, inbound).await;
}
