//! Bodies streamed between workers over RPC: a `ReadableStream` (or a `Request`'s or
//! `Response`'s body) in an RPC message crosses as a pipe, chunk by chunk, as Cloudflare's RPC
//! streams it, instead of being read whole into the message.
//!
//! - The sender's runtime opens a pipe with `pipe.open` (no payload): its write end goes among
//!   the sender's request's pipes (`{"pipe": n}`, its number there) and its read end into a
//!   daemon-wide registry under a random key (`{"key": k}`), which the message carries.
//! - The sender writes each chunk with `pipe.write` `{pipe}` + bytes, answered once the reader
//!   has taken that chunk (so a chunk's bytes stay counted as its host call's payload, the
//!   link's `held`, until the reader has them: nothing else buffers), and ends with `pipe.close`
//!   `{pipe, error?}` (with `error`, the reader's stream errors with it).
//! - The receiver's runtime takes the read end once with `pipe.take` `{key}` (into its own
//!   request's pipes, `{"pipe": m}`), reads with `pipe.read` `{pipe}` (a chunk, `{"done": true}`
//!   + nothing at the end, or the error) and lets go with `pipe.cancel` `{pipe}`.
//!
//! Guarantees: a read end is reached only by its key (128 random bits, named only in the one
//! message) and by the tenant that opened it; once taken, only through the taking request's
//! pipes. A request holds at most [`MAX_PIPES`] ends. A write end dropped without `pipe.close`
//! (its request ended first) ends the stream with an error, never as if complete. A read end
//! dropped (its request ended, or cancelled) fails the writer's next write at once. A read end
//! nobody takes goes after [`UNTAKEN_FOR`], and a tenant has at most [`MAX_UNTAKEN`] of them.
//! Trusts: nothing in the payloads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stockade_cordon::TenantId;
use tokio::sync::{mpsc, oneshot};

use crate::supervisor::CallContext;

/// The most pipe ends (written or read) one request holds at once.
pub const MAX_PIPES: usize = 64;

/// How long a read end waits to be taken.
pub const UNTAKEN_FOR: Duration = Duration::from_secs(60);

/// The most read ends one tenant has waiting to be taken.
pub const MAX_UNTAKEN: usize = 1024;

/// One chunk on its way, or the stream's error; `taken` tells its writer the reader has it.
struct Piece {
    chunk: Result<Vec<u8>, String>,
    taken: Option<oneshot::Sender<()>>,
}

/// A read end waiting to be taken.
struct Untaken {
    tenant: TenantId,
    since: Instant,
    pieces: mpsc::UnboundedReceiver<Piece>,
}

/// The read ends waiting to be taken, by key (the daemon's).
static UNTAKEN: Mutex<Option<HashMap<String, Untaken>>> = Mutex::new(None);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A write end: `None` once closed.
struct Writer(Option<mpsc::UnboundedSender<Piece>>);

impl Drop for Writer {
    fn drop(&mut self) {
        // Its request ended before the stream did: the reader sees an error, not an end.
        if let Some(pieces) = self.0.take() {
            let _ = pieces.send(Piece {
                chunk: Err("the sending worker's request ended before its stream did".into()),
                taken: None,
            });
        }
    }
}

/// A read end taken by a request.
struct Reader(Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Piece>>>);

enum End {
    Writer(Writer),
    Reader(Reader),
}

/// A request's pipe ends, by number (one of the request's shared resources).
#[derive(Default)]
struct Pipes {
    next: u32,
    ends: HashMap<u32, End>,
}

impl Pipes {
    fn insert(&mut self, end: End) -> Result<u32, String> {
        if self.ends.len() >= MAX_PIPES {
            return Err(format!(
                "this request holds {MAX_PIPES} streams crossing between workers already"
            ));
        }
        self.next = self.next.wrapping_add(1).max(1);
        self.ends.insert(self.next, end);
        Ok(self.next)
    }
}

fn random_key() -> Result<String, String> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).map_err(|e| format!("no random key: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn answer(head: Value, bytes: &[u8]) -> Vec<u8> {
    crate::storage::frame(&head, bytes)
}

fn pipe_number(head: &Value) -> Result<u32, String> {
    head.get("pipe")
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| "the call names no stream".to_owned())
}

const NO_SUCH: &str = "this request holds no such stream";

/// `pipe.open`: a new pipe; `{"pipe": n, "key": k}`.
pub async fn open(context: CallContext, _payload: Vec<u8>) -> Result<Vec<u8>, String> {
    let key = random_key()?;
    let (writer, pieces) = mpsc::unbounded_channel();
    {
        let mut untaken = lock(&UNTAKEN);
        let untaken = untaken.get_or_insert_with(HashMap::new);
        let now = Instant::now();
        untaken.retain(|_, u| now.duration_since(u.since) < UNTAKEN_FOR);
        let waiting = untaken
            .values()
            .filter(|u| u.tenant == context.tenant)
            .count();
        if waiting >= MAX_UNTAKEN {
            return Err(format!(
                "{MAX_UNTAKEN} streams sent to other workers wait to be taken already"
            ));
        }
        untaken.insert(
            key.clone(),
            Untaken {
                tenant: context.tenant,
                since: now,
                pieces,
            },
        );
    }
    let number = context
        .resources
        .shared::<Pipes, _>(|p| p.insert(End::Writer(Writer(Some(writer)))));
    let number = match number {
        Ok(n) => n,
        Err(e) => {
            if let Some(untaken) = lock(&UNTAKEN).as_mut() {
                untaken.remove(&key);
            }
            return Err(e);
        }
    };
    Ok(answer(json!({ "pipe": number, "key": key }), &[]))
}

/// The write end `head` names.
fn writer_of(context: &CallContext, head: &Value) -> Result<mpsc::UnboundedSender<Piece>, String> {
    let n = pipe_number(head)?;
    context
        .resources
        .shared::<Pipes, _>(|p| match p.ends.get(&n) {
            Some(End::Writer(Writer(Some(w)))) => Ok(w.clone()),
            Some(End::Writer(Writer(None))) => Err("the stream was closed".to_owned()),
            _ => Err(NO_SUCH.to_owned()),
        })
}

/// `pipe.write` `{pipe}` + a chunk: answered `{}` once the reader took it.
pub async fn write(context: CallContext, payload: Vec<u8>) -> Result<Vec<u8>, String> {
    const GONE: &str = "the receiving worker let go of the stream";
    let (head, bytes) = crate::storage::split(&payload)?;
    let writer = writer_of(&context, &head)?;
    let (taken, took) = oneshot::channel();
    // Queued before the handler's first wait (in the link's router): chunks keep their order.
    writer
        .send(Piece {
            chunk: Ok(bytes.to_vec()),
            taken: Some(taken),
        })
        .map_err(|_| GONE.to_owned())?;
    drop(writer);
    took.await.map_err(|_| GONE.to_owned())?;
    Ok(answer(json!({}), &[]))
}

/// `pipe.close` `{pipe, error?}`: the stream ends (with `error`, as that error).
pub async fn close(context: CallContext, payload: Vec<u8>) -> Result<Vec<u8>, String> {
    let (head, _) = crate::storage::split(&payload)?;
    let n = pipe_number(&head)?;
    let writer = context
        .resources
        .shared::<Pipes, _>(|p| match p.ends.remove(&n) {
            Some(End::Writer(mut w)) => Ok(w.0.take()),
            Some(other) => {
                p.ends.insert(n, other);
                Err(NO_SUCH.to_owned())
            }
            None => Err(NO_SUCH.to_owned()),
        })?;
    if let (Some(writer), Some(error)) = (writer, head.get("error")) {
        let why = error.as_str().unwrap_or("the stream failed");
        let why: String = why
            .chars()
            .take(stockade_ipc::limits::MAX_ERROR_MESSAGE_LEN / 4)
            .collect();
        let _ = writer.send(Piece {
            chunk: Err(why),
            taken: None,
        });
    }
    Ok(answer(json!({}), &[]))
}

/// `pipe.take` `{key}`: the read end the key names, once, by its tenant; `{"pipe": m}`.
pub async fn take(context: CallContext, payload: Vec<u8>) -> Result<Vec<u8>, String> {
    let (head, _) = crate::storage::split(&payload)?;
    let key = head.get("key").and_then(Value::as_str).unwrap_or("");
    let pieces = {
        let mut untaken = lock(&UNTAKEN);
        let untaken = untaken.get_or_insert_with(HashMap::new);
        match untaken.get(key) {
            Some(u) if u.tenant == context.tenant => untaken.remove(key).map(|u| u.pieces),
            _ => None,
        }
    }
    .ok_or("no such stream waits: it was taken already, or its sender's request is long over")?;
    let reader = Reader(Arc::new(tokio::sync::Mutex::new(pieces)));
    let number = context
        .resources
        .shared::<Pipes, _>(|p| p.insert(End::Reader(reader)))?;
    Ok(answer(json!({ "pipe": number }), &[]))
}

/// `pipe.read` `{pipe}`: the next chunk (`{}` + bytes), `{"done": true}` at the end, or the
/// stream's error.
pub async fn read(context: CallContext, payload: Vec<u8>) -> Result<Vec<u8>, String> {
    let (head, _) = crate::storage::split(&payload)?;
    let n = pipe_number(&head)?;
    let reader = context
        .resources
        .shared::<Pipes, _>(|p| match p.ends.get(&n) {
            Some(End::Reader(r)) => Ok(Arc::clone(&r.0)),
            _ => Err(NO_SUCH.to_owned()),
        })?;
    let mut pieces = reader
        .try_lock()
        .map_err(|_| "the stream is being read already".to_owned())?;
    match pieces.recv().await {
        Some(Piece { chunk, taken }) => {
            if let Some(taken) = taken {
                let _ = taken.send(());
            }
            chunk.map(|bytes| answer(json!({}), &bytes))
        }
        None => Ok(answer(json!({ "done": true }), &[])),
    }
}

/// `pipe.cancel` `{pipe}`: the reader lets go (the writer's next write fails).
pub async fn cancel(context: CallContext, payload: Vec<u8>) -> Result<Vec<u8>, String> {
    let (head, _) = crate::storage::split(&payload)?;
    let n = pipe_number(&head)?;
    context.resources.shared::<Pipes, _>(|p| {
        if matches!(p.ends.get(&n), Some(End::Reader(_))) {
            p.ends.remove(&n);
        }
    });
    Ok(answer(json!({}), &[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A write end dropped before its close is an error at the reader, after what was written;
    /// a closed one is a clean end.
    #[tokio::test]
    async fn a_writer_dropped_unclosed_ends_its_stream_with_an_error() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let writer = Writer(Some(tx));
        let _ = writer.0.as_ref().map(|w| {
            w.send(Piece {
                chunk: Ok(b"a".to_vec()),
                taken: None,
            })
        });
        drop(writer);
        assert_eq!(rx.recv().await.map(|p| p.chunk), Some(Ok(b"a".to_vec())));
        assert!(matches!(rx.recv().await.map(|p| p.chunk), Some(Err(_))));
        assert!(rx.recv().await.is_none());

        let (tx, mut rx) = mpsc::unbounded_channel::<Piece>();
        let mut writer = Writer(Some(tx));
        drop(writer.0.take()); // closed
        drop(writer);
        assert!(rx.recv().await.is_none());
    }
}
