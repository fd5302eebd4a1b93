//! Hard size limits of the wire protocol, one constant per field.
//!
//! Guarantees: every variable-length field and every list of the protocol has a cap here, and the
//! encoder and the decoder check the *same* cap through [`Field::max`], so anything the encoder
//! accepts the decoder accepts too. The largest payload a frame of each kind can carry is derived
//! from these caps (see [`crate::MessageKind::max_payload`]) and is enforced from the frame header
//! alone, before the payload is read or anything is allocated for it.
//!
//! Trusts: nothing. The numbers are policy; raising one raises the memory a hostile peer can make
//! the decoder spend, by at most that amount.

use std::fmt;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// Version of the wire format. Carried in every frame header and restated by `Hello` / `Ready`.
pub const PROTOCOL_VERSION: u8 = 17;
/// First two bytes of every frame (`"SK"`, for Stockade).
pub const MAGIC: [u8; 2] = *b"SK";
/// Bytes in a frame header: magic (2), version (1), message kind (1), payload length (u32 LE).
pub const HEADER_LEN: usize = 8;

/// Largest tenant name, bytes.
pub const MAX_TENANT_LEN: usize = 256;
/// Most modules in one `LoadWorker`.
pub const MAX_MODULES: usize = 1024;
/// Largest module name (also the `main_module` reference), bytes.
pub const MAX_MODULE_NAME_LEN: usize = 1024;
/// Largest single module body, bytes.
pub const MAX_MODULE_LEN: usize = 32 * MIB;
/// Largest sum of all module bodies in one `LoadWorker`, bytes.
pub const MAX_TOTAL_CODE: usize = 64 * MIB;
/// Most environment bindings in one `LoadWorker`.
pub const MAX_ENV_VARS: usize = 1024;
/// Largest environment binding name, bytes.
pub const MAX_ENV_NAME_LEN: usize = 1024;
/// Largest single environment binding value, bytes.
pub const MAX_ENV_VALUE_LEN: usize = MIB;
/// Largest sum of all environment names and values in one `LoadWorker`, bytes.
pub const MAX_ENV_TOTAL: usize = MIB;
/// Largest compatibility date (`LoadWorker::compatibility_date`, `YYYY-MM-DD` or empty), bytes.
pub const MAX_COMPAT_DATE_LEN: usize = 16;
/// Most compatibility flags in one `LoadWorker`.
pub const MAX_COMPAT_FLAGS: usize = 64;
/// Largest single compatibility flag, bytes.
pub const MAX_COMPAT_FLAG_LEN: usize = 128;
/// Largest `RunSnippet` source, bytes.
pub const MAX_SNIPPET_LEN: usize = MIB;
/// Largest JSON argument of a call or snippet, bytes.
pub const MAX_ARG_JSON_LEN: usize = 16 * MIB;
/// Largest JSON result, bytes.
pub const MAX_RESULT_JSON_LEN: usize = 16 * MIB;
/// Largest HTTP method, bytes.
pub const MAX_METHOD_LEN: usize = 32;
/// Largest RPC entrypoint or method name (`Call::Rpc`), bytes.
pub const MAX_RPC_NAME_LEN: usize = 256;
/// Largest URL, bytes.
pub const MAX_URL_LEN: usize = 16 * KIB;
/// Most headers in one request or response.
pub const MAX_HEADERS: usize = 128;
/// Largest header name, bytes.
pub const MAX_HEADER_NAME_LEN: usize = 256;
/// Largest header value, bytes.
pub const MAX_HEADER_VALUE_LEN: usize = 8 * KIB;
/// Largest sum of all header names and values in one request or response, bytes.
pub const MAX_HEADER_TOTAL: usize = 256 * KIB;
/// Largest HTTP body (request or response), bytes.
pub const MAX_BODY_LEN: usize = 16 * MIB;
/// Most log lines in one `Outcome`.
pub const MAX_LOG_LINES: usize = 1024;
/// Largest single log line, bytes.
pub const MAX_LOG_LINE_LEN: usize = 16 * KIB;
/// Largest sum of all log lines in one `Outcome`, bytes.
pub const MAX_LOG_TOTAL: usize = MIB;
/// Largest error message, bytes.
pub const MAX_ERROR_MESSAGE_LEN: usize = 16 * KIB;
/// Largest error stack trace, bytes.
pub const MAX_STACK_LEN: usize = 64 * KIB;
/// Largest host call name (`ToSupervisor::HostCall::name`), bytes.
pub const MAX_HOST_CALL_NAME_LEN: usize = 64;
/// Largest host call payload, either way (`HostCall::payload`, `HostReply`'s `Ok` payload),
/// bytes.
pub const MAX_HOST_CALL_PAYLOAD: usize = 16 * MIB;

/// The largest wall-clock limit an event call carries (`Call::Scheduled::wall_ms`,
/// `Call::Queue::wall_ms`, `Call::Alarm::wall_ms`), milliseconds: 24 hours (the supervisor's `[limits] event_wall_ms`
/// is at most this).
pub const MAX_CALL_WALL_MS: u32 = 86_400_000;

/// The wall-clock limit, milliseconds, that a 0 in [`crate::Limits::wall_ms`] stands for. The
/// worker's engine applies the same default; the supervisor uses it to know how long a request
/// may take before its process is declared hung.
pub const DEFAULT_WALL_MS: u32 = 30_000;

/// A capped quantity of the protocol: the length of one field, the number of items in a list, or
/// the total bytes of a list. Named in [`crate::LimitExceeded`] and in decode errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// Tenant name length.
    Tenant,
    /// `LoadWorker::main_module` length.
    MainModule,
    /// Number of modules.
    Modules,
    /// Module name length.
    ModuleName,
    /// Module body length.
    ModuleCode,
    /// Sum of module body lengths.
    TotalCode,
    /// Number of environment bindings.
    EnvVars,
    /// Environment binding name length.
    EnvName,
    /// Environment binding value length.
    EnvValue,
    /// Sum of environment name and value lengths.
    EnvTotal,
    /// Compatibility date length.
    CompatDate,
    /// Number of compatibility flags.
    CompatFlags,
    /// Compatibility flag length.
    CompatFlag,
    /// Snippet source length.
    SnippetCode,
    /// JSON argument length.
    ArgJson,
    /// JSON result length.
    ResultJson,
    /// HTTP method length.
    Method,
    /// RPC entrypoint or method name length.
    RpcName,
    /// URL length.
    Url,
    /// Number of headers.
    Headers,
    /// Header name length.
    HeaderName,
    /// Header value length.
    HeaderValue,
    /// Sum of header name and value lengths.
    HeaderTotal,
    /// HTTP body length.
    Body,
    /// Number of log lines.
    Logs,
    /// Log line length.
    LogText,
    /// Sum of log line lengths.
    LogTotal,
    /// Error message length.
    ErrorMessage,
    /// Stack trace length.
    Stack,
    /// Host call name length.
    HostCallName,
    /// Host call payload length (the call's, or its reply's `Ok` payload).
    HostCallPayload,
    /// An event call's own wall-clock limit, milliseconds (not a length).
    CallWallMs,
}

impl Field {
    /// The cap on this quantity (bytes, items for list counts, milliseconds for
    /// [`Field::CallWallMs`]).
    pub const fn max(self) -> usize {
        match self {
            Field::Tenant => MAX_TENANT_LEN,
            Field::MainModule | Field::ModuleName => MAX_MODULE_NAME_LEN,
            Field::Modules => MAX_MODULES,
            Field::ModuleCode => MAX_MODULE_LEN,
            Field::TotalCode => MAX_TOTAL_CODE,
            Field::EnvVars => MAX_ENV_VARS,
            Field::EnvName => MAX_ENV_NAME_LEN,
            Field::EnvValue => MAX_ENV_VALUE_LEN,
            Field::EnvTotal => MAX_ENV_TOTAL,
            Field::CompatDate => MAX_COMPAT_DATE_LEN,
            Field::CompatFlags => MAX_COMPAT_FLAGS,
            Field::CompatFlag => MAX_COMPAT_FLAG_LEN,
            Field::SnippetCode => MAX_SNIPPET_LEN,
            Field::ArgJson => MAX_ARG_JSON_LEN,
            Field::ResultJson => MAX_RESULT_JSON_LEN,
            Field::Method => MAX_METHOD_LEN,
            Field::RpcName => MAX_RPC_NAME_LEN,
            Field::Url => MAX_URL_LEN,
            Field::Headers => MAX_HEADERS,
            Field::HeaderName => MAX_HEADER_NAME_LEN,
            Field::HeaderValue => MAX_HEADER_VALUE_LEN,
            Field::HeaderTotal => MAX_HEADER_TOTAL,
            Field::Body => MAX_BODY_LEN,
            Field::Logs => MAX_LOG_LINES,
            Field::LogText => MAX_LOG_LINE_LEN,
            Field::LogTotal => MAX_LOG_TOTAL,
            Field::ErrorMessage => MAX_ERROR_MESSAGE_LEN,
            Field::Stack => MAX_STACK_LEN,
            Field::HostCallName => MAX_HOST_CALL_NAME_LEN,
            Field::HostCallPayload => MAX_HOST_CALL_PAYLOAD,
            Field::CallWallMs => MAX_CALL_WALL_MS as usize,
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A one-byte discriminant on the wire: enum variants, `Option` presence, booleans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Tag {
    /// [`crate::ModuleKind`].
    ModuleKind,
    /// [`crate::Profile`].
    Profile,
    /// [`crate::Call`] variant.
    Call,
    /// `Ok` / `Err` of [`crate::Outcome::result`].
    OutcomeResult,
    /// `Ok` / `Err` of the `result` of [`crate::ToWorker::HostReply`].
    HostReplyResult,
    /// [`crate::Reply`] variant.
    Reply,
    /// [`crate::ErrorKind`].
    ErrorKind,
    /// [`crate::LogLevel`].
    LogLevel,
    /// Presence byte of an optional field.
    Option,
    /// A boolean (must be 0 or 1).
    Bool,
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}
