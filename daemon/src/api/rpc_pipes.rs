//! Bodies streamed between workers over RPC: a `ReadableStream` (or a `Request`'s or
//! `Response`'s body) in an RPC message crosses as a pipe, chunk by chunk, as Cloudflare's RPC
//! streams it, instead of being read whole into the message.
//!
//! - The sender's runtime opens a pipe with `pipe.open` (no payload): its write end goes among
//!   the sender's request's pipes (`{"pipe": n}`, its number there) and its read end into the
//!   daemon's registry of untaken ends under a random key (`{"key": k}`), which the message
//!   carries.
//! - The sender writes each chunk (at most [`MAX_CHUNK`]) with `pipe.write` `{pipe}` + bytes,
//!   answered once the reader has taken that chunk (so a chunk's bytes stay counted as its host
//!   call's payload, the link's `held`, until the reader has them: nothing else buffers), at most
//!   [`MAX_WRITES`] at once (a window, queued in the order they come: their first steps run in
//!   the link's router), and ends with `pipe.close` `{pipe, error?}` (with `error`, the reader's
//!   stream errors with it).
//! - The receiver's runtime takes the read end once with `pipe.take` `{key}` (into its own
//!   request's pipes, `{"pipe": m}`), reads with `pipe.read` `{pipe}` (the chunks waiting, joined
//!   up to [`MAX_READ`]; `{"done": true}` + nothing at the end; or the error) and lets go with
//!   `pipe.cancel` `{pipe}`.
//!
//! Guarantees: a read end is reached only by its key (128 random bits, named only in the one
//! message) and by the tenant that opened it; once taken, only through the taking request's
//! pipes. A request holds at most [`MAX_PIPES`] ends of each kind; one pipe has at most
//! [`MAX_WRITES`] writes and one read at a time (they are stream continuations, taking no place
//! among the request's host calls in flight, `stockade_ipc::host_calls`). A write end dropped without
//! `pipe.close` (its request ended first), or closed with an error, ends the stream with an
//! error, never as if complete; an untaken read end then keeps the error alone, the chunks that
//! waited in it dropped at once (so nothing uncounted stays behind a gone request). A read end dropped (its
//! request ended, or cancelled: a read in flight ends too) fails the writer's write at once. A
//! read end nobody takes goes after [`UNTAKEN_FOR`] (it holds no chunk by then unless its
//! writer's request is still alive and waiting), and a tenant has at most [`MAX_UNTAKEN`].
//! Trusts: nothing in the payloads.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stockade_cordon::TenantId;
use tokio::sync::{mpsc, oneshot, Notify};

use crate::supervisor::CallContext;

/// The most pipe ends one request holds at once, of each kind (written, read): a caller may
/// hold its arguments' write ends while it takes its result's read ends.
pub const MAX_PIPES: usize = 64;

/// The largest chunk one `pipe.write` carries (the runtime writes at most this).
pub const MAX_CHUNK: usize = 256 << 10;

/// The writes one pipe may have waiting for the reader at once (the runtime's window): a
/// request's 64 pipes so hold at most 64 MiB, counted as their writes' host-call memory.
pub const MAX_WRITES: usize = 4;

/// The most bytes one `pipe.read` answers (the chunks waiting, joined).
pub const MAX_READ: usize = 1 << 20;

/// How often the untaken read ends are looked over for expiry (a write waiting in one fails
/// then, its sender's pump with it).
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// How long a read end waits to be taken.
pub const UNTAKEN_FOR: Duration = Duration::from_secs(60);

/// The most read ends one tenant has waiting to be taken.
pub const MAX_UNTAKEN: usize = 1024;

/// One chunk on its way, or the stream's error; `taken` tells its writer the reader has it.
struct Piece {
    chunk: Result<Vec<u8>, String>,
    taken: Option<oneshot::Sender<()>>,
}

/// A read end waiting to be taken: its tenant, when it came (with a sequence number, its place
/// in [`Registry::order`]) and its pieces.
struct Untaken {
    tenant: TenantId,
    since: (Instant, u64),
    pieces: mpsc::UnboundedReceiver<Piece>,
}

/// The read ends waiting to be taken (the daemon's), by key; their keys in the order they came
/// (for expiry) and how many each tenant has.
#[derive(Default)]
struct Registry {
    ends: HashMap<String, Untaken>,
    order: BTreeMap<(Instant, u64), String>,
    per_tenant: HashMap<TenantId, usize>,
    seq: u64,
}

impl Registry {
    /// Keeps read end `pieces` of `tenant` under `key`, unless the tenant has [`MAX_UNTAKEN`].
    fn insert(
        &mut self,
        key: String,
        tenant: TenantId,
        pieces: mpsc::UnboundedReceiver<Piece>,
        now: Instant,
    ) -> Result<(), String> {
        self.expire(now);
        let waiting = self.per_tenant.entry(tenant).or_default();
        if *waiting >= MAX_UNTAKEN {
            return Err(format!(
                "{MAX_UNTAKEN} streams sent to other workers wait to be taken already"
            ));
        }
        *waiting += 1;
        self.seq += 1;
        let since = (now, self.seq);
        self.order.insert(since, key.clone());
        self.ends.insert(
            key,
            Untaken {
                tenant,
                since,
                pieces,
            },
        );
        Ok(())
    }

    /// Drops the ends older than [`UNTAKEN_FOR`].
    fn expire(&mut self, now: Instant) {
        while let Some((&(since, _), key)) = self.order.first_key_value() {
            if now.duration_since(since) < UNTAKEN_FOR {
                break;
            }
            let key = key.clone();
            self.remove(&key);
        }
    }

    fn remove(&mut self, key: &str) -> Option<Untaken> {
        let end = self.ends.remove(key)?;
        self.order.remove(&end.since);
        if let Some(n) = self.per_tenant.get_mut(&end.tenant) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_tenant.remove(&end.tenant);
            }
        }
        Some(end)
    }
}

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);

fn registry<R>(f: impl FnOnce(&mut Registry) -> R) -> R {
    let mut registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    f(registry.get_or_insert_with(Registry::default))
}

/// A write end: its pieces' way (`None` once closed), its key, and its writes in flight.
struct Writer {
    pieces: Option<mpsc::UnboundedSender<Piece>>,
    key: String,
    writing: Arc<std::sync::atomic::AtomicUsize>,
}

/// Pieces that are only `why`, the stream's error.
fn only_error(why: String) -> mpsc::UnboundedReceiver<Piece> {
    let (tx, rx) = mpsc::unbounded_channel();
    let _ = tx.send(Piece {
        chunk: Err(why),
        taken: None,
    });
    rx
}

impl Writer {
    /// Ends the stream with `why`. A reader that took the end sees the error after the chunks
    /// before it; an end still untaken keeps the error alone, its chunks dropped now (their
    /// writes fail: nothing of a failed stream waits uncounted for a reader that may never come).
    fn fail(&mut self, why: String) {
        let Some(pieces) = self.pieces.take() else {
            return;
        };
        let dropped = registry(|r| {
            r.ends
                .get_mut(&self.key)
                .map(|u| std::mem::replace(&mut u.pieces, only_error(why.clone())))
        });
        match dropped {
            Some(chunks) => drop(chunks),
            None => {
                let _ = pieces.send(Piece {
                    chunk: Err(why),
                    taken: None,
                });
            }
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Its request ended before the stream did: an error, not an end.
        self.fail("the sending worker's request ended before its stream did".into());
    }
}

/// A read end taken by a request, and the signal that ends a read in flight when it is
/// cancelled.
struct Reader {
    pieces: Arc<tokio::sync::Mutex<Pending>>,
    cancelled: Arc<Notify>,
}

/// A read end's pieces, and one taken off them that the last read could not deliver (an end or
/// an error after chunks, or a chunk past [`MAX_READ`]).
struct Pending {
    pieces: mpsc::UnboundedReceiver<Piece>,
    peeked: Option<Piece>,
}

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
        let writer = matches!(end, End::Writer(_));
        let same = self
            .ends
            .values()
            .filter(|e| matches!(e, End::Writer(_)) == writer)
            .count();
        if same >= MAX_PIPES {
            let (kind, way) = if writer {
                ("sent", "to")
            } else {
                ("received", "from")
            };
            return Err(format!(
                "this request holds {MAX_PIPES} streams {kind} {way} other workers already"
            ));
        }
        self.next = self.next.wrapping_add(1).max(1);
        self.ends.insert(self.next, end);
        Ok(self.next)
    }
}

/// Starts the sweep of expired untaken ends on the runtime of the first `pipe.open` (the
/// daemon's), once.
fn sweeping() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        tokio::spawn(async {
            let mut every = tokio::time::interval(SWEEP_EVERY);
            loop {
                every.tick().await;
                registry(|r| r.expire(Instant::now()));
            }
        });
    });
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
    sweeping();
    let key = super::rpc_targets::random_key()?;
    let (writer, pieces) = mpsc::unbounded_channel();
    registry(|r| r.insert(key.clone(), context.tenant, pieces, Instant::now()))?;
    let writer = Writer {
        pieces: Some(writer),
        key,
        writing: Arc::default(),
    };
    let key = writer.key.clone();
    // Refused here, the writer goes at once and takes its registry entry with it.
    let number = context
        .resources
        .shared::<Pipes, _>(|p| p.insert(End::Writer(writer)))?;
    Ok(answer(json!({ "pipe": number, "key": key }), &[]))
}

/// One of a write end's writes in flight, counted off when it is over, however it ends.
struct Writing(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Writing {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// `pipe.write` `{pipe}` + a chunk: answered `{}` once the reader took it.
pub async fn write(context: CallContext, payload: Vec<u8>) -> Result<Vec<u8>, String> {
    const GONE: &str = "the receiving worker let go of the stream";
    // The chunk stays in the payload's buffer, counted as the call's payload until it is taken.
    let (head, bytes) = crate::storage::split_owned(payload)?;
    let n = pipe_number(&head)?;
    if bytes.len() > MAX_CHUNK {
        return Err(format!("a stream's chunk is at most {MAX_CHUNK} bytes"));
    }
    let (taken, took) = oneshot::channel();
    let piece = Piece {
        chunk: Ok(bytes),
        taken: Some(taken),
    };
    // Queued at once (before the handler's first wait): chunks keep their order.
    let writing = context
        .resources
        .shared::<Pipes, _>(|p| match p.ends.get(&n) {
            Some(End::Writer(w)) => {
                let pieces = w.pieces.as_ref().ok_or("the stream was closed")?;
                let ordering = std::sync::atomic::Ordering::AcqRel;
                if w.writing.fetch_add(1, ordering) >= MAX_WRITES {
                    w.writing.fetch_sub(1, ordering);
                    return Err("the stream has as many writes waiting as it may");
                }
                let writing = Writing(Arc::clone(&w.writing));
                pieces.send(piece).map_err(|_| GONE)?;
                Ok(writing)
            }
            _ => Err(NO_SUCH),
        })?;
    let took = took.await;
    drop(writing);
    took.map_err(|_| GONE.to_owned())?;
    Ok(answer(json!({}), &[]))
}

/// `pipe.close` `{pipe, error?}`: the stream ends (with `error`, as that error).
pub async fn close(context: CallContext, payload: Vec<u8>) -> Result<Vec<u8>, String> {
    let (head, _) = crate::storage::split(&payload)?;
    let n = pipe_number(&head)?;
    let why = head.get("error").map(|error| {
        error
            .as_str()
            .unwrap_or("the stream failed")
            .chars()
            .take(stockade_ipc::limits::MAX_ERROR_MESSAGE_LEN / 4)
            .collect::<String>()
    });
    let mut writer = context
        .resources
        .shared::<Pipes, _>(|p| match p.ends.remove(&n) {
            Some(End::Writer(w)) => Ok(w),
            Some(other) => {
                p.ends.insert(n, other);
                Err(NO_SUCH.to_owned())
            }
            None => Err(NO_SUCH.to_owned()),
        })?;
    match why {
        Some(why) => writer.fail(why),
        // The end: the reader sees it after the last chunk (taken or not yet; an untaken end
        // holds none, each write being taken before the close).
        None => drop(writer.pieces.take()),
    }
    Ok(answer(json!({}), &[]))
}

/// `pipe.take` `{key}`: the read end the key names, once, by its tenant; `{"pipe": m}`.
pub async fn take(context: CallContext, payload: Vec<u8>) -> Result<Vec<u8>, String> {
    let (head, _) = crate::storage::split(&payload)?;
    let key = head.get("key").and_then(Value::as_str).unwrap_or("");
    let pieces = registry(|r| {
        r.expire(Instant::now());
        match r.ends.get(key) {
            Some(u) if u.tenant == context.tenant => r.remove(key).map(|u| u.pieces),
            _ => None,
        }
    })
    .ok_or("no such stream waits: it was taken already, or its sender's request is over")?;
    let reader = Reader {
        pieces: Arc::new(tokio::sync::Mutex::new(Pending {
            pieces,
            peeked: None,
        })),
        cancelled: Arc::new(Notify::new()),
    };
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
    let (pieces, cancelled) = context
        .resources
        .shared::<Pipes, _>(|p| match p.ends.get(&n) {
            Some(End::Reader(r)) => Ok((Arc::clone(&r.pieces), Arc::clone(&r.cancelled))),
            _ => Err(NO_SUCH.to_owned()),
        })?;
    let mut pieces = pieces
        .try_lock_owned()
        .map_err(|_| "the stream is being read already".to_owned())?;
    let read = loop {
        let piece = match pieces.peeked.take() {
            Some(piece) => Some(piece),
            None => tokio::select! {
                biased;
                () = cancelled.notified() => return Err("the stream was cancelled".into()),
                piece = pieces.pieces.recv() => piece,
            },
        };
        match piece {
            // A chunk whose write was dropped (its request ended: an error follows) is not
            // delivered.
            Some(Piece { taken: Some(t), .. }) if t.is_closed() => continue,
            Some(chunk @ Piece { chunk: Ok(_), .. }) => {
                pieces.peeked = Some(chunk);
                return Ok(waiting_chunks(&mut pieces));
            }
            Some(Piece { chunk: Err(e), .. }) => break Err(e),
            None => break Ok(answer(json!({ "done": true }), &[])),
        }
    };
    // The stream is over: its end leaves the request's pipes (a place for another).
    context.resources.shared::<Pipes, _>(|p| {
        if matches!(p.ends.get(&n), Some(End::Reader(_))) {
            p.ends.remove(&n);
        }
    });
    read
}

/// The chunks waiting (up to [`MAX_READ`] in all, each acknowledged), as one answer; an end or
/// an error waiting stays for the next read.
fn waiting_chunks(reader: &mut Pending) -> Vec<u8> {
    let mut out = crate::storage::frame(&json!({}), &[]);
    let mut read = 0;
    while read < MAX_READ {
        let next = match reader.peeked.take() {
            Some(piece) => piece,
            None => match reader.pieces.try_recv() {
                Ok(piece) => piece,
                Err(_) => break,
            },
        };
        match next {
            Piece {
                chunk: Ok(bytes),
                taken,
            } if read + bytes.len() <= MAX_READ => {
                if taken.as_ref().is_some_and(|t| t.is_closed()) {
                    continue; // its writer is gone: an error follows
                }
                read += bytes.len();
                out.extend_from_slice(&bytes);
                if let Some(taken) = taken {
                    let _ = taken.send(());
                }
            }
            other => {
                reader.peeked = Some(other);
                break;
            }
        }
    }
    out
}

/// `pipe.cancel` `{pipe}`: the reader lets go (a read in flight ends; the writer's write fails).
pub async fn cancel(context: CallContext, payload: Vec<u8>) -> Result<Vec<u8>, String> {
    let (head, _) = crate::storage::split(&payload)?;
    let n = pipe_number(&head)?;
    let reader = context.resources.shared::<Pipes, _>(|p| {
        if matches!(p.ends.get(&n), Some(End::Reader(_))) {
            p.ends.remove(&n)
        } else {
            None
        }
    });
    if let Some(End::Reader(reader)) = reader {
        // A read in flight lets go of the receiver too (its permit is kept for a read about
        // to wait).
        reader.cancelled.notify_one();
    }
    Ok(answer(json!({}), &[]))
}

#[cfg(test)]
mod tests;
