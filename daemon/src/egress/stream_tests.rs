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
