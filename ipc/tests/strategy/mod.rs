//! Proptest strategies producing arbitrary *valid* messages of both directions.
//!
//! Sizes are kept small so each case is cheap; the limit edges are covered by `limits.rs` with
//! hand-built maximal messages.

use proptest::collection::vec;
use proptest::prelude::*;
use stockade_ipc::{
    Call, ErrorKind, ErrorReply, JailReport, Limits, LoadWorker, LogLevel, LogLine, Module,
    ModuleKind, Outcome, Profile, Reply, RequestId, ToSupervisor, ToWorker, WorkerId,
};

/// Any Unicode text, including control characters and multi-byte scalars.
fn text(max_chars: usize) -> impl Strategy<Value = String> {
    vec(any::<char>(), 0..=max_chars).prop_map(String::from_iter)
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=max)
}

fn request_id() -> impl Strategy<Value = RequestId> {
    any::<u64>().prop_map(RequestId)
}

fn worker_id() -> impl Strategy<Value = WorkerId> {
    any::<[u8; 32]>().prop_map(WorkerId)
}

/// An event call's own wall-clock limit: 0 (the worker's) up to the protocol's cap.
fn wall_ms() -> impl Strategy<Value = u32> {
    0..=stockade_ipc::limits::MAX_CALL_WALL_MS
}

fn limits() -> impl Strategy<Value = Limits> {
    any::<[u32; 7]>().prop_map(|v| Limits {
        cpu_ms: v[0],
        wall_ms: v[1],
        memory_mb: v[2],
        stack_kb: v[3],
        sub_requests: v[4],
        result_bytes: v[5],
        log_bytes: v[6],
    })
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    vec((text(12), text(24)), 0..6)
}

fn module() -> impl Strategy<Value = Module> {
    (
        text(16),
        proptest::sample::select(ModuleKind::ALL),
        bytes(64),
    )
        .prop_map(|(name, kind, bytes)| Module { name, kind, bytes })
}

fn load_worker() -> impl Strategy<Value = LoadWorker> {
    (
        request_id(),
        worker_id(),
        text(16),
        text(16),
        vec(module(), 0..5),
        vec((text(12), text(24)), 0..5),
        limits(),
        proptest::sample::select(Profile::ALL),
        text(4),
        vec(text(20), 0..4),
    )
        .prop_map(
            |(
                request_id,
                worker_id,
                tenant,
                main_module,
                modules,
                env,
                limits,
                profile,
                compatibility_date,
                compatibility_flags,
            )| {
                LoadWorker {
                    request_id,
                    worker_id,
                    tenant,
                    main_module,
                    modules,
                    env,
                    limits,
                    profile,
                    compatibility_date,
                    compatibility_flags,
                }
            },
        )
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        bytes(64).prop_map(|arg_json| Call::Default { arg_json }),
        (
            text(8),
            text(40),
            headers(),
            bytes(64),
            any::<bool>(),
            text(8),
            any::<bool>(),
            bytes(16)
        )
            .prop_map(
                |(
                    method,
                    url,
                    headers,
                    body,
                    body_streamed,
                    entrypoint,
                    encode_body,
                    props_json,
                )| {
                    Call::Fetch {
                        method,
                        url,
                        headers,
                        body,
                        body_streamed,
                        entrypoint,
                        encode_body,
                        props_json,
                    }
                },
            ),
        (text(8), text(8), bytes(64), bytes(16)).prop_map(
            |(entrypoint, method, args_json, props_json)| Call::Rpc {
                entrypoint,
                method,
                args_json,
                props_json,
            }
        ),
        (text(16), any::<u64>(), wall_ms()).prop_map(|(cron, scheduled_time_ms, wall_ms)| {
            Call::Scheduled {
                cron,
                scheduled_time_ms,
                wall_ms,
            }
        }),
        (text(16), bytes(64), bytes(64), wall_ms()).prop_map(
            |(queue, messages_json, bodies, wall_ms)| Call::Queue {
                queue,
                messages_json,
                bodies,
                wall_ms,
            }
        ),
        (text(8), bytes(64), wall_ms()).prop_map(|(entrypoint, args_json, wall_ms)| {
            Call::Alarm {
                entrypoint,
                args_json,
                wall_ms,
            }
        }),
    ]
}

pub fn to_worker() -> impl Strategy<Value = ToWorker> {
    prop_oneof![
        any::<u8>().prop_map(|protocol_version| ToWorker::Hello { protocol_version }),
        load_worker().prop_map(ToWorker::LoadWorker),
        (request_id(), worker_id(), call()).prop_map(|(request_id, worker_id, call)| {
            ToWorker::Invoke {
                request_id,
                worker_id,
                call,
            }
        }),
        (request_id(), text(64), bytes(64), limits()).prop_map(
            |(request_id, code, arg_json, limits)| ToWorker::RunSnippet {
                request_id,
                code,
                arg_json,
                limits,
            }
        ),
        (request_id(), worker_id()).prop_map(|(request_id, worker_id)| ToWorker::Dispose {
            request_id,
            worker_id
        }),
        Just(ToWorker::Shutdown),
        request_id().prop_map(|request_id| ToWorker::Cancel { request_id }),
        (
            request_id(),
            any::<u32>(),
            any::<u32>(),
            prop_oneof![bytes(64).prop_map(Ok), text(32).prop_map(Err)],
        )
            .prop_map(
                |(request_id, call_id, cpu_us, result)| ToWorker::HostReply {
                    request_id,
                    call_id,
                    cpu_us,
                    result,
                }
            ),
    ]
}

fn reply() -> impl Strategy<Value = Reply> {
    prop_oneof![
        Just(Reply::Loaded),
        bytes(64).prop_map(Reply::Json),
        (
            any::<u16>(),
            headers(),
            bytes(64),
            any::<bool>(),
            proptest::option::of(any::<u64>()),
            any::<bool>()
        )
            .prop_map(|(status, headers, body, streamed, length, web_socket)| {
                Reply::Response {
                    status,
                    headers,
                    body,
                    streamed,
                    length,
                    web_socket,
                }
            }),
    ]
}

fn error_reply() -> impl Strategy<Value = ErrorReply> {
    (
        proptest::sample::select(ErrorKind::ALL),
        text(32),
        proptest::option::of(text(64)),
    )
        .prop_map(|(kind, message, stack)| ErrorReply {
            kind,
            message,
            stack,
        })
}

fn log_line() -> impl Strategy<Value = LogLine> {
    (proptest::sample::select(LogLevel::ALL), text(32))
        .prop_map(|(level, text)| LogLine { level, text })
}

fn outcome() -> impl Strategy<Value = Outcome> {
    (
        request_id(),
        prop_oneof![reply().prop_map(Ok), error_reply().prop_map(Err)],
        vec(log_line(), 0..6),
        any::<u64>(),
        any::<u64>(),
        any::<bool>(),
        (any::<bool>(), any::<bool>(), any::<u64>()),
    )
        .prop_map(
            |(
                request_id,
                result,
                logs,
                cpu_us,
                wall_us,
                open,
                (web_assembly, dynamic_import, memory_bytes),
            )| {
                Outcome {
                    request_id,
                    result,
                    logs,
                    cpu_us,
                    wall_us,
                    open,
                    observed: stockade_ipc::Observed {
                        web_assembly,
                        dynamic_import,
                    },
                    memory_bytes,
                }
            },
        )
}

pub fn to_supervisor() -> impl Strategy<Value = ToSupervisor> {
    prop_oneof![
        (any::<u8>(), any::<u32>(), any::<(bool, u8, bool, bool)>()).prop_map(
            |(protocol_version, pid, (seccomp, landlock_abi, user_namespace, mpk))| {
                ToSupervisor::Ready {
                    protocol_version,
                    pid,
                    jail: JailReport {
                        seccomp,
                        landlock_abi,
                        user_namespace,
                        mpk,
                    },
                }
            }
        ),
        outcome().prop_map(ToSupervisor::Outcome),
        (request_id(), worker_id()).prop_map(|(request_id, worker_id)| {
            ToSupervisor::Disposed {
                request_id,
                worker_id,
            }
        }),
        // Names up to 16 scalars: at most 64 bytes, the cap.
        (
            request_id(),
            any::<u32>(),
            text(16),
            bytes(64),
            any::<u32>()
        )
            .prop_map(|(request_id, call_id, name, payload, cpu_left_us)| {
                ToSupervisor::HostCall {
                    request_id,
                    call_id,
                    name,
                    payload,
                    cpu_left_us,
                }
            }),
        (
            request_id(),
            proptest::option::of(error_reply()),
            vec(log_line(), 0..6)
        )
            .prop_map(|(request_id, error, logs)| ToSupervisor::Finished {
                request_id,
                error,
                logs
            }),
        any::<u64>().prop_map(|created_since_renewal| ToSupervisor::RenewalOverdue {
            created_since_renewal
        }),
    ]
}
