//! A Durable Object's accepted WebSockets (`ctx.acceptWebSocket(ws, tags)`): they belong to the
//! object, not to the request that answered the 101, so they live here, in the supervisor, by
//! object: their tags, attachment, auto-response stamp, and the queue of what the object sends.
//! The object's isolate keeps its own copy of this table while it is live and asks for it
//! (`do.ws.state`) when it is constructed, so a socket outlives the object's eviction.
//!
//! Host calls (made only by the object's own isolate; the object is the directory's answer for
//! the calling definition, never the payload's):
//! - `do.ws.send` `{}` + a batch of entries, each the socket's number (u32 LE), a kind (u8) and
//!   a length (u32 LE) then that many bytes: [`TEXT`]/[`BINARY`] a message, [`CLOSE`] the code
//!   (u16 LE) and reason (or nothing), [`ACCEPT`] the tags as a JSON array (a new socket under
//!   that number, waiting for its client), [`LISTEN`] nothing (a socket the object `accept()`ed
//!   itself: held the same way, not hibernatable, [`ObjectSockets::is_listening`]),
//!   [`ATTACH`] the attachment (the runtime's encoding, at most [`MAX_ATTACHMENT`] bytes) → `{}`;
//!   applied at once, in order, when the call arrives;
//! - `do.ws.auto` `{pair: [request, response] | null}` → `{}`;
//! - `do.ws.state` `{}` → `{sockets: [{id, tags, attachment, at, listen?}], auto}`.
//!
//! Guarantees: at most [`MAX_PER_OBJECT`] sockets per object, [`MAX_TAGS`] tags each of at most
//! [`MAX_TAG_CHARS`] characters; a socket whose client reads slower than the object sends has at
//! most [`MAX_QUEUED_BYTES`] waiting, past which it is closed with 1011 and later sends are
//! dropped; a send never waits (as `WebSocket.send` does not); when a worker is deleted, every
//! socket of its objects is closed with 1001 after what the object sent before
//! ([`ObjectSockets::close_worker`]).
//!
//! Trusts: the call context the supervisor attached; nothing in the payloads.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::directory::ObjectKey;
use crate::supervisor::websocket::{Outgoing, SocketEnd, MAX_MESSAGE, MAX_REASON};

/// Sockets one object may hold. Cloudflare allows 32,768; each socket here is a client
/// connection of the tenant's (a place under its `max_concurrent_requests`, a relay task and two
/// queues of up to 16 messages), so a room that size is the tenant's whole budget many times
/// over: 1,024 keeps one object's fan-out large while a tenant's many objects share the daemon.
pub const MAX_PER_OBJECT: usize = 1024;
/// Tags per socket, and characters per tag (Cloudflare's).
pub const MAX_TAGS: usize = 10;
pub const MAX_TAG_CHARS: usize = 256;
/// A socket's attachment, bytes of its encoding (Cloudflare's 2 KiB).
pub const MAX_ATTACHMENT: usize = 2048;
/// What may wait for one slow client before its socket is closed.
pub const MAX_QUEUED_BYTES: usize = 8 << 20;
/// An auto-response's request or response, bytes.
pub const MAX_AUTO: usize = 2048;

pub const TEXT: u8 = 1;
pub const BINARY: u8 = 2;
pub const CLOSE: u8 = 3;
pub const ACCEPT: u8 = 4;
pub const ATTACH: u8 = 5;
pub const LISTEN: u8 = 6;

/// One accepted socket.
struct Accepted {
    tags: Vec<String>,
    attachment: Option<String>,
    /// When the supervisor last answered its auto-response (ms since the epoch).
    at: Option<i64>,
    out: mpsc::UnboundedSender<Outgoing>,
    /// Until its client is linked, the queue's other end.
    waiting: Option<mpsc::UnboundedReceiver<Outgoing>>,
    queued: Arc<AtomicUsize>,
    /// The supervisor sent it a close (its client read too slowly, or the instance whose
    /// listeners it had is gone): nothing more goes out. It stays, its number taken, until its
    /// client's side ends (`remove`).
    ended: bool,
    /// The worker process life whose instance accepted it.
    life: u64,
    /// `accept()`ed by the object (its listeners are in one instance's memory), not
    /// `acceptWebSocket`ed: no auto-response.
    listen: bool,
}

#[derive(Default)]
struct Room {
    sockets: BTreeMap<u32, Accepted>,
    auto: Option<(String, String)>,
}

/// Every object's accepted sockets.
#[derive(Default)]
pub struct ObjectSockets {
    rooms: Mutex<HashMap<ObjectKey, Room>>,
}

fn tags_of(value: &Value) -> Result<Vec<String>, String> {
    let list = value.as_array().ok_or("the tags are a list")?;
    if list.len() > MAX_TAGS {
        return Err(format!("a WebSocket has at most {MAX_TAGS} tags"));
    }
    list.iter()
        .map(|t| match t.as_str() {
            Some(t) if t.chars().count() <= MAX_TAG_CHARS => Ok(t.to_owned()),
            Some(_) => Err(format!("a tag is at most {MAX_TAG_CHARS} characters")),
            None => Err("a tag is a string".to_owned()),
        })
        .collect()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl ObjectSockets {
    fn rooms(&self) -> MutexGuard<'_, HashMap<ObjectKey, Room>> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies a `do.ws.send` batch of `key`'s, sent by an instance in worker process life
    /// `life`, in order. The first malformed entry stops it.
    pub fn apply(&self, key: &ObjectKey, life: u64, mut batch: &[u8]) -> Result<(), String> {
        let mut rooms = self.rooms();
        while !batch.is_empty() {
            let (id, rest) = batch.split_first_chunk::<4>().ok_or("a malformed batch")?;
            let (&kind, rest) = rest.split_first().ok_or("a malformed batch")?;
            let (n, rest) = rest.split_first_chunk::<4>().ok_or("a malformed batch")?;
            let n = u32::from_le_bytes(*n) as usize;
            let bytes = rest.get(..n).ok_or("a malformed batch")?;
            batch = &rest[n..];
            let id = u32::from_le_bytes(*id);
            if kind == ACCEPT || kind == LISTEN {
                let tags = match kind {
                    ACCEPT => tags_of(&serde_json::from_slice(bytes).map_err(|e| e.to_string())?)?,
                    _ => Vec::new(),
                };
                let room = rooms.entry(key.clone()).or_default();
                if room.sockets.len() >= MAX_PER_OBJECT {
                    return Err(format!(
                        "a Durable Object has at most {MAX_PER_OBJECT} WebSockets"
                    ));
                }
                if room.sockets.contains_key(&id) {
                    return Err(format!("the object has a WebSocket {id} already"));
                }
                let (out, waiting) = mpsc::unbounded_channel();
                room.sockets.insert(
                    id,
                    Accepted {
                        tags,
                        attachment: None,
                        at: None,
                        out,
                        waiting: Some(waiting),
                        queued: Arc::default(),
                        ended: false,
                        life,
                        listen: kind == LISTEN,
                    },
                );
                continue;
            }
            // A socket already gone (its client left) takes nothing more.
            let Some(socket) = rooms.get_mut(key).and_then(|r| r.sockets.get_mut(&id)) else {
                continue;
            };
            let message = match kind {
                TEXT | BINARY if n > MAX_MESSAGE => {
                    return Err(format!(
                        "a WebSocket message is at most {MAX_MESSAGE} bytes"
                    ))
                }
                TEXT => Outgoing::Text(
                    String::from_utf8(bytes.to_vec()).map_err(|_| "a text message is not UTF-8")?,
                ),
                BINARY => Outgoing::Binary(bytes.to_vec()),
                CLOSE => Outgoing::Close(match bytes {
                    [] => None,
                    [lo, hi, reason @ ..] if reason.len() <= MAX_REASON => Some((
                        u16::from_le_bytes([*lo, *hi]),
                        String::from_utf8(reason.to_vec())
                            .map_err(|_| "a close reason is not UTF-8")?,
                    )),
                    _ => return Err("a malformed close".into()),
                }),
                ATTACH => {
                    if n > MAX_ATTACHMENT {
                        return Err(format!(
                            "a WebSocket's attachment is at most {MAX_ATTACHMENT} bytes"
                        ));
                    }
                    socket.attachment = Some(
                        String::from_utf8(bytes.to_vec()).map_err(|_| "a malformed attachment")?,
                    );
                    continue;
                }
                _ => return Err(format!("an unknown entry kind {kind}")),
            };
            if socket.ended {
                continue;
            }
            let size = n.max(1);
            let before = socket.queued.fetch_add(size, Ordering::Relaxed);
            if before.saturating_add(size) > MAX_QUEUED_BYTES {
                socket.ended = true;
                let why = "the client reads slower than the Durable Object sends".to_owned();
                let _ = socket.out.send(Outgoing::Close(Some((1011, why))));
                continue;
            }
            let _ = socket.out.send(message);
        }
        Ok(())
    }

    /// `do.ws.auto`: the object's auto-response pair, or none.
    pub fn set_auto(&self, key: &ObjectKey, head: &Value) -> Result<(), String> {
        let pair = match head.get("pair") {
            None | Some(Value::Null) => None,
            Some(Value::Array(p)) => match p.as_slice() {
                [Value::String(a), Value::String(b)]
                    if a.len() <= MAX_AUTO && b.len() <= MAX_AUTO =>
                {
                    Some((a.clone(), b.clone()))
                }
                _ => {
                    return Err(format!(
                        "an auto-response is two strings of at most {MAX_AUTO} bytes"
                    ))
                }
            },
            Some(_) => return Err("an auto-response is two strings".into()),
        };
        self.rooms().entry(key.clone()).or_default().auto = pair;
        Ok(())
    }

    /// `do.ws.state`: what the object's isolate starts from.
    pub fn state(&self, key: &ObjectKey) -> Value {
        let rooms = self.rooms();
        let Some(room) = rooms.get(key) else {
            return json!({"sockets": [], "auto": null});
        };
        let sockets: Vec<Value> = room
            .sockets
            .iter()
            .map(|(id, s)| match s.listen {
                true => {
                    json!({"id": id, "tags": [], "attachment": null, "at": null, "listen": true})
                }
                false => json!({"id": id, "tags": s.tags, "attachment": s.attachment, "at": s.at}),
            })
            .collect();
        json!({"sockets": sockets, "auto": room.auto.as_ref().map(|(a, b)| [a, b])})
    }

    /// Whether `id` is an object's socket that still waits for its client.
    pub fn is_waiting(&self, key: &ObjectKey, id: u32) -> bool {
        self.rooms()
            .get(key)
            .and_then(|r| r.sockets.get(&id))
            .is_some_and(|s| s.waiting.is_some())
    }

    /// Whether socket `id` is one the object `accept()`ed itself ([`LISTEN`]).
    pub fn is_listening(&self, key: &ObjectKey, id: u32) -> bool {
        self.rooms()
            .get(key)
            .and_then(|r| r.sockets.get(&id))
            .is_some_and(|s| s.listen)
    }

    /// Links socket `id` to its client's `end`: what the object sent, and sends, goes out in
    /// order. `false` if the socket is gone.
    pub fn link(&self, key: &ObjectKey, id: u32, end: SocketEnd) -> bool {
        let taken = self
            .rooms()
            .get_mut(key)
            .and_then(|r| r.sockets.get_mut(&id))
            .and_then(|s| Some((s.waiting.take()?, Arc::clone(&s.queued))));
        let Some((mut queue, queued)) = taken else {
            return false;
        };
        tokio::spawn(async move {
            while let Some(message) = queue.recv().await {
                let size = match &message {
                    Outgoing::Text(t) => t.len(),
                    Outgoing::Binary(b) => b.len(),
                    Outgoing::Close(_) => 0,
                }
                .max(1);
                if !end.push(message).await {
                    break;
                }
                queued.fetch_sub(size, Ordering::Relaxed);
            }
        });
        true
    }

    /// The auto-response to `text` from socket `id`, if the object set one that matches it
    /// (its stamp is then now).
    pub fn auto_answer(&self, key: &ObjectKey, id: u32, text: &str) -> Option<String> {
        let mut rooms = self.rooms();
        let room = rooms.get_mut(key)?;
        let answer = match &room.auto {
            Some((request, response)) if request == text => response.clone(),
            _ => return None,
        };
        let socket = room.sockets.get_mut(&id).filter(|s| !s.listen)?;
        socket.at = Some(now_ms());
        // Counted as the object's sends are (the writer takes each off as it goes out).
        socket
            .queued
            .fetch_add(answer.len().max(1), Ordering::Relaxed);
        let _ = socket.out.send(Outgoing::Text(answer.clone()));
        Some(answer)
    }

    /// Socket `id`'s auto-response stamp.
    pub fn stamp(&self, key: &ObjectKey, id: u32) -> Option<i64> {
        self.rooms().get(key)?.sockets.get(&id)?.at
    }

    /// Forgets socket `id` (its client is gone, or never came): its queue ends.
    pub fn remove(&self, key: &ObjectKey, id: u32) {
        let mut rooms = self.rooms();
        if let Some(room) = rooms.get_mut(key) {
            room.sockets.remove(&id);
            if room.sockets.is_empty() && room.auto.is_none() {
                rooms.remove(key);
            }
        }
    }

    /// Closes every socket of `tenant`'s worker `worker`'s objects with `code` and `reason` (the
    /// worker was deleted), after what each object sent before, and forgets them: how many.
    /// A socket still waiting for its client is dropped (its client never comes).
    pub fn close_worker(&self, tenant: &str, worker: &str, code: u16, reason: &str) -> usize {
        let mut rooms = self.rooms();
        let keys: Vec<ObjectKey> = rooms
            .keys()
            .filter(|k| k.tenant == tenant && k.worker == worker)
            .cloned()
            .collect();
        let mut closed = 0;
        for key in keys {
            let Some(room) = rooms.remove(&key) else {
                continue;
            };
            for socket in room.sockets.into_values() {
                // Its writer sends the close after what is queued, then ends with the queue.
                let close = Outgoing::Close(Some((code, reason.to_owned())));
                if socket.out.send(close).is_ok() {
                    closed += 1;
                }
            }
        }
        closed
    }

    /// Closes the sockets that objects' instances in worker process life `life` `accept()`ed
    /// themselves ([`LISTEN`]) with `code` and `reason`, after what each object sent before:
    /// their listeners were in that process, which is gone. Each stays, its number taken and
    /// nothing more sent, until its client's side ends (so a new socket never takes the number
    /// of one whose client's last events are still to come). How many. Hibernatable sockets, and
    /// those accepted in another process, stay as they are. Every room is looked at: a process
    /// that is gone may have been one whose tenants had already moved (a recycled one), so what
    /// it had loaded says nothing, and an exit is rare.
    pub fn close_listening(&self, life: u64, code: u16, reason: &str) -> usize {
        let mut rooms = self.rooms();
        let mut closed = 0;
        for socket in rooms
            .values_mut()
            .flat_map(|room| room.sockets.values_mut())
        {
            if !socket.listen || socket.life != life || socket.ended {
                continue;
            }
            socket.ended = true;
            let close = Outgoing::Close(Some((code, reason.to_owned())));
            if socket.out.send(close).is_ok() {
                closed += 1;
            }
        }
        closed
    }

    /// How many sockets `key` holds.
    #[cfg(test)]
    pub fn count(&self, key: &ObjectKey) -> usize {
        self.rooms().get(key).map_or(0, |r| r.sockets.len())
    }
}

#[cfg(test)]
#[path = "sockets_tests.rs"]
mod tests;
