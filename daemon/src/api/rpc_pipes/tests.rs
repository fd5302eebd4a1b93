//! The registry's bookkeeping against its invariants ("an untaken end is counted for its tenant
//! exactly while it is kept", "it goes after UNTAKEN_FOR", "a tenant keeps at most MAX_UNTAKEN")
//! and a write end's ends (an error, never a clean end, unless closed; its untaken end gone with
//! the chunk that waited in it).

use super::*;

fn pieces() -> (mpsc::UnboundedSender<Piece>, mpsc::UnboundedReceiver<Piece>) {
    mpsc::unbounded_channel()
}

fn tenant(n: u64) -> TenantId {
    TenantId(n)
}

#[test]
fn untaken_ends_are_counted_per_tenant_expire_and_are_capped() {
    let mut r = Registry::default();
    let start = Instant::now();
    for i in 0..MAX_UNTAKEN {
        r.insert(format!("a{i}"), tenant(1), pieces().1, start)
            .expect("within the cap");
    }
    assert!(r
        .insert("over".into(), tenant(1), pieces().1, start)
        .is_err());
    // Another tenant has its own count.
    r.insert("b".into(), tenant(2), pieces().1, start)
        .expect("its own");
    assert_eq!(r.per_tenant.get(&tenant(1)), Some(&MAX_UNTAKEN));
    // Taking one frees a place.
    assert!(r.remove("a7").is_some());
    assert!(r.remove("a7").is_none(), "once");
    r.insert("again".into(), tenant(1), pieces().1, start)
        .expect("a place freed");
    // All expire together, and the counts with them.
    r.expire(start + UNTAKEN_FOR);
    assert!(r.ends.is_empty() && r.order.is_empty() && r.per_tenant.is_empty());
}

#[test]
fn an_end_expires_only_after_its_time() {
    let mut r = Registry::default();
    let start = Instant::now();
    r.insert("old".into(), tenant(1), pieces().1, start)
        .expect("kept");
    r.insert(
        "new".into(),
        tenant(1),
        pieces().1,
        start + Duration::from_secs(30),
    )
    .expect("kept");
    r.expire(start + UNTAKEN_FOR);
    assert!(!r.ends.contains_key("old"));
    assert!(r.ends.contains_key("new"));
    assert_eq!(r.per_tenant.get(&tenant(1)), Some(&1));
}

/// A write end dropped before its close, its end taken: the reader sees what was written, then
/// an error, never a clean end.
#[tokio::test]
async fn a_writer_dropped_unclosed_ends_its_taken_stream_with_an_error() {
    let (tx, mut rx) = pieces();
    let writer = Writer {
        pieces: Some(tx),
        key: "a-writer-dropped-unclosed".into(),
        writing: Arc::default(),
    };
    let _ = writer.pieces.as_ref().map(|w| {
        w.send(Piece {
            chunk: Ok(b"a".to_vec()),
            taken: None,
        })
    });
    drop(writer);
    assert_eq!(rx.recv().await.map(|p| p.chunk), Some(Ok(b"a".to_vec())));
    assert!(matches!(rx.recv().await.map(|p| p.chunk), Some(Err(_))));
    assert!(rx.recv().await.is_none());
}

/// Its end untaken (in the real registry, under a key of this test's): the chunk waiting in it
/// is dropped at once (its write fails) and the end keeps the error alone for a reader.
#[tokio::test]
async fn a_failed_writers_untaken_end_keeps_only_the_error() {
    let (tx, rx) = pieces();
    let mut writer = Writer {
        pieces: Some(tx),
        key: "a-failed-writers-untaken-end".into(),
        writing: Arc::default(),
    };
    registry(|r| r.insert(writer.key.clone(), tenant(9), rx, Instant::now())).expect("kept");
    let (taken, took) = oneshot::channel();
    let _ = writer.pieces.as_ref().map(|w| {
        w.send(Piece {
            chunk: Ok(b"waiting".to_vec()),
            taken: Some(taken),
        })
    });
    writer.fail("RangeError: broke".into());
    assert!(took.await.is_err(), "the chunk that waited was dropped");
    let mut end = registry(|r| r.remove("a-failed-writers-untaken-end")).expect("still kept");
    let first = end.pieces.recv().await.map(|p| p.chunk);
    assert_eq!(first, Some(Err("RangeError: broke".to_owned())));
    drop(writer);
    assert!(end.pieces.recv().await.is_none());
}

/// Closed: a clean end, and an untaken end stays for its reader.
#[tokio::test]
async fn a_closed_writer_is_a_clean_end() {
    let (tx, mut rx) = pieces();
    let mut writer = Writer {
        pieces: Some(tx),
        key: "a-closed-writer".into(),
        writing: Arc::default(),
    };
    drop(writer.pieces.take());
    drop(writer);
    assert!(rx.recv().await.is_none());
}

fn frame(head: Value, bytes: &[u8]) -> Vec<u8> {
    crate::storage::frame(&head, bytes)
}

fn head_of(answer: &[u8]) -> (Value, Vec<u8>) {
    let (head, bytes) = crate::storage::split(answer).expect("a frame");
    (head, bytes.to_vec())
}

/// Two requests of one tenant (their own resources), and one of another tenant.
fn requests() -> (CallContext, CallContext, CallContext) {
    (
        CallContext::from(tenant(41)),
        CallContext::from(tenant(41)),
        CallContext::from(tenant(42)),
    )
}

/// The whole road: open, take (by its tenant only, once), a window of writes read in order and
/// each acknowledged once read, a write past the window refused, an error after the chunks.
#[tokio::test]
async fn a_pipe_carries_chunks_in_order_to_the_one_request_that_took_it() {
    let (sender, receiver, other) = requests();
    let (opened, _) = head_of(&open(sender.clone(), Vec::new()).await.expect("opened"));
    let (pipe, key) = (opened["pipe"].clone(), opened["key"].clone());
    let taking = frame(json!({ "key": key }), &[]);
    assert!(
        take(other.clone(), taking.clone()).await.is_err(),
        "another tenant"
    );
    let (taken, _) = head_of(&take(receiver.clone(), taking.clone()).await.expect("taken"));
    assert!(take(receiver.clone(), taking).await.is_err(), "once");
    let reading = frame(json!({ "pipe": taken["pipe"] }), &[]);
    // The receiver's number means nothing in the sender's request, and the other way round.
    assert!(read(sender.clone(), reading.clone()).await.is_err());
    assert!(
        write(receiver.clone(), frame(json!({ "pipe": pipe }), b"x"))
            .await
            .is_err()
    );

    let words: [&[u8]; 4] = [b"one", b"two", b"three", b"four"];
    let mut writes = Vec::new();
    for word in words {
        writes.push(tokio::spawn(write(
            sender.clone(),
            frame(json!({ "pipe": pipe }), word),
        )));
        tokio::task::yield_now().await;
    }
    // A window of MAX_WRITES, none answered before it is read.
    assert_eq!(MAX_WRITES, 4);
    let fifth = write(sender.clone(), frame(json!({ "pipe": pipe }), b"five")).await;
    assert!(fifth.is_err_and(|e| e.contains("as many writes")));
    assert!(
        writes.iter().all(|w| !w.is_finished()),
        "answered only once read"
    );
    // One read takes every chunk waiting, in order, and acknowledges each.
    let (_, bytes) = head_of(&read(receiver.clone(), reading.clone()).await.expect("read"));
    assert_eq!(bytes, b"onetwothreefour");
    for w in writes {
        w.await.expect("task").expect("acknowledged");
    }
    // An error after a chunk: the chunk first, the error at the next read.
    let last = tokio::spawn(write(
        sender.clone(),
        frame(json!({ "pipe": pipe }), b"last"),
    ));
    tokio::task::yield_now().await;
    close(
        sender.clone(),
        frame(json!({ "pipe": pipe, "error": "RangeError: broke" }), &[]),
    )
    .await
    .expect("closed");
    let (_, bytes) = head_of(&read(receiver.clone(), reading.clone()).await.expect("read"));
    assert_eq!(bytes, b"last");
    last.await.expect("task").expect("acknowledged");
    assert_eq!(
        read(receiver.clone(), reading).await,
        Err("RangeError: broke".to_owned())
    );
}

/// A pipe `sender` opened and `receiver` took: its number in the sender's request, its number
/// in the receiver's, and a `pipe.read` payload for it.
async fn opened_and_taken(sender: &CallContext, receiver: &CallContext) -> (Value, Value, Vec<u8>) {
    let (opened, _) = head_of(&open(sender.clone(), Vec::new()).await.expect("opened"));
    let taking = frame(json!({ "key": opened["key"] }), &[]);
    let (taken, _) = head_of(&take(receiver.clone(), taking).await.expect("taken"));
    let reading = frame(json!({ "pipe": taken["pipe"] }), &[]);
    (opened["pipe"].clone(), taken["pipe"].clone(), reading)
}

/// A clean end after chunks: they first, then `done`.
#[tokio::test]
async fn a_closed_pipe_ends_after_its_chunks() {
    let (sender, receiver, _) = requests();
    let (pipe, _, reading) = opened_and_taken(&sender, &receiver).await;
    let written = tokio::spawn(write(
        sender.clone(),
        frame(json!({ "pipe": pipe }), b"all"),
    ));
    tokio::task::yield_now().await;
    close(sender.clone(), frame(json!({ "pipe": pipe }), &[]))
        .await
        .expect("closed");
    let (_, bytes) = head_of(&read(receiver.clone(), reading.clone()).await.expect("read"));
    assert_eq!(bytes, b"all");
    written.await.expect("task").expect("acknowledged");
    let (end, _) = head_of(&read(receiver, reading).await.expect("the end"));
    assert_eq!(end["done"], true);
}

/// A reader that cancels while a read waits: the read ends, and the writer's next write fails at
/// once instead of waiting for a reader that is gone.
#[tokio::test]
async fn a_cancel_ends_the_read_in_flight_and_fails_the_writer() {
    let (sender, receiver, _) = requests();
    let (pipe, taken, reading) = opened_and_taken(&sender, &receiver).await;
    let waiting = tokio::spawn(read(receiver.clone(), reading));
    tokio::task::yield_now().await;
    cancel(receiver.clone(), frame(json!({ "pipe": taken }), &[]))
        .await
        .expect("cancelled");
    let read = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the read ended")
        .expect("task");
    assert!(read.is_err(), "{read:?}");
    let written = tokio::time::timeout(
        Duration::from_secs(10),
        write(sender, frame(json!({ "pipe": pipe }), b"late")),
    )
    .await
    .expect("the write ended");
    assert_eq!(
        written,
        Err("the receiving worker let go of the stream".to_owned())
    );
}

/// The sender's request ends while its write waits for an end nobody took (the link aborts the
/// write's handler and drops the request's resources): the chunk is gone at once, and the
/// reader that takes the end later gets the error, not a clean end.
#[tokio::test]
async fn a_senders_end_leaves_its_untaken_pipe_the_error_alone() {
    let (sender, receiver, _) = requests();
    let (opened, _) = head_of(&open(sender.clone(), Vec::new()).await.expect("opened"));
    let key = opened["key"].as_str().expect("key").to_owned();
    let writing = tokio::spawn(write(
        sender.clone(),
        frame(json!({ "pipe": opened["pipe"] }), b"held"),
    ));
    tokio::task::yield_now().await;
    writing.abort();
    let _ = writing.await;
    drop(sender); // the request is over: its resources go
    let taking = frame(json!({ "key": key }), &[]);
    let (taken, _) = head_of(&take(receiver.clone(), taking).await.expect("taken"));
    let reading = frame(json!({ "pipe": taken["pipe"] }), &[]);
    let read = read(receiver, reading).await;
    assert!(
        read.as_ref()
            .is_err_and(|e| e.contains("request ended before its stream did")),
        "{read:?}"
    );
}

/// A chunk past MAX_CHUNK is refused whatever sends it; a request holds MAX_PIPES ends of each
/// kind (its write ends do not keep it from taking read ends).
#[tokio::test]
async fn chunks_and_ends_are_capped() {
    let (sender, receiver, _) = requests();
    let (opened, _) = head_of(&open(sender.clone(), Vec::new()).await.expect("opened"));
    let big = vec![0u8; MAX_CHUNK + 1];
    let refused = write(
        sender.clone(),
        frame(json!({ "pipe": opened["pipe"] }), &big),
    )
    .await;
    assert!(refused.is_err_and(|e| e.contains("at most")));
    let mut keys = vec![opened["key"].clone()];
    for _ in 0..MAX_PIPES {
        let (opened, _) = head_of(&open(receiver.clone(), Vec::new()).await.expect("opened"));
        keys.push(opened["key"].clone());
    }
    assert!(
        open(receiver.clone(), Vec::new()).await.is_err(),
        "past MAX_PIPES write ends"
    );
    // The same request takes the first sender's end though its write ends are all in use.
    let taking = frame(json!({ "key": keys[0] }), &[]);
    assert!(take(receiver, taking).await.is_ok());
}
