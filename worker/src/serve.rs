//! The worker's request loop: decode one supervisor message, run it on the engine, answer.
//!
//! Guarantees: one request at a time, each answered exactly once with its `RequestId`; a worker
//! whose isolate hit a limit is disposed at once; a decode error or a closed socket ends the
//! process (the supervisor replaces it). Results and logs are clipped to the protocol's caps so an
//! answer always encodes.

use std::collections::HashMap;

use super::stock::IsolateStock;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use stockade_ipc::{
    read_frame, write_frame, Call, ErrorKind, ErrorReply, JailReport, LoadWorker, LogLevel,
    LogLine, Outcome, Reply, RequestId, ToSupervisor, ToWorker, WorkerId, PROTOCOL_VERSION,
};
use stockade_isolate::{
    Engine, FetchRequest, Invocation, LimitKind, Limits, Module, ModuleKind, ModuleSet, RunError,
    Worker,
};

struct Loaded {
    worker: Worker,
    env: serde_json::Value,
}

pub fn serve(
    engine: &'static Engine,
    mut stream: UnixStream,
    jail: Option<&stockade_seccomp::JailReport>,
    // Read only by the test hooks, which release builds do not contain.
    #[cfg_attr(not(debug_assertions), allow(unused_variables))] test_hooks: bool,
) -> Result<(), String> {
    match read_frame::<ToWorker, _>(&mut stream) {
        Ok(Some(ToWorker::Hello { protocol_version })) if protocol_version == PROTOCOL_VERSION => {}
        Ok(other) => return Err(format!("expected Hello, got {other:?}")),
        Err(e) => return Err(format!("handshake: {e}")),
    }
    let ready = ToSupervisor::Ready {
        protocol_version: PROTOCOL_VERSION,
        pid: std::process::id(),
        jail: JailReport {
            seccomp: jail.is_some_and(|j| j.seccomp == stockade_seccomp::SeccompMode::Enforce),
            landlock_abi: jail
                .and_then(|j| j.landlock)
                .and_then(|l| l.enforced_abi)
                .map_or(0, |abi| abi.min(255) as u8),
            user_namespace: jail.is_some_and(|j| j.empty_root),
            mpk: engine.mpk_status().is_available(),
        },
    };
    write_frame(&mut stream, &ready).map_err(|e| format!("ready: {e}"))?;
    let mut workers: HashMap<WorkerId, Loaded> = HashMap::new();
    let mut stock = IsolateStock::default();
    loop {
        let message = match read_frame::<ToWorker, _>(&mut stream) {
            Ok(Some(m)) => m,
            Ok(None) => return Ok(()),
            Err(e) => return Err(format!("read: {e}")),
        };
        let answer = match message {
            ToWorker::Shutdown => return Ok(()),
            ToWorker::Hello { .. } => return Err("a second Hello".into()),
            ToWorker::LoadWorker(load) => Some(load_worker(engine, &mut workers, load)),
            ToWorker::Invoke {
                request_id,
                worker_id,
                call,
            } => Some(invoke(&mut workers, request_id, worker_id, call)),
            ToWorker::RunSnippet {
                request_id,
                code,
                arg_json,
                limits,
            } => {
                #[cfg(debug_assertions)]
                if test_hooks && code == super::test_hooks::FORBIDDEN_SYSCALL {
                    let message = super::test_hooks::forbidden_syscall();
                    let answer = error_outcome(request_id, ErrorKind::Internal, message);
                    write_frame(&mut stream, &answer).map_err(|e| format!("write: {e}"))?;
                    continue;
                }
                Some(run_snippet(
                    engine, request_id, code, &arg_json, &limits, &mut stock,
                ))
            }
            ToWorker::Dispose {
                request_id,
                worker_id,
            } => {
                workers.remove(&worker_id);
                Some(ToSupervisor::Disposed {
                    request_id,
                    worker_id,
                })
            }
            // One request at a time runs here, and it has answered before the next message is
            // read: a Cancel finds nothing to stop, and no HostCall was ever sent.
            ToWorker::Cancel { .. } | ToWorker::HostReply { .. } => None,
        };
        if let Some(answer) = answer {
            write_frame(&mut stream, &answer).map_err(|e| format!("write: {e}"))?;
        }
        // Dispose a snippet's isolate and make the next one after the answer is on its way,
        // off the requests' latency.
        stock.refill(engine);
    }
}

pub(super) fn engine_limits(l: &stockade_ipc::Limits) -> Limits {
    let d = Limits::default();
    let nz = |v: u32, fallback: usize| if v == 0 { fallback } else { v as usize };
    Limits {
        cpu: if l.cpu_ms == 0 {
            d.cpu
        } else {
            Duration::from_millis(u64::from(l.cpu_ms))
        },
        wall: if l.wall_ms == 0 {
            d.wall
        } else {
            Duration::from_millis(u64::from(l.wall_ms))
        },
        memory_bytes: nz(l.memory_mb, d.memory_bytes >> 20) << 20,
        stack_bytes: nz(l.stack_kb, d.stack_bytes >> 10) << 10,
        result_bytes: nz(l.result_bytes, d.result_bytes)
            .min(stockade_ipc::limits::MAX_RESULT_JSON_LEN),
        output_bytes: nz(l.log_bytes, d.output_bytes).min(stockade_ipc::limits::MAX_LOG_TOTAL / 2),
        ..d
    }
}

fn load_worker(
    engine: &'static Engine,
    workers: &mut HashMap<WorkerId, Loaded>,
    load: LoadWorker,
) -> ToSupervisor {
    let id = load.request_id;
    workers.remove(&load.worker_id);
    let modules = load.modules.into_iter().map(|m| Module {
        name: m.name,
        kind: match m.kind {
            stockade_ipc::ModuleKind::Js => ModuleKind::Js,
            stockade_ipc::ModuleKind::Ts => ModuleKind::Ts,
            stockade_ipc::ModuleKind::Text => ModuleKind::Text,
            stockade_ipc::ModuleKind::Json => ModuleKind::Json,
            stockade_ipc::ModuleKind::Data => ModuleKind::Data,
        },
        bytes: m.bytes,
    });
    let mut set = match ModuleSet::new(modules) {
        Ok(s) => s,
        Err(e) => return failed(id, &e),
    };
    let mut worker = match Worker::new(engine, engine_limits(&load.limits)) {
        Ok(w) => w,
        Err(e) => return failed(id, &e),
    };
    let inv = worker.load(&load.main_module, &mut set);
    if inv.result.is_ok() {
        let env = serde_json::Value::Object(
            load.env
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect(),
        );
        workers.insert(load.worker_id, Loaded { worker, env });
    }
    outcome(id, inv, |_| Reply::Loaded)
}

fn invoke(
    workers: &mut HashMap<WorkerId, Loaded>,
    id: RequestId,
    worker_id: WorkerId,
    call: Call,
) -> ToSupervisor {
    let Some(loaded) = workers.get_mut(&worker_id) else {
        return error_outcome(
            id,
            ErrorKind::UnknownWorker,
            "this worker is not loaded in this process".into(),
        );
    };
    let answer = match call {
        Call::Default { arg_json } => match String::from_utf8(arg_json) {
            Ok(arg) => {
                let inv = loaded.worker.call(&arg);
                outcome(id, inv, |json| Reply::Json(json.into_bytes()))
            }
            Err(_) => error_outcome(
                id,
                ErrorKind::InvalidInput,
                "the argument is not UTF-8".into(),
            ),
        },
        Call::Fetch {
            method,
            url,
            headers,
            body,
        } => {
            let request = FetchRequest {
                method,
                url,
                headers,
                body,
                env: loaded.env.clone(),
            };
            let (response, inv) = loaded.worker.fetch(&request);
            if let Ok(r) = &response {
                if let Err(why) = carriable(r.status, &r.headers, r.body.len()) {
                    return error_outcome(id, ErrorKind::InvalidResponse, why);
                }
            }
            let inv = Invocation {
                result: response.map(|r| {
                    serde_json::to_string(&(r.status, r.headers, base64_encode(&r.body)))
                        .unwrap_or_default()
                }),
                ..inv
            };
            outcome(id, inv, |text| {
                let (status, headers, body): (u16, Vec<(String, String)>, String) =
                    serde_json::from_str(&text).unwrap_or((500, vec![], String::new()));
                Reply::Response {
                    status,
                    headers,
                    body: base64_decode(&body),
                }
            })
        }
    };
    if loaded.worker.poisoned().is_some() {
        workers.remove(&worker_id);
    }
    answer
}

/// Whether a fetch handler's response fits what the protocol carries and HTTP allows, so that an
/// oversized or malformed response is the request's error and never an unencodable answer (which
/// would end this process and every isolate in it).
fn carriable(status: u16, headers: &[(String, String)], body_len: usize) -> Result<(), String> {
    use stockade_ipc::limits::{
        MAX_BODY_LEN, MAX_HEADERS, MAX_HEADER_NAME_LEN, MAX_HEADER_TOTAL, MAX_HEADER_VALUE_LEN,
    };
    if !(200..=599).contains(&status) {
        return Err(format!(
            "the status {status} is not one a worker may answer (200-599)"
        ));
    }
    if matches!(status, 204 | 304) && body_len > 0 {
        return Err(format!("a {status} response cannot have a body"));
    }
    if headers.len() > MAX_HEADERS {
        return Err(format!(
            "the response has {} headers; at most {MAX_HEADERS} are carried",
            headers.len()
        ));
    }
    let mut total = 0usize;
    for (name, value) in headers {
        if name.len() > MAX_HEADER_NAME_LEN {
            return Err(format!(
                "a response header name is {} bytes; at most {MAX_HEADER_NAME_LEN}",
                name.len()
            ));
        }
        if value.len() > MAX_HEADER_VALUE_LEN {
            return Err(format!(
                "the response header {name} is {} bytes; at most {MAX_HEADER_VALUE_LEN}",
                value.len()
            ));
        }
        total = total.saturating_add(name.len() + value.len());
    }
    if total > MAX_HEADER_TOTAL {
        return Err(format!(
            "the response headers total {total} bytes; at most {MAX_HEADER_TOTAL}"
        ));
    }
    if body_len > MAX_BODY_LEN {
        return Err(format!(
            "the response body is {body_len} bytes; at most {MAX_BODY_LEN}"
        ));
    }
    Ok(())
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .unwrap_or_default()
}

fn run_snippet(
    engine: &'static Engine,
    id: RequestId,
    code: String,
    arg_json: &[u8],
    limits: &stockade_ipc::Limits,
    stock: &mut IsolateStock,
) -> ToSupervisor {
    let Ok(arg) = std::str::from_utf8(arg_json) else {
        return error_outcome(
            id,
            ErrorKind::InvalidInput,
            "the argument is not UTF-8".into(),
        );
    };
    let mut worker = match stock.take(engine, limits) {
        Ok(w) => w,
        Err(e) => return error_outcome(id, ErrorKind::Internal, e.to_string()),
    };
    let Ok(mut set) = ModuleSet::new([Module::new("main.ts", code.into_bytes())]) else {
        return error_outcome(id, ErrorKind::Internal, "snippet module".into());
    };
    let loaded = worker.load("main.ts", &mut set);
    if loaded.result.is_err() {
        stock.retire(worker);
        return outcome(id, loaded, |_| Reply::Loaded);
    }
    let mut called = worker.call(arg);
    stock.retire(worker);
    let mut logs = loaded.logs;
    logs.append(&mut called.logs);
    let inv = Invocation {
        logs,
        cpu: loaded.cpu + called.cpu,
        wall: loaded.wall + called.wall,
        ..called
    };
    outcome(id, inv, |json| Reply::Json(json.into_bytes()))
}

/// The outcome of a request that failed before any code ran.
fn failed(request_id: RequestId, e: &RunError) -> ToSupervisor {
    ToSupervisor::Outcome(Outcome {
        request_id,
        result: Err(error_reply(e)),
        logs: vec![],
        cpu_us: 0,
        wall_us: 0,
    })
}

fn error_outcome(request_id: RequestId, kind: ErrorKind, message: String) -> ToSupervisor {
    ToSupervisor::Outcome(Outcome {
        request_id,
        result: Err(ErrorReply {
            kind,
            message: clip(message, stockade_ipc::limits::MAX_ERROR_MESSAGE_LEN),
            stack: None,
        }),
        logs: vec![],
        cpu_us: 0,
        wall_us: 0,
    })
}

/// The wire form of an invocation; `ok` turns the JSON text into the reply.
fn outcome(
    request_id: RequestId,
    inv: Invocation,
    ok: impl FnOnce(String) -> Reply,
) -> ToSupervisor {
    let result = match inv.result {
        Ok(text) => Ok(ok(text)),
        Err(e) => Err(error_reply(&e)),
    };
    let mut logs = Vec::new();
    let mut total = 0usize;
    for line in inv
        .logs
        .into_iter()
        .take(stockade_ipc::limits::MAX_LOG_LINES)
    {
        total += line.text.len();
        if total > stockade_ipc::limits::MAX_LOG_TOTAL {
            break;
        }
        let level = match line.level {
            stockade_isolate::LogLevel::Debug => LogLevel::Debug,
            stockade_isolate::LogLevel::Log => LogLevel::Info,
            stockade_isolate::LogLevel::Warn => LogLevel::Warn,
            stockade_isolate::LogLevel::Error => LogLevel::Error,
        };
        logs.push(LogLine {
            level,
            text: clip(line.text, stockade_ipc::limits::MAX_LOG_LINE_LEN),
        });
    }
    ToSupervisor::Outcome(Outcome {
        request_id,
        result,
        logs,
        cpu_us: inv.cpu.as_micros() as u64,
        wall_us: inv.wall.as_micros() as u64,
    })
}

fn error_reply(e: &RunError) -> ErrorReply {
    let kind = match e {
        RunError::Threw { .. } | RunError::NeverSettled => ErrorKind::ScriptThrew,
        RunError::Syntax { .. } => ErrorKind::CompileError,
        RunError::ModuleNotFound { .. } => ErrorKind::ModuleNotFound,
        RunError::InvalidInput(_) => ErrorKind::InvalidInput,
        RunError::Internal(_) => ErrorKind::Internal,
        RunError::Limit(k) => match k {
            LimitKind::Cpu => ErrorKind::CpuLimit,
            LimitKind::Wall => ErrorKind::WallLimit,
            LimitKind::Heap | LimitKind::ExternalMemory => ErrorKind::MemoryLimit,
            LimitKind::Output => ErrorKind::OutputTooLarge,
            LimitKind::Result => ErrorKind::ResultTooLarge,
            LimitKind::Source | LimitKind::Timers => ErrorKind::InvalidInput,
        },
    };
    let (message, stack) = match e {
        RunError::Threw {
            message,
            stack,
            location,
        } => {
            let at = location
                .as_ref()
                .map(|l| format!(" (at {l})"))
                .unwrap_or_default();
            (
                format!("{message}{at}"),
                (!stack.is_empty())
                    .then(|| clip(stack.clone(), stockade_ipc::limits::MAX_STACK_LEN)),
            )
        }
        RunError::Syntax {
            message,
            location: Some(l),
        } => (format!("{l}: {message}"), None),
        other => (other.to_string(), None),
    };
    ErrorReply {
        kind,
        message: clip(message, stockade_ipc::limits::MAX_ERROR_MESSAGE_LEN),
        stack,
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary.
fn clip(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}
