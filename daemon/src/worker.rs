//! `stockade worker`: the first moments of a worker process. The supervisor starts it as the V8
//! runtime root's loader running this binary on the root's libc; this loads the worker's shared
//! object (`libstockade_worker.so`, the only code that maps V8) and hands it the process by calling
//! its `stockade_worker_main` with this process's arguments. Nothing else runs here.
//!
//! Guarantees: loading fails with a clear message and exit code 70, never a crash; the shared
//! object is the one named by `--engine`. Trusts: the supervisor, which chose the path.

use std::ffi::{c_char, c_int, CString, OsString};
use std::os::unix::ffi::OsStrExt;

/// Exit code of a worker that could not start.
const EXIT_FAILED: u8 = 70;

type WorkerMain = unsafe extern "C" fn(c_int, *const *const c_char) -> c_int;

/// Runs the worker with `args` (`argv[1..]`, starting with `worker`).
pub fn main(args: Vec<OsString>) -> std::process::ExitCode {
    match run(args) {
        Ok(code) => std::process::ExitCode::from(u8::try_from(code).unwrap_or(EXIT_FAILED)),
        Err(e) => {
            eprintln!("stockade worker: {e}");
            std::process::ExitCode::from(EXIT_FAILED)
        }
    }
}

fn run(args: Vec<OsString>) -> Result<c_int, String> {
    let engine = args
        .windows(2)
        .find(|w| w[0] == "--engine")
        .map(|w| w[1].clone())
        .ok_or("--engine PATH is required")?;
    let path = CString::new(engine.as_bytes()).map_err(|_| "--engine contains a NUL byte")?;
    // SAFETY: path is a valid C string; RTLD_NOW resolves every symbol now, so a broken object
    // fails here and not later inside tenant code.
    let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if handle.is_null() {
        return Err(format!(
            "cannot load {}: {}",
            engine.to_string_lossy(),
            dl_error()
        ));
    }
    // SAFETY: handle is a live dlopen handle and the name a valid C string.
    let symbol = unsafe { libc::dlsym(handle, c"stockade_worker_main".as_ptr()) };
    if symbol.is_null() {
        return Err(format!("{}: {}", engine.to_string_lossy(), dl_error()));
    }
    // SAFETY: the worker crate exports stockade_worker_main with exactly this signature.
    let entry: WorkerMain = unsafe { std::mem::transmute::<*mut libc::c_void, WorkerMain>(symbol) };
    let mut argv: Vec<CString> = vec![c"stockade-worker".to_owned()];
    for arg in args.into_iter().skip(1) {
        argv.push(CString::new(arg.as_bytes()).map_err(|_| "an argument contains a NUL byte")?);
    }
    let pointers: Vec<*const c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    let argc = c_int::try_from(pointers.len()).map_err(|_| "too many arguments")?;
    // SAFETY: pointers holds argc valid C strings that live until after the call.
    Ok(unsafe { entry(argc, pointers.as_ptr()) })
}

fn dl_error() -> String {
    // SAFETY: dlerror returns null or a valid C string owned by the loader.
    let message = unsafe { libc::dlerror() };
    if message.is_null() {
        return "unknown error".into();
    }
    // SAFETY: non-null, NUL-terminated, valid until the next dl* call on this thread.
    unsafe { std::ffi::CStr::from_ptr(message) }
        .to_string_lossy()
        .into_owned()
}
