//! `stockade run FILE`: one module, one fresh isolate, one call, then exit.
//!
//! FILE may import other files by relative path; they are read from FILE's folder and never
//! from outside it (see `stockade_isolate::DiskSource`). By default the code runs in a jailed
//! worker process (`run_jailed.rs`); `--no-jail` runs it in this process, for debugging.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use stockade_isolate::{DiskSource, Engine, Limits, LogLevel, RunError, V8Profile, Worker};

pub const EXIT_THREW: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_LIMIT: u8 = 3;
pub const EXIT_INTERNAL: u8 = 4;

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The main module (.js, .mjs, .ts).
    pub file: PathBuf,
    /// The argument passed to the default export, as JSON.
    #[arg(long, default_value = "null")]
    pub arg: String,
    /// CPU time limit in milliseconds.
    #[arg(long, default_value_t = 5_000)]
    pub cpu_ms: u64,
    /// Memory limit (V8 heap, and again ArrayBuffer/WebAssembly memory) in MiB.
    #[arg(long, default_value_t = 128)]
    pub memory_mb: usize,
    /// Wall-clock limit in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    pub wall_ms: u64,
    /// Run in this process instead of a jailed worker (debugging only).
    #[arg(long)]
    pub no_jail: bool,
}

/// The exit code an engine error maps to.
pub fn exit_code(error: &RunError) -> u8 {
    match error {
        RunError::Threw { .. } | RunError::NeverSettled => EXIT_THREW,
        RunError::Syntax { .. } | RunError::ModuleNotFound { .. } | RunError::InvalidInput(_) => {
            EXIT_USAGE
        }
        RunError::Limit(_) => EXIT_LIMIT,
        RunError::Internal(_) => EXIT_INTERNAL,
    }
}

/// Human-readable report of an error on stderr.
pub fn report(error: &RunError) -> String {
    match error {
        RunError::Threw {
            message,
            stack,
            location,
        } => {
            let mut s = String::from(message.as_str());
            if let Some(loc) = location {
                s.push_str(&format!("\n    at {loc}"));
            }
            if !stack.is_empty() {
                s.push('\n');
                s.push_str(stack);
            }
            s
        }
        RunError::Syntax {
            message,
            location: Some(loc),
        } => format!("{loc}: syntax error: {message}"),
        RunError::Limit(kind) => format!("limit exceeded ({}): {kind}", kind.name()),
        other => other.to_string(),
    }
}

/// Says why on stderr and exits with `code`.
pub fn fail(code: u8, msg: &str) -> ExitCode {
    eprintln!("stockade: {msg}");
    ExitCode::from(code)
}

pub fn main(args: RunArgs) -> ExitCode {
    if let Err(e) = serde_json::from_str::<serde_json::Value>(&args.arg) {
        return fail(EXIT_USAGE, &format!("--arg is not valid JSON: {e}"));
    }
    let (dir, name) = match (
        args.file.parent(),
        args.file.file_name().and_then(|n| n.to_str()),
    ) {
        (Some(dir), Some(name)) => (
            if dir.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                dir.to_path_buf()
            },
            name.to_string(),
        ),
        _ => {
            return fail(
                EXIT_USAGE,
                &format!("{}: not a file name", args.file.display()),
            )
        }
    };
    if !args.file.is_file() {
        return fail(
            EXIT_USAGE,
            &format!("{}: no such file", args.file.display()),
        );
    }
    let limits = Limits {
        cpu: Duration::from_millis(args.cpu_ms),
        wall: Duration::from_millis(args.wall_ms),
        memory_bytes: args.memory_mb.saturating_mul(1 << 20),
        ..Limits::default()
    };
    if !args.no_jail {
        return super::run_jailed::main(&args, &dir, &name, &limits);
    }
    let engine = match Engine::init(V8Profile::Standard) {
        Ok(e) => e,
        Err(e) => return fail(EXIT_INTERNAL, &e.to_string()),
    };
    let mut source = match DiskSource::new(&dir, limits.source_bytes as u64) {
        Ok(s) => s,
        Err(e) => return fail(EXIT_USAGE, &e.to_string()),
    };
    let mut worker = match Worker::new(engine, limits) {
        Ok(w) => w,
        Err(e) => return fail(EXIT_INTERNAL, &e.to_string()),
    };
    let loaded = worker.load(&name, &mut source);
    print_logs(&loaded.logs);
    if let Err(e) = loaded.result {
        return fail(exit_code(&e), &report(&e));
    }
    let called = worker.call(&args.arg);
    print_logs(&called.logs);
    match called.result {
        Ok(json) => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{json}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(exit_code(&e), &report(&e)),
    }
}

/// Console output on stderr, in order, warnings and errors marked.
pub fn print_logs(logs: &[stockade_isolate::LogLine]) {
    let mut err = std::io::stderr().lock();
    for line in logs {
        let prefix = match line.level {
            LogLevel::Warn => "warn: ",
            LogLevel::Error => "error: ",
            _ => "",
        };
        let _ = writeln!(err, "{prefix}{}", line.text);
    }
}
