//! A WebSocket between a client and a worker's request: the two ends of the channels that carry
//! its messages. The link answers the request's `socket.*` host calls from its [`SocketEnd`]
//! (never the registry); the data plane (`api/websocket.rs`) relays the [`ClientEnd`] to the
//! client's connection.
//!
//! Guarantees:
//! - `socket.send` (a message to the client) is answered once queued, and the queue holds at most
//!   [`QUEUE`] messages: a slow client slows the worker's sends (backpressure); a client that went
//!   away fails them. A message is at most [`MAX_MESSAGE`] bytes (a larger one is refused);
//! - `socket.recv` answers the client's next message, or its close (`clean`), or, once the client
//!   went away, a close with 1006 that is not clean; the data plane buffers at most [`QUEUE`]
//!   messages of the client before it stops reading from it;
//! - `socket.close` queues the close frame (code and reason, or none); the request ending (its
//!   `SocketEnd` dropped) closes the client's connection.
//!
//! Frames (`isolate/js/websocket.js` writes and reads the same): a message is its kind
//! ([`TEXT`] or [`BINARY`]) then its bytes; a close from the client is [`CLOSE`], `clean` (0 or
//! 1), the code (u16 LE), then the reason's UTF-8; a close from the worker is the code (u16 LE)
//! and the reason, or nothing (no code).
//!
//! Every `socket.*` payload starts with the socket's number (u32 LE, [`split_id`]): 0 is the
//! request's own socket (its client's, `Streams::socket`), any other an outbound socket the
//! request opened (`egress/websocket.rs`), kept in the request's [`OutboundSockets`] (at most
//! [`MAX_OUTBOUND`] open at once; dropped, and so closed, when the request ends). For an
//! outbound socket the [`ClientEnd`] is the relay's to the upstream server.
//!
//! A Durable Object's accepted sockets (`objects/sockets.rs`) use three more frame kinds of
//! `socket.send`, written only by the runtime: [`ADOPT`] (+ u32 LE) on the socket 0 of an
//! object's request that answered a 101 ([`adopting_pair`]: the number of the object's socket it
//! answered with); [`SPLICE_TOKEN`] on the caller's placeholder socket ([`placeholder`]: answers
//! its 16-byte random token); [`SPLICE`] (+ that token) on the caller's own client socket, which
//! then goes to the object's socket waiting for that token (at most once; the waiting ends with
//! the placeholder, so with the caller's request).
//!
//! Trusts: nothing in the payloads (tenant code chose them).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use tokio::sync::{mpsc, oneshot, Mutex};

/// The largest message either way (Cloudflare Workers' limit).
pub const MAX_MESSAGE: usize = 1 << 20;
/// Messages queued each way before the sender waits.
pub const QUEUE: usize = 16;
/// The longest close reason (a close frame's payload is at most 125 bytes).
pub const MAX_REASON: usize = 123;

pub const TEXT: u8 = 1;
pub const BINARY: u8 = 2;
pub const CLOSE: u8 = 3;
/// `socket.send` on a placeholder: its token.
pub const SPLICE_TOKEN: u8 = 4;
/// `socket.send` + a token: this socket goes to the object's socket waiting for the token.
pub const SPLICE: u8 = 5;
/// `socket.send` + u32 LE on an object's request's socket 0: the object's socket it answered.
pub const ADOPT: u8 = 6;

/// How an object's request carries on the socket its 101 answered with.
#[derive(Debug, PartialEq, Eq)]
pub enum Handed {
    /// The object's socket named in its [`ADOPT`] frame (`ctx.acceptWebSocket`): the object's.
    Adopted(u32),
    /// The request's own task drives it (the object `accept()`ed it): its first message,
    /// close or read on socket 0 says so.
    Driven,
}

/// Where an object's request tells how it carries on its 101's socket: the first word counts.
#[derive(Default)]
struct Adoption(std::sync::Mutex<Option<oneshot::Sender<Handed>>>);

impl Adoption {
    /// Tells `how`, if nothing was told yet; whether this was the first.
    fn tell(&self, how: Handed) -> bool {
        let first = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        first.is_some_and(|tx| tx.send(how).is_ok())
    }
}

/// What a socket end is besides a channel pair.
#[derive(Clone, Default)]
enum Role {
    #[default]
    Plain,
    /// An object's request's socket 0: [`ADOPT`] frames, or its first use, go here.
    Adopt(Arc<Adoption>),
    /// A caller's stand-in for an object's socket: answers [`SPLICE_TOKEN`].
    Placeholder(Arc<Waiting>),
}

/// An object's socket waiting for its client's socket, by token (removed when dropped).
struct Waiting {
    token: [u8; 16],
    /// Keeps the placeholder's own channels open (it never carries a message).
    _ends: std::sync::Mutex<Option<ClientEnd>>,
}

type Splices = HashMap<[u8; 16], oneshot::Sender<SocketEnd>>;
static WAITING: LazyLock<std::sync::Mutex<Splices>> = LazyLock::new(Default::default);

fn waiting() -> std::sync::MutexGuard<'static, Splices> {
    WAITING.lock().unwrap_or_else(|e| e.into_inner())
}

impl Drop for Waiting {
    fn drop(&mut self) {
        waiting().remove(&self.token);
    }
}

/// A message of the worker's to the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Outgoing {
    Text(String),
    Binary(Vec<u8>),
    /// A close frame: a code and reason, or none.
    Close(Option<(u16, String)>),
}

/// What the client sent, or that it went away.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    Text(String),
    Binary(Vec<u8>),
    Close {
        code: u16,
        reason: String,
        clean: bool,
    },
}

/// The worker's end, held by the request's entry in the link (cloned with its `Streams`).
#[derive(Clone)]
pub struct SocketEnd {
    to_client: mpsc::Sender<Outgoing>,
    from_client: Arc<Mutex<mpsc::Receiver<Incoming>>>,
    role: Role,
}

/// The client's end, relayed by the data plane.
pub struct ClientEnd {
    pub to_client: mpsc::Receiver<Outgoing>,
    pub from_client: mpsc::Sender<Incoming>,
}

/// Outbound WebSockets one request may have open at once. Each holds a `socket.recv` in flight
/// (of the 64 host calls a request may have), a relay task, and its two queues of at most
/// [`QUEUE`] messages of at most [`MAX_MESSAGE`] bytes: 6 keeps a request's worst case near
/// 200 MiB of queued messages while leaving room for the usual fan-out (a few upstream feeds
/// merged into one client socket).
pub const MAX_OUTBOUND: usize = 6;

/// The outbound sockets of one request, by number (kept in its `Resources`; dropping them, as
/// the request's end does, ends their relays, which close the upstream with 1001).
#[derive(Default)]
pub struct OutboundSockets {
    last: u32,
    open: std::collections::HashMap<u32, SocketEnd>,
}

impl OutboundSockets {
    /// Keeps `end` under a new number (never 0), or `None` when [`MAX_OUTBOUND`] are open. A
    /// socket whose relay is over (closed both ways, or failed) no longer counts.
    pub fn insert(&mut self, end: SocketEnd) -> Option<u32> {
        self.open.retain(|_, end| !end.to_client.is_closed());
        if self.open.len() >= MAX_OUTBOUND {
            return None;
        }
        self.last = self.last.wrapping_add(1).max(1);
        self.open.insert(self.last, end);
        Some(self.last)
    }

    /// Whether [`MAX_OUTBOUND`] sockets are open (a socket whose relay is over no longer counts).
    pub fn is_full(&mut self) -> bool {
        self.open.retain(|_, end| !end.to_client.is_closed());
        self.open.len() >= MAX_OUTBOUND
    }

    /// Socket `id`'s end, if the request opened it.
    pub fn get(&self, id: u32) -> Option<SocketEnd> {
        self.open.get(&id).cloned()
    }
}

/// A `socket.*` payload's socket number and the rest.
pub fn split_id(payload: &[u8]) -> Option<(u32, &[u8])> {
    let (id, rest) = payload.split_first_chunk::<4>()?;
    Some((u32::from_le_bytes(*id), rest))
}

/// A connected pair.
pub fn pair() -> (SocketEnd, ClientEnd) {
    let (to_tx, to_rx) = mpsc::channel(QUEUE);
    let (from_tx, from_rx) = mpsc::channel(QUEUE);
    (
        SocketEnd {
            to_client: to_tx,
            from_client: Arc::new(Mutex::new(from_rx)),
            role: Role::Plain,
        },
        ClientEnd {
            to_client: to_rx,
            from_client: from_tx,
        },
    )
}

/// A pair whose worker end says how the request carries on its 101's socket: an [`ADOPT`]
/// frame's number, or [`Handed::Driven`] at its first message, close or read, whichever comes
/// first, out of the receiver (which fails once every clone of the end is dropped, i.e. with the
/// request, if neither came).
pub fn adopting_pair() -> (SocketEnd, ClientEnd, oneshot::Receiver<Handed>) {
    let (mut end, client) = pair();
    let (tx, rx) = oneshot::channel();
    end.role = Role::Adopt(Arc::new(Adoption(std::sync::Mutex::new(Some(tx)))));
    (end, client, rx)
}

/// A caller's stand-in for an object's socket (kept in its `OutboundSockets`) and what its
/// client's socket becomes once the caller's runtime splices it ([`SPLICE`]); the receiver
/// fails once the stand-in is gone (the caller's request ended) without a splice.
pub fn placeholder() -> Result<(SocketEnd, oneshot::Receiver<SocketEnd>), String> {
    let mut token = [0u8; 16];
    getrandom::getrandom(&mut token).map_err(|e| format!("no randomness: {e}"))?;
    let (tx, rx) = oneshot::channel();
    waiting().insert(token, tx);
    let (mut end, client) = pair();
    end.role = Role::Placeholder(Arc::new(Waiting {
        token,
        _ends: std::sync::Mutex::new(Some(client)),
    }));
    Ok((end, rx))
}

const GONE: &str = "the WebSocket's client went away";

impl SocketEnd {
    /// `socket.send`: queues a message for the client.
    pub async fn send(&self, frame: Vec<u8>) -> Result<Vec<u8>, String> {
        let Some((&kind, bytes)) = frame.split_first() else {
            return Err("an empty WebSocket frame".into());
        };
        if bytes.len() > MAX_MESSAGE {
            return Err(format!(
                "a WebSocket message is at most {MAX_MESSAGE} bytes, not {}",
                bytes.len()
            ));
        }
        let message = match kind {
            SPLICE_TOKEN => {
                return match &self.role {
                    Role::Placeholder(w) => Ok(w.token.to_vec()),
                    _ => Err("this WebSocket is not a Durable Object's".into()),
                }
            }
            SPLICE => {
                let token: [u8; 16] = bytes.try_into().map_err(|_| "a malformed splice")?;
                let Some(to) = waiting().remove(&token) else {
                    return Err("no Durable Object's WebSocket waits for this one".into());
                };
                let mut end = self.clone();
                end.role = Role::Plain;
                return to
                    .send(end)
                    .map(|()| Vec::new())
                    .map_err(|_| "the Durable Object's WebSocket is gone".into());
            }
            ADOPT => {
                let n: [u8; 4] = bytes.try_into().map_err(|_| "a malformed adoption")?;
                return match &self.role {
                    Role::Adopt(a) if a.tell(Handed::Adopted(u32::from_le_bytes(n))) => {
                        Ok(Vec::new())
                    }
                    Role::Adopt(_) => Err("the answer was already taken".into()),
                    _ => Err("this request's WebSocket is not a Durable Object's".into()),
                };
            }
            TEXT => Outgoing::Text(
                String::from_utf8(bytes.to_vec()).map_err(|_| "a text message is not UTF-8")?,
            ),
            BINARY => Outgoing::Binary(bytes.to_vec()),
            _ => return Err(format!("an unknown WebSocket frame kind {kind}")),
        };
        self.driven();
        self.to_client
            .send(message)
            .await
            .map_err(|_| GONE.to_owned())?;
        Ok(Vec::new())
    }

    /// `socket.close`: queues the close frame.
    pub async fn close(&self, frame: Vec<u8>) -> Result<Vec<u8>, String> {
        let close = match frame.as_slice() {
            [] => None,
            [lo, hi, reason @ ..] => {
                let code = u16::from_le_bytes([*lo, *hi]);
                if reason.len() > MAX_REASON {
                    return Err(format!("a close reason is at most {MAX_REASON} bytes"));
                }
                let reason = String::from_utf8(reason.to_vec())
                    .map_err(|_| "a close reason is not UTF-8")?;
                Some((code, reason))
            }
            [_] => return Err("a malformed close frame".into()),
        };
        self.driven();
        self.to_client
            .send(Outgoing::Close(close))
            .await
            .map_err(|_| GONE.to_owned())?;
        Ok(Vec::new())
    }

    /// The request's task uses its socket 0 itself: an object's request then drives its 101's
    /// socket ([`Handed::Driven`]), unless it named an adopted one first.
    fn driven(&self) {
        if let Role::Adopt(a) = &self.role {
            a.tell(Handed::Driven);
        }
    }

    /// Queues `message` for the client (an object's socket's writer); `false` once it is gone.
    pub async fn push(&self, message: Outgoing) -> bool {
        self.to_client.send(message).await.is_ok()
    }

    /// The client's next message or close; `None` once it went away (no close frame).
    pub async fn next_incoming(&self) -> Option<Incoming> {
        self.from_client.lock().await.recv().await
    }

    /// `socket.recv`: the client's next message or its close (after which, a close with 1006).
    pub async fn recv(&self) -> Result<Vec<u8>, String> {
        if matches!(self.role, Role::Placeholder(_)) {
            let why = "a Durable Object's accepted WebSocket can only be returned in a Response";
            return Ok(close_frame(1011, why, false));
        }
        self.driven();
        let next = self.from_client.lock().await.recv().await;
        Ok(match next {
            Some(Incoming::Text(text)) => framed(TEXT, text.as_bytes()),
            Some(Incoming::Binary(bytes)) => framed(BINARY, &bytes),
            Some(Incoming::Close {
                code,
                reason,
                clean,
            }) => close_frame(code, &reason, clean),
            None => close_frame(
                1006,
                "WebSocket disconnected without sending Close frame.",
                false,
            ),
        })
    }

    /// The request ended with `why` while the socket was open: the client's connection is
    /// closed with 1011 and (the start of) that reason, if the queue takes it now.
    pub fn ended(&self, why: &str) {
        let mut cut = why.len().min(MAX_REASON);
        while !why.is_char_boundary(cut) {
            cut -= 1;
        }
        let _ = self
            .to_client
            .try_send(Outgoing::Close(Some((1011, why[..cut].to_owned()))));
    }
}

fn framed(kind: u8, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + bytes.len());
    out.push(kind);
    out.extend_from_slice(bytes);
    out
}

fn close_frame(code: u16, reason: &str, clean: bool) -> Vec<u8> {
    let mut out = vec![CLOSE, u8::from(clean)];
    out.extend_from_slice(&code.to_le_bytes());
    out.extend_from_slice(reason.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_cross_both_ways_and_a_gone_client_is_a_1006_close() {
        let (end, mut client) = pair();
        end.send(framed(TEXT, "hé".as_bytes())).await.expect("sent");
        end.send(framed(BINARY, &[0, 1])).await.expect("sent");
        end.close(vec![0xA1, 0x0F, b'x']).await.expect("closed");
        end.close(Vec::new()).await.expect("closed");
        assert_eq!(
            client.to_client.recv().await,
            Some(Outgoing::Text("hé".into()))
        );
        assert_eq!(
            client.to_client.recv().await,
            Some(Outgoing::Binary(vec![0, 1]))
        );
        assert_eq!(
            client.to_client.recv().await,
            Some(Outgoing::Close(Some((4001, "x".into()))))
        );
        assert_eq!(client.to_client.recv().await, Some(Outgoing::Close(None)));
        client
            .from_client
            .send(Incoming::Text("a".into()))
            .await
            .expect("queued");
        let close = Incoming::Close {
            code: 4002,
            reason: "r".into(),
            clean: true,
        };
        client.from_client.send(close).await.expect("queued");
        assert_eq!(end.recv().await, Ok(vec![TEXT, b'a']));
        assert_eq!(end.recv().await, Ok(vec![CLOSE, 1, 0xA2, 0x0F, b'r']));
        drop(client);
        let gone = end.recv().await.expect("a close");
        assert_eq!(&gone[..4], &[CLOSE, 0, 0xEE, 0x03]);
        assert_eq!(end.send(framed(TEXT, b"late")).await, Err(GONE.to_owned()));
    }

    #[test]
    fn a_request_keeps_at_most_max_outbound_open_sockets_numbered_from_1() {
        let mut sockets = OutboundSockets::default();
        let mut peers = Vec::new();
        for n in 1..=MAX_OUTBOUND as u32 {
            let (end, peer) = pair();
            assert_eq!(sockets.insert(end), Some(n));
            peers.push(peer);
        }
        assert!(sockets.is_full());
        assert!(sockets.insert(pair().0).is_none(), "one too many");
        assert!(sockets.get(1).is_some() && sockets.get(0).is_none());
        drop(peers.remove(0)); // socket 1's relay is over: its place is free
        assert!(!sockets.is_full());
        assert!(sockets.get(1).is_none());
        assert_eq!(sockets.insert(pair().0), Some(MAX_OUTBOUND as u32 + 1));
        assert_eq!(split_id(&[2, 0, 0, 0, 9]), Some((2, &[9][..])));
        assert_eq!(split_id(&[2, 0, 0]), None);
    }

    #[tokio::test]
    async fn a_placeholder_splices_a_client_socket_once_and_adoption_names_a_socket() {
        let (client_end, mut client) = pair();
        let (holder, spliced) = placeholder().expect("placeholder");
        let token = holder.send(vec![SPLICE_TOKEN]).await.expect("its token");
        assert_eq!(token.len(), 16);
        assert!(
            client_end.send(vec![SPLICE_TOKEN]).await.is_err(),
            "not a placeholder"
        );
        let mut splice = vec![SPLICE];
        splice.extend_from_slice(&token);
        client_end.send(splice.clone()).await.expect("spliced");
        assert!(client_end.send(splice).await.is_err(), "only once");
        let object = spliced.await.expect("the client's socket");
        object.send(vec![TEXT, b'x']).await.expect("sent");
        assert_eq!(
            client.to_client.recv().await,
            Some(Outgoing::Text("x".into()))
        );
        assert!(
            matches!(holder.recv().await, Ok(f) if f[0] == CLOSE),
            "a placeholder never opens"
        );
        // A placeholder gone (its request ended) ends the wait, and its token with it.
        let (holder, spliced) = placeholder().expect("placeholder");
        let token = holder.send(vec![SPLICE_TOKEN]).await.expect("its token");
        drop(holder);
        assert!(spliced.await.is_err());
        let mut splice = vec![SPLICE];
        splice.extend_from_slice(&token);
        assert!(client_end.send(splice).await.is_err());
        let (end, _client, adopted) = adopting_pair();
        end.send(vec![ADOPT, 7, 0, 0, 0]).await.expect("adopted");
        assert_eq!(adopted.await, Ok(Handed::Adopted(7)));
        assert!(end.send(vec![ADOPT, 7]).await.is_err(), "malformed");
        assert!(
            end.send(vec![ADOPT, 8, 0, 0, 0]).await.is_err(),
            "told once"
        );
        // An object's request that uses its socket 0 itself drives it; an adoption after that
        // is refused.
        let (end, _client, handed) = adopting_pair();
        end.send(vec![TEXT, b'h']).await.expect("sent");
        assert_eq!(handed.await, Ok(Handed::Driven));
        assert!(
            end.send(vec![ADOPT, 7, 0, 0, 0]).await.is_err(),
            "told once"
        );
        // Neither, and the request's end gone: the receiver fails.
        let (end, _client, handed) = adopting_pair();
        drop(end);
        assert!(handed.await.is_err());
        assert!(
            client_end.send(vec![ADOPT, 7, 0, 0, 0]).await.is_err(),
            "not an object's"
        );
    }

    #[tokio::test]
    async fn malformed_or_oversize_frames_are_refused() {
        let (end, _client) = pair();
        assert!(end.send(Vec::new()).await.is_err());
        assert!(end.send(vec![9, 1]).await.is_err());
        assert!(end.send(vec![TEXT, 0xFF]).await.is_err());
        let mut big = vec![BINARY];
        big.resize(MAX_MESSAGE + 2, 0);
        assert!(end.send(big).await.is_err());
        assert!(end.close(vec![1]).await.is_err());
        let mut long = vec![0xE8, 0x03];
        long.resize(2 + MAX_REASON + 1, b'a');
        assert!(end.close(long).await.is_err());
    }
}
