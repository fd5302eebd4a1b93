//! The hall with real threads on a real socket pair; the supervisor's end writes frames. No
//! isolate is involved: the threads take work and record it.

use std::os::unix::net::UnixStream;
use std::sync::mpsc::channel;
use std::time::Duration;

use stockade_ipc::{write_frame, Limits, RequestId, ToWorker};

use super::super::shared::Shared;
use super::super::thread::Work;
use super::{Hall, Next, ThreadInbox};
use std::sync::Arc;

fn snippet(id: u64) -> ToWorker {
    ToWorker::RunSnippet {
        request_id: RequestId(id),
        code: String::new(),
        arg_json: Vec::new(),
        limits: Limits::default(),
    }
}

fn id_of(work: &Work) -> u64 {
    match work {
        Work::Snippet { id, .. } => id.0,
        _ => u64::MAX,
    }
}

/// A hall of `threads` threads; each runs `body` with its inbox on a thread of its own.
fn hall(
    threads: usize,
    body: impl Fn(usize, ThreadInbox) + Send + Sync + 'static,
) -> (Arc<Hall>, Arc<Shared>, UnixStream) {
    let (worker_end, supervisor_end) = UnixStream::pair().expect("socket pair");
    let shared = Arc::new(Shared::new(worker_end, threads, 1000));
    let hall = Hall::new(Arc::clone(&shared), threads, 64 << 10);
    let body = Arc::new(body);
    for index in 0..threads {
        let hall = Arc::clone(&hall);
        let body = Arc::clone(&body);
        std::thread::spawn(move || body(index, hall.inbox(index)));
    }
    (hall, shared, supervisor_end)
}

fn send(to: &mut UnixStream, message: &ToWorker) {
    write_frame(to, message).expect("write a frame");
}

/// A hall of one thread (the caller's) reading through a buffer of `buffer` bytes.
fn single(buffer: usize) -> (Arc<Hall>, ThreadInbox, UnixStream) {
    let (worker_end, supervisor_end) = UnixStream::pair().expect("socket pair");
    let shared = Arc::new(Shared::new(worker_end, 1, 1000));
    let hall = Hall::new(shared, 1, buffer);
    let inbox = hall.inbox(0);
    (hall, inbox, supervisor_end)
}

/// The id of the snippet `next` took, `u64::MAX` for anything else.
fn taken(next: Next) -> u64 {
    match next {
        Next::Work(w) => id_of(&w),
        _ => u64::MAX,
    }
}

#[test]
fn every_message_reaches_the_thread_it_is_routed_to_and_the_end_closes_every_inbox() {
    let (taken, took) = channel::<(usize, u64)>();
    let (closed, saw_closed) = channel();
    let (hall, shared, mut supervisor) = hall(2, move |index, mut inbox| loop {
        match inbox.next_until(None) {
            Next::Work(work) => {
                let _ = taken.send((index, id_of(&work)));
            }
            Next::Empty => {}
            Next::Closed => {
                let _ = closed.send(index);
                return;
            }
        }
    });
    for id in 0..20 {
        send(&mut supervisor, &snippet(id));
    }
    let mut seen = Vec::new();
    for _ in 0..20 {
        let (thread, id) = took
            .recv_timeout(Duration::from_secs(10))
            .expect("every snippet is taken");
        // Routes are recorded before the work is handed over.
        assert_eq!(shared.routes().get(&RequestId(id)), Some(&thread));
        seen.push(id);
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..20).collect::<Vec<_>>());
    // Nobody answers, so the load alternates: both threads had work.
    let routes = shared.routes();
    assert!((0..2).all(|t| routes.values().filter(|&&r| r == t).count() == 10));
    drop(routes);
    send(&mut supervisor, &ToWorker::Shutdown);
    let mut ends: Vec<usize> = (0..2)
        .map(|_| {
            saw_closed
                .recv_timeout(Duration::from_secs(10))
                .expect("every inbox closes")
        })
        .collect();
    ends.sort_unstable();
    assert_eq!(ends, vec![0, 1]);
    assert_eq!(hall.ended(), Ok(()));
}

#[test]
fn the_socket_s_end_and_a_second_hello_end_the_hall_with_why() {
    let (hall_a, _shared, supervisor) =
        hall(
            2,
            |_, mut inbox| {
                while !matches!(inbox.next_until(None), Next::Closed) {}
            },
        );
    drop(supervisor);
    assert_eq!(hall_a.ended(), Ok(()));
    let (hall_b, _shared, mut supervisor) =
        hall(
            2,
            |_, mut inbox| {
                while !matches!(inbox.next_until(None), Next::Closed) {}
            },
        );
    send(
        &mut supervisor,
        &ToWorker::Hello {
            protocol_version: stockade_ipc::PROTOCOL_VERSION,
        },
    );
    assert!(hall_b.ended().is_err());
}

/// A thread inside long work never looks at the socket; the other, idle one must read a
/// message for itself meanwhile (it watches, or looks after `STALE` at the latest), whichever
/// thread read the first message.
#[test]
fn a_thread_in_long_work_does_not_hold_up_a_message_for_an_idle_one() {
    let (taken, took) = channel::<(usize, u64)>();
    let (release, released) = channel::<()>();
    let released = std::sync::Mutex::new(released);
    let (_hall, _shared, mut supervisor) = hall(2, move |index, mut inbox| loop {
        match inbox.next_until(None) {
            Next::Work(work) => {
                let id = id_of(&work);
                let _ = taken.send((index, id));
                if id == 1 {
                    // Long work that does not ask anyone to watch: blocks until the test
                    // releases it (or 30 s pass).
                    let _ = super::lock(&released).recv_timeout(Duration::from_secs(30));
                }
            }
            Next::Empty => {}
            Next::Closed => return,
        }
    });
    send(&mut supervisor, &snippet(1));
    let (busy, _) = took.recv_timeout(Duration::from_secs(10)).expect("taken");
    // Time for the idle thread to settle into its wait (watching or asleep): the message
    // must find it there, not on its way.
    std::thread::sleep(Duration::from_millis(100));
    send(&mut supervisor, &snippet(2));
    let got = took.recv_timeout(Duration::from_secs(10));
    let _ = release.send(());
    let (other, id) = got.expect("the idle thread takes the second snippet during the first");
    assert_eq!(id, 2);
    assert_ne!(other, busy);
}

/// One thread: it reads everything itself, waits on the socket, and returns `Empty` by its
/// deadline when nothing comes.
#[test]
fn a_single_thread_reads_for_itself_and_its_wait_ends_by_its_deadline() {
    let (hall, mut inbox, mut supervisor) = single(64 << 10);
    let start = std::time::Instant::now();
    assert!(matches!(
        inbox.next_until(Some(start + Duration::from_millis(30))),
        Next::Empty
    ));
    assert!(start.elapsed() >= Duration::from_millis(30));
    assert!(matches!(inbox.try_next(), Next::Empty));
    send(&mut supervisor, &snippet(7));
    send(&mut supervisor, &snippet(8));
    let ids: Vec<u64> = (0..2).map(|_| taken(inbox.next_until(None))).collect();
    assert_eq!(ids, vec![7, 8]);
    send(&mut supervisor, &ToWorker::Shutdown);
    assert!(matches!(inbox.next_until(None), Next::Closed));
    assert_eq!(hall.ended(), Ok(()));
}

/// Frames written together are read with one `recv` (none more to find the socket empty),
/// and frames that span many reads of a small buffer are all routed, in order.
#[test]
fn one_read_takes_the_frames_written_together_and_small_reads_lose_none() {
    let (hall, mut inbox, mut supervisor) = single(64 << 10);
    let frames = |ids: std::ops::Range<u64>| {
        let mut together = Vec::new();
        for id in ids {
            write_frame(&mut together, &snippet(id)).expect("encode a frame");
        }
        together
    };
    std::io::Write::write_all(&mut supervisor, &frames(1..4)).expect("write three frames");
    let reads = || super::lock(&hall.reader).socket.get_ref().reads;
    // One look: one recv takes the three, and none more is made to find the socket empty.
    assert_eq!(taken(inbox.try_next()), 1);
    assert_eq!(reads(), 1, "one recv for three frames");
    let rest: Vec<u64> = (0..2).map(|_| taken(inbox.try_next())).collect();
    assert_eq!(rest, vec![2, 3]);
    // A look with the buffer empty still reads (without waiting), and finds nothing.
    assert!(matches!(inbox.try_next(), Next::Empty));

    // A buffer of 16 bytes: every frame takes several reads, each full but the last.
    let (_hall, mut inbox, mut supervisor) = single(16);
    std::io::Write::write_all(&mut supervisor, &frames(10..15)).expect("write five frames");
    let soon = || Some(std::time::Instant::now() + Duration::from_secs(10));
    let ids: Vec<u64> = (0..5).map(|_| taken(inbox.next_until(soon()))).collect();
    assert_eq!(ids, vec![10, 11, 12, 13, 14]);
}

/// A wait for a synchronous call's answer, inside an entry: the work that arrives meanwhile
/// is kept in order and handed out first afterwards; a `Cancel` of the request ends the wait
/// (and is kept); nothing ends it by its deadline.
#[test]
fn a_wait_for_a_reply_keeps_other_work_in_order_and_ends_on_cancel_or_deadline() {
    use super::Reply;
    let (_hall, mut inbox, mut supervisor) = single(64 << 10);
    let reply = |id: u64, call: u32| ToWorker::HostReply {
        request_id: RequestId(id),
        call_id: call,
        cpu_us: call * 1000,
        result: Ok(vec![id as u8]),
    };
    send(&mut supervisor, &snippet(1));
    send(&mut supervisor, &reply(1, 4)); // another call of request 1 (routed by its snippet)
    send(&mut supervisor, &snippet(2));
    send(&mut supervisor, &reply(1, 5));
    let soon = std::time::Instant::now() + Duration::from_secs(10);
    let mut waiter = inbox.handle();
    assert!(matches!(
        waiter.wait_for_reply(RequestId(1), 5, soon),
        Reply::Answered(Ok(b), spent) if b == [1] && spent == Duration::from_millis(5)
    ));
    assert_eq!(taken(inbox.try_next()), 1);
    assert!(matches!(
        inbox.try_next(),
        Next::Work(Work::HostReply { call: 4, .. })
    ));
    assert_eq!(taken(inbox.next_until(Some(soon))), 2);
    send(
        &mut supervisor,
        &ToWorker::Cancel {
            request_id: RequestId(1),
        },
    );
    assert!(matches!(
        waiter.wait_for_reply(RequestId(1), 6, soon),
        Reply::Cancelled
    ));
    assert!(matches!(
        inbox.try_next(),
        Next::Work(Work::Cancel(RequestId(1)))
    ));
    let brief = std::time::Instant::now() + Duration::from_millis(30);
    assert!(matches!(
        waiter.wait_for_reply(RequestId(3), 1, brief),
        Reply::TimedOut
    ));
}
