//! The one place where the protocol's types (`stockade_ipc`) and the engine's types
//! (`stockade_isolate`) meet: limits, module kinds, console levels, errors and answers.
//!
//! Guarantees: every answer built here encodes (results, logs, messages and stacks are clipped
//! to the protocol's caps; a fetch response that does not fit is the request's
//! `InvalidResponse` error, never an unencodable frame that would end the process). A 0 in a
//! protocol limit means the engine's default, except the wall limit, whose default is the
//! protocol's [`stockade_ipc::limits::DEFAULT_WALL_MS`] (the supervisor's timeout uses the same
//! constant). Trusts: nothing from tenants; the engine's answers are clipped, not believed.

use std::time::Duration;

use stockade_ipc::limits::{
    DEFAULT_WALL_MS, MAX_BODY_LEN, MAX_ERROR_MESSAGE_LEN, MAX_HEADERS, MAX_HEADER_NAME_LEN,
    MAX_HEADER_TOTAL, MAX_HEADER_VALUE_LEN, MAX_LOG_LINES, MAX_LOG_LINE_LEN, MAX_LOG_TOTAL,
    MAX_RESULT_JSON_LEN, MAX_STACK_LEN,
};
use stockade_ipc::{ErrorKind, ErrorReply, LogLevel, LogLine, Outcome, Reply, RequestId};
use stockade_isolate::{Answer, FetchResponse, LimitKind, Limits, ModuleKind, RunError};

// A host call the engine accepts must fit a `HostCall` frame: one that did not encode would end
// the process (`shared.rs`) and every request in it.
const _: () =
    assert!(stockade_isolate::MAX_HOST_CALL_NAME <= stockade_ipc::limits::MAX_HOST_CALL_NAME_LEN);
const _: () =
    assert!(stockade_isolate::MAX_HOST_CALL_PAYLOAD <= stockade_ipc::limits::MAX_HOST_CALL_PAYLOAD);

/// The engine limits of protocol limits `l`.
pub fn limits(l: &stockade_ipc::Limits) -> Limits {
    let d = Limits::default();
    let nz = |v: u32, fallback: usize| if v == 0 { fallback } else { v as usize };
    let ms = |v: u32| Duration::from_millis(u64::from(v));
    Limits {
        cpu: if l.cpu_ms == 0 { d.cpu } else { ms(l.cpu_ms) },
        wall: ms(if l.wall_ms == 0 {
            DEFAULT_WALL_MS
        } else {
            l.wall_ms
        }),
        memory_bytes: nz(l.memory_mb, d.memory_bytes >> 20) << 20,
        stack_bytes: nz(l.stack_kb, d.stack_bytes >> 10) << 10,
        result_bytes: nz(l.result_bytes, d.result_bytes).min(MAX_RESULT_JSON_LEN),
        output_bytes: nz(l.log_bytes, d.output_bytes).min(MAX_LOG_TOTAL / 2),
        sub_requests: nz(l.sub_requests, d.sub_requests),
        ..d
    }
}

/// The wall-clock limit of an event call (`Call::Scheduled`, `Call::Queue`, `Call::Alarm`)
/// whose own limit is `wall_ms` (the decoder capped it at
/// [`stockade_ipc::limits::MAX_CALL_WALL_MS`]): 0 means the loaded worker's, `worker.wall`.
pub fn event_wall(wall_ms: u32, worker: &Limits) -> Duration {
    if wall_ms == 0 {
        worker.wall
    } else {
        Duration::from_millis(u64::from(wall_ms))
    }
}

/// The engine's compatibility settings of a `LoadWorker`'s date and flags (which the supervisor
/// validated; a worker checks again and refuses what it does not know).
pub fn compat(date: &str, flags: &[String]) -> Result<stockade_isolate::Compat, RunError> {
    stockade_isolate::Compat::parse(date, flags).map_err(RunError::InvalidInput)
}

pub fn module_kind(kind: stockade_ipc::ModuleKind) -> ModuleKind {
    match kind {
        stockade_ipc::ModuleKind::Js => ModuleKind::Js,
        stockade_ipc::ModuleKind::Ts => ModuleKind::Ts,
        stockade_ipc::ModuleKind::Text => ModuleKind::Text,
        stockade_ipc::ModuleKind::Json => ModuleKind::Json,
        stockade_ipc::ModuleKind::Data => ModuleKind::Data,
        stockade_ipc::ModuleKind::Cjs => ModuleKind::Cjs,
        stockade_ipc::ModuleKind::Wasm => ModuleKind::Wasm,
    }
}

fn log_level(level: stockade_isolate::LogLevel) -> LogLevel {
    match level {
        stockade_isolate::LogLevel::Debug => LogLevel::Debug,
        stockade_isolate::LogLevel::Log => LogLevel::Log,
        stockade_isolate::LogLevel::Info => LogLevel::Info,
        stockade_isolate::LogLevel::Warn => LogLevel::Warn,
        stockade_isolate::LogLevel::Error => LogLevel::Error,
    }
}

/// Console lines, clipped to what one `Outcome` carries.
pub fn logs(lines: Vec<stockade_isolate::LogLine>) -> Vec<LogLine> {
    let mut out = Vec::new();
    let mut total = 0usize;
    for line in lines.into_iter().take(MAX_LOG_LINES) {
        total += line.text.len();
        if total > MAX_LOG_TOTAL {
            break;
        }
        out.push(LogLine {
            level: log_level(line.level),
            text: clip(line.text, MAX_LOG_LINE_LEN),
        });
    }
    out
}

/// What one request produced, as the supervisor reads it.
pub struct Spent {
    pub logs: Vec<stockade_isolate::LogLine>,
    pub cpu: Duration,
    pub wall: Duration,
}

/// The `Outcome` of a task that answered `result` after spending `spent`, in an isolate that was
/// seen doing `observed` and holds `memory_bytes`; `open` when the task goes on after it (a
/// `Finished` follows).
pub fn outcome(
    id: RequestId,
    result: Result<Answer, RunError>,
    spent: Spent,
    (observed, memory_bytes): (stockade_isolate::Observed, usize),
    open: bool,
) -> Outcome {
    let result = match result {
        Ok(Answer::Loaded) => Ok(Reply::Loaded),
        Ok(Answer::Json(json)) => Ok(Reply::Json(json.into_bytes())),
        Ok(Answer::Response(r)) => match carriable(&r) {
            Ok(()) => Ok(Reply::Response {
                status: r.status,
                headers: r.headers,
                body: r.body,
                streamed: r.streamed,
                length: r.length,
                web_socket: r.web_socket,
            }),
            Err(why) => Err(error(ErrorKind::InvalidResponse, why)),
        },
        Err(e) => Err(error_reply(&e)),
    };
    Outcome {
        request_id: id,
        result,
        logs: logs(spent.logs),
        cpu_us: u64::try_from(spent.cpu.as_micros()).unwrap_or(u64::MAX),
        wall_us: u64::try_from(spent.wall.as_micros()).unwrap_or(u64::MAX),
        open,
        observed: stockade_ipc::Observed {
            web_assembly: observed.web_assembly,
            dynamic_import: observed.dynamic_import,
        },
        memory_bytes: u64::try_from(memory_bytes).unwrap_or(u64::MAX),
    }
}

/// The `Outcome` of a request that failed before any code ran.
pub fn failed(id: RequestId, kind: ErrorKind, message: String) -> Outcome {
    Outcome {
        request_id: id,
        result: Err(error(kind, message)),
        logs: Vec::new(),
        cpu_us: 0,
        wall_us: 0,
        open: false,
        observed: stockade_ipc::Observed::default(),
        memory_bytes: 0,
    }
}

/// An error reply of `kind` (the message clipped to the protocol's cap).
pub fn failed_reply(kind: ErrorKind, message: String) -> ErrorReply {
    error(kind, message)
}

fn error(kind: ErrorKind, message: String) -> ErrorReply {
    ErrorReply {
        kind,
        message: clip(message, MAX_ERROR_MESSAGE_LEN),
        stack: None,
    }
}

/// The protocol's error kind of an engine error.
pub fn error_kind(e: &RunError) -> ErrorKind {
    match e {
        RunError::Threw { .. } | RunError::NeverSettled => ErrorKind::ScriptThrew,
        RunError::Syntax { .. } => ErrorKind::CompileError,
        RunError::ModuleNotFound { .. } | RunError::BuiltinUnavailable { .. } => {
            ErrorKind::ModuleNotFound
        }
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
    }
}

pub fn error_reply(e: &RunError) -> ErrorReply {
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
                (!stack.is_empty()).then(|| clip(stack.clone(), MAX_STACK_LEN)),
            )
        }
        RunError::Syntax {
            message,
            location: Some(l),
        } => (format!("{l}: {message}"), None),
        other => (other.to_string(), None),
    };
    ErrorReply {
        kind: error_kind(e),
        message: clip(message, MAX_ERROR_MESSAGE_LEN),
        stack,
    }
}

/// Whether a fetch handler's response fits what the protocol carries and HTTP allows, so that an
/// oversized or malformed response is the request's error and never an unencodable answer (which
/// would end this process and every isolate in it).
fn carriable(r: &FetchResponse) -> Result<(), String> {
    let status = r.status;
    // A 101 only as the answer that hands a WebSocket over (the supervisor checks the client
    // asked for one).
    if r.web_socket && status != 101 {
        return Err(format!(
            "a response with a WebSocket must have the status 101, not {status}"
        ));
    }
    if !r.web_socket && !(200..=599).contains(&status) {
        return Err(format!(
            "the status {status} is not one a worker may answer (200-599)"
        ));
    }
    if matches!(status, 204 | 304) && !r.body.is_empty() {
        return Err(format!("a {status} response cannot have a body"));
    }
    if r.headers.len() > MAX_HEADERS {
        return Err(format!(
            "the response has {} headers; at most {MAX_HEADERS} are carried",
            r.headers.len()
        ));
    }
    let mut total = 0usize;
    for (name, value) in &r.headers {
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
    if r.body.len() > MAX_BODY_LEN {
        return Err(format!(
            "the response body is {} bytes; at most {MAX_BODY_LEN}",
            r.body.len()
        ));
    }
    Ok(())
}

/// Cuts `s` to at most `max` bytes on a character boundary.
pub fn clip(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_wall_of_zero_is_the_workers() {
        let worker = Limits {
            wall: Duration::from_millis(1_000),
            ..Limits::default()
        };
        assert_eq!(event_wall(0, &worker), Duration::from_millis(1_000));
        assert_eq!(event_wall(900_000, &worker), Duration::from_secs(900));
    }

    #[test]
    fn zero_limits_mean_the_defaults_and_the_wall_default_is_the_protocols() {
        let l = limits(&stockade_ipc::Limits::default());
        assert_eq!(l.wall, Duration::from_millis(u64::from(DEFAULT_WALL_MS)));
        assert_eq!(l.cpu, Limits::default().cpu);
        assert_eq!(l.memory_bytes, Limits::default().memory_bytes);
    }

    #[test]
    fn answers_that_do_not_fit_become_the_requests_error() {
        let response = |status, body: Vec<u8>| {
            Ok(Answer::Response(FetchResponse {
                status,
                headers: vec![],
                body,
                streamed: false,
                length: None,
                web_socket: false,
            }))
        };
        let spent = || Spent {
            logs: vec![],
            cpu: Duration::ZERO,
            wall: Duration::ZERO,
        };
        for (status, body) in [
            (199, vec![]),
            (204, vec![1]),
            (200, vec![0; MAX_BODY_LEN + 1]),
        ] {
            let o = outcome(
                RequestId(1),
                response(status, body),
                spent(),
                Default::default(),
                false,
            );
            assert_eq!(
                o.result.map_err(|e| e.kind),
                Err(ErrorKind::InvalidResponse)
            );
        }
        let o = outcome(
            RequestId(1),
            response(200, vec![1]),
            spent(),
            Default::default(),
            true,
        );
        assert!(o.result.is_ok());
    }

    /// The host calls the supervisor serves as a Durable Object's storage are exactly those the
    /// engine lets an isolate make synchronously.
    #[test]
    fn the_supervisor_and_the_engine_agree_on_the_calls_that_may_be_synchronous() {
        assert_eq!(
            stockade_ipc::host_calls::SYNCHRONOUS.as_slice(),
            stockade_isolate::SYNC_HOST_CALLS
        );
        for name in ["fetch", "service.call", "tcp.connect", "kv.get", "do", ""] {
            assert!(!stockade_isolate::may_call_synchronously(name), "{name}");
        }
    }

    /// The supervisor's list of host calls that take no place (`stockade_ipc::host_calls`) is
    /// the engine's (the engine does not link the protocol's crate, so each has a copy).
    #[test]
    fn the_supervisor_and_the_engine_agree_on_the_calls_that_continue_a_stream() {
        for name in stockade_ipc::host_calls::STREAM_CONTINUATIONS {
            assert!(stockade_isolate::continues_a_stream(name), "{name}");
        }
        for name in [
            "fetch",
            "service.fetch",
            "service.call",
            "kv.get",
            "ws.readFile",
            "cap.call",
            "loader.get",
            "test.echo",
            "body",
            "fetch.",
            "",
        ] {
            assert_eq!(
                stockade_isolate::continues_a_stream(name),
                stockade_ipc::host_calls::continues_a_stream(name),
                "{name}"
            );
            assert!(!stockade_isolate::continues_a_stream(name), "{name}");
        }
    }

    #[test]
    fn clipping_keeps_characters_whole() {
        assert_eq!(clip("ééé".into(), 3), "é");
        assert_eq!(clip("abc".into(), 5), "abc");
    }
}
