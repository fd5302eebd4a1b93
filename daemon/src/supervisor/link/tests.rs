//! The link against a hand-driven worker over a real socket pair.

use std::sync::atomic::AtomicUsize;

use stockade_ipc::limits::MAX_ERROR_MESSAGE_LEN;
use stockade_ipc::{ErrorKind, Outcome, WorkerId};
use tokio::sync::Semaphore;

use super::*;
use crate::supervisor::fake_worker::{pair, FakeWorker};
use crate::supervisor::host_calls::{CallContext, HostResult};

const WALL: Duration = Duration::from_secs(30);
const T: TenantId = TenantId(4);

fn start(host_calls: HostCalls) -> (Arc<Link>, JoinHandle<String>, FakeWorker) {
    start_with_grace(host_calls, GRACE)
}

fn start_with_grace(
    host_calls: HostCalls,
    grace: Duration,
) -> (Arc<Link>, JoinHandle<String>, FakeWorker) {
    let (reader, writer, worker) = pair();
    let (link, end) = Link::start_with_grace(reader, writer, Arc::new(host_calls), grace);
    (link, end, worker)
}

fn code(cancellable: bool) -> Request {
    Request {
        tenant: T,
        runs_code: true,
        answer: MessageKind::Outcome,
        cancellable,
        lease: None,
        outbound: Outbound::Policy,
        bindings: Default::default(),
        caller: Default::default(),
        body_in: None,
        body_out: None,
        socket: None,
        after_logs: None,
        keep: None,
    }
}

fn snippet(id: RequestId) -> ToWorker {
    ToWorker::RunSnippet {
        request_id: id,
        code: "export default () => 1".into(),
        arg_json: b"null".to_vec(),
        limits: stockade_ipc::Limits::default(),
    }
}

/// Sends a snippet request on its own task; its exchange's result.
fn ask(link: &Arc<Link>, request: Request) -> JoinHandle<Result<ToSupervisor, AskError>> {
    let link = Arc::clone(link);
    tokio::spawn(async move {
        let ticket = link.register(request).expect("open");
        let message = snippet(ticket.id());
        ticket.exchange(message, WALL).await
    })
}

fn json_of(answer: Result<ToSupervisor, AskError>) -> String {
    match answer {
        Ok(ToSupervisor::Outcome(Outcome {
            result: Ok(stockade_ipc::Reply::Json(json)),
            ..
        })) => String::from_utf8(json).expect("utf8"),
        other => panic!("expected a JSON outcome, got {other:?}"),
    }
}

fn id_of(message: &ToWorker) -> RequestId {
    message.request_id().expect("a request")
}

async fn ended(end: JoinHandle<String>) -> String {
    tokio::time::timeout(Duration::from_secs(2), end)
        .await
        .expect("the link ends")
        .expect("the router task")
}

#[tokio::test]
async fn answers_in_any_order_reach_their_requests() {
    let (link, _end, mut worker) = start(HostCalls::default());
    let first = ask(&link, code(true));
    let one = id_of(&worker.expect().await);
    let second = ask(&link, code(true));
    let two = id_of(&worker.expect().await);
    assert_ne!(one, two);
    worker.answer(two, "2").await;
    worker.answer(one, "1").await;
    assert_eq!(json_of(second.await.expect("task")), "2");
    assert_eq!(json_of(first.await.expect("task")), "1");
    assert!(link.take_in_flight().is_empty());
}

#[tokio::test]
async fn an_answer_nobody_asked_for_ends_the_link_and_fails_the_requests_in_flight() {
    let (link, end, mut worker) = start(HostCalls::default());
    let waiting = ask(&link, code(true));
    let id = id_of(&worker.expect().await);
    worker.answer(RequestId(id.0 + 100), "1").await;
    let why = ended(end).await;
    assert!(why.contains("it was not asked"), "{why}");
    match waiting.await.expect("task") {
        Err(AskError::Lost(lost)) => assert_eq!(lost, why),
        other => panic!("expected Lost, got {other:?}"),
    }
    assert!(matches!(link.register(code(true)), Err(NotSent)));
    assert_eq!(
        link.take_in_flight(),
        [InFlight {
            id,
            tenant: T,
            runs_code: true,
            called: false,
        }]
    );
}

#[tokio::test]
async fn answering_twice_or_with_the_wrong_kind_ends_the_link() {
    let (link, end, mut worker) = start(HostCalls::default());
    let waiting = ask(&link, code(true));
    let id = id_of(&worker.expect().await);
    worker.answer(id, "1").await;
    assert_eq!(json_of(waiting.await.expect("task")), "1");
    worker.answer(id, "1").await;
    assert!(ended(end).await.contains("already answered"));

    let (link, end, mut worker) = start(HostCalls::default());
    let _waiting = ask(&link, code(true));
    let id = id_of(&worker.expect().await);
    worker
        .send(&ToSupervisor::Disposed {
            request_id: id,
            worker_id: WorkerId([0; 32]),
        })
        .await;
    let why = ended(end).await;
    assert!(why.contains("not a Outcome"), "{why}");
    // The request stays in flight: the worker went wrong while it had it.
    assert_eq!(link.take_in_flight().len(), 1);
}

#[tokio::test]
async fn a_second_ready_or_garbage_ends_the_link() {
    let (_link, end, mut worker) = start(HostCalls::default());
    worker
        .send(&ToSupervisor::Ready {
            protocol_version: stockade_ipc::PROTOCOL_VERSION,
            pid: 1,
            jail: stockade_ipc::JailReport::default(),
        })
        .await;
    assert!(ended(end).await.contains("second Ready"));

    let (_link, end, mut worker) = start(HostCalls::default());
    worker.write_raw(b"GET / HTTP/1.1\r\n").await;
    assert!(ended(end).await.contains("malformed"));
}

#[tokio::test]
async fn renewal_overdue_wakes_the_waiter_and_leaves_requests_in_flight_alone() {
    let (link, _end, mut worker) = start(HostCalls::default());
    let waiting = {
        let link = Arc::clone(&link);
        tokio::spawn(async move { link.overdue().await })
    };
    let asked = ask(&link, code(true));
    let id = id_of(&worker.expect().await);
    worker
        .send(&ToSupervisor::RenewalOverdue {
            created_since_renewal: 100,
        })
        .await;
    tokio::time::timeout(Duration::from_secs(2), waiting)
        .await
        .expect("the waiter wakes")
        .expect("task");
    // The request in flight is answered normally: the notice ends nothing.
    worker.answer(id, "7").await;
    assert_eq!(json_of(asked.await.expect("task")), "7");
    // A notice with nobody waiting yet is kept for the next waiter.
    worker
        .send(&ToSupervisor::RenewalOverdue {
            created_since_renewal: 150,
        })
        .await;
    tokio::time::timeout(Duration::from_secs(2), link.overdue())
        .await
        .expect("kept for the next waiter");
}

#[tokio::test]
async fn a_dropped_ticket_cancels_its_request_and_its_late_answer_is_accepted() {
    let (link, end, mut worker) = start(HostCalls::default());
    let permits = Arc::new(Semaphore::new(1));
    let lease: Lease = Arc::new(Arc::clone(&permits).try_acquire_owned().expect("permit"));
    let waiting = ask(
        &link,
        Request {
            lease: Some(lease),
            ..code(true)
        },
    );
    let id = id_of(&worker.expect().await);
    waiting.abort();
    assert!(waiting.await.is_err_and(|e| e.is_cancelled()));
    assert_eq!(worker.expect().await, ToWorker::Cancel { request_id: id });
    // The request keeps its place under the cap until the worker answers it.
    assert_eq!(permits.available_permits(), 0);
    worker.fail(id, ErrorKind::Cancelled).await;
    let next = ask(&link, code(true));
    let next_id = id_of(&worker.expect().await);
    worker.answer(next_id, "2").await;
    assert_eq!(json_of(next.await.expect("task")), "2");
    assert_eq!(permits.available_permits(), 1);
    assert!(!end.is_finished(), "a late answer is no confusion");
}

#[tokio::test]
async fn a_request_that_is_not_cancellable_is_not_cancelled() {
    let (link, _end, mut worker) = start(HostCalls::default());
    let load = ask(&link, code(false));
    let id = id_of(&worker.expect().await);
    load.abort();
    let _ = load.await;
    assert!(worker.silent_for(Duration::from_millis(100)).await);
    // Its answer still comes, and is no confusion.
    worker.answer(id, "1").await;
    let next = ask(&link, code(true));
    let next_id = id_of(&worker.expect().await);
    worker.answer(next_id, "2").await;
    assert_eq!(json_of(next.await.expect("task")), "2");
    assert!(link.take_in_flight().is_empty());
}

#[tokio::test]
async fn a_request_that_cannot_be_encoded_is_not_sent_and_leaves_nothing_pending() {
    let (link, end, mut worker) = start(HostCalls::default());
    let ticket = link.register(code(true)).expect("open");
    let id = ticket.id();
    let too_large = ToWorker::RunSnippet {
        request_id: id,
        code: "x".repeat(stockade_ipc::limits::MAX_SNIPPET_LEN + 1),
        arg_json: Vec::new(),
        limits: stockade_ipc::Limits::default(),
    };
    assert!(matches!(
        ticket.exchange(too_large, WALL).await,
        Err(AskError::Unencodable(_))
    ));
    assert!(link.take_in_flight().is_empty());
    assert!(worker.silent_for(Duration::from_millis(100)).await);
    assert!(!end.is_finished());
}

#[tokio::test]
async fn a_silent_worker_times_out_but_one_that_answers_others_does_not() {
    let grace = Duration::from_millis(300);
    let (link, _end, mut worker) = start_with_grace(HostCalls::default(), grace);
    let exchange = |link: &Arc<Link>| {
        let link = Arc::clone(link);
        tokio::spawn(async move {
            let ticket = link.register(code(true)).expect("open");
            let message = snippet(ticket.id());
            ticket.exchange(message, Duration::ZERO).await
        })
    };
    // A backlog answered one by one, each within the grace of the previous answer, the last
    // long after its own sending plus the grace: none is declared hung.
    let backlog: Vec<_> = (0..4).map(|_| exchange(&link)).collect();
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(id_of(&worker.expect().await));
    }
    for id in &ids {
        tokio::time::sleep(grace / 2).await;
        worker.answer(*id, "1").await;
    }
    for answer in backlog {
        assert_eq!(json_of(answer.await.expect("task")), "1");
    }
    // Silence: declared hung after about the grace.
    let start = Instant::now();
    let hung = exchange(&link);
    worker.expect().await;
    assert_eq!(hung.await.expect("task"), Err(AskError::Timeout));
    assert!(start.elapsed() >= grace);
}

fn echo_calls() -> HostCalls {
    let mut calls = HostCalls::default();
    calls.register("t.echo", |tenant: TenantId, payload: Vec<u8>| async move {
        assert_eq!(tenant, T);
        Ok(payload)
    });
    calls.register("t.fail", |_: TenantId, _: Vec<u8>| async move {
        Err::<Vec<u8>, _>("x".repeat(MAX_ERROR_MESSAGE_LEN * 2))
    });
    calls
}

fn host_call(id: RequestId, call_id: u32, name: &str, payload: &[u8]) -> ToSupervisor {
    ToSupervisor::HostCall {
        request_id: id,
        call_id,
        name: name.into(),
        payload: payload.to_vec(),
        cpu_left_us: 0,
    }
}

fn reply(id: RequestId, call_id: u32, result: Result<Vec<u8>, String>) -> ToWorker {
    ToWorker::HostReply {
        request_id: id,
        call_id,
        cpu_us: 0,
        result,
    }
}

#[tokio::test]
async fn a_host_call_gets_its_requests_outbound_context() {
    let mut calls = HostCalls::default();
    calls.register_in_context("t.where", |context: CallContext, _: Vec<u8>| async move {
        assert_eq!(context.tenant, T);
        Ok(format!("{:?}", context.outbound).into_bytes())
    });
    let (link, _end, mut worker) = start(calls);
    for (outbound, expected) in [
        (Outbound::Policy, "Policy"),
        (Outbound::Blocked, "Blocked"),
        (
            Outbound::Worker(crate::supervisor::OutboundTarget::to("ab")),
            "Worker(OutboundTarget { worker: \"ab\", entrypoint: None, props: None })",
        ),
    ] {
        let waiting = ask(
            &link,
            Request {
                outbound,
                ..code(true)
            },
        );
        let id = id_of(&worker.expect().await);
        worker.send(&host_call(id, 1, "t.where", b"")).await;
        assert_eq!(
            worker.expect().await,
            ToWorker::HostReply {
                request_id: id,
                call_id: 1,
                cpu_us: 0,
                result: Ok(expected.as_bytes().to_vec())
            }
        );
        worker.answer(id, "1").await;
        assert_eq!(json_of(waiting.await.expect("task")), "1");
    }
}

#[tokio::test]
async fn host_calls_are_answered_with_their_request_and_call_ids() {
    let (link, end, mut worker) = start(echo_calls());
    let waiting = ask(&link, code(true));
    let id = id_of(&worker.expect().await);
    worker.send(&host_call(id, 7, "t.echo", b"ping")).await;
    assert_eq!(
        worker.expect().await,
        ToWorker::HostReply {
            request_id: id,
            call_id: 7,
            cpu_us: 0,
            result: Ok(b"ping".to_vec())
        }
    );
    worker.send(&host_call(id, 8, "nope", b"")).await;
    assert_eq!(
        worker.expect().await,
        ToWorker::HostReply {
            request_id: id,
            call_id: 8,
            cpu_us: 0,
            result: Err("unknown host call `nope`".into())
        }
    );
    // A handler's error is clipped to what the protocol carries.
    worker.send(&host_call(id, 9, "t.fail", b"")).await;
    match worker.expect().await {
        ToWorker::HostReply {
            call_id: 9,
            result: Err(message),
            ..
        } => assert_eq!(message.len(), MAX_ERROR_MESSAGE_LEN),
        other => panic!("expected the clipped error, got {other:?}"),
    }
    worker.answer(id, "1").await;
    assert_eq!(json_of(waiting.await.expect("task")), "1");
    assert!(!end.is_finished());
}

/// The worker's next message must be the host reply `(id, call_id, result)`.
async fn expect_reply(worker: &mut FakeWorker, id: RequestId, call_id: u32, result: HostResult) {
    assert_eq!(
        worker.expect().await,
        ToWorker::HostReply {
            request_id: id,
            call_id,
            cpu_us: 0,
            result
        }
    );
}

/// A handler's first steps run in the router's task: one that panics there is answered with an
/// error and the link goes on; one that waits is answered from its own task when it is done.
#[tokio::test]
async fn a_handler_that_panics_in_its_first_steps_is_answered_and_one_that_waits_still_is() {
    let mut calls = echo_calls();
    calls.register("t.panic", |_: TenantId, _: Vec<u8>| async move {
        panic!("a handler's bug");
        #[allow(unreachable_code)]
        Ok(Vec::new())
    });
    calls.register("t.later", |_: TenantId, payload: Vec<u8>| async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok(payload)
    });
    let (link, end, mut worker) = start(calls);
    let waiting = ask(&link, code(true));
    let id = id_of(&worker.expect().await);
    worker.send(&host_call(id, 1, "t.panic", b"")).await;
    expect_reply(&mut worker, id, 1, Err("the host call failed".into())).await;
    worker.send(&host_call(id, 2, "t.later", b"late")).await;
    worker.send(&host_call(id, 3, "t.echo", b"now")).await;
    // The call answered at once overtakes the one that waits.
    expect_reply(&mut worker, id, 3, Ok(b"now".to_vec())).await;
    expect_reply(&mut worker, id, 2, Ok(b"late".to_vec())).await;
    worker.answer(id, "1").await;
    assert_eq!(json_of(waiting.await.expect("task")), "1");
    assert!(!end.is_finished(), "the link goes on");
}

#[tokio::test]
async fn a_host_call_outside_a_request_in_flight_ends_the_link() {
    let (_link, end, mut worker) = start(echo_calls());
    worker
        .send(&host_call(RequestId(1), 1, "t.echo", b""))
        .await;
    assert!(ended(end).await.contains("not in flight"));

    // A Dispose runs no tenant code: it makes no host calls.
    let (link, end, mut worker) = start(echo_calls());
    let dispose = tokio::spawn({
        let link = Arc::clone(&link);
        async move {
            let ticket = link
                .register(Request {
                    runs_code: false,
                    answer: MessageKind::Disposed,
                    ..code(false)
                })
                .expect("open");
            let message = ToWorker::Dispose {
                request_id: ticket.id(),
                worker_id: WorkerId([1; 32]),
            };
            ticket.exchange(message, WALL).await
        }
    });
    let id = id_of(&worker.expect().await);
    worker.send(&host_call(id, 1, "t.echo", b"")).await;
    assert!(ended(end).await.contains("runs no tenant code"));
    assert!(matches!(dispose.await, Ok(Err(AskError::Lost(_)))));
}

/// Counts live handler futures, so a test can see calls aborted.
struct Live(Arc<AtomicUsize>);

impl Live {
    fn new(count: &Arc<AtomicUsize>) -> Live {
        count.fetch_add(1, Ordering::SeqCst);
        Live(Arc::clone(count))
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn at_most_64_host_calls_per_request_and_they_end_with_it() {
    let live = Arc::new(AtomicUsize::new(0));
    let mut calls = HostCalls::default();
    let counter = Arc::clone(&live);
    calls.register("t.forever", move |_: TenantId, _: Vec<u8>| {
        let live = Live::new(&counter);
        async move {
            let _live = live;
            std::future::pending::<HostResult>().await
        }
    });
    let (link, _end, mut worker) = start(calls);
    let waiting = ask(&link, code(true));
    let id = id_of(&worker.expect().await);
    let other = ask(&link, code(true));
    let other_id = id_of(&worker.expect().await);
    for call_id in 0..=64 {
        worker.send(&host_call(id, call_id, "t.forever", b"")).await;
    }
    assert_eq!(
        worker.expect().await,
        ToWorker::HostReply {
            request_id: id,
            call_id: 64,
            cpu_us: 0,
            result: Err("too many host calls in flight".into())
        }
    );
    assert_eq!(live.load(Ordering::SeqCst), 64);
    // The cap is per request.
    worker.send(&host_call(other_id, 0, "t.forever", b"")).await;
    worker.answer(other_id, "2").await;
    assert_eq!(json_of(other.await.expect("task")), "2");
    // Answering the request aborts its outstanding calls, unanswered.
    worker.answer(id, "1").await;
    assert_eq!(json_of(waiting.await.expect("task")), "1");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(live.load(Ordering::SeqCst), 0);
    assert!(worker.silent_for(Duration::from_millis(100)).await);
}

#[tokio::test]
async fn a_call_is_outstanding_until_its_reply_and_a_handler_that_panics_is_answered() {
    let mut calls = HostCalls::default();
    let gate = Arc::new(tokio::sync::Notify::new());
    let opened = Arc::clone(&gate);
    calls.register("t.gated", move |_: TenantId, _: Vec<u8>| {
        let gate = Arc::clone(&opened);
        async move {
            gate.notified().await;
            Ok::<Vec<u8>, String>(b"through".to_vec())
        }
    });
    calls.register("fetch.read", |_: TenantId, payload: Vec<u8>| async move {
        Ok::<Vec<u8>, String>(payload)
    });
    calls.register("t.panics", |_: TenantId, _: Vec<u8>| async {
        tokio::task::yield_now().await; // past its first look, in a task of its own
        panic!("a handler's bug")
    });
    let (link, _end, mut worker) = start(calls);
    let _waiting = ask(&link, code(true));
    let id = id_of(&worker.expect().await);
    for call_id in 0..64 {
        worker.send(&host_call(id, call_id, "t.gated", b"")).await;
    }
    worker.send(&host_call(id, 64, "t.gated", b"")).await;
    assert_eq!(
        worker.expect().await,
        reply(id, 64, Err("too many host calls in flight".into()))
    );
    // A call that continues a stream of the request takes no place: taken up with every place
    // held.
    worker.send(&host_call(id, 66, "fetch.read", b"more")).await;
    assert_eq!(worker.expect().await, reply(id, 66, Ok(b"more".to_vec())));
    // One answered: its place is free as soon as its reply is out.
    gate.notify_one();
    assert!(matches!(
        worker.expect().await,
        ToWorker::HostReply { result: Ok(_), .. }
    ));
    worker.send(&host_call(id, 65, "t.panics", b"")).await;
    // The panicking handler's call is answered (before, nothing ever came), and the place it
    // held is free again.
    assert_eq!(
        worker.expect().await,
        reply(id, 65, Err("the host call failed".into()))
    );
    worker.send(&host_call(id, 67, "t.gated", b"")).await;
    assert!(
        worker.silent_for(Duration::from_millis(100)).await,
        "taken up, not refused"
    );
}

#[tokio::test]
async fn a_cancelled_requests_new_host_calls_are_refused() {
    let (link, _end, mut worker) = start(echo_calls());
    let waiting = ask(&link, code(true));
    let id = id_of(&worker.expect().await);
    waiting.abort();
    let _ = waiting.await;
    assert_eq!(worker.expect().await, ToWorker::Cancel { request_id: id });
    worker.send(&host_call(id, 3, "t.echo", b"x")).await;
    assert_eq!(
        worker.expect().await,
        ToWorker::HostReply {
            request_id: id,
            call_id: 3,
            cpu_us: 0,
            result: Err("the request was cancelled".into())
        }
    );
}

/// `test.echo` sleeps on the runtime's timer: while it sleeps, the link routes other answers.
#[cfg(debug_assertions)]
#[tokio::test]
async fn test_echo_sleeps_without_holding_up_the_link() {
    let (link, _end, mut worker) = start(HostCalls::standard());
    let echoing = ask(&link, code(true));
    let id = id_of(&worker.expect().await);
    let other = ask(&link, code(true));
    let other_id = id_of(&worker.expect().await);
    let sent = Instant::now();
    let payload = br#"{"sleepMs": 300, "echo": {"hello": ["world", 1]}}"#;
    worker.send(&host_call(id, 1, "test.echo", payload)).await;
    worker.answer(other_id, "2").await;
    assert_eq!(json_of(other.await.expect("task")), "2");
    assert!(sent.elapsed() < Duration::from_millis(300));
    assert_eq!(
        worker.expect().await,
        ToWorker::HostReply {
            request_id: id,
            call_id: 1,
            cpu_us: 0,
            result: Ok(br#"{"hello":["world",1]}"#.to_vec())
        }
    );
    assert!(sent.elapsed() >= Duration::from_millis(300));
    worker.answer(id, "1").await;
    assert_eq!(json_of(echoing.await.expect("task")), "1");
}

#[tokio::test]
async fn a_closed_socket_fails_waiting_requests_and_refuses_new_ones() {
    let (link, end, mut worker) = start(HostCalls::default());
    let waiting = ask(&link, code(true));
    let id = id_of(&worker.expect().await);
    drop(worker);
    assert!(ended(end).await.contains("closed its socket"));
    assert!(matches!(waiting.await, Ok(Err(AskError::Lost(_)))));
    assert!(matches!(link.register(code(true)), Err(NotSent)));
    assert_eq!(link.take_in_flight().first().map(|r| r.id), Some(id));
}

#[tokio::test]
async fn the_requests_in_flight_at_a_close_say_which_made_a_host_call() {
    let (link, end, mut worker) = start(echo_calls());
    let calling = ask(&link, code(true));
    let calling_id = id_of(&worker.expect().await);
    let quiet = ask(&link, code(true));
    let quiet_id = id_of(&worker.expect().await);
    worker
        .send(&host_call(calling_id, 1, "t.echo", b"hi"))
        .await;
    assert!(matches!(worker.expect().await, ToWorker::HostReply { .. }));
    drop(worker);
    assert!(ended(end).await.contains("closed its socket"));
    assert!(matches!(calling.await, Ok(Err(AskError::Lost(_)))));
    assert!(matches!(quiet.await, Ok(Err(AskError::Lost(_)))));
    let called: Vec<(RequestId, bool)> = link
        .take_in_flight()
        .iter()
        .map(|r| (r.id, r.called))
        .collect();
    assert_eq!(called, [(calling_id, true), (quiet_id, false)]);
}

/// An answer after which the request goes on (`Outcome.open`).
fn open_answer(id: RequestId) -> ToSupervisor {
    let reply = Ok(stockade_ipc::Reply::Json(b"1".to_vec()));
    let ToSupervisor::Outcome(outcome) = crate::supervisor::fake_worker::outcome(id, reply) else {
        unreachable!("fake_worker::outcome builds an Outcome");
    };
    ToSupervisor::Outcome(Outcome {
        open: true,
        ..outcome
    })
}

/// A `body.write` refused (the daemon's host-call memory is spent) would leave a hole in the
/// body while the runtime's next writes are already on their way: the body is cut there, and the
/// writes after it fail, so no chunk after the hole reaches the client.
#[tokio::test]
async fn a_refused_body_write_cuts_the_body_there_and_fails_the_writes_after_it() {
    let mut calls = echo_calls();
    calls.set_budget_mb(1, 1);
    let (link, _end, mut worker) = start(calls);
    let (out, stream) = crate::supervisor::body::channel();
    let waiting = ask(
        &link,
        Request {
            body_out: Some(out),
            ..code(true)
        },
    );
    let id = id_of(&worker.expect().await);
    worker.send(&open_answer(id)).await;
    assert_eq!(json_of(waiting.await.expect("task")), "1");
    worker.send(&host_call(id, 1, "body.write", b"one")).await;
    expect_reply(&mut worker, id, 1, Ok(Vec::new())).await;
    worker
        .send(&host_call(id, 2, "body.write", &vec![7; 2 << 20]))
        .await;
    let ToWorker::HostReply {
        call_id: 2,
        result: Err(why),
        ..
    } = worker.expect().await
    else {
        panic!("the 2 MiB write is refused");
    };
    assert!(why.contains("whole share"), "{why}");
    worker.send(&host_call(id, 3, "body.write", b"three")).await;
    let ToWorker::HostReply {
        call_id: 3,
        result: Err(_),
        ..
    } = worker.expect().await
    else {
        panic!("a write after the refused one fails");
    };
    let mut chunks = Vec::new();
    let mut cut = None;
    let mut stream = std::pin::pin!(stream.into_stream());
    while let Some(item) = futures_util::StreamExt::next(&mut stream).await {
        match item {
            Ok(chunk) => chunks.push(chunk.to_vec()),
            Err(e) => cut = Some(e.0),
        }
    }
    assert_eq!(chunks, vec![b"one".to_vec()], "nothing after the hole");
    assert!(
        cut.is_some_and(|why| why.contains("refused")),
        "the body is cut"
    );
}

#[tokio::test]
async fn an_open_request_keeps_its_lease_and_calls_until_finished_and_its_body_is_cut_if_unended() {
    let (link, end, mut worker) = start(echo_calls());
    let permits = Arc::new(Semaphore::new(1));
    let lease: Lease = Arc::new(Arc::clone(&permits).try_acquire_owned().expect("permit"));
    let (out, stream) = crate::supervisor::body::channel();
    let waiting = ask(
        &link,
        Request {
            lease: Some(lease),
            body_out: Some(out),
            ..code(true)
        },
    );
    let id = id_of(&worker.expect().await);
    worker.send(&open_answer(id)).await;
    assert_eq!(json_of(waiting.await.expect("task")), "1");
    // Answered but open: it still holds its place and may still call the host.
    assert_eq!(permits.available_permits(), 0);
    worker.send(&host_call(id, 1, "body.write", b"part")).await;
    assert_eq!(
        worker.expect().await,
        ToWorker::HostReply {
            request_id: id,
            call_id: 1,
            cpu_us: 0,
            result: Ok(Vec::new())
        }
    );
    worker.send(&host_call(id, 2, "t.echo", b"late")).await;
    assert!(matches!(
        worker.expect().await,
        ToWorker::HostReply {
            call_id: 2,
            result: Ok(_),
            ..
        }
    ));
    // Finished without `body.end`: the body is cut, and the place is given back.
    worker
        .send(&ToSupervisor::Finished {
            request_id: id,
            error: None,
            logs: vec![],
        })
        .await;
    let mut cut = false;
    let mut stream = std::pin::pin!(stream.into_stream());
    while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
        cut = chunk.is_err();
    }
    assert!(cut, "an unended body is cut");
    assert_eq!(permits.available_permits(), 1);
    // After its Finished, a call for it proves the worker confused.
    worker.send(&host_call(id, 3, "t.echo", b"")).await;
    assert!(ended(end).await.contains("not in flight"));
}

#[tokio::test]
async fn a_finished_for_a_request_not_answered_open_ends_the_link() {
    let (link, end, mut worker) = start(HostCalls::default());
    let _waiting = ask(&link, code(true));
    let id = id_of(&worker.expect().await);
    worker
        .send(&ToSupervisor::Finished {
            request_id: id,
            error: None,
            logs: vec![],
        })
        .await;
    assert!(ended(end).await.contains("not answered open"));
}

#[tokio::test]
async fn answers_a_worker_does_not_read_stay_within_the_requests_share() {
    const BIG: usize = 8 << 20;
    let mut calls = HostCalls::default();
    calls.register("t.big", |_: TenantId, _: Vec<u8>| async move {
        Ok(vec![7u8; BIG])
    });
    let budget = Arc::clone(calls.budget());
    let (link, _end, mut worker) = start(calls);
    let waiting = ask(&link, code(true));
    let id = id_of(&worker.expect().await);
    // Ten calls whose answers the worker does not read: they wait in the link's outbox, and
    // only the request's 48 MiB share of them is kept.
    for call_id in 0..10 {
        worker.send(&host_call(id, call_id, "t.big", b"")).await;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while budget.held() < 6 * BIG {
        assert!(Instant::now() < deadline, "held {}", budget.held());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(budget.held(), 6 * BIG, "the share, and no more");
    let (mut answered, mut dropped) = (0, 0);
    for _ in 0..10 {
        match worker.expect().await {
            ToWorker::HostReply {
                result: Ok(payload),
                ..
            } => {
                assert_eq!(payload.len(), BIG);
                answered += 1;
            }
            ToWorker::HostReply {
                result: Err(message),
                ..
            } => {
                assert!(message.contains("answer was dropped"), "{message}");
                dropped += 1;
            }
            other => panic!("expected a host reply, got {other:?}"),
        }
    }
    assert_eq!((answered, dropped), (6, 4));
    // Written whole, every answer is given back.
    while budget.held() != 0 {
        assert!(Instant::now() < deadline, "held {}", budget.held());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    worker.answer(id, "1").await;
    assert_eq!(json_of(waiting.await.expect("task")), "1");
}
