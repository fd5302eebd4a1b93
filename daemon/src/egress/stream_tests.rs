//! Tests of `stream`: a held stream's reads, its cancellation and its audit record.

use super::*;
use crate::egress::audit::now_ms;

fn pending_audit(audit: &Arc<Audit>) -> PendingAudit {
    PendingAudit {
        audit: Arc::clone(audit),
        index: 0,
        record: Record {
            at_ms: now_ms(),
            tenant: "t".into(),
            worker: None,
            method: "GET".into(),
            scheme: "worker".into(),
            host: "w".into(),
            port: 0,
            path: "/".into(),
            rule: None,
            verdict: "allowed",
            reason: None,
            status: Some(200),
            bytes_out: 0,
            bytes_in: 0,
            ms: 0,
            queued_ms: 0,
        },
        started: Instant::now(),
        injected: Vec::new(),
        sent: Some(Arc::new(AtomicU64::new(7))),
    }
}

/// A source that answers `first`, then waits forever.
fn stalled(first: &'static [u8]) -> Source {
    let once = futures_util::stream::once(std::future::ready(Ok(Bytes::from_static(first))));
    Box::pin(once.chain(futures_util::stream::pending()))
}

#[tokio::test]
async fn a_cancel_ends_a_waiting_read_and_the_stream_is_audited_once_over() {
    let audit = Arc::new(Audit::new(1));
    let resources = Arc::new(Resources::default());
    let upstream = Upstream::new(
        stalled(b"ab"),
        Scrubber::new(&[]),
        0,
        Some(pending_audit(&audit)),
    );
    let id = hold(&resources, upstream).expect("room");
    let name = id.to_le_bytes();
    assert_eq!(read_next(&resources, &name).await.expect("a piece"), b"ab");
    let reader = {
        let resources = Arc::clone(&resources);
        tokio::spawn(async move { read_next(&resources, &name).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert!(audit.latest(0, 10).is_empty(), "not over yet");
    cancel(&resources, &name).expect("cancelled");
    assert!(
        reader.await.expect("joined").is_err(),
        "the waiting read ends"
    );
    assert!(read_next(&resources, &name).await.is_err(), "gone");
    let records = audit.latest(0, 10);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!((records[0].bytes_in, records[0].bytes_out), (2, 7));
    assert!(records[0].reason.is_some(), "not read to its end");
}

#[tokio::test]
async fn a_source_read_to_its_end_is_audited_whole_and_let_go_of() {
    let audit = Arc::new(Audit::new(1));
    let resources = Resources::default();
    let chunks = vec![Ok(Bytes::from(vec![1u8; MAX_READ + 3])), Ok(Bytes::new())];
    let source: Source = Box::pin(futures_util::stream::iter(chunks));
    let upstream = Upstream::new(source, Scrubber::new(&[]), 0, Some(pending_audit(&audit)));
    let name = hold(&resources, upstream).expect("room").to_le_bytes();
    assert_eq!(
        read_next(&resources, &name).await.map(|p| p.len()).ok(),
        Some(MAX_READ)
    );
    assert_eq!(
        read_next(&resources, &name).await.map(|p| p.len()).ok(),
        Some(3)
    );
    assert_eq!(
        read_next(&resources, &name).await.map(|p| p.len()).ok(),
        Some(0)
    );
    assert!(
        read_next(&resources, &name).await.is_err(),
        "let go of at its end"
    );
    let records = audit.latest(0, 10);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].bytes_in, MAX_READ as u64 + 3);
    assert_eq!(records[0].reason, None);
}

/// A worker's answer as the request's resource: its writing end and the resource's number.
fn worker_body(resources: &Resources) -> (crate::supervisor::body::BodyOut, [u8; 4]) {
    let (out, body) = crate::supervisor::body::channel();
    let id = hold_answer(resources, from_worker(body), 0, None).expect("room");
    (out, id.to_le_bytes())
}

#[tokio::test]
async fn a_workers_body_is_read_to_its_end_or_cut_and_a_cancel_ends_the_workers_writes() {
    let resources = Resources::default();
    let (out, name) = worker_body(&resources);
    out.write(b"ab".to_vec()).await.expect("queued");
    assert_eq!(read_next(&resources, &name).await.expect("a piece"), b"ab");
    out.cut("boom".into()).await;
    let cut = read_next(&resources, &name).await.expect_err("cut");
    assert!(cut.to_string().contains("boom"), "{cut}");
    assert!(
        read_next(&resources, &name).await.is_err(),
        "gone after it was cut"
    );

    // A read waiting for the worker's next chunk ends when the body is cancelled, and the
    // worker's next write fails (its request is then cancelled).
    let resources = Arc::new(resources);
    let (out, name) = worker_body(&resources);
    let reader = {
        let resources = Arc::clone(&resources);
        tokio::spawn(async move { read_next(&resources, &name).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    cancel(&resources, &name).expect("cancelled");
    assert!(reader.await.expect("joined").is_err());
    assert!(out.write(b"late".to_vec()).await.is_err());
    // An idle body is dropped at once.
    let (out, name) = worker_body(&resources);
    cancel(&resources, &name).expect("cancelled");
    assert!(out.write(b"late".to_vec()).await.is_err());
}

/// A one-request HTTP server on 127.0.0.1 whose answer `script` writes; its URL.
fn serve_once(script: impl FnOnce(&mut std::net::TcpStream) + Send + 'static) -> String {
    use std::io::BufRead;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let mut reader = std::io::BufReader::new(stream.try_clone().expect("clone"));
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
            line.clear();
        }
        script(&mut stream);
    });
    format!("http://127.0.0.1:{port}/")
}

async fn get(url: &str) -> reqwest::Response {
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    client.get(url).send().await.expect("the head")
}

fn send(stream: &mut std::net::TcpStream, bytes: &[u8]) {
    use std::io::Write;
    let _ = stream.write_all(bytes);
    let _ = stream.flush();
}

#[tokio::test]
async fn a_small_answer_of_known_length_comes_whole_with_its_head_though_its_body_lags() {
    let url = serve_once(|s| {
        send(s, b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\nhello");
        // The rest lags behind the head: it is still waited for, the length says it is coming.
        std::thread::sleep(std::time::Duration::from_millis(50));
        send(s, b" world");
    });
    let (first, rest) = read_start(get(&url).await, true).await.expect("read");
    assert_eq!(first, b"hello world");
    assert!(rest.is_none(), "whole with the head: nothing to stream");
}

#[tokio::test]
async fn a_small_chunked_answer_sent_at_once_comes_whole_with_its_head() {
    // Its end is in the same packet as its data, but the connection's task hands it on only
    // once the data was taken: the yield in `first_part` lets it.
    let url = serve_once(|s| {
        send(
            s,
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        )
    });
    let (first, rest) = read_start(get(&url).await, true).await.expect("read");
    assert_eq!(first, b"ok");
    assert!(rest.is_none(), "whole with the head: nothing to stream");
}

#[tokio::test]
async fn an_event_streams_head_is_answered_with_what_came_without_waiting_for_more() {
    let (gate, opened) = std::sync::mpsc::channel::<()>();
    let url = serve_once(move |s| {
        send(
            s,
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
              transfer-encoding: chunked\r\n\r\nb\r\ndata: one\n\n\r\n",
        );
        // The second event does not exist until the test has its head.
        if opened.recv().is_ok() {
            send(s, b"b\r\ndata: two\n\n\r\n0\r\n\r\n");
        }
    });
    let response = get(&url).await;
    // A bound so that waiting (the bug) fails instead of hanging; the proof is the order.
    let started = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        read_start(response, true),
    )
    .await
    .expect("answered before the second event was sent");
    let (mut body, rest) = started.expect("read");
    let mut rest = rest.expect("the rest streams");
    assert!(b"data: one\n\n".starts_with(&body), "{body:?}");
    gate.send(()).expect("the upstream waits");
    while let Some(chunk) = rest.chunk().await.expect("a chunk") {
        body.extend_from_slice(&chunk);
    }
    assert_eq!(body, b"data: one\n\ndata: two\n\n");
}
