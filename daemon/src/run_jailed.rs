//! `stockade run` inside a worker process: this process (the operator's, trusted) reads FILE and
//! the files it imports, spawns one worker behind the full jail (unless `--no-jail`), ships the modules over
//! the IPC protocol, and prints what comes back. The worker never sees the filesystem.

use std::io::{IsTerminal, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::ExitCode;

use stockade_ipc::{
    read_frame, write_frame, Call, ErrorKind, LoadWorker, Reply, RequestId, ToSupervisor, ToWorker,
    WorkerId, PROTOCOL_VERSION,
};
use stockade_source::loader::{self, MAX_SOURCE_BYTES};
use stockade_source::{DiskSource, ModuleKind};

use crate::run::{
    exit_code, fail, report, RunArgs, EXIT_INTERNAL, EXIT_LIMIT, EXIT_THREW, EXIT_USAGE,
};
use crate::supervisor::{worker_command, SpawnConfig, WorkerRuntime};

pub fn main(args: &RunArgs, dir: &Path, name: &str) -> ExitCode {
    // A module goes to the jailed worker in one frame field: a file beyond what one carries is
    // the source limit (exit 3), as a set beyond MAX_SOURCE_BYTES is, not a failed frame.
    let per_file = MAX_SOURCE_BYTES.min(stockade_ipc::limits::MAX_MODULE_LEN);
    let mut disk = match DiskSource::new(dir, per_file as u64) {
        Ok(d) => d,
        Err(e) => return fail(EXIT_USAGE, &e.to_string()),
    };
    let set = match loader::collect(name, &mut disk, MAX_SOURCE_BYTES) {
        Ok(s) => s,
        Err(e) => return fail(exit_code(&e), &report(&e)),
    };
    let modules = set
        .into_modules()
        .into_iter()
        .map(|m| stockade_ipc::Module {
            name: m.name,
            kind: match m.kind {
                ModuleKind::Js => stockade_ipc::ModuleKind::Js,
                ModuleKind::Ts => stockade_ipc::ModuleKind::Ts,
                ModuleKind::Text => stockade_ipc::ModuleKind::Text,
                ModuleKind::Json => stockade_ipc::ModuleKind::Json,
                ModuleKind::Data => stockade_ipc::ModuleKind::Data,
                ModuleKind::Cjs => stockade_ipc::ModuleKind::Cjs,
                ModuleKind::Wasm => stockade_ipc::ModuleKind::Wasm,
            },
            bytes: m.bytes,
        })
        .collect();
    let runtime = match WorkerRuntime::locate() {
        Ok(r) => r,
        Err(e) => return fail(EXIT_INTERNAL, &e.to_string()),
    };
    let (mut ours, theirs) = match UnixStream::pair() {
        Ok(p) => p,
        Err(e) => return fail(EXIT_INTERNAL, &format!("socketpair: {e}")),
    };
    let config = SpawnConfig {
        runtime,
        timezone: "UTC".into(),
        jail: !args.no_jail,
        profile: "standard",
        test_hooks: false,
        threads: 1,
        reply_spin_us: 0,
        renew_after: crate::config::Config::default().worker_renew_after,
        memory: None,
    };
    let mut child = match worker_command(&config, theirs.as_raw_fd()).spawn() {
        Ok(c) => c,
        Err(e) => return fail(EXIT_INTERNAL, &format!("cannot start a worker: {e}")),
    };
    drop(theirs);
    let clamp = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    let wire_limits = stockade_ipc::Limits {
        cpu_ms: clamp(args.cpu_ms),
        wall_ms: clamp(args.wall_ms),
        memory_mb: clamp(args.memory_mb as u64),
        stack_kb: 0,
        sub_requests: 0,
        result_bytes: 0,
        log_bytes: 0,
    };
    let load = ToWorker::LoadWorker(LoadWorker {
        request_id: RequestId(1),
        worker_id: WorkerId([0; 32]),
        tenant: "cli".into(),
        main_module: name.to_string(),
        modules,
        env: Vec::new(),
        limits: wire_limits,
        profile: stockade_ipc::Profile::Standard,
        compatibility_date: String::new(),
        compatibility_flags: args.compatibility_flags.clone(),
    });
    let invoke = ToWorker::Invoke {
        request_id: RequestId(2),
        worker_id: WorkerId([0; 32]),
        call: Call::Default {
            arg_json: args.arg.clone().into_bytes(),
        },
    };
    let code = converse(&mut ours, load, invoke, !args.no_jail);
    let _ = write_frame(&mut ours, &ToWorker::Shutdown);
    drop(ours);
    let status = child.wait();
    match code {
        Ok(code) => code,
        // The worker ended itself to enforce a limit V8 could not stop in-process.
        Err(_) if matches!(&status, Ok(s) if s.code() == Some(stockade_ipc::exit::CPU_LIMIT)) => {
            fail(
                EXIT_LIMIT,
                "limit exceeded (cpu): inside an operation V8 could not interrupt",
            )
        }
        Err(_) if matches!(&status, Ok(s) if s.code() == Some(stockade_ipc::exit::MEMORY_LIMIT)) => {
            fail(
                EXIT_LIMIT,
                "limit exceeded (memory): inside an operation V8 could not interrupt",
            )
        }
        Err(e) => {
            let how = status
                .map(|s| s.to_string())
                .unwrap_or_else(|e| e.to_string());
            fail(
                EXIT_INTERNAL,
                &format!("the worker process failed ({e}; {how})"),
            )
        }
    }
}

/// Hello, load, invoke; the exit code, or why the conversation broke.
/// Hello, Ready (refused when `jailed` and the worker admits it runs without seccomp or its own
/// user namespace, as the daemon refuses it), then the load and the call.
fn converse(
    stream: &mut UnixStream,
    load: ToWorker,
    invoke: ToWorker,
    jailed: bool,
) -> Result<ExitCode, String> {
    send(
        stream,
        &ToWorker::Hello {
            protocol_version: PROTOCOL_VERSION,
        },
    )?;
    match recv(stream)? {
        ToSupervisor::Ready { jail, .. } => {
            if jailed && !(jail.seccomp && jail.user_namespace) {
                return Err(format!(
                    "the worker reports it is not jailed ({jail:?}) although the jail is on"
                ));
            }
        }
        other => return Err(format!("unexpected greeting {other:?}")),
    }
    for request in [load, invoke] {
        let id = request.request_id();
        send(stream, &request)?;
        let ToSupervisor::Outcome(outcome) = next_of(stream, id)? else {
            return Err("expected an outcome".into());
        };
        print_logs(&outcome.logs);
        let open = outcome.open;
        match outcome.result {
            Err(e) => return Ok(error_exit(&e)),
            Ok(Reply::Json(json)) => {
                let terminal = std::io::stdout().is_terminal();
                let text = String::from_utf8_lossy(&json);
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(crate::run::for_terminal(&text, terminal).as_bytes());
                let _ = out.write_all(b"\n");
            }
            Ok(_) => {}
        }
        // Work the request goes on with after its answer (`ctx.waitUntil`) ends before the
        // worker is shut down.
        if open {
            if let ToSupervisor::Finished { error: Some(e), .. } = next_of(stream, id)? {
                return Ok(error_exit(&e));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn send(stream: &mut UnixStream, message: &ToWorker) -> Result<(), String> {
    write_frame(stream, message)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn recv(stream: &mut UnixStream) -> Result<ToSupervisor, String> {
    match read_frame::<ToSupervisor, _>(stream) {
        Ok(Some(m)) => Ok(m),
        Ok(None) => Err("the worker closed its socket".to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// The next answer (`Outcome`) or end (`Finished`) of request `id`. Host calls meanwhile are
/// refused; other frames (renewal notices) need nothing for one request.
fn next_of(stream: &mut UnixStream, id: Option<RequestId>) -> Result<ToSupervisor, String> {
    loop {
        match recv(stream)? {
            m @ (ToSupervisor::Outcome(_) | ToSupervisor::Finished { .. })
                if m.request_id() == id =>
            {
                return Ok(m)
            }
            ToSupervisor::HostCall {
                request_id,
                call_id,
                name,
                ..
            } => send(stream, &refusal(request_id, call_id, &name))?,
            _ => {}
        }
    }
}

/// The answer to every host call under `stockade run`: there is no supervisor behind this
/// worker, so no egress gateway, bindings or storage; the tenant code sees the call fail with
/// this message (`fetch()` rejects with a `TypeError` naming it).
fn refusal(request_id: RequestId, call_id: u32, name: &str) -> ToWorker {
    let mut shown: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
    if shown.is_empty() {
        shown.push('?');
    }
    ToWorker::HostReply {
        request_id,
        call_id,
        cpu_us: 0,
        result: Err(format!(
            "`{shown}` is not available under `stockade run`: it has no supervisor, so no \
             outbound fetch, bindings or storage (run the code in `stockade serve`)"
        )),
    }
}

fn error_exit(e: &stockade_ipc::ErrorReply) -> ExitCode {
    let limit = match e.kind {
        ErrorKind::CpuLimit => Some("cpu"),
        ErrorKind::WallLimit => Some("wall"),
        ErrorKind::MemoryLimit => Some("memory"),
        ErrorKind::OutputTooLarge => Some("output"),
        ErrorKind::ResultTooLarge => Some("result"),
        _ => None,
    };
    if let Some(name) = limit {
        return fail(
            EXIT_LIMIT,
            &format!("limit exceeded ({name}): {}", e.message),
        );
    }
    let mut text = e.message.clone();
    if let Some(stack) = &e.stack {
        text.push('\n');
        text.push_str(stack);
    }
    let code = match e.kind {
        ErrorKind::ScriptThrew => EXIT_THREW,
        ErrorKind::CompileError | ErrorKind::ModuleNotFound | ErrorKind::InvalidInput => EXIT_USAGE,
        _ => EXIT_INTERNAL,
    };
    fail(
        code,
        &crate::run::for_terminal(&text, std::io::stderr().is_terminal()),
    )
}

fn print_logs(logs: &[stockade_ipc::LogLine]) {
    crate::run::print_logs(logs);
}
