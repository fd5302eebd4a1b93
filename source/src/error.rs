//! Errors of the engine: each limit and each kind of bad input is its own variant, so callers
//! (the CLI's exit codes, the daemon's JSON `code`s) never parse messages.

use std::fmt;

/// Which per-invocation limit stopped the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKind {
    /// CPU time of the isolate's thread.
    Cpu,
    /// Wall-clock time of the invocation, waits for timers included.
    Wall,
    /// The V8 heap limit.
    Heap,
    /// ArrayBuffer and WebAssembly memory outside the V8 heap.
    ExternalMemory,
    /// Bytes of console output.
    Output,
    /// Bytes of the JSON result.
    Result,
    /// Bytes of module source.
    Source,
    /// Pending timers at once.
    Timers,
}

impl LimitKind {
    /// A stable machine-readable name (`cpu`, `wall`, ...), used in CLI output and API codes.
    pub fn name(self) -> &'static str {
        match self {
            LimitKind::Cpu => "cpu",
            LimitKind::Wall => "wall",
            LimitKind::Heap => "memory",
            LimitKind::ExternalMemory => "external-memory",
            LimitKind::Output => "output",
            LimitKind::Result => "result",
            LimitKind::Source => "source",
            LimitKind::Timers => "timers",
        }
    }
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            LimitKind::Cpu => "CPU time limit exceeded",
            LimitKind::Wall => "wall-clock time limit exceeded",
            LimitKind::Heap => "memory limit exceeded (V8 heap)",
            LimitKind::ExternalMemory => "memory limit exceeded (ArrayBuffer/WebAssembly memory)",
            LimitKind::Output => "console output limit exceeded",
            LimitKind::Result => "result size limit exceeded",
            LimitKind::Source => "source size limit exceeded",
            LimitKind::Timers => "too many pending timers",
        };
        f.write_str(what)
    }
}

/// A position in a tenant's source file (1-based), after TypeScript source mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLocation {
    pub module: String,
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.module, self.line, self.column)
    }
}

/// Why an invocation (or a worker's loading) did not produce a result.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RunError {
    /// The tenant's code threw (or its promise rejected) and nothing caught it.
    #[error("{message}")]
    Threw {
        message: String,
        stack: String,
        location: Option<SourceLocation>,
    },
    /// A limit was hit; the isolate has been disposed.
    #[error("{0}")]
    Limit(LimitKind),
    /// A module failed to parse (JavaScript or TypeScript).
    #[error("syntax error: {message}")]
    Syntax {
        message: String,
        location: Option<SourceLocation>,
    },
    /// An import names a module outside the worker's module set.
    #[error("cannot find module '{specifier}' imported from {referrer}")]
    ModuleNotFound { specifier: String, referrer: String },
    /// An import names a built-in module this worker may not import (a Node.js module without
    /// `nodejs_compat`, or one Stockade does not implement); `reason` says which and why.
    #[error("cannot import '{specifier}' from {referrer}: {reason}")]
    BuiltinUnavailable {
        specifier: String,
        referrer: String,
        reason: String,
    },
    /// The worker definition or the argument is malformed (bad names, invalid UTF-8, bad JSON).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The result promise is still pending but nothing (no timer, no host call) can ever settle
    /// it.
    #[error("the code's promise never settles: nothing it could wait for is pending (no timer, no host call)")]
    NeverSettled,
    /// The engine failed; not the tenant's fault.
    #[error("internal error: {0}")]
    Internal(String),
}

impl RunError {
    /// A stable machine-readable code for APIs.
    pub fn code(&self) -> &'static str {
        match self {
            RunError::Threw { .. } => "script_threw",
            RunError::Limit(_) => "limit_exceeded",
            RunError::Syntax { .. } => "syntax_error",
            RunError::ModuleNotFound { .. } | RunError::BuiltinUnavailable { .. } => {
                "module_not_found"
            }
            RunError::InvalidInput(_) => "invalid_input",
            RunError::NeverSettled => "never_settled",
            RunError::Internal(_) => "internal",
        }
    }
}
