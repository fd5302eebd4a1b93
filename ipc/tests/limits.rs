//! Field caps: each one accepts exactly its maximum and refuses one more, on the encoder (which
//! then leaves its buffer untouched); maximal messages of every kind hit `max_payload` exactly
//! and decode (through both decoders).

use std::io::Cursor;

use stockade_ipc::limits::*;
use stockade_ipc::{
    decode_frame, encode_frame, read_frame, Call, Decoded, EncodeError, ErrorKind, ErrorReply,
    Field, JailReport, LimitExceeded, Limits, LoadWorker, LogLevel, LogLine, Message, MessageKind,
    Module, ModuleKind, Outcome, Profile, Reply, RequestId, ToSupervisor, ToWorker, WorkerId,
    MAX_FRAME_PAYLOAD, MAX_TO_SUPERVISOR_PAYLOAD,
};

fn text(n: usize) -> String {
    "a".repeat(n)
}

/// `total` bytes split into `(name, value)` pairs, filling each name to `name_len` and each
/// value to `value_len` before starting the next pair.
fn pairs(total: usize, name_len: usize, value_len: usize) -> Vec<(String, String)> {
    let mut left = total;
    let mut out = Vec::new();
    while left > 0 {
        let name = left.min(name_len);
        let value = (left - name).min(value_len);
        left -= name + value;
        out.push((text(name), text(value)));
    }
    out
}

fn load_worker(edit: impl FnOnce(&mut LoadWorker)) -> ToWorker {
    let mut load = LoadWorker {
        request_id: RequestId(1),
        worker_id: WorkerId([7; 32]),
        tenant: "t".into(),
        main_module: "main.js".into(),
        modules: vec![],
        env: vec![],
        limits: Limits::default(),
        profile: Profile::Standard,
        compatibility_date: String::new(),
        compatibility_flags: vec![],
    };
    edit(&mut load);
    ToWorker::LoadWorker(load)
}

fn snippet(code: usize, arg_json: usize) -> ToWorker {
    ToWorker::RunSnippet {
        request_id: RequestId(2),
        code: text(code),
        arg_json: vec![b'1'; arg_json],
        limits: Limits::default(),
    }
}

fn fetch(method: usize, url: usize, headers: Vec<(String, String)>, body: usize) -> ToWorker {
    ToWorker::Invoke {
        request_id: RequestId(3),
        worker_id: WorkerId([9; 32]),
        call: Call::Fetch {
            method: text(method),
            url: text(url),
            headers,
            body: vec![0; body],
            body_streamed: false,
            entrypoint: String::new(),
            encode_body: false,
            props_json: Vec::new(),
        },
    }
}

fn outcome(result: Result<Reply, ErrorReply>, logs: Vec<LogLine>) -> ToSupervisor {
    ToSupervisor::Outcome(Outcome {
        request_id: RequestId(4),
        result,
        logs,
        cpu_us: 1,
        wall_us: 2,
        open: false,
        observed: Default::default(),
        memory_bytes: 0,
    })
}

fn response(headers: Vec<(String, String)>, body: usize) -> ToSupervisor {
    outcome(
        Ok(Reply::Response {
            status: 200,
            headers,
            body: vec![0; body],
            streamed: false,
            length: None,
            web_socket: false,
        }),
        vec![],
    )
}

fn error(message: usize, stack: usize) -> ToSupervisor {
    outcome(
        Err(ErrorReply {
            kind: ErrorKind::ScriptThrew,
            message: text(message),
            stack: Some(text(stack)),
        }),
        vec![],
    )
}

fn logs(lines: usize, each: usize) -> Vec<LogLine> {
    (0..lines)
        .map(|_| LogLine {
            level: LogLevel::Info,
            text: text(each),
        })
        .collect()
}

fn decodes_back<M: Message>(message: &M) -> usize {
    let mut frame = Vec::new();
    let len = encode_frame(message, &mut frame).expect("message at its limits encodes");
    match decode_frame::<M>(&frame) {
        Ok(Decoded::Frame {
            message: decoded,
            consumed,
        }) => {
            assert_eq!(consumed, len);
            assert!(
                decoded == *message,
                "{:?} did not round-trip",
                message.kind()
            );
        }
        other => panic!(
            "{:?} at its limits did not decode: {other:?}",
            message.kind()
        ),
    }
    len - HEADER_LEN
}

/// `build(field.max())` round-trips; `build(field.max() + 1)` is refused, naming the field, and
/// the output buffer keeps exactly its previous contents.
fn check_cap<M: Message>(field: Field, build: impl Fn(usize) -> M) {
    let max = field.max();
    decodes_back(&build(max));
    let mut out = b"previous frame".to_vec();
    let err = encode_frame(&build(max + 1), &mut out);
    assert_eq!(
        err,
        Err(EncodeError::Limit(LimitExceeded {
            field,
            actual: max + 1,
            max
        })),
        "{field}"
    );
    assert_eq!(out, b"previous frame", "{field}: buffer changed on error");
}

#[test]
fn load_worker_caps() {
    check_cap(Field::Tenant, |n| load_worker(|l| l.tenant = text(n)));
    check_cap(Field::MainModule, |n| {
        load_worker(|l| l.main_module = text(n))
    });
    let module = |name: usize, code: usize| Module {
        name: text(name),
        kind: ModuleKind::Js,
        bytes: vec![b';'; code],
    };
    check_cap(Field::Modules, |n| {
        load_worker(|l| l.modules = (0..n).map(|_| module(0, 0)).collect())
    });
    check_cap(Field::ModuleName, |n| {
        load_worker(|l| l.modules = vec![module(n, 0)])
    });
    check_cap(Field::ModuleCode, |n| {
        load_worker(|l| l.modules = vec![module(0, n)])
    });
    check_cap(Field::TotalCode, |n| {
        load_worker(|l| {
            let mut left = n;
            while left > 0 {
                let chunk = left.min(MAX_MODULE_LEN);
                l.modules.push(module(0, chunk));
                left -= chunk;
            }
        })
    });
    check_cap(Field::EnvVars, |n| {
        load_worker(|l| l.env = vec![(String::new(), String::new()); n])
    });
    check_cap(Field::EnvName, |n| {
        load_worker(|l| l.env = vec![(text(n), text(0))])
    });
    check_cap(Field::EnvValue, |n| {
        load_worker(|l| l.env = vec![(text(0), text(n))])
    });
    check_cap(Field::CompatDate, |n| {
        load_worker(|l| l.compatibility_date = text(n))
    });
    check_cap(Field::CompatFlags, |n| {
        load_worker(|l| l.compatibility_flags = vec![String::new(); n])
    });
    check_cap(Field::CompatFlag, |n| {
        load_worker(|l| l.compatibility_flags = vec![text(n)])
    });
    check_cap(Field::EnvTotal, |n| {
        load_worker(|l| l.env = pairs(n, MAX_ENV_NAME_LEN, MAX_ENV_VALUE_LEN))
    });
}

#[test]
fn run_snippet_caps() {
    check_cap(Field::SnippetCode, |n| snippet(n, 0));
    check_cap(Field::ArgJson, |n| snippet(0, n));
}

fn host_call(name: usize, payload: usize) -> ToSupervisor {
    ToSupervisor::HostCall {
        request_id: RequestId(6),
        call_id: u32::MAX,
        name: text(name),
        payload: vec![b'p'; payload],
        cpu_left_us: u32::MAX,
    }
}

fn host_reply(result: Result<Vec<u8>, String>) -> ToWorker {
    ToWorker::HostReply {
        request_id: RequestId(7),
        call_id: 1,
        cpu_us: u32::MAX,
        result,
    }
}

#[test]
fn host_call_caps() {
    check_cap(Field::HostCallName, |n| host_call(n, 0));
    check_cap(Field::HostCallPayload, |n| host_call(0, n));
    check_cap(Field::HostCallPayload, |n| host_reply(Ok(vec![0; n])));
    check_cap(Field::ErrorMessage, |n| host_reply(Err(text(n))));
}

#[test]
fn invoke_caps() {
    check_cap(Field::ArgJson, |n| ToWorker::Invoke {
        request_id: RequestId(5),
        worker_id: WorkerId([0; 32]),
        call: Call::Default {
            arg_json: vec![b' '; n],
        },
    });
    check_cap(Field::Method, |n| fetch(n, 0, vec![], 0));
    let rpc = |entrypoint: usize, method: usize, args: usize| ToWorker::Invoke {
        request_id: RequestId(6),
        worker_id: WorkerId([0; 32]),
        call: Call::Rpc {
            entrypoint: text(entrypoint),
            method: text(method),
            args_json: vec![b' '; args],
            props_json: Vec::new(),
        },
    };
    check_cap(Field::RpcName, |n| rpc(n, 0, 0));
    check_cap(Field::RpcName, |n| rpc(0, n, 0));
    check_cap(Field::ArgJson, |n| rpc(0, 0, n));
    check_cap(Field::Url, |n| fetch(0, n, vec![], 0));
    check_cap(Field::Headers, |n| {
        fetch(0, 0, vec![(String::new(), String::new()); n], 0)
    });
    check_cap(Field::HeaderName, |n| {
        fetch(0, 0, vec![(text(n), text(0))], 0)
    });
    check_cap(Field::HeaderValue, |n| {
        fetch(0, 0, vec![(text(0), text(n))], 0)
    });
    check_cap(Field::HeaderTotal, |n| {
        fetch(0, 0, pairs(n, MAX_HEADER_NAME_LEN, MAX_HEADER_VALUE_LEN), 0)
    });
    check_cap(Field::Body, |n| fetch(0, 0, vec![], n));
}

#[test]
fn outcome_caps() {
    check_cap(Field::ResultJson, |n| {
        outcome(Ok(Reply::Json(vec![b'0'; n])), vec![])
    });
    check_cap(Field::Headers, |n| {
        response(vec![(String::new(), String::new()); n], 0)
    });
    check_cap(Field::HeaderName, |n| response(vec![(text(n), text(0))], 0));
    check_cap(Field::HeaderValue, |n| {
        response(vec![(text(0), text(n))], 0)
    });
    check_cap(Field::HeaderTotal, |n| {
        response(pairs(n, MAX_HEADER_NAME_LEN, MAX_HEADER_VALUE_LEN), 0)
    });
    check_cap(Field::Body, |n| response(vec![], n));
    check_cap(Field::ErrorMessage, |n| error(n, 0));
    check_cap(Field::Stack, |n| error(0, n));
    check_cap(Field::Logs, |n| outcome(Ok(Reply::Loaded), logs(n, 0)));
    check_cap(Field::LogText, |n| outcome(Ok(Reply::Loaded), logs(1, n)));
    check_cap(Field::LogTotal, |n| {
        let mut lines = logs(n / MAX_LOG_LINE_LEN, MAX_LOG_LINE_LEN);
        if n % MAX_LOG_LINE_LEN > 0 {
            lines.extend(logs(1, n % MAX_LOG_LINE_LEN));
        }
        outcome(Ok(Reply::Loaded), lines)
    });
}

/// A maximal message of each kind has exactly `max_payload` bytes of payload, so the bounds the
/// decoder enforces from the header are neither loose nor too tight.
#[test]
fn max_payload_is_exact_for_every_kind() {
    let id = WorkerId([0xFF; 32]);
    let max_headers = pairs(
        MAX_HEADER_TOTAL,
        MAX_HEADER_NAME_LEN,
        MAX_HEADER_TOTAL / MAX_HEADERS - MAX_HEADER_NAME_LEN,
    );
    assert_eq!(max_headers.len(), MAX_HEADERS);
    let to_worker = [
        ToWorker::Hello {
            protocol_version: PROTOCOL_VERSION,
        },
        load_worker(|l| {
            l.tenant = text(MAX_TENANT_LEN);
            l.main_module = text(MAX_MODULE_NAME_LEN);
            let each = MAX_TOTAL_CODE / MAX_MODULES;
            l.modules = (0..MAX_MODULES)
                .map(|_| Module {
                    name: text(MAX_MODULE_NAME_LEN),
                    kind: ModuleKind::Data,
                    bytes: vec![0; each],
                })
                .collect();
            l.env = pairs(
                MAX_ENV_TOTAL,
                MAX_ENV_TOTAL / MAX_ENV_VARS / 2,
                MAX_ENV_TOTAL / MAX_ENV_VARS / 2,
            );
            assert_eq!(l.env.len(), MAX_ENV_VARS);
            l.compatibility_date = text(MAX_COMPAT_DATE_LEN);
            l.compatibility_flags = vec![text(MAX_COMPAT_FLAG_LEN); MAX_COMPAT_FLAGS];
        }),
        // A queue batch (protocol 13) is the largest call: its messages' JSON and their bodies.
        ToWorker::Invoke {
            request_id: RequestId(u64::MAX),
            worker_id: id,
            call: Call::Queue {
                queue: text(MAX_RPC_NAME_LEN),
                messages_json: vec![b' '; MAX_ARG_JSON_LEN],
                bodies: vec![0; MAX_BODY_LEN],
                wall_ms: stockade_ipc::limits::MAX_CALL_WALL_MS,
            },
        },
        snippet(MAX_SNIPPET_LEN, MAX_ARG_JSON_LEN),
        ToWorker::Dispose {
            request_id: RequestId(u64::MAX),
            worker_id: id,
        },
        ToWorker::Shutdown,
        ToWorker::Cancel {
            request_id: RequestId(0),
        },
        // The `Ok` payload's cap is far above the error message's, so it makes the largest.
        host_reply(Ok(vec![0; MAX_HOST_CALL_PAYLOAD])),
    ];
    let to_supervisor = [
        ToSupervisor::Ready {
            protocol_version: PROTOCOL_VERSION,
            pid: 1,
            jail: JailReport::default(),
        },
        outcome(
            Ok(Reply::Response {
                status: 599,
                headers: max_headers,
                body: vec![0; MAX_BODY_LEN],
                streamed: true,
                length: Some(u64::MAX),
                web_socket: false,
            }),
            logs(MAX_LOG_LINES, MAX_LOG_TOTAL / MAX_LOG_LINES),
        ),
        ToSupervisor::Disposed {
            request_id: RequestId(1),
            worker_id: id,
        },
        host_call(MAX_HOST_CALL_NAME_LEN, MAX_HOST_CALL_PAYLOAD),
        ToSupervisor::Finished {
            request_id: RequestId(u64::MAX),
            error: Some(ErrorReply {
                kind: ErrorKind::Internal,
                message: text(MAX_ERROR_MESSAGE_LEN),
                stack: Some(text(MAX_STACK_LEN)),
            }),
            logs: logs(MAX_LOG_LINES, MAX_LOG_TOTAL / MAX_LOG_LINES),
        },
        ToSupervisor::RenewalOverdue {
            created_since_renewal: u64::MAX,
        },
    ];
    let mut seen = Vec::new();
    for message in &to_worker {
        assert_eq!(
            decodes_back(message),
            message.kind().max_payload(),
            "{:?}",
            message.kind()
        );
        let frame = stockade_ipc::encode_to_vec(message).expect("encodes");
        let read = read_frame::<ToWorker, _>(&mut Cursor::new(frame)).expect("reads");
        assert!(read.as_ref() == Some(message));
        seen.push(message.kind());
    }
    for message in &to_supervisor {
        assert_eq!(
            decodes_back(message),
            message.kind().max_payload(),
            "{:?}",
            message.kind()
        );
        seen.push(message.kind());
    }
    assert_eq!(seen, MessageKind::ALL);
    assert_eq!(MAX_FRAME_PAYLOAD, MessageKind::LoadWorker.max_payload());
    assert_eq!(
        MAX_TO_SUPERVISOR_PAYLOAD,
        MessageKind::Outcome.max_payload()
    );
}
