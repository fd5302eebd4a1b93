//! Writes one encoded frame per message shape into a directory, as a seed corpus for the
//! `ipc_decode` fuzz target: `cargo run -p stockade-ipc --example fuzz_seeds -- fuzz/corpus/ipc_decode`.

use std::path::PathBuf;

use stockade_ipc::{
    encode_to_vec, Call, ErrorKind, ErrorReply, JailReport, Limits, LoadWorker, LogLevel, LogLine,
    Module, ModuleKind, Outcome, Profile, Reply, RequestId, ToSupervisor, ToWorker, WorkerId,
    PROTOCOL_VERSION,
};

fn outcome(result: Result<Reply, ErrorReply>) -> ToSupervisor {
    ToSupervisor::Outcome(Outcome {
        request_id: RequestId(9),
        result,
        logs: vec![
            LogLine {
                level: LogLevel::Info,
                text: "hello".into(),
            },
            LogLine {
                level: LogLevel::Error,
                text: "é".into(),
            },
        ],
        cpu_us: 120,
        wall_us: 340,
        open: true,
        observed: stockade_ipc::Observed {
            web_assembly: true,
            dynamic_import: false,
        },
        memory_bytes: 3 << 20,
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: fuzz_seeds <corpus dir>")?,
    );
    std::fs::create_dir_all(&dir)?;
    let worker_id = WorkerId([3; 32]);
    let to_worker = [
        ToWorker::Hello {
            protocol_version: PROTOCOL_VERSION,
        },
        ToWorker::LoadWorker(LoadWorker {
            request_id: RequestId(1),
            worker_id,
            tenant: "acme".into(),
            main_module: "main.js".into(),
            modules: vec![
                Module {
                    name: "main.js".into(),
                    kind: ModuleKind::Js,
                    bytes: b"export default () => 1".to_vec(),
                },
                Module {
                    name: "data.bin".into(),
                    kind: ModuleKind::Data,
                    bytes: vec![0, 1, 2],
                },
            ],
            env: vec![("KEY".into(), "value".into())],
            limits: Limits {
                cpu_ms: 50,
                wall_ms: 1000,
                memory_mb: 128,
                stack_kb: 984,
                sub_requests: 50,
                result_bytes: 1 << 20,
                log_bytes: 1 << 16,
            },
            profile: Profile::Standard,
            compatibility_date: "2026-11-01".into(),
            compatibility_flags: vec!["nodejs_compat".into()],
        }),
        ToWorker::Invoke {
            request_id: RequestId(2),
            worker_id,
            call: Call::Default {
                arg_json: b"{\"a\":1}".to_vec(),
            },
        },
        ToWorker::Invoke {
            request_id: RequestId(3),
            worker_id,
            call: Call::Fetch {
                method: "POST".into(),
                url: "https://example.test/x?y=1".into(),
                headers: vec![("content-type".into(), "text/plain".into())],
                body: b"body".to_vec(),
                body_streamed: true,
                entrypoint: String::new(),
                encode_body: true,
                props_json: br#"{"user":"u1"}"#.to_vec(),
            },
        },
        ToWorker::Invoke {
            request_id: RequestId(3),
            worker_id,
            call: Call::Rpc {
                entrypoint: "Api".into(),
                method: "add".into(),
                args_json: b"[1,{\"$\":\"u\"}]".to_vec(),
                props_json: Vec::new(),
            },
        },
        ToWorker::Invoke {
            request_id: RequestId(3),
            worker_id,
            call: Call::Scheduled {
                cron: "*/5 * * * *".into(),
                scheduled_time_ms: 1_767_225_600_000,
                wall_ms: 900_000,
            },
        },
        ToWorker::Invoke {
            request_id: RequestId(3),
            worker_id,
            call: Call::Queue {
                queue: "jobs".into(),
                messages_json:
                    br#"[{"id":"a","timestamp":1,"attempts":1,"contentType":"text","body":[0,2]}]"#
                        .to_vec(),
                bodies: b"hi".to_vec(),
                wall_ms: 0,
            },
        },
        ToWorker::Invoke {
            request_id: RequestId(3),
            worker_id,
            call: Call::Alarm {
                entrypoint: "Clock".into(),
                args_json: br#"[{"retryCount":0,"isRetry":false}]"#.to_vec(),
                wall_ms: 900_000,
            },
        },
        ToWorker::RunSnippet {
            request_id: RequestId(4),
            code: "export default (x) => x".into(),
            arg_json: b"[1,2]".to_vec(),
            limits: Limits::default(),
        },
        ToWorker::Dispose {
            request_id: RequestId(5),
            worker_id,
        },
        ToWorker::Shutdown,
        ToWorker::Cancel {
            request_id: RequestId(2),
        },
        ToWorker::HostReply {
            request_id: RequestId(2),
            call_id: 1,
            cpu_us: 120,
            result: Ok(b"\"echoed\"".to_vec()),
        },
        ToWorker::HostReply {
            request_id: RequestId(2),
            call_id: 2,
            cpu_us: 0,
            result: Err("unknown host call `nope`".into()),
        },
    ];
    let to_supervisor = [
        ToSupervisor::Ready {
            protocol_version: PROTOCOL_VERSION,
            pid: 42,
            jail: JailReport {
                seccomp: true,
                landlock_abi: 7,
                user_namespace: true,
                mpk: true,
            },
        },
        outcome(Ok(Reply::Loaded)),
        outcome(Ok(Reply::Json(b"{\"ok\":true}".to_vec()))),
        outcome(Ok(Reply::Response {
            status: 200,
            headers: vec![("x-a".into(), "b".into())],
            body: b"hi".to_vec(),
            streamed: false,
            length: None,
            web_socket: false,
        })),
        outcome(Err(ErrorReply {
            kind: ErrorKind::ScriptThrew,
            message: "boom".into(),
            stack: Some("at main.js:1".into()),
        })),
        ToSupervisor::Disposed {
            request_id: RequestId(5),
            worker_id,
        },
        ToSupervisor::HostCall {
            request_id: RequestId(2),
            call_id: 1,
            name: "test.echo".into(),
            payload: b"{\"sleepMs\":0,\"echo\":\"echoed\"}".to_vec(),
            cpu_left_us: 50_000,
        },
        outcome(Err(ErrorReply {
            kind: ErrorKind::Cancelled,
            message: "cancelled".into(),
            stack: None,
        })),
        ToSupervisor::Finished {
            request_id: RequestId(6),
            error: Some(ErrorReply {
                kind: ErrorKind::CpuLimit,
                message: "cpu".into(),
                stack: None,
            }),
            logs: vec![LogLine {
                level: LogLevel::Log,
                text: "after".into(),
            }],
        },
        ToSupervisor::RenewalOverdue {
            created_since_renewal: 40_000,
        },
    ];
    let mut seeds: Vec<(String, Vec<u8>)> = Vec::new();
    for (i, m) in to_worker.iter().enumerate() {
        seeds.push((format!("to_worker_{i}_{:?}", m.kind()), encode_to_vec(m)?));
    }
    for (i, m) in to_supervisor.iter().enumerate() {
        seeds.push((
            format!("to_supervisor_{i}_{:?}", m.kind()),
            encode_to_vec(m)?,
        ));
    }
    // Two frames back to back, to seed the multi-frame path.
    let mut pair = encode_to_vec(&to_worker[2])?;
    pair.extend(encode_to_vec(&to_worker[7])?); // the Invoke, then its Cancel
    seeds.push(("to_worker_pair".into(), pair));
    for (name, frame) in &seeds {
        std::fs::write(dir.join(name), frame)?;
    }
    println!("wrote {} seeds to {}", seeds.len(), dir.display());
    Ok(())
}
