//! The codec over a real Unix stream socket pair, with the peer on another thread: a whole
//! conversation with frames larger than the socket buffer, a slice-decoder loop fed by short
//! reads (the shape the async integrator uses), and peers that send garbage or hang up.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::thread;

use stockade_ipc::{
    decode_frame, read_frame, write_frame, Call, DecodeError, Decoded, JailReport, Limits,
    LoadWorker, Module, ModuleKind, Outcome, Profile, ReadError, Reply, RequestId, ToSupervisor,
    ToWorker, WorkerId, PROTOCOL_VERSION,
};

const WORKER: WorkerId = WorkerId([0x5A; 32]);

/// A minimal worker loop: answers each request, echoing request ids and sizes. An `Invoke`
/// whose argument is `host` first asks the supervisor a `HostCall` and answers with its reply;
/// a `Cancel` is ignored (this worker has nothing in flight when one arrives).
fn fake_worker(mut socket: UnixStream) -> Result<usize, ReadError> {
    let mut handled = 0;
    while let Some(message) = read_frame::<ToWorker, _>(&mut socket)? {
        handled += 1;
        let reply = match message {
            ToWorker::Hello { protocol_version } => ToSupervisor::Ready {
                protocol_version,
                pid: std::process::id(),
                jail: JailReport::default(),
            },
            ToWorker::LoadWorker(load) => outcome(load.request_id, Ok(Reply::Loaded)),
            ToWorker::Invoke {
                request_id,
                call: Call::Default { arg_json },
                ..
            } if arg_json == b"host" => {
                let call = ToSupervisor::HostCall {
                    request_id,
                    call_id: 7,
                    name: "test.echo".into(),
                    payload: b"ping".to_vec(),
                    cpu_left_us: 4_000,
                };
                write_frame(&mut socket, &call).expect("worker writes");
                let reply = read_frame::<ToWorker, _>(&mut socket)?;
                handled += 1;
                match reply {
                    Some(ToWorker::HostReply {
                        request_id: replied,
                        call_id: 7,
                        cpu_us: 250,
                        result: Ok(payload),
                    }) if replied == request_id => outcome(request_id, Ok(Reply::Json(payload))),
                    other => panic!("expected the host reply, got {other:?}"),
                }
            }
            ToWorker::Invoke {
                request_id, call, ..
            } => {
                let len = match call {
                    Call::Default { arg_json } => arg_json.len(),
                    Call::Fetch { body, .. } => body.len(),
                    Call::Rpc { args_json, .. } => args_json.len(),
                    Call::Scheduled { cron, .. } => cron.len(),
                    Call::Queue { bodies, .. } => bodies.len(),
                    Call::Alarm { args_json, .. } => args_json.len(),
                };
                outcome(request_id, Ok(Reply::Json(len.to_string().into_bytes())))
            }
            ToWorker::Cancel { .. } => continue,
            ToWorker::Shutdown => return Ok(handled),
            other => panic!("unexpected {other:?}"),
        };
        write_frame(&mut socket, &reply).expect("worker writes");
    }
    Ok(handled)
}

fn outcome(request_id: RequestId, result: Result<Reply, stockade_ipc::ErrorReply>) -> ToSupervisor {
    ToSupervisor::Outcome(Outcome {
        request_id,
        result,
        logs: vec![],
        cpu_us: 0,
        wall_us: 0,
        open: false,
        observed: Default::default(),
        memory_bytes: 0,
    })
}

fn expect_reply(socket: &mut UnixStream) -> ToSupervisor {
    read_frame::<ToSupervisor, _>(socket)
        .expect("supervisor reads")
        .expect("worker still connected")
}

#[test]
fn conversation_over_socketpair() {
    let (mut supervisor, worker) = UnixStream::pair().expect("socketpair");
    let worker = thread::spawn(move || fake_worker(worker));

    write_frame(
        &mut supervisor,
        &ToWorker::Hello {
            protocol_version: PROTOCOL_VERSION,
        },
    )
    .expect("hello");
    assert!(matches!(
        expect_reply(&mut supervisor),
        ToSupervisor::Ready { protocol_version: PROTOCOL_VERSION, pid, .. } if pid == std::process::id()
    ));

    // 4 MiB of module code: far more than the socket buffer, so both sides see partial I/O.
    let load = ToWorker::LoadWorker(LoadWorker {
        request_id: RequestId(1),
        worker_id: WORKER,
        tenant: "acme".into(),
        main_module: "main.js".into(),
        modules: vec![Module {
            name: "main.js".into(),
            kind: ModuleKind::Js,
            bytes: vec![b' '; 4 << 20],
        }],
        env: vec![("MODE".into(), "test".into())],
        limits: Limits::default(),
        profile: Profile::Strict,
        compatibility_date: "2026-11-01".into(),
        compatibility_flags: vec!["nodejs_compat".into()],
    });
    write_frame(&mut supervisor, &load).expect("load");
    assert_eq!(
        expect_reply(&mut supervisor),
        outcome(RequestId(1), Ok(Reply::Loaded))
    );

    for i in 2..200u64 {
        let size = (i as usize * 7919) % 100_000;
        let invoke = ToWorker::Invoke {
            request_id: RequestId(i),
            worker_id: WORKER,
            call: Call::Default {
                arg_json: vec![b'0'; size],
            },
        };
        write_frame(&mut supervisor, &invoke).expect("invoke");
        let reply = expect_reply(&mut supervisor);
        assert_eq!(reply.request_id(), invoke.request_id());
        assert_eq!(
            reply,
            outcome(RequestId(i), Ok(Reply::Json(size.to_string().into_bytes())))
        );
    }

    // A cancel for a request already answered: no reply of its own.
    write_frame(
        &mut supervisor,
        &ToWorker::Cancel {
            request_id: RequestId(199),
        },
    )
    .expect("cancel");

    // A request that makes a host call before it answers.
    let invoke = ToWorker::Invoke {
        request_id: RequestId(500),
        worker_id: WORKER,
        call: Call::Default {
            arg_json: b"host".to_vec(),
        },
    };
    write_frame(&mut supervisor, &invoke).expect("invoke");
    let ToSupervisor::HostCall {
        request_id,
        call_id,
        name,
        payload,
        cpu_left_us,
    } = expect_reply(&mut supervisor)
    else {
        panic!("expected a host call");
    };
    assert_eq!(
        (request_id, call_id, name.as_str(), cpu_left_us),
        (RequestId(500), 7, "test.echo", 4_000)
    );
    let reply = ToWorker::HostReply {
        request_id,
        call_id,
        cpu_us: 250,
        result: Ok([&payload[..], b"-pong"].concat()),
    };
    write_frame(&mut supervisor, &reply).expect("host reply");
    assert_eq!(
        expect_reply(&mut supervisor),
        outcome(RequestId(500), Ok(Reply::Json(b"ping-pong".to_vec())))
    );

    write_frame(&mut supervisor, &ToWorker::Shutdown).expect("shutdown");
    // Hello, LoadWorker, 198 invokes, Cancel, the invoke with its host call and reply, Shutdown.
    let handled = worker.join().expect("worker thread").expect("worker ok");
    assert_eq!(handled, 204);
    // The worker's end is closed: a clean end of stream, not an error.
    assert!(matches!(
        read_frame::<ToSupervisor, _>(&mut supervisor),
        Ok(None)
    ));
}

/// The integrator's pattern: append whatever a read returns to a buffer, decode frames off its
/// front, ask for more on `NeedMore`. Here reads are deliberately tiny and uneven.
#[test]
fn slice_decoder_over_short_reads() {
    let (mut supervisor, mut worker) = UnixStream::pair().expect("socketpair");
    let sent: Vec<ToSupervisor> = (0..300u64)
        .map(|i| {
            outcome(
                RequestId(i),
                Ok(Reply::Response {
                    status: 200,
                    headers: vec![("x-i".into(), i.to_string())],
                    body: vec![i as u8; (i as usize * 331) % 5000],
                    streamed: i % 2 == 0,
                    length: None,
                    web_socket: false,
                }),
            )
        })
        .collect();
    let to_send = sent.clone();
    let writer = thread::spawn(move || {
        for message in &to_send {
            write_frame(&mut worker, message).expect("worker writes");
        }
    });

    let mut buffer = Vec::new();
    let mut received = Vec::new();
    let mut chunk = [0u8; 13];
    let mut step = 0;
    while received.len() < sent.len() {
        match decode_frame::<ToSupervisor>(&buffer).expect("valid stream") {
            Decoded::Frame { message, consumed } => {
                buffer.drain(..consumed);
                received.push(message);
            }
            Decoded::NeedMore(n) => {
                assert!(n > 0);
                step += 1;
                let want = 1 + step % chunk.len();
                let got = supervisor.read(&mut chunk[..want]).expect("read");
                assert!(got > 0, "stream ended early");
                buffer.extend_from_slice(&chunk[..got]);
            }
        }
    }
    writer.join().expect("writer thread");
    assert_eq!(received, sent);
    assert!(buffer.is_empty());
}

#[test]
fn hostile_peers_are_refused() {
    // Garbage instead of a frame.
    let (mut supervisor, mut worker) = UnixStream::pair().expect("socketpair");
    worker.write_all(b"GET / HTTP/1.1\r\n\r\n").expect("write");
    assert!(matches!(
        read_frame::<ToSupervisor, _>(&mut supervisor),
        Err(ReadError::Decode(DecodeError::BadMagic {
            offset: 0,
            got: b'G'
        }))
    ));

    // A frame that claims the maximal Outcome and then hangs up after a few bytes.
    let (mut supervisor, mut worker) = UnixStream::pair().expect("socketpair");
    let max = u32::try_from(stockade_ipc::MessageKind::Outcome.max_payload()).expect("fits");
    let mut frame = vec![b'S', b'K', PROTOCOL_VERSION, 0x82];
    frame.extend_from_slice(&max.to_le_bytes());
    frame.extend_from_slice(&[0; 10]);
    worker.write_all(&frame).expect("write");
    drop(worker);
    assert!(matches!(
        read_frame::<ToSupervisor, _>(&mut supervisor),
        Err(ReadError::UnexpectedEof { got: 18, .. })
    ));

    // A compromised worker impersonating the supervisor.
    let (mut supervisor, mut worker) = UnixStream::pair().expect("socketpair");
    write_frame(&mut worker, &ToWorker::Shutdown).expect("write");
    assert!(matches!(
        read_frame::<ToSupervisor, _>(&mut supervisor),
        Err(ReadError::Decode(DecodeError::WrongDirection { .. }))
    ));

    // Hang-up in the middle of the header.
    let (mut supervisor, mut worker) = UnixStream::pair().expect("socketpair");
    worker.write_all(b"SK").expect("write");
    drop(worker);
    assert!(matches!(
        read_frame::<ToSupervisor, _>(&mut supervisor),
        Err(ReadError::UnexpectedEof {
            got: 2,
            expected: 8
        })
    ));
}
