//! Golden vectors: hand-written bytes that pin the wire format. They were written from the
//! layout documentation, not produced by the encoder; a change here is a protocol change and
//! needs a `PROTOCOL_VERSION` bump (2: `ErrorKind::InvalidResponse`; 3: `Stats`/`StatsReply`,
//! `RunSnippet::tenant` and error kinds 7 and 8 removed, `Cancel`, `HostCall`, `HostReply` and
//! `ErrorKind::Cancelled` added; 4: `Finished` and open outcomes; 5: `Call::Rpc`; 6: `Outcome::observed`;
//! 7: `Outcome::memory_bytes`; 8: `RenewalOverdue`; 9: `Call::Fetch::entrypoint`; 10:
//! `Call::Fetch::encode_body`; 11: `Reply::Response::web_socket`; 12: `Call::Scheduled`; 13: `Call::Queue`;
//! 14: `Call::Scheduled::wall_ms`, `Call::Queue::wall_ms`; 15: `Call::Alarm`; 16:
//! `HostCall::cpu_left_us`, `HostReply::cpu_us`; 17: `Call::Fetch::props_json`, `Call::Rpc::props_json`).

use stockade_ipc::{
    decode_frame, encode_to_vec, Call, Decoded, ErrorKind, ErrorReply, JailReport, Limits,
    LoadWorker, LogLevel, LogLine, Message, Module, ModuleKind, Observed, Outcome, Profile,
    RequestId, ToSupervisor, ToWorker, WorkerId,
};

fn assert_golden<M: Message>(message: M, pieces: &[&[u8]]) {
    let golden = pieces.concat();
    let encoded = encode_to_vec(&message).expect("golden message encodes");
    assert_eq!(encoded, golden, "encoding of {message:?}");
    assert_eq!(
        decode_frame::<M>(&golden),
        Ok(Decoded::Frame {
            message,
            consumed: golden.len()
        })
    );
}

#[test]
fn hello() {
    assert_golden(
        ToWorker::Hello {
            protocol_version: 17,
        },
        &[
            b"SK",         // magic
            &[0x11],       // version
            &[0x01],       // kind: Hello
            &[1, 0, 0, 0], // payload length
            &[0x11],       // protocol_version
        ],
    );
}

#[test]
fn cancel() {
    assert_golden(
        ToWorker::Cancel {
            request_id: RequestId(0x0102_0304_0506_0708),
        },
        &[
            b"SK",
            &[0x11, 0x08],
            &[8, 0, 0, 0],
            &[0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01], // request_id, little-endian
        ],
    );
}

#[test]
fn run_snippet_has_no_tenant() {
    assert_golden(
        ToWorker::RunSnippet {
            request_id: RequestId(3),
            code: "c".into(),
            arg_json: b"1".to_vec(),
            limits: Limits {
                cpu_ms: 9,
                ..Limits::default()
            },
        },
        &[
            b"SK",
            &[0x11, 0x04],
            &[46, 0, 0, 0],
            &[3, 0, 0, 0, 0, 0, 0, 0], // request_id
            &[1, 0, 0, 0],
            b"c", // code
            &[1, 0, 0, 0],
            b"1",          // arg_json
            &[9, 0, 0, 0], // cpu_ms
            &[0; 6 * 4],   // the other six limits
        ],
    );
}

#[test]
fn host_reply_ok_and_err() {
    assert_golden(
        ToWorker::HostReply {
            request_id: RequestId(5),
            call_id: 0x0A0B_0C0D,
            cpu_us: 0x0102_0304,
            result: Ok(b"{}".to_vec()),
        },
        &[
            b"SK",
            &[0x11, 0x09],
            &[23, 0, 0, 0],
            &[5, 0, 0, 0, 0, 0, 0, 0],
            &[0x0D, 0x0C, 0x0B, 0x0A], // call_id
            &[0x04, 0x03, 0x02, 0x01], // cpu_us
            &[0x01],                   // Ok
            &[2, 0, 0, 0],
            b"{}",
        ],
    );
    assert_golden(
        ToWorker::HostReply {
            request_id: RequestId(5),
            call_id: 1,
            cpu_us: 0,
            result: Err("no".into()),
        },
        &[
            b"SK",
            &[0x11, 0x09],
            &[23, 0, 0, 0],
            &[5, 0, 0, 0, 0, 0, 0, 0],
            &[1, 0, 0, 0],
            &[0, 0, 0, 0], // cpu_us
            &[0x02],       // Err
            &[2, 0, 0, 0],
            b"no",
        ],
    );
}

#[test]
fn host_call() {
    assert_golden(
        ToSupervisor::HostCall {
            request_id: RequestId(6),
            call_id: 2,
            name: "t.e".into(),
            payload: vec![0xFF],
            cpu_left_us: 50_000,
        },
        &[
            b"SK",
            &[0x11, 0x85], // kind: HostCall
            &[28, 0, 0, 0],
            &[6, 0, 0, 0, 0, 0, 0, 0],
            &[2, 0, 0, 0], // call_id
            &[3, 0, 0, 0],
            b"t.e", // name
            &[1, 0, 0, 0],
            &[0xFF],             // payload
            &[0x50, 0xC3, 0, 0], // cpu_left_us: 50,000
        ],
    );
}

#[test]
fn shutdown_has_empty_payload() {
    assert_golden(ToWorker::Shutdown, &[b"SK", &[0x11, 0x07], &[0, 0, 0, 0]]);
}

#[test]
fn load_worker() {
    assert_golden(
        ToWorker::LoadWorker(LoadWorker {
            request_id: RequestId(1),
            worker_id: WorkerId([0x11; 32]),
            tenant: "t".into(),
            main_module: "m.js".into(),
            modules: vec![Module {
                name: "m.js".into(),
                kind: ModuleKind::Js,
                bytes: b"x".to_vec(),
            }],
            env: vec![("K".into(), "V".into())],
            limits: Limits {
                cpu_ms: 1,
                wall_ms: 2,
                memory_mb: 3,
                stack_kb: 4,
                sub_requests: 5,
                result_bytes: 6,
                log_bytes: 7,
            },
            profile: Profile::Strict,
            compatibility_date: "2026-11-01".into(),
            compatibility_flags: vec!["nodejs_compat".into()],
        }),
        &[
            b"SK",
            &[0x11, 0x02],
            &[149, 0, 0, 0],
            &[1, 0, 0, 0, 0, 0, 0, 0], // request_id
            &[0x11; 32],               // worker_id
            &[1, 0, 0, 0],
            b"t", // tenant
            &[4, 0, 0, 0],
            b"m.js",       // main_module
            &[1, 0, 0, 0], // one module
            &[4, 0, 0, 0],
            b"m.js",       // name
            &[0x01],       // kind: Js
            &[1, 0, 0, 0], // bytes
            b"x",
            &[1, 0, 0, 0], // one env binding
            &[1, 0, 0, 0],
            b"K",
            &[1, 0, 0, 0],
            b"V",
            &[1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0], // cpu, wall, memory, stack
            &[5, 0, 0, 0, 6, 0, 0, 0, 7, 0, 0, 0],             // sub_requests, result, log
            &[0x02],                                           // profile: Strict
            &[10, 0, 0, 0],
            b"2026-11-01", // compatibility_date
            &[1, 0, 0, 0], // one compatibility flag
            &[13, 0, 0, 0],
            b"nodejs_compat",
        ],
    );
}

#[test]
fn invoke_fetch() {
    assert_golden(
        ToWorker::Invoke {
            request_id: RequestId(42),
            worker_id: WorkerId([0xAA; 32]),
            call: Call::Fetch {
                method: "GET".into(),
                url: "/x".into(),
                headers: vec![("a".into(), "b".into())],
                body: b"hi".to_vec(),
                body_streamed: true,
                entrypoint: "Ep".into(),
                encode_body: true,
                props_json: Vec::new(),
            },
        },
        &[
            b"SK",
            &[0x11, 0x03],
            &[86, 0, 0, 0],
            &[42, 0, 0, 0, 0, 0, 0, 0],
            &[0xAA; 32],
            &[0x02], // Call::Fetch
            &[3, 0, 0, 0],
            b"GET",
            &[2, 0, 0, 0],
            b"/x",
            &[1, 0, 0, 0], // one header
            &[1, 0, 0, 0],
            b"a",
            &[1, 0, 0, 0],
            b"b",
            &[2, 0, 0, 0],
            b"hi",
            &[0x01], // body_streamed
            &[2, 0, 0, 0],
            b"Ep",         // entrypoint
            &[0x01],       // encode_body
            &[0, 0, 0, 0], // props_json: none
        ],
    );
}

#[test]
fn invoke_rpc() {
    assert_golden(
        ToWorker::Invoke {
            request_id: RequestId(7),
            worker_id: WorkerId([0xBB; 32]),
            call: Call::Rpc {
                entrypoint: "Api".into(),
                method: "add".into(),
                args_json: b"[1,2]".to_vec(),
                props_json: br#"{"a":1}"#.to_vec(),
            },
        },
        &[
            b"SK",
            &[0x11, 0x03],
            &[75, 0, 0, 0],
            &[7, 0, 0, 0, 0, 0, 0, 0],
            &[0xBB; 32],
            &[0x03], // Call::Rpc
            &[3, 0, 0, 0],
            b"Api",
            &[3, 0, 0, 0],
            b"add",
            &[5, 0, 0, 0],
            b"[1,2]",
            &[7, 0, 0, 0],
            br#"{"a":1}"#, // props_json
        ],
    );
}

#[test]
fn invoke_scheduled() {
    assert_golden(
        ToWorker::Invoke {
            request_id: RequestId(8),
            worker_id: WorkerId([0xCC; 32]),
            call: Call::Scheduled {
                cron: "* * * * *".into(),
                scheduled_time_ms: 0x0102_0304_0506,
                wall_ms: 900_000,
            },
        },
        &[
            b"SK",
            &[0x11, 0x03],
            &[66, 0, 0, 0],
            &[8, 0, 0, 0, 0, 0, 0, 0],
            &[0xCC; 32],
            &[0x04], // Call::Scheduled
            &[9, 0, 0, 0],
            b"* * * * *",
            &[6, 5, 4, 3, 2, 1, 0, 0],
            &[0xA0, 0xBB, 0x0D, 0x00], // wall_ms 900000
        ],
    );
}

#[test]
fn invoke_queue() {
    assert_golden(
        ToWorker::Invoke {
            request_id: RequestId(9),
            worker_id: WorkerId([0xDD; 32]),
            call: Call::Queue {
                queue: "jobs".into(),
                messages_json: b"[]".to_vec(),
                bodies: b"xyz".to_vec(),
                wall_ms: 0,
            },
        },
        &[
            b"SK",
            &[0x11, 0x03],
            &[66, 0, 0, 0],
            &[9, 0, 0, 0, 0, 0, 0, 0],
            &[0xDD; 32],
            &[0x05], // Call::Queue
            &[4, 0, 0, 0],
            b"jobs",
            &[2, 0, 0, 0],
            b"[]",
            &[3, 0, 0, 0],
            b"xyz",
            &[0, 0, 0, 0], // wall_ms 0: the worker's
        ],
    );
}

#[test]
fn invoke_alarm() {
    assert_golden(
        ToWorker::Invoke {
            request_id: RequestId(10),
            worker_id: WorkerId([0xEE; 32]),
            call: Call::Alarm {
                entrypoint: "Clock".into(),
                args_json: b"[1]".to_vec(),
                wall_ms: 900_000,
            },
        },
        &[
            b"SK",
            &[0x11, 0x03],
            &[61, 0, 0, 0],
            &[10, 0, 0, 0, 0, 0, 0, 0],
            &[0xEE; 32],
            &[0x06], // Call::Alarm
            &[5, 0, 0, 0],
            b"Clock",
            &[3, 0, 0, 0],
            b"[1]",
            &[0xA0, 0xBB, 0x0D, 0x00], // wall_ms 900000
        ],
    );
}

#[test]
fn ready() {
    assert_golden(
        ToSupervisor::Ready {
            protocol_version: 3,
            pid: 0x1234,
            jail: JailReport {
                seccomp: true,
                landlock_abi: 7,
                user_namespace: true,
                mpk: false,
            },
        },
        &[
            b"SK",
            &[0x11, 0x81], // kind: Ready (high bit: worker -> supervisor)
            &[9, 0, 0, 0],
            &[0x03],
            &[0x34, 0x12, 0, 0],
            &[1, 7, 1, 0],
        ],
    );
}

#[test]
fn outcome_error_with_log() {
    assert_golden(
        ToSupervisor::Outcome(Outcome {
            request_id: RequestId(7),
            result: Err(ErrorReply {
                kind: ErrorKind::CpuLimit,
                message: "cpu".into(),
                stack: None,
            }),
            logs: vec![LogLine {
                level: LogLevel::Warn,
                text: "w".into(),
            }],
            cpu_us: 1000,
            wall_us: 2000,
            open: false,
            observed: Observed {
                web_assembly: true,
                dynamic_import: false,
            },
            memory_bytes: 5 << 20,
        }),
        &[
            b"SK",
            &[0x11, 0x82],
            &[55, 0, 0, 0],
            &[7, 0, 0, 0, 0, 0, 0, 0],
            &[0x02], // Err
            &[0x04], // CpuLimit
            &[3, 0, 0, 0],
            b"cpu",
            &[0x00],       // no stack
            &[1, 0, 0, 0], // one log line
            &[0x03],       // Warn
            &[1, 0, 0, 0],
            b"w",
            &[0xE8, 0x03, 0, 0, 0, 0, 0, 0], // cpu_us
            &[0xD0, 0x07, 0, 0, 0, 0, 0, 0], // wall_us
            &[0x00],                         // not open
            &[0x01, 0x00],                   // observed: WebAssembly, no import()
            &[0, 0, 0x50, 0, 0, 0, 0, 0],    // memory_bytes: 5 MiB
        ],
    );
}

#[test]
fn outcome_json_reply() {
    assert_golden(
        ToSupervisor::Outcome(Outcome {
            request_id: RequestId(u64::MAX),
            result: Ok(stockade_ipc::Reply::Json(b"{}".to_vec())),
            logs: vec![],
            cpu_us: 0,
            wall_us: 1,
            open: true,
            observed: Observed {
                web_assembly: false,
                dynamic_import: true,
            },
            memory_bytes: u64::MAX,
        }),
        &[
            b"SK",
            &[0x11, 0x82],
            &[47, 0, 0, 0],
            &[0xFF; 8],
            &[0x01], // Ok
            &[0x02], // Reply::Json
            &[2, 0, 0, 0],
            b"{}",
            &[0, 0, 0, 0], // no logs
            &[0; 8],
            &[1, 0, 0, 0, 0, 0, 0, 0],
            &[0x01],       // open: a Finished follows
            &[0x00, 0x01], // observed: an import(), no WebAssembly
            &[0xFF; 8],    // memory_bytes
        ],
    );
}

#[test]
fn outcome_streamed_response_and_finished() {
    assert_golden(
        ToSupervisor::Outcome(Outcome {
            request_id: RequestId(9),
            result: Ok(stockade_ipc::Reply::Response {
                status: 200,
                headers: vec![],
                body: vec![],
                streamed: true,
                length: Some(70_000),
                web_socket: true,
            }),
            logs: vec![],
            cpu_us: 0,
            wall_us: 0,
            open: true,
            observed: Observed::default(),
            memory_bytes: 0,
        }),
        &[
            b"SK",
            &[0x11, 0x82],
            &[62, 0, 0, 0],
            &[9, 0, 0, 0, 0, 0, 0, 0],
            &[0x01],                               // Ok
            &[0x03],                               // Reply::Response
            &[200, 0],                             // status
            &[0, 0, 0, 0],                         // no headers
            &[0, 0, 0, 0],                         // empty body
            &[0x01],                               // streamed
            &[0x01, 0x70, 0x11, 1, 0, 0, 0, 0, 0], // length: Some(70000)
            &[0x01],                               // web_socket
            &[0, 0, 0, 0],                         // no logs
            &[0; 8],
            &[0; 8],
            &[0x01],       // open
            &[0x00, 0x00], // observed: nothing
            &[0; 8],       // memory_bytes
        ],
    );
    assert_golden(
        ToSupervisor::Finished {
            request_id: RequestId(9),
            error: Some(ErrorReply {
                kind: ErrorKind::WallLimit,
                message: "w".into(),
                stack: None,
            }),
            logs: vec![LogLine {
                level: LogLevel::Error,
                text: "late".into(),
            }],
        },
        &[
            b"SK",
            &[0x11, 0x86],
            &[29, 0, 0, 0],
            &[9, 0, 0, 0, 0, 0, 0, 0],
            &[0x01], // Some
            &[0x05], // WallLimit
            &[1, 0, 0, 0],
            b"w",
            &[0x00],       // no stack
            &[1, 0, 0, 0], // one log line
            &[0x04],       // Error
            &[4, 0, 0, 0],
            b"late",
        ],
    );
    assert_golden(
        ToSupervisor::Finished {
            request_id: RequestId(1),
            error: None,
            logs: vec![],
        },
        &[
            b"SK",
            &[0x11, 0x86],
            &[13, 0, 0, 0],
            &[1, 0, 0, 0, 0, 0, 0, 0],
            &[0x00],
            &[0, 0, 0, 0], // no log lines
        ],
    );
}

#[test]
fn renewal_overdue() {
    assert_golden(
        ToSupervisor::RenewalOverdue {
            created_since_renewal: 40_000,
        },
        &[
            b"SK",
            &[0x11, 0x87], // kind: RenewalOverdue
            &[8, 0, 0, 0],
            &[0x40, 0x9C, 0, 0, 0, 0, 0, 0], // 40,000, little-endian
        ],
    );
}

/// The enum codes are part of the wire format too.
#[test]
fn enum_codes_are_pinned() {
    let kinds: Vec<u8> = stockade_ipc::MessageKind::ALL
        .iter()
        .map(|k| k.code())
        .collect();
    assert_eq!(
        kinds,
        [0x01, 0x02, 0x03, 0x04, 0x05, 0x07, 0x08, 0x09, 0x81, 0x82, 0x84, 0x85, 0x86, 0x87]
    );
    // The removed kinds' codes are unknown, not reused.
    for removed in [0x06, 0x83] {
        assert_eq!(stockade_ipc::MessageKind::from_code(removed), None);
    }
    let errors: Vec<u8> = ErrorKind::ALL.iter().map(|k| k.code()).collect();
    assert_eq!(errors, [1, 2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 14, 15]);
    for removed in [7, 8] {
        assert_eq!(ErrorKind::from_code(removed), None);
    }
    assert_eq!(ErrorKind::Cancelled.code(), 15);
    let modules: Vec<u8> = ModuleKind::ALL.iter().map(|k| k.code()).collect();
    assert_eq!(modules, [1, 2, 3, 4, 5, 6, 7]);
    let levels: Vec<u8> = LogLevel::ALL.iter().map(|k| k.code()).collect();
    assert_eq!(levels, [1, 2, 3, 4, 5]);
    let profiles: Vec<u8> = Profile::ALL.iter().map(|k| k.code()).collect();
    assert_eq!(profiles, [1, 2]);
}
