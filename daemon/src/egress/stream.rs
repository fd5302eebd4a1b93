//! Outbound response bodies that stream: an answer's head reaches tenant code as soon as it comes,
//! with what of the body came with it (a body of known length up to [`FIRST_PART`] whole), and the
//! rest is handed over piece by piece (`fetch.read`), so a large download or an upstream's event
//! stream (an LLM API's tokens, server-sent events, a long poll) reaches the isolate as it comes,
//! without the supervisor holding it whole or waiting for pieces that have not been sent.
//! The rest of a body is a [`Source`]: an upstream's connection, or the body a worker streams
//! (a `globalOutbound: {"worker": id}` delivery, see `outbound`, or a service binding's `fetch`,
//! `api::service_fetch`), read the same way.
//!
//! Guarantees: the rest of a body is kept in the request's own `Resources` (no other request
//! can name it; it is dropped, and its connection closed or its worker's request cancelled, when
//! the request ends, or when `fetch.cancel` names it, a read waiting for it included); each read
//! answers at most [`MAX_READ`] bytes, never an empty piece before the end (an empty answer IS
//! the end); every piece passes the request's `Scrubber` (a secret split across pieces is still
//! replaced); a body is cut at [`MAX_STREAMED_BODY`] bytes with a typed error; the hop's audit
//! record is written when the stream is over (read to its end, failed, cancelled, or dropped with
//! its request), with every byte received and the whole time taken.
//!
//! Trusts: the upstream's bytes only as far as the scrubber and the caps go.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use stockade_ipc::limits::MAX_BODY_LEN;
use tokio::sync::{Mutex, Notify};

use super::audit::{Audit, Record};
use super::gateway::FetchError;
use super::scrub::{scrub_str, Scrubber};
use crate::config::SecretValue;
use crate::supervisor::body::BodyStream;
use crate::supervisor::Resources;

/// The most of an answer's body that comes with its head: a body whose `Content-Length` is at
/// most this is read whole before the head is answered; of any other, what has come already.
pub const FIRST_PART: usize = 64 << 10;
/// The most one `fetch.read` answers.
pub const MAX_READ: usize = 256 << 10;
/// The longest body a stream may carry.
pub const MAX_STREAMED_BODY: u64 = 1 << 30;

/// A streamed answer's audit record, written when the stream is over.
pub struct PendingAudit {
    pub audit: Arc<Audit>,
    pub index: usize,
    pub record: Record,
    pub started: Instant,
    /// Values injected in the chain, scrubbed from the record's host, path and reason.
    pub injected: Vec<SecretValue>,
    /// The request body's bytes sent so far, when it streams (else the record has them).
    pub sent: Option<Arc<AtomicU64>>,
}

/// Where the rest of an answer comes from, chunk by chunk.
pub type Source = Pin<Box<dyn Stream<Item = Result<Bytes, FetchError>> + Send>>;

/// The rest of an upstream's answer, from its connection.
pub fn from_response(response: reqwest::Response) -> Source {
    Box::pin(response.bytes_stream().map_err(upstream_error))
}

/// The rest of a worker's answer, as its fetch handler writes it (`body.write`); dropping it
/// cancels the worker's request.
pub fn from_worker(body: BodyStream) -> Source {
    Box::pin(
        body.into_stream()
            .map(|chunk| chunk.map_err(|cut| FetchError::WorkerBody(cut.0))),
    )
}

/// The rest of an answer, kept between reads.
pub struct Upstream {
    source: Source,
    scrubber: Scrubber,
    /// Bytes received but not handed out yet (a piece larger than [`MAX_READ`]).
    pending: Bytes,
    read: u64,
    ended: bool,
    /// Why the stream failed, for its audit record.
    failure: Option<String>,
    audit: Option<PendingAudit>,
}

impl Upstream {
    /// The rest of an answer, `read` bytes of it answered already; audited with `audit` when
    /// over (a service binding's answer is not egress, and has none).
    pub fn new(
        source: Source,
        scrubber: Scrubber,
        read: usize,
        audit: Option<PendingAudit>,
    ) -> Upstream {
        Upstream {
            source,
            scrubber,
            pending: Bytes::new(),
            read: read as u64,
            ended: false,
            failure: None,
            audit,
        }
    }
}

impl Drop for Upstream {
    /// The stream is over, however it ended: its hop is audited with what it received.
    fn drop(&mut self) {
        let Some(pending) = self.audit.take() else {
            return;
        };
        let mut record = pending.record;
        record.bytes_in = self.read;
        if let Some(sent) = &pending.sent {
            record.bytes_out = sent.load(Ordering::Relaxed);
        }
        record.ms = pending.started.elapsed().as_millis() as u64;
        if !self.ended {
            let why = self
                .failure
                .take()
                .unwrap_or_else(|| "the body was not read to its end".into());
            record.reason = Some(scrub_str(&why, &pending.injected));
        }
        if !pending.injected.is_empty() {
            record.host = scrub_str(&record.host, &pending.injected);
            record.path = scrub_str(&record.path, &pending.injected);
        }
        pending.audit.record(pending.index, record);
    }
}

fn upstream_error(e: reqwest::Error) -> FetchError {
    if e.is_timeout() {
        FetchError::Timeout
    } else {
        FetchError::Upstream(e.without_url().to_string())
    }
}

/// Reads what of an answer's body comes with its head: `(the whole body, None)` when it ended,
/// else `(its first part, the response to read the rest from)` (see [`first_part`] for the
/// rule). Without `may_stream` the body is read whole, capped at `MAX_BODY_LEN`.
pub async fn read_start(
    response: reqwest::Response,
    may_stream: bool,
) -> Result<(Vec<u8>, Option<reqwest::Response>), FetchError> {
    if !may_stream {
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BODY_LEN as u64)
        {
            return Err(FetchError::BodyTooLarge);
        }
        return read_whole(response, MAX_BODY_LEN).await.map(|b| (b, None));
    }
    if response
        .content_length()
        .is_some_and(|n| n <= FIRST_PART as u64)
    {
        // The length is known and small: the body is on its way (it was sent with the head or
        // right behind it), so waiting for it costs nothing an answer needs, and it comes whole
        // with the head, saving tenant code a `fetch.read` round trip for most API answers.
        return read_whole(response, FIRST_PART).await.map(|b| (b, None));
    }
    first_part(response).await
}

/// The rule for an answer that may stream, its length unknown (chunked, or ended by the close)
/// or over [`FIRST_PART`]: the head is answered at once, with what of the body has already come
/// (up to [`FIRST_PART`]), and nothing is waited for. An event stream, a long poll or a progress
/// stream sends its head and then small pieces as they happen, maybe minutes apart: waiting
/// for a fill level (or the end) would hold tenant code's `fetch()` until then, and any timed
/// wait would be a guess that either delays every such answer or still misses a slow one.
/// "Already come" includes what the connection's task has read but not handed on yet: it hands
/// the body over one frame at a time (the next only once this one is taken), so a small chunked
/// answer's end, though in the same packet, shows only after that task runs again. When a poll
/// finds nothing, the task is yielded once (no timer, no I/O waited on) and polled again; only a
/// second empty poll answers the head. A small chunked answer so still comes whole with its head
/// (saving tenant code a `fetch.read` round trip: without the yield, `egress-latency` with a
/// chunked upstream saw none of 3500 come whole), and an event stream's head costs a yield.
/// Dropping a pending `chunk()` loses nothing: a chunk not ready yet is the next read's.
async fn first_part(
    mut response: reqwest::Response,
) -> Result<(Vec<u8>, Option<reqwest::Response>), FetchError> {
    use futures_util::FutureExt;
    let mut body = Vec::new();
    let mut yielded = false;
    while body.len() < FIRST_PART {
        match response.chunk().now_or_never() {
            Some(Ok(Some(chunk))) => {
                body.extend_from_slice(&chunk);
                yielded = false;
            }
            Some(Ok(None)) => return Ok((body, None)),
            Some(Err(e)) => return Err(upstream_error(e)),
            None if yielded => break, // nothing more has come
            None => {
                tokio::task::yield_now().await;
                yielded = true;
            }
        }
    }
    Ok((body, Some(response)))
}

/// An answer's whole body, at most `cap` bytes (else `BodyTooLarge`).
async fn read_whole(mut response: reqwest::Response, cap: usize) -> Result<Vec<u8>, FetchError> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > cap {
                    return Err(FetchError::BodyTooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => return Err(upstream_error(e)),
        }
    }
}

/// A stream as the request's `Resources` hold it: a read holds the lock while it waits, and a
/// cancel ends that wait.
struct Held {
    upstream: Mutex<Option<Upstream>>,
    cancelled: Notify,
}

/// Keeps the rest of a worker's answer (`source`, `first` bytes of it answered already; nothing
/// to scrub) in the request's `resources`, read with `fetch.read`: its number, or `None` when
/// they are full (then it is dropped, audited, and the worker's request ends).
pub fn hold_answer(
    resources: &Resources,
    source: Source,
    first: usize,
    audit: Option<PendingAudit>,
) -> Option<u32> {
    hold(
        resources,
        Upstream::new(source, Scrubber::new(&[]), first, audit),
    )
}

/// Keeps `upstream` in the request's `resources`: its number, or `None` when they are full
/// (then it is dropped, and audited).
pub fn hold(resources: &Resources, upstream: Upstream) -> Option<u32> {
    resources.insert(Arc::new(Held {
        upstream: Mutex::new(Some(upstream)),
        cancelled: Notify::new(),
    }))
}

/// `fetch.read`: the next piece of stream `id` of this request (empty at the end).
pub async fn read_next(resources: &Resources, payload: &[u8]) -> Result<Vec<u8>, FetchError> {
    let id = stream_id(payload)?;
    let held = resources
        .take::<Arc<Held>>(id)
        .ok_or(FetchError::NoStream)?;
    resources.put_back(id, Arc::clone(&held));
    let mut guard = held.upstream.lock().await;
    let upstream = guard.as_mut().ok_or(FetchError::NoStream)?;
    let piece = tokio::select! {
        piece = next_piece(upstream) => piece,
        () = held.cancelled.notified() => Err(FetchError::NoStream),
    };
    match &piece {
        Ok(p) if !p.is_empty() => return piece,
        Ok(_) => {}
        Err(e) => upstream.failure = Some(e.to_string()),
    }
    // Over: the stream is let go of (and audited).
    *guard = None;
    drop(guard);
    drop(resources.take::<Arc<Held>>(id));
    piece
}

/// `fetch.cancel`: drops stream `id` (its connection closes, its worker's request is
/// cancelled), a read waiting for it included.
pub fn cancel(resources: &Resources, payload: &[u8]) -> Result<Vec<u8>, FetchError> {
    let id = stream_id(payload)?;
    if let Some(held) = resources.take::<Arc<Held>>(id) {
        held.cancelled.notify_one();
        if let Ok(mut upstream) = held.upstream.try_lock() {
            *upstream = None;
        }
    }
    Ok(Vec::new())
}

fn stream_id(payload: &[u8]) -> Result<u32, FetchError> {
    let id: [u8; 4] = payload.try_into().map_err(|_| FetchError::NoStream)?;
    Ok(u32::from_le_bytes(id))
}

async fn next_piece(upstream: &mut Upstream) -> Result<Vec<u8>, FetchError> {
    loop {
        if upstream.ended {
            return Ok(Vec::new());
        }
        if upstream.pending.is_empty() {
            match upstream.source.next().await {
                Some(Ok(chunk)) => {
                    upstream.read += chunk.len() as u64;
                    if upstream.read > MAX_STREAMED_BODY {
                        return Err(FetchError::StreamTooLarge);
                    }
                    upstream.pending = chunk;
                }
                None => {
                    upstream.ended = true;
                    return Ok(upstream.scrubber.finish());
                }
                Some(Err(e)) => return Err(e),
            }
        }
        let take = upstream.pending.len().min(MAX_READ);
        let piece = upstream.pending.split_to(take);
        let out = upstream.scrubber.push(&piece);
        // The scrubber may hold a whole small piece back; an empty answer would read as the end.
        if !out.is_empty() {
            return Ok(out);
        }
    }
}

/// Chunks of an upload queued towards the upstream before `fetch.write` waits.
const UPLOAD_QUEUE: usize = 4;

pub type UploadItem = Result<Bytes, std::io::Error>;

/// A request body as the caller feeds it, for a worker's fetch handler.
pub type UploadStream = Pin<Box<dyn Stream<Item = UploadItem> + Send>>;

/// A request body tenant code feeds (`fetch.write`) while its `fetch` waits: the two calls may
/// come in either order, so whichever comes first makes the channel.
pub struct Upload {
    tx: Option<tokio::sync::mpsc::Sender<UploadItem>>,
    rx: Option<tokio::sync::mpsc::Receiver<UploadItem>>,
}

impl Upload {
    fn new() -> Upload {
        let (tx, rx) = tokio::sync::mpsc::channel(UPLOAD_QUEUE);
        Upload {
            tx: Some(tx),
            rx: Some(rx),
        }
    }
}

/// The chunks of upload `id` as they are fed (once: a second fetch naming it fails); what a
/// service binding's `fetch` hands its target as the request's streamed body. The upload may
/// have been fed whole already (its fetch waited for a place among the request's host calls
/// while `fetch.write`, which takes none, went ahead): its chunks wait in the channel, and the
/// name is let go now that the reader has them.
pub fn upload_stream(
    resources: &Resources,
    id: u32,
) -> Result<impl futures_util::Stream<Item = UploadItem> + Send + 'static, FetchError> {
    if resources.shared(|refused: &mut RefusedUploads| refused.0.contains(&id)) {
        return Err(FetchError::TooManyUploads);
    }
    let (rx, fed) = resources
        .with_named(id, Upload::new, |u| (u.rx.take(), u.tx.is_none()))
        .ok_or_else(|| no_upload(resources, id))?;
    let rx = rx.ok_or(FetchError::NoStream)?;
    if fed {
        resources.forget_named(id);
    }
    Ok(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

/// The uploads whose feeding was refused for want of room (the request fed as many as it may at
/// once): their fetches fail the same way, whenever they come, rather than wait for chunks no
/// one will send.
#[derive(Default)]
struct RefusedUploads(std::collections::HashSet<u32>);

/// Why upload `id` has no channel: the request feeds as many bodies as it may at once, or the
/// upload ended (or never was).
fn no_upload(resources: &Resources, id: u32) -> FetchError {
    if resources.named_full(id) {
        FetchError::TooManyUploads
    } else {
        FetchError::NoStream
    }
}

/// Lets go of upload `id` if nothing took its body (the request that named it was refused before
/// it started): the feeder's next `fetch.write` fails instead of waiting for a reader forever.
pub fn release_untaken_upload(resources: &Resources, id: u32) {
    if resources
        .with_named(id, Upload::new, |u| u.rx.is_some())
        .unwrap_or(false)
    {
        resources.forget_named(id);
    }
}

/// The body of upload `id` for the HTTP client (once: a second fetch naming it fails), held to
/// `length` when the runtime gave one (`upload_length`).
pub fn upload_body(
    resources: &Resources,
    id: u32,
    length: Option<u64>,
) -> Result<reqwest::Body, FetchError> {
    let stream = upload_stream(resources, id)?;
    Ok(match length {
        Some(length) => reqwest::Body::wrap_stream(super::upload_length::exactly(stream, length)),
        None => reqwest::Body::wrap_stream(stream),
    })
}

/// `fetch.write`: `u32 LE id`, a kind byte (0: a chunk follows, 1: the end, 2: the body
/// failed), then the chunk. Answered once the chunk is queued towards the upstream.
pub async fn write(resources: &Resources, payload: &[u8]) -> Result<Vec<u8>, FetchError> {
    let (id, rest) = payload.split_at_checked(4).ok_or(FetchError::NoStream)?;
    let id = stream_id(id)?;
    let (&kind, chunk) = rest.split_first().ok_or(FetchError::NoStream)?;
    let Some(fed) = resources.with_named(id, Upload::new, |u| {
        let tx = match kind {
            0 => u.tx.clone(),
            _ => u.tx.take(),
        };
        (tx, u.rx.is_none())
    }) else {
        let refused = no_upload(resources, id);
        if matches!(refused, FetchError::TooManyUploads) {
            resources.shared(|r: &mut RefusedUploads| r.0.insert(id));
        }
        return Err(refused);
    };
    let (tx, taken) = fed;
    let tx = tx.ok_or(FetchError::NoStream)?;
    let gone = || FetchError::Upstream("the upstream stopped reading the request body".into());
    match kind {
        0 if !chunk.is_empty() => tx
            .send(Ok(Bytes::copy_from_slice(chunk)))
            .await
            .map_err(|_| gone())?,
        0 | 1 => {} // the last sender is dropped: the body ends
        _ => {
            let why = std::io::Error::other("the request body's stream failed");
            let _ = tx.send(Err(why)).await;
        }
    }
    // Ended: the name is let go once its reader has the channel (else `upload_stream` does).
    if kind != 0 && taken {
        resources.forget_named(id);
    }
    Ok(Vec::new())
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
