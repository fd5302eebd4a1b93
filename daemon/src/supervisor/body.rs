//! Streamed bodies: a request body the worker reads from the client chunk by chunk, and a
//! response body it writes to the client chunk by chunk, both through host calls the link
//! answers itself (`body.read`, `body.write`, `body.end`), never through the registry.
//!
//! Guarantees:
//! - a read answers the next chunk of the client's upload, at most [`MAX_CHUNK`] bytes (a larger
//!   chunk is split), and an empty answer at the end; an upload larger than its cap ends as an
//!   error, never as a truncated body taken for a whole one;
//! - a write is answered once the chunk is queued to the client, and the queue holds at most
//!   [`QUEUE`] chunks: a slow client slows the worker's writes (backpressure), and a client that
//!   went away fails them;
//! - a response body ends cleanly only through `body.end` with an empty payload
//!   ([`BodyOut::end`]); `body.end` with a message, a request that finishes without `body.end`,
//!   or its senders all gone any other way (a cut whose task was aborted, a dead worker) cuts
//!   the body (the client sees an aborted response, not a short one);
//! - chunks reach the client in the order their writes were first polled.
//!
//! Trusts: nothing in the payloads (tenant code writes them); the HTTP layer for the client's
//! bytes.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::sync::{mpsc, Mutex};

/// The largest chunk one `body.read` answers.
pub const MAX_CHUNK: usize = 256 << 10;

/// Why a body whose senders all went without [`BodyOut::end`] is cut.
const UNENDED: &str = "the worker's response ended before its body did";

/// Chunks queued towards the client before `body.write` waits.
pub const QUEUE: usize = 4;

type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, String>> + Send>>;

/// The rest of a client's upload, read by the worker (`body.read`). Cloned handles share it.
#[derive(Clone)]
pub struct BodyIn(Arc<Mutex<Upload>>);

struct Upload {
    stream: ByteStream,
    /// Bytes of a chunk larger than [`MAX_CHUNK`] not yet handed out.
    rest: Bytes,
    /// Bytes handed out so far, and the most the upload may have.
    read: usize,
    cap: usize,
    done: bool,
}

impl BodyIn {
    /// The upload `stream`, of which the worker may read at most `cap` bytes.
    pub fn new<S, E>(stream: S, cap: usize) -> BodyIn
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: std::fmt::Display,
    {
        let stream = stream.map(|chunk| chunk.map_err(|e| e.to_string()));
        BodyIn(Arc::new(Mutex::new(Upload {
            stream: Box::pin(stream),
            rest: Bytes::new(),
            read: 0,
            cap,
            done: false,
        })))
    }

    /// The next chunk (empty at the end), or why the upload failed.
    pub async fn read(&self) -> Result<Vec<u8>, String> {
        let mut upload = self.0.lock().await;
        if upload.rest.is_empty() && !upload.done {
            loop {
                match upload.stream.next().await {
                    Some(Ok(chunk)) if chunk.is_empty() => continue,
                    Some(Ok(chunk)) => {
                        upload.rest = chunk;
                        break;
                    }
                    Some(Err(e)) => {
                        upload.done = true;
                        return Err(format!("the request body could not be read: {e}"));
                    }
                    None => {
                        upload.done = true;
                        break;
                    }
                }
            }
        }
        let take = upload.rest.len().min(MAX_CHUNK);
        let chunk = upload.rest.split_to(take);
        upload.read += chunk.len();
        if upload.read > upload.cap {
            upload.done = true;
            upload.rest = Bytes::new();
            return Err(format!(
                "the request body is larger than {} bytes",
                upload.cap
            ));
        }
        Ok(chunk.to_vec())
    }
}

/// Why a streamed response body was cut.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct BodyCut(pub String);

/// The sending side of a response body streamed to the client (`body.write`, `body.end`).
#[derive(Clone)]
pub struct BodyOut {
    tx: mpsc::Sender<Result<Bytes, BodyCut>>,
    shared: Arc<Ends>,
}

/// What the two sides share.
#[derive(Default)]
struct Ends {
    /// The turn writes take: a channel's senders that wait for room push their values in
    /// whatever order their tasks run once given room, so each write first takes the turn (a
    /// fair lock: in the order first asked) and holds it until its chunk is in the queue.
    turn: Mutex<()>,
    /// Set by [`BodyOut::end`]: the senders' going is then the body's end, not a cut.
    ended: AtomicBool,
}

/// The receiving side: what the HTTP layer sends to the client.
pub struct BodyStream {
    rx: mpsc::Receiver<Result<Bytes, BodyCut>>,
    shared: Arc<Ends>,
}

/// A connected pair.
pub fn channel() -> (BodyOut, BodyStream) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let shared = Arc::new(Ends::default());
    (
        BodyOut {
            tx,
            shared: Arc::clone(&shared),
        },
        BodyStream { rx, shared },
    )
}

impl BodyOut {
    /// Queues `chunk` for the client; fails if the client went away. Writes reach the client in
    /// the order they were first polled (the link polls each once as its host call arrives):
    /// each takes the turn first, unconstrained by Tokio's cooperative budget, which could
    /// otherwise end a first poll before the write asked for its turn.
    pub async fn write(&self, chunk: Vec<u8>) -> Result<(), String> {
        if chunk.is_empty() {
            return Ok(());
        }
        tokio::task::unconstrained(self.send(Ok(Bytes::from(chunk))))
            .await
            .map_err(|_| "the client went away".to_owned())
    }

    /// Cuts the body: the client sees an aborted response (after the writes asked before).
    pub async fn cut(&self, why: String) {
        let _ = tokio::task::unconstrained(self.send(Err(BodyCut(why)))).await;
    }

    /// The body is complete (`body.end` with an empty payload): once the writes still in
    /// flight have queued their chunks (they hold the other senders), the client's body ends.
    pub fn end(self) {
        self.shared.ended.store(true, Ordering::Release);
    }

    async fn send(&self, item: Result<Bytes, BodyCut>) -> Result<(), ()> {
        let _turn = self.shared.turn.lock().await;
        self.tx.send(item).await.map_err(|_| ())
    }
}

impl BodyStream {
    /// The body as a stream for the HTTP layer: its chunks, then its end, or a cut (an error,
    /// then nothing) when its senders went without [`BodyOut::end`].
    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes, BodyCut>> + Send + 'static {
        futures_util::stream::unfold(Some(self), |state| async move {
            let mut body = state?;
            match body.rx.recv().await {
                Some(Ok(chunk)) => Some((Ok(chunk), Some(body))),
                Some(Err(cut)) => Some((Err(cut), None)),
                None if body.shared.ended.load(Ordering::Acquire) => None,
                None => Some((Err(BodyCut(UNENDED.into())), None)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future as _;

    use super::*;

    fn upload(chunks: Vec<Result<&'static [u8], &'static str>>, cap: usize) -> BodyIn {
        let items: Vec<Result<Bytes, String>> = chunks
            .into_iter()
            .map(|c| c.map(Bytes::from_static).map_err(String::from))
            .collect();
        BodyIn::new(futures_util::stream::iter(items), cap)
    }

    #[tokio::test]
    async fn reads_chunks_then_an_empty_end_and_skips_empty_chunks() {
        let body = upload(vec![Ok(b"ab"), Ok(b""), Ok(b"c")], 10);
        assert_eq!(body.read().await, Ok(b"ab".to_vec()));
        assert_eq!(body.read().await, Ok(b"c".to_vec()));
        assert_eq!(body.read().await, Ok(vec![]));
        assert_eq!(body.read().await, Ok(vec![]));
    }

    #[tokio::test]
    async fn splits_large_chunks() {
        let big: &'static [u8] = Box::leak(vec![7u8; MAX_CHUNK + 5].into_boxed_slice());
        let body = upload(vec![Ok(big)], usize::MAX);
        assert_eq!(body.read().await.map(|c| c.len()), Ok(MAX_CHUNK));
        assert_eq!(body.read().await.map(|c| c.len()), Ok(5));
        assert_eq!(body.read().await, Ok(vec![]));
    }

    #[tokio::test]
    async fn an_upload_over_its_cap_is_an_error_not_a_short_body() {
        let body = upload(vec![Ok(b"1234"), Ok(b"5678")], 6);
        assert_eq!(body.read().await, Ok(b"1234".to_vec()));
        assert!(body.read().await.is_err());
    }

    #[tokio::test]
    async fn a_broken_upload_is_an_error() {
        let body = upload(vec![Ok(b"a"), Err("reset")], 10);
        assert_eq!(body.read().await, Ok(b"a".to_vec()));
        let e = body.read().await.expect_err("broken");
        assert!(e.contains("reset"), "{e}");
    }

    #[tokio::test]
    async fn writes_wait_for_a_slow_client_and_fail_when_it_left() {
        let (out, stream) = channel();
        for _ in 0..QUEUE {
            out.write(b"x".to_vec()).await.expect("queued");
        }
        // The queue is full: the next write waits until the client takes a chunk.
        let blocked = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            out.write(b"y".to_vec()),
        )
        .await;
        assert!(blocked.is_err(), "a full queue holds the writer back");
        drop(stream);
        assert!(out.write(b"z".to_vec()).await.is_err());
    }

    /// The chunks a stream yields until its end: Ok(bytes) each, then Err(why) if it was cut.
    async fn drained(stream: BodyStream) -> (Vec<Vec<u8>>, Option<String>) {
        let mut stream = std::pin::pin!(stream.into_stream());
        let mut chunks = Vec::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(chunk) => chunks.push(chunk.to_vec()),
                Err(cut) => return (chunks, Some(cut.0)),
            }
        }
        (chunks, None)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn writes_waiting_for_room_reach_the_client_in_the_order_first_polled() {
        for _ in 0..50 {
            let (out, stream) = channel();
            for i in 0..QUEUE as u8 {
                out.write(vec![i]).await.expect("room");
            }
            // The queue is full: each next write waits. Each is polled once here, in order (as
            // the link's router does), then handed to a task of its own, the later ones first.
            let mut tasks = Vec::new();
            for i in QUEUE as u8..QUEUE as u8 + 16 {
                let out = out.clone();
                let mut write = Box::pin(async move { out.write(vec![i]).await });
                let first = write
                    .as_mut()
                    .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()));
                assert!(first.is_pending(), "the queue is full");
                tasks.push(write);
            }
            let handles: Vec<_> = tasks.into_iter().rev().map(tokio::spawn).collect();
            out.end();
            let (chunks, cut) = drained(stream).await;
            for handle in handles {
                handle.await.expect("joined").expect("queued");
            }
            let expected: Vec<Vec<u8>> = (0..QUEUE as u8 + 16).map(|i| vec![i]).collect();
            assert_eq!(chunks, expected);
            assert_eq!(cut, None, "ended by end()");
        }
    }

    #[tokio::test]
    async fn a_body_whose_senders_go_without_end_is_cut_and_one_ended_is_whole() {
        let (out, stream) = channel();
        out.write(b"a".to_vec()).await.expect("queued");
        let writer = out.clone();
        drop(out);
        drop(writer); // a cut's task aborted, a dead worker: no end() was said
        let (chunks, cut) = drained(stream).await;
        assert_eq!(chunks, vec![b"a".to_vec()]);
        assert!(cut.is_some_and(|why| why.contains("ended before its body")));

        let (out, stream) = channel();
        let writer = out.clone();
        writer.write(b"b".to_vec()).await.expect("queued");
        out.end(); // a write's sender still lives: the body ends once it goes
        drop(writer);
        assert_eq!(drained(stream).await, (vec![b"b".to_vec()], None));

        let (out, stream) = channel();
        out.write(b"c".to_vec()).await.expect("queued");
        out.cut("broke".into()).await;
        out.end(); // an end after a cut changes nothing
        assert_eq!(
            drained(stream).await,
            (vec![b"c".to_vec()], Some("broke".to_string()))
        );
    }
}
