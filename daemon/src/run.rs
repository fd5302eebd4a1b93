//! `stockade run FILE`: one module, one fresh isolate, one call, then exit.
//!
//! FILE may import other files by relative path; they are read from FILE's folder and never
//! from outside it (see `stockade_source::DiskSource`). The code runs in a worker process
//! (`run_jailed.rs`), jailed unless `--no-jail` (debugging): this process never maps V8.

use std::borrow::Cow;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use stockade_ipc::{LogLevel, LogLine};
use stockade_source::RunError;

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
    /// Run the worker process without the jail (debugging only).
    #[arg(long)]
    pub no_jail: bool,
    /// A compatibility flag, as in a Loader worker's `compatibilityFlags` (repeatable), e.g.
    /// `--compatibility-flag nodejs_compat`.
    #[arg(long = "compatibility-flag")]
    pub compatibility_flags: Vec<String>,
}

/// The exit code an engine error maps to.
pub fn exit_code(error: &RunError) -> u8 {
    match error {
        RunError::Threw { .. } | RunError::NeverSettled => EXIT_THREW,
        RunError::Syntax { .. }
        | RunError::ModuleNotFound { .. }
        | RunError::BuiltinUnavailable { .. }
        | RunError::InvalidInput(_) => EXIT_USAGE,
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
    let min_mb = crate::api::MIN_MEMORY_MB as usize;
    if args.memory_mb < min_mb {
        return fail(
            EXIT_USAGE,
            &format!(
                "--memory-mb is {}; the smallest memory limit is {min_mb} MiB",
                args.memory_mb
            ),
        );
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
    if let Err(e) = stockade_source::Compat::parse("", &args.compatibility_flags) {
        return fail(EXIT_USAGE, &e);
    }
    if !args.file.is_file() {
        let what = if args.file.is_dir() {
            "a directory, not a file"
        } else {
            "no such file"
        };
        return fail(EXIT_USAGE, &format!("{}: {what}", args.file.display()));
    }
    super::run_jailed::main(&args, &dir, &name)
}

/// Console output on stderr, in order, warnings and errors marked.
pub fn print_logs(logs: &[LogLine]) {
    let terminal = std::io::stderr().is_terminal();
    let mut err = std::io::stderr().lock();
    for line in logs {
        let prefix = match line.level {
            LogLevel::Warn => "warn: ",
            LogLevel::Error => "error: ",
            _ => "",
        };
        let _ = writeln!(err, "{prefix}{}", for_terminal(&line.text, terminal));
    }
}

/// Tenant text on its way to a terminal: every control character but newline and tab (C0, DEL,
/// C1) becomes a `\u{..}` escape, so tenant output cannot move the cursor, retitle the window or
/// make the terminal answer. A file or pipe (`terminal == false`) gets the text unchanged.
pub fn for_terminal(text: &str, terminal: bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !terminal || !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if unsafe_char(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::for_terminal;

    #[test]
    fn control_characters_are_escaped_for_terminals_only() {
        let hostile = "red\x1b[31m title\x1b]0;pwned\x07 csi\u{9b}2J del\x7f ok\n\ttab é";
        let shown = for_terminal(hostile, true);
        assert!(
            !shown
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t'),
            "{shown:?}"
        );
        assert_eq!(
            shown,
            "red\\u{1b}[31m title\\u{1b}]0;pwned\\u{7} csi\\u{9b}2J del\\u{7f} ok\n\ttab é"
        );
        assert_eq!(for_terminal(hostile, false), hostile);
        assert_eq!(for_terminal("plain text\n", true), "plain text\n");
    }
}
