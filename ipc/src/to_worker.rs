//! Messages from the supervisor to a worker, and their payload encodings.
//!
//! Guarantees: every field is capped (see [`crate::limits`]); the `*_MAX` constants below bound
//! each kind's payload and are derived from the same layout the code encodes. Trusts: nothing.
//! The worker decodes these with the same checks the supervisor applies to worker output.
//!
//! Payload layouts (integers little-endian, `str`/`bytes` = u32 length + bytes, `list` = u32
//! count + items, `tag` = one byte):
//!
//! | kind | payload |
//! |------|---------|
//! | `Hello` | `protocol_version: u8` |
//! | `LoadWorker` | `request_id: u64, worker_id: [u8; 32], tenant: str, main_module: str, modules: list<(name: str, kind: tag, bytes)>, env: list<(name: str, value: str (JSON text))>, limits: 7 × u32, profile: tag, compatibility_date: str, compatibility_flags: list<str>` |
//! | `Invoke` | `request_id: u64, worker_id: [u8; 32], call` where `call` = tag 1 `arg_json: bytes`, tag 2 `method: str, url: str, headers: list<(str, str)>, body: bytes, body_streamed: bool, entrypoint: str, encode_body: bool, props_json: bytes`, tag 3 `entrypoint: str, method: str, args_json: bytes, props_json: bytes`, tag 4 `cron: str, scheduled_time_ms: u64, wall_ms: u32`, tag 5 `queue: str, messages_json: bytes, bodies: bytes, wall_ms: u32`, or tag 6 `entrypoint: str, args_json: bytes, wall_ms: u32` |
//! | `RunSnippet` | `request_id: u64, code: str, arg_json: bytes, limits: 7 × u32` |
//! | `Dispose` | `request_id: u64, worker_id: [u8; 32]` |
//! | `Shutdown` | (empty) |
//! | `Cancel` | `request_id: u64` |
//! | `HostReply` | `request_id: u64, call_id: u32, cpu_us: u32, result` where `result` = tag 1 `payload: bytes` or tag 2 `message: str` |

use crate::common::{
    decode_headers, encode_headers, Headers, Limits, Profile, RequestId, WorkerId, HEADERS_MAX,
    LIMITS_LEN,
};
use crate::error::{DecodeError, LimitExceeded};
use crate::kind::{Direction, MessageKind};
use crate::limits::{
    Field, Tag, MAX_ARG_JSON_LEN, MAX_BODY_LEN, MAX_COMPAT_DATE_LEN, MAX_COMPAT_FLAGS,
    MAX_COMPAT_FLAG_LEN, MAX_ENV_TOTAL, MAX_ENV_VARS, MAX_ERROR_MESSAGE_LEN, MAX_HOST_CALL_PAYLOAD,
    MAX_METHOD_LEN, MAX_MODULES, MAX_MODULE_NAME_LEN, MAX_RPC_NAME_LEN, MAX_SNIPPET_LEN,
    MAX_TENANT_LEN, MAX_TOTAL_CODE, MAX_URL_LEN,
};
use crate::wire::{max_of, prefixed, wire_enum, Budget, Reader, Writer};

/// A message the supervisor sends to a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToWorker {
    /// First message on the socket; the worker answers with `Ready`.
    Hello {
        /// The supervisor's [`crate::PROTOCOL_VERSION`].
        protocol_version: u8,
    },
    /// Compile and instantiate a worker's modules. Answered by an `Outcome` whose result is
    /// `Ok(Reply::Loaded)` or an error (`ModuleNotFound`, `CompileError`, `ScriptThrew`...).
    LoadWorker(LoadWorker),
    /// Call into a loaded worker. Answered by an `Outcome`.
    Invoke {
        /// Echoed in the `Outcome`.
        request_id: RequestId,
        /// Which loaded worker.
        worker_id: WorkerId,
        /// What to call.
        call: Call,
    },
    /// Run a one-off snippet in a fresh isolate that is discarded afterwards. Answered by an
    /// `Outcome`.
    RunSnippet {
        /// Echoed in the `Outcome`.
        request_id: RequestId,
        /// Source; its default export is called with `arg_json`.
        code: String,
        /// JSON argument.
        arg_json: Vec<u8>,
        /// Limits for this run.
        limits: Limits,
    },
    /// Drop a loaded worker and its isolates. Answered by `Disposed`.
    Dispose {
        /// Echoed in `Disposed`.
        request_id: RequestId,
        /// Which worker.
        worker_id: WorkerId,
    },
    /// Exit now; no reply.
    Shutdown,
    /// Stop request `request_id`: its client went away. No reply of its own: the request still
    /// gets its one `Outcome` (error kind `Cancelled`) if it had not been answered yet. A
    /// `Cancel` naming a request the worker does not have (unknown, or already answered) is
    /// ignored.
    Cancel {
        /// The request to stop.
        request_id: RequestId,
    },
    /// The supervisor's answer to the `HostCall` `call_id` of request `request_id`. No reply.
    HostReply {
        /// Echo of the `HostCall`'s request.
        request_id: RequestId,
        /// Echo of the `HostCall`'s `call_id`.
        call_id: u32,
        /// The supervisor's CPU time spent answering, microseconds, where it measures it (a
        /// Durable Object's storage operation; 0 elsewhere): a synchronous call's is charged to
        /// its request's CPU time.
        cpu_us: u32,
        /// The host's answer (at most [`crate::limits::MAX_HOST_CALL_PAYLOAD`] bytes), or why
        /// the call failed (at most [`crate::limits::MAX_ERROR_MESSAGE_LEN`] bytes).
        result: Result<Vec<u8>, String>,
    },
}

/// Body of [`ToWorker::LoadWorker`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadWorker {
    /// Echoed in the `Outcome`.
    pub request_id: RequestId,
    /// Content hash of the bundle; names the worker in later `Invoke`/`Dispose`.
    pub worker_id: WorkerId,
    /// Owning tenant.
    pub tenant: String,
    /// Name of the entry module; should be one of `modules` (the worker reports
    /// `ModuleNotFound` otherwise; the codec does not check).
    pub main_module: String,
    /// The bundle.
    pub modules: Vec<Module>,
    /// Environment bindings visible to the script, in order: each value is JSON text (a plain
    /// value, or a binding object the runtime turns into a capability).
    pub env: Vec<(String, String)>,
    /// Limits for every call into this worker.
    pub limits: Limits,
    /// Isolation profile.
    pub profile: Profile,
    /// Cloudflare's `compatibilityDate` (`YYYY-MM-DD`), empty when the definition gave none.
    /// The supervisor validated it; the worker reads it with `stockade_source::compat`.
    pub compatibility_date: String,
    /// Cloudflare's `compatibilityFlags`, as given (validated by the supervisor).
    pub compatibility_flags: Vec<String>,
}

/// One module of a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// Import specifier the module is known by.
    pub name: String,
    /// How to interpret `bytes`.
    pub kind: ModuleKind,
    /// Contents.
    pub bytes: Vec<u8>,
}

wire_enum! {
    /// How a module's bytes are interpreted.
    pub enum ModuleKind {
        /// JavaScript ES module.
        Js = 1,
        /// TypeScript, stripped of types before compiling.
        Ts = 2,
        /// UTF-8 text, imported as a string.
        Text = 3,
        /// JSON, imported as a value.
        Json = 4,
        /// Opaque bytes, imported as an `ArrayBuffer`.
        Data = 5,
        /// CommonJS source (`module.exports`, `require`).
        Cjs = 6,
        /// A WebAssembly binary, imported as a compiled `WebAssembly.Module`.
        Wasm = 7,
    }
}

/// What an `Invoke` calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// Call the default export with one JSON argument.
    Default {
        /// JSON argument.
        arg_json: Vec<u8>,
    },
    /// Call the `fetch` handler with an HTTP request.
    Fetch {
        /// HTTP method.
        method: String,
        /// Full request URL.
        url: String,
        /// Request headers.
        headers: Headers,
        /// Request body: all of it, or when `body_streamed` its first bytes (possibly none).
        body: Vec<u8>,
        /// The rest of the body follows through the request's `body.read` host calls (each
        /// answered with the next chunk, an empty answer at the end).
        body_streamed: bool,
        /// Whose `fetch`: empty for the default export, else a named export (a
        /// `WorkerEntrypoint` class or an object), as a service binding's `entrypoint` names it.
        entrypoint: String,
        /// The answer goes to an HTTP client: a body whose `Content-Encoding` is `gzip` or `br`
        /// is encoded by the runtime unless the handler's `Response` says `encodeBody: "manual"`,
        /// as Cloudflare does. False for a worker's own `fetch` (a service binding, a worker
        /// outbound), which, like a Workers `fetch()`, gets the body as the handler made it.
        encode_body: bool,
        /// The `ctx.props` of the call (JSON text of an object; empty: none, `{}`): what the
        /// service binding it came through carries (protocol 17).
        props_json: Vec<u8>,
    },
    /// Call method `method` of entrypoint `entrypoint` (empty: the default export; else a named
    /// export, a `WorkerEntrypoint` class or an object) with arguments in the runtime's
    /// structured-clone encoding (JSON text, see `isolate/js/rpc.js`); answered `Reply::Json`
    /// with the encoded `{"ok": value}` or `{"error": {name, message}}` (protocol 5).
    Rpc {
        /// Which export; empty for `default`.
        entrypoint: String,
        /// The method's name.
        method: String,
        /// `[arg, ...]`, encoded; or `{"get": 1}`: read the property `method` instead.
        args_json: Vec<u8>,
        /// The `ctx.props` of the call, as [`Call::Fetch`]'s (protocol 17).
        props_json: Vec<u8>,
    },
    /// Call the `scheduled` handler (a cron trigger's event, protocol 12): the default export's
    /// `scheduled(controller, env, ctx)`, a `WorkerEntrypoint` class's `scheduled(controller)`,
    /// or a "scheduled" event at the global scope. Answered `Reply::Json` with
    /// `{"outcome": "ok"|"exception", "noRetry": bool, "error"?: {name, message}}`, once the
    /// handler and its `waitUntil` work are over.
    Scheduled {
        /// The cron expression that fired, as the definition gave it (at most
        /// [`crate::limits::MAX_RPC_NAME_LEN`] bytes).
        cron: String,
        /// When it was due, milliseconds since the Unix epoch (UTC).
        scheduled_time_ms: u64,
        /// This run's wall-clock limit, ms (protocol 14), in place of the loaded worker's
        /// `limits.wall_ms` (a cron event may run longer than a fetch: `[limits]
        /// event_wall_ms`); 0: the worker's. At most [`crate::limits::MAX_CALL_WALL_MS`]. CPU
        /// and the other limits stay the worker's.
        wall_ms: u32,
    },
    /// Deliver a batch of queue messages to the `queue` handler (protocol 13): the default
    /// export's `queue(batch, env, ctx)`, a `WorkerEntrypoint` class's `queue(batch)`, or a
    /// "queue" event at the global scope. Answered `Reply::Json` with `{"outcome":
    /// "ok"|"exception"|"noHandler", "error"?: {name, message}, "messages": [{"id", "action":
    /// "ack"|"retry"|"none", "delaySeconds"?}]}` once the handler and its `waitUntil` work are
    /// over (`isolate/js/queue.js`).
    Queue {
        /// The queue's name (at most [`crate::limits::MAX_RPC_NAME_LEN`] bytes).
        queue: String,
        /// The messages, JSON text written by the supervisor: `[{"id", "timestamp" (ms),
        /// "attempts", "contentType", "body": [offset, length]}]`, each body a range of `bodies`.
        messages_json: Vec<u8>,
        /// The messages' bodies, back to back.
        bodies: Vec<u8>,
        /// This batch's wall-clock limit, ms (protocol 14): as [`Call::Scheduled::wall_ms`].
        wall_ms: u32,
    },
    /// Run a Durable Object's alarm (protocol 15): the class `entrypoint`'s `alarm(info)`, as
    /// [`Call::Rpc`] calls a method named `alarm` (answered the same way, `Reply::Json` with
    /// `{"ok"}` or `{"error"}`), but under the event's own wall-clock limit, as Cloudflare gives
    /// an alarm handler 15 minutes while the object's fetch and RPC calls keep the worker's.
    Alarm {
        /// The Durable Object class.
        entrypoint: String,
        /// `[info]`, encoded as `Call::Rpc::args_json` (`{retryCount, isRetry}`).
        args_json: Vec<u8>,
        /// This run's wall-clock limit, ms: as [`Call::Scheduled::wall_ms`].
        wall_ms: u32,
    },
}

/// The method a [`Call::Alarm`] calls.
pub const ALARM_METHOD: &str = "alarm";

const CALL_DEFAULT: u8 = 1;
const CALL_FETCH: u8 = 2;
const CALL_RPC: u8 = 3;
const CALL_SCHEDULED: u8 = 4;
const CALL_QUEUE: u8 = 5;
const CALL_ALARM: u8 = 6;
const HOST_RESULT_OK: u8 = 1;
const HOST_RESULT_ERR: u8 = 2;

pub(crate) const HELLO_MAX: usize = 1;
pub(crate) const LOAD_WORKER_MAX: usize = 8
    + 32
    + prefixed(MAX_TENANT_LEN)
    + prefixed(MAX_MODULE_NAME_LEN)
    + 4
    + MAX_MODULES * (prefixed(MAX_MODULE_NAME_LEN) + 1 + 4)
    + MAX_TOTAL_CODE
    + 4
    + MAX_ENV_VARS * 8
    + MAX_ENV_TOTAL
    + LIMITS_LEN
    + 1
    + prefixed(MAX_COMPAT_DATE_LEN)
    + 4
    + MAX_COMPAT_FLAGS * prefixed(MAX_COMPAT_FLAG_LEN);
const CALL_MAX: usize = 1 + max_of(
    prefixed(MAX_ARG_JSON_LEN),
    max_of(
        prefixed(MAX_METHOD_LEN)
            + prefixed(MAX_URL_LEN)
            + HEADERS_MAX
            + prefixed(MAX_BODY_LEN)
            + 1
            + prefixed(MAX_RPC_NAME_LEN)
            + 1,
        max_of(
            2 * prefixed(MAX_RPC_NAME_LEN) + prefixed(MAX_ARG_JSON_LEN),
            max_of(
                prefixed(MAX_RPC_NAME_LEN) + 8 + 4,
                max_of(
                    prefixed(MAX_RPC_NAME_LEN)
                        + prefixed(MAX_ARG_JSON_LEN)
                        + prefixed(MAX_BODY_LEN)
                        + 4,
                    prefixed(MAX_RPC_NAME_LEN) + prefixed(MAX_ARG_JSON_LEN) + 4,
                ),
            ),
        ),
    ),
);
pub(crate) const INVOKE_MAX: usize = 8 + 32 + CALL_MAX;
pub(crate) const RUN_SNIPPET_MAX: usize =
    8 + prefixed(MAX_SNIPPET_LEN) + prefixed(MAX_ARG_JSON_LEN) + LIMITS_LEN;
pub(crate) const DISPOSE_MAX: usize = 8 + 32;
pub(crate) const SHUTDOWN_MAX: usize = 0;
pub(crate) const CANCEL_MAX: usize = 8;
pub(crate) const HOST_REPLY_MAX: usize = 8
    + 4
    + 4
    + 1
    + max_of(
        prefixed(MAX_HOST_CALL_PAYLOAD),
        prefixed(MAX_ERROR_MESSAGE_LEN),
    );

impl ToWorker {
    /// The frame kind of this message.
    pub const fn kind(&self) -> MessageKind {
        match self {
            ToWorker::Hello { .. } => MessageKind::Hello,
            ToWorker::LoadWorker(_) => MessageKind::LoadWorker,
            ToWorker::Invoke { .. } => MessageKind::Invoke,
            ToWorker::RunSnippet { .. } => MessageKind::RunSnippet,
            ToWorker::Dispose { .. } => MessageKind::Dispose,
            ToWorker::Shutdown => MessageKind::Shutdown,
            ToWorker::Cancel { .. } => MessageKind::Cancel,
            ToWorker::HostReply { .. } => MessageKind::HostReply,
        }
    }

    /// The request this message is about: for `LoadWorker`, `Invoke`, `RunSnippet` and
    /// `Dispose` the id their answer will carry; for `Cancel` and `HostReply` (which get no
    /// answer of their own) the request in flight they concern. `None` for `Hello` (answered by
    /// `Ready`) and `Shutdown`.
    pub const fn request_id(&self) -> Option<RequestId> {
        match self {
            ToWorker::LoadWorker(load) => Some(load.request_id),
            ToWorker::Invoke { request_id, .. }
            | ToWorker::RunSnippet { request_id, .. }
            | ToWorker::Dispose { request_id, .. }
            | ToWorker::Cancel { request_id }
            | ToWorker::HostReply { request_id, .. } => Some(*request_id),
            ToWorker::Hello { .. } | ToWorker::Shutdown => None,
        }
    }

    pub(crate) fn encode_payload(&self, w: &mut Writer<'_>) -> Result<(), LimitExceeded> {
        match self {
            ToWorker::Hello { protocol_version } => w.u8(*protocol_version),
            ToWorker::LoadWorker(load) => load.encode(w)?,
            ToWorker::Invoke {
                request_id,
                worker_id,
                call,
            } => {
                w.u64(request_id.0);
                w.array(&worker_id.0);
                call.encode(w)?;
            }
            ToWorker::RunSnippet {
                request_id,
                code,
                arg_json,
                limits,
            } => {
                w.u64(request_id.0);
                w.str(Field::SnippetCode, code)?;
                w.bytes(Field::ArgJson, arg_json)?;
                limits.encode(w);
            }
            ToWorker::Dispose {
                request_id,
                worker_id,
            } => {
                w.u64(request_id.0);
                w.array(&worker_id.0);
            }
            ToWorker::Shutdown => {}
            ToWorker::Cancel { request_id } => w.u64(request_id.0),
            ToWorker::HostReply {
                request_id,
                call_id,
                cpu_us,
                result,
            } => {
                w.u64(request_id.0);
                w.u32(*call_id);
                w.u32(*cpu_us);
                match result {
                    Ok(payload) => {
                        w.u8(HOST_RESULT_OK);
                        w.bytes(Field::HostCallPayload, payload)?;
                    }
                    Err(message) => {
                        w.u8(HOST_RESULT_ERR);
                        w.str(Field::ErrorMessage, message)?;
                    }
                }
            }
        }
        Ok(())
    }

    pub(crate) fn decode_payload(
        kind: MessageKind,
        r: &mut Reader<'_>,
    ) -> Result<Self, DecodeError> {
        Ok(match kind {
            MessageKind::Hello => ToWorker::Hello {
                protocol_version: r.u8()?,
            },
            MessageKind::LoadWorker => ToWorker::LoadWorker(LoadWorker::decode(r)?),
            MessageKind::Invoke => ToWorker::Invoke {
                request_id: RequestId(r.u64()?),
                worker_id: WorkerId(r.array()?),
                call: Call::decode(r)?,
            },
            MessageKind::RunSnippet => ToWorker::RunSnippet {
                request_id: RequestId(r.u64()?),
                code: r.string(Field::SnippetCode)?,
                arg_json: r.byte_vec(Field::ArgJson)?,
                limits: Limits::decode(r)?,
            },
            MessageKind::Dispose => ToWorker::Dispose {
                request_id: RequestId(r.u64()?),
                worker_id: WorkerId(r.array()?),
            },
            MessageKind::Shutdown => ToWorker::Shutdown,
            MessageKind::Cancel => ToWorker::Cancel {
                request_id: RequestId(r.u64()?),
            },
            MessageKind::HostReply => ToWorker::HostReply {
                request_id: RequestId(r.u64()?),
                call_id: r.u32()?,
                cpu_us: r.u32()?,
                result: match r.raw_tag()? {
                    HOST_RESULT_OK => Ok(r.byte_vec(Field::HostCallPayload)?),
                    HOST_RESULT_ERR => Err(r.string(Field::ErrorMessage)?),
                    value => {
                        return Err(DecodeError::InvalidTag {
                            tag: Tag::HostReplyResult,
                            value,
                        })
                    }
                },
            },
            MessageKind::Ready
            | MessageKind::Outcome
            | MessageKind::Disposed
            | MessageKind::HostCall
            | MessageKind::Finished
            | MessageKind::RenewalOverdue => {
                return Err(DecodeError::WrongDirection {
                    kind,
                    expected: Direction::ToWorker,
                })
            }
        })
    }
}

impl LoadWorker {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), LimitExceeded> {
        w.u64(self.request_id.0);
        w.array(&self.worker_id.0);
        w.str(Field::Tenant, &self.tenant)?;
        w.str(Field::MainModule, &self.main_module)?;
        w.count(Field::Modules, self.modules.len())?;
        let mut code = Budget::new(Field::TotalCode);
        for module in &self.modules {
            w.str(Field::ModuleName, &module.name)?;
            w.tag(module.kind);
            w.bytes_in(Field::ModuleCode, &module.bytes, &mut code)?;
        }
        w.count(Field::EnvVars, self.env.len())?;
        let mut env = Budget::new(Field::EnvTotal);
        for (name, value) in &self.env {
            w.str_in(Field::EnvName, name, &mut env)?;
            w.str_in(Field::EnvValue, value, &mut env)?;
        }
        self.limits.encode(w);
        w.tag(self.profile);
        w.str(Field::CompatDate, &self.compatibility_date)?;
        w.count(Field::CompatFlags, self.compatibility_flags.len())?;
        for flag in &self.compatibility_flags {
            w.str(Field::CompatFlag, flag)?;
        }
        Ok(())
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let request_id = RequestId(r.u64()?);
        let worker_id = WorkerId(r.array()?);
        let tenant = r.string(Field::Tenant)?;
        let main_module = r.string(Field::MainModule)?;
        let count = r.count(Field::Modules)?;
        let mut modules = Vec::with_capacity(r.list_capacity(count, 4 + 1 + 4));
        let mut code = Budget::new(Field::TotalCode);
        for _ in 0..count {
            modules.push(Module {
                name: r.string(Field::ModuleName)?,
                kind: r.tag()?,
                bytes: r.byte_vec_in(Field::ModuleCode, &mut code)?,
            });
        }
        let count = r.count(Field::EnvVars)?;
        let mut env = Vec::with_capacity(r.list_capacity(count, 4 + 4));
        let mut env_total = Budget::new(Field::EnvTotal);
        for _ in 0..count {
            let name = r.string_in(Field::EnvName, &mut env_total)?;
            let value = r.string_in(Field::EnvValue, &mut env_total)?;
            env.push((name, value));
        }
        let limits = Limits::decode(r)?;
        let profile = r.tag()?;
        let compatibility_date = r.string(Field::CompatDate)?;
        let count = r.count(Field::CompatFlags)?;
        let mut compatibility_flags = Vec::with_capacity(r.list_capacity(count, 4));
        for _ in 0..count {
            compatibility_flags.push(r.string(Field::CompatFlag)?);
        }
        Ok(LoadWorker {
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
        })
    }
}

/// An event call's `wall_ms`, refused above [`crate::limits::MAX_CALL_WALL_MS`] by the encoder
/// and the decoder alike.
fn check_wall(wall_ms: u32) -> Result<u32, LimitExceeded> {
    let max = Field::CallWallMs.max();
    if wall_ms as usize > max {
        return Err(LimitExceeded {
            field: Field::CallWallMs,
            actual: wall_ms as usize,
            max,
        });
    }
    Ok(wall_ms)
}

impl Call {
    /// The wall-clock limit this call carries for itself, if any (an event's `wall_ms` other
    /// than 0); `None`: the loaded worker's.
    pub const fn own_wall_ms(&self) -> Option<u32> {
        match self {
            Call::Scheduled { wall_ms, .. }
            | Call::Queue { wall_ms, .. }
            | Call::Alarm { wall_ms, .. }
                if *wall_ms != 0 =>
            {
                Some(*wall_ms)
            }
            _ => None,
        }
    }

    /// Lowers the wall-clock limit an event call carries to at most `cap` ms (0 stays 0: the
    /// worker's own limit, which the caller caps itself). Other calls are left as they are.
    pub fn cap_wall_ms(&mut self, cap: u32) {
        if let Call::Scheduled { wall_ms, .. }
        | Call::Queue { wall_ms, .. }
        | Call::Alarm { wall_ms, .. } = self
        {
            *wall_ms = (*wall_ms).min(cap);
        }
    }

    fn encode(&self, w: &mut Writer<'_>) -> Result<(), LimitExceeded> {
        match self {
            Call::Default { arg_json } => {
                w.u8(CALL_DEFAULT);
                w.bytes(Field::ArgJson, arg_json)?;
            }
            Call::Fetch {
                method,
                url,
                headers,
                body,
                body_streamed,
                entrypoint,
                encode_body,
                props_json,
            } => {
                w.u8(CALL_FETCH);
                w.str(Field::Method, method)?;
                w.str(Field::Url, url)?;
                encode_headers(w, headers)?;
                w.bytes(Field::Body, body)?;
                w.bool(*body_streamed);
                w.str(Field::RpcName, entrypoint)?;
                w.bool(*encode_body);
                w.bytes(Field::EnvValue, props_json)?;
            }
            Call::Rpc {
                entrypoint,
                method,
                args_json,
                props_json,
            } => {
                w.u8(CALL_RPC);
                w.str(Field::RpcName, entrypoint)?;
                w.str(Field::RpcName, method)?;
                w.bytes(Field::ArgJson, args_json)?;
                w.bytes(Field::EnvValue, props_json)?;
            }
            Call::Scheduled {
                cron,
                scheduled_time_ms,
                wall_ms,
            } => {
                w.u8(CALL_SCHEDULED);
                w.str(Field::RpcName, cron)?;
                w.u64(*scheduled_time_ms);
                w.u32(check_wall(*wall_ms)?);
            }
            Call::Queue {
                queue,
                messages_json,
                bodies,
                wall_ms,
            } => {
                w.u8(CALL_QUEUE);
                w.str(Field::RpcName, queue)?;
                w.bytes(Field::ArgJson, messages_json)?;
                w.bytes(Field::Body, bodies)?;
                w.u32(check_wall(*wall_ms)?);
            }
            Call::Alarm {
                entrypoint,
                args_json,
                wall_ms,
            } => {
                w.u8(CALL_ALARM);
                w.str(Field::RpcName, entrypoint)?;
                w.bytes(Field::ArgJson, args_json)?;
                w.u32(check_wall(*wall_ms)?);
            }
        }
        Ok(())
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.raw_tag()? {
            CALL_DEFAULT => Ok(Call::Default {
                arg_json: r.byte_vec(Field::ArgJson)?,
            }),
            CALL_FETCH => Ok(Call::Fetch {
                method: r.string(Field::Method)?,
                url: r.string(Field::Url)?,
                headers: decode_headers(r)?,
                body: r.byte_vec(Field::Body)?,
                body_streamed: r.bool()?,
                entrypoint: r.string(Field::RpcName)?,
                encode_body: r.bool()?,
                props_json: r.byte_vec(Field::EnvValue)?,
            }),
            CALL_RPC => Ok(Call::Rpc {
                entrypoint: r.string(Field::RpcName)?,
                method: r.string(Field::RpcName)?,
                args_json: r.byte_vec(Field::ArgJson)?,
                props_json: r.byte_vec(Field::EnvValue)?,
            }),
            CALL_SCHEDULED => Ok(Call::Scheduled {
                cron: r.string(Field::RpcName)?,
                scheduled_time_ms: r.u64()?,
                wall_ms: check_wall(r.u32()?)?,
            }),
            CALL_QUEUE => Ok(Call::Queue {
                queue: r.string(Field::RpcName)?,
                messages_json: r.byte_vec(Field::ArgJson)?,
                bodies: r.byte_vec(Field::Body)?,
                wall_ms: check_wall(r.u32()?)?,
            }),
            CALL_ALARM => Ok(Call::Alarm {
                entrypoint: r.string(Field::RpcName)?,
                args_json: r.byte_vec(Field::ArgJson)?,
                wall_ms: check_wall(r.u32()?)?,
            }),
            value => Err(DecodeError::InvalidTag {
                tag: Tag::Call,
                value,
            }),
        }
    }
}
