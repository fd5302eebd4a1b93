//! Messages from a worker to the supervisor, and their payload encodings.
//!
//! Guarantees: this is the hostile direction (the worker runs untrusted JS and may be
//! compromised). Decoding never panics, every field is capped, and the largest frame a worker can
//! make the supervisor buffer is [`crate::MAX_TO_SUPERVISOR_PAYLOAD`] (a maximal `Outcome`).
//! Trusts: nothing. In particular [`JailReport`] is the worker's *claim* about its sandbox; a
//! compromised worker can lie, so it is for logs and diagnostics only.
//!
//! Payload layouts (integers little-endian, `str`/`bytes` = u32 length + bytes, `list` = u32
//! count + items, `tag` = one byte, `bool` = one byte 0 or 1, `option` = byte 0, or byte 1 then
//! the value):
//!
//! | kind | payload |
//! |------|---------|
//! | `Ready` | `protocol_version: u8, pid: u32, seccomp: bool, landlock_abi: u8, user_namespace: bool, mpk: bool` |
//! | `Outcome` | `request_id: u64, result, logs: list<(level: tag, text: str)>, cpu_us: u64, wall_us: u64, open: bool, observed: (web_assembly: bool, dynamic_import: bool), memory_bytes: u64` where `result` = tag 1 then `reply`, or tag 2 then `error`; `error` = `kind: tag, message: str, stack: option<str>`; `reply` = tag 1 (loaded), tag 2 `json: bytes`, or tag 3 `status: u16, headers: list<(str, str)>, body: bytes, streamed: bool, length: option<u64>, web_socket: bool` |
//! | `Disposed` | `request_id: u64, worker_id: [u8; 32]` |
//! | `HostCall` | `request_id: u64, call_id: u32, name: str, payload: bytes, cpu_left_us: u32` |
//! | `Finished` | `request_id: u64, error: option<error>, logs: list<(level: tag, text: str)>` |
//! | `RenewalOverdue` | `created_since_renewal: u64` |
//!
//! A request answered with `open` set goes on after its `Outcome` (a streamed response body,
//! `ctx.waitUntil` work): it may still make host calls, and it ends with one `Finished`.
//!
//! `RenewalOverdue` answers nothing: the worker sends it on its own when V8's shared heap is
//! overdue for a renewal the process cannot do (see [`ToSupervisor::RenewalOverdue`]).

use crate::common::{decode_headers, encode_headers, Headers, RequestId, WorkerId, HEADERS_MAX};
use crate::error::{DecodeError, LimitExceeded};
use crate::kind::{Direction, MessageKind};
use crate::limits::{
    Field, Tag, MAX_BODY_LEN, MAX_ERROR_MESSAGE_LEN, MAX_HOST_CALL_NAME_LEN, MAX_HOST_CALL_PAYLOAD,
    MAX_LOG_LINES, MAX_LOG_TOTAL, MAX_RESULT_JSON_LEN, MAX_STACK_LEN,
};
use crate::wire::{max_of, prefixed, wire_enum, Budget, Reader, Writer};

/// A message a worker sends to the supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToSupervisor {
    /// Answer to `Hello`: the worker is jailed and ready for work.
    Ready {
        /// The worker's [`crate::PROTOCOL_VERSION`].
        protocol_version: u8,
        /// The worker's process id, as it sees it (in its own pid namespace, if any).
        pid: u32,
        /// The worker's claim about its sandbox.
        jail: JailReport,
    },
    /// The result of `LoadWorker`, `Invoke` or `RunSnippet`.
    Outcome(Outcome),
    /// Answer to `Dispose`.
    Disposed {
        /// Echo of the request.
        request_id: RequestId,
        /// The worker that was disposed (or was not loaded).
        worker_id: WorkerId,
    },
    /// A running request asks the supervisor something; answered by a `HostReply` with the same
    /// `request_id` and `call_id`. Unverified: the supervisor must check that `request_id` is in
    /// flight in this process; `name` and `payload` are script-influenced.
    HostCall {
        /// The request, in flight, the call belongs to.
        request_id: RequestId,
        /// Chosen by the worker; distinguishes the request's calls from each other.
        call_id: u32,
        /// Which host function (at most [`crate::limits::MAX_HOST_CALL_NAME_LEN`] bytes).
        name: String,
        /// Its argument (at most [`crate::limits::MAX_HOST_CALL_PAYLOAD`] bytes).
        payload: Vec<u8>,
        /// For a synchronous call (the isolate's thread waits for the answer inside the entry),
        /// the CPU time its request has left, microseconds, at least 1: the most the supervisor
        /// may spend on it, all of which is charged back to the request (`HostReply::cpu_us`).
        /// 0 for an asynchronous call. A claim: the supervisor caps what it spends by its own
        /// limits too.
        cpu_left_us: u32,
    },
    /// A request answered with [`Outcome::open`] is over: its streamed body, if any, and its
    /// background work are done. `error` says why it ended early (a limit, its stream failed);
    /// a streamed body that was not ended by then is cut.
    Finished {
        /// The request, answered and open.
        request_id: RequestId,
        /// Why its work after the answer failed, if it did.
        error: Option<ErrorReply>,
        /// The console lines it made after its answer (the `Outcome` carried those before),
        /// under the same caps as an `Outcome`'s (protocol 10).
        logs: Vec<LogLine>,
    },
    /// The process has created `created_since_renewal` isolates since V8's shared heap was last
    /// renewed, at least twice the renewal threshold: renewal needs a moment when no isolate
    /// lives, and some isolate always does (a Loader worker's, or one of the requests of a
    /// process that never pauses). The process grows with every
    /// isolate it creates until it ends, so the supervisor replaces it once its work is done.
    /// Sent again for every further threshold's worth while it goes on. Unverified: a claim,
    /// acted on only by retiring the process (which the worker could bring about by exiting).
    RenewalOverdue {
        /// Isolates created since the last renewal (or since the process started).
        created_since_renewal: u64,
    },
}

/// What the worker says about its own confinement. Self-reported: never a security input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct JailReport {
    /// A seccomp filter is installed.
    pub seccomp: bool,
    /// Landlock ABI version enforced, 0 if none.
    pub landlock_abi: u8,
    /// Running in its own user namespace.
    pub user_namespace: bool,
    /// Memory protection keys guard isolate heaps.
    pub mpk: bool,
}

/// Body of [`ToSupervisor::Outcome`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Echo of the request.
    pub request_id: RequestId,
    /// What the request produced.
    pub result: Result<Reply, ErrorReply>,
    /// Console output captured during the request, in order.
    pub logs: Vec<LogLine>,
    /// CPU time spent, microseconds.
    pub cpu_us: u64,
    /// Wall time spent, microseconds.
    pub wall_us: u64,
    /// The request goes on after this answer (its body streams, or `ctx.waitUntil` work runs):
    /// host calls may still come for it, and a `Finished` ends it.
    pub open: bool,
    /// What the isolate that ran it was seen doing, since it was made (sticky): risk signals
    /// from behaviour, whatever the code's text looks like.
    pub observed: Observed,
    /// Memory the isolate that ran it holds as it answers, bytes, as V8 counts it (heap
    /// committed, external and `malloc`'d bytes; 0 for an isolate that is gone or for an
    /// answer given without one). Self-reported: the supervisor uses it only to tell which
    /// tenant holds a worker process's memory when the process is killed for its cap.
    pub memory_bytes: u64,
}

/// What code in an isolate was seen doing that is a risk signal: V8 reported a WebAssembly
/// compilation (allowed or not) or an `import()` call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Observed {
    pub web_assembly: bool,
    pub dynamic_import: bool,
}

/// Successful result of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `LoadWorker` succeeded.
    Loaded,
    /// A default-export call or snippet returned this JSON.
    Json(Vec<u8>),
    /// A fetch handler returned this response. Status and headers are unvalidated: the
    /// integrator must check them before building an HTTP response.
    Response {
        /// HTTP status.
        status: u16,
        /// Response headers.
        headers: Headers,
        /// Response body (everything when not `streamed`; empty when `streamed`).
        body: Vec<u8>,
        /// The body is produced after the answer, through the request's `body.write` host
        /// calls, and ends with `body.end` (the `Outcome` is then `open`).
        streamed: bool,
        /// A streamed body's length as the runtime vouches for it (a `FixedLengthStream`, which
        /// errors the body if it carries more or fewer bytes): the HTTP response's
        /// `Content-Length`. Never a header's claim (protocol 10).
        length: Option<u64>,
        /// The response carries a WebSocket whose other end the runtime holds (a `101` to a
        /// WebSocket upgrade): its messages travel as the request's `socket.*` host calls and
        /// the `Outcome` is `open` while it lives (protocol 11).
        web_socket: bool,
    },
}

/// Failed result of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReply {
    /// What went wrong.
    pub kind: ErrorKind,
    /// Human-readable detail (script-controlled when `kind` is `ScriptThrew`).
    pub message: String,
    /// JS stack trace, when there is one.
    pub stack: Option<String>,
}

wire_enum! {
    /// Why a request failed.
    pub enum ErrorKind {
        /// The script threw (or its promise rejected).
        ScriptThrew = 1,
        /// A module failed to compile.
        CompileError = 2,
        /// An import or `main_module` names no module of the bundle.
        ModuleNotFound = 3,
        /// CPU time limit hit.
        CpuLimit = 4,
        /// Wall-clock limit hit.
        WallLimit = 5,
        /// Heap limit hit.
        MemoryLimit = 6,
        // Codes 7 (`StackOverflow`) and 8 (`SubrequestLimit`) were never produced and were
        // removed in protocol 3; they stay unused.
        /// The result exceeds its limit.
        ResultTooLarge = 9,
        /// Log output exceeds its limit.
        OutputTooLarge = 10,
        /// The request itself was unusable (bad JSON argument, bad URL...).
        InvalidInput = 11,
        /// `Invoke` named a worker that is not loaded.
        UnknownWorker = 12,
        /// A bug or resource failure in the worker.
        Internal = 13,
        /// The fetch handler's `Response` cannot be carried to the client: a status outside
        /// 200-599, too many or too large headers, or a body on a 204/304.
        InvalidResponse = 14,
        /// The supervisor cancelled the request; its client went away.
        Cancelled = 15,
    }
}

/// One captured console line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Severity.
    pub level: LogLevel,
    /// Text (script-controlled).
    pub text: String,
}

wire_enum! {
    /// Severity of a [`LogLine`].
    pub enum LogLevel {
        /// `console.debug`.
        Debug = 1,
        /// `console.info` (before protocol 10, also `console.log`).
        Info = 2,
        /// `console.warn`.
        Warn = 3,
        /// `console.error`.
        Error = 4,
        /// `console.log` and the other plain lines (`dir`, `table`, `count`, `timeLog`, `group`);
        /// since protocol 10.
        Log = 5,
    }
}

const RESULT_OK: u8 = 1;
const RESULT_ERR: u8 = 2;
const REPLY_LOADED: u8 = 1;
const REPLY_JSON: u8 = 2;
const REPLY_RESPONSE: u8 = 3;

pub(crate) const READY_MAX: usize = 1 + 4 + 4;
const REPLY_MAX: usize = 1 + max_of(
    prefixed(MAX_RESULT_JSON_LEN),
    2 + HEADERS_MAX + prefixed(MAX_BODY_LEN) + 1 + 1 + 8 + 1,
);
const ERROR_REPLY_MAX: usize = 1 + prefixed(MAX_ERROR_MESSAGE_LEN) + 1 + prefixed(MAX_STACK_LEN);
const LOGS_MAX: usize = 4 + MAX_LOG_LINES * (1 + 4) + MAX_LOG_TOTAL;
pub(crate) const OUTCOME_MAX: usize =
    8 + 1 + max_of(REPLY_MAX, ERROR_REPLY_MAX) + LOGS_MAX + 16 + 1 + 2 + 8;
pub(crate) const FINISHED_MAX: usize = 8 + 1 + ERROR_REPLY_MAX + LOGS_MAX;
pub(crate) const DISPOSED_MAX: usize = 8 + 32;
pub(crate) const RENEWAL_OVERDUE_MAX: usize = 8;
pub(crate) const HOST_CALL_MAX: usize =
    8 + 4 + prefixed(MAX_HOST_CALL_NAME_LEN) + prefixed(MAX_HOST_CALL_PAYLOAD) + 4;

impl ToSupervisor {
    /// The frame kind of this message.
    pub const fn kind(&self) -> MessageKind {
        match self {
            ToSupervisor::Ready { .. } => MessageKind::Ready,
            ToSupervisor::Outcome(_) => MessageKind::Outcome,
            ToSupervisor::Disposed { .. } => MessageKind::Disposed,
            ToSupervisor::HostCall { .. } => MessageKind::HostCall,
            ToSupervisor::Finished { .. } => MessageKind::Finished,
            ToSupervisor::RenewalOverdue { .. } => MessageKind::RenewalOverdue,
        }
    }

    /// The request this answers (`Outcome`, `Disposed`) or belongs to (`HostCall`); `None` for
    /// `Ready` and `RenewalOverdue`. Unverified: the supervisor must check it names a request it actually has
    /// outstanding.
    pub const fn request_id(&self) -> Option<RequestId> {
        match self {
            ToSupervisor::Outcome(outcome) => Some(outcome.request_id),
            ToSupervisor::Disposed { request_id, .. }
            | ToSupervisor::HostCall { request_id, .. }
            | ToSupervisor::Finished { request_id, .. } => Some(*request_id),
            ToSupervisor::Ready { .. } | ToSupervisor::RenewalOverdue { .. } => None,
        }
    }

    pub(crate) fn encode_payload(&self, w: &mut Writer<'_>) -> Result<(), LimitExceeded> {
        match self {
            ToSupervisor::Ready {
                protocol_version,
                pid,
                jail,
            } => {
                w.u8(*protocol_version);
                w.u32(*pid);
                w.bool(jail.seccomp);
                w.u8(jail.landlock_abi);
                w.bool(jail.user_namespace);
                w.bool(jail.mpk);
            }
            ToSupervisor::Outcome(outcome) => outcome.encode(w)?,
            ToSupervisor::Disposed {
                request_id,
                worker_id,
            } => {
                w.u64(request_id.0);
                w.array(&worker_id.0);
            }
            ToSupervisor::HostCall {
                request_id,
                call_id,
                name,
                payload,
                cpu_left_us,
            } => {
                w.u64(request_id.0);
                w.u32(*call_id);
                w.str(Field::HostCallName, name)?;
                w.bytes(Field::HostCallPayload, payload)?;
                w.u32(*cpu_left_us);
            }
            ToSupervisor::Finished {
                request_id,
                error,
                logs,
            } => {
                w.u64(request_id.0);
                match error {
                    None => w.u8(0),
                    Some(error) => {
                        w.u8(1);
                        error.encode(w)?;
                    }
                }
                encode_logs(w, logs)?;
            }
            ToSupervisor::RenewalOverdue {
                created_since_renewal,
            } => w.u64(*created_since_renewal),
        }
        Ok(())
    }

    pub(crate) fn decode_payload(
        kind: MessageKind,
        r: &mut Reader<'_>,
    ) -> Result<Self, DecodeError> {
        Ok(match kind {
            MessageKind::Ready => ToSupervisor::Ready {
                protocol_version: r.u8()?,
                pid: r.u32()?,
                jail: JailReport {
                    seccomp: r.bool()?,
                    landlock_abi: r.u8()?,
                    user_namespace: r.bool()?,
                    mpk: r.bool()?,
                },
            },
            MessageKind::Outcome => ToSupervisor::Outcome(Outcome::decode(r)?),
            MessageKind::Disposed => ToSupervisor::Disposed {
                request_id: RequestId(r.u64()?),
                worker_id: WorkerId(r.array()?),
            },
            MessageKind::HostCall => ToSupervisor::HostCall {
                request_id: RequestId(r.u64()?),
                call_id: r.u32()?,
                name: r.string(Field::HostCallName)?,
                payload: r.byte_vec(Field::HostCallPayload)?,
                cpu_left_us: r.u32()?,
            },
            MessageKind::Finished => ToSupervisor::Finished {
                request_id: RequestId(r.u64()?),
                error: match r.raw_tag()? {
                    0 => None,
                    1 => Some(ErrorReply::decode(r)?),
                    value => {
                        return Err(DecodeError::InvalidTag {
                            tag: Tag::Option,
                            value,
                        })
                    }
                },
                logs: decode_logs(r)?,
            },
            MessageKind::RenewalOverdue => ToSupervisor::RenewalOverdue {
                created_since_renewal: r.u64()?,
            },
            MessageKind::Hello
            | MessageKind::LoadWorker
            | MessageKind::Invoke
            | MessageKind::RunSnippet
            | MessageKind::Dispose
            | MessageKind::Shutdown
            | MessageKind::Cancel
            | MessageKind::HostReply => {
                return Err(DecodeError::WrongDirection {
                    kind,
                    expected: Direction::ToSupervisor,
                })
            }
        })
    }
}

impl Outcome {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), LimitExceeded> {
        w.u64(self.request_id.0);
        match &self.result {
            Ok(reply) => {
                w.u8(RESULT_OK);
                match reply {
                    Reply::Loaded => w.u8(REPLY_LOADED),
                    Reply::Json(json) => {
                        w.u8(REPLY_JSON);
                        w.bytes(Field::ResultJson, json)?;
                    }
                    Reply::Response {
                        status,
                        headers,
                        body,
                        streamed,
                        length,
                        web_socket,
                    } => {
                        w.u8(REPLY_RESPONSE);
                        w.u16(*status);
                        encode_headers(w, headers)?;
                        w.bytes(Field::Body, body)?;
                        w.bool(*streamed);
                        match length {
                            None => w.u8(0),
                            Some(n) => {
                                w.u8(1);
                                w.u64(*n);
                            }
                        }
                        w.bool(*web_socket);
                    }
                }
            }
            Err(error) => {
                w.u8(RESULT_ERR);
                error.encode(w)?;
            }
        }
        encode_logs(w, &self.logs)?;
        w.u64(self.cpu_us);
        w.u64(self.wall_us);
        w.bool(self.open);
        w.bool(self.observed.web_assembly);
        w.bool(self.observed.dynamic_import);
        w.u64(self.memory_bytes);
        Ok(())
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let request_id = RequestId(r.u64()?);
        let result = match r.raw_tag()? {
            RESULT_OK => Ok(decode_reply(r)?),
            RESULT_ERR => Err(ErrorReply::decode(r)?),
            value => {
                return Err(DecodeError::InvalidTag {
                    tag: Tag::OutcomeResult,
                    value,
                })
            }
        };
        let logs = decode_logs(r)?;
        Ok(Outcome {
            request_id,
            result,
            logs,
            cpu_us: r.u64()?,
            wall_us: r.u64()?,
            open: r.bool()?,
            observed: Observed {
                web_assembly: r.bool()?,
                dynamic_import: r.bool()?,
            },
            memory_bytes: r.u64()?,
        })
    }
}

impl ErrorReply {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), LimitExceeded> {
        w.tag(self.kind);
        w.str(Field::ErrorMessage, &self.message)?;
        match &self.stack {
            None => w.u8(0),
            Some(stack) => {
                w.u8(1);
                w.str(Field::Stack, stack)?;
            }
        }
        Ok(())
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ErrorReply {
            kind: r.tag()?,
            message: r.string(Field::ErrorMessage)?,
            stack: match r.raw_tag()? {
                0 => None,
                1 => Some(r.string(Field::Stack)?),
                value => {
                    return Err(DecodeError::InvalidTag {
                        tag: Tag::Option,
                        value,
                    })
                }
            },
        })
    }
}

/// A list of console lines, within the per-message caps (`Logs`, `LogTotal`, `LogText`).
fn encode_logs(w: &mut Writer<'_>, logs: &[LogLine]) -> Result<(), LimitExceeded> {
    w.count(Field::Logs, logs.len())?;
    let mut total = Budget::new(Field::LogTotal);
    for line in logs {
        w.tag(line.level);
        w.str_in(Field::LogText, &line.text, &mut total)?;
    }
    Ok(())
}

fn decode_logs(r: &mut Reader<'_>) -> Result<Vec<LogLine>, DecodeError> {
    let count = r.count(Field::Logs)?;
    let mut logs = Vec::with_capacity(r.list_capacity(count, 1 + 4));
    let mut total = Budget::new(Field::LogTotal);
    for _ in 0..count {
        logs.push(LogLine {
            level: r.tag()?,
            text: r.string_in(Field::LogText, &mut total)?,
        });
    }
    Ok(logs)
}

fn decode_reply(r: &mut Reader<'_>) -> Result<Reply, DecodeError> {
    match r.raw_tag()? {
        REPLY_LOADED => Ok(Reply::Loaded),
        REPLY_JSON => Ok(Reply::Json(r.byte_vec(Field::ResultJson)?)),
        REPLY_RESPONSE => Ok(Reply::Response {
            status: r.u16()?,
            headers: decode_headers(r)?,
            body: r.byte_vec(Field::Body)?,
            streamed: r.bool()?,
            length: match r.raw_tag()? {
                0 => None,
                1 => Some(r.u64()?),
                value => {
                    return Err(DecodeError::InvalidTag {
                        tag: Tag::Option,
                        value,
                    })
                }
            },
            web_socket: r.bool()?,
        }),
        value => Err(DecodeError::InvalidTag {
            tag: Tag::Reply,
            value,
        }),
    }
}
